"""The one place that owns a thread: start, stop, join and failure capture."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

from stream.errors import StageFailedError

logger = logging.getLogger(__name__)


class Stage(ABC):
    """A pipeline stage run by one named, non-daemon thread.

    Subclasses implement :meth:`run_once` (one unit of work; return False when
    done) and may override :meth:`setup`, :meth:`teardown` and
    :meth:`on_failure`. ``teardown`` always runs in the stage's own thread, so
    outputs are finalized even when the stage fails or is stopped.

    Two events: ``stop_event`` asks the stage to finish (a graceful stop: a
    source stops reading and still sends its end marker); ``abort_event`` also
    makes queue waits give up. Subclasses pass ``abort_event`` to queue calls.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.stop_event = threading.Event()
        self.abort_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self.finished = threading.Event()

    @property
    def failure(self) -> BaseException | None:
        """The exception that ended this stage, if any."""
        return self._failure

    def start(self) -> None:
        """Start the stage's thread."""
        if self._thread is not None:
            msg = f"stage {self.name!r} was already started"
            raise RuntimeError(msg)
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=False)
        self._thread.start()

    def stop(self) -> None:
        """Ask the stage to finish soon (a source stops reading and sends its end marker)."""
        self.stop_event.set()

    def abort(self) -> None:
        """Stop at once: queue waits give up too (used after a failure or a second Ctrl-C)."""
        self.stop_event.set()
        self.abort_event.set()

    def is_alive(self) -> bool:
        """Whether the stage's thread is still running."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the thread; re-raise its failure.

        Raises:
            TimeoutError: the stage did not stop within ``timeout_s``.
            StageFailedError: the stage failed; the original error is the cause.
        """
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                msg = f"stage {self.name!r} did not stop within {timeout_s} s"
                raise TimeoutError(msg)
        if self._failure is not None:
            raise StageFailedError(self.name, self._failure) from self._failure

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Prepare resources inside the stage's thread."""

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Release resources inside the stage's thread; always called."""

    def on_failure(self, error: BaseException) -> None:  # noqa: B027 - optional hook
        """Tell downstream stages that this one failed."""

    @abstractmethod
    def run_once(self) -> bool:
        """Do one unit of work; return False when the stage is done."""

    def _main(self) -> None:
        try:
            self.setup()
            while not self.stop_event.is_set() and self.run_once():
                pass
        except BaseException as error:
            self._failure = error
            if isinstance(error, Exception):
                logger.debug("stage %s failed", self.name, exc_info=True)
            self.on_failure(error)
        finally:
            try:
                self.teardown()
            except Exception as error:
                logger.exception("stage %s failed while finishing", self.name)
                if self._failure is None:
                    self._failure = error
            self.finished.set()

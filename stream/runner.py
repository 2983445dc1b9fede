"""Start, watch, stop and join the stages of one pipeline (shutdown order written once)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from stream.stage import Stage

logger = logging.getLogger(__name__)

_WATCH_S = 0.05


class StageGroup:
    """The stages of one pipeline, oldest (the source side) first.

    ``stop()`` is the graceful stop (Ctrl-C): only the first stage stops, its end
    marker drains through the others, and every output is finalized. A failure
    in any stage aborts the rest; ``join()`` re-raises the first failure.
    """

    def __init__(self, stages: Sequence[Stage], *, join_timeout_s: float = 30.0) -> None:
        if not stages:
            msg = "a pipeline needs at least one stage"
            raise ValueError(msg)
        self.stages = tuple(stages)
        self._join_timeout_s = join_timeout_s
        self._finished = threading.Event()

    def start(self) -> None:
        """Start every stage, the sink first so nothing waits on a missing consumer."""
        for stage in reversed(self.stages):
            stage.start()

    def stop(self) -> None:
        """Graceful stop: the source stops reading; the rest drain and finish."""
        self.stages[0].stop()

    def abort(self) -> None:
        """Stop every stage now (outputs are still closed by their stage)."""
        for stage in self.stages:
            stage.abort()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until every stage has finished, aborting all on the first failure.

        Returns:
            True when all stages finished, False when ``timeout_s`` passed first.
        """
        waited_s = 0.0
        while not all(stage.finished.is_set() for stage in self.stages):
            if any(stage.failure is not None for stage in self.stages):
                self.abort()
            self.stages[-1].finished.wait(_WATCH_S)
            waited_s += _WATCH_S
            if timeout_s is not None and waited_s >= timeout_s:
                return False
        return True

    def join(self) -> None:
        """Join every stage, oldest first; re-raise the first failure.

        Raises:
            TimeoutError: a stage did not stop in time (names the stage).
            StageFailedError: a stage failed; the original error is the cause.
        """
        first_error: BaseException | None = None
        for stage in self.stages:
            try:
                stage.join(self._join_timeout_s)
            except BaseException as error:  # noqa: BLE001 - the first one is re-raised
                if first_error is None:
                    first_error = error
                stage.abort()
        if first_error is not None:
            raise first_error

    def finish(self) -> None:
        """Wait for the end of the stream, then join (re-raising a failure)."""
        self.wait()
        self.join()

    def run(self) -> None:
        """Start and finish. On Ctrl-C the caller calls :meth:`stop` then :meth:`finish`."""
        self.start()
        self.finish()

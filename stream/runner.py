"""Start, watch, stop and join the stages of one pipeline (shutdown order written once)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from stream.signals import signals_held
from stream.stage import Stage

logger = logging.getLogger(__name__)

_WATCH_S = 0.05

Tick = Callable[[], None]


class StageGroup:
    """The stages of one pipeline, oldest (the source side) first.

    ``stop()`` is the graceful stop (Ctrl-C): only the first stage stops, its end
    marker drains through the others, and every output is finalized. A failure
    in a stage aborts the stages before it (they would wait on it forever); the stages
    after it drain what it already sent and stop at its failure marker, so a source
    that fails mid-stream still leaves every frame read before it in the outputs.
    ``join()`` re-raises the first failure.
    """

    def __init__(self, stages: Sequence[Stage], *, join_timeout_s: float = 30.0) -> None:
        if not stages:
            msg = "a pipeline needs at least one stage"
            raise ValueError(msg)
        self.stages = tuple(stages)
        self._join_timeout_s = join_timeout_s
        self._finished = threading.Event()

    def start(self) -> None:
        """Start every stage, the sink first so nothing waits on a missing consumer.

        A Ctrl-C (or stop signal) while starting is held until every stage runs, so the
        graceful stop that follows finds them all (see :func:`stream.signals.signals_held`).
        """
        with signals_held():
            for stage in reversed(self.stages):
                stage.start()

    def stop(self) -> None:
        """Graceful stop: the source stops reading; the rest drain and finish."""
        self.stages[0].stop()

    def abort(self) -> None:
        """Stop every stage now (outputs are still closed by their stage)."""
        for stage in self.stages:
            stage.abort()

    def wait(self, timeout_s: float | None = None, *, tick: Tick | None = None) -> bool:
        """Wait until every stage has finished, aborting upstream of a failure.

        Args:
            timeout_s: give up after this long (None: wait for the end).
            tick: called in the waiting thread between checks instead of sleeping
                (the window handles its events there); it must return within ~50 ms.

        Returns:
            True when all stages finished, False when ``timeout_s`` passed first.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not all(stage.finished.is_set() for stage in self.stages):
            failed = next((i for i, s in enumerate(self.stages) if s.failure is not None), 0)
            for stage in self.stages[:failed]:
                stage.abort()  # upstream of the failure; downstream drains to its marker
            if tick is None:
                self.stages[-1].finished.wait(_WATCH_S)
            else:
                tick()
            if deadline is not None and time.monotonic() >= deadline:
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

    def finish(self, *, tick: Tick | None = None) -> None:
        """Wait for the end of the stream, then join (re-raising a failure)."""
        self.wait(tick=tick)
        self.join()

    def run(self, *, tick: Tick | None = None) -> None:
        """Start and finish. On Ctrl-C the caller calls :meth:`stop` then :meth:`finish`."""
        self.start()
        self.finish(tick=tick)

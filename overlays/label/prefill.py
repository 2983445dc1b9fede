"""The model's guess for each frame, computed lazily around the frames the page shows.

Why lazily: the search and tracker run at a few to some tens of frames a second on a
CPU, so prefilling a 90-minute match (135,000 frames) up front would take hours. The page
asks for the frames around the one it shows; one thread (this stage) runs the configured
search and tracker over those chunks, the newest request first, and keeps the results.
Each chunk starts a fresh track (a tracker needs its history; a chunk is long enough).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from overlays.label.video import FrameReader
from perception.result import FrameResult, TrackStatus
from perception.worker import FramePerception
from stream.errors import BallwatchError
from stream.frame import Frame
from stream.stage import Stage

logger = logging.getLogger(__name__)

CHUNK_FRAMES = 32
_MODEL_ERRORS = (BallwatchError, OSError, RuntimeError, ValueError, ImportError)
_MAX_PENDING = 12
_WAIT_S = 0.1

Guess = tuple[int, int, float] | None
"""The model's ball for one frame: (x, y, confidence), or None (no ball)."""


class Prefill(Stage):
    """Owns the prefill thread: chunks asked for by the page, each tracked once.

    ``perception_factory`` builds a fresh search-and-track (it runs in this thread, so
    loading the model does not hold up the page); a failure is kept in :attr:`error`
    and shown on the page: labelling goes on without a prefill.
    """

    def __init__(
        self,
        video: Path,
        perception_factory: Callable[[], Callable[[], FramePerception]],
        chunk_frames: int = CHUNK_FRAMES,
    ) -> None:
        super().__init__("label-prefill")
        self._video = video
        self._factory = perception_factory
        self._chunk = chunk_frames
        self._cond = threading.Condition()
        self._wanted: list[int] = []
        self._done: set[int] = set()
        self._guesses: dict[int, Guess] = {}
        self._new_perception: Callable[[], FramePerception] | None = None
        self._reader: FrameReader | None = None
        self.error: str | None = None
        self.frames_done = 0
        self.seconds = 0.0

    def request(self, first: int, stop: int) -> None:
        """Ask for frames ``first`` to ``stop - 1``; the chunk of ``first`` comes first."""
        chunks = self._chunks(first, stop)
        with self._cond:
            fresh = [c for c in chunks if c not in self._done]
            self._wanted = fresh + [c for c in self._wanted if c not in fresh]
            del self._wanted[_MAX_PENDING:]
            self._cond.notify()

    def _chunks(self, first: int, stop: int) -> range:
        return range(max(0, first) // self._chunk, max(first + 1, stop - 1) // self._chunk + 1)

    def guesses(self, first: int, stop: int) -> tuple[dict[int, Guess], bool]:
        """The guesses known in ``[first, stop)`` and whether some of that range is pending."""
        with self._cond:
            known = {i: self._guesses[i] for i in range(first, stop) if i in self._guesses}
            chunks = self._chunks(first, stop)
            is_pending = self.error is None and any(c not in self._done for c in chunks)
        return known, is_pending

    def stats(self) -> dict[str, float | int | str | None]:
        """Frames prefilled, seconds per frame, and the error that stopped the prefill."""
        with self._cond:
            per_frame = self.seconds / self.frames_done if self.frames_done else None
            return {"frames": self.frames_done, "s_per_frame": per_frame, "error": self.error}

    def setup(self) -> None:
        """Open a reader of our own (the page's reader is busy) and load the model."""
        try:
            self._reader = FrameReader(self._video, cache_frames=1)
            self._new_perception = self._factory()
        except _MODEL_ERRORS as exc:  # the page works without a prefill; it shows why
            self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        logger.warning("prefill unavailable: %s", exc)
        with self._cond:
            self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    def run_once(self) -> bool:
        """Track the most recently wanted chunk; False once there is no model."""
        if self._new_perception is None or self._reader is None:
            self.stop_event.wait()
            return False
        with self._cond:
            if not self._wanted:
                self._cond.wait(_WAIT_S)
                return True
            chunk = self._wanted.pop(0)
        try:
            self._track(chunk, self._new_perception(), self._reader)
        except _MODEL_ERRORS as exc:
            self._give_up(exc)
            return False
        return True

    def _track(self, chunk: int, perception: FramePerception, reader: FrameReader) -> None:
        """Track one chunk; each frame's guess is kept as soon as the tracker settles it."""
        first, stop = chunk * self._chunk, (chunk + 1) * self._chunk
        for index, image in reader.frames(first, stop):
            if self.stop_event.is_set():
                return
            started = time.monotonic()
            now = time.monotonic_ns()
            settled = perception.process(Frame(index, image, index / reader.info.fps, now), now)
            self._keep(settled, time.monotonic() - started)
        self._keep(perception.flush(), None)
        with self._cond:
            self._done.add(chunk)

    def _keep(self, results: list[FrameResult], seconds: float | None) -> None:
        with self._cond:
            for result in results:
                ball = result.ball
                is_ball = ball.status is not TrackStatus.LOST
                guess = (round(ball.x), round(ball.y), round(ball.confidence, 3))
                self._guesses[result.frame.index] = guess if is_ball else None
            if seconds is not None:  # one frame processed (None: the end-of-chunk flush)
                self.frames_done += 1
                self.seconds += seconds

    def teardown(self) -> None:
        """Close the reader."""
        if self._reader is not None:
            self._reader.close()

    def stop(self) -> None:
        """Stop after the current frame."""
        super().stop()
        with self._cond:
            self._cond.notify_all()

"""The synthetic match as a :class:`FrameSource` (:class:`SynthSource`), optionally real-time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from stream.source import SourceFrame, SourceKind
from stream.synth.match import SynthMatch
from stream.synth.params import SynthParams


class SynthSource:
    """A :class:`FrameSource` over a :class:`SynthMatch`; used only from the capture thread.

    With ``is_realtime`` the source paces itself to ``fps`` (waiting on the stop event);
    otherwise frames come as fast as they render.
    """

    def __init__(
        self,
        params: SynthParams,
        *,
        is_realtime: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.params = params
        self._match = SynthMatch(params)
        self._is_realtime = is_realtime
        self._clock = clock
        self._next_index = 0
        self._started_at: float | None = None
        self._is_closed = False

    @property
    def kind(self) -> SourceKind:
        """Always :attr:`SourceKind.SYNTH`."""
        return SourceKind.SYNTH

    @property
    def fps(self) -> float:
        """The match's frames per second."""
        return self.params.fps

    @property
    def frame_count(self) -> int | None:
        """``params.frames`` (None: endless)."""
        return self.params.frames

    def read(self, stop: threading.Event) -> SourceFrame | None:
        """The next frame; None after ``params.frames`` frames, after close or when stopped."""
        index = self._next_index
        frames = self.params.frames
        if self._is_closed or (frames is not None and index >= frames):
            return None
        if self._is_realtime:
            if self._started_at is None:
                self._started_at = self._clock()
            wait_s = self._started_at + index / self.params.fps - self._clock()
            if wait_s > 0 and stop.wait(wait_s):
                return None
        image, truth = self._match.frame(index)
        self._next_index += 1
        return SourceFrame(index=index, image=image, pts_s=index / self.params.fps, truth=truth)

    def close(self) -> None:
        """Stop handing out frames."""
        self._is_closed = True

"""A source wrapper that remembers every frame the source produced (for live evaluation).

A live evaluation drops frames in the queues exactly like a live run; to score every frame
of the clip, dropped ones included, the evaluator needs to know which frames the source
produced and, for a synthetic source, their ground truth. :class:`RecordingSource` keeps
the index and truth of each frame as the capture thread reads it.
"""

from __future__ import annotations

import threading

from stream.frame import BallTruth
from stream.source import FrameSource, SourceFrame, SourceKind


class RecordingSource:
    """A :class:`FrameSource` that passes everything through and records what it read.

    ``produced`` and ``truths`` may be read once the run has ended (the capture thread
    is joined by then).
    """

    def __init__(self, inner: FrameSource) -> None:
        self._inner = inner
        self.produced = 0
        self.truths: dict[int, BallTruth] = {}

    @property
    def kind(self) -> SourceKind:
        """The inner source's kind."""
        return self._inner.kind

    @property
    def fps(self) -> float:
        """The inner source's nominal rate."""
        return self._inner.fps

    @property
    def frame_count(self) -> int | None:
        """The inner source's frame count."""
        return self._inner.frame_count

    def read(self, stop: threading.Event) -> SourceFrame | None:
        """The inner source's next frame, recorded."""
        frame = self._inner.read(stop)
        if frame is not None:
            self.produced = max(self.produced, frame.index + 1)
            if frame.truth is not None:
                self.truths[frame.index] = frame.truth
        return frame

    def close(self) -> None:
        """Close the inner source."""
        self._inner.close()

"""The FrameSource protocol and the source kinds; implementations live in stream.sources."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from stream.frame import BallTruth
from stream.queues import DropCause, DropPolicy


class SourceKind(StrEnum):
    """What a URI points at; decides the queue policy (never guessed from the filesystem)."""

    FILE = "file"
    CAMERA = "camera"
    NETWORK = "network"
    SYNTH = "synth"

    @property
    def is_live(self) -> bool:
        """Whether frames arrive at their own pace (the detector cannot slow them)."""
        return self in {SourceKind.CAMERA, SourceKind.NETWORK}

    def default_policy(self, *, is_realtime: bool) -> DropPolicy:
        """``latest`` for live sources and real-time replays, ``block`` otherwise."""
        return DropPolicy.LATEST if self.is_live or is_realtime else DropPolicy.BLOCK


@dataclass(frozen=True, slots=True)
class SourceFrame:
    """One decoded picture as a source hands it over, before capture stamps it.

    Attributes:
        index: 0-based index in the source, counting frames the source dropped.
        image: BGR ``uint8`` ``(H, W, 3)``.
        pts_s: presentation time in seconds (stream clock for files and streams).
        truth: ground truth, when the source knows it.
        epoch: bumped on every reconnect of a network source.
    """

    index: int
    image: NDArray[np.uint8]
    pts_s: float
    truth: BallTruth | None = None
    epoch: int = 0


SourceDropCallback = Callable[[int, DropCause], None]


class FrameSource(Protocol):
    """A video source. Used only from the capture thread (plus its own helpers)."""

    @property
    def kind(self) -> SourceKind:
        """The kind of source."""
        ...

    @property
    def fps(self) -> float:
        """Nominal frames per second (0.0 when unknown)."""
        ...

    @property
    def frame_count(self) -> int | None:
        """Number of frames when known in advance (files, finite synth)."""
        ...

    def read(self, stop: threading.Event) -> SourceFrame | None:
        """The next frame, or None at the end of the stream.

        Blocks at most until ``stop`` is set (reconnects included).

        Raises:
            SourceReadError: the source failed for good.
        """
        ...

    def close(self) -> None:
        """Release the device, the connection or the file."""
        ...

"""What the perception worker hands to the renderer for each frame."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from perception.detections import Detections
from stream.frame import Frame


class TrackStatus(StrEnum):
    """The tracker's per-frame state of the ball."""

    SEEN = "seen"
    PREDICTED = "predicted"
    REST = "rest"  # lying still where its track ended (perception.at_rest)
    LOST = "lost"


class SearchMode(StrEnum):
    """How the detector looked at the frame."""

    TILES = "tiles"  # native-resolution tiles covering the whole frame
    SEARCH = "search"  # part of a rotating tile schedule (live search)
    TRACK = "track"  # one crop around the predicted ball (tiles of a wider window after a gap)
    MOTION = "motion"  # crops around moving blobs plus a slow sweep (motion gate)
    BLOB = "blob"  # tracking between detector frames: the motion gate's blobs near the ball
    SKIP = "skip"  # detector not run on this frame


@dataclass(frozen=True, slots=True)
class BallState:
    """The ball as the tracker reports it on one frame.

    Attributes:
        status: seen (a detection confirmed it), predicted (coasting), rest (lying still
            where its track ended: the colour model sees it, the tracker does not) or lost.
        x: centre x in pixels of the original frame (0 when lost).
        y: centre y in pixels of the original frame (0 when lost).
        confidence: detector score when seen (the colour model's at rest), else 0.
    """

    status: TrackStatus
    x: float = 0.0
    y: float = 0.0
    confidence: float = 0.0

    @classmethod
    def lost(cls) -> BallState:
        """No ball."""
        return cls(TrackStatus.LOST)

    @property
    def has_position(self) -> bool:
        """Whether x and y mean something."""
        return self.status is not TrackStatus.LOST


@dataclass(frozen=True, slots=True)
class PerceptionStep:
    """Output of the search/track logic for one frame (before the tracker).

    Attributes:
        detections: candidates in pixels of the original frame.
        mode: how the detector looked at the frame.
        pixels: number of pixels fed to the detector for this frame.
        infer_start_ns: clock before the first detector call (0 if none).
        infer_end_ns: clock after the last detector call (0 if none).
        windows: crops and tiles given to the detector.
        candidates: moving blobs the motion gate found (0 without the gate).
    """

    detections: Detections
    mode: SearchMode
    pixels: int
    infer_start_ns: int
    infer_end_ns: int
    windows: int = 0
    candidates: int = 0


@dataclass(frozen=True, slots=True)
class FrameResult:
    """A frame with everything perception found on it."""

    frame: Frame
    step: PerceptionStep
    ball: BallState
    dequeued_ns: int
    precision: str

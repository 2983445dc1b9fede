"""A synthetic clip on disk and a cheap 'model' for the labelling tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from perception.detections import Detections
from perception.result import BallState, FrameResult, PerceptionStep, SearchMode, TrackStatus
from stream.frame import BallTruth, Frame
from stream.synth import SynthMatch, SynthParams

GUESS_OFFSET = (3, 2)
"""The fake model's guess is the truth moved by this much: the test corrects it."""


def write_synth_clip(
    path: Path, frames: int = 40, size: tuple[int, int] = (320, 240), seed: int = 11
) -> list[BallTruth]:
    """A synthetic match written to an H.264 MP4; returns each frame's truth."""
    match = SynthMatch(
        SynthParams(seed=seed, width=size[0], height=size[1], ball_min_px=3, ball_max_px=6)
    )
    truths = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(25), options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(frames):
            image, truth = match.frame(index)
            truths.append(truth)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return truths


class TruthPerception:
    """A stand-in for search-and-track: the truth moved by ``GUESS_OFFSET`` (no ball: lost)."""

    def __init__(self, truths: list[BallTruth]) -> None:
        self._truths = truths
        self.frames: list[int] = []

    def process(self, frame: Frame, dequeued_ns: int) -> list[FrameResult]:
        self.frames.append(frame.index)
        truth = self._truths[frame.index]
        ball = BallState.lost()
        if truth.is_visible:
            x, y = round(truth.x) + GUESS_OFFSET[0], round(truth.y) + GUESS_OFFSET[1]
            ball = BallState(TrackStatus.SEEN, float(x), float(y), 0.9)
        step = PerceptionStep(Detections.empty(), SearchMode.TILES, 0, 0, 0)
        return [FrameResult(frame, step, ball, dequeued_ns, "fp32")]

    def flush(self) -> list[FrameResult]:
        return []

    def reset(self) -> list[FrameResult]:
        return []

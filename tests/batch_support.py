"""Clips with a moving ball and detectors that Ray workers can import (batch tests, bench)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from configs.app_config import AppConfig
from perception.detections import Detections
from tests.fakes import CpuFakeDetector


def ball_position(index: int, size: tuple[int, int]) -> tuple[int, int]:
    """Top-left of the 8 px ball on frame ``index``: a bouncing path (triangle waves)."""
    width, height = size
    span_x, span_y = width - 8, height - 8
    x = (7 * index) % (2 * span_x)
    y = (5 * index + 40) % (2 * span_y)
    return (x if x < span_x else 2 * span_x - x), (y if y < span_y else 2 * span_y - y)


def write_ball_clip(
    path: Path,
    *,
    frames: int = 30,
    size: tuple[int, int] = (320, 240),
    keyframe_every: int = 250,
    background: int = 0,
) -> Path:
    """An H.264 MP4 (30 fps) of a white 8 px square bouncing over a flat background."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(
            "libx264",
            rate=30,
            options={
                "preset": "ultrafast",
                "x264-params": f"keyint={keyframe_every}:min-keyint={keyframe_every}:scenecut=0",
            },
        )
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(frames):
            image = np.full((size[1], size[0], 3), background, dtype=np.uint8)
            x, y = ball_position(index, size)
            image[y : y + 8, x : x + 8] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


def _share_near(image: NDArray[np.uint8], level: int) -> float:
    return float(np.mean(np.abs(image.astype(np.int16) - level) < 12))


class BrightSpotDetector(CpuFakeDetector):
    """Boxes the bright pixels of each image (the ball of :func:`write_ball_clip`)."""

    def __init__(self, resolution: int = 384, *, delay_s: float = 0.0) -> None:
        super().__init__(resolution)
        self._delay_s = delay_s

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        if self._delay_s:
            time.sleep(self._delay_s)  # stands for a slow model (kill-mid-batch tests)
        results = []
        for image in images:
            ys, xs = np.nonzero((image > 160).all(axis=2))
            if len(xs) == 0:
                results.append(Detections.empty())
                continue
            box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
            results.append(Detections.from_lists([box], [0.9]))
        return results


class CrashingDetector(BrightSpotDetector):
    """Ends its whole process on a clip with a light background (level 200), like a native
    crash in a real model would."""

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        if any(_share_near(image, 200) > 0.2 for image in images):
            os._exit(3)
        return super().detect(images)


GATED_BACKGROUND = 100
GATE_FILE = "release"


class GatedDetector(BrightSpotDetector):
    """Holds each image of a clip with a grey background (level 100) until the file
    ``gate`` exists: a batch stopped mid-recording for as long as a test needs."""

    def __init__(self, gate: Path, *, timeout_s: float = 120.0) -> None:
        super().__init__()
        self._gate = gate
        self._timeout_s = timeout_s

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        if any(_share_near(image, GATED_BACKGROUND) > 0.2 for image in images):
            deadline = time.monotonic() + self._timeout_s
            while not self._gate.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return super().detect(images)


def bright_spot(config: AppConfig) -> BrightSpotDetector:
    """Factory for ``--detector-factory tests.batch_support:bright_spot``."""
    del config
    return BrightSpotDetector()


def slow_bright_spot(config: AppConfig) -> BrightSpotDetector:
    """The same, 40 ms per call: a batch that takes long enough to be killed mid-way."""
    del config
    return BrightSpotDetector(delay_s=0.04)


def crashing(config: AppConfig) -> CrashingDetector:
    """Factory of a detector that kills its worker on bright clips."""
    del config
    return CrashingDetector()


def gated_bright_spot(config: AppConfig) -> GatedDetector:
    """Factory of a :class:`GatedDetector` whose gate is ``release`` beside the batch's
    first input (the batch's config has that input as its source)."""
    return GatedDetector(Path(config.source).with_name(GATE_FILE))

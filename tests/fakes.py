"""Fakes that implement the project's Protocols, for tests that need no model or device."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from perception.detections import Detections
from perception.detector import Precision
from perception.result import BallState, FrameResult, PerceptionStep, SearchMode, TrackStatus
from stream.frame import BallTruth, Frame
from stream.source import SourceFrame, SourceKind


def make_image(index: int, width: int = 64, height: int = 48) -> NDArray[np.uint8]:
    """A BGR frame whose every pixel encodes ``index`` (deterministic content)."""
    return np.full((height, width, 3), index % 251, np.uint8)


class FakeFrameSource:
    """A finite (or endless) source of constant-colour frames at a nominal fps.

    With ``is_live`` it produces frames at ``fps`` in wall time regardless of
    the reader, like a camera: frames that were due while nobody read are
    counted as produced and handed out no more (the reader gets the newest).
    """

    def __init__(
        self,
        frames: int | None,
        *,
        fps: float = 30.0,
        kind: SourceKind = SourceKind.FILE,
        size: tuple[int, int] = (64, 48),
        fail_at: int | None = None,
    ) -> None:
        self._frames = frames
        self._fps = fps
        self._kind = kind
        self._size = size
        self._fail_at = fail_at
        self._next = 0
        self._start_ns: int | None = None
        self.closed = False
        self.skipped = 0

    @property
    def kind(self) -> SourceKind:
        return self._kind

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def frame_count(self) -> int | None:
        return self._frames

    @property
    def produced(self) -> int:
        """Frames this source has produced (handed out or skipped)."""
        return self._next

    def read(self, stop: threading.Event) -> SourceFrame | None:
        if self._kind.is_live:
            self._wait_live(stop)
        if stop.is_set() or (self._frames is not None and self._next >= self._frames):
            return None
        index = self._next
        if self._fail_at is not None and index == self._fail_at:
            msg = f"fake source failed at frame {index}"
            raise OSError(msg)
        self._next += 1
        width, height = self._size
        return SourceFrame(
            index=index,
            image=make_image(index, width, height),
            pts_s=index / self._fps,
            truth=BallTruth(is_visible=True, x=width / 2, y=height / 2, radius_px=3),
        )

    def _wait_live(self, stop: threading.Event) -> None:
        now = time.monotonic_ns()
        if self._start_ns is None:
            self._start_ns = now
        period_ns = int(1e9 / self._fps)
        due = self._start_ns + self._next * period_ns
        if now < due:
            stop.wait((due - now) / 1e9)
            return
        # frames that fell due while we were busy: a live camera does not keep them
        behind = (now - self._start_ns) // period_ns
        skip = max(0, int(behind) - self._next)
        if self._frames is not None:
            skip = min(skip, self._frames - self._next)
        self.skipped += skip
        self._next += skip

    def close(self) -> None:
        self.closed = True


class CpuFakeDetector:
    """What every fake detector shares: a CPU, a fixed input side, FP32 unless told."""

    def __init__(self, resolution: int, precision: Precision = Precision.FP32) -> None:
        self._resolution = resolution
        self._precision = precision

    @property
    def resolution(self) -> int:
        return self._resolution

    @property
    def precision(self) -> Precision:
        return self._precision

    @property
    def device(self) -> str:
        return "cpu"

    def warm_up(self) -> None:
        return None


class FakeDetector(CpuFakeDetector):
    """A detector that finds a 6 px box at a fixed place in every crop, after ``delay_s``."""

    def __init__(
        self,
        resolution: int = 64,
        *,
        delay_s: float = 0.0,
        box: tuple[float, float, float, float] | None = (29.0, 21.0, 35.0, 27.0),
        precision: Precision = Precision.FP32,
    ) -> None:
        super().__init__(resolution, precision)
        self._delay_s = delay_s
        self._box = box
        self.calls: list[int] = []
        self.warmed_up = False

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        self.calls.append(len(images))
        if self._delay_s:
            time.sleep(self._delay_s)
        if self._box is None:
            return [Detections.empty() for _ in images]
        return [Detections.from_lists([list(self._box)], [0.9]) for _ in images]

    def warm_up(self) -> None:
        self.warmed_up = True


class RecordingOutput:
    """An Output that keeps what it was given."""

    def __init__(self, *, fail_at: int | None = None) -> None:
        self.indices: list[int] = []
        self.pts: list[float] = []
        self.results: list[FrameResult] = []
        self.closed = False
        self._fail_at = fail_at

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        if self._fail_at is not None and len(self.indices) == self._fail_at:
            msg = "recording output failed on purpose"
            raise OSError(msg)
        self.indices.append(result.frame.index)
        self.pts.append(result.frame.pts_s)
        self.results.append(result)

    def close(self) -> None:
        self.closed = True


class StepClock:
    """A clock that advances by ``step_ns`` each call (exact latency tests)."""

    def __init__(self, step_ns: int = 1_000_000) -> None:
        self._now = 0
        self._step = step_ns
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._now += self._step
            return self._now


class FakePerception:
    """FramePerception over a detector: one centre crop, the best box is the ball."""

    def __init__(
        self, detector: FakeDetector, clock: Callable[[], int] = time.monotonic_ns
    ) -> None:
        self.detector = detector
        self._clock = clock
        self.resets = 0

    @property
    def precision(self) -> str:
        return str(self.detector.precision)

    def process(self, frame: Frame, dequeued_ns: int) -> list[FrameResult]:
        size = self.detector.resolution
        crop = frame.image[:size, :size]
        start = self._clock()
        detections = self.detector.detect([crop])[0]
        end = self._clock()
        pixels = crop.shape[0] * crop.shape[1]
        step = PerceptionStep(detections, SearchMode.TILES, pixels, start, end)
        ball = BallState.lost()
        if len(detections):
            x, y = detections.centers[0]
            ball = BallState(TrackStatus.SEEN, float(x), float(y), float(detections.confidence[0]))
        return [FrameResult(frame, step, ball, dequeued_ns, self.precision)]

    def flush(self) -> list[FrameResult]:
        return []

    def reset(self) -> list[FrameResult]:
        self.resets += 1
        return []


class WhiteBoxDetector(CpuFakeDetector):
    """Boxes the white pixels of each image; records the image sizes it was given."""

    def __init__(self, resolution: int = 384, native_sizes: Sequence[int] = ()) -> None:
        super().__init__(resolution)
        self._native_sizes = set(native_sizes)
        self.calls: list[list[int]] = []

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        self.calls.append([image.shape[0] for image in images])
        results = []
        for image in images:
            ys, xs = np.nonzero((image == 255).all(axis=2))
            if len(xs) == 0:
                results.append(Detections.empty())
                continue
            box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
            results.append(Detections.from_lists([box], [0.8]))
        return results


class VariableSizeDetector(WhiteBoxDetector):
    """Also runs natively at some sizes below its resolution."""

    def accepts_input_size(self, size: int) -> bool:
        return size in self._native_sizes

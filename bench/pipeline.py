"""Throughput of the threaded pipeline vs a naive single-threaded loop, and the live-latency check.

Part 1 runs the same clip, model, search/tracker, drawers and H.264 writer twice: once as a
plain loop (decode -> detect -> draw -> write, one thread) and once through ballwatch's
pipeline (capture, perception and render threads with bounded queues), and prints fps for
both, the ratio, and per-stage times.

Part 2 is the bounded-latency check for live sources: a paced 200 fps synthetic source and
a detector 5x slower than the source, over 1,000 source frames, with the ``latest`` policy:
capture-to-written age p50/p99 in detector periods, and produced = processed + dropped.

    python bench/pipeline.py [--clip FILE] [--frames N] [--weights CKPT]
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from configs.app_config import SearchConfig, TrackerConfig, load_config, preset_path
from overlays.drawers import BallMarker, Trail
from overlays.outputs import VideoFileOutput
from perception.detections import Detections
from perception.detector import Precision
from perception.result import FrameResult
from perception.search import BallSearch
from perception.search_and_track import SearchAndTrack
from perception.tracker import BallTracker
from stream.frame import Frame
from stream.latency import DropEvent, LatencyRecord, MemoryLatencyLog
from stream.latency_summary import format_summary, summarize
from stream.pipeline import QueueSettings, assemble
from stream.queues import DropPolicy
from stream.sources import SourceOptions, open_source
from stream.synth import SynthParams, SynthSource

REAL_CLIP = (
    Path(__file__).resolve().parents[1].parent / "shared/data/real/badminton_bwf/train_00008.mp4"
)


def _ignore_drop(index: int, cause: object) -> None:
    del index, cause


class LimitedSource:
    """The first ``frames`` frames of a source."""

    def __init__(self, source, frames: int) -> None:  # type: ignore[no-untyped-def]
        self._source = source
        self._left = frames
        self.kind = source.kind
        self.fps = source.fps
        self.frame_count = frames

    def read(self, stop: threading.Event):  # type: ignore[no-untyped-def]
        if self._left <= 0:
            return None
        self._left -= 1
        return self._source.read(stop)

    def close(self) -> None:
        self._source.close()


def _detector(weights: str | None, resolution: int):  # type: ignore[no-untyped-def]
    from perception.precision import resolve_precision
    from perception.rfdetr_detector import RfDetrDetector

    if weights:
        from configs.app_config import DetectorConfig

        plan = resolve_precision("auto", "cpu", None)
        return RfDetrDetector.from_config(DetectorConfig(weights=weights, ball_class=0), plan)
    return RfDetrDetector.random("nano", resolution=resolution, num_queries=30, num_classes=1)


SEARCH = {"config": SearchConfig(track_enabled=False)}  # --track switches track crops on


def _perception(detector, tracker: TrackerConfig | None = None):  # type: ignore[no-untyped-def]
    search = BallSearch(detector, SEARCH["config"])
    return SearchAndTrack(search, BallTracker(tracker or TrackerConfig()), detector)


def naive_loop(clip: str, frames: int, detector, out: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """decode -> detect -> draw -> write in one thread; seconds per stage and fps."""
    source = LimitedSource(open_source(clip, None, SourceOptions(), _ignore_drop), frames)
    perception = _perception(detector)
    drawers = [Trail(), BallMarker()]
    output = VideoFileOutput(out, source.fps or 30.0)
    stop = threading.Event()
    totals = dict.fromkeys(["decode", "detect", "draw", "write"], 0.0)
    start = time.perf_counter()
    count = 0

    def draw_and_write(results: list[FrameResult]) -> None:
        nonlocal count
        for result in results:
            t2 = time.perf_counter()
            image = result.frame.image.copy()
            for drawer in drawers:
                drawer.draw_on(image, result)
            t3 = time.perf_counter()
            output.write(image, result)
            t4 = time.perf_counter()
            totals["draw"] += t3 - t2
            totals["write"] += t4 - t3
            count += 1

    while True:
        t0 = time.perf_counter()
        raw = source.read(stop)
        if raw is None:
            break
        frame = Frame(raw.index, raw.image, raw.pts_s, time.monotonic_ns())
        t1 = time.perf_counter()
        results = perception.process(frame, 0)
        totals["decode"] += t1 - t0
        totals["detect"] += time.perf_counter() - t1
        draw_and_write(results)
    draw_and_write(perception.flush())
    output.close()
    source.close()
    elapsed = time.perf_counter() - start
    return {"fps": count / elapsed, **{k: v / count * 1000 for k, v in totals.items()}}


def threaded(clip: str, frames: int, detector, out: Path):  # type: ignore[no-untyped-def]
    source = LimitedSource(open_source(clip, None, SourceOptions(), _ignore_drop), frames)
    log = MemoryLatencyLog()
    pipeline = assemble(
        source,
        _perception(detector),
        [Trail(), BallMarker()],
        VideoFileOutput(out, source.fps or 30.0),
        log,
        QueueSettings(DropPolicy.BLOCK, 4, 4),
    )
    start = time.perf_counter()
    pipeline.group.run()
    elapsed = time.perf_counter() - start
    records = [e for e in log.entries if isinstance(e, LatencyRecord)]
    return len(records) / elapsed, summarize(records, [])


class SleepingDetector:
    """Takes ``delay_s`` per call and finds nothing (the latency check needs only its time)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.resolution = 384
        self.precision = Precision.FP32
        self.device = "cpu"

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        time.sleep(self.delay_s)
        return [Detections.empty() for _ in images]

    def warm_up(self) -> None:
        """Nothing to warm."""


def live_latency(frames: int = 1000, fps: float = 200.0, slowdown: float = 5.0) -> None:
    period_s = slowdown / fps
    source = SynthSource(
        SynthParams(seed=3, width=320, height=240, fps=fps, frames=frames), is_realtime=True
    )
    log = MemoryLatencyLog()
    detector = SleepingDetector(period_s)
    tracker = load_config(preset_path("live")).tracker  # live: the ball settles 1 frame late
    print(f"\n(live preset: tracker.lag_frames={tracker.lag_frames})", end="")
    pipeline = assemble(
        source,
        _perception(detector, tracker),
        [],
        _NullOutput(),
        log,
        QueueSettings(DropPolicy.LATEST, 2, 2),
    )
    pipeline.group.run()
    records = [e for e in log.entries if isinstance(e, LatencyRecord)]
    drops = [e for e in log.entries if isinstance(e, DropEvent)]
    ages = np.array([r.end_to_end_ms for r in records])
    period_ms = period_s * 1000
    print(f"\n== live policy: {fps:.0f} fps source, detector {slowdown:.0f}x slower ", end="")
    print(f"({period_ms:.0f} ms per frame) ==")
    print(
        f"produced {frames} = processed {len(records)} + dropped {len(drops)}: "
        f"{'OK' if len(records) + len(drops) == frames else 'MISMATCH'}"
    )
    p50, p99 = np.percentile(ages, 50), np.percentile(ages, 99)
    print(
        f"capture->written age p50 {p50:.1f} ms ({p50 / period_ms:.2f} periods), "
        f"p99 {p99:.1f} ms ({p99 / period_ms:.2f} periods), max {ages.max():.1f} ms; "
        f"target p99 < 3 periods: {'met' if p99 < 3 * period_ms else 'MISSED'}"
    )


class _NullOutput:
    def write(self, image, result) -> None:  # type: ignore[no-untyped-def]
        del image, result

    def close(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=str(REAL_CLIP) if REAL_CLIP.exists() else None)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--weights")
    parser.add_argument("--resolution", type=int, default=384)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--track", action="store_true", help="track crops with search fallback")
    parser.add_argument("--out", default="out/bench", help="where the two videos go")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.track:
        SEARCH["config"] = SearchConfig(track_enabled=True)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    clip = args.clip or "synth:?seed=4&frames=200&width=1280&height=720&fps=30"
    detector = _detector(args.weights, args.resolution)
    detector.warm_up()
    print(
        f"clip {clip}, {args.frames} frames, RF-DETR nano at {detector.resolution} px "
        f"({'weights ' + args.weights if args.weights else 'random weights, 30 queries'}), "
        f"{'track crops + search' if args.track else 'tiles every frame'}"
    )
    naive = naive_loop(clip, args.frames, detector, out / "naive.mp4")
    ours_fps, summary = threaded(clip, args.frames, detector, out / "ours.mp4")
    print("\n== throughput: same clip, model, drawers and writer ==")
    print(
        f"naive single-thread loop: {naive['fps']:.2f} fps "
        f"(per frame: decode {naive['decode']:.1f} ms, detect {naive['detect']:.1f} ms, "
        f"draw {naive['draw']:.1f} ms, write {naive['write']:.1f} ms)"
    )
    print(f"ballwatch pipeline:       {ours_fps:.2f} fps")
    print(f"ratio ours/naive:         {ours_fps / naive['fps']:.2f}x")
    print("\n" + format_summary(summary))
    live_latency()


if __name__ == "__main__":
    main()

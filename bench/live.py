"""Live on a CPU: a labelled real clip at real-time pace through the live preset, side by side.

One model, one clip, four arms in one run, F1 at 4 px against the clip's labels:

(a) naive: rfdetr ``predict`` on the whole frame (stretched to the model's square) plus
    supervision's box annotator, one thread, every frame (as fast as it goes);
(b) supervision's ``InferenceSlicer`` at native tiles (the model's resolution), the
    top-scoring box per frame, every frame;
(c) ours in replay: ``ballwatch run`` with the block policy, nothing dropped;
(d) ours live: ``ballwatch run --realtime --config live``: the source keeps its pace,
    frames the pipeline cannot take are dropped (each a miss unless a position was output).

For (d) also: processed %, end-to-end p95 and detector p95. Issue 12's targets: >= 80%
processed, e2e p95 <= 150 ms, F1 within 5 points of (c).

    .venv/bin/python -m bench.live                                   # badminton train_00001
    .venv/bin/python -m bench.live --weights perception/models/ball-nano-real.safetensors
    .venv/bin/python -m bench.live --arms c d --set detector.threads=1
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does, before torch loads

import numpy as np
from numpy.typing import NDArray

from configs.app_config import AppConfig, load_config, parse_override, preset_path
from perception.evaluate import EvalReport, evaluate_outputs
from perception.labels import read_labels
from perception.precision import resolve_precision
from perception.result import BallState, FrameResult, TrackStatus
from stream import app
from stream.frame import BallTruth
from stream.latency import LatencyLog
from stream.latency_summary import LatencyStage
from stream.recording_source import RecordingSource
from stream.source import FrameSource, SourceKind

CLIP = Path(__file__).resolve().parents[2] / "shared/data/real/badminton_bwf/train_00001.mp4"
SYNTH_WEIGHTS = "perception/models/ball-nano-synth.safetensors"


@dataclass(frozen=True, slots=True)
class Arm:
    """One arm's figures."""

    name: str
    fps: float
    report: EvalReport
    processed: int
    frames: int
    e2e_p95_ms: float | None = None
    detector_p95_ms: float | None = None


def read_frames(path: Path) -> list[NDArray[np.uint8]]:
    """Every frame of the clip, BGR."""
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def top_ball(detections: Any) -> BallState:
    """The top-scoring box centre as the ball (no tracker), or lost."""
    if len(detections) == 0:
        return BallState.lost()
    best = int(np.argmax(detections.confidence))
    x0, y0, x1, y1 = (float(v) for v in detections.xyxy[best])
    return BallState(TrackStatus.SEEN, (x0 + x1) / 2, (y0 + y1) / 2, 1.0)


def naive_arm(model: Any, frames: list[NDArray[np.uint8]], truths: list[BallTruth]) -> Arm:
    """(a) predict on the whole frame + supervision annotators, one thread."""
    import supervision as sv
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    annotator = sv.BoxAnnotator()
    outputs: list[BallState | None] = []
    start = time.perf_counter()
    for image in frames:
        found = model.predict(image[:, :, ::-1].copy(), threshold=0.3)  # rfdetr wants RGB
        annotator.annotate(image.copy(), found)
        outputs.append(top_ball(found))
    seconds = time.perf_counter() - start
    torch.set_num_threads(threads)
    report = evaluate_outputs(outputs, truths)
    return Arm(
        "(a) naive predict, whole frame", len(frames) / seconds, report, len(frames), len(frames)
    )


def slicer_arm(
    model: Any, resolution: int, frames: list[NDArray[np.uint8]], truths: list[BallTruth]
) -> Arm:
    """(b) supervision InferenceSlicer at native tiles, top box per frame."""
    import supervision as sv

    def callback(tile: NDArray[np.uint8]) -> Any:
        return model.predict(tile[:, :, ::-1].copy(), threshold=0.3)

    slicer = sv.InferenceSlicer(
        callback=callback, slice_wh=(resolution, resolution), overlap_wh=(32, 32)
    )
    outputs: list[BallState | None] = []
    start = time.perf_counter()
    for image in frames:
        outputs.append(top_ball(slicer(image)))
    seconds = time.perf_counter() - start
    report = evaluate_outputs(outputs, truths)
    name = f"(b) InferenceSlicer {resolution} px"
    return Arm(name, len(frames) / seconds, report, len(frames), len(frames))


class _Collector:
    """An Output that keeps each frame's ball."""

    def __init__(self) -> None:
        self.balls: dict[int, BallState] = {}

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        del image
        self.balls[result.frame.index] = result.ball

    def close(self) -> None:
        """Nothing to release."""


def ours_arm(name: str, config: AppConfig, detector: Any, truths: list[BallTruth]) -> Arm:
    """(c)/(d) the app itself, every source frame scored (a dropped frame is a miss)."""
    collector = _Collector()
    sources: list[RecordingSource] = []

    def opener(cfg: AppConfig, kind: SourceKind, log: LatencyLog) -> FrameSource:
        source = RecordingSource(app.open_configured_source(cfg, kind, log))
        sources.append(source)
        return source

    start = time.perf_counter()
    outcome = app.run(config, extra_outputs=(collector,), detector=detector, source_opener=opener)
    seconds = time.perf_counter() - start
    count = max(sources[0].produced, len(truths))
    outputs = [collector.balls.get(index) for index in range(count)]
    report = evaluate_outputs(outputs, truths)
    stages = outcome.summary.stages
    e2e = stages.get(LatencyStage.END_TO_END)
    inference = stages.get(LatencyStage.INFERENCE)
    processed = len(collector.balls)
    return Arm(
        name,
        processed / seconds,
        report,
        processed,
        count,
        e2e.p95_ms if e2e else None,
        inference.p95_ms if inference else None,
    )


def format_table(arms: Sequence[Arm]) -> str:
    """One row per arm."""
    lines = [
        f"{'arm':34} {'fps':>6} {'processed':>11} {'P':>6} {'R':>6} {'F1@4px':>7} "
        f"{'e2e p95':>8} {'det p95':>8}"
    ]
    for arm in arms:
        e2e = f"{arm.e2e_p95_ms:8.0f}" if arm.e2e_p95_ms is not None else f"{'-':>8}"
        det = f"{arm.detector_p95_ms:8.0f}" if arm.detector_p95_ms is not None else f"{'-':>8}"
        share = f"{arm.processed}/{arm.frames}"
        report = arm.report
        lines.append(
            f"{arm.name:34} {arm.fps:6.1f} {share:>11} {report.precision:6.3f} "
            f"{report.recall:6.3f} {report.f1:7.3f} {e2e} {det}"
        )
    return "\n".join(lines)


def _config(clip: Path, weights: str, preset: str, sets: Sequence[str], **extra: Any) -> AppConfig:
    overrides: dict[str, Any] = {
        "source": str(clip),
        "detector.weights": weights,
        "output.progress": False,
        **extra,
    }
    for text in sets:
        key, value = parse_override(text)
        overrides[key] = value
    return load_config(preset_path(preset), overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen arms and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=CLIP, help="labelled .mp4 (CSV beside it)")
    parser.add_argument("--weights", default=SYNTH_WEIGHTS)
    parser.add_argument("--arms", nargs="+", default=["a", "b", "c", "d"])
    parser.add_argument("--preset", default="live", help="preset of the live arm")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    parser.add_argument(
        "--slow-frames", type=int, default=90, help="frames (a) and (b) run on (from the start)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    replay = _config(args.clip, args.weights, "replay", args.set)
    live = _config(args.clip, args.weights, args.preset, args.set, **{"stream.realtime": True})
    plan = resolve_precision(
        live.detector.precision, live.detector.device, live.detector.int8_artifact
    )
    detector = app.build_detector(live, plan)
    detector.warm_up()
    frames = read_frames(args.clip)
    height, width = frames[0].shape[:2]
    truths = read_labels(args.clip.with_suffix(".csv"), width, height)
    arms: list[Arm] = []
    slow = min(args.slow_frames, len(frames))
    runs: dict[str, Callable[[], Arm]] = {
        "a": lambda: naive_arm(detector.model, frames[:slow], truths[:slow]),
        "b": lambda: slicer_arm(detector.model, detector.resolution, frames[:slow], truths[:slow]),
        "c": lambda: ours_arm("(c) ours, replay (block)", replay, detector, truths),
        "d": lambda: ours_arm(f"(d) ours, live ({args.preset})", live, detector, truths),
    }
    print(
        f"clip {args.clip.name}: {len(frames)} frames {width}x{height}; weights {args.weights}; "
        f"{plan.reason}; F1 at 4 px; {os.cpu_count()} CPUs; (a), (b) on the first {slow} frames"
    )
    for name in args.arms:
        arms.append(runs[name]())
        print(format_table(arms[-1:]).splitlines()[-1], flush=True)
    print()
    print(format_table(arms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

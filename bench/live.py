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

Each arm runs the precision the product would pick for it: (c) and (d) through
``build_timed_detector`` (``--precision auto``: a replay times the floats, a live run also
the shipped INT8 QAT twin), (a) and (b) the float model as a user of rfdetr would. A
grey-stack (motion) model is given stacked frames in every arm. The real model trained on
train_00001's frames before ``--held-out-from`` (220), so the table scores those after it
apart: (a) and (b) run only on them.

    .venv/bin/python -m bench.live                                   # badminton train_00001
    .venv/bin/python -m bench.live --weights colour.safetensors      # default: the real model
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
from perception.detector import Detector
from perception.evaluate import EvalReport, TrackCollector, evaluate_outputs
from perception.frame_input import FrameStack, frame_input_of
from perception.labels import read_labels
from perception.options import FrameInput
from perception.precision import PrecisionPlan, resolve_precision
from perception.result import BallState, TrackStatus
from perception.weights import choose_weights
from stream import app
from stream.frame import BallTruth
from stream.latency import LatencyLog
from stream.latency_summary import LatencyStage
from stream.recording_source import RecordingSource
from stream.source import FrameSource, SourceKind

CLIP = Path(__file__).resolve().parents[2] / "shared/data/real/badminton_bwf/train_00001.mp4"


@dataclass(frozen=True, slots=True)
class Arm:
    """One arm's figures."""

    name: str
    precision: str
    fps: float
    report: EvalReport
    held_out: EvalReport
    processed: int
    frames: int
    e2e_p95_ms: float | None = None
    detector_p95_ms: float | None = None
    processed_recall: float | None = None  # share of processed visible frames found at 4 px
    bridged: int = 0  # dropped frames given a position between two that saw the ball
    unbridged: tuple[float, float] | None = None  # F1 all / held-out, every dropped frame a miss


def read_frames(path: Path) -> list[NDArray[np.uint8]]:
    """Every frame of the clip, BGR."""
    import av

    with av.open(str(path)) as container:
        return [
            np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)
            for frame in container.decode(video=0)
        ]


def top_ball(detections: Any) -> BallState:
    """The top-scoring box centre as the ball (no tracker), or lost."""
    if len(detections) == 0:
        return BallState.lost()
    best = int(np.argmax(detections.confidence))
    x0, y0, x1, y1 = (float(v) for v in detections.xyxy[best])
    return BallState(TrackStatus.SEEN, (x0 + x1) / 2, (y0 + y1) / 2, 1.0)


def model_view(detector: Detector, frames: list[NDArray[np.uint8]]) -> list[NDArray[np.uint8]]:
    """The frames as the model sees them: as they are, or grey-stacked for a motion model."""
    if frame_input_of(detector) is not FrameInput.GREY_STACK:
        return frames
    stack = FrameStack()
    return [stack.push(image) for image in frames]


def scored(
    outputs: list[BallState | None], truths: list[BallTruth], first: int, held_out_from: int
) -> tuple[EvalReport, EvalReport]:
    """All the arm's frames (from ``first``), and only those from ``held_out_from`` on."""
    report = evaluate_outputs(outputs, truths[first : first + len(outputs)])
    skip = max(held_out_from - first, 0)
    held = evaluate_outputs(outputs[skip:], truths[first + skip : first + len(outputs)])
    return report, held


def processed_recall(collector: TrackCollector, truths: Sequence[BallTruth]) -> float:
    """Recall on the frames the run processed (the live target's "R proc"; drops not counted)."""
    done = sorted(index for index in collector.balls if index < len(truths))
    return evaluate_outputs([collector.balls[i] for i in done], [truths[i] for i in done]).recall


def naive_arm(
    detector: Detector, frames: list[NDArray[np.uint8]], truths: list[BallTruth], first: int
) -> Arm:
    """(a) predict on the whole frame + supervision annotators, one thread."""
    import supervision as sv
    import torch

    model: Any = detector.model  # type: ignore[attr-defined]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    annotator = sv.BoxAnnotator()
    outputs: list[BallState | None] = []
    start = time.perf_counter()
    for image, seen in zip(frames, model_view(detector, frames), strict=True):
        found = model.predict(seen[:, :, ::-1].copy(), threshold=0.3)  # rfdetr wants RGB
        annotator.annotate(image.copy(), found)
        outputs.append(top_ball(found))
    seconds = time.perf_counter() - start
    torch.set_num_threads(threads)
    report, held = scored(outputs, truths, first, first)
    name = "(a) naive predict, whole frame"
    return Arm(name, str(detector.precision), len(frames) / seconds, report, held,
               len(frames), len(frames))  # fmt: skip


def slicer_arm(
    detector: Detector, frames: list[NDArray[np.uint8]], truths: list[BallTruth], first: int
) -> Arm:
    """(b) supervision InferenceSlicer at native tiles, top box per frame."""
    import supervision as sv

    model: Any = detector.model  # type: ignore[attr-defined]
    resolution = detector.resolution

    def callback(tile: NDArray[np.uint8]) -> Any:
        return model.predict(tile[:, :, ::-1].copy(), threshold=0.3)

    slicer = sv.InferenceSlicer(
        callback=callback, slice_wh=(resolution, resolution), overlap_wh=(32, 32)
    )
    outputs: list[BallState | None] = []
    start = time.perf_counter()
    for seen in model_view(detector, frames):
        outputs.append(top_ball(slicer(seen)))
    seconds = time.perf_counter() - start
    report, held = scored(outputs, truths, first, first)
    name = f"(b) InferenceSlicer {resolution} px"
    return Arm(name, str(detector.precision), len(frames) / seconds, report, held,
               len(frames), len(frames))  # fmt: skip


def ours_arm(
    name: str, config: AppConfig, detector: Detector, truths: list[BallTruth], held_out_from: int
) -> Arm:
    """(c)/(d) the app itself, every source frame scored (a dropped frame: bridged, else a miss)."""
    collector = TrackCollector()
    sources: list[RecordingSource] = []

    def opener(cfg: AppConfig, kind: SourceKind, log: LatencyLog) -> FrameSource:
        source = RecordingSource(app.open_configured_source(cfg, kind, log))
        sources.append(source)
        return source

    start = time.perf_counter()
    outcome = app.run(config, extra_outputs=(collector,), detector=detector, source_opener=opener)
    seconds = time.perf_counter() - start
    count = max(sources[0].produced, len(truths))
    outputs = collector.outputs(count)  # a dropped frame: bridged, else a miss
    report, held = scored(outputs, truths, 0, held_out_from)
    unbridged = collector.outputs(count, with_bridged=False)
    plain, plain_held = scored(unbridged, truths, 0, held_out_from)
    stages = outcome.summary.stages
    e2e = stages.get(LatencyStage.END_TO_END)
    inference = stages.get(LatencyStage.INFERENCE)
    processed = len(collector.balls)
    return Arm(
        name,
        str(detector.precision),
        processed / seconds,
        report,
        held,
        processed,
        count,
        e2e.p95_ms if e2e else None,
        inference.p95_ms if inference else None,
        processed_recall(collector, truths),
        len(collector.bridged),
        (plain.f1, plain_held.f1),
    )


def format_table(arms: Sequence[Arm]) -> str:
    """One row per arm."""
    lines = [
        f"{'arm':34} {'prec':>5} {'fps':>6} {'processed':>11} {'P':>6} {'R':>6} {'F1@4px':>7} "
        f"{'held-out':>8} {'R proc':>6} {'e2e p95':>8} {'det p95':>8}"
    ]
    for arm in arms:
        e2e = f"{arm.e2e_p95_ms:8.0f}" if arm.e2e_p95_ms is not None else f"{'-':>8}"
        det = f"{arm.detector_p95_ms:8.0f}" if arm.detector_p95_ms is not None else f"{'-':>8}"
        share = f"{arm.processed}/{arm.frames}"
        proc = f"{arm.processed_recall:6.3f}" if arm.processed_recall is not None else f"{'-':>6}"
        report = arm.report
        lines.append(
            f"{arm.name:34} {arm.precision:>5} {arm.fps:6.1f} {share:>11} {report.precision:6.3f} "
            f"{report.recall:6.3f} {report.f1:7.3f} {arm.held_out.f1:8.3f} {proc} {e2e} {det}"
        )
    for arm in arms:
        if arm.bridged and arm.unbridged is not None:
            lines.append(
                f"{arm.name}: {arm.bridged} dropped frames bridged; with every dropped frame a "
                f"miss, F1 {arm.unbridged[0]:.3f} all, {arm.unbridged[1]:.3f} held-out"
            )
    return "\n".join(lines)


def timed_detector(
    config: AppConfig, weights: Path | None, *, is_live: bool
) -> tuple[Detector, PrecisionPlan]:
    """The detector ``ballwatch run`` would load for ``config`` (``auto``: the fastest here)."""
    detector = config.detector
    plan = resolve_precision(detector.precision, detector.device, detector.int8_artifact)
    return app.build_timed_detector(config, plan, weights, is_live=is_live)


def print_row(arms: list[Arm], arm: Arm) -> None:
    """Keep ``arm`` and print its row as soon as it is measured."""
    arms.append(arm)
    print(format_table([arm]).splitlines()[-1], flush=True)


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
    parser.add_argument("--weights", default=None, help="default: the product's choice")
    parser.add_argument("--arms", nargs="+", default=["a", "b", "c", "d"])
    parser.add_argument("--preset", default="live", help="preset of the live arm")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    parser.add_argument(
        "--held-out-from",
        type=int,
        default=220,
        help="first frame the model never trained on; (a) and (b) run from it",
    )
    parser.add_argument(
        "--slow-frames", type=int, default=40, help="held-out frames (a) and (b) run on"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    weights = choose_weights(args.weights, "file").path
    replay = _config(args.clip, str(weights), "replay", args.set)
    live = _config(args.clip, str(weights), args.preset, args.set, **{"stream.realtime": True})
    floats, replay_plan = timed_detector(replay, weights, is_live=False)
    live_detector, live_plan = timed_detector(live, weights, is_live=True)
    frames = read_frames(args.clip)
    height, width = frames[0].shape[:2]
    truths = read_labels(args.clip.with_suffix(".csv"), width, height)
    arms: list[Arm] = []
    first = min(args.held_out_from, len(frames) - 1)
    held = args.held_out_from
    slow = frames[first : first + args.slow_frames]
    runs: dict[str, Callable[[], Arm]] = {
        "a": lambda: naive_arm(floats, slow, truths, first),
        "b": lambda: slicer_arm(floats, slow, truths, first),
        "c": lambda: ours_arm("(c) ours, replay (block)", replay, floats, truths, held),
        "d": lambda: ours_arm(f"(d) ours, live ({args.preset})", live, live_detector, truths, held),
    }
    print(
        f"clip {args.clip.name}: {len(frames)} frames {width}x{height}; weights {weights.name}; "
        f"replay {replay_plan.reason}; live {live_plan.reason}; "
        f"F1 at 4 px; {os.cpu_count()} CPUs; held-out = frames {held}+ (the model never saw "
        f"them); (a), (b) on the first {len(slow)} of those"
    )
    for name in args.arms:
        print_row(arms, runs[name]())
    print()
    print(format_table(arms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tracker on real motion: labelled trajectories with a simulated detector, raw vs tracked.

The detector is simulated from the labels (no video is read): each frame with a visible
ball yields its centre with Gaussian jitter unless missed, and false positives appear
anywhere in the frame. The tracker sees only those candidates and frame times.

    python -m bench.tracker --labels ../shared/data/real/badminton_bwf/train_00001.csv \
        --width 1280 --height 720 --seed 1
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from configs.app_config import TrackerConfig
from perception.detections import Detections
from perception.evaluate import DEFAULT_TOLERANCE_PX, evaluate_outputs
from perception.labels import LabelError, read_labels
from perception.result import BallState, TrackStatus
from perception.tracker import BallTracker, LaggedTracker
from stream.frame import BallTruth


@dataclass(frozen=True, slots=True)
class NoiseModel:
    """The simulated detector's faults."""

    miss_rate: float = 0.3  # share of visible balls not detected
    fp_per_frame: float = 0.1  # false positives per frame (Poisson), anywhere
    jitter_px: float = 1.5  # sigma of the centre error on each axis
    box_px: float = 8.0  # side of every box


@dataclass(frozen=True, slots=True)
class Simulation:
    """Per-frame candidates and whether the ball was among them."""

    detections: list[Detections]
    ball_found: list[bool]


@dataclass(frozen=True, slots=True)
class BenchRow:
    """One line of the table."""

    name: str
    recall: float
    precision: float
    f1: float
    median_error_px: float
    bridged: int = 0  # frames in short gaps reported as predicted
    gap_frames: int = 0  # frames in gaps of up to 5 missed frames
    bridged_median_px: float = math.nan
    bridged_hits: int = 0  # bridged frames within the tolerance


def simulate(
    truths: Sequence[BallTruth], width: int, height: int, noise: NoiseModel, seed: int
) -> Simulation:
    """Draw the detector's output for every frame (seeded)."""
    rng = np.random.default_rng(seed)
    detections: list[Detections] = []
    found: list[bool] = []
    half = noise.box_px / 2
    for truth in truths:
        centers: list[tuple[float, float]] = []
        is_found = truth.is_visible and rng.random() >= noise.miss_rate
        if is_found:
            dx, dy = rng.normal(0.0, noise.jitter_px, 2)
            centers.append((truth.x + dx, truth.y + dy))
        for _ in range(rng.poisson(noise.fp_per_frame)):
            centers.append((rng.uniform(0, width), rng.uniform(0, height)))
        order = rng.permutation(len(centers))
        boxes = [[cx - half, cy - half, cx + half, cy + half] for cx, cy in centers]
        scores = rng.uniform(0.3, 1.0, len(centers)).tolist()
        detections.append(
            Detections.from_lists([boxes[i] for i in order], [scores[i] for i in order])
        )
        found.append(is_found)
    return Simulation(detections, found)


def track(
    detections: Sequence[Detections],
    tracker: LaggedTracker[int],
    fps: float,
    frame_size: tuple[int, int],
) -> list[BallState]:
    """Run the tracker over the candidates with frame times ``index / fps``."""
    outputs: list[BallState] = [BallState.lost()] * len(detections)
    settled: list[tuple[int, BallState]] = []
    for index, frame in enumerate(detections):
        settled.extend(tracker.push(index, frame, index / fps, frame_size))
    settled.extend(tracker.flush())
    for index, state in settled:
        outputs[index] = state
    return outputs


def score_raw(
    detections: Sequence[Detections], truths: Sequence[BallTruth], tolerance_px: float
) -> BenchRow:
    """Score every raw candidate: the nearest to the ball may hit, all others are FPs."""
    tp = fp = 0
    errors: list[float] = []
    for frame, truth in zip(detections, truths, strict=True):
        if len(frame) == 0:
            continue
        if not truth.is_visible:
            fp += len(frame)
            continue
        distances = np.hypot(frame.centers[:, 0] - truth.x, frame.centers[:, 1] - truth.y)
        nearest = float(distances.min())
        is_hit = nearest <= tolerance_px
        tp += int(is_hit)
        fp += len(frame) - int(is_hit)
        if nearest <= 4 * tolerance_px:
            errors.append(nearest)
    visible = sum(1 for truth in truths if truth.is_visible)
    recall = tp / visible if visible else 1.0
    precision = tp / (tp + fp) if tp + fp else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    median = statistics.median(errors) if errors else math.nan
    return BenchRow("raw detections", recall, precision, f1, median)


def gap_frames(simulation: Simulation, truths: Sequence[BallTruth], longest: int) -> list[int]:
    """Frames in gaps of 1..``longest`` missed visible frames between two detections."""
    frames: list[int] = []
    index = 1
    count = len(truths)
    while index < count:
        if not (truths[index].is_visible and not simulation.ball_found[index]):
            index += 1
            continue
        start = index
        while index < count and truths[index].is_visible and not simulation.ball_found[index]:
            index += 1
        closed = index < count and simulation.ball_found[index] and simulation.ball_found[start - 1]
        if closed and index - start <= longest:
            frames.extend(range(start, index))
    return frames


def score_tracked(
    outputs: Sequence[BallState],
    truths: Sequence[BallTruth],
    gaps: Sequence[int],
    tolerance_px: float,
) -> BenchRow:
    """The tracker's per-frame output scored like ``ballwatch eval``, plus gap bridging."""
    report = evaluate_outputs(outputs, truths, tolerance_px)
    bridged = [
        report.rows[index].error_px
        for index in gaps
        if outputs[index].status is TrackStatus.PREDICTED
    ]
    return BenchRow(
        "tracked",
        report.recall,
        report.precision,
        report.f1,
        report.median_error_px,
        bridged=len(bridged),
        gap_frames=len(gaps),
        bridged_median_px=statistics.median(bridged) if bridged else math.nan,
        bridged_hits=sum(1 for error in bridged if error <= tolerance_px),
    )


def run_bench(  # noqa: PLR0913 (a bench entry point: every knob is an argument)
    truths: Sequence[BallTruth],
    width: int,
    height: int,
    seed: int,
    *,
    config: TrackerConfig | None = None,
    noise: NoiseModel | None = None,
    fps: float = 30.0,
    tolerance_px: float = DEFAULT_TOLERANCE_PX,
) -> tuple[BenchRow, BenchRow]:
    """Simulate, track and score one labelled clip: ``(raw, tracked)``."""
    simulation = simulate(truths, width, height, noise or NoiseModel(), seed)
    tracker = LaggedTracker[int](BallTracker(config or TrackerConfig()))
    outputs = track(simulation.detections, tracker, fps, (width, height))
    gaps = gap_frames(simulation, truths, longest=5)
    raw = score_raw(simulation.detections, truths, tolerance_px)
    return raw, score_tracked(outputs, truths, gaps, tolerance_px)


def format_table(rows: Sequence[BenchRow], tolerance_px: float) -> str:
    """The rows as a fixed-width table."""
    header = (
        f"{'':16} {'recall':>7} {'prec':>6} {'F1':>6} {'med err':>8} "
        f"{'bridged':>12} {'bridged err':>12}   (tolerance {tolerance_px:g} px)"
    )
    lines = [header]
    for row in rows:
        bridged = f"{row.bridged}/{row.gap_frames}" if row.gap_frames else "-"
        bridged_err = (
            "-" if math.isnan(row.bridged_median_px) else f"{row.bridged_median_px:.1f} px"
        )
        lines.append(
            f"{row.name:16} {row.recall:7.3f} {row.precision:6.3f} {row.f1:6.3f} "
            f"{row.median_error_px:6.2f}px {bridged:>12} {bridged_err:>12}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the table for one labels file and seed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, required=True, help="labels CSV (either format)")
    parser.add_argument("--width", type=int, required=True, help="frame width in pixels")
    parser.add_argument("--height", type=int, required=True, help="frame height in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE_PX)
    args = parser.parse_args(argv)
    try:
        truths = read_labels(args.labels, args.width, args.height)
    except LabelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    raw, tracked = run_bench(
        truths, args.width, args.height, args.seed, fps=args.fps, tolerance_px=args.tolerance
    )
    visible = sum(1 for truth in truths if truth.is_visible)
    print(f"{args.labels.name}: {len(truths)} frames, {visible} visible, seed {args.seed}")
    print(format_table([raw, tracked], args.tolerance))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

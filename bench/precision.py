"""The precision table: FP32, FP16, BF16, INT8-QAT and an INT8-PTQ control arm, side by side.

Every arm runs the same model on the same native-scale crops of held-out synthetic matches
(two thirds with a ball, one third without), one crop per ``detect`` call: the detector
stage of a frame in track mode. The arms are interleaved crop by crop (the order rotates),
so a busy machine slows them all alike and the speed-up ratios stay fair.

Scoring (FACTS.md, tiny-ball convention): the top detection of a crop, if its score reaches
the threshold, is a hit within 4 px of the ball centre; a farther one is FP + FN; one on a
ball-free crop is FP. The threshold is the FP32 arm's best-F1 threshold on these crops,
applied to every arm (one operating point). Recall on balls under 6 px is reported apart.

INT8-PTQ (onnxruntime ``quantize_static``, QDQ, per-channel, calibrated on 32 crops) exists
only here, as the control arm the QAT-only policy is measured against; FP32-ORT is the float
graph in onnxruntime, to separate the runtime's share of the speed-up from INT8's.

    python -m bench.precision --weights perception/models/ball-nano-synth.safetensors
    python -m bench.precision                      # random Nano 128 px, 30 queries
    python -m bench.precision --resolution 384 --queries 300 --crops 40
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import platform
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from perception.dataset import CropRecipe, LabelledFrame, negative_crop, positive_crop
from perception.detector import Detector, Precision
from perception.int8_detector import Int8Detector, open_session
from perception.options import QatSettings
from perception.precision import HardwareProbe, PrecisionPlan
from perception.qat import cpu_has_vnni, export_onnx, quantize_detector
from perception.rfdetr_detector import RfDetrDetector, input_batch
from stream.synth import SynthMatch, SynthParams

logger = logging.getLogger(__name__)

TOLERANCE_PX = 4.0
SMALL_BALL_PX = 6.0
HELD_OUT_SEED = 900_000  # synth match seeds far from the training seeds


@dataclass(frozen=True, slots=True)
class EvalCrop:
    """One crop: the image and its ball (None on a ball-free crop)."""

    image: NDArray[np.uint8]
    ball_xy: tuple[float, float] | None
    diameter_px: float


@dataclass(frozen=True, slots=True)
class Arm:
    """One precision under test."""

    name: str
    detector: Detector
    note: str = ""


@dataclass
class ArmRun:
    """Per-crop timings and top detections of one arm."""

    times_ms: list[float]
    top: list[tuple[float, float, float]]  # (score, x, y); score -1 when nothing


@dataclass(frozen=True, slots=True)
class Scores:
    """Accuracy of one arm at one threshold."""

    f1: float
    recall: float
    small_recall: float | None
    small_count: int


def make_eval_crops(resolution: int, count: int, seed: int) -> list[EvalCrop]:
    """``count`` crops from held-out synthetic matches, two thirds with a ball."""
    rng = np.random.default_rng(seed)
    recipe = CropRecipe(resolution=resolution)
    crops: list[EvalCrop] = []
    match_index = 0
    while len(crops) < count:
        match_seed = HELD_OUT_SEED + seed * 100 + match_index % 8
        match = SynthMatch(SynthParams(seed=match_seed, pan=match_seed % 2 == 1))
        match_index += 1
        for _ in range(16):
            image, truth = match.frame(int(rng.integers(3000)))
            frame = LabelledFrame(image, (truth,) if truth.is_visible else (), "held-out", 0)
            wants_ball = len(crops) % 3 != 2
            if wants_ball and truth.is_visible:
                sample = positive_crop(frame, truth, recipe, rng)
                ball = sample.balls[0]
                crops.append(EvalCrop(sample.image, (ball.x, ball.y), 2 * truth.radius_px))
            elif not wants_ball:
                negative = negative_crop(frame, recipe, rng)
                if negative is not None:
                    crops.append(EvalCrop(negative.image, None, 0.0))
            if len(crops) >= count:
                break
    return crops


def score(run: ArmRun, crops: Sequence[EvalCrop], threshold: float) -> Scores:
    """F1 and recall at 4 px, and recall on balls under 6 px, at ``threshold``."""
    tp = fp = fn = 0
    small_hits = small_total = 0
    for (top_score, x, y), crop in zip(run.top, crops, strict=True):
        fired = top_score >= threshold
        if crop.ball_xy is None:
            fp += int(fired)
            continue
        is_hit = fired and math.hypot(x - crop.ball_xy[0], y - crop.ball_xy[1]) <= TOLERANCE_PX
        tp += int(is_hit)
        fn += int(not is_hit)
        fp += int(fired and not is_hit)
        if crop.diameter_px < SMALL_BALL_PX:
            small_total += 1
            small_hits += int(is_hit)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    small = small_hits / small_total if small_total else None
    return Scores(f1, recall, small, small_total)


def best_threshold(run: ArmRun, crops: Sequence[EvalCrop]) -> float:
    """The score threshold with the best F1 for this arm (0.5 when nothing fires)."""
    candidates = sorted({s for s, _, _ in run.top if s >= 0})
    if not candidates:
        return 0.5
    return max(candidates, key=lambda t: score(run, crops, t).f1)


def run_arms(arms: Sequence[Arm], crops: Sequence[EvalCrop]) -> dict[str, ArmRun]:
    """Time and score every arm on every crop, interleaved (rotating order per crop)."""
    runs = {arm.name: ArmRun([], []) for arm in arms}
    for arm in arms:
        arm.detector.warm_up()
        arm.detector.detect([crops[0].image])
    for index, crop in enumerate(crops):
        for offset in range(len(arms)):
            arm = arms[(index + offset) % len(arms)]
            start = time.perf_counter_ns()
            found = arm.detector.detect([crop.image])[0]
            runs[arm.name].times_ms.append((time.perf_counter_ns() - start) / 1e6)
            if len(found):
                x, y = found.centers[0]
                runs[arm.name].top.append((float(found.confidence[0]), float(x), float(y)))
            else:
                runs[arm.name].top.append((-1.0, 0.0, 0.0))
        if (index + 1) % 20 == 0:
            logger.info("%d/%d crops", index + 1, len(crops))
    return runs


def float_arm(base: RfDetrDetector, precision: Precision) -> RfDetrDetector:
    """A copy of ``base``'s model in another float precision (the copy is cast, not base)."""
    plan = PrecisionPlan("cpu", precision, f"cpu: {precision} (bench)")
    return RfDetrDetector(
        copy.deepcopy(base.model), plan, ball_class=base.ball_class_id, threshold=0.0
    )


class _Calibration:
    """onnxruntime's CalibrationDataReader over normalised crops."""

    def __init__(self, name: str, crops: Sequence[EvalCrop], resolution: int) -> None:
        self._feeds = iter([{name: input_batch([c.image], resolution).numpy()} for c in crops])

    def get_next(self) -> dict[str, Any] | None:
        return next(self._feeds, None)


def make_ptq(
    base: RfDetrDetector, calibration: Sequence[EvalCrop], folder: Path
) -> tuple[Path, Path]:
    """FP32 ONNX of ``base`` and its INT8 post-training quantization (the control arm)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    side = base.resolution
    fp32 = folder / "fp32.onnx"
    export_onnx(copy.deepcopy(base.network).float().eval(), torch.zeros(1, 3, side, side), fp32)
    ptq = folder / "ptq-int8.onnx"
    quantize_static(
        str(fp32),
        str(ptq),
        _Calibration("images", calibration, side),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        reduce_range=not cpu_has_vnni(),
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return fp32, ptq


def onnx_arm(path: Path, base: RfDetrDetector, threads: int, *, is_int8: bool) -> Int8Detector:
    """A bare onnxruntime detector for a bench-only graph (no sidecar check)."""
    if is_int8:
        session = open_session(path, threads)
    else:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    return Int8Detector(session, base.resolution, base.ball_class_id, threshold=0.0)


def base_detector(args: argparse.Namespace) -> tuple[RfDetrDetector, bool]:
    """The FP32 detector and whether its weights are trained."""
    plan = PrecisionPlan("cpu", Precision.FP32, "cpu: fp32 (bench)")
    if args.weights is not None:
        from configs.app_config import DetectorConfig
        from perception.weights import load_checkpoint

        meta = load_checkpoint(args.weights).meta
        names = meta.class_names
        config = DetectorConfig(
            size=meta.size or "nano",
            weights=str(args.weights),
            ball_class=names[0] if names else "sports ball",
            threshold=0.0,
        )
        return RfDetrDetector.from_config(config, plan), True
    torch.manual_seed(args.seed)
    detector = RfDetrDetector.random(
        "nano",
        resolution=args.resolution,
        num_queries=args.queries,
        num_classes=1,
        class_names=("ball",),
    )
    return detector, False


def build_arms(args: argparse.Namespace, base: RfDetrDetector) -> list[Arm]:
    """Every arm this machine supports, each on its own copy of the model."""
    folder = Path(args.work_dir)
    folder.mkdir(parents=True, exist_ok=True)
    arms = [Arm("FP32 (torch)", base)]
    wanted = set(args.arms.split(","))
    if "fp16" in wanted:
        arms.append(Arm("FP16 (torch)", float_arm(base, Precision.FP16)))
    if "bf16" in wanted and HardwareProbe.detect().has_fast_cpu_bf16:
        arms.append(Arm("BF16 (autocast)", float_arm(base, Precision.BF16)))
    if "int8" in wanted:
        artifact = args.int8 or folder / "qat-int8.onnx"
        if args.int8 is None:
            data = "synth:?seed=1000"
            settings = QatSettings(steps=args.qat_steps, batch_size=2)
            quantize_detector(base, data, artifact, settings, source={"weights": str(args.weights)})
        arms.append(
            Arm(
                "INT8 QAT (ORT)",
                Int8Detector.load(Path(artifact), threshold=0.0, threads=args.threads),
            )
        )
    if "ptq" in wanted or "ort" in wanted:
        fp32_path, ptq_path = make_ptq(
            base, make_eval_crops(base.resolution, 32, args.seed + 1), folder
        )
        if "ort" in wanted:
            arms.append(Arm("FP32 (ORT)", onnx_arm(fp32_path, base, args.threads, is_int8=False)))
        if "ptq" in wanted:
            arms.append(
                Arm("INT8 PTQ (ORT) control", onnx_arm(ptq_path, base, args.threads, is_int8=True))
            )
    return arms


def format_table(
    runs: dict[str, ArmRun], crops: Sequence[EvalCrop], threshold: float, *, is_trained: bool
) -> str:
    """The markdown table, FP32 first."""
    fp32_median = float(np.median(runs["FP32 (torch)"].times_ms))
    header = (
        "| arm | ms/frame median | p95 | speed-up vs FP32 | F1 @4px | recall @4px | recall <6px "
        "| F1 at own best threshold |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [header]
    for name, run in runs.items():
        median = float(np.median(run.times_ms))
        p95 = float(np.percentile(run.times_ms, 95))
        result = score(run, crops, threshold)
        small = "n/a" if result.small_recall is None else f"{result.small_recall:.3f}"
        own = best_threshold(run, crops)
        lines.append(
            f"| {name} | {median:.1f} | {p95:.1f} | {fp32_median / median:.2f}x | "
            f"{result.f1:.3f} | {result.recall:.3f} | {small} (n={result.small_count}) | "
            f"{score(run, crops, own).f1:.3f} (thr {own:.2f}) |"
        )
    if not is_trained:
        lines.append("\nrandom weights: accuracy columns meaningless")
    return "\n".join(lines)


def describe_machine(threads: int) -> str:
    """One line about where this ran."""
    probe = HardwareProbe.detect()
    return (
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{threads} threads, VNNI {cpu_has_vnni()}, AMX {probe.has_amx}, "
        f"AVX512-BF16 {probe.has_avx512_bf16}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="float ball checkpoint")
    parser.add_argument("--int8", type=Path, default=None, help="QAT artifact (else made here)")
    parser.add_argument("--qat-steps", type=int, default=2, help="QAT steps when making one")
    parser.add_argument("--resolution", type=int, default=128, help="random model only")
    parser.add_argument("--queries", type=int, default=30, help="random model only")
    parser.add_argument("--crops", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--arms", default="fp16,bf16,int8,ptq,ort")
    parser.add_argument(
        "--work-dir", default=str(Path(tempfile.gettempdir()) / "ballwatch-precision")
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    for name in ("bench", "perception", "__main__"):
        logging.getLogger(name).setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    base, is_trained = base_detector(args)
    crops = make_eval_crops(base.resolution, args.crops, args.seed)
    arms = build_arms(args, base)
    runs = run_arms(arms, crops)
    record = {name: {"times_ms": run.times_ms, "top": run.top} for name, run in runs.items()}
    (Path(args.work_dir) / "runs.json").write_text(json.dumps(record))
    threshold = best_threshold(runs["FP32 (torch)"], crops) if is_trained else 0.5
    weights = args.weights or f"random Nano {base.resolution} px, {args.queries} queries"
    print(f"weights: {weights}; {len(crops)} crops at {base.resolution} px, one per call")
    print(f"machine: {describe_machine(args.threads)}")
    print(f"threshold {threshold:.3f} (FP32 best F1), tolerance {TOLERANCE_PX:g} px\n")
    print(format_table(runs, crops, threshold, is_trained=is_trained))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

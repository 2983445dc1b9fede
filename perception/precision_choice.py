"""``--precision auto``: time the allowed precisions on this machine, run the fastest.

Which float precision is fastest differs by machine (FACTS.md: CPU FP16 was 4.7x slower
than FP32 on one machine and 1.66x faster on another with AMX), so ``auto`` does not
guess: :func:`allowed_precisions` lists what the policy allows here (FP32 and FP16 on any
CPU, BF16 only with AMX or AVX512-BF16, INT8 only with a QAT artifact; FP16, FP32 and
BF16 where supported on CUDA), :func:`choose_by_timing` builds each, runs a few warm-up
crops and times a few more, and the fastest median wins. Timing is noisy, so a candidate
must beat the best so far by :data:`MIN_GAIN` (10%) and :data:`MIN_GAIN_MS` to replace
it: near-ties go to the policy's default, listed first. The figures are logged so the
choice can be checked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from perception.detector import Detector, Precision
from perception.precision import HardwareProbe, PrecisionPlan

logger = logging.getLogger(__name__)

Clock = Callable[[], int]

MIN_GAIN = 0.10
"""A candidate must be this much faster (relative) than the best so far to win."""
MIN_GAIN_MS = 0.5
"""... and this many milliseconds per crop faster."""


@dataclass(frozen=True, slots=True)
class PrecisionTiming:
    """One precision's measured speed: median milliseconds per crop."""

    plan: PrecisionPlan
    median_ms: float
    crops: int


@dataclass(frozen=True, slots=True)
class PrecisionChoice:
    """The winner, its detector (built and warmed up) and every figure it was chosen from."""

    plan: PrecisionPlan
    detector: Detector
    timings: tuple[PrecisionTiming, ...]

    def explain(self) -> str:
        """One line: the figures and the choice."""
        figures = ", ".join(
            f"{t.plan.precision.value} {t.median_ms:.1f} ms/crop" for t in self.timings
        )
        return f"precision auto: {figures} -> {self.plan.precision.value} (fastest here)"


def allowed_precisions(
    device: str, hardware: HardwareProbe, int8_artifact: Path | None
) -> list[PrecisionPlan]:
    """What ``auto`` may choose from on ``device``, the policy's default first."""
    if device == "cuda":
        plans = [
            PrecisionPlan("cuda", Precision.FP16, "cuda: fp16 (timed: auto)"),
            PrecisionPlan("cuda", Precision.FP32, "cuda: fp32 (timed: auto)"),
        ]
        if hardware.has_cuda_bf16:
            plans.append(PrecisionPlan("cuda", Precision.BF16, "cuda: bf16 (timed: auto)"))
        return plans
    plans = [
        PrecisionPlan("cpu", Precision.FP32, "cpu: fp32 (timed: auto)"),
        PrecisionPlan("cpu", Precision.FP16, "cpu: fp16 (timed: auto)"),
    ]
    if hardware.has_fast_cpu_bf16:
        plans.append(PrecisionPlan("cpu", Precision.BF16, "cpu: bf16 (timed: auto)"))
    if int8_artifact is not None:
        reason = f"cpu: int8 (timed: auto; QAT model {int8_artifact.name})"
        plans.append(PrecisionPlan("cpu", Precision.INT8, reason, int8_artifact=int8_artifact))
    return plans


def warm_up_crops(resolution: int, count: int = 3, seed: int = 0) -> list[NDArray[np.uint8]]:
    """Random BGR crops at the detector's resolution (timing only: content is irrelevant)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (resolution, resolution, 3), dtype=np.uint8) for _ in range(count)]


def time_detector(
    detector: Detector, crops: Sequence[NDArray[np.uint8]], clock: Clock, warm_up: int = 1
) -> float:
    """Median milliseconds per crop, after ``warm_up`` untimed crops (one crop a call)."""
    for crop in crops[:warm_up]:
        detector.detect([crop])
    times = []
    for crop in crops[warm_up:] or crops:
        start = clock()
        detector.detect([crop])
        times.append((clock() - start) / 1e6)
    return float(np.median(times))


def choose_by_timing(
    plans: Sequence[PrecisionPlan],
    build: Callable[[PrecisionPlan], Detector],
    *,
    crops: int = 4,
    clock: Clock = time.perf_counter_ns,
) -> PrecisionChoice:
    """Build each plan's detector, time it, keep the fastest (near-ties: the earliest plan).

    A plan whose detector cannot be built is skipped with a warning (a precision the
    backend refuses is simply not a candidate); the first plan must build.

    Args:
        plans: candidates, the policy's default first (:func:`allowed_precisions`).
        build: makes (and warms up) the detector of a plan.
        crops: crops per candidate, the first untimed.
        clock: nanoseconds (injected in tests).
    """
    best: tuple[float, PrecisionPlan, Detector] | None = None
    timings: list[PrecisionTiming] = []
    for index, plan in enumerate(plans):
        try:
            detector = build(plan)
        except Exception as error:
            if index == 0:
                raise
            logger.warning("precision auto: %s not timed: %s", plan.precision.value, error)
            continue
        samples = warm_up_crops(detector.resolution, crops)
        median_ms = time_detector(detector, samples, clock)
        timings.append(PrecisionTiming(plan, median_ms, len(samples) - 1))
        if best is None or median_ms < min(best[0] * (1 - MIN_GAIN), best[0] - MIN_GAIN_MS):
            best = (median_ms, plan, detector)
    if best is None:  # the first plan raised above; this tells mypy
        msg = "no precision could be timed"
        raise RuntimeError(msg)
    _, plan, detector = best
    choice = PrecisionChoice(plan, detector, tuple(timings))
    logger.info("%s", choice.explain())
    return choice

"""``--precision auto`` picks the precision that measured fastest here, and says why."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from perception.detections import Detections
from perception.detector import Detector, Precision
from perception.precision import HardwareProbe, PrecisionPlan
from perception.precision_choice import allowed_precisions, choose_by_timing
from tests.fakes import CpuFakeDetector

AVX2 = HardwareProbe(has_cuda=False, has_cuda_bf16=False, has_amx=False, has_avx512_bf16=False)
AMX = HardwareProbe(has_cuda=False, has_cuda_bf16=False, has_amx=True, has_avx512_bf16=True)


class FakeClock:
    """Nanoseconds that move only when a fake detector works."""

    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns


class TimedDetector(CpuFakeDetector):
    """Takes a fixed number of (fake) milliseconds per crop."""

    def __init__(self, precision: Precision, ms_per_crop: float, clock: FakeClock) -> None:
        super().__init__(128, precision)
        self._ms = ms_per_crop
        self._clock = clock
        self.crops = 0

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        self.crops += len(images)
        self._clock.now_ns += round(self._ms * 1e6 * len(images))
        return [Detections.empty() for _ in images]


def _choose(ms: dict[Precision, float], plans: list[PrecisionPlan]) -> tuple[str, Detector]:
    clock = FakeClock()
    built: dict[Precision, TimedDetector] = {}

    def build(plan: PrecisionPlan) -> Detector:
        if plan.precision not in ms:
            msg = f"{plan.precision} is not supported by this backend"
            raise RuntimeError(msg)
        built[plan.precision] = TimedDetector(plan.precision, ms[plan.precision], clock)
        return built[plan.precision]

    choice = choose_by_timing(plans, build, crops=4, clock=clock)
    assert all(d.crops == 4 for d in built.values())  # 1 warm-up + 3 timed each
    return choice.explain(), choice.detector


def test_an_avx2_cpu_times_fp32_and_fp16_and_keeps_fp32_when_fp16_is_slow() -> None:
    plans = allowed_precisions("cpu", AVX2, None)
    assert [p.precision for p in plans] == [Precision.FP32, Precision.FP16]  # no bf16, no int8

    text, detector = _choose({Precision.FP32: 40.0, Precision.FP16: 400.0}, plans)

    assert detector.precision is Precision.FP32
    assert text == "precision auto: fp32 40.0 ms/crop, fp16 400.0 ms/crop -> fp32 (fastest here)"


def test_the_fastest_measured_precision_wins_and_int8_joins_only_with_a_qat_model() -> None:
    artifact = Path("ball-int8-qat.onnx")
    plans = allowed_precisions("cpu", AMX, artifact)
    assert [p.precision for p in plans] == [
        Precision.FP32,
        Precision.FP16,
        Precision.BF16,
        Precision.INT8,
    ]
    assert plans[-1].int8_artifact == artifact

    ms = {Precision.FP32: 50.0, Precision.FP16: 30.0, Precision.BF16: 31.0, Precision.INT8: 12.0}
    text, detector = _choose(ms, plans)
    assert detector.precision is Precision.INT8
    assert text.endswith("int8 12.0 ms/crop -> int8 (fastest here)")

    ms[Precision.INT8] = 35.0
    _, detector = _choose(ms, plans)
    assert detector.precision is Precision.FP16


def test_a_precision_the_backend_refuses_is_skipped_and_ties_keep_the_default() -> None:
    plans = allowed_precisions("cpu", AMX, None)

    text, detector = _choose({Precision.FP32: 20.0, Precision.FP16: 18.5}, plans)  # noise

    assert detector.precision is Precision.FP32
    assert "bf16" not in text


def test_the_default_precision_must_build() -> None:
    with pytest.raises(RuntimeError, match="not supported"):
        _choose({}, allowed_precisions("cpu", AVX2, None))

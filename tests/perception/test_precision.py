"""The precision policy on machines we do not have: probes are injected."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from perception.detector import Precision
from perception.errors import PrecisionError
from perception.precision import HardwareProbe, PrecisionPlan, resolve_precision

AVX2_ONLY = HardwareProbe(has_cuda=False, has_cuda_bf16=False, has_amx=False, has_avx512_bf16=False)
AMX_CPU = HardwareProbe(has_cuda=False, has_cuda_bf16=False, has_amx=True, has_avx512_bf16=False)
AVX512_BF16_CPU = HardwareProbe(
    has_cuda=False, has_cuda_bf16=False, has_amx=False, has_avx512_bf16=True
)
AMPERE_GPU = HardwareProbe(has_cuda=True, has_cuda_bf16=True, has_amx=False, has_avx512_bf16=False)
TURING_GPU = HardwareProbe(has_cuda=True, has_cuda_bf16=False, has_amx=False, has_avx512_bf16=False)


@pytest.mark.parametrize(
    ("requested", "device", "probe", "expected_device", "expected_precision", "reason"),
    [
        pytest.param(
            "auto",
            "auto",
            AVX2_ONLY,
            "cpu",
            Precision.FP32,
            "cpu: fp32 (default on CPU: FP16 is slower on x86 CPUs, see README)",
            id="cpu-default-fp32",
        ),
        pytest.param(
            "auto",
            "auto",
            AMPERE_GPU,
            "cuda",
            Precision.FP16,
            "cuda: fp16 (default on CUDA)",
            id="cuda-default-fp16",
        ),
        pytest.param(
            "auto",
            "cpu",
            AMPERE_GPU,
            "cpu",
            Precision.FP32,
            "cpu: fp32 (default on CPU",
            id="cpu-forced-on-gpu-machine",
        ),
        pytest.param(
            "fp32",
            "cuda",
            AMPERE_GPU,
            "cuda",
            Precision.FP32,
            "cuda: fp32 (asked for",
            id="cuda-fp32-asked",
        ),
        pytest.param(
            "bf16",
            "cpu",
            AMX_CPU,
            "cpu",
            Precision.BF16,
            "cpu: bf16 (asked for",
            id="cpu-bf16-amx",
        ),
        pytest.param(
            "bf16",
            "cpu",
            AVX512_BF16_CPU,
            "cpu",
            Precision.BF16,
            "cpu: bf16 (asked for",
            id="cpu-bf16-avx512",
        ),
        pytest.param(
            "bf16",
            "auto",
            AMPERE_GPU,
            "cuda",
            Precision.BF16,
            "cuda: bf16 (asked for",
            id="cuda-bf16-ampere",
        ),
    ],
)
def test_plan_follows_the_policy_table(
    requested: str,
    device: str,
    probe: HardwareProbe,
    expected_device: str,
    expected_precision: Precision,
    reason: str,
) -> None:
    plan = resolve_precision(requested, device, None, probe=probe)

    assert plan.device == expected_device
    assert plan.precision is expected_precision
    assert plan.reason.startswith(reason)
    assert "\n" not in plan.reason


def test_fp16_on_cpu_is_allowed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="perception.precision"):
        plan = resolve_precision("fp16", "cpu", None, probe=AVX2_ONLY)

    assert plan == PrecisionPlan("cpu", Precision.FP16, plan.reason)
    assert "slower than fp32" in plan.reason
    assert any("FP16 on CPU" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("requested", "device", "probe", "message"),
    [
        pytest.param(
            "bf16", "cpu", AVX2_ONLY, r"neither AMX nor AVX512-BF16.*choose fp32", id="bf16-avx2"
        ),
        pytest.param(
            "bf16", "cuda", TURING_GPU, r"GPU does not support BF16; choose fp16", id="bf16-turing"
        ),
        pytest.param(
            "auto", "cuda", AVX2_ONLY, r"no CUDA device; use --device cpu", id="cuda-missing"
        ),
        pytest.param("fp8", "cpu", AVX2_ONLY, r"unknown precision 'fp8'", id="unknown-precision"),
        pytest.param("fp32", "tpu", AVX2_ONLY, r"unknown device 'tpu'", id="unknown-device"),
    ],
)
def test_impossible_requests_are_refused_in_one_line(
    requested: str, device: str, probe: HardwareProbe, message: str
) -> None:
    with pytest.raises(PrecisionError, match=message) as caught:
        resolve_precision(requested, device, None, probe=probe)

    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("probe", [AVX2_ONLY, AMPERE_GPU], ids=["cpu", "cuda"])
def test_int8_without_a_qat_artifact_explains_the_policy(probe: HardwareProbe) -> None:
    with pytest.raises(
        PrecisionError,
        match=r"quantization-aware training \(`ballwatch qat`\); post-training quantization is "
        r"not used because it loses balls under 15 px; pass --int8-artifact PATH",
    ):
        resolve_precision("int8", "auto", None, probe=probe)


def test_int8_with_a_missing_artifact_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nano-qat.onnx"

    with pytest.raises(PrecisionError, match=r"INT8 artifact '.*nano-qat.onnx' not found"):
        resolve_precision("int8", "cpu", str(missing), probe=AVX2_ONLY)


def test_int8_with_an_artifact_plans_it(tmp_path: Path) -> None:
    artifact = tmp_path / "nano-qat.onnx"
    artifact.write_bytes(b"onnx")

    plan = resolve_precision("int8", "cpu", str(artifact), probe=AVX2_ONLY)

    assert (plan.device, plan.precision, plan.int8_artifact) == ("cpu", Precision.INT8, artifact)
    assert plan.reason == "cpu: int8 (QAT model: nano-qat.onnx)"


def test_this_machine_is_probed_without_cuda_errors() -> None:
    probe = HardwareProbe.detect()

    plan = resolve_precision("auto", "auto", None, probe=probe)

    assert plan.device == ("cuda" if probe.has_cuda else "cpu")
    assert probe.has_fast_cpu_bf16 == (probe.has_amx or probe.has_avx512_bf16)

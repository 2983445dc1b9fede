"""Precision policy: which device and numeric precision the detector runs in, and why.

The policy (see ARCHITECTURE.md and FACTS.md "Precision on CPU and GPU"):

- CUDA: FP16 by default; FP32 when asked; BF16 only where the GPU supports it.
- CPU: FP32 by default; FP16 only when asked (slow on x86 CPUs); BF16 autocast only on
  CPUs with AMX or AVX512-BF16 (6-10x slower than FP32 elsewhere).
- INT8 only from a model made by quantization-aware training, never post-training quantization.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from perception.detector import Precision
from perception.errors import PrecisionError

logger = logging.getLogger(__name__)

DeviceKind = Literal["cpu", "cuda"]

INT8_POLICY = (
    "int8 needs an INT8 model made by quantization-aware training (`ballwatch qat`); "
    "post-training quantization is not used because it loses balls under 15 px; "
    "pass --int8-artifact PATH or choose fp32/fp16"
)


@dataclass(frozen=True, slots=True)
class HardwareProbe:
    """What this machine can do, as far as the precision policy cares.

    Built by :meth:`detect` in the app; tests build it directly to cover other machines.

    Attributes:
        has_cuda: a CUDA device is usable by torch.
        has_cuda_bf16: the CUDA device runs BF16 (Ampere or newer).
        has_amx: the CPU has AMX tiles (fast BF16 matrix multiply).
        has_avx512_bf16: the CPU has AVX512-BF16 instructions.
    """

    has_cuda: bool
    has_cuda_bf16: bool
    has_amx: bool
    has_avx512_bf16: bool

    @classmethod
    def detect(cls) -> HardwareProbe:
        """Ask torch about this machine (imports torch; does not initialise CUDA twice)."""
        import torch  # noqa: PLC0415  (heavy: only when a plan is actually resolved)

        has_cuda = bool(torch.cuda.is_available())
        return cls(
            has_cuda=has_cuda,
            has_cuda_bf16=has_cuda and bool(torch.cuda.is_bf16_supported()),
            has_amx=bool(torch.cpu._is_amx_tile_supported()),  # private, but no public probe exists
            has_avx512_bf16=bool(torch.cpu._is_avx512_bf16_supported()),
        )

    @property
    def has_fast_cpu_bf16(self) -> bool:
        """Whether BF16 autocast on this CPU is faster than FP32, not 6-10x slower."""
        return self.has_amx or self.has_avx512_bf16


@dataclass(frozen=True, slots=True)
class PrecisionPlan:
    """The device and precision the detector will run in, with a one-line reason.

    Attributes:
        device: ``cpu`` or ``cuda``.
        precision: the forward pass precision.
        reason: one line for the start-up log, e.g.
            ``cpu: fp32 (default on CPU: FP16 is slower on x86 CPUs, see README)``.
        int8_artifact: the QAT INT8 model to run; set only when ``precision`` is INT8.
    """

    device: DeviceKind
    precision: Precision
    reason: str
    int8_artifact: Path | None = None


def resolve_precision(
    requested: str,
    device: str,
    int8_artifact: str | None,
    *,
    probe: HardwareProbe | None = None,
) -> PrecisionPlan:
    """Decide device and precision from the user's request and the machine.

    Args:
        requested: ``auto``, ``fp32``, ``fp16``, ``bf16`` or ``int8``.
        device: ``auto``, ``cpu`` or ``cuda``.
        int8_artifact: path of an INT8 model made by ``ballwatch qat``, or None.
        probe: the machine's capabilities; None asks torch (:meth:`HardwareProbe.detect`).

    Returns:
        The plan, whose ``reason`` says why in one line.

    Raises:
        PrecisionError: an unknown choice, CUDA asked for but absent, BF16 on hardware
            without fast BF16, or INT8 without a QAT artifact.
    """
    hardware = probe if probe is not None else HardwareProbe.detect()
    chosen_device = _resolve_device(device, hardware)
    if requested == "auto":
        precision = Precision.FP16 if chosen_device == "cuda" else Precision.FP32
    else:
        try:
            precision = Precision(requested)
        except ValueError as exc:
            msg = f"unknown precision {requested!r}; choose auto, fp32, fp16, bf16 or int8"
            raise PrecisionError(msg) from exc
    if precision is Precision.INT8:
        return _int8_plan(chosen_device, int8_artifact)
    if precision is Precision.BF16:
        _check_bf16(chosen_device, hardware)
    reason = _float_reason(chosen_device, precision, is_default=requested == "auto")
    if chosen_device == "cpu" and precision is Precision.FP16:
        logger.warning("FP16 on CPU was asked for: it is usually slower than FP32 on x86 CPUs")
    return PrecisionPlan(chosen_device, precision, reason)


def _resolve_device(device: str, hardware: HardwareProbe) -> DeviceKind:
    if device == "auto":
        return "cuda" if hardware.has_cuda else "cpu"
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        if not hardware.has_cuda:
            msg = "device cuda was asked for but torch sees no CUDA device; use --device cpu"
            raise PrecisionError(msg)
        return "cuda"
    msg = f"unknown device {device!r}; choose auto, cpu or cuda"
    raise PrecisionError(msg)


def _check_bf16(device: DeviceKind, hardware: HardwareProbe) -> None:
    if device == "cuda" and not hardware.has_cuda_bf16:
        msg = "bf16 was asked for but this GPU does not support BF16; choose fp16 or fp32"
        raise PrecisionError(msg)
    if device == "cpu" and not hardware.has_fast_cpu_bf16:
        msg = (
            "bf16 was asked for but this CPU has neither AMX nor AVX512-BF16, where BF16 runs "
            "6-10x slower than FP32; choose fp32"
        )
        raise PrecisionError(msg)


def _int8_plan(device: DeviceKind, int8_artifact: str | None) -> PrecisionPlan:
    if int8_artifact is None:
        raise PrecisionError(INT8_POLICY)
    artifact = Path(int8_artifact)
    if not artifact.is_file():
        msg = (
            f"INT8 artifact {int8_artifact!r} not found; "
            "make one with `ballwatch qat` or choose fp32/fp16"
        )
        raise PrecisionError(msg)
    note = "expect little gain over fp16 on CUDA" if device == "cuda" else "QAT model"
    reason = f"{device}: int8 ({note}: {artifact.name})"
    return PrecisionPlan(device, Precision.INT8, reason, int8_artifact=artifact)


_FLOAT_REASONS: dict[tuple[DeviceKind, Precision, bool], str] = {
    ("cuda", Precision.FP16, True): "default on CUDA",
    ("cpu", Precision.FP32, True): "default on CPU: FP16 is slower on x86 CPUs, see README",
    ("cuda", Precision.FP16, False): "asked for; the CUDA default",
    ("cuda", Precision.FP32, False): "asked for; slower than the fp16 default on CUDA",
    ("cuda", Precision.BF16, False): "asked for; autocast on a BF16-capable GPU",
    ("cpu", Precision.FP32, False): "asked for; the CPU default",
    ("cpu", Precision.FP16, False): "asked for; usually slower than fp32 on x86 CPUs, see README",
    ("cpu", Precision.BF16, False): "asked for; autocast on a CPU with AMX or AVX512-BF16",
}


def _float_reason(device: DeviceKind, precision: Precision, *, is_default: bool) -> str:
    return f"{device}: {precision.value} ({_FLOAT_REASONS[(device, precision, is_default)]})"

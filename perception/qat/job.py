"""RF-DETR: the ``ballwatch qat`` command, from a float checkpoint to an INT8 artifact."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from perception.frame_input import frame_input_of
from perception.options import ModelSize, QatSettings
from perception.qat.crops import crop_batches, held_out_crops, score_graph
from perception.qat.distill import distilled, frozen_teacher, with_teacher
from perception.qat.pt2e import (
    FLOAT_MODULE_KEYS,
    FineTuneReport,
    LossFn,
    QatError,
    convert,
    cpu_has_vnni,
    export_onnx,
    fine_tune,
    float_module_names,
    prepare_qat,
)
from perception.qat.sidecar import (
    Int8Sidecar,
    file_sha256,
    sidecar_path,
    versions,
    write_sidecar,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class QatJob:
    """One ``ballwatch qat`` run.

    Attributes:
        weights: the float ball checkpoint (``.safetensors`` from training).
        data: a COCO folder from ``ballwatch dataset`` or a ``synth:`` URI.
        output: the ``.onnx`` artifact to write (its sidecar goes beside it).
        settings: fine-tuning settings.
        reduce_range: None decides from the CPU (VNNI).
    """

    weights: Path
    data: str
    output: Path
    settings: QatSettings = field(default_factory=QatSettings)
    reduce_range: bool | None = None


def _rfdetr_loss(detector: Any) -> LossFn:
    """Rfdetr's training loss for the eval-mode graph (one query group, aux + encoder terms)."""
    from perception.training import (  # noqa: PLC0415 - imports rfdetr
        ModelSpec,
        build_model_and_criterion,
        weighted_loss,
    )

    config = detector.model.model_config
    spec = ModelSpec(
        size=ModelSize(detector.size),
        resolution=detector.resolution,
        num_queries=int(config.num_queries),
        group_detr=int(config.group_detr),
        class_names=detector.class_names or ("ball",),
    )
    _, criterion = build_model_and_criterion(spec, "cpu")
    criterion.group_detr = 1  # the exported graph is the inference graph: one query group

    def loss(outputs: Mapping[str, Any], targets: list[Any]) -> torch.Tensor:
        total: torch.Tensor = weighted_loss(criterion, outputs, targets)
        return total

    return loss


def run_job(job: QatJob) -> Int8Sidecar:
    """Float checkpoint -> QAT fine-tune -> INT8 QDQ ONNX + sidecar.

    Raises:
        DetectorLoadError: the checkpoint cannot be loaded.
        QatError: export, data or ONNX export failed.
    """
    from configs.app_config import DetectorConfig  # noqa: PLC0415
    from perception.detector import Precision  # noqa: PLC0415
    from perception.precision import PrecisionPlan  # noqa: PLC0415
    from perception.rfdetr_detector import RfDetrDetector  # noqa: PLC0415
    from perception.weights import load_checkpoint  # noqa: PLC0415

    meta = load_checkpoint(job.weights).meta
    if len(meta.class_names) != 1 or meta.size not in {"nano", "small", "medium", "large"}:
        msg = (
            f"{str(job.weights)!r} is not a one-class ball model (classes {meta.class_names}, "
            f"size {meta.size}); QAT fine-tunes models made by `ballwatch train`"
        )
        raise QatError(msg)
    detector_config = DetectorConfig(
        size=meta.size, weights=str(job.weights), ball_class=meta.class_names[0]
    )
    plan = PrecisionPlan("cpu", Precision.FP32, "cpu: fp32 (QAT fine-tunes in FP32)")
    detector = RfDetrDetector.from_config(detector_config, plan)
    sidecar = quantize_detector(detector, job.data, job.output, job.settings, job.reduce_range)
    source = {**sidecar.source, "weights": str(job.weights), "sha256": file_sha256(job.weights)}
    sidecar = Int8Sidecar(**{**asdict(sidecar), "source": source})
    write_sidecar(job.output, sidecar)
    return sidecar


@dataclass(frozen=True, slots=True)
class QatResult:
    """The converted INT8 graph and how it was made.

    Attributes:
        converted: the INT8 graph (quantize/dequantize pairs), batch 1, float outputs.
        report: the fine-tuning losses and time.
        kept_float: module names left in float.
        reduce_range: whether activations were narrowed to 7 bits.
    """

    converted: torch.fx.GraphModule
    report: FineTuneReport
    kept_float: tuple[str, ...]
    reduce_range: bool


def qat_convert(
    detector: Any,
    data: str,
    settings: QatSettings,
    reduce_range: bool | None = None,
    *,
    float_keys: Sequence[str] = FLOAT_MODULE_KEYS,
) -> QatResult:
    """Prepare, fine-tune and convert a copy of an RF-DETR detector's network (FP32, CPU).

    Args:
        detector: an :class:`~perception.rfdetr_detector.RfDetrDetector` (left unchanged).
        data: a COCO folder or ``synth:`` URI with crops at the detector's resolution.
        settings: fine-tuning settings.
        reduce_range: None decides from the CPU.
        float_keys: modules whose name holds one of these stay float (``bench.qat_float``
            measures other choices; artifacts keep the default).
    """
    import copy  # noqa: PLC0415

    network = copy.deepcopy(detector.network).float().cpu().eval()
    resolution = int(detector.resolution)
    example = torch.zeros(1, 3, resolution, resolution)
    keep = float_module_names(network, float_keys)
    narrow = (not cpu_has_vnni()) if reduce_range is None else reduce_range
    teacher = frozen_teacher(network) if settings.distill > 0 else None
    prepared = prepare_qat(network, example, keep_float=keep, reduce_range=narrow)
    batches = crop_batches(data, resolution, settings, frame_input_of(detector))
    loss = _rfdetr_loss(detector)
    if teacher is not None:
        batches, loss = with_teacher(batches, teacher), distilled(loss, settings.distill)
    report = fine_tune(prepared, batches, loss, settings)
    return QatResult(convert(prepared), report, tuple(keep), narrow)


def quantize_detector(
    detector: Any,
    data: str,
    output: Path,
    settings: QatSettings,
    reduce_range: bool | None = None,
    *,
    source: Mapping[str, Any] | None = None,
) -> Int8Sidecar:
    """QAT an :class:`~perception.rfdetr_detector.RfDetrDetector` into an artifact at ``output``.

    Args:
        detector: the float detector (its network is copied, not changed).
        data: a COCO folder or ``synth:`` URI with crops at the detector's resolution.
        output: the ``.onnx`` path; the sidecar is written beside it.
        settings: fine-tuning settings.
        reduce_range: None decides from the CPU.
        source: extra facts about the float model for the sidecar.

    Returns:
        The sidecar written beside ``output``.

    Raises:
        QatError: the crops of ``data`` show other frames than the model was trained on.
    """
    from perception.dataset import read_frame_input  # noqa: PLC0415 - pulls in PIL

    shown = frame_input_of(detector)
    # synthetic crops are made as the model sees frames; a folder's are what they are
    given = shown if data.startswith("synth:") else read_frame_input(Path(data))
    if given is not shown:
        msg = (
            f"{data!r} holds {given.value} crops but the model sees {shown.value} frames; "
            f"build the QAT data with 'ballwatch dataset --frame-input {shown.value}'"
        )
        raise QatError(msg)
    result = qat_convert(detector, data, settings, reduce_range)
    resolution = int(detector.resolution)
    export_onnx(result.converted, torch.zeros(1, 3, resolution, resolution), output)
    report, keep, narrow = result.report, list(result.kept_float), result.reduce_range
    count = settings.eval_crops
    held_out = held_out_crops(data, resolution, count, shown) if count else []
    scores: dict[str, Any] = {"crops": len(held_out)}
    if held_out:
        scores["float"] = score_graph(detector.network.eval(), held_out)
        scores["int8"] = score_graph(result.converted, held_out)
        logger.info(
            "held-out crops (%d): F1 float %.3f (threshold %.2f) vs INT8 QAT %.3f (threshold %.2f)",
            len(held_out),
            scores["float"]["f1"],
            scores["float"]["threshold"],
            scores["int8"]["f1"],
            scores["int8"]["threshold"],
        )
    config = detector.model.model_config
    sidecar = Int8Sidecar(
        resolution=resolution,
        ball_class_id=int(detector.ball_class_id),
        class_names=tuple(detector.class_names),
        frame_input=shown.value,
        source={"size": detector.size, "num_queries": int(config.num_queries), **(source or {})},
        quantization={
            "quantizer": "torchao X86InductorQuantizer (PT2E QAT)",
            "reduce_range": narrow,
            "kept_float": keep,
            "runtime": "onnxruntime CPU, disabled_optimizers=['MatMulAddFusion']",
        },
        training={
            "data": data,
            "steps": len(report.losses),
            "batch_size": settings.batch_size,
            "lr": settings.lr,
            "seed": settings.seed,
            "distill": settings.distill,
            "precision": "fp32",
            "final_loss": report.final_loss,
            "first_loss": report.losses[0] if report.losses else None,
            "seconds": round(report.seconds, 1),
            "held_out": scores,
        },
        versions=versions(),
    )
    write_sidecar(output, sidecar)
    return sidecar


def job_from_args(args: Any) -> QatJob:
    """The :class:`QatJob` of parsed ``ballwatch qat`` options.

    Raises:
        QatError: invalid numbers.
    """
    try:
        settings = QatSettings(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            distill=args.distill,
        )
    except ValueError as exc:
        raise QatError(str(exc)) from exc
    weights = Path(args.weights)
    # the name the runtime looks for beside the weights (perception/int8_cache.py)
    output = args.output or weights.with_name(f"{weights.stem}.int8-qat.onnx")
    reduce_range = {"auto": None, "on": True, "off": False}[args.reduce_range]
    return QatJob(weights, str(args.data), Path(output), settings, reduce_range)


def run_qat(args: Any) -> int:
    """``ballwatch qat``: make an INT8 artifact by QAT; 0 on success.

    Raises:
        BallwatchError: bad weights, data or options (one line for the CLI).
    """
    job = job_from_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    logger.info(
        "QAT of %s on %s: %d steps x %d crops, lr %g, in FP32 on CPU",
        job.weights,
        job.data,
        job.settings.steps,
        job.settings.batch_size,
        job.settings.lr,
    )
    sidecar = run_job(job)
    logger.info(
        "INT8 QAT artifact %s (sidecar %s): loss %s -> %s in %s s",
        job.output,
        sidecar_path(job.output).name,
        sidecar.training.get("first_loss"),
        sidecar.training.get("final_loss"),
        sidecar.training.get("seconds"),
    )
    return 0

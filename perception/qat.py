"""INT8 by quantization-aware training (QAT): the only way this project makes an INT8 model.

The route (FACTS.md, "Precision on CPU and GPU"), verified on RF-DETR Nano:

1. ``torch.export`` the float network in eval mode at batch 1 (RF-DETR's backbone
   specialises the batch size, so the INT8 graph runs one crop per call);
2. ``prepare_qat_pt2e`` with torchao's ``X86InductorQuantizer`` (``reduce_range`` on CPUs
   without VNNI), keeping float the modules named in :func:`float_module_names`: the
   deformable attention's ``sampling_offsets`` / ``attention_weights`` linears (their
   outputs are pixel offsets and softmax logits, where 8 bits lose sub-pixel positions)
   and the class / box heads;
3. fine-tune in **FP32** (the fused fake-quant op fails under autocast) with the same
   crops and loss as training, one crop per forward, gradients accumulated over a batch;
4. ``convert_pt2e`` and export a QDQ ONNX graph (``dynamo=True``) that returns
   ``(pred_logits, pred_boxes)``, plus a JSON sidecar saying what it came from and how it
   was trained. :mod:`perception.int8_detector` runs it and refuses anything without it.

torch.export, torchao and the ONNX exporter are imported inside functions: importing this
module is cheap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from perception.errors import PerceptionError, PrecisionError
from perception.frame_input import frame_input_of
from perception.options import FrameInput, ModelSize, QatSettings
from perception.precision import INT8_POLICY

logger = logging.getLogger(__name__)

INT8_FORMAT = "ballwatch-int8-qat/1"
QAT_METHOD = "qat-pt2e-x86"
OUTPUT_NAMES = ("pred_logits", "pred_boxes")
INPUT_NAME = "images"
# Substrings of module names kept float (see the module docstring).
FLOAT_MODULE_KEYS = ("sampling_offsets", "attention_weights", "class_embed", "bbox_embed")

Batch = tuple[torch.Tensor, Sequence[Any]]
LossFn = Callable[[Mapping[str, Any], list[Any]], torch.Tensor]


class QatError(PerceptionError):
    """A QAT run cannot go on: bad options, a graph that does not export, missing data."""


@dataclass(frozen=True, slots=True)
class FineTuneReport:
    """What the fine-tuning did: the loss per step and the time it took."""

    losses: tuple[float, ...]
    seconds: float

    @property
    def final_loss(self) -> float | None:
        """Mean loss of the last (up to) 10 steps; None without steps."""
        tail = self.losses[-10:]
        return sum(tail) / len(tail) if tail else None


@dataclass(frozen=True, slots=True)
class Int8Sidecar:
    """The JSON next to an INT8 artifact: what it is, what it came from, how it was trained.

    Attributes:
        format: always :data:`INT8_FORMAT`.
        method: always :data:`QAT_METHOD` (a PTQ model never gets a sidecar).
        resolution: square input side in pixels (batch 1, NCHW RGB, ImageNet-normalised).
        ball_class_id: the logit index of the ball.
        class_names: class names by id.
        frame_input: what the model sees (``rgb`` or ``grey-stack``), as its float source.
        source: the float checkpoint (path, sha256, size, queries).
        quantization: quantizer, ``reduce_range`` and the modules kept float.
        training: data, steps, batch size, learning rate, losses, seconds, precision.
        versions: torch, torchao, python.
    """

    resolution: int
    ball_class_id: int
    class_names: tuple[str, ...] = ()
    frame_input: str = "rgb"
    source: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    format: str = INT8_FORMAT
    method: str = QAT_METHOD

    def to_json(self) -> str:
        """The sidecar's text."""
        return json.dumps(asdict(self), indent=2)


def sidecar_path(artifact: Path) -> Path:
    """Where the sidecar of ``artifact`` lives: ``model.onnx`` -> ``model.onnx.json``."""
    return artifact.with_name(artifact.name + ".json")


def read_sidecar(artifact: Path) -> Int8Sidecar:
    """Read and check the sidecar of an INT8 artifact.

    Raises:
        PrecisionError: the file is a float checkpoint, has no sidecar, or its sidecar does not
            say it was made by QAT; the message explains the QAT-only policy.
    """
    name = str(artifact)
    if artifact.suffix in {".safetensors", ".pth", ".pt", ".ckpt"}:
        msg = f"{name!r} is a float checkpoint, not an INT8 QAT artifact; {INT8_POLICY}"
        raise PrecisionError(msg)
    path = sidecar_path(artifact)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"{name!r} has no readable QAT sidecar {path.name!r}; {INT8_POLICY}"
        raise PrecisionError(msg) from exc
    if not isinstance(raw, dict) or raw.get("format") != INT8_FORMAT:
        msg = f"{path.name!r} is not a ballwatch INT8 sidecar ({INT8_FORMAT}); {INT8_POLICY}"
        raise PrecisionError(msg)
    if raw.get("method") != QAT_METHOD:
        msg = f"{name!r} was made by {raw.get('method')!r}, not QAT; {INT8_POLICY}"
        raise PrecisionError(msg)
    try:
        raw["class_names"] = tuple(raw.get("class_names", ()))
        return Int8Sidecar(**raw)
    except TypeError as exc:
        msg = f"{path.name!r} is a damaged INT8 sidecar ({exc}); run `ballwatch qat` again"
        raise PrecisionError(msg) from exc


def cpu_has_vnni() -> bool:
    """Whether this CPU has VNNI (else the x86 quantizer needs ``reduce_range``)."""
    probe = getattr(torch.cpu, "_is_vnni_supported", None)  # private; no public probe exists
    return bool(probe()) if probe is not None else False


def float_module_names(
    network: torch.nn.Module, keys: Sequence[str] = FLOAT_MODULE_KEYS
) -> list[str]:
    """Names of the ``Linear`` modules kept float: those whose name contains one of ``keys``."""
    return [
        name
        for name, module in network.named_modules()
        if isinstance(module, torch.nn.Linear) and any(key in name for key in keys)
    ]


def versions() -> dict[str, str]:
    """Library versions recorded in the sidecar."""
    import torchao  # noqa: PLC0415 - heavy and optional until QAT runs

    return {
        "torch": torch.__version__,
        "torchao": torchao.__version__,
        "python": platform.python_version(),
    }


def prepare_qat(
    network: torch.nn.Module,
    example: torch.Tensor,
    *,
    keep_float: Sequence[str] = (),
    reduce_range: bool | None = None,
) -> torch.fx.GraphModule:
    """Export ``network`` (eval mode) and insert fake-quant for QAT.

    Args:
        network: the float model; left unchanged.
        example: one input ``(1, 3, R, R)`` float32; fixes the graph's shapes.
        keep_float: module names whose ops stay float.
        reduce_range: 7-bit activations; None decides from :func:`cpu_has_vnni`.

    Raises:
        QatError: the network does not export.
    """
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e  # noqa: PLC0415
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (  # noqa: PLC0415
        X86InductorQuantizer,
        get_default_x86_inductor_quantization_config,
    )

    narrow = (not cpu_has_vnni()) if reduce_range is None else reduce_range
    quantizer = X86InductorQuantizer().set_global(
        get_default_x86_inductor_quantization_config(is_qat=True, reduce_range=narrow)
    )
    for name in keep_float:
        quantizer.set_module_name_qconfig(name, None)
    was_training = network.training
    network.eval()
    try:
        exported = torch.export.export(network, (example,)).module()
    except Exception as exc:  # torch.export raises many types; all mean "does not export"
        msg = f"the network does not export with torch.export ({type(exc).__name__}: {exc})"
        raise QatError(msg[:400]) from exc
    finally:
        network.train(was_training)
    logger.info("QAT prepare: reduce_range=%s, %d modules kept float", narrow, len(keep_float))
    return prepare_qat_pt2e(exported, quantizer)  # type: ignore[no-any-return]


def fine_tune(
    prepared: torch.fx.GraphModule,
    batches: Iterable[Batch],
    loss_fn: LossFn,
    settings: QatSettings,
) -> FineTuneReport:
    """Fine-tune the fake-quantized graph in FP32, one crop per forward.

    Args:
        prepared: from :func:`prepare_qat`; trained in place.
        batches: ``(images (N, 3, R, R), targets)`` pairs, one per step; N may differ from
            ``settings.batch_size`` (each crop is one forward, the loss is averaged).
        loss_fn: ``(outputs, [target]) -> scalar loss`` for one crop.
        settings: steps, learning rate, clipping.

    Returns:
        The per-step losses and the seconds taken.
    """
    from torchao.quantization.pt2e import move_exported_model_to_train  # noqa: PLC0415

    torch.manual_seed(settings.seed)
    move_exported_model_to_train(prepared)
    parameters = [p for p in prepared.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=1e-4)
    losses: list[float] = []
    started = time.monotonic()
    for step, (images, targets) in enumerate(batches):
        if step >= settings.steps:
            break
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for index in range(images.shape[0]):
            # autocast stays off: the fused fake-quant op fails under it (FACTS.md)
            loss = loss_fn(prepared(images[index : index + 1]), [targets[index]]) / images.shape[0]
            loss.backward()  # type: ignore[no-untyped-call]
            total += float(loss.detach())
        if settings.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(parameters, settings.grad_clip)
        optimizer.step()
        losses.append(total)
        if (step + 1) % 10 == 0:
            logger.info("QAT step %d/%d loss %.4f", step + 1, settings.steps, total)
    return FineTuneReport(tuple(losses), time.monotonic() - started)


def convert(prepared: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Eval mode, then fold the fake-quant into quantize/dequantize pairs (the INT8 model)."""
    from torchao.quantization.pt2e import move_exported_model_to_eval  # noqa: PLC0415
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e  # noqa: PLC0415

    move_exported_model_to_eval(prepared)
    return convert_pt2e(prepared)  # type: ignore[no-any-return]


def _export_full_graph(converted: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        # an exported graph keeps no train/eval flag; convert() already set eval behaviour
        warnings.filterwarnings("ignore", "Exporting a model while it is in training mode")
        program = torch.onnx.export(
            converted,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
        )
    if program is None:
        msg = "torch.onnx.export returned no program"
        raise QatError(msg)
    program.save(str(path))


def export_onnx(converted: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    """Write the converted graph as QDQ ONNX (``images`` -> ``pred_logits``, ``pred_boxes``).

    The graph's other outputs (auxiliary and encoder heads) are cut off, with the nodes
    that only they need. (Wrapping the converted graph in a module that selects the two
    outputs breaks torch.export's unlifting of its parameters, hence the ONNX surgery.)

    Raises:
        QatError: the ONNX exporter failed or the file cannot be written.
    """
    import onnx  # noqa: PLC0415 - heavy; only when exporting
    from onnx.utils import Extractor  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _export_full_graph(converted, example, path)
        full = onnx.load(str(path))
        heads = Extractor(full).extract_model([INPUT_NAME], list(OUTPUT_NAMES))
        heads.opset_import.extend(
            entry for entry in full.opset_import if entry not in heads.opset_import
        )
        onnx.save(heads, str(path))
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        msg = f"could not export the INT8 graph to {str(path)!r} ({type(exc).__name__}: {exc})"
        raise QatError(msg[:400]) from exc
    logger.info("wrote %s (ONNX: %s -> %s)", path, INPUT_NAME, ", ".join(OUTPUT_NAMES))


def write_sidecar(artifact: Path, sidecar: Int8Sidecar) -> Path:
    """Write ``sidecar`` next to ``artifact``; returns its path."""
    path = sidecar_path(artifact)
    path.write_text(sidecar.to_json() + "\n", encoding="utf-8")
    return path


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file (identifies the float checkpoint in the sidecar)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- RF-DETR: the `ballwatch qat` command ---------------------------------------------------


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


def _crop_batches(data: str, resolution: int, settings: QatSettings) -> Iterable[Batch]:
    """Training crops as ``(images, targets)`` batches: the training pipeline's own."""
    import numpy as np  # noqa: PLC0415

    from perception.dataset import (  # noqa: PLC0415 - pulls in the synth match and PIL
        CropRecipe,
        coco_crop_stream,
        read_coco_split,
        synth_crop_stream,
    )
    from perception.training import crop_stream_from_sources, to_batch  # noqa: PLC0415
    from stream.synth import parse_synth_uri  # noqa: PLC0415

    if data.startswith("synth:"):
        base = parse_synth_uri(data).seed
        recipe = CropRecipe(resolution=resolution, extra_balls_max=2)
        samples = synth_crop_stream(list(range(base, base + 64)), recipe, settings.seed)
    else:
        samples = coco_crop_stream(read_coco_split(Path(data), "train"), settings.seed)
    rng = np.random.default_rng(settings.seed)
    for batch in crop_stream_from_sources(samples, settings.batch_size):
        images, targets = to_batch(batch, "cpu", rng)
        if images.shape[-1] != resolution:
            msg = (
                f"{data!r} holds {images.shape[-1]} px crops but the model runs at {resolution} px"
            )
            raise QatError(msg)
        yield images, targets


_HELD_OUT_OFFSET = 100_000  # the training loop's held-out synth seeds start here


def held_out_crops(data: str, resolution: int, count: int) -> list[Any]:
    """Crops QAT never trains on, half with a ball: the training's held-out set.

    ``synth:`` data: fresh matches (seeds 100000 above the URI's); a COCO folder: its
    ``valid`` split (empty when it has none).
    """
    from perception.dataset import (  # noqa: PLC0415
        CropRecipe,
        DatasetError,
        read_coco_split,
        synth_crop_stream,
    )
    from stream.synth import parse_synth_uri  # noqa: PLC0415

    if not data.startswith("synth:"):
        try:
            return read_coco_split(Path(data), "valid")[:count]
        except DatasetError:
            return []
    base = parse_synth_uri(data).seed + _HELD_OUT_OFFSET
    stream = synth_crop_stream(list(range(base, base + 8)), CropRecipe(resolution=resolution), 1)
    with_ball: list[Any] = []
    without: list[Any] = []
    while len(with_ball) + len(without) < count // 2 * 2:
        sample = next(stream)
        bucket = with_ball if sample.balls else without
        if len(bucket) < count // 2:
            bucket.append(sample)
    return with_ball + without


def score_graph(forward: Callable[[torch.Tensor], Any], samples: Sequence[Any]) -> dict[str, float]:
    """F1 at 4 px of the top query per crop at its best threshold (the training's scoring).

    Args:
        forward: a network (float or converted INT8 graph) run on one normalised crop.
        samples: :class:`~perception.dataset.CropSample` crops.

    Returns:
        ``{"f1", "threshold", "hit_rate"}`` (see ``perception.training.CropScore``).
    """
    import numpy as np  # noqa: PLC0415

    from perception.training import score_crops, to_batch  # noqa: PLC0415

    scores, centres = [], []
    with torch.no_grad():
        for sample in samples:
            images, _ = to_batch([sample], "cpu")
            outputs = forward(images)
            probabilities = outputs["pred_logits"][0, :, 0].sigmoid()
            top = int(probabilities.argmax())
            scores.append(float(probabilities[top]))
            centres.append((outputs["pred_boxes"][0, top, :2] * images.shape[-1]).tolist())
    result = score_crops(np.array(scores, np.float32), np.array(centres, np.float32), samples)
    return {"f1": result.f1, "threshold": result.threshold, "hit_rate": result.hit_rate}


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
    detector: Any, data: str, settings: QatSettings, reduce_range: bool | None = None
) -> QatResult:
    """Prepare, fine-tune and convert a copy of an RF-DETR detector's network (FP32, CPU).

    Args:
        detector: an :class:`~perception.rfdetr_detector.RfDetrDetector` (left unchanged).
        data: a COCO folder or ``synth:`` URI with crops at the detector's resolution.
        settings: fine-tuning settings.
        reduce_range: None decides from the CPU.
    """
    import copy  # noqa: PLC0415

    network = copy.deepcopy(detector.network).float().cpu().eval()
    resolution = int(detector.resolution)
    example = torch.zeros(1, 3, resolution, resolution)
    keep = float_module_names(network)
    narrow = (not cpu_has_vnni()) if reduce_range is None else reduce_range
    prepared = prepare_qat(network, example, keep_float=keep, reduce_range=narrow)
    report = fine_tune(
        prepared, _crop_batches(data, resolution, settings), _rfdetr_loss(detector), settings
    )
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
    given = FrameInput.RGB if data.startswith("synth:") else read_frame_input(Path(data))
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
    held_out = held_out_crops(data, resolution, settings.eval_crops) if settings.eval_crops else []
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
            steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed
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

"""The QAT steps on a torch network: export and prepare (PT2E), fine-tune, convert, ONNX."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from perception.errors import PerceptionError
from perception.options import QatSettings

logger = logging.getLogger(__name__)

OUTPUT_NAMES = ("pred_logits", "pred_boxes")
INPUT_NAME = "images"
# Substrings of module names kept float (see the module docstring).
FLOAT_MODULE_KEYS = (
    "patch_embeddings.projection",
    "sampling_offsets",
    "attention_weights",
    "class_embed",
    "bbox_embed",
)

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


def cpu_has_vnni() -> bool:
    """Whether this CPU has VNNI (else the x86 quantizer needs ``reduce_range``)."""
    probe = getattr(torch.cpu, "_is_vnni_supported", None)  # private; no public probe exists
    return bool(probe()) if probe is not None else False


def float_module_names(
    network: torch.nn.Module, keys: Sequence[str] = FLOAT_MODULE_KEYS
) -> list[str]:
    """Names of the ``Linear`` / ``Conv2d`` modules kept float: names containing one of ``keys``."""
    return [
        name
        for name, module in network.named_modules()
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d))
        and any(key in name for key in keys)
    ]


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

"""Building ``rfdetr`` models: untrained, from one of our checkpoints, or COCO-pretrained."""

from __future__ import annotations

import logging
import warnings
from typing import Any

from perception.errors import DetectorLoadError
from perception.options import FrameInput
from perception.weights import NATIVE_RESOLUTION, Checkpoint, load_into

logger = logging.getLogger(__name__)

VARIANTS = {"nano": "RFDETRNano", "small": "RFDETRSmall", "medium": "RFDETRMedium"}
VARIANTS |= {"large": "RFDETRLarge"}


def _check_size(size: str) -> None:
    if size not in VARIANTS:
        msg = f"unknown RF-DETR size {size!r}; choose one of {', '.join(VARIANTS)}"
        raise DetectorLoadError(msg)


def _variant(size: str) -> Any:
    _check_size(size)
    import rfdetr  # noqa: PLC0415  (slow import; only when a detector is built)

    return getattr(rfdetr, VARIANTS[size])


def patch_px(size: str) -> int:
    """The side in pixels of one ViT patch of RF-DETR ``size``'s backbone (16 for nano).

    Raises:
        DetectorLoadError: unknown size.
    """
    _check_size(size)
    import rfdetr.config  # noqa: PLC0415  (slow import; only when a detector is built)

    config = getattr(rfdetr.config, f"{VARIANTS[size]}Config")
    return int(config.model_fields["patch_size"].default)


def build_random(
    size: str, resolution: int, num_classes: int, num_queries: int, group_detr: int
) -> Any:
    """An untrained model on the CPU (the detector moves it)."""
    with warnings.catch_warnings():
        # "initialised from scratch": callers load their own weights next, or want random ones.
        warnings.simplefilter("ignore")
        return _variant(size)(
            pretrain_weights=None,
            resolution=resolution,
            num_classes=num_classes,
            num_queries=num_queries,
            group_detr=group_detr,
            device="cpu",
        )


def build_from_checkpoint(checkpoint: Checkpoint, size: str, resolution: int | None) -> Any:
    """A model of ``size`` holding ``checkpoint``'s weights, at ``resolution`` if given.

    Raises:
        DetectorLoadError: the checkpoint is of another size or does not fit.
    """
    where = f"weights file {str(checkpoint.path)!r} does not fit RF-DETR {size}"
    meta = checkpoint.meta
    if meta.size is not None and meta.size != size:
        msg = f"{where} (it is an RF-DETR {meta.size} checkpoint); pass --size {meta.size}"
        raise DetectorLoadError(msg)
    num_queries, group_detr = checkpoint.query_layout()
    side = resolution or meta.resolution or NATIVE_RESOLUTION[size]
    model = build_random(size, side, checkpoint.num_classes, num_queries, group_detr)
    load_into(model.model.model, checkpoint, where)
    model.model.class_names = list(meta.class_names) or None
    logger.info("loaded %s into RF-DETR %s at %d px", checkpoint.path, size, side)
    return model


def checkpoint_frame_input(checkpoint: Checkpoint) -> FrameInput:
    """What the checkpoint's model was trained to see.

    Raises:
        DetectorLoadError: the checkpoint records a frame input this version does not know.
    """
    try:
        return FrameInput(checkpoint.meta.frame_input)
    except ValueError:
        known = ", ".join(item.value for item in FrameInput)
        msg = (
            f"weights file {str(checkpoint.path)!r} records frame_input "
            f"{checkpoint.meta.frame_input!r}; this ballwatch knows {known}: upgrade ballwatch"
        )
        raise DetectorLoadError(msg) from None


def coco_model(size: str, resolution: int | None, device: str) -> Any:
    """The COCO-pretrained model of ``size`` (rfdetr downloads it once).

    Raises:
        DetectorLoadError: unknown size, or the download failed.
    """
    options: dict[str, Any] = {"device": device}
    if resolution is not None:
        options["resolution"] = resolution
    try:
        return _variant(size)(**options)
    except OSError as exc:  # requests' ConnectionError and timeouts are OSErrors
        msg = (
            "could not download the RF-DETR COCO checkpoint (offline?); "
            "pass --weights PATH to a checkpoint"
        )
        raise DetectorLoadError(msg) from exc

"""The rfdetr engine: :meth:`rfdetr.RFDETR.train` (PyTorch Lightning) on a COCO folder.

``rfdetr`` is imported inside the functions (it is slow to import).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from perception.options import ModelSize
from perception.training.config import TrainConfig, TrainingError

logger = logging.getLogger(__name__)

_RFDETR_CLASSES = {
    ModelSize.NANO: "RFDETRNano",
    ModelSize.SMALL: "RFDETRSmall",
    ModelSize.MEDIUM: "RFDETRMedium",
    ModelSize.LARGE: "RFDETRLarge",
}


def _rfdetr_model(cfg: TrainConfig) -> Any:
    """An ``rfdetr.RFDETR`` of the configured size, initialised as ``cfg.init`` says."""
    import rfdetr  # noqa: PLC0415 - rfdetr is slow to import

    spec = cfg.model
    options: dict[str, Any] = {
        "resolution": spec.resolution,
        "num_queries": spec.num_queries,
        "num_select": spec.num_queries,
        "group_detr": spec.group_detr,
        "num_classes": len(spec.class_names),
        "ia_bce_loss": spec.ia_bce_loss,
        "device": cfg.resolved_device(),
    }
    if cfg.init == "scratch":
        options["pretrain_weights"] = None
    elif cfg.init != "coco":  # a checkpoint path; "coco" keeps rfdetr's default download
        options["pretrain_weights"] = cfg.init
    try:
        return getattr(rfdetr, _RFDETR_CLASSES[ModelSize(spec.size)])(**options)
    except OSError as exc:  # requests' ConnectionError is an OSError: offline COCO download
        msg = (
            f"cannot get the RF-DETR {spec.size} COCO checkpoint ({type(exc).__name__}); "
            "connect once so rfdetr can download it, or pass --init scratch or --init PATH"
        )
        raise TrainingError(msg) from exc


def train_rfdetr(cfg: TrainConfig) -> Path:
    """Train with rfdetr's own trainer on a COCO folder; returns its output folder.

    Ball-safe settings: no multi-scale, no scale jitter or random crops (the crops are
    already at the model resolution, so resizing is the identity), horizontal flips only.
    """
    model = _rfdetr_model(cfg)
    out = cfg.output_dir
    last = out / "last.ckpt"
    if cfg.resume and not last.exists():
        msg = f"cannot resume: {last} does not exist; run once without --resume first"
        raise FileNotFoundError(msg)
    model.train(
        dataset_dir=str(cfg.data),
        output_dir=str(out),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        grad_accum_steps=1,
        lr=cfg.lr,
        lr_encoder=cfg.lr,
        resume=str(last) if cfg.resume else None,
        device=cfg.resolved_device(),
        amp_dtype="fp16" if cfg.uses_amp() else None,
        multi_scale=False,
        expanded_scales=False,
        scale_jitter=False,
        aug_config=None,
        num_workers=0,
        class_names=list(cfg.model.class_names),
        tensorboard=False,
        progress_bar="tqdm",
        seed=cfg.seed,
        warmup_epochs=min(1.0, cfg.epochs / 10),
        early_stopping=cfg.loop.patience > 0,
        early_stopping_patience=max(cfg.loop.patience, 1),
    )
    return out

"""Rfdetr's model and loss for the ball, and the crop batches fed to them.

``rfdetr`` is imported inside the functions (it is slow to import).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from perception.dataset import CropSample
from perception.options import ModelSize
from perception.training.config import ModelSpec

logger = logging.getLogger(__name__)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def build_rfdetr_config(spec: ModelSpec, device: str) -> Any:
    """Rfdetr's ``ModelConfig`` for this spec, with random weights (no download)."""
    from rfdetr import config as rf_config  # noqa: PLC0415 - rfdetr is slow to import

    classes = {
        ModelSize.NANO: rf_config.RFDETRNanoConfig,
        ModelSize.SMALL: rf_config.RFDETRSmallConfig,
        ModelSize.MEDIUM: rf_config.RFDETRMediumConfig,
        ModelSize.LARGE: rf_config.RFDETRLargeConfig,
    }
    config_class = classes[spec.size]
    patch_size = int(config_class.model_fields["patch_size"].default)
    return config_class(
        pretrain_weights=None,
        num_queries=spec.num_queries,
        num_select=spec.num_queries,
        group_detr=spec.group_detr,
        num_classes=len(spec.class_names),
        resolution=spec.resolution,
        positional_encoding_size=spec.resolution // patch_size,
        ia_bce_loss=spec.ia_bce_loss,
        device=device,
    )


def build_model_and_criterion(spec: ModelSpec, device: str) -> tuple[Any, Any]:
    """Rfdetr's LWDETR module and its SetCriterion (Hungarian matcher, focal + L1 + GIoU)."""
    from rfdetr.config import TrainConfig as RfTrainConfig  # noqa: PLC0415 - rfdetr is slow to import
    from rfdetr.models.lwdetr import build_criterion_from_config, build_model_from_config  # noqa: PLC0415 - rfdetr is slow to import

    model_config = build_rfdetr_config(spec, device)
    train_config = RfTrainConfig(dataset_dir=".", output_dir=".")
    model = build_model_from_config(model_config, train_config).to(device)
    criterion, _ = build_criterion_from_config(model_config, train_config)
    return model, criterion.to(device)


def to_batch(
    samples: Sequence[CropSample], device: str, rng: np.random.Generator | None = None
) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """Crops to a normalised RGB batch and rfdetr targets (cx, cy, w, h in [0, 1]).

    With ``rng``, each crop is flipped at random (horizontally and vertically): safe
    augmentation that never changes the ball's size.
    """
    images, targets = [], []
    for sample in samples:
        image = sample.image[:, :, ::-1].astype(np.float32) / 255.0
        size = float(image.shape[0])
        boxes = np.array(
            [[b.x / size, b.y / size, b.box_px / size, b.box_px / size] for b in sample.balls],
            dtype=np.float32,
        ).reshape(-1, 4)
        if rng is not None and rng.random() < 0.5:
            image, boxes[:, 0] = image[:, ::-1], 1.0 - boxes[:, 0]
        if rng is not None and rng.random() < 0.5:
            image, boxes[:, 1] = image[::-1], 1.0 - boxes[:, 1]
        images.append((image - _IMAGENET_MEAN) / _IMAGENET_STD)
        targets.append(
            {
                "boxes": torch.from_numpy(np.clip(boxes, 0.0, 1.0)).to(device),
                "labels": torch.zeros(len(boxes), dtype=torch.int64, device=device),
            }
        )
    array = np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2), dtype=np.float32)
    return torch.from_numpy(array).to(device), targets


def weighted_loss(criterion: Any, outputs: Any, targets: list[dict[str, torch.Tensor]]) -> Any:
    """Rfdetr's total training loss (the weighted sum its trainer optimises)."""
    losses = criterion(outputs, targets)
    weights = criterion.weight_dict
    return torch.stack([losses[k] * weights[k] for k in losses if k in weights]).sum()


def crop_stream_from_sources(
    samples: Iterator[CropSample], batch_size: int
) -> Iterator[list[CropSample]]:
    """Group a sample stream into batches."""
    batch: list[CropSample] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == batch_size:
            yield batch
            batch = []

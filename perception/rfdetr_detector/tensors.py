"""The network's input and output: BGR crops in, ball :class:`Detections` out.

BGR→RGB happens in :func:`bgr_to_rgb` only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from perception.detections import Detections

logger = logging.getLogger(__name__)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)  # what rfdetr's predict() normalises with
_IMAGENET_STD = (0.229, 0.224, 0.225)


def bgr_to_rgb(images: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Reverse the channel order of BGR images (OpenCV/PyAV) to RGB (RF-DETR), as a new array.

    Args:
        images: uint8 ``(..., 3)``: one ``(H, W, 3)`` image or a ``(B, H, W, 3)`` batch.
    """
    return np.ascontiguousarray(images[..., ::-1])


def detections_from_supervision(predicted: Any, class_id: int) -> Detections:
    """The boxes of one class in a ``supervision.Detections``, best first."""
    keep = np.asarray(predicted.class_id) == class_id
    confidence = np.asarray(predicted.confidence, np.float32)[keep]
    order = np.argsort(-confidence, kind="stable")
    xyxy = np.asarray(predicted.xyxy, np.float32)[keep].reshape(-1, 4)
    return Detections(xyxy[order], confidence[order])


def input_batch(
    images: Sequence[NDArray[np.uint8]], resolution: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """BGR uint8 ``(R, R, 3)`` crops as the network's input: RGB, ImageNet-normalised, FP32.

    Shared by every backend that runs this network (float torch, INT8 ONNX).

    Returns:
        ``(B, 3, R, R)`` float32 on ``device``.

    Raises:
        ValueError: an image is not a uint8 ``(R, R, 3)`` array.
    """
    for index, image in enumerate(images):
        if image.shape != (resolution, resolution, 3) or image.dtype != np.uint8:
            msg = (
                f"detect expects BGR uint8 images of shape ({resolution}, {resolution}, 3), "
                f"but image {index} has shape {image.shape} and dtype {image.dtype}"
            )
            raise ValueError(msg)
    target = torch.device(device)
    std = torch.tensor(_IMAGENET_STD, device=target).view(1, 3, 1, 1)
    mean = torch.tensor(_IMAGENET_MEAN, device=target).view(1, 3, 1, 1)
    rgb = torch.from_numpy(bgr_to_rgb(np.stack(images)))
    batch = rgb.to(target, non_blocking=True).permute(0, 3, 1, 2).float()
    return batch * (1.0 / (255.0 * std)) + (-mean / std)


def ball_detections(
    logits: torch.Tensor, boxes: torch.Tensor, ball_class_id: int, resolution: int, threshold: float
) -> list[Detections]:
    """The network's ``pred_logits`` / ``pred_boxes`` as ball detections per crop, best first.

    Args:
        logits: ``(B, Q, C)`` class logits.
        boxes: ``(B, Q, 4)`` normalised ``(cx, cy, w, h)``.
        ball_class_id: the logit index of the ball.
        resolution: crop side in pixels.
        threshold: scores below it are dropped.
    """
    scores = logits[..., ball_class_id].float().sigmoid().cpu().numpy()
    center, size = boxes.float()[..., :2], boxes.float()[..., 2:].clamp(min=0.0)
    xyxy = torch.cat([center - size / 2, center + size / 2], dim=-1) * resolution
    xyxy_np = xyxy.clamp(0.0, float(resolution)).cpu().numpy()
    results = []
    for image_scores, image_boxes in zip(scores, xyxy_np, strict=True):
        keep = np.flatnonzero(image_scores >= threshold)
        order = keep[np.argsort(-image_scores[keep], kind="stable")]
        results.append(Detections(image_boxes[order], image_scores[order]))
    return results

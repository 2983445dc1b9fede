"""Quick evaluation on held-out crops: F1 at 4 px of each crop's top query."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from perception.dataset import CropSample

logger = logging.getLogger(__name__)

HIT_TOLERANCE_PX = 4.0  # a top query this close to a ball is a hit


@dataclass(frozen=True, slots=True)
class CropScore:
    """Top-query scoring on held-out crops: hit = best query within 4 px of the ball.

    Attributes:
        f1: best F1 over score thresholds (a miss-placed confident box counts as FP + FN).
        threshold: the score threshold giving that F1.
        hit_rate: share of ball crops whose best query lands within 4 px (any score).
    """

    f1: float
    threshold: float
    hit_rate: float


def best_queries(
    model: Any, batch: torch.Tensor
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Score and centre (crop pixels) of each crop's top query, inference mode."""
    model.eval()
    with torch.no_grad():
        outputs = model(batch)
    model.train()
    scores = outputs["pred_logits"][..., 0].sigmoid()
    top = scores.argmax(dim=1)
    rows = torch.arange(len(top))
    centres = outputs["pred_boxes"][rows, top, :2] * batch.shape[-1]
    return (
        scores[rows, top].float().cpu().numpy(),
        centres.float().cpu().numpy(),
    )


def score_crops(
    scores: NDArray[np.float32], centres: NDArray[np.float32], samples: Sequence[CropSample]
) -> CropScore:
    """F1 at 4 px of the top query per crop, at the best threshold (see :class:`CropScore`)."""
    has_ball = np.array([bool(s.balls) for s in samples])
    is_near = np.array(
        [
            any(math.hypot(c[0] - b.x, c[1] - b.y) <= HIT_TOLERANCE_PX for b in s.balls)
            for c, s in zip(centres, samples, strict=True)
        ]
    )
    best = CropScore(0.0, 1.0, float(is_near[has_ball].mean()) if has_ball.any() else 0.0)
    for threshold in np.unique(scores):
        fired = scores >= threshold
        true_pos = int((fired & is_near).sum())
        false_pos = int((fired & ~is_near).sum())
        false_neg = int((has_ball & ~(fired & is_near)).sum())
        denominator = 2 * true_pos + false_pos + false_neg
        f1 = 2 * true_pos / denominator if denominator else 0.0
        if f1 > best.f1:
            best = CropScore(f1, float(threshold), best.hit_rate)
    return best

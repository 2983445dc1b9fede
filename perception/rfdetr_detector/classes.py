"""A model's class names and logit indices, and which of them is the ball."""

from __future__ import annotations

import logging
from typing import Any

from perception.errors import DetectorLoadError

logger = logging.getLogger(__name__)

COCO_SLOTS = 90  # the COCO head: logit index == COCO category id (1-90, sparse)


def class_ids(model: Any) -> dict[str, int]:
    """Class name → logit index: COCO category ids for the COCO head, else 0-based."""
    from rfdetr.assets.coco_classes import COCO_CLASS_NAMES, COCO_CLASSES  # noqa: PLC0415

    names = list(model.model.class_names or [])
    if model.model_config.num_classes == COCO_SLOTS and names in ([], COCO_CLASS_NAMES):
        return {name: coco_id for coco_id, name in COCO_CLASSES.items()}
    return {name: index for index, name in enumerate(names)}


def _auto_ball_class(ids: dict[str, int]) -> str:
    """COCO's "sports ball", else a class named "ball", else a one-class model's class."""
    for name in ("sports ball", "ball"):
        if name in ids:
            return name
    if len(ids) == 1:
        return next(iter(ids))
    known = ", ".join(repr(name) for name in ids) or "none"
    msg = (
        f"cannot tell which class is the ball (classes: {known}); "
        "pass --set detector.ball_class=NAME"
    )
    raise DetectorLoadError(msg)


def ball_class_id_of(model: Any, ball_class: str | int) -> int:
    """The logit index of ``ball_class`` (a name, ``auto`` or an id) in ``model``.

    Raises:
        DetectorLoadError: ``ball_class`` is not a class of the model.
    """
    slots = int(model.model_config.num_classes) + 1
    if isinstance(ball_class, int):
        if not 0 <= ball_class < slots:
            msg = f"ball class id {ball_class} is outside this model's class ids 0..{slots - 1}"
            raise DetectorLoadError(msg)
        return ball_class
    ids = class_ids(model)
    if ball_class == "auto":
        ball_class = _auto_ball_class(ids)
    if ball_class not in ids:
        known = ", ".join(repr(name) for name in ids) or "none: use a class id"
        msg = f"ball class {ball_class!r} is not a class of this model; its classes are {known}"
        raise DetectorLoadError(msg)
    return ids[ball_class]

"""The RF-DETR detector adapter: the only module that imports ``rfdetr`` (lazily).

``detect`` runs the torch network (``model.model.model``) itself on one normalised batch and
keeps only the ball class: no PIL, no resize (inputs are already square crops of the model
resolution), no ``supervision`` objects. ``detect_reference`` runs rfdetr's own ``predict()``
on the same images, for checks. BGR→RGB happens in :func:`bgr_to_rgb` only.

Modules, each owning one part (``rfdetr`` is imported lazily, in ``models`` and
``classes`` only):

- :mod:`~perception.rfdetr_detector.tensors`: the network's input batch and its
  outputs as :class:`~perception.detections.Detections`; shared with the INT8 detector.
- :mod:`~perception.rfdetr_detector.models`: building ``rfdetr`` models (untrained, from
  a checkpoint, COCO).
- :mod:`~perception.rfdetr_detector.classes`: class names, logit indices, the ball class.
- :mod:`~perception.rfdetr_detector.detector`: :class:`RfDetrDetector`.
"""

from perception.rfdetr_detector.detector import RfDetrDetector
from perception.rfdetr_detector.tensors import (
    ball_detections,
    bgr_to_rgb,
    detections_from_supervision,
    input_batch,
)

__all__ = [
    "RfDetrDetector",
    "ball_detections",
    "bgr_to_rgb",
    "detections_from_supervision",
    "input_batch",
]

"""The RF-DETR detector: one precision, one device, the ball class in square crops."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray

from perception.detections import Detections
from perception.detector import Precision
from perception.errors import PrecisionError
from perception.options import FrameInput
from perception.precision import PrecisionPlan
from perception.rfdetr_detector.classes import COCO_SLOTS, ball_class_id_of, class_ids
from perception.rfdetr_detector.models import (
    VARIANTS,
    build_from_checkpoint,
    build_random,
    checkpoint_frame_input,
    coco_model,
)
from perception.rfdetr_detector.tensors import (
    ball_detections,
    bgr_to_rgb,
    detections_from_supervision,
    input_batch,
)
from perception.weights import (
    DEFAULT_GROUP_DETR,
    NATIVE_RESOLUTION,
    CheckpointMeta,
    load_checkpoint,
)
from perception.weights import save_ball_checkpoint as _save

if TYPE_CHECKING:
    from configs.app_config import DetectorConfig

logger = logging.getLogger(__name__)


class RfDetrDetector:
    """RF-DETR in one precision on one device, finding one class (the ball) in square crops.

    Owns the rfdetr model it is given (moves and casts it). Not thread-safe: called only from
    the perception thread.
    """

    def __init__(
        self,
        model: Any,
        plan: PrecisionPlan,
        *,
        ball_class: str | int = "sports ball",
        threshold: float = 0.3,
        frame_input: FrameInput = FrameInput.RGB,
    ) -> None:
        """Wrap an ``rfdetr.RFDETR`` model (``frame_input``: what it was trained to see).

        Raises:
            PrecisionError: the plan is INT8 (run by the QAT artifact's detector instead).
            DetectorLoadError: ``ball_class`` is not a class of the model.
            ValueError: ``threshold`` outside ``[0, 1]``.
        """
        if plan.precision is Precision.INT8:
            msg = "RfDetrDetector runs float precisions only; INT8 runs from a QAT artifact"
            raise PrecisionError(msg)
        if not 0.0 <= threshold <= 1.0:
            msg = f"threshold must be in [0, 1], but got {threshold}"
            raise ValueError(msg)
        self._model = model
        self._plan = plan
        self._frame_input = FrameInput(frame_input)
        self._threshold = threshold
        self._ball_class_id = ball_class_id_of(model, ball_class)
        self._resolution = int(model.model.resolution)
        self._device = torch.device(plan.device)
        model.model.device = self._device  # so detect_reference() agrees with detect()
        network = model.model.model.eval().to(self._device)
        self._network: torch.nn.Module = (
            network.half() if plan.precision is Precision.FP16 else network
        )

    @classmethod
    def from_config(
        cls, cfg: DetectorConfig, plan: PrecisionPlan, *, bundled_weights: Path | None = None
    ) -> RfDetrDetector:
        """Build from the detector section: ``cfg.weights``, else bundled weights, else COCO.

        Raises:
            DetectorLoadError: missing, unreadable or mismatched weights; offline without weights.
        """
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        path = Path(cfg.weights) if cfg.weights else bundled_weights
        shown = FrameInput.RGB
        if path is None:
            model = coco_model(cfg.size, cfg.resolution, plan.device)
        else:
            checkpoint = load_checkpoint(path)
            shown = checkpoint_frame_input(checkpoint)
            model = build_from_checkpoint(checkpoint, cfg.size, cfg.resolution)
        detector = cls(
            model, plan, ball_class=cfg.ball_class, threshold=cfg.threshold, frame_input=shown
        )
        logger.info(
            "RF-DETR %s at %d px, %s input; %s",
            cfg.size,
            detector.resolution,
            shown.value,
            plan.reason,
        )
        return detector

    @classmethod
    def random(
        cls,
        size: str = "nano",
        *,
        resolution: int | None = None,
        num_queries: int = 300,
        num_classes: int = COCO_SLOTS,
        class_names: Sequence[str] = (),
        plan: PrecisionPlan | None = None,
    ) -> RfDetrDetector:
        """An untrained model (no download), for tests and benchmarks; threshold 0.

        The ball class is COCO "sports ball" for the 90-class COCO head, else class 0.
        """
        if class_names and len(class_names) != num_classes:
            msg = f"class_names has {len(class_names)} names but num_classes is {num_classes}"
            raise ValueError(msg)
        plan = plan or PrecisionPlan("cpu", Precision.FP32, "cpu: fp32 (random weights)")
        side = resolution or NATIVE_RESOLUTION.get(size, 0)
        model = build_random(size, side, num_classes, num_queries, DEFAULT_GROUP_DETR)
        model.model.class_names = list(class_names) or None
        is_coco = num_classes == COCO_SLOTS and not class_names
        return cls(model, plan, ball_class="sports ball" if is_coco else 0, threshold=0.0)

    @property
    def frame_input(self) -> FrameInput:
        """What the model sees: colour crops, or crops of grey-stacked frames."""
        return self._frame_input

    @property
    def resolution(self) -> int:
        """Side in pixels of the square input the model runs at."""
        return self._resolution

    @property
    def patch_px(self) -> int:
        """Side in pixels of one patch of the ViT backbone."""
        return int(self._model.model_config.patch_size)

    @property
    def precision(self) -> Precision:
        """The precision the forward pass runs in."""
        return self._plan.precision

    @property
    def size(self) -> str:
        """The RF-DETR size: ``nano``, ``small``, ``medium`` or ``large``."""
        name = type(self._model).__name__
        return next((size for size, variant in VARIANTS.items() if variant == name), name)

    @property
    def device(self) -> str:
        """``cpu`` or ``cuda``."""
        return self._plan.device

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names by id (COCO: by COCO category id order); empty when the model has none."""
        return tuple(class_ids(self._model))

    @property
    def ball_class_id(self) -> int:
        """The logit index whose score is the ball's."""
        return self._ball_class_id

    @property
    def threshold(self) -> float:
        """Scores below this are dropped."""
        return self._threshold

    @property
    def model(self) -> Any:
        """The wrapped ``rfdetr.RFDETR`` (for export and QAT)."""
        return self._model

    @property
    def network(self) -> torch.nn.Module:
        """The torch network (``LWDETR``) that ``detect`` runs."""
        return self._network

    def accepts_input_size(self, size: int) -> bool:
        """Whether a square ``size`` crop runs at that size (smaller than the resolution).

        RF-DETR's backbone interpolates its positional embeddings to the input, so a
        smaller native-scale crop (a tracked ball) costs less and keeps the ball's
        pixels; the side must be a multiple of 32 and at least 64.
        """
        return size % 32 == 0 and 64 <= size <= self._resolution

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """Detect the ball class in a batch of BGR uint8 ``(S, S, 3)`` crops.

        S is the resolution, or a smaller size this model accepts
        (:meth:`accepts_input_size`); all crops of one batch share S. One forward pass
        for the whole batch; returns after the device has finished.

        Returns:
            One :class:`Detections` per image, best first, boxes in that crop's pixels.

        Raises:
            ValueError: an image is not a uint8 ``(S, S, 3)`` array of one accepted S.
        """
        if not images:
            return []
        side = int(images[0].shape[0])
        if not self.accepts_input_size(side):
            side = self._resolution  # input_batch names the mismatch
        batch = input_batch(images, side, self._device)
        if self._plan.precision is Precision.FP16:
            batch = batch.half()
        with torch.inference_mode(), self._autocast():
            outputs = self._network(batch)
        detections = ball_detections(
            outputs["pred_logits"],
            outputs["pred_boxes"],
            self._ball_class_id,
            side,
            self._threshold,
        )
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        return detections

    def detect_reference(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """The same as :meth:`detect` through rfdetr's ``predict()`` (slow; FP32 checks only)."""
        rgb = [bgr_to_rgb(image) for image in images]
        predicted = self._model.predict(rgb, threshold=self._threshold, include_source_image=False)
        return [detections_from_supervision(p, self._ball_class_id) for p in predicted]

    def warm_up(self) -> None:
        """Run one batch of a black crop so the first timed frame is not the slow one."""
        self.detect([np.zeros((self._resolution, self._resolution, 3), np.uint8)])

    def save(self, path: Path) -> None:
        """Write the weights as one of our ``.safetensors`` artifacts (see weights.py)."""
        config = self._model.model_config
        size = self.size
        names = tuple(self._model.model.class_names or ())
        meta = CheckpointMeta(
            size,
            self._resolution,
            config.num_queries,
            config.group_detr,
            names,
            self._frame_input.value,
        )
        _save(path, self._network, meta)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self._plan.precision is Precision.BF16:
            return torch.autocast(self._device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

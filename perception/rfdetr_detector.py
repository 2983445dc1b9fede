"""The RF-DETR detector adapter: the only module that imports ``rfdetr`` (lazily).

``detect`` runs the torch network (``model.model.model``) itself on one normalised batch and
keeps only the ball class: no PIL, no resize (inputs are already square crops of the model
resolution), no ``supervision`` objects. ``detect_reference`` runs rfdetr's own ``predict()``
on the same images, for checks. BGR→RGB happens in :func:`bgr_to_rgb` only.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray

from perception.detections import Detections
from perception.detector import Precision
from perception.errors import DetectorLoadError, PrecisionError
from perception.options import FrameInput
from perception.precision import PrecisionPlan
from perception.weights import (
    DEFAULT_GROUP_DETR,
    NATIVE_RESOLUTION,
    Checkpoint,
    CheckpointMeta,
    load_checkpoint,
    load_into,
)
from perception.weights import save_ball_checkpoint as _save

if TYPE_CHECKING:
    from configs.app_config import DetectorConfig

logger = logging.getLogger(__name__)

_VARIANTS = {"nano": "RFDETRNano", "small": "RFDETRSmall", "medium": "RFDETRMedium"}
_VARIANTS |= {"large": "RFDETRLarge"}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)  # what rfdetr's predict() normalises with
_IMAGENET_STD = (0.229, 0.224, 0.225)
_COCO_SLOTS = 90  # the COCO head: logit index == COCO category id (1-90, sparse)


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


def _variant(size: str) -> Any:
    if size not in _VARIANTS:
        msg = f"unknown RF-DETR size {size!r}; choose one of {', '.join(_VARIANTS)}"
        raise DetectorLoadError(msg)
    import rfdetr  # noqa: PLC0415  (slow import; only when a detector is built)

    return getattr(rfdetr, _VARIANTS[size])


def _build_random(
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


def _build_from_checkpoint(checkpoint: Checkpoint, size: str, resolution: int | None) -> Any:
    where = f"weights file {str(checkpoint.path)!r} does not fit RF-DETR {size}"
    meta = checkpoint.meta
    if meta.size is not None and meta.size != size:
        msg = f"{where} (it is an RF-DETR {meta.size} checkpoint); pass --size {meta.size}"
        raise DetectorLoadError(msg)
    num_queries, group_detr = checkpoint.query_layout()
    side = resolution or meta.resolution or NATIVE_RESOLUTION[size]
    model = _build_random(size, side, checkpoint.num_classes, num_queries, group_detr)
    load_into(model.model.model, checkpoint, where)
    model.model.class_names = list(meta.class_names) or None
    logger.info("loaded %s into RF-DETR %s at %d px", checkpoint.path, size, side)
    return model


def _frame_input_of(checkpoint: Checkpoint) -> FrameInput:
    try:
        return FrameInput(checkpoint.meta.frame_input)
    except ValueError:
        known = ", ".join(item.value for item in FrameInput)
        msg = (
            f"weights file {str(checkpoint.path)!r} records frame_input "
            f"{checkpoint.meta.frame_input!r}; this ballwatch knows {known}: upgrade ballwatch"
        )
        raise DetectorLoadError(msg) from None


def _coco_model(size: str, resolution: int | None, device: str) -> Any:
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


def _class_ids(model: Any) -> dict[str, int]:
    """Class name → logit index: COCO category ids for the COCO head, else 0-based."""
    from rfdetr.assets.coco_classes import COCO_CLASS_NAMES, COCO_CLASSES  # noqa: PLC0415

    names = list(model.model.class_names or [])
    if model.model_config.num_classes == _COCO_SLOTS and names in ([], COCO_CLASS_NAMES):
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


def _ball_class_id(model: Any, ball_class: str | int) -> int:
    slots = int(model.model_config.num_classes) + 1
    if isinstance(ball_class, int):
        if not 0 <= ball_class < slots:
            msg = f"ball class id {ball_class} is outside this model's class ids 0..{slots - 1}"
            raise DetectorLoadError(msg)
        return ball_class
    ids = _class_ids(model)
    if ball_class == "auto":
        ball_class = _auto_ball_class(ids)
    if ball_class not in ids:
        known = ", ".join(repr(name) for name in ids) or "none: use a class id"
        msg = f"ball class {ball_class!r} is not a class of this model; its classes are {known}"
        raise DetectorLoadError(msg)
    return ids[ball_class]


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
        self._ball_class_id = _ball_class_id(model, ball_class)
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
            model = _coco_model(cfg.size, cfg.resolution, plan.device)
        else:
            checkpoint = load_checkpoint(path)
            shown = _frame_input_of(checkpoint)
            model = _build_from_checkpoint(checkpoint, cfg.size, cfg.resolution)
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
        num_classes: int = _COCO_SLOTS,
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
        model = _build_random(size, side, num_classes, num_queries, DEFAULT_GROUP_DETR)
        model.model.class_names = list(class_names) or None
        is_coco = num_classes == _COCO_SLOTS and not class_names
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
    def precision(self) -> Precision:
        """The precision the forward pass runs in."""
        return self._plan.precision

    @property
    def size(self) -> str:
        """The RF-DETR size: ``nano``, ``small``, ``medium`` or ``large``."""
        name = type(self._model).__name__
        return next((size for size, variant in _VARIANTS.items() if variant == name), name)

    @property
    def device(self) -> str:
        """``cpu`` or ``cuda``."""
        return self._plan.device

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names by id (COCO: by COCO category id order); empty when the model has none."""
        return tuple(_class_ids(self._model))

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

"""Sources of labelled frames: clips with labels, synthetic matches, COCO and YOLO exports."""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import supervision as sv
from numpy.typing import NDArray
from PIL import Image
from supervision.dataset.formats.yolo import load_yolo_annotations

from perception.dataset.coco import ANNOTATION_FILE
from perception.dataset.values import CropRecipe, DatasetError, LabelledFrame
from perception.frame_input import FrameStack
from perception.options import FrameInput
from stream.errors import StreamError
from stream.frame import BallTruth
from stream.source import SourceKind
from stream.sources import SourceOptions, open_source
from stream.synth import SynthMatch, SynthParams

logger = logging.getLogger(__name__)


def estimate_box_px(frame_height: int, recipe: CropRecipe) -> float:
    """Box side when labels give none: about 1.2% of the frame height (a broadcast ball)."""
    return max(recipe.min_box_px, round(frame_height * 0.012))


def frames_from_clip(
    images: Iterable[NDArray[np.uint8]],
    truths: Sequence[BallTruth],
    group: str,
    box_px: float | None = None,
    stride: int = 1,
) -> Iterator[LabelledFrame]:
    """Pair a clip's decoded frames with its labels (one truth per frame index).

    Args:
        images: the clip's BGR frames in order.
        truths: labels per frame index (:func:`perception.labels.read_labels`).
        group: the clip's name; its frames all go to one split.
        box_px: ball box side in pixels; None leaves the radius unknown, so the recipe's
            box size (or its estimate) is used.
        stride: keep every ``stride``-th frame (neighbours are near duplicates).
    """
    for index, image in enumerate(images):
        if index % stride or index >= len(truths):
            continue
        truth = truths[index]
        if truth.is_visible and box_px is not None:
            # box_px() adds 2 px of blur margin to the diameter: undo it so the box is as given
            truth = BallTruth(True, truth.x, truth.y, radius_px=max(box_px - 2.0, 1.0) / 2.0)
        yield LabelledFrame(image, (truth,) if truth.is_visible else (), group, index)


def frames_from_synth(
    seeds: Sequence[int],
    frames_per_match: int,
    stride: int,
    frame_input: FrameInput = FrameInput.RGB,
) -> Iterator[LabelledFrame]:
    """Frames of synthetic matches (one group per seed; odd seeds pan the camera).

    Grey stacks are made from every frame, in order, before the stride keeps some.
    """
    for seed in seeds:
        match = SynthMatch(SynthParams(seed=seed, pan=seed % 2 == 1))
        frames = FrameStack() if frame_input is FrameInput.GREY_STACK else None
        indices = range(0, frames_per_match, 1 if frames else stride)
        for index in indices:
            image, truth = match.frame(index)
            if frames is not None:
                image = frames.push(image)
                if index % stride:
                    continue
            yield LabelledFrame(image, (truth,) if truth.is_visible else (), f"synth-{seed}", index)


def export_group(file_name: str) -> str:
    """The clip an exported image belongs to, from its file name.

    Roboflow and most frame dumps name images ``<clip>_<frame>`` (Roboflow adds
    ``_jpg.rf.<hash>``): the trailing frame number and those suffixes are dropped.
    """
    stem = Path(file_name).name.split(".rf.")[0]
    stem = stem.rsplit(".", 1)[0]
    for suffix in ("_jpg", "_jpeg", "_png"):
        stem = stem.removesuffix(suffix)
    return stem.rstrip("0123456789").rstrip("_-. ") or stem


def export_frame_number(file_name: str) -> int | None:
    """The frame number at the end of an exported image's name (``<clip>_<frame>``), if any."""
    stem = Path(file_name).name.split(".rf.")[0]
    stem = stem.rsplit(".", 1)[0]
    for suffix in ("_jpg", "_jpeg", "_png"):
        stem = stem.removesuffix(suffix)
    digits = stem[len(stem.rstrip("0123456789")) :]
    return int(digits) if digits else None


def _load_bgr(path: Path) -> NDArray[np.uint8]:
    try:
        with Image.open(path) as picture:
            rgb = np.asarray(picture.convert("RGB"))
    except OSError as exc:
        msg = f"cannot read image {path}: {exc}"
        raise DatasetError(msg) from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _ball_from_box(x0: float, y0: float, w: float, h: float) -> BallTruth:
    return BallTruth(True, x0 + w / 2.0, y0 + h / 2.0, radius_px=max(w, h) / 2.0)


def frames_from_coco(folder: Path, class_names: Sequence[str] = ()) -> Iterator[LabelledFrame]:
    """Frames of a COCO export folder (images plus ``_annotations.coco.json``).

    supervision's ``DetectionDataset.from_coco`` parses the export (and rejects file names
    that leave the folder); each frame's index is the image's position in the export.

    Args:
        folder: one split folder of the export.
        class_names: categories that are the ball; empty takes every category.

    Raises:
        DatasetError: the annotation file is missing or unreadable.
    """
    path = folder / ANNOTATION_FILE
    try:
        dataset = sv.DetectionDataset.from_coco(str(folder), str(path))
    except (OSError, ValueError, KeyError) as exc:
        msg = f"cannot read COCO annotations {path}: {exc}"
        raise DatasetError(msg) from exc
    wanted = [i for i, name in enumerate(dataset.classes) if not class_names or name in class_names]
    for number, image_path in enumerate(dataset.image_paths):
        balls = _balls_of(dataset.annotations[image_path], wanted)
        name = Path(image_path).name
        yield LabelledFrame(_load_bgr(Path(image_path)), balls, export_group(name), number)


def _balls_of(detections: sv.Detections, class_ids: Sequence[int]) -> tuple[BallTruth, ...]:
    """The boxes of ``detections`` whose class is in ``class_ids`` (all when empty)."""
    balls = []
    ids = detections.class_id if detections.class_id is not None else [-1] * len(detections)
    for (x0, y0, x1, y1), class_id in zip(detections.xyxy, ids, strict=True):
        if not class_ids or int(class_id) in class_ids:
            balls.append(_ball_from_box(float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
    return tuple(balls)


def frames_from_yolo(folder: Path, class_ids: Sequence[int] = ()) -> Iterator[LabelledFrame]:
    """Frames of a YOLO export folder (``images/`` and ``labels/`` with ``cls cx cy w h``).

    supervision parses the labels (``load_yolo_annotations``, the reader behind
    ``DetectionDataset.from_yolo``, which also checks ids against the class names).
    Class names are not used here, and a split folder often comes without its
    ``data.yaml``: the export's own (in or beside the folder) is used when present,
    else an empty one.

    Each frame's index is the frame number its file name ends with (its position in the
    folder when the name has none), so frames of one clip sort in time across split folders.

    Args:
        folder: one split folder of the export (holding ``images`` and ``labels``).
        class_ids: YOLO class ids that are the ball; empty takes every class.

    Raises:
        DatasetError: a label file is malformed.
    """
    found = [p for p in (folder / "data.yaml", folder.parent / "data.yaml") if p.is_file()]
    with tempfile.TemporaryDirectory(prefix="ballwatch-yolo-") as scratch:
        data_yaml = found[0] if found else Path(scratch) / "data.yaml"
        if not found:
            data_yaml.write_text("names: []\n")
        try:
            _, image_paths, annotations = load_yolo_annotations(
                str(folder / "images"), str(folder / "labels"), str(data_yaml)
            )
        except (OSError, ValueError) as exc:
            msg = f"cannot read YOLO export {folder}: {exc}"
            raise DatasetError(msg) from exc
    for number, image_path in enumerate(sorted(image_paths)):
        balls = _balls_of(annotations[image_path], class_ids)
        name = Path(image_path).name
        index = export_frame_number(name)
        image = _load_bgr(Path(image_path))
        yield LabelledFrame(image, balls, export_group(name), number if index is None else index)


def clip_images(path: Path) -> Iterator[NDArray[np.uint8]]:
    """Decode a video file's frames in order (through the stream package's file source).

    Raises:
        DatasetError: the file cannot be opened or decoded.
    """
    try:
        source = open_source(str(path), SourceKind.FILE, SourceOptions(), lambda *_: None)
    except StreamError as exc:
        msg = f"cannot open clip {path}: {exc}"
        raise DatasetError(msg) from exc
    stop = threading.Event()
    try:
        while (frame := source.read(stop)) is not None:
            yield frame.image
    except StreamError as exc:
        msg = f"cannot decode clip {path}: {exc}"
        raise DatasetError(msg) from exc
    finally:
        source.close()

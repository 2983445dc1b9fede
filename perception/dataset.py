"""Training sets for the ball detector: native-resolution crops written as COCO folders.

RF-DETR stretches whatever it is given to its square input, so a whole broadcast frame would
shrink a 7 px ball to a pixel. Every sample here is therefore a square crop of the model's
resolution cut from the frame at native scale: the ball keeps its real pixel size, lands
anywhere in the crop, and ball-free crops teach the model to stay quiet. Splits are made per
clip (or synthetic match), never per frame, because neighbouring frames are near duplicates.

The output is the folder layout rfdetr's trainer reads (``train/``, ``valid/``, ``test/``,
each with images and ``_annotations.coco.json``), one category ``ball`` with id 0.

Not thread-safe: a writer and a sampler belong to the thread that builds the dataset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
from numpy.typing import NDArray
from PIL import Image
from supervision.dataset.formats.yolo import load_yolo_annotations

from perception.frame_input import FrameStack
from perception.options import FrameInput
from stream.errors import BallwatchError, StreamError
from stream.frame import BallTruth
from stream.source import SourceKind
from stream.sources import SourceOptions, open_source
from stream.synth import SynthMatch, SynthParams

logger = logging.getLogger(__name__)

BALL_CLASS_NAME = "ball"
ANNOTATION_FILE = "_annotations.coco.json"


class DatasetError(BallwatchError):
    """A training set could not be built or read."""


class Split(StrEnum):
    """Dataset splits, named as the folders rfdetr's trainer reads."""

    TRAIN = "train"
    VALID = "valid"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class CropRecipe:
    """How samples are cut from frames.

    Attributes:
        resolution: side in pixels of every crop (the model's input resolution).
        min_box_px: smallest box side written; tiny true boxes make IoU-based losses
            degenerate, and only the box centre is scored.
        default_box_px: box side used when the ball radius is unknown and not given.
        negatives_per_positive: ball-free crops cut for each crop with a ball.
        hard_negative_share: share of negatives cut over salient places (lines, players),
            where false detections come from.
        extra_balls_max: at most this many extra ball copies pasted into a positive
            crop (only where the ball's radius is known); more positives per crop give
            the matcher more signal per step.
    """

    resolution: int = 128
    min_box_px: float = 12.0
    default_box_px: float = 12.0
    negatives_per_positive: float = 0.3
    hard_negative_share: float = 0.5
    extra_balls_max: int = 0

    def __post_init__(self) -> None:
        if self.resolution < 32 or self.resolution % 32:
            msg = f"CropRecipe.resolution must be a multiple of 32 >= 32, but got {self.resolution}"
            raise ValueError(msg)
        if self.min_box_px <= 0 or self.default_box_px <= 0:
            msg = (
                "CropRecipe box sizes must be > 0, but got "
                f"min_box_px={self.min_box_px}, default_box_px={self.default_box_px}"
            )
            raise ValueError(msg)

    def box_px(self, radius_px: float) -> float:
        """Box side for a ball of this radius (0 means unknown)."""
        side = 2.0 * radius_px + 2.0 if radius_px > 0 else self.default_box_px
        return max(side, self.min_box_px)


@dataclass(frozen=True, slots=True)
class CropBall:
    """One labelled ball inside a crop: centre and box side in crop pixels."""

    x: float
    y: float
    box_px: float

    def xywh(self, size: int) -> tuple[float, float, float, float]:
        """COCO ``[x_min, y_min, width, height]``, clipped to a ``size`` square."""
        half = self.box_px / 2.0
        x0, y0 = max(0.0, self.x - half), max(0.0, self.y - half)
        x1, y1 = min(float(size), self.x + half), min(float(size), self.y + half)
        return (x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True, slots=True)
class CropSample:
    """One training image.

    Attributes:
        image: BGR ``uint8`` ``(R, R, 3)``.
        balls: labelled balls in crop pixels (empty for a negative).
        group: clip or match the crop comes from; the unit of splitting.
        frame_index: frame of that clip.
    """

    image: NDArray[np.uint8]
    balls: tuple[CropBall, ...]
    group: str
    frame_index: int


@dataclass(frozen=True, slots=True)
class LabelledFrame:
    """A frame with its visible balls, from any source (clip, synth, export).

    Attributes:
        image: BGR ``uint8`` ``(H, W, 3)``.
        balls: the visible balls (frame pixels; ``radius_px`` 0 when unknown).
        group: the clip or match; frames of one group always share a split.
        frame_index: index of the frame in its group.
    """

    image: NDArray[np.uint8]
    balls: tuple[BallTruth, ...]
    group: str
    frame_index: int


def crop_square(image: NDArray[np.uint8], left: int, top: int, size: int) -> NDArray[np.uint8]:
    """Cut a ``size`` square whose top-left corner is frame pixel ``(left, top)``.

    Parts outside the frame are black, so crop pixel ``(i, j)`` is always frame pixel
    ``(top + i, left + j)``.
    """
    height, width = image.shape[:2]
    out = np.zeros((size, size, 3), dtype=np.uint8)
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + size, width), min(top + size, height)
    if x1 > x0 and y1 > y0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return out


def _crop_origin(centre: float, offset: float, frame_side: int, size: int) -> int:
    """Top-left coordinate putting ``centre`` at ``offset`` in the crop, kept inside the frame."""
    start = math.floor(centre - offset + 0.5)
    if frame_side >= size:
        start = min(max(start, 0), frame_side - size)
    return start


def positive_crop(
    frame: LabelledFrame, anchor: BallTruth, recipe: CropRecipe, rng: np.random.Generator
) -> CropSample:
    """Cut a crop with ``anchor`` at a random place inside it, at native scale.

    Every ball of the frame whose centre falls inside the crop is labelled, not just the
    anchor, so no visible ball is ever taught as background.
    """
    size = recipe.resolution
    margin = min(recipe.box_px(anchor.radius_px) / 2.0, size / 4.0)
    offset_x, offset_y = rng.uniform(margin, size - margin, size=2)
    height, width = frame.image.shape[:2]
    left = _crop_origin(anchor.x, float(offset_x), width, size)
    top = _crop_origin(anchor.y, float(offset_y), height, size)
    image = crop_square(frame.image, left, top, size)
    balls = [
        CropBall(ball.x - left, ball.y - top, recipe.box_px(ball.radius_px))
        for ball in frame.balls
        if 0.0 <= ball.x - left < size and 0.0 <= ball.y - top < size
    ]
    if recipe.extra_balls_max > 0 and anchor.radius_px > 0:
        count = int(rng.integers(0, recipe.extra_balls_max + 1))
        image, extra = _paste_copies(frame.image, anchor, image, balls, count, rng)
        balls.extend(extra)
    return CropSample(image, tuple(balls), frame.group, frame.frame_index)


def _paste_copies(
    source: NDArray[np.uint8],
    anchor: BallTruth,
    crop: NDArray[np.uint8],
    taken: Sequence[CropBall],
    count: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.uint8], list[CropBall]]:
    """Blend up to ``count`` copies of ``anchor`` (cut from ``source``) into free places."""
    radius = anchor.radius_px + 1.0
    half = math.ceil(radius) + 1
    patch_side = 2 * half + 1
    ax, ay = round(anchor.x), round(anchor.y)
    patch = crop_square(source, ax - half, ay - half, patch_side).astype(np.float32)
    grid = np.arange(patch_side, dtype=np.float32) - half
    distance = np.hypot(grid[None, :], grid[:, None])
    alpha = np.clip(radius + 0.5 - distance, 0.0, 1.0)[..., None]
    out = crop.astype(np.float32)
    size = crop.shape[0]
    box = taken[0].box_px if taken else 2.0 * radius
    placed: list[CropBall] = []
    for _ in range(count * 4):
        if len(placed) == count:
            break
        cx, cy = (int(v) for v in rng.integers(half + 1, size - half - 1, size=2))
        if any(math.hypot(cx - b.x, cy - b.y) < box for b in (*taken, *placed)):
            continue
        region = out[cy - half : cy + half + 1, cx - half : cx + half + 1]
        region[...] = alpha * patch + (1.0 - alpha) * region
        # the source ball sits at a sub-pixel offset from the patch centre
        placed.append(CropBall(cx + anchor.x - ax, cy + anchor.y - ay, box))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), placed


def salient_point(image: NDArray[np.uint8], rng: np.random.Generator) -> tuple[int, int] | None:
    """A random pixel that stands out from the frame's dominant colour (lines, players...).

    Such places are where a ball detector fires falsely, so hard negatives are cut around
    them. None when the frame is uniform.
    """
    step = 4
    small = image[::step, ::step].astype(np.int16)
    median = np.median(small.reshape(-1, 3), axis=0).astype(np.int16)
    ys, xs = np.nonzero(np.abs(small - median).sum(axis=2) > 90)
    if len(xs) == 0:
        return None
    pick = int(rng.integers(len(xs)))
    return int(xs[pick]) * step, int(ys[pick]) * step


def _is_clear(frame: LabelledFrame, left: int, top: int, recipe: CropRecipe) -> bool:
    """Whether a crop at ``(left, top)`` keeps every ball (with its box) outside."""
    size = recipe.resolution
    for ball in frame.balls:
        reach = recipe.box_px(ball.radius_px)
        if (
            left - reach <= ball.x <= left + size + reach
            and top - reach <= ball.y <= top + size + reach
        ):
            return False
    return True


def negative_crop(
    frame: LabelledFrame, recipe: CropRecipe, rng: np.random.Generator
) -> CropSample | None:
    """Cut a crop that contains no ball, or None when none fits in a few tries.

    A ``recipe.hard_negative_share`` of them is placed over a salient pixel (see
    :func:`salient_point`), the rest anywhere.
    """
    size = recipe.resolution
    height, width = frame.image.shape[:2]
    anchor = salient_point(frame.image, rng) if rng.random() < recipe.hard_negative_share else None
    for _ in range(8):
        if anchor is not None:
            left = _crop_origin(anchor[0], float(rng.uniform(8, size - 8)), width, size)
            top = _crop_origin(anchor[1], float(rng.uniform(8, size - 8)), height, size)
        else:
            left = int(rng.integers(0, max(width - size, 0) + 1))
            top = int(rng.integers(0, max(height - size, 0) + 1))
        if _is_clear(frame, left, top, recipe):
            image = crop_square(frame.image, left, top, size)
            return CropSample(image, (), frame.group, frame.frame_index)
        anchor = None
    return None


def samples_from_frames(
    frames: Iterable[LabelledFrame], recipe: CropRecipe, seed: int
) -> Iterator[CropSample]:
    """Turn labelled frames into crops: one positive per visible ball, plus negatives.

    Negatives follow ``recipe.negatives_per_positive``; a frame without a ball always
    gives one.
    """
    rng = np.random.default_rng(seed)
    debt = 0.0
    for frame in frames:
        for ball in frame.balls:
            yield positive_crop(frame, ball, recipe, rng)
            debt += recipe.negatives_per_positive
        if not frame.balls:
            debt = max(debt, 1.0)
        while debt >= 1.0:
            debt -= 1.0
            negative = negative_crop(frame, recipe, rng)
            if negative is not None:
                yield negative


def assign_splits(
    groups: Sequence[str], valid_fraction: float, test_fraction: float = 0.0
) -> dict[str, Split]:
    """Assign whole clips (groups) to splits, deterministically from their names.

    Raises:
        DatasetError: fewer than two groups, so no clip could be held back without
            putting frames of one clip in both train and valid.
    """
    unique = sorted(set(groups))
    if len(unique) < 2:
        msg = (
            f"cannot split {unique!r} by clip: need at least 2 clips or matches; "
            "add another clip or more synthetic matches"
        )
        raise DatasetError(msg)
    ranked = sorted(unique, key=lambda name: hashlib.sha256(name.encode()).hexdigest())
    n_valid = max(1, round(len(unique) * valid_fraction))
    n_test = round(len(unique) * test_fraction) if test_fraction > 0 else 0
    n_valid = min(n_valid, len(unique) - 1)
    n_test = min(n_test, len(unique) - 1 - n_valid)
    splits = dict.fromkeys(ranked, Split.TRAIN)
    for name in ranked[:n_valid]:
        splits[name] = Split.VALID
    for name in ranked[n_valid : n_valid + n_test]:
        splits[name] = Split.TEST
    return splits


@dataclass
class CocoWriter:
    """Writes crops into ``root/<split>/`` as JPEG plus one COCO annotation file per split.

    Call :meth:`add` per sample, then :meth:`close` once to write the annotation files.
    """

    root: Path
    jpeg_quality: int = 95
    frame_input: FrameInput = FrameInput.RGB
    _images: dict[Split, list[dict[str, Any]]] = field(default_factory=dict)
    _annotations: dict[Split, list[dict[str, Any]]] = field(default_factory=dict)
    _counts: dict[Split, int] = field(default_factory=dict)

    def add(self, split: Split, sample: CropSample) -> None:
        """Write one sample's image into ``split`` and remember its labels."""
        folder = self.root / split.value
        folder.mkdir(parents=True, exist_ok=True)
        images = self._images.setdefault(split, [])
        annotations = self._annotations.setdefault(split, [])
        image_id = len(images)
        file_name = f"{_safe(sample.group)}_{sample.frame_index:06d}_{image_id:06d}.jpg"
        rgb = np.ascontiguousarray(sample.image[:, :, ::-1])
        # 4:4:4: chroma subsampling would halve a 5 px ball's colour, and in a grey stack
        # the colour is the motion
        Image.fromarray(rgb).save(folder / file_name, quality=self.jpeg_quality, subsampling=0)
        size = sample.image.shape[0]
        images.append({"id": image_id, "file_name": file_name, "width": size, "height": size})
        for ball in sample.balls:
            x, y, w, h = ball.xywh(size)
            annotations.append(
                {
                    "id": len(annotations),
                    "image_id": image_id,
                    "category_id": 0,
                    "bbox": [round(x, 3), round(y, 3), round(w, 3), round(h, 3)],
                    "area": round(w * h, 3),
                    "iscrowd": 0,
                    "ball_group": sample.group,
                }
            )
        self._counts[split] = self._counts.get(split, 0) + 1

    def close(self) -> dict[Split, int]:
        """Write every split's annotation file (empty splits included); return image counts."""
        categories = [{"id": 0, "name": BALL_CLASS_NAME, "supercategory": "none"}]
        for split in Split:
            folder = self.root / split.value
            folder.mkdir(parents=True, exist_ok=True)
            document = {
                "images": self._images.get(split, []),
                "annotations": self._annotations.get(split, []),
                "categories": categories,
                "info": {"ballwatch_frame_input": self.frame_input.value},
            }
            (folder / ANNOTATION_FILE).write_text(json.dumps(document))
        return {split: self._counts.get(split, 0) for split in Split}


def _safe(name: str) -> str:
    """A file-name-safe version of a group name."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40]


def synth_crop_stream(
    seeds: Sequence[int], recipe: CropRecipe, seed: int, frames_per_match: int = 3000
) -> Iterator[CropSample]:
    """Endless crops from synthetic matches, generated on the fly (about 1 ms a frame).

    Each crop comes from a random frame of a random match in ``seeds`` (odd seeds pan the
    camera): a positive where the ball is visible, else (and in the recipe's share of
    draws) a negative. Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    matches: dict[int, SynthMatch] = {}
    negative_share = recipe.negatives_per_positive / (1.0 + recipe.negatives_per_positive)
    while True:
        match_seed = int(seeds[int(rng.integers(len(seeds)))])
        match = matches.get(match_seed)
        if match is None:
            match = SynthMatch(SynthParams(seed=match_seed, pan=match_seed % 2 == 1))
            matches[match_seed] = match
        index = int(rng.integers(frames_per_match))
        image, truth = match.frame(index)
        group = f"synth-{match_seed}"
        frame = LabelledFrame(image, (truth,) if truth.is_visible else (), group, index)
        if truth.is_visible and rng.random() >= negative_share:
            yield positive_crop(frame, truth, recipe, rng)
            continue
        negative = negative_crop(frame, recipe, rng)
        if negative is not None:
            yield negative


def read_coco_split(root: Path, split: str) -> list[CropSample]:
    """Read one split of a COCO folder written by :class:`CocoWriter` back into crops.

    Our own parser, not supervision's ``from_coco``: that one drops the per-annotation
    ``ball_group`` field the writer adds, and the group (the clip) is what keeps each
    clip in one split.

    Raises:
        DatasetError: the split's annotation file is missing or unreadable.
    """
    folder = Path(root) / split
    path = folder / ANNOTATION_FILE
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        msg = f"cannot read {path}: {exc}; build the folder with 'ballwatch dataset'"
        raise DatasetError(msg) from exc
    balls: dict[int, list[CropBall]] = {}
    groups: dict[int, str] = {}
    for annotation in document["annotations"]:
        x, y, w, h = (float(v) for v in annotation["bbox"])
        balls.setdefault(int(annotation["image_id"]), []).append(
            CropBall(x + w / 2.0, y + h / 2.0, max(w, h))
        )
        groups[int(annotation["image_id"])] = str(annotation.get("ball_group", split))
    samples = []
    for entry in document["images"]:
        image_id = int(entry["id"])
        with Image.open(folder / entry["file_name"]) as picture:
            rgb = np.asarray(picture.convert("RGB"))
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        group = groups.get(image_id, str(entry["file_name"]).rsplit("_", 2)[0])
        samples.append(CropSample(bgr, tuple(balls.get(image_id, [])), group, image_id))
    return samples


def read_frame_input(root: Path, split: str = "train") -> FrameInput:
    """What the crops of a COCO folder's ``split`` show (RGB for folders that do not say).

    Raises:
        DatasetError: the annotation file is unreadable or names an unknown input.
    """
    path = Path(root) / split / ANNOTATION_FILE
    try:
        info = json.loads(path.read_text()).get("info") or {}
        return FrameInput(info.get("ballwatch_frame_input", FrameInput.RGB.value))
    except (OSError, ValueError) as exc:
        msg = f"cannot read the frame input of {path}: {exc}; rebuild it with 'ballwatch dataset'"
        raise DatasetError(msg) from exc


def coco_crop_stream(samples: Sequence[CropSample], seed: int) -> Iterator[CropSample]:
    """Endless reshuffled passes over ``samples``.

    Raises:
        DatasetError: ``samples`` is empty.
    """
    if not samples:
        msg = "the training split has no images; build it with 'ballwatch dataset'"
        raise DatasetError(msg)
    rng = np.random.default_rng(seed)
    while True:
        for index in rng.permutation(len(samples)):
            yield samples[int(index)]


# --- sources of labelled frames ----------------------------------------------------------------


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
        yield LabelledFrame(_load_bgr(Path(image_path)), balls, export_group(name), number)


# --- building a dataset folder ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What :func:`build_dataset` wrote: images per split and the groups in each."""

    images: dict[Split, int]
    groups: dict[Split, tuple[str, ...]]


def build_dataset(
    frames: Iterable[LabelledFrame],
    out_dir: Path,
    recipe: CropRecipe,
    splits: dict[str, Split],
    seed: int = 0,
) -> BuildReport:
    """Crop every frame (see :func:`samples_from_frames`) and write a COCO folder.

    Args:
        frames: labelled frames from any mix of sources.
        out_dir: destination; gets ``train``, ``valid`` and ``test`` subfolders.
        recipe: crop size and box rules.
        splits: group name → split (:func:`assign_splits`); a group not listed goes to train.
        seed: seeds the crop placement.
    """
    return write_samples(samples_from_frames(frames, recipe, seed), out_dir, splits)


def write_samples(
    samples: Iterable[CropSample],
    out_dir: Path,
    splits: dict[str, Split],
    frame_input: FrameInput = FrameInput.RGB,
) -> BuildReport:
    """Write crops into a COCO folder, each into its group's split (train when not listed).

    ``frame_input`` (what the crops show: colour or grey stacks) is recorded in each split's
    annotation file; training reads it back (:func:`read_frame_input`).
    """
    writer = CocoWriter(out_dir, frame_input=frame_input)
    seen: dict[Split, set[str]] = {split: set() for split in Split}
    for sample in samples:
        split = splits.get(sample.group, Split.TRAIN)
        writer.add(split, sample)
        seen[split].add(sample.group)
    counts = writer.close()
    report = BuildReport(counts, {split: tuple(sorted(groups)) for split, groups in seen.items()})
    logger.info("wrote %s: %s", out_dir, {s.value: n for s, n in counts.items()})
    return report


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

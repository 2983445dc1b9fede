"""COCO folders as rfdetr's trainer reads them: writing crops, reading them back."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from perception.dataset.values import CropBall, CropSample, DatasetError, Split
from perception.options import FrameInput

logger = logging.getLogger(__name__)

BALL_CLASS_NAME = "ball"
ANNOTATION_FILE = "_annotations.coco.json"


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

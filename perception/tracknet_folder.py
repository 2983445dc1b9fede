"""TrackNet-style label folders: frame images beside a ``Label.csv`` per clip.

TrackNet's tennis set lays a clip out as ``game1/Clip1/0000.jpg …`` with a ``Label.csv`` of
``file name,visibility,x-coordinate,y-coordinate,status`` (pixels; visibility 0 = not in
the frame, 1 = visible, 2 = hard to see, 3 = occluded: all but 0 count as visible). Give a
clip folder or any folder above clips; each clip is one group (``game1-Clip1``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from perception.dataset import DatasetError, LabelledFrame
from stream.frame import BallTruth

LABEL_FILE = "Label.csv"
_COLUMNS = ("file name", "visibility", "x-coordinate", "y-coordinate")


def _rows(label_file: Path) -> list[dict[str, str]]:
    try:
        with label_file.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        msg = f"TrackNet labels {label_file}: cannot read ({exc.strerror or exc})"
        raise DatasetError(msg) from exc
    fields = {name.strip().lower() for name in (rows[0].keys() if rows else ())}
    if rows and not set(_COLUMNS) <= fields:
        msg = f"TrackNet labels {label_file}: expected columns {', '.join(_COLUMNS)}"
        raise DatasetError(msg)
    return [{k.strip().lower(): (v or "").strip() for k, v in row.items()} for row in rows]


def _clip_frames(clip: Path) -> Iterator[LabelledFrame]:
    group = f"{clip.parent.name}-{clip.name}"
    for line, row in enumerate(_rows(clip / LABEL_FILE), start=2):
        image = cv2.imread(str(clip / row["file name"]), cv2.IMREAD_COLOR)
        if image is None:
            msg = f"TrackNet clip {clip}, line {line}: cannot read image {row['file name']!r}"
            raise DatasetError(msg)
        try:
            is_visible = int(float(row["visibility"] or 0)) != 0
            x, y = (float(row[k]) if is_visible else 0.0 for k in _COLUMNS[2:])
        except ValueError as exc:
            msg = f"TrackNet clip {clip}, line {line}: bad row ({exc})"
            raise DatasetError(msg) from exc
        index = int(Path(row["file name"]).stem) if Path(row["file name"]).stem.isdigit() else line
        balls = (BallTruth(True, x, y),) if is_visible else ()
        yield LabelledFrame(np.asarray(image, dtype=np.uint8), balls, group, index)


def frames_from_tracknet(folder: Path) -> Iterator[LabelledFrame]:
    """Every labelled frame of the TrackNet clips at or under ``folder``.

    Raises:
        DatasetError: no ``Label.csv`` found, or an unreadable file or row.
    """
    clips = sorted(path.parent for path in folder.rglob(LABEL_FILE))
    if not clips:
        msg = f"no TrackNet {LABEL_FILE} under {folder}; give a clip folder or one above clips"
        raise DatasetError(msg)
    for clip in clips:
        yield from _clip_frames(clip)

"""Ball labels from CSV: ``Frame,Ball,x,y`` (normalised) and TrackNet ``Frame,Visibility,X,Y``.

The real clips in ``../shared/data/real`` use ``Frame,Ball,x,y`` with ``x, y`` as fractions
of the frame (``-1`` when the ball is not visible); TrackNet's ``Frame,Visibility,X,Y``
gives pixels. Both become one :class:`~stream.frame.BallTruth` per frame index.
"""

from __future__ import annotations

import csv
import logging
from enum import StrEnum
from pathlib import Path

from stream.errors import BallwatchError
from stream.frame import BallTruth

logger = logging.getLogger(__name__)

_NORMALISED_SLACK = 1.5
"""Normalised coordinates above this are surely pixels: the file's header is wrong."""


class LabelError(BallwatchError):
    """A labels file cannot be read; the message names the file and the fix."""


class LabelFormat(StrEnum):
    """The label schemas, named by their CSV header."""

    NORMALISED = "Frame,Ball,x,y"
    TRACKNET = "Frame,Visibility,X,Y"


def detect_format(header: list[str], path: Path) -> LabelFormat:
    """The format of a labels file from its header row.

    Raises:
        LabelError: the header is neither known format.
    """
    cleaned = ",".join(cell.strip() for cell in header)
    for label_format in LabelFormat:
        if cleaned == label_format.value:
            return label_format
    known = " or ".join(repr(f.value) for f in LabelFormat)
    msg = f"labels {path}: unknown header {cleaned!r}; expected {known}"
    raise LabelError(msg)


def _parse_row(
    row: list[str], label_format: LabelFormat, size: tuple[int, int] | None
) -> tuple[int, BallTruth]:
    frame = int(row[0])
    flag = int(float(row[1]))
    if flag == 0 or not row[2].strip() or not row[3].strip():
        return frame, BallTruth(is_visible=False)
    x, y = float(row[2]), float(row[3])
    if x < 0 or y < 0:
        return frame, BallTruth(is_visible=False)
    if label_format is LabelFormat.NORMALISED:
        if size is None:  # checked by the caller; keeps the type checker informed
            return frame, BallTruth(is_visible=False)
        if x > _NORMALISED_SLACK or y > _NORMALISED_SLACK:
            msg = f"frame {frame}: normalised x, y ({x}, {y}) look like pixels"
            raise ValueError(msg)
        x, y = x * size[0], y * size[1]
    return frame, BallTruth(is_visible=True, x=x, y=y)


def read_labels(path: Path, width: int | None = None, height: int | None = None) -> list[BallTruth]:
    """Read a labels CSV into one truth per frame index (0-based, no gaps).

    Frames the file does not list are not visible. A TrackNet ``Visibility`` other
    than 0 counts as visible (TrackNet also uses 2 = hard to see, 3 = occluded).

    Args:
        path: the CSV file.
        width: frame width in pixels; needed for the normalised format.
        height: frame height in pixels; needed for the normalised format.

    Returns:
        ``truths[i]`` is the ball of frame ``i``, centres in frame pixels.

    Raises:
        LabelError: the file is missing or unreadable, has an unknown header, a bad
            row, or is normalised and no frame size was given.
    """
    by_frame = read_listed_labels(path, width, height)
    count = max(by_frame, default=-1) + 1
    return [by_frame.get(index, BallTruth(is_visible=False)) for index in range(count)]


def read_listed_labels(
    path: Path, width: int | None = None, height: int | None = None
) -> dict[int, BallTruth]:
    """The frames a labels CSV lists, by index (a partly labelled clip lists only some).

    Raises:
        LabelError: as :func:`read_labels`.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except OSError as exc:
        msg = f"labels {path}: cannot read ({exc.strerror or exc}); check the --labels path"
        raise LabelError(msg) from exc
    if not rows:
        msg = f"labels {path}: the file is empty; expected a header row"
        raise LabelError(msg)
    label_format = detect_format(rows[0], path)
    size = (width, height) if width is not None and height is not None else None
    if label_format is LabelFormat.NORMALISED and size is None:
        msg = f"labels {path}: x, y are normalised; give the frame width and height"
        raise LabelError(msg)
    by_frame: dict[int, BallTruth] = {}
    for line, row in enumerate(rows[1:], start=2):
        try:
            frame, truth = _parse_row(row, label_format, size)
        except (ValueError, IndexError) as exc:
            msg = f"labels {path}, line {line}: bad row {','.join(row)!r} ({exc})"
            raise LabelError(msg) from exc
        if frame < 0:
            msg = f"labels {path}, line {line}: negative frame index {frame}"
            raise LabelError(msg)
        by_frame[frame] = truth
    logger.info("read %d labelled frames from %s (%s)", len(by_frame), path, label_format.name)
    return by_frame

"""Native-resolution windows on a frame: the search tile grid, track crops, and the way back.

The detector never sees a downscaled frame (a 6 px ball would shrink to about 1 px). Every
image it gets is a square window of the frame at native scale; where a window leaves the
frame it is padded with a neutral grey, so crop pixel ``(u, v)`` is always frame pixel
``(x0 + u, y0 + v)`` and mapping boxes back is a pure shift.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from perception.detections import Detections

logger = logging.getLogger(__name__)

PAD_VALUE = 114
"""Grey used where a window leaves the frame (the usual detector letterbox colour)."""


@dataclass(frozen=True, slots=True)
class Window:
    """A rectangle of frame pixels, half-open: ``x0 <= x < x1``, ``y0 <= y < y1``.

    It may extend past the frame's right or bottom edge (frames smaller than a tile);
    that part is padded when cropped.
    """

    x0: int
    y0: int
    x1: int
    y1: int

    def __post_init__(self) -> None:
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            msg = f"Window must have x1 > x0 and y1 > y0, but got {self}"
            raise ValueError(msg)

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.y1 - self.y0

    @property
    def center(self) -> tuple[float, float]:
        """Centre ``(x, y)`` in frame pixels."""
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)


def _axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spaced tile starts along one axis; the last tile ends flush with the edge."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    count = max(count, 2)
    span = length - tile
    return [round(i * span / (count - 1)) for i in range(count)]


def tile_grid(width: int, height: int, tile: int, overlap: int) -> list[Window]:
    """Square tiles of side ``tile`` that cover a ``width`` x ``height`` frame exactly.

    Tiles are spaced evenly with at least ``overlap`` pixels shared between neighbours
    and the last row/column flush with the frame edge, so no tile leaves the frame
    unless the frame is smaller than a tile along that axis (then one tile, padded).

    Args:
        width: frame width in pixels.
        height: frame height in pixels.
        tile: tile side in pixels (the detector's resolution).
        overlap: minimum overlap between neighbouring tiles in pixels.

    Returns:
        Windows in row-major order (top-left first).

    Raises:
        ValueError: a non-positive size or an overlap not smaller than the tile.
    """
    if width <= 0 or height <= 0 or tile <= 0:
        msg = f"tile_grid needs positive sizes, but got {width}x{height} with tile {tile}"
        raise ValueError(msg)
    if not 0 <= overlap < tile:
        msg = f"tile overlap must be in [0, {tile}), but got {overlap}; lower search.tile_overlap"
        raise ValueError(msg)
    xs = _axis_starts(width, tile, overlap)
    ys = _axis_starts(height, tile, overlap)
    return [Window(x, y, x + tile, y + tile) for y in ys for x in xs]


def crop_window(center_x: float, center_y: float, size: int, width: int, height: int) -> Window:
    """A ``size`` square centred on a point, moved inside the frame at its borders.

    Where the frame is smaller than ``size`` along an axis, the window starts at 0 and
    extends past the frame (to be padded).

    Args:
        center_x: wanted centre x in frame pixels (may lie outside the frame).
        center_y: wanted centre y in frame pixels.
        size: side of the square in pixels.
        width: frame width in pixels.
        height: frame height in pixels.

    Returns:
        The clamped window.
    """

    def start(center: float, length: int) -> int:
        wanted = round(center - size / 2)
        return int(min(max(wanted, 0), max(length - size, 0)))

    x0 = start(center_x, width)
    y0 = start(center_y, height)
    return Window(x0, y0, x0 + size, y0 + size)


def crop(image: NDArray[np.uint8], window: Window, size: int) -> NDArray[np.uint8]:
    """Cut ``window`` out of ``image`` as a ``size`` x ``size`` BGR crop at native scale.

    Crop pixel ``(u, v)`` is frame pixel ``(window.x0 + u, window.y0 + v)``; pixels outside
    the frame or the window are :data:`PAD_VALUE` grey.

    Args:
        image: BGR ``uint8`` ``(H, W, 3)`` frame.
        window: the frame rectangle to cut; at most ``size`` on each side.
        size: side of the returned square.

    Returns:
        A new contiguous ``(size, size, 3)`` ``uint8`` array.

    Raises:
        ValueError: the window is larger than ``size`` or starts left of/above the frame.
    """
    if window.width > size or window.height > size:
        msg = f"window {window} does not fit a {size} px crop; pass size >= the window side"
        raise ValueError(msg)
    if window.x0 < 0 or window.y0 < 0:
        msg = f"window {window} starts outside the frame; build it with crop_window or tile_grid"
        raise ValueError(msg)
    height, width = image.shape[:2]
    x1 = min(window.x1, width)
    y1 = min(window.y1, height)
    if x1 - window.x0 == size and y1 - window.y0 == size:
        return np.ascontiguousarray(image[window.y0 : y1, window.x0 : x1])
    out = np.full((size, size, 3), PAD_VALUE, np.uint8)
    if x1 > window.x0 and y1 > window.y0:
        out[: y1 - window.y0, : x1 - window.x0] = image[window.y0 : y1, window.x0 : x1]
    return out


def to_frame(detections: Detections, window: Window, width: int, height: int) -> Detections:
    """Map boxes found in a crop of ``window`` back to frame pixels.

    Boxes whose centre lies outside the window or outside the frame (the padded area)
    are dropped.

    Args:
        detections: boxes in crop pixels.
        window: where the crop was cut from.
        width: frame width in pixels.
        height: frame height in pixels.

    Returns:
        The kept boxes in frame pixels.
    """
    if len(detections) == 0:
        return detections
    moved = detections.shifted(window.x0, window.y0)
    centers = moved.centers
    x_max = min(window.x1, width)
    y_max = min(window.y1, height)
    inside = (
        (centers[:, 0] >= window.x0)
        & (centers[:, 0] < x_max)
        & (centers[:, 1] >= window.y0)
        & (centers[:, 1] < y_max)
    )
    return moved.filter(inside)


def merge_duplicates(detections: Detections, distance_px: float) -> Detections:
    """Drop boxes whose centre lies within ``distance_px`` of a higher-scored box.

    Overlapping tiles see a ball near a seam twice; the copies are the same ball.

    Args:
        detections: boxes in frame pixels.
        distance_px: centre distance under which two boxes are one.

    Returns:
        The kept boxes, highest confidence first.
    """
    if len(detections) <= 1:
        return detections
    order = np.argsort(-detections.confidence, kind="stable")
    centers = detections.centers
    # each kept box removes its neighbours in one array operation: a low threshold gives
    # thousands of boxes a frame, where a Python loop over pairs took seconds
    taken = np.zeros(len(detections), dtype=bool)
    kept: list[int] = []
    for index in order:
        if not taken[index]:
            kept.append(int(index))
            offset = centers - centers[index]
            taken |= np.hypot(offset[:, 0], offset[:, 1]) <= distance_px
    return Detections(detections.xyxy[kept], detections.confidence[kept])

"""Overlay drawers: the ball marker, its fading trail and the HUD panel.

Each drawer fixes its style in ``__init__`` and draws in place with
``draw_on(image, result)``; the renderer passes a copy of the frame once.
Everything is drawn anti-aliased with sub-pixel positions.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from perception.result import FrameResult, TrackStatus

logger = logging.getLogger(__name__)

Color = tuple[int, int, int]
"""A BGR colour, each channel 0-255."""

_SHIFT = 4  # fractional bits of cv2's fixed-point coordinates: 1/16 px positions
_ONE = 1 << _SHIFT
_DASH_COUNT = 8

SEEN_COLOR: Color = (0, 255, 0)
PREDICTED_COLOR: Color = (0, 165, 255)
DETECTION_COLOR: Color = (255, 0, 255)


def _fixed(x: float, y: float) -> tuple[int, int]:
    """A point in cv2's fixed-point coordinates (``shift=_SHIFT``)."""
    return round(x * _ONE), round(y * _ONE)


def _blend_roi(
    image: NDArray[np.uint8],
    box: tuple[float, float, float, float],
    alpha: float,
    paint: Callable[[NDArray[np.uint8], float, float], None],
) -> None:
    """Paint on a copy of the ``box`` region and blend it back with ``alpha``.

    Blending only the small region that changes keeps per-segment
    transparency cheap on a full-HD frame.

    Args:
        image: BGR ``uint8`` ``(H, W, 3)`` image, changed in place.
        box: ``(x_min, y_min, x_max, y_max)`` pixels that ``paint`` may touch.
        alpha: opacity of the painted layer in ``[0, 1]``.
        paint: draws on the region copy, given the region's origin ``(x0, y0)``.
    """
    height, width = image.shape[:2]
    x0 = max(int(np.floor(box[0])), 0)
    y0 = max(int(np.floor(box[1])), 0)
    x1 = min(int(np.ceil(box[2])) + 1, width)
    y1 = min(int(np.ceil(box[3])) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return
    region = image[y0:y1, x0:x1]
    layer = region.copy()
    paint(layer, float(x0), float(y0))
    region[:] = cv2.addWeighted(layer, alpha, region, 1.0 - alpha, 0.0)


class BallMarker:
    """Marks the ball: ring and dot when seen, dashed ring when predicted, square at rest.

    Nothing is drawn when the ball is lost. Optionally draws the raw detector
    boxes as thin rectangles. Stateless; called only from the render thread.
    """

    def __init__(
        self,
        *,
        radius_px: float = 10.0,
        thickness: int = 2,
        seen_color: Color = SEEN_COLOR,
        predicted_color: Color = PREDICTED_COLOR,
        show_detections: bool = False,
        detection_color: Color = DETECTION_COLOR,
    ) -> None:
        self._radius_px = radius_px
        self._thickness = thickness
        self._seen_color = seen_color
        self._predicted_color = predicted_color
        self._show_detections = show_detections
        self._detection_color = detection_color

    def draw_on(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Draw the marker (and the detections when enabled) on ``image`` in place."""
        if self._show_detections:
            self._draw_detections(image, result)
        ball = result.ball
        if ball.status is TrackStatus.SEEN:
            center = _fixed(ball.x, ball.y)
            radius = round(self._radius_px * _ONE)
            cv2.circle(
                image, center, radius, self._seen_color, self._thickness, cv2.LINE_AA, _SHIFT
            )
            cv2.circle(image, center, 2 * _ONE, self._seen_color, cv2.FILLED, cv2.LINE_AA, _SHIFT)
        elif ball.status is TrackStatus.PREDICTED:
            self._draw_dashed_ring(image, ball.x, ball.y)
        elif ball.status is TrackStatus.REST:
            half = round(self._radius_px * _ONE)
            x, y = _fixed(ball.x, ball.y)
            corners = ((x - half, y - half), (x + half, y + half))
            cv2.rectangle(image, *corners, self._seen_color, self._thickness, cv2.LINE_AA, _SHIFT)

    def _draw_dashed_ring(self, image: NDArray[np.uint8], x: float, y: float) -> None:
        center = _fixed(x, y)
        radius = round(self._radius_px * _ONE)
        step = 360.0 / _DASH_COUNT
        for dash in range(_DASH_COUNT):
            start = dash * step
            cv2.ellipse(
                image,
                center,
                (radius, radius),
                0.0,
                start,
                start + step / 2,
                self._predicted_color,
                self._thickness,
                cv2.LINE_AA,
                _SHIFT,
            )

    def _draw_detections(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        for x_min, y_min, x_max, y_max in result.step.detections.xyxy.tolist():
            cv2.rectangle(
                image,
                _fixed(x_min, y_min),
                _fixed(x_max, y_max),
                self._detection_color,
                1,
                cv2.LINE_AA,
                _SHIFT,
            )


@dataclass(frozen=True, slots=True)
class _TrailPoint:
    index: int
    status: TrackStatus
    x: float
    y: float


class Trail:
    """A fading trail of the ball over the last ``length`` frames.

    Keeps its own history keyed by frame index (so it must see the results in
    order, from one render thread). A frame where the ball was lost breaks the
    trail: no segment is ever drawn across it. Frames the renderer never got
    (dropped upstream) do not break it. Segments ending on a predicted position
    are drawn in the predicted colour, and predicted points are hollow.
    Older segments are more transparent.
    """

    def __init__(
        self,
        *,
        length: int = 30,
        thickness: int = 2,
        seen_color: Color = SEEN_COLOR,
        predicted_color: Color = PREDICTED_COLOR,
    ) -> None:
        if length < 1:
            msg = f"Trail length must be >= 1 frame, but got {length}"
            raise ValueError(msg)
        self._length = length
        self._thickness = thickness
        self._seen_color = seen_color
        self._predicted_color = predicted_color
        self._history: deque[_TrailPoint] = deque()

    def draw_on(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Record this frame's ball and draw the trail up to it on ``image`` in place."""
        index = result.frame.index
        self._remember(index, result)
        previous: _TrailPoint | None = None
        for point in self._history:
            if point.status is TrackStatus.LOST:
                previous = None
                continue
            alpha = 1.0 - (index - point.index) / self._length
            if previous is not None:
                self._draw_segment(image, previous, point, alpha)
            self._draw_point(image, point, alpha)
            previous = point

    def _remember(self, index: int, result: FrameResult) -> None:
        if self._history and index <= self._history[-1].index:
            # A replayed or restarted stream: the old positions belong to another timeline.
            self._history.clear()
        ball = result.ball
        self._history.append(_TrailPoint(index, ball.status, ball.x, ball.y))
        while self._history[0].index <= index - self._length:
            self._history.popleft()

    def _color(self, status: TrackStatus) -> Color:
        return self._seen_color if status is TrackStatus.SEEN else self._predicted_color

    def _draw_segment(
        self, image: NDArray[np.uint8], start: _TrailPoint, end: _TrailPoint, alpha: float
    ) -> None:
        pad = self._thickness + 1
        box = (
            min(start.x, end.x) - pad,
            min(start.y, end.y) - pad,
            max(start.x, end.x) + pad,
            max(start.y, end.y) + pad,
        )
        color = self._color(end.status)

        def paint(layer: NDArray[np.uint8], x0: float, y0: float) -> None:
            cv2.line(
                layer,
                _fixed(start.x - x0, start.y - y0),
                _fixed(end.x - x0, end.y - y0),
                color,
                self._thickness,
                cv2.LINE_AA,
                _SHIFT,
            )

        _blend_roi(image, box, alpha, paint)

    def _draw_point(self, image: NDArray[np.uint8], point: _TrailPoint, alpha: float) -> None:
        radius = self._thickness + 1.0
        pad = radius + 1
        box = (point.x - pad, point.y - pad, point.x + pad, point.y + pad)
        is_seen = point.status is TrackStatus.SEEN
        fill = cv2.FILLED if is_seen else 1

        def paint(layer: NDArray[np.uint8], x0: float, y0: float) -> None:
            cv2.circle(
                layer,
                _fixed(point.x - x0, point.y - y0),
                round(radius * _ONE),
                self._color(point.status),
                fill,
                cv2.LINE_AA,
                _SHIFT,
            )

        _blend_roi(image, box, alpha, paint)


@dataclass(frozen=True, slots=True)
class HudStats:
    """Rolling figures the renderer keeps for the HUD (``None``: not known yet).

    Attributes:
        fps: frames written per second of wall clock, over a recent window.
        queue_wait_ms: capture → detector wait in the frame queue.
        inference_ms: detector time per frame.
        render_ms: end of perception → drawn overlay.
        end_to_end_ms: capture → written.
        drops: frames dropped so far, all causes.
    """

    fps: float | None = None
    queue_wait_ms: float | None = None
    inference_ms: float | None = None
    render_ms: float | None = None
    end_to_end_ms: float | None = None
    drops: int = 0


def _number(value: float | None, digits: int = 1) -> str:
    return "--" if value is None else f"{value:.{digits}f}"


def hud_lines(stats: HudStats, result: FrameResult) -> list[str]:
    """The HUD text of one frame, one string per line.

    Args:
        stats: the latest rolling figures.
        result: the frame being drawn (ball, search mode and precision come from it).

    Returns:
        The lines, top to bottom.
    """
    ball = result.ball
    ball_text = f"ball   {ball.status}"
    if ball.has_position:
        ball_text += f" @ {ball.x:.0f},{ball.y:.0f}"
    if ball.status is TrackStatus.SEEN:
        ball_text += f" ({ball.confidence:.2f})"
    return [
        ball_text,
        f"fps    {_number(stats.fps)}   drops {stats.drops}",
        f"mode   {result.step.mode}   {result.precision}",
        f"queue  {_number(stats.queue_wait_ms)} ms   detect {_number(stats.inference_ms)} ms",
        f"render {_number(stats.render_ms)} ms   e2e {_number(stats.end_to_end_ms)} ms",
    ]


class Hud:
    """A text panel at the top-left corner on a semi-transparent background.

    Reads the latest :class:`HudStats` through the injected ``stats`` callable on
    every frame (the renderer updates the snapshot); called only from the render thread.
    """

    def __init__(
        self,
        stats: Callable[[], HudStats],
        *,
        font_scale: float = 0.5,
        text_color: Color = (255, 255, 255),
        background: Color = (32, 32, 32),
        opacity: float = 0.6,
        margin_px: int = 8,
    ) -> None:
        self._stats = stats
        self._font_scale = font_scale
        self._text_color = text_color
        self._background = background
        self._opacity = opacity
        self._margin_px = margin_px
        self._font = cv2.FONT_HERSHEY_SIMPLEX
        (_, text_height), baseline = cv2.getTextSize("Ag", self._font, font_scale, 1)
        self._line_px = text_height + baseline + 4
        self._ascent_px = text_height

    def draw_on(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Draw the panel on ``image`` in place."""
        lines = hud_lines(self._stats(), result)
        margin = self._margin_px
        width = max(cv2.getTextSize(line, self._font, self._font_scale, 1)[0][0] for line in lines)
        box = (0.0, 0.0, float(width + 2 * margin), float(len(lines) * self._line_px + margin))

        def paint(layer: NDArray[np.uint8], x0: float, y0: float) -> None:
            del x0, y0  # the panel starts at the image origin
            layer[:] = self._background

        _blend_roi(image, box, self._opacity, paint)
        for row, line in enumerate(lines):
            origin = (margin, margin // 2 + self._ascent_px + row * self._line_px)
            cv2.putText(
                image, line, origin, self._font, self._font_scale, self._text_color, 1, cv2.LINE_AA
            )

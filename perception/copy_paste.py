"""Copy-paste synthesis: tiny rendered balls pasted onto real, ball-free backgrounds.

A few hundred labelled real frames are not enough to teach a detector what a 5 px ball looks
like against every scoreboard, shoe and line of a broadcast. Pasting rendered balls onto real
frames, far from the real ball, multiplies the positives while the background stays real: the
model learns the ball from the paste and the clutter from the footage.

A ball is rendered supersampled (so its centre is exact to a fraction of a pixel), in one of
four looks (shuttle, tennis, football, volleyball), 3-15 px across, optionally smeared into a
motion-blur streak along its flight and partly hidden behind an edge, with its brightness
matched to the scene. The label is the centre of the pasted ball (the middle of its streak),
which is where a person labels a blurred ball.

Pure functions of their inputs and a numpy Generator: the same seed gives the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
from numpy.typing import NDArray

_SUPERSAMPLE = 4
_LUMA = np.array([0.114, 0.587, 0.299], dtype=np.float32)  # BGR weights


class BallLook(StrEnum):
    """What the pasted ball looks like."""

    SHUTTLE = "shuttle"
    TENNIS = "tennis"
    FOOTBALL = "football"
    VOLLEYBALL = "volleyball"


# Base colours (BGR) and, where the ball has panels, the second colour.
_COLOURS: dict[BallLook, tuple[tuple[float, float, float], tuple[float, float, float] | None]] = {
    BallLook.SHUTTLE: ((235.0, 240.0, 240.0), None),
    BallLook.TENNIS: ((70.0, 225.0, 215.0), None),
    BallLook.FOOTBALL: ((240.0, 240.0, 240.0), (40.0, 40.0, 40.0)),
    BallLook.VOLLEYBALL: ((60.0, 210.0, 245.0), (170.0, 90.0, 30.0)),
}


@dataclass(frozen=True, slots=True)
class BallSprite:
    """A rendered ball: colour and coverage on a small square patch.

    Attributes:
        colour: BGR ``float32`` ``(S, S, 3)`` in 0..255.
        alpha: coverage ``float32`` ``(S, S)`` in 0..1.
        centre: the ball's centre (middle of its streak) in patch pixels, ``(x, y)``.
        diameter_px: the ball's diameter before blur.
    """

    colour: NDArray[np.float32]
    alpha: NDArray[np.float32]
    centre: tuple[float, float]
    diameter_px: float


@dataclass(frozen=True, slots=True)
class SpriteStyle:
    """Random draws that decide one sprite (kept together so tests can pin them).

    Attributes:
        look: which ball.
        diameter_px: 3..15.
        streak_px: length of the motion-blur streak (0: a sharp ball).
        angle_rad: flight direction of the streak.
        occlusion: share of the ball hidden behind a straight edge (0..0.4).
        brightness: multiplier on the look's colour (scene brightness match).
    """

    look: BallLook
    diameter_px: float
    streak_px: float
    angle_rad: float
    occlusion: float
    brightness: float


def scene_brightness(image: NDArray[np.uint8]) -> float:
    """A brightness multiplier for balls pasted into ``image`` (BGR): dim scenes get dim balls."""
    luma = float((image[::8, ::8].astype(np.float32) @ _LUMA).mean())
    return float(np.clip(0.55 + luma / 255.0, 0.6, 1.05))


def draw_style(
    rng: np.random.Generator, brightness: float, looks: tuple[BallLook, ...] = tuple(BallLook)
) -> SpriteStyle:
    """Draw a sprite style: size log-uniform in 3..15 px, half the balls streaked."""
    diameter = float(math.exp(rng.uniform(math.log(3.0), math.log(15.0))))
    streak = float(rng.uniform(0.5, 2.5) * diameter) if rng.random() < 0.5 else 0.0
    occlusion = float(rng.uniform(0.1, 0.4)) if rng.random() < 0.15 else 0.0
    return SpriteStyle(
        look=looks[int(rng.integers(len(looks)))],
        diameter_px=diameter,
        streak_px=streak,
        angle_rad=float(rng.uniform(0.0, math.pi)),
        occlusion=occlusion,
        brightness=float(brightness * rng.uniform(0.85, 1.1)),
    )


def _shifted(image: NDArray[np.float32], dx: float, dy: float) -> NDArray[np.float32]:
    """``image`` moved by ``(dx, dy)`` pixels (bilinear, zeros shifted in)."""
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], dtype=np.float32)
    side = (image.shape[1], image.shape[0])
    return np.asarray(cv2.warpAffine(image, matrix, side, flags=cv2.INTER_LINEAR), np.float32)


def _disc(side: int, centre: float, radius: float, stretch: float) -> NDArray[np.float32]:
    """Anti-aliased coverage of an ellipse (``stretch`` >= 1 along x) on a supersampled grid."""
    grid = np.arange(side, dtype=np.float32) + 0.5 - centre
    dx, dy = grid[None, :] / stretch, grid[:, None]
    return np.asarray(np.clip(radius + 0.5 - np.hypot(dx, dy), 0.0, 1.0), np.float32)


def render_sprite(style: SpriteStyle, rng: np.random.Generator) -> BallSprite:
    """Render one ball as a patch (see the module docstring)."""
    ss = _SUPERSAMPLE
    extent = style.diameter_px + style.streak_px + 4.0
    side = math.ceil(extent) | 1  # odd, so the centre is a pixel centre
    big = side * ss
    centre = big / 2.0
    radius = style.diameter_px * ss / 2.0
    stretch = 1.35 if style.look is BallLook.SHUTTLE else 1.0
    base = _disc(big, centre, radius, stretch)
    colour = np.empty((big, big, 3), dtype=np.float32)
    colour[:] = _COLOURS[style.look][0]
    panel = _COLOURS[style.look][1]
    if panel is not None and style.streak_px == 0:  # panels blur away in a streak
        phase = rng.uniform(0.0, 2.0 * math.pi)
        grid = np.arange(big, dtype=np.float32) - centre
        angle = np.arctan2(grid[:, None], grid[None, :])
        colour[np.sin(3.0 * angle + phase) > 0.55] = panel
    if style.occlusion > 0:
        grid = np.arange(big, dtype=np.float32) - centre
        cut = radius * (1.0 - 2.0 * style.occlusion)
        theta = rng.uniform(0.0, 2.0 * math.pi)
        side_of = grid[None, :] * math.cos(theta) + grid[:, None] * math.sin(theta)
        base = base * (side_of < cut)
    if style.streak_px > 0:
        base, colour = _streak(base, colour, style.streak_px * ss, style.angle_rad)
    rotation = cv2.getRotationMatrix2D((centre, centre), math.degrees(style.angle_rad), 1.0)
    if stretch != 1.0 and style.streak_px == 0:
        base = np.asarray(cv2.warpAffine(base, rotation, (big, big)), np.float32)
    alpha = cv2.resize(base, (side, side), interpolation=cv2.INTER_AREA)
    small = cv2.resize(colour, (side, side), interpolation=cv2.INTER_AREA)
    alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=float(rng.uniform(0.35, 0.8)))
    peak = float(rng.uniform(0.8, 1.0))
    small = np.clip(small * style.brightness, 0.0, 255.0)
    return BallSprite(
        small.astype(np.float32),
        np.clip(alpha * peak, 0.0, 1.0).astype(np.float32),
        (side / 2.0, side / 2.0),
        style.diameter_px,
    )


def _streak(
    alpha: NDArray[np.float32], colour: NDArray[np.float32], length: float, angle: float
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Smear a ball along ``angle`` over ``length`` (supersampled px), centred on the ball."""
    steps = max(int(length / 2.0), 2)
    acc_alpha = np.zeros_like(alpha)
    acc_colour = np.zeros_like(colour)
    side = alpha.shape[0]
    for offset in np.linspace(-length / 2.0, length / 2.0, steps):
        dx, dy = float(offset) * math.cos(angle), float(offset) * math.sin(angle)
        moved = _shifted(alpha, dx, dy)
        acc_alpha += moved
        acc_colour += _shifted(colour, dx, dy) * moved[..., None]
    mean_alpha = acc_alpha / steps
    # a streak keeps most of the ball's brightness: coverage saturates, colour is averaged
    coverage = np.clip(mean_alpha * (1.0 + length / (2.0 * side) * 4.0), 0.0, 1.0)
    colour_out = acc_colour / np.maximum(acc_alpha, 1e-6)[..., None]
    return coverage.astype(np.float32), colour_out.astype(np.float32)


def paste(image: NDArray[np.uint8], sprite: BallSprite, x: float, y: float) -> NDArray[np.uint8]:
    """A copy of ``image`` with ``sprite`` centred at ``(x, y)`` (sub-pixel, frame pixels).

    The sprite is shifted by the fractional part of the position before blending, so the
    returned label ``(x, y)`` is the ball centre to a fraction of a pixel.
    """
    side = sprite.alpha.shape[0]
    left, top = math.floor(x - sprite.centre[0]), math.floor(y - sprite.centre[1])
    fx, fy = x - sprite.centre[0] - left, y - sprite.centre[1] - top
    alpha = _shifted(sprite.alpha, fx, fy)
    colour = _shifted(sprite.colour, fx, fy)
    out = image.copy()
    height, width = image.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + side, width), min(top + side, height)
    if x1 <= x0 or y1 <= y0:
        return out
    a = alpha[y0 - top : y1 - top, x0 - left : x1 - left, None]
    c = colour[y0 - top : y1 - top, x0 - left : x1 - left]
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(a * c + (1.0 - a) * region + 0.5, 0, 255).astype(np.uint8)
    return out

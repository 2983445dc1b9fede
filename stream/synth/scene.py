"""How a synthetic frame is painted: the pitch, the players, the ball's shadow and its blur.

Pure drawing in BGR ``uint8``: the ``draw_*`` functions draw in place on the image they
are given; :class:`~stream.synth.match.SynthMatch` decides what goes where.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

_EXPOSURE_FRAMES = 0.5  # shutter open half the frame time: the blur length

Image = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Player:
    """One player at one instant, drawn as legs, shorts, shirt and head."""

    foot_x: float  # world pixels
    foot_y: float
    height: float
    stride: float  # -1..1, leg swing
    shirt: tuple[int, int, int]
    shorts: tuple[int, int, int]

    @property
    def head_y(self) -> float:
        """The head's centre height (world pixels; it is above ``foot_x``)."""
        return self.foot_y - 0.9 * self.height

    def covers(self, x: float, y: float) -> bool:
        """Whether the point (world pixels) lies on this player's silhouette."""
        h = self.height
        body = ((x - self.foot_x) / (0.17 * h)) ** 2 + (
            (y - (self.foot_y - 0.58 * h)) / (0.25 * h)
        ) ** 2
        head = math.hypot(x - self.foot_x, y - self.head_y) <= 0.085 * h
        legs = abs(x - self.foot_x) <= 0.14 * h and self.foot_y - 0.36 * h <= y <= self.foot_y
        return body <= 1.0 or head or legs

    def is_near(self, x: float, y: float, margin_px: float) -> bool:
        """Whether the point (world pixels) is within ``margin_px`` of this player's box.

        The box is the drawn extent: head to feet, shoulder to shoulder.
        """
        half_width = 0.2 * self.height + margin_px
        top, bottom = self.foot_y - self.height - margin_px, self.foot_y + margin_px
        return abs(x - self.foot_x) <= half_width and top <= y <= bottom


def team_colours(
    rng: np.random.Generator,
) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
    """The two teams' ``(shirt, shorts)`` BGR colours: distinct shirts, dark and light shorts."""
    palette = [(40, 40, 200), (200, 80, 30), (30, 200, 230), (60, 60, 60), (230, 230, 230)]
    first, second = rng.choice(len(palette), size=2, replace=False)
    shorts = [(20, 20, 20), (240, 240, 240)]
    return [(palette[first], shorts[0]), (palette[second], shorts[1])]


def pitch_texture(width: int, height: int, rng: np.random.Generator) -> Image:
    """Striped, noisy grass with white lines, in BGR."""
    columns = np.arange(width)
    stripe = np.where((columns // max(width // 14, 1)) % 2 == 0, 1.0, 0.86)
    green = np.array([45.0, 125.0, 55.0]) * rng.uniform(0.85, 1.15)
    image = np.broadcast_to(green, (height, width, 3)) * stripe[None, :, None]
    blotches = rng.normal(0, 1, size=(max(height // 40, 2), max(width // 40, 2))).astype(np.float32)
    image = image * (1.0 + 0.08 * cv2.resize(blotches, (width, height))[..., None])
    grain = rng.normal(0, 7, size=(height, width, 1)).astype(np.float32)
    image = image + cv2.blur(grain, (1, 5))[..., None]
    lines = np.zeros((height, width), dtype=np.uint8)
    thickness = max(1, height // 240)
    inset = int(0.06 * height)
    cv2.rectangle(lines, (inset, inset), (width - inset, height - inset), 255, thickness)
    cv2.line(lines, (width // 2, inset), (width // 2, height - inset), 255, thickness)
    cv2.ellipse(
        lines, (width // 2, height // 2), (height // 5, height // 8), 0, 0, 360, 255, thickness
    )
    for side in (inset, width - inset):
        box = int(0.16 * width) * (1 if side == inset else -1)
        cv2.rectangle(lines, (side, height // 4), (side + box, 3 * height // 4), 255, thickness)
    alpha = cv2.GaussianBlur(lines, (3, 3), 0).astype(np.float32)[..., None] / 255.0 * 0.85
    image = image * (1.0 - alpha) + np.array([225.0, 232.0, 230.0]) * alpha
    texture: Image = np.clip(image, 0, 255).astype(np.uint8)
    return texture


def draw_shadow(image: Image, x: float, ground_y: float, diameter: float, height_m: float) -> None:
    """Darken the ground in place under a ball ``height_m`` metres up (fainter when higher)."""
    strength = 0.35 / (1.0 + 0.4 * height_m)
    radius = diameter * (0.6 + 0.05 * height_m)
    x0, x1 = int(x - radius - 2), int(x + radius + 3)
    y0, y1 = int(ground_y - radius), int(ground_y + radius + 2)
    patch_box = (max(x0, 0), min(x1, image.shape[1]), max(y0, 0), min(y1, image.shape[0]))
    if patch_box[0] >= patch_box[1] or patch_box[2] >= patch_box[3]:
        return
    ys, xs = np.mgrid[patch_box[2] : patch_box[3], patch_box[0] : patch_box[1]].astype(np.float32)
    ellipse = ((xs - x) / radius) ** 2 + ((ys - ground_y - 0.3 * diameter) / (0.4 * radius)) ** 2
    darken = 1.0 - strength * np.clip(1.2 - ellipse, 0.0, 1.0)
    patch = image[patch_box[2] : patch_box[3], patch_box[0] : patch_box[1]]
    patch[:] = (patch * darken[..., None]).astype(np.uint8)


def draw_ball(
    image: Image,
    centre: tuple[float, float],
    diameter: float,
    velocity: tuple[float, float],
    colour: NDArray[np.float32],
) -> None:
    """An anti-aliased, shaded disc, smeared along ``velocity`` (px/frame) when fast."""
    radius = diameter / 2.0
    blur_x, blur_y = velocity[0] * _EXPOSURE_FRAMES, velocity[1] * _EXPOSURE_FRAMES
    length = math.hypot(blur_x, blur_y)
    if length < 0.75:
        blur_x = blur_y = length = 0.0
    start = (centre[0] - blur_x / 2.0, centre[1] - blur_y / 2.0)
    pad = radius + 2.0
    x0 = max(int(min(start[0], start[0] + blur_x) - pad), 0)
    x1 = min(int(max(start[0], start[0] + blur_x) + pad) + 1, image.shape[1])
    y0 = max(int(min(start[1], start[1] + blur_y) - pad), 0)
    y1 = min(int(max(start[1], start[1] + blur_y) + pad) + 1, image.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    along = ((xs - start[0]) * blur_x + (ys - start[1]) * blur_y) / max(length * length, 1e-9)
    along = np.clip(along, 0.0, 1.0)
    dx, dy = xs - (start[0] + along * blur_x), ys - (start[1] + along * blur_y)
    coverage = np.clip(radius + 0.5 - np.sqrt(dx * dx + dy * dy), 0.0, 1.0)
    alpha = coverage * max(0.5, diameter / (diameter + length))
    shade = np.clip(1.0 - 0.3 * (dx + dy) / max(radius, 0.5), 0.6, 1.08)
    patch = image[y0:y1, x0:x1].astype(np.float32)
    blended = patch * (1.0 - alpha[..., None]) + colour * shade[..., None] * alpha[..., None]
    image[y0:y1, x0:x1] = np.clip(blended, 0, 255).astype(np.uint8)


def draw_player(image: Image, player: Player, camera_x: int) -> None:
    """Draw ``player`` in place, shifted left by the camera's ``camera_x`` (world pixels)."""
    h, x, y = player.height, player.foot_x - camera_x, player.foot_y
    if x < -h or x > image.shape[1] + h:
        return
    leg = max(1, round(0.07 * h))
    swing = 0.1 * h * player.stride
    for side in (-1, 1):
        hip = (round(x + side * 0.05 * h), round(y - 0.34 * h))
        foot = (round(x + side * (0.06 * h + swing)), round(y))
        cv2.line(image, hip, foot, (30, 30, 30) if side < 0 else (40, 40, 40), leg, cv2.LINE_AA)
    centre_x = round(x)
    shorts_box = ((centre_x, round(y - 0.38 * h)), (round(0.15 * h), round(0.08 * h)))
    shirt_box = ((centre_x, round(y - 0.58 * h)), (round(0.17 * h), round(0.25 * h)))
    for (centre, axes), colour in ((shorts_box, player.shorts), (shirt_box, player.shirt)):
        cv2.ellipse(image, centre, axes, 0, 0, 360, colour, -1, cv2.LINE_AA)
    cv2.circle(
        image, (round(x), round(player.head_y)), round(0.085 * h), (120, 150, 200), -1, cv2.LINE_AA
    )

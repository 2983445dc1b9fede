"""A built-in synthetic match: a tiny ball over a striped pitch, with exact ground truth.

Everything is a pure function of the seed and the frame index: the ball's trajectory is
simulated once, in order, and cached; players and the camera pan are closed-form in time.
So ``frame(i)`` never depends on which frames were rendered before it.
"""

from __future__ import annotations

import csv
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from stream.frame import BallTruth
from stream.source import SourceFrame, SourceKind

_GRAVITY_M_S2 = 9.81
_BALL_DIAMETER_M = 0.22  # sets pixels-per-metre from the apparent ball size
_PLAYER_TO_BALL = 8.0  # a 1.8 m player next to a 0.22 m ball
_EXPOSURE_FRAMES = 0.5  # shutter open half the frame time: the blur length
_CHUNK = 512
# columns of the cached trajectory
_GX, _GY, _H, _VX, _VY, _VZ = range(6)

Image = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class SynthParams:
    """What the synthetic match looks like; ``frames=None`` runs forever.

    Attributes:
        seed: everything random derives from it.
        width: frame width in pixels.
        height: frame height in pixels.
        fps: frames per second of the match clock.
        frames: number of frames, or None for an endless stream.
        pan: whether the camera pans slowly across a wider pitch.
        ball_min_px: ball diameter at the far (top) side of the pitch.
        ball_max_px: ball diameter at the near (bottom) side of the pitch.
    """

    seed: int = 7
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    frames: int | None = None
    pan: bool = False
    ball_min_px: int = 3
    ball_max_px: int = 12

    def __post_init__(self) -> None:
        problems = [
            (self.width < 64 or self.height < 64, "width and height must be >= 64"),
            (not 0 < self.fps <= 1000, "fps must be in (0, 1000]"),
            (self.frames is not None and self.frames < 1, "frames must be >= 1 (or absent)"),
            (not 1 <= self.ball_min_px <= self.ball_max_px, "need 1 <= ball_min_px <= ball_max_px"),
            (self.ball_max_px > self.height // 8, "ball_max_px must be <= height / 8"),
        ]
        for is_bad, text in problems:
            if is_bad:
                msg = f"invalid SynthParams: {text}, but got {self}"
                raise ValueError(msg)


_ALLOWED_KEYS = tuple(field.name for field in fields(SynthParams))
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(key: str, text: str) -> int | float | bool:
    if key == "pan":
        if text.lower() not in _TRUE | _FALSE:
            msg = f"must be 0 or 1, but got {text!r}"
            raise ValueError(msg)
        return text.lower() in _TRUE
    if key == "fps":
        value = float(text)
        if not math.isfinite(value):
            msg = f"must be a finite number, but got {text!r}"
            raise ValueError(msg)
        return value
    return int(text)


def parse_synth_uri(uri: str) -> SynthParams:
    """Parse ``synth:`` or ``synth:?seed=7&frames=300&width=1280&height=720&fps=30&pan=1``.

    Raises:
        ValueError: not a synth URI, an unknown or repeated key, or a bad value.
    """
    allowed = ", ".join(_ALLOWED_KEYS)
    if not uri.startswith("synth:"):
        msg = f"not a synth URI: {uri!r}; write synth: or synth:?seed=7&frames=300"
        raise ValueError(msg)
    rest = uri.removeprefix("synth:").removeprefix("//")
    if rest and not rest.startswith("?"):
        msg = f"invalid synth URI {uri!r}: options go after '?', e.g. synth:?seed=7"
        raise ValueError(msg)
    values: dict[str, int | float | bool] = {}
    for pair in filter(None, rest.removeprefix("?").split("&")):
        key, _, text = pair.partition("=")
        if key not in _ALLOWED_KEYS or key in values:
            why = "repeated" if key in values else "unknown"
            msg = f"invalid synth URI {uri!r}: {why} key {key!r}; allowed keys: {allowed}"
            raise ValueError(msg)
        try:
            values[key] = _convert(key, text)
        except ValueError as exc:
            msg = f"invalid synth URI {uri!r}: key {key!r} {exc}; allowed keys: {allowed}"
            raise ValueError(msg) from exc
    try:
        return SynthParams(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        msg = f"invalid synth URI {uri!r}: {exc}"
        raise ValueError(msg) from exc


@dataclass(frozen=True, slots=True)
class _Player:
    foot_x: float  # world pixels
    foot_y: float
    height: float
    stride: float  # -1..1, leg swing
    shirt: tuple[int, int, int]
    shorts: tuple[int, int, int]

    def covers(self, x: float, y: float) -> bool:
        """Whether the point (world pixels) lies on this player's silhouette."""
        h = self.height
        body = ((x - self.foot_x) / (0.17 * h)) ** 2 + (
            (y - (self.foot_y - 0.58 * h)) / (0.25 * h)
        ) ** 2
        head = math.hypot(x - self.foot_x, y - (self.foot_y - 0.9 * h)) <= 0.085 * h
        legs = abs(x - self.foot_x) <= 0.14 * h and self.foot_y - 0.36 * h <= y <= self.foot_y
        return body <= 1.0 or head or legs


class SynthMatch:
    """Renders frame ``i`` of a seeded synthetic match, with its ball truth.

    Thread-safe: the trajectory cache is guarded by a lock and rendering touches no
    shared state. Construction takes about 0.1 s (the pitch texture).
    """

    def __init__(self, params: SynthParams) -> None:
        self.params = params
        self._lock = threading.Lock()
        width, height = params.width, params.height
        self._pan_px = width // 4 if params.pan else 0
        self._world_w = width + self._pan_px
        rng = np.random.default_rng([params.seed, 1])
        self._background = _pitch_texture(self._world_w, height, rng)
        self._noise = rng.integers(0, 7, size=(height + 32, width + 32, 3), dtype=np.uint8)
        yellowish = rng.random() < 0.5
        base = (120.0, 225.0, 240.0) if yellowish else (232.0, 240.0, 244.0)
        self._ball_bgr = np.clip(np.array(base) + rng.normal(0, 6, 3), 0, 255).astype(np.float32)
        self._team_colours = _team_colours(rng)
        self._player_motion = rng.uniform(0, 1, size=(7, 8))
        self._sim_rng = np.random.default_rng([params.seed, 2])
        self._state = np.array(
            [self._world_w * 0.5, height * 0.6, 0.0, 0.0, 0.0, 0.0], dtype=np.float64
        )
        self._timers = [0.0, 0.0]  # seconds slow, seconds out of the world
        self._track = np.empty((0, 6), dtype=np.float64)

    # --- trajectory -----------------------------------------------------------------------

    def _diameter(self, ground_y: float) -> float:
        depth = min(max(float(ground_y) / self.params.height, 0.0), 1.0)
        return self.params.ball_min_px + (self.params.ball_max_px - self.params.ball_min_px) * depth

    def _ensure(self, index: int) -> NDArray[np.float64]:
        with self._lock:
            while len(self._track) <= index:
                chunk = np.empty((_CHUNK, 6), dtype=np.float64)
                for row in range(_CHUNK):
                    chunk[row] = self._state
                    self._step()
                self._track = np.concatenate([self._track, chunk])
            return self._track

    def _step(self) -> None:
        """Advance the ball by one frame: kicks, gravity, bounces, friction."""
        state, timers, dt = self._state, self._timers, 1.0 / self.params.fps
        width, height, rng = self._world_w, self.params.height, self._sim_rng
        margin = 0.05 * width
        is_out = not (
            -margin < state[_GX] < width + margin and -margin < state[_GY] < height + margin
        )
        speed = math.hypot(state[_VX], state[_VY])
        timers[0] = timers[0] + dt if speed < 0.03 * width and state[_H] == 0.0 else 0.0
        timers[1] = timers[1] + dt if is_out else 0.0
        hit_chance = rng.random()
        if timers[1] > 0.8:  # throw-in: back at a random edge, kicked inwards
            state[_GX] = rng.uniform(0.05, 0.95) * width
            state[_GY] = rng.choice([0.12, 0.95]) * height
            state[_H] = 0.0
            self._kick(is_inward=True)
        elif timers[0] > 0.6 or (hit_chance < 0.4 * dt and state[_H] < 0.5):
            self._kick(is_inward=False)
        if state[_H] > 0.0 or state[_VZ] > 0.0:
            state[_VZ] -= _GRAVITY_M_S2 * dt
            state[_H] += state[_VZ] * dt
            if state[_H] <= 0.0:
                state[_H] = -state[_H] * 0.5
                state[_VZ] = -state[_VZ] * 0.55
                if state[_VZ] < 1.2:
                    state[_H], state[_VZ] = 0.0, 0.0
            drag = math.exp(-0.15 * dt)
        else:
            drag = math.exp(-0.9 * dt)
        state[_VX] *= drag
        state[_VY] *= drag
        state[_GX] += state[_VX] * dt
        state[_GY] += state[_VY] * dt

    def _kick(self, *, is_inward: bool) -> None:
        state, rng = self._state, self._sim_rng
        width, height = self._world_w, self.params.height
        leaves = not is_inward and rng.random() < 0.15
        if leaves:
            target = (rng.choice([-0.2, 1.2]) * width, rng.uniform(0.1, 1.0) * height)
        else:
            target = (rng.uniform(0.08, 0.92) * width, rng.uniform(0.15, 0.95) * height)
        flight_s = rng.uniform(0.8, 2.2)
        state[_VX] = (target[0] - state[_GX]) / flight_s * 1.4
        state[_VY] = (target[1] - state[_GY]) / flight_s * 1.4
        state[_VZ] = rng.uniform(3.0, 10.0) if rng.random() < 0.45 else rng.uniform(0.0, 1.5)
        state[_H] = max(state[_H], 0.01 if state[_VZ] > 0 else 0.0)
        self._timers[0] = 0.0

    # --- scene at one index -------------------------------------------------------------------

    def _camera_x(self, index: int) -> int:
        if not self._pan_px:
            return 0
        phase = 2.0 * math.pi * index / (self.params.fps * 24.0)
        return round(self._pan_px * 0.5 * (1.0 - math.cos(phase)))

    def _players(self, index: int, track: NDArray[np.float64]) -> list[_Player]:
        t = index / self.params.fps
        width, height = self._world_w, self.params.height
        players = []
        for number, motion in enumerate(self._player_motion):
            if number == 0:  # the chaser follows the ball a little behind it in time
                ball = track[max(index - round(0.4 * self.params.fps), 0)]
                x = ball[_GX] + 0.03 * width * math.sin(t * (1 + motion[0]) + 6 * motion[1])
                y = ball[_GY] + 0.02 * height * (1.2 + math.sin(t * (1 + motion[2])))
            else:
                x = motion[0] * width + 0.15 * width * math.sin(t * 0.5 * motion[2] + 6 * motion[3])
                y = (0.2 + 0.75 * motion[1]) * height + 0.08 * height * math.sin(
                    t * 0.4 * motion[4] + 6 * motion[5]
                )
            y = min(max(y, 0.1 * height), 1.02 * height)
            shirt, shorts = self._team_colours[number % 2]
            players.append(
                _Player(
                    foot_x=x,
                    foot_y=y,
                    height=self._diameter(y) * _PLAYER_TO_BALL,
                    stride=math.sin(t * (5 + 3 * motion[6]) + 6 * motion[7]),
                    shirt=shirt,
                    shorts=shorts,
                )
            )
        return sorted(players, key=lambda player: player.foot_y)

    def _truth(self, index: int, ball: NDArray[np.float64], players: list[_Player]) -> BallTruth:
        diameter = self._diameter(ball[_GY])
        world_y = ball[_GY] - ball[_H] * diameter / _BALL_DIAMETER_M
        x = ball[_GX] - self._camera_x(index)
        inside = 0.0 <= x < self.params.width and 0.0 <= world_y < self.params.height
        occluded = any(
            player.foot_y > ball[_GY] and player.covers(ball[_GX], world_y) for player in players
        )
        if not inside or occluded:
            return BallTruth(is_visible=False, radius_px=diameter / 2.0)
        return BallTruth(is_visible=True, x=float(x), y=float(world_y), radius_px=diameter / 2.0)

    def _check_index(self, index: int) -> None:
        frames = self.params.frames
        if index < 0 or (frames is not None and index >= frames):
            msg = f"synthetic frame index {index} is out of range 0..{frames}"
            raise IndexError(msg)

    def truth(self, index: int) -> BallTruth:
        """The ball truth of frame ``index`` without rendering it.

        Raises:
            IndexError: ``index`` is negative or past ``params.frames``.
        """
        self._check_index(index)
        track = self._ensure(index)
        return self._truth(index, track[index], self._players(index, track))

    def frame(self, index: int) -> tuple[Image, BallTruth]:
        """Render frame ``index``.

        Returns:
            A BGR ``uint8`` image of shape ``(height, width, 3)`` and the ball truth
            (pixels of that image).

        Raises:
            IndexError: ``index`` is negative or past ``params.frames``.
        """
        self._check_index(index)
        track = self._ensure(index)
        ball, players = track[index], self._players(index, track)
        width, height = self.params.width, self.params.height
        camera_x = self._camera_x(index)
        image = self._background[:, camera_x : camera_x + width].copy()
        jitter = (index * 7919) % 32, (index * 104729) % 32
        noise = self._noise[jitter[0] : jitter[0] + height, jitter[1] : jitter[1] + width]
        cv2.subtract(image, noise, dst=image)
        cv2.add(image, self._noise[:height, :width], dst=image)
        diameter = self._diameter(ball[_GY])
        ppm = diameter / _BALL_DIAMETER_M
        _draw_shadow(image, ball[_GX] - camera_x, ball[_GY], diameter, ball[_H])
        for player in players:
            if player.foot_y <= ball[_GY]:
                _draw_player(image, player, camera_x)
        velocity = (
            (ball[_VX] - self._camera_speed(index)) / self.params.fps,
            (ball[_VY] - ball[_VZ] * ppm) / self.params.fps,
        )
        centre = (ball[_GX] - camera_x, ball[_GY] - ball[_H] * ppm)
        _draw_ball(image, centre, diameter, velocity, self._ball_bgr)
        for player in players:
            if player.foot_y > ball[_GY]:
                _draw_player(image, player, camera_x)
        return image, self._truth(index, ball, players)

    def _camera_speed(self, index: int) -> float:
        return float(self._camera_x(index + 1) - self._camera_x(index)) * self.params.fps

    def labels_rows(self, frames: int) -> list[tuple[int, int, float, float]]:
        """Truth of frames ``0..frames-1`` as ``(Frame, Ball, x, y)`` label rows.

        ``x``/``y`` are normalised to the frame size; an invisible ball is ``(i, 0, -1, -1)``,
        the format of the real clips' CSV files.
        """
        rows: list[tuple[int, int, float, float]] = []
        for index in range(frames):
            truth = self.truth(index)
            if truth.is_visible:
                rows.append((index, 1, truth.x / self.params.width, truth.y / self.params.height))
            else:
                rows.append((index, 0, -1.0, -1.0))
        return rows

    def write_labels_csv(self, path: Path | str, frames: int) -> None:
        """Write :meth:`labels_rows` as ``Frame,Ball,x,y`` CSV (6 decimals)."""
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["Frame", "Ball", "x", "y"])
            for index, ball, x, y in self.labels_rows(frames):
                writer.writerow([index, ball, f"{x:.6f}", f"{y:.6f}"])


def _team_colours(
    rng: np.random.Generator,
) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
    palette = [(40, 40, 200), (200, 80, 30), (30, 200, 230), (60, 60, 60), (230, 230, 230)]
    first, second = rng.choice(len(palette), size=2, replace=False)
    shorts = [(20, 20, 20), (240, 240, 240)]
    return [(palette[first], shorts[0]), (palette[second], shorts[1])]


def _pitch_texture(width: int, height: int, rng: np.random.Generator) -> Image:
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


def _draw_shadow(image: Image, x: float, ground_y: float, diameter: float, height_m: float) -> None:
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


def _draw_ball(
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


def _draw_player(image: Image, player: _Player, camera_x: int) -> None:
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
        image, (round(x), round(y - 0.9 * h)), round(0.085 * h), (120, 150, 200), -1, cv2.LINE_AA
    )


class SynthSource:
    """A :class:`FrameSource` over a :class:`SynthMatch`; used only from the capture thread.

    With ``is_realtime`` the source paces itself to ``fps`` (waiting on the stop event);
    otherwise frames come as fast as they render.
    """

    def __init__(
        self,
        params: SynthParams,
        *,
        is_realtime: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.params = params
        self._match = SynthMatch(params)
        self._is_realtime = is_realtime
        self._clock = clock
        self._next_index = 0
        self._started_at: float | None = None
        self._is_closed = False

    @property
    def kind(self) -> SourceKind:
        """Always :attr:`SourceKind.SYNTH`."""
        return SourceKind.SYNTH

    @property
    def fps(self) -> float:
        """The match's frames per second."""
        return self.params.fps

    @property
    def frame_count(self) -> int | None:
        """``params.frames`` (None: endless)."""
        return self.params.frames

    def read(self, stop: threading.Event) -> SourceFrame | None:
        """The next frame; None after ``params.frames`` frames, after close or when stopped."""
        index = self._next_index
        frames = self.params.frames
        if self._is_closed or (frames is not None and index >= frames):
            return None
        if self._is_realtime:
            if self._started_at is None:
                self._started_at = self._clock()
            wait_s = self._started_at + index / self.params.fps - self._clock()
            if wait_s > 0 and stop.wait(wait_s):
                return None
        image, truth = self._match.frame(index)
        self._next_index += 1
        return SourceFrame(index=index, image=image, pts_s=index / self.params.fps, truth=truth)

    def close(self) -> None:
        """Stop handing out frames."""
        self._is_closed = True

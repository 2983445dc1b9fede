"""The synthetic match (:class:`SynthMatch`): ball trajectory, players, camera pan, truth.

Everything is a pure function of the seed and the frame index: the ball's trajectory is
simulated once, in order, and cached; players and the camera pan are closed-form in time.
So ``frame(i)`` never depends on which frames were rendered before it.
"""

from __future__ import annotations

import csv
import math
import threading
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from stream.frame import BallTruth
from stream.synth.params import SynthParams
from stream.synth.scene import (
    Image,
    Player,
    draw_ball,
    draw_player,
    draw_shadow,
    pitch_texture,
    team_colours,
)

_GRAVITY_M_S2 = 9.81
_BALL_DIAMETER_M = 0.22  # sets pixels-per-metre from the apparent ball size
_PLAYER_TO_BALL = 8.0  # a 1.8 m player next to a 0.22 m ball
_CHUNK = 512
# columns of the cached trajectory
_GX, _GY, _H, _VX, _VY, _VZ = range(6)


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
        self._background = pitch_texture(self._world_w, height, rng)
        self._noise = rng.integers(0, 7, size=(height + 32, width + 32, 3), dtype=np.uint8)
        yellowish = rng.random() < 0.5
        base = (120.0, 225.0, 240.0) if yellowish else (232.0, 240.0, 244.0)
        self._ball_bgr = np.clip(np.array(base) + rng.normal(0, 6, 3), 0, 255).astype(np.float32)
        self._team_colours = team_colours(rng)
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

    def _players(self, index: int, track: NDArray[np.float64]) -> list[Player]:
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
                Player(
                    foot_x=x,
                    foot_y=y,
                    height=self._diameter(y) * _PLAYER_TO_BALL,
                    stride=math.sin(t * (5 + 3 * motion[6]) + 6 * motion[7]),
                    shirt=shirt,
                    shorts=shorts,
                )
            )
        return sorted(players, key=lambda player: player.foot_y)

    def _truth(self, index: int, ball: NDArray[np.float64], players: list[Player]) -> BallTruth:
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

    def ball_near_player(self, index: int, margin_px: float) -> bool:
        """Whether frame ``index``'s ball is visible within ``margin_px`` of a player's box.

        A player's box is its drawn extent (head to feet, shoulder to shoulder). Cheap: no
        rendering. Training draws such frames more often (``crowded_share``): a ball at a
        player's feet or over a shirt of its colour is where the synthetic model misses.
        """
        self._check_index(index)
        track = self._ensure(index)
        ball, players = track[index], self._players(index, track)
        truth = self._truth(index, ball, players)
        if not truth.is_visible:
            return False
        return any(player.is_near(ball[_GX], truth.y, margin_px) for player in players)

    def player_heads(self, index: int) -> list[tuple[float, float]]:
        """Frame ``index``'s players' head centres inside the picture (image pixels).

        A distant player's head is a round blob of a ball's size: the negatives a model
        taught on balls by players needs most (``crowded_share``).
        """
        self._check_index(index)
        track = self._ensure(index)
        camera_x = self._camera_x(index)
        heads = []
        for player in self._players(index, track):
            x, y = player.foot_x - camera_x, player.head_y
            if 0.0 <= x < self.params.width and 0.0 <= y < self.params.height:
                heads.append((x, y))
        return heads

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
        draw_shadow(image, ball[_GX] - camera_x, ball[_GY], diameter, ball[_H])
        for player in players:
            if player.foot_y <= ball[_GY]:
                draw_player(image, player, camera_x)
        velocity = (
            (ball[_VX] - self._camera_speed(index)) / self.params.fps,
            (ball[_VY] - ball[_VZ] * ppm) / self.params.fps,
        )
        centre = (ball[_GX] - camera_x, ball[_GY] - ball[_H] * ppm)
        draw_ball(image, centre, diameter, velocity, self._ball_bgr)
        for player in players:
            if player.foot_y > ball[_GY]:
                draw_player(image, player, camera_x)
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

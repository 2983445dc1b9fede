"""The motion gate on constructed clips: a small moving blob is a candidate, noise and
static things are not; and the search crops around what moved."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from configs.app_config import MotionConfig, SearchConfig
from perception.motion import MotionGate
from perception.result import SearchMode
from perception.search import BallSearch
from stream.frame import Frame
from tests.fakes import WhiteBoxDetector

WIDTH, HEIGHT = 640, 360
STATIC_BALL = (500, 100)


def textured_background(seed: int = 0) -> NDArray[np.uint8]:
    """A static, strongly textured picture (grass stripes, lines, grain)."""
    rng = np.random.default_rng(seed)
    grey = rng.integers(40, 120, size=(HEIGHT, WIDTH), dtype=np.int16)
    grey[:, ::16] += 60  # stripes: sharp edges everywhere
    grey[::40, :] = 200  # court lines
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def clip_frame(
    background: NDArray[np.uint8],
    index: int,
    *,
    noise_sigma: float = 3.0,
    moving: tuple[float, float] | None = None,
) -> NDArray[np.uint8]:
    """One frame: background + sensor noise + a static 4 px blob + an optional moving one."""
    rng = np.random.default_rng(1000 + index)
    image = background.astype(np.float32) + rng.normal(0, noise_sigma, background.shape)
    sx, sy = STATIC_BALL
    image[sy : sy + 4, sx : sx + 4] = 250
    if moving is not None:
        mx, my = round(moving[0]), round(moving[1])
        image[my : my + 4, mx : mx + 4] = 250
    return np.clip(image, 0, 255).astype(np.uint8)


def ball_at(index: int) -> tuple[float, float]:
    return (100 + 9 * index, 200 - 3 * index)  # 9.5 px a frame


def test_a_moving_4px_blob_is_the_only_candidate_on_a_static_textured_clip() -> None:
    background = textured_background()
    gate = MotionGate(MotionConfig(enabled=True))
    results = [gate.update(clip_frame(background, i, moving=ball_at(i))) for i in range(12)]

    assert [r.is_usable for r in results[:3]] == [False, False, True]  # needs three frames
    for index, result in enumerate(results[2:], start=2):
        assert result.is_usable
        assert len(result.blobs) == 1, (index, result.blobs)
        blob = result.blobs[0]
        x, y = ball_at(index)
        # the blob centre is the ball's centre now (not its ghost), within the reduction
        assert np.hypot(blob.x - (x + 1.5), blob.y - (y + 1.5)) <= 2.0


def test_sensor_noise_and_a_static_blob_are_not_candidates() -> None:
    background = textured_background()
    gate = MotionGate(MotionConfig(enabled=True))
    results = [gate.update(clip_frame(background, i, noise_sigma=6.0)) for i in range(20)]

    assert all(r.is_usable for r in results[2:])
    assert [r.blobs for r in results[2:]] == [()] * 18


def test_a_player_sized_blob_is_not_a_ball_and_a_cut_has_no_verdict() -> None:
    background = textured_background()
    gate = MotionGate(MotionConfig(enabled=True, max_blob_px=32))
    for index in range(3):
        image = clip_frame(background, index)
        image[100:180, 200 + 20 * index : 240 + 20 * index] = 230  # a 40x80 "player"
        result = gate.update(image)
    assert result.is_usable
    assert result.blobs == ()

    cut = gate.update(clip_frame(textured_background(seed=9), 3))
    assert not cut.is_usable  # everything changed: the search must fall back to tiles


def test_the_search_crops_around_the_moving_ball_and_sweeps_one_tile() -> None:
    background = textured_background()
    detector = WhiteBoxDetector(resolution=128)
    motion = MotionConfig(enabled=True, sweep_tiles_per_frame=1)
    search = BallSearch(detector, SearchConfig(motion=motion))
    steps = []
    for index in range(4):
        image = clip_frame(background, index, moving=ball_at(index))
        image[image == 255] = 254  # only the ball is pure white for the white-box detector
        mx, my = (round(v) for v in ball_at(index))
        image[my : my + 4, mx : mx + 4] = 255
        steps.append(search.step(Frame(index, image, index / 30, 0), None))

    assert steps[0].mode is SearchMode.TILES  # no verdict yet: all tiles
    last = steps[-1]
    assert last.mode is SearchMode.MOTION
    assert (last.candidates, last.windows) == (1, 2)  # one crop + one sweep tile
    assert last.pixels == 2 * 128 * 128
    x, y = ball_at(3)
    assert len(last.detections) == 1
    assert np.allclose(last.detections.centers[0], (x + 2, y + 2), atol=0.5)

"""The motion input: grey stacks of now and the two pictures before, in datasets and the search."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from configs.app_config import SearchConfig
from perception.copy_paste import BallLook, SpriteStyle, render_sprite
from perception.dataset import (
    CropRecipe,
    DatasetError,
    frames_from_synth,
    read_frame_input,
    write_samples,
)
from perception.dataset_cli import labelled_frames, run_dataset
from perception.detections import Detections
from perception.frame_input import FrameStack, as_input, frame_input_of, median_change, stack
from perception.options import FrameInput, add_dataset_arguments
from perception.real_data import paste_into, paste_moving
from perception.search import BallSearch
from stream.frame import Frame
from tests.fakes import WhiteBoxDetector


def picture(value: int, size: tuple[int, int] = (48, 64)) -> NDArray[np.uint8]:
    """A flat BGR frame with a little texture, so two values differ at every pixel."""
    image = np.full((*size, 3), value, np.uint8)
    image[::7, ::5] = value // 2
    return image


def grey_of(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def test_channels_hold_now_one_and_two_pictures_ago() -> None:
    frames = FrameStack()
    a, b, c, d = (picture(v) for v in (40, 90, 140, 190))

    first = frames.push(a)
    frames.push(b)
    frames.push(c)
    fourth = frames.push(d)

    # the first frame has nothing before it: its grey picture three times (no motion)
    for k in range(3):
        np.testing.assert_array_equal(first[:, :, k], grey_of(a))
    np.testing.assert_array_equal(fourth[:, :, 0], grey_of(d))
    np.testing.assert_array_equal(fourth[:, :, 1], grey_of(c))
    np.testing.assert_array_equal(fourth[:, :, 2], grey_of(b))


def test_a_repeated_picture_keeps_the_pictures_before_the_one_it_repeats() -> None:
    # 25 fps footage sent at 30 repeats a picture: the ball did not move between the copies
    frames = FrameStack()
    a, b, c = (picture(v) for v in (40, 90, 140))
    for image in (a, b, c):
        frames.push(image)

    repeated = frames.push(c.copy())

    np.testing.assert_array_equal(repeated[:, :, 0], grey_of(c))
    np.testing.assert_array_equal(repeated[:, :, 1], grey_of(b))
    np.testing.assert_array_equal(repeated[:, :, 2], grey_of(a))


def test_reset_and_a_new_frame_size_start_the_history_again() -> None:
    frames = FrameStack()
    frames.push(picture(40))
    frames.push(picture(90))

    frames.reset()
    after_reset = frames.push(picture(140))
    resized = frames.push(picture(200, size=(32, 32)))

    for stacked, value in ((after_reset, 140), (resized, 200)):
        expected = grey_of(picture(value, size=stacked.shape[:2]))
        for k in range(3):
            np.testing.assert_array_equal(stacked[:, :, k], expected)


def test_rgb_frames_pass_through_unchanged() -> None:
    images = [picture(40), picture(90)]

    passed = list(as_input(images, FrameInput.RGB))

    assert all(p is i for p, i in zip(passed, images, strict=True))


def test_a_pasted_moving_ball_is_one_step_further_back_in_each_older_picture() -> None:
    background = np.full((64, 64, 3), 60, np.uint8)
    style = SpriteStyle(
        BallLook.SHUTTLE, 5.0, streak_px=0.0, angle_rad=0.0, occlusion=0.0, brightness=1.0
    )
    sprite = render_sprite(style, np.random.default_rng(0))

    stacked = paste_moving(background, sprite, at=(40.0, 30.0), step=(8.0, -4.0))

    for k, (x, y) in enumerate([(40, 30), (32, 34), (24, 38)]):
        channel = stacked[:, :, k].astype(np.int16)
        changed = np.abs(channel - 60) > 20
        ys, xs = np.nonzero(changed)
        assert len(xs) > 0
        assert abs(xs.mean() - x) <= 1.0
        assert abs(ys.mean() - y) <= 1.0


def centres_per_picture(stacked: NDArray[np.uint8], value: int) -> list[tuple[float, float]]:
    """Where each picture of a grey stack differs from its flat ``value`` background."""
    centres = []
    for k in range(stacked.shape[2]):
        ys, xs = np.nonzero(np.abs(stacked[:, :, k].astype(np.int16) - value) > 20)
        assert len(xs) > 0, f"no ball in picture {k}"
        centres.append((float(xs.mean()), float(ys.mean())))
    return centres


@pytest.mark.parametrize("at_rest", [0.0, 1.0])
def test_a_ball_pasted_at_rest_lies_at_its_label_in_every_picture(at_rest: float) -> None:
    background = np.full((64, 64, 3), 60, np.uint8)
    recipe = CropRecipe(resolution=64, paste_at_rest=at_rest)

    stack = FrameInput.GREY_STACK
    stacked, ball = paste_into(background, recipe, np.random.default_rng(3), 1.0, stack)
    again, same = paste_into(background, recipe, np.random.default_rng(3), 1.0, stack)

    assert np.array_equal(stacked, again)  # deterministic per seed
    assert same == ball
    centres = centres_per_picture(stacked, 60)
    assert abs(centres[0][0] - ball.x) <= 1.5
    assert abs(centres[0][1] - ball.y) <= 1.5
    travel = max(np.hypot(x - centres[0][0], y - centres[0][1]) for x, y in centres[1:])
    if at_rest:
        assert travel <= 0.5
    else:
        assert travel >= 1.5  # a moving paste steps at least 2 px a picture


def test_dataset_refuses_a_share_at_rest_outside_0_to_1(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    args = parser.parse_args(
        ["--out", str(tmp_path / "d"), "--synth", "1", "--paste-at-rest", "1.5"]
    )

    with pytest.raises(DatasetError, match="--paste-at-rest"):
        run_dataset(args)


class StackSeeingDetector(WhiteBoxDetector):
    """A white-box detector that says it sees grey stacks, and keeps the crops it got."""

    def __init__(self, frame_input: FrameInput) -> None:
        super().__init__(resolution=64)
        self._frame_input = frame_input
        self.images: list[NDArray[np.uint8]] = []

    @property
    def frame_input(self) -> FrameInput:
        return self._frame_input

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        self.images += [image.copy() for image in images]
        return super().detect(images)


@pytest.mark.parametrize("shown", list(FrameInput))
def test_the_search_feeds_each_detector_the_frame_input_it_was_trained_on(
    shown: FrameInput,
) -> None:
    detector = StackSeeingDetector(shown)
    search = BallSearch(detector, SearchConfig(track_enabled=False))
    images = [picture(v, size=(64, 64)) for v in (40, 90, 140)]

    for index, image in enumerate(images):
        search.step(Frame(index, image, index / 30.0, 0), None)

    assert frame_input_of(detector) is shown
    last = detector.images[-1]
    if shown is FrameInput.RGB:
        np.testing.assert_array_equal(last, images[2])
    else:
        for k, source in enumerate(reversed(images)):
            np.testing.assert_array_equal(last[:, :, k], grey_of(source))


def test_a_detector_that_does_not_say_sees_rgb() -> None:
    assert frame_input_of(WhiteBoxDetector()) is FrameInput.RGB


def test_swapping_to_a_detector_with_another_frame_input_is_refused() -> None:
    search = BallSearch(StackSeeingDetector(FrameInput.GREY_STACK), SearchConfig())

    with pytest.raises(ValueError, match="sees grey-stack frames for one that sees rgb"):
        search.swap_detector(StackSeeingDetector(FrameInput.RGB))


def test_a_grey_stack_folder_records_what_its_crops_show(tmp_path: Path) -> None:
    from perception.dataset import samples_from_frames

    frames = frames_from_synth([31], 12, 4, FrameInput.GREY_STACK)
    samples = samples_from_frames(frames, CropRecipe(resolution=64), seed=0)

    write_samples(samples, tmp_path, {}, FrameInput.GREY_STACK)

    assert read_frame_input(tmp_path) is FrameInput.GREY_STACK


def test_stills_with_the_motion_input_are_refused_with_the_reason(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    args = parser.parse_args(
        ["--out", str(tmp_path / "out"), "--yolo", str(tmp_path), "--frame-input", "grey-stack"]
    )

    with pytest.raises(DatasetError, match="grey-stack needs consecutive frames"):
        run_dataset(args)
    assert not (tmp_path / "out").exists()


def _yolo_folder(root: Path, frames: dict[str, int]) -> Path:
    """A YOLO split folder whose images are flat grey pictures named after their frames."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for name, value in frames.items():
        image = np.full((64, 64, 3), value, np.uint8)
        cv2.imwrite(str(root / "images" / f"{name}.png"), image)
        (root / "labels" / f"{name}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    return root


def test_a_sequence_export_is_stacked_in_frame_order_across_its_split_folders(
    tmp_path: Path,
) -> None:
    # one clip's frames scattered over train and valid, as Roboflow exports them
    train = _yolo_folder(tmp_path / "set" / "train", {"rally_0000": 40, "rally_0002": 120})
    valid = _yolo_folder(tmp_path / "set" / "valid", {"rally_0001": 80, "rally_0003": 160})
    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    sources = ["--yolo", str(train), "--yolo", str(valid), "--sequence"]
    args = parser.parse_args(
        ["--out", str(tmp_path / "out"), *sources, "--frame-input", "grey-stack"]
    )

    frames = {f.frame_index: f for f in labelled_frames(args, CropRecipe(resolution=64))}

    # each frame's channels: now, the clip's previous frame, the one before (any folder)
    assert sorted(frames) == [0, 1, 2, 3]
    assert tuple(frames[3].image[0, 0]) == (160, 120, 80)
    assert tuple(frames[2].image[0, 0]) == (120, 80, 40)
    # and each keeps its folder's group, so a held-out folder stays held out
    assert frames[1].group == "set-valid-rally"
    assert frames[2].group == "set-train-rally"


@pytest.mark.parametrize("count", [1, 2, 3, 4, 101, 640 * 360])
@pytest.mark.parametrize("levels", [2, 40, 256])
def test_median_change_is_numpys_median(count: int, levels: int) -> None:
    change = np.random.default_rng(count + levels).integers(0, levels, count).astype(np.int16)
    assert median_change(change) == float(np.median(change))


def test_the_stack_interleaves_now_previous_and_older_as_blue_green_red() -> None:
    rng = np.random.default_rng(3)
    older, previous, now = (rng.integers(0, 256, (9, 7), dtype=np.uint8) for _ in range(3))
    stacked = stack(older, previous, now)
    assert stacked.shape == (9, 7, 3)
    assert stacked.dtype == np.uint8
    assert stacked.flags.c_contiguous
    np.testing.assert_array_equal(stacked, np.stack([now, previous, older], axis=-1))

"""Copy-paste synthesis, still-clutter negatives and the real-footage dataset options."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from perception.copy_paste import BallLook, draw_style, paste, render_sprite, scene_brightness
from perception.dataset import CropRecipe, LabelledFrame
from perception.dataset_cli import choose_splits, run_dataset
from perception.options import add_dataset_arguments
from perception.real_data import pasted_samples, static_negatives, still_clip, unstretched_frame
from perception.weights import (
    REAL_MODEL_NAME,
    STILL_MODEL_NAME,
    SYNTH_MODEL_NAME,
    choose_weights,
)
from stream.frame import BallTruth

RECIPE = CropRecipe(resolution=64)


def textured(height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(40, 90, size=(height, width, 3), dtype=np.uint8)
    cv2.putText(image, "3-1", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
    return image


def labelled(seed: int, ball: tuple[float, float] | None) -> LabelledFrame:
    balls = (BallTruth(True, *ball, radius_px=3.0),) if ball else ()
    return LabelledFrame(textured(seed=seed), balls, f"clip-{seed}", seed)


def centroid(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    weight = np.abs(after.astype(np.float32) - before.astype(np.float32)).sum(axis=2)
    ys, xs = np.nonzero(weight)
    w = weight[ys, xs]
    return float((xs + 0.5) @ w / w.sum()), float((ys + 0.5) @ w / w.sum())


@pytest.mark.parametrize("look", list(BallLook), ids=[look.value for look in BallLook])
def test_label_sits_on_the_pasted_centre(look: BallLook) -> None:
    # given a flat background and unoccluded balls of every look, sharp and streaked
    background = np.full((64, 64, 3), 70, dtype=np.uint8)
    rng = np.random.default_rng(3)
    for streak in (0.0, 9.0):
        style = dataclasses.replace(
            draw_style(rng, 1.0), look=look, occlusion=0.0, streak_px=streak, diameter_px=6.0
        )
        sprite = render_sprite(style, rng)

        # when it is pasted at a sub-pixel position
        pasted = paste(background, sprite, 30.3, 25.8)

        # then the pasted pixels are centred on the label (within a tenth of the tolerance)
        x, y = centroid(background, pasted)
        assert abs(x - 30.3) < 0.4
        assert abs(y - 25.8) < 0.4


def test_ball_sizes_cover_3_to_15_px_and_half_are_streaked() -> None:
    rng = np.random.default_rng(0)
    styles = [draw_style(rng, 1.0) for _ in range(400)]
    sizes = np.array([s.diameter_px for s in styles])
    assert sizes.min() >= 3.0
    assert sizes.max() <= 15.0
    assert sizes.min() < 3.5
    assert sizes.max() > 13.0
    streaked = sum(s.streak_px > 0 for s in styles) / len(styles)
    assert 0.4 < streaked < 0.6
    assert {s.look for s in styles} == set(BallLook)


def test_dim_scenes_get_dimmer_balls() -> None:
    dark = np.full((64, 64, 3), 20, dtype=np.uint8)
    bright = np.full((64, 64, 3), 200, dtype=np.uint8)
    assert scene_brightness(dark) < scene_brightness(bright)


def test_pasted_samples_are_deterministic_per_seed_and_avoid_the_real_ball() -> None:
    # given labelled frames whose real ball sits top-left
    frames = [labelled(seed, (20.0, 20.0)) for seed in range(3)]

    # when pasted crops are drawn twice with one seed and once with another
    first = list(pasted_samples(frames, [], 12, RECIPE, seed=5))
    again = list(pasted_samples(frames, [], 12, RECIPE, seed=5))
    other = list(pasted_samples(frames, [], 12, RECIPE, seed=6))

    # then the same seed gives the same pixels and labels, another seed does not
    assert len(first) == 12
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.image, b.image)
        assert a.balls == b.balls
    assert any(not np.array_equal(a.image, c.image) for a, c in zip(first, other, strict=True))
    # and each crop holds exactly one ball, the pasted one, inside the crop
    for sample in first:
        assert len(sample.balls) == 1
        assert 0 <= sample.balls[0].x < 64
        assert 0 <= sample.balls[0].y < 64


def moving_clip(frames: int = 12) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    base = textured(seed=9)
    images, centres = [], []
    for index in range(frames):
        image = base.copy()
        centre = (40 + 20 * index, 150)
        cv2.circle(image, centre, 4, (255, 255, 255), -1)
        images.append(image)
        centres.append(centre)
    return images, centres


def test_still_negatives_never_hold_the_moving_ball() -> None:
    # given a clip with a static scoreboard and a moving ball
    images, centres = moving_clip()
    clip = still_clip(images, "match")

    # then the ball's pixels are never still
    for mask, (x, y) in zip(clip.still, centres, strict=True):
        assert not mask[y, x]
    # and the clip gives the negatives asked for, all unlabelled
    samples = list(static_negatives([clip], 40, RECIPE, seed=1))
    assert len(samples) == 40
    assert all(sample.balls == () for sample in samples)


def test_still_negatives_are_where_the_frame_did_not_change() -> None:
    # given the same clip: each negative must equal the ball-free base where it was cut
    images, _ = moving_clip()
    clip = still_clip(images, "match")
    for sample in static_negatives([clip], 20, RECIPE, seed=2):
        frame = images[sample.frame_index]
        # find the crop in the frame: it must equal the static base there (no ball pixels)
        base = textured(seed=9)
        result = cv2.matchTemplate(frame, sample.image, cv2.TM_SQDIFF)
        _, _, (left, top), _ = cv2.minMaxLoc(result)
        assert np.array_equal(base[top : top + 64, left : left + 64], sample.image)


def test_unstretched_export_labels_scale_with_the_image() -> None:
    frame = LabelledFrame(
        np.zeros((640, 640, 3), np.uint8), (BallTruth(True, 320.0, 160.0, 7.0),), "v", 0
    )
    back = unstretched_frame(frame, 1280, 720)
    assert back.image.shape == (720, 1280, 3)
    assert back.balls[0].x == pytest.approx(640.0)
    assert back.balls[0].y == pytest.approx(180.0)


@pytest.mark.parametrize(
    ("configured", "kind", "expected"),
    [
        pytest.param(None, "synth", SYNTH_MODEL_NAME, id="synth-gets-synthetic-model"),
        pytest.param(None, "file", REAL_MODEL_NAME, id="file-gets-real-model"),
        pytest.param(None, "camera", REAL_MODEL_NAME, id="camera-gets-real-model"),
        pytest.param(None, "network", REAL_MODEL_NAME, id="stream-gets-real-model"),
        pytest.param(None, "image", STILL_MODEL_NAME, id="picture-gets-still-model"),
        pytest.param("mine.safetensors", "file", "mine.safetensors", id="weights-flag-wins"),
        pytest.param("mine.safetensors", "image", "mine.safetensors", id="weights-flag-wins-2"),
    ],
)
def test_default_weights_per_source_kind(
    tmp_path: Path, configured: str | None, kind: str, expected: str
) -> None:
    for name in (SYNTH_MODEL_NAME, REAL_MODEL_NAME, STILL_MODEL_NAME):
        (tmp_path / name).write_bytes(b"x")
    choice = choose_weights(configured, kind, tmp_path)
    assert choice.path is not None
    assert choice.path.name == expected
    assert choice.reason


def test_default_weights_fall_back_when_a_model_is_missing(tmp_path: Path) -> None:
    (tmp_path / SYNTH_MODEL_NAME).write_bytes(b"x")
    assert choose_weights(None, "file", tmp_path).path == tmp_path / SYNTH_MODEL_NAME
    assert "missing" in choose_weights(None, "file", tmp_path).reason
    assert choose_weights(None, "file", tmp_path / "none").path is None
    # a picture without the still model: the real-footage model, then the synthetic one
    assert choose_weights(None, "image", tmp_path).path == tmp_path / SYNTH_MODEL_NAME
    (tmp_path / REAL_MODEL_NAME).write_bytes(b"x")
    assert choose_weights(None, "image", tmp_path).path == tmp_path / REAL_MODEL_NAME
    assert "still model is missing" in choose_weights(None, "image", tmp_path).reason


def dataset_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    return parser.parse_args(argv)


def test_hold_out_keeps_named_groups_out_of_training(tmp_path: Path) -> None:
    args = dataset_args(["--out", str(tmp_path), "--hold-out", "clip@2", "--hold-out", "v-*"])
    splits = choose_splits(["clip@0", "clip@1", "clip@2", "v-test-a", "w-valid-a"], args)
    assert {g for g, s in splits.items() if s.value == "valid"} == {"clip@2", "v-test-a"}
    with pytest.raises(Exception, match="matches no group"):
        choose_splits(["a"], dataset_args(["--out", str(tmp_path), "--hold-out", "zz*"]))


def test_dataset_with_pasted_balls_writes_labels_on_the_pasted_centres(tmp_path: Path) -> None:
    # given a synthetic source and pasted balls on its ball-free windows
    args = dataset_args(
        ["--out", str(tmp_path), "--synth", "2", "--synth-frames", "6", "--hold-out", "synth-1001",
         "--paste", "5", "--resolution", "64"]
    )  # fmt: skip

    # when the dataset is built
    assert run_dataset(args) == 0

    # then train holds the pasted crops (one ball each) and valid only the held-out match
    train = json.loads((tmp_path / "train" / "_annotations.coco.json").read_text())
    valid = json.loads((tmp_path / "valid" / "_annotations.coco.json").read_text())
    assert all("synth-1001" in image["file_name"] for image in valid["images"])
    assert not any("synth-1001" in image["file_name"] for image in train["images"])
    assert len(train["images"]) >= 5

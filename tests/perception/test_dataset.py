"""The training-set builder: native-scale crops, per-clip splits, COCO folders."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from perception.dataset import (
    ANNOTATION_FILE,
    CocoWriter,
    CropBall,
    CropRecipe,
    CropSample,
    DatasetError,
    LabelledFrame,
    Split,
    assign_splits,
    build_dataset,
    export_group,
    frames_from_clip,
    frames_from_coco,
    frames_from_synth,
    frames_from_yolo,
    negative_crop,
    positive_crop,
    read_coco_split,
    samples_from_frames,
    synth_crop_stream,
)
from perception.dataset_cli import run_dataset, yolo_export_frames
from perception.frame_input import FrameStack
from perception.options import FrameInput, add_dataset_arguments
from stream.frame import BallTruth
from stream.synth import SynthMatch, SynthParams

MARK = np.array([255, 0, 255], dtype=np.uint8)  # magenta: appears nowhere else


def marked_frame(width: int, height: int, x: int, y: int) -> NDArray[np.uint8]:
    """A grey frame with one magenta pixel at (x, y)."""
    image = np.full((height, width, 3), 90, dtype=np.uint8)
    image[y, x] = MARK
    return image


@pytest.mark.parametrize(
    ("x", "y"),
    [
        pytest.param(320, 240, id="middle"),
        pytest.param(3, 4, id="top-left-corner"),
        pytest.param(638, 477, id="bottom-right-corner"),
        pytest.param(639, 100, id="right-edge"),
    ],
)
def test_positive_crop_puts_the_labelled_centre_on_the_right_pixel(x: int, y: int) -> None:
    # given a frame with a marked pixel at the label
    frame = LabelledFrame(marked_frame(640, 480, x, y), (BallTruth(True, x, y, 3.0),), "clip", 0)
    recipe = CropRecipe(resolution=128)
    rng = np.random.default_rng(0)

    for _ in range(20):
        # when cropping
        sample = positive_crop(frame, frame.balls[0], recipe, rng)

        # then the crop's label sits on the marked pixel, inside the crop, at native scale
        assert sample.image.shape == (128, 128, 3)
        (ball,) = sample.balls
        assert 0 <= ball.x < 128
        assert 0 <= ball.y < 128
        assert (sample.image[round(ball.y), round(ball.x)] == MARK).all()
        assert (sample.image == MARK).all(axis=2).sum() == 1


def test_positive_crops_spread_the_ball_over_the_crop() -> None:
    frame = LabelledFrame(
        marked_frame(1280, 720, 600, 300), (BallTruth(True, 600, 300, 4.0),), "c", 0
    )
    rng = np.random.default_rng(1)

    centres = [positive_crop(frame, frame.balls[0], CropRecipe(), rng).balls[0] for _ in range(200)]

    xs = [ball.x for ball in centres]
    ys = [ball.y for ball in centres]
    assert min(xs) < 25
    assert max(xs) > 103
    assert min(ys) < 25
    assert max(ys) > 103


def test_every_ball_inside_a_crop_is_labelled() -> None:
    balls = (BallTruth(True, 200, 200, 3.0), BallTruth(True, 230, 210, 3.0))
    frame = LabelledFrame(np.zeros((480, 640, 3), np.uint8), balls, "c", 0)

    sample = positive_crop(frame, balls[0], CropRecipe(resolution=256), np.random.default_rng(2))

    assert len(sample.balls) == 2


def test_negative_crops_hold_no_ball() -> None:
    image = marked_frame(640, 480, 500, 60)
    frame = LabelledFrame(image, (BallTruth(True, 500, 60, 4.0),), "c", 0)
    rng = np.random.default_rng(3)

    negatives = [negative_crop(frame, CropRecipe(), rng) for _ in range(50)]

    found = [n for n in negatives if n is not None]
    assert len(found) > 25
    assert all(not n.balls and not (n.image == MARK).all(axis=2).any() for n in found)


def test_pasted_copies_are_labelled_where_they_were_pasted() -> None:
    image = np.full((480, 640, 3), 60, dtype=np.uint8)
    yy, xx = np.mgrid[0:480, 0:640]
    image[(xx - 300) ** 2 + (yy - 200) ** 2 <= 16] = 250  # a white ball of radius 4
    frame = LabelledFrame(image, (BallTruth(True, 300, 200, 4.0),), "c", 0)
    recipe = CropRecipe(extra_balls_max=2)
    rng = np.random.default_rng(4)

    samples = [positive_crop(frame, frame.balls[0], recipe, rng) for _ in range(10)]

    assert any(len(s.balls) > 1 for s in samples)
    for sample in samples:
        for ball in sample.balls:
            assert sample.image[round(ball.y), round(ball.x)].min() > 200


def test_splits_keep_each_clip_in_one_split() -> None:
    groups = [f"clip{i}" for i in range(10) for _ in range(30)]  # 30 frames per clip

    splits = assign_splits(groups, valid_fraction=0.2, test_fraction=0.1)

    assert set(splits) == {f"clip{i}" for i in range(10)}
    assert sum(s is Split.VALID for s in splits.values()) == 2
    assert sum(s is Split.TEST for s in splits.values()) == 1
    assert assign_splits(list(reversed(groups)), 0.2, 0.1) == splits


def test_one_clip_cannot_be_split() -> None:
    with pytest.raises(DatasetError, match="need at least 2 clips"):
        assign_splits(["only"] * 50, valid_fraction=0.2)


def test_built_dataset_never_puts_one_clip_in_train_and_valid(tmp_path: Path) -> None:
    # given three short synthetic matches
    frames = frames_from_synth([11, 12, 13], frames_per_match=40, stride=4)
    splits = assign_splits(["synth-11", "synth-12", "synth-13"], valid_fraction=0.34)

    # when building the folder
    report = build_dataset(frames, tmp_path, CropRecipe(resolution=64), splits)

    # then each split's images come only from its own matches
    groups_by_split = {}
    for split in (Split.TRAIN, Split.VALID):
        document = json.loads((tmp_path / split.value / ANNOTATION_FILE).read_text())
        names = {img["file_name"].rsplit("_", 2)[0] for img in document["images"]}
        groups_by_split[split] = names
        assert document["categories"] == [{"id": 0, "name": "ball", "supercategory": "none"}]
    assert groups_by_split[Split.TRAIN].isdisjoint(groups_by_split[Split.VALID])
    assert report.images[Split.VALID] > 0
    assert report.images[Split.TRAIN] > 0
    assert set(report.groups[Split.TRAIN]).isdisjoint(report.groups[Split.VALID])


def test_coco_folder_round_trips_the_ball_centres(tmp_path: Path) -> None:
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    sample = CropSample(image, (CropBall(20.5, 30.25, 12.0),), "clipA", 7)
    writer = CocoWriter(tmp_path)
    writer.add(Split.TRAIN, sample)
    writer.add(Split.TRAIN, CropSample(image, (), "clipA", 8))
    writer.close()

    read = read_coco_split(tmp_path, "train")

    assert [len(s.balls) for s in read] == [1, 0]
    assert read[0].balls[0].x == pytest.approx(20.5, abs=0.01)
    assert read[0].balls[0].y == pytest.approx(30.25, abs=0.01)
    assert read[0].image.shape == (64, 64, 3)


def test_clip_frames_follow_the_labels_and_the_given_box() -> None:
    images = [marked_frame(320, 240, 100 + i, 50) for i in range(6)]
    truths = [BallTruth(True, 100 + i, 50) for i in range(5)] + [BallTruth(False)]

    frames = list(frames_from_clip(images, truths, "rally", box_px=10.0, stride=2))

    assert [f.frame_index for f in frames] == [0, 2, 4]
    assert frames[1].balls == (BallTruth(True, 102, 50, 4.0),)
    samples = list(samples_from_frames(frames, CropRecipe(negatives_per_positive=0), seed=0))
    assert all((s.image[round(s.balls[0].y), round(s.balls[0].x)] == MARK).all() for s in samples)


@pytest.mark.parametrize(
    ("name", "group"),
    [
        pytest.param("match3_000123.jpg", "match3", id="frame-dump"),
        pytest.param("rally-07_jpg.rf.abc123.jpg", "rally", id="roboflow"),
        pytest.param("clip.png", "clip", id="no-number"),
    ],
)
def test_export_images_are_grouped_by_clip(name: str, group: str) -> None:
    assert export_group(name) == group


def test_coco_and_yolo_exports_become_labelled_frames(tmp_path: Path) -> None:
    picture = np.zeros((100, 200, 3), dtype=np.uint8)
    coco = tmp_path / "coco"
    coco.mkdir()
    Image.fromarray(picture).save(coco / "a_001.jpg")
    document = {
        "images": [{"id": 1, "file_name": "a_001.jpg", "width": 200, "height": 100}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [40, 20, 10, 10]}],
        "categories": [{"id": 2, "name": "ball"}, {"id": 3, "name": "player"}],
    }
    (coco / ANNOTATION_FILE).write_text(json.dumps(document))
    yolo = tmp_path / "yolo"
    (yolo / "images").mkdir(parents=True)
    (yolo / "labels").mkdir()
    Image.fromarray(picture).save(yolo / "images" / "b_002.png")
    (yolo / "labels" / "b_002.txt").write_text("0 0.5 0.5 0.05 0.1\n1 0.1 0.1 0.2 0.2\n")

    (from_coco,) = frames_from_coco(coco, ["ball"])
    (from_yolo,) = frames_from_yolo(yolo, [0])

    assert from_coco.balls == (BallTruth(True, 45.0, 25.0, 5.0),)
    assert from_coco.group == "a"
    assert len(from_yolo.balls) == 1
    assert (from_yolo.balls[0].x, from_yolo.balls[0].y) == pytest.approx((100.0, 50.0))


def test_a_stretched_yolo_export_comes_back_at_its_size_named_by_its_folders(
    tmp_path: Path,
) -> None:
    # a 1280x720 frame stretched to 640x640, the ball at (640, 180) in the original
    export = tmp_path / "volley" / "valid"
    (export / "images").mkdir(parents=True)
    (export / "labels").mkdir()
    Image.fromarray(np.zeros((640, 640, 3), np.uint8)).save(export / "images" / "c_003.png")
    (export / "labels" / "c_003.txt").write_text("0 0.5 0.25 0.01 0.01\n")

    ((prefix, frame),) = yolo_export_frames([], [(export, "1280x720")])

    assert prefix == "volley-valid"  # the set and split: a held-out folder stays apart
    assert frame.image.shape[:2] == (720, 1280)
    assert (frame.balls[0].x, frame.balls[0].y) == pytest.approx((640.0, 180.0))


def test_dataset_command_builds_a_synth_folder(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    args = parser.parse_args(
        [
            "--out",
            str(tmp_path),
            "--synth",
            "2",
            "--synth-frames",
            "20",
            "--stride",
            "5",
            "--resolution",
            "64",
        ]
    )

    assert run_dataset(args) == 0

    assert len(read_coco_split(tmp_path, "train")) > 0
    assert len(read_coco_split(tmp_path, "valid")) > 0


def test_dataset_command_without_a_source_says_what_to_pass(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)

    with pytest.raises(DatasetError, match="--clip VIDEO LABELS"):
        run_dataset(parser.parse_args(["--out", str(tmp_path)]))


@pytest.mark.slow
def test_real_clips_are_split_by_clip(real_data: Path, tmp_path: Path) -> None:
    clips = sorted((real_data / "badminton_bwf").glob("*.mp4"))
    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    argv = ["--out", str(tmp_path), "--stride", "10", "--valid-fraction", "0.5"]
    for clip in clips:
        argv += ["--clip", str(clip), str(clip.with_suffix(".csv"))]

    assert run_dataset(parser.parse_args(argv)) == 0

    train = read_coco_split(tmp_path, "train")
    valid = read_coco_split(tmp_path, "valid")
    assert {s.group for s in train}.isdisjoint({s.group for s in valid})
    assert any(s.balls for s in train)
    assert any(s.balls for s in valid)
    assert {s.image.shape for s in train + valid} == {(128, 128, 3)}


def _crowded_positives(crowded_share: float, seed: int) -> tuple[float, list[tuple[str, int]]]:
    """Share of 200 positive crops whose frame has the ball by a player, and their frames."""
    matches = {s: SynthMatch(SynthParams(seed=s, pan=s % 2 == 1)) for s in (31, 32)}
    stream = synth_crop_stream([31, 32], CropRecipe(), seed, 600, crowded_share=crowded_share)
    frames: list[tuple[str, int]] = []
    for sample in stream:
        if sample.balls:
            frames.append((sample.group, sample.frame_index))
        if len(frames) == 200:
            break
    near = [matches[int(g.split("-")[1])].ball_near_player(i, 12.0) for g, i in frames]
    return sum(near) / len(near), frames


def test_synth_crops_for_a_motion_model_show_each_frame_with_the_two_before() -> None:
    # what QAT of a grey-stack model fine-tunes on when given synth: data
    match = SynthMatch(SynthParams(seed=32))
    recipe = CropRecipe(resolution=64)
    stream = synth_crop_stream([32], recipe, 5, 600, frame_input=FrameInput.GREY_STACK)
    positives = [s for s in itertools.islice(stream, 30) if s.balls][:8]
    assert len(positives) >= 5

    moved = 0
    for sample in positives:
        frames, index = FrameStack(), sample.frame_index
        pictures = [frames.push(match.frame(i)[0]) for i in range(max(index - 2, 0), index + 1)]
        truth, ball = match.frame(index)[1], sample.balls[0]
        left, top = round(truth.x - ball.x), round(truth.y - ball.y)
        np.testing.assert_array_equal(sample.image, pictures[-1][top : top + 64, left : left + 64])
        x, y = int(ball.x), int(ball.y)
        moved += abs(int(sample.image[y, x, 0]) - int(sample.image[y, x, 2])) > 20
    # the ball moved between the pictures: now (blue) and two frames ago (red) differ there
    assert moved >= len(positives) - 1


def test_crowded_draws_show_the_ball_by_a_player_and_stay_deterministic() -> None:
    plain, _ = _crowded_positives(0.0, seed=3)
    crowded, frames = _crowded_positives(1.0, seed=3)

    assert plain < 0.3
    assert crowded > 0.9
    assert _crowded_positives(1.0, seed=3)[1] == frames

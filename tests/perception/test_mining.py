"""Hard-negative mining: crops round a model's confident mistakes, never round a labelled ball."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from perception.dataset import CropRecipe, DatasetError, LabelledFrame
from perception.dataset.mining import MinePlan, mined_negatives, mistakes_of
from perception.dataset_cli import run_dataset
from perception.detections import Detections
from perception.options import add_dataset_arguments
from stream.frame import BallTruth

RECIPE = CropRecipe(resolution=64)
BALL = BallTruth(is_visible=True, x=40.0, y=40.0, radius_px=3.0)
ICON = (200.0, 150.0)  # where the fake model fires although no ball is there


def box(x: float, y: float, half: float = 4.0) -> list[float]:
    return [x - half, y - half, x + half, y + half]


def numbered_frame(index: int) -> LabelledFrame:
    """A 240x320 frame whose pixels say where they are (value = column // 2, row // 2)."""
    rows, cols = np.mgrid[0:240, 0:320]
    image: NDArray[np.uint8] = np.stack([cols // 2, rows // 2, np.full_like(rows, index)], axis=2)
    return LabelledFrame(image.astype(np.uint8), (BALL,), "clip", index)


def model_answer(frame: LabelledFrame) -> Detections:
    """Sure of the icon, a little less of the ball."""
    return Detections.from_lists([box(*ICON), box(BALL.x, BALL.y)], [0.9, 0.8])


def test_a_detection_on_the_labelled_ball_is_not_a_mistake_one_elsewhere_is() -> None:
    frame = numbered_frame(0)
    found = Detections.from_lists(
        [box(BALL.x + 2.0, BALL.y), box(*ICON), box(100.0, 100.0), box(10.0, 200.0)],
        [0.95, 0.6, 0.2, 0.7],
    )

    mistakes = mistakes_of(found, frame, RECIPE, min_score=0.3, index=0)

    assert [(m.x, m.y, m.score) for m in mistakes] == [
        (10.0, 200.0, pytest.approx(0.7)),
        (ICON[0], ICON[1], pytest.approx(0.6)),
    ]  # surest first; the one on the ball and the one under min_score are left out


def test_mined_crops_hold_the_mistake_inside_and_no_ball() -> None:
    frames = [numbered_frame(i) for i in range(5)]

    crops = list(mined_negatives(frames, model_answer, MinePlan(12, seed=3), RECIPE))

    assert len(crops) == 12
    for crop in crops:
        assert crop.balls == ()
        # a pixel's value says where it is in the frame: find the icon's pixel in the crop
        left, top = int(crop.image[0, 0, 0]) * 2, int(crop.image[0, 0, 1]) * 2
        assert 8 - 2 <= ICON[0] - left <= 64 - 8 + 2
        assert 8 - 2 <= ICON[1] - top <= 64 - 8 + 2
        assert abs(BALL.x - left) > 64 or abs(BALL.y - top) > 64  # the ball is not inside


def test_mining_is_the_same_for_the_same_seed_and_searches_at_most_max_frames() -> None:
    frames = [numbered_frame(i) for i in range(10)]
    searched: list[int] = []

    def counting(frame: LabelledFrame) -> Detections:
        searched.append(frame.frame_index)
        return model_answer(frame)

    plan = MinePlan(6, max_frames=4, seed=1)
    first = list(mined_negatives(frames, counting, plan, RECIPE))
    second = list(mined_negatives(frames, model_answer, plan, RECIPE))

    assert len(searched) == 4
    assert {crop.frame_index for crop in first} <= set(searched)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, second, strict=True))


def test_a_model_without_mistakes_gives_no_crops() -> None:
    frames = [numbered_frame(i) for i in range(3)]

    def only_the_ball(frame: LabelledFrame) -> Detections:
        return Detections.from_lists([box(BALL.x, BALL.y)], [0.9])

    assert list(mined_negatives(frames, only_the_ball, MinePlan(5), RECIPE)) == []


def test_mining_refuses_the_motion_input_and_bad_numbers_naming_the_option(
    tmp_path: Path,
) -> None:
    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    weights = str(tmp_path / "m.safetensors")
    out = str(tmp_path / "out")
    stacked = ["--out", out, "--synth", "1", "--mine", weights, "--frame-input", "grey-stack"]
    with pytest.raises(DatasetError, match="--mine needs --frame-input rgb"):
        run_dataset(parser.parse_args(stacked))
    with pytest.raises(DatasetError, match="--mine-score"):
        run_dataset(parser.parse_args(["--out", out, "--synth", "1", "--mine-score", "2"]))
    assert not (tmp_path / "out").exists()

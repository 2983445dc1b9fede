"""Reading ball labels in both CSV formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from perception.labels import LabelError, read_labels
from stream.frame import BallTruth


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_normalised_labels_become_frame_pixels(tmp_path: Path) -> None:
    path = write(tmp_path, "Frame,Ball,x,y\n0,1,0.500,0.250\n1,0,-1.000,-1.000\n2,1,0.001,0.000\n")

    truths = read_labels(path, 1280, 720)

    assert truths[:2] == [BallTruth(is_visible=True, x=640.0, y=180.0), BallTruth(is_visible=False)]
    assert truths[2].is_visible
    assert (truths[2].x, truths[2].y) == pytest.approx((1.28, 0.0))


def test_tracknet_labels_are_pixels_and_missing_frames_are_not_visible(tmp_path: Path) -> None:
    path = write(tmp_path, "Frame,Visibility,X,Y\n0,1,100,50\n3,2,101.5,52\n4,0,0,0\n5,1,,\n")

    truths = read_labels(path)

    assert truths[0] == BallTruth(is_visible=True, x=100.0, y=50.0)
    assert not truths[1].is_visible
    assert not truths[2].is_visible
    assert truths[3] == BallTruth(is_visible=True, x=101.5, y=52.0)
    assert not truths[4].is_visible
    assert not truths[5].is_visible
    assert len(truths) == 6


@pytest.mark.parametrize(
    ("text", "size", "message"),
    [
        pytest.param("frame;x;y\n0;1;2\n", (1280, 720), "unknown header 'frame;x;y'", id="header"),
        pytest.param("", (1280, 720), "the file is empty", id="empty"),
        pytest.param("Frame,Ball,x,y\n0,1,0.5,0.5\n", None, "give the frame width", id="no-size"),
        pytest.param("Frame,Ball,x,y\n0,1,640,360\n", (1280, 720), "look like pixels", id="pixels"),
        pytest.param("Frame,Ball,x,y\n0,yes,0.1,0.1\n", (1280, 720), "line 2: bad row", id="row"),
    ],
)
def test_bad_files_fail_with_one_clear_line(
    tmp_path: Path, text: str, size: tuple[int, int] | None, message: str
) -> None:
    path = write(tmp_path, text)
    width, height = size if size is not None else (None, None)

    with pytest.raises(LabelError, match=message) as caught:
        read_labels(path, width, height)

    assert "\n" not in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(LabelError, match=r"nope\.csv: cannot read"):
        read_labels(tmp_path / "nope.csv", 1280, 720)


def test_the_real_badminton_labels(real_data: Path) -> None:
    truths = read_labels(real_data / "badminton_bwf" / "train_00001.csv", 1280, 720)

    assert len(truths) == 317
    assert sum(truth.is_visible for truth in truths) == 266
    assert truths[0].x == pytest.approx(0.496 * 1280)
    assert truths[0].y == pytest.approx(0.549 * 720)

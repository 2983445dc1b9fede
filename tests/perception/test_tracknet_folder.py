"""TrackNet-style label folders (frames + Label.csv per clip) as a dataset source."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from perception.dataset import DatasetError
from perception.tracknet_folder import frames_from_tracknet


def test_a_tracknet_clip_folder_gives_its_labelled_frames(tmp_path: Path) -> None:
    clip = tmp_path / "game1" / "Clip1"
    clip.mkdir(parents=True)
    for index in range(3):
        cv2.imwrite(str(clip / f"{index:04d}.jpg"), np.full((48, 64, 3), 40 * index, np.uint8))
    (clip / "Label.csv").write_text(
        "file name,visibility,x-coordinate,y-coordinate,status\n"
        "0000.jpg,1,10,20,0\n0001.jpg,0,,,0\n0002.jpg,2,30.5,40,1\n"
    )

    frames = list(frames_from_tracknet(tmp_path))

    assert [(f.group, f.frame_index) for f in frames] == [("game1-Clip1", i) for i in range(3)]
    assert [[(b.x, b.y) for b in f.balls] for f in frames] == [[(10, 20)], [], [(30.5, 40)]]
    assert frames[2].image.shape == (48, 64, 3)


def test_a_folder_without_labels_says_what_it_wants(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no TrackNet Label\.csv under"):
        list(frames_from_tracknet(tmp_path))

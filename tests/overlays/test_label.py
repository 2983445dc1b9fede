"""The labelling tool without a browser: frames, the label files, the prefill, the HTTP API."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from overlays.label.command import open_session
from overlays.label.prefill import Prefill
from overlays.label.server import LabelSession
from overlays.label.store import LabelStore, StaleRevisionError, sidecar_path
from overlays.label.video import FrameReader, LabelToolError, VideoInfo
from stream.errors import OutputError
from tests.media import wait_until, write_mp4
from tests.overlays.label_media import GUESS_OFFSET, TruthPerception, write_synth_clip

TOKEN = "s3cret"  # noqa: S105 - test secret
INFO = VideoInfo(width=320, height=240, fps=25.0, frame_count=40)


def _mean_level(jpeg: bytes) -> float:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return float(image.mean())


def test_reader_gives_any_frame_in_any_order(tmp_path: Path) -> None:
    # frame i is a flat grey of level 8*i: each JPEG must show its own frame's level
    reader = FrameReader(write_mp4(tmp_path / "grey.mp4", frames=60, size=(64, 48)), 8)
    try:
        assert reader.info.frame_count == 60
        for index in (0, 1, 2, 31, 30, 59, 58, 5, 6, 45):
            assert _mean_level(reader.jpeg(index)) == pytest.approx((8 * index) % 256, abs=6)
        with pytest.raises(LabelToolError, match=r"frame 60 is outside grey\.mp4"):
            reader.jpeg(60)
        assert [index for index, _ in reader.frames(20, 24)] == [20, 21, 22, 23]
    finally:
        reader.close()


def test_a_file_that_is_not_a_video_is_refused_in_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.mp4"
    bogus.write_bytes(b"this is not a video" * 100)
    with pytest.raises(LabelToolError, match=r"cannot decode video .*notes\.mp4.*ffmpeg can play"):
        FrameReader(bogus)


def test_every_change_is_on_disk_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "clip.labels.csv"
    store = LabelStore(path, "clip.mp4", INFO)
    revision = store.apply(0, [{"frame": 3, "label": [1, 100, 50, "person"]}], 3)
    revision = store.apply(revision, [{"frame": 4, "label": [0, None, None, "person"]}], 4)
    store.apply(revision, [{"frame": 5, "label": [2, 7, 9, "interpolated"]}], 5)
    assert path.read_text().splitlines() == [
        "Frame,Visibility,X,Y", "3,1,100,50", "4,0,,", "5,2,7,9"
    ]  # fmt: skip
    meta = json.loads(sidecar_path(path).read_text())
    assert (meta["width"], meta["height"], meta["frame_count"]) == (320, 240, 40)
    assert (meta["confirmed"], meta["interpolated"], meta["revision"]) == ([3, 4], [5], 3)
    reopened = LabelStore(path, "clip.mp4", INFO).snapshot()
    assert reopened["position"] == 5
    assert reopened["labels"] == {
        "3": [1, 100, 50, "person"], "4": [0, None, None, "person"], "5": [2, 7, 9, "interpolated"]
    }  # fmt: skip
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file is left behind"


def test_a_stale_save_is_refused_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "clip.labels.csv"
    first_tab = LabelStore(path, "clip.mp4", INFO)
    first_tab.apply(0, [{"frame": 1, "label": [1, 10, 10, "person"]}], None)
    with pytest.raises(StaleRevisionError, match="another tab saved revision 1"):
        first_tab.apply(0, [{"frame": 1, "label": [0, None, None, "person"]}], None)
    assert path.read_text().splitlines()[1] == "1,1,10,10"


def test_a_point_outside_the_frame_is_refused(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.csv", "clip.mp4", INFO)
    with pytest.raises(ValueError, match=r"\(320, 5\) is outside the 320x240 frame"):
        store.apply(0, [{"frame": 1, "label": [1, 320, 5, "person"]}], None)
    assert store.revision == 0
    assert not (tmp_path / "l.csv").exists()


def test_labels_of_another_video_are_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "clip.labels.csv"
    LabelStore(path, "clip.mp4", INFO).apply(0, [{"frame": 39, "label": [1, 5, 5, "person"]}], 0)
    before = path.read_bytes(), sidecar_path(path).read_bytes()
    other = VideoInfo(width=640, height=480, fps=25.0, frame_count=40)
    with pytest.raises(LabelToolError, match=r"made for a 320x240 video of 40 frames.*--labels"):
        LabelStore(path, "other.mp4", other)
    sidecar_path(path).unlink()  # a bare CSV is checked against the video too
    with pytest.raises(LabelToolError, match=r"line 2: frame 39 is outside the video \(0-9\)"):
        LabelStore(path, "short.mp4", VideoInfo(320, 240, 25.0, 10))
    assert path.read_bytes() == before[0]


def test_prefill_tracks_the_chunks_asked_for(tmp_path: Path) -> None:
    video = tmp_path / "synth.mp4"
    truths = write_synth_clip(video, frames=40)
    perception = TruthPerception(truths)
    prefill = Prefill(video, lambda: lambda: perception, chunk_frames=16)
    prefill.start()
    try:
        prefill.request(17, 20)
        wait_until(lambda: not prefill.guesses(17, 20)[1], timeout_s=30)
        guesses, _ = prefill.guesses(0, 40)
    finally:
        prefill.stop()
        prefill.join(10)
    assert sorted(guesses) == list(range(16, 32)), "only the chunk asked for was tracked"
    for index in range(16, 32):
        truth = truths[index]
        guess = (round(truth.x) + GUESS_OFFSET[0], round(truth.y) + GUESS_OFFSET[1], 0.9)
        assert guesses[index] == (guess if truth.is_visible else None)
    assert prefill.stats()["frames"] == 16


def test_prefill_without_a_model_says_why(tmp_path: Path) -> None:
    video = write_mp4(tmp_path / "grey.mp4", frames=5, size=(64, 48))

    def no_model() -> Any:
        msg = "weights missing.safetensors not found"
        raise OSError(msg)

    prefill = Prefill(video, no_model)
    prefill.start()
    prefill.request(0, 5)
    wait_until(lambda: prefill.stats()["error"] is not None, timeout_s=30)
    prefill.stop()
    prefill.join(10)
    assert prefill.stats()["error"] == "weights missing.safetensors not found"
    assert prefill.guesses(0, 5) == ({}, False)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[LabelSession, Path]]:
    video = tmp_path / "synth.mp4"
    truths = write_synth_clip(video, frames=40)
    args = argparse.Namespace(video=video, labels=None, serve="127.0.0.1:0", no_prefill=False)
    args.serve_token = TOKEN
    opened, labels = open_session(args, lambda: lambda: TruthPerception(truths))
    opened.start()
    try:
        yield opened, labels
    finally:
        opened.close()


def _call(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data)  # noqa: S310 - local test server
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_the_api_saves_refuses_stale_and_wants_the_token(
    session: tuple[LabelSession, Path],
) -> None:
    opened, labels = session
    base = opened.url.split("?")[0]
    token = f"?token={TOKEN}"
    with pytest.raises(urllib.error.HTTPError, match="401"):
        urllib.request.urlopen(f"{base}meta", timeout=30)  # noqa: S310
    status, meta = _call(f"{base}meta{token}")
    assert (status, meta["width"], meta["frame_count"]) == (200, 320, 40)
    change = {"frame": 2, "label": [1, 30, 40, "person"]}
    assert _call(f"{base}labels{token}", {"revision": 0, "changes": [change]})[0] == 200
    status, stale = _call(f"{base}labels{token}", {"revision": 0, "changes": [change]})
    assert status == 409
    assert stale["error"].startswith("another tab saved revision 1")
    assert stale["labels"] == {"2": [1, 30, 40, "person"]}, "the newer labels come back"
    outside = {"frame": 2, "label": [1, 30, 400, "person"]}
    status, refused = _call(f"{base}labels{token}", {"revision": 1, "changes": [outside]})
    assert (status, refused["error"]) == (400, refused["error"])
    assert "outside the 320x240 frame" in refused["error"]
    assert labels.read_text().splitlines() == ["Frame,Visibility,X,Y", "2,1,30,40"]


def test_off_loopback_needs_a_token(tmp_path: Path) -> None:
    video = write_mp4(tmp_path / "grey.mp4", frames=3, size=(64, 48))
    args = argparse.Namespace(
        video=video, labels=None, serve="0.0.0.0:0", serve_token=None, no_prefill=True
    )
    with pytest.raises(OutputError, match="needs --serve-token"):
        open_session(args)

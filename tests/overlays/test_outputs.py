"""Outputs: read the files back the way a user (or a browser) would."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray

from overlays.output import Output
from overlays.outputs import (
    KEYFRAME_INTERVAL_S,
    MultiOutput,
    VideoFileOutput,
    X264Preset,
    cut_torn_fragment,
    find_display_problem,
    whole_fragments_end,
)
from perception.detections import Detections
from perception.result import BallState, FrameResult, PerceptionStep, SearchMode
from stream.errors import OutputError
from stream.frame import Frame

NTSC = Fraction(30000, 1001)
TICKS_PER_FRAME = 3003  # 1001/30000 s at 1/90000


def make_result(
    index: int,
    *,
    pts_s: float | None = None,
    ball: BallState | None = None,
    size: tuple[int, int] = (64, 48),
) -> FrameResult:
    """A result whose image is a gray level that changes per frame, at NTSC pace by default."""
    width, height = size
    image = np.full((height, width, 3), (index * 8) % 256, np.uint8)
    frame = Frame(
        index=index,
        image=image,
        pts_s=index / float(NTSC) if pts_s is None else pts_s,
        captured_ns=index,
    )
    step = PerceptionStep(Detections.empty(), SearchMode.TRACK, 0, 0, 0)
    return FrameResult(frame, step, ball or BallState.lost(), dequeued_ns=0, precision="fp32")


def write_all(output: Output, results: list[FrameResult]) -> None:
    try:
        for result in results:
            output.write(result.frame.image, result)
    finally:
        output.close()


@dataclass(frozen=True)
class VideoFacts:
    """A written video's stream, as read while its file was open.

    PyAV 18.1.1 refuses a stream's attributes once its container is closed ("Container is
    not open"); 18.1.0 answered. So the facts are copied out before closing.
    """

    codec: str
    pix_fmt: str
    average_rate: Fraction | None
    time_base: Fraction | None
    width: int
    height: int


def read_video(path: Path) -> tuple[VideoFacts, list[av.VideoFrame]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        codec = stream.codec_context
        facts = VideoFacts(
            codec.name,
            str(codec.pix_fmt),
            stream.average_rate,
            stream.time_base,
            codec.width,
            codec.height,
        )
        return facts, frames


# --- VideoFileOutput -------------------------------------------------------------------


def test_video_keeps_frame_count_timestamps_and_ntsc_rate(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"

    write_all(VideoFileOutput(path, fps=30000 / 1001), [make_result(i) for i in range(30)])

    facts, frames = read_video(path)
    assert len(frames) == 30
    assert facts.codec == "h264"
    assert facts.pix_fmt == "yuv420p"
    assert facts.average_rate == NTSC
    expected_s = [i * 1001 / 30000 for i in range(30)]
    tick_s = float(facts.time_base or 0)
    assert all(
        abs(float(f.time or 0) - t) <= tick_s for f, t in zip(frames, expected_s, strict=True)
    )


def _keyframe_times_s(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.is_keyframe and p.pts is not None]
        return [float((p.pts or 0) * (p.time_base or 0)) for p in packets]


def test_video_is_fragmented_with_a_keyframe_every_two_seconds(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"

    write_all(VideoFileOutput(path, fps=25.0), [make_result(i, pts_s=i / 25) for i in range(150)])

    data = path.read_bytes()
    assert 0 < data.index(b"moov") < data.index(b"moof") < data.index(b"mdat")
    keyframes_s = _keyframe_times_s(path)
    assert keyframes_s[0] == 0.0
    assert max(np.diff([*keyframes_s, 150 / 25])) <= KEYFRAME_INTERVAL_S
    assert data.count(b"moof") >= len(keyframes_s), "every keyframe starts a fragment"


def test_sparse_live_frames_still_get_a_keyframe_every_two_seconds(tmp_path: Path) -> None:
    # given a 25 fps live source of which only every 10th frame reached the output
    path = tmp_path / "out.mp4"

    write_all(VideoFileOutput(path, fps=25.0), [make_result(i, pts_s=i * 0.4) for i in range(30)])

    # then the keyframes follow the clock, not the nominal 50-frame GOP (20 s here)
    keyframes_s = _keyframe_times_s(path)
    assert max(np.diff([*keyframes_s, 30 * 0.4])) <= KEYFRAME_INTERVAL_S


def test_video_of_a_run_that_never_closed_plays_up_to_its_last_fragment(tmp_path: Path) -> None:
    # given 5 s written at 25 fps and the file copied as a crash would leave it (no close)
    path, crashed = tmp_path / "out.mp4", tmp_path / "crashed.mp4"
    output = VideoFileOutput(path, fps=25.0, preset=X264Preset.ULTRAFAST)
    for index in range(125):
        result = make_result(index, pts_s=index / 25)
        output.write(result.frame.image, result)
    crashed.write_bytes(path.read_bytes())
    output.close()

    # then the copy decodes up to the last keyframe, at most 2 s before the last write
    _, frames = read_video(crashed)
    assert 125 - KEYFRAME_INTERVAL_S * 25 <= len(frames) <= 125
    assert [f.pts for f in frames] == [i * 3600 for i in range(len(frames))]


def _box(kind: bytes, payload_size: int) -> bytes:
    return (8 + payload_size).to_bytes(4, "big") + kind + bytes(payload_size)


def _end(data: bytes) -> int:
    return whole_fragments_end(io.BytesIO(data), len(data))


def test_whole_fragments_end_drops_a_torn_fragment_and_a_moof_without_its_mdat() -> None:
    # given ftyp (24) + moov (100) + a fragment (moof 40 + mdat 500) = 664 bytes
    head = _box(b"ftyp", 16) + _box(b"moov", 92)
    fragment = _box(b"moof", 32) + _box(b"mdat", 492)
    whole = head + fragment

    # then the whole file is kept, a cut inside the next fragment is dropped, and so is
    # a moof whose mdat never came
    assert _end(whole) == 664
    assert _end(whole + fragment[:300]) == 664
    assert _end(whole + fragment[:40]) == 664
    assert _end(whole + fragment[:5]) == 664
    assert _end(head + fragment[:100]) == 124
    # a 64-bit box size (size 1) is read from the 8 bytes after the type
    large = (1).to_bytes(4, "big") + b"mdat" + (16 + 10).to_bytes(8, "big") + bytes(10)
    assert _end(head + _box(b"moof", 32) + large) == 124 + 40 + 26


def test_a_file_cut_inside_its_last_fragment_is_trimmed_to_whole_fragments(
    tmp_path: Path,
) -> None:
    # given 5 s at 25 fps (3 fragments) whose last fragment is cut in half, as a full disk
    # leaves it
    path = tmp_path / "out.mp4"
    output = VideoFileOutput(path, fps=25.0, preset=X264Preset.ULTRAFAST)
    for index in range(125):
        result = make_result(index, pts_s=index / 25)
        output.write(result.frame.image, result)
    output.close()
    data = path.read_bytes()
    last_moof = data.rindex(b"moof") - 4
    path.write_bytes(data[: last_moof + (len(data) - last_moof) // 2])

    # when it is trimmed
    cut_torn_fragment(path)

    # then it ends where the last whole fragment ended and every frame in it decodes
    assert path.stat().st_size == last_moof
    _, frames = read_video(path)
    assert len(frames) == 100  # keyframes at 0, 2 and 4 s: the 4-5 s fragment is gone
    assert [f.pts for f in frames] == [i * 3600 for i in range(100)]


def test_run_stopped_midway_leaves_a_playable_file_of_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    output = VideoFileOutput(path, fps=NTSC, preset=X264Preset.ULTRAFAST)
    results = [make_result(i) for i in range(30)]

    for result in results[:10]:
        output.write(result.frame.image, result)
    output.close()

    _, frames = read_video(path)
    assert len(frames) == 10
    assert frames[-1].pts == 9 * TICKS_PER_FRAME


def test_video_timestamps_that_go_backwards_are_nudged_forward(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "out.mp4"
    pts_s = [0.0, 0.1, 0.1, 0.05, 0.2]

    with caplog.at_level(logging.WARNING):
        write_all(
            VideoFileOutput(path, fps=10.0),
            [make_result(i, pts_s=t) for i, t in enumerate(pts_s)],
        )

    _, frames = read_video(path)
    pts = [f.pts or 0 for f in frames]
    assert len(pts) == 5
    assert pts == sorted(set(pts)), "strictly increasing"
    assert pts[-1] == 18000
    assert sum("one tick later" in r.message for r in caplog.records) == 1, "logged once"


def test_odd_sized_frames_are_padded_to_even(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"

    write_all(VideoFileOutput(path, fps=30.0), [make_result(i, size=(65, 49)) for i in range(3)])

    facts, frames = read_video(path)
    assert (facts.width, facts.height) == (66, 50)
    assert len(frames) == 3


def test_frames_of_another_size_are_resized_to_the_first(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    results = [make_result(0), make_result(1, size=(32, 24)), make_result(2, size=(128, 96))]

    write_all(VideoFileOutput(path, fps=30.0), results)

    _, frames = read_video(path)
    assert [(f.width, f.height) for f in frames] == [(64, 48)] * 3


@pytest.mark.parametrize(
    ("relative_path", "message"),
    [
        pytest.param("missing/out.mp4", "does not exist", id="missing-folder"),
        pytest.param("a-file/out.mp4", "is not a folder", id="folder-is-a-file"),
        pytest.param("a-folder.mp4", "is a folder", id="path-is-a-folder"),
        pytest.param("out.avi", r"must end in \.mp4", id="wrong-suffix"),
    ],
)
def test_unwritable_video_path_fails_at_construction(
    tmp_path: Path, relative_path: str, message: str
) -> None:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-folder.mp4").mkdir()
    path = tmp_path / relative_path

    with pytest.raises(OutputError, match=message):
        VideoFileOutput(path, fps=30.0)


def test_unwritable_path_message_names_the_path() -> None:
    path = Path("/proc/nonexistent/x.mp4")

    with pytest.raises(OutputError, match=r"'/proc/nonexistent/x\.mp4'.*create it"):
        VideoFileOutput(path, fps=30.0)


def test_closing_without_frames_writes_nothing_and_closing_twice_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    output = VideoFileOutput(path, fps=30.0)

    output.close()
    output.close()

    assert not path.exists()
    assert list(tmp_path.iterdir()) == [], "the writability probe left nothing behind"


def test_writing_after_close_fails_clearly(tmp_path: Path) -> None:
    output = VideoFileOutput(tmp_path / "out.mp4", fps=30.0)
    output.close()
    result = make_result(0)

    with pytest.raises(OutputError, match="already closed"):
        output.write(result.frame.image, result)


# --- display checks (the window itself: tests/overlays/test_window.py) ---------------------


def test_display_problem_without_display_variables() -> None:
    assert find_display_problem({}) == "no DISPLAY or WAYLAND_DISPLAY is set"


@pytest.mark.parametrize("variable", ["DISPLAY", "WAYLAND_DISPLAY"])
def test_display_problem_on_headless_opencv(variable: str) -> None:
    problem = find_display_problem({variable: ":0"}, has_gui=lambda: False)
    assert problem == "this OpenCV build is headless"
    assert find_display_problem({variable: ":0"}, has_gui=lambda: True) is None


# --- MultiOutput -----------------------------------------------------------------------


class RecordingOutput:
    def __init__(self, *, fails_on_close: str | None = None) -> None:
        self.indices: list[int] = []
        self.is_closed = False
        self._fails_on_close = fails_on_close

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        self.indices.append(result.frame.index)

    def close(self) -> None:
        self.is_closed = True
        if self._fails_on_close:
            raise OutputError(self._fails_on_close)


def test_multi_output_writes_every_frame_to_every_output() -> None:
    first, second = RecordingOutput(), RecordingOutput()

    write_all(MultiOutput([first, second]), [make_result(i) for i in range(3)])

    assert first.indices == second.indices == [0, 1, 2]
    assert first.is_closed
    assert second.is_closed


def test_multi_output_closes_all_then_raises_the_first_failure() -> None:
    outputs = [
        RecordingOutput(fails_on_close="disk full"),
        RecordingOutput(fails_on_close="second failure"),
        RecordingOutput(),
    ]

    with pytest.raises(OutputError, match="disk full"):
        MultiOutput(outputs).close()

    assert all(output.is_closed for output in outputs)

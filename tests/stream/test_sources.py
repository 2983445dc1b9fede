from __future__ import annotations

import contextlib
import io
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray

from stream.errors import SourceOpenError, SourceReadError
from stream.queues import DropCause
from stream.source import FrameSource, SourceFrame, SourceKind
from stream.sources import (
    CameraSource,
    FileSource,
    NetworkSource,
    SourceOptions,
    kind_from_uri,
    open_opencv_capture,
    open_source,
)
from stream.synth import SynthSource
from tests.media import FFMPEG, FfmpegPeer, free_port, wait_until, write_mp4

REAL_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"
needs_ffmpeg = pytest.mark.skipif(
    FFMPEG is None, reason="ffmpeg not installed (apt install ffmpeg)"
)

Drops = list[tuple[int, DropCause]]


@pytest.fixture
def drops() -> Drops:
    return []


def recorder(drops: Drops) -> Callable[[int, DropCause], None]:
    def on_drop(index: int, cause: DropCause) -> None:
        drops.append((index, cause))

    return on_drop


def ignore_drop(index: int, cause: DropCause) -> None:
    del index, cause


def read_all(source: FrameSource, limit: int = 1000) -> list[SourceFrame]:
    stop = threading.Event()
    frames: list[SourceFrame] = []
    while (frame := source.read(stop)) is not None and len(frames) < limit:
        frames.append(frame)
    return frames


# --- kinds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        pytest.param("synth:", SourceKind.SYNTH, id="synth"),
        pytest.param("synth:?seed=3&frames=10", SourceKind.SYNTH, id="synth-query"),
        pytest.param("0", SourceKind.CAMERA, id="camera-index"),
        pytest.param("12", SourceKind.CAMERA, id="camera-index-2-digits"),
        pytest.param("/dev/video2", SourceKind.CAMERA, id="dev-video"),
        pytest.param("rtsp://cam.local:554/live", SourceKind.NETWORK, id="rtsp"),
        pytest.param("RTMP://host/app/key", SourceKind.NETWORK, id="rtmp-upper"),
        pytest.param("tcp://127.0.0.1:9000", SourceKind.NETWORK, id="tcp"),
        pytest.param("udp://@239.0.0.1:1234", SourceKind.NETWORK, id="udp"),
        pytest.param("http://host/stream.m3u8", SourceKind.NETWORK, id="http"),
        pytest.param("https://host/match.mp4", SourceKind.NETWORK, id="https"),
        pytest.param("srt://host:9000", SourceKind.NETWORK, id="srt"),
        pytest.param("file:///videos/match.mp4", SourceKind.FILE, id="file-url"),
        pytest.param("match.mp4", SourceKind.FILE, id="relative"),
        pytest.param("/no/such/dir/match.mp4", SourceKind.FILE, id="missing-file"),
        pytest.param("C:\\videos\\match.mp4", SourceKind.FILE, id="windows-path"),
    ],
)
def test_kind_from_uri(uri: str, kind: SourceKind) -> None:
    assert kind_from_uri(uri) is kind


def test_kind_ignores_the_filesystem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a file literally named "0" is still camera 0
    (tmp_path / "0").write_bytes(b"not a camera")
    monkeypatch.chdir(tmp_path)

    assert kind_from_uri("0") is SourceKind.CAMERA


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        pytest.param(
            "foo://bar",
            r"unknown source scheme 'foo://' in 'foo://bar'; use a file path, a camera index, "
            r"synth: or one of rtsp/rtmp/tcp/udp/http\(s\)",
            id="unknown-scheme",
        ),
        pytest.param("  ", r"empty source URI", id="empty"),
    ],
)
def test_kind_rejects(uri: str, message: str) -> None:
    with pytest.raises(SourceOpenError, match=message):
        kind_from_uri(uri)


def test_open_source_builds_synth() -> None:
    source = open_source("synth:?frames=4&width=320&height=192", None, SourceOptions(), ignore_drop)

    assert isinstance(source, SynthSource)
    assert source.frame_count == 4


def test_open_source_reports_bad_synth_uri() -> None:
    with pytest.raises(SourceOpenError, match=r"unknown key 'size'; allowed keys"):
        open_source("synth:?size=big", None, SourceOptions(), ignore_drop)


# --- files ----------------------------------------------------------------------------------


def test_file_source_reads_every_frame_in_order(tmp_path: Path, drops: Drops) -> None:
    path = write_mp4(tmp_path / "clip.mp4")

    source = open_source(str(path), None, SourceOptions(), recorder(drops))
    assert isinstance(source, FileSource)
    frames = read_all(source)

    assert source.kind is SourceKind.FILE
    assert source.frame_count == 30
    assert isinstance(source.fps, float)
    assert source.fps == pytest.approx(30000 / 1001)
    assert [frame.index for frame in frames] == list(range(30))
    assert [frame.pts_s for frame in frames] == pytest.approx([i * 1001 / 30000 for i in range(30)])
    assert all(frame.image.shape == (240, 320, 3) for frame in frames)
    levels = [float(frame.image.mean()) for frame in frames]
    assert levels == pytest.approx([(i * 8) % 256 for i in range(30)], abs=4)
    assert source.read(threading.Event()) is None
    assert drops == []


def test_decode_threads_reach_the_decoder_and_change_no_pixel(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "clip.mp4", frames=12)

    one = open_source(str(path), None, SourceOptions(decode_threads=1), ignore_drop)
    default = open_source(str(path), None, SourceOptions(), ignore_drop)

    assert isinstance(one, FileSource)
    assert isinstance(default, FileSource)
    single, threaded = read_all(one), read_all(default)
    assert one.decode_threads == 1
    assert len(single) == len(threaded) == 12
    assert all(np.array_equal(a.image, b.image) for a, b in zip(single, threaded, strict=True))


def test_file_url_opens_the_file(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "my clip.mp4", frames=5)

    source = open_source(path.as_uri(), None, SourceOptions(), ignore_drop)

    assert source.kind is SourceKind.FILE
    assert source.frame_count == 5


def test_real_clip_has_all_its_frames() -> None:
    clip = REAL_DIR / "badminton_bwf" / "train_00008.mp4"
    if not clip.exists():
        pytest.skip(f"real clip not found at {clip} (needs the sibling ../shared folder)")

    source = FileSource(str(clip), ignore_drop)
    frames = read_all(source)

    assert len(frames) == 150
    assert source.frame_count == 150
    assert source.fps == pytest.approx(30.0)
    assert frames[0].image.shape == (720, 1280, 3)
    assert frames[-1].pts_s == pytest.approx(149 / 30.0)


@pytest.fixture(scope="module")
def mid_gop_ts() -> bytes:
    """An H.264 MPEG-TS stream (keyframe every 50 frames) cut inside its first GOP.

    Like joining a live stream late: the packets before the next keyframe cannot be decoded.
    """
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mpegts") as container:
        stream = container.add_stream(
            "libx264",
            rate=25,
            options={"preset": "ultrafast", "x264-params": "keyint=50:min-keyint=50:scenecut=0"},
        )
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for index in range(150):
            image = np.full((240, 320, 3), (40, 120, 50), dtype=np.uint8)
            image[100:140, index * 2 : index * 2 + 20] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    data = buffer.getvalue()
    start = (len(data) // 10) // 188 * 188  # whole 188-byte TS packets
    return data[start:]


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "nope.mp4"


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    return path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("this is a shopping list, not a video\n" * 20)
    return path


def _audio_only(tmp_path: Path) -> Path:
    path = tmp_path / "audio.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate = 16000
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def _cut_before_index(tmp_path: Path) -> Path:
    # PyAV writes the moov atom (the index) at the end: half the file has none
    full = write_mp4(tmp_path / "full.mp4", frames=40)
    path = tmp_path / "cut.mp4"
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(_missing, r"video file '.*nope\.mp4' not found; check the path", id="missing"),
        pytest.param(_empty, r"'.*empty\.mp4' is empty \(0 bytes\); copy or record", id="empty"),
        pytest.param(_text, r"'.*notes\.mp4' is not a video PyAV can decode", id="text"),
        pytest.param(_audio_only, r"has no video stream \(streams: audio\)", id="audio-only"),
        pytest.param(
            _cut_before_index,
            r"not a video PyAV can decode.*cut off before its index",
            id="no-moov",
        ),
    ],
)
def test_file_source_rejects_bad_input(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    path = make(tmp_path)

    with pytest.raises(SourceOpenError, match=message):
        open_source(str(path), None, SourceOptions(), ignore_drop)


def test_truncated_file_yields_what_decodes_then_fails(tmp_path: Path) -> None:
    full = write_mp4(tmp_path / "full.mp4", frames=60, is_faststart=True)
    path = tmp_path / "truncated.mp4"
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    source = FileSource(str(path), ignore_drop)
    frames: list[SourceFrame] = []

    def read_to_the_end() -> None:
        while (frame := source.read(threading.Event())) is not None:
            frames.append(frame)

    with pytest.raises(SourceReadError, match=r"ended after \d+ of 60 frames: the file is trunc"):
        read_to_the_end()

    assert 10 < len(frames) < 60
    assert [frame.index for frame in frames] == list(range(len(frames)))


# --- cameras --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "message"),
    [
        pytest.param(
            "7",
            r"camera 7 could not be opened; check the index \(ls /dev/video\*\) "
            r"or the device permissions",
            id="index",
        ),
        pytest.param("/dev/video9", r"camera '/dev/video9' could not be opened", id="dev-path"),
    ],
)
def test_missing_camera_is_reported(device: str, message: str) -> None:
    if Path("/dev/video7").exists() or Path("/dev/video9").exists():
        pytest.skip("this machine has /dev/video7 or /dev/video9")

    with pytest.raises(SourceOpenError, match=message):
        open_source(device, None, SourceOptions(open_timeout_s=2), ignore_drop)


class FakeCapture:
    """Delivers pictures the test pushes; read() waits briefly like a real camera."""

    def __init__(self, *, fps: float = 30.0) -> None:
        self.pictures: queue.Queue[NDArray[np.uint8] | None] = queue.Queue()
        self.is_released = False
        self._fps = fps

    def push(self, value: int) -> None:
        self.pictures.put(np.full((8, 8, 3), value, dtype=np.uint8))

    def read(self) -> tuple[bool, NDArray[np.uint8] | None]:
        try:
            picture = self.pictures.get(timeout=0.02)
        except queue.Empty:
            return False, None
        return (picture is not None), picture

    def fps(self) -> float:
        return self._fps

    def release(self) -> None:
        self.is_released = True


@pytest.fixture
def camera() -> Iterator[tuple[CameraSource, FakeCapture, Drops]]:
    capture = FakeCapture()
    drops: Drops = []
    source = CameraSource(
        "0",
        SourceOptions(read_timeout_s=2.0),
        recorder(drops),
        open_capture=lambda device, options: capture,
    )
    yield source, capture, drops
    source.close()


def test_camera_hands_out_only_the_newest_picture(
    camera: tuple[CameraSource, FakeCapture, Drops],
) -> None:
    source, capture, drops = camera
    stop = threading.Event()
    capture.push(10)
    first = source.read(stop)

    for value in (11, 12, 13):
        capture.push(value)
    wait_until(lambda: len(drops) == 2)
    newest = source.read(stop)

    assert first is not None
    assert (first.index, int(first.image[0, 0, 0]), first.pts_s) == (0, 10, 0.0)
    assert newest is not None
    assert (newest.index, int(newest.image[0, 0, 0])) == (3, 13)
    assert newest.pts_s > 0.0
    assert drops == [(1, DropCause.STALE), (2, DropCause.STALE)]
    assert source.kind is SourceKind.CAMERA
    assert source.fps == 30.0
    assert source.frame_count is None


def test_camera_reader_thread_is_named_and_released_on_close(
    camera: tuple[CameraSource, FakeCapture, Drops],
) -> None:
    source, capture, _ = camera
    capture.push(1)
    assert source.read(threading.Event()) is not None

    assert "camera-reader" in [thread.name for thread in threading.enumerate()]
    source.close()

    assert capture.is_released
    assert "camera-reader" not in [thread.name for thread in threading.enumerate()]


def test_camera_read_returns_none_when_stopped() -> None:
    # a frameless camera with a 600 s read timeout: only the stop can end this read, and
    # the bound (60 s) is far below the timeout, so a loaded machine cannot make it flake
    source = CameraSource(
        "0",
        SourceOptions(read_timeout_s=600.0),
        recorder([]),
        open_capture=lambda device, options: FakeCapture(),
    )
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()

    started = time.monotonic()
    frame = source.read(stop)
    source.close()

    assert frame is None
    assert time.monotonic() - started < 60.0


def test_camera_closed_before_reading_is_released() -> None:
    capture = FakeCapture()
    source = CameraSource("0", SourceOptions(), ignore_drop, open_capture=lambda d, o: capture)

    source.close()

    assert capture.is_released
    assert source.read(threading.Event()) is None


class BrokenCapture(FakeCapture):
    def read(self) -> tuple[bool, NDArray[np.uint8] | None]:
        raise RuntimeError("driver crashed")


def test_camera_driver_error_fails_the_read() -> None:
    source = CameraSource(
        "2", SourceOptions(), ignore_drop, open_capture=lambda d, o: BrokenCapture()
    )

    with pytest.raises(SourceReadError, match=r"camera 2 failed: RuntimeError\('driver crashed'\)"):
        source.read(threading.Event())
    source.close()


def test_camera_that_stops_delivering_fails_the_read(drops: Drops) -> None:
    source = CameraSource(
        "3",
        SourceOptions(read_timeout_s=0.2),
        recorder(drops),
        open_capture=lambda device, options: FakeCapture(),
    )

    with pytest.raises(SourceReadError, match=r"camera 3 gave no picture for 0\.2 s; check the"):
        source.read(threading.Event())
    source.close()


def test_opencv_opener_names_the_device() -> None:
    if Path("/dev/video5").exists():
        pytest.skip("this machine has /dev/video5")

    with pytest.raises(SourceOpenError, match=r"camera 5 could not be opened"):
        open_opencv_capture("5", SourceOptions(open_timeout_s=1))


# --- network streams ------------------------------------------------------------------------


@pytest.fixture
def peer() -> Iterator[FfmpegPeer]:
    server = FfmpegPeer(free_port())
    yield server
    server.close()


LIVE = SourceOptions(
    open_timeout_s=5.0,
    read_timeout_s=2.0,
    reconnect_initial_delay_s=0.1,
    reconnect_max_delay_s=0.4,
)


def drain(source: FrameSource, stop: threading.Event) -> None:
    while source.read(stop) is not None:
        pass


def read_frames(source: NetworkSource, count: int, stop: threading.Event) -> list[SourceFrame]:
    frames = []
    for _ in range(count):
        frame = source.read(stop)
        assert frame is not None
        frames.append(frame)
    return frames


@pytest.mark.parametrize("scheme", [pytest.param("tcp", id="tcp"), pytest.param("rtsp", id="rtsp")])
def test_unreachable_stream_fails_to_open(scheme: str) -> None:
    uri = f"{scheme}://127.0.0.1:{free_port()}"

    with pytest.raises(
        SourceOpenError,
        match=rf"cannot connect to {uri}: Connection refused; check that the stream is running",
    ):
        open_source(uri, None, LIVE, ignore_drop)


def serve_once(data: bytes) -> tuple[str, threading.Thread]:
    """Serve ``data`` to the first client on a free local port, about 4x real time."""
    server = socket.create_server(("127.0.0.1", 0))

    def send() -> None:
        with server, server.accept()[0] as client, contextlib.suppress(OSError):
            for start in range(0, len(data), 188 * 20):
                client.sendall(data[start : start + 188 * 20])
                time.sleep(0.005)  # the reader may hang up early: that is fine

    thread = threading.Thread(target=send, name="ts-server", daemon=True)
    thread.start()
    return f"tcp://127.0.0.1:{server.getsockname()[1]}", thread


def test_stream_joined_mid_gop_skips_undecodable_frames(mid_gop_ts: bytes, drops: Drops) -> None:
    uri, server = serve_once(mid_gop_ts)
    source = NetworkSource(uri, LIVE, recorder(drops))

    frames = read_frames(source, 30, threading.Event())
    source.close()
    server.join(timeout=10)

    assert drops
    assert {cause for _, cause in drops} == {DropCause.DECODE_ERROR}
    # the undecodable frames came first and used up their indices; no reconnect was needed
    assert frames[0].index == len(drops)
    assert {frame.epoch for frame in frames} == {0}
    for frame in frames:
        assert frame.image.max() > 200, "the white bar must be in every frame handed out"
        assert frame.image.min() < 100


@pytest.mark.network
@needs_ffmpeg
def test_stream_reconnects_after_each_restart(
    peer: FfmpegPeer, drops: Drops, caplog: pytest.LogCaptureFixture
) -> None:
    stop = threading.Event()
    peer.start("320x240")
    source = open_source(peer.uri, None, LIVE, recorder(drops))
    assert isinstance(source, NetworkSource)
    frames = read_frames(source, 10, stop)

    with caplog.at_level(logging.WARNING, logger="stream.sources"):
        for restart, size in enumerate(["160x120", "320x240", "240x160"], start=1):
            peer.kill()
            # restart a little later, so that at least one reconnect attempt is refused
            peer.start_later(0.3, size)
            deadline = time.monotonic() + 10.0
            while (frame := source.read(stop)) is not None and frame.epoch < restart:
                frames.append(frame)
                assert time.monotonic() < deadline, "no reconnect within 10 s"
            assert frame is not None
            frames += [frame, *read_frames(source, 5, stop)]
            width, height = (int(side) for side in size.split("x"))
            assert frames[-1].image.shape == (height, width, 3)
    source.close()
    after_close = source.read(stop)

    assert source.kind is SourceKind.NETWORK
    assert [frame.epoch for frame in frames] == sorted(frame.epoch for frame in frames)
    assert frames[-1].epoch == 3
    assert after_close is None
    indices = [frame.index for frame in frames]
    assert indices == sorted(set(indices))
    pts = [frame.pts_s for frame in frames]
    assert pts == sorted(pts)
    assert not any(frame.image.min() == frame.image.max() for frame in frames), "blank frame"
    assert "reconnect attempt 1 in 0.10 s" in caplog.text
    assert "reconnect attempt 2 in 0.20 s" in caplog.text


@pytest.mark.network
@needs_ffmpeg
def test_stream_gives_up_after_max_attempts(peer: FfmpegPeer) -> None:
    stop = threading.Event()
    peer.start()
    options = SourceOptions(
        open_timeout_s=2.0,
        read_timeout_s=1.0,
        reconnect_initial_delay_s=0.05,
        reconnect_max_attempts=2,
    )
    source = NetworkSource(peer.uri, options, ignore_drop)
    read_frames(source, 3, stop)
    peer.kill()

    with pytest.raises(SourceReadError, match=r"could not reconnect after 2 attempts \(Connection"):
        drain(source, stop)


@pytest.mark.network
@needs_ffmpeg
def test_stop_interrupts_the_reconnect_wait(peer: FfmpegPeer) -> None:
    stop = threading.Event()
    peer.start()
    # a 600 s reconnect wait: only the stop can end it (the 60 s bound is far below)
    options = SourceOptions(reconnect_initial_delay_s=600.0, reconnect_max_delay_s=600.0)
    source = NetworkSource(peer.uri, options, ignore_drop)
    read_frames(source, 3, stop)
    peer.kill()

    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    drain(source, stop)

    assert time.monotonic() - started < 60.0
    source.close()

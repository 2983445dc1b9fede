"""The browser view's server: access control, /stats, the MJPEG stream and slow viewers."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from overlays.output import Output
from overlays.web import WebView
from perception.detections import Detections
from perception.result import BallState, FrameResult, PerceptionStep, SearchMode, TrackStatus
from stream.errors import OutputError
from stream.frame import Frame
from stream.latency import DropEvent, LatencyLog, LatencyRecord, RunEvent

_MS = 1_000_000


def numbered_frame(index: int, height: int = 240, width: int = 320) -> NDArray[np.uint8]:
    """A frame with its index written large and a white disc where make_result puts the ball."""
    image = np.full((height, width, 3), (40, 90, 30), np.uint8)
    cv2.putText(
        image,
        f"#{index}",
        (20, height // 2 + 20),
        cv2.FONT_HERSHEY_SIMPLEX,
        2.0,
        (255, 255, 255),
        4,
    )
    cv2.circle(image, ((100 + index) % width, 50), 6, (255, 255, 255), -1)
    return image


def make_result(index: int, image: NDArray[np.uint8], ball: BallState | None = None) -> FrameResult:
    frame = Frame(index, image, index / 25, time.monotonic_ns())
    step = PerceptionStep(Detections.empty(), SearchMode.TRACK, 384 * 384, 0, 0)
    ball = ball or BallState(TrackStatus.SEEN, 100.0 + index, 50.0, 0.9)
    return FrameResult(frame, step, ball, 0, "fp32")


def make_record(index: int, end_to_end_ms: float, detector_ms: float) -> LatencyRecord:
    """A record whose end-to-end and detector times are exactly the given ones."""
    captured = 1_000 * _MS
    infer_start = captured + 2 * _MS
    return LatencyRecord(
        frame_index=index,
        pts_s=index / 25,
        captured_ns=captured,
        enqueued_ns=captured + _MS,
        dequeued_ns=infer_start,
        infer_start_ns=infer_start,
        infer_end_ns=infer_start + int(detector_ms * _MS),
        rendered_ns=captured + int(end_to_end_ms * _MS) - _MS,
        written_ns=captured + int(end_to_end_ms * _MS),
    )


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - local test server
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get_stats(view: WebView, query: str = "") -> dict[str, Any]:
    status, body = http_get(view.url + "stats" + query)
    assert status == 200
    stats: dict[str, Any] = json.loads(body)
    return stats


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        time.sleep(0.02)


class MjpegReader:
    """Reads /stream.mjpg part by part; each part's X-Frame-Index says which frame it is."""

    def __init__(self, view: WebView) -> None:
        host, port = view.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        self._connection = http.client.HTTPConnection(host, int(port), timeout=10)
        self._connection.connect()
        self._socket = self._connection.sock
        self._connection.request("GET", "/stream.mjpg")
        self._response = self._connection.getresponse()
        self.content_type = self._response.getheader("Content-Type", "")

    def next_part(self) -> tuple[int, bytes]:
        while (line := self._response.readline()) != b"--ballwatchframe\r\n":
            if not line:
                msg = "the stream ended"
                raise ConnectionError(msg)
        headers: dict[str, str] = {}
        while (line := self._response.readline()) != b"\r\n":
            name, _, value = line.decode("ascii").partition(":")
            headers[name.lower()] = value.strip()
        jpeg = self._response.read(int(headers["content-length"]))
        return int(headers["x-frame-index"]), jpeg

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes a thread blocked in next_part
            self._socket.shutdown(socket.SHUT_RDWR)
        self._response.close()
        self._connection.close()


def open_stalled_viewer(view: WebView) -> socket.socket:
    """A viewer that asks for the stream and then never reads, with a tiny receive buffer."""
    host, port = view.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    stalled.connect((host, int(port)))
    stalled.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return stalled


class FrameFeeder:
    """Writes numbered frames into a view from a background thread until stopped."""

    def __init__(
        self, view: WebView, interval_s: float = 0.02, shape: tuple[int, int] = (240, 320)
    ) -> None:
        self._view = view
        self._interval_s = interval_s
        self._shape = shape
        self._stop = threading.Event()
        self.frames_written = 0
        self._thread = threading.Thread(target=self._run, name="frame-feeder")

    def __enter__(self) -> FrameFeeder:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            image = numbered_frame(index, *self._shape)
            self._view.write(image, make_result(index, image))
            self._view.write(make_record(index, 30.0 + index % 10, 20.0))
            self.frames_written = index = index + 1
            time.sleep(self._interval_s)


@pytest.fixture
def view() -> Iterator[WebView]:
    web_view = WebView(port=0)
    web_view.start()
    yield web_view
    web_view.close()


@pytest.mark.parametrize(
    "host",
    [pytest.param("0.0.0.0", id="ipv4-any"), pytest.param("", id="empty")],  # noqa: S104
)
def test_non_loopback_host_without_token_is_refused(host: str) -> None:
    with pytest.raises(
        OutputError, match="needs --serve-token: the view would be open to the network"
    ):
        WebView(host=host, port=0)


def test_from_address_parses_host_and_port_and_rejects_garbage() -> None:
    web_view = WebView.from_address("127.0.0.1:0")
    try:
        assert web_view.url.startswith("http://127.0.0.1:")
        assert not web_view.url.endswith(":0/")
    finally:
        web_view.close()

    for address in ("127.0.0.1", "127.0.0.1:http", ":8080", "::1:8080", "127.0.0.1:70000"):
        with pytest.raises(OutputError, match=r"is not HOST:PORT; write e\.g\. 127\.0\.0\.1:8080"):
            WebView.from_address(address)


def test_a_busy_port_is_a_clear_error(view: WebView) -> None:
    port = int(view.url.rstrip("/").rsplit(":", 1)[1])

    with pytest.raises(OutputError, match=f"cannot serve the web view on 127.0.0.1:{port}"):
        WebView(port=port)


@pytest.mark.parametrize("path", ["", "app.js", "style.css", "stats", "healthz", "stream.mjpg"])
def test_with_a_token_every_route_needs_it(path: str) -> None:
    any_address = "0.0.0.0"  # noqa: S104 - binding to the network is the point of this test
    web_view = WebView(host=any_address, port=0, token="s3cret")  # noqa: S106 - test secret
    web_view.start()
    url = web_view.url.replace(any_address, "127.0.0.1") + path
    try:
        missing, _ = http_get(url)
        wrong_query, _ = http_get(url + "?token=s3cre")
        wrong_header, _ = http_get(url, {"Authorization": "Bearer nope"})
        assert (missing, wrong_query, wrong_header) == (401, 401, 401)

        if path != "stream.mjpg":  # an accepted stream never ends; its status is checked below
            assert http_get(url + "?token=s3cret")[0] == 200
            assert http_get(url, {"Authorization": "Bearer s3cret"})[0] == 200
    finally:
        web_view.close()


def test_page_passes_the_token_to_its_assets_and_stream() -> None:
    web_view = WebView(port=0, token="a b&c")  # noqa: S106 - test secret
    web_view.start()
    try:
        status, page = http_get(web_view.url + "?token=a%20b%26c")

        assert status == 200
        assert b'src="stream.mjpg?token=a%20b%26c"' in page
        assert b'src="app.js?token=a%20b%26c"' in page
        assert b'href="style.css?token=a%20b%26c"' in page
    finally:
        web_view.close()


def test_only_the_pages_own_assets_are_served(view: WebView) -> None:
    for path in ("index.html", "web.py", "../web.py", "web/app.js", "%2e%2e/web.py"):
        assert http_get(view.url + path)[0] == 404, path
    assert http_get(view.url + "healthz") == (200, b"ok")
    status, script = http_get(view.url + "app.js")
    assert status == 200
    assert b"stats" in script


def test_stats_follow_frames_and_log_entries(view: WebView) -> None:
    before = get_stats(view)
    image = numbered_frame(7)
    as_output: Output = view
    as_log: LatencyLog = view

    as_output.write(image, make_result(7, image, BallState(TrackStatus.PREDICTED, 12.5, 34.0)))
    for index, (end_to_end, detector) in enumerate([(40.0, 20.0), (60.0, 30.0), (50.0, 25.0)]):
        as_log.write(make_record(index, end_to_end, detector))
    as_log.write(DropEvent(3, "queue_full", "capture", 0))
    as_log.write(DropEvent(4, "queue_full", "capture", 0))
    as_log.write(DropEvent(5, "stale", "perception", 0))
    as_log.write(RunEvent("decision", 0, {"text": "fp32 misses 40 ms: switching to INT8-QAT"}))
    as_log.write(RunEvent("progress", 0, {"done": 8, "total": 250}))
    after = get_stats(view)

    assert before["frame_index"] is None
    assert before["latency_ms"]["end_to_end"]["p50"] is None
    assert after["frame_index"] == 7
    assert after["pts_s"] == pytest.approx(7 / 25, abs=1e-3)
    assert after["ball"] == {"status": "predicted", "x": 12.5, "y": 34.0}
    assert (after["precision"], after["mode"]) == ("fp32", "track")
    assert after["latency_ms"]["end_to_end"]["last"] == pytest.approx(50.0)
    assert after["latency_ms"]["end_to_end"]["p50"] == pytest.approx(50.0)
    assert after["latency_ms"]["detector"]["p50"] == pytest.approx(25.0)
    assert after["drops"] == {"total": 3, "by_cause": {"queue_full": 2, "stale": 1}}
    assert after["decision"] == "fp32 misses 40 ms: switching to INT8-QAT"
    assert after["progress"] == {"done": 8, "total": 250}
    assert [point[1:] for point in after["chart"]["points"]] == [
        [40.0, 20.0],
        [60.0, 30.0],
        [50.0, 25.0],
    ]


def test_frames_without_a_detector_run_and_odd_events_are_tolerated(view: WebView) -> None:
    skipped = dataclasses.replace(make_record(0, 12.0, 0.0), infer_start_ns=0, infer_end_ns=0)

    view.write(skipped)
    view.write(RunEvent("progress", 0, {"done": "many"}))
    view.write(RunEvent("decision", 0, {"precision": "fp32", "p95_ms": 51.0}))
    stats = get_stats(view)

    assert stats["latency_ms"]["end_to_end"]["p50"] == pytest.approx(12.0)
    assert stats["latency_ms"]["detector"] == {"last": None, "p50": None, "p95": None}
    assert stats["chart"]["points"][0][1:] == [12.0, None]
    assert stats["progress"] == {"done": 0, "total": None}
    assert stats["decision"] == "precision=fp32, p95_ms=51.0"


def test_stream_sends_the_newest_frame_as_jpeg(view: WebView) -> None:
    reader = MjpegReader(view)
    try:
        with FrameFeeder(view) as feeder:
            first_index, first_jpeg = reader.next_part()
            wait_until(lambda: feeder.frames_written > first_index + 3)
            later_index, _ = reader.next_part()
    finally:
        reader.close()

    assert reader.content_type == "multipart/x-mixed-replace; boundary=ballwatchframe"
    decoded = cv2.imdecode(np.frombuffer(first_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape == (240, 320, 3)
    assert later_index > first_index


def test_several_viewers_each_see_new_frames(view: WebView) -> None:
    readers = [MjpegReader(view) for _ in range(3)]
    seen: list[set[int]] = [set() for _ in readers]

    def watch(reader: MjpegReader, indexes: set[int]) -> None:
        while len(indexes) < 3:
            indexes.add(reader.next_part()[0])

    watchers = [
        threading.Thread(target=watch, args=pair) for pair in zip(readers, seen, strict=True)
    ]
    with FrameFeeder(view):
        for watcher in watchers:
            watcher.start()
        for watcher in watchers:
            watcher.join(15)
    for reader in readers:
        reader.close()

    assert [len(indexes) for indexes in seen] == [3, 3, 3]
    assert get_stats(view)["server"]["viewers"] in (0, 1, 2, 3)  # closing is asynchronous


def test_disconnected_viewers_leave_nothing_behind(view: WebView) -> None:
    baseline = get_stats(view)["server"]["tasks"]

    with FrameFeeder(view):
        readers = [MjpegReader(view) for _ in range(4)]
        for reader in readers:
            reader.next_part()
        stalled = open_stalled_viewer(view)
        wait_until(lambda: get_stats(view)["server"]["viewers"] == 5)
        during = get_stats(view)["server"]["tasks"]
        for reader in readers:
            reader.close()
        stalled.close()
        wait_until(lambda: get_stats(view)["server"]["viewers"] == 0)
        wait_until(lambda: get_stats(view)["server"]["tasks"] == baseline)

    assert during >= baseline + 5


def _write_frames(view: WebView, count: int, images: list[NDArray[np.uint8]]) -> None:
    for index in range(count):
        image = images[index % len(images)]
        view.write(image, make_result(index, image))
        time.sleep(0.005)  # paced like a 200 fps source, not a wait for anything


class BackgroundReader:
    """A healthy viewer: reads parts on its own thread and remembers their frame indexes."""

    def __init__(self, view: WebView) -> None:
        self._reader = MjpegReader(view)
        self.indexes: list[int] = []
        self._thread = threading.Thread(target=self._run, name="healthy-viewer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                self.indexes.append(self._reader.next_part()[0])
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            return  # closed by the test

    def close(self) -> None:
        self._reader.close()
        self._thread.join(5)


def test_a_stalled_viewer_blocks_neither_write_nor_other_viewers() -> None:
    # Noise does not compress: each JPEG part is hundreds of kB, so the stalled socket fills fast.
    # How fast write() stays is measured in bench/, not here: this checks it never waits on
    # a viewer (80 writes end with a stuck one) and that a healthy viewer keeps getting frames.
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(4)]
    web_view = WebView(port=0, max_stream_fps=100.0)
    web_view.start()
    healthy = BackgroundReader(web_view)
    try:
        wait_until(lambda: get_stats(web_view)["server"]["viewers"] == 1)
        stalled = open_stalled_viewer(web_view)
        wait_until(lambda: get_stats(web_view)["server"]["viewers"] == 2)
        writer = threading.Thread(target=_write_frames, args=(web_view, 80, images))
        writer.start()
        writer.join(60)
        is_writer_stuck = writer.is_alive()
        for marker in (1000, 1001):  # written after the stalled socket filled up
            web_view.write(images[1], make_result(marker, images[1]))
            wait_until(lambda marker=marker: marker in healthy.indexes)
        stalled.close()
    finally:
        healthy.close()
        web_view.close()

    assert not is_writer_stuck, "write() waited on the stalled viewer"


def test_close_returns_promptly_with_a_stalled_viewer() -> None:
    rng = np.random.default_rng(1)
    noise = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(2)]
    web_view = WebView(port=0, max_stream_fps=100.0)
    web_view.start()
    stalled = open_stalled_viewer(web_view)
    wait_until(lambda: get_stats(web_view)["server"]["viewers"] == 1)
    for index in range(40):  # ~20 MB of parts offered: far more than the socket buffers hold
        web_view.write(noise[index % 2], make_result(index, noise[index % 2]))
        time.sleep(0.01)
    stuck_at = get_stats(web_view)["server"]["parts_encoded"]

    web_view.close()  # joins with a 5 s limit: a TimeoutError would fail the test
    stalled.close()

    assert stuck_at < 40  # the stalled viewer stopped taking parts, so they stopped being encoded
    port = int(web_view.url.rstrip("/").rsplit(":", 1)[1])
    with pytest.raises(OSError, match="Connection refused"):
        socket.create_connection(("127.0.0.1", port), 1)


def test_close_without_start_frees_the_port() -> None:
    web_view = WebView(port=0)
    port = int(web_view.url.rstrip("/").rsplit(":", 1)[1])

    web_view.close()
    web_view.close()

    again = WebView(port=port)
    again.close()


def test_write_rejects_other_arguments(view: WebView) -> None:
    with pytest.raises(TypeError, match=r"takes \(image, result\) or one latency log entry"):
        view.write("not an image")  # type: ignore[call-overload]

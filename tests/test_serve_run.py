"""`ballwatch run … --serve`: the browser view of a real run (synth source, fake detector)."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import urllib.request
from pathlib import Path

import pytest

from configs.app_config import AppConfig, load_config
from stream import app
from tests.fakes import FakeDetector
from tests.media import free_port, wait_until
from tests.overlays.test_web_browser import READ_PAGE, SHOWN_FRAME_HASH, WebDriver, browser

__all__ = ["browser"]  # the fixture, imported for its side effect


class BackgroundRun:
    """app.run in a thread; keeps its outcome or error."""

    def __init__(self, config: AppConfig) -> None:
        self.outcome: app.RunOutcome | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(config,), name="test-run")
        self._thread.start()

    def _run(self, config: AppConfig) -> None:
        try:
            self.outcome = app.run(config)
        except BaseException as error:  # noqa: BLE001 - re-raised in the test
            self.error = error

    def join(self) -> app.RunOutcome:
        self._thread.join(60)
        assert not self._thread.is_alive(), "the run did not finish"
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


def _serve_config(port: int, frames: int, *, realtime: bool = True) -> AppConfig:
    return load_config(
        None,
        {
            "source": f"synth:?seed=4&frames={frames}&width=640&height=360&fps=30",
            "stream.realtime": realtime,
            "output.serve": f"127.0.0.1:{port}",
            "output.progress": False,
        },
    )


def _stats(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        return dict(json.loads(response.read()))


def _is_serving(port: int) -> bool:
    try:
        return bool(_stats(port)["frames_written"])
    except OSError:
        return False


@pytest.mark.browser
def test_page_of_a_served_run_shows_new_frames_and_changing_numbers(
    browser: WebDriver, fake_detector: FakeDetector, tmp_path: Path
) -> None:
    port = free_port()
    run = BackgroundRun(_serve_config(port, frames=240))
    hashes: set[int] = set()
    indexes: set[str] = set()

    def page_moved_on() -> bool:
        frame_hash = browser.run(SHOWN_FRAME_HASH)
        if frame_hash is not None:
            hashes.add(frame_hash)
        indexes.add(browser.run(READ_PAGE)["frameIndex"])
        return len(hashes) >= 2 and len(indexes - {"-"}) >= 2

    try:
        wait_until(lambda: _is_serving(port), 30)
        first = _stats(port)
        browser.open(f"http://127.0.0.1:{port}/")
        wait_until(page_moved_on, 30)
        browser.screenshot(tmp_path / "served-run.png")
        page = browser.run(READ_PAGE)
        later = _stats(port)
    finally:
        outcome = run.join()
    shutil.copyfile(tmp_path / "served-run.png", Path("/tmp/ballwatch_served_run.png"))  # noqa: S108

    assert later["frame_index"] != first["frame_index"]
    assert page["precision"] == "fp32"
    assert page["mode"] in {"tiles", "search", "track", "motion"}
    assert page["connection"] == "live"
    assert page["progress"].endswith(" / 240")
    assert outcome.summary.frames_processed + outcome.summary.frames_dropped == 240


def _stalled_viewer(port: int) -> socket.socket:
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    stalled.connect(("127.0.0.1", port))
    stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return stalled


def test_a_stalled_viewer_does_not_hold_the_pipeline_back(fake_detector: FakeDetector) -> None:
    # A replay without pacing uses the `block` policy: every frame goes through every stage,
    # so if the browser view waited on the viewer that never reads, the run would never end.
    # (How much latency a stalled viewer adds is a timing figure for bench/, not a test.)
    port = free_port()
    run = BackgroundRun(_serve_config(port, frames=300, realtime=False))
    wait_until(lambda: _is_serving(port), 30)
    stalled = _stalled_viewer(port)
    try:
        wait_until(lambda: _viewers(port) >= 1, 30)
        outcome = run.join()
    finally:
        stalled.close()

    assert outcome.summary.frames_processed == 300
    assert outcome.summary.frames_dropped == 0


def _viewers(port: int) -> int:
    server = _stats(port)["server"]
    assert isinstance(server, dict)
    return int(server["viewers"])

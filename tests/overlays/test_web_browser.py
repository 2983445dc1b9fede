"""The browser view in a real headless Chromium, driven over WebDriver (chromedriver)."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from overlays.web import WebView
from stream.latency import DropEvent, RunEvent
from tests.overlays.test_web import FrameFeeder, get_stats

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOT_COPY = Path("/tmp/ballwatch_web.png")  # noqa: S108 - a fixed place for a person to look

# Hashes the <img>'s current picture, so the test knows which frame the page shows right now.
SHOWN_FRAME_HASH = """
const img = document.getElementById("video");
if (!img.complete || img.naturalWidth === 0) return null;
const canvas = document.createElement("canvas");
canvas.width = img.naturalWidth;
canvas.height = img.naturalHeight;
const context = canvas.getContext("2d");
context.drawImage(img, 0, 0);
const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
let hash = 0;
for (let i = 0; i < data.length; i += 4) hash = (hash * 31 + data[i] + 3 * data[i + 1]) | 0;
return hash;
"""

READ_PAGE = """
const text = (id) => document.getElementById(id).textContent.trim();
const row = (id) => Array.from(document.getElementById(id).cells).map((c) => c.textContent);
return {
  frameIndex: text("frame-index"), fps: text("fps"), ballStatus: text("ball-status"),
  ballXY: text("ball-xy"), precision: text("precision"), mode: text("mode"),
  progress: text("progress"), drops: text("drops"), dropsByCause: text("drops-by-cause"),
  decision: text("decision"), connection: text("connection"),
  endToEnd: row("latency-end-to-end"), detector: row("latency-detector"),
  chartPoints: Number(document.getElementById("chart").dataset.points || 0),
  polls: Number(document.body.dataset.polls || 0),
};
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WebDriver:
    """The few W3C WebDriver commands this test needs, over plain HTTP and JSON."""

    def __init__(self, driver_url: str, user_data_dir: Path) -> None:
        self._driver_url = driver_url
        arguments = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={user_data_dir}",
            "--window-size=1280,860",
        ]
        options = {"binary": CHROMIUM, "args": arguments}
        capabilities = {"browserName": "chrome", "pageLoadStrategy": "eager"}
        capabilities["goog:chromeOptions"] = options  # type: ignore[assignment]
        session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self._session = f"/session/{session['sessionId']}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the local chromedriver
            self._driver_url + path, data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as error:
            pytest.fail(f"WebDriver {method} {path} failed: {error.read()[:500]!r}")

    def open(self, url: str) -> None:
        self._call("POST", f"{self._session}/url", {"url": url})

    def run(self, script: str) -> Any:
        return self._call("POST", f"{self._session}/execute/sync", {"script": script, "args": []})

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self._call("GET", f"{self._session}/screenshot")))

    def quit(self) -> None:
        self._call("DELETE", self._session)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian's chromium and chromedriver (apt-get install chromium-driver)")
    port = free_port()
    log = (tmp_path / "chromedriver.log").open("w")
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=log, stderr=log)
    driver_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _is_ready(driver_url), 20, "chromedriver did not start")
        web_driver = WebDriver(driver_url, tmp_path / "chromium-profile")
        try:
            yield web_driver
        finally:
            web_driver.quit()
    finally:
        driver.terminate()
        driver.wait(10)
        log.close()


def _is_ready(driver_url: str) -> bool:
    try:
        with urllib.request.urlopen(driver_url + "/status", timeout=2) as response:  # noqa: S310
            return bool(json.loads(response.read())["value"]["ready"])
    except OSError:
        return False


def wait_for(condition: Callable[[], bool], timeout_s: float, failure: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(failure)
        time.sleep(0.1)


def test_page_shows_live_frames_and_numbers(browser: WebDriver, tmp_path: Path) -> None:
    view = WebView(port=0)
    view.start()
    view.write(RunEvent("decision", 0, {"text": "fp32 meets the 40 ms budget: staying float"}))
    view.write(RunEvent("progress", 0, {"done": 0, "total": 250}))
    view.write(DropEvent(3, "queue_full", "capture", 0))
    shown_hashes: set[int] = set()
    shown_indexes: set[str] = set()

    def page_has_moved_on() -> bool:
        frame_hash = browser.run(SHOWN_FRAME_HASH)
        if frame_hash is not None:
            shown_hashes.add(frame_hash)
        shown_indexes.add(browser.run(READ_PAGE)["frameIndex"])
        return len(shown_hashes) >= 2 and len(shown_indexes - {"-"}) >= 2

    try:
        with FrameFeeder(view, interval_s=0.04, shape=(360, 640)) as feeder:
            browser.open(view.url)
            wait_for(page_has_moved_on, 60, "the page never showed two different frames")
            view.write(RunEvent("progress", 0, {"done": feeder.frames_written, "total": 250}))
            wait_for(lambda: browser.run(READ_PAGE)["progress"] != "0 / 250", 10, "no progress")
            browser.screenshot(tmp_path / "web.png")
            page = browser.run(READ_PAGE)
            stats = get_stats(view)
    finally:
        view.close()
    shutil.copyfile(tmp_path / "web.png", SCREENSHOT_COPY)

    assert page["connection"] == "live"
    assert int(page["frameIndex"]) <= stats["frame_index"]
    assert float(page["fps"]) > 0
    assert (page["ballStatus"], page["precision"], page["mode"]) == ("seen", "fp32", "track")
    assert page["ballXY"].startswith("(")
    assert page["decision"] == "fp32 meets the 40 ms budget: staying float"
    assert page["progress"].endswith(" / 250")
    assert (page["drops"], page["dropsByCause"]) == ("1", "queue_full 1")
    assert page["endToEnd"][0] == "end to end"
    assert 30.0 <= float(page["endToEnd"][2]) <= 40.0  # p50 of the feeder's 30-39 ms records
    assert float(page["detector"][2]) == pytest.approx(20.0)
    assert page["chartPoints"] >= 2
    assert (tmp_path / "web.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""The browser view in a real headless Chromium, driven by selenium (Debian's chromedriver)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options as ChromeOptions
from selenium.webdriver.chrome.service import Service as ChromeService

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


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,860",
)


class WebDriver:
    """selenium's Chrome driver on Debian's chromium and chromedriver.

    Both paths are given, so Selenium Manager downloads nothing (CI has no internet).
    The few calls the tests make are kept behind this small class.
    """

    def __init__(self, user_data_dir: Path, log_path: Path) -> None:
        options = ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}"):
            options.add_argument(flag)
        options.page_load_strategy = "eager"
        service = ChromeService(executable_path=str(CHROMEDRIVER), log_output=str(log_path))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(60)
        self.driver.set_script_timeout(60)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def run(self, script: str) -> Any:
        return self.driver.execute_script(script)

    def screenshot(self, path: Path) -> None:
        assert self.driver.save_screenshot(str(path)), f"no screenshot written to {path}"

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian's chromium and chromedriver (apt-get install chromium-driver)")
    web_driver = WebDriver(tmp_path / "chromium-profile", tmp_path / "chromedriver.log")
    try:
        yield web_driver
    finally:
        web_driver.quit()


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

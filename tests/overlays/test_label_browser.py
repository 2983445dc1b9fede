"""Label a synthetic clip in a real headless Chromium (selenium, the machine's chromedriver)."""

from __future__ import annotations

import argparse
import math
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from overlays.label.command import open_session
from overlays.label.server import LabelSession
from tests.overlays.label_media import GUESS_OFFSET, TruthPerception, write_synth_clip

# Chromium alone takes a minute to start on a loaded 2-core machine.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is a dev dependency")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WIDTH, HEIGHT = 320, 240
PREFILL_RING_PX = 8  # label.js draws the model's guess as a ring of this radius
LENS_ZOOM = 10


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian's chromium and chromedriver (apt-get install chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,900",
    ):  # fmt: skip
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    browser = webdriver.Chrome(options=options, service=service)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def clip(tmp_path: Path) -> Iterator[tuple[LabelSession, Path, list[Any]]]:
    video = tmp_path / "synth.mp4"
    truths = write_synth_clip(video, frames=40, size=(WIDTH, HEIGHT))
    args = argparse.Namespace(
        video=video, labels=None, serve="127.0.0.1:0", serve_token=None, no_prefill=False
    )
    session, labels = open_session(args, lambda: lambda: TruthPerception(truths))
    session.start()
    try:
        yield session, labels, truths
    finally:
        session.close()


def _until(browser: Any, condition: Callable[[Any], Any], what: str, timeout_s: float = 60) -> Any:
    return WebDriverWait(browser, timeout_s, poll_frequency=0.05).until(condition, what)


def _body(browser: Any, name: str) -> str:
    return str(browser.execute_script(f"return document.body.dataset.{name} ?? '';"))


def _show(browser: Any, frame: int) -> None:
    _until(browser, lambda b: _body(b, "shown") == str(frame), f"frame {frame} is not shown")


def _pixel(browser: Any, x: int, y: int) -> tuple[int, int, int]:
    data = browser.execute_script(
        "return Array.from(document.getElementById('frame').getContext('2d')"
        f".getImageData({x}, {y}, 1, 1).data);"
    )
    return int(data[0]), int(data[1]), int(data[2])


def _at(browser: Any, element_id: str, x: float, y: float, *, click: bool = True) -> None:
    """Move the mouse (and click) onto point (x, y) of an element, in CSS pixels.

    Pointer positions are whole viewport pixels and the element may sit at a fractional
    offset, so round up: ceil(left + x) - left lies in [x, x + 1), inside pixel x.
    """
    rect = browser.execute_script(
        f"const r = document.getElementById('{element_id}').getBoundingClientRect();"
        "return [r.left, r.top];"
    )
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(math.ceil(rect[0] + x), math.ceil(rect[1] + y))
    if click:
        actions.pointer_action.click()
    actions.perform()


def _press(browser: Any, key: str) -> None:
    ActionChains(browser).send_keys(key).perform()


def test_label_a_clip_in_the_browser(
    driver: Any, clip: tuple[LabelSession, Path, list[Any]]
) -> None:
    session, labels, truths = clip
    visible = [i for i, truth in enumerate(truths) if truth.is_visible]
    clicked, hidden = visible[:3], visible[3]
    assert clicked == [0, 1, 2], "the clip starts with the ball in view"
    assert hidden == 3
    driver.get(session.url)
    _until(driver, lambda b: _body(b, "ready") == "1", "the page did not load")
    _show(driver, 0)
    canvas = driver.find_element(By.ID, "frame")
    assert (canvas.rect["width"], canvas.rect["height"]) == (WIDTH, HEIGHT)

    # the model's guess is drawn before anything is confirmed
    guess = (round(truths[0].x) + GUESS_OFFSET[0], round(truths[0].y) + GUESS_OFFSET[1])
    _until(driver, lambda b: _body(b, "drawnXy") == f"{guess[0]},{guess[1]}", "no prefill")
    assert _body(driver, "drawn") == "model"
    red, green, blue = _pixel(driver, guess[0] + PREFILL_RING_PX, guess[1])
    assert red > 200, "the guess ring is orange"
    assert 100 < green < 180
    assert blue < 60

    # correct three frames by clicking the true centre (the third through the zoom lens)
    expected: dict[str, list[Any]] = {}
    for frame in clicked:
        _show(driver, frame)
        x, y = round(truths[frame].x), round(truths[frame].y)
        if frame == clicked[-1]:
            _press(driver, "n")  # a wrong key, undone
            _press(driver, "z")
            _at(driver, "frame", x - 2, y + 1, click=False)  # hover near it: the lens follows
            # the lens shows 21 x 21 pixels at 10x around the cursor's pixel (cell 10)
            _at(driver, "lens", (10 + 2) * LENS_ZOOM + 5, (10 - 1) * LENS_ZOOM + 5)
        else:
            _at(driver, "frame", x, y)
        expected[str(frame)] = [1, x, y, "person"]
        _until(driver, lambda b, f=frame: _body(b, "drawn") == "person", f"frame {frame}")
        _press(driver, "d")
    _show(driver, hidden)
    _press(driver, "n")
    expected[str(hidden)] = [0, None, None, "person"]
    _press(driver, "s")
    _until(driver, lambda b: _body(b, "unsaved") == "0" and _body(b, "confirmed") == "4", "save")

    driver.refresh()
    _until(driver, lambda b: _body(b, "ready") == "1", "the page did not reload")
    _show(driver, hidden)  # it reopens where the labelling left off
    assert driver.execute_script("return window.ballwatchLabel.labels;") == expected
    assert driver.find_element(By.ID, "confirmed").text == "4"
    rows = [f"{f},{lb[0]},{lb[1] or ''},{lb[2] or ''}" for f, lb in expected.items()]
    assert labels.read_text().splitlines() == ["Frame,Visibility,X,Y", *rows]

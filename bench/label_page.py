"""Scripted run through the labelling page: navigation speed and prefill time per frame.

    .venv/bin/python bench/label_page.py VIDEO [--steps 60] [--no-prefill]

Drives the page in headless Chromium (the machine's chromedriver): steps through frames
with the next key, then with the +10 key (a seek each), waiting each time until the page
shows the frame; meanwhile the prefill thread runs the bundled model (as ``ballwatch
label`` does) on the chunks the page asks for. Prints frames/s and prefill s/frame.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from overlays.label.command import open_session


def _browser(profile: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1600,1000",
    ):  # fmt: skip
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    return webdriver.Chrome(options=options, service=service)


def _shown(browser: webdriver.Chrome) -> int:
    return int(browser.execute_script("return Number(document.body.dataset.shown);"))


def _is_showing(target: int) -> Callable[[webdriver.Chrome], bool]:
    def condition(browser: webdriver.Chrome) -> bool:
        return _shown(browser) == target

    return condition


def _step(browser: webdriver.Chrome, key: str, count: int, stride: int) -> float:
    """Seconds per step: press ``key`` ``count`` times, each until the next frame is shown."""
    started = time.monotonic()
    for _ in range(count):
        target = _shown(browser) + stride
        ActionChains(browser).send_keys(key).perform()
        WebDriverWait(browser, 60, poll_frequency=0.01).until(_is_showing(target))
    return (time.monotonic() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("video", type=Path)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--no-prefill", action="store_true")
    parser.add_argument("--prefill-wait-s", type=float, default=240, help="prefill time measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        session_args = argparse.Namespace(
            video=args.video, labels=Path(scratch) / "labels.csv", serve="127.0.0.1:0",
            serve_token=None, no_prefill=args.no_prefill, config="default", weights=None,
        )  # fmt: skip
        session, _ = open_session(session_args)
        session.start()
        browser = _browser(Path(scratch) / "profile")
        try:
            browser.get(session.url)
            WebDriverWait(browser, 120).until(lambda b: _shown(b) == 0)
            next_s = _step(browser, "d", args.steps, 1)
            jump_s = _step(browser, "\ue00f", max(1, args.steps // 10), 10)  # PageDown
            print(f"next frame: {1 / next_s:.1f} frames/s ({next_s * 1000:.0f} ms each)")
            print(f"+10 jump (seek): {jump_s * 1000:.0f} ms each")
            if not args.no_prefill:
                deadline = time.monotonic() + args.prefill_wait_s
                stats = session.prefill_stats()
                while not stats["error"] and time.monotonic() < deadline:
                    time.sleep(1)
                    stats = session.prefill_stats()
                print(f"prefill: {stats}")
        finally:
            browser.quit()
            session.close()


if __name__ == "__main__":
    main()

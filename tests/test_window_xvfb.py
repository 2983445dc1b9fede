"""`ballwatch run synth:… --show` in a real window on a virtual display (Xvfb).

The test finds the window, screenshots it while the replay runs (HUD on), hides the
HUD (f), pauses (space) and screenshots it again; checks that each picture shows one of
the run's frames with the ball marker where the track says the ball is, the HUD on the
first and not on the second, quits with ``q`` and checks the exit status and the outputs.
Needs Xvfb, xdotool, ffmpeg (x11grab) and the GUI OpenCV (all installed by .ci/run
and ``make install``); skips, saying which is missing, elsewhere.
"""

from __future__ import annotations

import csv
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from overlays.drawers import PREDICTED_COLOR, SEEN_COLOR
from overlays.outputs import opencv_has_gui
from stream.synth import SynthMatch, parse_synth_uri

WIDTH, HEIGHT, FRAMES = 640, 360, 900
Shot = NDArray[np.uint8]
SOURCE = f"synth:?seed=3&frames={FRAMES}&width={WIDTH}&height={HEIGHT}&fps=25"
BALLWATCH = Path(sys.executable).with_name("ballwatch")
TITLE = "ballwatch"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # RF-DETR on a loaded CPU


def _missing() -> str | None:
    for tool in ("Xvfb", "xdotool", "xwininfo", "ffmpeg"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (.ci/run installs it)"
    if not opencv_has_gui():
        return "this OpenCV build is headless (make install puts opencv-python in .venv)"
    return None


def _shown_frame(shot: Shot, raws: list[Shot]) -> tuple[int, NDArray[np.bool_]]:
    """Which frame a screenshot shows, and where the HUD panel does not cover it.

    The synthetic noise repeats every 32 frames: exact pixels (over a quarter equal) find
    the noise phase; of the frames of that phase, the shown one differs from the
    screenshot outside the HUD only where all of them do (the marker and trail), the
    others also where the players and the ball moved.
    """
    equal = [float(np.all(shot == raw, axis=2).mean()) for raw in raws]
    phase = [index for index, share in enumerate(equal) if share > 0.25]
    assert phase, f"no frame matches the window (best {max(equal):.3f} equal)"
    # the HUD panel darkens a box from the top-left corner, keeping the content below: leave
    # out the bounding box of the darkened region that holds the corner (the marker's and
    # trail's dark outlines elsewhere are not the panel)
    darker = [(raws[index].astype(int) - shot).mean(axis=2) > 10 for index in phase]
    _, labels, stats, _ = cv2.connectedComponentsWithStats(
        np.logical_and.reduce(darker).astype(np.uint8)
    )
    outside = np.ones(shot.shape[:2], dtype=bool)
    panel = labels[2, 2]
    if panel:
        left, top, width, height = stats[panel][:4]
        outside[top : top + height, left : left + width] = False
    changed = {
        index: (np.abs(shot.astype(int) - raws[index]).max(axis=2) > 40) & outside
        for index in phase
    }
    overlay = np.logical_and.reduce(list(changed.values()))  # the marker and trail
    moved = {index: int((mask & ~overlay).sum()) for index, mask in changed.items()}
    ranked = sorted(phase, key=moved.__getitem__)
    if len(ranked) > 1:  # the overlay alone changes fewer pixels than moved players
        assert 2 * moved[ranked[0]] < moved[ranked[1]], f"ambiguous frames: {moved}"
    return ranked[0], outside


def _pause(display: str, window: str, geometry: tuple[int, int, int, int], stem: Path) -> Shot:
    """Press space and return the still picture once the frames in flight are shown."""
    _x(display, "xdotool", "key", "--window", window, "space")
    pictures: list[Shot] = []

    def settled() -> bool:  # the picture stays
        pictures.append(
            _screenshot(display, geometry, stem.with_name(f"{stem.name}-{len(pictures)}.png"))
        )
        return len(pictures) > 1 and np.array_equal(pictures[-1], pictures[-2])

    _wait_for("a still picture after pausing", settled, 120)
    return pictures[-1]


def _rows(track: Path) -> int:
    """Rows in the track file so far (it is flushed at least once a second)."""
    if not track.exists():
        return 0
    with track.open() as file:
        return max(sum(1 for _ in file) - 1, 0)


def _wait_for(what: str, check: Callable[[], object], timeout_s: float) -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def display() -> Iterator[str]:
    reason = _missing()
    if reason is not None:
        pytest.skip(reason)
    # -displayfd: Xvfb picks a free display number and writes it when it is ready
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert server.stdout is not None
    ready, _, _ = select.select([server.stdout], [], [], 30.0)
    assert ready, "Xvfb did not report a display within 30 s"
    number = server.stdout.readline().decode().strip()
    assert number.isdigit(), f"Xvfb reported {number!r}"
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(30)


def _x(display: str, *command: str) -> str:
    env = {**os.environ, "DISPLAY": display}
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False).stdout


def _window_id(display: str) -> str | None:
    ids = _x(display, "xdotool", "search", "--onlyvisible", "--name", f"^{TITLE}$").split()
    return ids[0] if ids else None


def _geometry(display: str, window: str) -> tuple[int, int, int, int]:
    info = _x(display, "xwininfo", "-id", window)
    fields = dict(line.strip().split(":", 1) for line in info.splitlines() if line.count(":") == 1)
    return tuple(  # type: ignore[return-value]
        int(fields[key])
        for key in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")
    )


def _screenshot(display: str, geometry: tuple[int, int, int, int], path: Path) -> NDArray[np.uint8]:
    x, y, width, height = geometry
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "x11grab", "-draw_mouse", "0",
         "-video_size", f"{width}x{height}", "-i", f"{display}+{x},{y}",
         "-frames:v", "1", str(path)],
        check=True,
        timeout=60,
    )  # fmt: skip
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)


def _video_frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _marker_pixels(image: NDArray[np.uint8], x: float, y: float) -> int:
    """Pixels of the marker colours within 13 px of (x, y) (ring radius 10, 2 px wide)."""
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    near = (xs - x) ** 2 + (ys - y) ** 2 <= 13**2
    count = 0
    for color in (SEEN_COLOR, PREDICTED_COLOR):
        distance = np.abs(image.astype(int) - np.array(color)).max(axis=2)
        count += int(np.count_nonzero((distance < 40) & near))
    return count


def test_show_opens_a_window_with_the_overlay_and_q_quits_cleanly(
    display: str, tmp_path: Path
) -> None:
    video, track = tmp_path / "out.mp4", tmp_path / "track.csv"
    log = (tmp_path / "stderr.txt").open("w")
    process = subprocess.Popen(
        [str(BALLWATCH), "run", SOURCE, "--show", "-o", str(video), "--track-csv", str(track),
         "--no-progress"],
        env={**os.environ, "DISPLAY": display},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )  # fmt: skip
    try:

        def window_up() -> str | None:
            assert process.poll() is None, (tmp_path / "stderr.txt").read_text()[-2000:]
            return _window_id(display)

        window = str(_wait_for("the window", window_up, 600))
        geometry = _geometry(display, window)
        assert geometry[2:] == (WIDTH, HEIGHT)  # the frame at its own size, no toolbar
        # once the ball is in play (a ball at rest may not be reported yet): one
        # picture with the HUD, then f hides it (the panel may cover the ball), then pause
        _wait_for("frame 30 in the track file", lambda: _rows(track) >= 30, 600)
        shots = [_screenshot(display, geometry, tmp_path / "running.png")]
        _x(display, "xdotool", "key", "--window", window, "f")  # the HUD off from the next frame
        hidden_from = _rows(track) + 5  # the file lags the window by up to a second
        _wait_for("frames without the HUD", lambda: _rows(track) >= hidden_from, 600)
        shots.append(_pause(display, window, geometry, tmp_path / "paused"))
        _x(display, "xdotool", "key", "--window", window, "q")
        status = process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert status == 0, stderr[-2000:]
    assert "DINOv2" not in stderr  # library noise stays hidden by default

    with track.open() as file:
        rows = list(csv.DictReader(file))
    assert 0 < len(rows) < FRAMES  # q stopped the replay early ...
    assert [int(row["frame"]) for row in rows] == list(range(len(rows)))  # ... with no gap
    assert _video_frame_count(video) == len(rows)  # the video holds every row's frame

    # each picture shows one of the run's frames (outside the overlay), with the marker
    # where the track file says; a picture may land on a frame without a ball
    match = SynthMatch(parse_synth_uri(SOURCE))
    raws = [match.frame(index)[0] for index in range(len(rows))]
    marked = 0
    for index, shot in enumerate(shots):
        shown, uncovered = _shown_frame(shot, raws)
        raw, row = raws[shown], rows[shown]
        hud = np.abs(shot[:40, :150].astype(int) - raw[:40, :150].astype(int)).mean()
        if index == 0:
            assert hud > 20  # the HUD panel darkens the top-left corner
        else:
            assert hud < 10  # f hid it (what differs there is at most the marker and trail)
        if row["status"] == "lost":
            continue
        x, y = float(row["x"]), float(row["y"])
        if not uncovered[int(y), int(x)]:
            continue  # the ball is under the HUD panel
        assert _marker_pixels(shot, x, y) >= 10  # the marker is drawn where the track says
        assert _marker_pixels(raw, x, y) == 0  # ... and those colours are not the pitch's
        marked += 1
    assert marked > 0, f"no picture showed a frame with a ball: {[r['status'] for r in rows]}"

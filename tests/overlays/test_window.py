"""The --show window's logic with a fake HighGUI: frames shown, keys, pause, quit, HUD.

The real window (Xvfb, screenshot, key presses) is tests/test_window_xvfb.py.
"""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from configs.app_config import load_config
from overlays.window import KeyAction, WhenVisible, Window, action_for_key
from perception.result import FrameResult
from stream import app
from stream.control import PlaybackControl
from stream.errors import OutputError
from tests.fakes import FakeDetector, RecordingOutput

WAIT_S = 30.0  # deadline of every wait on another thread


class FakeGui:
    """Records HighGUI calls; hands out queued key codes."""

    def __init__(self) -> None:
        self.shown: list[NDArray[np.uint8]] = []
        self.created = 0
        self.destroyed = 0
        self.keys: list[int] = []
        self.visible = 1.0

    def namedWindow(self, winname: str, flags: int = 0) -> None:  # noqa: N802
        self.created += 1

    def imshow(self, winname: str, mat: NDArray[np.uint8]) -> None:
        self.shown.append(mat)

    def waitKey(self, delay: int = 0) -> int:  # noqa: N802
        return self.keys.pop(0) if self.keys else -1

    def getWindowProperty(self, winname: str, prop_id: int) -> float:  # noqa: N802
        return self.visible

    def destroyWindow(self, winname: str) -> None:  # noqa: N802
        self.destroyed += 1


def _image(value: int) -> NDArray[np.uint8]:
    return np.full((4, 6, 3), value, np.uint8)


def _offer(window: Window, value: int) -> None:
    window.output.write(_image(value), None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "action"),
    [
        (ord("q"), KeyAction.QUIT),
        (27, KeyAction.QUIT),
        (ord(" "), KeyAction.PAUSE),
        (ord("f"), KeyAction.HUD),
        (ord("x"), KeyAction.NONE),
        (-1, KeyAction.NONE),
        (0x100000 | ord("q"), KeyAction.QUIT),  # modifier bits above the low byte
    ],
)
def test_keys_map_to_actions(key: int, action: KeyAction) -> None:
    assert action_for_key(key) is action


def test_the_window_opens_with_the_first_frame_and_shows_the_newest() -> None:
    gui = FakeGui()
    window = Window(PlaybackControl(), gui=gui)
    window.pump()
    assert gui.created == 0  # no frame yet: no window
    for value in (1, 2, 3):
        _offer(window, value)
    window.pump()
    window.pump()  # nothing new: nothing redrawn
    assert gui.created == 1
    assert [int(image[0, 0, 0]) for image in gui.shown] == [3]
    window.close()
    window.close()
    assert gui.destroyed == 1


def test_keys_quit_pause_and_toggle_the_hud() -> None:
    gui = FakeGui()
    control = PlaybackControl(hud_visible=True)
    stops: list[str] = []
    control.on_stop(lambda: stops.append("stop"))
    window = Window(control, gui=gui)
    _offer(window, 1)
    gui.keys = [ord(" "), ord("f")]
    window.pump()
    assert control.is_paused
    window.pump()
    assert not control.hud_visible
    gui.keys = [ord("q")]
    window.pump()
    assert control.stop_requested
    assert not control.is_paused  # a quit ends the pause
    assert stops == ["stop"]


def test_closing_the_window_stops_the_run() -> None:
    gui = FakeGui()
    control = PlaybackControl()
    window = Window(control, gui=gui)
    _offer(window, 1)
    gui.visible = 0.0
    window.pump()
    assert control.stop_requested


def test_no_display_is_one_sentence_with_the_fix() -> None:
    with pytest.raises(OutputError, match=r"--show needs a display .*ballwatch\[gui\]"):
        Window(PlaybackControl(), display_problem=lambda: "no DISPLAY or WAYLAND_DISPLAY is set")


def test_a_live_source_does_not_pause() -> None:
    control = PlaybackControl(can_pause=False)
    assert control.toggle_pause() is False
    assert not control.is_paused


def test_a_paused_wait_returns_on_resume_and_on_stop() -> None:
    control = PlaybackControl()
    assert control.wait_while_paused(threading.Event()) == 0.0
    control.toggle_pause()
    done = threading.Event()

    def wait() -> None:
        control.wait_while_paused(threading.Event())
        done.set()

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert not done.wait(0.2)  # still held (a slow machine only holds it longer)
    control.toggle_pause()
    assert done.wait(WAIT_S)
    waiter.join(WAIT_S)

    control.toggle_pause()
    stop = threading.Event()
    stop.set()
    assert control.wait_while_paused(stop) >= 0.0  # the stage's stop ends the pause too


def test_the_hud_drawer_follows_the_control() -> None:
    drawn: list[int] = []

    class Counting:
        def draw_on(self, image: NDArray[np.uint8], result: FrameResult) -> None:
            drawn.append(1)

    control = PlaybackControl(hud_visible=True)
    hud = WhenVisible(Counting(), lambda: control.hud_visible)
    hud.draw_on(_image(0), None)  # type: ignore[arg-type]
    control.toggle_hud()
    hud.draw_on(_image(0), None)  # type: ignore[arg-type]
    assert drawn == [1]


class _QuitAfter(RecordingOutput):
    """Asks the run to stop once ``count`` frames were written (as the q key does)."""

    def __init__(self, control: PlaybackControl, count: int) -> None:
        super().__init__()
        self._control = control
        self._count = count

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        super().write(image, result)
        if len(self.indices) == self._count:
            self._control.request_stop()


def test_a_quit_ends_the_run_normally_with_outputs_finalized(
    tmp_path: Path, fake_detector: FakeDetector
) -> None:
    config = load_config(
        None,
        {
            "source": "synth:?seed=3&frames=400&width=320&height=180",
            "output.track_csv": str(tmp_path / "track.csv"),
            "output.progress": False,
        },
    )
    control = PlaybackControl()
    quitter = _QuitAfter(control, 5)

    outcome = app.run(config, extra_outputs=(quitter,), control=control)

    assert not outcome.is_interrupted
    with (tmp_path / "track.csv").open() as file:
        frames = [int(row["frame"]) for row in csv.DictReader(file)]
    assert 5 <= len(frames) < 400  # stopped early; the frames in flight were finished
    assert frames == list(range(len(frames)))
    assert quitter.indices == frames
    assert quitter.closed

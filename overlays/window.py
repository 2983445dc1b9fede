"""The desktop window (``--show``): shows the rendered frames, turns keys into controls.

One thread owns every OpenCV GUI call: the thread that calls :meth:`Window.pump` and
:meth:`Window.close` (``app.run``'s thread, the main thread for the CLI). GUI toolkits
(Qt in opencv-python, Cocoa on macOS) must not be driven from two threads, and the
owner must keep handling events while the pipeline is paused or stalled, which the
render thread (blocked on its queue then) cannot. The render thread only hands its
newest drawn frame over through :class:`WindowOutput` (latest wins: a slow display
never holds the pipeline back).

Keys: ``q`` or Esc quits (outputs finalized, a normal end), space pauses or resumes a
replay, ``f`` shows or hides the HUD from the next frame on. Closing the window quits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from overlays.output import Drawer
from overlays.outputs import find_display_problem
from perception.result import FrameResult
from stream.control import PlaybackControl
from stream.errors import OutputError

logger = logging.getLogger(__name__)

_ESC = 27
_PUMP_MS = 15  # key/redraw handling about 60 times a second


class KeyAction(StrEnum):
    """What a key press asks for."""

    QUIT = "quit"
    PAUSE = "pause"
    HUD = "hud"
    NONE = "none"


def action_for_key(key: int) -> KeyAction:
    """The action of a ``cv2.waitKey`` code (-1 when no key was pressed)."""
    if key < 0:
        return KeyAction.NONE
    char = key & 0xFF
    if char in (ord("q"), ord("Q"), _ESC):
        return KeyAction.QUIT
    if char == ord(" "):
        return KeyAction.PAUSE
    if char in (ord("f"), ord("F")):
        return KeyAction.HUD
    return KeyAction.NONE


class Gui(Protocol):
    """The OpenCV HighGUI calls the window makes (``cv2`` itself, or a fake in tests)."""

    def namedWindow(self, winname: str, flags: int = ...) -> None: ...  # noqa: D102, N802

    def imshow(self, winname: str, mat: NDArray[np.uint8]) -> None: ...  # noqa: D102

    def waitKey(self, delay: int = ...) -> int: ...  # noqa: D102, N802

    def getWindowProperty(self, winname: str, prop_id: int) -> float: ...  # noqa: D102, N802

    def destroyWindow(self, winname: str) -> None: ...  # noqa: D102, N802


class _LatestFrame:
    """A one-slot mailbox between the render thread and the window's owner."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._image: NDArray[np.uint8] | None = None
        self._arrived = threading.Event()

    def put(self, image: NDArray[np.uint8]) -> None:
        with self._lock:
            self._image = image
        self._arrived.set()

    def take(self, timeout_s: float) -> NDArray[np.uint8] | None:
        """The newest frame not yet taken, waiting up to ``timeout_s`` for one."""
        self._arrived.wait(timeout_s)
        with self._lock:
            image, self._image = self._image, None
            self._arrived.clear()
        return image


class WindowOutput:
    """The render thread's side of the window: keeps the newest drawn frame."""

    def __init__(self, mailbox: _LatestFrame) -> None:
        self._mailbox = mailbox
        self.frames_offered = 0

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Offer ``image`` to the window (the renderer never touches it again)."""
        del result
        self._mailbox.put(image)
        self.frames_offered += 1

    def close(self) -> None:
        """Nothing to release here; the window's owner closes the window."""


class Window:
    """A desktop window showing the run; see the module docstring for the threads."""

    def __init__(
        self,
        control: PlaybackControl,
        title: str = "ballwatch",
        *,
        gui: Gui | None = None,
        display_problem: Callable[[], str | None] = find_display_problem,
    ) -> None:
        """Check that a window can be shown (it opens with the first frame).

        Raises:
            OutputError: there is no display or OpenCV has no GUI support.
        """
        if gui is None:
            problem = display_problem()
            if problem is not None:
                msg = (
                    f"--show needs a display and an OpenCV build with GUI support ({problem}); "
                    "install ballwatch[gui] (see README), or use -o FILE or --serve instead"
                )
                raise OutputError(msg)
        self.title = title
        self.control = control
        self._gui: Gui = cv2 if gui is None else gui  # type: ignore[assignment]
        self._mailbox = _LatestFrame()
        self.output = WindowOutput(self._mailbox)
        self._is_open = False
        self.frames_shown = 0

    def pump(self) -> None:
        """Show the newest frame and handle keys (owner thread; call it often)."""
        image = self._mailbox.take(0.0 if self._is_open else _PUMP_MS / 1000)
        try:
            if image is not None:
                if not self._is_open:
                    self._gui.namedWindow(self.title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
                    self._is_open = True
                self._gui.imshow(self.title, image)
                self.frames_shown += 1
            if not self._is_open:
                return
            self._handle(action_for_key(self._gui.waitKey(_PUMP_MS)))
            if self._gui.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                logger.info("window closed: stopping")
                self.control.request_stop()
        except cv2.error as exc:
            msg = f"cannot show window {self.title!r}: {exc}; use -o FILE or --serve instead"
            raise OutputError(msg) from exc

    def _handle(self, action: KeyAction) -> None:
        if action is KeyAction.QUIT:
            logger.info("quit key: finishing the frames in flight and closing the outputs")
            self.control.request_stop()
        elif action is KeyAction.PAUSE:
            is_paused = self.control.toggle_pause()
            logger.info("paused" if is_paused else "resumed")
        elif action is KeyAction.HUD:
            self.control.toggle_hud()

    def close(self) -> None:
        """Close the window (owner thread); safe to call more than once."""
        if not self._is_open:
            return
        self._is_open = False
        try:
            self._gui.destroyWindow(self.title)
            self._gui.waitKey(1)  # let the toolkit process the close
        except cv2.error:
            logger.debug("window %r was already closed", self.title)


class WhenVisible:
    """Draws ``drawer`` only while ``is_visible()`` (the HUD under the ``f`` key)."""

    def __init__(self, drawer: Drawer, is_visible: Callable[[], bool]) -> None:
        self._drawer = drawer
        self._is_visible = is_visible

    def draw_on(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Draw when visible."""
        if self._is_visible():
            self._drawer.draw_on(image, result)

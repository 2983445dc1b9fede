"""What a user can ask of a running pipeline: quit, pause a replay, show or hide the HUD.

The window's keys set these from the thread that owns the window; the capture stage
(pause), the HUD drawer (visibility) and the run loop (quit) read them from theirs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

_PAUSE_POLL_S = 0.05  # how often a paused capture looks at its stop event


class PlaybackControl:
    """Thread-safe switches of one run.

    ``request_stop`` is a graceful stop (the source stops reading, the frames in
    flight are finished, every output is finalized), the same as Ctrl-C but not an
    interruption: the run ends normally. Pausing holds the capture stage before its
    next read; only replays pause (``can_pause``): a camera or a stream cannot wait.
    """

    def __init__(self, *, can_pause: bool = True, hud_visible: bool = True) -> None:
        self.can_pause = can_pause
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._running.set()
        self._stop_requested = threading.Event()
        self._on_stop: list[Callable[[], None]] = []
        self._hud_visible = hud_visible

    @property
    def stop_requested(self) -> bool:
        """Whether the user asked the run to end."""
        return self._stop_requested.is_set()

    @property
    def is_paused(self) -> bool:
        """Whether the capture is held."""
        return not self._running.is_set()

    @property
    def hud_visible(self) -> bool:
        """Whether the HUD is drawn on the next frames."""
        return self._hud_visible

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when a stop is requested (at once if it already was)."""
        with self._lock:
            self._on_stop.append(callback)
            already = self._stop_requested.is_set()
        if already:
            callback()

    def request_stop(self) -> None:
        """End the run gracefully; also ends a pause. Idempotent."""
        with self._lock:
            if self._stop_requested.is_set():
                return
            self._stop_requested.set()
            callbacks = list(self._on_stop)
        self._running.set()
        for callback in callbacks:
            callback()

    def toggle_pause(self) -> bool:
        """Pause or resume; returns whether the run is now paused (never, if it cannot)."""
        if not self.can_pause:
            logger.info("pause is for replays; a live source cannot wait")
            return False
        with self._lock:
            if self._running.is_set() and not self._stop_requested.is_set():
                self._running.clear()
                return True
            self._running.set()
            return False

    def toggle_hud(self) -> bool:
        """Show or hide the HUD; returns whether it is now shown."""
        with self._lock:
            self._hud_visible = not self._hud_visible
            return self._hud_visible

    def wait_while_paused(self, stop_event: threading.Event) -> float:
        """Block while paused (until resumed, a stop request or ``stop_event``).

        Returns:
            Seconds spent paused (0.0 when not paused), so a paced replay can shift
            its clock by that much.
        """
        if self._running.is_set():
            return 0.0
        started = time.monotonic()
        while not self._running.wait(_PAUSE_POLL_S):
            if stop_event.is_set():
                break
        return time.monotonic() - started

"""The Output protocol: where rendered frames go (video file, window, browser, CSV)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from perception.result import FrameResult


class Output(Protocol):
    """A sink for rendered frames. Called only from the render thread.

    ``write`` gets the drawn BGR ``uint8`` ``(H, W, 3)`` image (the output may
    keep it; the renderer never touches it again) and the frame's result (pts,
    index, ball state…). ``close`` finalizes (a playable file, a flushed CSV) and
    is always called, also after a failure or Ctrl-C.
    """

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Take one rendered frame."""
        ...

    def close(self) -> None:
        """Finalize and release."""
        ...


class Drawer(Protocol):
    """One overlay (marker, trail, HUD). ``draw_on`` draws in place on ``image``."""

    def draw_on(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Draw this overlay on ``image`` for ``result``."""
        ...


class NullOutput:
    """An output that keeps nothing."""

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Discard the frame."""
        del image, result

    def close(self) -> None:
        """Nothing to release."""

"""What a detector sees of a frame: its colours, or three grey frames stacked (motion input).

A single frame often cannot tell a 5 px ball from a 5 px light or line end; a ball in play
is somewhere else one and two frames ago, clutter is not. TrackNet and its successors feed
the network several frames at once for this. :attr:`FrameInput.GREY_STACK` does the same
without changing the network: the three input channels hold the grey picture two frames
ago, one frame ago and now, so a still thing is grey (equal channels) and a moving ball is a
coloured dot, where it is now in one channel and where it was in the others. The bundled
RGB models fine-tune to it (same tensor shape), and crops, tiles, flips and the COCO folder
work unchanged, because a stacked frame is just a 3-channel picture.

"Frames ago" means *distinct pictures* ago: footage sent at a higher rate than it was shot
repeats pictures (25 fps broadcast sent at 30 repeats one in six), and a repeat would put
the ball at the same place in two channels. A picture counts as a repeat when almost none
of its pixels changed (:func:`is_repeat`, shared with :mod:`perception.change`).

Layout: the stacked image is a BGR array like every frame in this codebase, with channel
0 (blue) = now, 1 = one picture ago, 2 (red) = two pictures ago; the detector's BGR→RGB
step therefore hands the network (two ago, one ago, now).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np
from numpy.typing import NDArray

from perception.options import FrameInput

REPEAT_FLOOR = 8.0  # grey levels: a pixel changed by more than this is not a repeat's
_REPEAT_FRACTION = 1e-4  # share of changed pixels under which a picture is a repeat
MAX_REPEATS = 3  # real repeats come one at a time; after more, the history moves on


@runtime_checkable
class StackedInputDetector(Protocol):
    """A detector that says which frame input it was trained on."""

    @property
    def frame_input(self) -> FrameInput:
        """RGB crops, or crops of grey-stacked frames."""
        ...


def frame_input_of(detector: object) -> FrameInput:
    """The frame input ``detector`` expects (RGB for detectors that do not say)."""
    if isinstance(detector, StackedInputDetector):
        return detector.frame_input
    return FrameInput.RGB


def grey(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The grey picture of a BGR ``uint8`` frame."""
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def is_repeat(now: NDArray[np.uint8], previous: NDArray[np.uint8], floor: float) -> bool:
    """True when ``now`` repeats ``previous`` (see :func:`is_repeat_change`).

    Looks at every second pixel of each row and column (a ball is bigger than 2 px; a
    quarter of the work).
    """
    return is_repeat_change(cv2.absdiff(now[::2, ::2], previous[::2, ::2]), floor)


def is_repeat_change(change: NDArray[Any], floor: float) -> bool:
    """True when under 1 pixel in 10,000 of a picture-to-picture ``change`` is over ``floor``.

    Players move thousands of pixels between two pictures; a repeated picture moves none
    but compression noise.
    """
    return float((change > floor).mean()) < _REPEAT_FRACTION


def median_change(change: NDArray[Any]) -> float:
    """``np.median`` of a grey-level change (integers 0-255), from a 256-bin histogram.

    Exactly np.median's value (the mean of the two middle values for an even count), in
    a tenth of its time at 640x360 (np.median sorts: 3.2 ms).
    """
    levels = np.ascontiguousarray(change, dtype=np.uint8)
    counts = cv2.calcHist([levels], [0], None, [256], [0, 256]).ravel()
    ranks = np.cumsum(counts.astype(np.int64))
    total = int(ranks[-1])
    if total == 0:
        return float("nan")
    low = int(np.searchsorted(ranks, (total - 1) // 2, side="right"))
    high = int(np.searchsorted(ranks, total // 2, side="right"))
    return (low + high) / 2


def stack(
    older: NDArray[np.uint8], previous: NDArray[np.uint8], now: NDArray[np.uint8]
) -> NDArray[np.uint8]:
    """Three grey pictures as one BGR image: blue ``now``, green ``previous``, red ``older``."""
    # cv2.merge interleaves the planes in a sixth of np.stack's time (0.2 vs 1.2 ms at 720p)
    return np.asarray(cv2.merge([now, previous, older]), dtype=np.uint8)


class FrameStack:
    """Turns consecutive frames into grey stacks; remembers the last distinct pictures.

    Not thread-safe: one owner (the perception thread, or the dataset builder for one clip).
    Until two earlier pictures exist, the missing ones are the oldest known (the first
    frame's stack is its grey picture three times: no motion to see yet).
    """

    def __init__(self, floor: float = REPEAT_FLOOR) -> None:
        self._floor = floor
        self._history: deque[NDArray[np.uint8]] = deque(maxlen=3)  # distinct pictures
        self._repeats = 0

    def reset(self) -> None:
        """Forget the earlier pictures (a new clip or stream epoch)."""
        self._history.clear()
        self._repeats = 0

    def push(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The stacked picture of ``image`` (BGR ``(H, W, 3)``), given the frames pushed before."""
        now = grey(image)
        history = self._history
        if history and history[-1].shape != now.shape:
            self.reset()
        if history and self._repeats < MAX_REPEATS and is_repeat(now, history[-1], self._floor):
            # the same picture again: its earlier pictures are those of the one it repeats
            self._repeats += 1
            history[-1] = now
        else:
            self._repeats = 0
            history.append(now)
        pictures = list(history)  # oldest first; the last one is now's
        previous = pictures[-2] if len(pictures) > 1 else now
        older = pictures[-3] if len(pictures) > 2 else pictures[0]
        return stack(older, previous, now)


def as_input(
    images: Iterable[NDArray[np.uint8]], frame_input: FrameInput
) -> Iterator[NDArray[np.uint8]]:
    """A clip's frames, in order, as ``frame_input`` shows them (RGB frames pass through)."""
    if frame_input is FrameInput.RGB:
        yield from images
        return
    frames = FrameStack()
    for image in images:
        yield frames.push(image)

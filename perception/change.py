"""Did the picture change under a candidate? Static clutter is told apart by its pixels.

On broadcast footage the detector also scores logos, lights, line ends and net tape as a
ball (0.4-0.7 with the real model, every frame), and from a single frame it often cannot
do better. Time can: a ball in play is somewhere else on the previous frames, so the
pixels under it now differ from the same pixels one and two frames ago; the pixels under
a logo do not. For each candidate this module takes the largest change inside its box
(the *minimum* of the differences to the previous two frames, per pixel: the classic
three-frame difference, which keeps where the ball is now and drops where it was) and
calls the candidate *moving* when that change is over a threshold: the larger of a fixed
floor and ``noise_sigmas`` times the frame's robust noise (median absolute difference).

A repeated picture (25 fps footage sent at 30 repeats one picture in six) is compared
with the picture before the one it repeats: a ball did not move between the two copies.
A picture is taken for a repeat when almost none of its pixels changed (under 1 in
10,000 over the floor; players move thousands). A quiet picture taken for a repeat by
mistake is harmless: the ball still differs from two pictures back, a logo still does not.
The second frame has only one picture before it and is judged on that one difference.
No verdict (every candidate counts as moving, as without this check) on the first
frame, after a size change, and when most of the picture changed (a pan or a cut:
everything differs). It works at full resolution on a few small boxes, so it costs
a grey conversion and a few microseconds per candidate; the motion gate
(:mod:`perception.motion`) answers a different question (where to look) at low resolution.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np
from numpy.typing import NDArray

from perception.detections import Detections
from perception.frame_input import MAX_REPEATS, is_repeat_change, median_change

_MAD_TO_SIGMA = 1.4826
_MIN_HALF_PX = 3  # a box smaller than a ball of 6 px still looks at 7x7 pixels
_MAX_HALF_PX = 16  # a large box is not a ball: its centre part is enough


class CandidateChange:
    """Says which candidates sit where the picture changed over the last two frames.

    Not thread-safe: called from the perception thread only, frames in order.

    Args:
        floor: grey-level change always counted as motion (0 turns the check off).
        noise_sigmas: the threshold in robust noise sigmas, if higher than ``floor``.
        max_typical: a median frame difference above this is a pan or a cut: no verdict.
    """

    def __init__(self, floor: float, noise_sigmas: float, max_typical: float = 6.0) -> None:
        self._floor = floor
        self._noise_sigmas = noise_sigmas
        self._max_typical = max_typical
        self._history: deque[NDArray[np.int16]] = deque(maxlen=2)  # distinct pictures
        self._repeats = 0

    def reset(self) -> None:
        """Forget the previous frames (a new stream epoch)."""
        self._history.clear()
        self._repeats = 0

    def moving(self, image: NDArray[np.uint8], detections: Detections) -> NDArray[np.bool_] | None:
        """Take the next frame; which of its candidates changed, or None for no verdict.

        Args:
            image: BGR ``uint8`` ``(H, W, 3)`` frame.
            detections: the candidates on it, in its pixels.

        Returns:
            ``(N,)`` mask, True where the pixels under the box changed; None when this
            frame gives no verdict (see the module docstring).
        """
        if self._floor <= 0:
            return None
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.int16)
        if self._history and self._history[-1].shape != grey.shape:
            self._history.clear()
        if not self._history:
            self._history.append(grey)
            return None
        previous = self._history[-1]
        older = self._history[0]  # the same picture on the second frame: one difference
        recent = np.abs(grey[::2, ::2] - previous[::2, ::2])
        is_repeat = is_repeat_change(recent, self._floor)
        if is_repeat and len(self._history) == 2 and self._repeats < MAX_REPEATS:
            self._repeats += 1
            previous = older  # the picture it repeats is the previous one: look further back
            self._history[-1] = grey
        else:
            self._repeats = 0
            self._history.append(grey)
        if len(detections) == 0:
            return np.zeros(0, dtype=bool)  # the history moved on; no median needed
        typical = median_change(recent)
        if typical > self._max_typical:
            return None
        threshold = max(self._floor, self._noise_sigmas * _MAD_TO_SIGMA * typical)
        height, width = grey.shape
        result = np.zeros(len(detections), dtype=bool)
        for index, (x0, y0, x1, y1) in enumerate(detections.xyxy):
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            half_x = int(np.clip((x1 - x0) / 2, _MIN_HALF_PX, _MAX_HALF_PX))
            half_y = int(np.clip((y1 - y0) / 2, _MIN_HALF_PX, _MAX_HALF_PX))
            left, right = max(int(cx) - half_x, 0), min(int(cx) + half_x + 1, width)
            top, bottom = max(int(cy) - half_y, 0), min(int(cy) + half_y + 1, height)
            if left >= right or top >= bottom:
                continue
            now = grey[top:bottom, left:right]
            change = np.minimum(
                np.abs(now - previous[top:bottom, left:right]),
                np.abs(now - older[top:bottom, left:right]),
            )
            result[index] = int(change.max()) > threshold
        return result

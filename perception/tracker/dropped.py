"""Positions for the frames a live run dropped, between two processed frames that saw the ball.

Owns :class:`DroppedFrames`, fed the settled results in frame order by the outputs that
keep a row per frame (the track CSV, ``eval``'s scorer). Pure bookkeeping, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from perception.result import BallState, TrackStatus

MAX_BRIDGED_FRAMES = 3  # at 30 fps, 100 ms: the ball's path is close to a line


@dataclass(frozen=True, slots=True)
class BridgedFrame:
    """A dropped frame given a position.

    Attributes:
        index: the frame's index in the source.
        pts_s: its time, between the processed frames around it.
        ball: where the ball was (status ``predicted``: no detector looked at it).
    """

    index: int
    pts_s: float
    ball: BallState


class DroppedFrames:
    """Bridges the gaps a live run leaves in the frame indices, where it is safe to.

    The one place deciding which dropped frames get a position. A live run drops the
    frames the pipeline cannot take (the newest frame wins), so its track had no row
    for them and ``eval`` counted each as a miss. When the processed frames on both
    sides of at most ``max_frames`` dropped frames saw the ball, the ball went from one
    position to the other in at most ``max_frames + 1`` frame intervals (100 ms at 30 fps
    for the default 3): the line between them, evenly in time, is where it was. Longer
    gaps (a hit or a bounce fits in them), gaps next to a lost or predicted frame, and
    gaps across a clock that did not move forward (a live source restarting) are left
    without a position. Not thread-safe: one output owns it.

    Args:
        max_frames: the most dropped frames in a row that are bridged.
    """

    def __init__(self, max_frames: int = MAX_BRIDGED_FRAMES) -> None:
        if max_frames < 0:
            msg = f"max_frames must be >= 0, but got {max_frames}"
            raise ValueError(msg)
        self._max_frames = max_frames
        self._last: tuple[int, float, BallState] | None = None

    def bridge(self, index: int, pts_s: float, ball: BallState) -> list[BridgedFrame]:
        """The dropped frames just before this processed one that get a position.

        Args:
            index: the processed frame's index (frames arrive in increasing order).
            pts_s: its time in seconds.
            ball: its settled ball.

        Returns:
            The bridged frames between the previous processed frame and this one, in
            order; empty when none were dropped or the gap is not bridged.
        """
        last, self._last = self._last, (index, pts_s, ball)
        if last is None:
            return []
        last_index, last_pts_s, last_ball = last
        gap = index - last_index - 1
        if not 0 < gap <= self._max_frames or pts_s <= last_pts_s:
            return []  # nothing dropped, too long a gap, or a clock that restarted
        if last_ball.status is not TrackStatus.SEEN or ball.status is not TrackStatus.SEEN:
            return []
        bridged = []
        for step in range(1, gap + 1):
            share = step / (gap + 1)
            position = BallState(
                TrackStatus.PREDICTED,
                last_ball.x + share * (ball.x - last_ball.x),
                last_ball.y + share * (ball.y - last_ball.y),
            )
            pts = last_pts_s + share * (pts_s - last_pts_s)
            bridged.append(BridgedFrame(last_index + step, pts, position))
        return bridged

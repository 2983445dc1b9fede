"""Dropped frames of a live run: which get a position, and where."""

from __future__ import annotations

import pytest

from perception.evaluate import TrackCollector
from perception.result import BallState, TrackStatus
from perception.tracker.dropped import DroppedFrames
from tests.overlays.test_outputs import make_result


def seen(x: float, y: float) -> BallState:
    return BallState(TrackStatus.SEEN, x, y, 0.9)


def test_two_dropped_frames_between_seen_frames_lie_evenly_on_the_line() -> None:
    # given frames 0 and 3 processed (1 and 2 dropped), the ball seen on both
    bridge = DroppedFrames(max_frames=3)
    assert bridge.bridge(0, 0.0, seen(100.0, 50.0)) == []

    # when frame 3 arrives
    bridged = bridge.bridge(3, 0.1, seen(130.0, 80.0))

    # then frames 1 and 2 are a third and two thirds of the way, in place and time
    assert [b.index for b in bridged] == [1, 2]
    assert [b.ball.status for b in bridged] == [TrackStatus.PREDICTED] * 2
    assert [(b.ball.x, b.ball.y) for b in bridged] == [
        pytest.approx((110.0, 60.0)),
        pytest.approx((120.0, 70.0)),
    ]
    assert [b.pts_s for b in bridged] == [pytest.approx(1 / 30), pytest.approx(2 / 30)]


@pytest.mark.parametrize(
    ("before", "after", "next_index"),
    [
        (seen(0, 0), seen(40, 0), 5),  # 4 dropped: longer than 3 (a hit fits in it)
        (BallState(TrackStatus.PREDICTED, 0, 0), seen(20, 0), 3),  # coasting before
        (seen(0, 0), BallState.lost(), 3),  # lost after
        (seen(0, 0), seen(10, 0), 1),  # nothing dropped
        (seen(0, 0), seen(20, 0), -3),  # the clock went back (a live source restarted)
    ],
    ids=["gap-too-long", "predicted-before", "lost-after", "no-gap", "clock-went-back"],
)
def test_gaps_that_are_not_bridged(before: BallState, after: BallState, next_index: int) -> None:
    bridge = DroppedFrames(max_frames=3)
    bridge.bridge(0, 1.0, before)
    index = abs(next_index)
    assert bridge.bridge(index, 1.0 + next_index / 30, after) == []


def test_the_collector_keeps_bridged_frames_apart_from_processed_ones() -> None:
    # given frames 0, 2 and 3 of a live run (frame 1 dropped), the ball seen throughout
    collector = TrackCollector()
    for index, x in ((0, 100.0), (2, 120.0), (3, 130.0)):
        result = make_result(index, pts_s=index / 30, ball=seen(x, 40.0))
        collector.write(result.frame.image, result)

    # then 3 frames count as processed, and frame 1 is scored at the bridged position
    assert sorted(collector.balls) == [0, 2, 3]
    assert collector.bridged == {1: BallState(TrackStatus.PREDICTED, 110.0, 40.0)}
    outputs = collector.outputs(5)
    assert [o.x if o else None for o in outputs] == [100.0, 110.0, 120.0, 130.0, None]
    unbridged = collector.outputs(5, with_bridged=False)
    assert [o.x if o else None for o in unbridged] == [100.0, None, 120.0, 130.0, None]


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_frames must be >= 0"):
        DroppedFrames(max_frames=-1)

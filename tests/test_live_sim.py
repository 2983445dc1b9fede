"""The simulated live bench's queue: which frames a worker slower than its source gets."""

from __future__ import annotations

import pytest

from bench.live_sim import CostModel, VirtualQueue


def run(queue: VirtualQueue, busy: float) -> list[tuple[int, float]]:
    """Take frames until the end, the worker busy ``busy`` after each start."""
    taken, now = [], 0.0
    while (step := queue.take(now)) is not None:
        taken.append(step)
        now = step[1] + busy
    return taken


def test_a_worker_slower_than_the_source_gets_the_newest_frame_and_drops_the_older() -> None:
    queue = VirtualQueue([0.0, 40.0, 80.0, 120.0, 160.0, 200.0], depth=1)  # 25 fps, in ms

    taken = run(queue, busy=60.0)

    # 0 at 0; 1 (came at 40) at 60; at 120 frames 2 and 3 wait: 3 pushes 2 out; 4 at 180 ...
    assert taken == [(0, 0.0), (1, 60.0), (3, 120.0), (4, 180.0), (5, 240.0)]
    assert queue.dropped == [2]


def test_an_idle_worker_waits_for_the_next_frame_and_drops_nothing() -> None:
    queue = VirtualQueue([0.0, 40.0, 80.0], depth=1)

    assert run(queue, busy=10.0) == [(0, 0.0), (1, 40.0), (2, 80.0)]
    assert queue.dropped == []


def test_a_deeper_queue_drops_less_and_its_frames_wait_longer() -> None:
    queue = VirtualQueue([0.0, 40.0, 80.0, 120.0, 160.0, 200.0], depth=2)

    taken = run(queue, busy=60.0)

    assert taken == [(0, 0.0), (1, 60.0), (2, 120.0), (3, 180.0), (4, 240.0), (5, 300.0)]
    assert queue.dropped == []
    assert taken[-1][1] - 200.0 == 100.0  # frame 5 waited 100 ms (40 with a queue of one)


def test_the_cost_grows_with_the_crops_given_to_the_detector() -> None:
    cost = CostModel(frame_ms=5.0, crop_ms=20.0)
    assert cost.busy_ms(0, 128) == 5.0  # a blob frame: no detector call
    assert cost.busy_ms(2 * 128 * 128, 128) == pytest.approx(45.0)
    assert cost.busy_ms(192 * 192, 128) == pytest.approx(5.0 + 20.0 * 2.25)

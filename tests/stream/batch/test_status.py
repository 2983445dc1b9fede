"""The batch's live status: counters on a fake clock, and the numbers the browser view shows."""

from __future__ import annotations

from typing import Any

import pytest

from stream.batch.progress import BatchProgress
from stream.batch.status import BatchStatus, StatusSnapshot, WorkerStatus, status_numbers

NS_PER_S = 1_000_000_000


def _snapshot(**changes: Any) -> StatusSnapshot:
    fields: dict[str, Any] = {
        "recordings_total": 5,
        "recordings_done": 2,
        "recordings_failed": 1,
        "frames_total": 1000,
        "frames_finished": 300,
        "workers": (WorkerStatus(0, "a [2/4]", 50, 100), WorkerStatus(2, "b", 150, None)),
        "started_ns": 1 * NS_PER_S,
        "taken_ns": 11 * NS_PER_S,
    }
    return StatusSnapshot(**(fields | changes))


def test_numbers_add_finished_and_in_flight_frames_and_extrapolate_the_eta() -> None:
    # given 300 frames of finished tasks and 200 in flight, 10 s after the first task started
    snapshot = _snapshot()

    # when
    numbers = status_numbers(snapshot)

    # then 500 frames in 10 s: 50 frames/s, so the 500 left take 10 s
    assert numbers == {
        "recordings": {"done": 2, "failed": 1, "total": 5},
        "frames": {"done": 500, "total": 1000},
        "elapsed_s": 10.0,
        "frames_per_s": 50.0,
        "eta_s": 10.0,
        "workers": [
            {"worker": 1, "label": "a [2/4]", "frames_done": 50, "frames_expected": 100},
            {"worker": 3, "label": "b", "frames_done": 150, "frames_expected": None},
        ],
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"started_ns": None, "frames_finished": 0, "workers": ()},
            {"elapsed_s": 0.0, "frames_per_s": None, "eta_s": None},
            id="before-the-first-task",
        ),
        pytest.param(
            {"frames_finished": 0, "workers": (WorkerStatus(0, "a", 0, 100),)},
            {"elapsed_s": 10.0, "frames_per_s": None, "eta_s": None},
            id="no-frame-written-yet",
        ),
        pytest.param(
            {"frames_total": None},
            {"elapsed_s": 10.0, "frames_per_s": 50.0, "eta_s": None},
            id="total-unknown",
        ),
        pytest.param(
            {"frames_total": 400},
            {"elapsed_s": 10.0, "frames_per_s": 50.0, "eta_s": 0.0},
            id="retries-counted-past-the-total",
        ),
        pytest.param(
            {"taken_ns": 4 * NS_PER_S},
            {"elapsed_s": 3.0, "frames_per_s": 166.7, "eta_s": 3.0},
            id="rounded-to-a-tenth",
        ),
    ],
)
def test_rate_and_eta_edges(changes: dict[str, Any], expected: dict[str, Any]) -> None:
    numbers = status_numbers(_snapshot(**changes))

    assert {key: numbers[key] for key in expected} == expected


def test_a_snapshot_with_more_recordings_ended_than_exist_is_refused() -> None:
    with pytest.raises(ValueError, match=r"done \+ failed <= total, but got done=4, failed=2"):
        _snapshot(recordings_done=4, recordings_failed=2)


def test_status_counts_from_the_first_task_start_on_its_clock() -> None:
    # given
    now_ns = [5 * NS_PER_S]
    status = BatchStatus(3, 90, clock=lambda: now_ns[0])
    status.recording_finished(is_ok=True)  # reused from an earlier run: before any task

    # when two workers run, one finishes its task, and one recording fails
    now_ns[0] = 7 * NS_PER_S
    status.worker(0, "x", 0, 40)
    status.worker(1, "y [1/2]", 0, 25)
    now_ns[0] = 9 * NS_PER_S
    status.worker(1, "y [1/2]", 20, 25)
    status.task_finished(0, 40)
    status.recording_finished(is_ok=False)
    now_ns[0] = 11 * NS_PER_S

    # then
    assert status.snapshot() == StatusSnapshot(
        recordings_total=3,
        recordings_done=1,
        recordings_failed=1,
        frames_total=90,
        frames_finished=40,
        workers=(WorkerStatus(1, "y [1/2]", 20, 25),),
        started_ns=7 * NS_PER_S,
        taken_ns=11 * NS_PER_S,
    )
    assert status_numbers(status.snapshot())["eta_s"] == 2.0  # 60 frames in 4 s, 30 left


def test_the_bars_feed_the_status_the_browser_view_reads() -> None:
    # given
    status = BatchStatus(2, 30, clock=lambda: 0)
    progress = BatchProgress(status, is_enabled=False)

    # when
    progress.worker(0, "a", 0, 10)
    progress.worker(1, "b", 4, 20)
    progress.task_finished(0, 10)
    progress.recording_finished(is_ok=True)
    progress.close()

    # then
    numbers = status_numbers(status.snapshot())
    assert (numbers["recordings"], numbers["frames"]) == (
        {"done": 1, "failed": 0, "total": 2},
        {"done": 14, "total": 30},
    )
    assert numbers["workers"] == [
        {"worker": 2, "label": "b", "frames_done": 4, "frames_expected": 20}
    ]

"""The track CSV: rows as a user reads them, on disk within a second, and a full disk."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from overlays.track_csv import TrackCsvOutput
from perception.result import BallState, TrackStatus
from stream.errors import OutputError
from tests.overlays.test_outputs import make_result, write_all

NS_PER_S = 1_000_000_000


def test_track_csv_has_one_row_per_frame_and_empty_fields_when_lost(tmp_path: Path) -> None:
    path = tmp_path / "track.csv"
    results = [
        make_result(0, ball=BallState(TrackStatus.SEEN, 10.5, 20.25, 0.875)),
        make_result(1, ball=BallState(TrackStatus.PREDICTED, 12.0, 21.0)),
        make_result(2, ball=BallState.lost()),
    ]

    write_all(TrackCsvOutput(path), results)

    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows == [
        ["frame", "pts_s", "status", "x", "y", "confidence"],
        ["0", "0.000000", "seen", "10.50", "20.25", "0.8750"],
        ["1", "0.033367", "predicted", "12.00", "21.00", "0.0000"],
        ["2", "0.066733", "lost", "", "", ""],
    ]


def test_a_live_run_s_dropped_frames_between_seen_frames_get_predicted_rows(
    tmp_path: Path,
) -> None:
    # given a live run that processed frames 0, 3 and 8 (1-2 and 4-7 dropped)
    path = tmp_path / "track.csv"
    results = [
        make_result(0, pts_s=0.0, ball=BallState(TrackStatus.SEEN, 100.0, 50.0, 0.9)),
        make_result(3, pts_s=0.1, ball=BallState(TrackStatus.SEEN, 130.0, 80.0, 0.8)),
        make_result(8, pts_s=0.3, ball=BallState(TrackStatus.SEEN, 150.0, 80.0, 0.7)),
    ]

    write_all(TrackCsvOutput(path), results)

    # then frames 1 and 2 get rows on the line between their neighbours; the four
    # dropped after frame 3 (too long a gap to bridge) get none
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[1:] == [
        ["0", "0.000000", "seen", "100.00", "50.00", "0.9000"],
        ["1", "0.033333", "predicted", "110.00", "60.00", "0.0000"],
        ["2", "0.066667", "predicted", "120.00", "70.00", "0.0000"],
        ["3", "0.100000", "seen", "130.00", "80.00", "0.8000"],
        ["8", "0.300000", "seen", "150.00", "80.00", "0.7000"],
    ]


def test_track_csv_rows_reach_the_disk_once_a_second_not_once_a_row(tmp_path: Path) -> None:
    # given a CSV flushed every second by a clock the test moves
    path = tmp_path / "track.csv"
    now_ns = [0]
    output = TrackCsvOutput(path, flush_interval_s=1.0, clock=lambda: now_ns[0])

    # when rows come at 0.5 s and 0.9 s, nothing has been flushed yet ...
    for index, at_s in enumerate([0.5, 0.9]):
        now_ns[0] = round(at_s * NS_PER_S)
        result = make_result(index)
        output.write(result.frame.image, result)
    unflushed = path.read_text()

    # ... and the row at 1.0 s flushes all three
    now_ns[0] = NS_PER_S
    result = make_result(2)
    output.write(result.frame.image, result)

    assert unflushed == ""
    assert len(path.read_text().splitlines()) == 4
    output.close()


def test_track_csv_unwritable_path_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"track CSV .*missing.*does not exist"):
        TrackCsvOutput(tmp_path / "missing" / "track.csv")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_track_csv_on_a_full_disk_names_the_file_and_the_cause_once() -> None:
    # given a CSV on a device where every write fails with ENOSPC
    output = TrackCsvOutput("/dev/full", clock=iter(range(0, 10 * NS_PER_S, NS_PER_S)).__next__)
    result = make_result(0)

    # when a row is due for flushing, then the error names the file and the cause
    with pytest.raises(OutputError, match=r"track CSV '/dev/full': No space left on device"):
        output.write(result.frame.image, result)
    output.close()  # the failure was reported once: closing does not raise it again

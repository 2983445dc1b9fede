"""Time-based flushing of the logs, on an injected clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream.errors import OutputError
from stream.flushing import FlushSchedule
from stream.latency import JsonlLatencyLog, RunEvent

NS_PER_S = 1_000_000_000


def test_flush_is_due_once_per_interval_whatever_the_write_rate() -> None:
    times_s = [0.0, 0.3, 0.99, 1.0, 1.5, 2.2, 2.3, 9.0]
    clock = iter(round(t * NS_PER_S) for t in times_s)
    schedule = FlushSchedule(1.0, clock=clock.__next__)  # construction reads 0.0

    due = [t for t in times_s[1:] if schedule.is_due()]

    assert due == [1.0, 2.2, 9.0]


def test_flush_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s must be > 0, but got 0"):
        FlushSchedule(0.0)


def test_latency_log_lines_reach_the_disk_within_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    now_ns = [0]
    log = JsonlLatencyLog(path, flush_interval_s=1.0, clock=lambda: now_ns[0])

    log.write(RunEvent("start", 1))
    before = path.read_text()
    now_ns[0] = NS_PER_S
    log.write(RunEvent("end", 2))

    assert before == ""
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == [
        "start",
        "end",
    ]
    log.close()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_latency_log_on_a_full_disk_fails_once_naming_the_file() -> None:
    log = JsonlLatencyLog(Path("/dev/full"), flush_interval_s=1e-9)

    with pytest.raises(OutputError, match=r"latency log '/dev/full': No space left on device"):
        log.write(RunEvent("start", 1))
    log.write(RunEvent("end", 2))  # dropped: the run is already stopping on the first error
    log.close()

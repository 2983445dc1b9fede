from __future__ import annotations

import numpy as np
import pytest

from stream.latency import DropEvent, LatencyRecord, RunEvent
from stream.latency_summary import (
    LatencyStage,
    format_summary,
    percentile_ms,
    ran_detector,
    stage_values,
    summarize,
)

MS = 1_000_000


def make_record(
    index: int,
    *,
    captured_ms: float,
    queue_ms: float = 1.0,
    infer_ms: float | None = 10.0,
    render_ms: float = 2.0,
    write_ms: float = 1.0,
    **labels: str,
) -> LatencyRecord:
    """A record whose stages last exactly the given ms (enqueue = capture)."""
    captured = round(captured_ms * MS)
    dequeued = captured + round(queue_ms * MS)
    if infer_ms is None:
        infer_start = infer_end = 0
        after_perception = dequeued
    else:
        infer_start = dequeued
        infer_end = dequeued + round(infer_ms * MS)
        after_perception = infer_end
    rendered = after_perception + round(render_ms * MS)
    return LatencyRecord(
        frame_index=index,
        pts_s=index / 100,
        captured_ns=captured,
        enqueued_ns=captured,
        dequeued_ns=dequeued,
        infer_start_ns=infer_start,
        infer_end_ns=infer_end,
        rendered_ns=rendered,
        written_ns=rendered + round(write_ms * MS),
        **labels,  # type: ignore[arg-type]
    )


def test_fps_counts_frames_over_run_time_and_intervals_over_n_minus_1() -> None:
    # given 5 frames captured every 10 ms, each 14 ms from capture to write
    records = [make_record(i, captured_ms=10.0 * i) for i in range(5)]

    # when
    summary = summarize(records, [])

    # then the run lasts 40 + 14 ms; writes are 10 ms apart (4 intervals between 5 frames)
    assert summary.duration_s == pytest.approx(0.054)
    assert summary.throughput_fps == pytest.approx(5 / 0.054)
    assert summary.output_fps == pytest.approx(100.0)


def test_single_frame_has_throughput_but_no_output_rate() -> None:
    summary = summarize([make_record(0, captured_ms=0.0)], [])

    assert summary.throughput_fps == pytest.approx(1000 / 14)
    assert summary.output_fps is None
    assert "n/a output" in format_summary(summary)


def test_stage_percentiles_are_observed_values() -> None:
    # given 100 frames whose detector took 1..100 ms (shuffled order)
    order = np.random.default_rng(3).permutation(100)
    records = [
        make_record(i, captured_ms=200.0 * i, infer_ms=float(order[i] + 1)) for i in range(100)
    ]

    # when
    stats = summarize(records, []).stages[LatencyStage.INFERENCE]

    # then p95 is the 95th smallest value: exactly 95 of 100 frames are at or under it
    assert stats.frames == 100
    assert [stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.max_ms] == pytest.approx(
        [50.0, 95.0, 99.0, 100.0]
    )
    assert stats.mean_ms == pytest.approx(50.5)


def test_every_stage_is_reported_from_the_record_stamps() -> None:
    records = [
        make_record(i, captured_ms=50.0 * i, queue_ms=3, infer_ms=20, render_ms=4, write_ms=2)
        for i in range(10)
    ]

    stages = summarize(records, []).stages

    assert {stage: stats.p50_ms for stage, stats in stages.items()} == {
        LatencyStage.QUEUE_WAIT: pytest.approx(3.0),
        LatencyStage.INFERENCE: pytest.approx(20.0),
        LatencyStage.PERCEPTION: pytest.approx(20.0),
        LatencyStage.RENDER: pytest.approx(4.0),
        LatencyStage.WRITE: pytest.approx(2.0),
        LatencyStage.END_TO_END: pytest.approx(29.0),
    }


def test_frames_the_detector_skipped_are_not_counted_as_0_ms_inference() -> None:
    # given 3 frames with a 30 ms detector run and 7 skipped frames
    records = [
        make_record(i, captured_ms=50.0 * i, infer_ms=30.0 if i < 3 else None, mode="skip")
        for i in range(10)
    ]

    # when
    summary = summarize(records, [])

    # then
    assert [ran_detector(record) for record in records].count(True) == 3
    assert summary.stages[LatencyStage.INFERENCE].frames == 3
    assert summary.stages[LatencyStage.INFERENCE].p50_ms == pytest.approx(30.0)
    assert summary.stages[LatencyStage.END_TO_END].frames == 10
    assert stage_values(records, LatencyStage.PERCEPTION).tolist()[3:] == [0.0] * 7


def test_drops_are_counted_by_cause_and_produced_is_processed_plus_dropped() -> None:
    records = [make_record(i, captured_ms=10.0 * i) for i in (0, 2, 5)]
    drops = [
        DropEvent(1, "queue_full", "capture", 15 * MS),
        DropEvent(3, "queue_full", "capture", 35 * MS),
        DropEvent(4, "stale", "perception", 45 * MS),
    ]

    summary = summarize(records, drops)

    assert summary.drops_by_cause == {"queue_full": 2, "stale": 1}
    assert (summary.frames_processed, summary.frames_dropped, summary.frames_produced) == (3, 3, 6)


def test_modes_precisions_and_events_are_counted() -> None:
    records = [
        make_record(0, captured_ms=0, mode="tiles"),
        make_record(1, captured_ms=10, mode="track"),
        make_record(2, captured_ms=20, mode="track", precision="int8"),
    ]
    events = [RunEvent("reconnect", 1), RunEvent("reconnect", 2), RunEvent("switch", 3)]

    summary = summarize(records, [], events)

    assert summary.modes == {"tiles": 1, "track": 2}
    assert summary.precisions == {"fp32": 2, "int8": 1}
    assert summary.events == {"reconnect": 2, "switch": 1}


def test_empty_log_reports_no_frames_instead_of_failing() -> None:
    summary = summarize([], [DropEvent(0, "decode_error", "capture", 0)])

    text = format_summary(summary)

    assert summary.frames_processed == 0
    assert summary.stages == {}
    assert (summary.throughput_fps, summary.output_fps) == (None, None)
    assert "no frames were processed" in text
    assert "dropped 1 (decode_error 1)" in text


def test_table_has_one_aligned_row_per_stage_with_the_numbers() -> None:
    records = [make_record(i, captured_ms=10.0 * i, infer_ms=10.0 + i) for i in range(20)]
    drops = [DropEvent(20, "stale", "capture", 0)]

    text = format_summary(summarize(records, drops))

    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("stage"))
    rows = [line for line in lines if line.split(" ")[0] in set(LatencyStage)]
    assert [row.split()[0] for row in rows] == [stage.value for stage in LatencyStage]
    assert {len(row) for row in rows} == {len(header)}
    inference = next(row for row in rows if row.startswith("inference"))
    assert inference.split() == ["inference", "20", "19.00", "28.00", "29.00", "29.00"]
    assert "processed 20, dropped 1 (stale 1), produced 21" in text
    assert "precision   fp32 20" in text


def test_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile_ms(np.array([], dtype=np.float64), 95)

"""The end-of-run latency summary: pure aggregation of latency records, and its text table.

Percentiles everywhere in ballwatch use numpy's ``inverted_cdf`` method
(:data:`PERCENTILE_METHOD`): the p95 is the smallest *observed* value that at
least 95 % of the frames are at or under. It never interpolates between two
frames, so "p95 within budget" means exactly "at most 5 % of frames over it".
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
from numpy.typing import NDArray

from stream.latency import DropEvent, LatencyRecord, RunEvent

logger = logging.getLogger(__name__)

PERCENTILE_METHOD: Final = "inverted_cdf"
_NS_PER_S = 1_000_000_000


class LatencyStage(StrEnum):
    """A span of a frame's life that the summary reports (see LatencyRecord's properties)."""

    QUEUE_WAIT = "queue_wait"
    INFERENCE = "inference"
    PERCEPTION = "perception"
    RENDER = "render"
    WRITE = "write"
    END_TO_END = "end_to_end"


def ran_detector(record: LatencyRecord) -> bool:
    """Whether the detector ran on this frame (its infer stamps are not both 0)."""
    return record.infer_start_ns != 0 or record.infer_end_ns != 0


def stage_ms(record: LatencyRecord, stage: LatencyStage) -> float:
    """The duration in ms of ``stage`` for one frame."""
    match stage:
        case LatencyStage.QUEUE_WAIT:
            return record.queue_wait_ms
        case LatencyStage.INFERENCE:
            return record.inference_ms
        case LatencyStage.PERCEPTION:
            return record.perception_ms
        case LatencyStage.RENDER:
            return record.render_ms
        case LatencyStage.WRITE:
            return record.write_ms
        case LatencyStage.END_TO_END:
            return record.end_to_end_ms


def stage_values(records: Iterable[LatencyRecord], stage: LatencyStage) -> NDArray[np.float64]:
    """The ``stage`` durations (ms) of ``records``, in order.

    Frames the detector skipped are left out of ``INFERENCE`` (a 0 ms there says
    nothing about the detector's speed); every other stage has one value per frame.
    """
    if stage is LatencyStage.INFERENCE:
        records = (record for record in records if ran_detector(record))
    return np.fromiter((stage_ms(record, stage) for record in records), dtype=np.float64)


def percentile_ms(values: NDArray[np.float64], percent: float) -> float:
    """The ``percent`` percentile of ``values`` with :data:`PERCENTILE_METHOD`.

    Raises:
        ValueError: ``values`` is empty.
    """
    if values.size == 0:
        msg = "cannot take a percentile of no values"
        raise ValueError(msg)
    return float(np.percentile(values, percent, method=PERCENTILE_METHOD))


@dataclass(frozen=True, slots=True)
class StageStats:
    """Distribution of one stage's duration over a run, in ms."""

    frames: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @classmethod
    def of(cls, values_ms: NDArray[np.float64]) -> StageStats | None:
        """Statistics of ``values_ms``; None when there are none."""
        if values_ms.size == 0:
            return None
        return cls(
            frames=int(values_ms.size),
            p50_ms=percentile_ms(values_ms, 50),
            p95_ms=percentile_ms(values_ms, 95),
            p99_ms=percentile_ms(values_ms, 99),
            max_ms=float(values_ms.max()),
            mean_ms=float(values_ms.mean()),
        )


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """What a run did, from its latency log.

    Attributes:
        frames_processed: frames that were written (one LatencyRecord each).
        drops_by_cause: dropped frames per cause (``queue_full``, ``stale`` …).
        duration_s: from the first capture to the last write (0 with no frames).
        throughput_fps: ``frames_processed / duration_s``: frames per second of
            wall time, pipeline fill included (None when duration is 0).
        output_fps: ``(frames_processed - 1) / (last write - first write)``: the
            rate at which frames came out. N frames written at a steady period T
            span (N - 1) T, hence N - 1 (None with fewer than 2 distinct writes).
        stages: per-stage statistics; a stage with no values is absent.
        modes: frames per detector mode (``tiles``, ``track``, ``skip`` …).
        precisions: frames per detector precision.
        events: run events per kind (``reconnect``, ``switch`` …).
    """

    frames_processed: int
    drops_by_cause: Mapping[str, int]
    duration_s: float
    throughput_fps: float | None
    output_fps: float | None
    stages: Mapping[LatencyStage, StageStats]
    modes: Mapping[str, int]
    precisions: Mapping[str, int]
    events: Mapping[str, int]

    @property
    def frames_dropped(self) -> int:
        """All dropped frames."""
        return sum(self.drops_by_cause.values())

    @property
    def frames_produced(self) -> int:
        """Frames the source produced: processed + dropped."""
        return self.frames_processed + self.frames_dropped


def _rates(records: Sequence[LatencyRecord]) -> tuple[float, float | None, float | None]:
    if not records:
        return 0.0, None, None
    first_written = min(record.written_ns for record in records)
    last_written = max(record.written_ns for record in records)
    duration_ns = last_written - min(record.captured_ns for record in records)
    throughput = len(records) * _NS_PER_S / duration_ns if duration_ns > 0 else None
    span_ns = last_written - first_written
    output = (len(records) - 1) * _NS_PER_S / span_ns if span_ns > 0 else None
    return duration_ns / _NS_PER_S, throughput, output


def summarize(
    records: Sequence[LatencyRecord],
    drops: Sequence[DropEvent],
    events: Sequence[RunEvent] = (),
) -> LatencySummary:
    """Aggregate one run's latency log (see :class:`LatencySummary` for each figure)."""
    duration_s, throughput, output = _rates(records)
    stages: dict[LatencyStage, StageStats] = {}
    for stage in LatencyStage:
        stats = StageStats.of(stage_values(records, stage))
        if stats is not None:
            stages[stage] = stats
    return LatencySummary(
        frames_processed=len(records),
        drops_by_cause=dict(Counter(drop.cause for drop in drops)),
        duration_s=duration_s,
        throughput_fps=throughput,
        output_fps=output,
        stages=stages,
        modes=dict(Counter(record.mode for record in records)),
        precisions=dict(Counter(record.precision for record in records)),
        events=dict(Counter(event.kind for event in events)),
    )


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "none"


def _fps(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} fps"


def _stage_rows(summary: LatencySummary) -> list[str]:
    header = f"{'stage':<12}{'frames':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}"
    rows = [header, "-" * len(header)]
    for stage, stats in summary.stages.items():
        rows.append(
            f"{stage.value:<12}{stats.frames:>8}{stats.p50_ms:>10.2f}{stats.p95_ms:>10.2f}"
            f"{stats.p99_ms:>10.2f}{stats.max_ms:>10.2f}"
        )
    if LatencyStage.INFERENCE not in summary.stages:
        rows.append(f"{'inference':<12}{0:>8}  (the detector ran on no frame)")
    return rows


def format_summary(summary: LatencySummary) -> str:
    """The summary as an aligned text table (printed at the end of a run and by ``report``)."""
    drops = f"dropped {summary.frames_dropped} ({_counts(summary.drops_by_cause)})"
    lines = [
        f"frames      processed {summary.frames_processed}, {drops}, "
        f"produced {summary.frames_produced}",
    ]
    if summary.frames_processed == 0:
        lines.append("no frames were processed: there is no latency to report")
        if summary.events:
            lines.append(f"events      {_counts(summary.events)}")
        return "\n".join(lines)
    lines += [
        f"run         {summary.duration_s:.3f} s from first capture to last write",
        f"rate        {_fps(summary.throughput_fps)} throughput (frames / run time), "
        f"{_fps(summary.output_fps)} output (N - 1 write intervals)",
        f"modes       {_counts(summary.modes)}",
        f"precision   {_counts(summary.precisions)}",
    ]
    if summary.events:
        lines.append(f"events      {_counts(summary.events)}")
    lines += [
        "",
        *_stage_rows(summary),
        f"percentiles: numpy {PERCENTILE_METHOD!r} (observed values)",
    ]
    return "\n".join(lines)

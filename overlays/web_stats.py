"""The web view's numbers: fps, drops, latency percentiles and the chart, as JSON-ready dicts."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import numpy as np

from perception.result import FrameResult
from stream.latency import DropEvent, LatencyRecord, LogEntry, RunEvent

logger = logging.getLogger(__name__)

_NS_PER_S = 1_000_000_000
_WINDOW_NS = 60 * _NS_PER_S
_CHART_POINTS = 240
_STAGES = ("end_to_end", "queue_wait", "detector", "perception", "render", "write")


def _stage_values(record: LatencyRecord) -> tuple[float | None, ...]:
    detector = record.inference_ms if record.infer_start_ns else None
    return (
        record.end_to_end_ms,
        record.queue_wait_ms,
        detector,
        record.perception_ms,
        record.render_ms,
        record.write_ms,
    )


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"last": None, "p50": None, "p95": None}
    p50, p95 = np.percentile(values, [50, 95])
    return {"last": round(values[-1], 2), "p50": round(float(p50), 2), "p95": round(float(p95), 2)}


def _decimate(points: list[list[Any]]) -> list[list[Any]]:
    """Keep at most ``_CHART_POINTS`` points, the slowest of each chunk (spikes stay visible)."""
    if len(points) <= _CHART_POINTS:
        return points
    chunks = np.array_split(np.arange(len(points)), _CHART_POINTS)
    return [max((points[i] for i in chunk), key=lambda point: point[1]) for chunk in chunks]


class LiveStats:
    """The numbers the page shows. Fed from any pipeline thread, read by the server thread."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started_ns = clock()
        self._write_ns: deque[int] = deque(maxlen=32)
        self._frames_written = 0
        self._frame: dict[str, Any] = {"frame_index": None, "pts_s": None, "precision": None}
        self._frame |= {"mode": None, "ball": {"status": None, "x": None, "y": None}}
        self._records: deque[tuple[int, tuple[float | None, ...]]] = deque()
        self._drops: Counter[str] = Counter()
        self._decision: str | None = None
        self._progress: tuple[int, int | None] | None = None
        self._events: deque[dict[str, Any]] = deque(maxlen=8)

    def on_frame(self, result: FrameResult) -> None:
        """Record a written frame: its position, mode and ball, and its time for the fps."""
        ball = result.ball
        frame = {
            "frame_index": result.frame.index,
            "pts_s": round(result.frame.pts_s, 3),
            "precision": str(result.precision),
            "mode": str(result.step.mode),
            "ball": {"status": str(ball.status), "x": round(ball.x, 1), "y": round(ball.y, 1)},
        }
        now = self._clock()
        with self._lock:
            self._frame = frame
            self._frames_written += 1
            self._write_ns.append(now)

    def on_entry(self, entry: LogEntry) -> None:
        """Record a latency log entry: a frame's latencies, a drop or a run event."""
        now = self._clock()
        with self._lock:
            if isinstance(entry, LatencyRecord):
                self._records.append((now, _stage_values(entry)))
                self._trim(now)
            elif isinstance(entry, DropEvent):
                self._drops[entry.cause] += 1
            else:
                self._on_event(entry, now)

    def _on_event(self, event: RunEvent, now: int) -> None:
        details = event.details
        if event.kind == "progress":
            # A malformed event must not fail the pipeline stage that logged it.
            with contextlib.suppress(TypeError, ValueError):
                total = details.get("total")
                self._progress = (int(details.get("done", 0)), int(total) if total else None)
            return
        if event.kind == "decision":
            text = details.get("text")
            self._decision = (
                str(text) if text else ", ".join(f"{k}={v}" for k, v in details.items())
            )
        t_s = round((now - self._started_ns) / _NS_PER_S, 2)
        self._events.append({"kind": event.kind, "t_s": t_s, **details})

    def _trim(self, now: int) -> None:
        while self._records and now - self._records[0][0] > _WINDOW_NS:
            self._records.popleft()

    def _fps(self, now: int) -> float:
        times = self._write_ns
        if len(times) < 2 or now - times[-1] > 2 * _NS_PER_S or times[-1] == times[0]:
            return 0.0
        return round((len(times) - 1) * _NS_PER_S / (times[-1] - times[0]), 2)

    def snapshot(self) -> dict[str, Any]:
        """The numbers as a JSON-ready dict (latencies over the last minute)."""
        now = self._clock()
        with self._lock:
            self._trim(now)
            records = list(self._records)
            done, total = self._progress or (self._frames_written, None)
            stats = {
                **self._frame,
                "fps": self._fps(now),
                "frames_written": self._frames_written,
                "drops": {"total": sum(self._drops.values()), "by_cause": dict(self._drops)},
                "decision": self._decision,
                "progress": {"done": done, "total": total},
                "events": list(self._events),
            }
        columns = list(zip(*(values for _, values in records), strict=True)) if records else []
        stats["latency_ms"] = {
            stage: _summary([v for v in columns[i] if v is not None] if columns else [])
            for i, stage in enumerate(_STAGES)
        }
        points = [
            [
                round((at - self._started_ns) / _NS_PER_S, 3),
                round(v[0] or 0.0, 2),
                None if v[2] is None else round(v[2], 2),
            ]
            for at, v in records
        ]
        now_s = round((now - self._started_ns) / _NS_PER_S, 3)
        stats["chart"] = {"now_s": now_s, "window_s": _WINDOW_NS // _NS_PER_S}
        stats["chart"]["points"] = _decimate(points)
        return stats

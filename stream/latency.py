"""Per-frame latency records and the JSON-lines latency log."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from stream.errors import OutputError
from stream.flushing import Clock, FlushSchedule

_NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class LatencyRecord:
    """Monotonic stamps (ns) of one frame as it crossed each stage boundary.

    ``infer_start_ns``/``infer_end_ns`` bracket the detector calls of this frame
    (CUDA-synchronised); both are 0 when the detector did not run on it.
    """

    frame_index: int
    pts_s: float
    captured_ns: int
    enqueued_ns: int
    dequeued_ns: int
    infer_start_ns: int
    infer_end_ns: int
    rendered_ns: int
    written_ns: int
    mode: str = "tiles"
    pixels: int = 0
    precision: str = "fp32"
    ball_status: str = "lost"
    windows: int = 0  # crops and tiles given to the detector
    candidates: int = 0  # moving blobs the motion gate found

    @property
    def queue_wait_ms(self) -> float:
        """Time waiting in the frame queue."""
        return (self.dequeued_ns - self.enqueued_ns) / _NS_PER_MS

    @property
    def inference_ms(self) -> float:
        """Detector time of this frame."""
        return (self.infer_end_ns - self.infer_start_ns) / _NS_PER_MS

    @property
    def perception_ms(self) -> float:
        """From dequeue to the end of perception (detector + search + tracker)."""
        end = max(self.infer_end_ns, self.dequeued_ns)
        return (end - self.dequeued_ns) / _NS_PER_MS

    @property
    def render_ms(self) -> float:
        """From the end of perception to the drawn overlay (includes the result queue)."""
        return (self.rendered_ns - max(self.infer_end_ns, self.dequeued_ns)) / _NS_PER_MS

    @property
    def write_ms(self) -> float:
        """Time spent in the outputs."""
        return (self.written_ns - self.rendered_ns) / _NS_PER_MS

    @property
    def end_to_end_ms(self) -> float:
        """From capture to written: the age of the frame when it was shown."""
        return (self.written_ns - self.captured_ns) / _NS_PER_MS

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this record (one log line)."""
        return {"event": "frame", **asdict(self)}


@dataclass(frozen=True, slots=True)
class DropEvent:
    """A frame that never reached the renderer, and why."""

    frame_index: int
    cause: str
    stage: str
    at_ns: int

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this event (one log line)."""
        return {"event": "drop", **asdict(self)}


@dataclass(frozen=True, slots=True)
class RunEvent:
    """Anything else worth a log line: start, precision, reconnect, switch, end."""

    kind: str
    at_ns: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this event (one log line)."""
        return {"event": self.kind, "at_ns": self.at_ns, **self.details}


LogEntry = LatencyRecord | DropEvent | RunEvent


class LatencyLog(Protocol):
    """Where latency records and events go. Thread-safe."""

    def write(self, entry: LogEntry) -> None:
        """Append one record or event."""
        ...

    def close(self) -> None:
        """Flush and release."""
        ...


class NullLatencyLog:
    """A latency log that keeps nothing."""

    def write(self, entry: LogEntry) -> None:
        """Discard ``entry``."""
        del entry

    def close(self) -> None:
        """Nothing to release."""


class MemoryLatencyLog:
    """Keeps every entry in memory (the end-of-run summary, tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LogEntry] = []

    def write(self, entry: LogEntry) -> None:
        """Keep ``entry``."""
        with self._lock:
            self._entries.append(entry)

    def close(self) -> None:
        """Nothing to release."""

    @property
    def entries(self) -> list[LogEntry]:
        """A snapshot of the entries so far."""
        with self._lock:
            return list(self._entries)


class JsonlLatencyLog:
    """Writes one JSON object per line, flushed at least every ``flush_interval_s``.

    Lines are flushed on the first write after the interval (and on close), so a
    killed run keeps all but its last second without a system call per line.
    A failed write (disk full, file too large) raises one :class:`OutputError`
    naming the file; later writes are dropped so the run can stop cleanly.
    Thread-safe (stages and the main thread all write).
    """

    def __init__(
        self, path: Path, *, flush_interval_s: float = 1.0, clock: Clock = time.monotonic_ns
    ) -> None:
        """Create (or replace) the log file.

        Raises:
            OutputError: the file cannot be created.
        """
        self.path = path
        try:
            self._file: IO[str] = path.open("w", encoding="utf-8")
        except OSError as exc:
            msg = f"cannot write latency log {str(path)!r}: {exc.strerror}; choose a writable path"
            raise OutputError(msg) from exc
        self._lock = threading.Lock()
        self._flush = FlushSchedule(flush_interval_s, clock=clock)
        self._has_failed = False

    def write(self, entry: LogEntry) -> None:
        """Append ``entry`` as one JSON line.

        Raises:
            OutputError: the first write that fails (later ones are dropped).
        """
        line = json.dumps(entry.to_json(), separators=(",", ":"))
        with self._lock:
            if self._file.closed or self._has_failed:
                return
            try:
                self._file.write(line + "\n")
                if self._flush.is_due():
                    self._file.flush()
            except OSError as exc:
                self._has_failed = True
                raise self._error(exc) from exc

    def close(self) -> None:
        """Flush and close the file (after a failed write, just close it)."""
        with self._lock:
            if self._file.closed:
                return
            try:
                self._file.close()
            except OSError as exc:
                if not self._has_failed:
                    self._has_failed = True
                    raise self._error(exc) from exc

    def _error(self, exc: OSError) -> OutputError:
        return OutputError(f"cannot write latency log {str(self.path)!r}: {exc.strerror or exc}")


class TeeLatencyLog:
    """Sends every entry to several logs."""

    def __init__(self, *logs: LatencyLog) -> None:
        self._logs = logs

    def write(self, entry: LogEntry) -> None:
        """Write ``entry`` to every log."""
        for log in self._logs:
            log.write(entry)

    def close(self) -> None:
        """Close every log."""
        for log in self._logs:
            log.close()


def read_log(path: Path) -> tuple[list[LatencyRecord], list[DropEvent], list[RunEvent]]:
    """Read a JSON-lines latency log back into records and events.

    Raises:
        ValueError: a line is not a ballwatch latency entry (names the line).
    """
    records: list[LatencyRecord] = []
    drops: list[DropEvent] = []
    events: list[RunEvent] = []
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                kind = obj.pop("event")
                if kind == "frame":
                    records.append(LatencyRecord(**obj))
                elif kind == "drop":
                    drops.append(DropEvent(**obj))
                else:
                    at_ns = int(obj.pop("at_ns", 0))
                    events.append(RunEvent(kind, at_ns, obj))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                msg = f"{path}:{number} is not a ballwatch latency log line ({exc})"
                raise ValueError(msg) from exc
    return records, drops, events

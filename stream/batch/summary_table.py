"""summary.csv: one row per input of the batch, whatever became of it."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

from stream.batch.finalize import RecordingSummary
from stream.batch.inputs import Recording

COLUMNS = (
    "input",
    "name",
    "status",
    "frames",
    "fps",
    "ball_seen_pct",
    "chunks",
    "attempts",
    "seconds",
    "reused",
    "error",
)


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One input: ``done`` (``reused`` when an earlier run finished it), ``failed`` or ``pending``.

    ``fps`` is frames per second of worker time (decode, detector, tracker and writing).
    """

    input: str
    name: str
    status: str
    frames: int = 0
    fps: str = ""
    ball_seen_pct: str = ""
    chunks: int = 0
    attempts: int = 0
    seconds: str = ""
    reused: str = ""
    error: str = ""

    @classmethod
    def done(cls, summary: RecordingSummary, *, is_reused: bool) -> SummaryRow:
        """A finished recording."""
        return cls(
            summary.uri,
            summary.name,
            "done",
            summary.frames,
            f"{summary.fps:.2f}",
            f"{summary.ball_seen_pct:.1f}",
            summary.chunks,
            summary.attempts,
            f"{summary.seconds:.2f}",
            "yes" if is_reused else "no",
        )

    @classmethod
    def failed(cls, recording: Recording, error: str, attempts: int, frames: int) -> SummaryRow:
        """A recording that failed for good (bad input, or crashed on every attempt)."""
        return cls(recording.uri, recording.name, "failed", frames, attempts=attempts, error=error)

    @classmethod
    def pending(cls, recording: Recording) -> SummaryRow:
        """A recording not finished when the batch stopped (a rerun continues it)."""
        return cls(recording.uri, recording.name, "pending")


def write_summary(path: Path, rows: Sequence[SummaryRow]) -> None:
    """Write the table under a temporary name, then rename it into place."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        writer.writerows(astuple(row) for row in rows)
    partial.replace(path)


def read_summary(path: Path) -> list[dict[str, str]]:
    """summary.csv as dictionaries (for tests and scripts)."""
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))

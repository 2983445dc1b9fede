"""Joining a recording's chunk outputs into its final folder, and checking finished ones.

A recording's folder ``OUT/<name>/`` appears in one rename, with ``summary.json``
written last inside it; a rerun trusts it only when the summary's frame count matches
the track CSV's rows and the latency log's frame lines.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream.batch.inputs import Recording
from stream.batch.plan import Chunk
from stream.batch.task import (
    DONE_JSON,
    LATENCY_LOG,
    OVERLAY_VIDEO,
    SUMMARY_JSON,
    TRACK_CSV,
    BatchLayout,
    TaskResult,
    write_json_atomic,
)
from stream.errors import BallwatchError


class JoinError(BallwatchError):
    """A recording's chunks do not add up to the frames planned."""


@dataclass(frozen=True, slots=True)
class RecordingSummary:
    """What summary.json (and a summary.csv row) says about a finished recording."""

    uri: str
    name: str
    frames: int
    fps: float
    ball_seen_pct: float
    chunks: int
    attempts: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """The summary.json object."""
        return {
            "input": self.uri,
            "name": self.name,
            "status": "done",
            "frames": self.frames,
            "fps": round(self.fps, 3),
            "ball_seen_pct": round(self.ball_seen_pct, 2),
            "chunks": self.chunks,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordingSummary:
        """Read summary.json back.

        Raises:
            KeyError: a field is missing.
            ValueError: a field has the wrong type.
        """
        return cls(
            str(data["input"]),
            str(data["name"]),
            int(data["frames"]),
            float(data["fps"]),
            float(data["ball_seen_pct"]),
            int(data["chunks"]),
            int(data["attempts"]),
            float(data["seconds"]),
        )


def count_track_rows(path: Path) -> int:
    """Data rows of a track CSV (header excluded)."""
    with path.open(newline="", encoding="utf-8") as file:
        return max(sum(1 for _ in csv.reader(file)) - 1, 0)


def count_frame_lines(path: Path) -> int:
    """Frame records in a latency log."""
    with path.open(encoding="utf-8") as file:
        return sum(1 for line in file if line.startswith('{"event":"frame"'))


def finished_summary(layout: BatchLayout, name: str) -> RecordingSummary | None:
    """The summary of a recording finished by an earlier run, if its outputs check out."""
    folder = layout.final_dir(name)
    try:
        data = json.loads((folder / SUMMARY_JSON).read_text(encoding="utf-8"))
        summary = RecordingSummary.from_json(data)
        rows = count_track_rows(folder / TRACK_CSV)
        lines = count_frame_lines(folder / LATENCY_LOG)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not summary.frames == rows == lines:
        return None
    return summary


def is_chunk_done(layout: BatchLayout, name: str, chunk: Chunk) -> bool:
    """Whether a chunk finished in an earlier run (its done.json matches its CSV)."""
    folder = layout.chunk_dir(name, chunk)
    try:
        done = json.loads((folder / DONE_JSON).read_text(encoding="utf-8"))
        return int(done["frames"]) == count_track_rows(folder / TRACK_CSV)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _join_track(sources: Sequence[tuple[Path, Chunk]], target: Path) -> tuple[int, int]:
    """Owned rows of each chunk's CSV into one; returns (rows, rows with the ball seen)."""
    rows = seen = 0
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        for number, (path, chunk) in enumerate(sources):
            with path.open(newline="", encoding="utf-8") as file:
                reader = csv.reader(file)
                header = next(reader)
                if number == 0:
                    writer.writerow(header)
                for row in reader:
                    if chunk.count > 1 and not chunk.owns(int(row[0])):
                        continue
                    writer.writerow(row)
                    rows += 1
                    seen += row[2] == "seen"
    return rows, seen


def _join_latency(sources: Sequence[tuple[Path, Chunk]], target: Path) -> None:
    """Each chunk's log: frame and drop lines of its own frames, run events all kept."""
    with target.open("w", encoding="utf-8") as out:
        for path, chunk in sources:
            with path.open(encoding="utf-8") as file:
                for line in file:
                    entry = json.loads(line)
                    index = entry.get("frame_index")
                    if chunk.count == 1 or index is None or chunk.owns(int(index)):
                        out.write(line)


def finish_recording(
    layout: BatchLayout,
    recording: Recording,
    chunks: Sequence[Chunk],
    results: Sequence[TaskResult],
) -> RecordingSummary:
    """Join the chunks' outputs, write summary.json, and rename the folder into place.

    Raises:
        JoinError: a chunk wrote fewer or more frames than it owns.
    """
    name = recording.name
    staging = layout.work_dir(name) / "final"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    sources = [(layout.chunk_dir(name, chunk), chunk) for chunk in chunks]
    rows, seen = _join_track(
        [(folder / TRACK_CSV, c) for folder, c in sources], staging / TRACK_CSV
    )
    _join_latency([(folder / LATENCY_LOG, c) for folder, c in sources], staging / LATENCY_LOG)
    planned = sum(chunk.end - chunk.start for chunk in chunks)
    if len(chunks) > 1 and rows != planned:
        msg = f"{recording.uri!r}: the chunks gave {rows} of {planned} frames; run it again"
        raise JoinError(msg)
    video = sources[0][0] / OVERLAY_VIDEO
    if len(chunks) == 1 and video.is_file():
        video.replace(staging / OVERLAY_VIDEO)
    seconds = sum(result.seconds for result in results)
    summary = RecordingSummary(
        uri=recording.uri,
        name=name,
        frames=rows,
        fps=rows / seconds if seconds > 0 else 0.0,
        ball_seen_pct=100.0 * seen / rows if rows else 0.0,
        chunks=len(chunks),
        attempts=max((result.task.attempt for result in results), default=1),
        seconds=seconds,
    )
    write_json_atomic(staging / SUMMARY_JSON, summary.to_json())
    final = layout.final_dir(name)
    if final.exists():
        shutil.rmtree(final)  # an earlier folder that failed the check above
    staging.replace(final)
    shutil.rmtree(layout.work_dir(name), ignore_errors=True)
    return summary

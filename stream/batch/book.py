"""The driver's ledger: what each recording needs, what came back, and summary.csv."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stream.batch.chunk_source import index_video, probe_frame_count
from stream.batch.finalize import (
    JoinError,
    RecordingSummary,
    finish_recording,
    finished_summary,
    is_chunk_done,
)
from stream.batch.inputs import Recording
from stream.batch.plan import Chunk, plan_chunks, whole
from stream.batch.progress import BatchProgress
from stream.batch.summary_table import SummaryRow, write_summary
from stream.batch.task import DONE_JSON, BatchLayout, Task, TaskResult
from stream.errors import SourceOpenError
from stream.source import SourceKind
from stream.sources import kind_from_uri

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """How chunks are cut: lengths in seconds, and the tracker's settling need in frames."""

    chunk_s: float
    overlap_s: float
    settle_frames: int


@dataclass(slots=True)
class BatchPlan:
    """What is left to do.

    Attributes:
        tasks: the tasks to run.
        chunks: each unfinished recording's chunks (by name).
        earlier: chunk results an earlier run finished (by name).
        reused: recordings an earlier run finished, checked (by name).
    """

    tasks: list[Task] = field(default_factory=list)
    chunks: dict[str, list[Chunk]] = field(default_factory=dict)
    earlier: dict[str, list[TaskResult]] = field(default_factory=dict)
    reused: dict[str, RecordingSummary] = field(default_factory=dict)

    @property
    def frames_total(self) -> int | None:
        """Frames the tasks will write, as far as known (None when no count is known)."""
        counts = [task.frames_expected for task in self.tasks if task.frames_expected is not None]
        return sum(counts) if counts else None


def _is_local_file(uri: str) -> bool:
    try:
        return kind_from_uri(uri) is SourceKind.FILE and "://" not in uri
    except SourceOpenError:
        return False


def _recording_tasks(recording: Recording, cut: ChunkPlan) -> list[Task]:
    """One task for the whole recording, or one per chunk of a long local file."""
    if not _is_local_file(recording.uri):
        return [Task(recording, whole(1))]
    if cut.chunk_s <= 0:
        count = probe_frame_count(recording.uri)
        return [Task(recording, whole(count or 1), frames_expected=count)]
    try:
        index = index_video(recording.uri)
    except SourceOpenError:
        return [Task(recording, whole(1))]  # the run itself reports why it cannot be read
    fps = index.fps or 30.0
    overlap = max(math.ceil(cut.overlap_s * fps), cut.settle_frames)
    chunks = plan_chunks(index.keyframes, index.frame_count, round(cut.chunk_s * fps), overlap)
    if len(chunks) == 1:
        return [Task(recording, chunks[0], frames_expected=index.frame_count)]
    return [
        Task(
            recording,
            chunk,
            start_pts_s=index.keyframe_time(chunk.decode_start),
            fps=fps,
            frames_expected=chunk.decode_end - chunk.decode_start,
        )
        for chunk in chunks
    ]


def plan_recordings(
    layout: BatchLayout, recordings: Sequence[Recording], cut: ChunkPlan
) -> BatchPlan:
    """Skip what an earlier run finished (outputs checked), cut the rest into tasks."""
    plan = BatchPlan()
    for recording in recordings:
        summary = finished_summary(layout, recording.name)
        if summary is not None and summary.uri == recording.uri:
            plan.reused[recording.name] = summary
            continue
        tasks = _recording_tasks(recording, cut)
        plan.chunks[recording.name] = [task.chunk for task in tasks]
        plan.earlier[recording.name] = []
        for task in tasks:
            if task.chunk.count > 1 and is_chunk_done(layout, recording.name, task.chunk):
                plan.earlier[recording.name].append(_earlier_result(layout, task))
            else:
                plan.tasks.append(task)
    return plan


def _earlier_result(layout: BatchLayout, task: Task) -> TaskResult:
    folder = layout.chunk_dir(task.recording.name, task.chunk)
    done = json.loads((folder / DONE_JSON).read_text(encoding="utf-8"))
    return TaskResult(task, True, int(done["frames"]), float(done["seconds"]))


class BatchBook:
    """Collects task results, finishes recordings, keeps summary.csv current (driver only)."""

    def __init__(
        self,
        layout: BatchLayout,
        recordings: Sequence[Recording],
        plan: BatchPlan,
        progress: BatchProgress,
    ) -> None:
        self._layout = layout
        self._recordings = list(recordings)
        self._by_name = {r.name: r for r in recordings}
        self._plan = plan
        self._progress = progress
        self._rows: dict[str, SummaryRow] = {}
        self._ok = {name: list(results) for name, results in plan.earlier.items()}
        for name, summary in plan.reused.items():
            self._rows[name] = SummaryRow.done(summary, is_reused=True)
            progress.recording_finished(is_ok=True)
        for name, chunks in plan.chunks.items():
            if len(self._ok[name]) == len(chunks):
                self._finish(self._by_name[name])  # killed after its last chunk, before the join
        self.write()

    @property
    def failed(self) -> int:
        """Recordings that failed for good."""
        return sum(row.status == "failed" for row in self._rows.values())

    def on_result(self, result: TaskResult) -> None:
        """Take a task's final result (after retries)."""
        recording = result.task.recording
        if recording.name in self._rows:
            return  # already failed through another chunk
        if not result.is_ok:
            self._fail(recording, result.error, result.task.attempt, result.frames)
            return
        self._ok[recording.name].append(result)
        if len(self._ok[recording.name]) == len(self._plan.chunks[recording.name]):
            self._finish(recording)
        self.write()

    def _finish(self, recording: Recording) -> None:
        chunks = self._plan.chunks[recording.name]
        results = sorted(self._ok[recording.name], key=lambda r: r.task.chunk.index)
        try:
            summary = finish_recording(self._layout, recording, chunks, results)
        except (JoinError, OSError, ValueError) as error:
            self._fail(recording, str(error), max(r.task.attempt for r in results), 0)
            return
        self._rows[recording.name] = SummaryRow.done(summary, is_reused=False)
        self._progress.recording_finished(is_ok=True)

    def _fail(self, recording: Recording, error: str, attempts: int, frames: int) -> None:
        logger.warning("%s failed: %s", recording.uri, error)
        self._rows[recording.name] = SummaryRow.failed(recording, error, attempts, frames)
        self._progress.recording_finished(is_ok=False)
        self.write()

    def reconcile(self) -> None:
        """Count as done the recordings whose folder is complete though no row says so yet.

        An interrupt between a recording's rename and its row leaves exactly that.
        """
        for recording in self._recordings:
            if recording.name not in self._rows:
                summary = finished_summary(self._layout, recording.name)
                if summary is not None and summary.uri == recording.uri:
                    self._rows[recording.name] = SummaryRow.done(summary, is_reused=False)

    def rows(self) -> list[SummaryRow]:
        """Every input in order; unfinished ones are ``pending``."""
        return [self._rows.get(r.name) or SummaryRow.pending(r) for r in self._recordings]

    def write(self) -> None:
        """Rewrite summary.csv (atomically)."""
        write_summary(self._layout.summary_csv, self.rows())

    def report(self) -> str:
        """One line for the end of the run."""
        rows = self.rows()
        done = sum(row.status == "done" for row in rows)
        reused = sum(row.reused == "yes" for row in rows)
        pending = sum(row.status == "pending" for row in rows)
        path = Path(self._layout.summary_csv)
        return (
            f"batch: {done} done ({reused} from an earlier run), {self.failed} failed, "
            f"{pending} pending; table: {path}"
        )

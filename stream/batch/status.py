"""The batch's live status: the counters behind the progress bars, for the browser view too.

:class:`BatchStatus` is written by :class:`~stream.batch.progress.BatchProgress` (the
driver's thread) and read as a frozen :class:`StatusSnapshot` by any other thread (the
browser view's server). :func:`status_numbers` turns a snapshot into what the page shows;
it is pure, so its sums and the ETA are tested on fixed numbers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One busy worker.

    Attributes:
        slot: the worker's slot, from 0 (shown as ``worker slot + 1``).
        label: its task, ``name`` or ``name [2/4]``.
        frames_done: frames the task has written so far.
        frames_expected: frames the task should write; None when unknown.
    """

    slot: int
    label: str
    frames_done: int
    frames_expected: int | None


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """The batch's counters at one instant.

    Attributes:
        recordings_total: inputs of the batch (those an earlier run finished included).
        recordings_done: recordings finished (or reused from an earlier run).
        recordings_failed: recordings that failed for good.
        frames_total: frames this run's tasks should write; None when no count is known.
        frames_finished: frames written by finished tasks (a retried task counts again).
        workers: the busy workers, by slot.
        started_ns: monotonic time the first task started; None before.
        taken_ns: monotonic time of the snapshot.
    """

    recordings_total: int
    recordings_done: int
    recordings_failed: int
    frames_total: int | None
    frames_finished: int
    workers: tuple[WorkerStatus, ...]
    started_ns: int | None
    taken_ns: int

    def __post_init__(self) -> None:
        """Check the counts add up.

        Raises:
            ValueError: a negative count, or more recordings ended than exist.
        """
        counts = (self.recordings_done, self.recordings_failed, self.frames_finished)
        if min(counts) < 0 or self.recordings_done + self.recordings_failed > self.recordings_total:
            msg = (
                "expected counts >= 0 and done + failed <= total, but got "
                f"done={self.recordings_done}, failed={self.recordings_failed}, "
                f"total={self.recordings_total}, frames_finished={self.frames_finished}"
            )
            raise ValueError(msg)

    @property
    def frames_done(self) -> int:
        """Frames of finished tasks plus those the busy workers have written."""
        return self.frames_finished + sum(worker.frames_done for worker in self.workers)

    @property
    def elapsed_s(self) -> float:
        """Seconds since the first task started (0 before)."""
        if self.started_ns is None:
            return 0.0
        return max(self.taken_ns - self.started_ns, 0) / _NS_PER_S


def status_numbers(snapshot: StatusSnapshot) -> dict[str, Any]:
    """What the browser view shows, as JSON-ready numbers.

    The rate is the mean since the first task started (the detector's load before it is
    not counted); the ETA is the frames left at that rate. Both are None until a frame
    is written, and the ETA also while the total is unknown.

    Returns:
        ``recordings`` (done, failed, total), ``frames`` (done, total), ``elapsed_s``,
        ``frames_per_s``, ``eta_s`` and ``workers`` (worker number from 1, label,
        frames_done, frames_expected), seconds rounded to 0.1.
    """
    frames_done = snapshot.frames_done
    elapsed_s = snapshot.elapsed_s
    rate = frames_done / elapsed_s if frames_done and elapsed_s > 0 else None
    eta_s = None
    if rate is not None and snapshot.frames_total is not None:
        eta_s = round(max(snapshot.frames_total - frames_done, 0) / rate, 1)
    return {
        "recordings": {
            "done": snapshot.recordings_done,
            "failed": snapshot.recordings_failed,
            "total": snapshot.recordings_total,
        },
        "frames": {"done": frames_done, "total": snapshot.frames_total},
        "elapsed_s": round(elapsed_s, 1),
        "frames_per_s": None if rate is None else round(rate, 1),
        "eta_s": eta_s,
        "workers": [
            {
                "worker": worker.slot + 1,
                "label": worker.label,
                "frames_done": worker.frames_done,
                "frames_expected": worker.frames_expected,
            }
            for worker in snapshot.workers
        ],
    }


class BatchStatus:
    """The batch's counters, updated as tasks run; thread-safe.

    :class:`~stream.batch.progress.BatchProgress` writes it from the driver's thread;
    :meth:`snapshot` may be called from any thread (the browser view's server).
    """

    def __init__(
        self,
        recordings: int,
        frames_total: int | None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        """Start with nothing done.

        Args:
            recordings: inputs of the batch.
            frames_total: frames this run's tasks should write; None when unknown.
            clock: monotonic nanoseconds (tests pass a fake one).
        """
        self._clock = clock
        self._lock = threading.Lock()
        self._recordings = recordings
        self._frames_total = frames_total
        self._done = 0
        self._failed = 0
        self._frames_finished = 0
        self._workers: dict[int, WorkerStatus] = {}
        self._started_ns: int | None = None

    def recording_finished(self, *, is_ok: bool) -> None:
        """One more recording done (or failed)."""
        with self._lock:
            if is_ok:
                self._done += 1
            else:
                self._failed += 1

    def worker(self, slot: int, label: str, frames: int, total: int | None) -> None:
        """Worker ``slot`` is at ``frames`` of ``total`` in task ``label``."""
        now = self._clock()
        with self._lock:
            if self._started_ns is None:
                self._started_ns = now
            self._workers[slot] = WorkerStatus(slot, label, frames, total)

    def task_finished(self, slot: int, frames: int) -> None:
        """Worker ``slot`` finished a task that wrote ``frames``; it is idle now."""
        with self._lock:
            self._workers.pop(slot, None)
            self._frames_finished += frames

    def snapshot(self) -> StatusSnapshot:
        """The counters now."""
        now = self._clock()
        with self._lock:
            return StatusSnapshot(
                recordings_total=self._recordings,
                recordings_done=self._done,
                recordings_failed=self._failed,
                frames_total=self._frames_total,
                frames_finished=self._frames_finished,
                workers=tuple(self._workers[slot] for slot in sorted(self._workers)),
                started_ns=self._started_ns,
                taken_ns=now,
            )

"""The batch's progress on stderr: one overall bar plus one line per busy worker (tqdm)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

from stream.batch.status import BatchStatus


class BatchProgress:
    """Overall frames (with ETA) and recordings done, and what each worker is doing.

    The overall bar counts the frames of finished tasks plus those in flight, so it
    moves while long recordings run; a retried task's frames are counted again. Every
    update goes to ``status`` first (what the browser view reads), and the bars show it.
    Used from the driver's thread only.
    """

    def __init__(self, status: BatchStatus, *, is_enabled: bool = True) -> None:
        """Open the bars.

        Args:
            status: the counters to keep (recordings and frames total are taken from it).
            is_enabled: False keeps the counters but draws nothing.
        """
        self._is_enabled = is_enabled
        self._status = status
        snapshot = status.snapshot()
        self._bar: Any = tqdm(
            total=snapshot.frames_total,
            unit="frame",
            desc="batch",
            disable=not is_enabled,
            file=sys.stderr,
            dynamic_ncols=True,
            position=0,
        )
        self._lines: dict[int, Any] = {}
        self._show_counts()

    def recording_finished(self, *, is_ok: bool) -> None:
        """One more recording done (or failed)."""
        self._status.recording_finished(is_ok=is_ok)
        self._show_counts()

    def worker(self, slot: int, label: str, frames: int, total: int | None) -> None:
        """Worker ``slot`` is at ``frames`` of ``total`` in task ``label``."""
        self._status.worker(slot, label, frames, total)
        line = self._lines.get(slot)
        if line is None:
            line = tqdm(
                total=total,
                unit="frame",
                disable=not self._is_enabled,
                file=sys.stderr,
                dynamic_ncols=True,
                position=slot + 1,
                leave=False,
            )
            self._lines[slot] = line
        line.set_description_str(f"worker {slot + 1}: {label}", refresh=False)
        line.total = total
        line.n = frames
        line.refresh()
        self._refresh_overall()

    def task_finished(self, slot: int, frames: int) -> None:
        """Worker ``slot`` finished a task that wrote ``frames``."""
        self._status.task_finished(slot, frames)
        line = self._lines.get(slot)
        if line is not None:
            line.set_description_str(f"worker {slot + 1}: idle", refresh=False)
            line.n = 0
            line.refresh()
        self._refresh_overall()

    def close(self) -> None:
        """Close every bar."""
        for line in self._lines.values():
            line.close()
        self._bar.close()

    def _refresh_overall(self) -> None:
        self._bar.n = self._status.snapshot().frames_done
        self._bar.refresh()

    def _show_counts(self) -> None:
        snapshot = self._status.snapshot()
        ended = snapshot.recordings_done + snapshot.recordings_failed
        failed = f", {snapshot.recordings_failed} failed" if snapshot.recordings_failed else ""
        self._bar.set_postfix_str(
            f"recordings {ended}/{snapshot.recordings_total}{failed}", refresh=True
        )

"""The batch's progress on stderr: one overall bar plus one line per busy worker (tqdm)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


class BatchProgress:
    """Overall frames (with ETA) and recordings done, and what each worker is doing.

    The overall bar counts the frames of finished tasks plus those in flight, so it
    moves while long recordings run; a retried task's frames are counted again.
    Used from the driver's thread only.
    """

    def __init__(
        self, recordings: int, frames_total: int | None, *, is_enabled: bool = True
    ) -> None:
        self._is_enabled = is_enabled
        self._recordings = recordings
        self._done = self._failed = 0
        self._finished_frames = 0
        self._in_flight: dict[int, int] = {}
        self._bar: Any = tqdm(
            total=frames_total,
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
        if is_ok:
            self._done += 1
        else:
            self._failed += 1
        self._show_counts()

    def worker(self, slot: int, label: str, frames: int, total: int | None) -> None:
        """Worker ``slot`` is at ``frames`` of ``total`` in task ``label``."""
        self._in_flight[slot] = frames
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
        self._in_flight.pop(slot, None)
        self._finished_frames += frames
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
        self._bar.n = self._finished_frames + sum(self._in_flight.values())
        self._bar.refresh()

    def _show_counts(self) -> None:
        failed = f", {self._failed} failed" if self._failed else ""
        self._bar.set_postfix_str(
            f"recordings {self._done + self._failed}/{self._recordings}{failed}", refresh=True
        )

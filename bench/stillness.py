"""Is the tracker stuck on static clutter? The longest run of ``seen`` rows that stand still.

A ball in play does not stay within a few pixels for a second; a tracker locked on a logo
or a light does. ``longest_still_run`` counts the longest run of consecutive ``seen``
rows of a track CSV (``frame,pts_s,status,x,y,confidence``) whose positions all lie
within ``radius_px`` of the run's first one. Issue 11's check: on
``tennis_atp/video_input3.mp4`` it must stay under 30.

    python -m bench.stillness x.csv [--radius 3] [--limit 30]
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path


def longest_still_run(
    rows: Iterable[tuple[str, float | None, float | None]], radius_px: float = 3.0
) -> int:
    """The longest run of consecutive ``seen`` rows within ``radius_px`` of its first row.

    Args:
        rows: ``(status, x, y)`` per frame, in frame order (x, y None when lost).
        radius_px: how far from the run's first position a row may be.

    Returns:
        The run length in rows (0 when nothing was seen).
    """
    longest = 0
    run = 0
    anchor: tuple[float, float] | None = None
    for status, x, y in rows:
        if status != "seen" or x is None or y is None:
            run, anchor = 0, None
            continue
        if anchor is not None and math.hypot(x - anchor[0], y - anchor[1]) <= radius_px:
            run += 1
        else:
            run, anchor = 1, (x, y)
        longest = max(longest, run)
    return longest


def read_track_csv(path: Path) -> list[tuple[str, float | None, float | None]]:
    """``(status, x, y)`` rows of a track CSV written by ``--track-csv``."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            (
                row["status"],
                float(row["x"]) if row["x"] else None,
                float(row["y"]) if row["y"] else None,
            )
            for row in csv.DictReader(handle)
        ]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the longest still run of a track CSV; exit 1 when it reaches ``--limit``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("track_csv", type=Path)
    parser.add_argument("--radius", type=float, default=3.0)
    parser.add_argument("--limit", type=int, default=30)
    args = parser.parse_args(argv)
    run = longest_still_run(read_track_csv(args.track_csv), args.radius)
    verdict = "ok" if run < args.limit else "STUCK"
    print(
        f"longest still run: {run} seen rows within {args.radius} px "
        f"({verdict}, limit {args.limit})"
    )
    return 0 if run < args.limit else 1


if __name__ == "__main__":
    raise SystemExit(main())

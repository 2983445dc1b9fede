"""The labels of one video: a TrackNet ``Frame,Visibility,X,Y`` CSV and a JSON sidecar.

Every change is written at once, atomically (a temporary file, then :func:`os.replace`):
a crash or a killed server never leaves half a file, so no confirmed label is lost. The
sidecar holds the video's size, fps and frame count (a CSV from another video is refused),
which frames a person confirmed or interpolation filled, the frame to reopen at, and a
revision number: a save based on an older revision (a second tab) is refused.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overlays.label.video import LabelToolError, VideoInfo

HEADER = ("Frame", "Visibility", "X", "Y")
SIDECAR_FORMAT = "ballwatch-labels/1"
PERSON = "person"
INTERPOLATED = "interpolated"
_SOURCES = (PERSON, INTERPOLATED)


class StaleRevisionError(LabelToolError):
    """A save based on an older revision than the file's (another tab saved first)."""


@dataclass(frozen=True, slots=True)
class Label:
    """One frame's label.

    Attributes:
        visibility: TrackNet's 0 (not visible), 1 (visible), 2 (hard/occluded), 3 (occluded).
        x: ball centre column in pixels (None when not visible).
        y: ball centre row in pixels (None when not visible).
        source: ``person`` (clicked or accepted) or ``interpolated``.
    """

    visibility: int
    x: int | None
    y: int | None
    source: str = PERSON

    def row(self, frame: int) -> list[str]:
        """The CSV row (empty X, Y when not visible)."""
        if self.visibility == 0 or self.x is None or self.y is None:
            return [str(frame), "0", "", ""]
        return [str(frame), str(self.visibility), str(self.x), str(self.y)]

    def as_json(self) -> list[Any]:
        """``[visibility, x, y, source]`` for the page."""
        return [self.visibility, self.x, self.y, self.source]


def sidecar_path(csv_path: Path) -> Path:
    """``labels.csv`` → ``labels.csv.json``."""
    return csv_path.with_name(csv_path.name + ".json")


def check_label(frame: int, label: Label, info: VideoInfo) -> None:
    """Refuse a label that cannot belong to this video (the message names the fix).

    Raises:
        ValueError: frame outside the video, unknown visibility or source, a point
            outside the frame.
    """
    if not 0 <= frame < info.frame_count:
        msg = f"frame {frame} is outside the video (0-{info.frame_count - 1})"
        raise ValueError(msg)
    if label.visibility not in (0, 1, 2, 3) or label.source not in _SOURCES:
        msg = f"frame {frame}: visibility must be 0-3 and source one of {_SOURCES}"
        raise ValueError(msg)
    if label.visibility == 0:
        return
    x, y = label.x, label.y
    if x is None or y is None or not (0 <= x < info.width and 0 <= y < info.height):
        msg = (
            f"frame {frame}: the point ({x}, {y}) is outside the {info.width}x{info.height} "
            "frame; click inside the picture"
        )
        raise ValueError(msg)


def _atomic_write(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False, newline=""
    ) as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    Path(handle.name).replace(path)  # atomic on POSIX (os.replace)


def _read_csv(path: Path, info: VideoInfo) -> dict[int, Label]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except OSError as exc:
        msg = f"labels {path}: cannot read ({exc.strerror or exc}); check the --labels path"
        raise LabelToolError(msg) from exc
    if not rows:
        return {}
    if tuple(cell.strip() for cell in rows[0]) != HEADER:
        msg = f"labels {path}: header {','.join(rows[0])!r} is not {','.join(HEADER)!r}"
        raise LabelToolError(msg)
    labels: dict[int, Label] = {}
    for line, row in enumerate(rows[1:], start=2):
        try:
            frame, visibility = int(row[0]), int(float(row[1]))
            is_visible = visibility != 0 and row[2].strip() != "" and float(row[2]) >= 0
            x = round(float(row[2])) if is_visible else None
            y = round(float(row[3])) if is_visible else None
            label = Label(visibility if is_visible else 0, x, y)
            check_label(frame, label, info)
        except (ValueError, IndexError) as exc:
            msg = (
                f"labels {path}, line {line}: {exc}; are these the labels of this video? "
                "pass --labels NEW.csv to start afresh"
            )
            raise LabelToolError(msg) from exc
        labels[frame] = label
    return labels


class LabelStore:
    """The labels of one video, saved on every change. Thread-safe."""

    def __init__(self, csv_path: Path, video_name: str, info: VideoInfo) -> None:
        """Load the labels (if the files exist) and check they belong to this video.

        Raises:
            LabelToolError: the CSV or sidecar is unreadable or made for another video
                (size, frame count, or a point outside the frame); nothing is written then.
        """
        self._csv = csv_path
        self._sidecar = sidecar_path(csv_path)
        self._video_name = video_name
        self.info = info
        self._lock = threading.Lock()
        meta = self._read_sidecar()
        self.revision = int(meta.get("revision", 0))
        self.position = int(meta.get("position", 0))
        self._labels = _read_csv(csv_path, info) if csv_path.exists() else {}
        interpolated = {int(f) for f in meta.get("interpolated", [])}
        for frame in interpolated & self._labels.keys():
            label = self._labels[frame]
            self._labels[frame] = Label(label.visibility, label.x, label.y, INTERPOLATED)

    def _read_sidecar(self) -> dict[str, Any]:
        if not self._sidecar.exists():
            return {}
        try:
            meta = json.loads(self._sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"label sidecar {self._sidecar}: unreadable ({exc}); move it aside to go on"
            raise LabelToolError(msg) from exc
        info = self.info
        theirs = (meta.get("width"), meta.get("height"), meta.get("frame_count"))
        if theirs != (info.width, info.height, info.frame_count):
            msg = (
                f"labels {self._csv} were made for a {theirs[0]}x{theirs[1]} video of "
                f"{theirs[2]} frames ({meta.get('video')}), but this video is "
                f"{info.width}x{info.height} with {info.frame_count} frames; "
                "pass --labels NEW.csv for this video"
            )
            raise LabelToolError(msg)
        return dict(meta)

    def snapshot(self) -> dict[str, Any]:
        """Revision, position and every label, for the page."""
        with self._lock:
            labels = {str(f): label.as_json() for f, label in sorted(self._labels.items())}
            return {"revision": self.revision, "position": self.position, "labels": labels}

    def apply(
        self, base_revision: int, changes: Sequence[Mapping[str, Any]], position: int | None
    ) -> int:
        """Apply the page's changes and save; returns the new revision.

        A change is ``{"frame": i, "label": [visibility, x, y, source] or null}`` (null
        removes the frame's label: an undo).

        Raises:
            StaleRevisionError: ``base_revision`` is not the file's (another tab saved).
            ValueError: a change is malformed or does not fit the video (nothing is applied).
        """
        parsed = [_parse_change(change, self.info) for change in changes]
        with self._lock:
            if base_revision != self.revision:
                msg = (
                    f"another tab saved revision {self.revision} of {self._csv.name} after this "
                    f"page loaded revision {base_revision}: reloaded the newer labels, "
                    "redo your last change"
                )
                raise StaleRevisionError(msg)
            for frame, label in parsed:
                if label is None:
                    self._labels.pop(frame, None)
                else:
                    self._labels[frame] = label
            if position is not None and 0 <= position < self.info.frame_count:
                self.position = position
            self.revision += 1
            self._save()
            return self.revision

    def counts(self) -> dict[str, int]:
        """Frames labelled by a person and by interpolation."""
        with self._lock:
            sources = [label.source for label in self._labels.values()]
        return {source: sources.count(source) for source in _SOURCES}

    def _save(self) -> None:
        """Write the CSV, then the sidecar, each atomically (caller holds the lock)."""
        text = io.StringIO(newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(HEADER)
        for frame, label in sorted(self._labels.items()):
            writer.writerow(label.row(frame))
        meta = {
            "format": SIDECAR_FORMAT,
            "video": self._video_name,
            "width": self.info.width,
            "height": self.info.height,
            "fps": round(self.info.fps, 6),
            "frame_count": self.info.frame_count,
            "revision": self.revision,
            "position": self.position,
            "confirmed": sorted(f for f, lb in self._labels.items() if lb.source == PERSON),
            "interpolated": sorted(
                f for f, lb in self._labels.items() if lb.source == INTERPOLATED
            ),
        }
        _atomic_write(self._csv, text.getvalue())
        _atomic_write(self._sidecar, json.dumps(meta, indent=1) + "\n")


def _parse_change(change: Mapping[str, Any], info: VideoInfo) -> tuple[int, Label | None]:
    try:
        frame = int(change["frame"])
        raw = change["label"]
        if raw is None:
            if not 0 <= frame < info.frame_count:
                msg = f"frame {frame} is outside the video (0-{info.frame_count - 1})"
                raise ValueError(msg)
            return frame, None
        visibility, x, y, source = raw
        label = Label(
            int(visibility),
            None if x is None else int(x),
            None if y is None else int(y),
            str(source),
        )
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"malformed change {dict(change)!r}: {exc}"
        raise ValueError(msg) from exc
    if label.visibility == 0:
        label = Label(0, None, None, label.source)
    check_label(frame, label, info)
    return frame, label

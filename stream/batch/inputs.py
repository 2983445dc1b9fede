"""What ``ballwatch batch`` was given: files, folders and text lists, as a list of recordings."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from stream.errors import BallwatchError

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".mkv", ".mov", ".avi", ".ts", ".m4v", ".webm", ".mpg", ".mpeg", ".mts", ".m2ts"}
)
LIST_SUFFIXES = frozenset({".txt", ".list", ".lst"})
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class Recording:
    """One input of the batch.

    Attributes:
        uri: absolute file path or URL, as the source will open it.
        name: its output folder under the batch's ``--out``; unique within the batch.
    """

    uri: str
    name: str


def expand_inputs(inputs: Sequence[str]) -> list[Recording]:
    """Every recording the inputs name, in order, each once.

    A folder stands for the video files under it (recursively, sorted); a ``.txt``/``.list``
    file for its lines (paths relative to the list's folder, or URLs; blank lines and ``#``
    comments skipped); anything else is one recording, even when it does not exist, so that
    it shows up as failed in summary.csv rather than silently vanishing.

    Raises:
        BallwatchError: no inputs, a folder without videos, or an unreadable list.
    """
    uris: list[str] = []
    for text in inputs:
        uris.extend(_expand_one(text))
    unique = list(dict.fromkeys(uris))
    if not unique:
        msg = "no recordings given; pass video files, folders of videos or a .txt list of them"
        raise BallwatchError(msg)
    return _named(unique)


def _expand_one(text: str) -> list[str]:
    if _URL.match(text):
        return [text]
    path = Path(text).expanduser()
    if path.is_dir():
        videos = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            suffixes = ", ".join(sorted(VIDEO_SUFFIXES))
            msg = f"folder {text!r} holds no video files ({suffixes}); point at the recordings"
            raise BallwatchError(msg)
        return [str(p.resolve()) for p in videos if p.is_file()]
    if path.suffix.lower() in LIST_SUFFIXES:
        return _read_list(path)
    return [str(path.resolve())]


def _read_list(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read the list of recordings {str(path)!r} ({exc}); give a UTF-8 text file"
        raise BallwatchError(msg) from exc
    uris: list[str] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if _URL.match(line):
            uris.append(line)
            continue
        entry = Path(line).expanduser()
        uris.append(str((path.parent / entry).resolve()))
    return uris


def _stem(uri: str) -> str:
    if _URL.match(uri):
        parsed = urlparse(uri)
        tail = Path(unquote(parsed.path)).stem or parsed.netloc
    else:
        tail = Path(uri).stem
    return _UNSAFE.sub("_", tail).strip("._") or "recording"


def _named(uris: list[str]) -> list[Recording]:
    """Output names from the file stems; stems that collide get a short hash of the URI."""
    stems = [_stem(uri) for uri in uris]
    counts = Counter(stems)
    recordings = []
    for uri, stem in zip(uris, stems, strict=True):
        name = stem
        if counts[stem] > 1:
            digest = hashlib.sha1(uri.encode(), usedforsecurity=False).hexdigest()[:8]
            name = f"{stem}-{digest}"
        recordings.append(Recording(uri, name))
    return recordings

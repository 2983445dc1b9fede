"""One batch task (a recording, or a chunk of one) run through ``app.run`` in a worker."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from configs.app_config import AppConfig, ConfigError, OutputConfig
from perception.detector import Detector
from perception.result import FrameResult
from stream import app
from stream.batch.chunk_source import ChunkSource
from stream.batch.inputs import Recording
from stream.batch.plan import Chunk
from stream.errors import BallwatchError, StageFailedError
from stream.latency import LatencyLog
from stream.source import FrameSource, SourceKind

logger = logging.getLogger(__name__)

TRACK_CSV = "track.csv"
LATENCY_LOG = "latency.jsonl"
OVERLAY_VIDEO = "overlay.mp4"
SUMMARY_JSON = "summary.json"
DONE_JSON = "done.json"

DetectorFactory = Callable[[AppConfig], Detector]


@dataclass(frozen=True, slots=True)
class BatchLayout:
    """Where a batch writes: ``OUT/<name>/`` when finished, ``OUT/.work/<name>/`` until then."""

    out_dir: Path

    def final_dir(self, name: str) -> Path:
        """The finished recording's folder (appears in one rename, complete)."""
        return self.out_dir / name

    def work_dir(self, name: str) -> Path:
        """Scratch space of an unfinished recording."""
        return self.out_dir / ".work" / name

    def chunk_dir(self, name: str, chunk: Chunk) -> Path:
        """Outputs of one task."""
        return self.work_dir(name) / chunk.label

    @property
    def summary_csv(self) -> Path:
        """The table of every input."""
        return self.out_dir / "summary.csv"


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """What every task of a batch shares.

    Attributes:
        config: the preset with the user's flags, replay policy forced (nothing dropped).
        out_dir: the batch's ``--out``.
        write_video: also write each recording's overlay video.
    """

    config: AppConfig
    out_dir: Path
    write_video: bool = False


@dataclass(frozen=True, slots=True)
class Task:
    """A recording or a chunk of one, as sent to a worker.

    Attributes:
        recording: the input.
        chunk: the frame range (``count == 1``: the whole recording, opened like ``run``).
        start_pts_s: pts of the keyframe ``chunk.decode_start`` (chunks only).
        fps: the file's frame rate (chunks only).
        frames_expected: frames the task should write, when known (for progress).
        attempt: 1 on the first try, one more on each retry.
    """

    recording: Recording
    chunk: Chunk
    start_pts_s: float = 0.0
    fps: float = 0.0
    frames_expected: int | None = None
    attempt: int = 1

    @property
    def label(self) -> str:
        """``name`` or ``name [2/4]``."""
        if self.chunk.count == 1:
            return self.recording.name
        return f"{self.recording.name} [{self.chunk.index + 1}/{self.chunk.count}]"


@dataclass(frozen=True, slots=True)
class TaskResult:
    """How a task ended.

    Attributes:
        task: the task.
        is_ok: it wrote all its frames.
        frames: frames written.
        seconds: wall time in the worker.
        error: one line, when it failed.
        is_retryable: a crash worth another try (not a bad input, not an interrupt).
        worker: ``host:pid`` of the worker that ran it.
    """

    task: Task
    is_ok: bool
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    is_retryable: bool = False
    worker: str = ""


class FrameCounter:
    """An Output that counts written frames; read from another thread for progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames = 0

    @property
    def frames(self) -> int:
        """Frames written so far."""
        with self._lock:
            return self._frames

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Count one frame."""
        del image, result
        with self._lock:
            self._frames += 1

    def close(self) -> None:
        """Nothing to release."""


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def task_config(settings: BatchSettings, task: Task, folder: Path) -> AppConfig:
    """The run's config: the batch's, with this recording as source and outputs in ``folder``."""
    video = str(folder / OVERLAY_VIDEO) if settings.write_video else None
    output = OutputConfig(
        video=video,
        track_csv=str(folder / TRACK_CSV),
        latency_log=str(folder / LATENCY_LOG),
        progress=False,
    )
    return settings.config.model_copy(update={"source": task.recording.uri, "output": output})


def _chunk_opener(task: Task) -> app.SourceOpener:
    def open_chunk(config: AppConfig, kind: SourceKind, log: LatencyLog) -> FrameSource:
        del config, kind, log  # a chunk is always a file; it drops nothing of its own
        return ChunkSource(task.recording.uri, task.chunk, task.start_pts_s, task.fps)

    return open_chunk


def run_task(
    settings: BatchSettings,
    task: Task,
    detector: Detector,
    counter: FrameCounter,
    colour_models: app.ColourModels | None = None,
) -> TaskResult:
    """Run ``task`` with ``detector`` into its work folder; never raises for a bad input.

    ``colour_models``: the worker's rest-look models, kept from task to task as its detector.

    The folder is emptied first (what a crashed attempt left is not trusted); ``done.json``
    is written last, so its presence with the right row count means the task finished.
    """
    folder = BatchLayout(settings.out_dir).chunk_dir(task.recording.name, task.chunk)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    opener = app.open_configured_source if task.chunk.count == 1 else _chunk_opener(task)
    started = time.monotonic()

    def failed(error: str, *, is_retryable: bool) -> TaskResult:
        seconds = time.monotonic() - started
        return TaskResult(
            task, False, counter.frames, seconds, error, is_retryable, worker=worker_name()
        )

    try:
        outcome = app.run(
            task_config(settings, task, folder),
            extra_outputs=(counter,),
            detector=detector,
            source_opener=opener,
            colour_models=colour_models,
        )
    except (BallwatchError, ConfigError) as error:
        return failed(first_line(error), is_retryable=False)
    except StageFailedError as error:
        if isinstance(error.error, BallwatchError):
            return failed(first_line(error.error), is_retryable=False)
        return failed(f"{error.stage} failed: {first_line(error.error)}", is_retryable=True)
    except Exception as error:  # any other failure is reported and retried
        logger.exception("task %s failed", task.label)
        return failed(f"{type(error).__name__}: {first_line(error)}", is_retryable=True)
    if outcome.is_interrupted:
        return failed("interrupted", is_retryable=False)
    frames = outcome.summary.frames_processed
    seconds = time.monotonic() - started
    write_json_atomic(folder / DONE_JSON, {"frames": frames, "seconds": seconds})
    return TaskResult(task, True, frames, seconds, worker=worker_name())


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type name when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def write_json_atomic(path: Path, data: dict[str, object]) -> None:
    """Write ``data`` to a temporary name beside ``path``, then rename it into place."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)

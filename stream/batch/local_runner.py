"""Runs a batch's tasks one after another in this process (``--local``; no Ray needed)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from stream import app
from stream.batch.progress import BatchProgress
from stream.batch.task import (
    BatchSettings,
    DetectorFactory,
    FrameCounter,
    Task,
    TaskResult,
    run_task,
)

ResultSink = Callable[[TaskResult], None]


@dataclass(frozen=True, slots=True)
class BatchJob:
    """What a runner is given.

    Attributes:
        settings: shared by every task.
        tasks: to run, in order.
        factory: builds the detector (once per worker).
        sink: takes each task's final result (after retries).
        progress: the bars.
        max_attempts: tries per task when it crashes (1 + retries).
    """

    settings: BatchSettings
    tasks: Sequence[Task]
    factory: DetectorFactory
    sink: ResultSink
    progress: BatchProgress
    max_attempts: int


def should_retry(result: TaskResult, max_attempts: int) -> bool:
    """A crash with attempts left is tried again; a bad input or an interrupt is not."""
    return not result.is_ok and result.is_retryable and result.task.attempt < max_attempts


def retried(task: Task) -> Task:
    """The next attempt of ``task``."""
    return replace(task, attempt=task.attempt + 1)


def run_local(job: BatchJob) -> bool:
    """Run every task with one detector, retrying crashes; True if Ctrl-C stopped it.

    This is the plain loop the Ray runner is measured against (bench/batch.py).
    """
    detector = job.factory(job.settings.config)
    colour_models = app.ColourModels()  # the rest look's model, loaded once as the detector
    progress = job.progress
    queue = deque(job.tasks)
    while queue:
        task = queue.popleft()
        progress.worker(0, task.label, 0, task.frames_expected)
        try:
            result = run_task(job.settings, task, detector, FrameCounter(), colour_models)
        except KeyboardInterrupt:
            return True
        progress.task_finished(0, result.frames)
        if result.error == "interrupted":
            return True
        if should_retry(result, job.max_attempts):
            queue.appendleft(retried(task))
            continue
        job.sink(result)
    return False

"""Runs a batch's tasks on Ray: one actor per worker slot, each loading the detector once.

Ray is imported here only (the ``ballwatch[batch]`` extra). By default the command starts
a local Ray instance with no dashboard and a small object store; ``--ray-address`` joins
an existing cluster instead. A worker that dies (crash, out of memory, killed) costs its
task one attempt: the actor is replaced and the task retried up to ``max_attempts``.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from configs.app_config import ConfigError
from stream import app
from stream.batch.local_runner import BatchJob, ResultSink, retried, should_retry
from stream.batch.progress import BatchProgress
from stream.batch.task import (
    BatchSettings,
    DetectorFactory,
    FrameCounter,
    Task,
    TaskResult,
    first_line,
    run_task,
)
from stream.errors import BallwatchError

logger = logging.getLogger(__name__)

# /dev/shm is small in containers; results are tiny, so the object store can be too.
OBJECT_STORE_BYTES = 100 * 1024 * 1024
_POLL_S = 0.5
# A worker imports torch before it registers; Ray's 60 s limit was too short on a loaded
# 2-core machine (load ~25: workers still starting after a minute).
SYSTEM_CONFIG = {"worker_register_timeout_seconds": 300}


@dataclass(frozen=True, slots=True)
class RayOptions:
    """Where and how the tasks run.

    Attributes:
        address: an existing cluster (``ray://…`` or ``HOST:PORT``); None starts a local one.
        cpus: CPUs of the local instance (None: all of this machine's).
        threads_per_task: CPU threads each worker declares (and torch uses).
        gpus_per_task: GPU fraction each worker declares; None: 0.25 when the cluster has
            GPUs, else 0.
        workers: worker count; None: as many as the cluster's CPUs (and GPUs) allow.
    """

    address: str | None = None
    cpus: int | None = None
    threads_per_task: int = 1
    gpus_per_task: float | None = None
    workers: int | None = None


def _import_ray() -> Any:
    try:
        import ray  # noqa: PLC0415 - optional: only batch runs need it
    except ImportError as exc:
        msg = 'ballwatch batch needs Ray: pip install "ballwatch[batch]" (or run it with --local)'
        raise BallwatchError(msg) from exc
    return ray


@contextmanager
def ray_session(options: RayOptions) -> Iterator[Any]:
    """Ray, connected: a local instance (shut down afterwards) or the given cluster.

    When this process is already connected (a test's fixture, a notebook), that
    connection is used and left open.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: never phone home
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    try:
        if options.address:
            ray.init(address=options.address, log_to_driver=False)
        else:
            ray.init(
                # "local": always a new instance, never a leftover cluster of another process
                address="local",
                num_cpus=options.cpus or os.cpu_count() or 1,
                include_dashboard=False,
                object_store_memory=OBJECT_STORE_BYTES,
                log_to_driver=False,
                _system_config=SYSTEM_CONFIG,
            )
    except Exception as exc:  # Ray raises a bare Exception when its processes do not come up
        where = f"join Ray at {options.address}" if options.address else "start a local Ray"
        msg = f"could not {where} ({first_line(exc)}); try again, or run with --local"
        raise BallwatchError(msg) from exc
    try:
        yield ray
    finally:
        ray.shutdown()


class BatchWorker:
    """A Ray actor's body: one detector (and rest-look model), loaded once, for every task."""

    def __init__(self, settings: BatchSettings, factory: DetectorFactory) -> None:
        self._settings = settings
        self._factory = factory
        self._detector: Any = None
        self._colour_models = app.ColourModels()
        self._counter = FrameCounter()

    def ready(self) -> str:
        """Load the detector; an empty string when it loaded, else why not (one line)."""
        try:
            self._detector = self._factory(self._settings.config)
        except (BallwatchError, ConfigError) as error:
            return first_line(error)
        return ""

    def process(self, task: Task) -> TaskResult:
        """Run one task."""
        self._counter = FrameCounter()
        return run_task(self._settings, task, self._detector, self._counter, self._colour_models)

    def progress(self) -> int:
        """Frames the current task has written (called while :meth:`process` runs)."""
        return self._counter.frames


def _worker_count(ray: Any, options: RayOptions, gpus_per_task: float) -> int:
    if options.workers:
        return options.workers
    resources = ray.cluster_resources()
    count = int(resources.get("CPU", 1) // max(options.threads_per_task, 1))
    if gpus_per_task > 0:
        count = min(count, int(resources.get("GPU", 0) / gpus_per_task))
    return max(count, 1)


class _Pool:
    """The actors, by slot; replaces a dead one."""

    def __init__(
        self, ray: Any, settings: BatchSettings, factory: DetectorFactory, options: RayOptions
    ) -> None:
        self._ray = ray
        gpus = options.gpus_per_task
        if gpus is None:
            gpus = 0.25 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        self._actor_class = ray.remote(BatchWorker).options(
            num_cpus=options.threads_per_task, num_gpus=gpus, max_concurrency=2, max_restarts=0
        )
        self._args = (settings, factory)
        self.actors: list[Any] = [self._new() for _ in range(_worker_count(ray, options, gpus))]
        self._check_ready(self.actors)
        self._dead: set[int] = set()

    def _new(self) -> Any:
        return self._actor_class.remote(*self._args)

    def _check_ready(self, actors: Sequence[Any]) -> None:
        errors = [e for e in self._ray.get([a.ready.remote() for a in actors]) if e]
        if errors:
            raise BallwatchError(errors[0])

    def mark_dead(self, slot: int) -> None:
        """Forget a dead actor; :meth:`actor` starts a new one when work is left for it."""
        self._ray.kill(self.actors[slot])
        self._dead.add(slot)

    def actor(self, slot: int) -> Any:
        """The live actor of ``slot`` (a dead one is replaced, detector loaded, first)."""
        if slot in self._dead:
            self.actors[slot] = self._new()
            self._check_ready([self.actors[slot]])
            self._dead.discard(slot)
        return self.actors[slot]

    def kill_all(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor)


def run_on_ray(job: BatchJob, options: RayOptions) -> bool:
    """Run every task on Ray, retrying dead workers; True if Ctrl-C stopped it.

    Raises:
        BallwatchError: Ray is missing, or the detector cannot be loaded.
    """
    with ray_session(options) as ray:
        pool = _Pool(ray, job.settings, job.factory, options)
        scheduler = _Scheduler(ray, pool, job.progress, job.sink, job.max_attempts)
        try:
            scheduler.run(deque(job.tasks))
        except KeyboardInterrupt:
            logger.warning(
                "interrupted: stopping the workers; a rerun continues where this stopped"
            )
            pool.kill_all()
            return True
        pool.kill_all()
    return False


class _Scheduler:
    """Hands tasks to idle actors, collects results, polls progress (driver thread)."""

    def __init__(
        self, ray: Any, pool: _Pool, progress: BatchProgress, sink: ResultSink, max_attempts: int
    ) -> None:
        self._ray = ray
        self._pool = pool
        self._progress = progress
        self._sink = sink
        self._max_attempts = max_attempts
        self._busy: dict[Any, tuple[int, Task]] = {}

    def run(self, pending: deque[Task]) -> None:
        while pending or self._busy:
            self._submit(pending)
            done, _ = self._ray.wait(list(self._busy), num_returns=1, timeout=_POLL_S)
            for ref in done:
                slot, task = self._busy.pop(ref)
                result = self._collect(ref, slot, task)
                self._progress.task_finished(slot, result.frames)
                if should_retry(result, self._max_attempts):
                    logger.warning("%s: %s; trying again", task.label, result.error)
                    pending.appendleft(retried(task))
                else:
                    self._sink(result)
            self._poll_progress()

    def _submit(self, pending: deque[Task]) -> None:
        busy_slots = {slot for slot, _ in self._busy.values()}
        for slot in range(len(self._pool.actors)):
            if not pending:
                return
            if slot not in busy_slots:
                task = pending.popleft()
                self._busy[self._pool.actor(slot).process.remote(task)] = (slot, task)
                self._progress.worker(slot, task.label, 0, task.frames_expected)

    def _collect(self, ref: Any, slot: int, task: Task) -> TaskResult:
        try:
            result: TaskResult = self._ray.get(ref)
        except self._ray.exceptions.RayError as error:
            logger.warning("worker %d died running %s: %s", slot + 1, task.label, first_line(error))
            self._pool.mark_dead(slot)
            error_text = f"worker died (attempt {task.attempt}): {first_line(error)}"
            return TaskResult(task, False, error=error_text, is_retryable=True)
        return result

    def _poll_progress(self) -> None:
        refs = {
            slot: (self._pool.actors[slot].progress.remote(), task)
            for slot, task in self._busy.values()
        }
        for slot, (ref, task) in refs.items():
            try:
                frames = self._ray.get(ref, timeout=_POLL_S)
            except self._ray.exceptions.RayError:
                continue  # a dead worker's task is collected above on the next pass
            self._progress.worker(slot, task.label, int(frames), task.frames_expected)

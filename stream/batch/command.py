"""``ballwatch batch``: many recordings, resumably, on this machine or a Ray cluster."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from configs.app_config import AppConfig, OutputConfig
from overlays.batch_view import BatchView
from perception.detector import Detector
from stream import app
from stream.batch.book import BatchBook, ChunkPlan, plan_recordings
from stream.batch.inputs import expand_inputs
from stream.batch.local_runner import BatchJob, run_local
from stream.batch.progress import BatchProgress
from stream.batch.ray_runner import RayOptions, run_on_ray
from stream.batch.status import BatchStatus
from stream.batch.task import BatchLayout, BatchSettings, DetectorFactory
from stream.errors import BallwatchError
from stream.run_options import EXIT_INTERRUPTED, config_from_args

logger = logging.getLogger(__name__)

EXIT_SOME_FAILED = 1


def default_detector(config: AppConfig) -> Detector:
    """The detector ``ballwatch run`` would build, warmed up (once per worker)."""
    config, plan = app.precision_plan(config)
    detector = app.build_detector(config, plan)
    detector.warm_up()
    return detector


def load_factory(spec: str | None) -> DetectorFactory:
    """``module:function`` imported, or :func:`default_detector`.

    Raises:
        BallwatchError: the spec does not name an importable function.
    """
    if spec is None:
        return default_detector
    module_name, _, function = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError, ValueError) as exc:
        msg = f"--detector-factory {spec!r} is not an importable MODULE:FUNCTION ({exc})"
        raise BallwatchError(msg) from exc
    if not callable(factory):
        msg = f"--detector-factory {spec!r} is not a function"
        raise BallwatchError(msg)
    return factory  # type: ignore[no-any-return]


def batch_config(args: argparse.Namespace) -> AppConfig:
    """``run``'s config from the same flags, with the replay policy forced: nothing dropped.

    ``output.serve`` and ``output.serve_token`` are the driver's browser view (see
    :func:`served`); each task gets its own outputs (:func:`~stream.batch.task.task_config`).
    """
    config = config_from_args(args, None)
    stream = config.stream.model_copy(update={"queue_policy": "block", "realtime": False})
    detector = config.detector
    if detector.threads == 0:
        detector = detector.model_copy(update={"threads": max(args.threads, 1)})
    return config.model_copy(update={"stream": stream, "detector": detector})


def _check_args(args: argparse.Namespace) -> None:
    if args.retries < 0 or args.threads < 1 or (args.workers is not None and args.workers < 1):
        msg = "--retries must be >= 0, --threads and --workers >= 1"
        raise BallwatchError(msg)
    if args.chunk_s < 0 or args.overlap_s < 0:
        msg = "--chunk-s and --overlap-s must be >= 0 seconds"
        raise BallwatchError(msg)
    if args.overlay and args.chunk_s > 0:
        msg = "--overlay cannot be combined with --chunk-s (chunk videos are not joined); drop one"
        raise BallwatchError(msg)


def _run(job: BatchJob, args: argparse.Namespace) -> bool:
    if args.local:
        return run_local(job)
    options = RayOptions(
        args.ray_address, args.cpus, args.threads, args.gpus_per_task, args.workers
    )
    return run_on_ray(job, options)


@contextmanager
def served(output: OutputConfig, status: BatchStatus) -> Iterator[None]:
    """Within the block, the batch's progress is served at ``output.serve`` (when set).

    Same address and token rules as ``run --serve``: loopback needs no token, any other
    address does (:class:`~overlays.batch_view.BatchView`).

    Raises:
        OutputError: the address is malformed, needs a token, or cannot be bound.
    """
    if not output.serve:
        yield
        return
    view = BatchView.from_address(output.serve, status.snapshot, output.serve_token)
    view.start()
    logger.info("batch progress at %s", view.url)
    try:
        yield
    finally:
        view.close()


@contextmanager
def _quiet_runs(*, is_verbose: bool) -> Iterator[None]:
    """Per-recording INFO lines (opened, precision, tiles) would bury the bars: warnings only.

    The loggers get their levels back afterwards: a batch started from Python (or a test)
    leaves the rest of the process logging as it was.
    """
    loggers = [] if is_verbose else ["stream.app", "stream.sources", "perception"]
    levels = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def run_batch(args: argparse.Namespace) -> int:
    """Run the batch; 0 when every recording is done, 1 when some failed, 130 on Ctrl-C."""
    _check_args(args)
    with _quiet_runs(is_verbose=getattr(args, "verbose", False)):
        return _run_batch(args)


def _run_batch(args: argparse.Namespace) -> int:
    recordings = expand_inputs(args.inputs)
    config = batch_config(args)
    # the workers' one detector is chosen for a recording's source kind, as `run` would;
    # they need neither the address nor the token of the driver's browser view
    output = config.output.model_copy(update={"serve": None, "serve_token": None})
    worker_config = config.model_copy(update={"source": recordings[0].uri, "output": output})
    settings = BatchSettings(worker_config, Path(args.out), write_video=args.overlay)
    factory = load_factory(args.detector_factory)
    try:
        settings.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create the output folder {args.out!r} ({exc.strerror}); choose another"
        raise BallwatchError(msg) from exc
    layout = BatchLayout(settings.out_dir)
    tracker = settings.config.tracker
    settle_frames = tracker.history + tracker.lag_frames + tracker.smooth_frames + 2
    cut = ChunkPlan(args.chunk_s, args.overlap_s, settle_frames)
    plan = plan_recordings(layout, recordings, cut)
    status = BatchStatus(len(recordings), plan.frames_total)
    progress = BatchProgress(status, is_enabled=not args.no_progress)
    book = BatchBook(layout, recordings, plan, progress)
    job = BatchJob(settings, plan.tasks, factory, book.on_result, progress, args.retries + 1)
    try:
        with logging_redirect_tqdm(), served(config.output, status):
            interrupted = _run(job, args)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
        book.reconcile()
        book.write()
    sys.stderr.write(book.report() + "\n")
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if book.failed else 0

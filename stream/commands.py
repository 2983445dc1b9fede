"""The commands behind the CLI: run, demo, report, eval."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from configs.app_config import AppConfig
from perception.budget import BudgetRule, decide
from perception.detector import Precision
from perception.evaluate import TrackCollector, evaluate_outputs, format_report, write_rows
from perception.labels import read_labels
from stream import app
from stream.errors import BallwatchError
from stream.frame import BallTruth
from stream.latency import LatencyLog, read_log
from stream.latency_plot import plot_latency
from stream.latency_summary import format_summary, summarize
from stream.recording_source import RecordingSource
from stream.run_options import EXIT_INTERRUPTED, config_from_args
from stream.signals import STOP_SIGNAL_NAMES
from stream.source import FrameSource, SourceKind

logger = logging.getLogger(__name__)


# commands whose modules load lazily (torch, Ray, onnxruntime): module, function
_LAZY_COMMANDS = {
    "batch": ("stream.batch.command", "run_batch"),
    "find": ("stream.find", "run_find"),
    "label": ("overlays.label.command", "run_label"),
    "dataset": ("perception.dataset_cli", "run_dataset"),
    "train": ("perception.training", "run_train"),
    "qat": ("perception.qat", "run_qat"),
    "verifier": ("perception.training.verifier_cli", "run_verifier"),
}


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command; returns the exit status."""
    handlers = {"run": _run, "demo": _demo, "report": _report, "eval": _eval}
    if args.command in handlers:
        return handlers[args.command](args)
    module, function = _LAZY_COMMANDS[args.command]
    handler: Callable[[argparse.Namespace], int] = getattr(import_module(module), function)
    return handler(args)


def _finish(outcome: app.RunOutcome, plot: str | None) -> int:
    print(format_summary(outcome.summary))
    if plot:
        plot_latency(outcome.records, outcome.drops, Path(plot))
        print(f"latency plot: {plot}")
    if outcome.stopped_by in STOP_SIGNAL_NAMES:  # systemd, docker stop, timeout: a clean stop
        print(f"stopped by {outcome.stopped_by}: outputs were finalized", file=sys.stderr)
        return 0
    if outcome.is_interrupted:
        print("interrupted: outputs were finalized up to the last frame", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args, args.source)
    outcome = app.run(config)
    return _finish(outcome, args.plot)


def _demo(args: argparse.Namespace) -> int:
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    defaults = {
        "output": str(out_dir / "demo.overlay.mp4"),
        "track_csv": str(out_dir / "demo.track.csv"),
        "latency_log": str(out_dir / "demo.latency.jsonl"),
        "plot": str(out_dir / "demo.latency.png"),
    }
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    if args.config == "default":
        args.config = "demo"
    outcome = app.run(config_from_args(args, None))  # the source comes from the demo preset
    status = _finish(outcome, args.plot)
    print(f"demo outputs in {out_dir}/: overlay video, track CSV, latency log, latency plot")
    return status


def _report(args: argparse.Namespace) -> int:
    path = Path(args.log)
    if not path.is_file():
        msg = f"latency log {str(path)!r} not found; give the file written by --latency-log"
        raise BallwatchError(msg)
    try:
        records, drops, events = read_log(path)
    except ValueError as exc:
        raise BallwatchError(str(exc)) from exc
    print(format_summary(summarize(records, drops, events)))
    config = config_from_args(args, None)
    rule = BudgetRule.from_config(config.budget)
    if rule is not None and records:
        start = next((e for e in events if e.kind == "start"), None)
        device = str(start.details.get("device", "cpu")) if start else "cpu"
        precision = Precision(records[-1].precision)
        print(decide(records, rule, device, precision).explain())
    if args.plot:
        plot_latency(records, drops, Path(args.plot))
        print(f"latency plot: {args.plot}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    """Score a run; with ``--realtime`` it is the live run itself, drops and all.

    A replay blocks (every frame processed). A real-time eval runs exactly as
    ``run --realtime`` does (same policy, same drops) and scores every frame the source
    produced: a dropped frame is a miss unless the track bridged it (the processed frames
    on both sides saw the ball; :class:`perception.tracker.dropped.DroppedFrames`).
    """
    if not args.realtime:
        args.policy = "block"
    config = config_from_args(args, args.source)
    collector = TrackCollector()
    sources: list[RecordingSource] = []

    def opener(cfg: AppConfig, kind: SourceKind, log: LatencyLog) -> FrameSource:
        source = RecordingSource(app.open_configured_source(cfg, kind, log))
        sources.append(source)
        return source

    outcome = app.run(config, extra_outputs=(collector,), source_opener=opener)
    produced = sources[0].produced if sources else 0
    count = max(produced, max(collector.balls, default=-1) + 1)
    outputs = collector.outputs(count)
    if args.labels:
        if collector.frame_size is None:
            msg = f"{args.source} gave no frames to score"
            raise BallwatchError(msg)
        width, height = collector.frame_size
        truths = read_labels(Path(args.labels), width, height)
    elif sources and sources[0].truths:
        known = sources[0].truths
        truths = [known.get(i, BallTruth(is_visible=False)) for i in range(count)]
    else:
        msg = f"{args.source} has no ground truth of its own; pass --labels LABELS.csv"
        raise BallwatchError(msg)
    report = evaluate_outputs(outputs, truths, args.tolerance)
    print(format_report(report))
    processed = len(collector.balls)
    print(
        f"frames: {count} from the source, {processed} processed, {count - processed} dropped"
        + (
            f" (real-time: {len(collector.bridged)} bridged between frames that saw the ball, "
            "the rest count as misses)"
            if args.realtime
            else ""
        )
    )
    if args.rows:
        write_rows(report, Path(args.rows))
    return EXIT_INTERRUPTED if outcome.is_interrupted else 0

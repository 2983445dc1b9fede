"""The ``ballwatch`` command line: run, demo, report, eval (and training commands)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from configs.app_config import ConfigError
from stream.errors import BallwatchError, StageFailedError
from stream.noise import hide_library_noise
from stream.run_options import EXIT_INTERRUPTED, EXIT_USER_ERROR, add_run_options
from stream.signals import stop_on_signals, stop_reason

logger = logging.getLogger("ballwatch")

__all__ = ["EXIT_INTERRUPTED", "EXIT_USER_ERROR", "build_parser", "main"]

DEMO_DIR = Path("out/demo")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="ballwatch", description="Detect and track a tiny ball in video with RF-DETR."
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging and every library warning"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the pipeline on a file, camera, stream or synth:")
    run.add_argument("source", help="file path, camera index, /dev/videoN, URL or synth:?…")
    add_run_options(run)

    demo = commands.add_parser("demo", help="a short synthetic match through the whole pipeline")
    demo.add_argument("--out-dir", default=str(DEMO_DIR), help="where the demo writes its files")
    add_run_options(demo)

    report = commands.add_parser("report", help="summarize a saved latency log")
    report.add_argument("log", help="latency log (JSON lines) written by --latency-log")
    report.add_argument("--plot", help="also draw the latency plot to this PNG")
    _add_budget_options(report)

    evaluate = commands.add_parser("eval", help="score the tracker against labels")
    evaluate.add_argument("source", help="video file or synth:?… (which has its own truth)")
    evaluate.add_argument("--labels", help="labels CSV (Frame,Ball,x,y or Frame,Visibility,X,Y)")
    evaluate.add_argument("--tolerance", type=float, default=4.0, help="hit radius in pixels")
    evaluate.add_argument("--rows", help="write per-frame results to this CSV")
    add_run_options(evaluate)
    from stream.find import add_find_arguments  # noqa: PLC0415

    add_find_arguments(commands.add_parser("find", help="the ball in still pictures (CSV)"))
    _add_training_commands(commands)
    from stream.batch.arguments import add_batch_arguments  # noqa: PLC0415

    add_batch_arguments(commands.add_parser("batch", help="many recordings, resumably (Ray)"))
    from overlays.label.arguments import add_label_arguments  # noqa: PLC0415

    add_label_arguments(commands.add_parser("label", help="label the ball in a video (browser)"))
    return parser


def _add_training_commands(commands: Any) -> None:
    """dataset, train, qat, verifier: options in perception.options (no torch, cv2 or numpy)."""
    from perception.options import (  # noqa: PLC0415
        add_dataset_arguments,
        add_qat_arguments,
        add_train_arguments,
        add_verifier_arguments,
    )

    add_dataset_arguments(
        commands.add_parser("dataset", help="build a training set of native-resolution crops")
    )
    add_train_arguments(commands.add_parser("train", help="fine-tune RF-DETR for the ball (AMP)"))
    add_qat_arguments(
        commands.add_parser("qat", help="quantization-aware training to an INT8 model")
    )
    add_verifier_arguments(
        commands.add_parser("verifier", help="train the still pictures' patch verifier")
    )


def _add_budget_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="default", help="preset whose budget to check")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    # Busy-waiting OpenMP threads starve when another process (or our own decode and
    # encode threads) holds a core: torch FP32 went from 51 ms to 1.8 s per crop on a
    # loaded 2-core machine; passive waiting keeps it at ~60 ms and costs nothing idle
    # (21.6 s vs 21.1 s for the demo on a quiet machine). Must be set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        hide_library_noise()
    from stream import commands  # noqa: PLC0415 - keeps `--help` fast (torch loads lazily)

    try:
        with stop_on_signals():  # SIGTERM/SIGHUP stop a run like Ctrl-C (main thread only)
            return commands.dispatch(args)
    except KeyboardInterrupt as interrupt:  # before or after the pipeline ran
        reason = stop_reason(interrupt)
        print(f"ballwatch: stopped by {reason}", file=sys.stderr)
        return EXIT_INTERRUPTED if reason == "SIGINT" else 0
    except StageFailedError as error:  # before BallwatchError, its base class
        if isinstance(error.error, BallwatchError):
            return _fail(_user_message(error.error))  # a full disk, a lost source: one line
        logger.error("stage %s failed", error.stage, exc_info=error.error)
        return 1
    except (BallwatchError, ConfigError) as error:
        return _fail(_user_message(error))


def _user_message(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _fail(message: str) -> int:
    print(f"ballwatch: error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR

"""The options of ``ballwatch batch`` (light: the CLI builds them without importing torch)."""

from __future__ import annotations

import argparse

from stream.run_options import add_model_options


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``ballwatch batch``."""
    parser.add_argument(
        "inputs", nargs="+", help="video files, folders, or .txt lists of paths/URLs"
    )
    parser.add_argument("--out", required=True, help="output folder (one sub-folder per recording)")
    parser.add_argument("--config", default="default", help="preset name or YAML path (as `run`)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    add_model_options(parser)
    parser.add_argument("--overlay", action="store_true", help="also write each overlay video")
    parser.add_argument(
        "--chunk-s",
        type=float,
        default=0.0,
        help="cut files longer than this (seconds) into "
        "chunks that run in parallel; 0: one task per recording",
    )
    parser.add_argument(
        "--overlap-s",
        type=float,
        default=2.0,
        help="frames decoded on each side of a chunk so the tracker settles (seconds)",
    )
    parser.add_argument("--ray-address", help="join this Ray cluster instead of starting one")
    parser.add_argument("--local", action="store_true", help="no Ray: one task after another")
    parser.add_argument("--cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per worker")
    parser.add_argument("--gpus-per-task", type=float, help="GPU share per worker (auto: 0.25)")
    parser.add_argument("--workers", type=int, help="worker count (default: CPUs / --threads)")
    parser.add_argument("--retries", type=int, default=2, help="retries of a crashed task")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument(
        "--serve", metavar="HOST:PORT", help="browser view of the progress, e.g. 127.0.0.1:8080"
    )
    parser.add_argument("--serve-token", help="token the browser view requires")
    parser.add_argument(
        "--detector-factory",
        metavar="MODULE:FUNCTION",
        help="advanced: build the detector "
        "with this function of the AppConfig (tests, custom detectors)",
    )

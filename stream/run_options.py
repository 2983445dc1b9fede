"""The options every pipeline command shares (run, demo, eval, batch) and the exit codes.

Kept apart from :mod:`stream.cli` so the commands that read these options
(:mod:`stream.commands`, :mod:`stream.batch.command`) do not import the module that
dispatches to them: no import cycle (checked by ``lint-imports``).
"""

from __future__ import annotations

import argparse
from typing import Any

from configs.app_config import AppConfig, load_config, parse_override, preset_path

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options of run, demo and eval: outputs, source kind, model, precision, ``--set``."""
    parser.add_argument("--config", default="default", help="preset name or YAML path")
    parser.add_argument("-o", "--output", help="overlay video file (.mp4, H.264)")
    parser.add_argument("--track-csv", help="per-frame ball positions (CSV)")
    parser.add_argument("--latency-log", help="per-frame latency log (JSON lines)")
    parser.add_argument("--plot", help="draw the latency plot to this PNG at the end")
    parser.add_argument("--show", action="store_true", default=None, help="show a window")
    parser.add_argument("--serve", metavar="HOST:PORT", help="browser view, e.g. 127.0.0.1:8080")
    parser.add_argument("--serve-token", help="token the browser view requires")
    parser.add_argument("--realtime", action="store_true", default=None, help="pace a replay")
    parser.add_argument("--kind", choices=["file", "camera", "network", "synth"])
    parser.add_argument("--policy", choices=["block", "latest"], help="full-queue policy")
    add_model_options(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override any config field, e.g. --set search.tile_overlap=48",
    )


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The detector's options (run, demo, eval and batch): weights, size, precision, device."""
    parser.add_argument("--weights", help="RF-DETR checkpoint (.pth or .safetensors)")
    parser.add_argument("--size", choices=["nano", "small", "medium", "large"])
    parser.add_argument("--precision", choices=["auto", "fp32", "fp16", "bf16", "int8"])
    parser.add_argument("--int8-artifact", help="INT8 model made by `ballwatch qat`")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threshold", type=float, help="detector score threshold")


FLAG_FIELDS = {
    "output": "output.video",
    "track_csv": "output.track_csv",
    "latency_log": "output.latency_log",
    "show": "output.show",
    "serve": "output.serve",
    "serve_token": "output.serve_token",
    "realtime": "stream.realtime",
    "kind": "stream.kind",
    "policy": "stream.queue_policy",
    "weights": "detector.weights",
    "size": "detector.size",
    "precision": "detector.precision",
    "int8_artifact": "detector.int8_artifact",
    "device": "detector.device",
    "threshold": "detector.threshold",
}


def config_from_args(args: argparse.Namespace, source: str | None) -> AppConfig:
    """The preset with every command-line flag and ``--set`` applied."""
    overrides: dict[str, Any] = {}
    if source is not None:
        overrides["source"] = source
    for flag, field in FLAG_FIELDS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[field] = value
    if getattr(args, "no_progress", False):
        overrides["output.progress"] = False
    for text in args.set:
        key, value = parse_override(text)
        overrides[key] = value
    return load_config(preset_path(args.config), overrides)

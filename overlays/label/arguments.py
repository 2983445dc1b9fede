"""``ballwatch label``'s options, importable without the labelling tool (``--help`` stays fast)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_label_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ballwatch label``."""
    parser.add_argument("video", type=Path, help="the video file to label")
    parser.add_argument(
        "--labels", type=Path, help="labels CSV (Frame,Visibility,X,Y); default VIDEO.labels.csv"
    )
    parser.add_argument(
        "--serve", default="127.0.0.1:0", metavar="HOST:PORT", help="where the page listens"
    )
    parser.add_argument("--serve-token", help="token the page requires (needed off loopback)")
    parser.add_argument("--config", default="default", help="preset whose model prefills")
    parser.add_argument("--weights", help="model for the prefill (default: the bundled one)")
    parser.add_argument("--no-prefill", action="store_true", help="no model guesses")
    parser.add_argument("--no-browser", action="store_true", help="print the URL only")

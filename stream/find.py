"""``ballwatch find``: the ball in still pictures (photos, exported frames), one CSV row each.

A picture has no frame before it, so each is searched whole at native resolution and the
surest detection is its ball (:mod:`perception.still`), by the bundled still model unless
``--weights`` says otherwise. A composition root like ``commands.py``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

from stream.run_options import EXIT_USER_ERROR, add_model_options, config_from_args

PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
COLUMNS = ("image", "found", "x", "y", "score")


def add_find_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ballwatch find``."""
    parser.add_argument("images", nargs="+", help="picture files, or folders of them")
    parser.add_argument("--csv", help="write the rows here too (default: stdout only)")
    parser.add_argument("--config", default="replay", help="preset name or YAML path")
    parser.add_argument(
        "--views",
        type=int,
        choices=(1, 3),
        default=3,
        help="search each picture as it is, shifted half a patch and mirrored, and average "
        "(3, default), or only as it is (1: three times faster, fewer balls found)",
    )
    parser.add_argument(
        "--verifier", default="auto", metavar="auto|none|FILE",
        help="look again at every place the search found with a patch verifier: the "
        "bundled one beside the bundled still model (auto, default), none, or a file "
        "from `ballwatch verifier`",
    )  # fmt: skip
    add_model_options(parser)
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
        help="override any config field, e.g. --set search.tile_overlap=48",
    )  # fmt: skip


def pictures(given: Sequence[str]) -> Iterator[Path]:
    """The files given, with each folder replaced by its pictures in name order."""
    for name in given:
        path = Path(name)
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES)
        else:
            yield path


def run_find(args: argparse.Namespace) -> int:
    """Print ``image,found,x,y,score`` per picture; exit 2 when any could not be read.

    An unreadable picture gets a one-line error naming it and a row with ``found`` 0;
    the others are still searched, and the CSV is complete and flushed either way.
    """
    import cv2  # noqa: PLC0415 - `--help` loads no cv2, numpy or torch
    import numpy as np  # noqa: PLC0415

    from stream.app import build_still_finder  # noqa: PLC0415

    finder, choice = build_still_finder(config_from_args(args, None), args.views, args.verifier)
    # said on stderr whatever the log level: the CSV on stdout stays clean
    print(
        f"ballwatch find: weights {choice.path or 'rfdetr COCO'} ({choice.reason}); verifier "
        f"{finder.verification.source if finder.verification else 'none'}",
        file=sys.stderr,
    )
    unreadable = 0
    with ExitStack() as files:
        sinks = [csv.writer(sys.stdout)]
        if args.csv:
            sinks.append(csv.writer(files.enter_context(Path(args.csv).open("w", newline=""))))
        for sink in sinks:
            sink.writerow(COLUMNS)
        for path in pictures(args.images):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                unreadable += 1
                why = "not a picture OpenCV reads" if path.is_file() else "no such file"
                print(f"ballwatch: error: cannot read picture {path}: {why}", file=sys.stderr)
                row: tuple[object, ...] = (path, 0, "", "", "")
            else:
                ball = finder.find(np.asarray(image, dtype=np.uint8))
                row = (path, 0, "", "", "") if ball is None else (
                    path, 1, f"{ball.x:.2f}", f"{ball.y:.2f}", f"{ball.score:.3f}"
                )  # fmt: skip
            for sink in sinks:
                sink.writerow(row)
            sys.stdout.flush()
    return EXIT_USER_ERROR if unreadable else 0

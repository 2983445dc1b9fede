"""``ballwatch verifier``: train the still pictures' patch verifier from labelled pictures.

The still model searches every training picture as ``ballwatch find`` does (three views,
places proposed down to ``--proposal-threshold``), and the verifier learns its places: the
labelled balls against the model's surest places away from them and some of its less sure
ones (``--hard``, ``--deep``; :mod:`perception.training.verifier`). ``--hold-out`` keeps
groups out, as for ``ballwatch dataset``; a picture's group is ``<set>-<split>-<clip>``.
"""

from __future__ import annotations

import argparse
import fnmatch
import logging
import time
from collections.abc import Iterator

import numpy as np
import torch

from perception.dataset import DatasetError, LabelledFrame
from perception.dataset_cli import still_search, yolo_export_frames
from perception.training.verifier import (
    LabelledPlaces,
    VerifierRecipe,
    train_verifier,
    verifier_samples,
)
from perception.weights import MODELS_DIR, STILL_MODEL_NAME

logger = logging.getLogger(__name__)


def training_pictures(args: argparse.Namespace) -> Iterator[LabelledFrame]:
    """The pictures of the folders given, less the held-out groups, thinned by ``--thin``.

    ``--thin GLOB N`` keeps every Nth of the pictures whose groups GLOB matches, counted over
    the folders in the order given.
    """
    counted = dict.fromkeys((pattern for pattern, _ in args.thin), -1)
    for prefix, frame in yolo_export_frames(args.yolo, args.yolo_stretched):
        group = f"{prefix}-{frame.group}"
        if any(fnmatch.fnmatchcase(group, pattern) for pattern in args.hold_out):
            continue
        thin = next(((g, int(n)) for g, n in args.thin if fnmatch.fnmatchcase(group, g)), None)
        if thin is not None:
            counted[thin[0]] += 1
            if counted[thin[0]] % thin[1]:
                continue
        yield frame


def run_verifier(args: argparse.Namespace) -> int:
    """Search the pictures, cut the patches, train, write ``--out``; returns the exit status.

    Raises:
        DatasetError: no pictures given, or none left after ``--hold-out``.
    """
    if args.threads:
        torch.set_num_threads(args.threads)
    frames = list(training_pictures(args))
    if not frames:
        msg = "no training pictures: pass --yolo DIR or --yolo-stretched DIR WxH (none left?)"
        raise DatasetError(msg)
    weights = args.weights or MODELS_DIR / STILL_MODEL_NAME
    finder = still_search(weights, args.proposal_threshold)
    began = time.perf_counter()
    pictures: list[LabelledPlaces] = []
    for frame in frames:
        centres, _ = finder.places(frame.image)
        balls = np.array([(b.x, b.y) for b in frame.balls], np.float32).reshape(-1, 2)
        pictures.append(LabelledPlaces(frame.image, balls, centres))
        if len(pictures) % 20 == 0:
            logger.info("searched %d of %d pictures", len(pictures), len(frames))
    searched = time.perf_counter() - began
    recipe = VerifierRecipe(
        patch_px=args.patch_px,
        hard_per_picture=args.hard,
        deep_per_picture=args.deep,
        epochs=args.epochs,
        seed=args.seed,
    )
    patches, labels = verifier_samples(pictures, recipe)
    verifier, losses = train_verifier(
        patches, labels, recipe, lambda epoch, loss: logger.info("epoch %d: loss %.4f", epoch, loss)
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    verifier.save(args.out)
    logger.info(
        "verifier: %s from %d pictures searched by %s (%.0f s), %d ball and %d other patches, "
        "loss %.3f -> %.3f in %.0f s",
        args.out, len(pictures), weights.name, searched, int(labels.sum()),
        int((labels == 0).sum()), losses[0], losses[-1], time.perf_counter() - began - searched,
    )  # fmt: skip
    return 0

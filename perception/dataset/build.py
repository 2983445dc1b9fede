"""Building a dataset folder: clips assigned to splits, crops written into them."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from perception.dataset.coco import CocoWriter
from perception.dataset.crops import samples_from_frames
from perception.dataset.values import CropRecipe, CropSample, DatasetError, LabelledFrame, Split
from perception.options import FrameInput

logger = logging.getLogger(__name__)


def assign_splits(
    groups: Sequence[str], valid_fraction: float, test_fraction: float = 0.0
) -> dict[str, Split]:
    """Assign whole clips (groups) to splits, deterministically from their names.

    Raises:
        DatasetError: fewer than two groups, so no clip could be held back without
            putting frames of one clip in both train and valid.
    """
    unique = sorted(set(groups))
    if len(unique) < 2:
        msg = (
            f"cannot split {unique!r} by clip: need at least 2 clips or matches; "
            "add another clip or more synthetic matches"
        )
        raise DatasetError(msg)
    ranked = sorted(unique, key=lambda name: hashlib.sha256(name.encode()).hexdigest())
    n_valid = max(1, round(len(unique) * valid_fraction))
    n_test = round(len(unique) * test_fraction) if test_fraction > 0 else 0
    n_valid = min(n_valid, len(unique) - 1)
    n_test = min(n_test, len(unique) - 1 - n_valid)
    splits = dict.fromkeys(ranked, Split.TRAIN)
    for name in ranked[:n_valid]:
        splits[name] = Split.VALID
    for name in ranked[n_valid : n_valid + n_test]:
        splits[name] = Split.TEST
    return splits


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What :func:`build_dataset` wrote: images per split and the groups in each."""

    images: dict[Split, int]
    groups: dict[Split, tuple[str, ...]]


def build_dataset(
    frames: Iterable[LabelledFrame],
    out_dir: Path,
    recipe: CropRecipe,
    splits: dict[str, Split],
    seed: int = 0,
) -> BuildReport:
    """Crop every frame (see :func:`samples_from_frames`) and write a COCO folder.

    Args:
        frames: labelled frames from any mix of sources.
        out_dir: destination; gets ``train``, ``valid`` and ``test`` subfolders.
        recipe: crop size and box rules.
        splits: group name → split (:func:`assign_splits`); a group not listed goes to train.
        seed: seeds the crop placement.
    """
    return write_samples(samples_from_frames(frames, recipe, seed), out_dir, splits)


def write_samples(
    samples: Iterable[CropSample],
    out_dir: Path,
    splits: dict[str, Split],
    frame_input: FrameInput = FrameInput.RGB,
) -> BuildReport:
    """Write crops into a COCO folder, each into its group's split (train when not listed).

    ``frame_input`` (what the crops show: colour or grey stacks) is recorded in each split's
    annotation file; training reads it back (:func:`read_frame_input`).
    """
    writer = CocoWriter(out_dir, frame_input=frame_input)
    seen: dict[Split, set[str]] = {split: set() for split in Split}
    for sample in samples:
        split = splits.get(sample.group, Split.TRAIN)
        writer.add(split, sample)
        seen[split].add(sample.group)
    counts = writer.close()
    report = BuildReport(counts, {split: tuple(sorted(groups)) for split, groups in seen.items()})
    logger.info("wrote %s: %s", out_dir, {s.value: n for s, n in counts.items()})
    return report

"""``ballwatch dataset``: options, sources and the build (the CLI module wires these in).

Sources mix and repeat: labelled clips (both label formats), synthetic matches, COCO and
YOLO exports (stretched ones put back to their frame size), and unlabelled clips whose still
parts give hard negatives and backgrounds for pasted balls (:mod:`perception.real_data`).

Splits are by group, never by frame: a group is a clip, a sub-clip (``--subclip N`` cuts
clips into runs of N frames named ``clip@k``), an export's clip or a synthetic match.
``--hold-out GLOB`` names the groups kept out of training (written to ``valid``); without
it, whole groups are assigned by hash (:func:`perception.dataset.assign_splits`).
"""

from __future__ import annotations

import argparse
import fnmatch
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path

from configs.app_config import for_replay, load_config, preset_path
from perception.dataset import (
    BuildReport,
    CropRecipe,
    CropSample,
    DatasetError,
    LabelledFrame,
    Split,
    assign_splits,
    clip_images,
    estimate_box_px,
    frames_from_clip,
    frames_from_coco,
    frames_from_synth,
    frames_from_yolo,
    samples_from_frames,
    write_samples,
)
from perception.dataset.mining import MinePlan, mined_negatives
from perception.detections import Detections
from perception.frame_input import FrameStack, as_input
from perception.labels import read_listed_labels
from perception.options import FrameInput
from perception.precision import resolve_precision
from perception.real_data import (
    StillClip,
    pasted_samples,
    static_negatives,
    still_clip,
    unstretched_frame,
)
from perception.rfdetr_detector import RfDetrDetector
from perception.still import StillFinder
from perception.tracknet_folder import frames_from_tracknet
from stream.frame import BallTruth

logger = logging.getLogger(__name__)


def stretched_size(text: str) -> tuple[int, int]:
    """``--yolo-stretched``'s ``WIDTHxHEIGHT`` as numbers, or an error naming the option."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        msg = f"--yolo-stretched size {text!r} is not WIDTHxHEIGHT, e.g. 1280x720"
        raise DatasetError(msg) from exc
    return width, height


def _subclip(frames: Iterable[LabelledFrame], length: int) -> Iterator[LabelledFrame]:
    """Rename each frame's group to its sub-clip, ``clip@k`` for frames ``k*length...``."""
    for frame in frames:
        group = f"{frame.group}@{frame.frame_index // length}"
        yield LabelledFrame(frame.image, frame.balls, group, frame.frame_index)


def _clip_frames(args: argparse.Namespace, recipe: CropRecipe) -> Iterator[LabelledFrame]:
    for video, labels in args.clip:
        video_path, label_path = Path(video), Path(labels)
        first = next(clip_images(video_path))
        height, width = first.shape[:2]
        listed = read_listed_labels(label_path, width, height)
        count = max(listed, default=-1) + 1
        truths = [listed.get(i, BallTruth(is_visible=False)) for i in range(count)]
        box = args.box_px if args.box_px else estimate_box_px(height, recipe)
        images = as_input(clip_images(video_path), args.frame_input)
        every = frames_from_clip(images, truths, video_path.stem, box, args.stride)
        # a frame the CSV does not list was not labelled (ballwatch label writes only the
        # frames a person confirmed or interpolated): it is no ball-free negative
        frames = (frame for frame in every if frame.frame_index in listed)
        yield from _subclip(frames, args.subclip) if args.subclip else frames


def _export_frames(args: argparse.Namespace) -> Iterator[LabelledFrame]:
    ids = [int(name) for name in args.class_name if name.isdigit()]
    for folder in args.tracknet:
        yield from frames_from_tracknet(folder)
    found: list[tuple[str, LabelledFrame]] = []
    for folder in args.coco:
        found += [(export_prefix(folder), f) for f in frames_from_coco(folder, args.class_name)]
    found += yolo_export_frames(args.yolo, args.yolo_stretched, ids)
    if args.frame_input is FrameInput.GREY_STACK:
        found = _stacked_in_frame_order(found)
    for prefix, frame in found:
        yield LabelledFrame(frame.image, frame.balls, f"{prefix}-{frame.group}", frame.frame_index)


def yolo_export_frames(
    folders: Iterable[str | Path],
    stretched: Iterable[tuple[str | Path, str]],
    class_ids: Sequence[int] = (),
) -> Iterator[tuple[str, LabelledFrame]]:
    """The frames of YOLO export folders, each with its folder's :func:`export_prefix`.

    Args:
        folders: export folders at their own size (``--yolo``).
        stretched: ``(folder, "WxH")`` pairs of exports stretched to a square from ``WxH``
            (``--yolo-stretched``): their frames come back at ``WxH``.
        class_ids: the ball's class ids (empty: every box is a ball).
    """
    for folder in folders:
        prefix = export_prefix(Path(folder))
        yield from ((prefix, frame) for frame in frames_from_yolo(Path(folder), class_ids))
    for folder, size in stretched:
        prefix, (width, height) = export_prefix(Path(folder)), stretched_size(size)
        for frame in frames_from_yolo(Path(folder), class_ids):
            yield prefix, unstretched_frame(frame, width, height)


def export_prefix(folder: Path) -> str:
    """An export frame's group prefix: its set and split folder (``set-split``).

    Exports reuse clip names across their split folders; the prefix keeps a held-out
    folder's frames apart from the training folder's.
    """
    return f"{folder.resolve().parent.name}-{folder.name}"


def _stacked_in_frame_order(
    found: list[tuple[str, LabelledFrame]],
) -> list[tuple[str, LabelledFrame]]:
    """Export frames as grey stacks, each clip's frames in frame-number order (``--sequence``).

    A clip's frames are stacked across split folders (a Roboflow export scatters one clip's
    frames over train and valid), so the pictures before a frame are its clip's previous
    frames whichever folder holds them.
    """
    ordered = sorted(found, key=lambda pair: (pair[1].group, pair[1].frame_index))
    stacked: list[tuple[str, LabelledFrame]] = []
    frames = FrameStack()
    clip: str | None = None
    for prefix, frame in ordered:
        if frame.group != clip:
            frames.reset()
            clip = frame.group
        image = frames.push(frame.image)
        stacked.append((prefix, LabelledFrame(image, frame.balls, frame.group, frame.frame_index)))
    return stacked


def labelled_frames(args: argparse.Namespace, recipe: CropRecipe) -> list[LabelledFrame]:
    """Every labelled frame of the sources given (clips, synthetic matches, exports)."""
    seeds = list(range(args.synth_seed, args.synth_seed + args.synth))
    synth = frames_from_synth(seeds, args.synth_frames, args.stride, args.frame_input)
    return list(chain(_clip_frames(args, recipe), synth, _export_frames(args)))


def choose_splits(groups: Sequence[str], args: argparse.Namespace) -> dict[str, Split]:
    """Group → split: the ``--hold-out`` globs go to valid, else hash-assigned whole groups."""
    if not args.hold_out:
        return assign_splits(groups, args.valid_fraction, args.test_fraction)
    splits = {
        group: Split.VALID
        if any(fnmatch.fnmatchcase(group, pattern) for pattern in args.hold_out)
        else Split.TRAIN
        for group in groups
    }
    if Split.VALID not in splits.values():
        msg = f"--hold-out {args.hold_out!r} matches no group; groups are {sorted(set(groups))!r}"
        raise DatasetError(msg)
    return splits


def _extra_samples(
    args: argparse.Namespace, train: list[LabelledFrame], recipe: CropRecipe
) -> Iterator[CropSample]:
    """Pasted balls and still negatives, cut from training frames and background clips only."""
    clips: list[StillClip] = [
        still_clip(list(as_input(clip_images(path), args.frame_input)), path.stem)
        for path in args.background
    ]
    if args.paste:
        yield from pasted_samples(train, clips, args.paste, recipe, args.seed + 1, args.frame_input)
    if args.still_negatives:
        if not clips:
            msg = "--still-negatives needs at least one --background VIDEO"
            raise DatasetError(msg)
        yield from static_negatives(clips, args.still_negatives, recipe, args.seed + 2)
    if args.mine is not None:
        find = whole_frame_search(args.mine, args.mine_score)
        logger.info("mining %s's mistakes on %d training frames", args.mine, args.mine_frames)
        plan = MinePlan(args.mine_crops, args.mine_score, args.mine_frames, args.seed + 3)
        yield from mined_negatives(train, find, plan, recipe)


def still_search(weights: Path, threshold: float) -> StillFinder:
    """The search ``ballwatch find`` runs (replay preset, three views), down to ``threshold``.

    FP32 on the CPU and FP16 on CUDA, as a run would; used to mine mistakes and by
    ``ballwatch verifier`` to propose places.

    Raises:
        DetectorLoadError: the weights cannot be loaded.
    """
    config = for_replay(load_config(preset_path("replay")))
    plan = resolve_precision("auto", "auto", None)
    detector = RfDetrDetector.from_config(
        config.detector.model_copy(update={"weights": str(weights), "threshold": threshold}), plan
    )
    return StillFinder(detector, config.search)


def whole_frame_search(weights: Path, threshold: float) -> Callable[[LabelledFrame], Detections]:
    """Frame -> what the still-picture search of it reports (:mod:`perception.still`).

    Mined frames are searched as unrelated pictures: the full tiling, no track to follow.

    Raises:
        DetectorLoadError: the weights cannot be loaded.
    """
    finder = still_search(weights, threshold)
    return lambda frame: finder.detections(frame.image)


def build(args: argparse.Namespace, recipe: CropRecipe) -> BuildReport:
    """Cut every sample the options ask for and write the COCO folder."""
    frames = labelled_frames(args, recipe)
    splits = choose_splits([frame.group for frame in frames], args)
    train = [frame for frame in frames if splits[frame.group] is Split.TRAIN]
    held = [frame for frame in frames if splits[frame.group] is not Split.TRAIN]
    passes = [samples_from_frames(held, recipe, args.seed)]
    passes += [samples_from_frames(train, recipe, args.seed + 10 * k) for k in range(args.repeat)]
    samples = chain(*passes, _extra_samples(args, train, recipe))
    return write_samples(samples, args.out, splits, args.frame_input)


def run_dataset(args: argparse.Namespace) -> int:
    """``ballwatch dataset``: build the folder; returns the exit status.

    Raises:
        DatasetError: no source given, too few clips to split, unreadable inputs.
    """
    sources = (args.clip, args.synth, args.coco, args.yolo, args.yolo_stretched, args.tracknet)
    if not any(sources):
        msg = (
            "no source given; pass --clip VIDEO LABELS, --synth N, --coco DIR, --yolo DIR "
            "--yolo-stretched DIR WxH or --tracknet DIR"
        )
        raise DatasetError(msg)
    stills = (args.coco, args.yolo, args.yolo_stretched, args.tracknet)
    if args.frame_input is FrameInput.GREY_STACK and (
        args.tracknet or (any(stills) and not args.sequence)
    ):
        msg = (
            "--frame-input grey-stack needs consecutive frames: exports (--coco, --yolo, "
            "--yolo-stretched) only with --sequence, when their images are the frames of "
            "clips named <clip>_<frame>; --tracknet is not supported with it"
        )
        raise DatasetError(msg)
    try:
        MinePlan(args.mine_crops, args.mine_score, args.mine_frames)
    except ValueError as exc:
        raise DatasetError(str(exc)) from exc
    if args.mine is not None and args.frame_input is not FrameInput.RGB:
        msg = (
            "--mine needs --frame-input rgb: a mined model searches single frames; "
            "leave --mine out for a grey-stack set"
        )
        raise DatasetError(msg)
    try:
        recipe = CropRecipe(
            resolution=args.resolution,
            min_box_px=args.min_box_px,
            negatives_per_positive=args.negatives,
            paste_at_rest=args.paste_at_rest,
        )
    except ValueError as exc:  # a resolution, box size or share out of range
        raise DatasetError(str(exc)) from exc
    report = build(args, recipe)
    for split in Split:
        logger.info(
            "%s: %d crops from %s",
            split.value,
            report.images[split],
            ", ".join(report.groups[split]) or "-",
        )
    return 0

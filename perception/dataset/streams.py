"""Endless crop streams for training: from synthetic matches, or reshuffled saved crops."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np

from perception.dataset.crops import negative_crop, positive_crop
from perception.dataset.values import CropRecipe, CropSample, DatasetError, LabelledFrame
from perception.frame_input import FrameStack
from perception.options import FrameInput
from stream.frame import BallTruth
from stream.synth import SynthMatch, SynthParams

logger = logging.getLogger(__name__)


_CROWDED_MARGIN_PX = 12.0  # a ball this close to a player's box counts as among players
_CROWDED_TRIES = 40  # frames looked at for one crowded draw before taking any frame


def synth_crop_stream(
    seeds: Sequence[int],
    recipe: CropRecipe,
    seed: int,
    frames_per_match: int = 3000,
    crowded_share: float = 0.0,
    frame_input: FrameInput = FrameInput.RGB,
) -> Iterator[CropSample]:
    """Endless crops from synthetic matches, generated on the fly (about 1 ms a frame).

    Each crop comes from a random frame of a random match in ``seeds`` (odd seeds pan the
    camera): a positive where the ball is visible, else (and in the recipe's share of
    draws) a negative. A ``crowded_share`` of draws looks for a frame whose ball is by a
    player (:meth:`SynthMatch.ball_near_player`): only a tenth of random frames show one,
    and there the model misses; half of those draws cut the crop round a player's head
    instead, the blob a model taught on balls by players takes for one. Deterministic for a
    given ``seed``. ``frame_input`` grey-stack crops show each frame with its two before
    (:class:`~perception.frame_input.FrameStack`), as a motion model sees them.
    """
    rng = np.random.default_rng(seed)
    matches: dict[int, SynthMatch] = {}
    negative_share = recipe.negatives_per_positive / (1.0 + recipe.negatives_per_positive)
    while True:
        match_seed = int(seeds[int(rng.integers(len(seeds)))])
        match = matches.get(match_seed)
        if match is None:
            match = SynthMatch(SynthParams(seed=match_seed, pan=match_seed % 2 == 1))
            matches[match_seed] = match
        index = int(rng.integers(frames_per_match))
        crowded = crowded_share > 0.0 and rng.random() < crowded_share
        if crowded:
            index = _crowded_index(match, index, frames_per_match, rng)
        image, truth = match.frame(index)
        if frame_input is FrameInput.GREY_STACK:
            image = _stacked(match, index, image)
        group = f"synth-{match_seed}"
        frame = LabelledFrame(image, (truth,) if truth.is_visible else (), group, index)
        heads = match.player_heads(index) if crowded and rng.random() < 0.5 else []
        if heads:
            # half the crowded draws teach what a ball by a player is not: a player's head
            # (the crop labels the ball too where it falls inside)
            hx, hy = heads[int(rng.integers(len(heads)))]
            yield positive_crop(frame, BallTruth(is_visible=True, x=hx, y=hy), recipe, rng)
            continue
        if truth.is_visible and rng.random() >= negative_share:
            yield positive_crop(frame, truth, recipe, rng)
            continue
        negative = negative_crop(frame, recipe, rng)
        if negative is not None:
            yield negative


def _stacked(match: SynthMatch, index: int, image: np.ndarray) -> np.ndarray:
    """Frame ``index`` of ``match`` (``image``) as a grey stack with the two frames before it."""
    frames = FrameStack()
    for before in range(max(index - 2, 0), index):
        frames.push(match.frame(before)[0])
    return frames.push(image)


def _crowded_index(match: SynthMatch, first: int, frames: int, rng: np.random.Generator) -> int:
    """A frame of ``match`` whose ball is by a player, or ``first`` when none turns up."""
    index = first
    for _ in range(_CROWDED_TRIES):
        if match.ball_near_player(index, _CROWDED_MARGIN_PX):
            return index
        index = int(rng.integers(frames))
    return first


def coco_crop_stream(samples: Sequence[CropSample], seed: int) -> Iterator[CropSample]:
    """Endless reshuffled passes over ``samples``.

    Raises:
        DatasetError: ``samples`` is empty.
    """
    if not samples:
        msg = "the training split has no images; build it with 'ballwatch dataset'"
        raise DatasetError(msg)
    rng = np.random.default_rng(seed)
    while True:
        for index in rng.permutation(len(samples)):
            yield samples[int(index)]

"""Training the still pictures' patch verifier (:mod:`perception.verifier`).

Its samples come from labelled training pictures and the places the still model proposed on
them (:meth:`perception.still.StillFinder.places`): each labelled ball (shifted by up to a
pixel, a few times: the detector's places are that far off) is a positive; the detector's
surest places away from every ball are the hard negatives, the mistakes the verifier is for,
with some of its less sure places (the verifier looks at them all); a few random places per
picture keep plain background in view. Training is full passes over
those patches with flips and brightness changes, deterministic for a seed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from perception.verifier import PatchNet, PatchVerifier, as_tensor, cut_patches

logger = logging.getLogger(__name__)

NOT_THE_BALL_PX = 6.0
"""A proposed place this far from every labelled ball is a negative (nearer: left out)."""


@dataclass(frozen=True, slots=True)
class VerifierRecipe:
    """How the verifier's samples are cut and how long it trains.

    Attributes:
        patch_px: the patch side (a ball is 3-15 px; the rest is its surroundings).
        hard_per_picture: the detector's surest places away from the ball taken as negatives.
        deep_per_picture: places taken as negatives at random from beyond the detector's
            ``deep_after`` surest (the verifier looks at every place a picture has, and most
            of them are far down the list: it must know those too). On two folds of the
            training pictures (tennis ``valid``, two seeds, every place looked at) 0 / 20 /
            40 of them gave 161 / 165 / 167 hits of 200; 80 gave 82 of 100 on the first
            seed, where 40 gave 84.
        deep_after: where the deep places start.
        random_per_picture: random places per picture taken as negatives.
        ball_copies: patches per labelled ball, each shifted by up to one pixel.
        epochs: full passes over the patches.
        batch: patches per step.
        lr: peak learning rate (one cycle).
        seed: sampling, initial weights and augmentation.
    """

    patch_px: int = 32
    hard_per_picture: int = 20
    deep_per_picture: int = 40
    deep_after: int = 50
    random_per_picture: int = 5
    ball_copies: int = 8
    epochs: int = 30
    batch: int = 128
    lr: float = 2e-3
    seed: int = 0


@dataclass(frozen=True, slots=True)
class LabelledPlaces:
    """One training picture, its labelled balls and the detector's places on it.

    Attributes:
        image: BGR ``uint8`` ``(H, W, 3)``.
        balls: labelled ball centres ``(N, 2)`` (N may be 0).
        places: the detector's proposed centres ``(M, 2)``, surest first.
    """

    image: NDArray[np.uint8]
    balls: NDArray[np.float32]
    places: NDArray[np.float32]


def verifier_samples(
    pictures: Iterable[LabelledPlaces], recipe: VerifierRecipe
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """Patches (N, S, S, 3) BGR and labels (N,) 1 ball / 0 not, deterministic per seed."""
    rng = np.random.default_rng(recipe.seed)
    patches: list[NDArray[np.uint8]] = []
    labels: list[NDArray[np.float32]] = []
    for picture in pictures:
        balls = np.asarray(picture.balls, np.float32).reshape(-1, 2)
        places = np.asarray(picture.places, np.float32).reshape(-1, 2)
        shifted = np.repeat(balls, recipe.ball_copies, axis=0)
        shifted += rng.integers(-1, 2, shifted.shape).astype(np.float32)
        if len(balls):
            apart = np.hypot(*(places[:, None, :] - balls[None, :, :]).transpose(2, 0, 1))
            places = places[apart.min(axis=1) > NOT_THE_BALL_PX]
        deep = places[recipe.deep_after :]
        deep = deep[rng.permutation(len(deep))[: recipe.deep_per_picture]]
        height, width = picture.image.shape[:2]
        anywhere = rng.uniform((0, 0), (width - 1, height - 1), (recipe.random_per_picture, 2))
        negatives = np.concatenate([places[: recipe.hard_per_picture], deep, anywhere])
        negatives = negatives.astype(np.float32)
        for centres, label in ((shifted, 1.0), (negatives, 0.0)):
            patches.append(cut_patches(picture.image, centres, recipe.patch_px))
            labels.append(np.full(len(centres), label, np.float32))
    if not patches:
        side = recipe.patch_px
        return np.zeros((0, side, side, 3), np.uint8), np.zeros(0, np.float32)
    return np.concatenate(patches), np.concatenate(labels)


def train_verifier(
    patches: NDArray[np.uint8],
    labels: NDArray[np.float32],
    recipe: VerifierRecipe,
    on_epoch: Callable[[int, float], None] | None = None,
) -> tuple[PatchVerifier, list[float]]:
    """The trained verifier and each epoch's mean loss.

    Positives are weighted up to the negatives' count (a picture gives many more negatives),
    so the loss is balanced whatever the recipe's counts.
    """
    if not len(labels) or labels.min() == labels.max():
        msg = "the verifier needs both balls and non-balls to learn from; label more pictures"
        raise ValueError(msg)
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    net = PatchNet()
    inputs, targets = as_tensor(patches), torch.from_numpy(labels)
    positives = float(labels.sum())
    loss_of = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(labels) - positives) / positives))
    steps = recipe.epochs * -(-len(labels) // recipe.batch)
    optimizer = torch.optim.AdamW(net.parameters(), recipe.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.lr, total_steps=steps)
    losses: list[float] = []
    net.train()
    for epoch in range(recipe.epochs):
        order = torch.randperm(len(labels), generator=generator)
        total = 0.0
        for start in range(0, len(labels), recipe.batch):
            chosen = order[start : start + recipe.batch]
            batch = inputs[chosen]
            if torch.rand(1, generator=generator).item() < 0.5:
                batch = batch.flip(3)
            batch = batch * (0.8 + 0.4 * torch.rand(len(batch), 1, 1, 1, generator=generator))
            loss = loss_of(net(batch), targets[chosen])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(chosen)
        losses.append(total / len(labels))
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return PatchVerifier(net, recipe.patch_px), losses

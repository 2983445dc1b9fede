"""The still pictures' patch verifier: its patches, its samples, its training and its say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from safetensors.torch import save_file

from configs.app_config import SearchConfig
from perception.errors import DetectorLoadError
from perception.still import VIEWS, StillFinder, Verification, distinct_places
from perception.training.verifier import (
    LabelledPlaces,
    VerifierRecipe,
    train_verifier,
    verifier_samples,
)
from perception.verifier import PatchVerifier, cut_patches
from perception.weights import STILL_MODEL_NAME, VERIFIER_NAME, WeightsChoice, choose_verifier
from tests.perception.test_still import ShoeOrBallDetector, picture_with_a_ball_and_a_shoe

YELLOW = (40, 230, 230)  # BGR: a tennis ball's colour


def test_a_patch_is_centred_on_its_place_and_whole_at_the_picture_edge() -> None:
    picture = np.zeros((40, 60, 3), np.uint8)
    picture[10, 20] = (1, 2, 3)

    patches = cut_patches(picture, np.array([[20.0, 10.0], [0.0, 0.0]], np.float32), side=8)

    assert patches.shape == (2, 8, 8, 3)
    assert patches[0, 4, 4].tolist() == [1, 2, 3]  # the place sits at (side/2, side/2)
    assert int(patches[0].sum()) == 6
    assert cut_patches(picture, np.zeros((0, 2), np.float32), side=8).shape == (0, 8, 8, 3)


def test_distinct_places_keep_the_surest_of_each_cluster_surest_first() -> None:
    centres = np.array([[10, 10], [11, 10], [50, 50], [12, 12]], np.float32)
    scores = np.array([0.4, 0.7, 0.5, 0.6], np.float32)

    kept, kept_scores = distinct_places(centres, scores, radius_px=3.0)

    # (11, 10) is surest; (10, 10) and (12, 12) lie within 3 px of it
    assert kept.tolist() == [[11, 10], [50, 50]]
    assert kept_scores.tolist() == pytest.approx([0.7, 0.5])


def court(seed: int) -> LabelledPlaces:
    """A green picture with one yellow ball and white line ends the detector proposed."""
    rng = np.random.default_rng(seed)
    image = np.full((96, 128, 3), (40, 120, 40), np.uint8)
    image = (image + rng.integers(0, 12, image.shape)).astype(np.uint8)
    ball = rng.uniform(12, 84, 2).round()
    bx, by = int(ball[0]), int(ball[1])
    image[by - 3 : by + 4, bx - 3 : bx + 4] = YELLOW
    lines = []
    for _ in range(3):
        x, y = (int(v) for v in rng.uniform(8, 88, 2))
        if abs(x - bx) > 10 or abs(y - by) > 10:
            image[y - 1 : y + 2, max(x - 10, 0) : x + 10] = (255, 255, 255)
            lines.append((x, y))
    places = np.array([*lines, (bx + 3, by)], np.float32)  # the ball's edge: not a negative
    return LabelledPlaces(image, np.array([[bx, by]], np.float32), places)


def test_samples_are_the_same_for_a_seed_and_put_balls_on_the_patch_centre() -> None:
    pictures = [court(seed) for seed in range(3)]
    recipe = VerifierRecipe(patch_px=16, random_per_picture=2, ball_copies=2, seed=5)

    patches, labels = verifier_samples(pictures, recipe)
    again, labels_again = verifier_samples(pictures, recipe)
    other, _ = verifier_samples(pictures, VerifierRecipe(patch_px=16, random_per_picture=2,
                                                         ball_copies=2, seed=6))  # fmt: skip

    assert np.array_equal(patches, again)
    assert np.array_equal(labels, labels_again)
    assert not np.array_equal(patches, other)
    balls = patches[labels == 1]
    assert len(balls) == 6  # two shifted copies of each picture's ball
    # shifted by at most a pixel: the 7 px ball covers the patch centre's 3x3
    assert (balls[:, 7:10, 7:10] == YELLOW).all()
    # the place on the ball's edge (3 px off) is neither a ball nor a negative
    assert (labels == 0).sum() == sum(len(p.places) - 1 for p in pictures) + 3 * 2


def test_deep_negatives_come_from_beyond_the_surest_places() -> None:
    image = np.zeros((40, 200, 3), np.uint8)
    places = np.array([[10 + 10 * i, 20] for i in range(18)], np.float32)  # surest first
    for index, (x, y) in enumerate(places.astype(int)):
        image[y, x] = (index + 1, 0, 0)  # each place's centre pixel names it
    picture = LabelledPlaces(image, np.zeros((0, 2), np.float32), places)
    recipe = VerifierRecipe(
        patch_px=8, hard_per_picture=3, deep_per_picture=4, deep_after=10, random_per_picture=0
    )

    patches, labels = verifier_samples([picture], recipe)

    assert (labels == 0).all()
    named = [int(p[4, 4, 0]) - 1 for p in patches]
    assert named[:3] == [0, 1, 2]  # the surest three
    deep = named[3:]
    assert len(deep) == 4 == len(set(deep))
    assert all(index >= 10 for index in deep)  # none of the 10 surest


def test_many_places_are_looked_at_in_batches_with_the_same_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recipe = VerifierRecipe(patch_px=16, epochs=1, batch=32)
    picture = court(2)
    verifier, _ = train_verifier(*verifier_samples([picture], recipe), recipe)
    places = np.concatenate([picture.balls, picture.places])
    whole = verifier.probabilities(picture.image, places)

    monkeypatch.setattr(PatchVerifier, "CHUNK", 2)
    batched = verifier.probabilities(picture.image, places)

    assert batched.shape == (len(places),)
    assert batched == pytest.approx(whole, abs=1e-5)


def test_training_lowers_the_loss_and_the_verifier_prefers_a_ball_to_a_line_end() -> None:
    recipe = VerifierRecipe(patch_px=16, epochs=12, batch=32, seed=0)
    patches, labels = verifier_samples([court(seed) for seed in range(24)], recipe)

    verifier, losses = train_verifier(patches, labels, recipe)

    assert losses[-1] < 0.5 * losses[0]
    unseen = court(99)
    ball, line_ends = unseen.balls, unseen.places[:-1]
    said = verifier.probabilities(unseen.image, np.concatenate([ball, line_ends]))
    assert said[0] > 0.5
    assert (said[0] > said[1:]).all()


def test_a_saved_verifier_loads_and_says_the_same(tmp_path: Path) -> None:
    recipe = VerifierRecipe(patch_px=16, epochs=1, batch=32)
    picture = court(1)
    verifier, _ = train_verifier(*verifier_samples([picture], recipe), recipe)
    path = tmp_path / "verifier.safetensors"

    verifier.save(path)
    loaded = PatchVerifier.load(path)

    assert loaded.patch_px == 16
    places = np.concatenate([picture.balls, picture.places])
    assert loaded.probabilities(picture.image, places) == pytest.approx(
        verifier.probabilities(picture.image, places), abs=1e-6
    )


def test_a_file_that_is_no_verifier_is_refused_naming_it(tmp_path: Path) -> None:
    import torch

    detector_like = tmp_path / "ball-nano-still.safetensors"
    save_file({"w": torch.zeros(2)}, str(detector_like), {"class_name": "ball"})

    with pytest.raises(DetectorLoadError, match=r"ball-nano-still\.safetensors: not a patch"):
        PatchVerifier.load(detector_like)
    with pytest.raises(DetectorLoadError, match=r"missing\.safetensors: cannot be read"):
        PatchVerifier.load(tmp_path / "missing.safetensors")


class SaysWhite:
    """A verifier sure of white patches (the ball of ``picture_with_a_ball_and_a_shoe``)."""

    patch_px = 4

    def probabilities(
        self, image: NDArray[np.uint8], centres: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        patches = cut_patches(image, centres, self.patch_px)
        return np.array([0.9 if (p == 255).all() else 0.1 for p in patches], np.float32)


def test_the_verifier_turns_the_searchs_surest_wrong_place_into_the_ball() -> None:
    search = SearchConfig(track_enabled=False)
    picture = picture_with_a_ball_and_a_shoe()
    checked = Verification(SaysWhite(), top=5, score_power=1.0)  # type: ignore[arg-type]

    alone = StillFinder(ShoeOrBallDetector(), search, VIEWS[:1]).find(picture)
    verified = StillFinder(ShoeOrBallDetector(), search, VIEWS[:1], checked).find(picture)
    only_the_surest = Verification(SaysWhite(), top=1, score_power=1.0)  # type: ignore[arg-type]
    top_one = StillFinder(ShoeOrBallDetector(), search, VIEWS[:1], only_the_surest).find(picture)

    assert alone is not None
    assert (alone.x, alone.y) == pytest.approx((66.0, 184.0))  # the shoe (0.8)
    assert verified is not None
    # the ball: 0.9 x 0.6 beats the shoe's 0.1 x 0.8
    assert (verified.x, verified.y, verified.score) == pytest.approx((253.0, 103.0, 0.54))
    assert top_one is not None
    assert (top_one.x, top_one.y) == pytest.approx((66.0, 184.0))  # looked only at the shoe


class NeverSure:
    """A verifier that doubts every place."""

    patch_px = 4

    def probabilities(
        self, image: NDArray[np.uint8], centres: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        return np.full(len(centres), 0.2, np.float32)


def test_an_answer_needs_the_search_or_the_verifier_to_be_sure_of_it() -> None:
    search = SearchConfig(track_enabled=False)
    picture = picture_with_a_ball_and_a_shoe()  # search scores: shoe 0.8, ball 0.6

    def find(verifier: object, answer_score: float) -> tuple[float, float] | None:
        check = Verification(verifier, score_power=1.0, answer_score=answer_score)  # type: ignore[arg-type]
        found = StillFinder(ShoeOrBallDetector(), search, VIEWS[:1], check).find(picture)
        return None if found is None else (found.x, found.y)

    assert find(NeverSure(), answer_score=0.7) == pytest.approx((66.0, 184.0))  # the search's
    assert find(NeverSure(), answer_score=0.9) is None  # neither is sure
    assert find(SaysWhite(), answer_score=0.9) == pytest.approx((253.0, 103.0))  # the verifier's


def test_the_bundled_verifier_goes_only_with_the_bundled_still_model(tmp_path: Path) -> None:
    still = WeightsChoice(tmp_path / STILL_MODEL_NAME, "bundled still model")
    other = WeightsChoice(tmp_path / "mine.safetensors", "given with --weights")

    assert choose_verifier("auto", still, tmp_path) is None  # not shipped: none
    (tmp_path / VERIFIER_NAME).write_bytes(b"")
    auto = choose_verifier("auto", still, tmp_path)
    assert auto is not None
    assert auto.path == tmp_path / VERIFIER_NAME
    assert choose_verifier("auto", other, tmp_path) is None  # it learned another model's places
    assert choose_verifier("none", still, tmp_path) is None
    given = choose_verifier("my.safetensors", other, tmp_path)
    assert given is not None
    assert given.path == Path("my.safetensors")

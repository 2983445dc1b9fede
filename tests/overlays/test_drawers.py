"""Drawers on synthetic black images: what a viewer of the overlay would notice."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from overlays.drawers import BallMarker, Hud, HudStats, Trail, hud_lines
from perception.detections import Detections
from perception.result import BallState, FrameResult, PerceptionStep, SearchMode, TrackStatus
from stream.frame import Frame

HEIGHT, WIDTH = 120, 160


def make_result(
    index: int,
    status: TrackStatus = TrackStatus.SEEN,
    x: float = 0.0,
    y: float = 0.0,
    *,
    detections: Detections | None = None,
    mode: SearchMode = SearchMode.TRACK,
) -> FrameResult:
    frame = Frame(
        index=index,
        image=np.zeros((HEIGHT, WIDTH, 3), np.uint8),
        pts_s=index / 30,
        captured_ns=index,
    )
    step = PerceptionStep(
        detections=detections or Detections.empty(),
        mode=mode,
        pixels=0,
        infer_start_ns=0,
        infer_end_ns=0,
    )
    ball = (
        BallState.lost()
        if status is TrackStatus.LOST
        else BallState(status, x, y, 0.9 if status is TrackStatus.SEEN else 0.0)
    )
    return FrameResult(frame=frame, step=step, ball=ball, dequeued_ns=0, precision="fp32")


def blank() -> NDArray[np.uint8]:
    return np.zeros((HEIGHT, WIDTH, 3), np.uint8)


def changed_colors(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The BGR values of every pixel that is no longer black."""
    return image[image.any(axis=2)]


# --- BallMarker -------------------------------------------------------------------------


def test_seen_ball_gets_a_ring_and_a_centre_dot() -> None:
    image = blank()

    BallMarker(radius_px=10).draw_on(image, make_result(0, TrackStatus.SEEN, 80, 60))

    assert image[60, 80].any(), "centre dot"
    assert image[60, 90].any(), "ring at the radius"
    assert not image[60, 85].any(), "between dot and ring stays clear"
    assert not image[10, 10].any()
    assert image[:, :, 1].max() == 255, "seen is green"
    assert image[:, :, 2].max() == 0, "with no red"


def test_predicted_ball_gets_a_hollow_marker_in_another_colour() -> None:
    seen, predicted = blank(), blank()
    marker = BallMarker(radius_px=10)

    marker.draw_on(seen, make_result(0, TrackStatus.SEEN, 80, 60))
    marker.draw_on(predicted, make_result(0, TrackStatus.PREDICTED, 80, 60))

    assert predicted.any()
    assert not predicted[55:66, 75:86].any(), "no centre dot: hollow"
    assert changed_colors(predicted)[:, 2].max() > 0, "predicted has red (orange)"
    assert changed_colors(seen)[:, 2].max() == 0
    assert np.count_nonzero(predicted.any(axis=2)) < np.count_nonzero(seen.any(axis=2)), "dashed"


def test_a_ball_at_rest_gets_a_green_square_round_it() -> None:
    image = blank()

    BallMarker(radius_px=10).draw_on(image, make_result(0, TrackStatus.REST, 80, 60))

    assert image[50, 80].any(), "top side"
    assert image[70, 80].any(), "bottom side"
    assert image[50, 70].any(), "a corner: a square, not a ring"
    assert image[70, 90].any(), "the opposite corner"
    assert not image[55:66, 75:86].any(), "the ball itself stays visible"
    assert changed_colors(image)[:, 2].max() == 0, "green, as a ball found"


def test_lost_ball_draws_nothing() -> None:
    image = blank()

    BallMarker().draw_on(image, make_result(0, TrackStatus.LOST))

    assert not image.any()


@pytest.mark.parametrize(
    ("show_detections", "is_drawn"),
    [pytest.param(True, True, id="enabled"), pytest.param(False, False, id="disabled")],
)
def test_detection_boxes_are_drawn_only_when_enabled(
    show_detections: bool, *, is_drawn: bool
) -> None:
    image = blank()
    detections = Detections.from_lists([[20.0, 20.0, 40.0, 40.0]], [0.5])

    BallMarker(show_detections=show_detections).draw_on(
        image, make_result(0, TrackStatus.LOST, detections=detections)
    )

    assert bool(image[20, 30].any()) is is_drawn, "top edge of the box"
    assert not image[30, 30].any(), "boxes are outlines"


# --- Trail -----------------------------------------------------------------------------


def draw_trail(trail: Trail, results: list[FrameResult]) -> NDArray[np.uint8]:
    """Feed results in order like the renderer (a fresh copy per frame); return the last image."""
    image = blank()
    for result in results:
        image = blank()
        trail.draw_on(image, result)
    return image


def test_trail_joins_consecutive_positions() -> None:
    image = draw_trail(
        Trail(length=10),
        [make_result(0, TrackStatus.SEEN, 20, 60), make_result(1, TrackStatus.SEEN, 140, 60)],
    )

    assert image[60, 80].any()


def test_trail_never_crosses_a_lost_frame() -> None:
    image = draw_trail(
        Trail(length=10),
        [
            make_result(0, TrackStatus.SEEN, 20, 60),
            make_result(1, TrackStatus.LOST),
            make_result(2, TrackStatus.SEEN, 140, 60),
        ],
    )

    assert image[60, 20].any(), "both points are still shown"
    assert image[60, 140].any()
    assert not image[50:71, 30:131].any(), "nothing between them"


def test_trail_bridges_frames_the_renderer_never_got() -> None:
    # frame 1 was dropped upstream (never rendered): not a loss of the ball
    image = draw_trail(
        Trail(length=10),
        [make_result(0, TrackStatus.SEEN, 20, 60), make_result(2, TrackStatus.SEEN, 140, 60)],
    )

    assert image[60, 80].any()


def test_trail_segment_to_a_predicted_point_has_the_predicted_colour() -> None:
    image = draw_trail(
        Trail(length=10),
        [make_result(0, TrackStatus.SEEN, 20, 60), make_result(1, TrackStatus.PREDICTED, 140, 60)],
    )

    assert image[60, 80, 2] > 0, "orange has red"


def test_trail_points_seen_filled_and_predicted_hollow() -> None:
    image = draw_trail(
        Trail(length=10, thickness=2),
        [
            make_result(0, TrackStatus.SEEN, 40, 60),
            make_result(1, TrackStatus.LOST),  # no segment: look at the points alone
            make_result(2, TrackStatus.PREDICTED, 120, 60),
        ],
    )

    assert image[60, 40].any(), "seen point is a filled dot"
    assert not image[60, 120].any(), "predicted point is hollow"
    assert image[60, 123, 2] > 0, "predicted ring, orange"


def test_trail_fades_older_segments() -> None:
    image = draw_trail(
        Trail(length=4),
        [
            make_result(0, TrackStatus.SEEN, 20, 20),
            make_result(1, TrackStatus.SEEN, 140, 20),
            make_result(2, TrackStatus.SEEN, 140, 100),
        ],
    )

    older, newer = int(image[20, 80, 1]), int(image[60, 140, 1])
    assert 0 < older < newer


def test_trail_forgets_positions_older_than_its_length() -> None:
    results = [
        make_result(0, TrackStatus.SEEN, 20, 20),
        make_result(1, TrackStatus.SEEN, 140, 20),
        make_result(2, TrackStatus.SEEN, 140, 100),
        make_result(3, TrackStatus.SEEN, 20, 100),
    ]

    image = draw_trail(Trail(length=3), results)

    assert not image[20, 80].any(), "segment 0-1 is older than 3 frames"
    assert image[60, 140].any()
    assert image[100, 80].any()


def test_trail_rejects_zero_length() -> None:
    with pytest.raises(ValueError, match="Trail length must be >= 1"):
        Trail(length=0)


# --- Hud -------------------------------------------------------------------------------


def test_hud_draws_a_panel_top_left_only() -> None:
    image = blank()
    stats = HudStats(fps=29.97, queue_wait_ms=1.5, inference_ms=40.0, render_ms=2.0, drops=3)

    Hud(lambda: stats, font_scale=0.3).draw_on(image, make_result(0, TrackStatus.SEEN, 80, 60))

    assert image[:20, :60].any()
    assert not image[HEIGHT - 20 :, WIDTH - 20 :].any()
    assert image[2, 2].any(), "semi-transparent background shows on black"


def test_hud_reads_the_latest_stats_every_frame() -> None:
    snapshots = iter([HudStats(fps=10.0), HudStats(fps=99.0)])
    hud = Hud(lambda: next(snapshots), font_scale=0.3)
    first, second = blank(), blank()

    hud.draw_on(first, make_result(0))
    hud.draw_on(second, make_result(1))

    assert not np.array_equal(first, second)


def test_hud_text_shows_stats_ball_mode_and_unknown_values() -> None:
    stats = HudStats(fps=29.97, inference_ms=40.0, drops=3)

    lines = hud_lines(stats, make_result(0, TrackStatus.SEEN, 80.4, 60.6, mode=SearchMode.TILES))

    text = "\n".join(lines)
    assert "seen @ 80,61 (0.90)" in text
    assert "fps    30.0   drops 3" in text
    assert "tiles   fp32" in text
    assert "queue  -- ms   detect 40.0 ms" in text

"""Scoring by centre distance: counting on hand-made cases, the report, run_eval."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from configs.app_config import SearchConfig, TrackerConfig
from perception.evaluate import (
    Outcome,
    evaluate_outputs,
    format_report,
    run_eval,
    score_frame,
    split_at_rest,
    write_rows,
)
from perception.result import BallState, TrackStatus
from perception.search import BallSearch
from perception.tracker import BallTracker
from stream.frame import BallTruth, Frame
from tests.fakes import WhiteBoxDetector

BALL = BallTruth(is_visible=True, x=100.0, y=50.0)
NO_BALL = BallTruth(is_visible=False)


def seen(x: float, y: float) -> BallState:
    return BallState(TrackStatus.SEEN, x, y, 0.9)


@pytest.mark.parametrize(
    ("output", "truth", "outcome"),
    [
        pytest.param(seen(103.0, 50.0), BALL, Outcome.HIT, id="within-tolerance"),
        pytest.param(seen(104.0, 50.0), BALL, Outcome.HIT, id="exactly-at-tolerance"),
        pytest.param(seen(103.0, 53.0), BALL, Outcome.FAR, id="4.24-px-away"),
        pytest.param(BallState.lost(), BALL, Outcome.MISS, id="no-output"),
        pytest.param(None, BALL, Outcome.MISS, id="no-frame"),
        pytest.param(seen(10.0, 10.0), NO_BALL, Outcome.FALSE_ALARM, id="ball-not-visible"),
        pytest.param(
            BallState(TrackStatus.PREDICTED, 99.0, 50.0), BALL, Outcome.HIT, id="predicted-counts"
        ),
        pytest.param(BallState.lost(), NO_BALL, Outcome.EMPTY, id="nothing-and-nothing"),
    ],
)
def test_one_frame_counts(output: BallState | None, truth: BallTruth, outcome: Outcome) -> None:
    assert score_frame(0, output, truth, 4.0).outcome is outcome


def test_counts_precision_recall_and_f1_on_a_hand_made_clip() -> None:
    outputs = [
        seen(100.0, 50.0),  # hit
        seen(101.0, 52.0),  # hit (2.24 px)
        seen(120.0, 50.0),  # far: FP and FN
        BallState.lost(),  # miss
        seen(5.0, 5.0),  # false alarm
        BallState.lost(),  # empty
    ]
    truths = [BALL, BALL, BALL, BALL, NO_BALL, NO_BALL]

    report = evaluate_outputs(outputs, truths, tolerance_px=4.0)

    assert (report.tp, report.fp, report.fn) == (2, 2, 2)
    assert report.visible_frames == 4
    assert report.precision == pytest.approx(0.5)
    assert report.recall == pytest.approx(0.5)
    assert report.f1 == pytest.approx(0.5)
    assert report.median_error_px == pytest.approx(math.hypot(1, 2))  # of 0, 2.24, 20


def test_recall_is_split_between_a_ball_in_play_and_a_ball_at_rest() -> None:
    # given a ball flying 10 px a frame, landing at (200, 50), lying there 4 frames
    # (label noise of 1 px), then hidden; the tracker finds it in flight only
    flight = [BallTruth(True, 160.0 + 10 * i, 50.0) for i in range(4)]  # 160..190
    rest = [BallTruth(True, 200.0, 50.0), BallTruth(True, 201.0, 50.0)]
    rest += [BallTruth(True, 200.0, 51.0), BallTruth(True, 200.0, 50.0)]
    truths = [*flight, *rest, NO_BALL]
    outputs = [seen(t.x, t.y) for t in flight] + [BallState.lost()] * 4 + [BallState.lost()]

    split = split_at_rest(evaluate_outputs(outputs, truths, 4.0).rows, rest_px=2.0)

    # then the landing frame (10 px from the frame before) counts as moving, the three
    # after it as at rest (the last one has no visible ball after it: its one neighbour
    # decides)
    assert (split.moving_hits, split.moving_frames) == (4, 5)
    assert (split.rest_hits, split.rest_frames) == (0, 3)
    assert split.moving_recall == pytest.approx(4 / 5)
    assert split.rest_recall == 0.0


def test_a_wider_tolerance_turns_a_far_output_into_a_hit() -> None:
    outputs = [seen(106.0, 50.0)]

    strict = evaluate_outputs(outputs, [BALL], tolerance_px=4.0)
    loose = evaluate_outputs(outputs, [BALL], tolerance_px=8.0)

    assert (strict.tp, strict.fp, strict.fn) == (0, 1, 1)
    assert (loose.tp, loose.fp, loose.fn) == (1, 0, 0)


def test_outputs_past_the_labels_are_not_scored() -> None:
    report = evaluate_outputs([seen(100.0, 50.0), seen(1.0, 1.0)], [BALL])

    assert (report.tp, report.fp, report.frames, report.unlabelled_frames) == (1, 0, 1, 1)
    assert "1 unlabelled" in format_report(report)


def test_the_report_prints_the_tolerance_with_the_scores() -> None:
    report = evaluate_outputs([seen(100.0, 50.0), BallState.lost()], [BALL, BALL], 4.0)

    text = format_report(report)

    assert text.splitlines()[0].startswith("tolerance: 4 px")
    assert "precision 1.000  recall 0.500  F1 0.667" in text


def test_a_non_positive_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="tolerance must be > 0 px"):
        evaluate_outputs([], [], tolerance_px=0.0)


def test_per_frame_rows_are_written_as_csv(tmp_path: Path) -> None:
    report = evaluate_outputs([seen(101.0, 50.0), BallState.lost()], [BALL, NO_BALL])
    path = tmp_path / "rows.csv"

    write_rows(report, path)

    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [row["outcome"] for row in rows] == ["hit", "empty"]
    assert rows[0]["error_px"] == "1.00"
    assert rows[1]["error_px"] == ""


def dot_frames(count: int) -> list[Frame]:
    """A 4x4 white dot moving right at 3 px/frame over grey, hidden on frames 10-11."""
    frames = []
    for index in range(count):
        image = np.full((240, 320, 3), 60, np.uint8)
        x, y = 40 + 3 * index, 120
        visible = index not in (10, 11)
        if visible:
            image[y - 2 : y + 2, x - 2 : x + 2] = 255
        truth = BallTruth(is_visible=True, x=float(x), y=float(y), radius_px=2.0)
        frames.append(Frame(index, image, index / 30, 0, truth=truth))
    return frames


def test_run_eval_tracks_a_dot_through_search_and_track_modes() -> None:
    detector = WhiteBoxDetector(resolution=128)
    search = BallSearch(detector, SearchConfig(crop_sizes=(128,)))
    tracker = BallTracker(TrackerConfig(lag_frames=2))

    report = run_eval(dot_frames(30), search, tracker, tolerance_px=4.0)

    assert report.frames == 30
    assert report.fp == 0
    assert report.recall >= 28 / 30  # the first frame waits for confirmation
    assert report.mode_counts["tiles"] >= 2
    assert report.mode_counts["track"] >= 20
    assert report.mean_pixels < 6 * 128 * 128
    assert {size for call in detector.calls for size in call} == {128}

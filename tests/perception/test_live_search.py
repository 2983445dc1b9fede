"""Live search: a time jump is not a reset, and static clutter is neither acquired nor kept."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from bench.stillness import longest_still_run
from configs.app_config import MotionConfig, SearchConfig, TrackerConfig
from perception.detections import Detections
from perception.motion import MotionBlob, MotionResult
from perception.result import SearchMode, TrackStatus
from perception.search import BallSearch
from perception.search_and_track import SearchAndTrack
from perception.tracker import BallTracker, TrackerPrediction
from stream.frame import Frame
from tests.fakes import StepClock, WhiteBoxDetector

FPS = 30.0


def ball(index: int) -> tuple[float, float]:
    """Centre of a ball crossing the picture at 90 px/s right, 30 px/s down."""
    return (200.0 + 3.0 * index, 300.0 + 1.0 * index)


def frame(index: int) -> Frame:
    image = np.full((720, 1280, 3), 40, np.uint8)
    x, y = (round(v) for v in ball(index))
    image[y - 2 : y + 2, x - 2 : x + 2] = 255
    return Frame(index, image, index / FPS, 0)


def perception(detector: WhiteBoxDetector) -> SearchAndTrack:
    search = BallSearch(detector, SearchConfig(max_track_tiles=4), clock=StepClock())
    return SearchAndTrack(search, BallTracker(TrackerConfig(lag_frames=0)), detector)


def test_a_tracked_ball_survives_a_1s_gap_of_dropped_frames_without_a_full_search() -> None:
    detector = WhiteBoxDetector(resolution=128)
    run = perception(detector)
    before = [r for index in range(30) for r in run.process(frame(index), 0)]
    assert before[-1].ball.status is TrackStatus.SEEN
    assert before[-1].step.mode is SearchMode.TRACK

    # frames 30..59 were dropped (a 1 s stall); the stream goes on at frame 60
    after = [r for index in range(60, 75) for r in run.process(frame(index), 0)]

    assert [r.step.mode for r in after] == [SearchMode.TRACK] * 15  # never a search
    first = after[0]
    assert first.step.windows <= 4  # the grown window, within the per-frame tile budget
    assert first.ball.status is TrackStatus.SEEN
    assert np.hypot(first.ball.x - ball(60)[0], first.ball.y - ball(60)[1]) < 1.0
    assert all(r.ball.status is TrackStatus.SEEN for r in after)
    assert all(r.step.windows == 1 for r in after[1:])  # back to one crop once seen


def test_a_gap_longer_than_max_gap_ends_the_track_but_is_not_a_reset() -> None:
    tracker = BallTracker(TrackerConfig(lag_frames=0, max_gap_s=2.0))
    for index in range(10):
        tracker.update(Detections.from_lists([_box(*ball(index))], [0.9]), index / FPS)
    assert tracker.is_tracking
    tracker.update(Detections.empty(), 3.0 + 10 / FPS)
    assert not tracker.is_tracking
    assert abs(tracker.frame_interval_s - 1 / FPS) < 1e-6  # timing kept: not a reset


def _box(x: float, y: float, half: float = 2.0) -> list[float]:
    return [x - half, y - half, x + half, y + half]


def test_a_static_ball_like_blob_is_clutter_and_the_moving_ball_is_tracked() -> None:
    static = (1100.0, 60.0)  # a logo by the scoreboard, found on every frame
    tracker = BallTracker(TrackerConfig(lag_frames=0))
    rows = []
    for index in range(150):
        boxes = [_box(*static)]
        if index >= 40:  # the ball comes into play after 40 frames
            boxes.append(_box(*ball(index)))
        state = tracker.update(Detections.from_lists(boxes, [0.9] * len(boxes)), index / FPS)
        rows.append((str(state.status), state.x, state.y))

    assert longest_still_run(rows) < 30
    assert tracker.clutter_spots == [static]
    # the moving ball is acquired within a few frames and followed to the end
    for index, (status, x, y) in enumerate(rows[45:], start=45):
        assert status == "seen", index
        assert np.hypot(x - ball(index)[0], y - ball(index)[1]) < 1.0, index


def test_a_slowly_drifting_ball_is_not_clutter() -> None:
    tracker = BallTracker(TrackerConfig(lag_frames=0))
    states = [
        tracker.update(Detections.from_lists([_box(300 + 0.4 * i, 200)], [0.9]), i / FPS)
        for i in range(90)
    ]
    assert tracker.clutter_spots == []
    assert all(s.status is TrackStatus.SEEN for s in states[2:])


def test_longest_still_run_counts_seen_rows_near_the_runs_first_position() -> None:
    rows = [("seen", 10.0, 10.0)] * 3 + [("lost", None, None)] + [("seen", 0.0, 0.0)]
    rows += [("seen", 2.0, 2.0), ("seen", 2.9, 0.0), ("seen", 5.0, 0.0)]
    assert longest_still_run(rows) == 3  # (0,0), (2,2), (2.9,0); (5,0) starts a new run
    assert longest_still_run([("lost", None, None)]) == 0


def fast_ball(index: int) -> tuple[float, float]:
    """A ball crossing at 240 px/s right and 60 px/s down (8 px a frame: no overlap)."""
    return (200.0 + 8.0 * index, 300.0 + 2.0 * index)


def fast_frame(index: int, stop_at: int | None = None) -> Frame:
    """The fast ball's frame; from ``stop_at`` on the ball stays where it was (at rest)."""
    image = np.full((720, 1280, 3), 40, np.uint8)
    x, y = (round(v) for v in fast_ball(index if stop_at is None else min(index, stop_at)))
    image[y - 2 : y + 2, x - 2 : x + 2] = 255
    return Frame(index, image, index / FPS, 0)


def cadence_run(detector: WhiteBoxDetector, detect_every: int) -> SearchAndTrack:
    config = SearchConfig(detect_every=detect_every, motion=MotionConfig(enabled=True))
    search = BallSearch(detector, config, clock=StepClock())
    return SearchAndTrack(search, BallTracker(TrackerConfig(lag_frames=0)), detector)


def test_between_detector_frames_the_motion_gates_blob_is_the_ball() -> None:
    detector = WhiteBoxDetector(resolution=128)
    run = cadence_run(detector, detect_every=2)
    results = [r for index in range(40) for r in run.process(fast_frame(index), 0)]

    tracked = results[20:]
    modes = [r.step.mode for r in tracked]
    # once followed: the detector on every other frame, the gate's blob between
    pair = [SearchMode.TRACK, SearchMode.BLOB]
    alternating = (pair * 10, pair[::-1] * 10)
    assert modes in alternating, modes
    blob_frames = [r for r in tracked if r.step.mode is SearchMode.BLOB]
    assert all(r.step.windows == 0 and r.step.pixels == 0 for r in blob_frames)
    assert all(r.step.infer_start_ns == 0 for r in blob_frames)  # no detector time
    for r in tracked:
        x, y = fast_ball(r.frame.index)
        assert r.ball.status is TrackStatus.SEEN, r.frame.index
        assert np.hypot(r.ball.x - x, r.ball.y - y) < 1.5, (r.frame.index, r.ball)


def test_detect_every_1_never_skips_the_detector() -> None:
    detector = WhiteBoxDetector(resolution=128)
    run = cadence_run(detector, detect_every=1)
    results = [r for index in range(40) for r in run.process(fast_frame(index), 0)]
    assert SearchMode.BLOB not in {r.step.mode for r in results}
    assert results[-1].ball.status is TrackStatus.SEEN


def test_a_ball_that_stops_is_looked_for_by_the_detector_not_lost() -> None:
    detector = WhiteBoxDetector(resolution=128)
    run = cadence_run(detector, detect_every=3)
    results = [r for index in range(40) for r in run.process(fast_frame(index, stop_at=30), 0)]

    assert SearchMode.BLOB in {r.step.mode for r in results[20:30]}
    # at rest from frame 30: no blob near the prediction after the gate's two frames, so
    # every frame goes to the detector's track crop, and the ball stays found where it rests
    at_rest = results[33:]
    assert [r.step.mode for r in at_rest] == [SearchMode.TRACK] * len(at_rest)
    x, y = fast_ball(30)
    for r in at_rest:
        assert r.ball.status is TrackStatus.SEEN, r.frame.index
        assert np.hypot(r.ball.x - x, r.ball.y - y) < 1.5, (r.frame.index, r.ball)


def test_a_blob_beside_a_ball_at_rest_is_not_taken_for_it() -> None:
    # a ball at rest makes no blob of its own: a blob beside it (a foot, at a kick-off) is
    # something else, so the detector looks instead; a moving ball's blob stands in for it
    search = BallSearch(
        WhiteBoxDetector(resolution=128),
        SearchConfig(detect_every=2, motion=MotionConfig(enabled=True)),
    )
    foot = MotionResult((MotionBlob(645.0, 435.0, 60.0, 90.0),), 0.01, True, 8.0)

    at_rest = TrackerPrediction(640.0, 432.0, 2.0, speed_px_s=15.0, misses=0)  # 0.5 px a frame
    moving = TrackerPrediction(640.0, 432.0, 2.0, speed_px_s=450.0, misses=0)  # 15 px a frame

    assert search.blob_step(foot, at_rest, 1 / FPS) is None
    step = search.blob_step(foot, moving, 1 / FPS)
    assert step is not None
    assert step.mode is SearchMode.BLOB


def test_only_a_blob_on_the_predicted_ball_stands_in_for_it() -> None:
    # a slow far ball's own blob may be missing; another blob 26 px off (still inside the
    # track crop) is not the ball, so the detector looks instead of the track moving to it
    search = BallSearch(
        WhiteBoxDetector(resolution=128),
        SearchConfig(detect_every=2, motion=MotionConfig(enabled=True)),
    )
    predicted = TrackerPrediction(677.0, 141.0, 2.0, speed_px_s=135.0, misses=0)
    elsewhere = MotionResult((MotionBlob(656.0, 152.0, 60.0, 90.0),), 0.01, True, 8.0)
    on_it = MotionResult((MotionBlob(679.0, 142.0, 40.0, 60.0),), 0.01, True, 8.0)

    assert search.track_reach(predicted) > 26.0  # inside the crop the detector would get
    assert search.blob_step(elsewhere, predicted, 1 / FPS) is None
    step = search.blob_step(on_it, predicted, 1 / FPS)
    assert step is not None
    assert step.detections.centers.tolist() == [[679.0, 142.0]]


def test_the_balls_past_is_not_taken_for_it_between_detector_frames() -> None:
    # where a blurred ball's two earlier pictures overlap, the gate finds a blob between
    # them, behind where the ball was last seen: that is not the ball
    config = SearchConfig(detect_every=2, motion=MotionConfig(enabled=True))
    search = BallSearch(WhiteBoxDetector(resolution=128), config)
    due = TrackerPrediction(700.0, 300.0, 5.0, speed_px_s=360.0, misses=0, last=(688.0, 300.0))
    ghost = MotionBlob(685.0, 301.0, 30.0, 80.0)
    ball_blob = MotionBlob(701.0, 300.0, 30.0, 80.0)

    # 3 sigmas + 4 px = 19 px: the ghost, 15 px from where the ball is due, is within reach
    only_ghost = MotionResult((ghost,), 0.01, True, 8.0)
    assert search.blob_step(only_ghost, due, 1 / FPS) is None  # the detector looks instead
    both = MotionResult((ghost, ball_blob), 0.01, True, 8.0)
    step = search.blob_step(both, due, 1 / FPS)
    assert step is not None
    assert step.detections.centers.tolist() == [[701.0, 300.0]]
    # a shuttle slowing down hard falls short of the prediction, but is ahead of its past
    slowed = MotionResult((MotionBlob(692.0, 300.0, 30.0, 80.0),), 0.01, True, 8.0)
    fresh = BallSearch(WhiteBoxDetector(resolution=128), config)  # the detector is due there
    step = fresh.blob_step(slowed, due, 1 / FPS)
    assert step is not None
    assert step.detections.centers.tolist() == [[692.0, 300.0]]


def rest_frame(index: int) -> Frame:
    image = np.full((720, 1280, 3), 40, np.uint8)
    image[58:62, 58:62] = 255  # a ball at rest near the top-left corner
    return Frame(index, image, index / FPS, 0)


def test_a_ball_at_rest_found_once_by_the_search_is_looked_at_again_and_tracked() -> None:
    # the rotating search sees the top-left tile on the first frame only (two tiles a
    # frame, then the gate's crops around moving blobs: there are none); the next frame
    # looks at the lone detection again, which confirms it, and the track keeps it
    detector = WhiteBoxDetector(resolution=128)
    config = SearchConfig(live_tiles_per_frame=2, motion=MotionConfig(enabled=True))
    search = BallSearch(detector, config, clock=StepClock())
    run = SearchAndTrack(search, BallTracker(TrackerConfig(lag_frames=0)), detector)

    results = [r for index in range(10) for r in run.process(rest_frame(index), 0)]

    assert results[0].step.mode is SearchMode.SEARCH
    assert results[0].ball.status is TrackStatus.LOST  # one detection is only a seed
    assert results[1].step.mode is SearchMode.SEARCH
    assert results[1].step.windows == 3  # the second look and the two rotating tiles
    for r in results[1:]:
        assert r.ball.status is TrackStatus.SEEN, r.frame.index
        assert np.hypot(r.ball.x - 60.0, r.ball.y - 60.0) < 1.0, (r.frame.index, r.ball)
    assert {r.step.mode for r in results[2:]} == {SearchMode.TRACK}


class TwoLookDetector(WhiteBoxDetector):
    """Boxes white blobs as a sure ball (0.85) and grey ones (200) as a head it half takes."""

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        self.calls.append([image.shape[0] for image in images])
        results = []
        for image in images:
            boxes, scores = [], []
            for value, score in ((255, 0.85), (200, 0.55)):
                ys, xs = np.nonzero((image == value).all(axis=2))
                if len(xs):
                    boxes.append([xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0])
                    scores.append(score)
            results.append(Detections.from_lists(boxes, scores))
        return results


def head_and_ball_frame(index: int, ball_from: int) -> Frame:
    """A head drifting 1 px a frame at the top; from ``ball_from`` a ball flies low."""
    image = np.full((720, 1280, 3), 40, np.uint8)
    image[203:209, 1097 - index : 1103 - index] = 200
    if index >= ball_from:
        x, y = 300 + 6 * index, 600 - 3 * index
        image[y - 2 : y + 2, x - 2 : x + 2] = 255
    return Frame(index, image, index / FPS, 0)


def test_a_slow_track_on_a_head_gives_way_to_the_ball_found_elsewhere() -> None:
    def run(slow_track_windows: int) -> list[tuple[float, float]]:
        detector = TwoLookDetector(resolution=128)
        config = SearchConfig(slow_track_windows=slow_track_windows)
        search = BallSearch(detector, config, clock=StepClock())
        perception = SearchAndTrack(search, BallTracker(TrackerConfig(lag_frames=0)), detector)
        results = [r for i in range(100) for r in perception.process(head_and_ball_frame(i, 20), 0)]
        assert results[19].ball.status is TrackStatus.SEEN  # the head: all there was
        return [(r.ball.x, r.ball.y) for r in results]

    tiles = len(BallSearch(WhiteBoxDetector(128), SearchConfig()).tiles(1280, 720))
    found_by = 20 + 2 * -(-tiles // 4) + 1  # two sweeps of 4 tiles a frame, then confirmed
    positions = run(slow_track_windows=4)
    assert all(
        np.hypot(x - (300 + 6 * i), y - (600 - 3 * i)) < 1.5
        for i, (x, y) in enumerate(positions[found_by:], start=found_by)
    )
    assert all(abs(x - (1100 - i)) < 1.5 for i, (x, _) in enumerate(run(0)[20:], start=20))

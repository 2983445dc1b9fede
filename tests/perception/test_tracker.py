"""The single-ball tracker: coasting, gating, hits, acquisition, timestamps, lag, repeats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.tracker import NoiseModel, run_bench, simulate
from bench.tracker import main as bench_main
from configs.app_config import TrackerConfig
from perception.detections import Detections
from perception.labels import read_labels
from perception.options import FrameInput
from perception.result import BallState, TrackStatus
from perception.tracker import BallTracker, FrameCadence, LaggedTracker, seeding_for
from stream.frame import BallTruth

FPS = 30.0
SIZE = (1280, 720)


def at(*centers: tuple[float, float]) -> Detections:
    """Detections with 8 px boxes centred on the given points."""
    return Detections.from_lists(
        [[x - 4, y - 4, x + 4, y + 4] for x, y in centers], [0.9] * len(centers)
    )


NOTHING = Detections.empty()


def online(**overrides: object) -> BallTracker:
    return BallTracker(TrackerConfig(lag_frames=0).model_copy(update=overrides))


def feed(tracker: BallTracker, frames: list[Detections], start: int = 0) -> list[BallState]:
    return [
        tracker.update(detections, (start + index) / FPS, SIZE)
        for index, detections in enumerate(frames)
    ]


def test_a_lone_detection_does_not_start_a_track_but_a_second_one_nearby_does() -> None:
    tracker = online()

    states = feed(tracker, [at((500, 300)), NOTHING, NOTHING, NOTHING, NOTHING, at((900, 100))])
    assert all(state.status is TrackStatus.LOST for state in states)

    confirmed = feed(tracker, [at((905, 102))], start=6)[0]
    assert confirmed.status is TrackStatus.SEEN
    assert (confirmed.x, confirmed.y) == pytest.approx((905, 102))


def test_coasts_through_short_misses_then_drops_the_track() -> None:
    tracker = online()
    path = [(400 + 1.0 * i, 300 + 0.5 * i) for i in range(30)]  # a slow ball: sure to coast

    states = feed(tracker, [*[at(p) for p in path[:10]], NOTHING, NOTHING, NOTHING])

    first_miss = states[10]
    assert first_miss.status is TrackStatus.PREDICTED
    assert np.hypot(first_miss.x - path[10][0], first_miss.y - path[10][1]) < 1.0
    assert all(state.status is not TrackStatus.SEEN for state in states[10:])
    prediction = tracker.predict(13 / FPS)
    assert prediction is not None
    assert prediction.misses == 3  # still tracking: the search keeps its crop
    back = feed(tracker, [at(path[13])], start=13)[0]
    assert back.status is TrackStatus.SEEN
    feed(tracker, [NOTHING] * 6, start=14)
    assert not tracker.is_tracking  # more misses than max_coast_frames


def test_a_far_false_positive_is_gated_out_while_the_ball_is_seen() -> None:
    tracker = online()
    feed(tracker, [at((400 + 5 * i, 300)) for i in range(8)])

    state = feed(tracker, [at((1100, 650), (440, 300))], start=8)[0]

    assert state.status is TrackStatus.SEEN
    assert state.x == pytest.approx(440, abs=1.0)


def test_a_false_positive_beyond_the_balls_reach_is_ignored_while_coasting() -> None:
    tracker = online()
    feed(tracker, [at((400 + 5 * i, 300)) for i in range(8)])

    state = feed(tracker, [at((1100, 650))], start=8)[0]
    back = feed(tracker, [at((450, 300))], start=9)[0]

    assert state.status is not TrackStatus.SEEN
    assert back.status is TrackStatus.SEEN
    assert back.x == pytest.approx(450, abs=1.0)


def test_the_ball_is_reacquired_on_the_frame_after_a_hit_reverses_it() -> None:
    tracker = online()
    down = [(600 + 2 * i, 200 + 15 * i) for i in range(8)]  # falling at 15 px/frame
    hit = down[-1]
    up = [(hit[0] + 3 * i, hit[1] - 45 * i) for i in range(1, 6)]  # smashed back up

    states = feed(tracker, [at(p) for p in down + up])
    after_hit = states[len(down) :]

    assert all(state.status is TrackStatus.SEEN for state in after_hit)
    for state, truth in zip(after_hit, up, strict=True):
        assert np.hypot(state.x - truth[0], state.y - truth[1]) < 1.0


def test_a_false_hit_is_retracted_when_the_ball_shows_up_on_its_old_path() -> None:
    tracker = LaggedTracker[int](BallTracker(TrackerConfig(lag_frames=3)))
    path = [(400 + 4 * i, 300 + 2 * i) for i in range(16)]
    frames = [at(p) for p in path]
    frames[10] = at((560, 260))  # the ball is missed, a false positive 110 px away

    settled = dict(
        state
        for index, detections in enumerate(frames)
        for state in tracker.push(index, detections, index / FPS, SIZE)
    )
    settled.update(tracker.flush())

    false_hit = settled[10]
    assert not (false_hit.has_position and abs(false_hit.x - 560) < 20)
    for index in range(11, 16):
        assert settled[index].status is TrackStatus.SEEN
        assert settled[index].x == pytest.approx(path[index][0], abs=1.0)


def test_dropped_frames_are_bridged_by_timestamps() -> None:
    tracker = online()
    for index in range(6):  # 6 px/frame to the right
        tracker.update(at((300 + 6 * index, 400)), index / FPS, SIZE)

    # frames 6-8 were dropped upstream: the next frame is frame 9
    prediction = tracker.predict(9 / FPS)
    state = tracker.update(at((300 + 6 * 9, 400)), 9 / FPS, SIZE)

    assert prediction is not None
    assert prediction.x == pytest.approx(354, abs=1.0)
    assert prediction.speed_px_s == pytest.approx(6 * FPS, rel=0.05)
    assert prediction.misses == 0
    assert state.status is TrackStatus.SEEN
    assert state.x == pytest.approx(354, abs=1.0)


def test_a_jump_back_in_time_resets_the_tracker() -> None:
    tracker = online()
    feed(tracker, [at((300 + 4 * i, 400)) for i in range(5)], start=100)

    state = tracker.update(at((500, 500)), 0.0, SIZE)

    assert state.status is TrackStatus.LOST
    assert not tracker.is_tracking


def test_a_prediction_leaving_the_frame_ends_the_track_without_a_position() -> None:
    tracker = online()
    feed(tracker, [at((600, 100 - 30 * i)) for i in range(4)])  # flying out of the top

    state = feed(tracker, [NOTHING], start=4)[0]

    assert state.status is TrackStatus.LOST
    assert not tracker.is_tracking


def run_lagged(frames: list[Detections], lag: int, **overrides: object) -> dict[int, BallState]:
    config = TrackerConfig(lag_frames=lag).model_copy(update=overrides)
    tracker = LaggedTracker[int](BallTracker(config))
    settled: dict[int, BallState] = {}
    for index, detections in enumerate(frames):
        pushed = tracker.push(index, detections, index / FPS, SIZE)
        assert all(key <= index - lag for key, _ in pushed)  # ``lag`` frames late
        settled.update(pushed)
    settled.update(tracker.flush())
    assert sorted(settled) == list(range(len(frames)))
    return settled


def test_the_lag_fills_a_gap_and_shows_the_confirmed_first_detection() -> None:
    path = [(300 + 1.5 * i, 500 - 0.5 * i) for i in range(10)]
    frames = [at(p) for p in path]
    frames[5] = NOTHING

    settled = run_lagged(frames, lag=2)

    assert settled[0].status is TrackStatus.SEEN  # confirmed by frame 1
    assert settled[5].status is TrackStatus.PREDICTED
    assert (settled[5].x, settled[5].y) == pytest.approx(path[5], abs=1.0)


def test_a_fast_ball_is_bridged_only_once_the_frame_timing_is_known() -> None:
    path = [(100 + 8.0 * i, 600 - 2.0 * i) for i in range(60)]  # 8 px/frame
    frames = [at(p) for p in path]
    frames[3] = NOTHING  # before the tracker knows there are no repeated frames
    frames[50] = NOTHING  # after 40+ frames of steady motion

    settled = run_lagged(frames, lag=2)

    assert settled[3].status is TrackStatus.LOST
    assert settled[50].status is TrackStatus.PREDICTED
    assert (settled[50].x, settled[50].y) == pytest.approx(path[50], abs=1.0)


def test_lag_zero_reports_every_frame_at_once() -> None:
    tracker = LaggedTracker[str](BallTracker(TrackerConfig(lag_frames=0)))

    assert tracker.push("a", at((10, 10)), 0.0, SIZE) == [("a", BallState.lost())]


def pulldown_path(frames: int, phase: int) -> list[tuple[float, float]]:
    """A ball at 20 px per picture, 25 pictures/s sent at 30 fps: every 6th frame repeats."""
    points: list[tuple[float, float]] = []
    picture = 0
    for index in range(frames):
        if index % 6 != phase or index == 0:
            picture += 1
        points.append((100.0 + 20.0 * (picture % 40), 300.0 + 5.0 * (picture % 40)))
    return points


def test_repeated_frames_are_found_from_the_motion() -> None:
    tracker = online()

    feed(tracker, [at(point) for point in pulldown_path(120, phase=1)])

    assert tracker.repeat_pattern == (6, 1)


def test_no_repeat_pattern_is_found_in_plain_30_fps_motion() -> None:
    rng = np.random.default_rng(3)
    tracker = online()
    path = [(100.0 + 18.0 * (i % 50), 200.0 + 4.0 * (i % 50)) for i in range(150)]
    noisy = [(x + rng.normal(0, 1.5), y + rng.normal(0, 1.5)) for x, y in path]

    feed(tracker, [at(point) for point in noisy])

    assert tracker.repeat_pattern is None


def test_the_cadence_needs_stops_on_one_phase_only() -> None:
    cadence = FrameCadence()
    for frame in range(60):
        cadence.vote(frame, moved=frame % 6 != 2)
    assert cadence.pattern == (6, 2)
    assert cadence.content_frame(8) == cadence.content_frame(7)  # frame 8 repeats 7

    scattered = FrameCadence()
    for frame in range(60):
        scattered.vote(frame, moved=frame % 7 != 0)
    assert scattered.pattern is None


def test_the_bench_simulates_the_detector_it_promises() -> None:
    truths = [BallTruth(is_visible=True, x=640.0, y=360.0)] * 2000 + [BallTruth(False)] * 2000

    simulation = simulate(truths, 1280, 720, NoiseModel(), seed=5)

    found = np.array(simulation.ball_found[:2000])
    assert found.mean() == pytest.approx(0.7, abs=0.03)
    false_positives = sum(len(d) for d in simulation.detections[2000:])
    assert false_positives / 2000 == pytest.approx(0.1, abs=0.02)
    jitter = np.concatenate(
        [
            d.centers - [640.0, 360.0]
            for d, f in zip(simulation.detections[:2000], found, strict=True)
            if f
        ]
    )
    near = jitter[np.hypot(jitter[:, 0], jitter[:, 1]) < 20]
    assert near.std(axis=0) == pytest.approx([1.5, 1.5], abs=0.1)


def test_the_bench_table_works_on_a_tracknet_pixel_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"{i},1,{200 + 3 * i},{300 + i}" for i in range(60)]
    labels = tmp_path / "tracknet.csv"
    labels.write_text("Frame,Visibility,X,Y\n" + "\n".join(rows) + "\n", encoding="utf-8")

    code = bench_main(["--labels", str(labels), "--width", "640", "--height", "480", "--seed", "1"])

    out = capsys.readouterr().out
    assert code == 0
    assert "raw detections" in out
    assert "tracked" in out
    assert "tolerance 4 px" in out


@pytest.mark.slow
def test_tracker_meets_the_targets_on_real_badminton_motion(real_data: Path) -> None:
    truths = read_labels(real_data / "badminton_bwf" / "train_00001.csv", 1280, 720)

    rows = [run_bench(truths, 1280, 720, seed)[1] for seed in range(5)]

    assert np.mean([row.recall for row in rows]) >= 0.80
    assert np.mean([row.precision for row in rows]) >= 0.95
    assert np.mean([row.median_error_px for row in rows]) <= 3.0
    assert np.mean([row.bridged_median_px for row in rows]) <= 6.0
    assert min(row.bridged for row in rows) >= 20  # gaps are bridged, not skipped


def _streak_frames(
    speed: float, *, across: bool = False
) -> tuple[list[Detections], list[tuple[float, float]]]:
    """A ball crossing at ``speed`` px a frame, boxed at both ends of its 14 px blur streak.

    The end the detector is surer of alternates, as on the synthetic match. ``across``: the
    second box is beside the ball (across the path), not along it.
    """
    frames, truths = [], []
    for index in range(20):
        x, y = 100.0 + speed * index, 400.0
        ends = [(x, y + 7), (x, y - 7)] if across else [(x + 7, y), (x - 7, y)]
        scores = [0.8, 0.6] if index % 2 else [0.6, 0.8]
        boxes = [[cx - 4, cy - 4, cx + 4, cy + 4] for cx, cy in ends]
        frames.append(Detections.from_lists(boxes, scores))
        truths.append((x, y))
    return frames, truths


def test_a_fast_blurred_ball_boxed_at_both_ends_is_at_the_middle() -> None:
    frames, truths = _streak_frames(50.0)
    states = feed(online(), frames)
    errors = [np.hypot(s.x - x, s.y - y) for s, (x, y) in zip(states, truths, strict=True)]
    assert all(s.status is TrackStatus.SEEN for s in states[1:])
    assert max(errors[1:]) < 1.5  # from the frame that starts the track (the seed's pair)
    off = feed(online(streak_speed_px=0.0), frames)
    off_errors = [np.hypot(s.x - x, s.y - y) for s, (x, y) in zip(off, truths, strict=True)]
    assert np.median(off_errors[4:]) > 3.0  # one end or the other without the rule


def test_with_frames_dropped_a_ghost_a_frame_and_a_half_behind_is_not_the_streak_end() -> None:
    # a live run processing every other source frame (one consecutive pair now and then):
    # the ball at 14 px a source frame, the motion gate's ghost blob 21 px behind it
    tracker = online()
    frames = [0, 1, *range(3, 41, 2)]
    states = []
    for frame in frames:
        x, y = 100.0 + 14.0 * frame, 400.0
        boxes = [[x - 4, y - 4, x + 4, y + 4], [x - 23, y - 2, x - 19, y + 2]]
        states.append(
            (tracker.update(Detections.from_lists(boxes, [0.6, 0.5]), frame / FPS, SIZE), x)
        )
    seen = [(s, x) for s, x in states[4:] if s.status is TrackStatus.SEEN]
    assert len(seen) >= 10
    assert all(abs(s.x - x) < 1.5 for s, x in seen)  # on the ball, not between it and the ghost
    assert tracker.frames_per_interval == pytest.approx(2.0)


def test_two_boxes_across_the_path_or_on_a_slow_ball_are_not_a_streak() -> None:
    for frames, truths in (_streak_frames(50.0, across=True), _streak_frames(5.0)):
        states = feed(online(), frames)
        seen = [s for s in states[4:] if s.status is TrackStatus.SEEN]
        assert seen
        # each report is on one of the two boxes, 7 px from the middle, not between them
        assert all(
            abs(np.hypot(s.x - x, s.y - y) - 7.0) < 2.5
            for s, (x, y) in zip(states[4:], truths[4:], strict=True)
            if s.status is TrackStatus.SEEN
        )


def test_after_a_hit_the_streak_end_outside_the_lagging_gate_still_pairs() -> None:
    """The ball speeds up from 20 to 50 px a frame; its streak is boxed at both ends."""
    frames, truths, x = [], [], 100.0
    for index in range(14):
        speed = 20.0 if index < 8 else 50.0
        x += speed
        ends = [(x, 400.0)] if index < 8 else [(x + 10, 400.0), (x - 10, 400.0)]
        scores = [0.8] if index < 8 else [0.6, 0.8]  # the trailing end the surer one
        boxes = [[cx - 4, cy - 4, cx + 4, cy + 4] for cx, cy in ends]
        frames.append(Detections.from_lists(boxes, scores))
        truths.append((x, 400.0))
    states = feed(online(), frames)
    assert all(s.status is TrackStatus.SEEN for s in states[2:])
    errors = [abs(s.x - tx) for s, (tx, _) in zip(states, truths, strict=True)]
    # the hit's own frame is taken at one end (the fit still says 20 px a frame); on the
    # next, the fit lags the ball and the far end lies outside the gate: still the middle
    assert max(errors[9:]) < 1.5


def _lone_end_frames(speed: float) -> tuple[list[Detections], list[float]]:
    """A ball crossing at ``speed`` px a frame, one box a frame at one end of its streak.

    The end alternates irregularly, 8 px ahead of or behind the ball along the path, as the
    synthetic model boxed seed 737373's ~50 px-a-frame ball on the frames it found one end.
    """
    ends = [8, -8, -8, 8, -8, 8, 8, -8, 8, -8, -8, 8, -8, 8, 8, -8, 8, -8, -8, 8]
    frames, truths = [], []
    for index, end in enumerate(ends):
        x = 100.0 + speed * index
        frames.append(at((x + end, 400.0)))
        truths.append(x)
    return frames, truths


def test_a_fast_ball_boxed_at_one_end_of_its_streak_is_reported_on_the_path() -> None:
    frames, truths = _lone_end_frames(50.0)

    def errors(**overrides: object) -> list[float]:
        settled = run_lagged(frames, lag=2, **overrides)
        assert all(settled[i].status is TrackStatus.SEEN for i in range(2, len(frames)))
        return [abs(settled[i].x - truths[i]) for i in range(2, len(frames) - 2)]

    assert max(errors()) < 4.0  # within the scoring tolerance on every middle frame
    assert min(errors(streak_end_sigma=0.0)) > 6.0  # without it: each box as it was


def test_a_slow_ball_boxed_off_its_path_is_not_pulled_onto_a_line() -> None:
    # 5 px a frame is no streak: boxes 8 px either side are not ends of one, so each
    # report stays on its box (a line through them would hide a real change of course)
    frames, truths = _lone_end_frames(5.0)
    settled = run_lagged(frames, lag=2)
    assert all(abs(abs(settled[i].x - truths[i]) - 8.0) < 0.5 for i in range(2, len(frames) - 2))


def _scored(*points: tuple[float, float, float]) -> Detections:
    """Detections with 8 px boxes at ``(x, y, score)``."""
    return Detections.from_lists(
        [[x - 4, y - 4, x + 4, y + 4] for x, y, _ in points], [s for _, _, s in points]
    )


def _head(index: int) -> tuple[float, float]:
    """A distant player's head: drifts 1 px a frame, slower than still_ball_px."""
    return (1100.0 - index, 205.0)


def _flight(index: int) -> tuple[float, float]:
    return (300.0 + 6 * index, 500.0 - 4 * index)


def test_a_moving_ball_that_outscores_a_slow_track_takes_it_over() -> None:
    def run(**overrides: object) -> list[BallState]:
        tracker = online(**overrides)
        heads = [_scored((*_head(i), 0.55)) for i in range(20)]
        both = [_scored((*_head(i), 0.55), (*_flight(i), 0.85)) for i in range(20, 30)]
        return feed(tracker, heads + both)

    states = run()
    assert states[19].x == pytest.approx(_head(19)[0], abs=1.0)  # the head was all there was
    for index in range(22, 30):  # the ball's second frame confirms it
        assert states[index].status is TrackStatus.SEEN
        assert (
            np.hypot(states[index].x - _flight(index)[0], states[index].y - _flight(index)[1]) < 1
        )
    held = run(slow_challenge=False)
    assert all(abs(state.x - _head(i)[0]) < 1 for i, state in enumerate(held) if i >= 20)


def test_a_surer_slow_ball_and_a_fast_one_are_not_taken_over() -> None:
    # a ball rolling to a stop the detector is sure of, and a less sure thing flying by
    tracker = online()
    rolling = [(640 + 1.0 * i, 432) for i in range(20)]
    feed(tracker, [_scored((*rolling[i], 0.9)) for i in range(10)])
    states = feed(
        tracker, [_scored((*rolling[i], 0.9), (*_flight(i), 0.6)) for i in range(10, 20)], start=10
    )
    assert all(abs(s.x - rolling[i][0]) < 1 for i, s in enumerate(states, 10))

    # a ball in flight (a track that moves is not challenged, whatever scores more)
    tracker = online()
    fast = [(200 + 12 * i, 300 + 3 * i) for i in range(20)]
    feed(tracker, [_scored((*fast[i], 0.6)) for i in range(10)])
    states = feed(
        tracker, [_scored((*fast[i], 0.6), (*_head(i), 0.95)) for i in range(10, 20)], start=10
    )
    assert all(np.hypot(s.x - fast[i][0], s.y - fast[i][1]) < 1 for i, s in enumerate(states, 10))


def test_a_motion_model_s_slow_track_never_gives_way_unless_told() -> None:
    # a motion model scores a slow ball low: below a racket is no sign of a head
    assert seeding_for(TrackerConfig(), FrameInput.RGB).slow_challenge is True
    assert seeding_for(TrackerConfig(), FrameInput.GREY_STACK).slow_challenge is False
    told = TrackerConfig(slow_challenge=True)
    assert seeding_for(told, FrameInput.GREY_STACK).slow_challenge is True
    assert seeding_for(told, FrameInput.GREY_STACK).rest_confidence == 1.0

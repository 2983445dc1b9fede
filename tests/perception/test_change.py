"""Static clutter told apart by its pixels: the per-candidate change check and the tracker."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from configs.app_config import SearchConfig, TrackerConfig
from perception.change import CandidateChange
from perception.detections import Detections
from perception.detector import Precision
from perception.options import FrameInput
from perception.result import BallState, TrackStatus
from perception.search import BallSearch
from perception.search_and_track import SearchAndTrack
from perception.tracker import BallTracker
from stream.frame import Frame
from tests.fakes import StepClock

FPS = 30.0
LOGO = (1100, 60)  # a ball-like blob by the scoreboard that never moves


def ball(index: int) -> tuple[int, int]:
    """A ball crossing the picture at 6 px a frame right, 2 down."""
    return (200 + 6 * index, 300 + 2 * index)


def picture(index: int, *, shift: int = 0) -> NDArray[np.uint8]:
    """Grey court with sensor noise, the logo and the ball (``shift``: the camera panned)."""
    texture = np.random.default_rng(0).integers(40, 110, (720, 1280, 1))  # the crowd, a court
    noise = np.random.default_rng(index + 1).integers(-3, 4, (720, 1280, 1))  # the sensor
    image = np.broadcast_to(texture + noise, (720, 1280, 3)).copy()
    for x, y in (LOGO, ball(index)):
        image[y - 3 : y + 3, x - 3 : x + 3] = 250
    return np.roll(image, shift, axis=1).clip(0, 255).astype(np.uint8)


def boxes(*centres: tuple[int, int]) -> Detections:
    return Detections.from_lists([[x - 3, y - 3, x + 3, y + 3] for x, y in centres], [0.9] * 2)


def test_a_static_blob_did_not_change_and_the_moving_ball_did() -> None:
    check = CandidateChange(floor=15, noise_sigmas=4)
    assert check.moving(picture(0), boxes(LOGO, ball(0))) is None  # no history yet
    for index in range(1, 6):  # the second frame on its one difference, then on two
        moving = check.moving(picture(index), boxes(LOGO, ball(index)))
        assert moving is not None
        assert moving.tolist() == [False, True], index


def test_a_repeated_picture_is_judged_against_the_picture_before_it() -> None:
    check = CandidateChange(floor=15, noise_sigmas=4)
    for index in range(3):
        check.moving(picture(index), boxes(LOGO, ball(index)))
    # 25 fps sent at 30: the same picture again (the ball did not move between the copies)
    repeated = check.moving(picture(2), boxes(LOGO, ball(2)))
    assert repeated is not None
    assert repeated.tolist() == [False, True]
    following = check.moving(picture(3), boxes(LOGO, ball(3)))
    assert following is not None
    assert following.tolist() == [False, True]


def test_no_verdict_on_a_pan_or_with_the_check_off() -> None:
    check = CandidateChange(floor=15, noise_sigmas=4)
    for index in range(3):
        check.moving(picture(index), boxes(LOGO, ball(index)))
    panned = picture(3, shift=13)  # everything moved: the court, the crowd, the logo
    assert check.moving(panned, boxes((LOGO[0] + 13, LOGO[1]), ball(3))) is None
    off = CandidateChange(floor=0, noise_sigmas=4)
    assert all(off.moving(picture(i), boxes(LOGO, ball(i))) is None for i in range(4))


class _LogoFirstDetector:
    """Finds the logo (scored higher) and the ball wherever they are in each image."""

    resolution = 384
    precision = Precision.FP32
    device = "cpu"

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        results = []
        for image in images:
            mask = (image[:, :, 0] >= 245).astype(np.uint8)
            found, scores = [], []
            rows, cols = np.nonzero(mask)
            for x0 in sorted({int(c) // 16 for c in cols}):  # blobs are far apart
                near = (cols // 16 >= x0 - 1) & (cols // 16 <= x0 + 1)
                if near.any():
                    xs, ys = cols[near], rows[near]
                    found.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                    scores.append(0.9 if ys.mean() < 100 else 0.6)  # the logo wins
                    cols, rows = cols[~near], rows[~near]
            results.append(Detections.from_lists(found, scores))
        return results

    def warm_up(self) -> None:
        return None


def test_the_moving_ball_is_tracked_from_the_start_not_the_higher_scored_logo() -> None:
    """The logo (0.9) is over rest_confidence too: a moving pair still wins acquisition."""
    detector = _LogoFirstDetector()
    search = BallSearch(detector, SearchConfig(), clock=StepClock())
    run = SearchAndTrack(search, BallTracker(TrackerConfig(lag_frames=0)), detector)
    frames = [Frame(index, picture(index), index / FPS, 0) for index in range(40)]
    results = [result for frame in frames for result in run.process(frame, 0)]

    def on_ball(index: int) -> bool:
        state = results[index].ball
        x, y = ball(index)
        return state.status is TrackStatus.SEEN and np.hypot(state.x - x, state.y - y) < 1.5

    # the first frame has no verdict (no history), but a track needs a second frame: the
    # logo is never taken, and the ball is shown from its confirmation on
    assert [r.frame.index for r in results] == list(range(40))
    assert all(on_ball(index) for index in range(2, 40))
    assert not [r for r in results if r.ball.has_position and r.ball.y < 100]


def test_weak_moving_candidates_neither_start_a_track_nor_take_it_over_as_a_hit() -> None:
    """A player's shoe (moving, scored 0.35) near where the ball left the picture."""
    tracker = BallTracker(TrackerConfig(lag_frames=0, acquire_confidence=0.5))

    def shoe(index: int) -> list[float]:
        x, y = 400.0 + 2 * index, 600.0
        return [x - 3, y - 3, x + 3, y + 3]

    states = []
    for index in range(60):
        found, scores = [shoe(index)], [0.35]
        if index < 20:  # the ball flies until frame 20, then is hidden
            x, y = ball(index)
            found.append([x - 3, y - 3, x + 3, y + 3])
            scores.append(0.9)
        detections = Detections.from_lists(found, scores)
        states.append(tracker.update(detections, index / FPS, (1280, 720)))

    assert all(s.status is TrackStatus.SEEN for s in states[2:20])
    assert all(
        np.hypot(s.x - ball(i)[0], s.y - ball(i)[1]) < 1.5 for i, s in enumerate(states[2:20], 2)
    )
    assert all(s.status is not TrackStatus.SEEN for s in states[20:])  # never the shoe


def _seen_runs(states: Sequence[BallState]) -> list[int]:
    """Lengths of the runs of consecutive ``seen`` frames."""
    runs, length = [], 0
    for state in states:
        length = length + 1 if state.status is TrackStatus.SEEN else 0
        if length == 1:
            runs.append(0)
        if length:
            runs[-1] = length
    return runs


def test_a_ball_at_rest_the_detector_is_sure_of_is_reported_only_with_rest_confidence() -> None:
    """A ball waiting for the kick-off: its pixels never change, the detector scores it 0.85."""
    at_rest = Detections.from_lists([[637.0, 429.0, 643.0, 435.0]], [0.85])
    still = np.zeros(1, dtype=bool)

    def run(config: TrackerConfig) -> list[BallState]:
        tracker = BallTracker(config)
        return [tracker.update(at_rest, i / FPS, (1280, 720), still) for i in range(12)]

    off = run(TrackerConfig(lag_frames=0, rest_confidence=1.0))
    assert all(state.status is TrackStatus.LOST for state in off)
    sure = run(TrackerConfig(lag_frames=0))  # the default rest_confidence, 0.7
    assert all(state.status is TrackStatus.SEEN for state in sure[1:])  # from its confirmation
    assert all(np.hypot(s.x - 640, s.y - 432) < 0.5 for s in sure[1:])
    doubtful = run(TrackerConfig(lag_frames=0, rest_confidence=0.9))
    assert all(state.status is TrackStatus.LOST for state in doubtful)


def test_a_logo_the_detector_is_sure_of_shows_no_longer_than_the_clutter_frames() -> None:
    """rest_confidence lets a confident static thing start a track; the clutter spot ends it."""
    logo = Detections.from_lists([[1097.0, 57.0, 1103.0, 63.0]], [0.95])
    still = np.zeros(1, dtype=bool)
    config = TrackerConfig(lag_frames=0, rest_confidence=0.8, clutter_frames=15)
    tracker = BallTracker(config)
    states = [tracker.update(logo, i / FPS, (1280, 720), still) for i in range(90)]

    assert _seen_runs(states)  # it is taken for a ball at rest at first...
    assert max(_seen_runs(states)) <= config.clutter_frames  # ...then for clutter
    assert all(state.status is TrackStatus.LOST for state in states[config.clutter_frames + 1 :])


class _StackSeeingLogoDetector(_LogoFirstDetector):
    """The same finds, from a model that sees three grey frames (motion input)."""

    frame_input = FrameInput.GREY_STACK


def _logo_only(index: int) -> NDArray[np.uint8]:
    """The court with its sensor noise and the logo, no ball: nothing moves."""
    image = picture(index)
    x, y = ball(index)
    image[y - 3 : y + 3, x - 3 : x + 3] = image[y - 12 : y - 6, x - 3 : x + 3]
    return image


@pytest.mark.parametrize(
    ("detector", "tracker", "logo_shown"),
    [
        (_LogoFirstDetector(), TrackerConfig(lag_frames=0), True),  # a colour model: a ball at rest
        (_StackSeeingLogoDetector(), TrackerConfig(lag_frames=0), False),
        # the user's own rest_confidence stands whatever the model sees
        (_StackSeeingLogoDetector(), TrackerConfig(lag_frames=0, rest_confidence=0.7), True),
    ],
    ids=["colour", "motion", "motion-told"],
)
def test_a_motion_model_never_starts_a_track_on_a_still_thing_unless_told(
    detector: _LogoFirstDetector, tracker: TrackerConfig, logo_shown: bool
) -> None:
    search = BallSearch(detector, SearchConfig(), clock=StepClock())
    run = SearchAndTrack.build(detector, search, tracker)
    frames = [Frame(index, _logo_only(index), index / FPS, 0) for index in range(10)]
    results = [result for frame in frames for result in run.process(frame, 0)]

    shown = [r.frame.index for r in results if r.ball.status is TrackStatus.SEEN]
    assert bool(shown) is logo_shown
    assert all(abs(r.ball.x - LOGO[0]) < 2 for r in results if r.ball.status is TrackStatus.SEEN)

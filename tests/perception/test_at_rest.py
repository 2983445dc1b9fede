"""The ball at rest where its track ended: found, kept while untouched, never a fixture."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from configs.app_config import RestLookConfig, SearchConfig, TrackerConfig
from perception.at_rest import RestLook
from perception.detections import Detections
from perception.detector import Precision
from perception.qat import Int8Sidecar, file_sha256, sidecar_path
from perception.result import TrackStatus
from perception.search import BallSearch
from perception.search_and_track import SearchAndTrack
from perception.tracker import BallTracker
from perception.weights import STILL_MODEL_NAME, choose_rest_weights
from stream.app import rest_look_plan
from stream.frame import Frame
from tests.fakes import FakeDetector, StepClock

FPS = 30.0
SIZE = (640, 360)
LANDING = (400, 250)  # where the ball comes to rest
POST = (430, 230)  # a ball-like fixture near it, there from the first frame
FLIGHT = 40  # frames in the air (1.33 s: the look compares with 1 s before the landing)


def flight(index: int) -> tuple[int, int]:
    """The ball flies in at 8 px a frame, down and right, and lies still from FLIGHT on."""
    step = min(index, FLIGHT) - FLIGHT
    return (LANDING[0] + 6 * step, LANDING[1] + 4 * step)


def picture(index: int, *, ball: bool = True) -> NDArray[np.uint8]:
    """Textured court with sensor noise, the post and (unless picked up) the ball."""
    texture = np.random.default_rng(0).integers(40, 110, (SIZE[1], SIZE[0], 1))
    noise = np.random.default_rng(index + 1).integers(-3, 4, (SIZE[1], SIZE[0], 1))
    image = np.broadcast_to(texture + noise, (SIZE[1], SIZE[0], 3)).clip(0, 255)
    image = image.astype(np.uint8).copy()
    spots = [POST, flight(index)] if ball else [POST]
    for x, y in spots:
        image[y - 3 : y + 3, x - 3 : x + 3] = 250
    return image


class _BrightSpots:
    """A colour model that sees every bright spot (the post as surely as the ball)."""

    resolution = 128
    precision = Precision.FP32
    device = "cpu"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        self.calls += 1
        results = []
        for image in images:
            mask = (image[:, :, 0] >= 245).astype(np.uint8)
            count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            boxes = [[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:count]]
            results.append(Detections.from_lists(boxes, [0.6] * len(boxes)))
        return results

    def warm_up(self) -> None:
        return None


def _look(config: RestLookConfig | None = None) -> tuple[RestLook, _BrightSpots]:
    detector = _BrightSpots()
    return RestLook(detector, config or RestLookConfig()), detector


def _fly(look: RestLook, frames: int = FLIGHT) -> None:
    """Frames in flight, tracked (the tracker's last detection on the ball)."""
    for index in range(frames):
        assert look.observe(picture(index), index / FPS, flight(index)) is None


def test_the_ball_lying_where_its_track_ended_is_found_and_the_fixture_is_not() -> None:
    look, _ = _look(RestLookConfig(confirm_looks=3))
    _fly(look)
    found = [look.observe(picture(i), i / FPS, None) for i in range(FLIGHT, FLIGHT + 30)]
    assert found[:2] == [None, None]  # two looks are not yet "stays still"
    assert all(ball is not None for ball in found[2:])
    for ball in found[2:]:
        assert ball is not None
        assert np.hypot(ball.x - LANDING[0], ball.y - LANDING[1]) < 1.0  # never the post
        assert ball.score == pytest.approx(0.6)


def test_the_ball_picked_up_is_gone_at_once() -> None:
    look, _ = _look()
    _fly(look)
    for index in range(FLIGHT, FLIGHT + 10):
        look.observe(picture(index), index / FPS, None)
    assert look.observe(picture(FLIGHT + 10), (FLIGHT + 10) / FPS, None) is not None
    assert look.observe(picture(FLIGHT + 11, ball=False), (FLIGHT + 11) / FPS, None) is None


def test_once_found_the_untouched_ball_needs_no_model_and_the_look_ends_after_look_s() -> None:
    look, detector = _look(RestLookConfig(every=5, look_s=1.95))
    _fly(look)
    found = [look.observe(picture(i), i / FPS, None) for i in range(FLIGHT, FLIGHT + 70)]
    assert detector.calls == 3  # frames 0, 5 and 10 of the look: found on the third run
    assert found[:10] == [None] * 10
    assert all(ball is not None for ball in found[10:59])  # its pixels did not change
    assert found[59:] == [None] * 11  # 1.95 s: frames 0-58


def test_the_look_starts_again_when_the_ball_is_moved() -> None:
    look, detector = _look(RestLookConfig(confirm_looks=3))
    _fly(look)
    for index in range(FLIGHT, FLIGHT + 10):
        look.observe(picture(index), index / FPS, None)
    assert detector.calls == 3
    gone = FLIGHT + 10
    assert look.observe(picture(gone, ball=False), gone / FPS, None) is None
    assert detector.calls == 4  # looking again


def test_no_look_after_a_short_track_and_none_while_play_goes_on() -> None:
    look, detector = _look(RestLookConfig(min_track_frames=10))
    for index in range(9):  # a track of 9 frames: a false start, not a rally
        look.observe(picture(index), index / FPS, flight(index))
    assert all(look.observe(picture(i), i / FPS, None) is None for i in range(9, 30))
    assert detector.calls == 0
    _fly(look)  # a long track, still going: nothing to look for
    assert detector.calls == 0


def test_a_lost_frame_reports_the_ball_at_rest_and_a_tracked_one_its_track() -> None:
    """The whole path: the motion track ends when the ball stops; the look finds it there."""
    detector = _BrightSpots()
    search = BallSearch(detector, SearchConfig(), clock=StepClock())
    tracker = BallTracker(TrackerConfig(rest_confidence=0.7))  # a still 0.6 starts no track
    run = SearchAndTrack(search, tracker, detector, RestLook(_BrightSpots(), RestLookConfig()))
    frames = [Frame(i, picture(i), i / FPS, 0) for i in range(FLIGHT + 40)]
    results = [r for frame in frames for r in run.process(frame, 0)] + run.flush()
    assert [r.frame.index for r in results] == list(range(FLIGHT + 40))
    statuses = [r.ball.status for r in results]
    assert statuses[5:FLIGHT] == [TrackStatus.SEEN] * (FLIGHT - 5)
    # the tracker keeps the stopped ball a while, then takes it for clutter and loses it;
    # three looks later (and the tracker's lag) it is reported at rest to the end
    first_lost = statuses.index(TrackStatus.LOST, FLIGHT)
    first_rest = statuses.index(TrackStatus.REST)
    assert first_lost < first_rest <= first_lost + 3 + TrackerConfig().lag_frames + 2
    at_rest = results[first_rest:]
    assert all(r.ball.status is TrackStatus.REST for r in at_rest)
    assert all(np.hypot(r.ball.x - LANDING[0], r.ball.y - LANDING[1]) < 1.0 for r in at_rest)
    assert all(r.step.windows >= 1 and r.step.pixels >= 128 * 128 for r in at_rest)
    assert not [r for r in results if np.hypot(r.ball.x - POST[0], r.ball.y - POST[1]) < 5]


def test_the_look_is_on_for_real_footage_with_the_still_model_only(tmp_path: Path) -> None:
    assert choose_rest_weights(None, None, "file", tmp_path) is None  # no still model
    (tmp_path / STILL_MODEL_NAME).write_bytes(b"weights")
    for kind in ("file", "camera", "network"):
        choice = choose_rest_weights(None, None, kind, tmp_path)
        assert choice is not None
        assert choice.path == tmp_path / STILL_MODEL_NAME
    assert choose_rest_weights(None, None, "synth", tmp_path) is None
    assert choose_rest_weights(False, None, "file", tmp_path) is None
    forced = choose_rest_weights(True, "mine.safetensors", "synth", tmp_path)
    assert forced is not None
    assert forced.path == Path("mine.safetensors")


def test_an_int8_run_looks_with_the_colour_models_own_qat_twin_or_in_float(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALLWATCH_CACHE", str(tmp_path / "cache"))  # no cached twins
    colour = tmp_path / STILL_MODEL_NAME
    colour.write_bytes(b"colour weights")
    live = FakeDetector(precision=Precision.INT8)  # the motion model's twin, running live

    # without a twin of its own, the colour model runs in float (never the motion model's)
    assert rest_look_plan(live, colour).precision is Precision.FP32
    assert rest_look_plan(live, colour).int8_artifact is None

    # with its QAT twin shipped beside it, the look runs that in INT8
    twin = colour.with_name(f"{colour.stem}.int8-qat.onnx")
    twin.write_bytes(b"onnx")
    sidecar = Int8Sidecar(resolution=128, ball_class_id=0, source={"sha256": file_sha256(colour)})
    sidecar_path(twin).write_text(sidecar.to_json())
    assert rest_look_plan(live, colour).int8_artifact == twin
    assert rest_look_plan(live, colour).precision is Precision.INT8

    # a float run's look runs in the run's precision
    for precision in (Precision.FP32, Precision.BF16):
        plan = rest_look_plan(FakeDetector(precision=precision), colour)
        assert (plan.precision, plan.int8_artifact) == (precision, None)

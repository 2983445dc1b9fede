"""Where the detector looks: tiles, the rotating live schedule, track crops."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

import numpy as np
import pytest
from numpy.typing import NDArray

from configs.app_config import MotionConfig, SearchConfig
from perception.detections import Detections
from perception.detector import Detector, Precision
from perception.result import SearchMode
from perception.search import BallSearch, detector_input_size
from perception.tiling import tile_grid
from perception.tracker import TrackerPrediction, TrackPoint
from stream.frame import Frame
from tests.fakes import VariableSizeDetector, WhiteBoxDetector


def frame_with_box(box: tuple[int, int, int, int] | None, index: int = 0) -> Frame:
    image = np.full((720, 1280, 3), 40, np.uint8)
    if box is not None:
        x0, y0, x1, y1 = box
        image[y0:y1, x0:x1] = 255
    return Frame(index, image, index / 30, 0)


def prediction(x: float, y: float, sigma: float = 2.0, speed: float = 60.0) -> TrackerPrediction:
    return TrackerPrediction(x, y, sigma, speed, misses=0)


def test_tiles_mode_sends_every_tile_in_one_batch_and_stamps_the_call() -> None:
    detector = WhiteBoxDetector()
    ticks = count(1000, 7)
    search = BallSearch(detector, SearchConfig(track_enabled=False), clock=lambda: next(ticks))

    step = search.step(frame_with_box((630, 350, 638, 358)), prediction(640, 354))

    assert detector.calls == [[384] * 8]
    assert step.mode is SearchMode.TILES
    assert step.pixels == 8 * 384 * 384
    assert (step.infer_start_ns, step.infer_end_ns) == (1000, 1007)
    assert step.detections.xyxy.tolist() == [[630.0, 350.0, 638.0, 358.0]]


def test_a_ball_on_a_tile_seam_is_reported_once() -> None:
    search = BallSearch(WhiteBoxDetector(), SearchConfig(track_enabled=False))
    seam_x = tile_grid(1280, 720, 384, 32)[1].x0  # inside tiles 0 and 1

    step = search.step(frame_with_box((seam_x + 10, 100, seam_x + 18, 108)), None)

    assert len(step.detections) == 1


def test_the_live_schedule_spreads_one_search_over_several_frames() -> None:
    detector = WhiteBoxDetector()
    search = BallSearch(detector, SearchConfig(live_tiles_per_frame=3))

    steps = [search.step(frame_with_box(None, index), None) for index in range(4)]

    assert [len(call) for call in detector.calls] == [3, 3, 3, 3]
    assert all(step.mode is SearchMode.SEARCH for step in steps)
    assert all(step.pixels == 3 * 384 * 384 for step in steps)


def test_the_live_schedule_visits_every_tile() -> None:
    search = BallSearch(WhiteBoxDetector(), SearchConfig(live_tiles_per_frame=3))
    frame = frame_with_box((1200, 650, 1208, 658))  # only the last tile holds it

    found = [len(search.step(frame, None).detections) for _ in range(3)]

    assert found == [0, 0, 1]


@pytest.mark.parametrize(
    ("sigma", "speed", "size"),
    [
        pytest.param(2.0, 60.0, 128, id="sure-and-slow"),
        pytest.param(6.0, 1500.0, 192, id="fast"),
        pytest.param(20.0, 1500.0, 256, id="unsure"),
        pytest.param(80.0, 3000.0, 384, id="very-unsure"),
    ],
)
def test_track_crops_grow_with_uncertainty_and_speed(sigma: float, speed: float, size: int) -> None:
    search = BallSearch(WhiteBoxDetector(), SearchConfig())

    assert search.track_crop_size(prediction(640, 360, sigma, speed)) == size


def test_track_mode_pads_a_small_crop_for_a_fixed_size_detector_and_maps_back() -> None:
    detector = WhiteBoxDetector()
    search = BallSearch(detector, SearchConfig())

    step = search.step(frame_with_box((1270, 10, 1278, 18)), prediction(1268, 12))

    assert step.mode is SearchMode.TRACK
    assert detector.calls == [[384]]  # a 128 crop padded to the model resolution
    assert step.pixels == 384 * 384
    assert step.detections.xyxy.tolist() == [[1270.0, 10.0, 1278.0, 18.0]]


def test_track_mode_runs_a_small_crop_natively_when_the_detector_can() -> None:
    detector = VariableSizeDetector(native_sizes=(128, 192))
    search = BallSearch(detector, SearchConfig())

    step = search.step(frame_with_box((600, 400, 608, 408)), prediction(605, 402))

    assert detector.calls == [[128]]
    assert step.pixels == 128 * 128
    assert step.detections.xyxy.tolist() == [[600.0, 400.0, 608.0, 408.0]]


@pytest.mark.parametrize(
    ("native_sizes", "crop", "given"),
    [
        pytest.param((), 128, 384, id="fixed-size-pads"),
        pytest.param((128,), 128, 128, id="native-128"),
        pytest.param((128,), 192, 384, id="192-not-supported-pads"),
        pytest.param((), 384, 384, id="model-size"),
    ],
)
def test_the_one_decision_point_for_small_crops(
    native_sizes: tuple[int, ...], crop: int, given: int
) -> None:
    detector = VariableSizeDetector(native_sizes=native_sizes)

    assert detector_input_size(detector, crop) == given


def test_after_enough_misses_the_search_takes_over_again() -> None:
    detector = WhiteBoxDetector()
    search = BallSearch(detector, SearchConfig(misses_before_search=3))
    coasting = TrackerPrediction(640, 360, 3.0, 100.0, misses=3)

    step = search.step(frame_with_box(None), coasting)

    assert step.mode is SearchMode.TILES
    assert detector.calls == [[384] * 8]


def test_crop_sizes_above_the_model_resolution_are_not_used() -> None:
    search = BallSearch(WhiteBoxDetector(resolution=256), SearchConfig())

    assert search.track_crop_size(prediction(640, 360, sigma=80.0, speed=3000.0)) == 256


def test_a_detector_returning_the_wrong_number_of_results_is_an_error() -> None:
    class Broken(WhiteBoxDetector):
        def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
            return []

    search = BallSearch(Broken(), SearchConfig(track_enabled=False))

    with pytest.raises(ValueError, match="returned 0 results for 8 images"):
        search.step(frame_with_box(None), None)


def test_swapping_to_a_detector_of_another_resolution_is_refused() -> None:
    search = BallSearch(WhiteBoxDetector(resolution=384), SearchConfig())

    with pytest.raises(ValueError, match="384 px detector for a 512 px one"):
        search.swap_detector(WhiteBoxDetector(resolution=512))


class KnownBoxSpy:
    """Runs a real detector, and adds the box of the white square it can see (crop pixels)."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self.raw: list[Detections] = []
        self.sizes: list[int] = []

    @property
    def resolution(self) -> int:
        return self.inner.resolution

    @property
    def precision(self) -> Precision:
        return self.inner.precision

    @property
    def device(self) -> str:
        return self.inner.device

    def warm_up(self) -> None:
        self.inner.warm_up()

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        found = self.inner.detect(images)
        assert len(found) == len(images)
        marked = WhiteBoxDetector().detect(images)
        self.sizes.extend(image.shape[0] for image in images)
        self.raw = found
        return [
            Detections.concat([model, Detections(known.xyxy, np.ones(len(known), np.float32))])
            for model, known in zip(found, marked, strict=True)
        ]


@pytest.mark.slow
def test_real_rfdetr_nano_runs_search_and_track_end_to_end_on_720p() -> None:
    from perception.rfdetr_detector import RfDetrDetector

    spy = KnownBoxSpy(RfDetrDetector.random("nano", num_queries=30))
    search = BallSearch(spy, SearchConfig(merge_distance_px=0.0))
    box = (1000, 500, 1008, 508)
    frame = frame_with_box(box)

    tiles = search.step(frame, None)
    tracked = search.step(frame, prediction(1003, 503))

    assert spy.sizes == [384] * 8 + [384]  # 8 tiles, then one 128 crop padded to 384
    assert tiles.mode is SearchMode.TILES
    assert tracked.mode is SearchMode.TRACK
    for step in (tiles, tracked):
        assert [1000.0, 500.0, 1008.0, 508.0] in step.detections.xyxy.tolist()
        centers = step.detections.centers
        assert ((centers >= 0) & (centers < [1280, 720])).all()
    assert tracked.infer_end_ns > tracked.infer_start_ns
    assert len(spy.raw[0]) > 0  # random weights at threshold 0 still give boxes


class PatchDetector(WhiteBoxDetector):
    """A 128 px white-box detector with a ViT's 16 px patch grid; keeps where the ball was."""

    def __init__(self, patch_px: int) -> None:
        super().__init__(resolution=128)
        self._patch_px = patch_px
        self.centres: list[tuple[float, float]] = []

    @property
    def patch_px(self) -> int:
        return self._patch_px

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        found = super().detect(images)
        self.centres += [tuple(d.centers[0]) for d in found if len(d)]
        return found


@pytest.mark.parametrize(("patch_px", "where"), [(16, 56.0), (0, 64.0)])
def test_a_track_crop_puts_the_expected_ball_on_a_patch_centre(patch_px: int, where: float) -> None:
    # the centre of a 128 px crop is a corner of a 16 px patch grid, where a ViT sees a
    # 6 px ball worst: the ball goes half a patch from it, into the middle of a patch
    detector = PatchDetector(patch_px)
    search = BallSearch(detector, SearchConfig())

    step = search.step(frame_with_box((637, 357, 643, 363)), prediction(640, 360))

    assert step.mode is SearchMode.TRACK
    assert detector.centres == [(where, where)]
    assert step.detections.centers.tolist() == [[640.0, 360.0]]  # mapped back to the frame


def test_a_motion_crop_stays_centred_on_the_moving_blob() -> None:
    # only the followed ball goes to a patch centre; a gate crop, where tracks start, is
    # centred (seeing better there means acquiring clutter too)
    detector = PatchDetector(16)
    search = BallSearch(detector, SearchConfig(motion=MotionConfig(enabled=True)))
    frames = [frame_with_box((600 + 8 * i, 400, 606 + 8 * i, 406), i) for i in range(3)]

    steps = [search.step(frame, None) for frame in frames]

    assert steps[-1].mode is SearchMode.MOTION
    assert detector.centres[-1] == pytest.approx((64.0, 64.0), abs=1.0)
    assert steps[-1].detections.centers.tolist() == [[619.0, 403.0]]


def test_a_second_look_goes_to_the_surest_seed_on_a_patch_centre_in_a_gate_crops_place() -> None:
    # a lone detection waits for a second one: the next frame looks there again, with the
    # seed where a track crop puts its ball; the look takes one of the gate's two crops
    detector = PatchDetector(16)
    motion = MotionConfig(enabled=True, max_candidates=2, sweep_tiles_per_frame=0)
    config = SearchConfig(motion=motion)
    search = BallSearch(detector, config)
    ball_at = (300, 200, 304, 204)  # a ball at rest, no blob of its own
    frames = [frame_with_box(ball_at, i) for i in range(3)]
    for frame in frames[:2]:
        search.step(frame, None)  # the gate needs two frames
    sure = TrackPoint(0.0, 302.0, 202.0, 0.9)
    weaker = TrackPoint(0.0, 900.0, 500.0, 0.6)
    assert search.second_look([], 1280, 720) == []

    step = search.step(frames[2], None, seeds=[weaker, sure])

    assert step.mode is SearchMode.MOTION
    assert step.windows == 1  # no moving blob: the look only
    assert detector.centres[-1] == pytest.approx((56.0, 56.0), abs=1.0)  # half a patch off
    assert step.detections.centers.tolist() == [[302.0, 202.0]]
    moving = [frame_with_box((600 + 8 * i, 400, 606 + 8 * i, 406), i) for i in range(3)]
    for frame in moving[:2]:
        search.step(frame, None)
    blobs = search.step(moving[2], None, seeds=[sure])
    assert blobs.windows == 2  # the look and one gate crop, not the look and two


def test_a_slow_track_also_looks_elsewhere_a_fast_one_only_at_its_crop() -> None:
    # a track that hardly moves may follow a head: the replay covers the frame in turns
    detector = WhiteBoxDetector(resolution=128)
    search = BallSearch(detector, SearchConfig(slow_track_windows=4))
    tiles = len(search.tiles(1280, 720))
    far_ball = frame_with_box((1200, 650, 1204, 654))
    slow = TrackerPrediction(300, 200, 1.0, 15.0, misses=0, may_give_way=True)

    steps = [search.step(far_ball, slow) for _ in range(-(-tiles // 4))]

    assert all(step.mode is SearchMode.TRACK and step.windows == 5 for step in steps)
    assert sum(len(step.detections) for step in steps) == 1  # every tile seen once
    fast = TrackerPrediction(300, 200, 1.0, 300.0, misses=0)
    assert search.step(far_ball, fast).windows == 1
    assert (
        BallSearch(detector, SearchConfig(slow_track_windows=0)).step(far_ball, slow).windows == 1
    )


def test_with_the_motion_gate_a_slow_track_looks_at_the_blobs_away_from_it() -> None:
    detector = WhiteBoxDetector(resolution=128)
    config = SearchConfig(slow_track_windows=4, motion=MotionConfig(enabled=True))
    search = BallSearch(detector, config)
    frames = [frame_with_box((900 + 8 * i, 500, 904 + 8 * i, 504), i) for i in range(3)]
    slow = TrackerPrediction(300, 200, 1.0, 15.0, misses=0, may_give_way=True)

    steps = [search.step(frame, slow) for frame in frames]

    assert steps[-1].windows == 2  # the track crop and a crop on the one moving blob
    assert steps[-1].detections.centers.tolist() == [[918.0, 502.0]]


class _GreyBallDetector(WhiteBoxDetector):
    """Finds only the mid-grey ball (120), not the white limbs; records nothing else."""

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        results = []
        for image in images:
            ys, xs = np.nonzero((image == 120).all(axis=2))
            box = [[xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0]] if len(xs) else []
            results.append(Detections.from_lists(box, [0.9] * len(box)))
        return results


def _limbs_and_ball(index: int) -> Frame:
    """Two white limbs creeping 2 px a frame (strong blobs) and a faint ball at 8 px."""
    image = np.full((720, 1280, 3), 40, np.uint8)
    for x, y in ((300 + 2 * index, 300), (900 - 2 * index, 500)):
        image[y : y + 6, x : x + 6] = 255
    image[200:204, 600 + 8 * index : 604 + 8 * index] = 120
    return Frame(index, image, index / 30, 0)


@pytest.mark.parametrize(("revisit", "found"), [(4, True), (0, False)])
def test_the_gate_crops_go_round_the_moving_things_not_always_to_the_strongest(
    revisit: int, found: bool
) -> None:
    motion = MotionConfig(
        enabled=True, max_candidates=2, sweep_tiles_per_frame=0, revisit_frames=revisit
    )
    search = BallSearch(_GreyBallDetector(resolution=128), SearchConfig(motion=motion))

    steps = [search.step(_limbs_and_ball(index), None) for index in range(12)]

    assert all(step.mode is SearchMode.MOTION for step in steps[2:])
    assert any(len(step.detections) for step in steps[2:]) is found


def test_a_fast_ball_the_crops_looked_at_keeps_its_turn() -> None:
    # the ball is the strongest blob and moves 8 px a frame: it is no limb creeping in
    # place, so it is looked at on every frame (the weaker limb waits)
    motion = MotionConfig(enabled=True, max_candidates=1, sweep_tiles_per_frame=0, revisit_frames=8)
    search = BallSearch(WhiteBoxDetector(resolution=128), SearchConfig(motion=motion))

    def frame(index: int) -> Frame:
        image = np.full((720, 1280, 3), 40, np.uint8)
        image[500:506, 900 - 2 * index : 906 - 2 * index] = 120  # a limb
        image[200:204, 300 + 8 * index : 304 + 8 * index] = 255  # the ball
        return Frame(index, image, index / 30, 0)

    steps = [search.step(frame(index), None) for index in range(12)]

    assert all(len(step.detections) == 1 for step in steps[2:])

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from stream.source import SourceKind
from stream.synth import SynthMatch, SynthParams, SynthSource, parse_synth_uri

REAL_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"
SMALL = SynthParams(seed=3, width=320, height=192, ball_max_px=12)


@pytest.fixture(scope="module")
def match() -> SynthMatch:
    return SynthMatch(SynthParams(seed=7))


# --- URI parsing --------------------------------------------------------------------------


def test_parse_full_uri() -> None:
    params = parse_synth_uri("synth:?seed=11&frames=300&width=640&height=360&fps=29.97&pan=1")

    assert params == SynthParams(seed=11, frames=300, width=640, height=360, fps=29.97, pan=True)


def test_parse_bare_uri_gives_defaults() -> None:
    assert parse_synth_uri("synth:") == SynthParams()
    assert parse_synth_uri("synth:?") == SynthParams()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        pytest.param(
            "synth:?colour=red", r"unknown key 'colour'; allowed keys: seed", id="unknown"
        ),
        pytest.param("synth:?seed=x", r"key 'seed' .*allowed keys", id="bad-int"),
        pytest.param("synth:?fps=fast", r"key 'fps' .*allowed keys", id="bad-float"),
        pytest.param("synth:?pan=maybe", r"key 'pan' must be 0 or 1", id="bad-bool"),
        pytest.param("synth:?seed=1&seed=2", r"repeated key 'seed'", id="repeated"),
        pytest.param("synth:?frames=0", r"frames must be >= 1", id="zero-frames"),
        pytest.param(
            "synth:?ball_min_px=9&ball_max_px=4", r"ball_min_px <= ball_max_px", id="sizes"
        ),
        pytest.param("synth:seed=1", r"options go after '\?'", id="no-question-mark"),
        pytest.param("video.mp4", r"not a synth URI", id="not-synth"),
    ],
)
def test_parse_rejects_bad_uri(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_synth_uri(uri)


# --- the match ----------------------------------------------------------------------------


def test_same_seed_gives_identical_frames() -> None:
    first, second = SynthMatch(SMALL), SynthMatch(SMALL)

    for index in (0, 17, 90):
        image_a, truth_a = first.frame(index)
        image_b, truth_b = second.frame(index)
        assert np.array_equal(image_a, image_b)
        assert truth_a == truth_b


def test_other_seed_gives_other_match() -> None:
    image_a, _ = SynthMatch(SMALL).frame(5)
    image_b, _ = SynthMatch(SynthParams(seed=4, width=320, height=192)).frame(5)

    assert not np.array_equal(image_a, image_b)


def test_random_access_equals_sequential() -> None:
    sequential = SynthMatch(SMALL)
    expected = [sequential.frame(index) for index in range(40)]

    random_access = SynthMatch(SMALL)
    for index in [39, 3, 20, 0, 38, 11]:
        image, truth = random_access.frame(index)
        assert np.array_equal(image, expected[index][0]), index
        assert truth == expected[index][1]


def test_frame_is_bgr_uint8_of_the_asked_size(match: SynthMatch) -> None:
    image, _ = match.frame(0)

    assert image.shape == (720, 1280, 3)
    assert image.dtype == np.uint8


@pytest.mark.parametrize(
    ("min_px", "max_px"), [pytest.param(3, 12, id="default"), pytest.param(5, 8, id="narrow")]
)
def test_ball_diameter_stays_in_range_and_spans_it(min_px: int, max_px: int) -> None:
    params = SynthParams(seed=7, ball_min_px=min_px, ball_max_px=max_px)
    synth = SynthMatch(params)

    diameters = [2 * synth.truth(index).radius_px for index in range(900)]

    assert min(diameters) >= min_px - 1e-9
    assert max(diameters) <= max_px + 1e-9
    assert max(diameters) - min(diameters) > 0.4 * (max_px - min_px)


@pytest.mark.parametrize("pan", [pytest.param(False, id="fixed"), pytest.param(True, id="pan")])
def test_ball_is_drawn_where_the_truth_says(pan: bool) -> None:
    synth = SynthMatch(SynthParams(seed=7, pan=pan))
    checked = 0

    for index in range(0, 600, 7):
        image, truth = synth.frame(index)
        if not truth.is_visible:
            continue
        assert 0 <= truth.x < 1280
        assert 0 <= truth.y < 720
        centre = image[int(truth.y), int(truth.x)].astype(int)
        # grass is dark green (red ~ 55); the ball is white or yellow (red > 200)
        assert centre[2] > 110, (index, truth, centre)
        checked += 1

    assert checked > 40


def test_ball_moves_across_the_frame_leaves_it_and_gets_occluded(match: SynthMatch) -> None:
    truths = [match.truth(index) for index in range(1800)]
    visible = [truth for truth in truths if truth.is_visible]
    xs = [truth.x for truth in visible]
    # hidden for a moment while both neighbours show the ball well inside the frame: a player
    occluded = [
        index
        for index in range(1, len(truths) - 1)
        if not truths[index].is_visible
        and all(
            truths[n].is_visible and 40 < truths[n].x < 1240 and 40 < truths[n].y < 680
            for n in (index - 1, index + 1)
        )
    ]

    assert max(xs) - min(xs) > 640
    assert 0.5 < len(visible) / len(truths) < 0.98
    assert occluded


def test_camera_pan_shifts_the_background() -> None:
    panning = SynthMatch(SynthParams(seed=7, pan=True))
    fixed = SynthMatch(SynthParams(seed=7, pan=False))

    start_pan, _ = panning.frame(0)
    later_pan, _ = panning.frame(360)
    start_fixed, _ = fixed.frame(0)
    later_fixed, _ = fixed.frame(360)

    # compare a band near the top where players rarely stand
    band = slice(0, 30)
    still = np.abs(start_fixed[band].astype(int) - later_fixed[band].astype(int)).mean()
    moved = np.abs(start_pan[band].astype(int) - later_pan[band].astype(int)).mean()
    assert moved > 2 * still


def test_index_past_the_end_is_rejected() -> None:
    synth = SynthMatch(SynthParams(frames=10, width=320, height=192))

    with pytest.raises(IndexError, match=r"index 10 is out of range 0\.\.10"):
        synth.frame(10)


# --- labels -------------------------------------------------------------------------------


def test_labels_round_trip_through_csv(match: SynthMatch, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"

    match.write_labels_csv(path, 120)

    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Frame", "Ball", "x", "y"]
    assert len(rows) == 121
    for row in rows[1:]:
        index, ball, x, y = int(row[0]), int(row[1]), float(row[2]), float(row[3])
        truth = match.truth(index)
        assert ball == int(truth.is_visible)
        if truth.is_visible:
            assert x * 1280 == pytest.approx(truth.x, abs=0.01)
            assert y * 720 == pytest.approx(truth.y, abs=0.01)
        else:
            assert (x, y) == (-1.0, -1.0)


def test_label_header_matches_the_real_clips(match: SynthMatch, tmp_path: Path) -> None:
    real = REAL_DIR / "badminton_bwf" / "train_00008.csv"
    if not real.exists():
        pytest.skip(f"real labels not found at {real} (shared data absent)")
    path = tmp_path / "labels.csv"

    match.write_labels_csv(path, 3)

    assert path.read_text().splitlines()[0] == real.read_text().splitlines()[0]


def test_label_rows_normalise_visible_positions(match: SynthMatch) -> None:
    rows = match.labels_rows(300)

    assert [row[0] for row in rows] == list(range(300))
    visible = [row for row in rows if row[1] == 1]
    assert visible
    assert all(0.0 <= row[2] < 1.0 and 0.0 <= row[3] < 1.0 for row in visible)


# --- the source ---------------------------------------------------------------------------


def test_source_hands_out_frames_then_ends() -> None:
    params = SynthParams(seed=3, width=320, height=192, frames=5, fps=25.0)
    source = SynthSource(params)
    stop = threading.Event()

    frames = [source.read(stop) for _ in range(5)]
    after = source.read(stop)

    assert source.kind is SourceKind.SYNTH
    assert source.fps == 25.0
    assert source.frame_count == 5
    assert [frame.index for frame in frames if frame] == [0, 1, 2, 3, 4]
    assert [frame.pts_s for frame in frames if frame] == pytest.approx([0, 0.04, 0.08, 0.12, 0.16])
    assert all(frame is not None and frame.truth is not None for frame in frames)
    assert after is None


def test_endless_source_keeps_going_until_closed() -> None:
    source = SynthSource(SynthParams(width=320, height=192))
    stop = threading.Event()

    indices = [frame.index for frame in (source.read(stop) for _ in range(50)) if frame]
    source.close()

    assert source.frame_count is None
    assert indices == list(range(50))
    assert source.read(stop) is None


def test_realtime_source_paces_itself_and_stops_early() -> None:
    source = SynthSource(SynthParams(width=320, height=192, fps=50.0), is_realtime=True)
    stop = threading.Event()

    started = time.monotonic()
    for _ in range(6):
        source.read(stop)
    elapsed = time.monotonic() - started
    stop.set()
    stopped_read = source.read(stop)

    assert elapsed >= 5 / 50.0 - 0.005
    assert stopped_read is None


def test_a_ball_about_to_pass_behind_a_player_is_by_a_player(match: SynthMatch) -> None:
    truths = [match.truth(index) for index in range(1800)]
    # the visible frame just before the ball goes behind a player, or just after it comes out:
    # 100 px inside the picture, the ball cannot have left it in one frame
    beside_occlusion = [
        index
        for index in range(1, len(truths) - 1)
        if truths[index].is_visible
        and 100 < truths[index].x < 1180
        and 100 < truths[index].y < 620
        and not all(truths[n].is_visible for n in (index - 1, index + 1))
    ]
    near = [index for index, truth in enumerate(truths) if match.ball_near_player(index, 12.0)]

    assert beside_occlusion
    assert all(match.ball_near_player(index, 12.0) for index in beside_occlusion)
    assert all(truths[index].is_visible for index in near)  # a hidden ball is never "by" one
    assert 0.02 < len(near) / sum(truth.is_visible for truth in truths) < 0.4


def test_player_heads_are_where_the_heads_are_drawn(match: SynthMatch) -> None:
    skin = np.array([120, 150, 200])
    drawn, heads = 0, 0
    for index in range(0, 300, 30):
        image, _ = match.frame(index)
        for x, y in match.player_heads(index):
            heads += 1
            around = image[round(y) - 1 : round(y) + 2, round(x) - 1 : round(x) + 2].reshape(-1, 3)
            drawn += bool((np.abs(around.astype(int) - skin).max(axis=1) < 30).any())

    assert heads >= 30
    assert drawn >= 0.8 * heads  # the rest stand behind a nearer player

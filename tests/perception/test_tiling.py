"""Tile geometry, crop clamping and the way from crop pixels back to frame pixels."""

from __future__ import annotations

import numpy as np
import pytest

from perception.detections import Detections
from perception.tiling import (
    PAD_VALUE,
    Window,
    crop,
    crop_window,
    merge_duplicates,
    tile_grid,
    to_frame,
)


def coverage(windows: list[Window], width: int, height: int) -> np.ndarray:
    counts = np.zeros((height, width), np.int32)
    for window in windows:
        counts[window.y0 : window.y1, window.x0 : window.x1] += 1
    return counts


@pytest.mark.parametrize(
    ("width", "height", "tile", "overlap"),
    [
        pytest.param(1280, 720, 384, 32, id="720p-nano"),
        pytest.param(1920, 1080, 384, 32, id="1080p-nano"),
        pytest.param(1280, 720, 512, 48, id="720p-small"),
        pytest.param(769, 385, 384, 0, id="one-pixel-over-no-overlap"),
        pytest.param(384, 384, 384, 32, id="exactly-one-tile"),
    ],
)
def test_tiles_cover_the_frame_exactly_with_the_overlap(
    width: int, height: int, tile: int, overlap: int
) -> None:
    windows = tile_grid(width, height, tile, overlap)

    counts = coverage(windows, width, height)
    assert counts.min() >= 1  # every pixel is seen
    assert all(w.width == tile and w.height == tile for w in windows)
    assert all(w.x0 >= 0 and w.y0 >= 0 and w.x1 <= width and w.y1 <= height for w in windows)
    assert max(w.x1 for w in windows) == width  # last column flush with the edge
    assert max(w.y1 for w in windows) == height
    xs = sorted({w.x0 for w in windows})
    ys = sorted({w.y0 for w in windows})
    for starts in (xs, ys):
        steps = np.diff(starts)
        if len(steps):
            assert steps.max() - steps.min() <= 1  # evenly spaced
            assert tile - steps.max() >= overlap  # seams share at least the overlap


def test_720p_nano_grid_is_four_by_two() -> None:
    windows = tile_grid(1280, 720, 384, 32)

    assert len(windows) == 8
    assert sorted({w.x0 for w in windows}) == [0, 299, 597, 896]
    assert sorted({w.y0 for w in windows}) == [0, 336]


@pytest.mark.parametrize(
    ("width", "height", "count"),
    [
        pytest.param(200, 100, 1, id="smaller-both-ways"),
        pytest.param(1000, 200, 3, id="smaller-in-height"),
    ],
)
def test_a_frame_smaller_than_a_tile_gets_padded_tiles(width: int, height: int, count: int) -> None:
    windows = tile_grid(width, height, 384, 32)

    assert len(windows) == count
    assert all(w.y0 == 0 and w.y1 == 384 for w in windows)  # extends past the frame
    assert coverage(windows, width, height).min() >= 1
    image = np.full((height, width, 3), 7, np.uint8)
    patch = crop(image, windows[0], 384)
    assert patch.shape == (384, 384, 3)
    assert (patch[:height, : min(width, 384)] == 7).all()
    assert (patch[height:] == PAD_VALUE).all()


def test_an_overlap_as_large_as_the_tile_is_refused() -> None:
    with pytest.raises(ValueError, match=r"tile overlap must be in \[0, 384\)"):
        tile_grid(1280, 720, 384, 384)


@pytest.mark.parametrize(
    ("center", "expected"),
    [
        pytest.param((640.0, 360.0), Window(576, 296, 704, 424), id="inside"),
        pytest.param((3.0, 2.0), Window(0, 0, 128, 128), id="top-left-corner"),
        pytest.param((1279.0, 719.0), Window(1152, 592, 1280, 720), id="bottom-right-corner"),
        pytest.param((-50.0, 900.0), Window(0, 592, 128, 720), id="outside-the-frame"),
    ],
)
def test_crop_windows_are_clamped_inside_the_frame(
    center: tuple[float, float], expected: Window
) -> None:
    assert crop_window(center[0], center[1], 128, 1280, 720) == expected


def test_a_crop_window_larger_than_the_frame_starts_at_zero_and_is_padded() -> None:
    window = crop_window(50.0, 40.0, 128, 100, 80)
    image = np.full((80, 100, 3), 9, np.uint8)

    patch = crop(image, window, 128)

    assert window == Window(0, 0, 128, 128)
    assert (patch[:80, :100] == 9).all()
    assert (patch[80:, :] == PAD_VALUE).all()
    assert (patch[:, 100:] == PAD_VALUE).all()


def test_crop_pixels_are_frame_pixels_shifted_by_the_window() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    window = crop_window(1000.0, 100.0, 192, 1280, 720)

    patch = crop(image, window, 192)

    assert patch.flags.c_contiguous
    assert np.array_equal(patch[5, 7], image[window.y0 + 5, window.x0 + 7])
    assert np.array_equal(patch, image[window.y0 : window.y1, window.x0 : window.x1])


def test_a_window_larger_than_the_crop_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit a 128 px crop"):
        crop(np.zeros((720, 1280, 3), np.uint8), Window(0, 0, 192, 192), 128)


def find_white_box(patch: np.ndarray) -> list[float]:
    """A stand-in detector: the bounding box of the white pixels, in crop pixels."""
    ys, xs = np.nonzero((patch == 255).all(axis=2))
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


@pytest.mark.parametrize(
    "box",
    [
        pytest.param((630, 350, 640, 358), id="middle"),
        pytest.param((590, 100, 600, 108), id="on-a-vertical-seam"),
        pytest.param((1272, 712, 1280, 720), id="bottom-right-corner"),
    ],
)
def test_a_known_box_maps_back_to_its_frame_box_from_every_tile_that_holds_it(
    box: tuple[int, int, int, int],
) -> None:
    image = np.zeros((720, 1280, 3), np.uint8)
    x0, y0, x1, y1 = box
    image[y0:y1, x0:x1] = 255
    holding = [
        w
        for w in tile_grid(1280, 720, 384, 32)
        if w.x0 <= x0 and x1 <= w.x1 and w.y0 <= y0 and y1 <= w.y1
    ]

    found = [
        to_frame(Detections.from_lists([find_white_box(crop(image, w, 384))], [0.9]), w, 1280, 720)
        for w in holding
    ]

    assert holding
    for result in found:
        assert result.xyxy.tolist() == [[float(x0), float(y0), float(x1), float(y1)]]
    merged = merge_duplicates(Detections.concat(found), distance_px=6.0)
    assert len(merged) == 1


def test_boxes_in_the_padding_are_dropped() -> None:
    window = Window(0, 0, 384, 384)  # a 200x100 frame padded to one tile
    inside = [10.0, 10.0, 20.0, 20.0]
    in_padding = [250.0, 150.0, 260.0, 160.0]

    result = to_frame(Detections.from_lists([inside, in_padding], [0.5, 0.9]), window, 200, 100)

    assert result.xyxy.tolist() == [inside]


def test_merge_keeps_the_higher_score_of_a_seam_duplicate_and_far_boxes() -> None:
    detections = Detections.from_lists(
        [[100, 100, 110, 110], [102, 101, 112, 111], [400, 400, 410, 410]], [0.4, 0.8, 0.3]
    )

    merged = merge_duplicates(detections, distance_px=6.0)

    assert merged.confidence.tolist() == pytest.approx([0.8, 0.3])
    assert merged.xyxy[0].tolist() == [102, 101, 112, 111]

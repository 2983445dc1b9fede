from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib import image
from numpy.typing import NDArray

from stream.errors import OutputError
from stream.latency import DropEvent, LatencyRecord
from stream.latency_plot import DROP_COLOURS, plot_latency
from tests.stream.test_latency_summary import make_record


def run_records(count: int) -> list[LatencyRecord]:
    return [
        make_record(i, captured_ms=33.0 * i, infer_ms=None if i % 4 == 3 else 40.0 + i % 5)
        for i in range(count)
    ]


def colour_pixels(png: NDArray[np.float32], colour: str) -> int:
    rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)], dtype=np.float32)
    return int((np.abs(png[..., :3] - rgb).max(axis=-1) < 0.05).sum())


def test_png_is_written_at_the_asked_size_with_stages_and_drops(tmp_path: Path) -> None:
    # given 40 frames (10 skipped by the detector) and 3 drops of two causes
    drops = [
        DropEvent(40, "queue_full", "capture", 0),
        DropEvent(41, "queue_full", "capture", 0),
        DropEvent(42, "stale", "perception", 0),
    ]

    # when
    plot = plot_latency(run_records(40), drops, tmp_path / "latency.png", size_px=(900, 600))

    # then
    png = image.imread(plot.path)
    assert plot.path.stat().st_size > 10_000
    assert png.shape == (600, 900, 4)
    assert (plot.width_px, plot.height_px) == (900, 600)
    assert plot.drop_ticks == {"queue_full": 2, "stale": 1}
    assert plot.stage_points["inference"] == 30
    assert plot.stage_points["end_to_end"] == 40
    assert colour_pixels(png, DROP_COLOURS["queue_full"]) > 0
    assert colour_pixels(png, DROP_COLOURS["stale"]) > 0


def test_no_drop_colour_appears_without_drops(tmp_path: Path) -> None:
    plot = plot_latency(run_records(40), [], tmp_path / "latency.png")

    png = image.imread(plot.path)
    assert png.shape == (800, 1200, 4)
    assert plot.drop_ticks == {}
    assert all(colour_pixels(png, colour) == 0 for colour in DROP_COLOURS.values())


def test_empty_log_still_gives_a_plot(tmp_path: Path) -> None:
    plot = plot_latency([], [DropEvent(0, "decode_error", "capture", 0)], tmp_path / "empty.png")

    assert image.imread(plot.path).shape == (800, 1200, 4)
    assert plot.stage_points == {}
    assert plot.drop_ticks == {"decode_error": 1}


def test_unwritable_path_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"cannot write latency plot .*missing.*writable path"):
        plot_latency(run_records(5), [], tmp_path / "missing" / "latency.png")

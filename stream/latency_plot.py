"""Draw a run's latency log: per-stage latency over the run with drops marked, and a histogram."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stream.errors import OutputError
from stream.latency import DropEvent, LatencyRecord
from stream.latency_summary import LatencyStage, ran_detector, stage_values

if TYPE_CHECKING:
    from matplotlib.axes import Axes

logger = logging.getLogger(__name__)

# Pure red/magenta/gold are kept for drops so they stand out of the stage lines and text.
DROP_COLOURS: Mapping[str, str] = {
    "queue_full": "#ff0000",
    "stale": "#ff00ff",
    "decode_error": "#ffd700",
}
_OTHER_DROP_COLOUR = "#7f7f7f"
_STAGE_COLOURS: Mapping[LatencyStage, str] = {
    LatencyStage.QUEUE_WAIT: "tab:blue",
    LatencyStage.INFERENCE: "tab:orange",
    LatencyStage.PERCEPTION: "tab:green",
    LatencyStage.RENDER: "tab:purple",
    LatencyStage.WRITE: "tab:brown",
    LatencyStage.END_TO_END: "tab:cyan",
}
_TICK_HEIGHT = 0.05  # of the axes height, one band per drop cause


@dataclass(frozen=True, slots=True)
class LatencyPlot:
    """What :func:`plot_latency` drew, read back from the figure's artists.

    Attributes:
        path: the PNG written.
        width_px: image width in pixels.
        height_px: image height in pixels.
        stage_points: points drawn per stage line.
        drop_ticks: drop ticks drawn per cause.
    """

    path: Path
    width_px: int
    height_px: int
    stage_points: Mapping[str, int]
    drop_ticks: Mapping[str, int]


def _draw_stages(axes: Axes, records: Sequence[LatencyRecord]) -> dict[str, int]:
    points: dict[str, int] = {}
    for stage in LatencyStage:
        kept = records
        if stage is LatencyStage.INFERENCE:
            kept = [record for record in records if ran_detector(record)]
        x = np.array([record.frame_index for record in kept])
        (line,) = axes.plot(
            x,
            stage_values(kept, stage),
            color=_STAGE_COLOURS[stage],
            linewidth=0.8,
            # Dashed: perception often equals inference and would hide it.
            linestyle="--" if stage is LatencyStage.PERCEPTION else "-",
            label=stage,
        )
        points[stage.value] = np.asarray(line.get_xdata()).size
    return points


def _draw_drops(axes: Axes, drops: Sequence[DropEvent]) -> dict[str, int]:
    ticks: dict[str, int] = {}
    causes = sorted({drop.cause for drop in drops})
    for band, cause in enumerate(causes):
        indices = [drop.frame_index for drop in drops if drop.cause == cause]
        collection = axes.vlines(
            indices,
            band * _TICK_HEIGHT,
            (band + 1) * _TICK_HEIGHT,
            transform=axes.get_xaxis_transform(),
            colors=DROP_COLOURS.get(cause, _OTHER_DROP_COLOUR),
            linewidth=1.0,
            label=f"dropped: {cause} ({len(indices)})",
        )
        ticks[cause] = len(collection.get_segments())
    if causes:
        # Lower the floor so the tick bands sit under latency 0, not over the lines.
        band_fraction = len(causes) * _TICK_HEIGHT + 0.01
        ceiling = max(axes.get_ylim()[1], 1.0)
        axes.set_ylim(-band_fraction / (1 - band_fraction) * ceiling, ceiling)
    return ticks


def _draw_histogram(axes: Axes, records: Sequence[LatencyRecord]) -> None:
    end_to_end = stage_values(records, LatencyStage.END_TO_END)
    detector = stage_values(records, LatencyStage.INFERENCE)
    bins = np.histogram_bin_edges(np.concatenate([end_to_end, detector]), bins=50).tolist()
    if end_to_end.size:
        axes.hist(end_to_end, bins=bins, alpha=0.6, color="tab:cyan", label="end to end")
    if detector.size:
        axes.hist(detector, bins=bins, alpha=0.6, color="tab:orange", label="detector")
    axes.set_xlabel("latency (ms)")
    axes.set_ylabel("frames")
    if end_to_end.size or detector.size:
        axes.legend(loc="upper right", fontsize="small")


def plot_latency(
    records: Sequence[LatencyRecord],
    drops: Sequence[DropEvent],
    path: Path,
    *,
    size_px: tuple[int, int] = (1200, 800),
    dpi: int = 100,
) -> LatencyPlot:
    """Write a PNG of a run's latency (``--plot``): stages over frame index, drops, histogram.

    Top: each stage's latency per frame against the source frame index, with a
    short tick at the bottom for each dropped frame, one band and colour per
    cause. Bottom: histogram of end-to-end and detector latency. An empty log
    gives a figure that says so.

    Args:
        records: the run's frame records.
        drops: the run's drop events.
        path: where to write the PNG.
        size_px: image ``(width, height)`` in pixels.
        dpi: dots per inch of the figure (fonts scale with it).

    Returns:
        What was drawn (read back from the figure's artists).

    Raises:
        OutputError: ``path`` cannot be written.
    """
    # Imported here so runs without --plot never load matplotlib. Figure + Agg canvas, not
    # pyplot: no global backend switch, safe off the main thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    width_px, height_px = size_px
    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, height_ratios=(2, 1))
    points = _draw_stages(top, records) if records else {}
    ticks = _draw_drops(top, drops)
    if not records:
        top.text(0.5, 0.5, "no frames processed", transform=top.transAxes, ha="center")
    top.set_xlabel("frame index")
    top.set_ylabel("latency (ms)")
    top.set_title(f"{len(records)} frames processed, {len(drops)} dropped")
    if records or drops:
        top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    _draw_histogram(bottom, records)
    try:
        figure.savefig(path, format="png", dpi=dpi)
    except OSError as exc:
        msg = f"cannot write latency plot {str(path)!r}: {exc.strerror}; choose a writable path"
        raise OutputError(msg) from exc
    logger.info("latency plot written to %s", path)
    return LatencyPlot(path, width_px, height_px, points, ticks)

"""Search/track on synthetic clips with an oracle-noise detector: pixels vs accuracy.

The detector behind the Detector protocol is an oracle with faults: the bench marks the
true ball centre of each frame with one magenta pixel, and the detector reports that
pixel when a crop contains it (missed at ``miss_rate``, centre jittered by ``jitter_px``)
plus false positives anywhere in a crop (``fp_per_image``: more pixels, more of them).
Ways of looking are compared side by side: tiles on every frame, track mode with search
as fallback, the rotating live search, and the motion gate (crops only around small
moving blobs plus one sweep tile a frame) with and without tracking; the pixel counts are
given for a detector that pads small crops to its resolution and for one that runs them
natively. ``--real`` runs the same table on labelled real clips (``Frame,Ball,x,y``
beside each ``.mp4``) at the model's 128 px tiles.

The oracle's magenta mark is one pixel of the ball, so the motion gate sees it move with
the ball; a ball that moves less than a pixel a frame is still, mark and all.

    python -m bench.search --seeds 1 2 3 --frames 300
    python -m bench.search --seeds --real ../shared/data/real/badminton_bwf/*.mp4
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from configs.app_config import (
    MotionConfig,
    SearchConfig,
    TrackerConfig,
    for_live,
    load_config,
    preset_path,
)
from perception.detections import Detections
from perception.detector import Precision
from perception.evaluate import EvalReport, run_eval
from perception.labels import read_labels
from perception.search import BallSearch
from perception.tracker import BallTracker
from stream.frame import BallTruth, Frame
from stream.synth import SynthMatch, SynthParams

MARK = np.array([255, 0, 255], np.uint8)  # BGR magenta: never drawn by the synthetic match


@dataclass(frozen=True, slots=True)
class OracleFaults:
    """How the oracle detector fails."""

    miss_rate: float = 0.2
    jitter_px: float = 1.0
    fp_per_image: float = 0.02
    box_px: float = 8.0


class OracleDetector:
    """Finds the bench's magenta mark in each crop, with misses, jitter and FPs.

    Args:
        faults: the failure model.
        seed: seeds the faults.
        resolution: the model resolution it claims.
        native_sizes: smaller square sizes it runs without padding.
    """

    def __init__(
        self,
        faults: OracleFaults,
        seed: int,
        resolution: int = 384,
        native_sizes: Sequence[int] = (),
    ) -> None:
        self._faults = faults
        self._rng = np.random.default_rng(seed)
        self._resolution = resolution
        self._native_sizes = set(native_sizes)

    @property
    def resolution(self) -> int:
        return self._resolution

    @property
    def precision(self) -> Precision:
        return Precision.FP32

    @property
    def device(self) -> str:
        return "cpu"

    def accepts_input_size(self, size: int) -> bool:
        return size in self._native_sizes

    def warm_up(self) -> None:
        return None

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        return [self._detect_one(image) for image in images]

    def _detect_one(self, image: NDArray[np.uint8]) -> Detections:
        faults, rng = self._faults, self._rng
        centers: list[tuple[float, float]] = []
        ys, xs = np.nonzero(image[:, :, 1] == MARK[1])  # green 0 is rare: check it first
        is_mark = (image[ys, xs] == MARK).all(axis=1)
        ys, xs = ys[is_mark], xs[is_mark]
        if len(xs) and rng.random() >= faults.miss_rate:
            dx, dy = rng.normal(0.0, faults.jitter_px, 2)
            centers.append((xs[0] + 0.5 + dx, ys[0] + 0.5 + dy))
        size = image.shape[0]
        for _ in range(rng.poisson(faults.fp_per_image)):
            centers.append((rng.uniform(0, size), rng.uniform(0, size)))
        half = faults.box_px / 2
        boxes = [[x - half, y - half, x + half, y + half] for x, y in centers]
        return Detections.from_lists(boxes, rng.uniform(0.3, 1.0, len(boxes)).tolist())


def marked_clip(path: Path) -> Iterator[Frame]:
    """A labelled real clip (labels CSV beside it) with the labelled centre marked."""
    import av  # only for --real

    labels: list[BallTruth] | None = None
    with av.open(str(path)) as container:
        for index, decoded in enumerate(container.decode(video=0)):
            image = decoded.to_ndarray(format="bgr24")
            height, width = image.shape[:2]
            if labels is None:
                labels = read_labels(path.with_suffix(".csv"), width, height)
            truth = labels[index] if index < len(labels) else BallTruth(is_visible=False)
            if truth.is_visible and 0 <= truth.x < width and 0 <= truth.y < height:
                image[int(truth.y), int(truth.x)] = MARK
            yield Frame(index, image, index / 30.0, 0, truth=truth)


def marked_frames(params: SynthParams) -> Iterator[Frame]:
    """The synthetic clip with the true ball centre marked in magenta."""
    match = SynthMatch(params)
    for index in range(params.frames or 0):
        image, truth = match.frame(index)
        if truth.is_visible:
            image[int(truth.y), int(truth.x)] = MARK
        yield Frame(index, image, index / params.fps, 0, truth=truth)


@dataclass(frozen=True, slots=True)
class Row:
    """One way of looking, scored."""

    name: str
    report: EvalReport
    padded_pixels: float  # detector pixels per frame when small crops are padded
    native_pixels: float  # ... when they run at their own size


Clip = Callable[[], Iterator[Frame]]


def run_mode(
    name: str, search_config: SearchConfig, clip: Clip, faults: OracleFaults, resolution: int
) -> Row:
    """Run one way of looking over the clip twice: padded and native small crops."""
    reports = []
    for native_sizes in ((), search_config.crop_sizes):
        detector = OracleDetector(faults, 0, resolution=resolution, native_sizes=native_sizes)
        search = BallSearch(detector, search_config)
        reports.append(run_eval(clip(), search, BallTracker(TrackerConfig())))
    padded, native = reports
    return Row(name, native, padded.mean_pixels, native.mean_pixels)


def format_rows(rows: Sequence[Row], frame_pixels: int) -> str:
    """The comparison table."""
    lines = [
        f"{'':30} {'track share':>11} {'px/frame pad':>13} {'px/frame native':>16} "
        f"{'P':>6} {'R':>6} {'F1@4px':>7}"
    ]
    for row in rows:
        report = row.report
        track = report.mode_counts.get("track", 0) / max(report.frames, 1)
        lines.append(
            f"{row.name:30} {track:11.1%} {row.padded_pixels:13,.0f} {row.native_pixels:16,.0f} "
            f"{report.precision:6.3f} {report.recall:6.3f} {report.f1:7.3f}"
        )
    base = rows[0]
    for row in rows[1:]:
        lines.append(
            f"{row.name}: {base.padded_pixels / row.padded_pixels:.1f}x fewer pixels than "
            f"{base.name} (padded), {base.native_pixels / row.native_pixels:.1f}x (native)"
        )
    lines.append(f"(a frame is {frame_pixels:,} px)")
    return "\n".join(lines)


def compare(clip: Clip, faults: OracleFaults, resolution: int = 384) -> list[Row]:
    """Tiles every frame vs track mode, live search and the motion gate, on one clip."""
    crops = tuple(size for size in (128, 192, 256, 384) if size <= resolution)
    gate = MotionConfig(enabled=True)
    modes = {
        "tiles every frame": SearchConfig(track_enabled=False, crop_sizes=crops),
        "motion gate, no track": SearchConfig(track_enabled=False, motion=gate, crop_sizes=crops),
        "track + search fallback": SearchConfig(crop_sizes=crops),
        "track + live search (2/frame)": SearchConfig(live_tiles_per_frame=2, crop_sizes=crops),
        "track + motion gate": SearchConfig(
            live_tiles_per_frame=2, max_track_tiles=2, motion=gate, crop_sizes=crops
        ),
        # a live run's search as it ships: the gate's blobs stand in on every other tracked frame
        "live preset (blobs between)": for_live(load_config(preset_path("live"))).search.model_copy(
            update={"crop_sizes": crops}
        ),
    }
    return [run_mode(name, config, clip, faults, resolution) for name, config in modes.items()]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: the table for each seed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--miss-rate", type=float, default=None)
    parser.add_argument("--jitter", type=float, default=None)
    parser.add_argument("--fp-per-image", type=float, default=None)
    parser.add_argument("--resolution", type=int, default=384, help="tile side (model px)")
    parser.add_argument("--real", type=Path, nargs="*", default=[], help="labelled .mp4 clips")
    defaults = OracleFaults()
    args = parser.parse_args(argv)
    faults = OracleFaults(
        defaults.miss_rate if args.miss_rate is None else args.miss_rate,
        defaults.jitter_px if args.jitter is None else args.jitter,
        defaults.fp_per_image if args.fp_per_image is None else args.fp_per_image,
    )
    print(
        f"oracle detector: miss {faults.miss_rate:.0%}, jitter {faults.jitter_px} px, "
        f"{faults.fp_per_image} FP per image; F1 at 4 px, tracker lag "
        f"{TrackerConfig().lag_frames} frames"
    )
    for seed in args.seeds:
        params = SynthParams(seed=seed, width=args.width, height=args.height, frames=args.frames)
        visible = sum(SynthMatch(params).truth(i).is_visible for i in range(args.frames))
        print(f"\nsynth seed {seed}: {args.frames} frames, {visible} with a visible ball")
        rows = compare(partial(marked_frames, params), faults, args.resolution)
        print(format_rows(rows, args.width * args.height))
    for path in args.real:
        print(f"\nreal clip {path} ({args.resolution} px tiles)")
        rows = compare(partial(marked_clip, path), faults, args.resolution)
        first = next(marked_clip(path))
        print(format_rows(rows, first.width * first.height))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Live, simulated: the live path on a virtual clock, so live settings compare without spread.

``bench.live`` (d) runs the app at real-time pace; which frames it drops depends on how busy
the machine is at that instant, and around a track's start one dropped frame changes the
rest of the rally: on the badminton rally two runs of the same code differed by up to 0.14
in F1. That spread hid effects of 0.1 (issue 12, 2026-12-06). This bench runs the same
perception path (:class:`~perception.search_and_track.SearchAndTrack`, the live config from
:func:`~stream.app.settle_config`, the INT8 QAT twin a live run on a CPU picks) frame
by frame, but the time each frame takes is a cost model, not the wall clock: frames arrive
at the source's pace, a frame waiting while the worker is busy is replaced by a newer one
(the live queue: newest wins, ``stream.frame_queue_size`` deep), and the worker is busy for
``frame_ms`` plus ``crop_ms`` per 128 px crop's worth of pixels it gave the detector. So a
setting changes which frames are dropped only through the work it asks for, and the same
arms give the same table on every run.

The cost model's defaults are this project's 2-core CPUs with the real model's INT8 twin
(18.9 ms a 128 px crop; decode, motion gate and tracker ~5 ms a frame). A dropped frame
counts as a miss unless the output bridged it (as ``eval --realtime`` scores it).

    .venv/bin/python -m bench.live_sim                        # live defaults vs two variants
    .venv/bin/python -m bench.live_sim --arms default search.detect_every=1
    .venv/bin/python -m bench.live_sim --clip "synth:?seed=515151&frames=300"
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does, before torch loads

import numpy as np

from bench.live import processed_recall, scored
from bench.real import clip_frames
from configs.app_config import AppConfig, load_config, parse_override, preset_path
from perception.evaluate import EvalReport, TrackCollector, evaluate_outputs, write_rows
from perception.int8_detector import Int8Detector
from perception.labels import read_labels
from perception.result import PerceptionStep
from perception.search import BallSearch
from perception.search_and_track import SearchAndTrack
from perception.tracker import TrackerPrediction, TrackPoint
from perception.weights import choose_weights
from stream.app import auto_int8_artifact, build_rest_look, settle_config, source_kind
from stream.frame import BallTruth, Frame
from stream.synth import SynthMatch, parse_synth_uri

CLIP = Path(__file__).resolve().parents[2] / "shared/data/real/badminton_bwf/train_00001.mp4"
ARMS = (
    "default",
    "search.detect_every=1",
    "search.motion.sweep_tiles_per_frame=1",
    "search.detect_every=1,search.motion.sweep_tiles_per_frame=1",
)


class VirtualQueue:
    """Which frames a live worker gets: frames arrive on time, the newest ``depth`` wait.

    Pure bookkeeping (no clock, no threads), the live frame queue's policy (``latest``):
    a frame arriving while ``depth`` frames already wait pushes the oldest out (dropped).

    Args:
        arrivals_s: each frame's arrival time, in order.
        depth: how many frames may wait (``stream.frame_queue_size``).
    """

    def __init__(self, arrivals_s: Sequence[float], depth: int) -> None:
        self._arrivals = list(arrivals_s)
        self._depth = depth
        self._waiting: deque[int] = deque()
        self._next = 0
        self.dropped: list[int] = []

    def take(self, now_s: float) -> tuple[int, float] | None:
        """The frame the worker, free at ``now_s``, takes next and when; None at the end."""
        self._admit(now_s)
        if not self._waiting:
            if self._next >= len(self._arrivals):
                return None
            now_s = self._arrivals[self._next]  # idle until the next frame arrives
            self._admit(now_s)
        return self._waiting.popleft(), now_s

    def _admit(self, now_s: float) -> None:
        while self._next < len(self._arrivals) and self._arrivals[self._next] <= now_s:
            self._waiting.append(self._next)
            self._next += 1
            if len(self._waiting) > self._depth:
                self.dropped.append(self._waiting.popleft())


FRAME_MS = 5.0  # decode, motion gate, tracker, outputs: a 720p frame on 2 cores
CROP_MS = 18.9  # the real model's INT8 twin, one 128 px crop, both cores (stop 25, AMX Xeon)


@dataclass(frozen=True, slots=True)
class CostModel:
    """How long the worker is busy with one frame, in milliseconds."""

    frame_ms: float = FRAME_MS
    crop_ms: float = CROP_MS

    def busy_ms(self, pixels: int, resolution: int) -> float:
        """``frame_ms`` plus ``crop_ms`` per ``resolution``-square crop's worth of pixels."""
        return self.frame_ms + self.crop_ms * pixels / (resolution * resolution)


class _MeteredSearch(BallSearch):
    """The product's search, keeping how many pixels the last frame gave the detector."""

    last_pixels = 0

    def step(
        self, frame: Frame, prediction: TrackerPrediction | None, seeds: Sequence[TrackPoint] = ()
    ) -> PerceptionStep:
        step = super().step(frame, prediction, seeds)
        self.last_pixels = step.pixels
        return step


@dataclass(frozen=True, slots=True)
class Clip:
    """A labelled clip in memory: frames, their truths, the first held-out frame."""

    frames: list[Frame]
    truths: list[BallTruth]
    held_out_from: int = 0
    kind: str = "file"  # the source kind the weights are chosen for ("synth", "file")


@dataclass(frozen=True, slots=True)
class SimArm:
    """One arm's simulated live run."""

    name: str
    processed: int
    frames: int
    report: EvalReport
    before: EvalReport
    held_out: EvalReport
    processed_recall: float
    e2e_p95_ms: float


def simulate(
    name: str, config: AppConfig, detector: Int8Detector, clip: Clip, cost: CostModel
) -> SimArm:
    """Run ``clip`` through the live perception path on the virtual clock and score it."""
    frames, truths, held_out_from = clip.frames, clip.truths, clip.held_out_from
    search = _MeteredSearch(detector, config.search)
    # on only where the arm turns it on (for_live turns it off otherwise); its colour
    # model's crops join the frame's cost like the search's
    rest_look = build_rest_look(config, detector, clip.kind)
    run = SearchAndTrack.build(detector, search, config.tracker, rest_look)
    queue = VirtualQueue([frame.pts_s for frame in frames], config.stream.frame_queue_size)
    collector = TrackCollector()
    latencies: list[float] = []
    now = 0.0
    while (taken := queue.take(now)) is not None:
        index, start = taken
        frame = frames[index]
        results = run.process(frame, 0)
        pixels = search.last_pixels + (rest_look.looked_px if rest_look is not None else 0)
        now = start + cost.busy_ms(pixels, detector.resolution) / 1000.0
        latencies.append((now - frame.pts_s) * 1000.0)
        for result in results:
            collector.write(None, result)
    for result in run.flush():
        collector.write(None, result)
    outputs = collector.outputs(len(frames))
    report, held = scored(outputs, truths, 0, held_out_from)
    before = evaluate_outputs(outputs[:held_out_from], truths[:held_out_from])
    return SimArm(
        name,
        len(collector.balls),
        len(frames),
        report,
        before,
        held,
        processed_recall(collector, truths),
        float(np.percentile(latencies, 95)) if latencies else 0.0,
    )


def clip_and_truths(clip: str) -> tuple[list[Frame], list[BallTruth], str]:
    """The clip's frames (in memory), their truths, and the source kind for the weights."""
    if clip.startswith("synth:"):
        match = SynthMatch(parse_synth_uri(clip))
        count = match.params.frames
        if count is None:
            raise SystemExit(f"{clip}: give the synthetic clip a length (frames=N)")
        frames, truths = [], []
        for index in range(count):
            image, truth = match.frame(index)
            frames.append(Frame(index, image, index / match.params.fps, 0))
            truths.append(truth)
        return frames, truths, "synth"
    video = Path(clip)
    frames = list(clip_frames(video, 0, None))
    height, width = frames[0].image.shape[:2]
    return frames, read_labels(video.with_suffix(".csv"), width, height), "file"


def arm_config(preset: str, arm: str, clip: str, artifact: Path | None = None) -> AppConfig:
    """The live config of one arm: the preset, the arm's ``field=value`` list, live rules.

    Settled as a live run on a CPU settles it (``stream.app.settle_config``), running the
    INT8 twin ``artifact`` (None: the one the run would take).
    """
    overrides: dict[str, Any] = {"source": clip, "stream.realtime": True}
    if artifact is not None:
        overrides["detector.int8_artifact"] = str(artifact)
    if arm != "default":
        for text in arm.split(","):
            key, value = parse_override(text)
            overrides[key] = value
    config = load_config(preset_path(preset), overrides)
    return settle_config(config, source_kind(config), "cpu")


def format_rows(arms: Sequence[SimArm]) -> str:
    """One row per arm."""
    lines = [
        f"{'arm':62} {'processed':>9} {'P':>6} {'R':>6} {'F1@4px':>7} {'trained':>7} "
        f"{'held-out':>8} {'R proc':>6} {'e2e p95':>8}"
    ]
    for arm in arms:
        share = f"{arm.processed}/{arm.frames}"
        lines.append(
            f"{arm.name:62} {share:>9} {arm.report.precision:6.3f} {arm.report.recall:6.3f} "
            f"{arm.report.f1:7.3f} {_f1(arm.before):>7} {_f1(arm.held_out):>8} "
            f"{arm.processed_recall:6.3f} "
            f"{arm.e2e_p95_ms:8.0f}"
        )
    return "\n".join(lines)


def _f1(report: EvalReport) -> str:
    return f"{report.f1:.3f}" if report.frames else "-"


def main(argv: Sequence[str] | None = None) -> int:
    """Simulate each arm on the same clip and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=str(CLIP), help="labelled .mp4 or synth:?...")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), help="'default' or a,b=c,...")
    parser.add_argument("--preset", default="live")
    parser.add_argument("--held-out-from", type=int, default=220)
    parser.add_argument("--frame-ms", type=float, default=FRAME_MS)
    parser.add_argument("--crop-ms", type=float, default=CROP_MS)
    parser.add_argument(
        "--int8-artifact",
        nargs="+",
        type=Path,
        help="INT8 QAT twins to compare, each over every arm (default: the shipped one)",
    )
    parser.add_argument(
        "--rows", type=Path, help="write each arm's per-frame results (CSV) to this folder"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.clip.startswith("synth:") and not Path(args.clip).is_file():
        print(f"skipped: {args.clip} is absent (the real footage lives in ../shared/data/real)")
        return 0
    frames, truths, kind = clip_and_truths(args.clip)
    artifacts = args.int8_artifact
    if not artifacts:
        weights = choose_weights(None, kind).path
        shipped = auto_int8_artifact(None, weights, is_live=True)
        if shipped is None:
            print(f"no INT8 QAT twin beside {weights}: make one with `ballwatch qat`")
            return 1
        artifacts = [shipped]
    cost = CostModel(args.frame_ms, args.crop_ms)
    held_out_from = args.held_out_from if kind == "file" else 0
    clip = Clip(frames, truths, held_out_from, kind)
    print(
        f"{args.clip}: {len(frames)} frames; INT8 twin {', '.join(str(a) for a in artifacts)}; "
        f"cost {cost.frame_ms} ms a frame + {cost.crop_ms} ms a 128 px crop; held out from "
        f"frame {held_out_from}"
    )
    arms = []
    for artifact in artifacts:
        for name in args.arms:
            config = arm_config(args.preset, name, args.clip, artifact)
            detector = Int8Detector.load(artifact, threshold=config.detector.threshold)
            label = name if len(artifacts) == 1 else f"{artifact.parent.name}/{name}"
            arms.append(simulate(label, config, detector, clip, cost))
            print(format_rows(arms[-1:]).splitlines()[-1], flush=True)
            if args.rows is not None:
                args.rows.mkdir(parents=True, exist_ok=True)
                file_name = re.sub(r"[^\w.-]+", "_", label)
                write_rows(arms[-1].report, args.rows / f"{file_name}.csv")
    print()
    print(format_rows(arms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

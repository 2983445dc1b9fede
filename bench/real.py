"""Real-footage scoreboard: every labelled real clip and image set through the whole path.

Clips run the search -> detector -> tracker path of ``ballwatch run``/``eval`` in replay (nothing
dropped; :func:`perception.evaluate.run_eval`, the replay preset's settings, FP32 on CPU) and are
scored at 4 px, with the ball-at-rest look that ``run``/``eval`` have on real footage
(``--no-rest-look`` to compare). Still images are found as ``ballwatch find`` finds them (a
full native-tile search in three views, :mod:`perception.still`, with the bundled still model
unless ``--still-weights``; ``--still-views 1 3`` scores one view and three side by side; with
the bundled patch verifier, each set also gets the verifier's answer from the same search, as
``find`` gives it, ``--verifier none`` to leave it out); a hit is a top-1 detection within 4 px
of the labelled box centre. Stills
that are one clip's frames (volleyball clip_four) are also run as a clip, in frame order. Also:
the static-lock check on the unlabelled 1080p tennis clip (the longest run of `seen` frames
within 3 px of each other, and the frames reported at rest) and synthetic seeds nobody trained
or tuned on (with the synthetic model, the default for ``synth:``).

    .venv/bin/python bench/real.py                        # everything (~700 stills at ~7 s each)
    .venv/bin/python bench/real.py --held-out-only        # the held-out rows only
    .venv/bin/python bench/real.py --only stills          # one part: clips, stills, static, synth
    .venv/bin/python bench/real.py --only clips --no-rest-look  # without the ball-at-rest look

The split is the one ``configs/train-real.yaml``'s data was built with (README, "The real
model"): badminton train_00001 frames 220-316, tennis_roboflow/test and volleyball clip_four
were never used in training.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.* when run as a script
from bench.stillness import longest_still_run
from configs.app_config import AppConfig, for_replay, load_config, preset_path
from perception.at_rest import RestLook
from perception.dataset import LabelledFrame, clip_images, frames_from_yolo
from perception.detector import Detector, Precision
from perception.evaluate import EvalReport, run_eval, split_at_rest
from perception.int8_detector import Int8Detector
from perception.labels import read_labels
from perception.precision import PrecisionPlan
from perception.real_data import unstretched_frame
from perception.rfdetr_detector import RfDetrDetector
from perception.search import BallSearch
from perception.search_and_track import tracker_for
from perception.still import VIEWS, StillFinder, Verification, choose_ball, with_verifier
from perception.verifier import PatchVerifier
from stream.app import build_rest_look
from stream.frame import BallTruth, Frame
from stream.synth import SynthMatch, parse_synth_uri

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
REAL_WEIGHTS = ROOT / "perception" / "models" / "ball-nano-real.safetensors"
SYNTH_WEIGHTS = ROOT / "perception" / "models" / "ball-nano-synth.safetensors"
STILL_WEIGHTS = ROOT / "perception" / "models" / "ball-nano-still.safetensors"
VERIFIER_PATH = ROOT / "perception" / "models" / "ball-verifier-still.safetensors"
# never used in training; 737373's misses were read to find the tracker's streak rules
# (README), so --synth-seeds with seeds nobody looked at gives the untuned figure
SYNTH_SEEDS = (515151, 626262, 737373)
PARTS = ("clips", "stills", "static", "synth")

# sport, name, video, labels, first frame, end frame (exclusive, None = to the end), held out
CLIPS = (
    ("badminton", "train_00001 f220-316", "badminton_bwf/train_00001", 220, None, True),
    ("badminton", "train_00001 f0-219", "badminton_bwf/train_00001", 0, 220, False),
    ("badminton", "train_00008", "badminton_bwf/train_00008", 0, None, False),
)
# sport, name, folder, stretched-from size, which groups, held out
STILLS = (
    ("tennis", "roboflow test", "tennis_roboflow/test", None, "", True),
    ("tennis", "roboflow valid", "tennis_roboflow/valid", None, "", False),
    ("volleyball", "clip_four", "volleyball_roboflow/*", (1280, 720), "clip_four", True),
    ("volleyball", "clips one-three", "volleyball_roboflow/*", (1280, 720), "-clip_four", False),
)


# stills that are one clip's frames (named <clip>_<frame>), also scored as a clip
SEQUENCES = (("volleyball", "clip_four", "volleyball_roboflow/*", (1280, 720), "clip_four", True),)


def detector_for(weights: Path, config: AppConfig, threads: int, device: str) -> RfDetrDetector:
    detector_config = config.detector.model_copy(
        update={"weights": str(weights), "threads": threads}
    )
    detector = RfDetrDetector.from_config(detector_config, bench_plan(device))
    detector.warm_up()
    return detector


def bench_plan(device: str) -> PrecisionPlan:
    """The product's precision per device: FP16 on CUDA, FP32 on CPU."""
    precision = Precision.FP16 if device == "cuda" else Precision.FP32
    return PrecisionPlan(device, precision, f"{device}: {precision} (bench)")


def clip_frames(video: Path, start: int, stop: int | None) -> Iterator[Frame]:
    """The clip's frames ``start..stop-1``, re-indexed from 0, 30 fps timestamps."""
    for index, image in enumerate(clip_images(video)):
        if index < start or (stop is not None and index >= stop):
            continue
        yield Frame(index - start, image, (index - start) / 30.0, time.monotonic_ns())


def score_clip(
    detector: Detector,
    config: AppConfig,
    video: Path,
    span: tuple[int, int | None],
    rest_look: RestLook | None,
) -> tuple[EvalReport, float]:
    start, stop = span
    truths = read_labels(video.with_suffix(".csv"), 1280, 720)
    truths = truths[start:stop]
    frames = list(clip_frames(video, start, stop))
    began = time.perf_counter()
    search, tracker = BallSearch(detector, config.search), tracker_for(detector, config.tracker)
    report = run_eval(frames, search, tracker, truths, 4.0, rest_look)
    return report, len(frames) / (time.perf_counter() - began)


def still_frames(
    root: Path, pattern: str, size: tuple[int, int] | None, groups: str
) -> list[LabelledFrame]:
    frames: list[LabelledFrame] = []
    for folder in sorted(root.glob(pattern)):
        if not (folder / "images").is_dir():
            continue
        for frame in frames_from_yolo(folder):
            keep = not groups or (
                groups[1:] not in frame.group if groups.startswith("-") else groups in frame.group
            )
            if keep:
                frames.append(unstretched_frame(frame, *size) if size else frame)
    return frames


def score_stills(
    detector: Detector,
    config: AppConfig,
    frames: list[LabelledFrame],
    views: int,
    verification: Verification | None,
) -> tuple[list[int], int, float]:
    """Hits without and with the verifier (top-1 within 4 px of a labelled centre), images
    with a ball, images per second; one search per picture serves both answers."""
    finder = StillFinder(detector, config.search, VIEWS[:views])
    arms = [None] if verification is None else [None, verification]
    hits = [0] * len(arms)
    with_ball = 0
    began = time.perf_counter()
    for still in frames:
        places = finder.places(still.image)
        if not still.balls:
            continue
        with_ball += 1
        for arm, check in enumerate(arms):
            ball = choose_ball(still.image, *places, check)
            if ball is not None:
                hits[arm] += any(np.hypot(ball.x - b.x, ball.y - b.y) <= 4.0 for b in still.balls)
    return hits, with_ball, len(frames) / (time.perf_counter() - began)


def score_sequence(
    detector: Detector,
    config: AppConfig,
    frames: list[LabelledFrame],
    rest_look: RestLook | None,
) -> tuple[EvalReport, float]:
    """A set of stills that are one clip's frames, as a clip: in frame order, 30 fps times.

    The volleyball export keeps 122 of clip_four's ~190 frames (the gaps are the frames
    without a labelled ball); the times keep the gaps, so the tracker sees them as drops.
    """
    ordered = sorted(frames, key=lambda frame: frame.frame_index)
    first = ordered[0].frame_index
    clip = [
        Frame(number, still.image, (still.frame_index - first) / 30.0, time.monotonic_ns())
        for number, still in enumerate(ordered)
    ]
    truths = [still.balls[0] if still.balls else BallTruth(is_visible=False) for still in ordered]
    began = time.perf_counter()
    search, tracker = BallSearch(detector, config.search), tracker_for(detector, config.tracker)
    report = run_eval(clip, search, tracker, truths, 4.0, rest_look)
    return report, len(clip) / (time.perf_counter() - began)


def static_lock(
    detector: Detector, config: AppConfig, root: Path, rest_look: RestLook | None
) -> tuple[int, int, int, int]:
    """On the unlabelled 1080p tennis clip: the longest static ``seen`` run, the frames
    ``seen``, the frames given a ball at rest, and the frames."""
    video = root / "tennis_atp" / "video_input3.mp4"
    frames = list(clip_frames(video, 0, None))
    search, tracker = BallSearch(detector, config.search), tracker_for(detector, config.tracker)
    report = run_eval(frames, search, tracker, rest_look=rest_look)
    rows = [(row.status.value, row.x, row.y) for row in report.rows]
    seen = sum(status == "seen" for status, _, _ in rows)
    at_rest = sum(status == "rest" for status, _, _ in rows)
    return longest_still_run(rows, 3.0), seen, at_rest, len(rows)


def score_synth(detector: Detector, config: AppConfig, seed: int) -> EvalReport:
    params = parse_synth_uri(f"synth:?seed={seed}&frames=150&width=1280&height=720&fps=30")
    match = SynthMatch(params)
    frames = []
    for index in range(150):
        image, truth = match.frame(index)
        frames.append(Frame(index, image, index / 30.0, 0, truth=truth))
    return run_eval(
        frames, BallSearch(detector, config.search), tracker_for(detector, config.tracker)
    )


def row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def rest_cells(report: EvalReport) -> tuple[str, str]:
    """Recall on the moving ball, and on the ball at rest with its frame count."""
    split = split_at_rest(report.rows)
    return f"{split.moving_recall:.3f}", f"{split.rest_recall:.3f} ({split.rest_frames})"


def clip_rows(
    detector: Detector,
    config: AppConfig,
    root: Path,
    rest_look: RestLook | None,
    *,
    held_out_only: bool,
) -> None:
    """Print one row per labelled clip (and per set of stills that is one clip's frames)."""
    for sport, name, stem, start, stop, held in CLIPS:
        if held_out_only and not held:
            continue
        video = root / f"{stem}.mp4"
        report, fps = score_clip(detector, config, video, (start, stop), rest_look)
        print(
            row(sport, name, report.frames, f"{report.precision:.3f}", f"{report.recall:.3f}",
                f"{report.f1:.3f}", *rest_cells(report), f"{report.median_error_px:.2f}",
                f"{fps:.1f}", "no (held out)" if held else "yes")
        )  # fmt: skip
        sys.stdout.flush()
    for sport, name, pattern, size, groups, held in SEQUENCES:
        if held_out_only and not held:
            continue
        frames = still_frames(root, pattern, size, groups)
        report, fps = score_sequence(detector, config, frames, rest_look)
        print(
            row(sport, f"{name} (frames in order)", report.frames, f"{report.precision:.3f}",
                f"{report.recall:.3f}", f"{report.f1:.3f}", *rest_cells(report),
                f"{report.median_error_px:.2f}", f"{fps:.1f}", "no (held out)" if held else "yes")
        )  # fmt: skip
        sys.stdout.flush()


def still_rows(args: argparse.Namespace, config: AppConfig, root: Path) -> None:
    """Print one row per set of stills, found as ``ballwatch find`` finds them.

    With a verifier (the bundled one unless ``--verifier``), each set gets two rows from one
    search: the search's surest place, and the verifier's answer (as ``find`` gives it).
    """
    # as `ballwatch find` chooses: the still model when it is there
    weights = args.still_weights if args.still_weights.is_file() else args.weights
    verification = None
    if args.verifier != "none" and Path(args.verifier).is_file():
        proposing, verification = with_verifier(
            config.detector, PatchVerifier.load(Path(args.verifier))
        )
        config = config.model_copy(update={"detector": proposing})
    print(f"stills: {weights.name} (float); verifier: {args.verifier if verification else 'none'}")
    detector = detector_for(weights, config, args.threads, args.device)
    for sport, name, pattern, size, groups, held in STILLS:
        if args.held_out_only and not held:
            continue
        frames = still_frames(root, pattern, size, groups)
        for views in args.still_views:  # side by side: the same pictures, one view or three
            hits, total, fps = score_stills(detector, config, frames, views, verification)
            for arm, found in enumerate(hits):
                how = f"{views} view{'s' * (views > 1)}{' + verifier' * arm}"
                recall = found / total if total else float("nan")
                print(
                    row(sport, f"{name} (stills, top-1, {how})", total, "-", f"{recall:.3f}",
                        "-", "-", "-", "-", f"{fps:.2f}", "no (held out)" if held else "yes")
                )  # fmt: skip
            sys.stdout.flush()


def parse_args() -> argparse.Namespace:
    """The bench's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, default=REAL_WEIGHTS)
    parser.add_argument("--synth-weights", type=Path, default=SYNTH_WEIGHTS)
    parser.add_argument(
        "--still-weights",
        type=Path,
        default=STILL_WEIGHTS,
        help="the model for the still pictures (default: the bundled still model)",
    )
    parser.add_argument(
        "--still-views",
        type=int,
        nargs="+",
        choices=(1, len(VIEWS)),
        default=[len(VIEWS)],
        help="score the stills searched in these numbers of views (as `ballwatch find --views`)",
    )
    parser.add_argument(
        "--verifier",
        default=str(VERIFIER_PATH),
        help="the stills' patch verifier (default: the bundled one; none: without)",
    )
    parser.add_argument("--config", default="replay")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--held-out-only", action="store_true")
    parser.add_argument(
        "--no-rest-look", action="store_true", help="without the ball-at-rest look (compare)"
    )
    parser.add_argument("--no-synth", action="store_true")
    parser.add_argument(
        "--synth-seeds",
        type=int,
        nargs="+",
        default=list(SYNTH_SEEDS),
        help="synthetic matches to score (150 frames at 1280x720 each)",
    )
    parser.add_argument("--root", type=Path, default=REAL, help="the real footage folder")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--int8-artifact",
        type=Path,
        default=None,
        help="score the real footage with this INT8 QAT twin of --weights instead (CPU)",
    )
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="run only these parts (repeatable; default: all)",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    parts = set(args.only or PARTS)
    root: Path = args.root
    logging.basicConfig(level=logging.WARNING)
    if not root.is_dir():
        print(f"skipped: {root} is absent (the real footage lives in ../shared/data/real)")
        return 0
    loaded = load_config(preset_path(args.config))
    # as `ballwatch run`/`eval` decide: a real video gets the motion gate in replay; stills
    # (no motion between unrelated pictures) and the synthetic match do not
    video = for_replay(loaded, is_real=True)
    config = for_replay(loaded)
    float_detector = detector_for(args.weights, config, args.threads, args.device)
    detector: Detector = float_detector
    shown = f"weights: {args.weights.name}"
    if args.int8_artifact is not None:  # the twin a live run on a CPU switches to
        detector = Int8Detector.load(
            args.int8_artifact, threshold=config.detector.threshold, threads=args.threads
        )
        shown = f"INT8 twin: {args.int8_artifact.name} (synth rows: float)"
    rest_look = None
    if not args.no_rest_look:  # as `run`/`eval` have it on real footage
        rest_config = video.model_copy(
            update={
                "rest_look": video.rest_look.model_copy(
                    update={"enabled": True, "weights": str(args.still_weights)}
                )
            }
        )
        rest_look = build_rest_look(rest_config, bench_plan(args.device), "file")
        shown += f"; ball-at-rest look: {'off' if rest_look is None else 'on'}"
    print(f"{shown}; preset {args.config}; {args.device}, {args.threads} threads")
    print(
        row("sport", "clip", "frames", "P", "R", "F1@4px", "R moving", "R at rest (frames)",
            "median px", "fps", "in training")
    )  # fmt: skip
    print(row(*["---"] * 11))
    if "clips" in parts:
        clip_rows(detector, video, root, rest_look, held_out_only=args.held_out_only)
    if "stills" in parts:
        still_rows(args, config, root)
    if "static" in parts:
        run, seen, at_rest, frames = static_lock(detector, video, root, rest_look)
        verdict = "ok" if run < 30 else "LOCKED on a static object"
        print(
            f"\ntennis_atp video_input3 ({frames} frames, unlabelled): seen {seen}, longest "
            f"static seen run {run} frames within 3 px ({verdict}; must stay < 30); "
            f"ball at rest on {at_rest} frames"
        )
    if "synth" in parts and not args.no_synth:
        synth_detector = detector_for(args.synth_weights, config, args.threads, args.device)
        for weights_name, det in (("synth model", synth_detector), ("real model", float_detector)):
            for seed in args.synth_seeds:
                report = score_synth(det, config, seed)
                print(f"synth seed {seed} ({weights_name}): P {report.precision:.3f} "
                      f"R {report.recall:.3f} F1 {report.f1:.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

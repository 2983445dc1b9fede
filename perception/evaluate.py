"""Scoring the tracker's per-frame output against ground truth by centre distance.

Counting (the tiny-ball convention, see FACTS.md): on a frame with a visible ball an
output within the tolerance is a true positive, an output farther away is both a false
positive and a false negative, no output is a false negative; an output on a frame
without a visible ball is a false positive.
"""

from __future__ import annotations

import csv
import logging
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from perception.at_rest import RestLook
from perception.result import BallState, FrameResult, TrackStatus
from perception.search import BallSearch
from perception.search_and_track import SearchAndTrack
from perception.tracker import BallTracker
from perception.tracker.dropped import DroppedFrames
from stream.errors import OutputError
from stream.frame import BallTruth, Frame

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCE_PX = 4.0


class Outcome(StrEnum):
    """How one frame counts."""

    HIT = "hit"  # TP
    FAR = "far"  # FP and FN: an output too far from the ball
    MISS = "miss"  # FN: a visible ball, no output
    FALSE_ALARM = "false_alarm"  # FP: an output, no visible ball
    EMPTY = "empty"  # TN: no ball, no output


@dataclass(frozen=True, slots=True)
class FrameScore:
    """One row of the per-frame results.

    Attributes:
        index: frame index.
        outcome: how the frame counts.
        status: the reported status (``seen``/``predicted``/``rest``/``lost``).
        x: output centre x in pixels (0 without output).
        y: output centre y in pixels.
        truth_x: labelled centre x (0 without a visible ball).
        truth_y: labelled centre y.
        error_px: centre distance, NaN unless both exist.
    """

    index: int
    outcome: Outcome
    status: TrackStatus
    x: float
    y: float
    truth_x: float
    truth_y: float
    error_px: float


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Scores of one run.

    Attributes:
        tolerance_px: centre-distance tolerance used.
        tp: outputs within tolerance of a visible ball.
        fp: outputs too far from the ball or on frames without one.
        fn: visible balls without an output within tolerance.
        frames: scored frames.
        visible_frames: scored frames with a visible ball.
        unlabelled_frames: outputs past the end of the labels (not scored).
        rows: per-frame results.
        mode_counts: frames per search mode (filled by :func:`run_eval`).
        mean_pixels: mean detector pixels per frame (filled by :func:`run_eval`).
    """

    tolerance_px: float
    tp: int
    fp: int
    fn: int
    frames: int
    visible_frames: int
    unlabelled_frames: int
    rows: tuple[FrameScore, ...]
    mode_counts: dict[str, int] = field(default_factory=dict)
    mean_pixels: float = 0.0

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1 when nothing was output."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """TP / visible frames; 1 when no ball was visible."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    @property
    def median_error_px(self) -> float:
        """Median centre error of outputs on frames with a visible ball (NaN if none)."""
        errors = [row.error_px for row in self.rows if not math.isnan(row.error_px)]
        return statistics.median(errors) if errors else math.nan


class TrackCollector:
    """An output that keeps each frame's ball (and truth) for scoring a run.

    Frames a live run dropped get the position :class:`DroppedFrames` bridges for them
    (the track CSV writes the same rows), kept apart from the processed frames so the
    processed count stays honest.

    Attributes:
        balls: the settled ball per processed frame index.
        bridged: the bridged ball per dropped frame index.
        truths: each processed frame's own ground truth (synthetic sources).
        frame_size: the last frame's ``(width, height)``, None before any.
    """

    def __init__(self) -> None:
        self.balls: dict[int, BallState] = {}
        self.bridged: dict[int, BallState] = {}
        self.truths: dict[int, BallTruth] = {}
        self.frame_size: tuple[int, int] | None = None
        self._dropped = DroppedFrames()

    def write(self, image: object, result: FrameResult) -> None:
        """Keep ``result``'s ball (the image is not used)."""
        del image
        frame = result.frame
        for gap in self._dropped.bridge(frame.index, frame.pts_s, result.ball):
            self.bridged[gap.index] = gap.ball
        self.balls[frame.index] = result.ball
        self.frame_size = (frame.width, frame.height)
        if frame.truth is not None:
            self.truths[frame.index] = frame.truth

    def close(self) -> None:
        """Nothing to release."""

    def outputs(self, count: int, *, with_bridged: bool = True) -> list[BallState | None]:
        """The ball per frame ``0..count-1``: processed, else bridged, else None (a miss).

        ``with_bridged=False`` leaves every dropped frame a miss (to show what bridging adds).
        """
        bridged = self.bridged if with_bridged else {}
        return [self.balls.get(index, bridged.get(index)) for index in range(count)]


REST_PX = 2.0  # a labelled ball this close to its labels on both neighbouring frames is at rest


@dataclass(frozen=True, slots=True)
class RestSplit:
    """Hits apart for a ball in play and a ball at rest (frames with a visible ball).

    Attributes:
        moving_hits: hits on frames where the labelled ball moves.
        moving_frames: frames where it moves.
        rest_hits: hits on frames where it is at rest.
        rest_frames: frames where it is at rest.
    """

    moving_hits: int
    moving_frames: int
    rest_hits: int
    rest_frames: int

    @property
    def moving_recall(self) -> float:
        """Hits / frames for the moving ball (NaN without such frames)."""
        return self.moving_hits / self.moving_frames if self.moving_frames else math.nan

    @property
    def rest_recall(self) -> float:
        """Hits / frames for the ball at rest (NaN without such frames)."""
        return self.rest_hits / self.rest_frames if self.rest_frames else math.nan


def split_at_rest(rows: Sequence[FrameScore], rest_px: float = REST_PX) -> RestSplit:
    """Recall for a ball in play and for a ball at rest, apart.

    A motion model cannot see a ball lying still (a shuttle on the floor after the
    rally: a third of the held-out badminton clip), so one recall hides whether the
    product follows the ball in play. A visible ball is at rest when the rows just
    before and after it that have a visible ball (at least one does) are each within
    ``rest_px`` of it.

    Args:
        rows: per-frame results in frame order (an :class:`EvalReport`'s rows).
        rest_px: the most a ball at rest moves between neighbouring rows, in pixels.
    """
    visible = [row.outcome in _VISIBLE for row in rows]
    counts = [0, 0, 0, 0]  # moving hits, moving frames, rest hits, rest frames
    for number, row in enumerate(rows):
        if not visible[number]:
            continue
        shown = [rows[o] for o in (number - 1, number + 1) if 0 <= o < len(rows) and visible[o]]
        at_rest = bool(shown) and all(
            math.hypot(other.truth_x - row.truth_x, other.truth_y - row.truth_y) <= rest_px
            for other in shown
        )
        base = 2 if at_rest else 0
        counts[base] += row.outcome is Outcome.HIT
        counts[base + 1] += 1
    return RestSplit(*counts)


_VISIBLE = frozenset({Outcome.HIT, Outcome.FAR, Outcome.MISS})


def score_frame(
    index: int, output: BallState | None, truth: BallTruth, tolerance_px: float
) -> FrameScore:
    """Score one frame (see the module docstring for the counting)."""
    has_output = output is not None and output.has_position
    status = output.status if output is not None else TrackStatus.LOST
    x = output.x if output is not None and has_output else 0.0
    y = output.y if output is not None and has_output else 0.0
    error = math.hypot(x - truth.x, y - truth.y) if has_output and truth.is_visible else math.nan
    if truth.is_visible:
        if not has_output:
            outcome = Outcome.MISS
        else:
            outcome = Outcome.HIT if error <= tolerance_px else Outcome.FAR
    else:
        outcome = Outcome.FALSE_ALARM if has_output else Outcome.EMPTY
    return FrameScore(index, outcome, status, x, y, truth.x, truth.y, error)


def evaluate_outputs(
    outputs: Sequence[BallState | None],
    truths: Sequence[BallTruth],
    tolerance_px: float = DEFAULT_TOLERANCE_PX,
) -> EvalReport:
    """Score per-frame outputs against per-frame truths (both indexed by frame).

    Frames past the end of ``outputs`` have no output (a visible ball there is a
    miss); outputs past the end of ``truths`` are not scored and are counted in
    ``unlabelled_frames``.

    Args:
        outputs: the tracker's state per frame (``None`` = nothing output).
        truths: the ground truth per frame.
        tolerance_px: centre-distance tolerance in native pixels.

    Returns:
        The report with counts and per-frame rows.

    Raises:
        ValueError: a non-positive tolerance.
    """
    if tolerance_px <= 0:
        msg = f"tolerance must be > 0 px, but got {tolerance_px}"
        raise ValueError(msg)
    rows = tuple(
        score_frame(index, outputs[index] if index < len(outputs) else None, truth, tolerance_px)
        for index, truth in enumerate(truths)
    )
    counts = Counter(row.outcome for row in rows)
    unlabelled = max(len(outputs) - len(truths), 0)
    if unlabelled:
        logger.warning("%d frames past the end of the labels were not scored", unlabelled)
    return EvalReport(
        tolerance_px=tolerance_px,
        tp=counts[Outcome.HIT],
        fp=counts[Outcome.FAR] + counts[Outcome.FALSE_ALARM],
        fn=counts[Outcome.FAR] + counts[Outcome.MISS],
        frames=len(rows),
        visible_frames=sum(1 for truth in truths if truth.is_visible),
        unlabelled_frames=unlabelled,
        rows=rows,
    )


def format_report(report: EvalReport) -> str:
    """The scores as a few lines of text, tolerance first."""
    lines = [
        f"tolerance: {report.tolerance_px:g} px (centre distance, native pixels)",
        f"frames: {report.frames} scored, {report.visible_frames} with a visible ball"
        + (f", {report.unlabelled_frames} unlabelled" if report.unlabelled_frames else ""),
        f"TP {report.tp}  FP {report.fp}  FN {report.fn}",
        f"precision {report.precision:.3f}  recall {report.recall:.3f}  F1 {report.f1:.3f}",
        f"median error {report.median_error_px:.2f} px",
    ]
    if report.mode_counts:
        modes = "  ".join(f"{mode} {count}" for mode, count in sorted(report.mode_counts.items()))
        lines.append(f"modes: {modes}  mean detector pixels/frame {report.mean_pixels:,.0f}")
    return "\n".join(lines)


def write_rows(report: EvalReport, path: Path) -> None:
    """Write the per-frame results as CSV.

    Raises:
        OutputError: the file cannot be written.
    """
    header = ["frame", "outcome", "status", "x", "y", "truth_x", "truth_y", "error_px"]
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in report.rows:
                error = "" if math.isnan(row.error_px) else f"{row.error_px:.2f}"
                writer.writerow(
                    [
                        row.index,
                        row.outcome.value,
                        row.status.value,
                        f"{row.x:.2f}",
                        f"{row.y:.2f}",
                        f"{row.truth_x:.2f}",
                        f"{row.truth_y:.2f}",
                        error,
                    ]
                )
    except OSError as exc:
        msg = f"cannot write per-frame results to {path}: {exc.strerror or exc}"
        raise OutputError(msg) from exc


def run_eval(
    frames: Iterable[Frame],
    search: BallSearch,
    tracker: BallTracker,
    truths: Sequence[BallTruth] | None = None,
    tolerance_px: float = DEFAULT_TOLERANCE_PX,
    rest_look: RestLook | None = None,
) -> EvalReport:
    """Run the search → detector → tracker path of ``run`` in this thread, and score it.

    The path is :class:`SearchAndTrack` itself (the perception worker's), so what is
    scored is what ``run`` does, static-clutter check included.

    The tracker reports with its configured lag (``tracker.lag_frames``), as ``run`` does.

    Args:
        frames: the clip's frames in order (no queue, nothing dropped).
        search: decides where the detector looks and maps boxes back.
        tracker: a fresh tracker (reported through its fixed lag).
        truths: labels per frame index; ``None`` takes each frame's own ``truth``
            (synthetic sources), a frame without one counting as no visible ball.
        tolerance_px: centre-distance tolerance in native pixels.
        rest_look: the look for a ball at rest, as ``run`` has on real footage (reset
            here: a new clip).

    Returns:
        The report, with the frames per search mode and the mean detector pixels.
    """
    if rest_look is not None:
        rest_look.reset()
    perception = SearchAndTrack(search, tracker, search.detector, rest_look)  # run's path
    states: dict[int, BallState] = {}
    own_truths: dict[int, BallTruth] = {}
    modes: Counter[str] = Counter()
    pixels = 0

    def settle(results: list[FrameResult]) -> None:
        nonlocal pixels
        for result in results:  # every frame is settled once, lag_frames later
            states[result.frame.index] = result.ball
            modes[result.step.mode.value] += 1
            pixels += result.step.pixels

    for frame in frames:
        own_truths[frame.index] = frame.truth or BallTruth(is_visible=False)
        settle(perception.process(frame, 0))
    settle(perception.flush())
    count = max(states, default=-1) + 1
    outputs = [states.get(index) for index in range(count)]
    if truths is None:
        invisible = BallTruth(is_visible=False)
        truths = [own_truths.get(index, invisible) for index in range(count)]
    report = evaluate_outputs(outputs, truths, tolerance_px)
    processed = sum(modes.values())
    return replace(
        report,
        mode_counts=dict(modes),
        mean_pixels=pixels / processed if processed else 0.0,
    )

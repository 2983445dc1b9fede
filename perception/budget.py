"""The latency budget and the INT8 decision: does the float model meet it, and would INT8 QAT?

The rule, over the last ``window_frames`` frames of the precision being judged:

1. every configured check within budget -> the current precision meets it;
2. else, running a float precision, every check within budget once the expected
   INT8 QAT speed-up is applied to the detector -> switch INT8 QAT on;
3. else -> INT8 would not be enough (also when INT8 is already on and misses).

Checks: the detector's percentile (ms), the end-to-end percentile (ms) and, for a
``target_fps``, the mean write interval (ms per frame). INT8 only speeds up the
detector, so the end-to-end and interval projections subtract only the detector
time saved per frame; the queue wait a faster detector would also save is not
counted, which makes the projection conservative for live runs.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from configs.app_config import BudgetConfig
from perception.detector import Precision
from stream.latency import LatencyRecord
from stream.latency_summary import LatencyStage, percentile_ms, stage_values

logger = logging.getLogger(__name__)

# FACTS.md: BF16 autocast ran RF-DETR Nano 1.6x faster than FP32 on an AMX CPU, so an
# INT8 speed-up measured against FP32 is worth that much less against BF16.
_BF16_CPU_SPEEDUP = 1.6


class Verdict(StrEnum):
    """What the latency log says about precision."""

    FLOAT_MEETS_BUDGET = "float meets budget"
    INT8_MEETS_BUDGET = "INT8 QAT meets budget"
    SWITCH_INT8_QAT = "switch INT8 QAT on"
    INT8_NOT_ENOUGH = "INT8 would not be enough"
    NOT_ENOUGH_DATA = "not enough data"


class Metric(StrEnum):
    """What a budget check measures."""

    DETECTOR = "detector"
    END_TO_END = "end-to-end"
    THROUGHPUT = "throughput"


@dataclass(frozen=True, slots=True)
class BudgetRule:
    """A latency budget: at least one of ``detector_ms``, ``end_to_end_ms``, ``target_fps``.

    ``target_fps`` gives a per-frame budget of ``1000 / target_fps`` ms that
    applies to the detector (the tighter of it and ``detector_ms``) and to the
    throughput (mean interval between written frames).
    """

    detector_ms: float | None = None
    end_to_end_ms: float | None = None
    target_fps: float | None = None
    window_frames: int = 100
    percentile: float = 95.0
    int8_speedup: float = 1.7

    def __post_init__(self) -> None:
        budgets = {"detector_ms": self.detector_ms, "end_to_end_ms": self.end_to_end_ms}
        budgets["target_fps"] = self.target_fps
        if all(value is None for value in budgets.values()):
            msg = "a budget rule needs detector_ms, end_to_end_ms or target_fps, but got none"
            raise ValueError(msg)
        for name, value in budgets.items():
            if value is not None and value <= 0:
                msg = f"budget {name} must be > 0, but got {value}"
                raise ValueError(msg)
        if self.window_frames < 1:
            msg = f"budget window_frames must be >= 1, but got {self.window_frames}"
            raise ValueError(msg)
        if not 0 < self.percentile <= 100:
            msg = f"budget percentile must be in (0, 100], but got {self.percentile}"
            raise ValueError(msg)
        if self.int8_speedup < 1:
            msg = f"budget int8_speedup must be >= 1, but got {self.int8_speedup}"
            raise ValueError(msg)

    @classmethod
    def from_config(cls, config: BudgetConfig) -> BudgetRule | None:
        """The rule of a ``budget`` config section; None when it sets no budget."""
        budgets = (config.detector_ms, config.end_to_end_ms, config.target_fps)
        if all(budget is None for budget in budgets):
            return None
        return cls(
            detector_ms=config.detector_ms,
            end_to_end_ms=config.end_to_end_ms,
            target_fps=config.target_fps,
            window_frames=config.window_frames,
            percentile=config.percentile,
            int8_speedup=config.int8_speedup,
        )

    @property
    def frame_budget_ms(self) -> float | None:
        """``1000 / target_fps``, the time one frame may take; None without a target fps."""
        return None if self.target_fps is None else 1000.0 / self.target_fps

    @property
    def detector_budget_ms(self) -> float | None:
        """The detector's budget: the tighter of ``detector_ms`` and the frame budget."""
        budgets = [b for b in (self.detector_ms, self.frame_budget_ms) if b is not None]
        return min(budgets) if budgets else None

    @property
    def frames_needed(self) -> int:
        """Frames a decision needs: the window (at least 2 to measure a frame interval)."""
        return max(self.window_frames, 2) if self.target_fps is not None else self.window_frames

    def expected_speedup(self, device: str, precision: Precision) -> float:
        """The INT8 QAT speed-up over ``precision`` expected on ``device``.

        ``int8_speedup`` is measured against FP32 on CPU (FACTS.md). Off the CPU
        it is taken as 1: the INT8 runtime is onnxruntime CPU, and published
        RF-DETR INT8 on GPUs ran at 0.87-1.2x of FP16.
        """
        if device.split(":", maxsplit=1)[0] != "cpu" or precision is Precision.INT8:
            return 1.0
        if precision is Precision.BF16:
            return max(1.0, self.int8_speedup / _BF16_CPU_SPEEDUP)
        return self.int8_speedup

    def describe(self) -> str:
        """The rule in one line."""
        statistic = f"p{self.percentile:g}"
        parts = []
        detector_budget = self.detector_budget_ms
        if detector_budget is not None:
            parts.append(f"detector {statistic} <= {detector_budget:.1f} ms")
        if self.target_fps is not None:
            parts.append(f"throughput >= {self.target_fps:g} fps")
        if self.end_to_end_ms is not None:
            parts.append(f"end-to-end {statistic} <= {self.end_to_end_ms:.1f} ms")
        return (
            f"{' and '.join(parts)} over the last {self.frames_needed} frames, "
            f"INT8 QAT expected {self.int8_speedup:g}x vs FP32 on CPU"
        )


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """One measured figure against its budget, in ms (per frame for the throughput)."""

    metric: Metric
    statistic: str
    measured_ms: float
    budget_ms: float
    int8_ms: float

    @property
    def meets(self) -> bool:
        """Whether the measured figure is within budget."""
        return self.measured_ms <= self.budget_ms

    @property
    def int8_meets(self) -> bool:
        """Whether the figure expected with INT8 QAT is within budget."""
        return self.int8_ms <= self.budget_ms

    @property
    def needed_speedup(self) -> float:
        """How many times faster this figure must get to meet the budget."""
        return self.measured_ms / self.budget_ms

    def describe(self) -> str:
        """``detector p95 70.0 ms > 50.0 ms (INT8 ~41.2 ms)`` and the like."""
        if self.metric is Metric.THROUGHPUT:
            text = (
                f"throughput {1000 / self.measured_ms:.1f} fps ({self.measured_ms:.1f} ms/frame) "
                f"{'>=' if self.meets else '<'} {1000 / self.budget_ms:.1f} fps"
            )
            int8 = f"{1000 / self.int8_ms:.1f} fps" if self.int8_ms > 0 else "unbounded"
        else:
            text = (
                f"{self.metric} {self.statistic} {self.measured_ms:.1f} ms "
                f"{'<=' if self.meets else '>'} {self.budget_ms:.1f} ms"
            )
            int8 = f"{self.int8_ms:.1f} ms"
        return text if self.meets else f"{text} (INT8 ~{int8})"


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict with the numbers, device, precision and rule that decided it.

    Attributes:
        verdict: what to do.
        device: where the detector ran (``cpu``, ``cuda``).
        precision: the precision judged (only its frames count).
        rule: the rule, in words.
        window_frames: frames the rule looks at.
        frames: frames of ``precision`` that were available.
        checks: each measured figure against its budget (empty without enough data).
        int8_speedup: the INT8 QAT speed-up assumed over ``precision`` on ``device``.
        advice: what would help when even INT8 is not enough.
    """

    verdict: Verdict
    device: str
    precision: Precision
    rule: str
    window_frames: int
    frames: int
    checks: tuple[BudgetCheck, ...] = ()
    int8_speedup: float = 1.0
    advice: tuple[str, ...] = ()

    @property
    def deciding(self) -> BudgetCheck | None:
        """The check furthest over (or least under) its budget."""
        return max(self.checks, key=lambda check: check.needed_speedup, default=None)

    def explain(self) -> str:
        """The decision in one line, with its numbers."""
        where = f"{self.device} {self.precision}"
        used = min(self.frames, self.window_frames)
        if self.verdict is Verdict.NOT_ENOUGH_DATA:
            why = (
                f"{self.frames} {self.precision} frames, the window needs {self.window_frames}"
                if self.frames < self.window_frames
                else f"the detector ran on none of the last {used} frames"
            )
            return f"{self.verdict}: {why} on {where} (rule: {self.rule})"
        text = f"{self.verdict}: {'; '.join(check.describe() for check in self.checks)}"
        text += f"; last {used} of {self.frames} frames on {where}"
        deciding = self.deciding
        if self.verdict is Verdict.SWITCH_INT8_QAT:
            text += f"; INT8 QAT expected {self.int8_speedup:.2f}x meets it"
        elif self.verdict is Verdict.INT8_NOT_ENOUGH and deciding is not None:
            text += (
                f"; needs {deciding.needed_speedup:.2f}x, INT8 QAT gives "
                f"~{self.int8_speedup:.2f}x; try {', '.join(self.advice)}"
            )
        return f"{text} (rule: {self.rule})"


def _throughput_check(
    window: Sequence[LatencyRecord], budget_ms: float, saving: float
) -> BudgetCheck:
    written = [record.written_ns for record in window]
    interval_ms = (max(written) - min(written)) / (len(window) - 1) / 1e6
    detector_per_frame_ms = float(stage_values(window, LatencyStage.INFERENCE).sum()) / len(window)
    int8_ms = max(interval_ms - detector_per_frame_ms * saving, 0.0)
    return BudgetCheck(Metric.THROUGHPUT, "mean interval", interval_ms, budget_ms, int8_ms)


def _checks(
    window: Sequence[LatencyRecord], rule: BudgetRule, speedup: float
) -> tuple[BudgetCheck, ...] | None:
    statistic = f"p{rule.percentile:g}"
    saving = 1.0 - 1.0 / speedup
    checks = []
    detector_budget = rule.detector_budget_ms
    if detector_budget is not None:
        detector = stage_values(window, LatencyStage.INFERENCE)
        if detector.size == 0:
            return None
        measured = percentile_ms(detector, rule.percentile)
        int8 = percentile_ms(detector / speedup, rule.percentile)
        checks.append(BudgetCheck(Metric.DETECTOR, statistic, measured, detector_budget, int8))
    if rule.frame_budget_ms is not None:
        checks.append(_throughput_check(window, rule.frame_budget_ms, saving))
    if rule.end_to_end_ms is not None:
        end_to_end = stage_values(window, LatencyStage.END_TO_END)
        # inference_ms is 0 on frames the detector skipped: nothing saved there.
        detector_ms = np.array([record.inference_ms for record in window])
        measured = percentile_ms(end_to_end, rule.percentile)
        int8 = percentile_ms(end_to_end - detector_ms * saving, rule.percentile)
        checks.append(BudgetCheck(Metric.END_TO_END, statistic, measured, rule.end_to_end_ms, int8))
    return tuple(checks)


def _advice(device: str) -> tuple[str, ...]:
    gpu = "a GPU (CUDA FP16)" if device.split(":", maxsplit=1)[0] == "cpu" else "a faster GPU"
    return (
        "smaller crops or fewer tiles per frame (search.crop_sizes, search.live_tiles_per_frame)",
        "fewer decoder queries (a model trained with fewer)",
        gpu,
    )


def _verdict(checks: Sequence[BudgetCheck], precision: Precision) -> Verdict:
    is_int8 = precision is Precision.INT8
    if all(check.meets for check in checks):
        return Verdict.INT8_MEETS_BUDGET if is_int8 else Verdict.FLOAT_MEETS_BUDGET
    if not is_int8 and all(check.int8_meets for check in checks):
        return Verdict.SWITCH_INT8_QAT
    return Verdict.INT8_NOT_ENOUGH


def decide(
    records: Sequence[LatencyRecord], rule: BudgetRule, device: str, precision: Precision
) -> Decision:
    """Judge ``precision`` on ``device`` from the last ``rule.window_frames`` of its frames.

    Only records that ran in ``precision`` count, so a log that switched to INT8
    mid-run is judged on its INT8 frames when asked about INT8.
    """
    matching = [record for record in records if record.precision == precision]
    speedup = rule.expected_speedup(device, precision)
    decision = Decision(
        verdict=Verdict.NOT_ENOUGH_DATA,
        device=device,
        precision=precision,
        rule=rule.describe(),
        window_frames=rule.frames_needed,
        frames=len(matching),
        int8_speedup=speedup,
    )
    if len(matching) < rule.frames_needed:
        return decision
    checks = _checks(matching[-rule.frames_needed :], rule, speedup)
    if checks is None:
        return decision
    verdict = _verdict(checks, precision)
    advice = _advice(device) if verdict is Verdict.INT8_NOT_ENOUGH else ()
    return Decision(
        verdict=verdict,
        device=device,
        precision=precision,
        rule=decision.rule,
        window_frames=decision.window_frames,
        frames=decision.frames,
        checks=checks,
        int8_speedup=speedup,
        advice=advice,
    )


class RollingBudgetCheck:
    """The budget check during a run, fed one record at a time.

    Keeps the last ``rule.frames_needed`` records of the current precision in a
    bounded deque; a change of precision (the INT8 switch) starts a new window.
    Returns a decision when the window first fills, then every ``every_frames``
    frames; a decision costs O(window), so with ``every_frames`` = window the
    per-frame cost is O(1) amortised. ``switch INT8 QAT on`` is returned at most
    once per check; later ones are withheld (None).

    Called only from the perception thread; not thread-safe.
    """

    def __init__(self, rule: BudgetRule, device: str, every_frames: int | None = None) -> None:
        if every_frames is not None and every_frames < 1:
            msg = f"every_frames must be >= 1, but got {every_frames}"
            raise ValueError(msg)
        self._rule = rule
        self._device = device
        self._every_frames = every_frames or rule.window_frames
        self._window: deque[LatencyRecord] = deque(maxlen=rule.frames_needed)
        self._precision: str | None = None
        self._since_decision = 0
        self._has_decided = False
        self._has_switched = False

    @property
    def frames_in_window(self) -> int:
        """Records held now (never more than the window)."""
        return len(self._window)

    def update(self, record: LatencyRecord) -> Decision | None:
        """Add one frame's record; a decision when one is due, else None."""
        if record.precision != self._precision:
            self._window.clear()
            self._precision = record.precision
            self._has_decided = False
        self._window.append(record)
        self._since_decision += 1
        if len(self._window) < self._rule.frames_needed:
            return None
        if self._has_decided and self._since_decision < self._every_frames:
            return None
        self._has_decided = True
        self._since_decision = 0
        decision = decide(self._window, self._rule, self._device, Precision(record.precision))
        if decision.verdict is Verdict.SWITCH_INT8_QAT:
            if self._has_switched:
                return None
            self._has_switched = True
        logger.debug("budget check: %s", decision.explain())
        return decision

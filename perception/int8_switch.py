"""The run-time INT8 switch: the budget check fed by the latency log, and the detector swap.

:class:`Int8Switch` is a :class:`~stream.latency.LatencyLog`: put it in the run's log tee
and it sees every frame's :class:`~stream.latency.LatencyRecord` (written by the render
thread). It feeds them to :class:`~perception.budget.RollingBudgetCheck`, logs each decision
as ``RunEvent("decision", ...)`` and, when the decision is ``switch INT8 QAT on`` and an
INT8 QAT detector was loaded at start, asks the perception worker to swap detectors
(:meth:`SearchAndTrack.request_swap`). The swap happens at the start of the next frame's
``process()``: no frame is skipped or dropped for it, and the INT8 model is already loaded
and warmed up, so the first INT8 frame costs what the others do. Once enough INT8 frames
have run, ``RunEvent("switch", ...)`` records the detector latency before and after.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from configs.app_config import BudgetConfig, DetectorConfig, Int8Config
from perception.budget import BudgetRule, Decision, RollingBudgetCheck, Verdict, decide
from perception.detector import Detector, Precision
from perception.errors import DetectorLoadError
from perception.frame_input import frame_input_of
from perception.int8_cache import (
    Int8Builder,
    cache_dir,
    cached_artifact,
    ensure_int8_artifact,
    is_complete,
)
from perception.options import QatSettings
from stream.latency import LatencyLog, LatencyRecord, LogEntry, RunEvent

logger = logging.getLogger(__name__)

Clock = Callable[[], int]


class DetectorSwapTarget(Protocol):
    """The perception object that runs the detector and can take another one between frames."""

    def request_swap(self, detector: Detector) -> None:
        """Run ``detector`` from the next frame on. Thread-safe; returns at once."""
        ...


@dataclass(frozen=True, slots=True)
class LatencyFigures:
    """Detector milliseconds per frame over some frames (frames where the detector ran)."""

    frames: int
    median_ms: float
    p95_ms: float

    @classmethod
    def of(cls, values_ms: list[float]) -> LatencyFigures:
        """Figures of ``values_ms`` (zeros when empty)."""
        if not values_ms:
            return cls(0, 0.0, 0.0)
        array = np.asarray(values_ms)
        return cls(len(values_ms), float(np.median(array)), float(np.percentile(array, 95)))


class Int8Switch:
    """Budget check during a run, and the switch to INT8 QAT when it says so.

    Thread-safe: ``write`` may be called from any thread (the render thread in practice).
    Events go to ``events``, which must not be a log that contains this switch.
    """

    def __init__(  # noqa: PLR0913 - collaborators injected once, at the composition root
        self,
        rule: BudgetRule,
        float_detector: Detector,
        events: LatencyLog,
        *,
        int8_detector: Detector | None = None,
        target: DetectorSwapTarget | None = None,
        clock: Clock = time.monotonic_ns,
        after_frames: int = 30,
        builder: Int8Builder | None = None,
    ) -> None:
        """Watch a run of ``float_detector``; switch to ``int8_detector`` on ``target``.

        Without ``int8_detector`` the ``builder`` (if any) makes it in the background the
        first time the budget says switch, and the swap follows when it is ready. Without
        either, or without ``target``, the switch only logs its decisions.

        Raises:
            ValueError: the two detectors run at different resolutions.
        """
        if int8_detector is not None and int8_detector.resolution != float_detector.resolution:
            msg = (
                f"the INT8 model runs at {int8_detector.resolution} px but the float model at "
                f"{float_detector.resolution} px; make the INT8 model from the same checkpoint"
            )
            raise ValueError(msg)
        self._rule = rule
        self._device = float_detector.device
        self._check = RollingBudgetCheck(rule, float_detector.device)
        self._events = events
        self._int8 = int8_detector if target is not None else None
        self._target = target
        self._builder = builder if target is not None else None
        self._resolution = float_detector.resolution
        self._clock = clock
        self._after_frames = after_frames
        self._lock = threading.Lock()
        self._records: deque[LatencyRecord] = deque(maxlen=rule.frames_needed)
        self._before_ms: deque[float] = deque(maxlen=rule.frames_needed)
        self._after_ms: list[float] = []
        self._switch_frame: int | None = None
        self._requested_from: str | None = None
        self._has_reported = False
        self.decisions: list[Decision] = []

    @property
    def can_switch(self) -> bool:
        """Whether an INT8 QAT detector is loaded and a worker can take it."""
        return self._int8 is not None or self._builder is not None

    @property
    def has_switched(self) -> bool:
        """Whether frames have run on the INT8 detector."""
        with self._lock:
            return self._switch_frame is not None

    def write(self, entry: LogEntry) -> None:
        """Take one log entry; frame records drive the check (other entries are ignored)."""
        if not isinstance(entry, LatencyRecord):
            return
        with self._lock:
            events = self._update(entry)
        for event in events:
            self._events.write(event)

    def close(self) -> None:
        """Log the switch figures if not yet logged, and the final decision on the last window."""
        with self._lock:
            events = [] if self._has_reported else self._switch_report()
            final = self._final_decision()
        if final is not None:
            events.append(self._decision_event(final, is_final=True))
        for event in events:
            self._events.write(event)

    def _update(self, record: LatencyRecord) -> list[RunEvent]:
        events: list[RunEvent] = []
        self._records.append(record)
        if record.precision == Precision.INT8 and self._requested_from is not None:
            if self._switch_frame is None:
                self._switch_frame = record.frame_index
            if record.inference_ms > 0 and not self._has_reported:
                self._after_ms.append(record.inference_ms)
                if len(self._after_ms) >= self._after_frames:
                    events.extend(self._switch_report())
        elif record.inference_ms > 0:
            self._before_ms.append(record.inference_ms)
        decision = self._check.update(record)
        if decision is None:
            return events
        self.decisions.append(decision)
        events.append(self._decision_event(decision, is_final=False))
        logger.info("budget: %s", decision.explain())
        if decision.verdict is Verdict.SWITCH_INT8_QAT and self._requested_from is None:
            events.extend(self._request(record))
        return events

    def _request(self, record: LatencyRecord) -> list[RunEvent]:
        if self._int8 is None and self._builder is not None:
            self._requested_from = record.precision
            self._builder.start(self._built)
            logger.warning(
                "the budget says INT8: making the QAT model of %s in the background "
                "(float until it is ready)",
                self._builder.weights.name,
            )
            details = {"weights": str(self._builder.weights), "after_frame": record.frame_index}
            return [RunEvent("int8_build", self._clock(), details)]
        if self._int8 is None or self._target is None:
            logger.warning(
                "the budget says switch INT8 QAT on, but no INT8 QAT model is configured for "
                "the run (set int8.auto_switch and detector.int8_artifact)"
            )
            return []
        self._target.request_swap(self._int8)
        self._requested_from = record.precision
        logger.warning("switching the detector to INT8 QAT after frame %d", record.frame_index)
        details = {
            "from": record.precision,
            "to": str(Precision.INT8),
            "after_frame": record.frame_index,
        }
        return [RunEvent("switch_requested", self._clock(), details)]

    def _built(self, detector: Detector) -> None:
        """The builder thread's INT8 detector is ready: swap it in (any thread)."""
        if detector.resolution != self._resolution or self._target is None:
            logger.error(
                "the INT8 QAT model runs at %d px, not %d px: staying in float",
                detector.resolution,
                self._resolution,
            )
            return
        with self._lock:
            self._int8 = detector
        self._target.request_swap(detector)
        logger.warning("switching the detector to INT8 QAT (built for this run)")
        self._events.write(RunEvent("switch_requested", self._clock(), {"to": "int8"}))

    def _switch_report(self) -> list[RunEvent]:
        if self._switch_frame is None:
            return []
        self._has_reported = True
        before = LatencyFigures.of(list(self._before_ms))
        after = LatencyFigures.of(self._after_ms)
        speedup = before.median_ms / after.median_ms if after.median_ms > 0 else None
        details: dict[str, Any] = {
            "from": self._requested_from,
            "to": str(Precision.INT8),
            "at_frame": self._switch_frame,
            "before_detector_ms": {
                "frames": before.frames,
                "p50": before.median_ms,
                "p95": before.p95_ms,
            },
            "after_detector_ms": {
                "frames": after.frames,
                "p50": after.median_ms,
                "p95": after.p95_ms,
            },
            "speedup": speedup,
        }
        logger.info(
            "INT8 switch at frame %d: detector p50 %.1f -> %.1f ms",
            self._switch_frame,
            before.median_ms,
            after.median_ms,
        )
        return [RunEvent("switch", self._clock(), details)]

    def _final_decision(self) -> Decision | None:
        if not self._records:
            return None
        precision = Precision(self._records[-1].precision)
        decision = decide(list(self._records), self._rule, self._device, precision)
        return None if decision.verdict is Verdict.NOT_ENOUGH_DATA else decision

    def _decision_event(self, decision: Decision, *, is_final: bool) -> RunEvent:
        details = {"text": decision.explain(), "verdict": str(decision.verdict), "final": is_final}
        return RunEvent("decision", self._clock(), details)


def load_int8_detector(
    detector: DetectorConfig,
    int8: Int8Config,
    float_detector: Detector,
    weights: Path | None = None,
) -> Detector | None:
    """The INT8 QAT detector to switch to, loaded and warmed up now (before any frame).

    The artifact is ``detector.int8_artifact``, else (``int8.auto_build``, on CPU) the
    cached one of ``weights`` if an earlier run made it. None when ``int8.auto_switch`` is
    off, the float detector already runs INT8, or there is no artifact yet (a warning
    says how to make one, unless :func:`build_int8_builder` will make it when needed).

    Raises:
        PrecisionError: the artifact is not a QAT model (float checkpoint, PTQ, no sidecar).
        DetectorLoadError: the artifact cannot be run or does not match the float model.
    """
    if not int8.auto_switch or float_detector.precision is Precision.INT8:
        return None
    artifact = detector.int8_artifact
    if artifact is None and _can_build(int8, float_detector, weights) and weights is not None:
        cached = cached_artifact(weights, cache_dir())
        if not is_complete(cached):
            return None  # made by the builder the first time the budget asks for INT8
        artifact = str(cached)
    if artifact is None:
        logger.warning(
            "int8.auto_switch is on but detector.int8_artifact is not set: the budget check "
            "will only advise; make an artifact with `ballwatch qat`"
        )
        return None
    from perception.int8_detector import Int8Detector  # noqa: PLC0415 - onnxruntime is heavy

    loaded = Int8Detector.load(
        Path(artifact), threshold=detector.threshold, threads=detector.threads
    )
    if loaded.resolution != float_detector.resolution:
        msg = (
            f"INT8 artifact {artifact!r} runs at {loaded.resolution} px but the "
            f"float model at {float_detector.resolution} px; "
            "run `ballwatch qat` on the same weights"
        )
        raise DetectorLoadError(msg)
    if loaded.frame_input is not frame_input_of(float_detector):
        msg = (
            f"INT8 artifact {artifact!r} sees {loaded.frame_input.value} frames but the float "
            f"model sees {frame_input_of(float_detector).value}; run `ballwatch qat` on the "
            "same weights"
        )
        raise DetectorLoadError(msg)
    loaded.warm_up()
    return loaded


def _can_build(int8: Int8Config, float_detector: Detector, weights: Path | None) -> bool:
    """Whether the INT8 model of ``weights`` may be made automatically (CPU, a checkpoint)."""
    return (
        int8.auto_build
        and float_detector.device == "cpu"
        and weights is not None
        and weights.suffix == ".safetensors"
    )


def build_int8_builder(
    detector: DetectorConfig,
    int8: Int8Config,
    float_detector: Detector,
    weights: Path | None,
    int8_detector: Detector | None,
) -> Int8Builder | None:
    """What makes the INT8 model when the budget first asks for it, or None.

    None when no switch can happen (``auto_switch`` off), an INT8 detector is already
    loaded, one is configured by hand, or automatic builds are off or impossible (CUDA,
    no ``.safetensors`` checkpoint: the COCO weights are not a ball model).
    """
    if not int8.auto_switch or int8_detector is not None or detector.int8_artifact:
        return None
    if float_detector.precision is Precision.INT8 or not _can_build(int8, float_detector, weights):
        return None
    if weights is None:  # _can_build checked it; this tells mypy
        return None

    def load(artifact: Path) -> Detector:
        from perception.int8_detector import Int8Detector  # noqa: PLC0415 - onnxruntime

        loaded = Int8Detector.load(artifact, threshold=detector.threshold, threads=detector.threads)
        loaded.warm_up()
        return loaded

    def ensure(path: Path) -> Path:
        settings = QatSettings(steps=int8.qat_steps)
        return ensure_int8_artifact(path, data=int8.qat_data, settings=settings)

    return Int8Builder(weights, load, ensure)


def build_int8_switch(
    budget: BudgetConfig,
    int8_detector: Detector | None,
    float_detector: Detector,
    target: DetectorSwapTarget,
    events: LatencyLog,
    builder: Int8Builder | None = None,
) -> Int8Switch | None:
    """The run's switch, or None when the config sets no budget.

    Put the result in the run's log tee (``TeeLatencyLog(log, switch)``) with ``events`` the
    tee without it, and close it before ``events`` is closed.
    """
    rule = BudgetRule.from_config(budget)
    if rule is None:
        return None
    return Int8Switch(
        rule,
        float_detector,
        events,
        int8_detector=int8_detector,
        target=target,
        builder=builder,
    )

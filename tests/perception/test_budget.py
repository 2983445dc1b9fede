from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from configs.app_config import BudgetConfig
from perception.budget import BudgetRule, Decision, Metric, RollingBudgetCheck, Verdict, decide
from perception.detector import Precision
from stream.latency import JsonlLatencyLog, LatencyRecord, read_log
from tests.stream.test_latency_summary import make_record


def frames(
    detector_ms: Sequence[float | None],
    *,
    start: int = 0,
    period_ms: float = 100.0,
    precision: str = "fp32",
    mode: str = "tiles",
) -> list[LatencyRecord]:
    """One record per detector time (None = detector skipped), captured every period."""
    return [
        make_record(
            start + i,
            captured_ms=(start + i) * period_ms,
            infer_ms=ms,
            precision=precision,
            mode=mode,
        )
        for i, ms in enumerate(detector_ms)
    ]


def recorded(tmp_path: Path, records: Sequence[LatencyRecord]) -> list[LatencyRecord]:
    """Write ``records`` as a JSONL latency log and read them back, as `report LOG` does."""
    path = tmp_path / "latency.jsonl"
    log = JsonlLatencyLog(path)
    for record in records:
        log.write(record)
    log.close()
    return read_log(path)[0]


DETECTOR_50 = BudgetRule(detector_ms=50.0, window_frames=100)


@pytest.mark.parametrize(
    ("detector_ms", "verdict", "expected"),
    [
        pytest.param(
            40.0, Verdict.FLOAT_MEETS_BUDGET, "detector p95 40.0 ms <= 50.0 ms", id="meets"
        ),
        pytest.param(70.0, Verdict.SWITCH_INT8_QAT, "(INT8 ~41.2 ms)", id="switch"),
        pytest.param(100.0, Verdict.INT8_NOT_ENOUGH, "needs 2.00x", id="not-enough"),
    ],
)
def test_verdict_from_a_recorded_log(
    tmp_path: Path, detector_ms: float, verdict: Verdict, expected: str
) -> None:
    records = recorded(tmp_path, frames([detector_ms] * 100))

    decision = decide(records, DETECTOR_50, "cpu", Precision.FP32)

    assert decision.verdict is verdict
    assert decision.checks[0].measured_ms == pytest.approx(detector_ms)
    assert (decision.checks[0].budget_ms, decision.window_frames, decision.frames) == (50, 100, 100)
    assert expected in decision.explain()
    assert "cpu fp32" in decision.explain()


def test_not_enough_names_what_would_help(tmp_path: Path) -> None:
    records = recorded(tmp_path, frames([100.0] * 100))

    decision = decide(records, DETECTOR_50, "cpu", Precision.FP32)

    assert decision.int8_speedup == pytest.approx(1.7)
    assert [advice.split()[0] for advice in decision.advice] == ["smaller", "fewer", "a"]
    assert "a GPU (CUDA FP16)" in decision.explain()
    assert "INT8 QAT gives ~1.70x" in decision.explain()


@pytest.mark.parametrize(
    ("count", "verdict"),
    [
        pytest.param(99, Verdict.NOT_ENOUGH_DATA, id="window-1"),
        pytest.param(100, Verdict.FLOAT_MEETS_BUDGET, id="exactly-window"),
    ],
)
def test_window_must_be_full(tmp_path: Path, count: int, verdict: Verdict) -> None:
    records = recorded(tmp_path, frames([40.0] * count))

    decision = decide(records, DETECTOR_50, "cpu", Precision.FP32)

    assert decision.verdict is verdict
    assert decision.frames == count


def test_too_few_frames_says_how_many_are_missing(tmp_path: Path) -> None:
    decision = decide(recorded(tmp_path, frames([40.0] * 99)), DETECTOR_50, "cpu", Precision.FP32)

    assert decision.checks == ()
    assert decision.explain().startswith("not enough data: 99 fp32 frames, the window needs 100")


@pytest.mark.parametrize(
    ("slow_frames", "verdict"),
    [
        pytest.param(5, Verdict.FLOAT_MEETS_BUDGET, id="5-of-100-over"),
        pytest.param(6, Verdict.INT8_NOT_ENOUGH, id="6-of-100-over"),
    ],
)
def test_p95_allows_exactly_5_percent_of_frames_over(
    tmp_path: Path, slow_frames: int, verdict: Verdict
) -> None:
    # given slow frames at 90 ms (90 / 1.7 = 52.9 ms: INT8 would not save them) among 40 ms ones
    times = [90.0 if i % 10 == 0 and i // 10 < slow_frames else 40.0 for i in range(100)]

    decision = decide(recorded(tmp_path, frames(times)), DETECTOR_50, "cpu", Precision.FP32)

    assert decision.verdict is verdict


def test_only_the_last_window_counts(tmp_path: Path) -> None:
    records = recorded(tmp_path, frames([100.0] * 100 + [40.0] * 100))

    decision = decide(records, DETECTOR_50, "cpu", Precision.FP32)

    assert decision.verdict is Verdict.FLOAT_MEETS_BUDGET
    assert "last 100 of 200 frames" in decision.explain()


def test_int8_already_on_and_missing_is_not_enough(tmp_path: Path) -> None:
    records = recorded(tmp_path, frames([60.0] * 100, precision="int8"))

    decision = decide(records, DETECTOR_50, "cpu", Precision.INT8)

    assert decision.verdict is Verdict.INT8_NOT_ENOUGH
    assert decision.int8_speedup == 1.0
    assert decision.advice


def test_after_the_switch_only_int8_frames_are_judged(tmp_path: Path) -> None:
    log = frames([70.0] * 100) + frames([41.0] * 100, start=100, precision="int8")
    records = recorded(tmp_path, log)

    float_decision = decide(records, DETECTOR_50, "cpu", Precision.FP32)
    int8_decision = decide(records, DETECTOR_50, "cpu", Precision.INT8)

    assert float_decision.verdict is Verdict.SWITCH_INT8_QAT
    assert int8_decision.verdict is Verdict.INT8_MEETS_BUDGET
    assert int8_decision.explain().startswith("INT8 QAT meets budget: detector p95 41.0 ms")


def test_no_switch_is_advised_on_a_gpu(tmp_path: Path) -> None:
    records = recorded(tmp_path, frames([70.0] * 100, precision="fp16"))

    decision = decide(records, DETECTOR_50, "cuda", Precision.FP16)

    assert decision.verdict is Verdict.INT8_NOT_ENOUGH
    assert "a faster GPU" in decision.advice


def test_bf16_on_cpu_expects_less_from_int8(tmp_path: Path) -> None:
    records = recorded(tmp_path, frames([70.0] * 100, precision="bf16"))

    decision = decide(records, DETECTOR_50, "cpu", Precision.BF16)

    assert decision.int8_speedup == pytest.approx(1.7 / 1.6)
    assert decision.verdict is Verdict.INT8_NOT_ENOUGH


def test_target_fps_budgets_the_detector_and_the_throughput(tmp_path: Path) -> None:
    # given frames written every 40 ms (25 fps) with a 30 ms detector, for a 30 fps target
    rule = BudgetRule(target_fps=30.0, window_frames=50)
    records = recorded(tmp_path, frames([30.0] * 50, period_ms=40.0))

    # when
    decision = decide(records, rule, "cpu", Precision.FP32)

    # then the detector fits 33.3 ms but the throughput misses; INT8 saves 12.4 ms a frame
    detector, throughput = decision.checks
    assert (detector.metric, detector.meets) == (Metric.DETECTOR, True)
    assert detector.budget_ms == pytest.approx(1000 / 30)
    assert (throughput.metric, throughput.meets) == (Metric.THROUGHPUT, False)
    assert throughput.measured_ms == pytest.approx(40.0)
    assert throughput.int8_ms == pytest.approx(40.0 - 30.0 * (1 - 1 / 1.7))
    assert decision.verdict is Verdict.SWITCH_INT8_QAT
    assert "throughput 25.0 fps (40.0 ms/frame) < 30.0 fps" in decision.explain()


def test_end_to_end_projection_saves_only_detector_time(tmp_path: Path) -> None:
    # given end to end = 1 queue + 60 detector + 2 render + 1 write = 64 ms, budget 38 ms
    # (64 / 1.7 = 37.6 ms would wrongly pass: INT8 does not speed up the other stages)
    rule = BudgetRule(end_to_end_ms=38.0, window_frames=20)
    records = recorded(tmp_path, frames([60.0] * 20))

    decision = decide(records, rule, "cpu", Precision.FP32)

    (check,) = decision.checks
    assert check.measured_ms == pytest.approx(64.0)
    assert check.int8_ms == pytest.approx(64.0 - 60.0 * (1 - 1 / 1.7))
    assert decision.verdict is Verdict.INT8_NOT_ENOUGH


def test_a_detector_budget_needs_frames_the_detector_ran_on(tmp_path: Path) -> None:
    records = recorded(tmp_path, frames([None] * 100, mode="skip"))

    decision = decide(records, DETECTOR_50, "cpu", Precision.FP32)

    assert decision.verdict is Verdict.NOT_ENOUGH_DATA
    assert "the detector ran on none of the last 100 frames" in decision.explain()


def test_rule_from_config_takes_the_tighter_detector_budget() -> None:
    config = BudgetConfig(detector_ms=50.0, target_fps=25.0, window_frames=30, percentile=99)

    rule = BudgetRule.from_config(config)

    assert rule is not None
    assert (rule.detector_budget_ms, rule.frame_budget_ms) == (40.0, 40.0)
    assert (rule.window_frames, rule.percentile, rule.int8_speedup) == (30, 99, 1.7)
    assert rule.describe().startswith("detector p99 <= 40.0 ms and throughput >= 25 fps")


def test_config_without_a_budget_gives_no_rule() -> None:
    assert BudgetRule.from_config(BudgetConfig()) is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({}, "needs detector_ms, end_to_end_ms or target_fps", id="no-budget"),
        pytest.param({"detector_ms": 0.0}, "detector_ms must be > 0", id="zero-ms"),
        pytest.param(
            {"target_fps": 30, "percentile": 0}, r"percentile must be in \(0, 100\]", id="p0"
        ),
        pytest.param({"target_fps": 30, "window_frames": 0}, "window_frames must be >= 1", id="w0"),
        pytest.param({"target_fps": 30, "int8_speedup": 0.5}, "int8_speedup must be >= 1", id="s"),
    ],
)
def test_invalid_rule_is_refused(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BudgetRule(**kwargs)  # type: ignore[arg-type]


def feed(check: RollingBudgetCheck, records: Sequence[LatencyRecord]) -> dict[int, Decision]:
    decisions = {}
    for record in records:
        decision = check.update(record)
        if decision is not None:
            decisions[record.frame_index] = decision
    return decisions


def test_rolling_check_decides_when_the_window_fills_then_every_n_frames() -> None:
    check = RollingBudgetCheck(BudgetRule(detector_ms=50.0, window_frames=10), "cpu", 5)

    decisions = feed(check, frames([40.0] * 22))

    assert sorted(decisions) == [9, 14, 19]
    assert {d.verdict for d in decisions.values()} == {Verdict.FLOAT_MEETS_BUDGET}
    assert check.frames_in_window == 10


def test_rolling_check_fires_the_switch_once_and_restarts_after_it() -> None:
    check = RollingBudgetCheck(BudgetRule(detector_ms=50.0, window_frames=10), "cpu", 5)

    # the float detector is too slow for 30 frames, then the worker runs INT8
    float_decisions = feed(check, frames([70.0] * 30))
    int8_decisions = feed(check, frames([41.0] * 12, start=30, precision="int8"))

    assert [(i, d.verdict) for i, d in float_decisions.items()] == [(9, Verdict.SWITCH_INT8_QAT)]
    assert [(i, d.verdict) for i, d in int8_decisions.items()] == [(39, Verdict.INT8_MEETS_BUDGET)]


def test_rolling_check_reports_other_verdicts_every_time() -> None:
    check = RollingBudgetCheck(BudgetRule(detector_ms=50.0, window_frames=4), "cpu")

    decisions = feed(check, frames([100.0] * 12))

    assert [(i, d.verdict) for i, d in decisions.items()] == [
        (3, Verdict.INT8_NOT_ENOUGH),
        (7, Verdict.INT8_NOT_ENOUGH),
        (11, Verdict.INT8_NOT_ENOUGH),
    ]


def test_rolling_check_refuses_a_zero_period() -> None:
    with pytest.raises(ValueError, match="every_frames must be >= 1"):
        RollingBudgetCheck(DETECTOR_50, "cpu", 0)

"""The INT8 QAT policy at run time: refusing float checkpoints, and the switch in a pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from configs.app_config import AppConfig, BudgetConfig, DetectorConfig, SearchConfig, TrackerConfig
from perception.budget import BudgetRule
from perception.detector import Precision
from perception.errors import PrecisionError
from perception.int8_switch import Int8Switch, build_int8_switch
from perception.precision import HardwareProbe, resolve_precision
from perception.search import BallSearch
from perception.search_and_track import SearchAndTrack
from stream.app import build_detector
from stream.latency import DropEvent, LatencyRecord, MemoryLatencyLog, RunEvent, TeeLatencyLog
from stream.pipeline import QueueSettings, assemble
from stream.queues import DropPolicy
from tests.fakes import FakeDetector, FakeFrameSource, RecordingOutput

CPU_ONLY = HardwareProbe(has_cuda=False, has_cuda_bf16=False, has_amx=False, has_avx512_bf16=False)
FLOAT_DELAY_S = 0.03  # 30 ms: always misses a 25 ms budget; INT8 at 10x would meet it
FRAMES = 60


def test_precision_int8_with_a_float_checkpoint_is_refused(tmp_path: Path) -> None:
    # given a float checkpoint passed as the INT8 artifact
    checkpoint = tmp_path / "ball-nano.safetensors"
    checkpoint.write_bytes(b"float weights")
    config = AppConfig(detector=DetectorConfig(precision="int8", int8_artifact=str(checkpoint)))
    plan = resolve_precision("int8", "cpu", str(checkpoint), probe=CPU_ONLY)

    # when the app builds the detector, then the QAT-only policy is explained
    with pytest.raises(
        PrecisionError, match="float checkpoint, not an INT8 QAT artifact"
    ) as caught:
        build_detector(config, plan)
    assert "post-training quantization is not used" in str(caught.value)
    assert "ballwatch qat" in str(caught.value)


def _events(log: MemoryLatencyLog, kind: str) -> list[RunEvent]:
    return [e for e in log.entries if isinstance(e, RunEvent) and e.kind == kind]


def _run_with_switch(
    int8_detector: FakeDetector | None,
) -> tuple[MemoryLatencyLog, RecordingOutput]:
    float_detector = FakeDetector(delay_s=FLOAT_DELAY_S)
    perception = SearchAndTrack.build(
        float_detector, BallSearch(float_detector, SearchConfig()), TrackerConfig()
    )
    memory = MemoryLatencyLog()
    # the expected INT8 speed-up is set high so a loaded test machine cannot flip the verdict
    budget = BudgetConfig(detector_ms=25.0, window_frames=10, int8_speedup=10.0)
    switch = build_int8_switch(budget, int8_detector, float_detector, perception, memory)
    assert switch is not None
    output = RecordingOutput()
    pipeline = assemble(
        FakeFrameSource(FRAMES),
        perception,
        [],
        output,
        TeeLatencyLog(memory, switch),
        QueueSettings(DropPolicy.BLOCK, 2, 2),
    )

    pipeline.group.run()
    switch.close()
    return memory, output


def test_switch_fires_once_and_later_frames_run_int8_without_losing_a_frame() -> None:
    # given a float detector that misses its budget and a fast INT8 QAT one loaded at start
    fast = FakeDetector(delay_s=0.001, precision=Precision.INT8)

    # when a replay runs with the switch in the latency log
    memory, output = _run_with_switch(fast)

    # then the decision said to switch, the swap happened once, and no frame was lost
    decisions = _events(memory, "decision")
    assert decisions[0].details["text"].startswith("switch INT8 QAT on")
    assert len(_events(memory, "switch_requested")) == 1
    assert output.indices == list(range(FRAMES))
    assert not [e for e in memory.entries if isinstance(e, DropEvent)]
    # frames before the swap ran in fp32, every frame after it in int8
    precisions = [e.precision for e in memory.entries if isinstance(e, LatencyRecord)]
    first_int8 = precisions.index("int8")
    assert first_int8 >= 10
    assert set(precisions[:first_int8]) == {"fp32"}
    assert set(precisions[first_int8:]) == {"int8"}
    assert len(fast.calls) == FRAMES - first_int8
    # the switch event carries the before/after detector latency
    (switch,) = _events(memory, "switch")
    assert switch.details["at_frame"] == first_int8
    assert switch.details["before_detector_ms"]["p50"] >= FLOAT_DELAY_S * 1000
    assert switch.details["after_detector_ms"]["p50"] < FLOAT_DELAY_S * 1000 / 2
    # and the final decision judges the INT8 frames against the same budget
    final = [e for e in decisions if e.details["final"]]
    assert final[-1].details["verdict"] == "INT8 QAT meets budget"


def test_without_an_int8_model_the_switch_only_advises() -> None:
    memory, output = _run_with_switch(None)

    assert _events(memory, "decision")[0].details["verdict"] == "switch INT8 QAT on"
    assert not _events(memory, "switch_requested")
    assert not _events(memory, "switch")
    precisions = {e.precision for e in memory.entries if isinstance(e, LatencyRecord)}
    assert precisions == {"fp32"}
    assert output.indices == list(range(FRAMES))


def test_switch_refuses_an_int8_model_of_another_resolution() -> None:
    float_detector = FakeDetector(resolution=64)
    int8 = FakeDetector(resolution=128, precision=Precision.INT8)

    with pytest.raises(ValueError, match="INT8 model runs at 128 px but the float model at 64"):
        Int8Switch(
            BudgetRule(detector_ms=10.0), float_detector, MemoryLatencyLog(), int8_detector=int8
        )


def test_search_and_track_refuses_a_detector_of_another_resolution() -> None:
    detector = FakeDetector(resolution=64)
    perception = SearchAndTrack.build(
        detector, BallSearch(detector, SearchConfig()), TrackerConfig()
    )

    with pytest.raises(ValueError, match="cannot swap a 64 px detector for a 128 px one"):
        perception.swap_detector(FakeDetector(resolution=128))


def test_no_budget_means_no_switch() -> None:
    detector = FakeDetector()
    perception = SearchAndTrack.build(
        detector, BallSearch(detector, SearchConfig()), TrackerConfig()
    )

    switch = build_int8_switch(BudgetConfig(), None, detector, perception, MemoryLatencyLog())

    assert switch is None

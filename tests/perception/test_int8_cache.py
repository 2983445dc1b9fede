"""INT8 without a manual step: the QAT model is made once per checkpoint, cached, reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from configs.app_config import BudgetConfig, SearchConfig, TrackerConfig
from perception.detector import Detector, Precision
from perception.int8_cache import Int8Builder, cache_dir, cached_artifact, ensure_int8_artifact
from perception.int8_switch import build_int8_switch
from perception.options import QatSettings
from perception.qat import Int8Sidecar, QatJob, file_sha256, sidecar_path
from perception.search import BallSearch
from perception.search_and_track import SearchAndTrack
from stream.latency import LatencyRecord, MemoryLatencyLog, RunEvent, TeeLatencyLog
from stream.pipeline import QueueSettings, assemble
from stream.queues import DropPolicy
from tests.fakes import FakeDetector, FakeFrameSource, RecordingOutput


class FakeQat:
    """Writes a stand-in artifact and sidecar where the job says; counts its runs."""

    def __init__(self, *, fail: bool = False) -> None:
        self.jobs: list[QatJob] = []
        self._fail = fail

    def __call__(self, job: QatJob) -> None:
        self.jobs.append(job)
        job.output.write_bytes(b"onnx")
        if self._fail:
            msg = "export failed"
            raise RuntimeError(msg)
        sidecar_path(job.output).write_text("{}")


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "ball-nano.safetensors"
    path.write_bytes(b"float weights v1")
    return path


def test_the_first_use_builds_the_qat_model_and_the_second_reuses_it(
    weights: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    build = FakeQat()
    settings = QatSettings(steps=2, batch_size=1)

    first = ensure_int8_artifact(weights, cache=cache, settings=settings, build=build)
    second = ensure_int8_artifact(weights, cache=cache, settings=settings, build=build)

    assert len(build.jobs) == 1  # the second run did not rebuild
    assert first == second == cached_artifact(weights, cache)
    assert first.read_bytes() == b"onnx"
    assert sidecar_path(first).is_file()
    assert build.jobs[0].weights == weights
    assert build.jobs[0].settings == settings
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".building-")]


def test_a_twin_cached_by_an_older_qat_recipe_is_built_again(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    build = FakeQat()
    settings = QatSettings(steps=2, batch_size=1)
    monkeypatch.setattr("perception.int8_cache.QAT_RECIPE", 1)
    old = ensure_int8_artifact(weights, cache=cache, settings=settings, build=build)

    monkeypatch.setattr("perception.int8_cache.QAT_RECIPE", 2)  # e.g. more layers kept float
    new = ensure_int8_artifact(weights, cache=cache, settings=settings, build=build)

    assert len(build.jobs) == 2
    assert new != old
    assert new == cached_artifact(weights, cache)


def test_another_checkpoint_gets_its_own_build(weights: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    build = FakeQat()
    first = ensure_int8_artifact(weights, cache=cache, build=build)
    weights.write_bytes(b"float weights v2, retrained")

    second = ensure_int8_artifact(weights, cache=cache, build=build)

    assert len(build.jobs) == 2
    assert first != second


def test_a_failed_build_leaves_nothing_that_looks_finished(weights: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="export failed"):
        ensure_int8_artifact(weights, cache=cache, build=FakeQat(fail=True))

    assert not cached_artifact(weights, cache).exists()
    build = FakeQat()
    ensure_int8_artifact(weights, cache=cache, build=build)
    assert len(build.jobs) == 1


def test_the_cache_follows_xdg_and_the_ballwatch_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BALLWATCH_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "ballwatch"
    monkeypatch.setenv("BALLWATCH_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_the_switch_builds_the_int8_model_when_the_budget_first_asks(
    weights: Path, tmp_path: Path
) -> None:
    # given a float detector that misses its budget and no INT8 model yet
    float_detector = FakeDetector(delay_s=0.03)
    fast = FakeDetector(delay_s=0.001, precision=Precision.INT8)
    build = FakeQat()
    loaded: list[Path] = []

    def load(artifact: Path) -> Detector:
        loaded.append(artifact)
        return fast

    def ensure(path: Path) -> Path:
        return ensure_int8_artifact(path, cache=tmp_path / "cache", build=build)

    builder = Int8Builder(weights, load, ensure)
    perception = SearchAndTrack.build(
        float_detector, BallSearch(float_detector, SearchConfig()), TrackerConfig()
    )
    memory = MemoryLatencyLog()
    budget = BudgetConfig(detector_ms=25.0, window_frames=10, int8_speedup=10.0)
    switch = build_int8_switch(budget, None, float_detector, perception, memory, builder)
    assert switch is not None
    output = RecordingOutput()
    frames = 80
    pipeline = assemble(
        FakeFrameSource(frames),
        perception,
        [],
        output,
        TeeLatencyLog(memory, switch),
        QueueSettings(DropPolicy.BLOCK, 2, 2),
    )

    # when a replay runs
    pipeline.group.run()
    builder.join(timeout_s=10)
    switch.close()

    # then the QAT model was made once, loaded, and the later frames ran in INT8
    kinds = [e.kind for e in memory.entries if isinstance(e, RunEvent)]
    assert kinds.count("int8_build") == 1
    assert kinds.count("switch_requested") == 1
    assert len(build.jobs) == 1
    assert loaded == [cached_artifact(weights, tmp_path / "cache")]
    precisions = [e.precision for e in memory.entries if isinstance(e, LatencyRecord)]
    assert precisions[0] == "fp32"
    assert precisions[-1] == "int8"
    assert output.indices == list(range(frames))  # nothing lost while it was built


def write_shipped_twin(weights: Path, sha256: str) -> Path:
    artifact = weights.with_name(f"{weights.stem}.int8-qat.onnx")
    artifact.write_bytes(b"shipped onnx")
    sidecar = Int8Sidecar(resolution=128, ball_class_id=0, source={"sha256": sha256})
    sidecar_path(artifact).write_text(sidecar.to_json())
    return artifact


def test_a_bundled_model_uses_its_shipped_qat_twin_without_building(
    weights: Path, tmp_path: Path
) -> None:
    # given the QAT twin shipped beside the float weights, made from exactly these weights
    shipped = write_shipped_twin(weights, file_sha256(weights))
    build = FakeQat()

    # when INT8 is first needed
    found = ensure_int8_artifact(weights, cache=tmp_path / "cache", build=build)

    # then the twin is used and nothing is built
    assert found == shipped
    assert build.jobs == []


def test_a_stale_shipped_twin_is_ignored_and_the_model_is_built(
    weights: Path, tmp_path: Path
) -> None:
    write_shipped_twin(weights, "0" * 64)  # made from other weights
    build = FakeQat()

    found = ensure_int8_artifact(weights, cache=tmp_path / "cache", build=build)

    assert len(build.jobs) == 1
    assert found == cached_artifact(weights, tmp_path / "cache")

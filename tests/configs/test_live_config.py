"""A live run's config: the live values wherever the preset and --set say nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from configs.app_config import LIVE_DEFAULTS, for_live, for_replay, load_config, preset_path
from perception.qat import Int8Sidecar, write_sidecar
from stream.app import live_twin_is_exact, settle_config
from stream.source import SourceKind

SOURCE = {"source": "synth:?seed=1&frames=10"}


@pytest.mark.parametrize("preset", ["default", "live", "demo"])
def test_any_preset_run_live_gets_the_live_values(preset: str) -> None:
    config = for_live(load_config(preset_path(preset), SOURCE))
    assert config.stream.queue_policy == "latest"
    assert config.stream.frame_queue_size == LIVE_DEFAULTS["stream"]["frame_queue_size"] == 1
    assert config.search.detect_every == 2
    assert config.search.max_track_tiles == 2
    assert config.search.slow_track_windows == 0  # a replay's crops elsewhere cost live frames
    assert config.search.live_tiles_per_frame > 0
    motion = config.search.motion
    assert (motion.enabled, motion.max_candidates, motion.sweep_tiles_per_frame) == (True, 2, 0)
    assert motion.revisit_frames == 8  # live crops go round the moving things
    assert config.tracker.lag_frames == 1
    assert config.rest_look.enabled is False  # its float crop would stall live frames


def test_what_the_user_set_is_kept_except_what_would_spiral() -> None:
    overrides = {
        **SOURCE,
        "stream.queue_policy": "block",
        "stream.frame_queue_size": 3,
        "search.detect_every": 1,
        "search.motion.sweep_tiles_per_frame": 1,
        "tracker.lag_frames": 2,
        "rest_look.enabled": True,
    }
    config = for_live(load_config(preset_path("default"), overrides))
    assert config.stream.queue_policy == "latest"  # block would fall behind a live source
    assert config.stream.frame_queue_size == 3
    assert config.search.detect_every == 1
    assert config.search.motion.sweep_tiles_per_frame == 1
    assert config.search.motion.max_candidates == 2  # not set: the live value
    assert config.tracker.lag_frames == 2
    assert config.rest_look.enabled is True


def test_a_live_run_on_cuda_calls_the_detector_on_every_tracked_frame() -> None:
    """A detector call costs a few ms there: the gate's blobs need not stand in for it."""
    # a float model: on a CPU every call is dear, whatever the twin
    camera = {"source": "rtsp://127.0.0.1:8554/court", "detector.precision": "fp32"}
    on_gpu = settle_config(load_config(preset_path("live"), camera), SourceKind.NETWORK, "cuda")
    on_cpu = settle_config(load_config(preset_path("live"), camera), SourceKind.NETWORK, "cpu")
    assert (on_gpu.search.detect_every, on_cpu.search.detect_every) == (1, 2)
    # the rest of a live run is the same on both: newest frame wins, two gate crops
    assert on_gpu.stream.queue_policy == on_cpu.stream.queue_policy == "latest"
    assert on_gpu.search.motion == on_cpu.search.motion
    assert on_gpu.tracker == on_cpu.tracker
    told = {**camera, "search.detect_every": 3}
    kept = settle_config(load_config(preset_path("live"), told), SourceKind.NETWORK, "cuda")
    assert kept.search.detect_every == 3  # what the user set stands on any device


def _twin(folder: Path, int8_f1: float, float_f1: float = 0.937) -> Path:
    """An INT8 artifact's sidecar whose QAT job scored these F1s on its held-out crops."""
    artifact = folder / f"ball-{int8_f1}.int8-qat.onnx"
    scores = {"crops": 200, "float": {"f1": float_f1}, "int8": {"f1": int8_f1}}
    write_sidecar(artifact, Int8Sidecar(128, 0, training={"held_out": scores}))
    return artifact


def _live_on_cpu(overrides: dict[str, object]) -> int:
    """``search.detect_every`` of a live run on a camera, on a CPU, with ``overrides``."""
    config = load_config(
        preset_path("live"), {"source": "rtsp://127.0.0.1:8554/court", **overrides}
    )
    return settle_config(config, SourceKind.NETWORK, "cpu").search.detect_every


@pytest.mark.parametrize(("int8_f1", "detect_every"), [(0.939, 1), (0.925, 1), (0.900, 2)])
def test_a_live_cpu_run_calls_the_detector_every_frame_only_when_its_twin_is_exact(
    tmp_path: Path, int8_f1: float, detect_every: int
) -> None:
    """Where the INT8 twin scores as its float model, the gate's blobs are no better."""
    twin = {"detector.int8_artifact": str(_twin(tmp_path, int8_f1))}
    assert _live_on_cpu(twin) == detect_every
    assert _live_on_cpu({**twin, "detector.precision": "fp32"}) == 2  # float: every call dear
    assert _live_on_cpu({**twin, "search.detect_every": 3}) == 3  # what the user set stands


def test_both_shipped_twins_are_exact_so_live_runs_call_the_detector_every_frame() -> None:
    """Both shipped twins score within 0.02 of their float models (the real one since its
    patch embedding stays float: 0.587 against 0.596; it was 0.503 before)."""
    paced = {**SOURCE, "stream.realtime": True}
    synth = settle_config(load_config(preset_path("live"), paced), SourceKind.SYNTH, "cpu")
    assert synth.stream.queue_policy == "latest"  # a live run, not a replay
    camera = load_config(preset_path("live"), {"source": "rtsp://127.0.0.1:8554/court"})
    real = settle_config(camera, SourceKind.NETWORK, "cpu")
    assert (synth.search.detect_every, real.search.detect_every) == (1, 1)
    assert live_twin_is_exact(camera, SourceKind.NETWORK) is True


def test_a_replay_keeps_the_detector_on_every_frame_and_no_gate() -> None:
    config = for_replay(load_config(preset_path("default"), SOURCE))
    assert config.search.detect_every == 1
    assert config.search.motion.enabled is False
    assert config.stream.frame_queue_size == 4
    assert config.tracker.lag_frames == 2
    assert config.rest_look.enabled is None  # the source kind decides (real footage: on)


def test_a_replay_of_real_footage_runs_the_motion_gate_unless_the_preset_says() -> None:
    real = {"source": "match.mp4"}
    config = for_replay(load_config(preset_path("replay"), real), is_real=True)
    motion = config.search.motion
    assert (motion.enabled, motion.max_candidates, motion.max_blob_px) == (True, 6, 64)
    assert motion.revisit_frames == 0  # six crops a frame: the strongest blobs, in order
    assert config.search.detect_every == 1  # a replay has the time: the detector every frame
    off = for_replay(
        load_config(preset_path("replay"), {**real, "search.motion.enabled": False}), is_real=True
    )
    assert off.search.motion.enabled is False

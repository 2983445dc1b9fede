"""The bundled models and their INT8 QAT twins, as a user gets them.

The twin must be the float model's (its sidecar names the weights' SHA-256, so `run` picks
it up for the INT8 switch) and must find the ball where the float model does: within 1 px
on fixed crops of a synthetic match (observed 0.1 px; INT8 kernels differ between CPUs,
which the tolerance leaves room for).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from configs.app_config import AppConfig, DetectorConfig
from perception.detector import Precision
from perception.errors import PrecisionError
from perception.frame_input import as_input
from perception.int8_cache import bundled_artifact
from perception.int8_detector import Int8Detector
from perception.options import FrameInput
from perception.precision import PrecisionPlan
from perception.rfdetr_detector import RfDetrDetector
from stream.app import (
    ColourModels,
    auto_int8_artifact,
    build_rest_look,
    precision_plan,
    with_int8_twin,
)
from stream.synth import SynthMatch, parse_synth_uri
from tests.fakes import FakeDetector

MODELS = Path(__file__).resolve().parents[2] / "perception" / "models"
REAL = MODELS / "ball-nano-real.safetensors"
SYNTH = MODELS / "ball-nano-synth.safetensors"
STILL = MODELS / "ball-nano-still.safetensors"
SIDE = 128

pytestmark = pytest.mark.slow


def _crops_around_the_ball(shown: FrameInput) -> list[tuple[NDArray[np.uint8], float, float]]:
    """128 px crops of a synthetic match with the ball in play near the middle, and where it is.

    The frames are shown as the model sees them (grey stacks of consecutive frames for
    the motion input).
    """
    match = SynthMatch(parse_synth_uri("synth:?seed=11&frames=60"))
    frames = as_input((match.frame(index)[0] for index in range(55)), shown)
    crops = []
    for index, image in enumerate(frames):
        truth = match.frame(index)[1]
        if index < 30 or index % 5:
            continue
        assert truth.is_visible
        x0 = int(min(max(truth.x - SIDE // 2, 0), image.shape[1] - SIDE))
        y0 = int(min(max(truth.y - SIDE // 2, 0), image.shape[0] - SIDE))
        crop = np.ascontiguousarray(image[y0 : y0 + SIDE, x0 : x0 + SIDE])
        crops.append((crop, truth.x - x0, truth.y - y0))
    return crops


@pytest.mark.parametrize("weights", [REAL, SYNTH, STILL], ids=["real", "synth", "still"])
def test_each_bundled_int8_twin_is_its_models_and_finds_the_ball_where_it_does(
    weights: Path,
) -> None:
    twin = bundled_artifact(weights)
    assert twin is not None, "the shipped INT8 twin does not name these weights: rerun qat"
    config = DetectorConfig.model_validate(
        {"weights": str(weights), "ball_class": "ball", "threshold": 0.0}
    )
    float_model = RfDetrDetector.from_config(config, PrecisionPlan("cpu", Precision.FP32, "test"))
    int8_model = Int8Detector.load(twin, threshold=0.0)
    assert int8_model.frame_input is float_model.frame_input

    for crop, x, y in _crops_around_the_ball(float_model.frame_input):
        found_float = float_model.detect([crop])[0]
        found_int8 = int8_model.detect([crop])[0]
        top_float = found_float.centers[int(np.argmax(found_float.confidence))]
        top_int8 = found_int8.centers[int(np.argmax(found_int8.confidence))]
        assert np.hypot(top_float[0] - x, top_float[1] - y) <= 4.0  # the model sees the ball
        assert np.hypot(*(top_int8 - top_float)) <= 1.0  # ... and INT8 sees it there too
        assert float(found_int8.confidence.max()) >= 0.5


def test_precision_auto_times_the_shipped_int8_twin_only_on_a_live_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALLWATCH_CACHE", str(tmp_path / "cache"))
    twin = REAL.with_name("ball-nano-real.int8-qat.onnx")
    assert auto_int8_artifact(None, REAL, is_live=True) == twin
    assert auto_int8_artifact(None, REAL, is_live=False) is None  # a replay keeps float
    configured = str(tmp_path / "mine.int8-qat.onnx")
    assert auto_int8_artifact(configured, REAL, is_live=False) == Path(configured)
    # a checkpoint without a twin or a cached artifact: floats only, live or not
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"not the shipped model")
    assert auto_int8_artifact(None, other, is_live=True) is None


def test_precision_int8_takes_the_qat_twin_beside_the_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALLWATCH_CACHE", str(tmp_path / "cache"))

    def asked(source: str, **detector: object) -> AppConfig:
        return AppConfig.model_validate({"source": source, "detector": detector})

    def twin(weights: Path) -> str:
        return str(weights.with_name(f"{weights.stem}.int8-qat.onnx"))

    match = str(tmp_path / "match.mp4")
    assert with_int8_twin(asked("synth:?seed=1", precision="int8")).detector.int8_artifact == (
        twin(SYNTH)
    )
    assert with_int8_twin(asked(match, precision="int8")).detector.int8_artifact == twin(REAL)
    assert with_int8_twin(asked(match, precision="int8"), "image").detector.int8_artifact == (
        twin(STILL)
    )
    # another precision, or an artifact named: as given
    assert with_int8_twin(asked(match, precision="fp32")).detector.int8_artifact is None
    mine = asked(match, precision="int8", int8_artifact="mine.onnx")
    assert with_int8_twin(mine).detector.int8_artifact == "mine.onnx"
    # weights without a twin: the policy error says how to make one
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"not the shipped model")
    with pytest.raises(PrecisionError, match="ballwatch qat"):
        precision_plan(asked(match, precision="int8", weights=str(other)))


def test_an_int8_run_looks_for_the_ball_at_rest_with_the_still_twin_asleep_between_crops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALLWATCH_CACHE", str(tmp_path / "cache"))
    config = AppConfig.model_validate({"source": str(tmp_path / "match.mp4")})
    live_detector = FakeDetector(precision=Precision.INT8)  # the real model's twin, live

    look = build_rest_look(config, live_detector, "file")

    assert look is not None
    assert isinstance(look.detector, Int8Detector)
    assert look.detector.frame_input is FrameInput.RGB  # the still model's twin: colour
    assert not look.detector.spins  # its threads leave the live detector's cores alone
    twin = bundled_artifact(STILL)
    assert twin is not None
    assert Int8Detector.load(twin).spins  # onnxruntime's default, for the run's detector
    # a float run's look is the float still model
    float_look = build_rest_look(config, FakeDetector(precision=Precision.FP32), "file")
    assert float_look is not None
    assert isinstance(float_look.detector, RfDetrDetector)


def test_runs_of_one_owner_share_a_rest_look_model_built_for_the_same_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALLWATCH_CACHE", str(tmp_path / "cache"))
    config = AppConfig.model_validate({"source": str(tmp_path / "match.mp4")})
    models = ColourModels()
    beside = FakeDetector(precision=Precision.INT8)

    first = build_rest_look(config, beside, "file", models)
    second = build_rest_look(config, beside, "file", models)
    surer = config.model_copy(
        update={"rest_look": config.rest_look.model_copy(update={"score": 0.5})}
    )
    third = build_rest_look(surer, beside, "file", models)

    assert first is not None
    assert second is not None
    assert third is not None
    assert second.detector is first.detector  # loaded once, for both runs
    assert third.detector is not first.detector  # another threshold: its own model
    assert models.builds == 2

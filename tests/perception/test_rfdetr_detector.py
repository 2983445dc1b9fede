"""The RF-DETR adapter on CPU with random weights (nothing is downloaded).

Models are Nano at 128 px with 30 queries, built once per module: building one takes seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import requests
import torch
from numpy.typing import NDArray

from configs.app_config import DetectorConfig
from perception.detector import Precision
from perception.errors import DetectorLoadError, PrecisionError
from perception.precision import PrecisionPlan
from perception.rfdetr_detector import RfDetrDetector, bgr_to_rgb

SIDE = 128
CPU_FP32 = PrecisionPlan("cpu", Precision.FP32, "cpu: fp32 (test)")


def crops(count: int, seed: int = 0) -> list[NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8) for _ in range(count)]


@pytest.fixture(scope="module")
def ball_detector() -> RfDetrDetector:
    """One class named "ball" (like a fine-tuned model), threshold 0."""
    torch.manual_seed(0)
    return RfDetrDetector.random(
        "nano", resolution=SIDE, num_queries=30, num_classes=1, class_names=("ball",)
    )


@pytest.fixture(scope="module")
def coco_detector() -> RfDetrDetector:
    """The 90-class COCO head layout, threshold 0, "sports ball" the top class of every query."""
    torch.manual_seed(1)
    detector = RfDetrDetector.random("nano", resolution=SIDE, num_queries=30)
    with torch.no_grad():
        detector.network.class_embed.bias[37] += 6.0
    return detector


def ball_config(weights: Path | None, **overrides: object) -> DetectorConfig:
    fields: dict[str, object] = {
        "weights": None if weights is None else str(weights),
        "ball_class": "ball",
        "threshold": 0.0,
    }
    return DetectorConfig.model_validate(fields | overrides)


def assert_same(actual: list, expected: list, box_px: float = 1e-3, score: float = 1e-5) -> None:
    assert len(actual) == len(expected)
    for mine, theirs in zip(actual, expected, strict=True):
        assert len(mine) == len(theirs)
        np.testing.assert_allclose(mine.xyxy, theirs.xyxy, atol=box_px)
        np.testing.assert_allclose(mine.confidence, theirs.confidence, atol=score)


# --- detect -----------------------------------------------------------------------------------


def test_detect_returns_one_result_per_crop_with_boxes_inside_it(
    ball_detector: RfDetrDetector,
) -> None:
    results = ball_detector.detect(crops(3))

    assert len(results) == 3
    for detections in results:
        assert len(detections) == 30  # threshold 0 keeps every query
        assert detections.xyxy.dtype == np.float32
        assert (detections.xyxy >= 0).all()
        assert (detections.xyxy <= SIDE).all()
        assert (detections.xyxy[:, 2:] >= detections.xyxy[:, :2]).all()
        assert (np.diff(detections.confidence) <= 0).all(), "best first"


def test_detect_of_no_crops_is_empty(ball_detector: RfDetrDetector) -> None:
    assert ball_detector.detect([]) == []


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(np.zeros((SIDE, SIDE - 32, 3), np.uint8), id="not-square"),
        pytest.param(np.zeros((384, 384, 3), np.uint8), id="other-resolution"),
        pytest.param(np.zeros((SIDE, SIDE, 3), np.float32), id="float"),
        pytest.param(np.zeros((SIDE, SIDE), np.uint8), id="grey"),
    ],
)
def test_detect_refuses_crops_of_another_shape(
    ball_detector: RfDetrDetector, image: NDArray[np.uint8]
) -> None:
    with pytest.raises(ValueError, match=r"BGR uint8 images of shape \(128, 128, 3\), but image 1"):
        ball_detector.detect([crops(1)[0], image])


def test_bgr_to_rgb_reverses_channels_without_touching_the_input() -> None:
    bgr = np.array([[[10, 20, 30]]], np.uint8)

    rgb = bgr_to_rgb(bgr)

    assert rgb.tolist() == [[[30, 20, 10]]]
    assert bgr.tolist() == [[[10, 20, 30]]]
    assert rgb.flags.c_contiguous


def test_the_network_receives_rgb_normalised_like_predict(ball_detector: RfDetrDetector) -> None:
    seen: list[torch.Tensor] = []
    hook = ball_detector.network.register_forward_pre_hook(
        lambda _module, args: seen.append(args[0].detach().clone())
    )
    blue_bgr = np.zeros((SIDE, SIDE, 3), np.uint8)
    blue_bgr[..., 0] = 255
    try:
        ball_detector.detect([blue_bgr])
    finally:
        hook.remove()

    (batch,) = seen
    assert batch.shape == (1, 3, SIDE, SIDE)
    red, green, blue = batch[0, :, 0, 0].tolist()
    assert red == pytest.approx((0 - 0.485) / 0.229, abs=1e-4)
    assert green == pytest.approx((0 - 0.456) / 0.224, abs=1e-4)
    assert blue == pytest.approx((1 - 0.406) / 0.225, abs=1e-4)


def test_fast_path_equals_rfdetr_predict(ball_detector: RfDetrDetector) -> None:
    images = crops(2, seed=5)

    assert_same(ball_detector.detect(images), ball_detector.detect_reference(images), box_px=1.0)


def test_fast_path_equals_predict_on_the_coco_head(coco_detector: RfDetrDetector) -> None:
    # predict() keeps the best 300 of 30x91 (query, class) pairs; "sports ball" leads every
    # query here, so all 30 ball pairs are among them.
    images = crops(2, seed=6)

    ours = coco_detector.detect(images)

    assert [len(detections) for detections in ours] == [30, 30]
    assert_same(ours, coco_detector.detect_reference(images), box_px=1.0)


def test_threshold_is_honoured(ball_detector: RfDetrDetector) -> None:
    image = crops(1, seed=7)
    everything = ball_detector.detect(image)[0]
    threshold = float(np.median(everything.confidence))
    strict = RfDetrDetector(ball_detector.model, CPU_FP32, ball_class="ball", threshold=threshold)

    kept = strict.detect(image)[0]

    assert 0 < len(kept) < len(everything)
    assert (kept.confidence >= threshold).all()
    assert len(kept) == int((everything.confidence >= threshold).sum())


def test_warm_up_and_properties(ball_detector: RfDetrDetector) -> None:
    ball_detector.warm_up()

    assert (ball_detector.resolution, ball_detector.device) == (SIDE, "cpu")
    assert ball_detector.precision is Precision.FP32
    assert ball_detector.class_names == ("ball",)


def test_bf16_autocast_stays_close_to_fp32(ball_detector: RfDetrDetector) -> None:
    bf16 = RfDetrDetector(
        ball_detector.model,
        PrecisionPlan("cpu", Precision.BF16, "cpu: bf16 (test)"),
        ball_class="ball",
        threshold=0.0,
    )
    image = crops(1, seed=8)

    low = bf16.detect(image)[0]
    full = ball_detector.detect(image)[0]

    # sorted: the query order is the encoder's top-k order, and bf16 rounding may swap
    # two proposals of almost equal score (more likely on AMX than on AVX2 kernels)
    assert bf16.precision is Precision.BF16
    np.testing.assert_allclose(np.sort(low.confidence), np.sort(full.confidence), atol=0.05)


def test_an_int8_plan_is_not_run_by_the_float_detector(ball_detector: RfDetrDetector) -> None:
    plan = PrecisionPlan("cpu", Precision.INT8, "cpu: int8 (test)", int8_artifact=Path("x"))

    with pytest.raises(PrecisionError, match="float precisions only"):
        RfDetrDetector(ball_detector.model, plan)


# --- the ball class ---------------------------------------------------------------------------


def test_coco_sports_ball_is_class_37(coco_detector: RfDetrDetector) -> None:
    assert coco_detector.ball_class_id == 37
    assert "sports ball" in coco_detector.class_names


def test_coco_names_stored_in_a_checkpoint_still_map_to_coco_ids(
    coco_detector: RfDetrDetector,
) -> None:
    coco_detector.model.model.class_names = list(coco_detector.class_names)  # 80 names
    try:
        assert RfDetrDetector(coco_detector.model, CPU_FP32).ball_class_id == 37
    finally:
        coco_detector.model.model.class_names = None


def test_a_fine_tuned_class_name_is_looked_up(ball_detector: RfDetrDetector) -> None:
    assert ball_detector.ball_class_id == 0


def test_an_unknown_ball_class_lists_the_model_classes(ball_detector: RfDetrDetector) -> None:
    with pytest.raises(
        DetectorLoadError, match=r"ball class 'puck' is not a class of this model; .* 'ball'"
    ):
        RfDetrDetector(ball_detector.model, CPU_FP32, ball_class="puck")


def test_a_ball_class_id_is_used_as_is_when_in_range(coco_detector: RfDetrDetector) -> None:
    assert RfDetrDetector(coco_detector.model, CPU_FP32, ball_class=32).ball_class_id == 32
    with pytest.raises(DetectorLoadError, match=r"ball class id 91 is outside .* 0\.\.90"):
        RfDetrDetector(coco_detector.model, CPU_FP32, ball_class=91)


# --- weights ----------------------------------------------------------------------------------


def test_safetensors_round_trip_gives_the_same_detections(
    ball_detector: RfDetrDetector, tmp_path: Path
) -> None:
    artifact = tmp_path / "ball-nano.safetensors"
    ball_detector.save(artifact)
    images = crops(2, seed=9)

    loaded = RfDetrDetector.from_config(ball_config(artifact), CPU_FP32)

    assert (loaded.resolution, loaded.class_names) == (SIDE, ("ball",))
    assert_same(loaded.detect(images), ball_detector.detect(images))


def test_bundled_rfdetr_pth_with_namespace_args_loads_safely(
    ball_detector: RfDetrDetector, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint_best_ema.pth"
    args = argparse.Namespace(class_names=["ball"], num_queries=30, group_detr=13, resolution=SIDE)
    torch.save({"model": ball_detector.network.state_dict(), "args": args}, checkpoint)
    images = crops(1, seed=10)

    loaded = RfDetrDetector.from_config(ball_config(None), CPU_FP32, bundled_weights=checkpoint)

    assert loaded.class_names == ("ball",)
    assert_same(loaded.detect(images), ball_detector.detect(images))


def test_a_missing_weights_file_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(
        DetectorLoadError,
        match=r"weights file '.*nope\.pth' not found; pass an existing checkpoint with --weights",
    ):
        RfDetrDetector.from_config(ball_config(tmp_path / "nope.pth"), CPU_FP32)


@pytest.mark.parametrize("name", ["garbage.pth", "garbage.safetensors"])
def test_a_corrupt_weights_file_is_not_a_readable_checkpoint(tmp_path: Path, name: str) -> None:
    corrupt = tmp_path / name
    corrupt.write_bytes(b"\x00not a checkpoint at all" * 10)

    with pytest.raises(DetectorLoadError, match=rf"weights file '.*{name}' is not a readable"):
        RfDetrDetector.from_config(ball_config(corrupt), CPU_FP32)


class Payload:
    """Stands for arbitrary pickled code: weights_only loading must refuse it."""


def test_a_pickle_with_code_is_refused(tmp_path: Path) -> None:
    checkpoint = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "payload": Payload()}, checkpoint)

    with pytest.raises(DetectorLoadError, match=r"'.*evil\.pth' is not a readable checkpoint"):
        RfDetrDetector.from_config(ball_config(checkpoint), CPU_FP32)


def test_small_weights_given_to_nano_do_not_fit(tmp_path: Path) -> None:
    torch.manual_seed(2)
    small = RfDetrDetector.random("small", resolution=SIDE, num_queries=30)
    checkpoint = tmp_path / "small.pth"
    torch.save({"model": small.network.state_dict()}, checkpoint)

    with pytest.raises(
        DetectorLoadError,
        match=r"'.*small\.pth' does not fit RF-DETR nano \(.*\); pass --size matching",
    ):
        RfDetrDetector.from_config(ball_config(checkpoint, ball_class="sports ball"), CPU_FP32)


def test_a_checkpoint_naming_another_size_says_which(
    ball_detector: RfDetrDetector, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "named.pth"
    state = ball_detector.network.state_dict()
    torch.save({"model": state, "model_name": "RFDETRSmall"}, checkpoint)

    with pytest.raises(
        DetectorLoadError, match=r"does not fit RF-DETR nano \(it is an RF-DETR small checkpoint\)"
    ):
        RfDetrDetector.from_config(ball_config(checkpoint), CPU_FP32)


def test_safetensors_without_our_metadata_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))

    with pytest.raises(DetectorLoadError, match=r"is not a ballwatch RF-DETR checkpoint"):
        RfDetrDetector.from_config(ball_config(foreign), CPU_FP32)


def test_coco_download_failure_offline_says_to_pass_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*_args: object, **_kwargs: object) -> None:
        raise requests.exceptions.ConnectionError("no network in tests")

    monkeypatch.setenv("RF_HOME", str(tmp_path))  # an empty cache: rfdetr must download
    monkeypatch.setattr(requests, "get", offline)
    monkeypatch.setattr(requests.Session, "request", offline)
    config = DetectorConfig(size="nano", resolution=SIDE)

    with pytest.raises(
        DetectorLoadError,
        match=r"could not download the RF-DETR COCO checkpoint \(offline\?\); pass --weights PATH",
    ):
        RfDetrDetector.from_config(config, CPU_FP32)


def test_a_checkpoint_runs_at_another_resolution(
    ball_detector: RfDetrDetector, tmp_path: Path
) -> None:
    artifact = tmp_path / "ball-nano-128.safetensors"
    ball_detector.save(artifact)

    wider = RfDetrDetector.from_config(ball_config(artifact, resolution=192), CPU_FP32)
    results = wider.detect([np.zeros((192, 192, 3), np.uint8)])

    assert wider.resolution == 192
    assert len(results[0]) == 30
    assert (results[0].xyxy <= 192).all()


def test_fp16_on_cpu_stays_close_to_fp32(ball_detector: RfDetrDetector) -> None:
    torch.manual_seed(0)  # the ball_detector's weights
    half = RfDetrDetector.random(
        "nano",
        resolution=SIDE,
        num_queries=30,
        num_classes=1,
        class_names=("ball",),
        plan=PrecisionPlan("cpu", Precision.FP16, "cpu: fp16 (test)"),
    )
    image = crops(1, seed=11)

    low = half.detect(image)[0]
    full = ball_detector.detect(image)[0]

    assert next(half.network.parameters()).dtype == torch.float16
    np.testing.assert_allclose(np.sort(low.confidence), np.sort(full.confidence), atol=0.02)


@pytest.mark.parametrize(
    ("size", "accepted"),
    [
        pytest.param(64, True, id="64"),
        pytest.param(96, True, id="96"),
        pytest.param(SIDE, True, id="resolution"),
        pytest.param(100, False, id="not-a-multiple-of-32"),
        pytest.param(32, False, id="too-small"),
        pytest.param(SIDE + 32, False, id="above-resolution"),
    ],
)
def test_accepted_input_sizes(ball_detector: RfDetrDetector, size: int, accepted: bool) -> None:
    assert ball_detector.accepts_input_size(size) is accepted


def test_a_smaller_crop_runs_at_its_own_size(ball_detector: RfDetrDetector) -> None:
    seen: list[tuple[int, ...]] = []
    hook = ball_detector.network.register_forward_pre_hook(
        lambda _module, args: seen.append(tuple(args[0].shape))
    )
    try:
        (found,) = ball_detector.detect([np.full((64, 64, 3), 90, np.uint8)])
    finally:
        hook.remove()

    assert seen == [(1, 3, 64, 64)]
    assert len(found) > 0
    assert found.xyxy.min() >= 0
    assert found.xyxy.max() <= 64


def test_auto_ball_class_finds_the_ball(
    ball_detector: RfDetrDetector, coco_detector: RfDetrDetector
) -> None:
    from perception.rfdetr_detector import RfDetrDetector as Adapter

    assert Adapter(ball_detector.model, CPU_FP32, ball_class="auto").ball_class_id == 0
    assert Adapter(coco_detector.model, CPU_FP32, ball_class="auto").ball_class_id == 37

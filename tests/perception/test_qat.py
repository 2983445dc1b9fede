"""QAT round trip: prepare -> fine-tune -> convert -> QDQ ONNX -> onnxruntime, on a tiny model."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from perception.dataset import ANNOTATION_FILE
from perception.detector import Precision
from perception.errors import PrecisionError
from perception.int8_detector import Int8Detector, open_session
from perception.options import QatSettings, add_qat_arguments
from perception.qat import (
    INT8_FORMAT,
    Batch,
    Int8Sidecar,
    QatError,
    convert,
    export_onnx,
    fine_tune,
    float_module_names,
    job_from_args,
    prepare_qat,
    qat_convert,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)
from perception.qat.distill import (
    BOX_WEIGHT,
    TEACHER_KEY,
    distillation_loss,
    distilled,
    frozen_teacher,
    with_teacher,
)

SIDE = 32
QUERIES = 4


class TinyDetr(torch.nn.Module):
    """A conv + linear stand-in with RF-DETR's output dict and head names."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(8, 16, 3, stride=2, padding=1),
            torch.nn.ReLU(),
        )
        self.proj = torch.nn.Linear(16, 16)
        self.query = torch.nn.Parameter(torch.randn(QUERIES, 16) * 0.5)
        self.class_embed = torch.nn.Linear(16, 2)
        self.bbox_embed = torch.nn.Linear(16, 4)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(images).flatten(2).mean(-1)
        hidden = torch.relu(self.proj(features))[:, None, :] + self.query[None]
        return {
            "pred_logits": self.class_embed(hidden),
            "pred_boxes": self.bbox_embed(hidden).sigmoid(),
        }


def _batches(seed: int) -> Iterator[Batch]:
    generator = torch.Generator().manual_seed(seed)
    while True:
        images = torch.randn(2, 3, SIDE, SIDE, generator=generator)
        targets = [torch.rand(QUERIES, 4, generator=generator) for _ in range(2)]
        yield images, targets


def _loss(outputs: Mapping[str, Any], targets: list[Any]) -> torch.Tensor:
    boxes: torch.Tensor = outputs["pred_boxes"]
    return torch.nn.functional.mse_loss(boxes[0], targets[0])


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    network = TinyDetr().eval()
    example = torch.zeros(1, 3, SIDE, SIDE)
    prepared = prepare_qat(
        network, example, keep_float=float_module_names(network), reduce_range=False
    )
    report = fine_tune(prepared, _batches(1), _loss, QatSettings(steps=6, lr=1e-3))
    assert len(report.losses) == 6
    converted = convert(prepared)
    path = tmp_path_factory.mktemp("qat") / "tiny-int8-qat.onnx"
    export_onnx(converted, example, path)
    write_sidecar(path, Int8Sidecar(resolution=SIDE, ball_class_id=0, class_names=("ball",)))
    return path, converted


def test_onnxruntime_runs_the_converted_model_within_tolerance(
    artifact: tuple[Path, torch.nn.Module],
) -> None:
    # given the QAT artifact and the converted torch graph it was exported from
    path, converted = artifact
    detector = Int8Detector.load(path, threshold=0.0)
    images = torch.randn(3, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(5))

    # when both run the same crops
    logits, boxes = detector.forward(images)
    with torch.no_grad():
        expected = [converted(images[i : i + 1]) for i in range(3)]

    # then onnxruntime's INT8 kernels agree with torch's reference Q/DQ arithmetic
    expected_logits = torch.cat([e["pred_logits"] for e in expected])
    expected_boxes = torch.cat([e["pred_boxes"] for e in expected])
    assert logits.shape == expected_logits.shape == (3, QUERIES, 2)
    torch.testing.assert_close(logits, expected_logits, atol=0.05, rtol=0.05)
    torch.testing.assert_close(boxes, expected_boxes, atol=0.02, rtol=0.02)


def test_artifact_is_a_qdq_graph_with_the_heads_kept_float(
    artifact: tuple[Path, torch.nn.Module],
) -> None:
    import onnx

    model = onnx.load(str(artifact[0]))
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("QuantizeLinear") >= 2
    assert ops.count("DequantizeLinear") >= 4
    # the two convs and proj hold INT8 weights; the class and box heads stay float
    weights = [t for t in model.graph.initializer if len(t.dims) >= 2]
    int8_shapes = sorted(tuple(t.dims) for t in weights if t.data_type == onnx.TensorProto.INT8)
    float_shapes = [tuple(t.dims) for t in weights if t.data_type == onnx.TensorProto.FLOAT]
    assert int8_shapes == [(8, 3, 3, 3), (16, 8, 3, 3), (16, 16)]
    assert (2, 16) in float_shapes or (16, 2) in float_shapes
    assert (4, 16) in float_shapes or (16, 4) in float_shapes


def test_int8_detector_knows_its_patch_grid_from_the_sidecar(
    artifact: tuple[Path, torch.nn.Module], tmp_path: Path
) -> None:
    # the search puts a wanted ball on a patch centre: the grid comes from the model size
    # the sidecar names (nano: 16 px); a sidecar that names none gives 0 (crops centred)
    named = tmp_path / "named-int8-qat.onnx"
    named.write_bytes(artifact[0].read_bytes())
    source = {"size": "nano", "weights": "tiny"}
    write_sidecar(named, Int8Sidecar(resolution=SIDE, ball_class_id=0, source=source))

    assert Int8Detector.load(named).patch_px == 16
    assert Int8Detector.load(artifact[0]).patch_px == 0


def test_int8_detector_finds_boxes_in_crop_pixels(artifact: tuple[Path, torch.nn.Module]) -> None:
    detector = Int8Detector.load(artifact[0], threshold=0.0)
    crops = [np.full((SIDE, SIDE, 3), value, np.uint8) for value in (0, 128)]

    found = detector.detect(crops)

    assert detector.precision is Precision.INT8
    assert detector.resolution == SIDE
    assert [len(result) for result in found] == [QUERIES, QUERIES]
    assert all(((r.xyxy >= 0) & (r.xyxy <= SIDE)).all() for r in found)


@pytest.mark.parametrize(
    ("file_name", "sidecar", "message"),
    [
        pytest.param("ball.safetensors", None, "is a float checkpoint", id="float-checkpoint"),
        pytest.param("model.onnx", None, "has no readable QAT sidecar", id="no-sidecar"),
        pytest.param(
            "model.onnx",
            {"format": INT8_FORMAT, "method": "ptq-onnxruntime", "resolution": 32},
            "not QAT",
            id="ptq-sidecar",
        ),
        pytest.param("model.onnx", {"format": "other/1"}, "not a ballwatch INT8", id="foreign"),
    ],
)
def test_int8_refuses_anything_not_made_by_qat(
    tmp_path: Path, file_name: str, sidecar: dict[str, Any] | None, message: str
) -> None:
    path = tmp_path / file_name
    path.write_bytes(b"weights")
    if sidecar is not None:
        sidecar_path(path).write_text(json.dumps(sidecar))

    with pytest.raises(PrecisionError, match=message) as caught:
        Int8Detector.load(path)

    assert "quantization-aware training" in str(caught.value)


def test_sidecar_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    written = Int8Sidecar(
        resolution=128,
        ball_class_id=0,
        class_names=("ball",),
        frame_input="grey-stack",
        training={"steps": 3, "data": "synth:?seed=1"},
    )
    write_sidecar(path, written)

    assert read_sidecar(path) == written


def test_qat_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="batch_size >= 1"):
        QatSettings(batch_size=0)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_qat_arguments(parser)
    return parser.parse_args(list(argv))


def test_qat_command_defaults_put_the_artifact_beside_the_weights() -> None:
    job = job_from_args(_parse("--weights", "models/ball.safetensors", "--data", "synth:"))

    assert job.output == Path("models/ball.int8-qat.onnx")  # the twin run and eval look for
    assert job.reduce_range is None
    assert job.settings == QatSettings()


def test_qat_command_rejects_a_zero_batch() -> None:
    args = _parse("--weights", "b.safetensors", "--data", "d", "--batch-size", "0")

    with pytest.raises(QatError, match="batch_size >= 1"):
        job_from_args(args)


# A box coordinate is a fraction of the crop; one int8 step of a [0, 1] activation is 1/255.
INT8_STEP = 1 / 255
BOX_ATOL = 5 * INT8_STEP  # the heads are float: a few steps of the int8 features they read
LOGIT_ATOL, LOGIT_RTOL = 0.1, 0.05  # float heads on int8 features; seen up to 0.16 at |4.3|


def match_queries(boxes: torch.Tensor, expected: torch.Tensor) -> tuple[Any, Any]:
    """Pair the queries of two ``(Q, 4)`` box sets by least total L1 distance (Hungarian).

    The decoder's query order is the encoder's top-k order, which int8 kernels may
    change when two proposals score almost alike (AMX and AVX2 round differently):
    a comparison position by position would check that accident, not the round trip.
    """
    from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

    cost = torch.cdist(boxes.double(), expected.double(), p=1).numpy()
    rows, cols = linear_sum_assignment(cost)
    return rows, cols


def test_query_matching_ignores_order_but_not_a_moved_box() -> None:
    expected = torch.tensor([[0.1, 0.1, 0.05, 0.05], [0.5, 0.5, 0.05, 0.05], [0.9, 0.2, 0.1, 0.1]])
    order = torch.tensor([2, 0, 1])

    rows, cols = match_queries(expected[order], expected)

    assert torch.equal(expected[order][rows], expected[cols])
    moved = expected[order].clone()
    moved[0, 0] += 0.3
    rows, cols = match_queries(moved, expected)
    assert (moved[rows] - expected[cols]).abs().max() > BOX_ATOL


@pytest.mark.slow
@pytest.mark.timeout(600)  # ~100 s on a quiet 2-core machine; a busy one is much slower
def test_rfdetr_nano_round_trip_matches_the_converted_graph(tmp_path: Path) -> None:
    from perception.rfdetr_detector import RfDetrDetector, input_batch

    # given a small random RF-DETR Nano, QAT-ed for one step on synthetic crops, whose
    # queries all select proposals: 16 queries for the 16 tokens of a 64 px crop (no
    # proposal can fall in or out of the top-k) and one shared query embedding (a
    # query is then known by its proposal alone, so a new order only permutes them)
    torch.manual_seed(0)
    detector = RfDetrDetector.random(
        "nano", resolution=64, num_queries=16, num_classes=1, class_names=("ball",)
    )
    assert detector.patch_px == 16  # nano's ViT grid (the search aligns wanted balls to it)
    with torch.no_grad():
        query_feat = detector.network.get_parameter("query_feat.weight")
        query_feat.copy_(query_feat[:1].expand_as(query_feat))
    result = qat_convert(detector, "synth:?seed=3", QatSettings(steps=1, batch_size=1))
    path = tmp_path / "nano-int8-qat.onnx"
    export_onnx(result.converted, torch.zeros(1, 3, 64, 64), path)

    # when onnxruntime (MatMulAddFusion off) and the converted graph run the same crop
    crop = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    batch = input_batch([crop], 64)
    logits, boxes = Int8Detector(open_session(path), 64, 0).forward(batch)
    with torch.no_grad():
        expected = result.converted(batch)

    # then every query has its twin, whatever the order, and the heads stayed float
    rows, cols = match_queries(boxes[0], expected["pred_boxes"][0])
    assert len(rows) == 16
    torch.testing.assert_close(
        boxes[0][rows], expected["pred_boxes"][0][cols], atol=BOX_ATOL, rtol=0
    )
    torch.testing.assert_close(
        logits[0][rows],
        expected["pred_logits"][0][cols],
        atol=LOGIT_ATOL,
        rtol=LOGIT_RTOL,
    )
    assert any("sampling_offsets" in name for name in result.kept_float)
    assert "class_embed" in result.kept_float
    # and the artifact holds the patch embedding's weights in float, the ViT's in int8
    import onnx

    weights = {tuple(t.dims): t.data_type for t in onnx.load(str(path)).graph.initializer}
    assert weights[(384, 3, 16, 16)] == onnx.TensorProto.FLOAT
    assert weights[(1536, 384)] == onnx.TensorProto.INT8


def test_rf_detr_keeps_its_patch_embedding_and_heads_float() -> None:
    from perception.rfdetr_detector import RfDetrDetector

    # the one conv that sees the pixels: in int8 a grey-stack model lost a tiny ball's
    # frame-to-frame change there (held-out crop F1 0.503 -> 0.577-0.587 with it float)
    network = RfDetrDetector.random(
        "nano", resolution=64, num_queries=16, num_classes=1, class_names=("ball",)
    ).network

    kept = float_module_names(network)

    assert "backbone.0.encoder.encoder.embeddings.patch_embeddings.projection" in kept
    assert {"class_embed", "bbox_embed.layers.2"} <= set(kept)
    assert any(name.endswith("cross_attn.sampling_offsets") for name in kept)
    assert not any(".encoder.layer." in name for name in kept)  # the ViT blocks go int8


def test_switch_loads_the_qat_model_at_start(artifact: tuple[Path, torch.nn.Module]) -> None:
    from configs.app_config import DetectorConfig, Int8Config
    from perception.int8_switch import load_int8_detector
    from tests.fakes import FakeDetector

    config = DetectorConfig(int8_artifact=str(artifact[0]))

    loaded = load_int8_detector(config, Int8Config(auto_switch=True), FakeDetector(SIDE))

    assert loaded is not None
    assert loaded.precision is Precision.INT8
    assert load_int8_detector(config, Int8Config(auto_switch=False), FakeDetector(SIDE)) is None


def test_switch_refuses_a_qat_model_of_another_resolution_at_start(
    artifact: tuple[Path, torch.nn.Module],
) -> None:
    from configs.app_config import DetectorConfig, Int8Config
    from perception.errors import DetectorLoadError
    from perception.int8_switch import load_int8_detector
    from tests.fakes import FakeDetector

    config = DetectorConfig(int8_artifact=str(artifact[0]))

    with pytest.raises(DetectorLoadError, match="runs at 32 px but the float model at 64 px"):
        load_int8_detector(config, Int8Config(auto_switch=True), FakeDetector(64))


def test_switch_refuses_a_qat_model_that_sees_other_frames_at_start(
    artifact: tuple[Path, torch.nn.Module],
) -> None:
    # the artifact's sidecar says nothing: an RGB model; the float model sees grey stacks
    from configs.app_config import DetectorConfig, Int8Config
    from perception.errors import DetectorLoadError
    from perception.int8_switch import load_int8_detector
    from perception.options import FrameInput
    from tests.fakes import FakeDetector

    class StackedFake(FakeDetector):
        @property
        def frame_input(self) -> FrameInput:
            return FrameInput.GREY_STACK

    config = DetectorConfig(int8_artifact=str(artifact[0]))

    with pytest.raises(DetectorLoadError, match="sees rgb frames but the float model sees grey"):
        load_int8_detector(config, Int8Config(auto_switch=True), StackedFake(SIDE))


def test_qat_of_a_grey_stack_model_refuses_a_folder_of_colour_crops(tmp_path: Path) -> None:
    from perception.options import FrameInput
    from perception.precision import PrecisionPlan
    from perception.qat import quantize_detector
    from perception.rfdetr_detector import RfDetrDetector

    plain = RfDetrDetector.random(
        "nano", resolution=64, num_queries=4, num_classes=1, class_names=["ball"]
    )
    plan = PrecisionPlan("cpu", Precision.FP32, "cpu: fp32 (test)")
    stacked = RfDetrDetector(
        plain.model, plan, ball_class=0, threshold=0.0, frame_input=FrameInput.GREY_STACK
    )

    colour = tmp_path / "colour-crops"  # a COCO folder of RGB crops ('ballwatch dataset')
    (colour / "train").mkdir(parents=True)
    (colour / "train" / ANNOTATION_FILE).write_text('{"info": {"ballwatch_frame_input": "rgb"}}')

    with pytest.raises(QatError, match="holds rgb crops but the model sees grey-stack frames"):
        quantize_detector(stacked, str(colour), tmp_path / "m.onnx", QatSettings(steps=1))
    assert not (tmp_path / "m.onnx").exists()


def test_qat_of_a_grey_stack_model_on_synth_data_fine_tunes_on_grey_stacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perception.options import FrameInput
    from perception.precision import PrecisionPlan
    from perception.qat import quantize_detector
    from perception.rfdetr_detector import RfDetrDetector

    plain = RfDetrDetector.random(
        "nano", resolution=64, num_queries=4, num_classes=1, class_names=["ball"]
    )
    plan = PrecisionPlan("cpu", Precision.FP32, "cpu: fp32 (test)")
    stacked = RfDetrDetector(
        plain.model, plan, ball_class=0, threshold=0.0, frame_input=FrameInput.GREY_STACK
    )
    asked: list[FrameInput] = []

    class EnoughError(Exception):
        pass

    def crops(data: str, resolution: int, settings: QatSettings, shown: FrameInput) -> Any:
        asked.append(shown)
        raise EnoughError

    monkeypatch.setattr("perception.qat.job.crop_batches", crops)

    # synthetic crops are made as the model sees frames (tests/perception/test_dataset.py)
    with pytest.raises(EnoughError):
        quantize_detector(stacked, "synth:?seed=1", tmp_path / "m.onnx", QatSettings(steps=1))
    assert asked == [FrameInput.GREY_STACK]


def test_held_out_scoring_counts_a_top_query_on_the_ball_as_a_hit() -> None:
    from perception.dataset import CropBall, CropSample
    from perception.qat import score_graph

    # given one crop with a ball at (40, 24) and one without, in 64 px crops
    image = np.zeros((64, 64, 3), np.uint8)
    samples = [
        CropSample(image, (CropBall(40.0, 24.0, 12.0),), "g", 0),
        CropSample(image, (), "g", 1),
    ]
    answers = iter([(0.9, 41.0, 25.0), (0.1, 10.0, 10.0)])

    def forward(images: torch.Tensor) -> dict[str, torch.Tensor]:
        score, x, y = next(answers)
        logit = torch.logit(torch.tensor(score))
        return {
            "pred_logits": torch.stack([logit, torch.tensor(-9.0)]).view(1, 2, 1),
            "pred_boxes": torch.tensor([[[x / 64, y / 64, 0.1, 0.1], [0.5, 0.5, 0.1, 0.1]]]),
        }

    # when scored, then the top query 1.4 px from the ball is a hit and 0.1 stays below
    result = score_graph(forward, samples)

    assert result["f1"] == pytest.approx(1.0)
    assert 0.1 < result["threshold"] <= 0.9


def test_qat_command_refuses_a_model_that_is_not_a_ball_model(tmp_path: Path) -> None:
    from perception.qat import run_qat
    from perception.weights import CheckpointMeta, save_ball_checkpoint

    weights = tmp_path / "coco.safetensors"
    meta = CheckpointMeta(size="nano", resolution=128, class_names=())
    save_ball_checkpoint(weights, {"class_embed.bias": torch.zeros(91)}, meta)

    with pytest.raises(QatError, match="not a one-class ball model"):
        run_qat(_parse("--weights", str(weights), "--data", "synth:?seed=1"))


def _answer(logit: float, box: tuple[float, ...]) -> dict[str, torch.Tensor]:
    return {"pred_logits": torch.tensor([[[logit]]]), "pred_boxes": torch.tensor([[box]])}


def test_distillation_loss_is_zero_when_the_student_answers_as_the_teacher() -> None:
    with torch.no_grad():
        teacher = TinyDetr().eval()(torch.randn(2, 3, SIDE, SIDE))

    assert float(distillation_loss(teacher, teacher)) == pytest.approx(0.0, abs=1e-6)


def test_distillation_pairs_queries_whatever_their_order() -> None:
    with torch.no_grad():
        teacher = TinyDetr().eval()(torch.randn(2, 3, SIDE, SIDE))
    reordered = {key: value.flip(1) for key, value in teacher.items()}  # the same, reversed

    assert float(distillation_loss(reordered, teacher)) == pytest.approx(0.0, abs=1e-6)
    moved = {**reordered, "pred_boxes": reordered["pred_boxes"] + 0.01}
    assert float(distillation_loss(moved, teacher)) == pytest.approx(BOX_WEIGHT * 0.04, rel=1e-3)


def test_distillation_loss_on_one_query_by_hand() -> None:
    # teacher p = 0.5, student p = 0.75: KL = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25)
    kl = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    # the box is 0.1 off in x, weighted by the teacher's belief (0.5) over its sum (0.5)
    boxes = BOX_WEIGHT * 0.1
    student = _answer(math.log(3.0), (0.6, 0.5, 0.1, 0.1))

    loss = distillation_loss(student, _answer(0.0, (0.5, 0.5, 0.1, 0.1)))

    assert float(loss) == pytest.approx(kl + boxes, rel=1e-5)


def test_with_teacher_attaches_each_crops_own_answer() -> None:
    teacher = TinyDetr().eval()
    images = next(_batches(3))[0]

    (marked_images, marked), *_ = list(with_teacher([(images, [{"n": 0}, {"n": 1}])], teacher))

    assert marked_images is images
    for index, target in enumerate(marked):
        expected = teacher(images[index : index + 1])
        assert target["n"] == index
        assert not target[TEACHER_KEY]["pred_logits"].requires_grad
        torch.testing.assert_close(target[TEACHER_KEY]["pred_boxes"], expected["pred_boxes"])


def test_the_task_loss_never_sees_the_teachers_answer() -> None:
    seen: list[Any] = []

    def task(outputs: Mapping[str, Any], targets: list[Any]) -> torch.Tensor:
        seen.extend(targets)
        return torch.tensor(1.5)

    answer = _answer(0.0, (0.5, 0.5, 0.1, 0.1))
    target = {"labels": torch.tensor([0]), TEACHER_KEY: answer}

    assert float(distilled(task, 0.0)(answer, [target])) == 1.5
    # the student answers as its teacher: the mix is the task's share alone
    assert float(distilled(task, 0.4)(answer, [target])) == pytest.approx(0.6 * 1.5, abs=1e-6)
    assert float(distilled(task, 1.0)(answer, [target])) == pytest.approx(0.0, abs=1e-6)
    assert len(seen) == 2  # the teacher alone (1.0) never asks the task
    assert all(TEACHER_KEY not in t for t in seen)
    with pytest.raises(ValueError, match=r"distillation weight must be in \[0, 1\]"):
        distilled(task, 1.5)


def test_qat_with_a_teacher_moves_the_student_towards_the_teachers_answers() -> None:
    torch.manual_seed(1)
    teacher = TinyDetr().eval()
    torch.manual_seed(2)
    student = TinyDetr().eval()  # another start, so there is something to learn
    example = torch.zeros(1, 3, SIDE, SIDE)
    prepared = prepare_qat(
        student, example, keep_float=float_module_names(student), reduce_range=False
    )
    probe = next(_batches(99))[0]
    with torch.no_grad():
        answer = teacher(probe[:1])

    def gap() -> float:
        with torch.no_grad():
            return sum(
                float(distillation_loss(prepared(probe[i : i + 1]), teacher(probe[i : i + 1])))
                for i in range(probe.shape[0])
            )

    before = gap()

    crops = ((images, [{} for _ in images]) for images, _ in _batches(5))
    settings = QatSettings(steps=40, lr=1e-2, distill=1.0)
    fine_tune(prepared, with_teacher(crops, teacher), distilled(_loss, 1.0), settings)

    assert gap() < 0.5 * before  # measured: 3.74 -> 0.18
    torch.testing.assert_close(teacher(probe[:1]), answer)  # the target stood still


def test_the_teacher_is_not_trained_with_its_student() -> None:
    network = TinyDetr().eval()
    teacher = frozen_teacher(network)  # before prepare_qat, as the QAT job does
    prepared = prepare_qat(
        network, torch.zeros(1, 3, SIDE, SIDE), keep_float=(), reduce_range=False
    )
    probe = next(_batches(98))[0][:1]
    with torch.no_grad():
        answer = teacher(probe)

    fine_tune(prepared, _batches(4), _loss, QatSettings(steps=5, lr=1e-2))

    with torch.no_grad():
        torch.testing.assert_close(teacher(probe), answer)
        assert not torch.allclose(network(probe)["pred_boxes"], answer["pred_boxes"])


def test_qat_command_takes_a_distillation_weight_and_refuses_a_negative_one() -> None:
    job = job_from_args(_parse("--weights", "b.safetensors", "--data", "d", "--distill", "0.5"))
    assert job.settings.distill == 0.5

    args = _parse("--weights", "b.safetensors", "--data", "d", "--distill", "-1")
    with pytest.raises(QatError, match=r"distill must be in \[0, 1\]"):
        job_from_args(args)

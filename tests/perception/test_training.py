"""Training: a few CPU steps lower the loss, and the checkpoint loads in the detector adapter."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from configs.app_config import DetectorConfig
from perception.dataset import (
    CropRecipe,
    Split,
    assign_splits,
    build_dataset,
    frames_from_synth,
    samples_from_frames,
    write_samples,
)
from perception.detector import Precision
from perception.options import FrameInput, add_train_arguments
from perception.precision import PrecisionPlan
from perception.rfdetr_detector import RfDetrDetector
from perception.training import (
    LoopSettings,
    ModelSpec,
    TrainConfig,
    TrainEngine,
    TrainingError,
    config_from_args,
    export_checkpoint,
    train,
    train_loop,
)
from perception.weights import load_checkpoint
from stream.cli import main

TINY = ModelSpec(resolution=64, num_queries=5, group_detr=2)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A COCO folder of 64 px crops from three short synthetic matches."""
    root = tmp_path_factory.mktemp("tiny")
    seeds = [21, 22, 23]
    splits = assign_splits([f"synth-{s}" for s in seeds], valid_fraction=0.34)
    build_dataset(frames_from_synth(seeds, 48, 4), root, CropRecipe(resolution=64), splits)
    return root


def loop_config(data: Path, out: Path, steps: int, *, resume: bool = False) -> TrainConfig:
    return TrainConfig(
        data=str(data),
        output_dir=out,
        model=TINY,
        engine=TrainEngine.LOOP,
        batch_size=4,
        lr=5e-4,
        device="cpu",
        threads=1,
        resume=resume,
        loop=LoopSettings(
            steps=steps, warmup_steps=0, checkpoint_every=4, log_every=1, eval_crops=8
        ),
    )


def logged(out: Path) -> list[dict[str, float]]:
    lines = (out / "train_log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_a_few_steps_lower_the_loss_and_the_checkpoint_loads_in_the_detector(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    # given a tiny dataset and a from-scratch model
    cfg = loop_config(tiny_dataset, tmp_path, steps=8)

    # when training a few steps
    result = train(cfg)

    # then the loss went down
    losses = [r["loss"] for r in logged(tmp_path) if "loss" in r]
    assert len(losses) == 8
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    # and the checkpoint loads where `ballwatch run --weights` loads it, with its metadata
    meta = load_checkpoint(result.checkpoint).meta
    assert (meta.size, meta.resolution, meta.num_queries, meta.class_names) == (
        "nano",
        64,
        5,
        ("ball",),
    )
    detector = RfDetrDetector.from_config(
        DetectorConfig(weights=str(result.checkpoint), ball_class="ball", threshold=0.0),
        PrecisionPlan("cpu", Precision.FP32, "cpu: fp32 (test)"),
    )
    assert detector.resolution == 64
    (found,) = detector.detect([np.zeros((64, 64, 3), np.uint8)])
    assert len(found) == 5
    # and the held-out evaluation sits next to it
    report = json.loads((tmp_path / "model.eval.json").read_text())
    assert report["tolerance_px"] == 4.0
    assert 0.0 <= report["f1"] <= 1.0


@pytest.mark.slow
def test_the_motion_input_trains_and_the_checkpoint_runs_on_grey_stacks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # given a folder of grey-stacked crops (the motion input) from three synthetic matches
    data = tmp_path / "stacks"
    seeds = [21, 22, 23]
    splits = assign_splits([f"synth-{s}" for s in seeds], valid_fraction=0.34)
    frames = frames_from_synth(seeds, 48, 4, FrameInput.GREY_STACK)
    samples = samples_from_frames(frames, CropRecipe(resolution=64), seed=0)
    write_samples(samples, data, splits, FrameInput.GREY_STACK)

    # when training a few steps from scratch
    result = train(loop_config(data, tmp_path / "run", steps=8))

    # then the loss went down and the checkpoint says what it was trained to see
    losses = [r["loss"] for r in logged(tmp_path / "run") if "loss" in r]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert load_checkpoint(result.checkpoint).meta.frame_input == "grey-stack"
    # and `ballwatch run` loads it and runs it on stacked frames
    status = main(
        [
            "run",
            "synth:?seed=2&frames=4&width=128&height=96&fps=25",
            "--weights",
            str(result.checkpoint),
            "--track-csv",
            str(tmp_path / "track.csv"),
            "--set",
            "detector.threads=1",
            "--set",
            "detector.resolution=64",
            "--no-progress",
        ]
    )
    assert status == 0
    assert any("grey-stack input" in record.getMessage() for record in caplog.records)
    assert len((tmp_path / "track.csv").read_text().splitlines()) == 1 + 4


@pytest.mark.slow
def test_resume_continues_where_the_run_stopped(tiny_dataset: Path, tmp_path: Path) -> None:
    train_loop(loop_config(tiny_dataset, tmp_path, steps=4))

    train_loop(loop_config(tiny_dataset, tmp_path, steps=6, resume=True))

    steps = [r["step"] for r in logged(tmp_path) if "loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
def test_patience_stops_the_run_after_evaluations_without_a_better_held_out_f1(
    tmp_path: Path,
) -> None:
    # given held-out crops without a ball: their F1 is 0 whatever the model does (on any
    # CPU), so only the first evaluation is a new best
    frames = frames_from_synth([21, 22], 48, 4)
    samples = list(samples_from_frames(frames, CropRecipe(resolution=64), seed=0))
    train_crops = [s for s in samples if s.group == "synth-21"]
    held_crops = [s for s in samples if s.group == "synth-22" and not s.balls]
    data = tmp_path / "data"
    write_samples([*train_crops, *held_crops], data, {"synth-22": Split.VALID})
    cfg = loop_config(data, tmp_path / "run", steps=20)
    cfg = replace(cfg, loop=replace(cfg.loop, checkpoint_every=2, patience=2))

    # when training with patience 2
    train_loop(cfg)

    # then it stopped at the second evaluation after the best one (step 2): step 6 of 20
    records = logged(tmp_path / "run")
    assert max(r["step"] for r in records if "loss" in r) == 6
    assert records[-1] == {"step": 6, "early_stop": 2}
    assert (tmp_path / "run" / "best.pt").exists()


@pytest.mark.slow
def test_export_last_ships_the_last_step_not_the_best_held_out_one(tmp_path: Path) -> None:
    # given held-out crops without a ball (F1 0 at every evaluation: the first is the best)
    frames = frames_from_synth([21, 22], 48, 4)
    samples = list(samples_from_frames(frames, CropRecipe(resolution=64), seed=0))
    crops = [s for s in samples if s.group == "synth-21" or not s.balls]
    data = tmp_path / "data"
    write_samples(crops, data, {"synth-22": Split.VALID})
    cfg = loop_config(data, tmp_path / "run", steps=6)
    cfg = replace(cfg, loop=replace(cfg.loop, checkpoint_every=2), export="last")

    # when the run exports its last step
    result = train(cfg)

    # then the shipped weights are last.pt's (step 6), not best.pt's (step 2)
    shipped = load_checkpoint(result.checkpoint).state_dict
    last = load_checkpoint(tmp_path / "run" / "last.pt").state_dict
    best = load_checkpoint(tmp_path / "run" / "best.pt").state_dict
    assert all(torch.equal(shipped[k], last[k].to(shipped[k].dtype)) for k in shipped)
    assert not all(torch.equal(shipped[k], best[k].to(shipped[k].dtype)) for k in shipped)


def test_resume_without_a_previous_run_says_so(tiny_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run once without --resume"):
        train_loop(loop_config(tiny_dataset, tmp_path, steps=2, resume=True))


def test_fp16_export_halves_the_file_and_keeps_the_weights(tmp_path: Path) -> None:
    from perception.training import build_model_and_criterion

    model, _ = build_model_and_criterion(TINY, "cpu")
    state = model.state_dict()

    full = export_checkpoint(state, TINY, tmp_path / "fp32.safetensors")
    half = export_checkpoint(state, TINY, tmp_path / "fp16.safetensors", fp16=True)

    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_checkpoint(half)
    assert loaded.meta == load_checkpoint(full).meta
    key = "class_embed.weight"
    assert np.allclose(loaded.state_dict[key].float().numpy(), state[key].numpy(), atol=1e-3)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return parser.parse_args(argv)


def test_flags_override_the_config_file_and_amp_stays_off_on_cpu(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("data: d\noutput_dir: o\nmixed_precision: true\nlr: 0.001\nsteps: 50\n")

    cfg = config_from_args(parse(["--config", str(config), "--lr", "0.0003", "--device", "cpu"]))

    assert cfg.lr == 0.0003
    assert cfg.loop.steps == 50
    assert cfg.mixed_precision is True
    assert not cfg.uses_amp()  # CPU trains in FP32 whatever the file says
    assert config_from_args(parse(["--config", str(config), "--no-amp"])).mixed_precision is False


def test_a_misspelt_config_key_is_rejected(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("data: d\noutput_dir: o\nmixed_precison: false\n")

    with pytest.raises(TrainingError, match="mixed_precison"):
        config_from_args(parse(["--config", str(config)]))


def test_crowded_draws_need_synthetic_data(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("data: runs/real-data\noutput_dir: o\ncrowded_share: 0.5\n")

    with pytest.raises(TrainingError, match=r"crowded_share 0\.5 needs synth: data"):
        config_from_args(parse(["--config", str(config)]))
    config.write_text("data: 'synth:?seed=5'\noutput_dir: o\ncrowded_share: 1.5\n")
    with pytest.raises(TrainingError, match="crowded_share"):
        config_from_args(parse(["--config", str(config)]))


def test_training_needs_data_and_an_output_folder() -> None:
    with pytest.raises(TrainingError, match="needs --data and --out"):
        config_from_args(parse(["--lr", "0.001"]))


@pytest.mark.slow
def test_rfdetr_trainer_engine_writes_a_checkpoint_the_detector_loads(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    cfg = TrainConfig(
        data=str(tiny_dataset),
        output_dir=tmp_path,
        model=TINY,
        engine=TrainEngine.RFDETR,
        epochs=1,
        batch_size=4,
        device="cpu",
        threads=1,
    )

    result = train(cfg)

    assert (tmp_path / "last.ckpt").exists()  # what --resume continues from
    meta = load_checkpoint(result.checkpoint).meta
    assert (meta.resolution, meta.num_queries, meta.class_names) == (64, 5, ("ball",))
    assert (tmp_path / "model.eval.json").exists()

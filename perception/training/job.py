"""A whole run: train with either engine, export our checkpoint and evaluate it."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from configs.app_config import DetectorConfig
from perception.dataset import CropSample, read_coco_split, read_frame_input
from perception.detector import Precision
from perception.options import FrameInput, ModelSize, TrainEngine
from perception.precision import PrecisionPlan
from perception.rfdetr_detector import RfDetrDetector
from perception.training.config import ModelSpec, TrainConfig
from perception.training.loop_engine import BEST_FILE, STATE_FILE, crop_streams, train_loop
from perception.training.rfdetr_engine import train_rfdetr
from perception.training.scoring import HIT_TOLERANCE_PX, CropScore, score_crops
from perception.weights import CheckpointMeta, load_checkpoint, save_ball_checkpoint

logger = logging.getLogger(__name__)


def best_state_dict(out_dir: Path) -> dict[str, torch.Tensor]:
    """The best weights a run left in ``out_dir`` (either engine).

    Raises:
        FileNotFoundError: the folder holds no checkpoint.
    """
    names = (BEST_FILE, "checkpoint_best_total.pth", "checkpoint_best_regular.pth", STATE_FILE)
    return _first_state(out_dir, names, f"{BEST_FILE} or a rfdetr .pth")


def last_state_dict(out_dir: Path) -> dict[str, torch.Tensor]:
    """The weights of a run's last step (``last.pt`` of the loop, ``checkpoint.pth`` of rfdetr).

    Raises:
        FileNotFoundError: the folder holds no last state.
    """
    return _first_state(out_dir, (STATE_FILE, "checkpoint.pth"), f"{STATE_FILE} or checkpoint.pth")


def _first_state(out_dir: Path, names: Sequence[str], expected: str) -> dict[str, torch.Tensor]:
    """The weights of the first of ``names`` found in ``out_dir``."""
    for name in names:
        path = out_dir / name
        if path.exists():
            return dict(load_checkpoint(path).state_dict)
    msg = f"no checkpoint in {out_dir}; train first (expected {expected})"
    raise FileNotFoundError(msg)


def export_checkpoint(
    state: dict[str, torch.Tensor], spec: ModelSpec, path: Path, *, fp16: bool = False
) -> Path:
    """Write ``state`` in the detector adapter's ``.safetensors`` format (see weights.py).

    Args:
        state: ``LWDETR`` weights.
        spec: recorded as metadata (size, resolution, queries, class names).
        path: destination file.
        fp16: store floating-point tensors as FP16 (half the size; the adapter loads them
            into its FP32 model, which costs nothing measurable in accuracy).
    """
    meta = CheckpointMeta(
        size=ModelSize(spec.size).value,
        resolution=spec.resolution,
        num_queries=spec.num_queries,
        group_detr=spec.group_detr,
        class_names=tuple(spec.class_names),
        frame_input=FrameInput(spec.frame_input).value,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_ball_checkpoint(path, state, meta)
    if fp16:
        with safe_open(str(path), framework="pt") as handle:
            recorded = handle.metadata() or {}
        tensors = {
            name: (t.half() if t.is_floating_point() else t).contiguous().clone()
            for name, t in state.items()
        }
        save_file(tensors, str(path), metadata=recorded)
    return path


def evaluate_checkpoint(
    weights: Path,
    spec: ModelSpec,
    samples: Sequence[CropSample],
    device: Literal["cpu", "cuda"] = "cpu",
) -> CropScore:
    """Score a saved checkpoint on held-out crops through the detector adapter (FP32).

    Loading through :class:`~perception.rfdetr_detector.RfDetrDetector` is the point: the
    figure is what ``ballwatch run --weights`` will see, not what the training loop saw.
    """
    detector_config = DetectorConfig(
        size=ModelSize(spec.size).value,
        weights=str(weights),
        ball_class=spec.class_names[0],
        threshold=0.0,
    )
    plan = PrecisionPlan(device, Precision.FP32, f"{device}: fp32 (evaluation)")
    detector = RfDetrDetector.from_config(detector_config, plan)
    scores = np.zeros(len(samples), dtype=np.float32)
    centres = np.zeros((len(samples), 2), dtype=np.float32)
    for start in range(0, len(samples), 16):
        batch = samples[start : start + 16]
        for offset, found in enumerate(detector.detect([s.image for s in batch])):
            if len(found):
                x0, y0, x1, y1 = found.xyxy[0]
                scores[start + offset] = found.confidence[0]
                centres[start + offset] = ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
    return score_crops(scores, centres, samples)


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a finished run produced.

    Attributes:
        checkpoint: the ``.safetensors`` file ``ballwatch run --weights`` loads.
        evaluation: F1 at 4 px on the held-out crops, also written as JSON next to it.
    """

    checkpoint: Path
    evaluation: CropScore


def _held_out(cfg: TrainConfig) -> list[CropSample]:
    if cfg.data.startswith("synth:"):
        return crop_streams(cfg, 0)[1]
    return read_coco_split(Path(cfg.data), "valid")


def train(cfg: TrainConfig) -> TrainResult:
    """Train, export ``model.safetensors`` and evaluate it on the held-back clips.

    The evaluation (F1 at 4 px of the top detection per held-out crop, through the detector
    adapter in FP32) is written to ``model.eval.json`` beside the checkpoint. The model's
    frame input (colour or grey stacks) is what the dataset folder's crops show, recorded
    in the checkpoint so ``run`` feeds it the same.
    """
    if not cfg.data.startswith("synth:"):
        shown = read_frame_input(Path(cfg.data))
        cfg = replace(cfg, model=replace(cfg.model, frame_input=shown))
    device = cfg.resolved_device()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device == "cpu":
        logger.info("CPU: training in FP32 (mixed precision is CUDA-only)")
    elif not cfg.uses_amp():
        logger.info("AMP off: training in FP32 on %s", device)
    if cfg.engine is TrainEngine.LOOP:
        out = train_loop(cfg)
    else:
        if cfg.data.startswith("synth:"):
            msg = (
                f"the rfdetr engine reads a dataset folder, not {cfg.data!r}; "
                "build one with 'ballwatch dataset --synth N' or pass --engine loop"
            )
            raise ValueError(msg)
        out = train_rfdetr(cfg)
    state = best_state_dict(out) if cfg.export == "best" else last_state_dict(out)
    checkpoint = export_checkpoint(state, cfg.model, out / "model.safetensors")
    held_out = _held_out(cfg)
    evaluation = evaluate_checkpoint(checkpoint, cfg.model, held_out)
    report = {"tolerance_px": HIT_TOLERANCE_PX, "crops": len(held_out), **asdict(evaluation)}
    (out / "model.eval.json").write_text(json.dumps(report, indent=2))
    logger.info(
        "held-out F1 at 4 px: %.3f (threshold %.2f) -> %s",
        evaluation.f1,
        evaluation.threshold,
        checkpoint,
    )
    return TrainResult(checkpoint, evaluation)

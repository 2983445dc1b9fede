"""``ballwatch train``: the training config file and the flags, merged into a run."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perception.options import ModelSize, TrainEngine
from perception.training.config import LoopSettings, ModelSpec, TrainConfig, TrainingError
from perception.training.job import train

logger = logging.getLogger(__name__)


class TrainFile(BaseModel):
    """``configs/train.yaml``: every key optional, typos rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str | None = None
    output_dir: str | None = None
    engine: TrainEngine | None = None
    init: str | None = None
    size: ModelSize | None = None
    resolution: int | None = Field(None, ge=64, multiple_of=32)
    num_queries: int | None = Field(None, ge=1, le=300)
    group_detr: int | None = Field(None, ge=1)
    ia_bce_loss: bool | None = None
    batch_size: int | None = Field(None, ge=1)
    lr: float | None = Field(None, gt=0)
    epochs: int | None = Field(None, ge=1)
    steps: int | None = Field(None, ge=1)
    warmup_steps: int | None = Field(None, ge=0)
    checkpoint_every: int | None = Field(None, ge=1)
    patience: int | None = Field(None, ge=0)
    eval_crops: int | None = Field(None, ge=2)
    crowded_share: float | None = Field(None, ge=0.0, le=1.0)
    mixed_precision: bool | None = None
    device: Literal["auto", "cpu", "cuda"] | None = None
    threads: int | None = Field(None, ge=1)
    seed: int | None = None
    export: Literal["best", "last"] | None = None


def load_train_file(path: Path) -> TrainFile:
    """Read and validate a training config file.

    Raises:
        TrainingError: unreadable YAML or an invalid key/value (named with the file).
    """
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        return TrainFile.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        msg = f"invalid training config {path}: {exc}"
        raise TrainingError(msg) from exc


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Merge ``--config`` and the flags into a :class:`TrainConfig` (flags win).

    Raises:
        TrainingError: no data or output folder given, or a bad config file.
    """
    base = load_train_file(args.config).model_dump() if args.config else {}
    flags = {k: v for k, v in vars(args).items() if k in TrainFile.model_fields and v is not None}
    values = {**{k: v for k, v in base.items() if v is not None}, **flags}
    try:
        merged = TrainFile.model_validate(values)
    except ValidationError as exc:
        msg = f"invalid training options: {exc}"
        raise TrainingError(msg) from exc
    if merged.data is None or merged.output_dir is None:
        msg = "training needs --data and --out (or data/output_dir in --config)"
        raise TrainingError(msg)
    spec = ModelSpec(
        size=merged.size or ModelSize.NANO,
        resolution=merged.resolution or 128,
        num_queries=merged.num_queries or 30,
        group_detr=merged.group_detr or 4,
        ia_bce_loss=bool(merged.ia_bce_loss),
    )
    defaults = LoopSettings()
    warmup = defaults.warmup_steps if merged.warmup_steps is None else merged.warmup_steps
    loop = LoopSettings(
        steps=merged.steps or defaults.steps,
        warmup_steps=warmup,
        checkpoint_every=merged.checkpoint_every or defaults.checkpoint_every,
        eval_crops=merged.eval_crops or defaults.eval_crops,
        patience=merged.patience or 0,
        crowded_share=merged.crowded_share or 0.0,
    )
    if loop.crowded_share and not merged.data.startswith("synth:"):
        msg = (
            f"crowded_share {loop.crowded_share} needs synth: data, but data is {merged.data}: "
            "remove crowded_share for a dataset folder"
        )
        raise TrainingError(msg)
    return TrainConfig(
        data=merged.data,
        output_dir=Path(merged.output_dir),
        model=spec,
        engine=merged.engine or TrainEngine.RFDETR,
        epochs=merged.epochs or 20,
        batch_size=merged.batch_size or 8,
        lr=merged.lr or 2e-4,
        mixed_precision=merged.mixed_precision,
        init=merged.init or "scratch",
        resume=bool(args.resume),
        device=merged.device or "auto",
        seed=merged.seed or 0,
        threads=merged.threads,
        loop=loop,
        export=merged.export or "best",
    )


def run_train(args: argparse.Namespace) -> int:
    """``ballwatch train``: returns the exit status (0 when a checkpoint was written)."""
    result = train(config_from_args(args))
    logger.info(
        "checkpoint: %s (F1 at 4 px on held-out crops %.3f)",
        result.checkpoint,
        result.evaluation.f1,
    )
    return 0

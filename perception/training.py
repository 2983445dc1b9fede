"""Training the ball detector: rfdetr's trainer, or a plain loop over rfdetr's model and loss.

This is the second module allowed to import ``rfdetr`` (besides the detector adapter): it wraps
rfdetr's trainer and builds rfdetr's model and criterion, which no adapter interface can hide.
The imports stay inside functions, so importing this module is cheap.

Two engines:

* ``rfdetr`` — :meth:`rfdetr.RFDETR.train` (PyTorch Lightning) on a COCO folder written by
  :mod:`perception.dataset`, with ball-safe augmentation (no multi-scale, no scale jitter).
* ``loop`` — a plain loop over rfdetr's model and criterion (same losses, same matcher) that
  streams crops from a COCO folder or straight from the synthetic match. It keeps its full
  state (weights, optimizer, schedule, step) in ``last.pt`` and resumes exactly; it is what
  trains the bundled synthetic model on CPU, where every saved second counts.

Both end with a ``.safetensors`` checkpoint in the detector adapter's format (class name,
size, resolution and query count recorded) that ``ballwatch run --weights`` loads.

AMP (``mixed_precision``) is on by default on CUDA; CPU always trains in FP32 and says so.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import yaml
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import safe_open
from safetensors.torch import save_file

from configs.app_config import DetectorConfig
from perception.dataset import (
    CropRecipe,
    CropSample,
    coco_crop_stream,
    read_coco_split,
    read_frame_input,
    synth_crop_stream,
)
from perception.detector import Precision
from perception.errors import PerceptionError
from perception.options import FrameInput, ModelSize, TrainEngine
from perception.precision import PrecisionPlan
from perception.rfdetr_detector import RfDetrDetector
from perception.weights import CheckpointMeta, load_checkpoint, load_into, save_ball_checkpoint
from stream.synth import parse_synth_uri

logger = logging.getLogger(__name__)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_HIT_TOLERANCE_PX = 4.0


class TrainingError(PerceptionError):
    """A training run cannot start: bad options, missing data, nothing to resume."""


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """Knobs of the plain loop engine.

    Attributes:
        steps: optimizer steps in total (a resumed run continues up to this count).
        warmup_steps: linear learning-rate warm-up, then cosine decay to ``lr * 0.1``.
        checkpoint_every: steps between ``last.pt`` saves and quick evaluations.
        log_every: steps between progress lines (loss, s/step, ETA).
        eval_crops: held-out crops per quick evaluation (half with a ball).
        grad_clip: max gradient norm (0 disables clipping).
        patience: stop after this many quick evaluations in a row without a better
            held-out F1 (0: never stop early). The rfdetr engine counts epochs instead.
    """

    steps: int = 2000
    warmup_steps: int = 200
    checkpoint_every: int = 250
    log_every: int = 25
    eval_crops: int = 96
    grad_clip: float = 0.1
    patience: int = 0


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Architecture of the ball model (what a checkpoint must record to be rebuilt)."""

    size: ModelSize = ModelSize.NANO
    resolution: int = 128
    num_queries: int = 30
    group_detr: int = 4
    class_names: tuple[str, ...] = ("ball",)
    ia_bce_loss: bool = False
    frame_input: FrameInput = FrameInput.RGB  # taken from the dataset folder (see train())

    def __post_init__(self) -> None:
        # accept plain strings ("nano") from YAML and callers; store the enum member
        object.__setattr__(self, "size", ModelSize(self.size))
        object.__setattr__(self, "frame_input", FrameInput(self.frame_input))
        if self.resolution % 32 or self.resolution < 64:
            msg = f"resolution must be a multiple of 32 >= 64, but got {self.resolution}"
            raise ValueError(msg)
        if not 1 <= self.num_queries <= 300:
            msg = f"num_queries must be in 1..300, but got {self.num_queries}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """One training run.

    Attributes:
        data: a COCO folder from ``ballwatch dataset``, or (loop engine) a ``synth:`` URI
            whose crops are generated on the fly.
        output_dir: where checkpoints, the loss log and the evaluation go.
        model: architecture.
        engine: rfdetr's trainer or the plain loop.
        epochs: epochs for the rfdetr engine.
        batch_size: crops per step.
        lr: peak learning rate (AdamW).
        mixed_precision: AMP; None means on for CUDA, off (FP32) on CPU.
        init: ``scratch`` (random weights, the offline start), ``coco`` (rfdetr's COCO
            checkpoint, downloaded once) or a checkpoint path.
        resume: continue from ``output_dir``'s last state.
        device: ``cpu``, ``cuda`` or ``auto``.
        seed: seeds torch, numpy and the crop stream.
        threads: torch CPU threads (None: torch's default).
        loop: settings of the loop engine.
    """

    data: str
    output_dir: Path
    model: ModelSpec = field(default_factory=ModelSpec)
    engine: TrainEngine = TrainEngine.RFDETR
    epochs: int = 20
    batch_size: int = 8
    lr: float = 2e-4
    mixed_precision: bool | None = None
    init: str = "scratch"
    resume: bool = False
    device: str = "auto"
    seed: int = 0
    threads: int | None = None
    loop: LoopSettings = field(default_factory=LoopSettings)

    def resolved_device(self) -> str:
        """``cuda`` when asked or available under ``auto``, else ``cpu``."""
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    def uses_amp(self) -> bool:
        """Whether this run trains with AMP (only ever on CUDA)."""
        if self.resolved_device() != "cuda":
            return False
        return True if self.mixed_precision is None else self.mixed_precision


# --- model -------------------------------------------------------------------------------


def build_rfdetr_config(spec: ModelSpec, device: str) -> Any:
    """Rfdetr's ``ModelConfig`` for this spec, with random weights (no download)."""
    from rfdetr import config as rf_config  # noqa: PLC0415 - rfdetr is slow to import

    classes = {
        ModelSize.NANO: rf_config.RFDETRNanoConfig,
        ModelSize.SMALL: rf_config.RFDETRSmallConfig,
        ModelSize.MEDIUM: rf_config.RFDETRMediumConfig,
        ModelSize.LARGE: rf_config.RFDETRLargeConfig,
    }
    config_class = classes[spec.size]
    patch_size = int(config_class.model_fields["patch_size"].default)
    return config_class(
        pretrain_weights=None,
        num_queries=spec.num_queries,
        num_select=spec.num_queries,
        group_detr=spec.group_detr,
        num_classes=len(spec.class_names),
        resolution=spec.resolution,
        positional_encoding_size=spec.resolution // patch_size,
        ia_bce_loss=spec.ia_bce_loss,
        device=device,
    )


def build_model_and_criterion(spec: ModelSpec, device: str) -> tuple[Any, Any]:
    """Rfdetr's LWDETR module and its SetCriterion (Hungarian matcher, focal + L1 + GIoU)."""
    from rfdetr.config import TrainConfig as RfTrainConfig  # noqa: PLC0415 - rfdetr is slow to import
    from rfdetr.models.lwdetr import build_criterion_from_config, build_model_from_config  # noqa: PLC0415 - rfdetr is slow to import

    model_config = build_rfdetr_config(spec, device)
    train_config = RfTrainConfig(dataset_dir=".", output_dir=".")
    model = build_model_from_config(model_config, train_config).to(device)
    criterion, _ = build_criterion_from_config(model_config, train_config)
    return model, criterion.to(device)


def to_batch(
    samples: Sequence[CropSample], device: str, rng: np.random.Generator | None = None
) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """Crops to a normalised RGB batch and rfdetr targets (cx, cy, w, h in [0, 1]).

    With ``rng``, each crop is flipped at random (horizontally and vertically): safe
    augmentation that never changes the ball's size.
    """
    images, targets = [], []
    for sample in samples:
        image = sample.image[:, :, ::-1].astype(np.float32) / 255.0
        size = float(image.shape[0])
        boxes = np.array(
            [[b.x / size, b.y / size, b.box_px / size, b.box_px / size] for b in sample.balls],
            dtype=np.float32,
        ).reshape(-1, 4)
        if rng is not None and rng.random() < 0.5:
            image, boxes[:, 0] = image[:, ::-1], 1.0 - boxes[:, 0]
        if rng is not None and rng.random() < 0.5:
            image, boxes[:, 1] = image[::-1], 1.0 - boxes[:, 1]
        images.append((image - _IMAGENET_MEAN) / _IMAGENET_STD)
        targets.append(
            {
                "boxes": torch.from_numpy(np.clip(boxes, 0.0, 1.0)).to(device),
                "labels": torch.zeros(len(boxes), dtype=torch.int64, device=device),
            }
        )
    array = np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2), dtype=np.float32)
    return torch.from_numpy(array).to(device), targets


def weighted_loss(criterion: Any, outputs: Any, targets: list[dict[str, torch.Tensor]]) -> Any:
    """Rfdetr's total training loss (the weighted sum its trainer optimises)."""
    losses = criterion(outputs, targets)
    weights = criterion.weight_dict
    return torch.stack([losses[k] * weights[k] for k in losses if k in weights]).sum()


# --- quick evaluation on crops ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CropScore:
    """Top-query scoring on held-out crops: hit = best query within 4 px of the ball.

    Attributes:
        f1: best F1 over score thresholds (a miss-placed confident box counts as FP + FN).
        threshold: the score threshold giving that F1.
        hit_rate: share of ball crops whose best query lands within 4 px (any score).
    """

    f1: float
    threshold: float
    hit_rate: float


def best_queries(
    model: Any, batch: torch.Tensor
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Score and centre (crop pixels) of each crop's top query, inference mode."""
    model.eval()
    with torch.no_grad():
        outputs = model(batch)
    model.train()
    scores = outputs["pred_logits"][..., 0].sigmoid()
    top = scores.argmax(dim=1)
    rows = torch.arange(len(top))
    centres = outputs["pred_boxes"][rows, top, :2] * batch.shape[-1]
    return (
        scores[rows, top].float().cpu().numpy(),
        centres.float().cpu().numpy(),
    )


def score_crops(
    scores: NDArray[np.float32], centres: NDArray[np.float32], samples: Sequence[CropSample]
) -> CropScore:
    """F1 at 4 px of the top query per crop, at the best threshold (see :class:`CropScore`)."""
    has_ball = np.array([bool(s.balls) for s in samples])
    is_near = np.array(
        [
            any(math.hypot(c[0] - b.x, c[1] - b.y) <= _HIT_TOLERANCE_PX for b in s.balls)
            for c, s in zip(centres, samples, strict=True)
        ]
    )
    best = CropScore(0.0, 1.0, float(is_near[has_ball].mean()) if has_ball.any() else 0.0)
    for threshold in np.unique(scores):
        fired = scores >= threshold
        true_pos = int((fired & is_near).sum())
        false_pos = int((fired & ~is_near).sum())
        false_neg = int((has_ball & ~(fired & is_near)).sum())
        denominator = 2 * true_pos + false_pos + false_neg
        f1 = 2 * true_pos / denominator if denominator else 0.0
        if f1 > best.f1:
            best = CropScore(f1, float(threshold), best.hit_rate)
    return best


def metadata(spec: ModelSpec, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a checkpoint records about its model (JSON-friendly)."""
    record: dict[str, Any] = asdict(spec)
    record["size"] = spec.size.value
    record["class_names"] = list(spec.class_names)
    record["frame_input"] = FrameInput(spec.frame_input).value
    record.update(extra or {})
    return record


def crop_stream_from_sources(
    samples: Iterator[CropSample], batch_size: int
) -> Iterator[list[CropSample]]:
    """Group a sample stream into batches."""
    batch: list[CropSample] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == batch_size:
            yield batch
            batch = []


def log_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line to the training log."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def now_s() -> float:
    """Monotonic seconds (progress and ETA)."""
    return time.monotonic()


# --- the plain loop engine -------------------------------------------------------------------

_STATE_FILE = "last.pt"
_BEST_FILE = "best.pt"
_LOG_FILE = "train_log.jsonl"
_EVAL_SEED_OFFSET = 100_000


def _lr_factor(step: int, settings: LoopSettings) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < settings.warmup_steps:
        return (step + 1) / settings.warmup_steps
    span = max(settings.steps - settings.warmup_steps, 1)
    progress = min((step - settings.warmup_steps) / span, 1.0)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))


def _streams(cfg: TrainConfig, start_step: int) -> tuple[Iterator[CropSample], list[CropSample]]:
    """The training crop stream and the fixed held-out crops, from ``cfg.data``."""
    if cfg.data.startswith("synth:"):
        base = parse_synth_uri(cfg.data).seed
        recipe = CropRecipe(
            resolution=cfg.model.resolution, extra_balls_max=2, negatives_per_positive=0.8
        )
        train_seeds = list(range(base, base + 64))
        eval_seeds = list(range(base + _EVAL_SEED_OFFSET, base + _EVAL_SEED_OFFSET + 8))
        held_out = synth_crop_stream(eval_seeds, CropRecipe(resolution=cfg.model.resolution), 1)
        eval_samples = _balanced(held_out, cfg.loop.eval_crops)
        # a resumed run continues with fresh crops instead of replaying the first ones
        return synth_crop_stream(
            train_seeds, recipe, cfg.seed * 1_000_003 + start_step
        ), eval_samples
    root = Path(cfg.data)
    train = read_coco_split(root, "train")
    valid = read_coco_split(root, "valid")
    # a fixed spread of the held-back crops: the folder lists them clip by clip
    picked = np.random.default_rng(0).permutation(len(valid))[: cfg.loop.eval_crops]
    return coco_crop_stream(train, cfg.seed + start_step), [valid[i] for i in sorted(picked)]


def _balanced(stream: Iterator[CropSample], count: int) -> list[CropSample]:
    """``count`` crops from ``stream``, half with a ball and half without."""
    with_ball: list[CropSample] = []
    without: list[CropSample] = []
    for sample in stream:
        bucket = with_ball if sample.balls else without
        if len(bucket) < count // 2:
            bucket.append(sample)
        if len(with_ball) + len(without) >= count // 2 * 2:
            break
    return with_ball + without


@dataclass
class _LoopState:
    """Everything the loop needs to continue exactly where it stopped."""

    model: Any
    criterion: Any
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    step: int = 0
    best_f1: float = -1.0
    evals_since_best: int = 0  # not saved: a resumed run starts its patience afresh

    def save(self, path: Path, spec: ModelSpec) -> None:
        """Write weights, optimizer, schedule and counters atomically."""
        payload = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "best_f1": self.best_f1,
            "meta": metadata(spec),
        }
        partial = path.with_suffix(".partial")
        torch.save(payload, partial)
        partial.replace(path)

    def load(self, path: Path) -> None:
        """Restore from :meth:`save`'s file."""
        payload = torch.load(path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.schedule.load_state_dict(payload["schedule"])
        self.scaler.load_state_dict(payload["scaler"])
        self.step = int(payload["step"])
        self.best_f1 = float(payload["best_f1"])


def _new_state(cfg: TrainConfig, device: str) -> _LoopState:
    model, criterion = build_model_and_criterion(cfg.model, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    settings = cfg.loop
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, settings))
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.uses_amp())
    state = _LoopState(model, criterion, optimizer, schedule, scaler)
    state_path = cfg.output_dir / _STATE_FILE
    if cfg.resume:
        if not state_path.exists():
            msg = f"cannot resume: {state_path} does not exist; run once without --resume first"
            raise FileNotFoundError(msg)
        state.load(state_path)
        logger.info("resumed from %s at step %d", state_path, state.step)
    elif cfg.init not in {"scratch", "coco"}:
        # our .safetensors or a .pth read with weights_only=True: no pickle code runs
        checkpoint = load_checkpoint(Path(cfg.init))
        state_dict = {name: tensor.float() for name, tensor in checkpoint.state_dict.items()}
        load_into(model, replace(checkpoint, state_dict=state_dict), f"--init {cfg.init}")
        logger.info("initialised from %s", cfg.init)
    return state


def _train_step(
    state: _LoopState, batch: list[CropSample], cfg: TrainConfig, rng: np.random.Generator
) -> float:
    device = cfg.resolved_device()
    images, targets = to_batch(batch, device, rng)
    with torch.autocast(device_type=device, dtype=torch.float16, enabled=cfg.uses_amp()):
        outputs = state.model(images, targets)
        loss = weighted_loss(state.criterion, outputs, targets)
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    if cfg.loop.grad_clip > 0:
        state.scaler.unscale_(state.optimizer)
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), cfg.loop.grad_clip)
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.schedule.step()
    state.step += 1
    return float(loss.detach())


def _evaluate_and_save(
    state: _LoopState, cfg: TrainConfig, eval_samples: list[CropSample]
) -> CropScore:
    device = cfg.resolved_device()
    scores, centres = [], []
    for start in range(0, len(eval_samples), 32):
        images, _ = to_batch(eval_samples[start : start + 32], device)
        batch_scores, batch_centres = best_queries(state.model, images)
        scores.append(batch_scores)
        centres.append(batch_centres)
    result = score_crops(np.concatenate(scores), np.concatenate(centres), eval_samples)
    state.evals_since_best += 1
    if result.f1 > state.best_f1:
        state.best_f1 = result.f1
        state.evals_since_best = 0
        best = {
            "model": state.model.state_dict(),
            "meta": metadata(cfg.model, {"step": state.step}),
        }
        torch.save(best, cfg.output_dir / _BEST_FILE)
    state.save(cfg.output_dir / _STATE_FILE, cfg.model)
    return result


def _log_progress(
    log_path: Path, state: _LoopState, losses: list[float], per_step_s: float, steps: int
) -> None:
    """One progress record: mean loss since the last one, seconds per step, ETA."""
    record = {
        "step": state.step,
        "loss": round(float(np.mean(losses)), 4),
        "lr": state.schedule.get_last_lr()[0],
        "s_per_step": round(per_step_s, 3),
        "eta_min": round(per_step_s * (steps - state.step) / 60, 1),
    }
    logger.info(
        "step %(step)d loss %(loss).4f %(s_per_step).2f s/step ETA %(eta_min).1f min", record
    )
    log_line(log_path, record)


def train_loop(cfg: TrainConfig) -> Path:
    """Run the plain loop engine; returns the folder holding ``best.pt`` and ``last.pt``.

    Progress (loss, s/step, ETA) goes to the log and to ``train_log.jsonl``; every
    ``checkpoint_every`` steps the held-out crops are scored (F1 at 4 px of the top query)
    and the state is saved, so an interrupted run loses at most that many steps.
    """
    device = cfg.resolved_device()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device == "cpu":
        logger.info("training on CPU in FP32 (AMP is CUDA-only)")
    else:
        logger.info("training on %s, AMP %s", device, "on" if cfg.uses_amp() else "off (FP32)")
    torch.manual_seed(cfg.seed)
    cfg.output_dir.mkdir(parents=True, exist_ok=True)
    state = _new_state(cfg, device)
    stream, eval_samples = _streams(cfg, state.step)
    batches = crop_stream_from_sources(stream, cfg.batch_size)
    rng = np.random.default_rng([cfg.seed, state.step])
    log_path = cfg.output_dir / _LOG_FILE
    losses: list[float] = []
    started, start_step = now_s(), state.step
    while state.step < cfg.loop.steps:
        losses.append(_train_step(state, next(batches), cfg, rng))
        if state.step % cfg.loop.log_every == 0:
            per_step = (now_s() - started) / (state.step - start_step)
            _log_progress(log_path, state, losses, per_step, cfg.loop.steps)
            losses = []
        if state.step % cfg.loop.checkpoint_every == 0 or state.step == cfg.loop.steps:
            result = _evaluate_and_save(state, cfg, eval_samples)
            logger.info("step %d held-out crops: %s", state.step, result)
            log_line(log_path, {"step": state.step, "eval": asdict(result)})
            if 0 < cfg.loop.patience <= state.evals_since_best:
                logger.info("early stop at step %d: held-out F1 no better in %d evaluations",
                            state.step, state.evals_since_best)  # fmt: skip
                log_line(log_path, {"step": state.step, "early_stop": state.evals_since_best})
                break
    return cfg.output_dir


# --- the rfdetr engine --------------------------------------------------------------------------

_RFDETR_CLASSES = {
    ModelSize.NANO: "RFDETRNano",
    ModelSize.SMALL: "RFDETRSmall",
    ModelSize.MEDIUM: "RFDETRMedium",
    ModelSize.LARGE: "RFDETRLarge",
}


def _rfdetr_model(cfg: TrainConfig) -> Any:
    """An ``rfdetr.RFDETR`` of the configured size, initialised as ``cfg.init`` says."""
    import rfdetr  # noqa: PLC0415 - rfdetr is slow to import

    spec = cfg.model
    options: dict[str, Any] = {
        "resolution": spec.resolution,
        "num_queries": spec.num_queries,
        "num_select": spec.num_queries,
        "group_detr": spec.group_detr,
        "num_classes": len(spec.class_names),
        "ia_bce_loss": spec.ia_bce_loss,
        "device": cfg.resolved_device(),
    }
    if cfg.init == "scratch":
        options["pretrain_weights"] = None
    elif cfg.init != "coco":  # a checkpoint path; "coco" keeps rfdetr's default download
        options["pretrain_weights"] = cfg.init
    try:
        return getattr(rfdetr, _RFDETR_CLASSES[ModelSize(spec.size)])(**options)
    except OSError as exc:  # requests' ConnectionError is an OSError: offline COCO download
        msg = (
            f"cannot get the RF-DETR {spec.size} COCO checkpoint ({type(exc).__name__}); "
            "connect once so rfdetr can download it, or pass --init scratch or --init PATH"
        )
        raise TrainingError(msg) from exc


def train_rfdetr(cfg: TrainConfig) -> Path:
    """Train with rfdetr's own trainer on a COCO folder; returns its output folder.

    Ball-safe settings: no multi-scale, no scale jitter or random crops (the crops are
    already at the model resolution, so resizing is the identity), horizontal flips only.
    """
    model = _rfdetr_model(cfg)
    out = cfg.output_dir
    last = out / "last.ckpt"
    if cfg.resume and not last.exists():
        msg = f"cannot resume: {last} does not exist; run once without --resume first"
        raise FileNotFoundError(msg)
    model.train(
        dataset_dir=str(cfg.data),
        output_dir=str(out),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        grad_accum_steps=1,
        lr=cfg.lr,
        lr_encoder=cfg.lr,
        resume=str(last) if cfg.resume else None,
        device=cfg.resolved_device(),
        amp_dtype="fp16" if cfg.uses_amp() else None,
        multi_scale=False,
        expanded_scales=False,
        scale_jitter=False,
        aug_config=None,
        num_workers=0,
        class_names=list(cfg.model.class_names),
        tensorboard=False,
        progress_bar="tqdm",
        seed=cfg.seed,
        warmup_epochs=min(1.0, cfg.epochs / 10),
        early_stopping=cfg.loop.patience > 0,
        early_stopping_patience=max(cfg.loop.patience, 1),
    )
    return out


# --- after training: our checkpoint and its evaluation ------------------------------------------


def best_state_dict(out_dir: Path) -> dict[str, torch.Tensor]:
    """The best weights a run left in ``out_dir`` (either engine).

    Raises:
        FileNotFoundError: the folder holds no checkpoint.
    """
    for name in (
        _BEST_FILE,
        "checkpoint_best_total.pth",
        "checkpoint_best_regular.pth",
        _STATE_FILE,
    ):
        path = out_dir / name
        if path.exists():
            return dict(load_checkpoint(path).state_dict)
    msg = f"no checkpoint in {out_dir}; train first (expected {_BEST_FILE} or a rfdetr .pth)"
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
        return _streams(cfg, 0)[1]
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
    checkpoint = export_checkpoint(best_state_dict(out), cfg.model, out / "model.safetensors")
    held_out = _held_out(cfg)
    evaluation = evaluate_checkpoint(checkpoint, cfg.model, held_out)
    report = {"tolerance_px": _HIT_TOLERANCE_PX, "crops": len(held_out), **asdict(evaluation)}
    (out / "model.eval.json").write_text(json.dumps(report, indent=2))
    logger.info(
        "held-out F1 at 4 px: %.3f (threshold %.2f) -> %s",
        evaluation.f1,
        evaluation.threshold,
        checkpoint,
    )
    return TrainResult(checkpoint, evaluation)


# --- configuration file and command line -------------------------------------------------------


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
    mixed_precision: bool | None = None
    device: Literal["auto", "cpu", "cuda"] | None = None
    threads: int | None = Field(None, ge=1)
    seed: int | None = None


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
    )
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

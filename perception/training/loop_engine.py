"""The plain loop engine: rfdetr's model and criterion trained on streamed crops.

It keeps its full state (weights, optimizer, schedule, step) in ``last.pt`` and resumes
exactly; the best held-out F1 so far is saved as ``best.pt``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from perception.dataset import (
    CropRecipe,
    CropSample,
    coco_crop_stream,
    read_coco_split,
    synth_crop_stream,
)
from perception.training.config import LoopSettings, ModelSpec, TrainConfig, metadata
from perception.training.model import (
    build_model_and_criterion,
    crop_stream_from_sources,
    to_batch,
    weighted_loss,
)
from perception.training.scoring import CropScore, best_queries, score_crops
from perception.weights import load_checkpoint, load_into
from stream.synth import parse_synth_uri

logger = logging.getLogger(__name__)

STATE_FILE = "last.pt"  # the loop's full state, what --resume reads
BEST_FILE = "best.pt"  # the weights at the best held-out F1 so far
_LOG_FILE = "train_log.jsonl"
_EVAL_SEED_OFFSET = 100_000


def log_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line to the training log."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def now_s() -> float:
    """Monotonic seconds (progress and ETA)."""
    return time.monotonic()


def _lr_factor(step: int, settings: LoopSettings) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < settings.warmup_steps:
        return (step + 1) / settings.warmup_steps
    span = max(settings.steps - settings.warmup_steps, 1)
    progress = min((step - settings.warmup_steps) / span, 1.0)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))


def crop_streams(
    cfg: TrainConfig, start_step: int
) -> tuple[Iterator[CropSample], list[CropSample]]:
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
            train_seeds,
            recipe,
            cfg.seed * 1_000_003 + start_step,
            crowded_share=cfg.loop.crowded_share,
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
    state_path = cfg.output_dir / STATE_FILE
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
        torch.save(best, cfg.output_dir / BEST_FILE)
    state.save(cfg.output_dir / STATE_FILE, cfg.model)
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
    stream, eval_samples = crop_streams(cfg, state.step)
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

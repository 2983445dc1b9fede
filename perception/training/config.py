"""A training run's settings: the architecture, the loop engine's knobs, the run itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from perception.errors import PerceptionError
from perception.options import FrameInput, ModelSize, TrainEngine


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
        crowded_share: share of ``synth:`` draws that look for a frame whose ball is by a
            player (``perception.dataset.synth_crop_stream``); 0 for a dataset folder.
    """

    steps: int = 2000
    warmup_steps: int = 200
    checkpoint_every: int = 250
    log_every: int = 25
    eval_crops: int = 96
    grad_clip: float = 0.1
    patience: int = 0
    crowded_share: float = 0.0


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
        export: which weights become ``model.safetensors``: ``best`` (the best held-out F1
            seen) or ``last`` (the last step: when the held-out crops come from what will
            be scored, choosing on them would be choosing on the test set).
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
    export: Literal["best", "last"] = "best"

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


def metadata(spec: ModelSpec, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a checkpoint records about its model (JSON-friendly)."""
    record: dict[str, Any] = asdict(spec)
    record["size"] = spec.size.value
    record["class_names"] = list(spec.class_names)
    record["frame_input"] = FrameInput(spec.frame_input).value
    record.update(extra or {})
    return record

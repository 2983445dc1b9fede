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

Modules, each owning one part (``rfdetr`` is imported lazily, in ``model`` and
``rfdetr_engine`` only):

- :mod:`~perception.training.config`: ``ModelSpec``, ``LoopSettings``, ``TrainConfig``.
- :mod:`~perception.training.model`: rfdetr's model and loss, and the crop batches.
- :mod:`~perception.training.scoring`: F1 at 4 px of the top query on held-out crops.
- :mod:`~perception.training.loop_engine`: the plain loop engine (``train_loop``).
- :mod:`~perception.training.rfdetr_engine`: rfdetr's trainer (``train_rfdetr``).
- :mod:`~perception.training.job`: a whole run (``train``), our checkpoint, its evaluation.
- :mod:`~perception.training.cli`: ``ballwatch train``, the config file and the flags.
"""

from perception.options import TrainEngine  # re-exported: callers import it from here
from perception.training.cli import TrainFile, config_from_args, load_train_file, run_train
from perception.training.config import (
    LoopSettings,
    ModelSpec,
    TrainConfig,
    TrainingError,
    metadata,
)
from perception.training.job import (
    TrainResult,
    best_state_dict,
    evaluate_checkpoint,
    export_checkpoint,
    train,
)
from perception.training.loop_engine import log_line, now_s, train_loop
from perception.training.model import (
    build_model_and_criterion,
    build_rfdetr_config,
    crop_stream_from_sources,
    to_batch,
    weighted_loss,
)
from perception.training.rfdetr_engine import train_rfdetr
from perception.training.scoring import CropScore, best_queries, score_crops

__all__ = [
    "CropScore",
    "LoopSettings",
    "ModelSpec",
    "TrainConfig",
    "TrainEngine",
    "TrainFile",
    "TrainResult",
    "TrainingError",
    "best_queries",
    "best_state_dict",
    "build_model_and_criterion",
    "build_rfdetr_config",
    "config_from_args",
    "crop_stream_from_sources",
    "evaluate_checkpoint",
    "export_checkpoint",
    "load_train_file",
    "log_line",
    "metadata",
    "now_s",
    "run_train",
    "score_crops",
    "to_batch",
    "train",
    "train_loop",
    "train_rfdetr",
    "weighted_loss",
]

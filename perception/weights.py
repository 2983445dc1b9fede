"""Detector weights on disk: reading RF-DETR ``.pth`` checkpoints safely, and our ``.safetensors``.

This module does not import ``rfdetr``: it only reads and writes tensors and metadata, so the
QAT and training code can use it, and the adapter (``rfdetr_detector.py``) stays the one place
that knows rfdetr's classes.

``.pth`` files are read with ``torch.load(weights_only=True)``: no pickle code runs. rfdetr's own
loader does the same by default, but it also re-downloads a file whose name matches a published
checkpoint when loading fails, which would overwrite a user's file; loading here avoids that.

Our own artifacts are ``.safetensors`` files whose metadata (all strings) records what is needed
to rebuild the model: ``format`` (``ballwatch-rfdetr/1``), ``size``, ``resolution``,
``num_queries``, ``group_detr``, ``class_names`` (a JSON list) and ``frame_input``
(``rgb`` or ``grey-stack``; absent means ``rgb``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import pickle
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from perception.errors import DetectorLoadError

logger = logging.getLogger(__name__)

BALL_FORMAT = "ballwatch-rfdetr/1"
SIZES = ("nano", "small", "medium", "large")
NATIVE_RESOLUTION = {"nano": 384, "small": 512, "medium": 576, "large": 704}
# rfdetr's training default; the query tensors hold num_queries * group_detr rows.
DEFAULT_GROUP_DETR = 13
_MODEL_NAME_SIZES = {"RFDETRNano": "nano", "RFDETRSmall": "small", "RFDETRMedium": "medium"}
_MODEL_NAME_SIZES |= {"RFDETRLarge": "large", "RFDETRBase": "base"}
_POSITION_KEY_SUFFIX = "embeddings.position_embeddings"
_QUERY_KEY = "refpoint_embed.weight"
_CLASS_KEY = "class_embed.bias"


MODELS_DIR = Path(__file__).resolve().parent / "models"
SYNTH_MODEL_NAME = "ball-nano-synth.safetensors"
REAL_MODEL_NAME = "ball-nano-real.safetensors"
STILL_MODEL_NAME = "ball-nano-still.safetensors"
VERIFIER_NAME = "ball-verifier-still.safetensors"


@dataclass(frozen=True, slots=True)
class WeightsChoice:
    """The weights a run loads and why (printed when the run starts).

    Attributes:
        path: the file; None leaves the choice to rfdetr (its COCO checkpoint, downloaded once).
        reason: one line for the user.
    """

    path: Path | None
    reason: str


def choose_weights(
    configured: str | None, source_kind: str, models_dir: Path = MODELS_DIR
) -> WeightsChoice:
    """Which weights a run loads: the one decision point.

    ``--weights`` (``detector.weights``) always wins. Otherwise a synthetic source gets the
    bundled synthetic model, which was trained on exactly those pitches, and every other
    source (a file, a camera, a stream: real footage) gets the bundled real-footage model;
    the synthetic model knows nothing of real broadcasts and locks onto scoreboard clutter
    there. A still picture (``image``: ``ballwatch find``) gets the bundled still model: the
    real-footage model sees motion, and a photo has none. When the preferred bundled file is
    missing the next one is used, and with none rfdetr's COCO checkpoint is the last resort.

    Args:
        configured: ``detector.weights`` (None when not set).
        source_kind: ``synth``, ``file``, ``camera``, ``network`` or ``image``.
        models_dir: folder of the bundled models.
    """
    if configured:
        return WeightsChoice(Path(configured), "given with --weights / detector.weights")
    synth, real = models_dir / SYNTH_MODEL_NAME, models_dir / REAL_MODEL_NAME
    if source_kind == "synth":
        order = [
            (synth, "bundled synthetic model: the source is the synthetic match"),
            (real, "bundled real-footage model (the synthetic model is missing)"),
        ]
    elif source_kind == "image":
        order = [
            (models_dir / STILL_MODEL_NAME, "bundled still model: a picture has no motion"),
            (real, "bundled real-footage model (the still model is missing)"),
            (synth, "bundled synthetic model: the still and real-footage models are missing"),
        ]
    else:
        order = [
            (real, f"bundled real-footage model: the source is real footage ({source_kind})"),
            (synth, "bundled synthetic model: the real-footage model is missing"),
        ]
    for path, reason in order:
        if path.is_file():
            return WeightsChoice(path, reason)
    return WeightsChoice(None, "no bundled model: rfdetr's COCO checkpoint (downloaded once)")


def choose_verifier(
    setting: str, still: WeightsChoice, models_dir: Path = MODELS_DIR
) -> WeightsChoice | None:
    """The patch verifier that looks again at a still picture's places, or None.

    ``setting`` is ``none`` (off), a file (always used), or ``auto``: the bundled verifier,
    but only beside the bundled still model, because it learned that model's places and
    its mistakes (another model proposes other places, and the verifier was not shown them).
    """
    if setting == "none":
        return None
    if setting != "auto":
        return WeightsChoice(Path(setting), "given with --verifier")
    bundled = models_dir / VERIFIER_NAME
    if still.path != models_dir / STILL_MODEL_NAME:
        logger.info(
            "no verifier: it was trained beside the bundled still model, not %s", still.path
        )
        return None
    if not bundled.is_file():
        logger.info("no verifier: the bundled %s is missing", bundled.name)
        return None
    return WeightsChoice(bundled, "bundled verifier: trained on the bundled still model's places")


def choose_rest_weights(
    enabled: bool | None,
    configured: str | None,
    source_kind: str,
    models_dir: Path = MODELS_DIR,
) -> WeightsChoice | None:
    """The colour model that looks for a ball at rest (``perception.at_rest``), or None.

    ``rest_look.enabled`` False turns it off, True asks for it. Left unset (None) it is on
    for real footage (a file, a camera, a stream) and off for the synthetic match, whose
    ball is never left lying and whose model tracks a ball at rest itself
    (``tracker.rest_confidence``). ``rest_look.weights`` wins; otherwise the bundled still
    model, which sees colour and was taught still balls; without it there is no look
    (one line in the log says so).
    """
    if enabled is False or (enabled is None and source_kind == "synth"):
        return None
    if configured:
        return WeightsChoice(Path(configured), "given with rest_look.weights")
    still = models_dir / STILL_MODEL_NAME
    if still.is_file():
        return WeightsChoice(still, "bundled still model: it sees a ball lying still")
    logger.info("no ball-at-rest look: the bundled still model %s is missing", still.name)
    return None


@dataclass(frozen=True, slots=True)
class CheckpointMeta:
    """What a checkpoint says about the model it holds (None where it does not say).

    Attributes:
        size: ``nano``, ``small``, ``medium`` or ``large`` (or another rfdetr model name).
        resolution: square input side in pixels the model was trained at.
        num_queries: object queries used at inference.
        group_detr: query groups used in training (rows of the query tensors per query).
        class_names: class names by 0-based class id; empty for the COCO layout.
        frame_input: what the model was trained to see, a
            :class:`perception.frame_input.FrameInput` value (``rgb`` when not recorded).
    """

    size: str | None = None
    resolution: int | None = None
    num_queries: int | None = None
    group_detr: int | None = None
    class_names: tuple[str, ...] = ()
    frame_input: str = "rgb"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Weights read from a file, with what the file says about them.

    Attributes:
        path: the file.
        state_dict: parameter name → CPU tensor, as ``LWDETR.state_dict()`` names them.
        meta: what the file records about the model.
    """

    path: Path
    state_dict: Mapping[str, torch.Tensor]
    meta: CheckpointMeta

    @property
    def num_classes(self) -> int:
        """Classes of the detection head, without the extra no-object slot."""
        bias = self.state_dict.get(_CLASS_KEY)
        if bias is None:
            msg = f"weights file {str(self.path)!r} is not an RF-DETR checkpoint (no {_CLASS_KEY})"
            raise DetectorLoadError(msg)
        return int(bias.shape[0]) - 1

    def query_layout(self) -> tuple[int, int]:
        """``(num_queries, group_detr)`` of the stored query tensors.

        Raises:
            DetectorLoadError: the file has no query tensor or its rows do not fit the metadata.
        """
        queries = self.state_dict.get(_QUERY_KEY)
        if queries is None:
            msg = f"weights file {str(self.path)!r} is not an RF-DETR checkpoint (no {_QUERY_KEY})"
            raise DetectorLoadError(msg)
        rows = int(queries.shape[0])
        meta = self.meta
        if meta.num_queries and meta.group_detr and meta.num_queries * meta.group_detr == rows:
            return meta.num_queries, meta.group_detr
        if meta.num_queries and rows % meta.num_queries == 0:
            return meta.num_queries, rows // meta.num_queries
        group_detr = meta.group_detr or DEFAULT_GROUP_DETR
        if rows % group_detr == 0:
            return rows // group_detr, group_detr
        return rows, 1


def load_checkpoint(path: Path) -> Checkpoint:
    """Read weights from an RF-DETR ``.pth``/``.ckpt`` file or one of our ``.safetensors``.

    Raises:
        DetectorLoadError: the file is missing or is not a readable checkpoint.
    """
    if not path.is_file():
        msg = f"weights file {str(path)!r} not found; pass an existing checkpoint with --weights"
        raise DetectorLoadError(msg)
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    return _load_torch(path)


def load_into(network: torch.nn.Module, checkpoint: Checkpoint, where: str) -> None:
    """Copy the checkpoint's weights into ``network`` (an ``LWDETR`` built for them).

    The backbone's positional embeddings are resized (bicubic, as rfdetr does) when the
    network runs at another resolution than the checkpoint was trained at.

    Args:
        network: the model to fill, built with the checkpoint's classes and queries.
        checkpoint: the weights.
        where: start of the error message, e.g. ``weights file 'x.pth' does not fit RF-DETR nano``.

    Raises:
        DetectorLoadError: a tensor shape differs, or a parameter is missing or left over.
    """
    target = network.state_dict()
    state = {
        name: _resized_positions(tensor, target[name])
        if name.endswith(_POSITION_KEY_SUFFIX) and name in target
        else tensor
        for name, tensor in checkpoint.state_dict.items()
    }
    try:
        result = network.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()[-1].strip()[:200]
        msg = f"{where} ({detail}); pass --size matching the checkpoint"
        raise DetectorLoadError(msg) from exc
    parameters = {name for name, _ in network.named_parameters()}
    missing = [key for key in result.missing_keys if key in parameters]  # buffers are rebuilt
    if missing or result.unexpected_keys:
        msg = (
            f"{where} ({len(missing)} missing keys such as {missing[:1]}, "
            f"{len(result.unexpected_keys)} unexpected such as {result.unexpected_keys[:1]}); "
            "pass --size matching the checkpoint"
        )
        raise DetectorLoadError(msg)


def _resized_positions(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(1, 1 + S*S, D)`` class + patch position embeddings resized to the target grid."""
    if source.shape == target.shape or source.ndim != 3 or source.shape[2] != target.shape[2]:
        return source  # equal, or load_state_dict reports the mismatch
    side_in, side_out = math.isqrt(source.shape[1] - 1), math.isqrt(target.shape[1] - 1)
    if side_in**2 != source.shape[1] - 1 or side_out**2 != target.shape[1] - 1:
        return source
    grid = source[:, 1:].reshape(1, side_in, side_in, -1).permute(0, 3, 1, 2).float()
    grid = F.interpolate(
        grid, size=(side_out, side_out), mode="bicubic", align_corners=False, antialias=True
    )
    patches = grid.permute(0, 2, 3, 1).reshape(1, side_out * side_out, -1).to(source.dtype)
    return torch.cat([source[:, :1], patches], dim=1)


def save_ball_checkpoint(
    path: Path, model: torch.nn.Module | Mapping[str, torch.Tensor], meta: CheckpointMeta
) -> None:
    """Write ``model``'s weights and ``meta`` as one of our ``.safetensors`` artifacts.

    Floating-point tensors are stored as FP32 whatever precision the model runs in.

    Args:
        path: destination, normally ending in ``.safetensors``.
        model: the ``LWDETR`` network, or its state dict.
        meta: must name ``size`` and ``resolution``.

    Raises:
        ValueError: ``meta`` lacks the size or resolution needed to rebuild the model.
    """
    if meta.size is None or meta.resolution is None:
        msg = f"save_ball_checkpoint needs meta.size and meta.resolution, but got {meta}"
        raise ValueError(msg)
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    # clone(): safetensors refuses tensors that share storage.
    tensors = {
        name: (tensor.float() if tensor.is_floating_point() else tensor).detach().cpu().clone()
        for name, tensor in state.items()
    }
    metadata = {"format": BALL_FORMAT, "size": meta.size, "resolution": str(meta.resolution)}
    if meta.num_queries is not None:
        metadata["num_queries"] = str(meta.num_queries)
    if meta.group_detr is not None:
        metadata["group_detr"] = str(meta.group_detr)
    metadata["class_names"] = json.dumps(list(meta.class_names))
    metadata["frame_input"] = meta.frame_input
    save_file(tensors, str(path), metadata=metadata)
    logger.info("saved %s (%s at %d px)", path, meta.size, meta.resolution)


def _unreadable(path: Path, exc: BaseException) -> DetectorLoadError:
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    return DetectorLoadError(
        f"weights file {str(path)!r} is not a readable checkpoint ({type(exc).__name__}: {detail})"
    )


def _load_safetensors(path: Path) -> Checkpoint:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata: dict[str, str] = handle.metadata() or {}
            state = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    if metadata.get("format") != BALL_FORMAT:
        msg = (
            f"weights file {str(path)!r} is not a ballwatch RF-DETR checkpoint (its metadata has "
            f"no format {BALL_FORMAT!r}); pass a .pth from rfdetr or a file saved by ballwatch"
        )
        raise DetectorLoadError(msg)
    try:
        meta = CheckpointMeta(
            size=metadata["size"],
            resolution=int(metadata["resolution"]),
            num_queries=_optional_int(metadata.get("num_queries")),
            group_detr=_optional_int(metadata.get("group_detr")),
            class_names=tuple(json.loads(metadata.get("class_names", "[]"))),
            frame_input=metadata.get("frame_input", "rgb"),
        )
    except (KeyError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    return Checkpoint(path, state, meta)


def _optional_int(text: str | None) -> int | None:
    return None if text is None else int(text)


def _load_torch(path: Path) -> Checkpoint:
    try:
        # rfdetr's published and trained checkpoints keep their args in an argparse.Namespace.
        with torch.serialization.safe_globals([argparse.Namespace, types.SimpleNamespace]):
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, OSError, EOFError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    state = _state_dict_of(raw)
    if state is None:
        msg = f"weights file {str(path)!r} is not a readable checkpoint (no model weights inside)"
        raise DetectorLoadError(msg)
    return Checkpoint(path, state, _meta_of(raw))


def _state_dict_of(raw: Any) -> dict[str, torch.Tensor] | None:
    if not isinstance(raw, dict):
        return None
    if isinstance(raw.get("model"), dict):
        candidate: dict[str, Any] = raw["model"]
    elif isinstance(raw.get("state_dict"), dict):
        # PyTorch Lightning: "model." prefix, maybe "_orig_mod." from torch.compile.
        candidate = {}
        for key, value in raw["state_dict"].items():
            if key.startswith("model."):
                candidate[key.removeprefix("model.").removeprefix("_orig_mod.")] = value
    else:
        candidate = raw
    tensors = {k: v for k, v in candidate.items() if isinstance(v, torch.Tensor)}
    return tensors or None


def _meta_of(raw: dict[str, Any]) -> CheckpointMeta:
    args = raw.get("args")
    saved_config = raw.get("model_config")
    config: dict[str, Any] = saved_config if isinstance(saved_config, dict) else {}

    def field(name: str) -> Any:
        if name in config:
            return config[name]
        if isinstance(args, dict):
            return args.get(name)
        return getattr(args, name, None)

    model_name = raw.get("model_name") or field("model_name")
    names = field("class_names")
    return CheckpointMeta(
        size=_MODEL_NAME_SIZES.get(str(model_name), str(model_name)) if model_name else None,
        resolution=_int_or_none(field("resolution")),
        num_queries=_int_or_none(field("num_queries")),
        group_detr=_int_or_none(field("group_detr")),
        class_names=tuple(str(n) for n in names) if isinstance(names, list | tuple) else (),
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

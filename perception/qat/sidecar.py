"""The INT8 artifact's JSON sidecar: its format, reading, checking and writing it."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from perception.errors import PrecisionError
from perception.precision import INT8_POLICY

logger = logging.getLogger(__name__)

INT8_FORMAT = "ballwatch-int8-qat/1"
QAT_METHOD = "qat-pt2e-x86"


@dataclass(frozen=True, slots=True)
class Int8Sidecar:
    """The JSON next to an INT8 artifact: what it is, what it came from, how it was trained.

    Attributes:
        format: always :data:`INT8_FORMAT`.
        method: always :data:`QAT_METHOD` (a PTQ model never gets a sidecar).
        resolution: square input side in pixels (batch 1, NCHW RGB, ImageNet-normalised).
        ball_class_id: the logit index of the ball.
        class_names: class names by id.
        frame_input: what the model sees (``rgb`` or ``grey-stack``), as its float source.
        source: the float checkpoint (path, sha256, size, queries).
        quantization: quantizer, ``reduce_range`` and the modules kept float.
        training: data, steps, batch size, learning rate, losses, seconds, precision.
        versions: torch, torchao, python.
    """

    resolution: int
    ball_class_id: int
    class_names: tuple[str, ...] = ()
    frame_input: str = "rgb"
    source: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    format: str = INT8_FORMAT
    method: str = QAT_METHOD

    def to_json(self) -> str:
        """The sidecar's text."""
        return json.dumps(asdict(self), indent=2)

    @property
    def held_out_f1_change(self) -> float | None:
        """The INT8 model's F1 minus its float source's on the QAT job's held-out crops.

        None where the job scored no held-out crops (or an older sidecar says nothing).
        """
        scores = self.training.get("held_out")
        if not isinstance(scores, dict):
            return None
        try:
            return float(scores["int8"]["f1"]) - float(scores["float"]["f1"])
        except (KeyError, TypeError, ValueError):
            return None


def sidecar_path(artifact: Path) -> Path:
    """Where the sidecar of ``artifact`` lives: ``model.onnx`` -> ``model.onnx.json``."""
    return artifact.with_name(artifact.name + ".json")


def read_sidecar(artifact: Path) -> Int8Sidecar:
    """Read and check the sidecar of an INT8 artifact.

    Raises:
        PrecisionError: the file is a float checkpoint, has no sidecar, or its sidecar does not
            say it was made by QAT; the message explains the QAT-only policy.
    """
    name = str(artifact)
    if artifact.suffix in {".safetensors", ".pth", ".pt", ".ckpt"}:
        msg = f"{name!r} is a float checkpoint, not an INT8 QAT artifact; {INT8_POLICY}"
        raise PrecisionError(msg)
    path = sidecar_path(artifact)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"{name!r} has no readable QAT sidecar {path.name!r}; {INT8_POLICY}"
        raise PrecisionError(msg) from exc
    if not isinstance(raw, dict) or raw.get("format") != INT8_FORMAT:
        msg = f"{path.name!r} is not a ballwatch INT8 sidecar ({INT8_FORMAT}); {INT8_POLICY}"
        raise PrecisionError(msg)
    if raw.get("method") != QAT_METHOD:
        msg = f"{name!r} was made by {raw.get('method')!r}, not QAT; {INT8_POLICY}"
        raise PrecisionError(msg)
    try:
        raw["class_names"] = tuple(raw.get("class_names", ()))
        return Int8Sidecar(**raw)
    except TypeError as exc:
        msg = f"{path.name!r} is a damaged INT8 sidecar ({exc}); run `ballwatch qat` again"
        raise PrecisionError(msg) from exc


def versions() -> dict[str, str]:
    """Library versions recorded in the sidecar."""
    import torchao  # noqa: PLC0415 - heavy and optional until QAT runs

    return {
        "torch": torch.__version__,
        "torchao": torchao.__version__,
        "python": platform.python_version(),
    }


def write_sidecar(artifact: Path, sidecar: Int8Sidecar) -> Path:
    """Write ``sidecar`` next to ``artifact``; returns its path."""
    path = sidecar_path(artifact)
    path.write_text(sidecar.to_json() + "\n", encoding="utf-8")
    return path


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file (identifies the float checkpoint in the sidecar)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

"""The INT8 backend: a QAT artifact (QDQ ONNX) run by onnxruntime on the CPU.

Only artifacts made by ``ballwatch qat`` are accepted: :meth:`Int8Detector.load` reads the
JSON sidecar and refuses float checkpoints and anything not made by quantization-aware
training (see :data:`perception.precision.INT8_POLICY`).

onnxruntime runs with ``MatMulAddFusion`` disabled: with it, the fused MatMul+Add replaces
the INT8 MatMul of the QDQ graph by a float Gemm and INT8 ends up slower than FP32
(FACTS.md). The graph takes one crop per call (RF-DETR's exported graph has a fixed batch
of 1), so a batch of tiles is run crop by crop; pre- and post-processing are the float
adapter's own (:func:`perception.rfdetr_detector.input_batch` and
:func:`perception.rfdetr_detector.ball_detections`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from perception.detections import Detections
from perception.detector import Precision
from perception.errors import DetectorLoadError
from perception.options import FrameInput
from perception.qat import INPUT_NAME, OUTPUT_NAMES, Int8Sidecar, read_sidecar
from perception.rfdetr_detector import ball_detections, input_batch
from perception.rfdetr_detector.models import VARIANTS, patch_px

logger = logging.getLogger(__name__)

DISABLED_OPTIMIZERS = ("MatMulAddFusion",)
SPINNING_KEY = "session.intra_op.allow_spinning"


def open_session(artifact: Path, threads: int = 0, *, spin: bool = True) -> Any:
    """An onnxruntime CPU session for an INT8 QDQ graph, with ``MatMulAddFusion`` disabled.

    Args:
        artifact: the ``.onnx`` file.
        threads: intra-op threads; 0 lets onnxruntime choose.
        spin: whether its threads busy-wait for work after a run (onnxruntime's default).
            Off for a second model that runs between the main detector's calls: two
            spinning sessions taking turns on 2 cores ran a crop each in 26-27 ms, 17-18 ms
            with the second one's spinning off (the main one alone: 18 ms).

    Raises:
        DetectorLoadError: onnxruntime is missing or cannot load the file.
    """
    try:
        import onnxruntime  # noqa: PLC0415 - heavy; only when INT8 is used
    except ImportError as exc:
        msg = "INT8 needs onnxruntime; install it with `pip install onnxruntime`"
        raise DetectorLoadError(msg) from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry(SPINNING_KEY, "0")
    try:
        return onnxruntime.InferenceSession(
            str(artifact),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(DISABLED_OPTIMIZERS),
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        msg = (
            f"onnxruntime cannot load INT8 artifact {str(artifact)!r} ({exc}); "
            "make it again with `ballwatch qat`"
        )
        raise DetectorLoadError(msg[:400]) from exc


class Int8Detector:
    """The ball detector from an INT8 QAT artifact, behind the Detector protocol.

    Owns its onnxruntime session. Not thread-safe: called only from the perception thread
    (it may be built and warmed up on another thread before the switch hands it over).
    """

    def __init__(
        self,
        session: Any,
        resolution: int,
        ball_class_id: int,
        *,
        threshold: float = 0.3,
        sidecar: Int8Sidecar | None = None,
    ) -> None:
        """Wrap an onnxruntime session whose graph maps ``images`` to logits and boxes.

        Use :meth:`load` for artifacts: it checks the QAT sidecar. This constructor is for
        benchmarks that compare other graphs (the PTQ control arm) on the same footing.

        Raises:
            ValueError: ``threshold`` outside ``[0, 1]``.
        """
        if not 0.0 <= threshold <= 1.0:
            msg = f"threshold must be in [0, 1], but got {threshold}"
            raise ValueError(msg)
        self._session = session
        self._resolution = resolution
        self._ball_class_id = ball_class_id
        self._threshold = threshold
        self._sidecar = sidecar
        # once, at load: the search asks on every tracked frame, and the model size's grid
        # comes from rfdetr's config (an import of seconds, not for a frame's hot path)
        size = sidecar.source.get("size") if sidecar else None
        self._patch_px = patch_px(str(size)) if size in VARIANTS else 0
        self._input_name = session.get_inputs()[0].name if session.get_inputs() else INPUT_NAME

    @classmethod
    def load(
        cls, artifact: Path, *, threshold: float = 0.3, threads: int = 0, spin: bool = True
    ) -> Int8Detector:
        """Open a QAT artifact after checking its sidecar (``spin``: see :func:`open_session`).

        Raises:
            PrecisionError: a float checkpoint, or not made by QAT (explains the policy).
            DetectorLoadError: the file cannot be run.
        """
        sidecar = read_sidecar(artifact)
        session = open_session(artifact, threads, spin=spin)
        names = tuple(output.name for output in session.get_outputs())
        if names[:2] != OUTPUT_NAMES:
            msg = f"INT8 artifact {str(artifact)!r} returns {names}, not {OUTPUT_NAMES}"
            raise DetectorLoadError(msg)
        detector = cls(
            session,
            sidecar.resolution,
            sidecar.ball_class_id,
            threshold=threshold,
            sidecar=sidecar,
        )
        logger.info(
            "INT8 QAT model %s at %d px (from %s, %s QAT steps)",
            artifact.name,
            sidecar.resolution,
            sidecar.source.get("weights", "?"),
            sidecar.training.get("steps", "?"),
        )
        return detector

    @property
    def resolution(self) -> int:
        """Side in pixels of the square input the graph was exported at."""
        return self._resolution

    @property
    def patch_px(self) -> int:
        """Side in pixels of one ViT patch of the model it was made from (0: not said)."""
        return self._patch_px

    @property
    def precision(self) -> Precision:
        """Always INT8."""
        return Precision.INT8

    @property
    def device(self) -> str:
        """Always ``cpu`` (onnxruntime's CPU provider)."""
        return "cpu"

    @property
    def spins(self) -> bool:
        """Whether its threads busy-wait after a run (see :func:`open_session`)."""
        options = self._session.get_session_options()
        try:
            return bool(options.get_session_config_entry(SPINNING_KEY) != "0")
        except RuntimeError:  # not set: onnxruntime's default, spinning
            return True

    @property
    def frame_input(self) -> FrameInput:
        """What the model sees, as recorded in its sidecar (RGB for a bare session)."""
        return FrameInput(self._sidecar.frame_input) if self._sidecar else FrameInput.RGB

    @property
    def sidecar(self) -> Int8Sidecar | None:
        """What the artifact says about itself (None for a bare session)."""
        return self._sidecar

    def forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw network outputs for a normalised ``(B, 3, R, R)`` batch, one crop per run."""
        logits, boxes = [], []
        for index in range(batch.shape[0]):
            image = batch[index : index + 1].numpy()
            outputs = self._session.run(list(OUTPUT_NAMES), {self._input_name: image})
            logits.append(torch.from_numpy(np.asarray(outputs[0])))
            boxes.append(torch.from_numpy(np.asarray(outputs[1])))
        return torch.cat(logits), torch.cat(boxes)

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """Detect the ball in BGR uint8 ``(R, R, 3)`` crops (see the float adapter).

        Raises:
            ValueError: an image is not a uint8 ``(R, R, 3)`` array.
        """
        if not images:
            return []
        logits, boxes = self.forward(input_batch(images, self._resolution))
        return ball_detections(
            logits, boxes, self._ball_class_id, self._resolution, self._threshold
        )

    def warm_up(self) -> None:
        """Run one black crop so the first timed frame is not the slow one."""
        self.detect([np.zeros((self._resolution, self._resolution, 3), np.uint8)])

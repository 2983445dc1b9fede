"""INT8 without a manual step: a checkpoint's QAT artifact, built once and cached.

The live presets switch to INT8 when the latency budget says float is too slow. The
INT8 model must come from quantization-aware training (never post-training
quantization, see :data:`perception.precision.INT8_POLICY`); making it by hand
(``ballwatch qat``) is a step users never took. So the first time INT8 is needed for a
float checkpoint, :func:`ensure_int8_artifact` runs the same QAT job (``run_job``) into
the user's cache directory, keyed by the checkpoint's SHA-256, and every later run reuses
it. The build goes to a temporary folder and is moved into place sidecar first, model
last, so a killed build leaves nothing that looks finished.

:class:`Int8Builder` runs that in a background thread for the run-time switch: the run
goes on in float while the INT8 model is made, and switches when it is ready.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perception.detector import Detector
from perception.errors import PrecisionError
from perception.options import QatSettings
from perception.qat import QatJob, file_sha256, read_sidecar, run_job, sidecar_path

logger = logging.getLogger(__name__)

CACHE_ENV = "BALLWATCH_CACHE"
AUTO_QAT_DATA = "synth:?seed=4242"
"""Crops the automatic QAT fine-tunes on: offline, any machine (``int8.qat_data`` overrides)."""

Build = Callable[[QatJob], Any]
"""Makes the artifact of a job (``run_job``; tests inject a fake)."""


def cache_dir() -> Path:
    """``$BALLWATCH_CACHE``, else ``$XDG_CACHE_HOME/ballwatch``, else ``~/.cache/ballwatch``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ballwatch"


QAT_RECIPE = 2
"""Raised when QAT makes better twins of the same checkpoint, so a cache built by an older
recipe is rebuilt once (2, 2026-12-08: the patch embedding stays float, held-out crop F1 of
the real model's twin 0.503 -> 0.587)."""


def cached_artifact(weights: Path, cache: Path) -> Path:
    """Where the INT8 QAT artifact of ``weights`` lives in ``cache`` (its hash, the recipe)."""
    digest = file_sha256(weights)[:16]
    return cache / "int8" / f"{weights.stem}-{digest}-qat{QAT_RECIPE}-int8-qat.onnx"


def is_complete(artifact: Path) -> bool:
    """Whether ``artifact`` is there with its sidecar (a build that stopped half way has none)."""
    return artifact.is_file() and sidecar_path(artifact).is_file()


def bundled_artifact(weights: Path) -> Path | None:
    """The QAT artifact shipped beside ``weights`` (``<stem>.int8-qat.onnx``), if it is theirs.

    A bundled model ships its INT8 twin, made by QAT on the data the model was trained on
    (real footage, which the automatic build does not have). Its sidecar must name the
    weights' SHA-256; a stale twin is ignored, and the cache or a build is used instead.
    """
    artifact = weights.with_name(f"{weights.stem}.int8-qat.onnx")
    if not is_complete(artifact):
        return None
    try:
        source = read_sidecar(artifact).source
    except PrecisionError:
        return None
    return artifact if source.get("sha256") == file_sha256(weights) else None


def existing_artifact(weights: Path, cache: Path | None = None) -> Path | None:
    """The INT8 QAT artifact of ``weights`` that needs no build: shipped beside it, else cached.

    None when neither exists (a cached one counts only when :func:`is_complete`).
    """
    shipped = bundled_artifact(weights)
    if shipped is not None:
        return shipped
    cached = cached_artifact(weights, cache or cache_dir())
    return cached if is_complete(cached) else None


def ensure_int8_artifact(
    weights: Path,
    *,
    cache: Path | None = None,
    data: str = AUTO_QAT_DATA,
    settings: QatSettings | None = None,
    build: Build = run_job,
) -> Path:
    """The INT8 QAT artifact of ``weights``: from the cache, or built now and cached.

    Args:
        weights: the float ball checkpoint (``.safetensors``).
        cache: the cache folder; None = :func:`cache_dir`.
        data: crops for the QAT fine-tune.
        settings: the fine-tune; None = :class:`QatSettings` defaults.
        build: runs the job (``run_job``; injected in tests).

    Returns:
        The ``.onnx`` path (its sidecar beside it).
    """
    found = existing_artifact(weights, cache)
    if found is not None:
        logger.info("INT8 QAT model of %s: %s", weights.name, found)
        return found
    target = cached_artifact(weights, cache or cache_dir())
    target.parent.mkdir(parents=True, exist_ok=True)
    job_settings = settings or QatSettings()
    logger.warning(
        "first INT8 use of %s: making its QAT model once (%d fine-tune steps, minutes on a "
        "CPU; progress below), cached in %s",
        weights.name,
        job_settings.steps,
        target.parent,
    )
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".building-") as folder:
        partial = Path(folder) / target.name
        build(QatJob(weights, data, partial, job_settings))
        sidecar_path(partial).replace(sidecar_path(target))
        partial.replace(target)
    logger.warning("INT8 QAT model of %s ready: %s", weights.name, target)
    return target


Loader = Callable[[Path], Detector]


class Int8Builder:
    """Makes (or finds) the INT8 detector of a checkpoint in a background thread, once.

    Thread-safe. :meth:`start` returns at once; ``on_ready`` is called from the builder
    thread with the loaded, warmed-up detector (or never, if the build fails: the run
    goes on in float and the failure is logged).

    Args:
        weights: the float checkpoint.
        load: opens an artifact as a warmed-up detector.
        ensure: finds or builds the artifact (:func:`ensure_int8_artifact`).
    """

    def __init__(
        self,
        weights: Path,
        load: Loader,
        ensure: Callable[[Path], Path] = ensure_int8_artifact,
    ) -> None:
        self._weights = weights
        self._load = load
        self._ensure = ensure
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def weights(self) -> Path:
        """The float checkpoint."""
        return self._weights

    def start(self, on_ready: Callable[[Detector], None]) -> bool:
        """Start the build unless it was started before; whether this call started it."""
        with self._lock:
            if self._thread is not None:
                return False
            self._thread = threading.Thread(
                target=self._run, args=(on_ready,), name="int8-build", daemon=True
            )
            self._thread.start()
            return True

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the build thread (tests, and the end of a run)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def _run(self, on_ready: Callable[[Detector], None]) -> None:
        try:
            detector = self._load(self._ensure(self._weights))
        except Exception as error:  # noqa: BLE001 - a failed build must not stop the run
            self.error = error
            logger.error("the INT8 QAT model could not be made; staying in float: %s", error)
            return
        on_ready(detector)

"""Sources, queues, stages and the pipeline; the Python API (:mod:`stream.api`) from here.

``from stream import track, BallTracker`` loads the API (and torch, rfdetr…) on first
use only, so ``import stream.frame`` stays light and free of import cycles.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["BallPoint", "BallTracker", "PictureFinder", "configure", "track"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("stream.api"), name)
    msg = f"module 'stream' has no attribute {name!r}"
    raise AttributeError(msg)

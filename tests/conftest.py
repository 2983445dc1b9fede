"""Shared fixtures: where the real footage lives (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from perception.detector import Detector
from stream import app
from tests.fakes import FakeDetector

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "real"


@pytest.fixture
def real_data() -> Path:
    """The folder of real labelled clips; skips when ../shared is not there."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real footage not found at {REAL_DATA} (needs the sibling ../shared folder)")
    return REAL_DATA


@pytest.fixture
def fake_detector(monkeypatch: pytest.MonkeyPatch) -> FakeDetector:
    """Every run built by stream.app gets this fake (384 px, finds nothing) instead of RF-DETR."""
    detector = FakeDetector(resolution=384, box=None)

    def build(config: object, plan: object) -> Detector:
        return detector

    monkeypatch.setattr(app, "build_detector", build)
    return detector

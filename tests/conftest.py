"""Shared fixtures: where the real footage lives (skipped with a reason when absent)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from perception.detector import Detector
from stream import app
from tests.fakes import FakeDetector

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "real"


def pytest_configure(config: pytest.Config) -> None:
    """Let the Ctrl-C tests send SIGINT even when the suite was started with SIGINT ignored.

    A shell starts a background job (``make test &`` in a script, ``nohup``) with SIGINT
    ignored, children inherit that, and Python then installs no KeyboardInterrupt: every
    Ctrl-C test would fail for the harness's reason, not the product's. A signal with a
    handler is reset to its default in exec'd children, so installing Python's own handler
    here restores Ctrl-C for this process and for the ``ballwatch`` processes tests start.
    """
    del config
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight RF-DETR Nano ball model at 128 px, saved in our safetensors format."""
    import torch

    from perception.rfdetr_detector import RfDetrDetector

    torch.manual_seed(0)
    detector = RfDetrDetector.random(
        "nano", resolution=128, num_queries=10, num_classes=1, class_names=["ball"]
    )
    path = tmp_path_factory.mktemp("weights") / "ball-random.safetensors"
    detector.save(path)
    return path


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

    def build(config: object, plan: object, *_: object, **__: object) -> Detector:
        return detector

    monkeypatch.setattr(app, "build_detector", build)
    return detector

"""``ballwatch eval --realtime`` scores the live run itself: same drops, every frame scored."""

from __future__ import annotations

import re

import pytest

from perception.detector import Detector
from stream import app
from stream.synth import SynthMatch, parse_synth_uri
from tests.fakes import FakeDetector


def test_a_realtime_eval_drops_like_a_live_run_and_scores_every_frame(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stream.cli import main

    # 3x slower than the 30 fps source: a live run must drop frames, whatever the CPU
    detector = FakeDetector(resolution=384, box=None, delay_s=0.1)

    def build(config: object, plan: object, *_: object, **__: object) -> Detector:
        return detector

    monkeypatch.setattr(app, "build_detector", build)
    source = "synth:?seed=2&frames=45&width=640&height=360&fps=30"

    status = main(["eval", source, "--realtime", "--no-progress"])

    printed = capsys.readouterr().out
    assert status == 0
    match = SynthMatch(parse_synth_uri(source))
    visible = sum(match.truth(index).is_visible for index in range(45))
    # every frame of the clip is scored, dropped ones included (as misses)
    assert f"frames: 45 scored, {visible} with a visible ball" in printed
    assert f"TP 0  FP 0  FN {visible}" in printed
    found = re.search(r"frames: 45 from the source, (\d+) processed, (\d+) dropped", printed)
    assert found is not None, printed
    processed, dropped = int(found[1]), int(found[2])
    assert processed + dropped == 45
    assert dropped > 0
    assert len(detector.calls) < 45  # frames dropped before perception never reached it

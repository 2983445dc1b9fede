"""The README's Python API example, extracted from README.md and run as a user would.

It runs the bundled RF-DETR model (CPU) over a short synthetic clip, prints the track and
writes a frame annotated by supervision's annotators.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.synth import SynthMatch, parse_synth_uri

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # RF-DETR on a loaded CPU


def _example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "README.md has no python block under '## Python API'"
    return found.group(1)


def test_the_readme_example_prints_the_track_and_draws_it_with_supervision(
    tmp_path: Path,
) -> None:
    code = _example()
    source = re.search(r'SOURCE = "(.*?)"', code)
    assert source, "the example names its SOURCE"
    match = SynthMatch(parse_synth_uri(source.group(1)))

    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "DINOv2" not in done.stderr  # the API hides the library noise too
    lines = [line.split() for line in done.stdout.splitlines()]
    tracked = [line for line in lines if line[0] == "track"]
    pushed = [line for line in lines if line[0] == "push"]
    count = match.params.frames
    assert [int(line[1]) for line in tracked] == list(range(count))
    assert [float(line[2]) for line in tracked] == pytest.approx(
        [i / match.params.fps for i in range(count)], abs=1e-3
    )
    assert {line[3] for line in tracked} <= {"seen", "predicted", "lost"}
    hits = 0  # the printed track follows the ball (the bundled model knows synthetic pitches)
    for line in tracked:
        truth = match.truth(int(line[1]))
        if truth.is_visible and line[4] != "-":
            x, y = (float(v) for v in line[4].split(","))
            hits += np.hypot(x - truth.x, y - truth.y) <= 4.0
    assert hits >= count // 2, done.stdout
    assert [int(line[1]) for line in pushed] == list(range(8))  # every pushed frame, in order

    annotated = np.asarray(cv2.imread(str(tmp_path / "last.annotated.png")))
    raw, _ = match.frame(count - 1)
    assert annotated.shape == raw.shape
    last = tracked[-1]
    if last[4] == "-":  # nothing to draw: supervision left the frame as it was
        assert np.array_equal(annotated, raw)
        return
    x, y = (float(v) for v in last[4].split(","))
    changed = np.argwhere(np.any(annotated != raw, axis=2))
    assert len(changed) > 0
    # the box (12 px) and its label sit around the printed position
    assert np.abs(changed[:, 1] - x).min() <= 7
    assert np.abs(changed[:, 0] - y).min() <= 7
    assert np.median(np.hypot(changed[:, 1] - x, changed[:, 0] - y)) < 40

"""The real RF-DETR Nano (random weights, no download) through the whole pipeline and CLI."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
import torch

from stream.cli import EXIT_INTERRUPTED, EXIT_USER_ERROR, main

pytestmark = pytest.mark.slow

# one thread: the tests must not fight each other (or a busy machine) for cores
MODEL_ARGS = ["--set", "detector.threads=1", "--no-progress"]


@pytest.fixture
def checkpoint(random_checkpoint: Path) -> Path:
    """A random-weight RF-DETR Nano ball model at 128 px (no download)."""
    return random_checkpoint


def test_real_rfdetr_runs_end_to_end(checkpoint: Path, tmp_path: Path) -> None:
    video, track, log = tmp_path / "out.mp4", tmp_path / "track.csv", tmp_path / "log.jsonl"

    status = main(
        [
            "run",
            "synth:?seed=2&frames=6&width=256&height=160&fps=25",
            "--weights",
            str(checkpoint),
            "-o",
            str(video),
            "--track-csv",
            str(track),
            "--latency-log",
            str(log),
            *MODEL_ARGS,
        ]
    )

    assert status == 0
    with av.open(str(video)) as container:
        times = [float(frame.time) for frame in container.decode(video=0)]
    assert times == pytest.approx([i / 25 for i in range(6)], abs=1e-3)
    with track.open() as file:
        assert len(list(csv.DictReader(file))) == 6
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    frames = [line for line in lines if line["event"] == "frame"]
    assert len(frames) == 6
    assert all(f["infer_end_ns"] > f["infer_start_ns"] for f in frames)  # the model ran on each
    assert all(f["pixels"] >= 128 * 128 for f in frames)


def test_weights_of_another_architecture_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torchvision

    path = tmp_path / "resnet.pth"
    torch.save({"model": torchvision.models.resnet18().state_dict()}, path)

    status = main(["run", "synth:?frames=3", "--weights", str(path), *MODEL_ARGS])

    err = capsys.readouterr().err
    assert status == EXIT_USER_ERROR
    assert "is not an RF-DETR checkpoint" in err
    assert "Traceback" not in err


def test_ctrl_c_mid_replay_finalizes_the_video_and_the_log(
    checkpoint: Path, tmp_path: Path
) -> None:
    video, log = tmp_path / "out.mp4", tmp_path / "log.jsonl"
    command = [
        sys.executable,
        "-m",
        "stream",
        "run",
        "synth:?seed=3&frames=100000&width=128&height=128&fps=30",
        "--weights",
        str(checkpoint),
        "-o",
        str(video),
        "--latency-log",
        str(log),
        *MODEL_ARGS,
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.monotonic() + 90
    while not log.exists() or log.read_text().count('"event":"frame"') < 5:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "no frames within 90 s"
        time.sleep(0.2)

    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)

    assert process.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    written = [line for line in lines if line["event"] == "frame"]
    assert lines[-1]["event"] == "end"
    assert lines[-1]["interrupted"] is True
    with av.open(str(video)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == len(written) >= 5

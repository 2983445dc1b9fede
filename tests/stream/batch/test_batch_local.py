"""``ballwatch batch --local`` (no Ray): Ctrl-C stops cleanly and a rerun continues."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stream import app, cli
from stream.batch.summary_table import read_summary
from tests.batch_support import write_ball_clip
from tests.media import wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(300)
def test_ctrl_c_stops_cleanly_and_a_rerun_continues(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    for name, frames in (("a", 12), ("b", 12), ("c", 150)):
        write_ball_clip(clips / f"{name}.mp4", frames=frames)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "stream", "batch", str(clips), "--out", str(out), "--local"]
    command += ["--no-progress", "--detector-factory", "tests.batch_support:slow_bright_spot"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
    try:
        wait_until((out / "b" / "summary.json").exists, timeout_s=180)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    rows = {row["name"]: row for row in read_summary(out / "summary.csv")}
    assert (rows["a"]["status"], rows["b"]["status"], rows["c"]["status"]) == (
        "done",
        "done",
        "pending",
    )
    assert not (out / "c").exists()  # a half-done recording never looks done

    rerun = ["batch", str(clips), "--out", str(out), "--local", "--no-progress"]
    assert cli.main([*rerun, "--detector-factory", "tests.batch_support:bright_spot"]) == 0

    rows = {row["name"]: row for row in read_summary(out / "summary.csv")}
    assert [(rows[n]["status"], rows[n]["reused"]) for n in "abc"] == [
        ("done", "yes"),
        ("done", "yes"),
        ("done", "no"),
    ]
    assert rows["c"]["frames"] == "150"


def test_a_batch_gives_the_run_loggers_their_levels_back(tmp_path: Path) -> None:
    # a batch quiets the per-recording INFO lines while its bars show; a program (or the
    # next test) that called it logs as before afterwards
    write_ball_clip(tmp_path / "a.mp4", frames=12)
    names = ("stream.app", "stream.sources", "perception")
    before = {name: logging.getLogger(name).level for name in names}
    command = ["batch", str(tmp_path / "a.mp4"), "--out", str(tmp_path / "out"), "--local"]
    command += ["--no-progress", "--detector-factory", "tests.batch_support:bright_spot"]

    assert cli.main(command) == 0

    assert {name: logging.getLogger(name).level for name in names} == before
    assert read_summary(tmp_path / "out" / "summary.csv")[0]["status"] == "done"


def test_a_batch_loads_the_rest_look_model_once_for_all_its_recordings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, random_checkpoint: Path
) -> None:
    # each recording's run has a ball-at-rest look; its colour model (1-2 s to load on a
    # CPU) is the worker's, as its detector is, not loaded again for every recording
    built: list[object] = []
    build = app._colour_model

    def counted(*args: Any) -> Any:
        built.append(args)
        return build(*args)

    monkeypatch.setattr(app, "_colour_model", counted)
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in "abc":
        write_ball_clip(clips / f"{name}.mp4", frames=6)
    command = ["batch", str(clips), "--out", str(tmp_path / "out"), "--local", "--no-progress"]
    command += ["--detector-factory", "tests.batch_support:bright_spot"]
    command += [
        "--set",
        "rest_look.enabled=true",
        "--set",
        f"rest_look.weights={random_checkpoint}",
    ]

    assert cli.main(command) == 0

    assert [row["status"] for row in read_summary(tmp_path / "out" / "summary.csv")] == ["done"] * 3
    assert len(built) == 1

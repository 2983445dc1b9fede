"""``ballwatch batch`` on a real local Ray instance (2 CPUs, started once for the module).

The detector is tests.batch_support's bright-spot fake: Ray workers import it through
``--detector-factory``, and ``ballwatch run`` gets the same one through ``build_detector``.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream import app, cli
from stream.batch.ray_runner import SYSTEM_CONFIG
from stream.batch.summary_table import read_summary
from tests.batch_support import BrightSpotDetector, write_ball_clip
from tests.media import wait_until

ray = pytest.importorskip("ray", reason="ballwatch[batch] (Ray) is not installed")

REPO_ROOT = Path(__file__).resolve().parents[3]
FACTORY = "tests.batch_support:bright_spot"


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray instance with 2 CPUs, as `ballwatch batch` starts one; its address."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        address="local",  # a new instance, never a leftover cluster on this machine
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 * 1024 * 1024,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}},
        _system_config=SYSTEM_CONFIG,
    )
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


def _batch(*args: str) -> int:
    return cli.main(["batch", *args, "--no-progress", "--retries", "1"])


def _rows(out: Path) -> dict[str, dict[str, str]]:
    return {row["name"]: row for row in read_summary(out / "summary.csv")}


def _track(path: Path) -> list[list[str]]:
    with path.open(newline="") as file:
        return list(csv.reader(file))


def _run_track(clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The track `ballwatch run` writes for ``clip`` with the same detector."""
    monkeypatch.setattr(app, "build_detector", lambda config, plan, **_: BrightSpotDetector())
    target = tmp_path / f"{clip.stem}.run.csv"
    assert cli.main(["run", str(clip), "--track-csv", str(target), "--no-progress"]) == 0
    return _track(target)


@pytest.mark.timeout(600)  # a Ray worker imports torch: ~5 s quiet, 15 s on a busy machine
def test_four_clips_a_corrupt_file_and_a_chunked_long_clip(
    ray_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    for index, frames in enumerate((24, 30, 36, 20)):
        write_ball_clip(clips / f"match{index}.mp4", frames=frames)
    (clips / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 300)
    write_ball_clip(clips / "long.mp4", frames=150, keyframe_every=20)
    out = tmp_path / "out"
    # files over 1.5 s (45 frames) are cut at keyframes: only long.mp4, into 4 chunks
    chunking = ["--chunk-s", "1.5", "--overlap-s", "0.5"]

    status = _batch(str(clips), "--out", str(out), *chunking, "--detector-factory", FACTORY)

    assert status == 1  # one recording failed
    rows = _rows(out)
    assert sorted(rows) == ["broken", "long", "match0", "match1", "match2", "match3"]
    names = [f"match{i}" for i in range(4)]
    assert [rows[name]["status"] for name in names] == ["done"] * 4
    assert [rows[name]["frames"] for name in names] == ["24", "30", "36", "20"]
    assert rows["broken"]["status"] == "failed"
    assert "broken.mp4' is not a video PyAV can decode" in rows["broken"]["error"]
    assert not (out / "broken").exists()
    assert float(rows["match1"]["ball_seen_pct"]) > 80
    assert (rows["long"]["status"], rows["long"]["chunks"]) == ("done", "4")
    for name in [*names, "long"]:
        batch_track = _track(out / name / "track.csv")
        assert batch_track == _run_track(clips / f"{name}.mp4", tmp_path, monkeypatch), name
    assert [row[0] for row in _track(out / "long" / "track.csv")[1:]] == [
        str(i) for i in range(150)
    ]


@pytest.mark.timeout(600)
def test_a_killed_batch_reruns_only_what_is_missing(ray_cluster: str, tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    for index in range(3):
        write_ball_clip(clips / f"short{index}.mp4", frames=12)
    write_ball_clip(clips / "zlong.mp4", frames=240)  # still running when the batch is killed
    out = tmp_path / "out"
    command = [sys.executable, "-m", "stream", "batch", str(clips), "--out", str(out)]
    command += ["--ray-address", ray_cluster, "--no-progress"]
    command += ["--detector-factory", "tests.batch_support:slow_bright_spot"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stderr=subprocess.DEVNULL)
    try:
        wait_until((out / "short0" / "summary.json").exists, timeout_s=240)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finished = {p.name for p in out.iterdir() if (p / "summary.json").exists()}
    assert "short0" in finished
    assert "zlong" not in finished
    stamps = {name: (out / name / "track.csv").stat().st_mtime_ns for name in finished}

    assert _batch(str(clips), "--out", str(out), "--detector-factory", FACTORY) == 0

    rows = _rows(out)
    assert {name for name, row in rows.items() if row["reused"] == "yes"} == finished
    assert all(row["status"] == "done" for row in rows.values())
    assert rows["zlong"]["frames"] == "240"
    assert {n: (out / n / "track.csv").stat().st_mtime_ns for n in finished} == stamps
    assert not (out / ".work" / "zlong").exists()


@pytest.mark.timeout(600)
def test_a_crashing_worker_is_retried_then_reported_failed(
    ray_cluster: str, tmp_path: Path
) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    write_ball_clip(clips / "bright.mp4", frames=10, background=200)  # kills its worker
    write_ball_clip(clips / "fine.mp4", frames=10)
    out = tmp_path / "out"

    crashing = "tests.batch_support:crashing"
    status = _batch(str(clips), "--out", str(out), "--detector-factory", crashing)

    assert status == 1
    rows = _rows(out)
    assert rows["fine"]["status"] == "done"
    assert rows["bright"]["status"] == "failed"
    assert rows["bright"]["attempts"] == "2"  # --retries 1
    assert rows["bright"]["error"].startswith("worker died (attempt 2)")

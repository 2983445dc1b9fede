"""A recording survives SIGKILL, SIGTERM and a full disk: real processes, read back by ffprobe."""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from overlays.outputs import KEYFRAME_INTERVAL_S
from stream.cli import EXIT_USER_ERROR
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("ffprobe") is None, reason="needs Debian's ffmpeg (ffprobe); .ci/run installs it"
)

FPS = 25
LIVE = f"synth:?seed=4&frames=100000&width=160&height=120&fps={FPS}"
START_DEADLINE_S = 240.0  # a cold start imports torch; a loaded 2-core machine is slow


def _command(*args: str, detector_delay_s: float = 0.0) -> list[str]:
    delay = ["--detector-delay", str(detector_delay_s)] if detector_delay_s else []
    return [sys.executable, "-m", "tests.fake_cli", *delay, "run", *args, "--no-progress"]


def _start(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def _complete_rows(path: Path) -> list[dict[str, str]]:
    """The CSV rows whose line is complete (a killed writer may leave half a line)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    whole = [line for line in lines if line.endswith("\n")]
    return list(csv.DictReader(whole))


def _wait_until(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while not condition():
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the run ended before {what}: {err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} within {START_DEADLINE_S} s")
        time.sleep(0.05)


def _probe_frames(path: Path) -> tuple[int, float]:
    """(frames decoded, last frame's pts in s) as ``ffprobe -count_frames`` reads the file."""
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames,codec_name,pix_fmt",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    stream = json.loads(probe.stdout)["streams"][0]
    assert stream["codec_name"] == "h264"
    assert stream["pix_fmt"] == "yuv420p"
    frames = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    times = [float(line.split(",")[0]) for line in frames.stdout.split() if line.strip(", ")]
    return int(stream["nb_read_frames"]), max(times, default=-1.0)


@pytest.mark.timeout(400)  # seconds normally; minutes on a starved machine
def test_sigkill_mid_recording_leaves_a_video_and_csv_up_to_the_last_seconds(
    tmp_path: Path,
) -> None:
    # given a live-paced run writing a video and a track CSV
    video, track = tmp_path / "live.mp4", tmp_path / "live.csv"
    process = _start(_command(LIVE, "--realtime", "-o", str(video), "--track-csv", str(track)))
    _wait_until(lambda: len(_complete_rows(track)) >= 4 * FPS, process, "4 s of CSV rows")
    rows_before_kill = len(_complete_rows(track))

    # when it is killed with no chance to finish
    process.kill()
    process.communicate(timeout=30)

    # then ffprobe reads the video up to its last fragment (< 2 s before the last write) ...
    frames, last_video_s = _probe_frames(video)
    assert frames >= rows_before_kill - KEYFRAME_INTERVAL_S * FPS
    rows = _complete_rows(track)
    last_row_s = float(rows[-1]["pts_s"])
    assert last_video_s >= last_row_s - KEYFRAME_INTERVAL_S - 1 / FPS
    # ... and the CSV holds the rows up to the last second (it may hold more)
    assert last_row_s >= last_video_s - 1.0 - 1 / FPS
    indices = [int(row["frame"]) for row in rows]
    assert indices == sorted(set(indices)), "whole rows in order (live drops leave gaps)"


@pytest.mark.timeout(400)  # seconds normally; minutes on a starved machine
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_cleanly_with_finalized_outputs_and_a_summary(
    tmp_path: Path, stop: signal.Signals
) -> None:
    # given a live-paced run writing every output
    video, track, log = tmp_path / "v.mp4", tmp_path / "t.csv", tmp_path / "l.jsonl"
    process = _start(
        [
            *_command(LIVE, "--realtime", "-o", str(video), "--track-csv", str(track)),
            "--latency-log",
            str(log),
        ]
    )
    _wait_until(lambda: len(_complete_rows(track)) >= FPS, process, "1 s of CSV rows")

    # when systemd / docker stop / timeout sends its signal
    process.send_signal(stop)
    out, err = process.communicate(timeout=180)

    # then the run ends like `q`: exit 0, every output whole, the summary printed
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert f"stopped by {stop.name}: outputs were finalized" in err
    assert "frames      processed" in out
    frames, _ = _probe_frames(video)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    written = [line for line in lines if line["event"] == "frame"]
    assert frames == len(_complete_rows(track)) == len(written) >= FPS
    assert lines[-1]["event"] == "end"
    assert lines[-1]["interrupted"] is True


def _read_stderr_until(process: subprocess.Popen[str], text: str, lines: list[str]) -> None:
    """Collect stderr lines (in a thread) and wait until one contains ``text``."""
    seen = threading.Event()

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if text in line:
                seen.set()

    threading.Thread(target=pump, name="stderr-pump", daemon=True).start()
    _wait_until(seen.is_set, process, repr(text))


@pytest.mark.timeout(400)  # seconds normally; minutes on a starved machine
def test_a_second_sigterm_stops_at_once_and_the_video_still_plays(tmp_path: Path) -> None:
    # given a replay whose slow detector (0.3 s a frame) has a full queue to drain
    video = tmp_path / "v.mp4"
    process = _start(
        [
            *_command(LIVE, "--policy", "block", "-o", str(video), detector_delay_s=0.3),
            "--set",
            "stream.frame_queue_size=16",
        ]
    )
    err_lines: list[str] = []
    _read_stderr_until(process, "writing", err_lines)  # the first frame reached the video

    # when SIGTERM asks for a graceful stop, and a second one comes while it drains
    process.send_signal(signal.SIGTERM)
    _wait_until(lambda: any("finishing the frames" in line for line in err_lines), process, "stop")
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=180)

    # then it stopped without draining the queue, and the video plays
    err = "".join(err_lines)
    assert "SIGTERM again: stopping at once" in err
    assert "Traceback" not in err
    assert process.returncode == 0
    frames, _ = _probe_frames(video)
    assert frames >= 1


@pytest.mark.timeout(400)  # seconds normally; minutes on a starved machine
def test_file_size_limit_stops_the_run_with_one_clear_line_and_a_playable_video(
    tmp_path: Path,
) -> None:
    # given a replay whose video outgrows `ulimit -f` (Python gets EFBIG, not SIGXFSZ)
    video, track = tmp_path / "v.mp4", tmp_path / "t.csv"
    run = _command(LIVE, "-o", str(video), "--track-csv", str(track))
    limit_kib = 150
    command = ["bash", "-c", f"ulimit -f {limit_kib}; exec {shlex.join(run)}"]

    # when it runs into the limit
    finished = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )

    # then one line names the file and the cause, the exit is non-zero, and what was
    # written plays: the video up to its last fragment, the CSV (closed) in full
    errors = [line for line in finished.stderr.splitlines() if line.startswith("ballwatch:")]
    assert finished.returncode == EXIT_USER_ERROR, finished.stderr
    assert errors == [
        f"ballwatch: error: cannot write video output {str(video)!r}: File too large; "
        "the recording plays up to its last fragment"
    ]
    assert "Traceback" not in finished.stderr
    frames, _ = _probe_frames(video)
    rows = _complete_rows(track)
    assert FPS <= frames <= len(rows)
    assert track.read_text(encoding="utf-8").endswith("\n"), "the CSV was closed, not cut"


@pytest.mark.timeout(400)  # seconds normally; minutes on a starved machine
def test_a_full_disk_under_the_track_csv_stops_the_run_and_finalizes_the_video(
    tmp_path: Path,
) -> None:
    # given a run whose track CSV goes to /dev/full (every write: ENOSPC)
    video = tmp_path / "v.mp4"
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is not available here")

    # when it runs
    finished = subprocess.run(
        _command(LIVE, "-o", str(video), "--track-csv", "/dev/full"),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # then it stops with one line naming the CSV and the cause; the video is finalized
    assert finished.returncode == EXIT_USER_ERROR, finished.stderr
    assert "ballwatch: error: cannot write track CSV '/dev/full': No space left on device" in (
        finished.stderr
    )
    assert "Traceback" not in finished.stderr
    frames, _ = _probe_frames(video)
    assert frames >= 1

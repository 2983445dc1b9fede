"""Whole runs through stream.app (real sources, search, tracker, outputs) with a fake detector."""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray

from configs.app_config import AppConfig, load_config
from perception.detections import Detections
from perception.search import BallSearch
from stream import app
from stream.latency import LatencyRecord, read_log
from stream.synth import SynthMatch, parse_synth_uri
from tests.fakes import FakeDetector
from tests.media import write_mp4


def _config(source: str, tmp_path: Path, **extra: object) -> AppConfig:
    overrides: dict[str, object] = {
        "source": source,
        "output.video": str(tmp_path / "out.mp4"),
        "output.track_csv": str(tmp_path / "track.csv"),
        "output.latency_log": str(tmp_path / "latency.jsonl"),
        "output.progress": False,
        **extra,
    }
    return load_config(None, overrides)


def _read_video(path: Path) -> tuple[list[float], float, str, str]:
    """Frame times, average fps, codec and pixel format of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context
        times = [float(frame.time) for frame in container.decode(video=0)]
        return times, float(stream.average_rate), codec.name, str(codec.pix_fmt)


def _check_replay(tmp_path: Path, source_pts: list[float], source_fps: float) -> None:
    pts, fps, codec, pix_fmt = _read_video(tmp_path / "out.mp4")
    assert (codec, pix_fmt) == ("h264", "yuv420p")
    assert len(pts) == len(source_pts)
    assert pts == pytest.approx(source_pts, abs=1e-3)
    assert fps == pytest.approx(source_fps, rel=1e-4)
    with (tmp_path / "track.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [int(row["frame"]) for row in rows] == list(range(len(source_pts)))
    records, drops, _ = read_log(tmp_path / "latency.jsonl")
    assert len(records) == len(source_pts)
    assert drops == []


def test_replay_of_a_generated_clip_keeps_frames_pts_and_fps(
    tmp_path: Path, fake_detector: FakeDetector
) -> None:
    clip = write_mp4(tmp_path / "clip.mp4", frames=45, size=(320, 240))
    source_pts, source_fps, _, _ = _read_video(clip)

    outcome = app.run(_config(str(clip), tmp_path))

    assert outcome.summary.frames_processed == 45
    assert source_fps == pytest.approx(30000 / 1001)
    _check_replay(tmp_path, source_pts, source_fps)


def test_replay_of_a_real_clip(
    tmp_path: Path, real_data: Path, fake_detector: FakeDetector
) -> None:
    clip = real_data / "badminton_bwf" / "train_00008.mp4"
    source_pts, source_fps, _, _ = _read_video(clip)

    app.run(_config(str(clip), tmp_path))

    assert len(source_pts) == 150
    _check_replay(tmp_path, source_pts, source_fps)


def test_replay_of_a_synth_clip(tmp_path: Path, fake_detector: FakeDetector) -> None:
    outcome = app.run(_config("synth:?seed=5&frames=40&width=640&height=360&fps=25", tmp_path))

    assert outcome.summary.frames_processed == 40
    _check_replay(tmp_path, [i / 25 for i in range(40)], 25.0)
    assert fake_detector.warmed_up


def test_precision_auto_says_it_times_and_then_what_it_chose(
    tmp_path: Path, fake_detector: FakeDetector, caplog: pytest.LogCaptureFixture
) -> None:
    # by name: the level of these loggers is not the root's to decide (a batch quiets them)
    caplog.set_level("INFO", logger="stream.app")
    caplog.set_level("INFO", logger="perception.precision_choice")
    config = _config(
        "synth:?seed=5&frames=5&width=320&height=240&fps=25",
        tmp_path,
        **{"detector.precision": "auto"},
    )

    app.run(config)

    said = [record.getMessage() for record in caplog.records]
    assert "precision: auto: the allowed precisions are timed on warm-up crops" in said
    assert any(line.startswith("precision auto: ") and " -> " in line for line in said)
    # not the policy's default reason, which the timing may overrule (it picked BF16 here)
    assert not any("default on CPU" in line for line in said)


def test_realtime_replay_uses_the_latest_policy_and_counts_drops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = FakeDetector(resolution=384, box=None, delay_s=0.1)  # 10 fps against a 50 fps clip
    monkeypatch.setattr(app, "build_detector", lambda config, plan, **_: slow)
    config = _config(
        "synth:?seed=5&frames=100&width=320&height=240&fps=50",
        tmp_path,
        **{"stream.realtime": True},
    )

    outcome = app.run(config)

    records, drops, _ = read_log(tmp_path / "latency.jsonl")
    assert len(drops) > 30
    assert {drop.cause for drop in drops} == {"queue_full"}
    assert len(records) + len(drops) == 100
    assert outcome.summary.frames_produced == 100


def test_latency_log_records_every_stage_in_order(
    tmp_path: Path, fake_detector: FakeDetector
) -> None:
    app.run(_config("synth:?seed=1&frames=10&width=320&height=240", tmp_path))

    records, _, events = read_log(tmp_path / "latency.jsonl")
    assert [e.kind for e in events] == ["start", "end"]
    assert events[0].details["precision"] == "fp32"
    for record in records:
        assert isinstance(record, LatencyRecord)
        assert (
            record.captured_ns
            <= record.enqueued_ns
            <= record.dequeued_ns
            <= record.infer_start_ns
            <= record.infer_end_ns
            <= record.rendered_ns
            <= record.written_ns
        )


def test_report_prints_the_run_summary_and_draws_the_plot(
    tmp_path: Path, fake_detector: FakeDetector, capsys: pytest.CaptureFixture[str]
) -> None:
    from stream.cli import main
    from stream.latency_summary import format_summary

    outcome = app.run(_config("synth:?seed=1&frames=12&width=320&height=240", tmp_path))
    plot = tmp_path / "latency.png"

    status = main(["report", str(tmp_path / "latency.jsonl"), "--plot", str(plot)])

    printed = capsys.readouterr().out
    assert status == 0
    assert format_summary(outcome.summary) in printed
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_scores_a_synth_clip_with_its_own_truth(
    fake_detector: FakeDetector, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from stream.cli import main

    rows = tmp_path / "rows.csv"
    source = "synth:?seed=2&frames=20&width=640&height=360"

    status = main(["eval", source, "--rows", str(rows), "--no-progress"])

    printed = capsys.readouterr().out
    assert status == 0
    assert "tolerance: 4 px" in printed
    # the fake detector finds nothing: every visible ball is a miss, nothing is a hit
    match = SynthMatch(parse_synth_uri(source))
    visible = sum(match.truth(index).is_visible for index in range(20))
    assert visible > 0
    assert f"frames: 20 scored, {visible} with a visible ball" in printed
    assert f"TP 0  FP 0  FN {visible}" in printed
    assert len(rows.read_text().splitlines()) == 21


class _ThirtyMsDetector(FakeDetector):
    """Finds nothing; every call takes exactly 30 ms on :meth:`clock` (no real sleep)."""

    def __init__(self) -> None:
        super().__init__(resolution=384, box=None)
        self._now_ns = 0

    def clock(self) -> int:
        return self._now_ns

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        self._now_ns += 30_000_000
        return super().detect(images)


@pytest.mark.parametrize(
    ("detector_ms", "verdict"),
    [
        pytest.param(100.0, "float meets budget", id="meets"),
        pytest.param(22.0, "switch INT8 QAT on", id="switch"),
        pytest.param(2.0, "INT8 would not be enough", id="not-enough"),
    ],
)
def test_the_latency_log_says_whether_float_meets_its_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, detector_ms: float, verdict: str
) -> None:
    slow = _ThirtyMsDetector()
    monkeypatch.setattr(app, "build_detector", lambda config, plan, **_: slow)
    # the search stamps the detector call with the detector's own clock: exactly 30 ms
    monkeypatch.setattr(app, "BallSearch", functools.partial(BallSearch, clock=slow.clock))
    config = _config(
        "synth:?seed=1&frames=24&width=320&height=240",
        tmp_path,
        **{"budget.detector_ms": detector_ms, "budget.window_frames": 10},
    )

    app.run(config)

    _, _, events = read_log(tmp_path / "latency.jsonl")
    decisions = [e.details for e in events if e.kind == "decision"]
    assert decisions, "no budget decision was logged"
    assert decisions[-1]["final"] is True
    assert decisions[-1]["verdict"] == verdict
    assert str(decisions[-1]["text"]).startswith(verdict)

"""A real network stream (Debian's ffmpeg on 127.0.0.1) through the whole pipeline."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from stream.latency import MemoryLatencyLog, RunEvent
from stream.pipeline import QueueSettings, assemble
from stream.queues import DropPolicy
from stream.sources import SourceOptions, open_source
from tests.fakes import FakeDetector, FakePerception, RecordingOutput
from tests.media import FFMPEG, FfmpegPeer, free_port

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(FFMPEG is None, reason="ffmpeg not installed (apt install ffmpeg)"),
]


@pytest.fixture
def peer() -> Iterator[FfmpegPeer]:
    server = FfmpegPeer(free_port())
    yield server
    server.close()


def _wait_for(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_pipeline_recovers_from_three_stream_restarts_and_stops_cleanly(peer: FfmpegPeer) -> None:
    # given a live stream read through the whole pipeline
    peer.start("320x240")
    options = SourceOptions(
        open_timeout_s=5.0,
        read_timeout_s=2.0,
        reconnect_initial_delay_s=0.1,
        reconnect_max_delay_s=0.4,
    )
    source = open_source(peer.uri, None, options, lambda index, cause: None)
    output = RecordingOutput()
    perception = FakePerception(FakeDetector(delay_s=0.01))
    log = MemoryLatencyLog()
    pipeline = assemble(source, perception, [], output, log, QueueSettings(DropPolicy.LATEST, 2, 2))
    pipeline.group.start()
    _wait_for(lambda: len(output.results) >= 10, 10, "the first frames")

    # when ffmpeg is killed and restarted three times (once at another resolution)
    for epoch, size in enumerate(["160x120", "320x240", "240x160"], start=1):
        peer.kill()
        peer.start_later(0.3, size)
        _wait_for(
            lambda epoch=epoch: bool(output.results) and output.results[-1].frame.epoch >= epoch,
            15,
            f"frames after restart {epoch}",
        )
        seen = len(output.results)
        _wait_for(lambda seen=seen: len(output.results) >= seen + 5, 10, "frames to flow again")
    pipeline.group.stop()
    pipeline.group.finish()  # re-raises a stage failure, if any

    # then every connection delivered real frames, in order, and the outputs were closed
    results = output.results
    assert output.closed
    assert {r.frame.epoch for r in results} == {0, 1, 2, 3}
    assert [r.frame.index for r in results] == sorted({r.frame.index for r in results})
    assert not any(r.frame.image.min() == r.frame.image.max() for r in results), "blank frame"
    last_epoch = [r.frame for r in results if r.frame.epoch == 3]
    assert (last_epoch[-1].width, last_epoch[-1].height) == (240, 160)
    assert perception.resets == 3
    resets = [e for e in log.entries if isinstance(e, RunEvent) and e.kind == "reset"]
    assert len(resets) == 3

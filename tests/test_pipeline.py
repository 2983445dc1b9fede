"""End-to-end runs of the real stages with fakes behind the Protocols."""

from __future__ import annotations

import time

import pytest

from perception.result import FrameResult
from stream.errors import StageFailedError
from stream.frame import Frame
from stream.latency import DropEvent, LatencyRecord, MemoryLatencyLog
from stream.pipeline import QueueSettings, assemble
from stream.queues import DropPolicy
from stream.source import SourceKind
from tests.fakes import FakeDetector, FakeFrameSource, FakePerception, RecordingOutput


def test_replay_writes_every_frame_in_order_with_source_pts() -> None:
    source = FakeFrameSource(40, fps=30000 / 1001)
    output = RecordingOutput()
    log = MemoryLatencyLog()
    pipeline = assemble(
        source,
        FakePerception(FakeDetector(delay_s=0.002)),
        [],
        output,
        log,
        QueueSettings(DropPolicy.BLOCK, 2, 2),
    )

    pipeline.group.run()

    assert output.indices == list(range(40))
    assert output.pts == [i / (30000 / 1001) for i in range(40)]
    assert output.closed
    assert source.closed
    records = [e for e in log.entries if isinstance(e, LatencyRecord)]
    assert [r.frame_index for r in records] == list(range(40))
    assert all(
        r.captured_ns
        <= r.enqueued_ns
        <= r.dequeued_ns
        <= r.infer_start_ns
        <= r.infer_end_ns
        <= r.rendered_ns
        <= r.written_ns
        for r in records
    )
    assert not [e for e in log.entries if isinstance(e, DropEvent)]


@pytest.mark.slow
def test_live_policy_keeps_latency_bounded_and_accounts_for_every_frame() -> None:
    # given a live source at 200 fps and a detector 5x slower (25 ms per frame)
    detector_period_s = 0.025
    source = FakeFrameSource(1000, fps=200.0, kind=SourceKind.CAMERA)
    output = RecordingOutput()
    log = MemoryLatencyLog()
    pipeline = assemble(
        source,
        FakePerception(FakeDetector(delay_s=detector_period_s)),
        [],
        output,
        log,
        QueueSettings(DropPolicy.LATEST, 2, 2),
    )

    # when it runs to the end
    pipeline.group.run()

    # then every produced frame was processed or dropped, newest first (the bound on the
    # age in detector periods is a timing figure: bench/pipeline.py measures it)
    records = [e for e in log.entries if isinstance(e, LatencyRecord)]
    drops = [e for e in log.entries if isinstance(e, DropEvent)]
    assert source.produced == 1000
    assert len(records) + len(drops) + source.skipped == 1000
    assert {d.cause for d in drops} <= {"queue_full"}
    # the detector (>= 25 ms a call) cannot keep up over the >= 5 s the source takes: most
    # frames are dropped by a queue or skipped by the source when it falls behind
    assert len(records) < 500
    indices = [r.frame_index for r in records]
    assert indices == sorted(set(indices))  # dropping never reorders nor repeats a frame


def test_source_failure_stops_the_pipeline_and_join_reraises_it() -> None:
    output = RecordingOutput()
    pipeline = assemble(
        FakeFrameSource(100, fail_at=5),
        FakePerception(FakeDetector()),
        [],
        output,
        MemoryLatencyLog(),
        QueueSettings(DropPolicy.BLOCK),
    )

    with pytest.raises(StageFailedError, match="stage 'capture' failed") as info:
        pipeline.group.run()

    assert isinstance(info.value.__cause__, OSError)
    assert output.indices == [0, 1, 2, 3, 4]
    assert output.closed


def test_output_failure_stops_the_source() -> None:
    source = FakeFrameSource(None)  # endless
    output = RecordingOutput(fail_at=3)
    pipeline = assemble(
        source,
        FakePerception(FakeDetector()),
        [],
        output,
        MemoryLatencyLog(),
        QueueSettings(DropPolicy.BLOCK),
    )

    with pytest.raises(StageFailedError, match="stage 'render' failed"):
        pipeline.group.run()

    assert output.closed
    assert source.closed


def test_graceful_stop_mid_replay_writes_everything_captured() -> None:
    source = FakeFrameSource(None, fps=30.0)
    output = RecordingOutput()
    log = MemoryLatencyLog()
    pipeline = assemble(
        source,
        FakePerception(FakeDetector(delay_s=0.005)),
        [],
        output,
        log,
        QueueSettings(DropPolicy.BLOCK, 2, 2),
    )
    pipeline.group.start()
    deadline = time.monotonic() + 60
    while len(output.indices) < 10:
        assert time.monotonic() < deadline, "fewer than 10 frames written within 60 s"
        assert not pipeline.render.finished.wait(0.01), "the pipeline ended before frame 10"

    pipeline.group.stop()
    pipeline.group.finish()

    assert output.closed
    assert output.indices == list(range(pipeline.capture.frames_read))
    records = [e for e in log.entries if isinstance(e, LatencyRecord)]
    assert len(records) == pipeline.capture.frames_read


def test_reconnect_epoch_resets_the_track() -> None:
    class EpochSource(FakeFrameSource):
        def read(self, stop):  # type: ignore[no-untyped-def]
            frame = super().read(stop)
            if frame is None:
                return None
            from dataclasses import replace

            return replace(frame, epoch=frame.index // 5)

    perception = FakePerception(FakeDetector())
    pipeline = assemble(
        EpochSource(12),
        perception,
        [],
        RecordingOutput(),
        MemoryLatencyLog(),
        QueueSettings(DropPolicy.BLOCK),
    )

    pipeline.group.run()

    assert perception.resets == 2


def test_results_settled_late_are_all_written_in_order() -> None:
    class LaggingPerception(FakePerception):
        """Holds each result back two frames, like the lagged tracker."""

        def __init__(self) -> None:
            super().__init__(FakeDetector())
            self.waiting: list[FrameResult] = []

        def process(self, frame: Frame, dequeued_ns: int) -> list[FrameResult]:
            self.waiting += super().process(frame, dequeued_ns)
            settled, self.waiting = self.waiting[:-2], self.waiting[-2:]
            return settled

        def flush(self) -> list[FrameResult]:
            settled, self.waiting = self.waiting, []
            return settled

    output = RecordingOutput()
    pipeline = assemble(
        FakeFrameSource(9),
        LaggingPerception(),
        [],
        output,
        MemoryLatencyLog(),
        QueueSettings(DropPolicy.BLOCK),
    )

    pipeline.group.run()

    assert output.indices == list(range(9))

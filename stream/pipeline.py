"""Composition root: wires source → capture → frame queue → perception → result queue → render."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from overlays.output import Drawer, Output
from overlays.renderer import RenderStage
from perception.result import FrameResult
from perception.worker import FramePerception, PerceptionWorker
from stream.capture import CaptureStage
from stream.control import PlaybackControl
from stream.frame import Frame
from stream.latency import DropEvent, LatencyLog
from stream.queues import BoundedQueue, DropCause, DropPolicy
from stream.runner import StageGroup
from stream.source import FrameSource

Clock = Callable[[], int]


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """Sizes and the full-queue policy of both queues."""

    policy: DropPolicy
    frame_queue_size: int = 4
    result_queue_size: int = 4


@dataclass(slots=True)
class Pipeline:
    """The three stages of one run and the queues between them."""

    capture: CaptureStage
    worker: PerceptionWorker
    render: RenderStage
    frames: BoundedQueue[Frame]
    results: BoundedQueue[FrameResult]
    group: StageGroup


def _drop_logger(log: LatencyLog, stage: str, clock: Clock) -> Callable[[object, DropCause], None]:
    def on_drop(item: object, cause: DropCause) -> None:
        if isinstance(item, Frame):
            index = item.index
        elif isinstance(item, FrameResult):
            index = item.frame.index
        else:
            return
        log.write(DropEvent(index, str(cause), stage, clock()))

    return on_drop


def assemble(  # noqa: PLR0913 - the composition root takes every part once
    source: FrameSource,
    perception: FramePerception,
    drawers: Sequence[Drawer],
    output: Output,
    latency_log: LatencyLog,
    queues: QueueSettings,
    *,
    is_realtime: bool = False,
    clock: Clock = time.monotonic_ns,
    control: PlaybackControl | None = None,
) -> Pipeline:
    """Build the stages and queues of one run (nothing is started).

    ``control``: the user's switches; its pause holds the capture stage, its stop
    request stops the run gracefully.
    """
    frames: BoundedQueue[Frame] = BoundedQueue(
        queues.frame_queue_size, queues.policy, _drop_logger(latency_log, "frame_queue", clock)
    )
    results: BoundedQueue[FrameResult] = BoundedQueue(
        queues.result_queue_size, queues.policy, _drop_logger(latency_log, "result_queue", clock)
    )
    capture = CaptureStage(source, frames, is_realtime=is_realtime, clock=clock, control=control)
    worker = PerceptionWorker(perception, frames, results, clock=clock, latency_log=latency_log)
    render = RenderStage(results, drawers, output, latency_log=latency_log, clock=clock)
    group = StageGroup([capture, worker, render])
    if control is not None:
        control.on_stop(group.stop)
    return Pipeline(capture, worker, render, frames, results, group)

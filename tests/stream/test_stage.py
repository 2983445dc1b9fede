import os
import signal

import pytest

from stream.errors import StageFailedError
from stream.runner import StageGroup
from stream.stage import Stage


class CountingStage(Stage):
    def __init__(self, limit: int | None, fail_at: int | None = None) -> None:
        super().__init__("counting")
        self.limit = limit
        self.fail_at = fail_at
        self.count = 0
        self.torn_down = False

    def run_once(self) -> bool:
        if self.fail_at is not None and self.count == self.fail_at:
            msg = "boom"
            raise RuntimeError(msg)
        self.count += 1
        if self.limit is None:
            self.stop_event.wait(0.001)
        return self.limit is None or self.count < self.limit

    def teardown(self) -> None:
        self.torn_down = True


def test_stage_finishes_and_tears_down() -> None:
    stage = CountingStage(limit=10)
    stage.start()
    stage.join(timeout_s=5)
    assert stage.count == 10
    assert stage.torn_down


def test_stop_ends_an_endless_stage() -> None:
    stage = CountingStage(limit=None)
    stage.start()
    stage.stop()
    stage.join(timeout_s=5)
    assert stage.torn_down


def test_join_reraises_the_failure_with_its_cause() -> None:
    stage = CountingStage(limit=None, fail_at=3)
    stage.start()
    with pytest.raises(StageFailedError, match="stage 'counting' failed: boom") as info:
        stage.join(timeout_s=5)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert stage.torn_down


def test_join_times_out_naming_the_stage() -> None:
    stage = CountingStage(limit=None)
    stage.start()
    try:
        with pytest.raises(TimeoutError, match="'counting' did not stop"):
            stage.join(timeout_s=0.05)
    finally:
        stage.stop()
        stage.join(timeout_s=5)


def test_start_twice_is_refused() -> None:
    stage = CountingStage(limit=1)
    stage.start()
    stage.join(timeout_s=5)
    with pytest.raises(RuntimeError, match="already started"):
        stage.start()


class InterruptedWhileStarting(CountingStage):
    def start(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives while the pipeline starts
        super().start()


def test_ctrl_c_while_starting_arrives_once_every_stage_runs() -> None:
    # stopped halfway, the source would never run and the graceful stop would wait forever
    stages = [CountingStage(None), InterruptedWhileStarting(None), CountingStage(None)]
    group = StageGroup(stages)
    with pytest.raises(KeyboardInterrupt):
        group.start()
    try:
        assert [stage.is_alive() for stage in stages] == [True, True, True]
    finally:
        group.abort()
        group.join()
    assert all(stage.torn_down for stage in stages)

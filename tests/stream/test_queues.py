import threading

import pytest

from stream.messages import END_OF_STREAM, StageFailure
from stream.queues import BoundedQueue, DropCause, DropPolicy


def test_block_policy_keeps_everything_in_order() -> None:
    queue: BoundedQueue[int] = BoundedQueue(2, DropPolicy.BLOCK)
    stop = threading.Event()
    received: list[int] = []

    def consume() -> None:
        while True:
            item = queue.get(stop)
            if item is END_OF_STREAM:
                return
            if isinstance(item, int):
                received.append(item)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for value in range(50):
        assert queue.put(value, stop)
    queue.put(END_OF_STREAM, stop)
    consumer.join(5)

    assert received == list(range(50))
    assert queue.drop_count == 0


def test_latest_policy_drops_oldest_and_reports_cause() -> None:
    dropped: list[tuple[object, DropCause]] = []
    queue: BoundedQueue[int] = BoundedQueue(
        2, DropPolicy.LATEST, on_drop=lambda item, cause: dropped.append((item, cause))
    )
    stop = threading.Event()

    for value in range(5):
        assert queue.put(value, stop)

    assert [queue.get(stop), queue.get(stop)] == [3, 4]
    assert dropped == [(v, DropCause.QUEUE_FULL) for v in range(3)]
    assert queue.drop_count == 3


def test_latest_policy_never_drops_control_messages() -> None:
    queue: BoundedQueue[int] = BoundedQueue(1, DropPolicy.LATEST)
    stop = threading.Event()
    failure = StageFailure("capture", OSError("x"))

    queue.put(1, stop)
    queue.put(2, stop)
    queue.put(failure, stop)
    queue.put(3, stop)
    queue.put(END_OF_STREAM, stop)

    entries = [queue.get(stop) for _ in range(3)]
    assert entries == [failure, 3, END_OF_STREAM]
    assert queue.drop_count == 2


def test_blocked_put_gives_up_when_stopped() -> None:
    queue: BoundedQueue[int] = BoundedQueue(1, DropPolicy.BLOCK)
    stop = threading.Event()
    queue.put(1, stop)
    threading.Timer(0.2, stop.set).start()

    assert queue.put(2, stop) is False
    assert len(queue) == 1


def test_get_returns_none_on_timeout() -> None:
    queue: BoundedQueue[int] = BoundedQueue(1, DropPolicy.BLOCK)
    assert queue.get(timeout_s=0.01) is None


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize must be >= 1"):
        BoundedQueue(0, DropPolicy.BLOCK)

"""SIGTERM and SIGHUP end a run the way Ctrl-C does (installed by the entry point only).

Ctrl-C and both are held while a pipeline's threads start (:func:`signals_held`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
STOP_SIGNAL_NAMES = frozenset(number.name for number in STOP_SIGNALS)


class StopSignal(KeyboardInterrupt):
    """A stop asked by a signal other than Ctrl-C (``systemd``, ``docker stop``, ``timeout``).

    It is a :class:`KeyboardInterrupt`, so the run loop's Ctrl-C handling (finish the
    frames in flight, finalize every output; a second one aborts at once) applies
    unchanged; ``signal_name`` tells the exit code apart (a requested stop is clean).
    """

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


def stop_reason(interrupt: KeyboardInterrupt) -> str:
    """The signal behind an interrupt: ``SIGTERM``/``SIGHUP``, else ``SIGINT`` (Ctrl-C)."""
    return interrupt.signal_name if isinstance(interrupt, StopSignal) else "SIGINT"


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    del frame
    raise StopSignal(signal.Signals(signum).name)


@contextmanager
def _handled_by(
    numbers: tuple[signal.Signals, ...], handler: Callable[[int, FrameType | None], None]
) -> Iterator[None]:
    """Within the block, ``handler`` takes the signals ``numbers``; the previous come back.

    Only the main thread can install handlers: elsewhere (an embedding application)
    nothing is installed. A signal whose handler was not set from Python
    (``getsignal`` is None, it could not be restored) is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {n: h for n in numbers if (h := signal.getsignal(n)) is not None}
    for number in previous:
        signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`StopSignal` in the main thread.

    Python runs signal handlers in the main thread between bytecodes, exactly where
    it raises KeyboardInterrupt for SIGINT, so both take the same path. Outside the
    main thread (an embedding application) nothing is installed. The previous
    handlers are restored on exit.
    """
    with _handled_by(STOP_SIGNALS, _raise_stop):
        yield


@contextmanager
def signals_held() -> Iterator[None]:
    """Within the block, Ctrl-C, SIGTERM and SIGHUP wait; they arrive when it ends.

    For a few lines that must not be cut halfway: a pipeline interrupted while its
    threads start would have a stage that never runs, and the graceful stop would wait
    for it forever (CI saw this hang when Ctrl-C came between two batch recordings).
    The handlers are swapped for one that notes the signal; on leaving, the previous
    handlers come back and each noted signal is raised again, so its KeyboardInterrupt
    (or :class:`StopSignal`) comes right after the block. Blocking the signals with
    ``pthread_sigmask`` would not do: any other thread (OpenMP's, a library's) still
    takes them for the process. Outside the main thread nothing is held.
    """
    noted: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        del frame
        noted.append(signum)

    try:
        with _handled_by((signal.SIGINT, *STOP_SIGNALS), note):
            yield
    finally:
        for signum in dict.fromkeys(noted):
            signal.raise_signal(signum)

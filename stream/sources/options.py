"""Timeouts, reconnect backoff and decoder threads of sources (:class:`SourceOptions`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """Timeouts and the reconnect backoff of live sources, and the decoder's threads.

    Attributes:
        open_timeout_s: longest wait to open a camera or a stream.
        read_timeout_s: longest wait for the next frame of a live source.
        reconnect_initial_delay_s: wait before the first reconnect attempt (doubles each try).
        reconnect_max_delay_s: cap of the reconnect wait.
        reconnect_max_attempts: give up after this many failed attempts (0: until stopped).
        decode_threads: threads of a PyAV (file or stream) decoder; 0 lets FFmpeg choose (one
            per core).
    """

    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    reconnect_initial_delay_s: float = 0.5
    reconnect_max_delay_s: float = 8.0
    reconnect_max_attempts: int = 0
    decode_threads: int = 0

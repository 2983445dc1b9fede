"""Live network streams (rtsp, rtmp, tcp, udp, http(s), srt) decoded with PyAV.

Owns :class:`NetworkSource`: low-delay open options, one connection at a time, reconnects
with capped exponential backoff, and a ``pts_s`` that never runs backwards.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import av
from av.video.frame import VideoFrame

from stream.errors import SourceOpenError, SourceReadError
from stream.queues import DropCause
from stream.source import SourceDropCallback, SourceFrame, SourceKind
from stream.sources.options import SourceOptions
from stream.sources.pyav import Image, bgr_image, decoded_frames, failure_reason, stream_fps

logger = logging.getLogger(__name__)

# Measured against an ffmpeg mpegts/tcp peer: "fflags=nobuffer" throws away the packets read
# while probing, so decoding waits for the *next* keyframe (zero frames for 10 s with a 250-frame
# GOP); a small probe instead opens in ~0.4 s and only replays a short backlog. "flags=low_delay"
# is not a demuxer option and changed nothing.
_LIVE_OPTIONS = {"probesize": "500000", "analyzeduration": "500000"}
# RTSP over UDP loses packets behind NAT and firewalls; interleaved TCP is the robust default.
_RTSP_OPTIONS = {**_LIVE_OPTIONS, "rtsp_transport": "tcp"}


class _Connection:
    """One open stream: container, decoder state and the pts anchor of this connection."""

    def __init__(self, uri: str, options: SourceOptions) -> None:
        self.container = av.open(
            uri,
            options=_RTSP_OPTIONS if uri.lower().startswith(("rtsp:", "rtsps:")) else _LIVE_OPTIONS,
            timeout=(options.open_timeout_s, options.read_timeout_s),
        )
        if not self.container.streams.video:
            self.container.close()
            msg = f"{uri} carries no video stream; check the stream URL"
            raise SourceOpenError(msg)
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "SLICE"  # frame threading adds a frame of delay per thread
        if options.decode_threads > 0:  # 0: FFmpeg's choice (one per core)
            self.stream.thread_count = options.decode_threads
        self.frames = decoded_frames(self.container, self.stream)
        self.has_keyframe = False
        self.pts_offset: float | None = None

    def close(self) -> None:
        self.container.close()


def _is_blank(image: Image) -> bool:
    return bool(image.min() == image.max())


class NetworkSource:
    """A live stream (rtsp, rtmp, tcp, udp, http(s), srt) that reconnects when it drops.

    Used only from the capture thread. Each new connection bumps ``epoch``; the frame index
    runs on across reconnects. Undecodable packets, and blank pictures before the first
    keyframe of a connection, are skipped and reported as ``decode_error``. ``pts_s`` follows
    the stream clock, anchored to the time since the first frame at each (re)connection, so it
    never runs backwards.
    """

    def __init__(
        self,
        uri: str,
        options: SourceOptions,
        on_drop: SourceDropCallback,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.uri = uri
        self._options = options
        self._on_drop = on_drop
        self._clock = clock
        self.epoch = 0
        self._next_index = 0
        self._started_at: float | None = None
        self._last_pts = 0.0
        self._last_shape: tuple[int, ...] | None = None
        self._is_closed = False
        try:
            self._connection: _Connection | None = _Connection(uri, options)
        except (av.error.FFmpegError, OSError) as exc:
            msg = (
                f"cannot connect to {uri}: {failure_reason(exc)}; "
                "check that the stream is running and reachable"
            )
            raise SourceOpenError(msg) from exc
        self._fps = stream_fps(self._connection.stream)

    @property
    def kind(self) -> SourceKind:
        """Always :attr:`SourceKind.NETWORK`."""
        return SourceKind.NETWORK

    @property
    def fps(self) -> float:
        """Nominal rate of the current connection (0.0 when the stream does not say)."""
        return self._fps

    @property
    def frame_count(self) -> None:
        """Live streams have no known length."""
        return None

    def read(self, stop: threading.Event) -> SourceFrame | None:
        """The next good frame, reconnecting as needed; None once ``stop`` is set.

        Blocks at most the read/open timeout beyond ``stop`` (PyAV calls cannot be cut short).

        Raises:
            SourceReadError: ``reconnect_max_attempts`` reconnects failed in a row.
        """
        while not stop.is_set() and not self._is_closed:
            connection = self._connection or self._reconnect(stop)
            if connection is None:
                return None
            try:
                frame = next(connection.frames)
            except (StopIteration, av.error.FFmpegError, OSError) as exc:
                why = (
                    "ended" if isinstance(exc, StopIteration) else f"failed: {failure_reason(exc)}"
                )
                logger.warning("stream %s %s after frame %d", self.uri, why, self._next_index)
                self._drop_connection()
                continue
            index = self._next_index
            self._next_index += 1
            image = None if frame is None else self._usable_image(connection, frame)
            if frame is None or image is None:
                self._on_drop(index, DropCause.DECODE_ERROR)
                continue
            return SourceFrame(
                index=index, image=image, pts_s=self._pts(connection, frame), epoch=self.epoch
            )
        return None

    def _usable_image(self, connection: _Connection, frame: VideoFrame) -> Image | None:
        if frame.is_corrupt:
            return None
        connection.has_keyframe = connection.has_keyframe or frame.key_frame
        image = bgr_image(frame)
        if not connection.has_keyframe and _is_blank(image):
            return None
        if image.shape != self._last_shape:
            if self._last_shape is not None:
                logger.info("stream %s size is now %dx%d", self.uri, image.shape[1], image.shape[0])
            self._last_shape = image.shape
        return image

    def _pts(self, connection: _Connection, frame: VideoFrame) -> float:
        now = self._clock()
        self._started_at = now if self._started_at is None else self._started_at
        since_start = now - self._started_at
        stream_time: float | None = frame.time  # None when the packet had no pts
        if stream_time is None:
            pts = since_start
        else:
            if (
                connection.pts_offset is None
                or stream_time + connection.pts_offset < self._last_pts
            ):
                connection.pts_offset = since_start - stream_time
            pts = stream_time + connection.pts_offset
        self._last_pts = pts
        return pts

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _reconnect(self, stop: threading.Event) -> _Connection | None:
        """Capped exponential backoff; None when stopped while waiting."""
        options, reason = self._options, "the stream ended"
        attempt = 0
        while options.reconnect_max_attempts == 0 or attempt < options.reconnect_max_attempts:
            attempt += 1
            delay = min(
                options.reconnect_initial_delay_s * 2 ** (attempt - 1),
                options.reconnect_max_delay_s,
            )
            logger.warning("stream %s: reconnect attempt %d in %.2f s", self.uri, attempt, delay)
            if stop.wait(delay):
                return None
            try:
                self._connection = _Connection(self.uri, options)
            except (av.error.FFmpegError, OSError, SourceOpenError) as exc:
                reason = failure_reason(exc)
                logger.warning("stream %s: attempt %d failed: %s", self.uri, attempt, reason)
                continue
            self.epoch += 1
            self._fps = stream_fps(self._connection.stream) or self._fps
            logger.info("stream %s reconnected (epoch %d)", self.uri, self.epoch)
            return self._connection
        msg = (
            f"lost {self.uri} and could not reconnect after {attempt} attempts ({reason}); "
            "check that the stream is running and reachable"
        )
        raise SourceReadError(msg)

    def close(self) -> None:
        """Close the connection; later reads return None."""
        self._is_closed = True
        self._drop_connection()

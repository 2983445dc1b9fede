"""Video sources: files and network streams (PyAV), cameras (OpenCV), and the URI rules.

The kind of a source comes from its URI alone (:func:`kind_from_uri`), never from whether a
file happens to exist. :func:`open_source` builds the matching :class:`FrameSource`.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import av
import cv2
import numpy as np
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from numpy.typing import NDArray

from stream.errors import SourceOpenError, SourceReadError, StageFailedError
from stream.queues import DropCause
from stream.source import FrameSource, SourceDropCallback, SourceFrame, SourceKind
from stream.stage import Stage
from stream.synth import SynthSource, parse_synth_uri

logger = logging.getLogger(__name__)

NETWORK_SCHEMES = frozenset(
    {"rtsp", "rtsps", "rtmp", "rtmps", "tcp", "udp", "http", "https", "srt"}
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_CAMERA_PATH = re.compile(r"^/dev/video(\d+)$")
# Measured against an ffmpeg mpegts/tcp peer: "fflags=nobuffer" throws away the packets read
# while probing, so decoding waits for the *next* keyframe (zero frames for 10 s with a 250-frame
# GOP); a small probe instead opens in ~0.4 s and only replays a short backlog. "flags=low_delay"
# is not a demuxer option and changed nothing.
_LIVE_OPTIONS = {"probesize": "500000", "analyzeduration": "500000"}
# RTSP over UDP loses packets behind NAT and firewalls; interleaved TCP is the robust default.
_RTSP_OPTIONS = {**_LIVE_OPTIONS, "rtsp_transport": "tcp"}

Image = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """Timeouts and the reconnect backoff of live sources.

    Attributes:
        open_timeout_s: longest wait to open a camera or a stream.
        read_timeout_s: longest wait for the next frame of a live source.
        reconnect_initial_delay_s: wait before the first reconnect attempt (doubles each try).
        reconnect_max_delay_s: cap of the reconnect wait.
        reconnect_max_attempts: give up after this many failed attempts (0: until stopped).
    """

    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    reconnect_initial_delay_s: float = 0.5
    reconnect_max_delay_s: float = 8.0
    reconnect_max_attempts: int = 0


def kind_from_uri(uri: str) -> SourceKind:
    """The source kind a URI names, from its text only.

    ``synth:...`` is synthetic; digits or ``/dev/videoN`` a camera; rtsp, rtmp, tcp, udp,
    http(s) and srt URLs a network stream; ``file://`` or a plain path a file.

    Raises:
        SourceOpenError: empty URI or an unknown ``scheme://``.
    """
    text = uri.strip()
    if not text:
        msg = "empty source URI; use a file path, a camera index, synth: or a stream URL"
        raise SourceOpenError(msg)
    if text.startswith("synth:"):
        return SourceKind.SYNTH
    if text.isdigit() or _CAMERA_PATH.match(text):
        return SourceKind.CAMERA
    scheme = _SCHEME.match(text)
    if scheme is None or scheme.group(1).lower() == "file":
        return SourceKind.FILE
    if scheme.group(1).lower() in NETWORK_SCHEMES:
        return SourceKind.NETWORK
    msg = (
        f"unknown source scheme '{scheme.group(1)}://' in {uri!r}; use a file path, "
        "a camera index, synth: or one of rtsp/rtmp/tcp/udp/http(s)"
    )
    raise SourceOpenError(msg)


def open_source(
    uri: str,
    kind: SourceKind | None,
    options: SourceOptions,
    on_drop: SourceDropCallback,
) -> FrameSource:
    """Open the source a URI names.

    Args:
        uri: file path, ``file://`` URL, camera index, ``/dev/videoN``, stream URL or ``synth:``.
        kind: force a kind; None derives it from the URI.
        options: timeouts and reconnect backoff (live sources).
        on_drop: told about frames the source itself drops (stale or undecodable); may be
            called from the camera reader thread.

    Raises:
        SourceOpenError: the source cannot be opened; the message says why and what to do.
    """
    kind = kind_from_uri(uri) if kind is None else kind
    if kind is SourceKind.SYNTH:
        try:
            return SynthSource(parse_synth_uri(uri))
        except ValueError as exc:
            raise SourceOpenError(str(exc)) from exc
    if kind is SourceKind.CAMERA:
        return CameraSource(uri, options, on_drop)
    if kind is SourceKind.NETWORK:
        return NetworkSource(uri, options, on_drop)
    path = unquote(urlparse(uri).path) if uri.startswith("file://") else uri
    return FileSource(path, on_drop)


# --- shared PyAV helpers ----------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    if isinstance(exc, av.error.ExitError):
        return "no answer before the timeout"
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else str(exc)


def _stream_fps(stream: VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _bgr(frame: VideoFrame) -> Image:
    return np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)


def _decoded(container: InputContainer, stream: VideoStream) -> Iterator[VideoFrame | None]:
    """Frames in decode order; None stands for a packet that failed to decode.

    Demuxing errors (a lost connection) propagate; the final empty packets flush the decoder.
    """
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            logger.debug("undecodable packet at pts %s", packet.pts, exc_info=True)
            yield None
            continue
        yield from frames


class FileSource:
    """Decodes a video file in order with PyAV; used only from the capture thread.

    A packet that fails to decode is counted through ``on_drop`` (``decode_error``) and
    skipped. A truncated file yields the frames that decode, logs a warning with the count
    and ends cleanly.
    """

    def __init__(self, path: str, on_drop: SourceDropCallback) -> None:
        self.path = path
        self._container = _open_file(path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._fps = _stream_fps(self._stream)
        self._frame_count = self._stream.frames or None
        self._frames = _decoded(self._container, self._stream)
        self._on_drop = on_drop
        self._next_index = 0
        self._is_closed = False
        logger.info("opened %s: %d frames at %.3f fps", path, self._frame_count or -1, self._fps)

    @property
    def kind(self) -> SourceKind:
        """Always :attr:`SourceKind.FILE`."""
        return SourceKind.FILE

    @property
    def fps(self) -> float:
        """Average frame rate of the video stream (0.0 when unknown)."""
        return self._fps

    @property
    def frame_count(self) -> int | None:
        """Frame count from the container, None when it does not say."""
        return self._frame_count

    def read(self, stop: threading.Event) -> SourceFrame | None:
        """The next frame in order, or None at the end of the file.

        Raises:
            SourceReadError: the file could not be read further.
        """
        del stop  # decoding a file never waits for long
        while not self._is_closed:
            try:
                frame = next(self._frames)
            except StopIteration:
                self._finish()
                return None
            except av.error.FFmpegError as exc:
                msg = (
                    f"reading {self.path!r} failed after {self._next_index} frames: "
                    f"{_reason(exc)}; check that the file is complete"
                )
                raise SourceReadError(msg) from exc
            index = self._next_index
            self._next_index += 1
            if frame is None:
                self._on_drop(index, DropCause.DECODE_ERROR)
                continue
            pts_s = frame.time if frame.time is not None else index / (self._fps or 30.0)
            return SourceFrame(index=index, image=_bgr(frame), pts_s=pts_s)
        return None

    def _finish(self) -> None:
        """Close at the end; a file that ends before its own frame count is an error.

        The frames that decoded have been handed out (and written) by then; the
        error makes the run exit non-zero so a truncated recording is not
        mistaken for a complete one.

        Raises:
            SourceReadError: the file holds fewer frames than its index says.
        """
        self.close()
        if self._frame_count is not None and self._next_index < self._frame_count:
            msg = (
                f"{self.path!r} ended after {self._next_index} of {self._frame_count} frames: "
                "the file is truncated; the outputs hold the frames that decoded"
            )
            raise SourceReadError(msg)

    def close(self) -> None:
        """Close the file."""
        if not self._is_closed:
            self._is_closed = True
            self._container.close()


def _open_file(path: str) -> InputContainer:
    file = Path(path)
    try:
        if file.is_file() and file.stat().st_size == 0:
            msg = f"video file {path!r} is empty (0 bytes); copy or record it again"
            raise SourceOpenError(msg)
        container = av.open(path)
    except FileNotFoundError as exc:
        msg = f"video file {path!r} not found; check the path (relative to {Path.cwd()})"
        raise SourceOpenError(msg) from exc
    except (IsADirectoryError, PermissionError) as exc:
        msg = f"video file {path!r} cannot be read ({_reason(exc)}); give a readable video file"
        raise SourceOpenError(msg) from exc
    except av.error.FFmpegError as exc:
        msg = (
            f"{path!r} is not a video PyAV can decode ({_reason(exc)}); check that it is a "
            "complete video file (an MP4 cut off before its index cannot be opened)"
        )
        raise SourceOpenError(msg) from exc
    if not container.streams.video:
        found = ", ".join(sorted({stream.type for stream in container.streams})) or "none"
        container.close()
        msg = f"{path!r} has no video stream (streams: {found}); give a file with video"
        raise SourceOpenError(msg)
    return container


# --- cameras (OpenCV) -------------------------------------------------------------------------


class CaptureDevice(Protocol):
    """The part of ``cv2.VideoCapture`` a camera source uses (fakes implement it in tests)."""

    def read(self) -> tuple[bool, Image | None]:
        """Block for the next picture; ``(False, None)`` when none came."""
        ...

    def fps(self) -> float:
        """Nominal frame rate (0.0 when unknown)."""
        ...

    def release(self) -> None:
        """Free the device."""
        ...


class _OpenCvCapture:
    def __init__(self, capture: cv2.VideoCapture) -> None:
        self._capture = capture

    def read(self) -> tuple[bool, Image | None]:
        is_ok, image = self._capture.read()
        return (True, np.asarray(image, dtype=np.uint8)) if is_ok else (False, None)

    def fps(self) -> float:
        value = float(self._capture.get(cv2.CAP_PROP_FPS))
        return value if math.isfinite(value) and value > 0 else 0.0

    def release(self) -> None:
        self._capture.release()


def open_opencv_capture(device: str, options: SourceOptions) -> CaptureDevice:
    """Open a camera (index or ``/dev/videoN``) with OpenCV, with open and read timeouts.

    Raises:
        SourceOpenError: the camera cannot be opened.
    """
    match = _CAMERA_PATH.match(device)
    target: int | str = (
        int(match.group(1)) if match else int(device) if device.isdigit() else device
    )
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        round(options.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        round(options.read_timeout_s * 1000),
    ]
    capture = cv2.VideoCapture(target, cv2.CAP_ANY, params)
    if not capture.isOpened():
        capture.release()
        shown = device if device.isdigit() else repr(device)
        msg = (
            f"camera {shown} could not be opened; check the index (ls /dev/video*) "
            "or the device permissions"
        )
        raise SourceOpenError(msg)
    return _OpenCvCapture(capture)


CaptureOpener = Callable[[str, SourceOptions], CaptureDevice]


class _CameraReader(Stage):
    """Reads the camera as fast as it delivers and keeps only the newest picture.

    A picture replaced before anyone took it is reported as ``stale`` through ``on_drop``
    (from this thread). The device is released here, in the thread that reads it.
    """

    def __init__(
        self,
        name: str,
        capture: CaptureDevice,
        on_drop: SourceDropCallback,
        read_timeout_s: float,
        clock: Callable[[], float],
    ) -> None:
        super().__init__("camera-reader")
        self.device_name = name
        self._capture = capture
        self._on_drop = on_drop
        self._read_timeout_s = read_timeout_s
        self._clock = clock
        self._cond = threading.Condition()
        self._newest: tuple[int, Image, float] | None = None
        self._next_index = 0
        self._failing_since: float | None = None

    def run_once(self) -> bool:
        is_ok, image = self._capture.read()
        now = self._clock()
        if not is_ok or image is None:
            self._failing_since = self._failing_since if self._failing_since else now
            if now - self._failing_since > self._read_timeout_s:
                msg = (
                    f"camera {self.device_name} gave no picture for {self._read_timeout_s:.1f} s; "
                    "check the cable and that no other program uses it"
                )
                raise SourceReadError(msg)
            self.stop_event.wait(0.01)
            return True
        self._failing_since = None
        with self._cond:
            replaced = self._newest
            self._newest = (self._next_index, image, now)
            self._next_index += 1
            self._cond.notify_all()
        if replaced is not None:
            self._on_drop(replaced[0], DropCause.STALE)
        return True

    def take(self, stop: threading.Event, timeout_s: float) -> tuple[int, Image, float] | None:
        """The newest unread picture; None when stopped, finished or after ``timeout_s``."""
        deadline = self._clock() + timeout_s
        with self._cond:
            while self._newest is None:
                if stop.is_set() or self.finished.is_set() or self._clock() >= deadline:
                    return None
                self._cond.wait(0.02)
            newest, self._newest = self._newest, None
            return newest

    def teardown(self) -> None:
        self._capture.release()


class CameraSource:
    """A local camera read by a ``camera-reader`` thread that keeps only the newest picture.

    ``read`` is called from the capture thread; the reader thread starts at the first read.
    ``pts_s`` is the capture time relative to the first picture.
    """

    def __init__(
        self,
        device: str,
        options: SourceOptions,
        on_drop: SourceDropCallback,
        *,
        open_capture: CaptureOpener = open_opencv_capture,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device = device
        self._options = options
        self._capture = open_capture(device, options)
        self._fps = self._capture.fps()
        self._reader = _CameraReader(device, self._capture, on_drop, options.read_timeout_s, clock)
        self._first_at: float | None = None
        self._is_started = False
        self._is_closed = False

    @property
    def kind(self) -> SourceKind:
        """Always :attr:`SourceKind.CAMERA`."""
        return SourceKind.CAMERA

    @property
    def fps(self) -> float:
        """The rate the driver reports (0.0 when unknown)."""
        return self._fps

    @property
    def frame_count(self) -> None:
        """Cameras never end on their own."""
        return None

    def read(self, stop: threading.Event) -> SourceFrame | None:
        """The newest picture not yet handed out; None when stopped or closed.

        Raises:
            SourceReadError: the camera stopped delivering pictures.
        """
        if self._is_closed:
            return None
        if not self._is_started:
            self._is_started = True
            self._reader.start()
        newest = self._reader.take(stop, self._options.read_timeout_s)
        if newest is None:
            failure = self._reader.failure
            if failure is not None:
                msg = (
                    str(failure)
                    if isinstance(failure, SourceReadError)
                    else f"camera {self.device} failed: {failure!r}; check the device driver"
                )
                raise SourceReadError(msg) from failure
            if stop.is_set() or self._reader.finished.is_set():
                return None
            msg = (
                f"camera {self.device} gave no picture for {self._options.read_timeout_s:.1f} s; "
                "check the cable and that no other program uses it"
            )
            raise SourceReadError(msg)
        index, image, captured_at = newest
        self._first_at = captured_at if self._first_at is None else self._first_at
        return SourceFrame(index=index, image=image, pts_s=captured_at - self._first_at)

    def close(self) -> None:
        """Stop the reader thread and release the camera."""
        if self._is_closed:
            return
        self._is_closed = True
        if not self._is_started:
            self._capture.release()
            return
        self._reader.stop()
        try:
            self._reader.join(timeout_s=self._options.read_timeout_s + 1.0)
        except TimeoutError:
            logger.warning(
                "camera %s: the reader did not stop; the device may stay busy", self.device
            )
        except StageFailedError:
            logger.debug("camera %s reader had failed", self.device, exc_info=True)


# --- network streams (PyAV) -------------------------------------------------------------------


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
        self.frames = _decoded(self.container, self.stream)
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
                f"cannot connect to {uri}: {_reason(exc)}; "
                "check that the stream is running and reachable"
            )
            raise SourceOpenError(msg) from exc
        self._fps = _stream_fps(self._connection.stream)

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
                why = "ended" if isinstance(exc, StopIteration) else f"failed: {_reason(exc)}"
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
        image = _bgr(frame)
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
                reason = _reason(exc)
                logger.warning("stream %s: attempt %d failed: %s", self.uri, attempt, reason)
                continue
            self.epoch += 1
            self._fps = _stream_fps(self._connection.stream) or self._fps
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

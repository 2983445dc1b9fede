"""Local cameras read with OpenCV: a reader thread keeps only the newest picture.

Owns :class:`CameraSource`, its ``camera-reader`` stage, the :class:`CaptureDevice`
protocol (fakes implement it in tests) and :func:`open_opencv_capture`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from stream.errors import SourceOpenError, SourceReadError, StageFailedError
from stream.queues import DropCause
from stream.source import SourceDropCallback, SourceFrame, SourceKind
from stream.sources.options import SourceOptions
from stream.sources.uri import CAMERA_PATH
from stream.stage import Stage

logger = logging.getLogger(__name__)

Image = NDArray[np.uint8]


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
    match = CAMERA_PATH.match(device)
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

"""The web view's MJPEG stream: the newest-frame slot and the hub that encodes it for viewers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from functools import partial

import cv2
import numpy as np
from aiohttp import web
from numpy.typing import NDArray

from overlays.web_server import SECURITY_HEADERS
from stream.errors import OutputError

logger = logging.getLogger(__name__)

_BOUNDARY = "ballwatchframe"


class FrameSlot:
    """The newest rendered frame only. ``put`` is O(1): it never encodes and never waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._image: NDArray[np.uint8] | None = None
        self._index = -1
        self._serial = 0
        self._wake: Callable[[], None] | None = None
        self._is_wake_pending = False

    def put(self, image: NDArray[np.uint8], index: int) -> None:
        """Replace the frame (kept, not copied) and wake the encoder once."""
        with self._lock:
            self._image, self._index = image, index
            self._serial += 1
            wake = None if self._is_wake_pending else self._wake
            self._is_wake_pending = self._is_wake_pending or wake is not None
        if wake is not None:
            wake()

    def take(self) -> tuple[int, NDArray[np.uint8] | None, int]:
        """The serial number, image and frame index of the newest frame."""
        with self._lock:
            self._is_wake_pending = False
            return self._serial, self._image, self._index

    def set_wake(self, wake: Callable[[], None] | None) -> None:
        """Call ``wake`` (from the writing thread) when a new frame arrives; None: nobody."""
        with self._lock:
            self._wake = wake
            self._is_wake_pending = False


def _encode_part(image: NDArray[np.uint8], index: int, quality: int) -> bytes:
    is_ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not is_ok:
        msg = f"JPEG encoding failed for frame {index} of shape {image.shape}"
        raise OutputError(msg)
    head = (
        f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {jpeg.size}\r\n"
        f"X-Frame-Index: {index}\r\n\r\n"
    )
    return head.encode("ascii") + jpeg.tobytes() + b"\r\n"


class StreamHub:
    """Encodes the newest frame when viewers want one and fans it out. Lives on the server loop.

    One encoder task JPEG-encodes the slot's frame (in the loop's executor, at most
    ``max_fps`` times a second, only while a viewer is ready for it) into one shared
    part. Each viewer waits for a newer part and sends it; a viewer stuck in
    ``write`` (a stalled client) only misses parts: nothing queues up for it, and
    frames nobody is ready for are never encoded.
    """

    def __init__(self, slot: FrameSlot, quality: int, max_fps: float) -> None:
        self._slot = slot
        self._quality = quality
        self._interval_s = 1.0 / max_fps
        self._frame_ready = asyncio.Event()
        self._published = asyncio.Condition()
        self._part: tuple[int, bytes] = (0, b"")
        self._is_closing = False
        self._waiting = 0  # viewers ready for the next part
        self.viewers = 0
        self.parts_encoded = 0

    def wake_from_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """Tell the encoder on ``loop`` that a new frame arrived; callable from any thread."""
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody watches
            loop.call_soon_threadsafe(self._frame_ready.set)

    async def encode_forever(self) -> None:
        """Encode the newest frame whenever a viewer waits for one, until :meth:`close`."""
        loop = asyncio.get_running_loop()
        while not self._is_closing:
            await self._frame_ready.wait()
            self._frame_ready.clear()
            if self._waiting == 0:
                continue  # a viewer that gets ready sets _frame_ready again
            serial, image, index = self._slot.take()
            if image is None or serial == self._part[0]:
                continue
            encode = partial(_encode_part, image, index, self._quality)
            self._part = (serial, await loop.run_in_executor(None, encode))
            self.parts_encoded += 1
            async with self._published:
                self._published.notify_all()
            await asyncio.sleep(self._interval_s)

    async def close(self) -> None:
        """End the encoder and every viewer's stream."""
        self._is_closing = True
        self._slot.set_wake(None)
        self._frame_ready.set()
        async with self._published:
            self._published.notify_all()

    async def _next_part(self, sent: int) -> tuple[int, bytes] | None:
        """The newest part once it is newer than ``sent``; None when the server closes."""
        async with self._published:
            self._waiting += 1
            self._frame_ready.set()  # encode the newest frame if it is newer than ``sent``
            try:
                await self._published.wait_for(lambda: self._is_closing or self._part[0] > sent)
            finally:
                self._waiting -= 1
        return None if self._is_closing else self._part

    async def serve_viewer(self, request: web.Request) -> web.StreamResponse:
        """Stream the newest parts to one viewer until it leaves or the server closes."""
        response = web.StreamResponse(headers=SECURITY_HEADERS)
        response.content_type = "multipart/x-mixed-replace"
        response.headers["Content-Type"] = f"multipart/x-mixed-replace; boundary={_BOUNDARY}"
        await response.prepare(request)
        self.viewers += 1
        if self.viewers == 1:
            loop = asyncio.get_running_loop()
            self._slot.set_wake(partial(self.wake_from_thread, loop))
        sent = 0
        try:
            while (part := await self._next_part(sent)) is not None:
                sent = part[0]
                await response.write(part[1])
        except ConnectionError:
            logger.debug("web viewer %s went away", request.remote)
        finally:
            self.viewers -= 1
            if self.viewers == 0:
                self._slot.set_wake(None)
        return response

"""A live browser view: the newest overlay frame as MJPEG, plus the run's numbers as JSON.

Modules, each owning one part:

- :mod:`overlays.web_server`: the server stack (``listen``, the token rule,
  :class:`AppServer`), shared with the batch view and the labelling page; its public
  names are re-exported here.
- :mod:`overlays.web_stats`: ``LiveStats``, the numbers the page shows.
- :mod:`overlays.web_stream`: ``FrameSlot`` and ``StreamHub``, the MJPEG stream.
- this module: :class:`WebView` and its routes. Its page, script and style sheet are in
  the ``overlays/web/`` folder beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import overload

import numpy as np
from aiohttp import web
from numpy.typing import NDArray

from overlays.web_server import (
    SECURITY_HEADERS,
    AppServer,
    Handler,
    StaticPage,
    is_loopback,
    listen,
    page_url,
    parse_address,
    token_middleware,
)
from overlays.web_stats import LiveStats
from overlays.web_stream import FrameSlot, StreamHub
from perception.result import FrameResult
from stream.errors import OutputError
from stream.latency import DropEvent, LatencyRecord, LogEntry, RunEvent

__all__ = [
    "SECURITY_HEADERS",
    "AppServer",
    "Handler",
    "WebView",
    "is_loopback",
    "listen",
    "parse_address",
    "token_middleware",
]

logger = logging.getLogger(__name__)

_ASSET_DIR = Path(__file__).with_name("web")


class _ServerStage(AppServer):
    """The web view's routes: page, assets, MJPEG stream, stats."""

    def __init__(
        self,
        sock: socket.socket,
        token: str | None,
        hub_factory: Callable[[], StreamHub],
        stats: LiveStats,
    ) -> None:
        super().__init__("web-view", sock, token)
        self._hub_factory = hub_factory
        self._stats = stats
        self._page = StaticPage(_ASSET_DIR, "index.html", ("app.js", "style.css"), "web view")
        self._hub: StreamHub | None = None
        self._encoder: asyncio.Task[None] | None = None

    async def add_routes(self, app: web.Application) -> None:
        """Page, assets, MJPEG stream, stats and health."""
        self._hub = hub = self._hub_factory()
        self._encoder = asyncio.get_running_loop().create_task(hub.encode_forever())
        self._page.add_routes(app, self._token)
        app.router.add_get("/stream.mjpg", hub.serve_viewer)
        app.router.add_get("/stats", self._serve_stats)
        app.router.add_get("/healthz", self._healthz)

    async def before_cleanup(self) -> None:
        """End every viewer's stream."""
        if self._hub is not None:
            await self._hub.close()

    async def after_cleanup(self) -> None:
        """Stop the encoder task."""
        if self._encoder is not None:
            self._encoder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._encoder

    async def _serve_stats(self, request: web.Request) -> web.Response:
        del request
        stats = self._stats.snapshot()
        if self._hub is not None:
            stats["server"] = {
                "viewers": self._hub.viewers,
                "parts_encoded": self._hub.parts_encoded,
                "tasks": len(asyncio.all_tasks()),
            }
        dumps = partial(json.dumps, default=str, separators=(",", ":"))
        return web.json_response(stats, dumps=dumps, headers=SECURITY_HEADERS)

    async def _healthz(self, request: web.Request) -> web.Response:
        del request
        return web.Response(text="ok", headers=SECURITY_HEADERS)


class WebView:
    """A browser view of a run: the overlay video, the ball, fps, latency, drops, decision.

    It is both an :class:`~overlays.output.Output` (``write(image, result)``: the
    render thread hands over the drawn frame, which is kept, not copied) and a
    :class:`~stream.latency.LatencyLog` (``write(entry)``: records, drops and run
    events such as ``RunEvent("decision", t, {"text": ...})`` or
    ``RunEvent("progress", t, {"done": n, "total": m})``). ``write`` never
    encodes and never waits on the network: it swaps the newest frame into a
    one-frame slot; the server thread encodes it as JPEG only while someone
    watches, at most ``max_stream_fps`` times a second. ``write`` is thread-safe.

    The server runs on its own thread: :meth:`start`, :meth:`stop`, :meth:`join`;
    :meth:`close` (the Output/LatencyLog close, safe to call twice) stops and joins.

    Routes: ``/`` (page), ``/app.js``, ``/style.css``, ``/stream.mjpg`` (MJPEG of the
    newest frame), ``/stats`` (JSON), ``/healthz``. With a token, every request needs
    it as ``?token=`` or ``Authorization: Bearer``; others get 401.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        jpeg_quality: int = 80,
        *,
        max_stream_fps: float = 30.0,
    ) -> None:
        """Bind the listening socket (the server starts with :meth:`start`).

        Args:
            host: address to listen on; anything but loopback needs ``token``.
            port: TCP port; 0 picks a free one (see :attr:`url`).
            token: shared secret every request must carry; None on loopback only.
            jpeg_quality: JPEG quality of the stream, 1-100.
            max_stream_fps: cap on JPEG encodes per second (frames beyond are skipped).

        Raises:
            OutputError: non-loopback host without a token, or the port cannot be bound.
            ValueError: ``jpeg_quality`` or ``max_stream_fps`` out of range.
        """
        if not token and not is_loopback(host):
            msg = f"--serve on {host} needs --serve-token: the view would be open to the network"
            raise OutputError(msg)
        if not 1 <= jpeg_quality <= 100 or max_stream_fps <= 0:
            msg = (
                "jpeg_quality must be 1-100 and max_stream_fps > 0, "
                f"but got {jpeg_quality} and {max_stream_fps}"
            )
            raise ValueError(msg)
        self._host = host
        self._stats = LiveStats(time.monotonic_ns)
        self._slot = FrameSlot()
        sock = listen(host, port)
        self._port = int(sock.getsockname()[1])
        hub_factory = partial(StreamHub, self._slot, jpeg_quality, max_stream_fps)
        try:
            self._server = _ServerStage(sock, token or None, hub_factory, self._stats)
        except OutputError:
            sock.close()
            raise
        self._is_started = False
        self._close_lock = threading.Lock()

    @classmethod
    def from_address(
        cls, address: str, token: str | None = None, jpeg_quality: int = 80
    ) -> WebView:
        """Build a view from ``HOST:PORT`` (``[::1]:8080`` for IPv6), as given to ``--serve``.

        Raises:
            OutputError: ``address`` is not HOST:PORT, or see :meth:`__init__`.
        """
        host, port = parse_address(address)
        return cls(host, port, token, jpeg_quality)

    @property
    def url(self) -> str:
        """The page's address (without the token)."""
        return page_url(self._host, self._port)

    def start(self) -> None:
        """Start serving on the server thread."""
        self._is_started = True
        self._server.start()
        logger.info("web view at %s", self.url)

    def stop(self) -> None:
        """Ask the server to stop soon; returns at once."""
        self._server.stop()

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the server thread; re-raise its failure (StageFailedError)."""
        self._server.join(timeout_s)

    def close(self) -> None:
        """Stop the server and wait for it (a few seconds at most); safe to call twice."""
        with self._close_lock:
            if not self._is_started:
                self._server.close_unstarted()
                return
            self._server.stop()
            self._server.join(5.0)

    @overload
    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None: ...

    @overload
    def write(self, entry: LogEntry) -> None: ...

    def write(self, *args: object, **kwargs: object) -> None:
        """Take a rendered frame (Output) or a latency entry (LatencyLog).

        Raises:
            TypeError: the arguments are neither ``(image, result)`` nor one entry.
        """
        named = dict(zip(("image", "result"), args, strict=False)) | kwargs
        entry = named.get("entry", named.get("image"))
        if len(args) + len(kwargs) == 1 and isinstance(entry, LatencyRecord | DropEvent | RunEvent):
            self._stats.on_entry(entry)
            return
        image, result = named.get("image"), named.get("result")
        if (
            len(args) + len(kwargs) != 2
            or not isinstance(image, np.ndarray)
            or not isinstance(result, FrameResult)
        ):
            msg = "WebView.write takes (image, result) or one latency log entry"
            raise TypeError(msg)
        self._slot.put(image, result.frame.index)
        self._stats.on_frame(result)

"""A live browser view: the newest overlay frame as MJPEG, plus the run's numbers as JSON."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
from abc import abstractmethod
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, overload
from urllib.parse import quote

import cv2
import numpy as np
from aiohttp import web
from numpy.typing import NDArray

from perception.result import FrameResult
from stream.errors import OutputError
from stream.latency import DropEvent, LatencyRecord, LogEntry, RunEvent
from stream.stage import Stage

logger = logging.getLogger(__name__)

_ASSET_DIR = Path(__file__).with_name("web")
_ASSET_TYPES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
_AUTH_QUERY = "__AUTH_QUERY__"
_BOUNDARY = "ballwatchframe"
_NS_PER_S = 1_000_000_000
_WINDOW_NS = 60 * _NS_PER_S
_CHART_POINTS = 240
_STAGES = ("end_to_end", "queue_wait", "detector", "perception", "render", "write")
_SHUTDOWN_S = 1.0
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (anything else needs a token)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int, what: str = "the web view") -> socket.socket:
    """A listening socket on ``host:port`` (0 picks a free port).

    Raises:
        OutputError: the address cannot be bound.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        return socket.create_server(address[:2], family=family, backlog=64)
    except OSError as exc:
        msg = (
            f"cannot serve {what} on {host}:{port}: {exc.strerror or exc}; "
            "choose a free port (0 picks one)"
        )
        raise OutputError(msg) from exc


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as given to ``--serve``, split.

    Raises:
        OutputError: ``address`` is not HOST:PORT.
    """
    host, sep, port_text = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        host = ""
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        msg = (
            f"--serve {address!r} is not HOST:PORT; "
            "write e.g. 127.0.0.1:8080 (port 0 picks a free one)"
        )
        raise OutputError(msg)
    return host, int(port_text)


def _stage_values(record: LatencyRecord) -> tuple[float | None, ...]:
    detector = record.inference_ms if record.infer_start_ns else None
    return (
        record.end_to_end_ms,
        record.queue_wait_ms,
        detector,
        record.perception_ms,
        record.render_ms,
        record.write_ms,
    )


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"last": None, "p50": None, "p95": None}
    p50, p95 = np.percentile(values, [50, 95])
    return {"last": round(values[-1], 2), "p50": round(float(p50), 2), "p95": round(float(p95), 2)}


def _decimate(points: list[list[Any]]) -> list[list[Any]]:
    """Keep at most ``_CHART_POINTS`` points, the slowest of each chunk (spikes stay visible)."""
    if len(points) <= _CHART_POINTS:
        return points
    chunks = np.array_split(np.arange(len(points)), _CHART_POINTS)
    return [max((points[i] for i in chunk), key=lambda point: point[1]) for chunk in chunks]


class _LiveStats:
    """The numbers the page shows. Fed from any pipeline thread, read by the server thread."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started_ns = clock()
        self._write_ns: deque[int] = deque(maxlen=32)
        self._frames_written = 0
        self._frame: dict[str, Any] = {"frame_index": None, "pts_s": None, "precision": None}
        self._frame |= {"mode": None, "ball": {"status": None, "x": None, "y": None}}
        self._records: deque[tuple[int, tuple[float | None, ...]]] = deque()
        self._drops: Counter[str] = Counter()
        self._decision: str | None = None
        self._progress: tuple[int, int | None] | None = None
        self._events: deque[dict[str, Any]] = deque(maxlen=8)

    def on_frame(self, result: FrameResult) -> None:
        ball = result.ball
        frame = {
            "frame_index": result.frame.index,
            "pts_s": round(result.frame.pts_s, 3),
            "precision": str(result.precision),
            "mode": str(result.step.mode),
            "ball": {"status": str(ball.status), "x": round(ball.x, 1), "y": round(ball.y, 1)},
        }
        now = self._clock()
        with self._lock:
            self._frame = frame
            self._frames_written += 1
            self._write_ns.append(now)

    def on_entry(self, entry: LogEntry) -> None:
        now = self._clock()
        with self._lock:
            if isinstance(entry, LatencyRecord):
                self._records.append((now, _stage_values(entry)))
                self._trim(now)
            elif isinstance(entry, DropEvent):
                self._drops[entry.cause] += 1
            else:
                self._on_event(entry, now)

    def _on_event(self, event: RunEvent, now: int) -> None:
        details = event.details
        if event.kind == "progress":
            # A malformed event must not fail the pipeline stage that logged it.
            with contextlib.suppress(TypeError, ValueError):
                total = details.get("total")
                self._progress = (int(details.get("done", 0)), int(total) if total else None)
            return
        if event.kind == "decision":
            text = details.get("text")
            self._decision = (
                str(text) if text else ", ".join(f"{k}={v}" for k, v in details.items())
            )
        t_s = round((now - self._started_ns) / _NS_PER_S, 2)
        self._events.append({"kind": event.kind, "t_s": t_s, **details})

    def _trim(self, now: int) -> None:
        while self._records and now - self._records[0][0] > _WINDOW_NS:
            self._records.popleft()

    def _fps(self, now: int) -> float:
        times = self._write_ns
        if len(times) < 2 or now - times[-1] > 2 * _NS_PER_S or times[-1] == times[0]:
            return 0.0
        return round((len(times) - 1) * _NS_PER_S / (times[-1] - times[0]), 2)

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            self._trim(now)
            records = list(self._records)
            done, total = self._progress or (self._frames_written, None)
            stats = {
                **self._frame,
                "fps": self._fps(now),
                "frames_written": self._frames_written,
                "drops": {"total": sum(self._drops.values()), "by_cause": dict(self._drops)},
                "decision": self._decision,
                "progress": {"done": done, "total": total},
                "events": list(self._events),
            }
        columns = list(zip(*(values for _, values in records), strict=True)) if records else []
        stats["latency_ms"] = {
            stage: _summary([v for v in columns[i] if v is not None] if columns else [])
            for i, stage in enumerate(_STAGES)
        }
        points = [
            [
                round((at - self._started_ns) / _NS_PER_S, 3),
                round(v[0] or 0.0, 2),
                None if v[2] is None else round(v[2], 2),
            ]
            for at, v in records
        ]
        now_s = round((now - self._started_ns) / _NS_PER_S, 3)
        stats["chart"] = {"now_s": now_s, "window_s": _WINDOW_NS // _NS_PER_S}
        stats["chart"]["points"] = _decimate(points)
        return stats


class _FrameSlot:
    """The newest rendered frame only. ``put`` is O(1): it never encodes and never waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._image: NDArray[np.uint8] | None = None
        self._index = -1
        self._serial = 0
        self._wake: Callable[[], None] | None = None
        self._is_wake_pending = False

    def put(self, image: NDArray[np.uint8], index: int) -> None:
        with self._lock:
            self._image, self._index = image, index
            self._serial += 1
            wake = None if self._is_wake_pending else self._wake
            self._is_wake_pending = self._is_wake_pending or wake is not None
        if wake is not None:
            wake()

    def take(self) -> tuple[int, NDArray[np.uint8] | None, int]:
        with self._lock:
            self._is_wake_pending = False
            return self._serial, self._image, self._index

    def set_wake(self, wake: Callable[[], None] | None) -> None:
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


class _StreamHub:
    """Encodes the newest frame when viewers want one and fans it out. Lives on the server loop.

    One encoder task JPEG-encodes the slot's frame (in the loop's executor, at most
    ``max_fps`` times a second, only while a viewer is ready for it) into one shared
    part. Each viewer waits for a newer part and sends it; a viewer stuck in
    ``write`` (a stalled client) only misses parts: nothing queues up for it, and
    frames nobody is ready for are never encoded.
    """

    def __init__(self, slot: _FrameSlot, quality: int, max_fps: float) -> None:
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
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody watches
            loop.call_soon_threadsafe(self._frame_ready.set)

    async def encode_forever(self) -> None:
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


def _load_assets() -> dict[str, str]:
    try:
        return {name: (_ASSET_DIR / name).read_text(encoding="utf-8") for name in _ASSET_TYPES}
    except OSError as exc:
        msg = f"web view asset missing in {_ASSET_DIR}: {exc}; reinstall ballwatch"
        raise OutputError(msg) from exc


def token_middleware(token: str | None) -> Any:
    """Every request must carry ``token`` (``?token=`` or ``Authorization: Bearer``); None: open.

    The comparison is constant-time (:func:`hmac.compare_digest`).
    """

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token is not None:
            offered = request.query.get("token", "")
            scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer":
                offered = credentials.strip()
            if not hmac.compare_digest(offered.encode(), token.encode()):
                raise web.HTTPUnauthorized(
                    text="401: missing or wrong token; open the page as /?token=<--serve-token>\n",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await handler(request)

    return require_token


class AppServer(Stage):
    """Runs an aiohttp application on its own asyncio loop in the stage's thread.

    Subclasses add their routes in :meth:`add_routes` and release what they hold in
    :meth:`before_cleanup` / :meth:`after_cleanup`. The web view and the labelling page
    (:mod:`overlays.label`) both run on it, with the same token rule.
    """

    def __init__(self, name: str, sock: socket.socket, token: str | None) -> None:
        super().__init__(name)
        self._sock = sock
        self._token = token
        self._loop_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None

    def stop(self) -> None:
        """Ask the server to shut down soon; returns at once. Callable from any thread."""
        super().stop()
        with self._loop_lock:
            loop, stop_requested = self._loop, self._stop_requested
        if loop is not None and stop_requested is not None:
            with contextlib.suppress(RuntimeError):  # already closed
                loop.call_soon_threadsafe(stop_requested.set)

    def close_unstarted(self) -> None:
        """Release the listening socket of a server whose thread never ran."""
        self._sock.close()

    def setup(self) -> None:
        """Create the loop and start listening on the socket bound at construction."""
        loop = asyncio.new_event_loop()
        with self._loop_lock:
            self._loop = loop
            self._stop_requested = asyncio.Event()
        loop.run_until_complete(self._start())

    def run_once(self) -> bool:
        """Serve until :meth:`stop`."""
        if self._loop is not None and self._stop_requested is not None:
            self._loop.run_until_complete(self._stop_requested.wait())
        return False

    def teardown(self) -> None:
        """End every request, close the server and the loop."""
        loop = self._loop
        if loop is None:
            self._sock.close()
            return
        try:
            loop.run_until_complete(self._shutdown())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    @abstractmethod
    async def add_routes(self, app: web.Application) -> None:
        """Add the application's routes (runs on the server loop)."""

    async def before_cleanup(self) -> None:
        """End long-lived responses before the runner cleans up."""

    async def after_cleanup(self) -> None:
        """Cancel background tasks once the runner is cleaned up."""

    async def _start(self) -> None:
        app = web.Application(middlewares=[token_middleware(self._token)])
        await self.add_routes(app)
        # No access log: with a token, the query string would write the secret into the logs.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=_SHUTDOWN_S
        )
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _shutdown(self) -> None:
        await self.before_cleanup()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.after_cleanup()
        self._sock.close()


class _ServerStage(AppServer):
    """The web view's routes: page, assets, MJPEG stream, stats."""

    def __init__(
        self,
        sock: socket.socket,
        token: str | None,
        hub_factory: Callable[[], _StreamHub],
        stats: _LiveStats,
    ) -> None:
        super().__init__("web-view", sock, token)
        self._hub_factory = hub_factory
        self._stats = stats
        self._assets = _load_assets()
        self._hub: _StreamHub | None = None
        self._encoder: asyncio.Task[None] | None = None

    async def add_routes(self, app: web.Application) -> None:
        """Page, assets, MJPEG stream, stats and health."""
        self._hub = hub = self._hub_factory()
        self._encoder = asyncio.get_running_loop().create_task(hub.encode_forever())
        app.router.add_get("/", self._page)
        app.router.add_get("/app.js", partial(self._asset, "app.js"))
        app.router.add_get("/style.css", partial(self._asset, "style.css"))
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

    async def _page(self, request: web.Request) -> web.Response:
        del request
        query = f"?token={quote(self._token, safe='')}" if self._token else ""
        text = self._assets["index.html"].replace(_AUTH_QUERY, query)
        return web.Response(text=text, content_type="text/html", headers=SECURITY_HEADERS)

    async def _asset(self, name: str, request: web.Request) -> web.Response:
        del request
        return web.Response(
            text=self._assets[name], content_type=_ASSET_TYPES[name], headers=SECURITY_HEADERS
        )

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
        self._stats = _LiveStats(time.monotonic_ns)
        self._slot = _FrameSlot()
        sock = listen(host, port)
        self._port = int(sock.getsockname()[1])
        hub_factory = partial(_StreamHub, self._slot, jpeg_quality, max_stream_fps)
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
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}/"

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

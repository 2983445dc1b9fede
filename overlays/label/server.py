"""The labelling page's server: frames, labels and the model's guesses over HTTP.

It runs on the web view's server stack (:class:`overlays.web.AppServer`): its own asyncio
loop in one thread, bound to 127.0.0.1 by default, and the same token rule elsewhere.
Routes: ``/`` (page), ``/label.js``, ``/label.css``, ``/meta``, ``/frame/{i}`` (JPEG),
``/labels`` (GET: all; POST: changes, refused with 409 when stale), ``/prefill``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from overlays.label.prefill import Prefill
from overlays.label.store import LabelStore, StaleRevisionError
from overlays.label.video import FrameReader, LabelToolError
from overlays.web_server import (
    SECURITY_HEADERS,
    AppServer,
    StaticPage,
    is_loopback,
    listen,
    page_url,
    token_query,
)
from stream.errors import OutputError

logger = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).with_name("page")
_MAX_PREFILL_SPAN = 400
_PREFILL_STOP_S = 30.0


def _json(data: Any, status: int = 200) -> web.Response:
    dumps = partial(json.dumps, separators=(",", ":"))
    return web.json_response(data, status=status, dumps=dumps, headers=SECURITY_HEADERS)


class LabelServer(AppServer):
    """Serves one video's labelling page (see the module docstring for the routes)."""

    def __init__(
        self,
        sock: socket.socket,
        token: str | None,
        reader: FrameReader,
        store: LabelStore,
        prefill: Prefill | None,
    ) -> None:
        super().__init__("label-server", sock, token)
        self._reader = reader
        self._store = store
        self._prefill = prefill
        self._page = StaticPage(PAGE_DIR, "label.html", ("label.js", "label.css"), "labelling page")
        self._name = reader.name

    async def add_routes(self, app: web.Application) -> None:
        """Page, assets, metadata, frames, labels and guesses."""
        self._page.add_routes(app, self._token)
        app.router.add_get("/meta", self._meta)
        app.router.add_get(r"/frame/{index:\d+}", self._frame)
        app.router.add_get("/labels", self._labels)
        app.router.add_post("/labels", self._save)
        app.router.add_get("/prefill", self._guesses)

    async def _meta(self, request: web.Request) -> web.Response:
        del request
        info = self._reader.info
        return _json(
            {
                "video": self._name,
                "width": info.width,
                "height": info.height,
                "fps": info.fps,
                "frame_count": info.frame_count,
                "counts": self._store.counts(),
                "prefill": self._prefill.stats() if self._prefill else {"error": "off"},
            }
        )

    async def _frame(self, request: web.Request) -> web.Response:
        index = int(request.match_info["index"])
        loop = asyncio.get_running_loop()
        try:
            data = await loop.run_in_executor(None, self._reader.jpeg, index)
        except LabelToolError as exc:
            raise web.HTTPNotFound(text=str(exc)) from exc
        return web.Response(body=data, content_type="image/jpeg", headers=SECURITY_HEADERS)

    async def _labels(self, request: web.Request) -> web.Response:
        del request
        return _json(self._store.snapshot())

    async def _save(self, request: web.Request) -> web.Response:
        # Only JSON: a cross-site form cannot send it without a CORS preflight we never answer.
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="send the changes as application/json")
        try:
            body = await request.json()
            base, changes = int(body["revision"]), list(body["changes"])
            position = body.get("position")
            position = None if position is None else int(position)
        except (ValueError, KeyError, TypeError) as exc:
            return _json({"error": f"malformed save: {exc}"}, status=400)
        loop = asyncio.get_running_loop()
        try:
            revision = await loop.run_in_executor(None, self._store.apply, base, changes, position)
        except StaleRevisionError as exc:
            return _json({"error": str(exc), **self._store.snapshot()}, status=409)
        except ValueError as exc:
            return _json({"error": str(exc)}, status=400)
        except OSError as exc:  # disk full, folder gone: the page keeps the change and says so
            return _json({"error": f"cannot write the labels: {exc}"}, status=500)
        return _json({"revision": revision, "counts": self._store.counts()})

    async def _guesses(self, request: web.Request) -> web.Response:
        if self._prefill is None:
            return _json({"guesses": {}, "pending": False, "stats": {"error": "off"}})
        try:
            first = int(request.query.get("from", "0"))
            stop = min(int(request.query.get("to", "0")), first + _MAX_PREFILL_SPAN)
        except ValueError:
            return _json({"error": "from and to must be frame numbers"}, status=400)
        stop = min(stop, self._reader.info.frame_count)
        self._prefill.request(first, stop)
        guesses, is_pending = self._prefill.guesses(first, stop)
        payload = {str(i): list(g) if g else None for i, g in guesses.items()}
        return _json({"guesses": payload, "pending": is_pending, "stats": self._prefill.stats()})


class LabelSession:
    """The server and the prefill thread of one labelling session: start, wait, close."""

    def __init__(
        self,
        reader: FrameReader,
        store: LabelStore,
        prefill: Prefill | None,
        address: tuple[str, int] = ("127.0.0.1", 0),
        token: str | None = None,
    ) -> None:
        """Bind the port (the threads start with :meth:`start`).

        Raises:
            OutputError: a non-loopback host without a token, or the port is taken.
        """
        host, port = address
        if not token and not is_loopback(host):
            msg = f"--serve on {host} needs --serve-token: the labels would be open to the network"
            raise OutputError(msg)
        sock = listen(host, port, "the labelling page")
        self._host, self._port = host, int(sock.getsockname()[1])
        self._token = token or None
        self._server = LabelServer(sock, self._token, reader, store, prefill)
        self._prefill = prefill
        self._reader = reader

    @property
    def url(self) -> str:
        """The page's address, with the token when there is one."""
        return page_url(self._host, self._port, token_query(self._token))

    def prefill_stats(self) -> dict[str, float | int | str | None]:
        """Frames prefilled so far and seconds per frame (see :meth:`Prefill.stats`)."""
        return self._prefill.stats() if self._prefill is not None else {"error": "off"}

    def start(self) -> None:
        """Start serving, and the prefill thread."""
        if self._prefill is not None:
            self._prefill.start()
        self._server.start()

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C raises KeyboardInterrupt here)."""
        while not self._server.finished.wait(0.5):
            pass
        self._server.join()  # re-raise the server's failure

    def close(self) -> None:
        """Stop both threads and close the video; every change is already on disk."""
        if not self._server.is_alive() and not self._server.finished.is_set():
            self._server.close_unstarted()
        self._server.stop()
        if self._prefill is not None:
            self._prefill.stop()
        self._server.join(5.0)
        if self._prefill is not None:
            try:
                self._prefill.join(_PREFILL_STOP_S)
            except TimeoutError:  # one frame of a slow search: the labels are saved anyway
                logger.warning("the prefill is still finishing a frame; exiting after it")
        self._reader.close()

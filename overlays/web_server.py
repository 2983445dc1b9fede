"""The web server stack: the listening socket, the token rule and :class:`AppServer`.

The web view (:mod:`overlays.web`), the batch view (:mod:`overlays.batch_view`) and the
labelling page (:mod:`overlays.label`) all run on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import socket
import threading
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from stream.errors import OutputError
from stream.stage import Stage

logger = logging.getLogger(__name__)

_SHUTDOWN_S = 1.0
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

AUTH_QUERY = "__AUTH_QUERY__"  # where a page's HTML takes the token query of its links
_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


def token_query(token: str | None) -> str:
    """``?token=...`` for a page's own links and scripts; nothing without a token."""
    return f"?token={quote(token, safe='')}" if token else ""


def page_url(host: str, port: int, query: str = "") -> str:
    """``http://HOST:PORT/`` (IPv6 hosts in brackets), with ``query`` appended."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/{query}"


class StaticPage:
    """One HTML page and its scripts and styles, read once from the installed package.

    The web view, the batch view and the labelling page each serve one: the page at ``/``
    with :data:`AUTH_QUERY` replaced by the token query (its scripts then reach the
    token-protected routes), each asset at ``/<name>``, all with :data:`SECURITY_HEADERS`.
    """

    def __init__(self, folder: Path, page: str, assets: Sequence[str], what: str) -> None:
        """Read the files.

        Raises:
            OutputError: a file is missing (names ``what`` and the folder).
        """
        try:
            self._texts = {
                name: (folder / name).read_text(encoding="utf-8") for name in (page, *assets)
            }
        except OSError as exc:
            msg = f"{what} asset missing in {folder}: {exc}; reinstall ballwatch"
            raise OutputError(msg) from exc
        self._page = page
        self._assets = tuple(assets)

    def add_routes(self, app: web.Application, token: str | None) -> None:
        """Serve the page at ``/`` and each asset at ``/<name>``."""
        page = self._texts[self._page].replace(AUTH_QUERY, token_query(token))
        app.router.add_get("/", partial(self._serve, page, "text/html"))
        for name in self._assets:
            content_type = _CONTENT_TYPES[Path(name).suffix]
            app.router.add_get(f"/{name}", partial(self._serve, self._texts[name], content_type))

    @staticmethod
    async def _serve(text: str, content_type: str, request: web.Request) -> web.Response:
        del request
        return web.Response(text=text, content_type=content_type, headers=SECURITY_HEADERS)


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

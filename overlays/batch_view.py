"""The browser view of a batch: recordings and frames done, ETA and each busy worker.

It runs on the web view's server stack (:class:`overlays.web.AppServer`): its own asyncio
loop in one thread, bound to 127.0.0.1 by default, and the same token rule as
``ballwatch run --serve``. Routes: ``/`` (page), ``/batch.js``, ``/style.css``,
``/progress`` (JSON, see :func:`stream.batch.status.status_numbers`), ``/healthz``.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from functools import partial
from pathlib import Path

from aiohttp import web

from overlays.web_server import (
    SECURITY_HEADERS,
    AppServer,
    StaticPage,
    is_loopback,
    listen,
    page_url,
    parse_address,
)
from stream.batch.status import StatusSnapshot, status_numbers
from stream.errors import OutputError

logger = logging.getLogger(__name__)

_ASSET_DIR = Path(__file__).with_name("web")
_CLOSE_TIMEOUT_S = 5.0

SnapshotReader = Callable[[], StatusSnapshot]


class BatchViewServer(AppServer):
    """Serves the batch's page and its numbers (see the module docstring for the routes)."""

    def __init__(self, sock: socket.socket, token: str | None, read: SnapshotReader) -> None:
        super().__init__("batch-view", sock, token)
        self._read = read
        self._page = StaticPage(_ASSET_DIR, "batch.html", ("batch.js", "style.css"), "batch view")

    async def add_routes(self, app: web.Application) -> None:
        """Page, assets, progress and health."""
        self._page.add_routes(app, self._token)
        app.router.add_get("/progress", self._progress)
        app.router.add_get("/healthz", self._healthz)

    async def _progress(self, request: web.Request) -> web.Response:
        del request
        dumps = partial(json.dumps, separators=(",", ":"))
        numbers = status_numbers(self._read())
        return web.json_response(numbers, dumps=dumps, headers=SECURITY_HEADERS)

    async def _healthz(self, request: web.Request) -> web.Response:
        del request
        return web.Response(text="ok", headers=SECURITY_HEADERS)


class BatchView:
    """The batch's browser view: binds at construction, serves from :meth:`start` to :meth:`close`.

    ``read`` is called on the server's thread for every ``/progress`` request, so it must
    be thread-safe (:meth:`stream.batch.status.BatchStatus.snapshot` is).
    """

    def __init__(
        self,
        read: SnapshotReader,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        """Bind the listening socket (the server starts with :meth:`start`).

        Args:
            read: returns the batch's counters now.
            host: address to listen on; anything but loopback needs ``token``.
            port: TCP port; 0 picks a free one (see :attr:`url`).
            token: shared secret every request must carry; None on loopback only.

        Raises:
            OutputError: a non-loopback host without a token, or the port cannot be bound.
        """
        if not token and not is_loopback(host):
            msg = (
                f"--serve on {host} needs --serve-token: "
                "the batch's progress would be open to the network"
            )
            raise OutputError(msg)
        sock = listen(host, port, "the batch view")
        self._host, self._port = host, int(sock.getsockname()[1])
        try:
            self._server = BatchViewServer(sock, token or None, read)
        except OutputError:
            sock.close()
            raise

    @classmethod
    def from_address(
        cls, address: str, read: SnapshotReader, token: str | None = None
    ) -> BatchView:
        """Build a view from ``HOST:PORT`` (``[::1]:8080`` for IPv6), as given to ``--serve``.

        Raises:
            OutputError: ``address`` is not HOST:PORT, or see :meth:`__init__`.
        """
        host, port = parse_address(address)
        return cls(read, host, port, token)

    @property
    def url(self) -> str:
        """The page's address (without the token)."""
        return page_url(self._host, self._port)

    def start(self) -> None:
        """Start serving on the server's thread."""
        self._server.start()

    def close(self) -> None:
        """Stop the server and wait for it (a few seconds at most); safe to call twice."""
        if not self._server.is_alive() and not self._server.finished.is_set():
            self._server.close_unstarted()
            return
        self._server.stop()
        self._server.join(_CLOSE_TIMEOUT_S)

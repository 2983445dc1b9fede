"""The batch's browser view: its JSON, the page, and the same access rules as the run's view."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from overlays.batch_view import BatchView
from stream.batch.status import StatusSnapshot, WorkerStatus, status_numbers
from stream.errors import OutputError
from tests.overlays.test_web import http_get

SNAPSHOT = StatusSnapshot(
    recordings_total=4,
    recordings_done=1,
    recordings_failed=1,
    frames_total=400,
    frames_finished=100,
    workers=(WorkerStatus(1, "match [2/3]", 60, 120),),
    started_ns=0,
    taken_ns=4_000_000_000,
)


@pytest.fixture
def view() -> Iterator[BatchView]:
    batch_view = BatchView(lambda: SNAPSHOT)
    batch_view.start()
    yield batch_view
    batch_view.close()


def test_progress_is_the_snapshot_s_numbers(view: BatchView) -> None:
    status, body = http_get(view.url + "progress")

    assert status == 200
    assert json.loads(body) == status_numbers(SNAPSHOT)
    assert json.loads(body)["eta_s"] == 6.0  # 160 frames in 4 s, 240 left


def test_page_and_assets_are_served(view: BatchView) -> None:
    page_status, page = http_get(view.url)

    assert page_status == 200
    assert b'src="batch.js"' in page
    assert [http_get(view.url + name)[0] for name in ("batch.js", "style.css")] == [200, 200]


@pytest.mark.parametrize(
    "host",
    [pytest.param("0.0.0.0", id="ipv4-any"), pytest.param("", id="empty")],  # noqa: S104
)
def test_non_loopback_host_without_token_is_refused(host: str) -> None:
    with pytest.raises(OutputError, match="needs --serve-token: the batch's progress would be"):
        BatchView(lambda: SNAPSHOT, host=host, port=0)


def test_a_malformed_address_is_a_clear_error() -> None:
    with pytest.raises(OutputError, match=r"is not HOST:PORT; write e\.g\. 127\.0\.0\.1:8080"):
        BatchView.from_address("127.0.0.1", lambda: SNAPSHOT)


@pytest.mark.parametrize("path", ["", "batch.js", "style.css", "progress", "healthz"])
def test_with_a_token_every_route_needs_it(path: str) -> None:
    any_address = "0.0.0.0"  # noqa: S104 - binding to the network is the point of this test
    batch_view = BatchView(lambda: SNAPSHOT, host=any_address, token="s3cret")  # noqa: S106
    batch_view.start()
    url = batch_view.url.replace(any_address, "127.0.0.1") + path
    try:
        missing, _ = http_get(url)
        wrong_query, _ = http_get(url + "?token=s3cre")
        wrong_header, _ = http_get(url, {"Authorization": "Bearer nope"})
        right_query, _ = http_get(url + "?token=s3cret")
        right_header, _ = http_get(url, {"Authorization": "Bearer s3cret"})
    finally:
        batch_view.close()

    assert (missing, wrong_query, wrong_header) == (401, 401, 401)
    assert (right_query, right_header) == (200, 200)

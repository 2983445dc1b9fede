"""``ballwatch batch --serve``: the batch's progress over real HTTP, checked against summary.csv.

The batch runs ``--local`` in a thread with the gated bright-spot fake: it holds the last
recording until the test releases it, so what the server reports mid-batch is read at a
known point, never at a moment picked by timing.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from stream import cli
from stream.batch.summary_table import read_summary
from tests.batch_support import GATE_FILE, GATED_BACKGROUND, write_ball_clip
from tests.media import free_port, wait_until
from tests.overlays.test_web import http_get

TOKEN = "batch-s3cret"  # noqa: S105 - test secret


class BackgroundBatch:
    """``ballwatch batch …`` (``cli.main``) in a thread; keeps its exit status."""

    def __init__(self, argv: list[str]) -> None:
        self.exit_status: int | None = None
        self._thread = threading.Thread(target=self._run, args=(argv,), name="test-batch")
        self._thread.start()

    def _run(self, argv: list[str]) -> None:
        self.exit_status = cli.main(argv)

    def join(self) -> int | None:
        self._thread.join(120)
        assert not self._thread.is_alive(), "the batch did not finish"
        return self.exit_status


def _progress(port: int) -> dict[str, Any]:
    status, body = http_get(
        f"http://127.0.0.1:{port}/progress", {"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200, body
    return dict(json.loads(body))


def _holds(port: int, label: str) -> bool:
    """Whether the only busy worker runs ``label`` (False while the server is not up)."""
    try:
        workers = _progress(port)["workers"]
    except OSError:
        return False
    return [worker["label"] for worker in workers] == [label]


@pytest.mark.timeout(180)
def test_served_progress_matches_summary_csv_mid_batch_and_at_the_end(tmp_path: Path) -> None:
    # given two short clips and a grey one the detector holds until the gate file exists
    clips = tmp_path / "clips"
    clips.mkdir()
    write_ball_clip(clips / "a.mp4", frames=12)
    write_ball_clip(clips / "b.mp4", frames=12)
    write_ball_clip(clips / "c.mp4", frames=30, background=GATED_BACKGROUND)
    out = tmp_path / "out"
    port = free_port()
    argv = ["batch", str(clips), "--out", str(out), "--local", "--no-progress"]
    argv += ["--serve", f"127.0.0.1:{port}", "--serve-token", TOKEN]
    argv += ["--detector-factory", "tests.batch_support:gated_bright_spot"]

    # when the batch holds c, a and b being finished
    batch = BackgroundBatch(argv)
    try:
        wait_until(lambda: _holds(port, "c"), timeout_s=120)
        mid = _progress(port)
        mid_rows = read_summary(out / "summary.csv")
        without_token = http_get(f"http://127.0.0.1:{port}/progress")[0]
        wrong_token = http_get(f"http://127.0.0.1:{port}/progress?token=batch-s3cre")[0]
        page_status, page = http_get(f"http://127.0.0.1:{port}/?token={TOKEN}")
    finally:
        (clips / GATE_FILE).touch()
        exit_status = batch.join()

    # then the served numbers are summary.csv's at that point
    done = [row for row in mid_rows if row["status"] == "done"]
    assert [row["name"] for row in done] == ["a", "b"]
    assert mid["recordings"] == {"done": len(done), "failed": 0, "total": len(mid_rows)}
    assert mid["frames"]["done"] == sum(int(row["frames"]) for row in done) == 24
    # the local runner reports a task's frames when it ends: c's 30 are still to come
    assert mid["workers"] == [{"worker": 1, "label": "c", "frames_done": 0, "frames_expected": 30}]
    assert mid["eta_s"] is not None
    assert (without_token, wrong_token, page_status) == (401, 401, 200)
    assert f'src="batch.js?token={TOKEN}"'.encode() in page

    # and at the end every frame it counted on is in summary.csv
    assert exit_status == 0
    rows = read_summary(out / "summary.csv")
    assert [row["status"] for row in rows] == ["done", "done", "done"]
    assert sum(int(row["frames"]) for row in rows) == mid["frames"]["total"] == 54

"""Soak: a live synthetic match at real-time pace through the live preset, for minutes.

The web view is served on 127.0.0.1 with a real client reading its MJPEG stream for the
whole run. Every second a sampler records RSS, open file descriptors, OS threads and the
depth of both queues; the latency log gives end-to-end p50/p95 per minute and the drops
by cause. One table, then a verdict: RSS growth after the first minute (< 5%), e2e p95 of
the last minute against the first (within 10%), fd and thread counts flat.

    .venv/bin/python bench/soak.py --minutes 10
"""

from __future__ import annotations

import _thread
import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configs.app_config import load_config, preset_path
from stream import app
from stream.latency import read_log

_NS_PER_S = 1_000_000_000
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_LOAD_ALLOWANCE_NS = 60 * _NS_PER_S  # loading the model comes before the first minute


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampler tick (process-wide figures)."""

    at_ns: int
    rss_mb: float
    fds: int
    threads: int
    frame_queue: int
    result_queue: int


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as file:  # noqa: PTH123 - procfs
        return int(file.read().split()[1]) * _PAGE_SIZE / 2**20


def _os_threads() -> int:
    return sum(1 for _ in Path("/proc/self/task").iterdir())


def _open_fds() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


class PipelineSpy:
    """Keeps the pipeline app.run assembles: app.run hands no handle to its queues."""

    def __init__(self) -> None:
        self.pipeline: Any = None
        # app.assemble is not exported (nor meant to be patched outside a bench)
        self._assemble = app.__dict__["assemble"]

    def install(self) -> None:
        def assemble(*args: Any, **kwargs: Any) -> Any:
            self.pipeline = self._assemble(*args, **kwargs)
            return self.pipeline

        app.__dict__["assemble"] = assemble

    def depths(self) -> tuple[int, int]:
        if self.pipeline is None:
            return (0, 0)
        return (len(self.pipeline.frames), len(self.pipeline.results))


def sample_every_second(
    spy: PipelineSpy, stop: threading.Event, out: list[Sample], end_ns: int
) -> None:
    """The sampler thread: one :class:`Sample` a second until ``stop``.

    At ``end_ns`` it stops the run like Ctrl-C: the source alone cannot, since a
    starved machine renders the synthetic frames slower than real time.
    """
    while not stop.wait(1.0):
        if time.monotonic_ns() >= end_ns:
            _thread.interrupt_main()  # app.run stops gracefully and returns its outcome
            end_ns = sys.maxsize
        frames, results = spy.depths()
        out.append(
            Sample(time.monotonic_ns(), _rss_mb(), _open_fds(), _os_threads(), frames, results)
        )


def watch_mjpeg(url: str, stop: threading.Event, counts: Counter[str]) -> None:
    """A browser stand-in: keep reading the MJPEG stream; count JPEGs and reconnects."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
                counts["connects"] += 1
                while not stop.is_set():
                    chunk = response.read(65536)
                    if not chunk:
                        break
                    counts["jpegs"] += chunk.count(b"\xff\xd8\xff")
                    counts["bytes"] += len(chunk)
        except OSError:
            counts["errors"] += 1
            stop.wait(0.5)


def view(url: str, spy: PipelineSpy, stop: threading.Event, counts: Counter[str]) -> None:
    """The viewer thread: wait until the run is assembled (server up), then watch."""
    while spy.pipeline is None and not stop.wait(0.2):
        pass
    watch_mjpeg(url, stop, counts)


def per_minute(
    samples: list[Sample], log_path: Path, start_ns: int
) -> tuple[list[dict[str, float]], Counter[str]]:
    """One row per whole minute: e2e p50/p95, frames, and the samples' last/max values."""
    records, drops, events = read_log(log_path)
    # minutes count from the run's start event (after the model loaded), whole minutes only
    start_ns = next((e.at_ns for e in events if e.kind == "start"), start_ns)
    minutes = (max(s.at_ns for s in samples) - start_ns) // (60 * _NS_PER_S)
    rows: list[dict[str, float]] = []
    for minute in range(int(minutes)):
        lo, hi = start_ns + minute * 60 * _NS_PER_S, start_ns + (minute + 1) * 60 * _NS_PER_S
        e2e = [r.end_to_end_ms for r in records if lo <= r.written_ns < hi]
        ticks = [s for s in samples if lo <= s.at_ns < hi]
        if not ticks:
            continue
        rows.append(
            {
                "minute": minute + 1,
                "frames": len(e2e),
                "p50": float(np.percentile(e2e, 50)) if e2e else float("nan"),
                "p95": float(np.percentile(e2e, 95)) if e2e else float("nan"),
                "rss": ticks[-1].rss_mb,
                "fds": max(s.fds for s in ticks),
                "threads": max(s.threads for s in ticks),
                "fq": max(s.frame_queue for s in ticks),
                "rq": max(s.result_queue for s in ticks),
                "drops": sum(1 for d in drops if lo <= d.at_ns < hi),
            }
        )
    return rows, Counter(f"{d.stage}:{d.cause}" for d in drops)


def verdict(rows: list[dict[str, float]]) -> list[str]:
    """Pass/fail lines: RSS growth after minute 1, p95 drift, fd and thread flatness."""
    if len(rows) < 2:
        return ["too short for a verdict: run at least 2 minutes"]
    first, last = rows[0], rows[-1]
    growth = (last["rss"] - first["rss"]) / first["rss"]
    drift = (last["p95"] - first["p95"]) / first["p95"]
    later = rows[1:]
    fd_span = max(r["fds"] for r in later) - min(r["fds"] for r in later)
    thread_span = max(r["threads"] for r in later) - min(r["threads"] for r in later)
    return [
        f"RSS after minute 1: {first['rss']:.1f} -> {last['rss']:.1f} MB "
        f"({growth:+.1%}) {'PASS' if growth < 0.05 else 'FAIL'} (< +5%)",
        f"e2e p95 first vs last minute: {first['p95']:.1f} -> {last['p95']:.1f} ms "
        f"({drift:+.1%}) {'PASS' if abs(drift) <= 0.10 else 'FAIL'} (within 10%)",
        f"open fds after minute 1: span {fd_span} {'PASS' if fd_span <= 2 else 'FAIL'} (flat)",
        f"OS threads after minute 1: span {thread_span} "
        f"{'PASS' if thread_span <= 2 else 'FAIL'} (flat)",
    ]


def format_table(rows: list[dict[str, float]]) -> str:
    """The per-minute table."""
    head = "minute  frames  e2e p50 ms  e2e p95 ms  RSS MB  fds  threads  fq max  rq max  drops"
    lines = [head, "-" * len(head)]
    lines += [
        f"{r['minute']:>6.0f}  {r['frames']:>6.0f}  {r['p50']:>10.1f}  {r['p95']:>10.1f}  "
        f"{r['rss']:>6.1f}  {r['fds']:>3.0f}  {r['threads']:>7.0f}  {r['fq']:>6.0f}  "
        f"{r['rq']:>6.0f}  {r['drops']:>5.0f}"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> int:
    """Run the soak and print the table and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--size", default="960x540", help="WIDTHxHEIGHT of the synthetic match")
    parser.add_argument("--port", type=int, default=8765, help="web view port on 127.0.0.1")
    parser.add_argument("--threads", type=int, default=1, help="detector threads")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    frames = int(args.minutes * 60 * args.fps) + int(120 * args.fps)  # the clock stops it
    folder = Path(tempfile.mkdtemp(prefix="ballwatch-soak-"))
    log_path = folder / "soak.latency.jsonl"
    config = load_config(
        preset_path("live"),
        {
            "source": f"synth:?seed=31&frames={frames}&width={width}&height={height}"
            f"&fps={args.fps}",
            "stream.realtime": True,
            "output.serve": f"127.0.0.1:{args.port}",
            "output.latency_log": str(log_path),
            "output.video": str(folder / "soak.mp4"),
            "output.track_csv": str(folder / "soak.csv"),
            "detector.threads": args.threads,
        },
    )
    spy = PipelineSpy()
    spy.install()
    stop = threading.Event()
    samples: list[Sample] = []
    client: Counter[str] = Counter()
    end_ns = time.monotonic_ns() + round(args.minutes * 60 * _NS_PER_S) + _LOAD_ALLOWANCE_NS
    sampler = threading.Thread(
        target=sample_every_second, args=(spy, stop, samples, end_ns), name="soak-sampler"
    )
    url = f"http://127.0.0.1:{args.port}/stream.mjpg"
    viewer = threading.Thread(target=view, args=(url, spy, stop, client), name="soak-viewer")
    start_ns = time.monotonic_ns()
    sampler.start()
    viewer.start()
    try:
        outcome = app.run(config)
    finally:
        stop.set()
        sampler.join(5)
        viewer.join(15)
    (folder / "samples.json").write_text(json.dumps([asdict(s) for s in samples]))
    rows, drops = per_minute(samples, log_path, start_ns)
    print(
        f"soak: {args.minutes:g} min of synth {width}x{height} at {args.fps:g} fps, live preset, "
        f"{outcome.plan.precision} on {outcome.plan.device}, {args.threads} detector thread(s); "
        f"outputs in {folder}"
    )
    print(format_table(rows))
    print(
        f"web client: {client['connects']} connection(s), {client['jpegs']} JPEGs, "
        f"{client['bytes'] / 2**20:.1f} MB, {client['errors']} errors"
    )
    print(f"drops by cause: {dict(drops) or 'none'}")
    video = folder / "soak.mp4"
    print(f"files: video {video.stat().st_size / 2**20:.1f} MB" if video.exists() else "no video")
    for line in verdict(rows):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

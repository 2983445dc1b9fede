"""``ballwatch batch`` throughput: a plain loop vs Ray with 1, 2 and all cores, same clips.

Writes ``--clips`` synthetic matches (``--frames`` each, 640x360, H.264) to a temporary
folder, then runs ``ballwatch batch`` over them as separate processes, each from scratch
(interpreter, Ray start, worker start and model load included, as a user pays them):

- ``--local``: one process, one detector, the recordings one after another (no Ray);
- Ray with 1 worker, 2 workers and one worker per core (``--cpus N --workers N``).

Prints one table: wall time, frames/s, recordings/hour, speed-up over the plain loop.
Ray's overhead is the 1-worker row against the plain loop. The detector is the bundled
model (``--fake`` for the instant bright-spot fake, which measures pure overhead). Other
processes on the machine share the cores: say so when quoting the figures.

    python bench/batch.py [--clips 6] [--frames 60] [--fake]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import av

from stream.batch.summary_table import read_summary
from stream.synth import SynthSource, parse_synth_uri

REPO = Path(__file__).resolve().parents[1]


def write_synth_clip(path: Path, seed: int, frames: int) -> None:
    source = SynthSource(
        parse_synth_uri(f"synth:?seed={seed}&frames={frames}&width=640&height=360")
    )
    stop = threading.Event()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(30), options={"preset": "fast"})
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        while (frame := source.read(stop)) is not None:
            video = av.VideoFrame.from_ndarray(frame.image, format="bgr24")
            container.mux(stream.encode(video))
        container.mux(stream.encode())


def run_batch(clips: Path, out: Path, extra: list[str], fake: bool) -> tuple[float, int, int] | str:
    command = [sys.executable, "-m", "stream", "batch", str(clips), "--out", str(out)]
    command += ["--no-progress", "--device", "cpu", *extra]
    if fake:
        command += ["--detector-factory", "tests.batch_support:bright_spot"]
    else:  # the clips are synthetic pitches: the bundled synthetic model, as for synth:
        command += ["--weights", str(REPO / "perception/models/ball-nano-synth.safetensors")]
    started = time.perf_counter()
    done_process = subprocess.run(command, check=False, cwd=REPO, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if done_process.returncode != 0:
        lines = done_process.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit status {done_process.returncode}"
    rows = read_summary(out / "summary.csv")
    done = [row for row in rows if row["status"] == "done"]
    return wall, sum(int(row["frames"]) for row in done), len(done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--fake", action="store_true", help="bright-spot fake detector")
    parser.add_argument(
        "--ray-address", help="use this running Ray (its start then not counted) for Ray rows"
    )
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        clips = Path(tmp) / "clips"
        clips.mkdir()
        for index in range(args.clips):
            write_synth_clip(clips / f"match{index:02d}.mp4", 9000 + index, args.frames)
        modes: list[tuple[str, list[str]]] = [("plain loop (--local)", ["--local"])]
        for workers in sorted({1, 2, cores}):
            label = f"Ray, {workers} worker{'s' if workers > 1 else ''}"
            label += " (all cores)" if workers == cores else ""
            where = ["--ray-address", args.ray_address] if args.ray_address else []
            where = where or ["--cpus", str(workers)]
            modes.append((label, [*where, "--workers", str(workers)]))
        detector = "bright-spot fake" if args.fake else "bundled model, FP32, 1 thread per worker"
        print(
            f"{args.clips} clips x {args.frames} frames, 640x360; detector: {detector}; "
            f"{cores} cores"
        )
        print(f"{'mode':<30} {'wall s':>8} {'frames/s':>9} {'rec/hour':>9} {'vs loop':>8}")
        base = None
        for number, (label, extra) in enumerate(modes):
            outcome = run_batch(clips, Path(tmp) / f"out{number}", extra, args.fake)
            if isinstance(outcome, str):
                print(f"{label:<30} failed: {outcome}")
                continue
            wall, frames, done = outcome
            base = base or wall
            print(
                f"{label:<30} {wall:8.1f} {frames / wall:9.2f} {done * 3600 / wall:9.0f} "
                f"{base / wall:7.2f}x"
            )


if __name__ == "__main__":
    main()

"""How long the synthetic match takes to render a frame (it feeds tests, training and demos).

``python bench/synth_render.py [--width W --height H --frames N]`` prints the median and p95
render time per frame; the target is a median under 10 ms at 640x360, so a synth source keeps
up with 30 fps with room for the pipeline. A timing figure, so it lives here, not in tests/.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from stream.synth import SynthMatch, SynthParams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()
    match = SynthMatch(SynthParams(width=args.width, height=args.height, frames=args.frames))
    match.frame(0)  # first-frame setup is not per-frame cost
    durations_ms = []
    for index in range(1, args.frames):
        started = time.perf_counter()
        match.frame(index)
        durations_ms.append((time.perf_counter() - started) * 1000)
    median = float(np.median(durations_ms))
    p95 = float(np.percentile(durations_ms, 95))
    verdict = "met" if median < 10.0 else "MISSED"
    print(f"synth render {args.width}x{args.height}: median {median:.2f} ms, p95 {p95:.2f} ms")
    print(f"target median < 10 ms: {verdict}")


if __name__ == "__main__":
    main()

"""Threads that don't fight: detector threads x decoder threads, live on a real 720p clip.

Decode (the capture thread, PyAV/FFmpeg), the detector (torch or onnxruntime threads) and the
rest of the frame (motion gate, tracker, overlay) share the machine's cores. This runs the
live arm of ``bench/live.py`` (the app itself, ``--realtime --config live``, the precision
``--precision auto`` picks for a live run, the real model, a dropped frame a miss) once per
combination of ``detector.threads`` and ``stream.decode_threads``, in one session, so the
rows compare on the same machine. 0 is each library's own choice (one thread per core).
The live preset's values (``configs.app_config.LIVE_DEFAULTS``) come from this table.

    .venv/bin/python -m bench.live_threads
    .venv/bin/python -m bench.live_threads --detector-threads 1 2 --decode-threads 0 1 --repeat 2
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import av

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does, before torch loads

from bench.live import CLIP, Arm, _config, format_table, ours_arm, print_row, timed_detector
from perception.labels import read_labels
from perception.weights import choose_weights


def main(argv: Sequence[str] | None = None) -> int:
    """One row per (detector threads, decoder threads, repeat)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=CLIP, help="labelled .mp4 (CSV beside it)")
    parser.add_argument("--weights", default=None, help="default: the product's choice")
    parser.add_argument("--detector-threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--decode-threads", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--held-out-from", type=int, default=220)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.clip.is_file():
        print(f"skipped: {args.clip} is absent (the real footage lives in ../shared/data/real)")
        return 0
    weights = choose_weights(args.weights, "file").path
    with av.open(str(args.clip)) as container:
        video = container.streams.video[0]
        truths = read_labels(args.clip.with_suffix(".csv"), video.width, video.height)
    print(f"clip {args.clip.name}, weights {weights.name}, {os.cpu_count()} CPUs, live preset")
    arms: list[Arm] = []
    for repeat in range(args.repeat):
        for threads in args.detector_threads:
            for decode in args.decode_threads:
                sets = [f"detector.threads={threads}", f"stream.decode_threads={decode}"]
                config = _config(args.clip, str(weights), "live", sets, **{"stream.realtime": True})
                detector, _ = timed_detector(config, weights, is_live=True)
                name = f"det {threads} / decode {decode} (run {repeat + 1})"
                print_row(arms, ours_arm(name, config, detector, truths, args.held_out_from))
    print()
    print(format_table(arms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

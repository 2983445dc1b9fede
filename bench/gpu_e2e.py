"""End-to-end run on a clip next to a decode-only pass (the CUDA FP16 check of issue 2).

Prints decode-only fps, then the pipeline's fps, detector ms p50/p95 and end-to-end p50/p95 for
the precision the device gets by default (FP16 on CUDA, FP32 on CPU). Without --weights it
saves a random-weight RF-DETR Nano first (speed only: no download is ever attempted).

    python bench/gpu_e2e.py --clip CLIP.mp4 [--device cuda] [--weights CKPT] [--frames N]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from configs.app_config import load_config
from stream import app
from stream.latency_summary import LatencyStage, format_summary
from stream.sources import SourceOptions, open_source


def _ignore_drop(index: int, cause: object) -> None:
    del index, cause


def decode_only(clip: str) -> tuple[int, float]:
    source = open_source(clip, None, SourceOptions(), _ignore_drop)
    stop = threading.Event()
    start = time.perf_counter()
    count = 0
    while source.read(stop) is not None:
        count += 1
    source.close()
    return count, count / (time.perf_counter() - start)


def _random_weights(folder: Path, resolution: int) -> Path:
    from perception.rfdetr_detector import RfDetrDetector

    detector = RfDetrDetector.random(
        "nano", resolution=resolution, num_queries=30, num_classes=1, class_names=["ball"]
    )
    path = folder / "random-nano.safetensors"
    detector.save(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", required=True)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--weights")
    parser.add_argument("--resolution", type=int, default=384)
    parser.add_argument("--track", action="store_true", help="enable track crops (else tiles)")
    args = parser.parse_args()

    frames, decode_fps = decode_only(args.clip)
    with tempfile.TemporaryDirectory() as folder:
        weights = args.weights or str(_random_weights(Path(folder), args.resolution))
        config = load_config(
            None,
            {
                "source": args.clip,
                "detector.weights": weights,
                "detector.ball_class": 0,
                "detector.device": args.device,
                "detector.precision": args.precision,
                "search.track_enabled": args.track,
                "output.video": str(Path(folder) / "out.mp4"),
                "output.progress": False,
            },
        )
        outcome = app.run(config)
    summary = outcome.summary
    inference = summary.stages[LatencyStage.INFERENCE]
    e2e = summary.stages[LatencyStage.END_TO_END]
    print(format_summary(summary))
    print()
    columns = ("det p50", "det p95", "e2e p50", "e2e p95")
    print(f"{'pass':<28}{'frames':>8}{'fps':>9}" + "".join(f"{c:>9}" for c in columns))
    print(f"{'decode only':<28}{frames:>8}{decode_fps:>9.1f}")
    label = f"pipeline {outcome.plan.device} {outcome.plan.precision}"
    print(
        f"{label:<28}{summary.frames_processed:>8}{summary.throughput_fps or 0:>9.1f}"
        f"{inference.p50_ms:>9.1f}{inference.p95_ms:>9.1f}{e2e.p50_ms:>9.1f}{e2e.p95_ms:>9.1f}"
    )


if __name__ == "__main__":
    main()

"""The cpu-realtime preset with the INT8 switch: float misses the budget, INT8 QAT meets it.

Runs ``configs/cpu-realtime.yaml`` (budget ``target_fps: 15``, p95 over 60 frames,
``int8.auto_switch: true``) on a synthetic match, wired as ``ballwatch run`` wires it plus
the run-time switch (:mod:`perception.int8_switch`) in the latency log, replayed at
real-time pace (30 fps, like a live camera; the preset's ``latest`` queues drop what the
detector cannot take). The INT8 QAT model is loaded and warmed up before the first frame.
Prints the decisions and the switch event from the latency log, and per precision the
detector p50/p95, the throughput and the drops.

    python -m bench.cpu_realtime --weights perception/models/ball-nano-synth.safetensors \
        --int8 perception/models/ball-nano-synth.int8-qat.onnx
    python -m bench.cpu_realtime     # a random Nano 128 px model and a 2-step QAT artifact
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from configs.app_config import AppConfig, load_config, parse_override, preset_path
from overlays.output import NullOutput
from perception.budget import BudgetRule, decide
from perception.detector import Precision
from perception.int8_switch import build_int8_switch, load_int8_detector
from perception.options import QatSettings
from perception.precision import resolve_precision
from perception.qat import quantize_detector
from perception.rfdetr_detector import RfDetrDetector
from perception.search import BallSearch
from perception.search_and_track import SearchAndTrack
from stream.app import build_detector, open_configured_source, queue_settings, source_kind
from stream.latency import (
    DropEvent,
    JsonlLatencyLog,
    LatencyRecord,
    MemoryLatencyLog,
    RunEvent,
    TeeLatencyLog,
)
from stream.pipeline import assemble

logger = logging.getLogger(__name__)


def random_model(folder: Path, qat_steps: int) -> tuple[Path, Path]:
    """A random Nano ball model (128 px, 30 queries) and its QAT artifact, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    weights, artifact = folder / "random-nano.safetensors", folder / "random-nano-int8-qat.onnx"
    if not weights.exists():
        torch.manual_seed(0)
        detector = RfDetrDetector.random(
            "nano", resolution=128, num_queries=30, num_classes=1, class_names=("ball",)
        )
        detector.save(weights)
    if not artifact.exists():
        detector = RfDetrDetector.from_config(
            load_config(
                None, {"detector.weights": str(weights), "detector.ball_class": "ball"}
            ).detector,
            resolve_precision("fp32", "cpu", None),
        )
        settings = QatSettings(steps=qat_steps, batch_size=2)
        quantize_detector(
            detector, "synth:?seed=1000", artifact, settings, source={"weights": str(weights)}
        )
    return weights, artifact


def run(config: AppConfig, log_path: Path) -> MemoryLatencyLog:
    """One run of ``config`` with the switch in its latency log; returns the whole log."""
    plan = resolve_precision(config.detector.precision, config.detector.device, None)
    detector = build_detector(config, plan)
    detector.warm_up()
    perception = SearchAndTrack.build(detector, BallSearch(detector, config.search), config.tracker)
    int8 = load_int8_detector(config.detector, config.int8, detector)
    memory = MemoryLatencyLog()
    jsonl = JsonlLatencyLog(log_path)
    events = TeeLatencyLog(memory, jsonl)
    switch = build_int8_switch(config.budget, int8, detector, perception, events)
    log = TeeLatencyLog(events, switch) if switch is not None else events
    kind = source_kind(config)
    source = open_configured_source(config, kind, log)
    events.write(RunEvent("start", time.monotonic_ns(), {"precision": str(plan.precision)}))
    pipeline = assemble(
        source,
        perception,
        [],
        NullOutput(),
        log,
        queue_settings(config, kind),
        is_realtime=config.stream.realtime,
    )
    try:
        pipeline.group.run()
    finally:
        if switch is not None:
            switch.close()
        jsonl.close()
    return memory


def report(memory: MemoryLatencyLog, config: AppConfig) -> str:
    """Decisions, the switch, and per-precision figures, as text."""
    entries = memory.entries
    lines = []
    last_verdict = None
    for event in entries:
        if not isinstance(event, RunEvent):
            continue
        if event.kind in {"switch_requested", "switch"}:
            lines.append(f"[{event.kind}] {event.details}")
        elif event.kind == "decision":
            is_final = bool(event.details.get("final"))
            if event.details["verdict"] != last_verdict or is_final:
                label = "decision (final)" if is_final else "decision"
                lines.append(f"[{label}] {event.details['text']}")
            last_verdict = event.details["verdict"]
    records = [e for e in entries if isinstance(e, LatencyRecord)]
    drops = [e for e in entries if isinstance(e, DropEvent)]
    rule = BudgetRule.from_config(config.budget)
    lines.append("")
    lines.append("| precision | frames | detector p50 ms | p95 ms | throughput fps | verdict |")
    lines.append("|---|---:|---:|---:|---:|---|")
    for precision in dict.fromkeys(r.precision for r in records):
        part = [r for r in records if r.precision == precision]
        ran = np.array([r.inference_ms for r in part if r.inference_ms > 0])
        span_s = (part[-1].written_ns - part[0].written_ns) / 1e9
        fps = (len(part) - 1) / span_s if span_s > 0 else float("nan")
        verdict = (
            "" if rule is None else str(decide(part, rule, "cpu", Precision(precision)).verdict)
        )
        lines.append(
            f"| {precision} | {len(part)} | {np.median(ran):.1f} | "
            f"{np.percentile(ran, 95):.1f} | {fps:.1f} | {verdict} |"
        )
    lines.append(f"\ndrops: {len(drops)} (queue policy {config.stream.queue_policy})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="float ball checkpoint")
    parser.add_argument("--int8", type=Path, default=None, help="its QAT artifact")
    parser.add_argument("--qat-steps", type=int, default=2, help="QAT steps for a random model")
    parser.add_argument("--frames", type=int, default=900)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="extra override k=v")
    parser.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "ballwatch-cpu-rt"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    for name in ("bench", "perception", "__main__"):
        logging.getLogger(name).setLevel(logging.INFO)
    folder = Path(args.work_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if args.weights is None:
        weights, artifact = random_model(folder, args.qat_steps)
    else:
        weights, artifact = args.weights, args.int8
    overrides: dict[str, object] = {
        "source": f"synth:?seed=11&frames={args.frames}&width=1280&height=720&fps=30",
        "stream.realtime": True,  # paced like a live camera: frames the detector misses drop
        "detector.weights": str(weights),
        "detector.ball_class": "ball",
        "detector.threads": args.threads,
        "detector.int8_artifact": str(artifact) if artifact else None,
        "output.progress": False,
    }
    overrides.update(parse_override(item) for item in args.set)
    config = load_config(preset_path("cpu-realtime"), overrides)
    memory = run(config, folder / "latency.jsonl")
    print(f"cpu-realtime preset, {args.frames} synthetic 1280x720 frames, weights {weights}")
    rule = BudgetRule.from_config(config.budget)
    print(f"budget: {rule.describe() if rule is not None else 'none'}")
    print(report(memory, config))
    print(f"latency log: {folder / 'latency.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

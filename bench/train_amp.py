"""Training with AMP (FP16/FP32 autocast) vs FP32: seconds per step and loss after N steps.

Both arms start from the same random weights and see the same batches (synthetic 128 px
crops, the bundled model's recipe: Nano, 30 queries, group_detr 4). AMP is CUDA-only: on a
CPU the script runs the FP32 arm and says so.

    python -m bench.train_amp --steps 200 --batch 8 --device cuda --json out/train_amp.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from perception.dataset import CropRecipe, CropSample, synth_crop_stream
from perception.training import ModelSpec, build_model_and_criterion, to_batch, weighted_loss


@dataclass(frozen=True, slots=True)
class ArmResult:
    """One arm of the comparison."""

    arm: str
    steps: int
    s_per_step: float
    first_loss: float
    final_loss: float
    non_finite_steps: int


def run_arm(
    arm: str, batches: Sequence[list[CropSample]], spec: ModelSpec, device: str, lr: float
) -> ArmResult:
    """Train ``len(batches)`` steps from seed 0; time them after 3 warm-up steps."""
    torch.manual_seed(0)
    model, criterion = build_model_and_criterion(spec, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    is_amp = arm == "amp"
    scaler = torch.amp.GradScaler("cuda", enabled=is_amp)
    rng = np.random.default_rng(0)
    losses: list[float] = []
    started = 0.0
    for step, batch in enumerate(batches):
        if step == 3:
            if device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        images, targets = to_batch(batch, device, rng)
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=is_amp):
            loss = weighted_loss(criterion, model(images, targets), targets)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        scaler.step(optimizer)
        scaler.update()
        losses.append(float(loss.detach()))
    if device == "cuda":
        torch.cuda.synchronize()
    timed = max(len(batches) - 3, 1)
    tail = [x for x in losses[-10:] if np.isfinite(x)]
    return ArmResult(
        arm=arm,
        steps=len(batches),
        s_per_step=(time.perf_counter() - started) / timed,
        first_loss=losses[0],
        final_loss=float(np.mean(tail)) if tail else float("nan"),
        non_finite_steps=sum(not np.isfinite(x) for x in losses),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the arms and print them side by side; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="steps per arm (first 3 untimed)")
    parser.add_argument("--batch", type=int, default=8, help="crops per step")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = (
        "cuda"
        if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        else "cpu"
    )
    arms = ["fp32", "amp"] if device == "cuda" else ["fp32"]
    if device == "cpu":
        print(
            "CPU: AMP is CUDA-only; running the FP32 arm alone "
            "(the AMP comparison needs a CUDA GPU)"
        )
    spec = ModelSpec(resolution=args.resolution)
    stream = synth_crop_stream(
        range(1000, 1064), CropRecipe(resolution=args.resolution, extra_balls_max=2), 0
    )
    batches = [list(itertools.islice(stream, args.batch)) for _ in range(args.steps)]
    results = [run_arm(arm, batches, spec, device, args.lr) for arm in arms]
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"device {name}, {args.steps} steps, batch {args.batch}, {args.resolution} px")
    print(f"{'arm':6} {'s/step':>8} {'first loss':>11} {'final loss':>11} {'non-finite':>11}")
    for r in results:
        print(
            f"{r.arm:6} {r.s_per_step:8.3f} {r.first_loss:11.3f} {r.final_loss:11.3f}"
            f" {r.non_finite_steps:11d}"
        )
    if len(results) == 2:
        print(f"AMP speed-up: {results[0].s_per_step / results[1].s_per_step:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"device": name, "arms": [asdict(r) for r in results]}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

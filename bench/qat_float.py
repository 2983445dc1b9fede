"""Which part of RF-DETR to keep float in INT8: held-out crop F1 per choice, side by side.

QAT (:mod:`perception.qat`) quantizes every conv and linear but those named by
``FLOAT_MODULE_KEYS``. This bench asks what each part costs in 8 bits: for each arm it
keeps one more part float (beyond the heads, which every arm keeps), QAT-fine-tunes a copy
of the model for a few steps, converts it and scores the converted graph on the QAT data's
held-out crops (F1 at 4 px of the top query, at its best threshold; the sidecar's score).
Every arm starts from the same float model, fine-tunes on the same crops with the same seed
and is scored on the same crops, so the differences are the float parts'. A few steps are
enough to rank them (their observers are calibrated by then); the artifact's own 100 steps
add little (``ballwatch qat``'s sidecar says how much).

Measured 2026-12-08 (2-core AMX Xeon, 5 steps): the patch embedding alone moves the real
(grey-stack) model, 0.488 -> 0.586 against float 0.596, every other part at most 0.009; the
colour synthetic model not at all (0.937 either way). README: "INT8 keeps the patch
embedding float".

    .venv/bin/python -m bench.qat_float --data runs/stack-tennis-data
    .venv/bin/python -m bench.qat_float --weights perception/models/ball-nano-synth.safetensors \\
        --data "synth:?seed=4242"
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does, before torch loads

import torch

from configs.app_config import DetectorConfig
from perception.detector import Precision
from perception.frame_input import frame_input_of
from perception.options import QatSettings
from perception.precision import PrecisionPlan
from perception.qat import FLOAT_MODULE_KEYS, float_module_names, held_out_crops, score_graph
from perception.qat.job import qat_convert
from perception.rfdetr_detector import RfDetrDetector
from perception.weights import load_checkpoint

WEIGHTS = Path("perception/models/ball-nano-real.safetensors")
PATCH = "patch_embeddings.projection"
HEADS = tuple(key for key in FLOAT_MODULE_KEYS if key != PATCH)
_VIT = "encoder.layer."
ARMS: dict[str, tuple[str, ...]] = {
    "heads": HEADS,
    "heads + patch embedding (shipped)": FLOAT_MODULE_KEYS,
    "heads + ViT blocks 0-3": HEADS + tuple(f"{_VIT}{i}." for i in range(4)),
    "heads + ViT blocks 4-7": HEADS + tuple(f"{_VIT}{i}." for i in range(4, 8)),
    "heads + ViT blocks 8-11": HEADS + tuple(f"{_VIT}{i}." for i in range(8, 12)),
    "heads + projector": (*HEADS, "projector"),
    "heads + decoder": (*HEADS, "transformer.decoder."),
    "heads + encoder outputs": (*HEADS, "enc_output"),
}


def float_share(network: torch.nn.Module, keys: Sequence[str]) -> float:
    """The share of the convs' and linears' weights an arm keeps float."""
    kept = set(float_module_names(network, keys))
    sizes = {
        name: module.weight.numel()
        for name, module in network.named_modules()
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d))
    }
    return sum(size for name, size in sizes.items() if name in kept) / sum(sizes.values())


def main(argv: Sequence[str] | None = None) -> int:
    """Fine-tune and score every arm; print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    parser.add_argument("--data", required=True, help="the QAT data: a COCO folder or synth:?...")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--eval-crops", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.data.startswith("synth:") and not Path(args.data).is_dir():
        print(f"skipped: {args.data} is absent (build it with the README's QAT data command)")
        return 0
    torch.set_num_threads(args.threads)
    meta = load_checkpoint(args.weights).meta
    config = DetectorConfig(
        size=meta.size, weights=str(args.weights), ball_class=meta.class_names[0]
    )
    plan = PrecisionPlan("cpu", Precision.FP32, "cpu: fp32 (QAT fine-tunes in FP32)")
    detector = RfDetrDetector.from_config(config, plan)
    resolution = int(detector.resolution)
    held_out = held_out_crops(args.data, resolution, args.eval_crops, frame_input_of(detector))
    if not held_out:
        print(f"{args.data} has no held-out crops to score on: give it a 'valid' split")
        return 1
    settings = QatSettings(steps=args.steps, eval_crops=0)
    base = score_graph(detector.network.eval(), held_out)["f1"]
    print(f"{args.weights} on {len(held_out)} held-out crops of {args.data}: float F1 {base:.3f}")
    print(f"{'kept float':<36} {'weights float':>13} {'INT8 F1':>8} {'vs float':>9}")
    for name in args.arms:
        keys = ARMS[name]
        result = qat_convert(detector, args.data, settings, float_keys=keys)
        f1 = score_graph(result.converted, held_out)["f1"]
        share = float_share(detector.network, keys)
        print(f"{name:<36} {share:>12.1%} {f1:>8.3f} {f1 - base:>+9.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The training commands' options and the names they take, importable in milliseconds.

``ballwatch --help`` builds every command's parser; the code behind ``dataset``, ``train``
and ``qat`` imports numpy, OpenCV and torch (2.5 s), so their options, and the enums and
defaults the options name, live here with nothing heavier than ``argparse`` imported. The
modules that run the commands import these names from here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class FrameInput(StrEnum):
    """What a model was trained to see (recorded in its checkpoint as ``frame_input``)."""

    RGB = "rgb"
    GREY_STACK = "grey-stack"


class ModelSize(StrEnum):
    """RF-DETR sizes that can be built offline (random weights or a local checkpoint)."""

    NANO = "nano"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class TrainEngine(StrEnum):
    """Which training machinery runs (see the module docstring)."""

    RFDETR = "rfdetr"
    LOOP = "loop"


@dataclass(frozen=True, slots=True)
class QatSettings:
    """How the fake-quantized graph is fine-tuned.

    Attributes:
        steps: optimizer steps.
        batch_size: crops per step (run one at a time, gradients accumulated).
        lr: AdamW learning rate. Small: the float model is trained, and 1e-5 shifted the
            score scale of a Nano ball model (best threshold 0.38 -> 0.65) where 2e-6 did not.
        grad_clip: max gradient norm (0 disables clipping).
        seed: seeds torch and the crop stream.
        eval_crops: held-out crops scored before and after (float vs INT8); 0 skips it.
        distill: the share of the float model's answers in the loss, 0 to 1
            (:mod:`perception.qat.distill`); 0 trains on the labels alone, 1 on the teacher.
    """

    steps: int = 100
    batch_size: int = 4
    lr: float = 2e-6
    grad_clip: float = 0.1
    seed: int = 0
    eval_crops: int = 200
    distill: float = 0.0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1:
            msg = (
                f"QAT needs steps >= 0 and batch_size >= 1, but got {self.steps}, {self.batch_size}"
            )
            raise ValueError(msg)
        if self.lr <= 0:
            msg = f"QAT lr must be > 0, but got {self.lr}"
            raise ValueError(msg)
        if not 0.0 <= self.distill <= 1.0:
            msg = f"QAT distill must be in [0, 1], but got {self.distill}"
            raise ValueError(msg)


_QAT_DEFAULTS = QatSettings()


def add_yolo_arguments(parser: argparse.ArgumentParser) -> None:
    """``--yolo`` and ``--yolo-stretched`` (``dataset`` and ``verifier`` read exports alike)."""
    parser.add_argument(
        "--yolo", type=Path, action="append", default=[], help="a YOLO export split folder"
    )
    parser.add_argument(
        "--yolo-stretched", nargs=2, action="append", default=[], metavar=("DIR", "WxH"),
        help="a YOLO split folder whose images were stretched from WxH frames (put back)",
    )  # fmt: skip


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ballwatch dataset``; sources can be mixed and repeated."""
    parser.add_argument("--out", required=True, type=Path, help="output folder (COCO layout)")
    parser.add_argument(
        "--clip", nargs=2, action="append", default=[], metavar=("VIDEO", "LABELS"),
        help="a labelled clip: video file and its Frame,Ball,x,y or Frame,Visibility,X,Y CSV",
    )  # fmt: skip
    parser.add_argument(
        "--tracknet", type=Path, action="append", default=[], metavar="DIR",
        help="a TrackNet-style label folder (clip folders of frames + Label.csv)",
    )  # fmt: skip
    parser.add_argument("--box-px", type=float, help="ball box side for clips (default: estimated)")
    parser.add_argument("--synth", type=int, default=0, metavar="N", help="N synthetic matches")
    parser.add_argument("--synth-seed", type=int, default=1000, help="seed of the first match")
    parser.add_argument("--synth-frames", type=int, default=600, help="frames per synthetic match")
    parser.add_argument(
        "--coco", type=Path, action="append", default=[], help="a COCO export split folder"
    )
    add_yolo_arguments(parser)
    parser.add_argument("--class-name", action="append", default=[], help="ball class in exports")
    parser.add_argument(
        "--background", type=Path, action="append", default=[], metavar="VIDEO",
        help="an unlabelled clip: its still parts give hard negatives and paste backgrounds",
    )  # fmt: skip
    parser.add_argument("--paste", type=int, default=0, metavar="N", help="N pasted-ball crops")
    parser.add_argument(
        "--paste-at-rest", type=float, default=0.0, metavar="SHARE",
        help="share of pasted balls at rest in every picture of a grey stack (default 0: moving)",
    )  # fmt: skip
    parser.add_argument(
        "--still-negatives", type=int, default=0, metavar="N",
        help="N ball-free crops over still clutter (scoreboards, logos, lines)",
    )  # fmt: skip
    parser.add_argument(
        "--mine", type=Path, metavar="WEIGHTS",
        help="a model whose confident mistakes on training frames become ball-free crops",
    )  # fmt: skip
    parser.add_argument(
        "--mine-crops", type=int, default=2000, metavar="N", help="N mined crops (with --mine)"
    )
    parser.add_argument(
        "--mine-frames", type=int, default=300, metavar="N",
        help="training frames searched for mistakes (a seeded sample; the whole-frame search "
        "takes ~1 s a 720p frame on a 2-core CPU)",
    )  # fmt: skip
    parser.add_argument(
        "--mine-score", type=float, default=0.3, help="the least score of a mined mistake"
    )
    parser.add_argument("--repeat", type=int, default=1, help="passes over labelled frames")
    parser.add_argument("--subclip", type=int, default=0, metavar="FRAMES", help="sub-clip length")
    parser.add_argument(
        "--hold-out", action="append", default=[], metavar="GLOB",
        help="groups kept out of training (written to valid); the rest is train",
    )  # fmt: skip
    parser.add_argument("--resolution", type=int, default=128, help="crop side = model resolution")
    parser.add_argument(
        "--stride", type=int, default=1, help="keep every Nth frame of clips and matches"
    )
    parser.add_argument(
        "--negatives", type=float, default=0.3, help="ball-free crops per ball crop"
    )
    parser.add_argument("--min-box-px", type=float, default=12.0, help="smallest box side written")
    parser.add_argument(
        "--valid-fraction", type=float, default=0.2, help="share of clips held back"
    )
    parser.add_argument("--test-fraction", type=float, default=0.0, help="share of clips for test")
    parser.add_argument("--seed", type=int, default=0, help="seeds crop placement")
    parser.add_argument(
        "--sequence", action="store_true",
        help="export images are consecutive frames of clips named <clip>_<frame> "
        "(a grey stack then takes each frame's previous frames)",
    )  # fmt: skip
    parser.add_argument(
        "--frame-input", type=FrameInput, choices=list(FrameInput), default=FrameInput.RGB,
        help="what the crops show: rgb frames, or grey-stack (now and the two pictures before "
        "as the 3 channels: the motion input; clips, synthetic matches, --sequence exports)",
    )  # fmt: skip


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ballwatch train`` (each overrides ``--config``'s value)."""
    parser.add_argument("--config", type=Path, help="training YAML (e.g. configs/train.yaml)")
    parser.add_argument("--data", help="dataset folder from 'ballwatch dataset', or synth:?seed=N")
    parser.add_argument("--out", dest="output_dir", help="output folder (checkpoints, log, eval)")
    parser.add_argument("--engine", choices=[e.value for e in TrainEngine])
    parser.add_argument("--init", help="scratch, coco, or a checkpoint path")
    parser.add_argument("--size", choices=[s.value for s in ModelSize])
    parser.add_argument("--resolution", type=int, help="model input side (multiple of 32)")
    parser.add_argument("--queries", dest="num_queries", type=int, help="object queries")
    parser.add_argument("--group-detr", type=int, help="query groups in training")
    parser.add_argument("--batch", dest="batch_size", type=int, help="crops per step")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--epochs", type=int, help="epochs (rfdetr engine)")
    parser.add_argument("--steps", type=int, help="total steps (loop engine)")
    parser.add_argument(
        "--patience", type=int, help="stop after N evaluations without a better held-out F1"
    )
    parser.add_argument(
        "--amp", dest="mixed_precision", action=argparse.BooleanOptionalAction, default=None,
        help="mixed precision (default: on with CUDA; CPU always trains in FP32)",
    )  # fmt: skip
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--resume", action="store_true", help="continue from the output folder")
    parser.add_argument(
        "--export", choices=["best", "last"],
        help="weights written as model.safetensors: the best held-out F1 (default) or the "
        "last step (when the held-out crops come from what you will score)",
    )  # fmt: skip


def add_qat_arguments(parser: Any) -> None:
    """Options of ``ballwatch qat`` (an ``argparse.ArgumentParser``)."""
    parser.add_argument("--weights", type=Path, required=True, help="float ball checkpoint")
    parser.add_argument(
        "--data", required=True, help="COCO folder from `ballwatch dataset`, or a synth: URI"
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="INT8 .onnx to write (default: beside weights)"
    )
    parser.add_argument("--steps", type=int, default=_QAT_DEFAULTS.steps, help="fine-tuning steps")
    parser.add_argument("--batch-size", type=int, default=_QAT_DEFAULTS.batch_size)
    parser.add_argument("--lr", type=float, default=_QAT_DEFAULTS.lr)
    parser.add_argument("--seed", type=int, default=_QAT_DEFAULTS.seed)
    parser.add_argument(
        "--distill",
        type=float,
        default=_QAT_DEFAULTS.distill,
        help="share of the float model's answers in the loss (0 = labels only, 1 = teacher only)",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 = default")
    parser.add_argument(
        "--reduce-range",
        choices=("auto", "on", "off"),
        default="auto",
        help="7-bit activations; auto = on for CPUs without VNNI",
    )


def add_verifier_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ballwatch verifier`` (the still pictures' patch verifier)."""
    parser.add_argument("--out", required=True, type=Path, help="the .safetensors to write")
    add_yolo_arguments(parser)
    parser.add_argument(
        "--hold-out", action="append", default=[], metavar="GLOB",
        help="groups (<set>-<split>-<clip>, as `ballwatch dataset` names them) left out",
    )  # fmt: skip
    parser.add_argument(
        "--thin", nargs=2, action="append", default=[], metavar=("GLOB", "N"),
        help="keep every Nth picture of the groups GLOB matches (near-consecutive frames of "
        "one clip add little and cost a search each)",
    )  # fmt: skip
    parser.add_argument(
        "--weights", type=Path, default=None,
        help="the still model whose places it learns to check (default: the bundled one)",
    )  # fmt: skip
    parser.add_argument(
        "--proposal-threshold", type=float, default=0.05,
        help="the least search score of a proposed place (as `ballwatch find` proposes them)",
    )  # fmt: skip
    parser.add_argument("--patch-px", type=int, default=32, help="patch side")
    parser.add_argument("--hard", type=int, default=20, help="surest wrong places per picture")
    parser.add_argument(
        "--deep", type=int, default=40, help="wrong places per picture from beyond the 50 surest"
    )
    parser.add_argument("--epochs", type=int, default=30, help="full passes over the patches")
    parser.add_argument("--seed", type=int, default=0, help="sampling, weights, augmentation")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 = default")

"""Your own footage, end to end: label CSV → dataset → a few training steps → eval."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from overlays.label.store import LabelStore
from overlays.label.video import FrameReader
from stream.cli import main
from stream.frame import BallTruth
from tests.overlays.label_media import write_synth_clip

SIZE = (320, 240)


def _label(video: Path, truths: list[BallTruth], frames: range) -> Path:
    """What ``ballwatch label`` writes when a person confirms ``frames`` (same store)."""
    csv_path = video.with_name(f"{video.stem}.labels.csv")
    reader = FrameReader(video)
    store = LabelStore(csv_path, video.name, reader.info)
    reader.close()
    changes = []
    for index in frames:
        truth = truths[index]
        point = [1, round(truth.x), round(truth.y)] if truth.is_visible else [0, None, None]
        changes.append({"frame": index, "label": [*point, "person"]})
    store.apply(0, changes, frames[-1])
    return csv_path


def _annotations(dataset: Path, split: str) -> dict[str, list[dict[str, object]]]:
    return json.loads((dataset / split / "_annotations.coco.json").read_text())


@pytest.mark.slow
@pytest.mark.timeout(600)  # minutes on a loaded 2-core machine: three commands, torch twice
def test_label_csv_to_dataset_to_training_to_eval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine, held = tmp_path / "mine.mp4", tmp_path / "heldout.mp4"
    mine_truths = write_synth_clip(mine, frames=24, size=SIZE, seed=11)
    held_truths = write_synth_clip(held, frames=12, size=SIZE, seed=12)
    # a person labelled the first 16 frames of their clip and the whole held-out clip
    mine_csv = _label(mine, mine_truths, range(16))
    held_csv = _label(held, held_truths, range(12))
    dataset, run = tmp_path / "dataset", tmp_path / "run"

    started = time.monotonic()
    status = main([
        "dataset", "--clip", str(mine), str(mine_csv), "--clip", str(held), str(held_csv),
        "--hold-out", "heldout*", "--resolution", "64", "--min-box-px", "6",
        "--out", str(dataset),
    ])  # fmt: skip

    assert status == 0
    print(f"dataset: {time.monotonic() - started:.1f} s")  # noqa: T201 - a figure for README
    train_images = _annotations(dataset, "train")["images"]
    valid_images = _annotations(dataset, "valid")["images"]
    balls = sum(truth.is_visible for truth in mine_truths[:16])
    assert balls > 0
    assert len(train_images) >= balls, "a crop for each labelled ball"
    assert len(valid_images) > 0, "the held-out clip is the validation split"
    cut_from = {int(str(image["file_name"]).split("_")[1]) for image in train_images}
    assert cut_from <= set(range(16)), "frames nobody labelled give no (negative) crops"

    config = tmp_path / "train.yaml"
    config.write_text("checkpoint_every: 3\neval_crops: 8\nwarmup_steps: 0\n")
    started = time.monotonic()
    status = main([
        "train", "--config", str(config), "--data", str(dataset), "--out", str(run),
        "--engine", "loop", "--steps", "3", "--resolution", "64", "--queries", "5",
        "--group-detr", "2", "--batch", "4", "--device", "cpu", "--threads", "1",
    ])  # fmt: skip

    assert status == 0
    print(f"train: {time.monotonic() - started:.1f} s")  # noqa: T201
    assert (run / "model.safetensors").is_file()
    report = json.loads((run / "model.eval.json").read_text())
    assert 0.0 <= report["f1"] <= 1.0
    with capsys.disabled():
        print(capsys.readouterr().out)  # noqa: T201
    started = time.monotonic()
    status = main([
        "eval", str(held), "--labels", str(held_csv), "--weights", str(run / "model.safetensors"),
        "--device", "cpu", "--precision", "fp32", "--no-progress",
    ])  # fmt: skip

    assert status == 0
    out = capsys.readouterr().out
    with capsys.disabled():
        print(f"eval: {time.monotonic() - started:.1f} s")  # noqa: T201
    visible = sum(truth.is_visible for truth in held_truths)
    assert f"frames: 12 scored, {visible} with a visible ball" in out
    assert "F1 " in out

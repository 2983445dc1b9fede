"""The crops QAT trains on and the held-out crops it is scored on (the training's own)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from perception.options import FrameInput, QatSettings
from perception.qat.pt2e import Batch, QatError

logger = logging.getLogger(__name__)


def crop_batches(
    data: str, resolution: int, settings: QatSettings, frame_input: FrameInput = FrameInput.RGB
) -> Iterable[Batch]:
    """Training crops as ``(images, targets)`` batches: the training pipeline's own.

    ``synth:`` crops are made as the model sees frames (``frame_input``); a COCO folder's
    crops are what its builder made them.
    """
    import numpy as np  # noqa: PLC0415

    from perception.dataset import (  # noqa: PLC0415 - pulls in the synth match and PIL
        CropRecipe,
        coco_crop_stream,
        read_coco_split,
        synth_crop_stream,
    )
    from perception.training import crop_stream_from_sources, to_batch  # noqa: PLC0415
    from stream.synth import parse_synth_uri  # noqa: PLC0415

    if data.startswith("synth:"):
        base = parse_synth_uri(data).seed
        recipe = CropRecipe(resolution=resolution, extra_balls_max=2)
        seeds = list(range(base, base + 64))
        samples = synth_crop_stream(seeds, recipe, settings.seed, frame_input=frame_input)
    else:
        samples = coco_crop_stream(read_coco_split(Path(data), "train"), settings.seed)
    rng = np.random.default_rng(settings.seed)
    for batch in crop_stream_from_sources(samples, settings.batch_size):
        images, targets = to_batch(batch, "cpu", rng)
        if images.shape[-1] != resolution:
            msg = (
                f"{data!r} holds {images.shape[-1]} px crops but the model runs at {resolution} px"
            )
            raise QatError(msg)
        yield images, targets


_HELD_OUT_OFFSET = 100_000  # the training loop's held-out synth seeds start here


def held_out_crops(
    data: str, resolution: int, count: int, frame_input: FrameInput = FrameInput.RGB
) -> list[Any]:
    """Crops QAT never trains on, half with a ball: the training's held-out set.

    ``synth:`` data: fresh matches (seeds 100000 above the URI's); a COCO folder: its
    ``valid`` split (empty when it has none).
    """
    from perception.dataset import (  # noqa: PLC0415
        CropRecipe,
        DatasetError,
        read_coco_split,
        synth_crop_stream,
    )
    from stream.synth import parse_synth_uri  # noqa: PLC0415

    if not data.startswith("synth:"):
        try:
            return read_coco_split(Path(data), "valid")[:count]
        except DatasetError:
            return []
    base = parse_synth_uri(data).seed + _HELD_OUT_OFFSET
    recipe = CropRecipe(resolution=resolution)
    stream = synth_crop_stream(list(range(base, base + 8)), recipe, 1, frame_input=frame_input)
    with_ball: list[Any] = []
    without: list[Any] = []
    while len(with_ball) + len(without) < count // 2 * 2:
        sample = next(stream)
        bucket = with_ball if sample.balls else without
        if len(bucket) < count // 2:
            bucket.append(sample)
    return with_ball + without


def score_graph(forward: Callable[[torch.Tensor], Any], samples: Sequence[Any]) -> dict[str, float]:
    """F1 at 4 px of the top query per crop at its best threshold (the training's scoring).

    Args:
        forward: a network (float or converted INT8 graph) run on one normalised crop.
        samples: :class:`~perception.dataset.CropSample` crops.

    Returns:
        ``{"f1", "threshold", "hit_rate"}`` (see ``perception.training.CropScore``).
    """
    import numpy as np  # noqa: PLC0415

    from perception.training import score_crops, to_batch  # noqa: PLC0415

    scores, centres = [], []
    with torch.no_grad():
        for sample in samples:
            images, _ = to_batch([sample], "cpu")
            outputs = forward(images)
            probabilities = outputs["pred_logits"][0, :, 0].sigmoid()
            top = int(probabilities.argmax())
            scores.append(float(probabilities[top]))
            centres.append((outputs["pred_boxes"][0, top, :2] * images.shape[-1]).tolist())
    result = score_crops(np.array(scores, np.float32), np.array(centres, np.float32), samples)
    return {"f1": result.f1, "threshold": result.threshold, "hit_rate": result.hit_rate}

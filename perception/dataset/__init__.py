"""Training sets for the ball detector: native-resolution crops written as COCO folders.

RF-DETR stretches whatever it is given to its square input, so a whole broadcast frame would
shrink a 7 px ball to a pixel. Every sample here is therefore a square crop of the model's
resolution cut from the frame at native scale: the ball keeps its real pixel size, lands
anywhere in the crop, and ball-free crops teach the model to stay quiet. Splits are made per
clip (or synthetic match), never per frame, because neighbouring frames are near duplicates.

The output is the folder layout rfdetr's trainer reads (``train/``, ``valid/``, ``test/``,
each with images and ``_annotations.coco.json``), one category ``ball`` with id 0.

Not thread-safe: a writer and a sampler belong to the thread that builds the dataset.

Modules, each owning one part:

- :mod:`~perception.dataset.values`: ``CropRecipe``, ``LabelledFrame``, ``CropSample``,
  ``CropBall``, ``Split``, ``DatasetError``.
- :mod:`~perception.dataset.crops`: positive and negative crops cut from labelled frames.
- :mod:`~perception.dataset.coco`: the COCO folder: ``CocoWriter`` and reading it back.
- :mod:`~perception.dataset.streams`: endless crop streams for the training loop.
- :mod:`~perception.dataset.sources`: labelled frames from clips, synth and exports.
- :mod:`~perception.dataset.build`: splits by clip and the folder build.
"""

from perception.dataset.build import BuildReport, assign_splits, build_dataset, write_samples
from perception.dataset.coco import (
    ANNOTATION_FILE,
    BALL_CLASS_NAME,
    CocoWriter,
    read_coco_split,
    read_frame_input,
)
from perception.dataset.crops import (
    crop_square,
    negative_crop,
    positive_crop,
    salient_point,
    samples_from_frames,
)
from perception.dataset.sources import (
    clip_images,
    estimate_box_px,
    export_frame_number,
    export_group,
    frames_from_clip,
    frames_from_coco,
    frames_from_synth,
    frames_from_yolo,
)
from perception.dataset.streams import coco_crop_stream, synth_crop_stream
from perception.dataset.values import (
    CropBall,
    CropRecipe,
    CropSample,
    DatasetError,
    LabelledFrame,
    Split,
)

__all__ = [
    "ANNOTATION_FILE",
    "BALL_CLASS_NAME",
    "BuildReport",
    "CocoWriter",
    "CropBall",
    "CropRecipe",
    "CropSample",
    "DatasetError",
    "LabelledFrame",
    "Split",
    "assign_splits",
    "build_dataset",
    "clip_images",
    "coco_crop_stream",
    "crop_square",
    "estimate_box_px",
    "export_frame_number",
    "export_group",
    "frames_from_clip",
    "frames_from_coco",
    "frames_from_synth",
    "frames_from_yolo",
    "negative_crop",
    "positive_crop",
    "read_coco_split",
    "read_frame_input",
    "salient_point",
    "samples_from_frames",
    "synth_crop_stream",
    "write_samples",
]

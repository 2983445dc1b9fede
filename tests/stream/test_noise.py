"""Library noise is hidden at the entry point; other lines (ours, the libraries' others) stay."""

from __future__ import annotations

import logging

import pytest

from stream.noise import hide_library_noise

DINO = (
    "Using patch size 16 instead of 14, which means we're not loading DINOv2 backbone weights. "
    "This is not a problem if finetuning a pretrained RF-DETR model."
)
PYTREE = (
    "<enum 'KernelPreference'> is an Enum subclass and is now natively supported by "
    "torch.compile as an opaque value type."
)


def test_known_library_noise_is_hidden_and_other_lines_stay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hide_library_noise()
    hide_library_noise()  # idempotent: one filter per logger
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="stream.app")  # another test may have quietened it
    logging.getLogger("rf-detr").warning(DINO)
    logging.getLogger("torch.utils._pytree").warning(PYTREE)
    logging.getLogger("rf-detr").warning("checkpoint has 3 classes, model has 1")
    logging.getLogger("stream.app").info("weights: bundled")
    assert [r.getMessage() for r in caplog.records] == [
        "checkpoint has 3 classes, model has 1",
        "weights: bundled",
    ]
    assert len(logging.getLogger("rf-detr").filters) == 1

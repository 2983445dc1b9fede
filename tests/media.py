"""Small generated media files for tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_mp4(
    path: Path,
    *,
    frames: int = 30,
    size: tuple[int, int] = (320, 240),
    rate: Fraction = Fraction(30000, 1001),
    is_faststart: bool = False,
) -> Path:
    """A small H.264 MP4 whose frame i is a flat grey of level 8*i."""
    options = {"movflags": "faststart"} if is_faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(frames):
            image = np.full((size[1], size[0], 3), (index * 8) % 256, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path

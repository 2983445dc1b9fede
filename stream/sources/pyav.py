"""PyAV helpers shared by the file and the network source: decoding, rates, error text."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import av
import numpy as np
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

Image = NDArray[np.uint8]


def failure_reason(exc: BaseException) -> str:
    """Why a PyAV or OS call failed, in words for an error message."""
    if isinstance(exc, av.error.ExitError):
        return "no answer before the timeout"
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else str(exc)


def stream_fps(stream: VideoStream) -> float:
    """The stream's frame rate (0.0 when it does not say)."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def bgr_image(frame: VideoFrame) -> Image:
    """The decoded picture as a BGR ``uint8`` ``(H, W, 3)`` array."""
    return np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)


def decoded_frames(container: InputContainer, stream: VideoStream) -> Iterator[VideoFrame | None]:
    """Frames in decode order; None stands for a packet that failed to decode.

    Demuxing errors (a lost connection) propagate; the final empty packets flush the decoder.
    """
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            logger.debug("undecodable packet at pts %s", packet.pts, exc_info=True)
            yield None
            continue
        yield from frames

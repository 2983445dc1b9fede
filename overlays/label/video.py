"""Random access to a video's frames: seek to the keyframe before, decode forward, cache a few.

A 90-minute match never sits in memory: the reader keeps one PyAV container open, decodes
only from the keyframe before the asked frame, and keeps the JPEGs of the frames around
the current one in a small LRU cache. Stepping forward one frame reuses the open decoder
(no seek), so the common case (next frame) costs one decode and one JPEG encode.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from stream.errors import BallwatchError

_FORWARD_DECODE_LIMIT = 90
"""A frame at most this far after the decoder's position is reached by decoding, not seeking."""
_KEEP_BEHIND = 12
"""Frames decoded on the way to a target that are cached too (for stepping back)."""


class LabelToolError(BallwatchError):
    """The labelling tool cannot go on; the message names the file and the fix."""


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the labels must agree with.

    Attributes:
        width: frame width in pixels.
        height: frame height in pixels.
        fps: frames per second (the stream's average rate).
        frame_count: frames in the file (from the container, else duration x fps).
    """

    width: int
    height: int
    fps: float
    frame_count: int


def _bgr(frame: av.VideoFrame) -> NDArray[np.uint8]:
    return np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)


def _undecodable(path: Path, exc: BaseException) -> LabelToolError:
    msg = f"cannot decode video {path}: {exc}; give a video file ffmpeg can play"
    return LabelToolError(msg)


class FrameReader:
    """Frames of one video file by index; thread-safe (one lock around the decoder)."""

    def __init__(self, path: Path, cache_frames: int = 64, jpeg_quality: int = 90) -> None:
        """Open ``path`` and decode its first frame (so a broken file fails here).

        Raises:
            LabelToolError: the file is missing or cannot be decoded.
        """
        self._path = path
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_frames = cache_frames
        self._quality = jpeg_quality
        try:
            self._container = av.open(str(path))
            self._stream = self._container.streams.video[0]
        except (OSError, IndexError, av.FFmpegError) as exc:
            raise _undecodable(path, exc) from exc
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(30)
        self._fps = float(rate)
        self._time_base = self._stream.time_base or Fraction(1, 90000)
        self._decoded: Iterator[av.VideoFrame] | None = None
        self._next_index = 0
        try:
            first = next(self._decoder())
        except (StopIteration, av.FFmpegError) as exc:
            self._container.close()
            raise _undecodable(path, exc if str(exc) else ValueError("no frames")) from exc
        self._origin_pts = first.pts or 0
        self.name = path.name
        self.info = VideoInfo(first.width, first.height, self._fps, self._count_frames())
        self._seek(0)

    def _count_frames(self) -> int:
        if self._stream.frames:
            return int(self._stream.frames)
        duration = self._container.duration  # microseconds
        return max(1, round(duration / 1_000_000 * self._fps)) if duration else 1

    def _decoder(self) -> Iterator[av.VideoFrame]:
        return self._container.decode(self._stream)

    def _index_of(self, frame: av.VideoFrame) -> int:
        pts = frame.pts if frame.pts is not None else self._origin_pts
        return round(float((pts - self._origin_pts) * self._time_base) * self._fps)

    def _seek(self, index: int) -> None:
        target = self._origin_pts + round(index / self._fps / float(self._time_base))
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        self._decoded = self._decoder()
        self._next_index = -1  # unknown until the first frame after the seek

    def _decode_to(self, index: int) -> Iterator[tuple[int, NDArray[np.uint8]]]:
        """Decode from the current position up to ``index``, yielding every frame on the way."""
        ahead = index - self._next_index
        is_seek = self._decoded is None or not 0 <= ahead <= _FORWARD_DECODE_LIMIT
        for attempt in range(3):
            if is_seek:
                back = attempt * 2 * round(self._fps)  # a seek that landed past: go back further
                self._seek(max(0, index - back))
            decoded = self._decoded if self._decoded is not None else self._decoder()
            try:
                for frame in decoded:
                    at = self._index_of(frame)
                    self._next_index = at + 1
                    if is_seek and at > index and attempt < 2 and index > 0:
                        break
                    is_seek = False
                    yield at, _bgr(frame)
                    if at >= index:
                        return
                else:
                    return  # end of file
            except av.FFmpegError as exc:
                raise _undecodable(self._path, exc) from exc

    def frames(self, first: int, stop: int) -> Iterator[tuple[int, NDArray[np.uint8]]]:
        """Frames ``first`` to ``stop - 1`` in order, as (index, BGR image).

        Holds the lock while iterating: give this its own reader when the page also reads.
        """
        with self._lock:
            for at, image in self._decode_to(first):
                if at >= first:
                    yield at, image
            while self._next_index < stop and self._decoded is not None:
                frame = next(self._decoded, None)
                if frame is None:
                    return
                at = self._index_of(frame)
                self._next_index = at + 1
                if first <= at < stop:
                    yield at, _bgr(frame)

    def jpeg(self, index: int) -> bytes:
        """Frame ``index`` as JPEG (cached).

        Raises:
            LabelToolError: ``index`` is outside the video or the frame cannot be decoded.
        """
        if not 0 <= index < self.info.frame_count:
            msg = f"frame {index} is outside {self._path.name} (0-{self.info.frame_count - 1})"
            raise LabelToolError(msg)
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
            for at, image in self._decode_to(index):
                if at >= index - _KEEP_BEHIND and at not in self._cache:
                    self._put(at, image)
            if index not in self._cache:
                msg = f"frame {index} of {self._path.name} could not be decoded"
                raise LabelToolError(msg)
            return self._cache[index]

    def _put(self, index: int, image: NDArray[np.uint8]) -> None:
        is_ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not is_ok:
            msg = f"JPEG encoding failed for frame {index} of {self._path.name}"
            raise LabelToolError(msg)
        self._cache[index] = data.tobytes()
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._container.close()

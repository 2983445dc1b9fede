"""A file's keyframe index and a FrameSource over one chunk of it (PyAV).

PyAV is otherwise kept to ``stream/sources/``; seeking to a keyframe and counting
frames from there is needed by batch chunks only, so it lives beside them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.container import InputContainer
from av.video.frame import VideoFrame

from stream.batch.plan import Chunk
from stream.errors import SourceOpenError, SourceReadError
from stream.source import SourceFrame, SourceKind

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VideoIndex:
    """Where a file's frames and keyframes are, from its packets (no decoding).

    Attributes:
        frame_count: video packets with a timestamp (one frame each).
        fps: average frame rate of the stream (0.0 when unknown).
        keyframes: indices (in presentation order) of the keyframes.
        keyframe_pts_s: presentation time of each keyframe, in seconds.
    """

    frame_count: int
    fps: float
    keyframes: tuple[int, ...]
    keyframe_pts_s: tuple[float, ...]

    def keyframe_time(self, frame: int) -> float:
        """The pts of keyframe ``frame``.

        Raises:
            ValueError: ``frame`` is not a keyframe.
        """
        try:
            return self.keyframe_pts_s[self.keyframes.index(frame)]
        except ValueError:
            msg = f"frame {frame} is not a keyframe (keyframes: {self.keyframes[:8]}…)"
            raise ValueError(msg) from None


def index_video(path: str) -> VideoIndex:
    """Read every video packet's pts and keyframe flag (seconds per hour of video).

    Raises:
        SourceOpenError: the file cannot be opened or has no video stream.
    """
    try:
        with av.open(path) as container:
            if not container.streams.video:
                msg = f"{path!r} has no video stream; give a file with video"
                raise SourceOpenError(msg)
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            base = stream.time_base or Fraction(1, 90_000)
            entries = sorted(
                (int(p.pts), bool(p.is_keyframe))
                for p in container.demux(stream)
                if p.pts is not None
            )
    except av.error.FFmpegError as exc:
        msg = f"{path!r} cannot be indexed ({exc}); check that it is a complete video file"
        raise SourceOpenError(msg) from exc
    keys = [i for i, (_, is_key) in enumerate(entries) if is_key]
    return VideoIndex(
        frame_count=len(entries),
        fps=float(rate) if rate else 0.0,
        keyframes=tuple(keys),
        keyframe_pts_s=tuple(float(entries[i][0] * base) for i in keys),
    )


class ChunkSource:
    """Decodes frames ``[chunk.decode_start, chunk.decode_end)`` of a file, with their indices.

    Seeks to the keyframe at ``decode_start`` (its pts is ``start_pts_s``) and counts
    frames from there, so each frame keeps the index and pts it has in the whole file.
    Used only from the capture thread.
    """

    def __init__(self, path: str, chunk: Chunk, start_pts_s: float, fps: float) -> None:
        """Open the file and seek.

        Raises:
            SourceOpenError: the file cannot be opened.
        """
        self._path = path
        self._chunk = chunk
        self._start_pts_s = start_pts_s
        self._fps = fps
        try:
            self._container: InputContainer = av.open(path)
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            if chunk.decode_start > 0:
                offset = round(start_pts_s / float(stream.time_base or Fraction(1, 90_000)))
                self._container.seek(offset, stream=stream, backward=True, any_frame=False)
        except (av.error.FFmpegError, IndexError) as exc:
            msg = f"cannot open {path!r} at frame {chunk.decode_start} ({exc})"
            raise SourceOpenError(msg) from exc
        self._frames: Iterator[VideoFrame] = self._container.decode(stream)
        self._next = chunk.decode_start
        self._is_closed = False

    @property
    def kind(self) -> SourceKind:
        """Always a file."""
        return SourceKind.FILE

    @property
    def fps(self) -> float:
        """The file's frame rate."""
        return self._fps

    @property
    def frame_count(self) -> int:
        """Frames this chunk decodes."""
        return self._chunk.decode_end - self._chunk.decode_start

    def read(self, stop: threading.Event) -> SourceFrame | None:
        """The next frame of the chunk, or None past its end.

        Raises:
            SourceReadError: decoding failed, or the seek did not land on the keyframe.
        """
        del stop  # decoding a file never waits for long
        while not self._is_closed and self._next < self._chunk.decode_end:
            frame = self._decode_next()
            if frame is None:
                break
            pts_s = float(frame.time) if frame.time is not None else 0.0
            half_frame_s = 0.5 / (self._fps or 30.0)
            if pts_s < self._start_pts_s - half_frame_s:
                continue  # a leading frame from before the keyframe (open GOP)
            if self._next == self._chunk.decode_start and pts_s > self._start_pts_s + half_frame_s:
                msg = f"seeking {self._path!r} landed at {pts_s:.3f} s, not {self._start_pts_s:.3f}"
                raise SourceReadError(msg)
            index = self._next
            self._next += 1
            image = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
            return SourceFrame(index=index, image=image, pts_s=pts_s)
        self.close()
        return None

    def _decode_next(self) -> VideoFrame | None:
        try:
            return next(self._frames)
        except StopIteration:
            return None
        except av.error.FFmpegError as exc:
            msg = f"reading {self._path!r} failed at frame {self._next}: {exc}"
            raise SourceReadError(msg) from exc

    def close(self) -> None:
        """Close the file."""
        if not self._is_closed:
            self._is_closed = True
            self._container.close()


def probe_frame_count(path: str) -> int | None:
    """The frame count a file's header states (None when it does not, or cannot be read)."""
    try:
        with av.open(path) as container:
            streams = container.streams.video
            return int(streams[0].frames) or None if streams else None
    except (av.error.FFmpegError, OSError):
        return None

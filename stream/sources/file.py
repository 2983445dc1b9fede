"""Video files decoded in order with PyAV (:class:`FileSource`), with actionable open errors."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import av
from av.container import InputContainer

from stream.errors import SourceOpenError, SourceReadError
from stream.queues import DropCause
from stream.source import SourceDropCallback, SourceFrame, SourceKind
from stream.sources.pyav import bgr_image, decoded_frames, failure_reason, stream_fps

logger = logging.getLogger(__name__)


class FileSource:
    """Decodes a video file in order with PyAV; used only from the capture thread.

    A packet that fails to decode is counted through ``on_drop`` (``decode_error``) and
    skipped. A truncated file yields the frames that decode, logs a warning with the count
    and ends cleanly.
    """

    def __init__(self, path: str, on_drop: SourceDropCallback, decode_threads: int = 0) -> None:
        self.path = path
        self._container = _open_file(path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        if decode_threads > 0:  # 0: FFmpeg's choice (one per core)
            self._stream.thread_count = decode_threads
        self._fps = stream_fps(self._stream)
        self._frame_count = self._stream.frames or None
        self._frames = decoded_frames(self._container, self._stream)
        self._on_drop = on_drop
        self._next_index = 0
        self._is_closed = False
        logger.info("opened %s: %d frames at %.3f fps", path, self._frame_count or -1, self._fps)

    @property
    def decode_threads(self) -> int:
        """Threads the decoder was given (0: FFmpeg's choice)."""
        return int(self._stream.codec_context.thread_count)

    @property
    def kind(self) -> SourceKind:
        """Always :attr:`SourceKind.FILE`."""
        return SourceKind.FILE

    @property
    def fps(self) -> float:
        """Average frame rate of the video stream (0.0 when unknown)."""
        return self._fps

    @property
    def frame_count(self) -> int | None:
        """Frame count from the container, None when it does not say."""
        return self._frame_count

    def read(self, stop: threading.Event) -> SourceFrame | None:
        """The next frame in order, or None at the end of the file.

        Raises:
            SourceReadError: the file could not be read further.
        """
        del stop  # decoding a file never waits for long
        while not self._is_closed:
            try:
                frame = next(self._frames)
            except StopIteration:
                self._finish()
                return None
            except av.error.FFmpegError as exc:
                msg = (
                    f"reading {self.path!r} failed after {self._next_index} frames: "
                    f"{failure_reason(exc)}; check that the file is complete"
                )
                raise SourceReadError(msg) from exc
            index = self._next_index
            self._next_index += 1
            if frame is None:
                self._on_drop(index, DropCause.DECODE_ERROR)
                continue
            pts_s = frame.time if frame.time is not None else index / (self._fps or 30.0)
            return SourceFrame(index=index, image=bgr_image(frame), pts_s=pts_s)
        return None

    def _finish(self) -> None:
        """Close at the end; a file that ends before its own frame count is an error.

        The frames that decoded have been handed out (and written) by then; the
        error makes the run exit non-zero so a truncated recording is not
        mistaken for a complete one.

        Raises:
            SourceReadError: the file holds fewer frames than its index says.
        """
        self.close()
        if self._frame_count is not None and self._next_index < self._frame_count:
            msg = (
                f"{self.path!r} ended after {self._next_index} of {self._frame_count} frames: "
                "the file is truncated; the outputs hold the frames that decoded"
            )
            raise SourceReadError(msg)

    def close(self) -> None:
        """Close the file."""
        if not self._is_closed:
            self._is_closed = True
            self._container.close()


def _open_file(path: str) -> InputContainer:
    file = Path(path)
    try:
        if file.is_file() and file.stat().st_size == 0:
            msg = f"video file {path!r} is empty (0 bytes); copy or record it again"
            raise SourceOpenError(msg)
        container = av.open(path)
    except FileNotFoundError as exc:
        msg = f"video file {path!r} not found; check the path (relative to {Path.cwd()})"
        raise SourceOpenError(msg) from exc
    except (IsADirectoryError, PermissionError) as exc:
        msg = (
            f"video file {path!r} cannot be read ({failure_reason(exc)}); "
            "give a readable video file"
        )
        raise SourceOpenError(msg) from exc
    except av.error.FFmpegError as exc:
        msg = (
            f"{path!r} is not a video PyAV can decode ({failure_reason(exc)}); check that it is a "
            "complete video file (an MP4 cut off before its index cannot be opened)"
        )
        raise SourceOpenError(msg) from exc
    if not container.streams.video:
        found = ", ".join(sorted({stream.type for stream in container.streams})) or "none"
        container.close()
        msg = f"{path!r} has no video stream (streams: {found}); give a file with video"
        raise SourceOpenError(msg)
    return container

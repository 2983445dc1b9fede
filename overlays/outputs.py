"""Outputs for rendered frames: H.264 MP4 file, desktop window, fan-out (track CSV: track_csv.py).

Every output is used from the render thread only and is always closed by the
renderer (also after a failure or Ctrl-C). Paths are checked at construction,
so a bad ``-o`` fails before the first frame is processed.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from overlays.output import Output
from perception.result import FrameResult
from stream.errors import OutputError

logger = logging.getLogger(__name__)

_CONTAINER_BY_SUFFIX = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}
_FPS_MAX_DENOMINATOR = 10_000  # 29.97002997… → 30000/1001, 25.0247… → 25350/1013

# Crash-safe recording: a fragmented MP4. A +faststart MP4 gets its index only at a clean
# close, so SIGKILL, an OOM kill or a power cut left no playable file at all. Here the moov
# is written first (empty) and every keyframe starts a fragment (moof+mdat) that plays on
# its own, so a crash loses at most the fragment in progress (< KEYFRAME_INTERVAL_S).
# Fragmented MP4 rather than Matroska: it stays an .mp4 that Chrome, Firefox and Safari play
# from a plain <video src> (it is also what MSE, HLS and DASH carry), as do VLC and ffmpeg;
# Safari plays no Matroska and Chrome only its WebM subset. default_base_moof makes every
# fragment's offsets relative to its own moof (what MSE and Safari expect).
_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
KEYFRAME_INTERVAL_S = 2.0


class X264Preset(StrEnum):
    """libx264 speed presets fast enough for real time (slower ones are not offered)."""

    ULTRAFAST = "ultrafast"
    SUPERFAST = "superfast"
    VERYFAST = "veryfast"
    FASTER = "faster"
    FAST = "fast"


def ensure_writable(path: Path, what: str) -> None:
    """Fail now, with the fix, when ``path`` cannot be written later.

    Args:
        path: the file an output will create or replace.
        what: what the file is, for the message ("video output").

    Raises:
        OutputError: the path is a folder, its folder is missing, or the folder
            or the existing file cannot be written.
    """
    if path.is_dir():
        msg = f"{what} {str(path)!r} is a folder; give a file path such as {str(path / 'out')!r}"
        raise OutputError(msg)
    folder = path.parent
    if not folder.is_dir():
        msg = (
            f"cannot write {what} {str(path)!r}: folder {str(folder)!r} does not exist "
            "or is not a folder; create it or choose another path"
        )
        raise OutputError(msg)
    try:
        if path.exists():
            with path.open("r+b"):
                pass
        else:
            # A real probe file catches read-only mounts and ACLs that os.access misses.
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".ballwatch-probe-"):
                pass
    except OSError as exc:
        msg = f"cannot write {what} {str(path)!r}: {exc.strerror}; choose a writable path"
        raise OutputError(msg) from exc


class VideoFileOutput:
    """Writes rendered frames as an H.264 (yuv420p) MP4 with the source's timestamps.

    Each frame's pts is its ``result.frame.pts_s`` converted exactly to
    ``time_base`` ticks, so the file keeps the source's frame count, timestamps
    and average rate (30000/1001 stays 30000/1001). A pts that does not
    increase (a live source restarting its clock) is moved one tick after the
    previous one. The file is opened on the first frame, whose size fixes the
    video size: later frames of another size (a reconnect at another
    resolution) are resized to it, and odd sizes are padded by one black
    row/column because yuv420p needs even sizes. The file is a fragmented MP4
    with a keyframe (and so a new fragment) at least every
    ``KEYFRAME_INTERVAL_S`` of pts: after a crash or a failed write it plays up
    to the last finished fragment. Not thread-safe: the render thread owns it.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction,
        *,
        time_base: Fraction = Fraction(1, 90_000),
        preset: X264Preset = X264Preset.VERYFAST,
        crf: int = 23,
    ) -> None:
        """Check the path and settings; the file itself is opened on the first frame.

        Args:
            path: the ``.mp4`` (or ``.m4v``/``.mov``) file to write; replaced if present.
            fps: the source's average frame rate (a float such as 29.97 or a Fraction).
            time_base: seconds per pts tick in the file.
            preset: libx264 speed preset.
            crf: libx264 constant rate factor, 0 (lossless) to 51.

        Raises:
            OutputError: the path cannot be written or a setting is out of range.
        """
        self.path = Path(path)
        container_format = _CONTAINER_BY_SUFFIX.get(self.path.suffix.lower())
        if container_format is None:
            msg = f"video output {str(self.path)!r} must end in .mp4, .m4v or .mov (H.264 MP4)"
            raise OutputError(msg)
        if not fps > 0:
            msg = f"video output fps must be > 0, but got {fps}"
            raise OutputError(msg)
        if not 0 <= crf <= 51:
            msg = f"video output crf must be in 0..51, but got {crf}"
            raise OutputError(msg)
        ensure_writable(self.path, "video output")
        self._format = container_format
        self.rate = Fraction(fps).limit_denominator(_FPS_MAX_DENOMINATOR)
        self._time_base = time_base
        self._codec_options = {
            "preset": str(preset),
            "crf": str(crf),
            # at most one keyframe interval of frames per GOP at the nominal rate ...
            "g": str(max(1, int(KEYFRAME_INTERVAL_S * self.rate))),
            # ... and forced keyframes are IDR, so each one starts a fragment
            "forced-idr": "1",
            # zerolatency: no lookahead, so a frame's packet (and fragment) leaves the
            # encoder with it and a crash loses no more than the fragment in progress;
            # and no B-frames: the empty moov cannot carry the edit list that hides their
            # reordering delay, so frame 0 would start 2 frames late (exact pts lost)
            "tune": "zerolatency",
            "bf": "0",
        }
        self._keyframe_ticks = round(Fraction(KEYFRAME_INTERVAL_S) / time_base)
        self._last_keyframe_pts: int | None = None
        self._has_failed = False
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._size: tuple[int, int] = (0, 0)  # (width, height) of the first frame
        self._last_pts: int | None = None
        self._has_warned_pts = False
        self._has_warned_size = False
        self._is_closed = False
        self.frames_written = 0

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Encode one BGR ``uint8`` ``(H, W, 3)`` frame at ``result.frame.pts_s``.

        Raises:
            OutputError: the output is closed, or the file cannot be opened or written.
        """
        if self._is_closed:
            msg = f"video output {str(self.path)!r} is already closed"
            raise OutputError(msg)
        stream = self._stream or self._open(image)
        video_frame = av.VideoFrame.from_ndarray(self._fit(image, result), format="bgr24")
        video_frame.pts = self._next_pts(result)
        video_frame.time_base = self._time_base
        if self._is_keyframe_due(video_frame.pts):
            # by time, not only by count: a live run that drops frames still gets
            # a new fragment every KEYFRAME_INTERVAL_S
            video_frame.pict_type = av.video.frame.PictureType.I
        try:
            self._encode(stream, video_frame)
        except (av.FFmpegError, OSError) as exc:
            self._has_failed = True
            msg = (
                f"cannot write video output {str(self.path)!r}: {os_cause(exc)}; "
                "the recording plays up to its last fragment"
            )
            raise OutputError(msg) from exc
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finalize the file; safe to call more than once.

        After a failed write nothing more is written (the finished fragments play).
        """
        if self._is_closed:
            return
        self._is_closed = True
        if self._container is None or self._stream is None:
            logger.info("no frame reached the video output; %s was not written", self.path)
            return
        if self._has_failed:
            self._close_after_failure(self._container)
            return
        try:
            self._encode(self._stream, None)
        except (av.FFmpegError, OSError) as exc:
            msg = f"cannot finish video output {str(self.path)!r}: {os_cause(exc)}"
            raise OutputError(msg) from exc
        finally:
            self._container.close()
        logger.info("wrote %d frames to %s", self.frames_written, self.path)

    def _close_after_failure(self, container: av.container.OutputContainer) -> None:
        try:
            container.close()
        except (av.FFmpegError, OSError) as exc:
            # the write failure was already reported; the trailer is optional in fMP4
            logger.debug("closing %s after a failed write: %s", self.path, exc)
        cut_torn_fragment(self.path)
        logger.info(
            "%s: %d frames sent; it plays up to its last fragment", self.path, self.frames_written
        )

    def _is_keyframe_due(self, pts: int) -> bool:
        last = self._last_keyframe_pts
        if last is not None and pts - last < self._keyframe_ticks:
            return False
        self._last_keyframe_pts = pts
        return True

    def _open(self, image: NDArray[np.uint8]) -> av.VideoStream:
        height, width = image.shape[:2]
        self._size = (width, height)
        padded = (width + width % 2, height + height % 2)
        if padded != self._size:
            logger.info("padding %dx%d frames to %dx%d for yuv420p", width, height, *padded)
        try:
            container = av.open(
                str(self.path),
                "w",
                format=self._format,
                # flush_packets: hand each finished fragment to the OS at once; left in
                # ffmpeg's 32 KB write buffer, a small video lost 100 frames to a SIGKILL
                options={"movflags": _MOVFLAGS, "flush_packets": "1"},
            )
            stream = container.add_stream("libx264", rate=self.rate, options=self._codec_options)
        except (av.FFmpegError, OSError) as exc:
            msg = f"cannot open video output {str(self.path)!r}: {exc}"
            raise OutputError(msg) from exc
        stream.width, stream.height = padded
        stream.pix_fmt = "yuv420p"
        # The encoder must count in the fine time base too: left at 1/fps, it rounds
        # irregular (live) timestamps onto the frame grid and two frames can collide.
        stream.time_base = self._time_base
        stream.codec_context.time_base = self._time_base
        self._container = container
        self._stream = stream
        logger.info("writing %s: %dx%d at %s fps, H.264", self.path, *padded, self.rate)
        return stream

    def _fit(self, image: NDArray[np.uint8], result: FrameResult) -> NDArray[np.uint8]:
        """The image at the first frame's size, padded to even sizes."""
        width, height = self._size
        if image.shape[1] != width or image.shape[0] != height:
            if not self._has_warned_size:
                self._has_warned_size = True
                logger.warning(
                    "frame %d is %dx%d but the video is %dx%d; resizing (logged once)",
                    result.frame.index,
                    image.shape[1],
                    image.shape[0],
                    width,
                    height,
                )
            image = np.asarray(
                cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), np.uint8
            )
        if width % 2 or height % 2:
            image = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)))
        return image

    def _next_pts(self, result: FrameResult) -> int:
        pts = round(Fraction(result.frame.pts_s) / self._time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            if not self._has_warned_pts:
                self._has_warned_pts = True
                logger.warning(
                    "frame %d pts %.6f s does not follow the previous frame; "
                    "writing it one tick later (logged once)",
                    result.frame.index,
                    result.frame.pts_s,
                )
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    def _encode(self, stream: av.VideoStream, video_frame: av.VideoFrame | None) -> None:
        """Encode ``video_frame`` (None flushes the encoder) and mux what comes out."""
        if self._container is not None:
            self._container.mux(stream.encode(video_frame))


def whole_fragments_end(file: BinaryIO, length: int) -> int:
    """The length of the longest prefix of a fragmented MP4 made of whole boxes and fragments.

    Walks the top-level boxes of ``file`` (``length`` bytes long), reading only their
    headers (32-bit size and type, or size 1 and a 64-bit size), so an hour-long recording
    is never read into memory: the prefix ends after the last box that is whole, except
    that a ``moof`` counts only together with the whole ``mdat`` after it. A box that runs
    past the end (a write cut off by a full disk or a file size limit) ends the walk.
    """
    end = offset = 0
    pending_moof = False
    while offset + 8 <= length:
        file.seek(offset)
        head = file.read(16)
        size, kind = struct.unpack_from(">I4s", head)
        header = 8
        if size == 1:
            if offset + 16 > length:
                break
            (size,) = struct.unpack_from(">Q", head, 8)
            header = 16
        if size < header or offset + size > length:
            break  # size 0 ("to the end of the file") is never whole in a cut file
        offset += size
        if kind == b"moof":
            pending_moof = True
            continue
        if kind == b"mdat" and not pending_moof:
            break  # media without its fragment header: not playable
        pending_moof = False
        end = offset
    return end


def cut_torn_fragment(path: Path) -> None:
    """Truncate ``path`` to its whole fragments after a failed write.

    A write cut off mid-fragment leaves a torn ``mdat`` at the end; most players skip
    it, but ffprobe and some players stop with "Invalid NAL unit size". Our own code
    because no library repairs a fragmented MP4 in place; it only shortens the file
    (which a full disk and ``ulimit -f`` both allow) and never rewrites a byte.
    """
    try:
        with path.open("r+b") as file:
            length = os.fstat(file.fileno()).st_size
            end = whole_fragments_end(file, length)
            if 0 < end < length:
                file.truncate(end)
                logger.info("%s: cut %d bytes of a torn last fragment", path, length - end)
    except OSError as exc:
        logger.debug("could not cut the torn fragment of %s: %s", path, exc)


def os_cause(exc: Exception) -> str:
    """The operating system's words for a failed write ("File too large"), else the error."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def opencv_has_gui() -> bool:
    """Whether this OpenCV build can open windows (opencv-python-headless cannot)."""
    for line in cv2.getBuildInformation().splitlines():
        key, _, value = line.strip().partition(":")
        if key == "GUI":
            return value.strip().upper() not in {"", "NONE", "NO"}
    return False


def find_display_problem(
    environ: Mapping[str, str] | None = None, has_gui: Callable[[], bool] = opencv_has_gui
) -> str | None:
    """Why a window cannot be shown here, or None when it can.

    Args:
        environ: the environment to look for ``DISPLAY``/``WAYLAND_DISPLAY`` in
            (the process environment by default).
        has_gui: whether OpenCV can open windows (this build's answer by default).
    """
    env = os.environ if environ is None else environ
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return "no DISPLAY or WAYLAND_DISPLAY is set"
    if not has_gui():
        return "this OpenCV build is headless"
    return None


class MultiOutput:
    """Sends every frame to several outputs, in order. Render thread only."""

    def __init__(self, outputs: Sequence[Output]) -> None:
        self.outputs = tuple(outputs)

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Write to each output (they may keep ``image``; none changes it)."""
        for output in self.outputs:
            output.write(image, result)

    def close(self) -> None:
        """Close every output, even if some fail; then raise the first failure."""
        first_failure: Exception | None = None
        for output in self.outputs:
            try:
                output.close()
            except Exception as exc:
                logger.exception("closing %s failed", type(output).__name__)
                if first_failure is None:
                    first_failure = exc
        if first_failure is not None:
            raise first_failure

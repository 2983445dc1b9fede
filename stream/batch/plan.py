"""How a long recording is cut into chunks that run in parallel and join into one track."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Chunk:
    """A frame range of one recording, run as one task.

    The chunk decodes ``[decode_start, decode_end)`` but only its own frames
    ``[start, end)`` are kept: the frames before ``start`` let the tracker settle
    (its history, the search's crop), the frames after ``end`` let the lagged tracker
    settle the last owned frames with detections on both sides, as a single run would.

    Attributes:
        index: 0-based position in the recording.
        count: number of chunks of the recording.
        decode_start: a keyframe index (decoding can start there without artifacts).
        start: first frame this chunk owns (a keyframe, or 0).
        end: one past the last frame it owns.
        decode_end: one past the last frame decoded.
    """

    index: int
    count: int
    decode_start: int
    start: int
    end: int
    decode_end: int

    def __post_init__(self) -> None:
        """Check the ranges nest."""
        if not 0 <= self.decode_start <= self.start < self.end <= self.decode_end:
            msg = (
                "chunk ranges must nest as decode_start <= start < end <= decode_end, got "
                f"{self.decode_start}, {self.start}, {self.end}, {self.decode_end}"
            )
            raise ValueError(msg)

    @property
    def label(self) -> str:
        """``chunk-003`` (the name of its work folder)."""
        return f"chunk-{self.index:03d}"

    def owns(self, frame: int) -> bool:
        """Whether ``frame`` is one of this chunk's own frames."""
        return self.start <= frame < self.end


def whole(frame_count: int) -> Chunk:
    """One chunk over a whole recording of ``frame_count`` frames (at least one)."""
    return Chunk(0, 1, 0, 0, max(frame_count, 1), max(frame_count, 1))


def plan_chunks(
    keyframes: Sequence[int], frame_count: int, chunk_frames: int, overlap_frames: int
) -> list[Chunk]:
    """Cut ``frame_count`` frames into chunks of about ``chunk_frames``, at keyframes.

    Each cut is the first keyframe at or after a multiple of ``chunk_frames``; a chunk
    starts decoding at the last keyframe at least ``overlap_frames`` before its cut and
    decodes ``overlap_frames`` past its end. ``chunk_frames <= 0``, a recording no longer
    than one chunk, or one without keyframes past 0 gives a single chunk.

    Raises:
        ValueError: ``overlap_frames`` is negative.
    """
    if overlap_frames < 0:
        msg = f"overlap_frames must be >= 0, got {overlap_frames}"
        raise ValueError(msg)
    keys = sorted({k for k in keyframes if 0 <= k < frame_count} | {0})
    cuts = [0]
    if chunk_frames > 0:
        target = chunk_frames
        while target < frame_count:
            at = bisect.bisect_left(keys, target)
            if at == len(keys):
                break
            if keys[at] > cuts[-1]:
                cuts.append(keys[at])
            target = max(target + chunk_frames, keys[at] + 1)
    ends = [*cuts[1:], max(frame_count, 1)]
    chunks = []
    for index, (start, end) in enumerate(zip(cuts, ends, strict=True)):
        wanted = max(start - overlap_frames, 0)
        decode_start = keys[bisect.bisect_right(keys, wanted) - 1]
        decode_end = min(end + overlap_frames, max(frame_count, 1))
        chunks.append(Chunk(index, len(cuts), decode_start, start, end, decode_end))
    return chunks

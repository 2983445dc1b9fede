"""Exceptions of the stream package: each message names the thing and the fix."""

from __future__ import annotations


class BallwatchError(Exception):
    """Base of every error a user may see as a one-line message."""


class StreamError(BallwatchError):
    """A source or an output could not do its job."""


class SourceOpenError(StreamError):
    """A source could not be opened (missing file, bad URI, no camera…)."""


class SourceReadError(StreamError):
    """A source failed while reading (corrupt data, device gone…)."""


class OutputError(StreamError):
    """An output could not be opened or written."""


class StageFailedError(BallwatchError):
    """A pipeline stage failed; the original error is chained as ``__cause__``."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"stage {stage!r} failed: {error}")
        self.stage = stage
        self.error = error

"""Exceptions of the perception package: each message names the thing and the fix."""

from __future__ import annotations

from stream.errors import BallwatchError


class PerceptionError(BallwatchError):
    """The detector, the precision policy or the search could not do its job."""


class DetectorLoadError(PerceptionError):
    """A detector could not be built: missing, corrupt or mismatched weights, an unknown class."""


class PrecisionError(PerceptionError):
    """The requested precision or device cannot be used on this machine or with these weights."""

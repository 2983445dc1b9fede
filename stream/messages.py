"""Typed control messages that travel down the queues beside frames."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


class EndOfStream:
    """The one end-of-stream marker; use the :data:`END_OF_STREAM` instance."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END_OF_STREAM"


END_OF_STREAM: Final = EndOfStream()


@dataclass(frozen=True, slots=True)
class StageFailure:
    """An upstream stage failed; downstream stages finish and stop.

    The exception itself is re-raised by ``Pipeline.join()`` from the stage
    that failed; this message only tells the stages below to wind down.
    """

    stage: str
    error: BaseException

"""Library log lines a user can do nothing about, hidden unless ``-v`` is given.

Each entry names the logger and a piece of the message, so only those lines go:
the libraries' other warnings, and every line of our own, still show.
"""

from __future__ import annotations

import logging

# (logger name, message fragment): why it is noise
LIBRARY_NOISE: tuple[tuple[str, str], ...] = (
    # torchao registers its enums with torch.compile the old way (torch 2.14 deprecation).
    ("torch.utils._pytree", "is an Enum subclass and is now natively supported"),
    # Our 128 px / patch 16 models are complete checkpoints; no DINOv2 weights are needed.
    ("rf-detr", "which means we're not loading DINOv2 backbone weights"),
    ("rf-detr", "instead of 14, which means we're not loading"),
)


class _DropFragments(logging.Filter):
    """Drops records whose message contains one of ``fragments``."""

    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a noise line."""
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)


def hide_library_noise() -> None:
    """Attach the filters to the libraries' loggers (before the libraries are imported)."""
    by_logger: dict[str, tuple[str, ...]] = {}
    for name, fragment in LIBRARY_NOISE:
        by_logger[name] = (*by_logger.get(name, ()), fragment)
    for name, fragments in by_logger.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropFragments) for f in logger.filters):
            logger.addFilter(_DropFragments(fragments))

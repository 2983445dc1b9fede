"""What a synthetic match looks like (:class:`SynthParams`) and the ``synth:`` URI syntax."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class SynthParams:
    """What the synthetic match looks like; ``frames=None`` runs forever.

    Attributes:
        seed: everything random derives from it.
        width: frame width in pixels.
        height: frame height in pixels.
        fps: frames per second of the match clock.
        frames: number of frames, or None for an endless stream.
        pan: whether the camera pans slowly across a wider pitch.
        ball_min_px: ball diameter at the far (top) side of the pitch.
        ball_max_px: ball diameter at the near (bottom) side of the pitch.
    """

    seed: int = 7
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    frames: int | None = None
    pan: bool = False
    ball_min_px: int = 3
    ball_max_px: int = 12

    def __post_init__(self) -> None:
        problems = [
            (self.width < 64 or self.height < 64, "width and height must be >= 64"),
            (not 0 < self.fps <= 1000, "fps must be in (0, 1000]"),
            (self.frames is not None and self.frames < 1, "frames must be >= 1 (or absent)"),
            (not 1 <= self.ball_min_px <= self.ball_max_px, "need 1 <= ball_min_px <= ball_max_px"),
            (self.ball_max_px > self.height // 8, "ball_max_px must be <= height / 8"),
        ]
        for is_bad, text in problems:
            if is_bad:
                msg = f"invalid SynthParams: {text}, but got {self}"
                raise ValueError(msg)


_ALLOWED_KEYS = tuple(field.name for field in fields(SynthParams))
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(key: str, text: str) -> int | float | bool:
    if key == "pan":
        if text.lower() not in _TRUE | _FALSE:
            msg = f"must be 0 or 1, but got {text!r}"
            raise ValueError(msg)
        return text.lower() in _TRUE
    if key == "fps":
        value = float(text)
        if not math.isfinite(value):
            msg = f"must be a finite number, but got {text!r}"
            raise ValueError(msg)
        return value
    return int(text)


def parse_synth_uri(uri: str) -> SynthParams:
    """Parse ``synth:`` or ``synth:?seed=7&frames=300&width=1280&height=720&fps=30&pan=1``.

    Raises:
        ValueError: not a synth URI, an unknown or repeated key, or a bad value.
    """
    allowed = ", ".join(_ALLOWED_KEYS)
    if not uri.startswith("synth:"):
        msg = f"not a synth URI: {uri!r}; write synth: or synth:?seed=7&frames=300"
        raise ValueError(msg)
    rest = uri.removeprefix("synth:").removeprefix("//")
    if rest and not rest.startswith("?"):
        msg = f"invalid synth URI {uri!r}: options go after '?', e.g. synth:?seed=7"
        raise ValueError(msg)
    values: dict[str, int | float | bool] = {}
    for pair in filter(None, rest.removeprefix("?").split("&")):
        key, _, text = pair.partition("=")
        if key not in _ALLOWED_KEYS or key in values:
            why = "repeated" if key in values else "unknown"
            msg = f"invalid synth URI {uri!r}: {why} key {key!r}; allowed keys: {allowed}"
            raise ValueError(msg)
        try:
            values[key] = _convert(key, text)
        except ValueError as exc:
            msg = f"invalid synth URI {uri!r}: key {key!r} {exc}; allowed keys: {allowed}"
            raise ValueError(msg) from exc
    try:
        return SynthParams(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        msg = f"invalid synth URI {uri!r}: {exc}"
        raise ValueError(msg) from exc

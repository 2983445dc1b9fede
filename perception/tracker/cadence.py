"""Repeated frames found from the ball's motion (25 or 24 fps footage sent at 30 fps).

Owns :class:`FrameCadence`: once the motion shows the repeat pattern, the online tracker
runs its fits on the picture clock (:meth:`FrameCadence.content_frame`).
"""

from __future__ import annotations

from collections import deque


class FrameCadence:
    """Finds repeated frames from the ball's motion (25 or 24 fps footage sent at 30 fps).

    Broadcast conversions repeat one frame in every 6 (25 to 30) or 5 (24 to 30): on
    that frame the ball does not move, which wrecks any fit over frame times. When a
    fast ball (``min_speed_px`` per frame) keeps stopping dead on one phase of such a
    period and moving on all others, the pattern is taken as found and
    :meth:`content_frame` maps frame numbers to picture numbers.
    """

    PERIODS = (6, 5)

    def __init__(self, min_votes: int = 3, history: int = 150) -> None:
        self._min_votes = min_votes
        self._votes: deque[tuple[int, bool]] = deque(maxlen=history)
        self.pattern: tuple[int, int] | None = None
        """``(period, phase)``: frame ``n`` repeats ``n - 1`` when ``n % period == phase``."""

    def reset(self) -> None:
        """Forget the votes and the pattern."""
        self._votes.clear()
        self.pattern = None

    @property
    def is_timing_known(self) -> bool:
        """Whether repeats were found, or enough fast motion showed there are none."""
        if self.pattern is not None:
            return True
        stops = sum(1 for _, moved in self._votes if not moved)
        return len(self._votes) >= 3 * max(self.PERIODS) and stops <= 0.05 * len(self._votes)

    def vote(self, frame: int, *, moved: bool) -> None:
        """Record whether the fast ball moved between frame ``frame - 1`` and ``frame``."""
        self._votes.append((frame, moved))
        self.pattern = self._find()

    def _find(self) -> tuple[int, int] | None:
        for period in self.PERIODS:
            stops = [0] * period
            totals = [0] * period
            for frame, moved in self._votes:
                totals[frame % period] += 1
                stops[frame % period] += int(not moved)
            phase = max(range(period), key=stops.__getitem__)
            other_stops = sum(stops) - stops[phase]
            other_totals = sum(totals) - totals[phase]
            if (
                stops[phase] >= self._min_votes
                and stops[phase] >= 0.7 * totals[phase]
                and other_totals >= period
                and other_stops <= 0.2 * other_totals
            ):
                return period, phase
        return None

    def content_frame(self, frame: float) -> float:
        """Frame number in picture time: repeats share their predecessor's, rescaled."""
        if self.pattern is None:
            return frame
        period, phase = self.pattern
        index = round(frame)
        repeats = (index - phase) // period + 1
        return (index - repeats) * period / (period - 1)

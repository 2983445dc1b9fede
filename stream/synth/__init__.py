"""A built-in synthetic match: a tiny ball over a striped pitch, with exact ground truth.

Everything is a pure function of the seed and the frame index: the ball's trajectory is
simulated once, in order, and cached; players and the camera pan are closed-form in time.
So ``frame(i)`` never depends on which frames were rendered before it.

Modules, each owning one part:

- :mod:`~stream.synth.params`: :class:`SynthParams` and the ``synth:`` URI syntax.
- :mod:`~stream.synth.match`: :class:`SynthMatch`, the simulation and its ground truth.
- :mod:`~stream.synth.scene`: painting the pitch, the players and the ball.
- :mod:`~stream.synth.source`: :class:`SynthSource`, the match as a frame source.
"""

from stream.synth.match import SynthMatch
from stream.synth.params import SynthParams, parse_synth_uri
from stream.synth.source import SynthSource

__all__ = ["SynthMatch", "SynthParams", "SynthSource", "parse_synth_uri"]

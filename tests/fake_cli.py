"""``python -m tests.fake_cli [--detector-delay S] ARGS…``: the real CLI with the fake detector.

Subprocess tests (signals, SIGKILL, ``ulimit -f``) need a whole process, but not
RF-DETR: this runs :func:`stream.cli.main` with every run's detector replaced by
:class:`tests.fakes.FakeDetector`, which finds nothing after ``--detector-delay``
seconds per call.
"""

from __future__ import annotations

import sys

from perception.detector import Detector
from stream import app
from stream.cli import main
from tests.fakes import FakeDetector


def run(argv: list[str]) -> int:
    """Patch the detector, then run the command line."""
    delay_s = 0.0
    if argv[:1] == ["--detector-delay"]:
        delay_s, argv = float(argv[1]), argv[2:]
    detector = FakeDetector(resolution=384, delay_s=delay_s, box=None)

    def build(config: object, plan: object, *_: object, **__: object) -> Detector:
        return detector

    app.build_detector = build
    return main(argv)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))

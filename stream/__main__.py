"""Entry point: ``python -m stream`` and the ``ballwatch`` console script."""

from __future__ import annotations

import sys

from stream.cli import main

if __name__ == "__main__":
    sys.exit(main())

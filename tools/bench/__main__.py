"""python tools/bench: the whole bench (see core.py)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    sys.path[0] = os.path.dirname(HERE)     # tools/, so `bench` is the package
else:
    sys.path.insert(0, os.path.dirname(HERE))

from bench.core import main  # noqa: E402

main()

"""Compatibility name of tools/devserver/formats.py (new code: ``from devserver
import formats``)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from devserver import formats as _m  # noqa: E402

sys.modules[__name__] = _m

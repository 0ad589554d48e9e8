"""Compatibility name of tools/devserver/bsconfig.py (new code: ``from devserver
import bsconfig``)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from devserver import bsconfig as _m  # noqa: E402

sys.modules[__name__] = _m

"""Compatibility name of tools/devserver/dtls_mock.py (new code: ``from devserver
import dtls_mock``)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from devserver import dtls_mock as _m  # noqa: E402

sys.modules[__name__] = _m

"""Compatibility name of tools/devserver/dtls_front.py (new code: ``from devserver
import dtls_front``); also its CLI."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if __name__ == "__main__":
    import runpy
    runpy.run_module("devserver.dtls_front", run_name="__main__")
else:
    from devserver import dtls_front as _m
    sys.modules[__name__] = _m

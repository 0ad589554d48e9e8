"""Compatibility name of tools/devserver/dtls_peer.py (new code: ``from devserver
import dtls_peer``); also its CLI."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if __name__ == "__main__":
    import runpy
    runpy.run_module("devserver.dtls_peer", run_name="__main__")
else:
    from devserver import dtls_peer as _m
    sys.modules[__name__] = _m

"""CLI of tools/devserver/dtls_peer.py: python tools/dtls_peer.py --help."""
import os
import runpy
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
runpy.run_module("devserver.dtls_peer", run_name="__main__")

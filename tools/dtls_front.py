"""CLI of tools/devserver/dtls_front.py: python tools/dtls_front.py --help."""
import os
import runpy
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
runpy.run_module("devserver.dtls_front", run_name="__main__")

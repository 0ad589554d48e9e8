"""Shared fixtures: run device code on the real MicroPython unix port."""
import os
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# $MICROPYTHON: another build, e.g. the 32-bit one of host_tests/test_targets.py
MICROPYTHON = os.environ.get("MICROPYTHON") or os.path.join(ROOT, ".venv", "bin", "micropython")
sys.path.insert(0, os.path.join(ROOT, "tools"))


def mp_env():
    env = dict(os.environ)
    # device packages (client/, objects/, boards/) import from the repo root;
    # simulators (simulated modem, SMS gateway) from tools/sim, never shipped
    env["MICROPYPATH"] = ".frozen:" + ROOT + ":" + os.path.join(ROOT, "tools", "sim")
    return env


def run_mp(code, heap=None, timeout=60, check=True):
    """Run a MicroPython snippet on the unix port; return its stdout."""
    args = [MICROPYTHON]
    if heap:
        args += ["-X", "heapsize=" + heap]
    # the snippet goes through a file: large test vectors exceed ARG_MAX
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
    try:
        p = subprocess.run(args + [f.name], capture_output=True, text=True,
                           timeout=timeout, env=mp_env(), cwd=ROOT)
    finally:
        os.unlink(f.name)
    if check and p.returncode != 0:
        raise AssertionError("micropython failed (%d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
    return p.stdout


@pytest.fixture
def mp():
    return run_mp


def pytest_configure(config):
    # aiocoap deprecates setting mid/mtype/token by hand, which byte-level tests need
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning")

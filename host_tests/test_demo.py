"""`make run` (tools/run_demo.py): bootstrap and the DM session, over DTLS-PSK."""
import subprocess
import sys

from conftest import ROOT


def test_make_run_demo_is_secured_end_to_end():
    p = subprocess.run([sys.executable, "tools/run_demo.py"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    out = p.stdout
    assert p.returncode == 0, p.stderr[-3000:]
    assert "bootstrap request coaps://" in out and "register coaps://" in out
    assert "== bootstrap finished: 2.04" in out and "== de-registered" in out
    assert "== DTLS: bootstrap handshake" in out
    assert "dtls handshake failed" not in out


def test_make_run_lines_are_whole_and_prefixed():
    # three processes (servers, client) and the script: one per line, each with its prefix;
    # TLV values decoded with their types
    p = subprocess.run([sys.executable, "tools/run_demo.py", "--plain"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    prefixes = ("[server] ", "[bootstrap] ", "[client ", "[provision] ", "[demo] ")
    for line in p.stdout.splitlines():
        assert line.startswith(prefixes), line
    assert "res 16 = 'UQ'" in p.stdout and "(int " not in p.stdout

"""Bench figures of the SMS binding (make bench, through tools/bench/core.py):
  sms_trigger_wake_ms  virtual clock: from the SMS's delivery to the sleeping
                       client (+CMT after paging) to the 2.04 of the Update it
                       triggers (tools/sim/smswake.py; server peer in-process,
                       network round trip 0: the client's own reaction)
  mpy_bytes_sms        .mpy size of the SMS binding (client/sms.py; goal <= 4 KB)
  mpy_bytes_cellular   .mpy of the AT data path (boards/cellular.py, boards/atsock.py)"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
OUT = os.path.join(ROOT, "build", "sms")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import build_mpy  # noqa: E402


def mpy_size(rel):
    return build_mpy.compile(rel, os.path.join(OUT, os.path.basename(rel)[:-3] + ".mpy"))


def wake_ms(vendor="nrf91"):
    env = dict(os.environ, MICROPYPATH=".frozen:%s:%s" % (ROOT, os.path.join(ROOT, "tools", "sim")))
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run([MICROPYTHON, os.path.join(ROOT, "tools", "sim", "smswake.py"), vendor, d],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    t = [x[0] for x in r["log"] if x[0] >= r["t_sms"]]
    kinds = [x[1] for x in r["log"] if x[0] >= r["t_sms"]]
    return t[kinds.index("updated")] - t[kinds.index("wake")]


def measure():
    return {"sms_trigger_wake_ms": wake_ms(), "mpy_bytes_sms": mpy_size("client/sms.py"),
            "mpy_bytes_cellular": mpy_size("boards/cellular.py") + mpy_size("boards/atsock.py")}


if __name__ == "__main__":
    print(json.dumps(measure(), indent=1))

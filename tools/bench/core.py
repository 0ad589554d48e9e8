"""`make bench` (tools/bench/core.py): footprint, memory and speed figures of the device code.
Prints a table and writes the same figures to build/bench.json (one flat
JSON object; each issue adds its keys)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import build_mpy  # noqa: E402
from devclient import DevClient, MICROPYTHON, ROOT  # noqa: E402
from lwm2m_server import Server  # noqa: E402
from session import run_session  # noqa: E402

OUT = os.path.join(ROOT, "build", "bench.json")
# device code of the client core (issue 2); the rest is counted in the total
CORE = ("client/coap.py", "client/codes.py", "client/exchange.py", "client/model.py",
        "client/engine.py", "client/client.py", "client/tlv.py", "client/text.py",
        "objects/security.py", "objects/server.py", "objects/device.py",
        "objects/connmon.py", "boards/unix.py", "firmware/main.py")


def session(heap=None, quiet=True):
    """The scripted session with the client loaded from .mpy; None if it fails."""
    with Server(port=0) as srv:
        c = DevClient("coap://127.0.0.1:%d" % srv.port, "bench", "--lifetime", "300",
                      mpy=True, heap=heap, clock="real")
        try:
            return run_session(srv, c, "bench", say=lambda *a: None, timeout=8)
        except Exception:
            return None
        finally:
            c.kill()


def min_heap_for(ok, lo=4, hi=64):
    """Smallest N in -X heapsize=NwK for which ok("NwK") holds (bisection;
    lo is taken to fail, hi must pass), or None."""
    if not ok("%dwK" % hi):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok("%dwK" % mid):
            hi = mid
        else:
            lo = mid
    return hi


def min_heap():
    return min_heap_for(session, hi=128)


READ_3_0 = """
import time
from boards.unix import Board
from firmware.main import build, options
from client.coap import Msg, parse, build as enc
from client.codes import GET, URI_PATH, ACCEPT, FMT_TLV
b = Board()
c = build(b, options(["--server", "coap://127.0.0.1:9", "--endpoint", "b"]), None)
data = bytes(enc(Msg(0, GET, 1, b"tk").add(URI_PATH, "3").add(URI_PATH, "0").add(ACCEPT, FMT_TLV)))
srv = c.servers[0]
ts = []
# serve = parse the request, run the operation, encode the response
for i in range(300):
    t = time.ticks_us()
    r = c.engine.request(parse(data), srv)
    out = enc(r)
    ts.append(time.ticks_diff(time.ticks_us(), t))
ts.sort()
print(ts[len(ts) // 2], r.code, len(r.payload))
"""


def read_3_0_us():
    env = dict(os.environ, MICROPYPATH=".frozen:" + os.path.join(ROOT, "build", "mpy"))
    out = subprocess.run([MICROPYTHON, "-c", READ_3_0], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True).stdout.split()
    if out[1] != str(0x45):
        raise SystemExit("read /3/0 failed: %s" % out)
    return int(out[0])


# figures the other parts of the project provide: (module, function)
PARTS = (("bench.report", "measure"), ("bench.dtls", "measure_all"),
         ("bench.bootstrap", "measure"), ("bench.parts", "measure"),
         ("bench.transport", "measure"), ("energy", "bench_figures"),
         ("bench.app", "measure"), ("targets.bench_targets", "measure"),
         ("bench.sms", "measure"), ("deploy.bench_deploy", "measure"),
         ("fota.bench", "measure"),
         ("bench.alloc", "measure"))    # (its read_3_0_us: the exchange's in-buffer path)


def main():
    res = {}
    sizes = build_mpy.build()
    res["mpy_bytes"] = sum(sizes.values())
    res["mpy_bytes_core"] = sum(v for k, v in sizes.items() if k in CORE)
    res["min_heap_wk"] = min_heap()
    s = session() or {}
    res.update(s)
    res["read_3_0_us"] = read_3_0_us()
    # figures other parts of the project provide, when they are there
    for mod, fn in PARTS:
        try:
            res.update(getattr(__import__(mod, None, None, [fn]), fn)())
        except ImportError as e:
            print("bench: %s left out (%s)" % (mod, e))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    old = {}
    if os.path.exists(OUT):
        with open(OUT) as f:
            old = json.load(f)
    old.update(res)
    with open(OUT, "w") as f:
        json.dump(old, f, indent=1, sort_keys=True)
    w = max(len(k) for k in old)
    for k in sorted(old):
        print("%-*s  %s" % (w, k, old[k]))
    print("-> %s" % os.path.relpath(OUT, ROOT))


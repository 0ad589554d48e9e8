"""Firmware update figures for `make bench` (tools/bench/core.py calls measure()):

fota_pull_kbps     our coap:// pull of a 256 KB package (Block2, 1024-byte
                   blocks) from aiocoap's file server on loopback: the client
                   (.mpy, unix port, real clock) in its own loop, KB/s
fota_coap_client_kbps  libcoap's coap-client fetching the same file from the
                   same server in the same run (-b 1024)
fota_pull_ratio    ours / coap-client's (goal >= 0.5)
fota_peak_heap_kb  live heap the download keeps (sampled after gc.collect()
                   every 4 blocks, code left out: frozen on a board)
fota_mpy_bytes     .mpy bytes (tools/build_mpy.py: the device build) of the
                   firmware-update code a coap:// pull loads (objects/firmware
                   + client/fwup + client/fwdl + boards/fwstore);
                   fota_mpy_bytes_resident: the part loaded at start-up
                   (objects/firmware); fota_push_mpy_bytes: what a push loads
                   (client/fwup_push instead of client/fwdl);
                   fota_http_mpy_bytes: client/http (http:// pulls only);
                   fota_update_mpy_bytes: client/fwup_boot + boards/fwapp,
                   loaded by Update and at the start after it (the download
                   code is not: another boot); fota_all_mpy_bytes: all
                   of it but client/http (pull, push, Update, the unix store)
fota_load_heap_kb  heap the pull code (CODE) keeps once imported from .mpy on
                   the unix port; fota_load_peak_kb: the most allocated while
                   importing it (a collection between modules, none inside)"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)
import build_mpy  # noqa: E402
from fota import package, serve  # noqa: E402

MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
MPY = os.path.join(ROOT, "build", "fota", "mpy")
CODE = ("objects/firmware.py", "client/fwup.py", "client/fwdl.py", "boards/fwstore.py")
PUSH = ("objects/firmware.py", "client/fwup.py", "client/fwup_push.py", "boards/fwstore.py")
UPDATE = ("client/fwup_boot.py", "boards/fwapp.py")

# the client with only the objects it needs (unix board, or the virtual
# clock with "virtual"), one pull in its own loop; mode "heap" samples the
# live heap every 4 blocks, "radio" turns the radio off for 120 s at block 20.
# Prints state, result, wall ms, peak live heap, blocks, radio-off ms
PULL = r"""
import gc, sys, time
from client.client import Client
from objects.firmware import Firmware
from objects.security import Security
from objects.server import Server
import client.fwup, client.fwdl, boards.fwstore, client.exchange
mode = sys.argv[3]
if sys.argv[4] == "virtual":
    # a slice of 300 ms real before the clock jumps: the file server answers
    # in a few ms and the poll returns then; a server that a loaded machine
    # stalls must not see the pull's 25 timeouts of a block go by in 0.75 s
    # (Update Result 4 in a stress run)
    from boards.virtual import VirtualBoard
    b = VirtualBoard(sys.argv[1], 300)
else:
    from boards.unix import Board
    b = Board(sys.argv[1])
fw = Firmware(b)
c = Client(b, "pull", [Security(), Server(), fw])
c.step()
gc.collect()
base = gc.mem_alloc()
peak = [0, 0, 0]
up = fw.u()
feed = up.feed


def on():
    b.radio = True


def probe(d):
    peak[1] += 1
    if mode == "heap" and peak[1] % 4 == 0:
        gc.collect()
        peak[0] = max(peak[0], gc.mem_alloc() - base)
    if mode == "radio" and peak[1] == 20:      # the modem goes to sleep mid-download
        b.radio = False
        peak[2] = b.clock.ms()
        c.at(120000, on)
    return feed(d)


up.feed = probe
t = time.ticks_ms()
fw.write(0, 1, sys.argv[2])
n = 0
while fw.inst[0][3] == 1 and n < 1000000:
    c.step()
    if fw.inst[0][3] != 1:
        break
    c.idle()
    n += 1
print("RESULT", fw.inst[0][3], fw.inst[0][5], time.ticks_diff(time.ticks_ms(), t), peak[0], peak[1],
      b.clock.ms() - peak[2] if peak[2] else 0)
"""


# the heap the firmware-update code of a pull takes when a download starts
# in a client: imported one module after the other from .mpy. Prints kept,
# peak (bytes)
LOAD = r"""
import gc, sys
from boards.unix import Board
from client.client import Client
from objects.firmware import Firmware
from objects.security import Security
from objects.server import Server
b = Board(sys.argv[1])
c = Client(b, "load", [Security(), Server(), Firmware(b)])    # what a client has loaded anyway
c.step()
gc.collect()
base = gc.mem_alloc()
peak = 0
for m in sys.argv[2].split(","):
    __import__(m)
    peak = max(peak, gc.mem_alloc() - base)     # no collection ran: all it allocated
    gc.collect()
print("LOAD", gc.mem_alloc() - base, peak)
"""


def load_heap(mpy=MPY):
    """(bytes kept, peak bytes) of importing the pull code (CODE) from the .mpy tree mpy"""
    st = tempfile.mkdtemp(prefix="fota-load-")
    try:
        script = os.path.join(st, "load.py")
        with open(script, "w") as f:
            f.write(LOAD)
        mods = ",".join(k[:-3].replace("/", ".") for k in CODE if k != "objects/firmware.py")
        p = subprocess.run([MICROPYTHON, script, st, mods], capture_output=True, text=True, cwd=st,
                           env=dict(os.environ, MICROPYPATH=".frozen:" + mpy), timeout=60)
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("LOAD")]
        if not line:
            raise RuntimeError("load failed: " + p.stdout[-500:] + p.stderr[-500:])
        return tuple(int(x) for x in line[0].split()[1:])
    finally:
        shutil.rmtree(st, ignore_errors=True)


def pull(uri, mode="-", clock="real", mpy=MPY):
    """(State, Update Result, ms, peak live heap bytes, blocks, ms since the
    radio went off) of one pull; mpy: the device code's folder"""
    st = tempfile.mkdtemp(prefix="fota-pull-")
    try:
        script = os.path.join(st, "pull.py")
        with open(script, "w") as f:
            f.write(PULL)
        env = dict(os.environ, MICROPYPATH=".frozen:" + mpy)
        p = subprocess.run([MICROPYTHON, script, st, uri, mode, clock],
                           capture_output=True, text=True, env=env, cwd=st, timeout=300)
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT")]
        if not line:
            raise RuntimeError("pull failed: " + p.stdout[-500:] + p.stderr[-500:])
        return tuple(int(x) for x in line[0].split()[1:])
    finally:
        shutil.rmtree(st, ignore_errors=True)


def coap_client(uri, out):
    exe = shutil.which("coap-client-notls") or shutil.which("coap-client")
    if not exe:
        return None
    t = time.monotonic()
    subprocess.run([exe, "-b", "1024", "-o", out, uri], check=True, timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t


def measure(runs=3):
    sizes = build_mpy.build(out=MPY)
    res = {"fota_mpy_bytes": sum(sizes[k] for k in CODE),
           "fota_mpy_bytes_resident": sizes["objects/firmware.py"],
           "fota_push_mpy_bytes": sum(sizes[k] for k in PUSH),
           "fota_http_mpy_bytes": sizes["client/http.py"],
           "fota_update_mpy_bytes": sum(sizes[k] for k in UPDATE),
           "fota_all_mpy_bytes": sum(sizes[k] for k in set(CODE + PUSH + UPDATE))}
    kept, peak = load_heap()
    res["fota_load_heap_kb"] = round(kept / 1024, 1)
    res["fota_load_peak_kb"] = round(peak / 1024, 1)
    d = tempfile.mkdtemp(prefix="fota-bench-files-")
    files = os.path.join(d, "files")
    os.mkdir(files)
    try:
        pkg = package.build(os.urandom(256 * 1024), package.IMAGE, "bench", "1.0")
        with open(os.path.join(files, "fw.pkg"), "wb") as f:
            f.write(pkg)
        kb = len(pkg) / 1024
        with serve.CoapFiles(files) as fs:
            uri = fs.uri("fw.pkg")
            ours, theirs = [], []
            for _ in range(runs):      # interleaved: the same load for both
                s, r, ms = pull(uri)[:3]
                if (s, r) != (2, 0):
                    raise RuntimeError("pull ended in state %d result %d" % (s, r))
                ours.append(kb / (ms / 1000))
                out = os.path.join(d, "cc.bin")
                t = coap_client(uri, out)
                if t is not None:
                    with open(out, "rb") as f:
                        if f.read() != pkg:
                            raise RuntimeError("coap-client got other bytes")
                    theirs.append(kb / t)
            res["fota_pull_kbps"] = round(max(ours), 1)
            if theirs:
                res["fota_coap_client_kbps"] = round(max(theirs), 1)
                res["fota_pull_ratio"] = round(max(ours) / max(theirs), 2)
            res["fota_peak_heap_kb"] = round(pull(uri, "heap")[3] / 1024, 1)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return res


if __name__ == "__main__":
    for k, v in sorted(measure().items()):
        print("%-24s %s" % (k, v))

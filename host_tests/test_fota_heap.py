"""The image is streamed, not held: the heap a coap:// pull (block 1024,
aiocoap's file server) keeps alive (live heap after gc.collect(), sampled
every 4 blocks, minus the live heap before the pull with the firmware-update
modules already imported) is the same for a 256 KB package as for a 16 KB
one, and bounded; the client runs from .mpy in the real client loop
(client.step/idle). The code itself is left out: on a board it is frozen
into flash (no heap); on the unix port its .mpy import takes ~26 KB."""
import os

import build_mpy
from conftest import MICROPYTHON, ROOT
from fota import serve
from fotautil import KB256, files_dir, pkg, state_dir

import subprocess

PROBE = r"""
import gc, sys
from boards.virtual import VirtualBoard
from client.client import Client
from objects.firmware import Firmware
from objects.security import Security
from objects.server import Server
import client.fwup, client.fwdl, client.block, boards.fwstore, client.exchange
b = VirtualBoard(sys.argv[1])
fw = Firmware(b)
c = Client(b, "heap", [Security(), Server(), fw])
c.step()
gc.collect()
base = gc.mem_alloc()
peak = [0, 0]
up = fw.u()
feed = up.feed


def probe(d):
    r = feed(d)
    peak[1] += 1
    if peak[1] % 4 == 0:
        gc.collect()
        peak[0] = max(peak[0], gc.mem_alloc() - base)
    return r


up.feed = probe
fw.write(0, 1, sys.argv[2])
gc.collect()
print("SETUP", gc.mem_alloc() - base)
n = 0
while fw.inst[0][3] == 1 and n < 200000:
    c.step()
    if fw.inst[0][3] != 1:
        break
    c.idle()
    n += 1
print("RESULT", fw.inst[0][3], fw.inst[0][5], peak[0], peak[1])
"""


def download_heap(uri, mpy=True):
    """(State, Update Result, peak live heap of the download in bytes, blocks)"""
    path = os.path.join(ROOT, "build", "fota", "mpy") if mpy else ROOT
    if mpy:
        build_mpy.build(out=path)      # a private compiled tree (build/ is shared)
    env = dict(os.environ, MICROPYPATH=".frozen:" + path)
    st = state_dir()
    script = os.path.join(st, "probe.py")
    with open(script, "w") as f:
        f.write(PROBE)
    p = subprocess.run([MICROPYTHON, script, st, uri], capture_output=True, text=True, env=env,
                       cwd=st, timeout=300)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT")]
    assert line, p.stdout + p.stderr
    return tuple(int(x) for x in line[0].split()[1:])


def test_256k_pull_heap_flat_in_image_size():
    d = files_dir()
    for name, size in (("small.pkg", 16 * 1024), ("fw.pkg", KB256)):
        with open(os.path.join(d, name), "wb") as f:
            f.write(pkg(size, "7.0", seed=13))
    with serve.CoapFiles(d) as fs:
        small = download_heap(fs.uri("small.pkg"))
        big = download_heap(fs.uri("fw.pkg"))
        assert 17 + 257 <= fs.requests() <= 17 + 257 + 12
    assert small[:2] == big[:2] == (2, 0) and big[3] == 257
    # what a 256 KB download keeps alive is what a 16 KB one does: streamed
    assert big[2] - small[2] <= 2048, (small, big)
    # exchange + transport + store + sink + the record: bounded, not the image
    assert big[2] <= 16 * 1024, big

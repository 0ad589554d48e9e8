"""The image is streamed, not held: the heap a coap:// pull (block 1024,
aiocoap's file server) keeps alive (live heap after gc.collect(), sampled
every 4 blocks, minus the live heap before the pull with the firmware-update
modules already imported) is the same for a 256 KB package as for a 16 KB
one, and bounded; the client runs from .mpy in the real client loop
(client.step/idle, tools/fota/bench.py's pull harness). The code itself is
left out: on a board it is frozen into flash (no heap). Loaded from .mpy it
takes ~9 KB on the 64-bit unix port (client/fwup + fwdl + boards/fwstore;
15 KB before they were cut down): bounded here too."""
import os

import build_mpy
from fota import bench, serve
from fotautil import KB256, files_dir, pkg
from mpharness import fragment


def test_256k_pull_heap_flat_in_image_size():
    build_mpy.build(out=bench.MPY)      # a private compiled tree (build/ is shared)
    d = files_dir()
    for name, size in (("small.pkg", 16 * 1024), ("fw.pkg", KB256)):
        with open(os.path.join(d, name), "wb") as f:
            f.write(pkg(size, "7.0", seed=13))
    with serve.CoapFiles(d) as fs:
        small = bench.pull(fs.uri("small.pkg"), "heap", "virtual")
        big = bench.pull(fs.uri("fw.pkg"), "heap", "virtual")
        assert 17 + 257 <= fs.requests() <= 17 + 257 + 12
    assert small[:2] == big[:2] == (2, 0) and big[4] == 257
    # what a 256 KB download keeps alive is what a 16 KB one does: streamed
    assert big[3] - small[3] <= 2048, (small, big)
    # transport + request in flight + the block being written + store, sink and
    # the record: ~5 KB on the 64-bit unix port, not the image
    assert big[3] <= 6 * 1024, big


def test_pull_code_load_heap():
    # importing the pull code from .mpy when a download starts (64-bit unix
    # port): what it keeps and the most it allocates meanwhile
    build_mpy.build(out=bench.MPY)      # a private compiled tree (build/ is shared)
    kept, peak = bench.load_heap()
    assert kept <= 11 * 1024 and peak <= 12 * 1024, (kept, peak)


# a pull whose datagram finds no heap (the 20th recv raises MemoryError, as
# the unix board's recv does on a full heap): the download ends with Update
# Result 3 (out of RAM), the client goes on (its loop never sees the error),
# the partial download stays, and the same URI written again resumes from
# the offset saved and ends Downloaded with the digest checked
OOM = r"""
from boards.virtual import VirtualBoard
from client.client import Client
from objects.firmware import Firmware
from objects.security import Security
from objects.server import Server
b = VirtualBoard(STATE)
fw = Firmware(b)
c = Client(b, "oom", [Security(), Server(), fw])
lines = []
c.log = lambda *a: lines.append(" ".join(str(x) for x in a))
n = [0]
make = c.transport


def transport(uri, sec):
    t = make(uri, sec)
    rx = t.recv

    def recv(*a):
        n[0] += 1
        if n[0] == 20:
            raise MemoryError("memory allocation failed, allocating 1500 bytes")
        return rx(*a)
    t.recv = recv
    return t


c.transport = transport


def pull():
    fw.write(0, 1, URI)
    for _ in range(100000):
        c.step()
        if fw.inst[0][3] != 1:
            break
        c.idle()
    return fw.inst[0][3], fw.inst[0][5]


print(pull(), fw.rec.get("o"))
print([x for x in lines if "MemoryError" in x])
c.step()
c.idle()
print(pull(), fw.rec.get("pv"))
print([x for x in lines if x.startswith("fw pull")])
"""


def test_no_heap_for_a_datagram_ends_the_download_result_3_not_the_client(mp, tmp_path):
    d = files_dir()
    with open(os.path.join(d, "fw.pkg"), "wb") as f:
        f.write(pkg(64 * 1024, "7.1", seed=5))
    with serve.CoapFiles(d) as fs:
        src = "STATE = %r\nURI = %r\n" % (str(tmp_path), fs.uri("fw.pkg")) + OOM
        out = mp(src).strip().split("\n")
    res, off = out[0].rsplit(" ", 1)
    assert res == "(0, 3)" and int(off) >= 8192, out     # Out of RAM; the bytes saved stay
    assert "task failed MemoryError" in out[1], out      # logged by the client, which went on
    assert out[2] == "(2, 0) 7.1", out                   # the same URI again: Downloaded, digest checked
    assert out[3].endswith("from %s']" % off) and "from 0'" in out[3], out     # resumed, not restarted


# the digest before Downloaded reads the store back into the board's spare:
# a heap the download left fragmented (here: no block free for the 256
# bytes a read needs) still checks the image; without the spare
# that read has no room
DIGEST = r"""
from binascii import hexlify
from boards.fwstore import FileStore
st = FileStore(STATE)
spare = bytearray(1280)
""" + fragment(200, 256, 1200) + r"""
print(hexlify(st.sha256(N, spare)).decode())
try:
    st.sha256(N)
    print("read")
except MemoryError:
    print("no room")
"""


def test_the_digest_reads_into_the_spare_in_a_fragmented_heap(mp, tmp_path):
    import hashlib
    data = os.urandom(20000)
    with open(os.path.join(str(tmp_path), "fw.dl"), "wb") as f:
        f.write(data + b"left by a longer download")     # the digest covers the package's bytes only
    out = mp("STATE = %r\nN = %d\n" % (str(tmp_path), len(data)) + DIGEST, heap="64k").strip().split("\n")
    assert out == ["fragmented", hashlib.sha256(data).hexdigest(), "no room"], out

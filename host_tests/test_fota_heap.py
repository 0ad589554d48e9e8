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

"""Device-reality figures on the builds of tools/targets/vendor_build.py (`make bench`):

- min_heap_32_kb: the smallest GC heap (KB, bytes/1024) in which the full
  session over DTLS-PSK (register, reads, write, 10 observations + a notify,
  execute, discover, de-register) completes on the 32-bit unix build, the
  client loaded from .mpy (compiled by the snapshot's own mpy-cross);
- min_heap_32_romfs_kb: the same with the .mpy in a ROMFS image run in place
  (cmods/romimg stands in for the memory-mapped partition);
- min_heap_32_frozen_kb: the same with the code frozen into the build;
- fota_min_heap_32_frozen_kb: the scripted session over plain UDP, then a
  256 KB coap:// pull (aiocoap's file server, 1024-byte blocks) until
  Downloaded, frozen; min_heap_32_udp_frozen_kb: that session without the
  pull; fota_heap_over_32_kb: the difference, what a download needs beyond
  the client (goal 4);
- qemu_min_heap_kb: the same session in memory (tools/targets/memsession.py)
  frozen into the Cortex-M3 (MPS2_AN385) firmware under qemu-system-arm;
- frozen_flash_kb: flash taken by the frozen device code in that firmware.
Every run of a session is bounded; a failed or hung run counts as too small."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import vendor_build as build  # noqa: E402

ROOT = build.ROOT
MPY_OUT = os.path.join(build.OUT, "mpy")    # + "-<key of the sources>", see compile_mpy
KEY = bytes(range(16))
OBSERVED = ("/3303/0/5750", "/3/0/13", "/3303/0/5700", "/3/0/0", "/3/0/1", "/3/0/2",
            "/3/0/3", "/4/0/0", "/1/0/1", "/19/0/3")
PY = os.path.join(ROOT, ".venv", "bin", "python")


def mpy_dir():
    """Where compile_mpy puts the .mpy of the sources as they are now (a key of
    the inlined tree, which build_mpy.tree names by its content, and -O)."""
    import build_mpy
    return MPY_OUT + "-%s-O%d" % (os.path.basename(build_mpy.tree(build.SRC)), build_mpy.OPT)


def compile_mpy():
    """The device code as .mpy (build_mpy.build: the inlined sources, with the
    snapshot's own mpy-cross) under build/targets/mpy-<key>: one folder per
    state of the sources, so runs in parallel never see a half-written or
    stale tree."""
    import build_mpy
    out = mpy_dir()
    if os.path.isdir(out):
        return out
    build_mpy.build(out=out + ".tmp%d" % os.getpid(), root=build.SRC, mpy_cross=build.mpy_cross())
    try:
        os.rename(out + ".tmp%d" % os.getpid(), out)
    except OSError:     # another run made it meanwhile
        pass
    return out


def romfs_image():
    """The .mpy tree of compile_mpy as a ROMFS image (mpremote's writer, as
    `mpremote romfs build` makes it for a board's ROMFS partition)."""
    src = compile_mpy()
    img = src + ".romfs"
    if not os.path.exists(img):
        import contextlib
        import io
        from mpremote.commands import make_romfs
        with contextlib.redirect_stdout(io.StringIO()):     # (it prints the tree)
            data = make_romfs(src, mpy_cross=False)
        with open(img + ".tmp%d" % os.getpid(), "wb") as f:
            f.write(data)
        os.rename(img + ".tmp%d" % os.getpid(), img)
    return img


# the ROMFS image mounted as a board mounts its partition: the image in
# memory outside the GC heap (cmods/romimg), its .mpy files run in place
ROMFS_PRE = ("import sys, vfs, romimg\nvfs.mount(vfs.VfsRom(romimg.load(%r)), '/rom')\n"
             "sys.path.insert(0, '/rom')\n")


class Client32:
    """firmware/main.py on the 32-bit unix build, from .mpy (compile_mpy), heap
    in bytes; frozen: the code frozen in; romfs: the .mpy in a ROMFS image."""

    def __init__(self, uri, ep, *args, heap=None, mpy=True, frozen=False, romfs=False):
        argv = ["--server", uri, "--endpoint", ep, "--clock", "real"] + list(args)
        cmd = [build.unix32(frozen)]
        if heap:
            cmd += ["-X", "heapsize=%d" % heap]
        pre = "import sys\nsys.path.remove('')\n" if mpy else ""
        if romfs:
            pre += ROMFS_PRE % romfs_image()
        cmd += ["-c", pre + "from firmware import main\nmain.main(%r)" % argv]
        path = ".frozen" if frozen or romfs else ".frozen:" + (compile_mpy() if mpy else build.SRC)
        env = dict(os.environ, MICROPYPATH=path)
        self.out = tempfile.TemporaryFile("w+")
        self.p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.out,
                                  stderr=subprocess.STDOUT, text=True)

    def stop(self, timeout=10):
        """Ctrl-C (the client de-registers); returns its output."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.out.seek(0)
        return self.out.read()


def dtls_session(heap=None, mpy=True, timeout=10, formats=(11542, 110, 112), frozen=False, romfs=False):
    """The full DTLS-PSK session on the 32-bit build; (ok, client output).
    frozen: the device code frozen into the build (no .mpy loaded); romfs:
    the .mpy run in place from a ROMFS image."""
    from devserver.dtls_front import DtlsFront
    from lwm2m_server import Server
    with Server(port=0) as srv, DtlsFront(("127.0.0.1", srv.port), {"dev1": KEY}) as f:
        c = Client32("coaps://127.0.0.1:%d" % f.addr[1], "t32", "--lifetime", "300",
                     "--psk-identity", "dev1", "--psk-key", KEY.hex(), heap=heap, mpy=mpy, frozen=frozen,
                     romfs=romfs)
        out = ""
        try:
            ok = run_session(srv, "t32", timeout, c.p, formats)
        except Exception as e:     # a client that ran out of heap answers nothing
            ok = False
            out = "session: %r\n" % e
        n = len(srv.events)
        out = c.stop() + out
        if ok:
            try:
                ok = srv.wait_event("deregister", "t32", after=n, timeout=timeout) is not None
            except Exception:
                ok = False
        return ok and "MemoryError" not in out, out


def udp_session(heap, frozen=True, pull=None, timeout=10):
    """The scripted session over plain UDP on the 32-bit build (the code
    frozen), then, with pull (a coap:// Package URI), the download until
    State Downloaded; True when it all went through and no MemoryError was
    logged (a download without heap ends with Update Result 3)."""
    from lwm2m_server import Server
    st = tempfile.mkdtemp(prefix="fota32-")
    with Server(port=0) as srv:
        c = Client32("coap://127.0.0.1:%d" % srv.port, "u32", "--lifetime", "300", "--state", st,
                     heap=heap, frozen=frozen)
        try:
            ok = run_session(srv, "u32", timeout, c.p, (11542,))
            if ok and pull:
                ok = srv.write("u32", "/5/0/1", pull.encode(), 0, timeout=timeout).code == "2.04"
                end = time.monotonic() + 60
                while ok and time.monotonic() < end:
                    s = srv.read("u32", "/5/0/3", accept=0, timeout=timeout).payload
                    if s != b"1":
                        ok = s == b"2"
                        break
                    time.sleep(0.1)
                else:
                    ok = False
        except Exception:      # a client that ran out of heap answers nothing
            ok = False
        out = c.stop()
        shutil.rmtree(st, ignore_errors=True)
        return ok and "MemoryError" not in out


def fota_heap(res):
    """fota_min_heap_32_frozen_kb, min_heap_32_udp_frozen_kb, fota_heap_over_32_kb"""
    sys.path.insert(0, os.path.dirname(HERE))
    from fota import package, serve
    d = tempfile.mkdtemp(prefix="fota32-files-")
    try:
        with open(os.path.join(d, "fw.pkg"), "wb") as f:
            f.write(package.build(os.urandom(256 * 1024), package.IMAGE, "bench", "1.0"))
        with serve.CoapFiles(d) as fs:
            for key, uri in (("min_heap_32_udp_frozen_kb", None), ("fota_min_heap_32_frozen_kb", fs.uri("fw.pkg"))):
                h = min_heap(lambda n: all(udp_session(n, True, uri) for _ in range(3)), 8 * 1024, 160 * 1024, 1024, 2)
                res[key] = h and h // 1024
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if res.get("fota_min_heap_32_frozen_kb") and res.get("min_heap_32_udp_frozen_kb"):
        res["fota_heap_over_32_kb"] = res["fota_min_heap_32_frozen_kb"] - res["min_heap_32_udp_frozen_kb"]


def run_session(srv, ep, timeout, proc=None, formats=(11542, 110, 112)):
    # register, read /3/0 (in each of formats), write, 10 observations and a
    # notification, execute, discover; True when all went as expected
    for _ in range(int(timeout / 0.25)):     # a client that died (MemoryError) never registers
        if srv.registration(ep) or proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    srv.wait_registration(ep, timeout=0.1)
    ok = all(srv.read(ep, "/3/0", accept=a, timeout=timeout).code == "2.05" for a in formats)
    n = len(srv.events)
    ok &= srv.write(ep, "/1/0/1", b"120", 0, timeout=timeout).code == "2.04"
    srv.wait_event("update", ep, after=n, timeout=timeout)
    obs = [srv.observe(ep, p, timeout=timeout) for p in OBSERVED]
    ok &= all(o.first.code == "2.05" for o in obs)
    ok &= srv.write(ep, OBSERVED[0], b"vault", 0, timeout=timeout).code == "2.04"
    ok &= obs[0].wait(1, timeout=timeout)[-1].payload == b"vault"
    n = len(srv.events)
    ok &= srv.execute(ep, "/1/0/8", timeout=timeout).code == "2.04"
    srv.wait_event("update", ep, after=n, timeout=timeout)
    ok &= srv.discover(ep, "/3/0", timeout=timeout).code == "2.05"
    return ok


def qemu_run(elf, script, timeout=120):
    """Run a script on the firmware under qemu through the snapshot's pyboard.py."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
    try:
        p = subprocess.run([PY, build.pyboard(), "-d", "execpty:" + build.qemu_cmd(elf), f.name],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return "timeout\n" + (e.stdout or b"").decode(errors="replace")
    finally:
        os.unlink(f.name)
    return p.stdout + p.stderr


SESSION = "import memsession\nmemsession.session(info=%r)\n"


def qemu_session(heap=build.QEMU_HEAP, info=False, inline=True):
    """(ok, output) of the frozen in-memory session on the Cortex-M3."""
    out = qemu_run(build.qemu(heap, inline=inline), SESSION % info)
    return "SESSION OK" in out, out


def bisect(ok, lo, hi, step):
    """Smallest value in (lo, hi] (multiples of step) for which ok() holds; lo
    is taken to fail, hi must pass (else None)."""
    if not ok(hi):
        return None
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def min_heap(ok, lo, hi, step, window=4):
    """The smallest heap from which on the session passes: a heap's layout
    differs with its size, so near the limit a size can fail above one that
    passed. Bisection, then the next `window` sizes up must pass too, else
    the search goes on above the one that failed."""
    seen = {}

    def once(n):
        if n not in seen:
            seen[n] = ok(n)
        return seen[n]
    while True:
        h = bisect(once, lo, hi, step)
        if h is None:
            return None
        bad = [n for n in range(h + step, min(h + window * step, hi - step) + 1, step) if not once(n)]
        if not bad:
            return h
        lo = bad[-1]


COSTS = r"""
import gc, sys
sys.path[:] = PATH
mods = MODS
gc.collect()
base = last = gc.mem_alloc()
for m in mods:
    try:
        __import__(m)
    except ImportError:
        continue
    gc.collect()
    a = gc.mem_alloc()
    print(m, a - last)
    last = a
print("TOTAL", last - base)
"""


def module_costs(frozen=False):
    """{module: GC heap bytes its import takes} on the 32-bit build, for the
    modules the DTLS session loads (client/ from .mpy, or frozen), in import
    order, and "TOTAL"."""
    # (client.ids: no longer imported once the build has folded its numbers)
    mods = ["client.codes", "client.model", "client.coap", "client.render",
            "client.text", "client.exchange", "client.tlv", "client.engine", "client.reg",
            "client.client", "client.setup", "objects.security", "objects.server", "objects.device",
            "objects.connmon", "objects.acl", "objects.firmware", "client.app", "objects.ipso",
            "objects.appdata", "boards.unix", "firmware.main", "client.crypto", "client.dtlsrec", "client.dtls",
            "client.report"]
    path = [".frozen"] if frozen else [".frozen", compile_mpy()]
    src = COSTS.replace("PATH", repr(path)).replace("MODS", repr(mods))
    p = subprocess.run([build.unix32(frozen), "-X", "heapsize=1000000", "-c", src], capture_output=True,
                       text=True, cwd=ROOT, timeout=60)
    return {k: int(v) for k, v in (x.split() for x in p.stdout.splitlines())}


def _all3(heap, frozen, romfs=False):
    # the real clock and sockets make a run near the limit vary (when the GC
    # runs, a retransmission): a heap counts when three runs in a row pass
    return all(dtls_session(heap, formats=(11542,), frozen=frozen, romfs=romfs)[0] for _ in range(3))


def measure():
    res = {}
    try:
        _measure(res)
    except Exception as e:      # a build that fails here must not end the whole bench
        print("bench_targets: %r" % e)
    return res


def _measure(res):
    why = build.missing()
    if why:
        print("bench_targets: " + why)
        return
    tools = build.missing_tools("arm-none-eabi-gcc", "qemu-system-arm")
    if tools:
        print("bench_targets: " + tools)
    else:
        # frozen as every device build is: the inlined tree (tools/build_mpy.py tree()) at -O3
        elf = build.qemu(build.QEMU_HEAP, harness=False)
        res["frozen_flash_kb"] = round(build.frozen_bytes(elf) / 1024, 1)
        h = min_heap(lambda n: qemu_session(n)[0], 8 * 1024, 96 * 1024, 512)
        res["qemu_min_heap_kb"] = h and round(h / 1024, 1)
    if build.missing_tools("multilib"):
        print("bench_targets: " + build.missing_tools("multilib"))
        return
    compile_mpy()
    # DM operations in the server's default format (TLV), as the 64-bit figures
    h = min_heap(lambda n: _all3(n, False), 16 * 1024, 256 * 1024, 1024, 2)
    res["min_heap_32_kb"] = h and h // 1024
    # the .mpy in a ROMFS image, run in place (a firmware with a ROMFS
    # partition, `mpremote romfs deploy`): the bytecode stays in flash, the
    # functions' and modules' tables are made in the heap
    h = min_heap(lambda n: _all3(n, False, True), 16 * 1024, 256 * 1024, 1024, 2)
    res["min_heap_32_romfs_kb"] = h and h // 1024
    # the same with the device code frozen into the firmware (FROZEN_MANIFEST,
    # as firmware/manifest.py does for ESP32): code in flash, not in the heap
    h = min_heap(lambda n: _all3(n, True), 8 * 1024, 160 * 1024, 1024, 2)
    res["min_heap_32_frozen_kb"] = h and h // 1024
    # a firmware download on top of the plain-UDP session, code frozen
    fota_heap(res)
    # where it goes: the heap the device code itself takes once imported
    for frozen, key in ((False, "heap_32_code_kb"), (True, "heap_32_frozen_code_kb")):
        c = module_costs(frozen)
        res[key] = round(c.pop("TOTAL") / 1024, 1)
        print("bench_targets: %s, heaviest imports (B): %s" % (key, ", ".join(
            "%s %d" % kv for kv in sorted(c.items(), key=lambda kv: -kv[1])[:8])))


if __name__ == "__main__":
    print(measure())

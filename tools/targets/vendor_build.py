"""Builds of the vendored MicroPython snapshot (../shared/vendor) for the
device-reality tests: mpy-cross, the qemu port for MPS2_AN385 (Cortex-M3)
with the device code frozen in, and the unix port built 32-bit (-m32).

Everything is built under build/targets/ (never in the repository) and kept
by a key made of the tarball's hash and the build's inputs, so a repeated run
costs nothing. `python tools/targets/vendor_build.py [mpy-cross|unix32|qemu]`."""
import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import build_mpy  # noqa: E402
VENDOR = os.path.join(os.path.dirname(ROOT), "shared", "vendor")
OUT = os.path.join(ROOT, "build", "targets")
BIN = os.path.join(OUT, "bin")
MANIFEST = os.path.join(HERE, "manifest.py")
# the device code to freeze / compile: the work tree, or (H3_SRC=DIR) another
# copy of it, e.g. `git archive HEAD client objects firmware` for a stable figure
SRC = os.path.abspath(os.environ.get("H3_SRC", ROOT))
CMODS = os.path.join(HERE, "cmods")
# Debian packages the builds need (the Makefile's `targets` installs them)
TOOLS = {"arm-none-eabi-gcc": "gcc-arm-none-eabi", "qemu-system-arm": "qemu-system-arm"}
QEMU_ARGS = "-machine mps2-an385 -nographic -monitor null -semihosting"
UNIX32_FLAGS = ["CFLAGS_EXTRA=-m32", "LDFLAGS_EXTRA=-m32", "MICROPY_PY_FFI=0",
                "MICROPY_PY_SSL=0", "MICROPY_PY_BTREE=0", "FROZEN_MANIFEST=",
                "MICROPY_STANDALONE=0"]
# the qemu port's default GC heap (its Makefile's 143,360 B): room for bisection
QEMU_HEAP = 143360


def tarball():
    t = sorted(glob.glob(os.path.join(VENDOR, "micropython-*.tar.gz")))
    return t[-1] if t else None


def missing():
    """Why the targets cannot be built here (None when they can)."""
    if not tarball():
        return "no MicroPython snapshot in ../shared/vendor/ (a user's clone): targets tests skip"
    return None


def missing_tools(*names):
    """names: commands of TOOLS, or "multilib" (32-bit gcc libraries)"""
    out = [TOOLS[n] for n in names if n in TOOLS and not shutil.which(n)]
    if "multilib" in names and not glob.glob("/usr/lib/gcc/x86_64-linux-gnu/*/32/libgcc.a"):
        out.append("gcc-multilib")
    if out:
        return "Debian packages missing (make targets installs them): " + " ".join(out)
    return None


def _hash(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def _file_hash(paths):
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.encode())
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:12]


_TAR_KEY = {}


def tar_key():
    t = tarball()
    st = os.stat(t)
    k = (t, st.st_size, st.st_mtime)
    if k not in _TAR_KEY:
        _TAR_KEY[k] = _file_hash([t])
    return _TAR_KEY[k]


class _Lock:
    # one build at a time (pytest workers, bench)
    def __enter__(self):
        os.makedirs(OUT, exist_ok=True)
        self.f = open(os.path.join(OUT, ".lock"), "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)

    def __exit__(self, *a):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def tree():
    """The extracted snapshot (build/targets/src-<key>/micropython)."""
    d = os.path.join(OUT, "src-" + tar_key())
    top = os.path.join(d, "micropython")
    if not os.path.isdir(top):
        tmp = d + ".tmp%d" % os.getpid()
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        with tarfile.open(tarball()) as tf:
            tf.extractall(tmp, filter="data")
        try:
            os.rename(tmp, d)
        except OSError:     # another process was first
            shutil.rmtree(tmp, ignore_errors=True)
    # the qemu Makefile insists on a micropython-lib checkout when freezing
    lib = os.path.join(d, "mpylib")
    os.makedirs(lib, exist_ok=True)
    open(os.path.join(lib, "README.md"), "a").close()
    return top


def _make(args, log):
    with open(log, "w") as f:
        p = subprocess.run(["make", "-j2"] + args, stdout=f, stderr=subprocess.STDOUT)
    if p.returncode:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError("build failed (%s):\n%s" % (log, tail))


def mpy_cross():
    """Path of the snapshot's mpy-cross (built once per tarball)."""
    with _Lock():
        top = tree()
        exe = os.path.join(top, "mpy-cross", "build", "mpy-cross")
        if not os.path.exists(exe):
            _make(["-C", os.path.join(top, "mpy-cross")], os.path.join(OUT, "mpy-cross.log"))
        return exe


# boards/ modules frozen into the 32-bit unix build: the board, and the file
# firmware stores every board has (the device manifest's fota part)
BOARDS32 = ("unix", "fwstore", "fwapp")


def unix32(frozen=False, inline=True):
    """Path of the 32-bit unix port (cryptolib through cmods/aes); frozen: with
    the device code (and BOARDS32) frozen in, as a custom firmware
    would have it (FROZEN_MANIFEST), instead of loading .mpy files into RAM;
    inline: the build's inlined sources (build_mpy.tree), as every device build."""
    cm = glob.glob(os.path.join(CMODS, "**", "*.*"), recursive=True)
    flags = UNIX32_FLAGS
    src = frozen_src(inline) if frozen else SRC
    if frozen:
        flags = [f for f in flags if not f.startswith("FROZEN_MANIFEST")] + [
            "FROZEN_MANIFEST=" + MANIFEST, "MPY_LIB_DIR=" + os.path.join(OUT, "src-" + tar_key(), "mpylib")]
        cm += frozen_files(src) + [MANIFEST] + [os.path.join(src, "boards", b + ".py") for b in BOARDS32]
    key = _hash(tar_key(), flags, _file_hash(cm), *([build_mpy.OPT] if frozen else []))
    exe = os.path.join(BIN, "micropython32-" + ("frozen-" if frozen else "") + key)
    if os.path.exists(exe):
        return exe
    mpy_cross()
    with _Lock():
        if not os.path.exists(exe):
            top = tree()
            bdir = "build-32%s" % ("f" if frozen else "")
            shutil.rmtree(os.path.join(top, "ports", "unix", bdir, "frozen_mpy"), ignore_errors=True)
            os.environ.update(H3_HARNESS="0", H3_SRC=src, H3_BOARDS=" ".join(BOARDS32) if frozen else "",
                              H3_OPT=str(build_mpy.OPT))
            _make(["-C", os.path.join(top, "ports", "unix"), "BUILD=" + bdir,
                   "USER_C_MODULES=" + CMODS] + flags,
                  os.path.join(OUT, "unix32.log"))
            os.makedirs(BIN, exist_ok=True)
            shutil.copy(os.path.join(top, "ports", "unix", bdir, "micropython"), exe + ".tmp")
            os.rename(exe + ".tmp", exe)
    return exe


def frozen_src(inline=True):
    """The sources the manifest freezes: the build's inlined tree (with the
    in-memory session's modules rewritten beside them), or (inline=False)
    the plain sources, for comparison."""
    if not inline:
        return SRC
    return build_mpy.tree(SRC, extra=(os.path.join(HERE, "memsession.py"), os.path.join(HERE, "memnum.py")))


def frozen_files(src=None):
    """The files the qemu manifest may freeze (for the cache key)."""
    src = src or SRC
    here = src if os.path.exists(os.path.join(src, "memsession.py")) else HERE
    out = [os.path.join(src, "firmware", "main.py"), os.path.join(here, "memsession.py"),
           os.path.join(here, "memnum.py")]
    for d in ("client", "objects"):
        out += glob.glob(os.path.join(src, d, "**", "*.py"), recursive=True)
    return out


def qemu(heap=QEMU_HEAP, harness=True, inline=True):
    """Path of firmware.elf for MPS2_AN385 with the device code frozen in and
    a GC heap of `heap` bytes; harness: the in-memory session (memsession.py)
    frozen too (without it: the device code alone, for its flash size);
    inline: frozen from the build's inlined tree, as every device build
    (False: the plain sources, for comparison)."""
    src = frozen_src(inline)
    key = _hash(tar_key(), heap, harness, inline, build_mpy.OPT, _file_hash(frozen_files(src) + [MANIFEST]))
    elf = os.path.join(BIN, "qemu-%s-%d%s.elf" % (key, heap, "" if harness else "-bare"))
    if os.path.exists(elf):
        return elf
    mpy_cross()
    with _Lock():
        if not os.path.exists(elf):
            top = tree()
            port = os.path.join(top, "ports", "qemu")
            build = os.path.join(port, "build-h3")
            # only the heap's size changes between builds: recompile main.c;
            # and the frozen .mpy anew (the manifest tool goes by mtimes, which
            # a copy of the sources, H3_SRC, does not keep in order)
            for o in glob.glob(os.path.join(build, "main.*")):
                os.unlink(o)
            shutil.rmtree(os.path.join(build, "frozen_mpy"), ignore_errors=True)
            os.environ.update(H3_HARNESS="1" if harness else "0", H3_BOARDS="", H3_SRC=src,
                              H3_OPT=str(build_mpy.OPT))
            _make(["-C", port, "BOARD=MPS2_AN385", "BUILD=build-h3",
                   "FROZEN_MANIFEST=" + MANIFEST,
                   "MPY_LIB_DIR=" + os.path.join(os.path.dirname(top), "mpylib"),
                   "MICROPY_HEAP_SIZE=%d" % heap], os.path.join(OUT, "qemu.log"))
            os.makedirs(BIN, exist_ok=True)
            shutil.copy(os.path.join(build, "firmware.elf"), elf + ".tmp")
            shutil.copy(os.path.join(build, "frozen_content.o"), elf[:-4] + ".frozen.o")
            os.rename(elf + ".tmp", elf)
            prune()
    return elf


def frozen_bytes(elf):
    """Flash bytes of the frozen modules (text + data of frozen_content.o)."""
    out = subprocess.run(["arm-none-eabi-size", elf[:-4] + ".frozen.o"], capture_output=True,
                         text=True, check=True).stdout.split("\n")[1].split()
    return int(out[0]) + int(out[1])


def prune(keep=24):
    """Drop all but the newest `keep` cached firmwares / .mpy trees (each run
    on changed sources makes new ones) and extractions of other tarballs."""
    for pat, n in (("bin/qemu-*.elf", keep), ("bin/micropython32-*", 6), ("mpy-*", 6)):
        found = [p for p in glob.glob(os.path.join(OUT, pat))
                 if not p.endswith((".log", ".o")) and ".tmp" not in os.path.basename(p)]
        old = sorted(found, key=os.path.getmtime)[:-n]
        for p in old:
            if os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                for q in (p, p[:-4] + ".frozen.o"):
                    if os.path.exists(q):
                        os.unlink(q)
    if tarball():
        for d in glob.glob(os.path.join(OUT, "src-*")):
            if os.path.basename(d) != "src-" + tar_key() and ".tmp" not in os.path.basename(d):
                shutil.rmtree(d, ignore_errors=True)


def qemu_cmd(elf):
    return "qemu-system-arm %s -serial pty -kernel %s" % (QEMU_ARGS, elf)


def pyboard():
    return os.path.join(tree(), "tools", "pyboard.py")


if __name__ == "__main__":
    why = missing()
    if why:
        raise SystemExit(why)
    for what in sys.argv[1:] or ["mpy-cross", "unix32", "qemu"]:
        print(what, {"mpy-cross": mpy_cross, "unix32": unix32, "qemu": qemu}[what]())

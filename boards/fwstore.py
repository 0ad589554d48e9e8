# Firmware store on a file system (objects/firmware.py talks to it through
# begin/write/finish/apply/confirm): the unix port's "image" store, and the
# application-bundle store of every board. The package payload is written
# to <state>/fw.dl as it arrives. Apply:
#   kind 0 (image): fw.dl becomes fw.img (the old one kept as fw.img.old);
#   kind 1 (app bundle, tools/fota/package.py): unpacked into <state>/app.new,
#       then swapped in by renames (app -> app.old, app.new -> app); a reset
#       between the two renames is repaired by swap() at the next start.
# Then reboot(): the unix port exits with code 4 and tools/devclient.py
# starts it again. revert() brings the old one (.old) back.
import os
from micropython import const
from hashlib import sha256

REBOOT_EXIT = const(4)
_CAP = const(4194304)
DL = "fw.dl"
IMG = "fw.img"
APP = "app"


def _rm(p):
    # a file or a whole folder
    try:
        if os.stat(p)[0] & 0x4000:
            for e in os.listdir(p):
                _rm(p + "/" + e)
            os.rmdir(p)
        else:
            os.remove(p)
    except OSError:
        pass


def _is(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def swap(d):
    # finish an app swap a reset cut short (app moved away, app.new not in yet)
    a = d + "/" + APP
    if not _is(a) and _is(a + ".new"):
        os.rename(a + ".new", a)


class FileStore:
    def __init__(self, d, cap=_CAP):
        self.d = d
        self.cap = cap
        self.f = None
        self.n = 0          # bytes written (durable: plain file writes)
        self.kind = 0
        swap(d)

    def p(self, name):
        return self.d + "/" + name

    def begin(self, size, kind):
        if kind > 1:
            raise ValueError("kind")
        if size and size > self.cap:
            raise OSError(28)
        self.close()
        self.kind = kind
        self.f = open(self.p(DL), "wb")
        self.n = 0

    def resume(self, off, kind):
        self.close()
        self.kind = kind
        self.f = open(self.p(DL), "r+b")
        self.f.seek(off)
        self.n = off

    def write(self, off, data):
        if off + len(data) > self.cap:
            raise OSError(28)
        if off != self.n:
            self.f.seek(off)
        self.f.write(data)
        self.n = off + len(data)

    def finish(self):
        self.close()

    def close(self):
        if self.f:
            self.f.close()
            self.f = None

    def sha256(self, n):
        h = sha256()
        b = bytearray(1024)
        m = memoryview(b)
        with open(self.p(DL), "rb") as f:
            while n > 0:
                k = f.readinto(b)
                if not k:
                    raise OSError(5)
                k = min(k, n)
                h.update(m[:k])
                n -= k
        return h.digest()

    def apply(self, rec):
        if rec.get("k") == 1:
            a = self.p(APP)
            _rm(a + ".new")
            self.unpack(a + ".new")
            _rm(a + ".old")
            if _is(a):
                os.rename(a, a + ".old")
            os.rename(a + ".new", a)
            os.remove(self.p(DL))
        else:
            i = self.p(IMG)
            if _is(i):
                _rm(i + ".old")
                os.rename(i, i + ".old")
            os.rename(self.p(DL), i)

    def unpack(self, to):
        # bundle: entries of name length u8, name, size u32 BE, bytes
        os.mkdir(to)
        b = bytearray(512)
        with open(self.p(DL), "rb") as f:
            while True:
                n = f.read(1)
                if not n:
                    break
                name = str(f.read(n[0]), "utf-8")
                if not name or "/" in name or name[0] == ".":
                    raise ValueError("name")
                left = int.from_bytes(f.read(4), "big")
                with open(to + "/" + name, "wb") as o:
                    while left:
                        k = f.readinto(memoryview(b)[:min(left, 512)])
                        if not k:
                            raise ValueError("short")
                        o.write(memoryview(b)[:k])
                        left -= k

    def reboot(self):
        raise SystemExit(REBOOT_EXIT)

    def booted(self, rec):
        # after the reboot of an apply: running the new package?
        return _is(self.p(APP if rec.get("k") == 1 else IMG))

    def confirm(self, rec):
        pass        # the old one stays (.old) for a roll-back until the next update

    def revert(self, rec):
        p = self.p(APP if rec.get("k") == 1 else IMG)
        if _is(p + ".old"):
            _rm(p)
            os.rename(p + ".old", p)

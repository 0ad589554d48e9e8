# Firmware store on a file system (objects/firmware.py talks to it through
# begin/write/finish/apply/confirm): the unix port's "image" store, and the
# application-bundle store of every board. The package payload is written
# to <state>/fw.dl as it arrives. Apply:
#   kind 0 (image): fw.dl becomes fw.img (the old one kept as fw.img.old);
#   kind 1 (app bundle, tools/fota/package.py): unpacked into <state>/app.new
#       (boards/fwapp.py), then swapped in by renames (app -> app.old, app.new
#       -> app); a reset between the two renames is repaired at the next start
#       (fwapp.swap, firmware/main.py).
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


class FileStore:
    def __init__(self, d, cap=_CAP):
        self.d = d
        self.cap = cap
        self.f = None
        self.n = 0          # bytes written (durable: plain file writes)
        self.kind = 0

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
        # the new one in place of the old one, kept as .old
        t = self.p(APP if rec.get("k") == 1 else IMG)
        n = self.p(DL)
        if rec.get("k") == 1:
            from boards.fwapp import unpack
            n = t + ".new"
            _rm(n)
            unpack(self.p(DL), n)
        _rm(t + ".old")
        if _is(t):
            os.rename(t, t + ".old")
        os.rename(n, t)

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

# Applying a package of Firmware Update on a file system (the applier() of
# boards/fwstore.py's FileStore; loaded for an update only). The payload is in
# <state>/fw.dl. An image (kind 0) becomes <state>/fw.img by a rename, the
# old one moved to fw.img.old first. An application bundle (kind 1,
# tools/fota/package.py: flat entries of name length u8, name, size u32 BE,
# bytes) is unpacked into <state>/app.new, fw.dl removed, then swapped in by
# renames (app -> app.old, app.new -> app). A reset anywhere in between:
# booted() says whether the new package is in (fw.dl, app.new gone) and
# undoes an image apply cut between its two renames; an app swap cut between
# its two renames is finished at the next start (swap(), firmware/main.py).
import os
from micropython import const

REBOOT_EXIT = const(4)  # the unix port "reboots" by exiting: tools/devclient.py starts it again
_APP = "/app"
_IMG = "/fw.img"
_DL = "/fw.dl"


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


def _swap(t, n):
    # n in place of t, the old one kept as t.old
    _rm(t + ".old")
    if _is(t):
        os.rename(t, t + ".old")
    os.rename(n, t)


class Apply:
    def __init__(self, d):
        self.d = d

    def apply(self, rec):
        d = self.d
        if rec.get("k") == 1:
            n = d + _APP + ".new"
            _rm(n)
            unpack(d + _DL, n)
            os.remove(d + _DL)
            _swap(d + _APP, n)
        else:
            _swap(d + _IMG, d + _DL)

    def reboot(self):
        raise SystemExit(REBOOT_EXIT)

    def booted(self, rec):
        # after the reboot of an apply: is the new package in?
        d = self.d
        if rec.get("k") == 1:
            return not (_is(d + _DL) or _is(d + _APP + ".new"))
        if not _is(d + _DL):
            return True
        t = d + _IMG
        if not _is(t) and _is(t + ".old"):
            os.rename(t + ".old", t)        # cut between the two renames: the old one back
        return False

    def confirm(self, rec):
        pass        # the old one stays (.old) for a roll-back until the next update

    def revert(self, rec):
        t = self.d + (_APP if rec.get("k") == 1 else _IMG)
        if _is(t + ".old"):
            _rm(t)
            os.rename(t + ".old", t)


def unpack(src, to):
    os.mkdir(to)
    b = bytearray(512)
    m = memoryview(b)
    with open(src, "rb") as f:
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
                    k = f.readinto(m[:min(left, 512)])
                    if not k:
                        raise ValueError("short")
                    o.write(m[:k])
                    left -= k


def swap(d):
    # finish an app swap a reset cut short (app moved away, app.new not in yet)
    a = d + _APP
    if not _is(a):
        os.rename(a + ".new", a)

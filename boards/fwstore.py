# Firmware store on a file system (client/fwup.py talks to it through
# begin/resume/write/durable/finish/sha256, client/fwup_boot.py through its
# applier(): apply/reboot/booted/confirm/revert): the unix port's "image"
# store, and the application-bundle store of every board. The package payload is written to <state>/fw.dl as
# it arrives; applying it (boards/fwapp.py, loaded for an update only):
#   kind 0 (image): fw.dl becomes fw.img (the old one kept as fw.img.old);
#   kind 1 (app bundle, tools/fota/package.py): unpacked into <state>/app.new,
#       then swapped in by renames (app -> app.old, app.new -> app).
# Then reboot(): the unix port exits with code 4 and tools/devclient.py
# starts it again.
from micropython import const
from hashlib import sha256

_CAP = const(4194304)
_BUF = const(256)       # read buffer of the digest without a spare (small: a fragmented heap)


class FileStore:
    f = None
    n = 0           # bytes written
    cap = _CAP      # the most a package may hold

    def __init__(self, d):
        self.d = d

    def begin(self, size, kind):
        if kind > 1:
            raise ValueError
        if size and size > self.cap:
            raise OSError(28)
        self.resume(0, 0, "wb")

    def resume(self, off, kind, mode="r+b"):
        self.close()
        self.f = open(self.d + "/fw.dl", mode)
        self.f.seek(off)
        self.n = off

    def write(self, off, data):
        # in order: off is always n
        off += len(data)
        if off > self.cap:
            raise OSError(28)
        self.f.write(data)
        self.n = off

    def durable(self):
        # bytes that a reset keeps (flushed to the file system)
        if self.f:
            self.f.flush()
        return self.n

    def close(self):
        if self.f:
            self.f.close()
            self.f = None

    finish = close      # all in the file already

    def sha256(self, n, b=None):
        # read into b, the board's spare where it has one: a heap the
        # download left fragmented may have no block of 257 bytes for a read
        h = sha256()
        b = memoryview(b or bytearray(_BUF))
        with open(self.d + "/fw.dl", "rb") as f:
            while n > 0:
                k = f.readinto(b[:n])
                if not k:
                    raise OSError(5)
                h.update(b[:k])
                n -= k
        return h.digest()

    def applier(self):
        # apply/reboot/booted/confirm/revert: boards/fwapp.py, loaded for an update
        from boards.fwapp import Apply
        return Apply(self.d)

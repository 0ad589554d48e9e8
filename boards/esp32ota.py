# ESP32 firmware store (client/fwup.py's begin/write/durable/finish, its own applier(): apply/confirm...)
# on esp32.Partition: an image goes to the next OTA app partition
# (Partition(RUNNING).get_next_update()) in 4096-byte flash blocks, each
# erased before it is written; only whole blocks are written until finish(),
# so the durable offset (what a resumed download starts from) is a block
# boundary. apply() is set_boot() (the IDF checks the image), reboot() is
# machine.reset(). The new image boots "pending verify": confirm() (after the
# first registration on it) is mark_app_valid_cancel_rollback(); a reset
# before that and the bootloader goes back to the old image, which sees it
# runs from the partition it booted from before: booted() False -> Result 8.
# App bundles (kind 1) go to the file system store (boards/fwstore.py); a
# firmware without OTA partitions takes app bundles only (an image: Result 6).
from micropython import const
from hashlib import sha256
from esp32 import Partition

_BS = const(4096)


class OtaStore:
    def __init__(self, state):
        self.state = state
        self._fs = None
        try:
            self.part = Partition(Partition.RUNNING).get_next_update()
        except OSError:     # a firmware without OTA partitions: app bundles only
            self.part = None
        self.target = self.part and self.part.info()[4]     # label: booted() compares the running one
        self.cap = self.part.ioctl(4, 0) * _BS if self.part else self.files().cap
        self.buf = None
        self.kind = 0
        self.n = 0          # bytes in flash (whole blocks until finish)
        self.k = 0          # bytes waiting in buf

    def begin(self, size, kind):
        self.kind = kind
        if kind:
            return self.files().begin(size, kind)
        if not self.part:
            raise ValueError("no OTA partition")    # Update Result 6: no image here
        if size and size > self.cap:
            raise OSError(28)
        self.buf = bytearray(_BS)
        self.n = self.k = 0

    def resume(self, off, kind):
        self.kind = kind
        if kind:
            return self.files().resume(off, kind)
        self.buf = bytearray(_BS)
        self.n = off - off % _BS
        self.k = 0

    def write(self, off, data):
        if self.kind:
            return self.files().write(off, data)
        if off != self.n + self.k:
            raise OSError(22)
        if off + len(data) > self.cap:
            raise OSError(28)
        m = memoryview(data)
        while m:
            t = min(_BS - self.k, len(m))
            self.buf[self.k:self.k + t] = m[:t]
            self.k += t
            m = m[t:]
            if self.k == _BS:
                self._flush()

    def _flush(self):
        b = self.n // _BS
        for i in range(self.k, _BS):
            self.buf[i] = 0xFF
        self.part.ioctl(6, b)                   # erase
        self.part.writeblocks(b, self.buf, 0)   # write without another erase
        self.n += self.k
        self.k = 0

    def durable(self):
        # bytes a reset keeps: whole blocks in flash (the rest is fetched again)
        return self.files().durable() if self.kind else self.n

    def finish(self):
        if self.kind:
            return self.files().finish()
        if self.k:
            self._flush()

    def close(self):
        self.buf = None     # (kept from finish() for the digest's read-back)
        if self._fs:
            self._fs.close()

    def files(self):
        # the file store of app bundles, loaded when one comes
        if not self._fs:
            from boards.fwstore import FileStore
            self._fs = FileStore(self.state)
        return self._fs

    def sha256(self, n, spare=None):
        # spare: the board's spare buffer (a file store's read); an image is
        # read back through the block buffer of its writes
        if self.kind:
            return self.files().sha256(n, spare)
        h = sha256()
        b = self.buf or bytearray(_BS)
        self.buf = None
        i = 0
        while n > 0:
            self.part.readblocks(i, b)
            h.update(memoryview(b)[:min(n, _BS)])
            n -= _BS
            i += 1
        return h.digest()

    def applier(self):
        return self

    def apply(self, rec):
        if rec.get("k") == 1:
            return self.files().applier().apply(rec)
        self.part.set_boot()            # raises when the IDF rejects the image

    def reboot(self):
        import machine
        machine.reset()

    def booted(self, rec):
        if rec.get("k") == 1:
            return self.files().applier().booted(rec)
        return Partition(Partition.RUNNING).info()[4] == rec.get("t")

    def confirm(self, rec):
        if rec.get("k") != 1:
            Partition.mark_app_valid_cancel_rollback()

    def revert(self, rec):
        if rec.get("k") == 1:
            self.files().applier().revert(rec)
        # an image: the reset that follows without confirm() rolls back

# Firmware Update (objects/firmware.py) at work, imported when /5 is used:
# the state machine of the OMA object definition (Idle(0) -> Downloading(1)
# -> Downloaded(2) -> Updating(3) -> Idle; Update Result set at the
# transitions it names) and the package sink of a transfer: the package
# header parsed, the payload streamed into the board's firmware store
# (begin/resume/write/durable/finish/sha256: boards/fwstore.py,
# boards/esp32ota.py), never whole into RAM. Pulls are client/fwdl.py (CoAP
# Block2) and client/http.py (HTTP Range); a push (Block1 of /5/0/0) is
# client/fwup_push.py; Update, Cancel and the first step after a reset are
# client/fwup_boot.py, each loaded when used. The offset, ETag and header of
# a download are persisted every 8 KB and when the radio goes off, so it
# resumes after a reset or a deep sleep.
#
# Package = optional header + payload. Header (tools/fota/package.py):
#   "LWF1" | kind u8 (0 image, 1 app bundle) | name len u8 | version len u8 |
#   0 u8 | payload size u32 BE | SHA-256 of the payload (32) | name | version
# Without the magic the whole package is a raw image.
#
# The record (objects/firmware.py rec, <state>/fw.st): s State, r Result,
# u URI, n/v PkgName/PkgVersion, pn/pv/k name, version and kind of the
# package waiting to run, o durable offset, e ETag (hex), z size, d digest
# from the URI (hex), p 1 for a push, h header [kind, size, SHA-256 (hex),
# name, version, header length], t the ESP32 partition an image went to.
from micropython import const
import json
import os
from binascii import hexlify, unhexlify
from objects.firmware import FILE
from client.codes import BAD_REQUEST, CoapError

_IDLE = const(0)
_DOWNLOADING = const(1)
_DOWNLOADED = const(2)
# Update Result (/5/0/5)
_NO_FLASH = const(2)
_NO_RAM = const(3)
_LOST = const(4)
_INTEGRITY = const(5)
_BAD_TYPE = const(6)
_BAD_URI = const(7)
_BAD_PROTO = const(9)
_PROTOS = ("coap", "coaps", "http", "https", "coap+tcp", "coaps+tcp", "mq2m")     # /5/0/8 values (6: mq2m, LwM2M over MQTT)
_SAVE_EVERY = const(8192)   # bytes between persisted offsets of a download (a save: ~1 ms)
_HDR = const(44)            # fixed part of the package header
_HDR_MAX = const(600)       # a package's size beyond its payload's: the header
_MAGIC = b"LWF1"


class Up:
    def __init__(self, o):
        self.i = o.inst[0]
        self.rec = o.rec
        self.client = o.client
        self.board = b = o.board
        if hasattr(b, "fwstore"):       # the board's firmware store, else files
            self.fs = b.fwstore()
        else:
            from boards.fwstore import FileStore
            self.fs = FileStore(b.state)
        self.dl = None      # the pull's downloader (a client task)
        self.on = False     # a transfer is writing to the store
        self.hb = None      # package header bytes until it is whole
        self.off = self.saved = 0   # package bytes taken / persisted

    def log(self, *a):
        self.client.log("fw", *a)

    # -- state -----------------------------------------------------------
    def set(self, s, res=None):
        i = self.i
        r = self.rec
        a = i[3] != s
        i[3] = r["s"] = s
        b = res is not None and i[5] != res
        if b:
            i[5] = r["r"] = res
        self.save()
        c = self.client.changed
        if a:
            c((5, 0, 3))
        if b:
            c((5, 0, 5))

    def save(self):
        # the record as JSON, atomically: a temporary file renamed over the
        # old one (a reset leaves one or the other)
        r = self.rec
        if self.on:
            r["o"] = self.saved = self.durable()
        p = self.board.state + FILE
        try:
            with open(p + ".tmp", "w") as f:
                json.dump(r, f)
            os.rename(p + ".tmp", p)
        except OSError:
            pass

    def pause(self):
        # the radio went off mid-download (a deep sleep may follow): the
        # offset the store holds is saved, so nothing is fetched twice.
        # None: no deadline while paused
        if self.off != self.saved and self.durable() != self.saved:     # (no flush while nothing came)
            self.save()

    def stop(self, drop=False):
        # end the transfer in progress (the partial download stays for a resume
        # unless drop)
        dl = self.dl
        if dl:
            dl.close()
            if dl in self.client.tasks:
                self.client.tasks.remove(dl)
        if self.on:
            self.fs.close()
        self.dl = None
        self.on = False
        if drop:
            for k in "oehupdz":
                self.rec.pop(k, None)

    def reset(self, res=0):
        # empty URI, a single NUL Package or Cancel: back to Idle from any state
        self.stop(True)
        self.i[1] = ""
        self.set(_IDLE, res)
        self.log("reset")

    def fail(self, res):
        self.log("failed", res)
        self.stop(res not in (_LOST, _NO_RAM))     # lost connection, no heap: the partial download stays
        self.set(_IDLE, res)

    # -- pull ----------------------------------------------------------------
    def pull(self, uri):
        if not uri:
            return self.reset()
        if self.i[3] != _IDLE:
            raise CoapError(BAD_REQUEST)
        r = self.rec
        if uri != r.get("u") or r.get("p"):
            self.stop(True)     # a new package: the old partial download goes
        r["u"] = self.i[1] = uri
        r["p"] = 0
        self.set(_DOWNLOADING, 0)
        u, _, frag = uri.partition("#")
        sch, _, rest = u.partition("://")
        if not rest.partition("/")[0]:
            return self.fail(_BAD_URI)
        if sch not in _PROTOS or _PROTOS.index(sch) not in self.i[8].values():
            return self.fail(_BAD_PROTO)
        if frag.startswith("sha256="):
            try:
                r["d"] = hexlify(unhexlify(frag[7:])).decode()
            except ValueError:
                return self.fail(_BAD_URI)
        self._pull()

    def _pull(self):
        # (again) from the offset saved: the downloader of the URI's scheme
        r = self.rec
        u = r["u"].partition("#")[0]
        try:
            self.open(r.get("o", 0))
            if u.startswith("mq2m"):        # over the account's MQTT link
                from client.mq2m import Mq2mDl as D
            elif u.startswith("http"):
                from client.http import Http as D
            else:
                from client.fwdl import CoapDl as D
            self.dl = D(self, u, self.off, r.get("e"))
        except (OSError, ValueError):
            return self.fail(_BAD_URI)   # no such host / port
        except MemoryError:
            return self.fail(_NO_RAM)
        self.client.tasks.append(self.dl)     # (busy: a cellular board asks for no RAI meanwhile)
        self.log("pull", r["u"], "from", self.off)

    # -- the package sink (a pull or a push) ---------------------------------
    def open(self, off=0):
        # a transfer from package offset off (0: from the start, the header first)
        h = self.rec.get("h")
        if h and off:
            self.fs.resume(off - h[5], h[0])
        else:
            self.rec["h"] = None
            self.hb = b""
            off = 0
        self.off = self.saved = off
        self.on = True

    def durable(self):
        # package offset up to which the store holds the bytes for sure
        h = self.rec.get("h")
        return h[5] + self.fs.durable() if h and self.on else 0

    def etag(self, tag, force=False):
        # downloader callback, the first answer: the server's ETag (None:
        # none) and size (rec "z"). A changed ETag restarts; returns the
        # offset to go on from (-1: failed)
        r = self.rec
        tag = hexlify(tag).decode() if tag else None
        if (force or tag != r.get("e")) and self.off:
            self.log("changed: restart")
            self.open()
        r["e"] = tag
        if r.get("z", 0) > self.fs.cap + _HDR_MAX:
            self.fail(_NO_FLASH)
        return self.off if self.on else -1

    def feed(self, d):
        # package bytes in order; False: the transfer ended (failure)
        r = self.rec
        try:
            if r["h"] is None:      # the header first, gathered until whole
                # (parsed in d itself when it holds it whole; else no more
                # of d copied than a header can take: the heap may have no
                # room for a block)
                t = len(self.hb)
                b = self.hb + d[:_HDR_MAX] if t else d
                n = len(b)
                e = 4       # header length (a raw image: 0), as far as known
                if b[:4] == _MAGIC:
                    e = _HDR + b[5] + b[6] if n >= _HDR else _HDR
                elif n >= 4:
                    e = 0
                if n < e:
                    self.hb = bytes(b)
                    self.off = n
                    return True
                v = e - b[6] if e else 0      # where the version starts
                h = r["h"] = [b[4], int.from_bytes(b[8:12], "big"), hexlify(b[12:_HDR]).decode(),
                              str(b[_HDR:v], "utf-8"), str(b[v:e], "utf-8"), e] if e else [0, None, None, "", "", 0]
                self.fs.begin(h[1], h[0])
                self.hb = None
                self.off = e
                d = memoryview(d)[e - t:] if e >= t else b[:t] + d     # (a raw image's first bytes were gathered)
            self.fs.write(self.off - r["h"][5], d)
            self.off += len(d)
        except MemoryError:
            self.fail(_NO_RAM)
        except ValueError:
            self.fail(_BAD_TYPE)
        except OSError:
            self.fail(_NO_FLASH)
        if not self.on:
            return False
        if self.off - self.saved >= _SAVE_EVERY:      # (durable(), a flush, only then)
            self.save()
            self.log("at", self.saved)
        return True

    def done(self):
        # the last package byte came: checked, then Downloaded
        r = self.rec
        h = r["h"]
        st = self.fs
        res = _INTEGRITY
        if h:
            try:
                st.finish()
                n = self.off - h[5]
                if h[1] is None or n == h[1]:
                    d = hexlify(st.sha256(n, self.board.spare)).decode()
                    if h[2] in (None, d) and r.get("d") in (None, d):
                        res = 0
            except OSError:
                res = _NO_FLASH
        if res:
            return self.fail(res)
        r["k"], r["pn"], r["pv"] = h[0], h[3], h[4]     # PkgName/Version once it runs
        self.stop()
        self.log("downloaded", h[3], h[4], r.get("z"))
        self.set(_DOWNLOADED)

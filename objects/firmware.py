# LwM2M Firmware Update object (5, OMA LwM2M 1.1 Core Appendix E.6).
# State: Idle(0) -> Downloading(1) -> Downloaded(2) -> Updating(3) -> Idle,
# Update Result set at the transitions the definition names. Push: Package
# (/5/0/0) written block by block (client/block.py hands each Block1 to
# block()), pull: Package URI (/5/0/1) fetched by client/fwdl.py (CoAP Block2)
# or client/http.py (HTTP Range). Bytes go straight to the board's firmware
# store (begin/write/finish/apply/confirm; boards/fwstore.py, boards/esp32ota.py),
# never whole into RAM. State, result, URI, the persisted offset and ETag of a
# download and the package header live in <state>/fw.st (atomic write), so a
# download resumes after a reset and the result of an update survives the
# reboot that applies it. Downloading code is imported only when /5 is used.
from micropython import const
from client.model import Obj
from client import store
from client.codes import (BAD_REQUEST, CoapError, E, INT, METHOD_NOT_ALLOWED, NONE,
                          OPAQUE, R, REQUEST_ENTITY_INCOMPLETE, REQUEST_ENTITY_TOO_LARGE, RW, SIZE1, STR, W)

IDLE = const(0)
DOWNLOADING = const(1)
DOWNLOADED = const(2)
UPDATING = const(3)
# Update Result (/5/0/5)
OK = const(1)
NO_FLASH = const(2)
NO_RAM = const(3)
LOST = const(4)
INTEGRITY = const(5)
BAD_TYPE = const(6)
BAD_URI = const(7)
FAILED = const(8)
BAD_PROTO = const(9)
CANCELLED = const(10)
PROTOS = ("coap", "coaps", "http", "https")     # /5/0/8 values 0..3
_FILE = "fw.st"
_SAVE_EVERY = const(4096)   # bytes between persisted offsets of a download
_POLL_MS = const(1000)


class Firmware(Obj):
    ID = 5
    VER = "1.1"
    MULTI = False
    SINK = 0        # resource written block by block (client/block.py)
    RES = (
        (0, W, OPAQUE, 0, 1),       # Package
        (1, RW, STR, 0, 1, 255),    # Package URI
        (2, E, NONE, 0, 1),         # Update
        (3, R, INT, 0, 1),          # State
        (5, R, INT, 0, 1),          # Update Result
        (6, R, STR, 0, 0),          # PkgName
        (7, R, STR, 0, 0),          # PkgVersion
        (8, R, INT, 1, 0),          # Firmware Update Protocol Support
        (9, R, INT, 0, 1),          # Firmware Update Delivery Method (2: both)
        (10, E, NONE, 0, 0),        # Cancel
    )

    def __init__(self, board, fs=None, protos=(0, 1, 2, 3)):
        self._c = None
        super().__init__()
        self.board = board
        self.fs = fs            # the board's firmware store (made on first use)
        self.sink = self.dl = None
        self.push_ms = 60000    # a push silent this long has lost its connection
        self.confirm_ms = 600000    # new image: registered within this, else roll back
        self.last = self.at = self.saved = 0
        self.rec = store.read(board.state, _FILE) or {}
        r = self.rec
        self.inst[0] = {0: b"", 1: r.get("u", ""), 2: None, 3: r.get("s", IDLE), 5: r.get("r", 0),
                        6: r.get("n", ""), 7: r.get("v", ""), 8: dict(enumerate(protos)), 9: 2, 10: None}

    # the registry sets .client: what was going on before the reset carries on
    @property
    def client(self):
        return self._c

    @client.setter
    def client(self, c):
        self._c = c
        if c:
            c.at(0, self._boot)

    def st(self):
        if not self.fs:
            f = getattr(self.board, "fwstore", None)
            if f:
                self.fs = f()
            else:
                from boards.fwstore import FileStore
                self.fs = FileStore(self.board.state)
        return self.fs

    def log(self, *a):
        self._c.log("fw", *a)

    def _boot(self):
        s = self.inst[0][3]
        if s == DOWNLOADING:
            if self.rec.get("p"):
                self.fail(LOST)     # a push cut by the reset: the server starts again
            else:
                self.log("resume", self.rec.get("o", 0))
                self._pull()
        elif s == UPDATING:
            ok = self.st().booted(self.rec)
            self.log("booted", ok)
            if ok:
                self.at = self._c.board.clock.ms() + self.confirm_ms
                self._confirm()
            else:
                self.set(IDLE, FAILED)

    def _confirm(self):
        # the new image counts once a server registered us on it
        c = self._c
        if any(s.registered() for s in c.servers):
            self.st().confirm(self.rec)
            self.set(IDLE, OK)
            self.log("updated to", self.inst[0][7])
            for s in c.servers:
                s.trigger()     # an Update tells the server the outcome
        elif c.board.clock.ms() >= self.at:
            self.log("never registered: roll back")
            st = self.st()
            st.revert(self.rec)
            self.set(IDLE, FAILED)
            st.reboot()
        else:
            c.at(_POLL_MS, self._confirm)

    # -- state -----------------------------------------------------------
    def set(self, s, res=None):
        i = self.inst[0]
        r = self.rec
        ch = [3] if i[3] != s else []
        i[3] = r["s"] = s
        if res is not None and i[5] != res:
            i[5] = r["r"] = res
            ch.append(5)
        self.save()
        for rid in ch:
            self._c.changed((5, 0, rid))

    def save(self):
        r = self.rec
        if self.sink:
            r["o"] = self.saved = self.sink.durable()
            r["h"] = self.sink.h
        try:
            store.write(self.board.state, _FILE, r)
        except OSError:
            pass

    def stop(self, drop=False):
        # end the transfer in progress (the partial download stays for a resume
        # unless drop)
        if self.dl:
            self.dl.close()
            if self.dl in self._c.tasks:
                self._c.tasks.remove(self.dl)
        if self.sink:
            self.sink.st.close()
        self.dl = self.sink = None
        if drop:
            for k in ("o", "e", "h", "u", "p", "d", "z"):
                self.rec.pop(k, None)

    def reset(self, res=0):
        # empty URI, a single NUL Package or Cancel: back to Idle from any state
        self.stop(True)
        self.inst[0][1] = ""
        self.set(IDLE, res)
        self.log("reset")

    def fail(self, res):
        self.log("failed", res)
        self.stop(res != LOST)     # a lost connection: the partial download stays
        self.set(IDLE, res)

    # -- resources ---------------------------------------------------------
    def write(self, iid, rid, val, riid=None):
        if rid == 1:
            self.pull(val)
        elif rid == 0:      # a whole Package in one request
            r = self.block(0, 1024, 0, val, None)
            if r:
                raise CoapError(r.code)
        else:
            super().write(iid, rid, val, riid)

    def execute(self, iid, rid, arg):
        if rid == 10:
            self.reset(CANCELLED)
        elif self.inst[0][3] != DOWNLOADED:
            raise CoapError(METHOD_NOT_ALLOWED)
        else:
            self.set(UPDATING, 0)
            self._c.at(100, self._apply)    # after the 2.04 went out

    def _apply(self):
        if self.inst[0][3] != UPDATING:
            return
        st = self.st()
        try:
            st.apply(self.rec)
        except Exception as e:
            self.log("apply failed", e)
            self.set(DOWNLOADED, FAILED)
            return
        self.save()
        self.log("reboot into", self.rec.get("v"))
        st.reboot()

    # -- pull ----------------------------------------------------------------
    def pull(self, uri):
        if not uri:
            return self.reset()
        if self.inst[0][3] != IDLE:
            raise CoapError(BAD_REQUEST)
        r = self.rec
        if uri != r.get("u") or r.get("p"):
            self.stop(True)     # a new package: the old partial download goes
        r["u"] = self.inst[0][1] = uri
        r["p"] = 0
        self.set(DOWNLOADING, 0)
        u, _, frag = uri.partition("#")
        sch = u.partition("://")[0]
        if sch == u or not u.partition("://")[2].partition("/")[0]:
            return self.fail(BAD_URI)
        if sch not in PROTOS or PROTOS.index(sch) not in self.inst[0][8].values():
            return self.fail(BAD_PROTO)
        if frag.startswith("sha256="):
            from binascii import unhexlify
            try:
                r["d"] = unhexlify(frag[7:])
            except ValueError:
                return self.fail(BAD_URI)
        self._pull()

    def _pull(self):
        r = self.rec
        try:
            self.sink = self._sink(r.get("h"), r.get("o", 0))
            from client.fwdl import start
            self.dl = start(self, r["u"].partition("#")[0], self.sink.off, r.get("e"))
        except OSError:
            return self.fail(BAD_URI)   # no such host / port
        except MemoryError:
            return self.fail(NO_RAM)
        self._c.tasks.append(self.dl)
        self.log("pull", r["u"], "from", self.sink.off)

    def _sink(self, h=None, off=0):
        from client.fwdl import Sink
        self.saved = off
        return Sink(self.st(), h, off, self.rec.get("d"))

    # downloader callbacks
    def etag(self, tag, force=False):
        # the first answer: the server's ETag (None: none) and size (rec "z").
        # A changed ETag restarts; returns the offset to go on from
        r = self.rec
        if (force or tag != r.get("e")) and self.sink.off:
            self.log("package changed: restart")
            self.sink = self._sink()
        r["e"] = tag
        if r.get("z", 0) > self.st().cap + 600:
            self.fail(NO_FLASH)
        return self.sink.off if self.sink else -1

    def feed(self, data):
        # package bytes in order; False: the transfer ended (failure)
        try:
            self.sink.feed(data)
        except MemoryError:
            self.fail(NO_RAM)
        except ValueError:
            self.fail(BAD_TYPE)
        except OSError:
            self.fail(NO_FLASH)
        if not self.sink:
            return False
        if self.sink.durable() - self.saved >= _SAVE_EVERY:
            self.save()
            self.log("at", self.saved)
        return True

    def done(self):
        ok = self.sink.finish()
        if ok is None:
            return self.fail(NO_FLASH)
        if not ok:
            return self.fail(INTEGRITY)
        h = self.sink.h
        r = self.rec
        r["k"], r["n"], r["v"] = h[0], h[3], h[4]
        self.stop()
        self.log("downloaded", h[3], h[4], r.get("z"))
        self.set(DOWNLOADED)

    # -- push (Block1 on /5/0/0) -------------------------------------------
    def block(self, num, size, more, data, size1):
        # one block of a pushed Package: None, or the error response
        from client.coap import Msg
        now = self._c.board.clock.ms()
        s = self.inst[0][3]
        if num == 0:
            if not more and len(data) == 1 and data[0] == 0:
                return self.reset()
            if self.dl or s not in (IDLE, DOWNLOADING):
                raise CoapError(BAD_REQUEST)
            self.stop(True)
            self.inst[0][1] = ""
            self.rec["p"] = 1
            self.set(DOWNLOADING, 0)
            if size1 and size1 > self.st().cap + 600:
                self.fail(NO_FLASH)
                return Msg(code=REQUEST_ENTITY_TOO_LARGE).add(SIZE1, self.st().cap)
            self.sink = self._sink()
            self.last = now
            self._c.at(self.push_ms, self._quiet)
        sk = self.sink
        if not sk or not self.rec.get("p"):
            raise CoapError(REQUEST_ENTITY_INCOMPLETE)
        at = num * size
        if at + len(data) == sk.off and num:
            return None     # a repeated block (our answer got lost)
        if at != sk.off:
            raise CoapError(REQUEST_ENTITY_INCOMPLETE)
        self.last = now
        if not self.feed(data):
            return Msg(code=REQUEST_ENTITY_TOO_LARGE if self.inst[0][5] == NO_FLASH else BAD_REQUEST)
        if not more:
            self.done()
        return None

    def _quiet(self):
        if self.sink and self.rec.get("p"):
            t = self.last + self.push_ms - self._c.board.clock.ms()
            if t <= 0:
                self.fail(LOST)
            else:
                self._c.at(t, self._quiet)

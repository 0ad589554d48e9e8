# Firmware Update (objects/firmware.py) at work, imported when /5 is used:
# the state machine of the OMA object definition (Idle(0) -> Downloading(1)
# -> Downloaded(2) -> Updating(3) -> Idle; Update Result set at the
# transitions it names), Package pushed block by block (client/block.py
# hands each Block1 of /5/0/0 to block()), Package URI pulled by
# client/fwdl.py (CoAP Block2) or client/http.py (HTTP Range). Bytes go
# straight into the board's firmware store (begin/write/finish/apply/confirm:
# boards/fwstore.py, boards/esp32ota.py), never whole into RAM; the offset,
# ETag and header of a download are persisted every 8 KB so it resumes
# after a reset. Apply happens through the store, after the 2.04 went out;
# the new package counts once a server registered us on it (confirm), then
# Update Result 1 and an Update tell the server.
from micropython import const
import json
from binascii import hexlify
from objects.firmware import FILE, HEX
from client.codes import (BAD_REQUEST, CoapError, METHOD_NOT_ALLOWED, REQUEST_ENTITY_INCOMPLETE,
                          REQUEST_ENTITY_TOO_LARGE, SIZE1)

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
PROTOS = ("coap", "coaps", "http", "https", "coap+tcp", "coaps+tcp", "mq2m")     # /5/0/8 values (6: mq2m, LwM2M over MQTT)
_SAVE_EVERY = const(8192)   # bytes between persisted offsets of a download (a save: ~1 ms)
_POLL_MS = const(1000)



def save(d, r):
    # the record as JSON (bytes as hex), atomically: a temporary file renamed
    r = dict(r)
    for k in HEX:
        if r.get(k):
            r[k] = hexlify(r[k]).decode()
    h = r.get("h")
    if h and h[2]:
        r["h"] = h[:2] + [hexlify(h[2]).decode()] + h[3:]
    with open(d + FILE + ".tmp", "w") as f:
        json.dump(r, f)
    import os
    os.rename(d + FILE + ".tmp", d + FILE)


class Up:
    def __init__(self, o):
        self.o = o
        self.i = o.inst[0]
        self.rec = o.rec
        self.client = o.client
        self.board = o.board
        self.sink = self.dl = None
        self.last = self.at = self.saved = 0

    def st(self):
        o = self.o
        if not o.fs:
            f = getattr(self.board, "fwstore", None)
            if f:
                o.fs = f()
            else:
                from boards.fwstore import FileStore
                o.fs = FileStore(self.board.state)
        return o.fs

    def log(self, *a):
        self.client.log("fw", *a)

    def boot(self):
        s = self.i[3]
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
                self.at = self.client.board.clock.ms() + self.o.confirm_ms
                self._confirm()
            else:
                self.set(IDLE, FAILED)

    def _confirm(self):
        # the new image counts once a server registered us on it
        c = self.client
        if any(s.registered() for s in c.servers):
            r = self.rec
            self.st().confirm(r)
            i = self.i
            i[6] = r["n"] = r.get("pn", "")
            i[7] = r["v"] = r.get("pv", "")
            c.changed((5, 0, 6))
            c.changed((5, 0, 7))
            self.set(IDLE, OK)
            self.log("updated to", i[7])
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
        i = self.i
        r = self.rec
        ch = [3] if i[3] != s else []
        i[3] = r["s"] = s
        if res is not None and i[5] != res:
            i[5] = r["r"] = res
            ch.append(5)
        self.save()
        for rid in ch:
            self.client.changed((5, 0, rid))

    def save(self):
        r = self.rec
        if self.sink:
            r["o"] = self.saved = self.sink.durable()
            r["h"] = self.sink.h
        try:
            save(self.board.state, r)
        except OSError:
            pass

    def hold(self, n):
        # a cellular board requests no RAI while a download runs
        b = self.board
        if hasattr(b, "fw_dl"):
            b.fw_dl += n

    def stop(self, drop=False):
        # end the transfer in progress (the partial download stays for a resume
        # unless drop)
        if self.dl:
            self.hold(-1)
            self.dl.close()
            if self.dl in self.client.tasks:
                self.client.tasks.remove(self.dl)
        if self.sink:
            self.sink.st.close()
        self.dl = self.sink = None
        if drop:
            for k in ("o", "e", "h", "u", "p", "d", "z"):
                self.rec.pop(k, None)

    def reset(self, res=0):
        # empty URI, a single NUL Package or Cancel: back to Idle from any state
        self.stop(True)
        self.i[1] = ""
        self.set(IDLE, res)
        self.log("reset")

    def fail(self, res):
        self.log("failed", res)
        self.stop(res != LOST)     # a lost connection: the partial download stays
        self.set(IDLE, res)

    # -- resources ---------------------------------------------------------
    def write(self, rid, val):
        if rid == 1:
            self.pull(val)
        else:       # a whole Package in one request
            r = self.block(0, 1024, 0, val, None)
            if r:
                raise CoapError(r.code)

    def execute(self, rid):
        if rid == 10:
            self.reset(CANCELLED)
        elif self.i[3] != DOWNLOADED:
            raise CoapError(METHOD_NOT_ALLOWED)
        else:
            self.set(UPDATING, 0)
            self.client.at(100, self._apply)    # after the 2.04 went out

    def _apply(self):
        if self.i[3] != UPDATING:
            return
        st = self.st()
        try:
            st.apply(self.rec)
        except Exception as e:
            self.log("apply failed", e)
            self.set(DOWNLOADED, FAILED)
            return
        self.save()
        self.log("reboot into", self.rec.get("pv"))
        st.reboot()

    # -- pull ----------------------------------------------------------------
    def pull(self, uri):
        if not uri:
            return self.reset()
        if self.i[3] != IDLE:
            raise CoapError(BAD_REQUEST)
        r = self.rec
        if uri != r.get("u") or r.get("p"):
            self.stop(True)     # a new package: the old partial download goes
        r["u"] = self.i[1] = uri
        r["p"] = 0
        self.set(DOWNLOADING, 0)
        u, _, frag = uri.partition("#")
        sch = u.partition("://")[0]
        if sch == u or not u.partition("://")[2].partition("/")[0]:
            return self.fail(BAD_URI)
        if sch not in PROTOS or PROTOS.index(sch) not in self.i[8].values():
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
        self.client.tasks.append(self.dl)
        self.hold(1)
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
        r["k"], r["pn"], r["pv"] = h[0], h[3], h[4]     # PkgName/Version once it runs
        self.stop()
        self.log("downloaded", h[3], h[4], r.get("z"))
        self.set(DOWNLOADED)

    # -- push (Block1 on /5/0/0) -------------------------------------------
    def block(self, num, size, more, data, size1):
        # one block of a pushed Package: None, or the error response
        from client.coap import Msg
        now = self.client.board.clock.ms()
        s = self.i[3]
        if num == 0:
            if not more and len(data) == 1 and data[0] == 0:
                return self.reset()
            if self.dl or s not in (IDLE, DOWNLOADING):
                raise CoapError(BAD_REQUEST)
            self.stop(True)
            self.i[1] = ""
            self.rec["p"] = 1
            self.set(DOWNLOADING, 0)
            if size1 and size1 > self.st().cap + 600:
                self.fail(NO_FLASH)
                return Msg(code=REQUEST_ENTITY_TOO_LARGE).add(SIZE1, self.st().cap)
            self.sink = self._sink()
            self.last = now
            self.client.at(_POLL_MS, self._quiet)
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
            return Msg(code=REQUEST_ENTITY_TOO_LARGE if self.i[5] == NO_FLASH else BAD_REQUEST)
        if not more:
            self.done()
        return None

    def _quiet(self):
        # a push silent for push_ms: connection lost. Looked at every second
        # (a virtual clock then moves in steps of a second while it waits)
        if self.sink and self.rec.get("p"):
            t = self.last + self.o.push_ms - self.client.board.clock.ms()
            if t <= 0:
                self.fail(LOST)
            else:
                self.client.at(min(t, _POLL_MS), self._quiet)

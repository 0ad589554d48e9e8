# Persistent configuration in the board's state directory: Security, Server
# and Access Control instances whole, the writable resources of the other
# objects. File: magic, payload length, CRC-32 (both big-endian u32), then
# CBOR {oid: {iid: {rid: value | {riid: value}}}}. Written to a temporary
# file and renamed over the old one, so a power cut leaves either the old or
# the new file; a truncated or corrupted one fails the length/CRC check and
# the device falls back to its factory configuration (and bootstrap).
# factory.cfg has the same format (tools/provision.py writes it).
import os
from binascii import crc32
from struct import pack, unpack
from client import cbor
from client.model import check
from client.codes import W, OBJLNK

_MAGIC = b"LwS1"
STORE = "lwm2m.cfg"
FACTORY = "factory.cfg"
_WHOLE = (0, 1, 2)


def _val(t, v):
    # a stored value back to its resource type (CBOR has no tuples); a value
    # of the wrong type makes the whole file unusable
    if t == OBJLNK and isinstance(v, list):
        v = tuple(v)
    return v if v is None else check(t, v)


def frame(v):
    # v as the bytes of a file: magic, length, CRC-32, CBOR (also what a
    # board keeps in RTC memory over a deep sleep)
    p = cbor.dumps(v)
    return _MAGIC + pack(">II", len(p), crc32(p) & 0xFFFFFFFF) + p


def unframe(b):
    # frame()'s bytes back to the value; False when damaged
    try:
        if b[:4] != _MAGIC:
            return False
        n, crc = unpack(">II", b[4:12])
        p = b[12:]
        if len(p) != n or crc32(p) & 0xFFFFFFFF != crc:
            return False
        return cbor.loads(p)
    except Exception:
        return False


def read(d, name):
    # a file written by write(): the CBOR value, None (missing), False (corrupted)
    try:
        with open(d + "/" + name, "rb") as f:
            b = f.read()
    except OSError:
        return None
    return unframe(b)


def write(d, name, v):
    # atomically: a temporary file renamed over the old one
    b = frame(v)
    tmp = d + "/" + name + ".tmp"
    try:
        os.mkdir(d)
    except OSError:
        pass
    with open(tmp, "wb") as f:
        f.write(b)
    os.rename(tmp, d + "/" + name)


class Store:
    def __init__(self, client, d="state"):
        self.c = client
        self.dir = d
        self.dirty = False
        client.store = self

    def path(self, name):
        return self.dir + "/" + name

    def read(self, name):
        # {oid: {iid: {...}}}, or None (missing), or False (corrupted)
        v = read(self.dir, name)
        return v if v is None or isinstance(v, dict) else False

    def load(self, names=(STORE, FACTORY)):
        # the saved configuration, else the factory one: "store" | "factory"
        # | None (nothing usable); a corrupted store is reported and skipped
        log = self.c.log
        for name in names:
            v = self.read(name)
            if v is False:
                log("store", name, "corrupted")
            elif v is not None and self.apply(v):
                log("config from", name)
                return "store" if name == STORE else "factory"
        return None

    def apply(self, v):
        objs = self.c.objs
        try:
            new = {}
            for oid, insts in v.items():
                o = objs.get(oid)
                if o is None:
                    continue
                d = {} if oid in _WHOLE else {k: dict(i) for k, i in o.inst.items()}
                for iid, res in insts.items():
                    i = d.get(iid)
                    if i is None:
                        i = d[iid] = o.defaults(iid)
                    for rid, val in res.items():
                        r = o.res(rid)
                        if r[3]:
                            val = {k: _val(r[2], x) for k, x in val.items()}
                        else:
                            val = _val(r[2], val)
                        i[rid] = val
                new[oid] = d
        except Exception:
            return False
        for oid in _WHOLE:
            if oid in objs:
                objs[oid].inst = {}
        for oid, d in new.items():
            objs[oid].inst = d
        return True

    def snapshot(self):
        out = {}
        for oid, o in self.c.objs.items():
            d = {}
            for iid, i in o.inst.items():
                if oid in _WHOLE:
                    d[iid] = i
                else:
                    r = {x[0]: i[x[0]] for x in o.RES if x[1] & W and i.get(x[0]) is not None}
                    if r:
                        d[iid] = r
            if d or oid in _WHOLE:
                out[oid] = d
        return out

    def save(self):
        try:
            write(self.dir, STORE, self.snapshot())
        except OSError as e:
            self.dirty = False      # no retry every step (full flash...)
            self.c.log("store not saved", e.args[0] if e.args else "")
            return False
        self.dirty = False
        return True

    def erase(self):
        # factory reset: the next start uses the factory configuration
        try:
            os.remove(self.path(STORE))
        except OSError:
            pass

    def changed(self, path):
        # from Client.changed: persisted data changed -> save in flush()
        if path[0] in _WHOLE or len(path) < 3:
            self.dirty = True
        else:
            o = self.c.objs.get(path[0])
            if o and o.res(path[2])[1] & W:
                self.dirty = True

    def flush(self):
        if self.dirty:
            self.save()

# SenML written in place by the Read path (client/render.py walks, these
# write into the response's buffer): JsonW, SenML JSON (110), the same text
# as senml.enc makes from records, [{"bn":"/3/0/","n":"0","vs":"..."},
# {"n":"1",...}]; SenmlW, SenML CBOR (112), an array of maps {bn, n, value}.
# No records, lists or strings; floats, and JSON strings that need escaping,
# still allocate. The records codec (decoding, Send, composite) is
# client/senml.py, not loaded for a Read.
from client.render import Writer, room, put, ndig, put_dec, move, blen
from client.codes import STR, BOOL, OPAQUE, OBJLNK, CORELNK, NONE, FLOAT

# value label of each resource type (indexed by type, as senml._VL), with its quotes
_VL = (None, '"vs":', '"v":', '"v":', '"v":', '"vb":', '"vd":', '"v":', '"vlo":', '"vs":')


def _c(w, ch):
    room(w, 1)
    w.buf[w.i] = ch
    w.i += 1


def _s(w, s):
    # an ASCII constant
    put(w, s, len(s))


class JsonW(Writer):
    def start(self, path, buf, i, end):
        Writer.start(self, path, buf, i, end)
        self.n = 0
        _c(self, 0x5B)     # [

    def val(self, iid, rid, ri, t, v):
        p = self.path
        np = len(p)
        full = 4 if ri >= 0 else 3
        at_base = full == np
        _s(self, ',{' if self.n else '{')
        self.n += 1
        if self.n == 1 or at_base:
            # bn: "/base/" (or the record's own path at the base)
            _s(self, '"bn":"')
            for k in range(np):
                _c(self, 0x2F)
                put_dec(self, p[k])
            if not at_base:
                _c(self, 0x2F)
            _c(self, 0x22)
            sep = True
        else:
            sep = False
        if not at_base:
            _s(self, ',"n":"' if sep else '"n":"')
            for k in range(np, full):
                if k > np:
                    _c(self, 0x2F)
                put_dec(self, iid if k == 1 else rid if k == 2 else ri)
            _c(self, 0x22)
            sep = True
        if v is not None and t != NONE:
            if sep:
                _c(self, 0x2C)
            _s(self, _VL[t])
            if t == STR or t == CORELNK:
                self._str(v)
            elif t == BOOL:
                _s(self, "true" if v else "false")
            elif t == OBJLNK:
                _c(self, 0x22)
                put_dec(self, v[0])
                _c(self, 0x3A)
                put_dec(self, v[1])
                _c(self, 0x22)
            elif t == OPAQUE:
                from client.senml import _b64e
                self._str(_b64e(v))
            elif t == FLOAT:
                import json
                x = json.dumps(v).encode()
                put(self, x, len(x))
            else:
                put_dec(self, v)
        _c(self, 0x7D)     # }

    def _str(self, v):
        # a JSON string: copied as it is, unless a character needs escaping
        a = self.i
        n = blen(v)
        _c(self, 0x22)
        put(self, v, n)
        b = self.buf
        for k in range(a + 1, self.i):
            c = b[k]
            if c < 0x20 or c == 0x22 or c == 0x5C:
                import json
                x = json.dumps(v).encode()
                self.i = a
                put(self, x, len(x))
                return
        _c(self, 0x22)

    def done(self):
        _c(self, 0x5D)     # ]
        return self.i


# -- SenML CBOR
def _head(w, mt, n):
    if n < 24:
        room(w, 1)
        w.buf[w.i] = mt << 5 | n
        w.i += 1
        return
    k = 1 if n < 256 else 2 if n < 65536 else 4 if n < 4294967296 else 8
    room(w, 1 + k)
    b = w.buf
    b[w.i] = mt << 5 | (24 + (0, 1, 1, 2, 2, 2, 2, 3)[k - 1])
    i = w.i + 1
    for s in range(k - 1, -1, -1):
        b[i] = (n >> (8 * s)) & 255
        i += 1
    w.i = i


def _path_len(p, a, z):
    # text length of "/".join(p[a:z])
    n = z - a - 1
    for k in range(a, z):
        n += ndig(p[k])
    return n


class SenmlW(Writer):
    # SenML CBOR (112) written in place: an array of maps {bn, n, value}
    def start(self, path, buf, i, end):
        Writer.start(self, path, buf, i, end)
        self.a = i          # the array head, fixed in done()
        self.n = 0
        room(self, 1)
        self.i += 1

    def val(self, iid, rid, ri, t, v):
        p = self.path
        np = len(p)
        # the record's path: oid, iid, rid[, ri]
        full = 4 if ri >= 0 else 3
        at_base = full == np
        first = self.n == 0
        _head(self, 5, (1 if first or at_base else 0) + (0 if at_base else 1) + (v is not None))
        b = self.buf
        if first or at_base:
            # bn: "/base/" (or the record's own path at the base)
            room(self, 1)
            b[self.i] = 0x21            # -2
            self.i += 1
            ln = 1 + _path_len(p, 0, np) + (0 if at_base else 1)
            _head(self, 3, ln)
            for k in range(np):
                room(self, 1)
                b[self.i] = 0x2F
                self.i += 1
                put_dec(self, p[k])
            if not at_base:
                room(self, 1)
                b[self.i] = 0x2F
                self.i += 1
        if not at_base:
            room(self, 1)
            b[self.i] = 0x00            # n
            self.i += 1
            ln = full - np - 1
            for k in range(np, full):
                ln += ndig(iid if k == 1 else rid if k == 2 else ri)
            _head(self, 3, ln)
            for k in range(np, full):
                if k > np:
                    room(self, 1)
                    b[self.i] = 0x2F
                    self.i += 1
                put_dec(self, iid if k == 1 else rid if k == 2 else ri)
        if v is None:
            self.n += 1
            return
        room(self, 4)
        i = self.i
        if t == STR or t == CORELNK:
            b[i] = 0x03
            self.i = i + 1
            n = blen(v)
            _head(self, 3, n)
            put(self, v, n)
        elif t == BOOL:
            b[i] = 0x04
            b[i + 1] = 0xF5 if v else 0xF4
            self.i = i + 2
        elif t == OPAQUE:
            b[i] = 0x08
            self.i = i + 1
            _head(self, 2, len(v))
            put(self, v, len(v))
        elif t == OBJLNK:
            b[i] = 0x63
            b[i + 1] = 0x76     # "vlo"
            b[i + 2] = 0x6C
            b[i + 3] = 0x6F
            self.i = i + 4
            _head(self, 3, ndig(v[0]) + 1 + ndig(v[1]))
            put_dec(self, v[0])
            room(self, 1)
            b[self.i] = 0x3A
            self.i += 1
            put_dec(self, v[1])
        elif t == FLOAT:
            from client import cbor
            x = cbor.dumps(v)   # shortest exact float (allocates)
            b[i] = 0x02
            self.i = i + 1
            put(self, x, len(x))
        else:
            b[i] = 0x02
            self.i = i + 1
            if v < 0:
                _head(self, 1, -1 - v)
            else:
                _head(self, 0, v)
        self.n += 1

    def done(self):
        n = self.n
        if n >= 24:     # the array head needs more than its byte
            k = 2 if n < 256 else 3
            room(self, k - 1)
            move(self.buf, self.a + 1, self.a + k, self.i - self.a - 1)
            self.i += k - 1
            j = self.i
            self.i = self.a
            _head(self, 4, n)
            self.i = j
        else:
            self.buf[self.a] = 0x80 | n
        return self.i

# SenML JSON (110) written in place by the Read path (client/render.py walks,
# this writes into the response's buffer): the same text as senml.enc makes
# from records, [{"bn":"/3/0/","n":"0","vs":"..."},{"n":"1",...}], without
# records, lists or strings. Floats, and strings that need escaping, still
# allocate (json.dumps).
from client.render import Writer, room, put, put_dec, blen
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

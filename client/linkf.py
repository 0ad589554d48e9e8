# Link format (RFC 6690) written in place, as the Read path writes
# (client/render.py): Discover into the exchange's reused response, and the
# Register/Update payload (the object list) into a scratch buffer.
from micropython import const
from client.coap import PAY
from client.render import Writer, Full, room, put, put_dec, next_key, blen
from client.codes import CONTENT_FORMAT, FMT_LINK, FMT_TLV, R

# a RES table row (client/model.py): id, operations, type, multiple
_R_ID = const(0)
_R_OPS = const(1)
_R_MULTI = const(3)
_lw = Writer()


def _c(w, ch):
    room(w, 1)
    w.buf[w.i] = ch
    w.i += 1


def _link(w, p, n, ver, dim, rep, srv):
    # one link </p[:n]>[;ver=..][;dim=..], then the attributes written on it
    # (rare: a string), after a comma unless it is the first
    if w.i > PAY:
        _c(w, 0x2C)
    _c(w, 0x3C)
    for k in range(n):
        _c(w, 0x2F)
        put_dec(w, p[k])
    _c(w, 0x3E)
    if ver:
        put(w, ";ver=", 5)
        put(w, ver, len(ver))
    if dim >= 0:
        put(w, ";dim=", 5)
        put_dec(w, dim)
    if rep and rep.attrs:
        from client.attrs import text
        a = text(rep, tuple(p[:n]), srv)
        put(w, a, blen(a))


def _links(e, o, iid, path, n, p, rep, srv, w):
    # an instance's links (n: the request path's length)
    p[1] = iid
    if n < 3:
        _link(w, p, 2, None, -1, rep, srv)
    inst = o.inst[iid]
    for row in o.RES:
        rid = row[_R_ID]
        if n > 2 and rid != path[2] or rid not in inst:
            continue
        p[2] = rid
        if not row[_R_MULTI]:
            _link(w, p, 3, None, -1, rep, srv)
            continue
        v = (inst[rid] if not row[_R_OPS] & R else o.read(iid, rid)) or {}
        _link(w, p, 3, None, len(v), rep, srv)
        ri = -1
        while n > 2:
            ri = next_key(v, ri)
            if ri < 0:
                break
            p[3] = ri
            _link(w, p, 4, None, -1, rep, srv)


def discover(e, r, path, srv):
    # Discover of path into r's buffer, in place as read(): the object (with
    # its version), instances, resources (";dim=" on multiple ones, and
    # their instances when asked for the resource); through a string
    # (Engine.discover) when it does not fit one block, or r has no buffer
    # (not the exchange's reused response)
    o = e.exists(path)
    rep = e.c.reporter
    n = len(path)
    buf = r.home
    w = _lw
    w.start(path, buf, PAY, PAY + 1024)
    p = [o.ID, 0, 0, 0]
    try:
        if buf is None:
            raise Full
        if n > 1:
            _links(e, o, path[1], path, n, p, rep, srv, w)
        else:
            _link(w, p, 1, o.VER, -1, rep, srv)
            guard = e.c.acl or srv and getattr(srv, "grant", None)
            iid = -1
            while True:
                iid = next_key(o.inst, iid)
                if iid < 0:
                    break
                if not guard or e.can(srv, R, (o.ID, iid)):
                    _links(e, o, iid, path, n, p, rep, srv, w)
        r.pn = w.i - PAY
        r.pbuf = buf
    except Full:
        r.payload = e.discover(path, srv).encode()
    return r.add(CONTENT_FORMAT, FMT_LINK)


def links(e, buf=None):
    # the Register/Update payload into buf (scratch; a larger one when it does
    # not fit) -> (buffer, length): </>;rt="oma.lwm2m" (";ct=" for a preferred
    # format other than TLV: strict servers refuse one they do not expect),
    # then objects by id: </oid>;ver= where not 1.0, each instance
    # </oid/iid>, an object without instances as </oid>; Security never
    buf = buf or bytearray(1024)
    while True:
        try:
            return buf, _objlist(e, buf)
        except Full:
            buf = bytearray(2 * len(buf))


def _objlist(e, buf):
    c = e.c
    a = c.alt.rstrip("/")
    w = _lw
    w.start((), buf, 0, len(buf))
    _c(w, 0x3C)
    put(w, a or "/", len(a or "/"))
    put(w, '>;rt="oma.lwm2m"', 16)
    if c.fmt != FMT_TLV:
        put(w, ";ct=", 4)
        put_dec(w, c.fmt)
    oid = 0
    while True:
        oid = next_key(e.objs, oid)
        if oid < 0:
            return w.i
        o = e.objs[oid]
        if o.VER or not o.inst:
            _obj(w, a, oid, -1, o.VER)
        iid = -1
        while True:
            iid = next_key(o.inst, iid)
            if iid < 0:
                break
            _obj(w, a, oid, iid, None)


def _obj(w, a, oid, iid, ver):
    # ,<alt/oid[/iid]>[;ver=..]
    put(w, ",<", 2)
    put(w, a, len(a))
    _c(w, 0x2F)
    put_dec(w, oid)
    if iid >= 0:
        _c(w, 0x2F)
        put_dec(w, iid)
    _c(w, 0x3E)
    if ver:
        put(w, ";ver=", 5)
        put(w, ver, len(ver))


def same(buf, n, b):
    # buf[:n] holds the bytes b (compared in place)
    if type(b) is not bytes or len(b) != n:
        return False
    for k in range(n):
        if buf[k] != b[k]:
            return False
    return True

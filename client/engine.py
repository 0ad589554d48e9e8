# Device Management & Service Enablement interface (transport spec §6.4.4):
# maps a CoAP request (method + path) to an LwM2M operation on the registry.
from client.coap import Msg, body
from client.render import path_in, read as read_into
from client.model import check
from client.codes import (ACCEPT, BAD_OPTION, BAD_REQUEST, BLOCK1, BLOCK2, CHANGED,
                          CONTENT, CONTENT_FORMAT, CREATED, CoapError, DELETE, DELETED,
                          E, FETCH, INTERNAL_SERVER_ERROR, FMT_JSON, FMT_LINK, FMT_LWM2M_CBOR, FMT_OPAQUE, FMT_SENML_CBOR,
                          FMT_SENML_JSON, FMT_TEXT, FMT_TLV, GET, IPATCH,
                          LOCATION_PATH, METHOD_NOT_ALLOWED, NOT_ACCEPTABLE, NOT_FOUND,
                          OBSERVE, OPAQUE, POST, PUT, R, UNAUTHORIZED,
                          UNSUPPORTED_CONTENT_FORMAT, URI_HOST, URI_PATH, URI_PORT,
                          URI_QUERY, W, quiet as _quiet)

# critical options this client understands (an unknown critical one -> 4.02)
_CRITICAL = (URI_HOST, URI_PORT, URI_PATH, URI_QUERY, ACCEPT, BLOCK2, BLOCK1)


def fmt(cf):
    # (enc, dec) of a content format, imported when first used
    if cf == FMT_TLV:
        from client import tlv
        return tlv.enc, tlv.dec
    if cf == FMT_TEXT:
        from client import text
        return text.enc, text.dec
    if cf == FMT_OPAQUE:
        from client import text
        return text.enc_opaque, text.dec_opaque
    if cf in (FMT_SENML_JSON, FMT_SENML_CBOR):
        from client import senml
        return (lambda r, b: senml.enc(r, b, cf)), (lambda p, b, t: senml.dec(p, b, t, cf))
    if cf == FMT_LWM2M_CBOR:
        from client import lwcbor
        return lwcbor.enc, lwcbor.dec
    if cf == FMT_JSON:
        from client import lwjson
        return lwjson.enc, lwjson.dec
    return None


def path_of(m, root=()):
    # root: the alternate path's segments (transport spec §6.4.1); requests
    # elsewhere are 4.04. (render.path_in: a parsed request's digits read in place)
    p = []
    a = m.all(URI_PATH)
    n = len(root)
    if n:
        if len(a) < n or any(bytes(a[i]) != root[i] for i in range(n)):
            raise CoapError(NOT_FOUND)
        a = a[n:]
    for s in a:
        try:
            v = int(str(s, "utf-8"))
        except Exception:
            raise CoapError(NOT_FOUND)
        if not 0 <= v <= 65535:
            raise CoapError(NOT_FOUND)
        p.append(v)
    if len(p) > 4:
        raise CoapError(NOT_FOUND)
    return tuple(p)


def text(b):
    # request bytes -> str, strict UTF-8 (overlong forms and surrogates too:
    # the port's decoder checks the byte structure only), else 4.00
    try:
        s = str(b, "utf-8")
        if len(s) != len(b):
            from client.cbor import utf8
            s = utf8(b)
        return s
    except UnicodeError:
        raise CoapError(BAD_REQUEST)


def pstr(p):
    return "/" + "/".join(str(x) for x in p)


class Engine:
    def __init__(self, client):
        self.c = client
        self.objs = client.objs
        self.blocks = None
        # alternate path (transport spec §6.4.1), e.g. "/alt": registered as
        # </alt>;rt="oma.lwm2m", every object served under it
        self.alt = getattr(client, "alt", "")
        self.root = tuple(x.encode() for x in self.alt.split("/") if x)

    def blk(self):
        # block-wise transfer, loaded on first use (RAM)
        if not self.blocks:
            from client.block import Blocks
            self.blocks = Blocks(self)
        return self.blocks

    def obj(self, oid):
        o = self.objs.get(oid)
        if o is None:
            raise CoapError(NOT_FOUND)
        return o

    def typeof(self, p):
        return self.obj(p[0]).typeof(p[2])

    # -- dispatch --------------------------------------------------------
    def request(self, m, srv):
        try:
            for k in range(m.no):
                n = m.on[k]
                if n & 1 and n not in _CRITICAL:
                    raise CoapError(BAD_OPTION)
            blk = m.has(BLOCK1) or m.has(BLOCK2)
            if blk:
                r = self.blk().block1(m, srv)    # a Block1 body is served once complete
                if r:
                    return r
            r = self.dispatch(m, path_of(m, self.root) if self.root or m.buf is None else path_in(m), srv)
            if blk and m.has(BLOCK1) and r.code < 128:
                r.add(BLOCK1, m.uint(BLOCK1) & ~8)
            if blk or len(r.payload) > 1024:
                body(r)     # a payload rendered in place: as bytes, to slice
                return self.blk().block2(m, r)
            return r
        except CoapError as e:
            return Msg(code=e.code)
        except UnicodeError:
            return Msg(code=BAD_REQUEST)    # text that is not UTF-8: a malformed request
        except MemoryError:
            raise       # not a bug: the exchange answers 5.03 (it allocates nothing for it)
        except Exception as e:
            # a genuine bug: 5.00, logged with the request's path
            self.c.log("error", m.code, "/" + "/".join("".join(map(chr, bytes(s))) for s in m.all(URI_PATH)), repr(e))
            return Msg(code=INTERNAL_SERVER_ERROR)

    def dispatch(self, m, path, srv):
        code = m.code
        c = self.c
        if path and path[0] == 0:   # Security: for bootstrap servers only
            raise CoapError(UNAUTHORIZED if path[0] in self.objs else NOT_FOUND)
        if code == GET:
            acc = m.uint(ACCEPT)
            if path:
                self.allow(srv, R, path)    # Read, Discover, Observe
            if acc == FMT_LINK:
                if not path:
                    raise CoapError(METHOD_NOT_ALLOWED)
                from client.linkf import discover
                return discover(self, m.reply(CONTENT), path, srv)
            if not path:
                raise CoapError(METHOD_NOT_ALLOWED)
            if m.has(OBSERVE):
                return c.rep().observe(m, path, srv, acc)
            return self.read(path, acc, srv, m)
        if code == PUT:
            if not m.payload and m.opt(CONTENT_FORMAT) is None and m.opt(URI_QUERY) is not None:
                if not path:                # Write-Attributes needs an object at least
                    raise CoapError(METHOD_NOT_ALLOWED)
                self.allow(srv, R, path)    # Write-Attributes
                self.exists(path)
                from client.attrs import write
                write(c.rep(), path, [text(q) for q in m.all(URI_QUERY)], srv)
                return Msg(code=CHANGED)
            if len(path) < 2:
                raise CoapError(METHOD_NOT_ALLOWED)
            self.allow(srv, W, path)
            self.write(m, path, True, srv)
            return Msg(code=CHANGED)
        if code == POST:
            if len(path) == 1:
                self.allow(srv, 16, path)   # Create
                return self.create(m, path, srv)
            if len(path) == 3 and self.obj(path[0]).res(path[2])[1] & E:
                o = self.obj(path[0])
                o.get(path[1])
                if path[2] not in o.inst[path[1]]:
                    raise CoapError(NOT_FOUND)
                self.allow(srv, E, path)
                arg = text(m.payload) if m.payload else ""
                if c.log is not _quiet:
                    c.log("execute", pstr(path))
                o.execute(path[1], path[2], arg)
                return Msg(code=CHANGED)
            # partial update: an instance, or (1.1) a multiple resource's instances
            if len(path) == 2 or len(path) == 3 and self.obj(path[0]).res(path[2])[3]:
                self.allow(srv, W, path)
                self.write(m, path, False, srv)
                return Msg(code=CHANGED)
            raise CoapError(METHOD_NOT_ALLOWED)
        if code == DELETE:
            # single-instance objects (Device, ...) and Server accounts stay
            if len(path) != 2 or path[0] == 1 or not self.obj(path[0]).MULTI:
                raise CoapError(METHOD_NOT_ALLOWED)
            self.allow(srv, 8, path)        # Delete
            self.obj(path[0]).delete(path[1])
            if c.acl:
                c.acl(srv, 0, path)         # its Access Control instance goes
            c.log("delete", pstr(path))
            c.changed(path, True)
            return Msg(code=DELETED)
        if code in (FETCH, IPATCH):
            from client.composite import composite
            return composite(c.rep(), m, srv)
        raise CoapError(METHOD_NOT_ALLOWED)

    def allow(self, srv, op, path):
        # Access Control (objects/acl.py): 4.01 when srv lacks the right
        if not self.can(srv, op, path):
            raise CoapError(UNAUTHORIZED)

    def can(self, srv, op, path):
        g = srv and getattr(srv, "grant", None)     # a local peer (client/local.py)
        if g:
            return g(op, path)
        a = self.c.acl
        return not (a and srv) or a(srv, op, path)

    def iids(self, o, srv):
        # instances of o, those srv may not read left out
        return [i for i in sorted(o.inst) if self.can(srv, R, (o.ID, i))]

    def _content(self, payload, cf):
        return Msg(code=CONTENT, payload=payload).add(CONTENT_FORMAT, cf)

    def exists(self, path):
        if path and path[0] == 0:   # Security, also inside composite operations
            raise CoapError(UNAUTHORIZED)
        o = self.obj(path[0])
        if len(path) > 1:
            o.get(path[1])
        if len(path) > 2:
            o.res(path[2])
            if path[2] not in o.inst[path[1]]:
                raise CoapError(NOT_FOUND)
        return o

    # -- Read --------------------------------------------------------------
    def collect(self, path, srv=None):
        # records (path, type, value) under path, readable resources only
        o = self.exists(path)
        out = []
        n = len(path)
        for iid in ([path[1]] if n > 1 else self.iids(o, srv)):
            for rid in ([path[2]] if n > 2 else o.rids(iid)):
                r = o.res(rid)
                if not r[1] & R:
                    if n > 2:
                        raise CoapError(METHOD_NOT_ALLOWED)
                    continue
                v = o.read(iid, rid)
                if r[3]:
                    if n == 4 and path[3] not in v:
                        raise CoapError(NOT_FOUND)
                    for ri in sorted(v):
                        if n < 4 or ri == path[3]:
                            out.append(((o.ID, iid, rid, ri), r[2], v[ri]))
                elif n == 4:
                    raise CoapError(NOT_FOUND)
                else:
                    out.append(((o.ID, iid, rid), r[2], v))
        return out

    def encode(self, path, recs, acc):
        # pick the format: Accept, else text/opaque for one value, else TLV
        if acc is None:
            acc = self.c.fmt
            if len(path) > 2 and len(recs) == 1 and len(recs[0][0]) == len(path):
                acc = FMT_OPAQUE if recs[0][1] == OPAQUE else FMT_TEXT
        f = fmt(acc)
        if not f:
            raise CoapError(NOT_ACCEPTABLE)
        return f[0](recs, path), acc

    def read(self, path, acc, srv=None, m=None):
        # m: the request (its reused response, rendered in place)
        r = m.reply(CONTENT) if m else Msg(code=CONTENT)
        cf = self.render(r, path, acc, srv)
        if self.c.log is not _quiet:
            self.c.log("read", pstr(path), cf)
        return r

    def render(self, r, path, acc, srv=None):
        # the representation of path into r, in place (client/render.py);
        # returns the content format
        return read_into(self, r, path, acc, srv)

    # -- Write / Create ----------------------------------------------------
    def decode(self, m, path):
        cf = m.uint(CONTENT_FORMAT)
        f = fmt(cf) if cf is not None else None
        if not f:
            raise CoapError(UNSUPPORTED_CONTENT_FORMAT if cf is not None else BAD_REQUEST)
        return f[1](m.payload, path, self.typeof)

    def write(self, m, path, replace, srv, create=False):
        o = self.exists(path)
        recs = self.decode(m, path)
        # validate everything first: nothing is written unless all of it fits
        todo = []
        for p, v in recs:
            if p[:len(path)] != path or len(p) < 3:
                raise CoapError(BAD_REQUEST)
            r = o.res(p[2])
            if not (r[1] & W or create):
                raise CoapError(METHOD_NOT_ALLOWED)
            if (len(p) == 4) != bool(r[3]):
                raise CoapError(BAD_REQUEST)
            todo.append((p, check(r, v)))
        if not todo and len(path) < 3:
            raise CoapError(BAD_REQUEST)
        done = {}
        for p, v in todo:
            iid, rid = p[1], p[2]
            if replace and len(p) == 4 and (iid, rid) not in done and len(path) < 4:
                o.inst[iid][rid] = {}   # replace all instances of a multiple resource
            done[(iid, rid)] = 1
            o.write(iid, rid, v, p[3] if len(p) == 4 else None)
        if self.c.log is not _quiet:
            self.c.log("write", pstr(path))
        for iid, rid in done:
            self.c.changed((o.ID, iid, rid))

    def create(self, m, path, srv):
        o = self.obj(path[0])
        recs = self.decode(m, path)
        iids = set(p[1] for p, v in recs)
        if len(iids) > 1:
            raise CoapError(BAD_REQUEST)
        iid = iids.pop() if iids else None
        if iid is None:
            iid = o.free_iid()
        if iid in o.inst:
            raise CoapError(BAD_REQUEST)
        o.create(iid)
        try:
            self._apply(o, [((p[0], iid) + p[2:], v) for p, v in recs])
        except CoapError:
            del o.inst[iid]         # roll back a create that failed half-way
            raise
        if self.c.acl:
            self.c.acl(srv, 0, (o.ID, iid))     # owned by its creator
        self.c.log("create", pstr((o.ID, iid)))
        self.c.changed((o.ID, iid), True)
        return Msg(code=CREATED).add(LOCATION_PATH, str(o.ID)).add(LOCATION_PATH, str(iid))

    def _apply(self, o, recs):
        for p, v in recs:
            r = o.res(p[2])
            if (len(p) == 4) != bool(r[3]):
                raise CoapError(BAD_REQUEST)
            o.write(p[1], p[2], check(r, v), p[3] if len(p) == 4 else None)

    # -- Discover / registration payload -----------------------------------
    def discover(self, path, srv):
        o = self.exists(path)
        rep = self.c.reporter
        if rep and rep.attrs:
            from client.attrs import text as attrs
        out = []
        n = len(path)

        def add(p, extra=""):
            out.append("<%s>%s%s" % (pstr(p), extra, attrs(rep, p, srv) if rep and rep.attrs else ""))
        if n == 1:
            add(path, ";ver=" + o.VER if o.VER else "")
        for iid in ([path[1]] if n > 1 else self.iids(o, srv)):
            if n < 3:
                add((o.ID, iid))
            for rid in ([path[2]] if n > 2 else o.rids(iid)):
                r = o.res(rid)
                p = (o.ID, iid, rid)
                if r[3]:
                    v = o.inst[iid][rid] if not r[1] & R else o.read(iid, rid)
                    add(p, ";dim=%d" % len(v or ()))
                    if n > 2:
                        for ri in sorted(v or ()):
                            add(p + (ri,))
                else:
                    add(p)
        return ",".join(out)

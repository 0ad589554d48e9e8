# The operations of the Bootstrap interface (transport spec §6.4.2) the
# client serves between Bootstrap-Request and Bootstrap-Finish, and
# unbootstrapping (§5.2.5). Loaded for one bootstrap session only
# (client/bootstrap.py drops the module afterwards: RAM).
from client.coap import Msg
from client.engine import path_of, pstr
from client.reg import parse_uri
from client.model import check
from client.codes import *


def snapshot(objs):
    # every instance dict, deep enough to roll back (values are immutable
    # or {riid: value} dicts)
    return {oid: {k: {r: (dict(v) if isinstance(v, dict) else v) for r, v in i.items()}
                  for k, i in o.inst.items()} for oid, o in objs.items()}


def serve(bs, m):
    c = bs.c
    code = m.code
    p = m.all(URI_PATH)
    if len(p) == 1 and bytes(p[0]) == b"bs":
        if code != POST:
            raise CoapError(METHOD_NOT_ALLOWED)
        return finish(bs)
    path = path_of(m)
    if code == PUT:
        iids = write(c, m, path)
        if path and path[0] == 0:
            bs.written.update(iids)     # Security instances this session wrote
        return Msg(code=CHANGED)
    if code == DELETE:
        delete(bs, path)
        return Msg(code=DELETED)
    if code == GET:
        if m.uint(ACCEPT) == FMT_LINK:
            r = Msg(code=CONTENT, payload=discover(c, path).encode())
            return r.add(CONTENT_FORMAT, FMT_LINK)
        if not path or path[0] != 2:    # Bootstrap-Read: Access Control only
            raise CoapError(UNAUTHORIZED)
        return c.engine.read(path, m.uint(ACCEPT))
    raise CoapError(METHOD_NOT_ALLOWED)


# -- Bootstrap-Write: created if missing, whatever the access rights ---------
def write(c, m, path):
    o = c.objs.get(path[0]) if path else None
    if o is None:
        raise CoapError(BAD_REQUEST)
    try:
        recs = c.engine.decode(m, path)
    except CoapError as e:
        raise CoapError(e.code if e.code == UNSUPPORTED_CONTENT_FORMAT else BAD_REQUEST)
    todo = []
    iids = [path[1]] if len(path) > 1 else []
    for p, v in recs:
        if p[:len(path)] != path or len(p) < 3:
            raise CoapError(BAD_REQUEST)
        r = o.res(p[2])
        if (len(p) == 4) != bool(r[3]):
            raise CoapError(BAD_REQUEST)
        todo.append((p, check(r, v)))
        iids.append(p[1])
    if not iids:
        raise CoapError(BAD_REQUEST)
    for iid in iids:
        if iid not in o.inst and o.inst and not o.MULTI:
            raise CoapError(BAD_REQUEST)
    for iid in iids:
        if iid not in o.inst:
            o.create(iid)
    done = set()
    for p, v in todo:
        iid, rid = p[1], p[2]
        if len(p) == 4 and (iid, rid) not in done and len(path) < 4:
            o.inst[iid][rid] = {}   # a multiple resource is replaced whole
        done.add((iid, rid))
        o.write(iid, rid, v, p[3] if len(p) == 4 else None)
    c.log("bootstrap write", pstr(path))
    return iids


# -- Bootstrap-Delete, with unbootstrapping of deleted accounts --------------
def delete(bs, path):
    c = bs.c
    objs = c.objs
    if len(path) > 2:
        raise CoapError(BAD_REQUEST)
    k = bs.account()
    # "/" clears the configuration (Security but the bootstrap account,
    # Server, Access Control); the device's own instances (sensors...)
    # stay, as single-instance objects always do
    for oid in (path[:1] or [x for x in (0, 1, 2) if x in objs]):
        o = objs.get(oid)
        if o is None:
            raise CoapError(BAD_REQUEST)
        if len(path) == 2:
            iid = path[1]
            if iid not in o.inst or not o.MULTI or (oid == 0 and iid == k):
                raise CoapError(BAD_REQUEST)
            iids = [iid]
        elif not o.MULTI:
            continue
        else:
            iids = [i for i in o.inst if oid or i != k]
        for iid in iids:
            i = o.inst.pop(iid, None)
            if oid == 0 and i and not i.get(1) and i.get(10) is not None:
                unbootstrap(c, i[10])
    c.log("bootstrap delete", pstr(path))


def unbootstrap(c, ssid):
    # §5.2.5: the account's Server instance, what only it could access
    # (Access Control), its observations
    srv = c.objs[1].inst
    for k in [k for k in srv if srv[k].get(0) == ssid]:
        del srv[k]
    if 2 in c.objs:
        c.objs[2].forget(ssid)
    s = c.server(ssid)
    if s and c.reporter:
        c.reporter.drop(s)
    c.log("unbootstrap ssid", ssid)


# -- Bootstrap-Discover --------------------------------------------------------
def discover(c, path):
    if len(path) > 1:
        raise CoapError(BAD_REQUEST)
    objs = c.objs
    out = ["</>;lwm2m=1.1"]
    for oid in (path or sorted(objs)):
        o = objs.get(oid)
        if o is None:
            raise CoapError(NOT_FOUND)
        if o.VER or not o.inst:
            out.append("</%d>%s" % (oid, ";ver=" + o.VER if o.VER else ""))
        for iid in sorted(o.inst):
            i = o.inst[iid]
            a = ""
            if oid == 0 and not i.get(1) and i.get(10) is not None:
                a = ';ssid=%d;uri="%s"' % (i[10], i.get(0))
            elif oid == 1:
                a = ";ssid=%d" % i.get(0)
            out.append("</%d/%d>%s" % (oid, iid, a))
    return ",".join(out)


# -- Bootstrap-Finish -----------------------------------------------------------
def finish(bs):
    c = bs.c
    _one_bootstrap_account(bs)
    why = consistent(c)
    if why:
        c.log("bootstrap config refused:", why)
        bs.fail(why)
        raise CoapError(NOT_ACCEPTABLE)
    t = c.board.time()
    for i in c.objs[1].inst.values():
        i[12] = t           # Last Bootstrapped
    bs.finished()
    c.log("bootstrap finished")
    return Msg(code=CHANGED)


def _one_bootstrap_account(bs):
    # the server wrote its own Bootstrap-Server account under a new instance
    # id (often after Delete /0, which keeps ours): the one it wrote is the
    # one it wants, the kept one goes. Two written by the server stay two
    # (inconsistent, refused below).
    sec = bs.c.objs[0].inst
    ks = [k for k, i in sec.items() if i.get(1)]
    new = [k for k in ks if k in bs.written]
    if len(ks) > 1 and len(new) == 1:
        for k in ks:
            if k != new[0]:
                del sec[k]
                bs.c.log("bootstrap account", k, "replaced by", new[0])


def consistent(c):
    # None when the configuration can be used, else what is wrong
    objs = c.objs
    ssids = []
    n = 0
    for i in objs[0].inst.values():
        if i.get(1):
            n += 1
            continue
        s = i.get(10)
        if s is None or not 0 < s < 65535 or s in ssids:
            return "ssid"
        ssids.append(s)
        try:
            sec = parse_uri(i.get(0))[2]
        except Exception:
            return "uri of ssid %d" % s
        mode = i.get(2)
        # what this client can use: PSK (identity /0/x/3, key /0/x/5) or
        # certificates (own certificate /0/x/3, private key /0/x/5, the
        # server's certificate or trust anchor /0/x/4) over coaps, NoSec
        # over coap; not RPK (1) or EST (4)
        if not (mode == 3 and not sec or mode == 0 and sec and i.get(3) and i.get(5)
                or mode == 2 and sec and i.get(3) and i.get(4) and i.get(5)):
            return "security mode of ssid %d" % s
    srv = sorted(i.get(0) for i in objs[1].inst.values())
    if n > 1:
        return "two bootstrap accounts"
    if not ssids:
        return "no server account"
    if srv != sorted(ssids):
        return "Security and Server instances do not pair up"
    return None


def apply(bs):
    # the new configuration is in place: accounts whose URI changed or that
    # went away are closed, it is saved, every account registers again
    c = bs.c
    sec = c.objs[0].inst
    uris = {i.get(10): i.get(0) for i in sec.values() if not i.get(1)}
    keep = []
    for s in c.servers:
        if uris.get(s.ssid) == s.uri:
            keep.append(s)
        elif s.ex:
            s.ex.cancel()
            s.ex.tr.close()
            s.ex = None
    c.servers = keep
    c.accounts()
    if c.store:
        c.store.save()      # kept before anything else happens
    for s in c.servers:
        s.fails = 0
        s.register()
    k = bs.account()
    t = sec[k].get(12) if k is not None else 0
    bs.purge = c.board.clock.ms() + t * 1000 if t else 0

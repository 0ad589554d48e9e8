# The LwM2M 1.1 operations of the Information Reporting interface that carry
# SenML JSON/CBOR: Read-Composite and Observe-Composite (FETCH),
# Write-Composite (iPATCH), Send (POST /dp). Loaded on first use (the
# Reporter, client/report.py, keeps their state).
from micropython import const
from client.coap import Msg
from client.ids import SRV_MUTE_SEND
from client.engine import pstr
from client.engine import fmt
from client.model import check
from client.report import Obs
from client.codes import (ACCEPT, BAD_REQUEST, CHANGED, CON, CONTENT, CONTENT_FORMAT, CoapError, FETCH,
                          FMT_SENML_CBOR, FMT_SENML_JSON, METHOD_NOT_ALLOWED, NOT_ACCEPTABLE,
                          OBSERVE, POST, R, UNSUPPORTED_CONTENT_FORMAT, URI_PATH, W)

_R_OPS = const(1)       # a RES table row (client/model.py): operations, ..., multiple
_R_MULTI = const(3)


def composite(rep, m, srv):
    # FETCH: Read-/Observe-Composite; iPATCH: Write-Composite (SenML JSON/CBOR)
    cf = m.uint(CONTENT_FORMAT)
    if cf not in (FMT_SENML_JSON, FMT_SENML_CBOR):
        raise CoapError(UNSUPPORTED_CONTENT_FORMAT)
    from client import senml
    acc = m.uint(ACCEPT, cf)
    if m.code == FETCH:
        paths = senml.dec_paths(m.payload, cf)
        for p in paths:
            rep.c.engine.exists(p)
            rep.c.engine.allow(srv, R, p)      # Access Control per path
        o = m.uint(OBSERVE)
        if o is not None:
            rep.cancel(srv, m.tok())
            if o == 0:
                return rep._start(Obs(srv, m.tok(), paths, acc, True))
        return read(rep, paths, acc)
    # iPATCH: Write-Composite, validated as a whole before anything is written
    e = rep.c.engine
    todo = []
    for p, v in senml.dec(m.payload, (), e.typeof, cf):
        o = e.exists(p[:2])
        e.allow(srv, W, p)
        r = o.res(p[2])
        if not r[_R_OPS] & W or (len(p) == 4) != bool(r[_R_MULTI]) or v is None:
            raise CoapError(BAD_REQUEST if v is None else METHOD_NOT_ALLOWED)
        todo.append((o, p, check(r, v)))
    for o, p, v in todo:
        o.write(p[1], p[2], v, p[3] if len(p) == 4 else None)
    for o, p, v in todo:
        rep.c.changed(p[:3])
    return Msg(code=CHANGED)


def read(rep, paths, acc):
    if acc not in (FMT_SENML_JSON, FMT_SENML_CBOR):
        raise CoapError(NOT_ACCEPTABLE)
    recs = []
    for p in paths:
        recs.extend(rep.c.engine.collect(p))
    return Msg(code=CONTENT, payload=fmt(acc)[0](recs, ())).add(CONTENT_FORMAT, acc)


# -- Send (POST /dp) ---------------------------------------------------------
def send(rep, paths, cf):
    # queued until a server is ready (Reporter.sends, flushed by its step)
    rep.sends.append((paths, cf))
    flush_sends(rep)


def flush_sends(rep):
    c = rep.c
    while rep.sends:
        srv = None
        for s in c.servers:
            if s.ready() and not s.res(SRV_MUTE_SEND, False) and not s.ex.busy():
                srv = s
                break
        if not srv:
            return
        paths, cf = rep.sends.pop(0)
        from client import senml
        recs = []
        for p in paths:
            recs.extend(c.engine.collect(p))
        m = Msg(CON, POST, token=srv.ex.token(), payload=senml.enc_send(recs, cf))
        m.add(URI_PATH, "dp").add(CONTENT_FORMAT, cf)
        c.log("send", ",".join(pstr(p) for p in paths))
        srv.ex.send(m, lambda r: c.log("send done", r and r.code))

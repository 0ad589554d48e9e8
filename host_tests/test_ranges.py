"""Values outside their range are refused, never obeyed (issue 10, point 2).

The RES tables carry the OMA ranges (6th field); the engine checks them on
every Write (Device Management, Write-Composite, Bootstrap-Write) in one
place (client/model.check): out of range -> 4.00 and nothing changed. The
registration machine has a floor (one Update of its own per
MAX_TRANSMIT_WAIT/2) and re-Registers after refused Updates with the
back-off. Runs the real client in process on the virtual clock
(host_tests/mpharness.py)."""
import ast

import pytest
from mpharness import prelude

# the ranges the OMA object definitions give (LwM2M 1.1 Core E.1-E.5, the
# object registry for 19): (oid, rid) -> rng
OMA = {
    (0, 2): (0, 4), (0, 10): (0, 65535), (0, 15): (0, 3), (0, 0): 255,
    (1, 0): (1, 65534), (1, 1): (1, 0x7FFFFFFF), (1, 2): (0, 0x7FFFFFFF), (1, 3): (0, 0x7FFFFFFF),
    (1, 5): (0, 0x7FFFFFFF), (1, 7): "UTSNQM", (1, 17): (1, 255), (1, 18): (1, 0x7FFFFFFF),
    (1, 19): (1, 0x7FFFFFFF), (1, 20): (1, 255), (1, 26): (0, 1),
    (2, 0): (1, 65534), (2, 1): (0, 65535), (2, 2): (0, 31), (2, 3): (0, 65535),
    (3, 6): (0, 7), (3, 9): (0, 100), (3, 11): (0, 32), (3, 13): (0, None),
    (4, 0): (0, 50), (4, 1): (0, 50),
    (19, 1): (0, 255), (19, 2): (0, None), (19, 5): (0, 65535),
}


def run(mp, body, lifetime=86400):
    out = mp(prelude(lifetime) + HELPERS + body, timeout=120)
    return ast.literal_eval(out.strip().splitlines()[-1])


HELPERS = r"""
from client import bsif, tlv

def value(oid, iid, rid):
    return c.objs[oid].inst[iid].get(rid)

def bswrite(path, payload, cf=FMT_TEXT):
    # a Bootstrap-Write as the bootstrap interface serves it
    m = coap.Msg(CON, PUT, 1, b"b")
    for x in path.strip("/").split("/"):
        m.add(URI_PATH, x)
    m.add(CONTENT_FORMAT, cf)
    m.payload = payload
    m = coap.parse(coap.build(m))
    try:
        bsif.write(c, m, bsif.path_of(m))
        return CHANGED
    except CoapError as e:
        return e.code

def outside(rng):
    # values just outside a numeric range (and far outside)
    lo, hi = rng
    v = []
    if lo is not None:
        v += [lo - 1, lo - (1 << 40)]
    if hi is not None:
        v += [hi + 1, hi + (1 << 40)]
    return v
"""


def test_tables_carry_the_oma_ranges(mp):
    got = run(mp, r"""
out = {}
for oid, o in c.objs.items():
    for r in o.RES:
        if len(r) > 5:
            out[(oid, r[0])] = r[5]
print(out)
""")
    for k, rng in OMA.items():
        assert got.get(k) == rng, (k, got.get(k), rng)


def test_every_writable_numeric_resource_out_of_range_is_refused(mp):
    # objects 1, 3, 19 (and 3303, 4: nothing numeric is writable -> 4.05) by
    # Device Management Write in text and TLV; 0 and 2 by Bootstrap-Write
    res = run(mp, r"""
c.objs[19].create(1)
c.objs[2].create(0)
c.objs[2].inst[0].update({0: 3, 1: 0, 2: {1: 7}, 3: 1})
NUM = (INT, UINT, FLOAT, TIME)
for oid in (1, 3, 19):
    # optional resources get an in-range value first (a Write on an absent
    # resource is 4.04, not what this test is about)
    o = c.objs[oid]
    for r in o.RES:
        if r[1] & W and r[2] in NUM and len(r) > 5:
            o.inst[0].setdefault(r[0], r[5][0] or 0)
tried = []
bad = []
for oid in (0, 1, 2, 3, 4, 19, 3303):
    o = c.objs[oid]
    iid = min(o.inst)
    for r in o.RES:
        rid = r[0]
        if r[2] not in NUM:
            continue
        if not r[1] & W:
            if oid not in (0, 2) and rid in o.inst[iid]:
                # not writable: 4.05 (refused before anything is decoded)
                x = req(PUT, "/%d/%d/%d" % (oid, iid, rid), [(CONTENT_FORMAT, FMT_TEXT)], b"1")
                if x.code != METHOD_NOT_ALLOWED:
                    bad.append((oid, rid, "ro", x.code))
                tried.append((oid, rid, "ro"))
            if oid not in (0, 2):
                continue
        rng = r[5] if len(r) > 5 else None
        if rng is None:
            bad.append((oid, rid, "no range"))
            continue
        for v in outside(rng):
            riid = 1 if r[3] else None
            before = value(oid, iid, rid)
            before = dict(before) if isinstance(before, dict) else before
            p = "/%d/%d/%d" % (oid, iid, rid) + ("/%d" % riid if r[3] else "")
            if oid in (0, 2):
                codes = [bswrite(p, b"%d" % v)]
            else:
                # text, and TLV on the instance (a whole-instance write)
                codes = [req(PUT, p, [(CONTENT_FORMAT, FMT_TEXT)], b"%d" % v).code]
                if not r[3]:
                    t = tlv.enc([((oid, iid, rid), INT, v)], (oid, iid))
                    codes.append(req(POST, "/%d/%d" % (oid, iid), [(CONTENT_FORMAT, FMT_TLV)], t).code)
            after = value(oid, iid, rid)
            if any(x != BAD_REQUEST for x in codes) or after != before:
                bad.append((oid, rid, v, codes, before, after))
            tried.append((oid, rid, v))
print([bad, len(tried), sorted(set((t[0], t[1]) for t in tried))])
""")
    bad, n, covered = res
    assert bad == []
    # the writable numeric ones of the list are all there
    for k in [(0, 2), (0, 10), (0, 11), (0, 12), (0, 15), (1, 1), (1, 2), (1, 3), (1, 5), (1, 17),
              (1, 18), (1, 19), (1, 20), (1, 26), (2, 2), (2, 3), (3, 13), (19, 1), (19, 2), (19, 5),
              (3303, 5700), (4, 0), (4, 2)]:
        assert k in covered, k
    assert n > 60


def test_strings_binding_and_in_range_values(mp):
    res = run(mp, r"""
out = []
def put(path, payload):
    return req(PUT, path, [(CONTENT_FORMAT, FMT_TEXT)], payload).code
for bb in (b"X", b"", b"U Q", b"u"):
    out.append(("binding", bb, put("/1/0/7", bb), value(1, 0, 7)))
out.append(("utc", put("/3/0/14", b"soon"), value(3, 0, 14)))
out.append(("tz", put("/3/0/15", b"x" * 65), value(3, 0, 15)))
out.append(("uri", bswrite("/0/0/0", b"coap://" + b"h" * 250), value(0, 0, 0)[:7]))
# in range: accepted
out.append(("ok", put("/1/0/7", b"UQ"), value(1, 0, 7), put("/1/0/2", b"0"), req(POST, "/19/0", [(CONTENT_FORMAT, FMT_TLV)], tlv.enc([((19, 0, 1), INT, 255)], (19, 0))).code,
            put("/3/0/14", b"+01:00"), bswrite("/0/0/15", b"3"), bswrite("/0/0/2", b"2")))
# a multi-record write with one bad value changes nothing
t = tlv.enc([((1, 0, 2), INT, 5), ((1, 0, 3), INT, -5)], (1, 0))
out.append(("partial", req(POST, "/1/0", [(CONTENT_FORMAT, FMT_TLV)], t).code, value(1, 0, 2)))
print(out)
""")
    for name, payload, code, after in res[:4]:
        assert code == 0x80 and after == "U", (payload, code, after)
    assert res[4] == ("utc", 0x80, "+00:00")
    assert res[5] == ("tz", 0x80, "UTC")
    assert res[6] == ("uri", 0x80, "coap://")
    assert res[7] == ("ok", 0x44, "UQ", 0x44, 0x44, 0x44, 0x44, 0x44)
    assert res[8] == ("partial", 0x80, 0)


def test_lifetime_writes_then_60s_at_most_2_updates(mp):
    # lifetime 0, -1, 2^31 (refused), then 60 s of client time: no flood
    res = run(mp, r"""
def updates(since):
    return [t for t, m in sent if t >= since and m.code == POST and m.strs(URI_PATH) == ["rd", "x"]]
def registers(since):
    return [t for t, m in sent if t >= since and m.code == POST and m.strs(URI_PATH) == ["rd"]]
t0 = b.clock.ms()
codes = [req(PUT, "/1/0/1", [(CONTENT_FORMAT, FMT_TEXT)], v).code for v in (b"0", b"-1", b"2147483648")]
codes.append(req(PUT, "/1/0/1", [(CONTENT_FORMAT, FMT_TLV)], tlv.enc([((1, 0, 1), INT, 0)], (1, 0, 1))).code)
life = value(1, 0, 1)
run(60000)
n1 = len(updates(t0)) + len(registers(t0))
# the smallest lifetime a server may set (1 s): the write triggers one
# Update, then the floor allows one per MAX_TRANSMIT_WAIT/2 (46.5 s)
t1 = b.clock.ms()
codes.append(req(PUT, "/1/0/1", [(CONTENT_FORMAT, FMT_TEXT)], b"1").code)
run(60000)
u = updates(t1)
print([codes, life, n1, len(u), [x - t1 for x in u], len(registers(t1))])
""")
    codes, life, n1, nu, at, nreg = res
    assert codes == [0x80, 0x80, 0x80, 0x80, 0x44]
    assert life == 86400
    assert n1 <= 2
    assert nu <= 2 and nreg == 0, at
    if nu == 2:
        assert at[1] - at[0] >= 46500


def test_refused_updates_reregister_with_backoff(mp):
    # a server that refuses every Update (4.00) but accepts Register: the
    # first refusal re-Registers at once, the next ones wait the back-off
    res = run(mp, r"""
UPDATE_CODE = BAD_REQUEST     # the harness's server now refuses every Update
t0 = b.clock.ms()
for i in range(300):
    c.servers[0].trigger()      # the server asks for an Update every second
    run(1000)
regs = [t - t0 for t, m in sent if t >= t0 and m.code == POST and m.strs(URI_PATH) == ["rd"]]
ups = [t - t0 for t, m in sent if t >= t0 and m.code == POST and m.strs(URI_PATH) == ["rd", "x"]]
print([regs, ups])
""")
    regs, ups = res
    # 5 minutes: a handful of Registers, not thousands; the first right after
    # the first refusal, then Communication Retry Timer (60 s) doubling
    assert 3 <= len(regs) <= 5, regs
    assert len(ups) <= len(regs) + 1, ups
    assert regs[0] - ups[0] < 1000
    gaps = [b - a for a, b in zip(regs, regs[1:])]
    assert all(g >= 60000 for g in gaps), gaps
    assert gaps[1] >= 120000, gaps

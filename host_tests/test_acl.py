"""Access Control (object 2, core spec): the check the engine makes before
every Device Management operation, with one and with two servers; the
rules for instance creation and ownership; unbootstrapping (§5.2.5).
Unit tests drive the engine in-process on the unix port; the end-to-end
test bootstraps a client with two real servers holding different rights."""
import ast

from devserver.formats import tlv_decode, tlv_instance, tlv_resource

TLV, TEXT, LINK = 11542, 0, 40

PRELUDE = r"""
from client.client import Client
from client import coap
from client.coap import Msg
from client.codes import *
from objects.security import Security
from objects.server import Server
from objects.acl import AccessControl
from objects.device import Device
from objects.ipso import Sensor
from boards.virtual import VirtualBoard
b = VirtualBoard("/tmp/acl-test-nowhere")
sec, srv, acl = Security(), Server(), AccessControl()
sec.add(0, "coap://127.0.0.1:1", ssid=1)
srv.add(0, 1)
t = Sensor()
t.create(0)
c = Client(b, "t", [sec, srv, acl, Device(b), t])
c.acl = acl.check

def two():
    sec.add(1, "coap://127.0.0.1:2", ssid=2)
    srv.add(1, 2)
    c.accounts()

def req(s, method, path, payload=b"", ct=None, accept=None, query=()):
    m = Msg(CON, method, 1, b"t", payload=payload)
    for p in path.strip("/").split("/"):
        if p:
            m.add(URI_PATH, p)
    if ct is not None:
        m.add(CONTENT_FORMAT, ct)
    if accept is not None:
        m.add(ACCEPT, accept)
    for q in query:
        m.add(URI_QUERY, q)
    r = c.engine.request(coap.parse(coap.build(m)), s)
    return "%d.%02d" % (r.code >> 5, r.code & 31)

TEXT, TLV = FMT_TEXT, FMT_TLV

def out(x):
    print(repr(x))
"""


def run(mp, code):
    return [ast.literal_eval(l) for l in mp(PRELUDE + code).splitlines() if l.strip()]


def test_single_server_may_do_everything(mp):
    # one Server instance: no Access Control instances needed, no checks
    res = run(mp, r"""
A = c.server(1)
out([req(A, GET, "/3/0/0"), req(A, PUT, "/3/0/15", b"UTC", TEXT),
     req(A, POST, "/3/0/12"), req(A, POST, "/3303", b"", TLV),
     req(A, DELETE, "/3303/1"), req(A, GET, "/3303", accept=40),
     req(A, GET, "/0/0"), len(acl.inst)])
""")
    # Security stays out of reach whatever the rights; no ACL instance appears
    assert res == [["2.05", "2.04", "2.04", "2.01", "2.02", "2.05", "4.01", 0]]


def test_two_servers_rights(mp):
    res = run(mp, r"""
two()
A, B = c.server(1), c.server(2)
# /3/0: A read/write/execute, B read only; A owns it
acl.inst[0] = {0: 3, 1: 0, 2: {1: 7, 2: 1}, 3: 1}
# /3303/0: owned by A, no ACL entries: A full rights, B none
acl.inst[1] = {0: 3303, 1: 0, 2: {}, 3: 1}
# object-level 3303: only A may create
acl.inst[2] = {0: 3303, 1: 65535, 2: {1: 16}, 3: 65535}
out(("read", req(A, GET, "/3/0/0"), req(B, GET, "/3/0/0"), req(B, GET, "/3/0"), req(B, GET, "/3")))
out(("write", req(A, PUT, "/3/0/15", b"CET", TEXT), req(B, PUT, "/3/0/15", b"X", TEXT),
     req(B, POST, "/3/0", b"", TLV)))
out(("execute", req(A, POST, "/3/0/12"), req(B, POST, "/3/0/12")))
out(("sensor", req(A, GET, "/3303/0/5700"), req(B, GET, "/3303/0/5700"),
     req(B, GET, "/3303/0", accept=40), req(B, PUT, "/3303/0", query=["pmax=10"]),
     req(B, GET, "/3303"), req(B, DELETE, "/3303/0")))
# Observe is a Read
m = Msg(CON, GET, 1, b"o")
for p in ("3303", "0", "5700"):
    m.add(URI_PATH, p)
m.add(OBSERVE, 0)
r = c.engine.request(coap.parse(coap.build(m)), B)
out(("observe", "%d.%02d" % (r.code >> 5, r.code & 31)))
# Create: the Create right of the object-level instance; the creator owns the new one
out(("create", req(B, POST, "/3303", b"", TLV), req(A, POST, "/3303", b"", TLV),
     [(i[0], i[1], i[3]) for k, i in sorted(acl.inst.items()) if i[0] == 3303 and i[1] == 1]))
out(("new", req(A, GET, "/3303/1"), req(B, GET, "/3303/1"), req(A, GET, "/3303/1", accept=40)))
# an unknown instance: 4.04 rather than 4.01
out(("missing", req(B, GET, "/3303/9"), req(B, GET, "/3/0/99")))
# Delete by the owner takes the Access Control instance along
out(("delete", req(A, DELETE, "/3303/1"), [i[1] for i in acl.inst.values() if i[0] == 3303]))
# own Server instance: yes; the other server's: no
out(("server", req(B, GET, "/1/1/1"), req(B, POST, "/1/1/8"), req(B, GET, "/1/0/1"),
     req(B, PUT, "/1/0/1", b"5", TEXT)))
# Access Control instances: anyone reads, only the owner writes
out(("acl", req(B, GET, "/2/0"), req(B, PUT, "/2/0/2/2", b"3", TEXT),
     req(A, PUT, "/2/0/2/2", b"3", TEXT), req(B, PUT, "/3/0/15", b"B", TEXT),
     req(A, DELETE, "/2/0"), req(A, POST, "/2", b"", TLV)))
""")
    got = {r[0]: r[1:] for r in res}
    assert got["read"] == ("2.05", "2.05", "2.05", "2.05")
    assert got["write"] == ("2.04", "4.01", "4.01")
    assert got["execute"] == ("2.04", "4.01")
    # B has nothing on /3303/0: Read, Discover, Write-Attributes, object Read, Delete
    assert got["sensor"] == ("2.05", "4.01", "4.01", "4.01", "4.01", "4.01")
    assert got["observe"] == ("4.01",)
    assert got["create"][:2] == ("4.01", "2.01")
    assert got["create"][2] == [(3303, 1, 1)]
    assert got["new"] == ("2.05", "4.01", "2.05")
    assert got["missing"] == ("4.04", "4.04")
    assert got["delete"] == ("2.02", [0, 65535])
    assert got["server"] == ("2.05", "2.04", "4.01", "4.01")
    # the Access Control object: read by all, written by the owner only; no
    # Delete or Create of its instances by a management server
    assert got["acl"] == ("2.05", "4.01", "2.04", "2.04", "4.01", "4.01")


def test_object_read_leaves_out_unreadable_instances(mp):
    res = run(mp, r"""
two()
A, B = c.server(1), c.server(2)
t.create(1)
acl.inst[0] = {0: 3303, 1: 0, 2: {2: 1}, 3: 1}
acl.inst[1] = {0: 3303, 1: 1, 2: {}, 3: 1}
m = Msg(CON, GET, 1, b"t").add(URI_PATH, "3303").add(ACCEPT, 40)
out(str(c.engine.request(coap.parse(coap.build(m)), B).payload, "utf-8"))
m = Msg(CON, GET, 1, b"t").add(URI_PATH, "3303").add(ACCEPT, 40)
out(str(c.engine.request(coap.parse(coap.build(m)), A).payload, "utf-8"))
out(sorted(set(p[1] for p, t_, v in c.engine.collect((3303,), B))))
out(sorted(set(p[1] for p, t_, v in c.engine.collect((3303,), A))))
""")
    disc_b, disc_a, read_b, read_a = res
    assert "</3303/0>" in disc_b and "</3303/1>" not in disc_b
    assert "</3303/0>" in disc_a and "</3303/1>" in disc_a
    assert read_b == [0] and read_a == [0, 1]


def test_default_acl_entry(mp):
    # ACL resource instance 0: the rights of servers without their own entry
    res = run(mp, r"""
two()
sec.add(2, "coap://127.0.0.1:3", ssid=3)
srv.add(2, 3)
c.accounts()
A, B, C = c.server(1), c.server(2), c.server(3)
acl.inst[0] = {0: 3, 1: 0, 2: {0: 1, 2: 3}, 3: 1}
out([req(C, GET, "/3/0/0"), req(C, PUT, "/3/0/15", b"x", TEXT),
     req(B, PUT, "/3/0/15", b"x", TEXT), req(A, PUT, "/3/0/15", b"x", TEXT)])
""")
    # C: default (R); B: own entry (RW); A: owner without an entry -> full
    assert res == [["2.05", "4.01", "2.04", "2.04"]]


def test_unbootstrap_access_control(mp):
    # §5.2.5 steps 2 and 3 for server 1 going away
    res = run(mp, r"""
two()
sec.add(2, "coap://127.0.0.1:3", ssid=3)
srv.add(2, 3)
c.accounts()
t.create(1)
t.create(2)
acl.inst[0] = {0: 3303, 1: 0, 2: {1: 15}, 3: 1}          # only server 1: goes, with /3303/0
acl.inst[1] = {0: 3303, 1: 1, 2: {1: 15, 2: 1, 3: 11}, 3: 1}  # owner becomes 3 (W+D = 2)
acl.inst[2] = {0: 3, 1: 0, 2: {1: 1, 2: 3}, 3: 2}        # entry of 1 removed, owner stays
acl.inst[3] = {0: 3303, 1: 2, 2: {1: 15, 0: 1}, 3: 1}    # default entry only: owner 65535
acl.forget(1)
out(sorted(t.inst))
out(sorted((k, i[0], i[1], sorted(i[2].items()), i[3]) for k, i in acl.inst.items()))
""")
    assert res[0] == [1, 2]
    assert res[1] == [
        (1, 3303, 1, [(2, 1), (3, 11)], 3),
        (2, 3, 0, [(2, 3)], 2),
        (3, 3303, 2, [(0, 1)], 65535),
    ]


def test_two_servers_end_to_end(tmp_path):
    """A client bootstrapped with two servers and Access Control instances:
    each server gets 4.01 where it has no right."""
    from bootstrap_server import BootstrapServer
    from devclient import DevClient
    from lwm2m_server import Server
    import provision
    from devserver import bsconfig
    ep = "acl-e2e"
    with Server(port=0, name="A") as a, Server(port=0, name="B") as b:
        cfg = {
            "security": [{"uri": "coap://127.0.0.1:%d" % a.port, "ssid": 1},
                         {"uri": "coap://127.0.0.1:%d" % b.port, "ssid": 2}],
            "server": [{"ssid": 1, "lifetime": 300}, {"ssid": 2, "lifetime": 600}],
            "acl": [{"object": 3, "instance": 0, "acl": {"1": "RWE", "2": "R"}, "owner": 1},
                    {"object": 3303, "instance": 0, "acl": {"1": "RWED"}, "owner": 1},
                    {"object": 3303, "instance": 65535, "acl": {"1": "C"}}],
        }
        with BootstrapServer(port=0, configs={ep: cfg}) as bs:
            provision.write_state(str(tmp_path), provision.encode(bsconfig.resources(
                {"security": [{"uri": "coap://127.0.0.1:%d" % bs.port, "bootstrap": True}]})))
            c = DevClient(None, ep, state=str(tmp_path), clock="real")
            try:
                assert bs.wait_finished(ep)["code"] == "2.04"
                ra, rb = a.wait_registration(ep), b.wait_registration(ep)
                # several servers: one registration each, with its own lifetime
                assert (ra.lifetime, rb.lifetime) == (300, 600)
                assert a.read(ep, "/3/0/0").code == "2.05"
                assert b.read(ep, "/3/0/0").code == "2.05"
                assert a.write(ep, "/3/0/15", b"CET", TEXT).code == "2.04"
                assert b.write(ep, "/3/0/15", b"XX", TEXT).code == "4.01"
                assert a.read(ep, "/3/0/15").payload == b"CET"
                assert b.execute(ep, "/3/0/12").code == "4.01"
                assert a.execute(ep, "/3/0/12").code == "2.04"
                assert b.read(ep, "/3303/0").code == "4.01"
                assert b.discover(ep, "/3303/0").code == "4.01"
                assert a.read(ep, "/3303/0/5700").code == "2.05"
                r = b.create(ep, "/3303", tlv_instance(5, [tlv_resource(5750, "b")]), TLV)
                assert r.code == "4.01"
                r = a.create(ep, "/3303", tlv_instance(5, [tlv_resource(5750, "a")]), TLV)
                assert r.code == "2.01"
                # the new instance belongs to A: B sees nothing of it
                assert b.read(ep, "/3303/5").code == "4.01"
                acls = {}
                for it in tlv_decode(b.read(ep, "/2", accept=TLV).payload):
                    res = {x["id"]: x["value"] for x in it["value"]}
                    key = (int.from_bytes(res[0], "big"), int.from_bytes(res[1], "big"))
                    acls[key] = int.from_bytes(res[3], "big")
                assert acls[(3303, 5)] == 1          # owner: server 1
                assert a.delete(ep, "/3303/5").code == "2.02"
                # Security is out of reach of both
                assert a.read(ep, "/0/0").code == "4.01" and b.read(ep, "/0").code == "4.01"
                assert "error" not in c.output()
            finally:
                c.interrupt()

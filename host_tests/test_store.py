"""Persistent configuration (client/store.py) on the unix port: what is
saved, atomic replacement, detection of corrupted or half-written files,
compatibility with the provisioning tool (tools/provision.py)."""
import ast
import struct
import zlib

import pytest

from devserver import bsconfig
import provision

PRELUDE = r"""
import os
from client.client import Client
from client import store as store_mod
from client.store import Store, STORE, FACTORY
from objects.security import Security
from objects.server import Server
from objects.acl import AccessControl
from objects.device import Device
from objects.ipso import Sensor
from boards.virtual import VirtualBoard
D = %r
b = VirtualBoard(D)
LOG = []

def make():
    sec, srv, acl = Security(), Server(), AccessControl()
    t = Sensor()
    t.create(0)
    c = Client(b, "t", [sec, srv, acl, Device(b), t], log=lambda *a: LOG.append(" ".join(str(x) for x in a)))
    return c, Store(c, D)

def out(x):
    print(repr(x))
"""


def run(mp, d, code):
    return [ast.literal_eval(l) for l in mp(PRELUDE % str(d) + code).splitlines() if l.strip()]


CONFIG = r"""
c, st = make()
sec, srv, acl = c.objs[0], c.objs[1], c.objs[2]
sec.add(0, "coap://127.0.0.1:5783", bootstrap=True)
sec.add(1, "coaps://127.0.0.1:5684", ssid=7, mode=0, identity=b"dev", key=b"\x01\x02\x03")
srv.add(0, 7, lifetime=321, binding="UQ")
acl.inst[0] = {0: 3, 1: 0, 2: {7: 3, 0: 1}, 3: 7}
c.objs[3].inst[0][15] = "Europe/Paris"      # writable: kept
c.objs[3].inst[0][0] = "changed in RAM"     # read-only: not kept
c.objs[3303].inst[0][5750] = "room"
c.objs[3303].create(4)
c.objs[3303].inst[4][5750] = "cellar"
"""


def test_roundtrip(mp, tmp_path):
    res = run(mp, tmp_path, CONFIG + r"""
out(st.save())
old = {o: c.objs[o].inst for o in (0, 1, 2)}
c2, st2 = make()
out(st2.load())
out([c2.objs[o].inst == old[o] for o in (0, 1, 2)])
out((c2.objs[3].inst[0][15], c2.objs[3].inst[0][0], sorted(c2.objs[3303].inst),
     c2.objs[3303].inst[0][5750], c2.objs[3303].inst[4][5750]))
c2.accounts()
out([(s.ssid, s.uri, s.lifetime()) for s in c2.servers])
out(sorted(os.listdir(D)))
""")
    assert res[0] is True
    assert res[1] == "store"
    assert res[2] == [True, True, True]
    assert res[3] == ("Europe/Paris", "lwm2m-mpy", [0, 4], "room", "cellar")
    assert res[4] == [(7, "coaps://127.0.0.1:5684", 321)]
    assert res[5] == ["lwm2m.cfg"]      # no temporary file left behind
    # the host reads the device's file too
    data = provision.decode((tmp_path / "lwm2m.cfg").read_bytes())
    assert data[0][1][5] == b"\x01\x02\x03" and data[1][0][1] == 321
    assert data[3][0] == {13: 0, 14: "+00:00", 15: "Europe/Paris"}


def test_failed_write_keeps_old_file(mp, tmp_path):
    # a save that breaks off before the rename leaves the previous file in
    # force; a stray temporary file is ignored
    res = run(mp, tmp_path, CONFIG + r"""
st.save()
class FailingOs:
    def rename(self, a, b):
        raise OSError(28)
    def mkdir(self, d):
        os.mkdir(d)
store_mod.os = FailingOs()
c.objs[1].inst[0][1] = 999
out(st.save())
store_mod.os = os
with open(D + "/" + STORE + ".tmp", "wb") as f:
    f.write(b"LwS1\x00\x00")     # half written
c2, st2 = make()
out(st2.load())
out(c2.objs[1].inst[0][1])
out([l for l in LOG if "not saved" in l])
""")
    assert res[0] is False
    assert res[1] == "store" and res[2] == 321
    assert res[3] == ["store not saved 28"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "magic", "garbage-cbor", "wrong-type"])
def test_corruption_detected_falls_back_to_factory(mp, tmp_path, damage):
    factory = bsconfig.resources({"security": [{"uri": "coap://127.0.0.1:5783", "bootstrap": True}]})
    provision.write_state(str(tmp_path), provision.encode(factory))
    run(mp, tmp_path, CONFIG + "st.save()\n")
    f = tmp_path / "lwm2m.cfg"
    data = bytearray(f.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[:len(data) - 7]
    elif damage == "empty":
        data = b""
    elif damage == "magic":
        data[0:4] = b"XXXX"
    elif damage == "garbage-cbor":     # right length and CRC, not CBOR
        data = provision.MAGIC + struct.pack(">II", 2, zlib.crc32(b"\xff\xff")) + b"\xff\xff"
    elif damage == "wrong-type":
        data = provision.encode({1: {0: {0: 1, 1: "not a number"}}})
    f.write_bytes(bytes(data))
    res = run(mp, tmp_path, r"""
c, st = make()
out(st.read(STORE))
out(st.load())
c.accounts()
out(([(k, i[0], i[1]) for k, i in c.objs[0].inst.items()], len(c.servers), c.objs[1].inst))
out(LOG)
""")
    assert res[0] is False or damage == "wrong-type"
    assert res[1] == "factory"
    assert res[2] == ([(0, "coap://127.0.0.1:5783", True)], 0, {})
    if damage != "wrong-type":
        assert "store lwm2m.cfg corrupted" in res[3]
    assert "config from factory.cfg" in res[3]


def test_nothing_stored(mp, tmp_path):
    res = run(mp, tmp_path, r"""
c, st = make()
out((st.read(STORE), st.load()))
st.erase()
""")
    assert res == [(None, None)]


def test_changed_marks_only_persisted_data(mp, tmp_path):
    res = run(mp, tmp_path, r"""
c, st = make()
r = []
for p, s in (((3, 0, 0), False), ((3303, 0, 5700), False), ((3, 0, 15), False),
             ((1, 0, 1), False), ((3303, 1), True)):
    st.dirty = False
    c.changed(p, s)
    r.append(st.dirty)
out(r)
c.step()        # the loop saves what is dirty
out((st.dirty, sorted(os.listdir(D))))
""")
    assert res[0] == [False, False, True, True, True]
    assert res[1] == (False, ["lwm2m.cfg"])


def test_factory_file_from_provision_tool(mp, tmp_path):
    # provision.py writes; the device reads (and keeps the secret)
    rc = provision.main(["--bootstrap", "coaps://127.0.0.1:5784", "--identity", "dev-1",
                         "--key", "a1b2c3d4e5f60718", "--holdoff", "5", "--state", str(tmp_path)])
    assert rc == 0
    res = run(mp, tmp_path, r"""
c, st = make()
out(st.load())
out(c.objs[0].inst)
""")
    assert res[0] == "factory"
    assert res[1] == {0: {0: "coaps://127.0.0.1:5784", 1: True, 2: 0, 3: b"dev-1", 4: b"",
                          5: bytes.fromhex("a1b2c3d4e5f60718"), 11: 5}}


def test_provision_tool_forms(tmp_path, capsys):
    ini = tmp_path / "dev.ini"
    ini.write_text("""
[security.0]
uri = coap://127.0.0.1:5783
bootstrap = yes

[security.3]
uri = coaps://lwm2m.example:5684
ssid = 9
identity = dev
key = 00:11:22:33

[server.0]
ssid = 9
lifetime = 120
bootstrap_on_failure = false

[acl.0]
object = 3
instance = 0
acl = 9:RWE, 0:R
owner = 9
""")
    out = tmp_path / "f.cfg"
    assert provision.main(["--config", str(ini), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "00112233" not in printed and "<secret>" in printed
    res = provision.decode(out.read_bytes())
    assert res[0][3] == {0: "coaps://lwm2m.example:5684", 1: False, 2: 0, 3: b"dev", 4: b"",
                         5: b"\x00\x11\x22\x33", 10: 9}
    assert res[1][0] == {0: 9, 1: 120, 6: True, 7: "U", 16: False}
    assert res[2][0] == {0: 3, 1: 0, 2: {9: 7, 0: 1}, 3: 9}
    # the same from JSON
    js = tmp_path / "dev.json"
    js.write_text('{"security": [{"uri": "coap://h:1", "ssid": 2}], "server": [{"ssid": 2}]}')
    assert provision.config_from_args(type("A", (), {"config": str(js)})()) == \
        {"security": [{"uri": "coap://h:1", "ssid": 2}], "server": [{"ssid": 2}]}
    with pytest.raises(ValueError):
        bsconfig.resources({"server": [{"ssid": 1, "colour": "red"}]})
    # to a board: mpremote mkdir + cp (+ rm of the saved configuration)
    calls = []
    provision.push("/dev/ttyUSB0", b"x", "state", reset=True,
                   run=lambda cmd, check: calls.append((cmd[3:5], check)))
    assert calls == [(["fs", "mkdir"], False), (["fs", "cp"], True), (["fs", "rm"], False)]
    assert provision.mpremote_commands("/dev/ttyACM0", "f", "st")[1][-1] == ":st/factory.cfg"

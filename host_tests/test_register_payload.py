"""Register and Update payloads every server accepts (issue 10, point 1).

`</>;rt="oma.lwm2m"` with `ct=` only when the preferred format (configured:
--format) is not the default TLV; object versions only where they differ
from 1.0; instances listed; Security never. Checked by strict peers:
- strict_links(): a CoRE Link Format parser written to the RFC 6690 grammar
  (section 2, with RFC 5987 attr-char for parameter names), which refuses
  anything the grammar does not produce;
- StrictServer: a registration server that runs every Register/Update
  payload through strict_links() and, like some servers in the field,
  refuses a ct= on </> it does not expect (it knows only the SenML formats);
  each answer 4.00 on a violation.
The real client (unix port, virtual clock) registers with it in the default
and in SenML CBOR configuration, and sends an Update with a new payload
after the server creates an instance."""
import re
import socket
import threading
import time

import pytest
from aiocoap import Message, CON, ACK, POST, Code

from devclient import DevClient
from devserver.formats import tlv_instance, tlv_resource

# RFC 6690 §2 (ABNF), RFC 5987 §3.2.1 (attr-char), RFC 3986 (URI-Reference)
_PTOKEN = r"[!#$%&'()*+\-./0-9:<=>?@A-Za-z\[\]^_`{|}~]+"
_PARMNAME = r"[A-Za-z0-9!#$&+\-.^_`|~]+"
_QUOTED = r'"(?:[^"\\\x00-\x1f\x7f]|\\[\x20-\x7e])*"'
_URIREF = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*"
_RELTYPE = r"[a-z][a-z0-9.\-]*"
_RELTYPES = r'(?:%s|"%s(?: +%s)*")' % (_RELTYPE, _RELTYPE, _RELTYPE)
_CARDINAL = r"(?:0|[1-9][0-9]*)"


def strict_links(text):
    """Parse a link-format payload by the RFC 6690 grammar -> [(uri,
    {name: raw value or None})]; ValueError on anything else (whitespace,
    empty links, bad parameter values, duplicates of rt/if/sz)."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    out = []
    i = 0
    n = len(text)
    while i < n:
        m = re.compile(r"<(%s)>" % _URIREF).match(text, i)
        if not m:
            raise ValueError("link-value expected at %d: %r" % (i, text[i:i + 20]))
        uri = m.group(1)
        i = m.end()
        params = {}
        while i < n and text[i] == ";":
            m = re.compile(r";(%s)(?:=(%s|%s))?" % (_PARMNAME, _QUOTED, _PTOKEN)).match(text, i)
            if not m or m.end() < n and text[m.end()] not in ",;":
                raise ValueError("link-param at %d: %r" % (i, text[i:i + 20]))
            name, value = m.group(1), m.group(2)
            if name in ("rt", "if", "rel", "rev") and not re.fullmatch(_RELTYPES, value or ""):
                raise ValueError("%s must be relation-types: %r" % (name, value))
            if name == "sz" and not re.fullmatch(_CARDINAL, value or ""):
                raise ValueError("sz must be a cardinal: %r" % value)
            if name in params and name in ("rt", "if", "sz", "ct"):
                raise ValueError("%s twice" % name)
            params[name] = value
            i = m.end()
        out.append((uri, params))
        if i < n:
            if text[i] != "," or i + 1 == n:
                raise ValueError("',' expected at %d" % i)
            i += 1
    return out


def test_strict_parser_itself():
    assert strict_links('</>;rt="oma.lwm2m";ct=110,</1/0>,</3>;ver=1.1') == [
        ("/", {"rt": '"oma.lwm2m"', "ct": "110"}), ("/1/0", {}), ("/3", {"ver": "1.1"})]
    assert strict_links("") == []
    for bad in ['</>; rt="x"', "</1/0>,", ",</1/0>", "</1/0> ", "<1 0>", '</>;rt="Oma"', "</>;sz=01",
                '</>;rt="a";rt="b"', "</>;=1", '</>;ct="1', "</1/0>;;", "</1/0></2/0>"]:
        with pytest.raises(ValueError):
            strict_links(bad)


class StrictServer:
    """Answers Register (2.01) / Update (2.04) / De-register (2.02) after
    checking the payload strictly; 4.00 when it does not pass. Can send
    requests to the client (Create) and records everything."""
    KNOWN_CT = ("110", "112")

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.05)
        self.port = self.s.getsockname()[1]
        self.log = []           # (kind, payload, code)
        self.client = None
        self.responses = {}
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def check(self, payload):
        links = strict_links(payload)
        root = [p for u, p in links if u == "/"]
        if root and root[0].get("ct") is not None and root[0]["ct"] not in self.KNOWN_CT:
            raise ValueError("unexpected ct=%s on </>" % root[0]["ct"])
        return links

    def _run(self):
        while not self.stop:
            try:
                d, a = self.s.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            m = Message.decode(d)
            if m.code.is_response():
                self.responses[m.token] = m
                continue
            if not m.code.is_request():
                continue
            path = m.opt.uri_path
            kind = "register" if path == ("rd",) else "deregister" if m.code != POST else "update"
            code = {"register": Code.CREATED, "update": Code.CHANGED, "deregister": Code.DELETED}[kind]
            if m.payload:
                try:
                    self.check(m.payload)
                except ValueError as e:
                    kind += " refused: %s" % e
                    code = Code.BAD_REQUEST
            self.log.append((kind, m.payload.decode("utf-8", "replace"), str(code)))
            r = Message(mtype=ACK, code=code, mid=m.mid, token=m.token)
            if code == Code.CREATED:
                self.client = a
                r.opt.location_path = ("rd", "s1")
            self.s.sendto(r.encode(), a)

    def request(self, code, path, payload=b"", ct=None, token=b"req1", mid=4242):
        m = Message(mtype=CON, code=code, mid=mid, token=token, payload=payload)
        m.opt.uri_path = path
        if ct is not None:
            m.opt.content_format = ct
        for _ in range(5):      # CON: retransmitted (same MID) until answered
            self.s.sendto(m.encode(), self.client)
            end = time.monotonic() + 2
            while token not in self.responses and time.monotonic() < end:
                time.sleep(0.01)
            if token in self.responses:
                return self.responses.pop(token)
        raise TimeoutError("no answer to %s %s" % (code, path))

    def wait(self, kind, n=1, timeout=10, text=""):
        # the n-th logged (kind, payload, code) whose payload holds text
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = [x for x in self.log if x[0].startswith(kind) and text in x[1]]
            if len(got) >= n:
                return got[n - 1]
            time.sleep(0.01)
        raise TimeoutError("%s: %s" % (kind, self.log))

    def close(self):
        self.stop = True
        self.t.join(1)
        self.s.close()


@pytest.fixture
def strict():
    s = StrictServer()
    yield s
    s.close()


@pytest.mark.parametrize("fmt, ct", [(None, None), ("112", "112"), ("110", "110"), ("11542", None)])
def test_strict_server_registers_the_client(strict, fmt, ct):
    args = ("--lifetime", "600") + (("--format", fmt) if fmt else ())
    c = DevClient("coap://127.0.0.1:%d" % strict.port, "strict", *args)
    try:
        kind, payload, code = strict.wait("register")
        assert kind == "register" and code == "2.01 Created", (kind, payload)
        links = dict(strict_links(payload))
        assert links["/"] == ({"rt": '"oma.lwm2m"', "ct": ct} if ct else {"rt": '"oma.lwm2m"'})
        # object versions only where not 1.0; instances listed; no Security
        assert links["/1"] == {"ver": "1.1"} and links["/3"] == {"ver": "1.1"}
        assert "/3303" not in links and "/3303/0" in links and "/1/0" in links and "/3/0" in links
        assert not any(u.startswith("/0") for u in links)
        for u, p in links.items():
            assert p.get("ver") != "1.0", u
        # an instance created by the server: the Update carries the new list,
        # which passes the strict check as well
        c.wait_line("registered")
        r = strict.request(Code.POST, ("19",), tlv_instance(5, [tlv_resource(3, "new")]), 11542)
        assert str(r.code) == "2.01 Created"
        # (an Update of the lifetime may come first: virtual time runs fast)
        kind, payload, code = strict.wait("update", text="</19/5>")
        assert code == "2.04 Changed", (kind, payload)
        assert all(x[2] == "2.04 Changed" for x in strict.log if x[0].startswith("update"))
    finally:
        c.interrupt()
    assert strict.wait("deregister")[2] == "2.02 Deleted"


def test_strict_server_refuses_tlv_ct_as_in_the_field(strict):
    # what the client used to send (ct=11542 on </>): the strict server refuses it
    with pytest.raises(ValueError):
        strict.check('</>;rt="oma.lwm2m";ct=11542,</1/0>')
    assert strict.check('</>;rt="oma.lwm2m",</1/0>')

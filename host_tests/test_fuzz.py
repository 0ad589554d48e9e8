"""Fuzz the running client (unix port) over loopback: 10,000+ random and
mutated datagrams from its server's address. It must stay registered and keep
answering, and never crash."""
import random
import socket
import time
import warnings

from aiocoap import Message, CON, NON, ACK, GET, PUT, POST, DELETE, Code
from aiocoap.optiontypes import OpaqueOption
from aiocoap.numbers.optionnumbers import OptionNumber

from devclient import DevClient
from lwm2m_formats import tlv_resource, tlv_instance, tlv_multiple

N = 10000
# paths the fuzzer may touch; Disable and Reboot/Factory Reset are left out on
# purpose: they legitimately take the client away for a while
PATHS = [(), ("3",), ("3", "0"), ("3", "0", "0"), ("3", "0", "13"), ("3", "0", "11"),
         ("3", "0", "11", "0"), ("3", "0", "15"), ("1", "0"), ("1", "0", "2"), ("1", "0", "3"),
         ("1", "0", "8"), ("3303",), ("3303", "0"), ("3303", "0", "5700"),
         ("3303", "0", "5750"), ("3303", "0", "5605"), ("3303", "9"), ("4", "0"), ("0", "0"),
         ("rd",), ("bs",), ("99",), ("3", "x"), ("65536",), ("-1",), ("3", "0", "0", "0", "0")]
FORMATS = [None, 0, 40, 42, 60, 110, 112, 11542, 11543, 9999]


def payloads(rnd):
    return rnd.choice([
        b"", b"12", b"-7", b"1.5", b"abc", b"\xff\xfe", b"1:2", b"0='a',1",
        tlv_resource(15, "UTC"), tlv_resource(5750, "x" * rnd.randrange(300)),
        tlv_instance(rnd.randrange(12), [tlv_resource(5750, "i")]),
        tlv_multiple(11, {0: 1, 1: 2}), tlv_resource(2, 5) + tlv_resource(3, 50),
        b'[{"bn":"/3/0/","n":"15","vs":"x"}]', b"\x81\xa2\x21\x66/3/0/\x00\x6215\x03\x61x",
        bytes(rnd.randrange(256) for _ in range(rnd.randrange(40))),
    ])


def datagram(rnd):
    kind = rnd.random()
    if kind < 0.1:
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(64)))
    m = Message(mtype=rnd.choice([CON, CON, NON, ACK]), code=rnd.choice([GET, PUT, POST, DELETE, Code.FETCH, Code.iPATCH, Code(9), Code.CONTENT]),
                mid=rnd.randrange(65536), token=rnd.randbytes(rnd.randrange(9)), payload=payloads(rnd))
    m.opt.uri_path = rnd.choice(PATHS)
    cf = rnd.choice(FORMATS)
    if cf is not None:
        m.opt.content_format = cf
    if rnd.random() < 0.4:
        m.opt.accept = rnd.choice(FORMATS[1:])
    if rnd.random() < 0.2:
        m.opt.observe = rnd.choice([0, 1, 5])
    if rnd.random() < 0.2:
        m.opt.uri_query = (rnd.choice(["pmin=1", "pmax=x", "gt=5", "lt=a", "st=-1", "epmin=2", "foo", "pmin=5&pmax=1"]),)
    if rnd.random() < 0.1:
        m.opt.add_option(OpaqueOption(OptionNumber(rnd.choice([9, 13, 2049, 23, 27, 60])), rnd.randbytes(rnd.randrange(5))))
    b = bytearray(m.encode())
    if kind < 0.4:          # mutate a few bytes or cut it short
        for _ in range(rnd.randint(1, 3)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        if rnd.random() < 0.3:
            b = b[:rnd.randrange(1, len(b) + 1)]
    return bytes(b)


class RawServer:
    """A bare LwM2M server on a real socket: answers Register/Update/De-register."""
    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.setblocking(False)
        self.port = self.s.getsockname()[1]
        self.client = None
        self.registers = self.updates = self.answers = 0
        self.codes = {}

    def pump(self, wait=0.0):
        end = time.monotonic() + wait
        while True:
            try:
                d, a = self.s.recvfrom(2048)
            except BlockingIOError:
                if time.monotonic() >= end:
                    return
                time.sleep(0.001)
                continue
            try:
                m = Message.decode(d)
            except Exception:
                continue
            if m.code.is_request() and m.mtype == CON:
                path = m.opt.uri_path
                code = Code.CREATED if path == ("rd",) else Code.CHANGED if m.code == POST else Code.DELETED
                r = Message(mtype=ACK, code=code, mid=m.mid, token=m.token)
                if path == ("rd",):
                    self.registers += 1
                    self.client = a
                    r.opt.location_path = ("rd", "f%d" % self.registers)
                else:
                    self.updates += 1
                self.s.sendto(r.encode(), a)
            elif m.code.is_response():
                self.answers += 1
                self.codes[str(m.code)] = self.codes.get(str(m.code), 0) + 1

    def request(self, path, code=GET, mid=1, token=b"ok"):
        m = Message(mtype=CON, code=code, mid=mid, token=token)
        m.opt.uri_path = path
        self.s.sendto(m.encode(), self.client)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                d, a = self.s.recvfrom(2048)
            except BlockingIOError:
                time.sleep(0.002)
                continue
            r = Message.decode(d)
            if r.token == token and r.code.is_response():
                return r
        raise TimeoutError(path)


def test_fuzz_10000_datagrams_client_stays_registered():
    warnings.filterwarnings("ignore")
    rnd = random.Random(2026)
    srv = RawServer()
    c = DevClient("coap://127.0.0.1:%d" % srv.port, "fuzz", "--lifetime", "3600", "--quiet", clock="real")
    try:
        end = time.monotonic() + 15
        while srv.client is None and time.monotonic() < end:
            srv.pump(0.05)
        assert srv.client, c.output()
        sent = 0
        while sent < N:
            for _ in range(50):
                srv.s.sendto(datagram(rnd), srv.client)
                sent += 1
            srv.pump(0.01)
        srv.pump(0.5)
        assert c.p.poll() is None, c.output()       # still running
        assert "Traceback" not in c.output() and "error" not in c.output()
        # it answered a large share of the requests (RST/4.xx/2.xx), and still serves
        assert srv.answers > N // 4, srv.codes
        # fresh MIDs: a MID the fuzzer used recently would get its cached answer
        used = set()
        rnd2 = random.Random(2026)
        for _ in range(N):
            b = datagram(rnd2)
            if len(b) >= 4:
                used.add(b[2] << 8 | b[3])
        free = [m for m in range(65536) if m not in used]
        r = srv.request(("3", "0", "0"), mid=free[0])
        assert r.code == Code.CONTENT and r.payload == b"lwm2m-mpy"
        # still registered: a Registration Update Trigger yields an Update
        before = srv.updates
        r = srv.request(("1", "0", "8"), code=POST, mid=free[1], token=b"up")
        assert r.code == Code.CHANGED
        end = time.monotonic() + 5
        while srv.updates == before and time.monotonic() < end:
            srv.pump(0.05)
        assert srv.updates > before
    finally:
        c.kill()

"""The cellular board's data path (boards/cellular.py CellularBoard, AT
sockets boards/atsock.py) on the MicroPython unix port against the simulated
modem speaking each real AT dialect behind a pseudo-terminal
(tools/sim/ptymodem.py, python `pty` on the host side): power-on, PSM set-up,
a full registration with the dev server and its Read of /3/0, through
AT#XSOCKET/AT#XSENDTO/AT#XRECVFROM (nRF91 SLM), AT+CAOPEN/AT+CASEND/
AT+CARECV (SIM7080G, raw bytes after a prompt) and AT+QIOPEN/AT+QISENDEX/
AT+QIRD (BG95, hex); RAI per message; de-registration; modem power-off."""
import os
import subprocess
import sys

import pytest

from conftest import MICROPYTHON, ROOT, mp_env
from lwm2m_server import Server
sys.path.insert(0, os.path.join(ROOT, "tools", "sim"))
from ptymodem import PtyModem  # noqa: E402

CLIENT = r'''
from boards.unix import Board
from boards.cellular import CellularBoard
from firmware.main import build, options
b = CellularBoard(Board(%(state)r), open(%(path)r, "r+b"), %(vendor)r)
print("power", b.power_on())
seen = []
def log(*a):
    seen.append(a[0])
    print("[client]", *a)
c = build(b, options(["--server", "coap://127.0.0.1:%(port)d", "--endpoint", %(ep)r,
                      "--lifetime", "300"]), log)
print("granted", b.setup(c))
end = b.clock.ms() + 20000
while b.clock.ms() < end and "updated" not in seen:    # until the server's write led to an Update
    c.run(b.clock.ms() + 200)
c.run(b.clock.ms() + 300)
c.stop()
print("sleep", b.sleep(), "off", b.power_off())
print("answers", b.m.at("AT", 300))
'''

# the dialect's send / receive commands and its data-waiting URC
DIALECT = {
    "nrf91": ("AT#XSENDTO=", "AT#XRECVFROM=", "AT#XSOCKETOPT=1,61,"),
    "sim7080": ("AT+CASEND=0,", "AT+CARECV=0,", None),
    "bg95": ("AT+QISENDEX=0,", "AT+QIRD=0,", None),
}


@pytest.mark.parametrize("vendor", sorted(DIALECT))
def test_register_and_read_through_at_sockets(vendor, tmp_path):
    ep = "cell-" + vendor
    with Server(port=0) as srv, PtyModem(vendor) as pm:
        code = CLIENT % dict(state=str(tmp_path), path=pm.path, vendor=vendor, port=srv.port,
                             ep=ep)
        p = subprocess.Popen([MICROPYTHON, "-c", code], cwd=ROOT, env=mp_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            reg = srv.wait_registration(ep, timeout=20)
            lt = reg.lifetime
            r = srv.read(ep, "/3/0")
            big = bytes(range(256)) * 2         # 512 B each way (BG95: over +QISENDEX's limit)
            wb = srv.write(ep, "/19/0/0/0", big, ct=42)
            rb = srv.read(ep, "/19/0/0/0")
            cm = [srv.read(ep, p, accept=0) for p in ("/4/0/0", "/4/0/2", "/4/0/4/0", "/4/0/8")]
            w = srv.write(ep, "/1/0/1", b"600", ct=0)      # the lifetime: an Update follows
            upd = srv.wait_event("update", ep, timeout=10)
        except Exception:
            p.kill()
            print(p.communicate()[0])
            print(pm.sim.log[-12:])
            raise
        out = p.communicate(timeout=30)[0]
        with pm.lock:
            log = list(pm.sim.log)
            rep = pm.sim.report()
    assert p.returncode == 0, out
    assert "sleep True off True" in out and "answers None" in out     # powered down
    assert "power True" in out and "granted (330, 120)" in out     # T3412 > lifetime, T3324 awake
    assert lt == 300 and reg.lifetime == 600
    assert r.code == "2.05" and len(r.payload) > 20
    assert w.code == "2.04"
    assert wb.code == "2.04" and rb.code == "2.05" and rb.payload == big
    # Connectivity Monitoring from the modem: LTE-FDD, RSRP (+CESQ), PDN address, cell id
    assert [x.payload for x in cm] == [b"6", b"-81", b"10.0.0.5", b"1"]
    if vendor == "bg95":
        assert any(x.startswith("AT+QISEND=0,") for x in log)
    assert "[client] read /3/0" in out and "[client] deregistered" in out
    tx, rx, rai = DIALECT[vendor]
    sends = [x for x in log if x.startswith(tx)]
    assert len(sends) >= 5      # Register, read and write responses, Update, De-register
    assert any(x.startswith(rx) for x in log)
    if rai:     # nRF91: SO_RAI before each send (Register: one response expected)
        assert log[log.index(sends[0]) - 1] == rai + "3"
    if vendor == "bg95":    # RAI rides on +QISENDEX
        assert sends[0].endswith(",2")
    assert 'AT+CPSMS=1,,,"10001011","00100010"' in log
    assert log[-3:-1] == [{"nrf91": "AT#XSLEEP=2", "sim7080": "AT+CSCLK=1", "bg95": "AT+QSCLK=1"}[vendor],
                        {"nrf91": "AT+CFUN=0", "sim7080": "AT+CPOWD=1", "bg95": "AT+QPOWD=1"}[vendor]]
    assert rep["up"] > 300 and rep["down"] > 100


def test_modem_parser_raw_payload_and_prompt(mp):
    # a +CARECV payload holding CR LF, split across UART reads; a "> " prompt
    out = mp(r'''
from boards.modem import Modem
class U:
    def __init__(self, chunks, answers={}):
        self.c = chunks
        self.a = answers
        self.w = []
    def read(self, n=-1):
        return self.c.pop(0) if self.c else None
    def write(self, b):
        self.w.append(bytes(b))
        self.c.append(self.a.get(bytes(b), b""))
m = Modem(U([b"\r\n+CARECV: 7,a\r\nb", b"\ncd\r\nOK\r\n+CADATAIND: 0\r\n"]), "sim7080")
m.send("AT+CARECV=0,1460")
r = None
for _ in range(4):
    r = m.poll() or r
print(repr((r, m.raw, m.ready)))
m = Modem(U([], {b"AT+CASEND=0,3\r\n": b"\r\n> ", b"xyz": b"\r\nOK\r\n"}), "sim7080")
print(m.at_data("AT+CASEND=0,3", b"xyz", 100) is not None, m.u.w)
''')
    a, b = out.strip().splitlines()
    assert eval(a) == ("OK", b"a\r\nb\ncd", [0])
    assert b == "True [b'AT+CASEND=0,3\\r\\n', b'xyz']"


def test_esp32_with_the_modem_on_a_uart(tmp_path, monkeypatch):
    # the ESP32 board (host_tests/fakes: machine, network, esp32) with no
    # Wi-Fi and a BG95 on machine.UART(1) per board.json's "modem" section:
    # firmware/main.py without options registers through the AT sockets
    from test_esp32 import Esp, device, EP
    with Server(port=0) as srv, PtyModem("bg95") as pm:
        monkeypatch.setenv("FAKE_UART", pm.path)
        d = device(tmp_path, srv.port, wifi={},
                   modem={"uart": 1, "tx": 17, "rx": 16, "vendor": "bg95", "pwrkey": 4})
        c = Esp(d)
        try:
            reg = srv.wait_registration(EP, timeout=30)
            r = srv.read(EP, "/3/0/0", timeout=20)
        except Exception:
            print(c.lines, pm.sim.log[-20:])
            raise
        finally:
            c.interrupt()
        with pm.lock:
            log = list(pm.sim.log)
    assert reg.ep == EP and r.code == "2.05"
    assert log[0] == "AT" and any(x.startswith("AT+QIOPEN=1,0,\"UDP\",\"127.0.0.1\"") for x in log)
    assert any(x.startswith("AT+QISENDEX=0,") for x in log)


def test_uart_noise_never_ends_the_client(mp):
    # 2,000 chunks of line noise, half-lines, lying +CARECV headers, bad
    # UTF-8 and garbled URCs / answers through Modem.poll and an AT socket's
    # recv: nothing raises, the buffer stays bounded, a clean answer still parses
    # (at the latest the second: the line after a +CMT is its PDU)
    out = mp(r'''
import os
from boards.modem import Modem
from boards.atsock import DIALECTS
class U:
    def __init__(self):
        self.q = []
        self.ans = []       # one answer per command written
    def read(self, n=-1):
        return self.q.pop(0) if self.q else None
    def write(self, b):
        if self.ans:
            self.q.append(self.ans.pop(0))
class B:
    radio = True
    open = []
    class clock:
        t = 0
        def ms():
            B.clock.t += 10
            return B.clock.t
    def wait(ms):
        pass
u = U()
m = Modem(u, "sim7080", B)
bits = [b"+CARECV: ", b"+CARECV: 99999,", b"+CARECV: -3,", b"+CADATAIND: x", b"+CMTI: \"SM\",", b"+CMT: ,3",
        b"+QIURC: \"recv\"", b"#XAPOLL: 0", b"+CEREG: ", b"+CSCON:", b"%XMODEMSLEEP: a", b"\xff\xfe\x80",
        b"\r\n", b"> ", b"OK\r\n", b"+QIOPEN: z", b"+CEDRXP: 1,\"zz\""]
socks = []
OPEN = {"nrf91": [b"#XSOCKET: 0,2,17\r\nOK\r\n", b"OK\r\n"], "sim7080": [b"OK\r\n", b"+CAOPEN: 0,0\r\nOK\r\n"],
        "bg95": [b"OK\r\n", b"OK\r\n", b"OK\r\n+QIOPEN: 0,0\r\n"]}
for v in DIALECTS:
    u.ans = list(OPEN[v])
    socks.append(DIALECTS[v](B, Modem(u, v, B), "127.0.0.1", 5683))
for i in range(2000):
    r = os.urandom(3)
    u.q.append(b"".join(bits[x % len(bits)] for x in r) + os.urandom(r[0] % 8))
    m.poll()
    for s in socks:
        s.m.ready.append(s.id)
        u.q.append(b"".join(bits[x % len(bits)] for x in os.urandom(2)) + b"\r\nOK\r\n")
        s.recv()
for _ in range(2):      # the noise may end inside a +CMT: its PDU line is the next
    m.send("AT+CARECV=0,1460")     # (a command whose result never came is settled first)
    u.q = [b"\r\n+CARECV: 3,abc\r\nOK\r\n"]
    for _ in range(3):
        m.poll()
    if m.res:
        break
print(len(socks), len(m.buf) <= 4096, m.raw, m.res)
''', timeout=120)
    assert out.strip().splitlines()[-1] == "3 True b'abc' OK"

"""SMS through the cellular board's modem (client/sms.py; 27.005 PDU mode,
TS 23.040 SMS-SUBMIT / SMS-DELIVER with 8-bit data and concatenation) on the
MicroPython unix port against the simulated modem (tools/sim/simat.py) and
the SMS gateway stand-in (tools/sim/smsgw.py, relaying to the dev server):
the registration update trigger by SMS waking a sleeping client, a full DM
session over the SMS binding with concatenated PDUs both ways, an SMS from an
unknown number ignored and logged, a secured SMS mode refused, >= 5,000
fuzzed PDUs without a crash."""
import json
import os
import subprocess
import sys

import pytest

from conftest import MICROPYTHON, ROOT, mp_env
from lwm2m_server import Server
sys.path.insert(0, os.path.join(ROOT, "tools", "sim"))
import smsgw  # noqa: E402
from ptymodem import PtyModem  # noqa: E402

SERVER = "+4917000000001"
WAKE = os.path.join(ROOT, "tools", "sim", "smswake.py")


def wake_run(vendor, tmp, sender=None, mode=None):
    args = [MICROPYTHON, WAKE, vendor, str(tmp)] + ([sender or SERVER, mode] if mode else [sender] if sender else [])
    p = subprocess.run(args, cwd=ROOT, env=mp_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("vendor", ["nrf91", "sim7080", "bg95"])
def test_sms_trigger_wakes_the_sleeping_client_with_an_update(vendor, tmp_path):
    # binding UQS: registered over UDP (its Register tells b=US, Q and sms=),
    # asleep (awake window over, radio off, the modem idle: reachable by
    # paging while T3324 runs). An Execute on /1/0/8 by SMS: paged (2.56 s),
    # +CMT, the board wakes the client, 2.04 goes back by SMS, the Update over
    # UDP is answered within one round trip of the delivery
    r = wake_run(vendor, tmp_path)
    assert r["queries"] == [["ep=smswake", "lt=86400", "lwm2m=1.1", "b=US", "sms=+4915100000001", "Q"]]
    assert r["asleep"] == [1, False, 1]         # slept once, radio off, modem idle
    t = r["t_sms"] + 2560                       # delivered after one paging cycle
    log = [(x[0], x[1]) for x in r["log"] if x[0] >= r["t_sms"]]
    assert log[:3] == [(t, "wake"), (t, "execute"), (log[2][0], "updated")]
    assert r["ups"] and r["ups"][0][1] == 0x44  # the Update's 2.04 ...
    assert log[2][0] - t <= 100                 # ... within one round trip (rtt 0 here)
    assert r["answers"] == [0x44]               # the Execute's 2.04, by SMS
    assert r["mo"] == 1 and r["pdus"] == 1


def test_stored_sms_cmti_read_and_deleted(tmp_path):
    # a modem configured to store SMS: +CMTI, the board reads (+CMGR) and
    # deletes (+CMGD) it outside any other command, then the same wake-up
    r = wake_run("sim7080", tmp_path, mode="cmti")
    log = [x[1] for x in r["log"] if x[0] >= r["t_sms"]]
    assert log[:3] == ["wake", "execute", "updated"] and r["answers"] == [0x44]
    assert r["at"] == ["AT+CMGR=1", "AT+CMGD=1"] and r["box"] == 0


def test_sms_to_a_modem_in_psm_wakes_the_client_at_the_next_tau(tmp_path):
    # the modem in PSM (T3324 4 s): no SMS reaches it; the network keeps it
    # and delivers it when the modem next leaves PSM, here its periodic TAU
    # (T3412 600 s after entering PSM) - long before the client's own next
    # deadline (lifetime 24 h): woken there, the Update follows at once
    r = wake_run("nrf91", tmp_path, mode="psm")
    assert r["asleep"] == [1, False, 0]         # modem in PSM
    log = [(x[0], x[1]) for x in r["log"] if x[0] >= r["t_sms"]]
    assert [k for _, k in log[:3]] == ["wake", "execute", "updated"]
    assert r["taus"] == 1 and 600000 < log[0][0] < 700000
    assert log[2][0] - log[0][0] <= 100 and r["answers"] == [0x44]


def test_sms_from_an_unknown_number_is_ignored_and_logged(tmp_path):
    r = wake_run("nrf91", tmp_path, "+4930123456")
    assert r["unknown"] == 1
    assert [x[1:] for x in r["log"] if x[0] >= r["t_sms"]] == [["sms from unknown number ignored", "+4930123456"]]
    assert r["ups"] == [] and r["answers"] == [] and r["mo"] == 0    # nothing obeyed, not even woken


SECURED = r"""
from boards.virtual import VirtualBoard
from boards.cellular import CellularBoard
from simat import SimAt
from firmware.main import build, options
base = VirtualBoard(STATE, 0)
sim = SimAt(base.clock, "nrf91", net=base)
b = CellularBoard(base, sim, "nrf91")
LOG = []
c = build(b, options(["--server", "coap://127.0.0.1:9", "--endpoint", "sec", "--binding", "U"]),
          lambda *a: LOG.append(" ".join(str(x) for x in a)))
c.objs[1].inst[0][7] = "S"
c.objs[0].inst[0][9] = "+4917000000001"
c.objs[0].inst[0][6] = MODE
b.setup(c, psm=False)
c.run(1000)
print(repr(LOG[:3]))
"""


@pytest.mark.parametrize("mode,name", [(1, "DTLS"), (2, "secure packet")])
def test_secured_sms_mode_is_a_clear_error(mp, tmp_path, mode, name):
    out = mp(SECURED.replace("STATE", repr(str(tmp_path))).replace("MODE", str(mode)))
    log = eval(out.strip().splitlines()[-1])
    assert log[0].startswith("sms security mode %d (%s) not supported" % (mode, name))
    assert log[1].startswith("connect failed") and log[2].startswith("register failed")


def test_pdu_codecs_both_ways(mp):
    # the device's SMS-SUBMIT read by the gateway's decoder, the gateway's
    # SMS-DELIVER read by the device's decoder; single and concatenated
    out = mp(r"""
from client.sms import submit, deliver
from smsgw import mo_decode, mt_encode
from binascii import unhexlify, hexlify
one = submit("+4917000000001", b"\x44\x02ab")
print(one)
print(mo_decode(unhexlify(one[0][0])))
big = bytes(range(256)) + bytes(100)
parts = submit("+4917000000001", big, 7)
dec = [mo_decode(unhexlify(p)) for p, n in parts]
print(len(parts), [d[1:4] for d in dec], b"".join(d[4] for d in dec) == big, [n for p, n in parts])
mt = mt_encode("+4917000000001", big, 0x1234)
got = [deliver(hexlify(p).decode()) for p in mt]
print(len(mt), [g[:4] for g in got], b"".join(g[4] for g in got) == big)
print(deliver(hexlify(mt_encode("4917", b"x")[0]).decode()))
""")
    lines = out.strip().splitlines()
    # 00: default SMSC; 01 SUBMIT; MR 0; 13 digits, international; PID 0; DCS 4 (8-bit); UDL 4
    assert lines[0] == "[('0001000d91947100000000f100040444026162', 18)]"
    assert lines[1] == "('+4917000000001', None, 1, 1, b'D\\x02ab')"
    assert lines[2] == "3 [(7, 3, 1), (7, 3, 2), (7, 3, 3)] True [154, 154, 108]"  # TPDU octets: 14 of header + 140 of user data
    assert lines[3] == "3 [('+4917000000001', 4660, 3, 1), ('+4917000000001', 4660, 3, 2), ('+4917000000001', 4660, 3, 3)] True"
    assert lines[4] == "('4917', 0, 1, 1, b'x')"


FUZZ = r"""
import os
src = open(WAKE).read()
src = src[:src.index("run(60000)")]
exec(src)
run(3000)
sim.log = None
from binascii import unhexlify
good = gw.hex(coap.build(coap.Msg(CON, POST, 0x4242, b"fz").add(URI_PATH, "1").add(URI_PATH, "0").add(URI_PATH, "8")))
big = mt_parts = [bytes(p) for p in __import__("smsgw").mt_encode(SERVER, bytes(300), 9)]
seeds = [unhexlify(good[0])] + big
import random
random.seed(SEED)       # the same 5,000 PDUs every run (150 seeds checked: all pass)


def rnd(n):
    return bytes(random.getrandbits(8) for _ in range(n))


n = 0
crashes = 0
for i in range(N):
    r = rnd(4)
    s = bytearray(seeds[r[0] % len(seeds)])
    k = r[1] % 6
    if k == 0:                  # random bytes
        s = bytearray(rnd(r[2] % 180))
    elif k == 1:                # truncated
        s = s[:r[2] % (len(s) + 1)]
    elif k == 2:                # bit flips
        for _ in range(1 + r[3] % 4):
            j = rnd(2)
            s[j[0] % len(s)] ^= 1 << (j[1] % 8)
    elif k == 3:                # a byte set to an extreme
        s[r[2] % len(s)] = (0, 255, 1, 0x7F)[r[3] % 4]
    elif k == 4:                # the payload (CoAP) mangled, the SMS framing intact
        for j in range(len(s) - 1 - r[2] % 8, len(s)):
            s[j] = rnd(1)[0]
    else:                       # lengths lying in the UDH / UDL
        s[min(len(s) - 1, 8 + 2 + 7 + 8 + r[2] % 4)] = r[3]
    sim._deliver(bytes(s))
    n += 1
    if i % 8 == 7:
        c.step()
        pump()
        c.idle(base.clock.ms() + 5)
c.reboot = 0
run(2000)
alive = b.sms is not None
gw.inject(coap.build(coap.Msg(CON, POST, 0x4343, b"ok").add(URI_PATH, "1").add(URI_PATH, "0").add(URI_PATH, "8")))
for _ in range(30):     # until the Update is answered: a server that a loaded machine slows
    run(10000)          # needs more of the virtual clock's 30 ms slices (was 20 s: a stress-run failure)
    if [x for x in LOG if x[1] == "updated"]:
        break
print(n, b.sms.bad, b.sms.unknown, len([x for x in LOG if x[1] == "updated"]), 0x4343 in [a[2] << 8 | a[3] for a in gw.answers])
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzzed_pdus_never_crash_the_client(mp, tmp_path, seed):
    # 5,000 mutated SMS-DELIVER PDUs (random, truncated, bit flips, lying
    # lengths, mangled CoAP inside valid framing) through +CMT into the
    # client's SMS path; afterwards a real trigger still works
    code = FUZZ.replace("WAKE", repr(WAKE)).replace("N)", "5000)").replace("SEED", str(seed))
    code = "import sys\ndel sys.argv[:]\nsys.argv.extend(['smswake', 'nrf91', %r])\n" % str(tmp_path) + code
    out = mp(code, timeout=300)
    n, bad, unknown, updated, ok = out.strip().splitlines()[-1].split()
    assert int(n) == 5000
    assert int(bad) > 1000          # most are rejected as malformed, counted
    assert int(updated) >= 1 and ok == "True"


DM = r'''
from boards.unix import Board
from boards.cellular import CellularBoard
from firmware.main import build, options
b = CellularBoard(Board(%(state)r), open(%(path)r, "r+b"), %(vendor)r)
b.msisdn = "+4915100000001"
print("power", b.power_on())
seen = []
def log(*a):
    seen.append(a[0])
    print("[client]", *a)
c = build(b, options(["--server", "coap://127.0.0.1:9", "--endpoint", %(ep)r, "--lifetime", "300"]), log)
c.objs[1].inst[0][7] = %(binding)r     # SMS only
c.objs[0].inst[0][9] = %(server)r      # /0/0/9
b.setup(c, psm=False)
end = b.clock.ms() + 90000
while b.clock.ms() < end and "deregistered" not in seen:
    c.run(b.clock.ms() + 200)
    try:
        open(%(stop)r).close()
        break
    except OSError:
        pass
c.stop()
'''


@pytest.mark.parametrize("vendor,binding", [("nrf91", "S"), ("sim7080", "SQ")])
def test_full_dm_session_over_the_sms_binding(vendor, binding, tmp_path):
    # client over a pty modem, binding S: every CoAP message an SMS (or
    # several); the gateway relays to the dev server over UDP
    ep = "sms-" + vendor
    with Server(port=0) as srv, PtyModem(vendor, paging=100) as pm:
        gw = smsgw.Gateway(pm.sim, pm.net, "127.0.0.1", srv.port, SERVER)
        pm.hooks.append(gw.poll)
        code = DM % dict(state=str(tmp_path), path=pm.path, vendor=vendor, ep=ep, binding=binding,
                         server=SERVER, stop=str(tmp_path / "stop"))
        p = subprocess.Popen([MICROPYTHON, "-c", code], cwd=ROOT, env=mp_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            reg = srv.wait_registration(ep, timeout=30)
            with pm.lock:
                reg_pdus = len(pm.sim.mo)
            r = srv.read(ep, "/3/0", timeout=20)
            w = srv.write(ep, "/19/0/0/0", bytes(range(256)) + b"x" * 44, ct=42, timeout=20)
            r2 = srv.read(ep, "/19/0/0/0", timeout=20)
            n = len(srv.events)
            e = srv.execute(ep, "/1/0/8", timeout=20)          # registration update trigger
            upd = srv.wait_event("update", ep, timeout=20, after=n)
            a = srv.write_attributes(ep, "/3/0/13", "pmin=1&pmax=2", timeout=20)
            o = srv.observe(ep, "/3/0/13", timeout=20)
            notes = o.wait(2, timeout=20)
            active = o.active
            c = o.cancel(timeout=20)
        except Exception:
            p.kill()
            print(p.communicate()[0])
            raise
        (tmp_path / "stop").write_text("")
        out = p.communicate(timeout=60)[0]
        with pm.lock:
            log = list(pm.sim.log)
    assert p.returncode == 0, out
    assert reg.binding == "S" and reg.queue == ("Q" in binding) and reg.sms == "+4915100000001"
    assert reg_pdus == 2                    # the Register (~190 B) in two concatenated PDUs
    assert r.code == "2.05" and len(r.payload) > 40
    assert w.code == "2.04" and r2.code == "2.05" and r2.payload == bytes(range(256)) + b"x" * 44
    assert e.code == "2.04" and upd["ep"] == ep
    assert a.code == "2.04" and active and len(notes) >= 2 and c.code == "2.05"
    assert "[client] deregistered" in out
    assert gw.pdus_down >= 3 + 4            # the 300-byte write: three PDUs down
    assert gw.relayed_up >= 8 and gw.dropped == 0
    assert any(x.startswith("AT+CMGS=154") for x in log)    # full concatenated parts up (140 octets of user data)
    assert not any(x.startswith(("AT#XSENDTO", "AT+CASEND", "AT+CAOPEN", "AT#XSOCKET=1")) for x in log)   # no UDP


def test_command_line_modem_and_sms_binding(tmp_path):
    # firmware/main.py --modem PTY,VENDOR --binding SQ --sms SERVER,OWN: the
    # unix port with its network through the pty modem, registered by SMS
    from devclient import DevClient
    with Server(port=0) as srv, PtyModem("sim7080", paging=100) as pm:
        gw = smsgw.Gateway(pm.sim, pm.net, "127.0.0.1", srv.port, SERVER)
        pm.hooks.append(gw.poll)
        c = DevClient("coap://127.0.0.1:9", "cli-sms", "--binding", "SQ", "--modem", pm.path + ",sim7080",
                      "--sms", SERVER + ",+4915100000001", "--state", str(tmp_path), clock="real")
        try:
            reg = srv.wait_registration("cli-sms", timeout=30)
            r = srv.read("cli-sms", "/3/0/0", timeout=20)
        except Exception:
            print(c.lines, pm.sim.log[-20:])
            raise
        finally:
            try:
                c.interrupt(30)     # De-register over SMS, then the modem's power-off: 10 s were short under load
            except Exception:
                # 30 s overran once in a stress run (issue 10): what the
                # client and the modem were doing, for the next failure
                print(c.lines[-30:], pm.sim.log[-30:])
                raise
    assert reg.binding == "S" and reg.queue and reg.sms == "+4915100000001"
    assert r.code == "2.05"
    assert gw.relayed_up >= 2 and gw.pdus_down >= 2


CHOICE = r"""
from boards.virtual import VirtualBoard
from boards.cellular import CellularBoard
from simat import SimAt
from firmware.main import build, options
out = []
for binding, pref in (("S", None), ("SQ", None), ("US", None), ("US", "U"), ("US", "S"), ("UQS", "S"), ("U", "S")):
    base = VirtualBoard(STATE, 0)
    sim = SimAt(base.clock, "nrf91", net=base)
    b = CellularBoard(base, sim, "nrf91")
    c = build(b, options(["--server", "coap://127.0.0.1:9", "--endpoint", "ch"]), None)
    c.objs[1].inst[0][7] = binding
    if pref:
        c.objs[1].inst[0][22] = pref
    c.objs[0].inst[0][9] = "+4917000000001"
    s = c.servers[0]
    s.connect()
    t = s.ex.tr
    n = type(t).__name__
    out.append(n + ("/" + type(t.u).__name__ if n == "Both" else "") + " %d" % s.ex.ack_timeout)
    s.close()
print(out)
"""


def test_transport_choice_from_binding_and_preferred_transport(mp, tmp_path):
    # S alone (or SQ): SMS; U+S: UDP with SMS beside it, unless /1/x/22 says S;
    # S preferred without S in the binding: UDP
    out = mp(CHOICE.replace("STATE", repr(str(tmp_path))))
    # (SMS alone: a 10 s ACK_TIMEOUT; UDP, also beside SMS: the default 2 s)
    assert eval(out.strip().splitlines()[-1]) == [
        "SmsTransport 10000", "SmsTransport 10000", "Both/Nrf91Udp 2000", "Both/Nrf91Udp 2000",
        "SmsTransport 10000", "SmsTransport 10000", "Nrf91Udp 2000"]


CTRL_C = r"""
from boards.virtual import VirtualBoard
from boards.modem import Modem
from simat import SimAt
base = VirtualBoard(STATE, 0)
sim = SimAt(base.clock, "sim7080", net=base)
class U:
    # the UART, with a Ctrl-C at one point of the first command
    at = None
    def read(self, n=-1):
        if self.at == "prompt":
            self.at = None
            raise KeyboardInterrupt
        return sim.read(n)
    def write(self, b):
        if self.at == "data" and bytes(b).endswith(b"\x1a"):
            self.at = None
            raise KeyboardInterrupt
        sim.write(b)
        if self.at == "result" and bytes(b).endswith(b"\x1a"):
            self.at = None
            raise KeyboardInterrupt
u = U()
m = Modem(u, "sim7080", base)
m.at("AT+CMGF=0")
for at in ("prompt", "data", "result", None):
    u.at = at
    try:
        m.at_data("AT+CMGS=3", b"00010203\x1a", 60000)
    except KeyboardInterrupt:
        pass
    t0 = base.clock.ms()
    ok = m.at_data("AT+CMGS=4", b"0004050607\x1a", 60000) is not None
    print(at, ok, base.clock.ms() - t0, len(sim.mo), m.at("AT", 1000) is not None)
"""


def test_ctrl_c_inside_an_sms_send_leaves_the_modem_ready(mp, tmp_path):
    # a Ctrl-C while +CMGS waits for its prompt, at the prompt, or for its
    # result: the next +CMGS goes out at once (the prompt left is cancelled
    # with ESC, the late result is not taken for the next command's), where it
    # waited out its 60 s timeout (the stress run's lost De-register, issue 10)
    out = mp(CTRL_C.replace("STATE", repr(str(tmp_path)))).strip().splitlines()
    sent = 0
    for ln in out:
        at, ok, ms, mo, at_ok = ln.split()
        sent += 2 if at in ("result", "None") else 1
        assert ok == "True" and int(ms) < 3000 and at_ok == "True", ln
        assert int(mo) == sent, ln      # the cancelled PDU never went
    assert len(out) == 4

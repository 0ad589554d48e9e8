# The registration update trigger by SMS (transport spec §6.6, binding UQS)
# on the MicroPython unix port, virtual clock, all in one process: the real
# client on the cellular board (boards/cellular.py) over the simulated modem
# (simat.SimAt: its AT sockets reach an in-process server peer over loopback
# UDP; SMS through the gateway stand-in smsgw.Gateway). The client registers
# over UDP, its awake window ends (radio off: asleep); later the server sends
# an Execute on /1/0/8 by SMS; the modem (reachable by paging while its
# active timer runs) delivers it (+CMT), the board wakes the client, it
# answers 2.04 by SMS and sends an Update over UDP.
# MODE "cmti": the modem stores SMS (+CMTI, +CMGR, +CMGD) instead of +CMT.
# With MODE "psm" the modem sleeps in PSM (T3324 4 s, T3412 600 s): the SMS
# centre keeps the SMS until the modem's periodic TAU, which delivers it.
#   micropython smswake.py VENDOR STATE_DIR [SENDER [MODE]]
# prints one JSON line: delivery and Update times (client ms), the log.
import sys
import json
from peer import bind
from boards.virtual import VirtualBoard
from boards.cellular import CellularBoard
from simat import SimAt
from smsgw import Gateway
from firmware.main import build, options
from client import coap
from client.codes import ACK, CON, CREATED, CHANGED, DELETED, POST, URI_PATH, URI_QUERY, LOCATION_PATH

SERVER = "+4917000000001"
vendor, state = sys.argv[1], sys.argv[2]
sender = sys.argv[3] if len(sys.argv) > 3 else SERVER
psm = len(sys.argv) > 4 and sys.argv[4] == "psm"

peer, port = bind(47000)

base = VirtualBoard(state, 2)
sim = SimAt(base.clock, vendor, net=base, setup=1000)
b = CellularBoard(base, sim, vendor)
b.msisdn = "+4915100000001"
LOG = []
c = build(b, options(["--server", "coap://127.0.0.1:%d" % port, "--endpoint", "smswake", "--lifetime", "86400",
                      "--binding", "UQ", "--awake", "10"]), lambda *a: LOG.append([base.clock.ms()] + [str(x) for x in a]))
c.objs[1].inst[0][7] = "UQS"        # /1/0/7: UDP, queue mode, and SMS
c.objs[0].inst[0][9] = SERVER       # /0/0/9: the server's MSISDN
b.setup(c, awake_s=120)             # T3324 120 s: reachable by paging for 2 min after release
if psm:
    b.m.request_psm(600, 4)         # or in PSM 4 s after the release, a TAU every 10 min
if len(sys.argv) > 4 and sys.argv[4] == "cmti":
    sim.cnmi = 1                    # the modem stores SMS and says +CMTI (read, then deleted)
gw = Gateway(sim, base, "127.0.0.1", port, SERVER)
ups = []        # (client ms, code) of the Register/Update answers the peer sent
queries = []


def pump():
    # the server: Register -> 2.01 at /rd/x, Update -> 2.04, De-register -> 2.02
    for _ in range(16):
        try:
            d, a = peer.recvfrom(2048)
        except OSError:
            return
        m = coap.parse(d)
        if not 0 < m.code < 32:
            continue
        first = m.strs(URI_PATH) == ["rd"]
        r = coap.Msg(ACK, (CHANGED, CREATED)[first] if m.code == POST else DELETED, m.mid, m.token)
        if first:
            r.add(LOCATION_PATH, "rd").add(LOCATION_PATH, "x")
            queries.append(m.strs(URI_QUERY))
        ups.append((base.clock.ms(), r.code))
        peer.sendto(coap.build(r), a)


def run(ms):
    end = base.clock.ms() + ms
    while base.clock.ms() < end:
        c.step()
        pump()
        gw.poll()
        c.idle(end)


run(60000)
asleep = [c.sleeps, b.radio, sim.state]
n0 = len(ups)
req = coap.Msg(CON, POST, 0x5151, b"tr").add(URI_PATH, "1").add(URI_PATH, "0").add(URI_PATH, "8")
t_sms = base.clock.ms()
gw.inject(coap.build(req), sender)
run(700000 if psm else 20000)
cmt = [t for t, *a in LOG if a[0] == "wake"]
print(json.dumps({"asleep": asleep, "t_sms": t_sms, "ups": ups[n0:], "queries": queries,
                  "answers": [x[1] for x in gw.answers], "unknown": b.sms.unknown if b.sms else None,
                  "log": LOG, "mo": len(sim.mo), "pdus": gw.pdus_down, "cmt": cmt, "taus": sim.taus,
                  "at": [x for x in sim.log if x.startswith(("AT+CMGR", "AT+CMGD", "AT+CNMA"))], "box": len(sim.box)}))

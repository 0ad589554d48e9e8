"""Cellular modem interface (boards/modem.py) and the simulated modem
(tools/sim/simmodem.py) on the MicroPython unix port: 3GPP timer encodings both
ways, AT command strings, URC parsing, radio-state durations on a virtual clock."""
import pytest

PRELUDE = """
from boards.modem import *
from boards import modem as M
from simmodem import SimModem, Link, PSM, IDLE, CONN
class Clock:
    now = 0
    def ms(self):
        return self.now
class Board:
    def __init__(self):
        self.clock = Clock()
    def wait(self, ms):
        self.clock.now += ms
"""


def run(mp, body):
    return [eval(l) for l in mp(PRELUDE + body).splitlines()]


def call_each(mp, fn, args):
    return run(mp, "for a in %r:\n    print(repr(%s(*a)))\n" % (args, fn))


# GPRS Timer 3 (T3412 ext): bits 8-6 unit 000 10 min, 001 1 h, 010 10 h,
# 011 2 s, 100 30 s, 101 1 min, 110 320 h, 111 deactivated; bits 5-1 value
T3412 = [
    (86400, "00111000"),     # 24 x 1 h
    (86401, "00111001"),     # 25 x 1 h: rounds up
    (3600, "00000110"),      # 6 x 10 min (= 1 x 1 h: the finer unit wins the tie)
    (3601, "00000111"),      # 7 x 10 min
    (60, "01111110"),        # 30 x 2 s
    (62, "01111111"),        # 31 x 2 s
    (63, "10000011"),        # 3 x 30 s = 90
    (1, "01100001"),         # 1 x 2 s
    (0, "01100000"),
    (1116000, "01011111"),   # 31 x 10 h
    (1116001, "11000001"),   # 1 x 320 h
    (35712000, "11011111"),  # 31 x 320 h: the maximum
    (10 ** 9, "11011111"),   # beyond: clamped to the maximum
    (None, "11100000"),      # deactivated
]
# GPRS Timer 2 (T3324): 000 2 s, 001 1 min, 010 decihours (6 min), 111 deactivated
T3324 = [
    (4, "00000010"),
    (3, "00000010"),         # rounds up to 4 s
    (62, "00011111"),        # 31 x 2 s
    (60, "00011110"),        # 30 x 2 s (= 1 min: finer unit)
    (63, "00100010"),        # 2 min
    (93, "00100010"),        # MAX_TRANSMIT_WAIT -> 2 min
    (1860, "00111111"),      # 31 min
    (1861, "01000110"),      # 6 decihours = 36 min
    (11160, "01011111"),     # 31 decihours: the maximum
    (99999, "01011111"),
    (0, "00000000"),
    (None, "11100000"),
]


def test_t3412_encode(mp):
    assert call_each(mp, "enc_t3412", [(s,) for s, _ in T3412]) == [b for _, b in T3412]


def test_t3324_encode(mp):
    assert call_each(mp, "enc_t3324", [(s,) for s, _ in T3324]) == [b for _, b in T3324]


def test_timers_decode(mp):
    cases3 = [("00111000", 86400), ("00000001", 600), ("01011111", 1116000), ("01100101", 10),
              ("10000011", 90), ("10100010", 120), ("11000001", 1152000), ("11100000", None),
              ("11111111", None), ("00101101", 46800)]
    cases2 = [("00000010", 4), ("00100101", 300), ("01000001", 360), ("11100000", None),
              ("01100001", 60),   # undefined units read as 1 min
              ("00001000", 16)]
    assert call_each(mp, "dec_t3412", [(b,) for b, _ in cases3]) == [s for _, s in cases3]
    assert call_each(mp, "dec_t3324", [(b,) for b, _ in cases2]) == [s for _, s in cases2]


def test_timers_round_trip(mp):
    # every encodable value decodes back to the smallest encodable value >= it
    out = run(mp, """
bad = []
for enc, dec in ((enc_t3412, dec_t3412), (enc_t3324, dec_t3324)):
    vals = sorted(set(dec('{:08b}'.format(v)) for v in range(224)))
    for s in list(range(0, 4000, 7)) + vals + [v + 1 for v in vals[:-1]]:
        d = dec(enc(s))
        ok = d >= s and not any(s <= v < d for v in vals)
        if not ok:
            bad.append((s, enc(s), d))
print(repr(bad))
""")
    assert out == [[]]


def test_edrx(mp):
    enc = [(20000, 4), (5120, 4), (5120, 5), (60000, 5), (60000, 4), (10 ** 8, 4), (10 ** 8, 5), (163840, 5)]
    assert call_each(mp, "enc_edrx", enc) == ["0010", "0000", "0010", "0101", "0100", "1101", "1111", "1001"]
    assert call_each(mp, "dec_edrx", [("0000",), ("0010",), ("1001",), ("1111",)]) == [5120, 20480, 163840, 10485760]
    # Appendix D.8.5: pmin < eDRX < pmax
    assert call_each(mp, "edrx_for", [(60, 3600), (0, 10), (30, 60, 5), (0, 5)]) == ["1101", "0000", "0011", None]


def test_psm_timers_d85(mp):
    # T3412 > lifetime (smallest encodable), T3324 = awake window rounded up
    assert call_each(mp, "psm_timers", [(86400,), (3600, 4), (86400, 30)]) == [
        ("00111001", "00100010"), ("00000111", "00000010"), ("00111001", "00001111")]


def test_at_strings(mp):
    out = run(mp, """
print(repr(cpsms(90000, 4)))
print(repr(cpsms(3600, None)))
print(repr(cedrxs(20480, 5)))
print(repr(cedrxs(None)))
for v in ('nrf91', 'sim7020', 'sim7080', 'bg95', 'none'):
    print(repr([rai_cmd(v, r) for r in (RAI_ONGOING, RAI_NONE, RAI_ONE)]))
print(repr(rai_cmd('bg95', RAI_ONE, 2, b'\\x01\\xab')))
print(repr([rai_for(True), rai_for(False), rai_for(True, more=True), rai_for(False, serving=True)]))
print(repr((RAI_ONGOING, RAI_NONE, RAI_ONE)))
""")
    assert out[0] == 'AT+CPSMS=1,,,"00111001","00000010"'
    assert out[1] == 'AT+CPSMS=1,,,"00000110","11100000"'
    assert out[2] == 'AT+CEDRXS=2,5,"0010"'
    assert out[3] == "AT+CEDRXS=0"
    assert out[4] == ["AT#XSOCKETOPT=1,61,4", "AT#XSOCKETOPT=1,61,2", "AT#XSOCKETOPT=1,61,3"]
    assert out[5] == ["AT+CNBIOTRAI=0", "AT+CNBIOTRAI=1", "AT+CNBIOTRAI=2"]
    assert out[6] == [None, None, None]
    assert out[7] == [None, None, None]    # BG95: RAI rides on +QISENDEX with the data
    assert out[8] == [None, None, None]
    assert out[9] == 'AT+QISENDEX=2,"01ab",2'
    # Table D.4-1: Update (CON) -> one response, NON notification -> none,
    # more to send / serving requests -> ongoing; 2-bit codes 00, 01, 10
    assert out[10] == [2, 1, 0, 0]
    assert out[11] == (0, 1, 2)


URCS = [
    ('+CEREG: 5,"702B","08C3BD0D",9,,,"00001000","00101101"', ("reg", (5, 16, 46800))),
    ('+CEREG: 1,"0001","00000001",7,0,18,"00000000","00111000"', ("reg", (1, 0, 86400))),
    ('+CEREG: 1,"0001","00000001",7,,,"11100000","11100000"', ("reg", (1, None, None))),
    ('+CEREG: 1,"0001","00000001",7', ("reg", (1, None, None))),
    ("+CEREG: 2", ("reg", (2, None, None))),
    ("%XMODEMSLEEP: 1,36000", ("sleep", (1, 36000))),
    ("%XMODEMSLEEP: 1,0", ("sleep", (1, 0))),
    ("%XMODEMSLEEP: 4", ("sleep", (4, None))),
    ('+CPSMSTATUS: "ENTER PSM"', ("psm", 1)),
    ('+CPSMSTATUS: "EXIT PSM"', ("psm", 0)),
    ("PSM POWER DOWN", ("psm", 1)),
    ("+CSCON: 1", ("rrc", 1)),
    ("+CSCON: 1,0", ("rrc", 0)),    # read response: <n>,<mode>
    ('+CEDRXP: 4,"0010","0011","0001"', ("edrx", 40960)),
    ("OK", None),
    ("+CME ERROR: 3", None),
]


def test_urc_parsing(mp):
    assert call_each(mp, "urc", [(l,) for l, _ in URCS]) == [r for _, r in URCS]
    # the read response carries <n> first
    assert call_each(mp, "cereg", [('+CEREG: 4,1,"5B57","01A50B1A",9,,,"00000001","00101000"', True)]) == [
        (1, 2, 28800)]


def test_modem_over_scripted_uart(mp):
    # a UART delivering replies in odd chunks, with echo and interleaved URCs
    out = run(mp, """
class Uart:
    def __init__(self, script):
        self.script = script
        self.sent = []
        self.rx = b''
    def write(self, b):
        self.sent.append(b)
        self.rx += self.script.pop(0)
    def read(self):
        if not self.rx:
            return None
        d, self.rx = self.rx[:5], self.rx[5:]
        return d
u = Uart([b'AT+CPSMS=1,,,"00111001","00000010"\\r\\r\\n+CSCON: 1\\r\\nOK\\r\\n+CEREG: 1,"0001","00000001",7,,,"00000010","00111001"\\r\\n',
          b'\\r\\n+CME ERROR: 30\\r\\n',
          b'\\r\\n+CPSMS: 1,,,"00111001","00000010"\\r\\n\\r\\nOK\\r\\n'])
b = Board()
m = Modem(u, 'sim7080', b)
seen = []
m.on_urc = lambda k, v: seen.append((k, v))
print(repr(m.request_psm(90000, 4)))
print(repr(u.sent[0]))
m.poll()
print(repr((m.rrc, m.stat, m.t3324, m.t3412)))
print(repr(m.request_edrx(20480)))
print(repr(m.at('AT+CPSMS?')))
print(repr(seen))
dead = Modem(type('Dead', (), {'write': lambda s, b: None, 'read': lambda s: None})(), None, b)
t0 = b.clock.now
print(repr((dead.at('AT', 300), b.clock.now - t0 >= 300)))
""")
    assert out[0] is True
    assert out[1] == b'AT+CPSMS=1,,,"00111001","00000010"\r\n'
    assert out[2] == (1, 1, 4, 90000)
    assert out[3] is False
    assert out[4] == ['+CPSMS: 1,,,"00111001","00000010"']
    assert out[5] == [("rrc", 1), ("reg", (1, 4, 90000))]
    assert out[6] == (None, True)


def test_modem_against_simmodem(mp):
    # boards/modem.py configuring the simulated modem; URCs flow back
    out = run(mp, """
b = Board()
sm = SimModem(b.clock, 'nrf91')
m = Modem(sm, 'nrf91', b)
print(repr(m.setup()))
print(repr((sm.cereg, sm.cscon, sm.sleepurc, sm.rai_on)))
print(repr(m.psm_for(86400, 4)))
print(repr((m.t3412, m.t3324, sm.t3412, sm.t3324, sm.psm)))
print(repr(m.at('AT+CEREG?')))
print(repr((m.request_edrx(20000), sm.edrx)))
print(repr(m.at('AT+BOGUS')))
m.rai(RAI_NONE)                  # AT#XSOCKETOPT=1,61,2: RAI_LAST for the next send
b.clock.now = 1000
sm.radio_event('tx', 40)
print(repr((sm.state, sm.rel)))
b.clock.now = 6000
m.poll()
print(repr((m.rrc, m.asleep)))
b.clock.now = 7000
sm.radio_event('tx', 40)         # no RAI: inactivity timer
m.poll()
print(repr((sm.state, sm.rel, m.rrc, m.asleep)))
print(repr((m.request_psm(None, None), sm.psm, sm.t3324)))
""")
    assert out[0] is True
    assert out[1] == (5, 1, 1, 1)
    assert out[2] is True
    assert out[3] == (90000, 4, 90000000, 4000, True)
    assert out[4] == ['+CEREG: 5,1,"0001","00000001",7,,,"00000010","00111001"']
    assert out[5] == (True, 20480)
    assert out[6] is None
    assert out[7] == (1, 1000)            # released at once after the send
    assert out[8] == (0, True)            # +CSCON: 0, then %XMODEMSLEEP: 1,<ms>
    assert out[9] == (2, 17000, 1, False)
    assert out[10] == (True, False, 4000)     # AT+CPSMS=0: PSM off


SIM = """
b = Board()
tr = []
sm = SimModem(b.clock, 'nrf91', trace=tr)
sm.set_psm(3600, 4)
def at(t):
    b.clock.now = t
"""


def test_sim_states_without_rai(mp):
    out = run(mp, SIM + """
at(1000); sm.radio_event('tx', 50)
at(1500); sm.radio_event('rx', 20)   # response restarts the inactivity timer
r = sm.report(20000)
print(repr((r['ms'], r['on_ms'], r['wakes'], r['up'], r['down'])))
print(repr(tr))
print(repr(r['mah']))
""")
    # connected 1000..11500 (10 s inactivity after the last datagram), idle 4 s, PSM
    assert out[0] == ([1000 + 4500, 4000, 10500], 14500, 1, 50, 20)
    assert out[1] == [(1000, 2), (11500, 1), (15500, 0)]
    assert out[2] == pytest.approx((5500 * 5 + 4000 * 5000 + 10500 * 100000) / 3.6e9)


def test_sim_rai_shortens_connected_tail(mp):
    out = run(mp, SIM + """
at(1000); sm.radio_event('tx', 50); sm.radio_event('rai_none')
print(repr(sm.report(10000)['ms']))
at(20000); sm.radio_event('tx', 50); sm.radio_event('rai_one')
at(20500); sm.radio_event('rx', 20)
print(repr(sm.report(30000)['ms']))
at(40000); sm.radio_event('tx', 50); sm.radio_event('rai_ongoing')
print(repr(sm.report(60000)['ms']))
print(repr(sm.wakes))
""")
    assert out[0] == [1000 + 5000, 4000, 0]             # idle at once, PSM 4 s later
    assert out[1] == [6000 + 10000 + 5500, 8000, 500]     # released by the response
    assert out[2] == [21500 + 10000 + 6000, 12000, 10500]  # ongoing: inactivity timer
    assert out[3] == 3


def test_sim_paging_and_unreachable(mp):
    out = run(mp, SIM + """
at(1000); sm.radio_event('tx', 50); sm.radio_event('rai_none')   # idle 1000..5000
print(repr(sm.downlink(1200)))     # paged: delivered one DRX cycle later
print(repr(sm.downlink(1300)))     # already paging: same delivery
at(3760); print(repr(sm.radio_event('rx', 30)))
print(repr((sm.state, sm.rel)))
at(30000); sm.radio_event('tx', 50); sm.radio_event('rai_none')   # idle 30000..34000
print(repr(sm.downlink(32000)))    # paging would fall after T3324: unreachable
print(repr(sm.downlink(40000)))    # PSM
at(41000); print(repr(sm.radio_event('rx', 30)))
print(repr(sm.missed))
""")
    assert out[:3] == [3760, 3760, True]
    assert out[3] == (2, 13760)
    assert out[4:7] == [None, None, False]
    assert out[7] == 3


def test_sim_forced_sleep_and_periodic_tau(mp):
    out = run(mp, SIM + """
sm.set_psm(60, 2)
at(0); sm.radio_event('tx', 10)
at(5000); sm.radio_event('sleep')             # the host turns the radio off
print(repr(sm.report(5000)['ms']))
r = sm.report(5000 + 60000 + 1000 + 2000 + 1)  # T3412 from the sleep: TAU, 1 s connected, 2 s idle
print(repr((r['taus'], r['wakes'], r['ms'])))
print(repr(tr[-3:]))
sm.set_psm(None, None)                        # PSM off: idle stays idle
at(100000); sm.radio_event('tx', 10); sm.radio_event('rai_none')
print(repr(sm.report(200000)['ms'][1]))
""")
    assert out[0] == [0, 0, 5000]
    assert out[1] == (1, 1, [60001, 2000, 6000])
    assert out[2] == [(65000, 2), (66000, 1), (68000, 0)]
    assert out[3] == 2000 + 100000


def test_sim_at_rai_variants_and_urcs(mp):
    out = run(mp, """
b = Board()
for v in ('nrf91', 'sim7020', 'bg95', 'sim7080'):
    sm = SimModem(b.clock, v)
    m = Modem(sm, v, b)
    m.setup()
    m.request_psm(3600, 4)
    b.clock.now += 100000
    if v == 'bg95':
        print(repr(m.at(rai_cmd(v, RAI_NONE, 0, b'0123456789'))))
    else:
        m.rai(RAI_NONE)
        sm.radio_event('tx', 10)
    t = b.clock.now
    b.clock.now += 10000
    sm.advance()
    lines = []
    sm.out and lines.extend(l.decode().strip() for l in sm.out)
    m.poll()
    print(repr((v, sm.up, sm.ms[2], m.asleep, lines)))
""")
    assert out[2] == ["+CSCON: 1", "+CSCON: 0"]   # RAI in +QISENDEX: released at once
    nrf, sim20, bg, sim80 = out[0], out[1], out[3], out[4]
    assert nrf[:3] == ("nrf91", 10, 0) and nrf[3] is True
    assert nrf[4] == ["%XMODEMSLEEP: 1,0", "+CSCON: 1", "+CSCON: 0", "%XMODEMSLEEP: 1,3600000"]
    assert sim20[:4] == ("sim7020", 10, 0, False)       # no sleep URC on this vendor
    assert bg[:4] == ("bg95", 10, 0, True) and bg[4][-1] == "PSM POWER DOWN"
    # SIM7080 has no RAI command: the connection stays for the inactivity timer
    assert sim80[:4] == ("sim7080", 10, 10000, False)
    assert "+CPSMSTATUS: \"ENTER PSM\"" not in sim80[4]


def test_link_drops_while_in_psm(mp):
    out = run(mp, """
b = Board()
sm = SimModem(b.clock)
sm.set_psm(3600, 2)
class Tr:
    def __init__(self):
        self.q = []
        self.sent = []
    def send(self, d):
        self.sent.append(d)
    def recv(self):
        return self.q.pop(0) if self.q else None
    def close(self):
        pass
t = Tr()
l = Link(t, sm)
l.rai = RAI_ONE
l.send(b'update')
print(repr((sm.state, sm.one, t.sent)))
t.q.append(b'ack')
b.clock.now = 300
print(repr((l.recv(), sm.state)))     # released after the one response
b.clock.now = 5000
t.q.append(b'late')
print(repr((l.recv(), sm.state, sm.missed)))
""")
    assert out[0] == (2, True, [b"update"])
    assert out[1] == (b"ack", 1)
    assert out[2] == (None, 0, 1)


def test_link_setup_paging_and_overhead(mp):
    # a send from PSM spends the set-up time connected on the clock; a
    # datagram reaching the network while idle is held for one paging cycle;
    # sizes count the IP/UDP headers
    out = run(mp, SIM + """
class Tr:
    def __init__(self):
        self.q = []
    def send(self, d):
        pass
    def recv(self):
        return self.q.pop(0) if self.q else None
    def close(self):
        pass
    def deadline(self):
        return None
t = Tr()
l = Link(t, sm, 1000, 28, b.clock)
seen = []
l.after = seen.append
at(5000)
sm.rai_next = RAI_NONE            # as set over AT for this message
l.send(b'x' * 10)
print(repr((b.clock.now, sm.state, sm.up, seen, sm.psm_at())))
at(6500)
t.q.append(b'req')
print(repr((l.recv(), l.due(), l.deadline())))
at(9059); print(repr(l.recv()))
at(9060); print(repr((l.recv(), sm.state, sm.down, seen[-1], sm.psm_at())))
""")
    assert out[0] == (6000, 1, 38, [5000], 10000)    # connected 5000..6000, released, PSM at 10 s
    assert out[1] == (None, 6500 + 2560, None)
    assert out[2] is None
    assert out[3] == (b"req", 2, 31, 9060, 9060 + 10000 + 4000)


def test_sim_sms(mp):
    out = run(mp, SIM + """
m = Modem(sm, 'nrf91', b)
at(1000); sm.radio_event('tx', 10)              # connected until 11000
print(repr(sm.sms(t=2000)))                     # at once: connected until 12000
m.poll()
at(12000); sm.advance()                         # idle 12000..16000
print(repr(sm.sms(t=12500)))                    # paged
at(15100); sm.advance()
print(repr((sm.state, sm.sms_n, sm.rel)))
at(40000); sm.advance()
print(repr((sm.state, sm.sms(t=40000))))        # PSM: kept by the network
at(50000); sm.advance()
print(repr((sm.sms_n, sm.smsc)))
sm.radio_event('tx', 10)                        # leaving PSM delivers it
print(repr((sm.sms_n, sm.smsc, sm.down)))
got = []
m.on_urc = lambda k, v: got.append((k, v))
m.poll()
print(repr([g for g in got if g[0] == 'sms']))
print(repr(urc('+CMTI: "SM",7')))
""")
    assert out[0] == 2000
    assert out[1] == 12500 + 2560
    assert out[2] == (2, 2, 15060 + 10000)
    assert out[3] == (0, None)
    assert out[4] == (2, [160])
    assert out[5] == (3, [], 480)
    assert out[6] == [("sms", 2), ("sms", 3)]
    assert out[7] == ("sms", 7)

"""Notification storing while offline (Server /1/x/6), wake-up coalescing and
the reporter's state as plain data (deep sleep), on the virtual clock, in
process: the real client in queue mode (binding UQ, 10 s awake window) and a
bare server socket (host_tests/mpharness.py). After the awake window the
radio is off: application timers still run (CPU only), a change is stored,
and the client.wake() of an application event or a radio deadline (pmax,
Update) switches the radio on again; the Update goes first."""
import ast

import pytest
from mpharness import prelude


def run(mp, body, lifetime=3600, awake=10):
    code = prelude(lifetime).replace('"--lifetime", ', '"--binding", "UQ", "--awake", "%d", "--lifetime", ' % awake)
    out = mp(code + HELPERS + body, timeout=120)
    return ast.literal_eval(out.strip().splitlines()[-1])


HELPERS = r"""
def later(ms, v, path=(3303, 0, 5700)):
    # the application sets a value ms from now (a timer: runs with the radio off)
    c.at(ms, lambda: c.set(path, v))


def wire(token, since=0, base=0):
    # what the server got from since on: U (Update), N (notification of
    # token) with client second (from base), payload and Observe number
    out = []
    for t, m in sent:
        if t < since:
            continue
        if m.code == POST and m.strs(URI_PATH) == ["rd", "x"]:
            out.append(["U", round((t - base) / 1000)])
        elif m.token == token and m.code == CONTENT and m.t in (CON, NON):
            out.append(["N", round((t - base) / 1000), bytes(m.payload).decode(), m.uint(OBSERVE)])
    return out


def logged(name):
    return [round(t / 1000) for t, *a in LOG if a[0] == name]
"""


def test_stored_while_offline_delivered_after_update_oldest_first(mp):
    res = run(mp, """
r = observe("/3303/0/5700", "pmin=0&pmax=3000")
run(15000)                                  # the awake window is over: radio off
off = not b.radio and c.servers[0].ready() is False
t0 = b.clock.ms()
later(100000, 1.5)                          # +115 s, +215 s, +315 s: radio off
later(200000, 2.5)
later(300000, 3.5)
c.at(400000, c.wake)                        # an application event at +415 s
run(500000)
stored = [[round(t / 1000), a[2]] for t, *a in LOG if a[0] == "store"]
# next: pmax (3000 s after the last stored one) is a radio deadline
run(3400000 - b.clock.ms())
print([off, stored, logged("wake"), wire(r.token, t0), c.reporter.pend, c.reporter.dropped])
""")
    off, stored, wakes, w, pend, dropped = res
    assert off
    # each change was stored at its time, with the radio off; no wake for them
    assert [s[0] for s in stored] == [115, 215, 315]
    assert wakes[0] == 415
    # after the wake: the Update first, then the stored ones, oldest first,
    # each with its value and its own, increasing Observe number
    assert w[0] == ["U", 415]
    assert [x[:3] for x in w[1:4]] == [["N", 415, "1.5"], ["N", 415, "2.5"], ["N", 415, "3.5"]]
    assert [x[3] for x in w[1:4]] == [s[1] for s in stored]
    seqs = [x[3] for x in w if x[0] == "N"]
    assert seqs == sorted(set(seqs))
    # pmax 3000 s after the last stored notification (315 s) wakes the radio:
    # Update, then one live notification of the current value
    assert w[4:] == [["U", 3315], ["N", 3315, "3.5", seqs[2] + 1]]
    assert wakes == [415, 3315]
    assert pend == [] and dropped == 0


def test_store_bounded_drop_oldest(mp):
    res = run(mp, """
r = observe("/3303/0/5700", "pmin=0")
rep = c.reporter
rep.store_max = 10                          # bytes of payload: three "x.5" values
run(15000)
t0 = b.clock.ms()
for i in range(5):
    later(10000 * (i + 1), i + 0.5)
c.at(60000, c.wake)
run(70000)
a = [rep.dropped, wire(r.token, t0), len([1 for t, *x in LOG if x[0] == "store full, dropped"])]
# the count bound: 32 notifications at most, whatever their size
rep.store_max = 100000
run(20000)                                  # asleep again
a.append(not b.radio)
t1 = b.clock.ms()
for i in range(40):
    later(1000 * (i + 1), i + 100.5)
c.at(50000, c.wake)
run(60000)
print(a + [rep.dropped, len(rep.pend), [x[2] for x in wire(r.token, t1) if x[0] == "N"]])
""")
    dropped, w, lines, off, dropped2, pend, vals = res
    assert off
    assert dropped == 2 and lines == 2
    assert w[0][0] == "U"
    # the two oldest went, the newest three arrive in order
    assert [x[2] for x in w[1:]] == ["2.5", "3.5", "4.5"]
    assert [x[3] for x in w[1:]] == sorted(x[3] for x in w[1:])
    assert dropped2 == 2 + 8 and pend == 0
    assert vals == ["%g" % (i + 100.5) for i in range(8, 40)]


def test_storing_off_sends_only_the_latest_value(mp):
    res = run(mp, """
req(PUT, "/1/0/6", [(CONTENT_FORMAT, 0)], b"0")   # Notification Storing: off
r = observe("/3303/0/5700", "pmin=0")
run(15000)
t0 = b.clock.ms()
later(100000, 1.5)
later(200000, 2.5)
later(300000, 3.5)
c.at(400000, c.wake)
run(500000)
print([wire(r.token, t0), logged("store"), logged("wake"), c.reporter.pend])
""")
    w, stored, wakes, pend = res
    assert stored == [] and pend == []
    assert wakes == [415]                   # the changes did not switch the radio on
    assert [x[:3] for x in w] == [["U", 415], ["N", 415, "3.5"]]


def test_order_kept_when_a_con_is_lost(mp):
    # the first stored notification goes CON (the daily CON), the rest NON;
    # its first transmission is lost: neither the stored NON ones nor a live
    # one made meanwhile may overtake it
    res = run(mp, """
r = observe("/3303/0/5700", "pmin=0")
run(15000)
t0 = b.clock.ms()
later(10000, 1.5)
later(20000, 2.5)
later(30000, 3.5)
run(35000)
c.reporter.obs[0].con -= 86400000           # a day without a CON notification
tr = c.servers[0].ex.tr
f = tr.send
lost = []
def send(d):
    m = coap.parse(bytes(d))
    if m.code == CONTENT and m.t == CON and not lost:
        lost.append(m.uint(OBSERVE))
        return
    f(d)
tr.send = send
c.wake()
run(500)                                    # Update done, the CON lost: held
held = [len(c.reporter.pend), len(sent)]
c.set((3303, 0, 5700), 4.5)                 # a live change meanwhile goes last
run(20000)
print([held, lost, [x[:1] + x[2:] for x in wire(r.token, t0)],
       [m.t for t, m in sent if m.token == r.token and t >= t0]])
""")
    held, lost, w, types = res
    assert held[0] == 2 and len(lost) == 1
    assert [x[0] for x in w] == ["U", "N", "N", "N", "N"]
    assert [x[1] for x in w[1:]] == ["1.5", "2.5", "3.5", "4.5"]
    assert w[1][2] == lost[0]                # the retransmission, before the others
    assert [x[2] for x in w[1:]] == sorted(x[2] for x in w[1:])
    assert types == [0, 1, 1, 1]             # CON (retransmitted), then NON ones


@pytest.mark.parametrize("first", ["notification", "send"])
def test_live_non_waits_behind_a_con_notification(mp, first):
    # a live notification made while a CON notification waits (for its ACK,
    # or queued behind a Send: NSTART 1) is sent CON too, queued behind it,
    # not NON ahead of it
    res = run(mp, """
r = observe("/3303/0/5700", "pmin=0")
r2 = observe("/3303/0/5750", "pmin=0")
run(1000)
rep = c.reporter
ex = c.servers[0].ex
rep.obs[0].con -= 86400000                  # its next notification is CON
LOSE = CONTENT if "FIRST" == "notification" else POST
tr = ex.tr
f = tr.send
held = []
def send(d):
    m = coap.parse(bytes(d))
    if m.code == LOSE and m.t == CON and not held:
        held.append(1)
        return
    f(d)
tr.send = send
if LOSE == POST:
    c.send([(3303, 0, 5700)])
c.set((3303, 0, 5700), 7.5)
c.step()
busy = [bool(ex.out), len(ex.queue)]
c.set((3303, 0, 5750), "x")
c.step()
run(10000)
print([busy, [[m.token == r.token, m.t] for t, m in sent
              if m.token in (r.token, r2.token) and m.code == CONTENT and m.t in (CON, NON)]])
""".replace("FIRST", first))
    busy, order = res
    assert busy == [True, 0 if first == "notification" else 1]
    # the second observation's notification comes after the first's
    assert order == [[True, 0], [False, 0]]


def test_cancel_and_drop_end_stored_notifications(mp):
    res = run(mp, """
r = observe("/3303/0/5700", "pmin=0")
r2 = observe("/3303/0/5750", "pmin=0")
run(15000)
later(1000, 1.5)
later(2000, "a", (3303, 0, 5750))
later(3000, 2.5)
run(5000)
rep = c.reporter
s = c.servers[0]
out = [[p[0].token == r.token for p in rep.pend]]
rep.cancel(s, r.token)                  # RST / cancel of the first one
out.append([p[0].token == r2.token for p in rep.pend])
out.append(len(rep.obs))
rep.drop(s)                             # re-Register / De-register
out.append([len(rep.pend), len(rep.obs)])
print(out)
""")
    assert res == [[True, False, True], [True], 1, [0, 0]]


def test_coalescing_pulls_near_pmax_into_the_session(mp):
    body = """
rep = c.rep()
rep.coalesce_ms = COAL
ra = observe("/3303/0/5700", "pmax=300")
rb = observe("/3/0", "pmax=330")
t0 = b.clock.ms()
run(1000000)
print([[round((t - t0) / 1000) for t, p, s in notes(x.token)] for x in (ra, rb)] + [logged("wake")])
"""
    on = run(mp, body.replace("COAL", "90000"))
    off = run(mp, body.replace("COAL", "0"))
    # without coalescing every pmax wakes the radio on its own
    assert off[0] == [300, 600, 900] and off[1] == [330, 660, 990]
    assert len(off[2]) == 6
    # with a 90 s horizon /3/0 (pmax 330) goes with /3303/0/5700 (pmax 300):
    # half the wake-ups, and never later than its pmax
    assert on[0] == [300, 600, 900] and on[1] == [300, 600, 900]
    assert len(on[2]) == 3


def test_coalescing_with_the_registration_update(mp):
    # lifetime 3600 s: the Update is due at 3240 s; a pmax at 3300 s goes in
    # the same radio session when the horizon covers it
    body = """
c.rep().coalesce_ms = COAL
r = observe("/3303/0/5700", "pmax=3300")
t0 = b.clock.ms()
run(3400000)
print([[round((t - t0) / 1000) for t, p, s in notes(r.token)], logged("wake"),
       [round(t / 1000) for t, m in sent if m.code == POST and m.strs(URI_PATH) == ["rd", "x"]]])
"""
    on = run(mp, body.replace("COAL", "90000"))
    off = run(mp, body.replace("COAL", "0"))
    assert off == [[3300], [3240, 3300], [3240, 3300]]
    assert on == [[3240], [3240], [3240]]


def test_dump_load_round_trip_through_cbor(mp):
    res = run(mp, """
from client import cbor
from client.report import Reporter
from client.sleep import dump, load
r = observe("/3303/0/5700", "pmin=0&pmax=3000&st=0.5")
req(PUT, "/3303/0", [(URI_QUERY, "pmin=1")])
req(PUT, "/3/0/0", [(URI_QUERY, "pmin=10000")])  # the composite one stays dirty
rc = req(FETCH, "", [(CONTENT_FORMAT, FMT_SENML_CBOR), (ACCEPT, FMT_SENML_CBOR), (OBSERVE, 0)],
         cbor.dumps([{0: "/3/0/0"}, {0: "/3303/0/5700"}]))
run(15000)
later(10000, 1.5)
later(20000, 2.5)
run(25000)
c.set((3303, 0, 5700), 2.6)         # less than st from 2.5: no notification
c.send([(3303, 0, 5700)])           # queued: the server is not ready
rep = c.reporter
now = b.clock.ms()
d = dump(rep, now)
blob = cbor.dumps(d)
r2 = Reporter(c)
load(r2, cbor.loads(blob), now + 7000, c.server)
out = [[len(rep.pend), len(rep.obs), len(rep.sends), rep.obs[1].dirty]]
x, y = cbor.loads(blob), cbor.loads(cbor.dumps(dump(r2, now + 7000)))
x[2].sort()
y[2].sort()
out.append([x == y, len(x[2])])
o1, o2 = rep.obs[0], r2.obs[0]
out.append([o2.paths, o2.token == o1.token, o2.seq == o1.seq, o2.last - (now + 7000) == o1.last - now,
            o2.con - (now + 7000) == o1.con - now, o2.val, o2.srv is c.servers[0], r2.obs[1].comp,
            r2.obs[1].paths, r2.obs[1].dirty, r2.obs[1].token == rc.token])
out.append(sorted(r2.attrs.items()))
out.append(list(r2.sends))
out.append([[p[0] is r2.obs[0], p[1], bytes(p[4]), p[5] - (now + 7000) == q[5] - now]
            for p, q in zip(r2.pend, rep.pend)])
# the restored reporter carries on: stored ones after the Update, then live
c.reporter = r2
t1 = b.clock.ms()
c.wake()
run(5000)
c.set((3303, 0, 5700), 9.5)
run(5000)
out.append(wire(r.token, t1, t1))
out.append([m.strs(URI_PATH) for t, m in sent if t >= t1 and m.code == POST])
print(out)
""")
    n, eq, o, attrs, sends, pend, w, posts = res
    assert n == [2, 2, 1, True]
    assert eq == [True, 3]                  # dump(load(dump)) is the same data
    assert o[0] == [(3303, 0, 5700)] and o[1:5] == [True, True, True, True]
    assert o[5] == 2.5 and o[6] and o[7] is True
    assert o[8] == [(3, 0, 0), (3303, 0, 5700)] and o[9] is True and o[10]
    assert attrs == [((1, (3, 0, 0)), {"pmin": 10000}), ((1, (3303, 0)), {"pmin": 1}),
                     ((1, (3303, 0, 5700)), {"pmax": 3000, "pmin": 0, "st": 0.5})]
    assert sends == [([(3303, 0, 5700)], 112)]
    assert [p[2] for p in pend] == [b"1.5", b"2.5"] and all(p[0] and p[3] for p in pend)
    assert pend[1][1] == pend[0][1] + 1
    assert [x[:3] for x in w] == [["U", 0], ["N", 0, "1.5"], ["N", 0, "2.5"], ["N", 5, "9.5"]]
    assert [x[3] for x in w[1:]] == [pend[0][1], pend[1][1], pend[1][1] + 1]
    assert ["dp"] in posts


def test_deadlines_while_offline(mp):
    # radio off: a change waiting for pmin is no radio deadline (pmax is);
    # deadline(True) has it, for a CPU-only wake-up (the client's scheduler
    # uses it) that stores it on time with the radio still off. When it
    # cannot be stored (/1/x/6 off) it waits for the radio: no deadline.
    res = run(mp, """
r = observe("/3303/0/5700", "pmin=60&pmax=3000")
run(15000)
rep = c.reporter
ob = rep.obs[0]
c.set((3303, 0, 5700), 4.5)
out = [not b.radio, ob.dirty, rep.deadline() - ob.last, rep.deadline(True) - ob.last]
c.objs[1].inst[0][6] = False
out.append([rep.deadline() - ob.last, rep.deadline(True) - ob.last])
c.objs[1].inst[0][6] = True
run(100000)
out.append([not b.radio, [round(t / 1000) for t, *a in LOG if a[0] == "store"], ob.dirty,
            logged("wake")])
print(out)
""")
    assert res[:4] == [True, True, 3000000, 60000]
    assert res[4] == [3000000, 3000000]
    # stored at pmin (60 s after the observation began), the radio still off
    assert res[5] == [True, [60], False, []]

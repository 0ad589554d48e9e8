"""Notification attributes on the virtual clock, in process: the real client
and a bare CoAP server socket on loopback (host_tests/mpharness.py)."""
import ast

from mpharness import prelude


def run(mp, body, lifetime=86400):
    out = mp(prelude(lifetime) + body)
    return ast.literal_eval(out.strip().splitlines()[-1])


def test_pmin_pmax(mp):
    # pmin=10, pmax=60: a change at +2 s is notified at +10 s (not before);
    # without changes, one notification every 60 s
    res = run(mp, """
r = observe("/3303/0/5700", "pmin=10&pmax=60")
t0 = b.clock.ms()
run(2000)
c.set((3303, 0, 5700), 21.5)
run(200000 - 2000)
print([[t - t0, p.decode(), s] for t, p, s in notes(r.token)])
""")
    assert [round(n[0] / 1000) for n in res] == [10, 70, 130, 190]
    assert res[0][1] == "21.5" and all(n[1] == "21.5" for n in res)
    seqs = [n[2] for n in res]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4      # Observe numbers increase


def test_no_pmax_no_periodic_notifications(mp):
    res = run(mp, """
r = observe("/3303/0/5700")
t0 = b.clock.ms()
run(3600000)
n1 = notes(r.token)
c.set((3303, 0, 5700), 3.0)
run(1000)
print([len(n1), [[t - t0, p.decode()] for t, p, s in notes(r.token)]])
""")
    assert res[0] == 0 and len(res[1]) == 1 and res[1][0][1] == "3.0"


def table(mp, attrs, rows):
    """For each (old, new): observe with the value at old, set new, report
    whether a notification went out."""
    body = """
out = []
for old, new in %r:
    c.set((3303, 0, 5700), old)
    r = observe("/3303/0/5700", %r)
    run(1000)
    c.set((3303, 0, 5700), new)
    run(1000)
    out.append(len(notes(r.token)))
    req(GET, "/3303/0/5700", [(OBSERVE, 1)])
print(out)
""" % (rows, attrs)
    return run(mp, body)


def test_spec_example_gt45_st10(mp):
    # transport spec §6.4.4, Write-Attributes /3/0/9?gt=45&st=10
    rows = [(45, 50), (38, 49), (48, 42)]
    assert table(mp, "gt=45&st=10", rows) == [1, 1, 0]


def test_spec_example_lt20_gt85_st10(mp):
    # Write-Attributes /3/0/9?lt=20&gt=85&st=10
    rows = [(75, 90), (50, 10), (87, 99), (17, 24)]
    assert table(mp, "lt=20&gt=85&st=10", rows) == [1, 1, 1, 0]


def test_server_defaults_and_inheritance(mp):
    res = run(mp, """
out = []
# default pmax from the Server object (/1/0/3)
req(PUT, "/1/0/3", [(CONTENT_FORMAT, 0)], b"30")
r = observe("/3303/0/5700")
t0 = b.clock.ms()
run(95000)
out.append([round((t - t0) / 1000) for t, p, s in notes(r.token)])
req(GET, "/3303/0/5700", [(OBSERVE, 1)])
# object level pmax=20 overrides the default, resource level pmax=40 overrides both
req(PUT, "/3303", [(URI_QUERY, "pmax=20")])
r = observe("/3303/0/5700", "pmax=40")
t0 = b.clock.ms()
run(85000)
out.append([round((t - t0) / 1000) for t, p, s in notes(r.token)])
# unset at resource level (bare key): back to the object's 20
req(PUT, "/3303/0/5700", [(URI_QUERY, "pmax")])
t1 = b.clock.ms()
run(45000)
out.append([round((t - t1) / 1000) for t, p, s in notes(r.token, t1)])
print(out)
""")
    assert res[0] == [30, 60, 90]
    assert res[1] == [40, 80]
    # last notification was at +80 s, so with pmax 20 the next is at +100 s (t1 ~ +85 s)
    assert res[2] == [15, 35]


def test_write_attributes_consistency(mp):
    res = run(mp, """
out = []
for path, q in [("/3303/0/5700", "lt=50&gt=40"), ("/3303/0/5700", "lt=20&gt=30&st=10"),
                ("/3303/0/5700", "pmin=10&pmax=5"), ("/3303/0", "gt=5"), ("/3303/0/5750", "gt=5"),
                ("/3303/0/5700", "foo=1"), ("/3303/0/5700", "pmin=x"), ("/3303/0/5700", "st=-1"),
                ("/3303/0/5700", "epmin=20&epmax=10"), ("/3303/9", "pmin=1"), ("/3303/0/5700", "lt=20&gt=85&st=10"),
                ("/3303/0", "pmin=10&pmax=60")]:
    r = req(PUT, path, [(URI_QUERY, x) for x in q.split("&")])
    out.append("%d.%02d" % (r.code >> 5, r.code & 31))
r = req(GET, "/3303/0", [(ACCEPT, 40)])
out.append(bytes(r.payload).decode())
print(out)
""")
    assert res[:11] == ["4.00"] * 9 + ["4.04", "2.04"]
    assert res[11] == "2.04"
    links = res[12].split(",")
    assert links[0] == "</3303/0>;pmax=60;pmin=10"
    assert "</3303/0/5700>;gt=85;lt=20;st=10" in links


def test_cancel_by_get_and_by_rst(mp):
    res = run(mp, """
out = []
r = observe("/3303/0/5700")
c.set((3303, 0, 5700), 1.0)
run(100)
out.append(len(notes(r.token)))
req(GET, "/3303/0/5700", [(OBSERVE, 1)])      # cancel: 2.05 without Observe
c.set((3303, 0, 5700), 2.0)
run(100)
out.append(len(notes(r.token)))
# RST in reply to a NON notification cancels too
r = observe("/3303/0/5700")
c.set((3303, 0, 5700), 3.0)
run(100)
n = [m for t, m in sent if m.token == r.token and m.t == NON]
peer.sendto(coap.build(coap.Msg(RST, 0, n[-1].mid)), addr)
run(100)
c.set((3303, 0, 5700), 4.0)
run(100)
out.append(len(notes(r.token)))
out.append(len(c.reporter.obs))
print(out)
""")
    assert res == [1, 1, 1, 0]


def test_notification_con_mode_and_instance_observe(mp):
    res = run(mp, """
out = []
req(PUT, "/1/0/26", [(CONTENT_FORMAT, 0)], b"1")     # CON notifications
r = observe("/3303/0", acc=11542)
c.set((3303, 0, 5700), 7.0)
run(100)
m = [m for t, m in sent if m.token == r.token][-1]
out.append([m.t, m.uint(CONTENT_FORMAT), m.uint(OBSERVE) > 0])
print(out)
""")
    assert res == [[0, 11542, True]]


def test_epmax_evaluates_without_change_events(mp):
    # epmax: the client re-reads the value periodically (e.g. a polled sensor)
    res = run(mp, """
r = observe("/3/0/13", "epmax=5&pmin=0")
t0 = b.clock.ms()
run(21000)
print([round((t - t0) / 1000) for t, p, s in notes(r.token)])
""")
    # Current Time changes every second: each evaluation finds a new value
    assert res == [5, 10, 15, 20]


def test_observations_dropped_on_reregistration(mp):
    # a re-Register (here after an Update got 4.04) ends the old observations
    res = run(mp, """
out = []
r = observe("/3303/0/5700")
c.set((3303, 0, 5700), 1.0)
run(100)
out.append(len(c.reporter.obs))
s = c.servers[0]
s.register()
run(100)
out.append(len(c.reporter.obs))
c.set((3303, 0, 5700), 2.0)
run(100)
out.append(len(notes(r.token)))
print(out)
""")
    assert res == [1, 0, 1]


def test_unknown_critical_option_gets_4_02_elective_ignored(mp):
    res = run(mp, """
out = []
r = req(GET, "/3/0/0", [(9, b"x")])         # option 9: critical, unknown
out.append(r.code)
r = req(GET, "/3/0/0", [(2048, b"x")])      # even number: elective, ignored
out.append(r.code)
print(out)
""")
    assert res == [0x82, 0x45]

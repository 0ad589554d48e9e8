"""Queue Mode (transport spec §6.5) on the virtual clock, in process: the real
client with binding UQ and a bare server socket (host_tests/mpharness.py)."""
import ast

from mpharness import prelude


def run(mp, body, lifetime=3600, awake=10):
    code = prelude(lifetime).replace('"--lifetime", ', '"--binding", "UQ", "--awake", "%d", "--lifetime", ' % awake)
    # 8 MB heap: a week of LOG and sent records scattered over the default
    # 2 MB heap can leave no 8 KB hole for the LOG list to grow into
    # (fragmentation, depending on the code's own layout in the heap)
    out = mp(code + body, heap="8M", timeout=120)
    return ast.literal_eval(out.strip().splitlines()[-1])


def test_register_with_queue_mode_and_sleep_after_awake_window(mp):
    res = run(mp, """
reg = [m for t, m in sent if m.code == POST and m.strs(URI_PATH) == ["rd"]]
q = reg[0].strs(URI_QUERY) if reg else []
run(30000)
print([q, [(round(t / 1000), a[0]) for t, *a in LOG if a[0] in ("sleep %ds" % 0, "wake") or a[0].startswith("sleep")][:2]])
""")
    q, log = res
    assert "b=U" in q and "Q" in q          # LwM2M 1.1: b=U plus the Q parameter
    # asleep after the configured 10 s awake window that follows the last message
    assert log[0][1].startswith("sleep") and log[0][0] == 10


def test_offline_client_does_not_answer_and_updates_first_on_wake(mp):
    res = run(mp, """
run(20000)                      # registered at 0, asleep from 10 s
asleep = c.sleeps > 0 and not b.radio
mid[0] += 1
m = coap.Msg(CON, GET, mid[0], b"zz").add(URI_PATH, "3").add(URI_PATH, "0").add(URI_PATH, "0")
peer.sendto(coap.build(m), addr)
run(60000)
answered_asleep = b"zz" in replies
# the next wake-up is the registration update (lifetime 3600 s -> at 3240 s)
n0 = len(sent)
run(3240000 - b.clock.ms() + 5000)
after = [(round(t / 1000), m.code, m.strs(URI_PATH)) for t, m in sent[n0:]]
print([asleep, answered_asleep, after[:1]])
""")
    asleep, answered, after = res
    assert asleep and not answered
    assert after == [(3240, 2, ["rd", "x"])]     # first thing on wake: the Update


def test_notifications_wait_for_the_update_and_keep_order(mp):
    res = run(mp, """
r = observe("/3303/0/5700", "pmax=600")
run(15000)                                  # asleep now
# the application changes the value three times while the radio is off:
# the change is an application event that wakes the radio (client.wake)
c.at(100000, lambda: (c.set((3303, 0, 5700), 1.0), c.wake()))
run(200000)
order = [("U" if m.code == POST else "N", round(t / 1000)) for t, m in sent
         if m.code == POST and m.strs(URI_PATH) == ["rd", "x"] or m.token == r.token and m.t in (CON, NON)]
print([order, c.sleeps > 0, [(round(t / 1000), a[0]) for t, *a in LOG if a[0] in ("wake", "updated") or a[0] == "notify"]])
""")
    order, slept, log = res
    assert slept
    # the application event at +115 s wakes the client: Update, then the notification
    assert order == [("U", 115), ("N", 115)]
    assert log == [(115, "wake"), (115, "updated"), (115, "notify")]


def test_seven_days_wakeups_and_radio_on_time(mp):
    # lifetime 3600 s: an Update every 3240 s (lifetime - max(lt/10, 93 s)... min
    # with lt/2), awake 10 s after each: 7 days = 186 wake-ups
    res = run(mp, """
import time
t0 = time.ticks_ms()
run(7 * 86400 * 1000)
ups = [t for t, m in sent if m.code == POST and m.strs(URI_PATH) == ["rd", "x"]]
print([c.sleeps, len(ups), c.off_ms(), b.clock.ms(), time.ticks_diff(time.ticks_ms(), t0)])
""")
    sleeps, updates, slept, total, real_ms = res
    assert updates == 7 * 86400 // 3240          # 186: exactly one wake per Update
    assert sleeps == updates + 1                  # plus the sleep after registering
    # radio on: the 10 s awake window per wake-up (plus ms of exchanges)
    on_s = (total - slept) / 1000
    assert abs(on_s - 10 * sleeps) < 5
    assert real_ms < 60000


def test_e2e_request_held_by_server_is_answered_after_wake():
    from devclient import DevClient
    from lwm2m_server import Server
    # the dev server holds requests for a queue-mode client it doesn't know to
    # be awake (awake_s=0: only right after it heard from the client)
    with Server(port=0, awake_s=0.0, flush_delay=0.0) as srv:
        c = DevClient("coap://127.0.0.1:%d" % srv.port, "qm", "--lifetime", "300",
                      "--binding", "UQ", "--awake", "5")
        try:
            reg = srv.wait_registration("qm")
            assert reg.queue
            c.wait_line("sleep")
            fut = srv.read("qm", "/3/0/0", block=False, timeout=30)
            r = fut.result(30)
            assert r.code == "2.05" and r.payload == b"lwm2m-mpy"
            i_wake = c.wait_line("wake")
            i_upd = c.wait_line("updated", after=i_wake)
            i_read = c.wait_line("read /3/0/0", after=i_upd)
            assert i_wake < i_upd < i_read
            assert any(e["kind"] == "held" for e in srv.events)
        finally:
            c.interrupt()

"""Deep sleep (issue 5): the client powers down between radio sessions, its
state in the board's storage (client/sleep.py). Every boot is a new
MicroPython process on the virtual clock (a virtual RTC in the state
directory runs on through the sleep) with a new UDP source port."""
from devclient import boots, stamps
from lwm2m_server import Server

ARGS = ("--lifetime", "300", "--binding", "UQ", "--awake", "5", "--deep", "60")


def test_registration_survives_deep_sleep_and_held_request_is_answered(tmp_path):
    with Server(port=0, awake_s=0.0, flush_delay=0.0) as srv:
        futs = []

        def between(i):
            if i == 1:      # powered down: the server holds this read for the device
                futs.append(srv.read("ds", "/3/0/0", block=False, timeout=30))
        runs = boots("coap://127.0.0.1:%d" % srv.port, "ds", *ARGS, n=4,
                     state=str(tmp_path), between=between)
        assert [c.rc for c in runs] == [3, 3, 3, 3]
        kinds = [e["kind"] for e in srv.events if e["kind"] in ("register", "update")]
        assert kinds == ["register", "update", "update", "update"]  # one Register ever
        ups = [e for e in srv.events if e["kind"] == "update"]
        assert not any("addr" in e for e in ups)  # the same source port at every boot
        r = futs[0].result(10)
        assert r.code == "2.05" and r.payload == b"lwm2m-mpy"
        held = runs[2]                            # the boot after the request was queued
        assert stamps(held, "updated")[0] <= stamps(held, "read /3/0/0")[0]
        for c in runs[1:]:
            # each boot: restored offline, woken by the Update deadline (lt 300 s:
            # 93 s before expiry), Update first, then off again after 5 s
            assert stamps(c, "restored")[0] == stamps(c, "wake")[0]
            assert [x for x in c.lines if "deep sleep 20" in x]     # 202 s to the next Update
        t = [stamps(c, "updated")[0] for c in runs[1:]]
        assert [round(b - a) for a, b in zip(t, t[1:])] == [207, 207]


def test_stored_notifications_survive_deep_sleeps_and_arrive_in_order_after_the_update(tmp_path):
    # The dev server's Observe is held until the device's next wake (1080 s).
    # Then the application samples every 300 s with the radio off, each boot
    # a CPU-only wake: the notifications are stored (/1/x/6 default true) in
    # the sleep image; at the next Update (2160 s) they all go, oldest first.
    with Server(port=0, awake_s=0.0, flush_delay=0.0) as srv:
        obs = []

        def between(i):
            if i == 0:
                obs.append(srv.observe("dn", "/3303/0/5700", block=False, timeout=60))
        runs = boots("coap://127.0.0.1:%d" % srv.port, "dn", "--lifetime", "1200", "--binding", "UQ",
                     "--awake", "5", "--deep", "60", "--app", "host_tests.apps.deepsensor",
                     n=9, state=str(tmp_path), between=between)
        o = obs[0].result(10)
        assert [c.rc for c in runs] == [3] * 9
        # boots between the wakes stay offline: no wake, nothing sent
        for c in runs[5:8]:
            assert not stamps(c, "wake") and len(stamps(c, "store /3303")) == 1
        last = runs[8]
        t_up, t_n = stamps(last, "updated"), stamps(last, "notify")
        assert len(t_n) == 4 and t_up[0] <= min(t_n)       # the Update first
        n = o.wait(4, timeout=10)
        vals = [float(x.payload) for x in n]
        # the samples at 1380, 1680, 1980 and 2160 s: periods 4, 5, 6, 7
        assert vals == [4.0, 5.0, 6.0, 7.0]
        seqs = [x.observe for x in n]
        assert seqs == sorted(seqs) and len(set(seqs)) == 4 and seqs[0] > o.first.observe
        assert [e["kind"] for e in srv.events if e["kind"] in ("register", "update")].count("register") == 1

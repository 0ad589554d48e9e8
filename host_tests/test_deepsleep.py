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
        assert all("addr" in e for e in ups)      # a new source port at every boot
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

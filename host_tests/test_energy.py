"""Energy model (tools/energy/model.py simulate, the timeline model kept as a
cross-check) over simulated days: wake-ups and radio-on time per day match the
configuration exactly; the PSM-aware policy needs at least 10x less radio-on
time than the spec default and loses no queued request. bench_figures() and
the CLI run the real client (host_tests/test_energy_real.py checks those runs)."""
import json
import os
import time

import pytest

import energy
from energy import plot as energyplot

REF = energy.REFERENCE
C = energy.DEFAULTS
DAYS = 7


@pytest.fixture(scope="module")
def ref():
    t0 = time.perf_counter()
    r = energy.reference(DAYS, trace=True, source="model")
    return r, time.perf_counter() - t0


def steady(r):
    return r["per_day"][1:]


def test_days_run_fast(ref):
    r, dt = ref
    assert all(x["days"] == DAYS and len(x["per_day"]) == DAYS for x in r.values())
    assert dt < 1.0, "three policies x %d days took %.2f s" % (DAYS, dt)


def test_wakeups_per_day_exact(ref):
    # lifetime 24 h + pmax 1 h: the Update rides on every pmax wake-up -> 24 a day
    r, _ = ref
    for name, x in r.items():
        assert [d["wakeups"] for d in x["per_day"]] == [24] * DAYS, name
        assert [d["modem_wakeups"] for d in x["per_day"]] == [24] * DAYS, name
        assert [d["notifications"] for d in steady(x)] == [24] * (DAYS - 1), name
        assert all(d["taus"] == 0 for d in x["per_day"]), name     # T3412 > lifetime


def test_radio_on_per_day_exact(ref):
    r, _ = ref
    s = C["setup_ms"] / 1000
    rtt = C["rtt_ms"] / 1000
    srv = C["server_ms"] / 1000
    lead = s + rtt                      # wake -> Update answered -> notification sent
    n = REF["requests_per_day"]
    # default: awake 93 s after the last message; a request is answered srv after the ACK
    default = 24 * (lead + 93) + n * srv
    fixed = 24 * (lead + 10) + n * srv
    # psm: RAI releases at the notification; T3324 (rtt + paging, rounded up to
    # the 2 s step: 4 s) keeps it reachable; a queued request is paged (worst
    # case one DRX cycle), answered with RAI "ongoing": inactivity tail, T3324
    t3324 = r["psm"]["t3324_s"]
    assert t3324 == 4
    page = srv + C["paging_ms"] / 1000
    psm = (24 - n) * (lead + t3324) + n * (lead + page + C["inactivity_ms"] / 1000 + t3324)
    for name, want in (("default", default), ("fixed10", fixed), ("psm", psm)):
        got = [d["radio_on_s"] for d in steady(r[name])]
        assert got == pytest.approx([want] * (DAYS - 1), abs=1e-9), name
        assert r[name]["radio_on_s_day"] == pytest.approx(want)
    assert r["default"]["radio_on_s_day"] / r["psm"]["radio_on_s_day"] >= 10


def test_no_queued_request_lost(ref):
    r, _ = ref
    for name, x in r.items():
        assert x["requests"] == n_req(DAYS), name
        assert x["requests_delivered"] == x["requests"], name
        assert x["requests_lost"] == 0 and x["requests_pending"] == 0, name
        assert [d["requests_delivered"] for d in x["per_day"]] == [REF["requests_per_day"]] * DAYS


def n_req(days):
    return REF["requests_per_day"] * days


def test_bytes_and_energy(ref):
    r, _ = ref
    sz, o = C["sizes"], C["overhead"]
    wake = (sz["update"] + o) + (sz["ack"] + o) + (sz["notify"] + o)
    req = (sz["request"] + o) + (sz["response"] + o)
    assert r["default"]["bytes_day"] == 24 * wake + 5 * req
    # psm: the server's first retransmission (2 s) reaches the device while it
    # is being paged, so each request and its response travel twice
    assert r["psm"]["bytes_day"] == 24 * wake + 5 * 2 * req
    ua = C["ua"]
    for x in r.values():
        d = x["per_day"][3]
        want = (d["psm_s"] * ua[0] + d["idle_s"] * ua[1] + d["connected_s"] * ua[2]) / 3600 / 1000
        assert d["mah"] == pytest.approx(want)
        assert d["psm_s"] + d["idle_s"] + d["connected_s"] == pytest.approx(86400)
        assert x["battery_days"] == pytest.approx(C["capacity_mah"] / x["mah_day"])
    assert r["psm"]["battery_days"] > 3 * r["default"]["battery_days"]


def test_coalescing():
    # two observations, pmax 1 h, the second 100 s out of phase: aligned into
    # one radio session when pulling 100 s ahead is allowed (<= 5 % of pmax)
    obs = [{"pmin": 0, "pmax": 3600}, {"pmin": 0, "pmax": 3600, "phase": 100}]
    base = {"observations": obs, "requests_per_day": 0, "policy": "psm"}
    on = energy.simulate(dict(base, coalesce=0.05), DAYS)
    off = energy.simulate(dict(base, coalesce=0), DAYS)
    assert [d["wakeups"] for d in on["per_day"]] == [24] * DAYS
    assert [d["notifications"] for d in steady(on)] == [48] * (DAYS - 1)
    assert [d["wakeups"] for d in steady(off)] == [48] * (DAYS - 1)
    assert off["radio_on_s_day"] > 1.9 * on["radio_on_s_day"]
    # pmin (3550 s > the 3500 s since its last notification) forbids pulling
    # the second observation ahead
    held = energy.simulate(dict(base, coalesce=0.05, observations=[
        obs[0], dict(obs[1], pmin=3550)]), DAYS)
    assert [d["wakeups"] for d in steady(held)] == [48] * (DAYS - 1)


def test_lifetime_only_and_t3412():
    # no observation: one Update per lifetime minus the 93 s margin (day 0
    # also holds the Register)
    x = energy.simulate({"observations": [], "requests_per_day": 0, "policy": "psm"}, DAYS)
    assert [d["wakeups"] for d in x["per_day"]] == [2] + [1] * (DAYS - 1)
    assert x["t3412_s"] == 90000 and x["taus_day"] == 0
    assert x["radio_on_s_day"] == pytest.approx(C["setup_ms"] / 1000 + C["rtt_ms"] / 1000 + 4)
    # T3412 below the lifetime (against D.8.5): the modem wakes for periodic TAUs
    y = energy.simulate({"observations": [], "requests_per_day": 0, "policy": "psm", "t3412": 3600}, DAYS)
    assert y["taus_day"] >= 20 and y["modem_wakeups_day"] == 1
    assert y["mah_day"] > x["mah_day"]


def test_short_active_timer_loses_requests():
    # T3324 shorter than the paging delay: queued requests can't reach the device
    x = energy.simulate({"policy": "psm", "t3324": 2}, DAYS)
    assert x["t3324_s"] == 2
    assert x["requests_lost"] == x["requests"] == n_req(DAYS)
    assert x["requests_delivered"] == 0
    # a client window shorter than the server's reaction: the same
    y = energy.simulate({"policy": "fixed", "awake": 0.1}, DAYS)
    assert y["requests_lost"] == n_req(DAYS) and [d["wakeups"] for d in y["per_day"]] == [24] * DAYS


def test_bench_figures():
    b = energy.bench_figures()
    assert set(b) == {"radio_on_s_day_default", "radio_on_s_day_fixed10", "radio_on_s_day_psm",
                      "radio_on_ratio", "queued_requests_lost"}
    assert b["radio_on_ratio"] >= 10
    assert b["queued_requests_lost"] == 0
    assert b["radio_on_s_day_default"] > b["radio_on_s_day_fixed10"] > b["radio_on_s_day_psm"]
    json.dumps(b)


def test_plot_and_cli(ref, tmp_path, capsys):
    r, _ = ref
    p = energyplot.plot(r, str(tmp_path / "a.png"))
    with open(p, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    series = {n: energyplot._day(x["trace"], 1) for n, x in r.items()}
    p = energyplot._raster(series, str(tmp_path / "b.png"))
    with open(p, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    j = tmp_path / "e.json"
    assert energy.main(["--days", "2", "--png", str(tmp_path / "c.png"), "--json", str(j)]) == 0
    out = capsys.readouterr().out
    assert "radio on (s/day)" in out and "ratio default/psm" in out
    assert set(json.loads(j.read_text())) == {"default", "fixed10", "psm"}
    assert os.path.getsize(tmp_path / "c.png") > 1000

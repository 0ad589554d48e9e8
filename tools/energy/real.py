"""Energy figures from the real client: client/client.py on the MicroPython
unix port (energy/runner.py, a device-side script), virtual clock, its
datagrams through the simulated modem (tools/sim/simcell.py CellBoard over
tools/sim/simmodem.py, timers requested with AT commands through
boards/modem.py), against a queue-mode server peer in the same process at
rtt/2 from the device's network; a week of device time takes about a second."""
import json
import os
import subprocess
import tempfile

from .config import ROOT, SIM, PSM, IDLE, CONN, checked, summary

MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")
PATHS = ("3303/0/5700", "3303/0/5601", "3303/0/5602", "3303/0/5701", "3303/0/5750")


def mp_env():
    # device code from the repository root, the simulators from tools/sim
    return dict(os.environ, MICROPYPATH=".frozen:%s:%s" % (ROOT, SIM))


def _overlap(trace, flips, end):
    # ms the modem was reachable (idle or connected) while the client had its
    # radio off, and the client listened while the modem was in PSM
    ev = sorted([(x[0], 0, i, x[1]) for i, x in enumerate(trace)] +
                [(x[0], 1, i, bool(x[1])) for i, x in enumerate(flips)])
    st, on, t0, deaf, blind = PSM, True, 0, 0, 0
    for t, k, _, v in ev + [(end, 2, 0, None)]:
        t = min(t, end)
        if not on and st != PSM:
            deaf += t - t0
        if on and st == PSM:
            blind += t - t0
        t0 = t
        if k == 0:
            st = v
        elif k == 1:
            on = v
    return deaf, blind


def run_client(cfg, days=7, trace=False, sms=(), log=False, timeout=300):
    """Run `cfg` (see DEFAULTS) with the real client (MicroPython unix port,
    virtual clock) for `days`: the same figures as simulate(), from the
    simulated modem under the client, plus what only the real run has.
    sms: times (s) an SMS reaches the network (a wake-up trigger)."""
    c = checked(cfg)
    obs = c["observations"]
    if len(obs) > len(PATHS) or any(o.get("phase") for o in obs):
        raise ValueError("the real client run takes up to %d observations, without phase" % len(PATHS))
    with tempfile.TemporaryDirectory() as d:
        args = dict(c, days=days, sms=list(sms), log=log, state=os.path.join(d, "state"),
                    paths=list(PATHS))
        if c["policy"] == "psm" and c["t3324"] is None:     # as the model: reaction + paging
            args["t3324"] = -(-(c["rtt_ms"] + c["paging_ms"]) // 1000)
        f = os.path.join(d, "run.json")
        with open(f, "w") as fh:
            json.dump(args, fh)
        p = subprocess.run([MICROPYTHON, RUNNER, f], capture_output=True, text=True, env=mp_env(),
                           cwd=ROOT, timeout=timeout)
    if p.returncode:
        raise RuntimeError("micropython failed (%d):\n%s\n%s" % (p.returncode, p.stdout[-2000:], p.stderr[-4000:]))
    raw = json.loads(p.stdout.strip().splitlines()[-1])
    snaps, flips = raw["snaps"], raw["flips"]
    per = []
    for i in range(len(snaps) - 1):
        a, z = snaps[i], snaps[i + 1]
        ms = [z["ms"][k] - a["ms"][k] for k in range(3)]
        wk = sum(1 for t, on in flips if on and a["t"] <= t < z["t"]) + (i == 0)   # + the boot
        deaf, blind = _overlap(raw["trace"], [f for f in flips if f[0] < z["t"]], z["t"])
        per.append({
            "day": i, "t0_ms": a["t"], "t1_ms": z["t"],
            "radio_on_s": (ms[IDLE] + ms[CONN]) / 1000,
            "connected_s": ms[CONN] / 1000, "idle_s": ms[IDLE] / 1000, "psm_s": ms[PSM] / 1000,
            "mah": z["mah"] - a["mah"], "wakeups": wk,
            "modem_wakeups": z["wakes"] - a["wakes"], "taus": z["taus"] - a["taus"],
            "bytes_up": z["up"] - a["up"], "bytes_down": z["down"] - a["down"],
            "notifications": z["notifications"] - a["notifications"],
            "updates": z["updates"] + z["registers"] - a["updates"] - a["registers"],
            "requests_delivered": z["delivered"] - a["delivered"],
            "requests_lost": z["lost"] - a["lost"], "missed": z["missed"] - a["missed"],
            "deaf_ms": deaf, "blind_ms": blind,
        })
    for i in range(len(per) - 1, 0, -1):     # overlap was cumulative
        per[i]["deaf_ms"] -= per[i - 1]["deaf_ms"]
        per[i]["blind_ms"] -= per[i - 1]["blind_ms"]
    out, mean = summary(c, days, per)
    last = snaps[-1]
    out.update({
        "source": "client", "t3412_s": raw["granted"][0], "t3324_s": raw["granted"][1],
        "updates_day": mean("updates"),
        "requests": last["requests"], "requests_delivered": last["delivered"],
        "requests_lost": last["lost"], "requests_pending": raw["pending"],
        "observing": last["observing"], "sms": last["sms"],
        "deaf_s_day": mean("deaf_ms") / 1000, "blind_s_day": mean("blind_ms") / 1000,
        "request_latency_s": [x / 1000 for x in raw["lat"]],
        "update_times_ms": raw["ups"], "radio_flips": flips, "stored_dropped": raw["dropped"],
    })
    if log:
        out["log"] = raw["log"]
    if trace:
        out["trace"] = [(0, PSM)] + [tuple(x) for x in raw["trace"]]
    return out



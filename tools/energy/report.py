"""The energy report: reference profile per awake policy, bench figures,
text output and the command line (python tools/energy ...)."""
import argparse
import json
import os

from . import model
from .config import ROOT, DEFAULTS, REFERENCE, POLICIES
from .real import run_client


def reference(days=7, trace=False, source="client"):
    """The reference profile under the three policies, from the real client
    (source "client") or the timeline model ("model")."""
    run = run_client if source == "client" else model.simulate
    return {name: run(dict(REFERENCE, **p), days, trace) for name, p in POLICIES}


def bench_figures(days=7):
    """Reference profile (lifetime 24 h, one resource with pmax 1 h, 5 server
    requests a day) under the three policies, with the real client;
    queued_requests_lost sums all three (given up by the server, or still
    unanswered when the run ends)."""
    r = reference(days)
    d, f, p = (r[k]["radio_on_s_day"] for k in ("default", "fixed10", "psm"))
    return {
        "radio_on_s_day_default": round(d, 3),
        "radio_on_s_day_fixed10": round(f, 3),
        "radio_on_s_day_psm": round(p, 3),
        "radio_on_ratio": round(d / p, 2),
        "queued_requests_lost": sum(x["requests_lost"] + x["requests_pending"] for x in r.values()),
    }


# ---- output
def text(results):
    rows = (("radio on (s/day)", "radio_on_s_day", "%.1f"), ("  connected", "connected_s_day", "%.1f"),
            ("  idle", "idle_s_day", "%.1f"), ("wake-ups/day", "wakeups_day", "%.2f"),
            ("periodic TAU/day", "taus_day", "%.2f"), ("bytes/day", "bytes_day", "%.0f"),
            ("notifications/day", "notifications_day", "%.2f"), ("charge (mAh/day)", "mah_day", "%.3f"),
            ("battery (years)", "battery_years", "%.1f"), ("T3412 granted (s)", "t3412_s", "%s"),
            ("T3324 granted (s)", "t3324_s", "%s"), ("requests", "requests", "%d"),
            ("  delivered", "requests_delivered", "%d"), ("  lost", "requests_lost", "%d"),
            ("  pending at end", "requests_pending", "%d"),
            ("modem wake-ups/day", "modem_wakeups_day", "%.2f"),
            ("reachable, deaf (s/day)", "deaf_s_day", "%.1f"))
    names = list(results)
    out = ["%-20s" % "" + "".join("%14s" % n for n in names)]
    for label, k, fmt in rows:
        out.append("%-20s" % label + "".join(
            "%14s" % (fmt % results[n][k] if results[n].get(k) is not None else "-") for n in names))
    c = next(iter(results.values()))["config"]
    out.append("currents: PSM %g uA, idle %g mA, connected %g mA; battery %g mAh; %d days simulated"
               % (c["ua"][0], c["ua"][1] / 1000, c["ua"][2] / 1000, c["capacity_mah"],
                  next(iter(results.values()))["days"]))
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Energy report for Queue Mode on a cellular (PSM) device")
    ap.add_argument("--policy", default="all", help="default, fixed, psm or all (default: all three)")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--lifetime", type=int, default=REFERENCE["lifetime"], help="s")
    ap.add_argument("--obs", action="append", metavar="PMIN:PMAX[:PHASE]",
                    help="an observation (s); repeatable; default 0:3600")
    ap.add_argument("--requests", type=int, default=REFERENCE["requests_per_day"], help="per day")
    ap.add_argument("--awake", type=float, default=10, help="s: window of the fixed policy")
    ap.add_argument("--t3324", type=int, help="s: PSM active time of the psm policy")
    ap.add_argument("--t3412", type=int, help="s: requested periodic TAU")
    ap.add_argument("--coalesce", type=float, default=DEFAULTS["coalesce"])
    ap.add_argument("--ua", help="PSM,IDLE,CONN currents in uA")
    ap.add_argument("--capacity", type=float, default=DEFAULTS["capacity_mah"], help="mAh")
    ap.add_argument("--png", default=os.path.join(ROOT, "build", "energy.png"))
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--bench", action="store_true", help="print bench_figures() as JSON")
    ap.add_argument("--source", default="client", choices=("client", "model", "both"),
                    help="the real client on MicroPython (default), the timeline model, or both")
    ap.add_argument("--sms", type=float, action="append", metavar="S",
                    help="an SMS reaches the network at S s (real client; repeatable)")
    a = ap.parse_args(argv)
    if a.bench:
        print(json.dumps(bench_figures(a.days), indent=1))
        return 0
    obs = []
    for o in a.obs or ["0:3600"]:
        f = [float(x) for x in o.split(":")]
        obs.append({"pmin": f[0], "pmax": f[1], "phase": f[2] if len(f) > 2 else 0})
    base = {"lifetime": a.lifetime, "observations": obs, "requests_per_day": a.requests,
            "t3324": a.t3324, "t3412": a.t3412, "coalesce": a.coalesce, "capacity_mah": a.capacity}
    if a.ua:
        base["ua"] = [float(x) for x in a.ua.split(",")]
    pols = {"default": {"policy": "default"}, "fixed": {"policy": "fixed", "awake": a.awake},
            "psm": {"policy": "psm"}}
    names = list(pols) if a.policy == "all" else [a.policy]
    label = {n: "fixed%g" % a.awake if n == "fixed" else n for n in names}
    res = mod = None
    if a.source != "model":
        res = {label[n]: run_client(dict(base, **pols[n]), a.days, True, a.sms or ()) for n in names}
    if a.source != "client":
        mod = {label[n]: model.simulate(dict(base, **pols[n]), a.days, True) for n in names}
    for title, r in (("real client (MicroPython, client/client.py)", res),
                     ("model (cross-check)", mod)):
        if r:
            print("== " + title)
            print(text(r))
            if "default" in r and "psm" in r:
                print("radio-on ratio default/psm: %.1f" % (r["default"]["radio_on_s_day"] / r["psm"]["radio_on_s_day"]))
    if res and mod:
        print("radio on (s/day) real vs model: " + ", ".join(
            "%s %.1f / %.1f" % (n, res[n]["radio_on_s_day"], mod[n]["radio_on_s_day"]) for n in res))
    res = res or mod
    if a.png:
        from .plot import plot
        print("plot:", plot(res, a.png, min(1, a.days - 1)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({n: {k: v for k, v in r.items() if k != "trace"} for n, r in res.items()}, f, indent=1)
    return 0


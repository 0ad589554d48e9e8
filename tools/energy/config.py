"""Configuration of an energy run (shared by the real-client run and the
model), and the device modules both read on CPython: boards/modem.py and the
simulated modem tools/sim/simmodem.py (MicroPython code; `micropython.const`
is shimmed to the identity while they are imported)."""
import json
import os
import sys
import types

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(TOOLS)
SIM = os.path.join(TOOLS, "sim")
for _p in (ROOT, SIM):
    if _p not in sys.path:
        sys.path.insert(0, _p)
_shim = "micropython" not in sys.modules
if _shim:
    _mp = types.ModuleType("micropython")
    _mp.const = lambda x: x
    sys.modules["micropython"] = _mp
from boards import modem as M                                   # noqa: E402,F401
from simmodem import SimModem, PSM, IDLE, CONN, NAMES, UA      # noqa: E402,F401
from client.exchange import max_transmit_wait, ACK_TIMEOUT, MAX_RETRANSMIT  # noqa: E402,F401
if _shim:
    del sys.modules["micropython"]

DAY_MS = 86400000

DEFAULTS = {
    "policy": "psm",            # default | fixed | psm
    "lifetime": 86400,          # s
    "observations": [{"pmin": 0, "pmax": 3600}],  # + optional "phase" (s, model only)
    "requests_per_day": 5,      # evenly spaced: (i + 1/2) * 24 h / n
    "awake": 10,                # s: window of the 'fixed' policy
    "t3324": None,              # s: 'psm' active time; None: rtt + paging cycle
    "t3412": None,              # s: None: just above the lifetime (D.8.5)
    "coalesce": 0.05,           # pull a deadline forward by <= this x its period
    "margin": 93,               # s: Update this long before the lifetime ends
    "setup_ms": 1000,           # PSM exit + RRC connection before the first send
    "rtt_ms": 500,              # round trip device <-> server
    "server_ms": 200,           # server: message received -> next queued request
    "inactivity_ms": 10000,     # RRC inactivity timer without RAI
    "paging_ms": 2560,          # worst-case paging delay in idle (DRX cycle)
    "rai_tail_ms": 0,           # release delay after RAI
    "update_more": True,        # model: the wake-up Update says RAI "ongoing" when
                                # a notification follows it, as the client does
                                # (False: "one response": the notification reconnects)
    "ua": list(UA),             # uA in PSM, idle, connected
    "capacity_mah": 2400,       # battery (e.g. one ER14505 lithium AA cell)
    "overhead": 28,             # bytes per datagram below CoAP (IPv4 20 + UDP 8; +29 DTLS)
    "sizes": {"register": 110, "update": 16, "ack": 8, "notify": 24,
              "request": 18, "response": 24},
}

REFERENCE = {"lifetime": 86400, "observations": [{"pmin": 0, "pmax": 3600}], "requests_per_day": 5}
POLICIES = (("default", {"policy": "default"}), ("fixed10", {"policy": "fixed", "awake": 10}),
            ("psm", {"policy": "psm"}))


def config(**kw):
    c = json.loads(json.dumps(DEFAULTS))
    for k, v in kw.items():
        if k not in c:
            raise KeyError(k)
        c[k] = v
    return c


def checked(cfg):
    if isinstance(cfg, dict) and set(cfg) - set(DEFAULTS):
        raise KeyError(sorted(set(cfg) - set(DEFAULTS)))
    return config(**cfg)


def summary(c, days, per):
    # figures common to both sources: per-day means over the steady-state days
    # (all but the first, which holds the registration) when days > 1
    st = per[1:] if len(per) > 1 else per

    def mean(k):
        return sum(d[k] for d in st) / len(st)
    mah = mean("mah")
    out = {
        "config": c, "days": days, "per_day": per,
        "radio_on_s_day": mean("radio_on_s"), "connected_s_day": mean("connected_s"),
        "idle_s_day": mean("idle_s"), "wakeups_day": mean("wakeups"),
        "modem_wakeups_day": mean("modem_wakeups"), "taus_day": mean("taus"),
        "bytes_day": mean("bytes_up") + mean("bytes_down"),
        "bytes_up_day": mean("bytes_up"), "bytes_down_day": mean("bytes_down"),
        "notifications_day": mean("notifications"),
        "mah_day": mah, "battery_days": c["capacity_mah"] / mah if mah else None,
    }
    out["battery_years"] = out["battery_days"] / 365.25 if out["battery_days"] else None
    return out, mean

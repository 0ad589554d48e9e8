"""Bench figures of the TCP/TLS and MQTT transports (issue 15), one call from
tools/bench/core.py: measure() ->
  tcp_session_bytes, mqtt_session_bytes   the scripted session (tools/session.py,
      the same as session_bytes_up+down) over coap+tcp / over MQTT via the
      bridge, up + down as the client counts them (CSM, Pings, MQTT headers)
  tcp_mpy_bytes, mqtt_mpy_bytes, rexchange_mpy_bytes   .mpy sizes of
      client/tcp.py, client/mqtt.py (+ the shared client/rexchange.py),
      loaded only for an account whose URI needs them (budget 4 KB each)
  tcp_queue_bytes_per_wake_short, tcp_queue_bytes_per_wake_long   measured: the
      real client in queue mode over TCP, bytes per wake-up (CSM every time
      for a short-lived connection)
  tcp_radio_on_s_day_short, tcp_radio_on_s_day_long, tcp_radio_on_s_day_long_nat30m
      queue mode over TCP, radio-on seconds per day: a short-lived connection
      per wake-up (the default) vs one long-lived connection, whose NAT
      binding outlives the sleep (RFC 5382: >= 2 h 4 min) or not (a carrier
      NAT dropping idle TCP after 30 min)
The radio figures come from a per-wake-up model of what client/tcp.py does
(the energy package's real-client runs are datagram-only), with the energy
package's link parameters (tools/energy/config.py DEFAULTS: RRC set-up,
RTT, inactivity tail) and its reference profile (one wake-up an hour for
pmax 3600), a fixed 10 s awake window:
  short-lived: set-up + TCP handshake (1 RTT) + CSM/Update (1 RTT) + awake
               window + FIN exchange (1 RTT) + tail
  long-lived:  set-up + Update (1 RTT) + awake window + tail; when the NAT
               dropped the idle binding, the Update is lost: Pong wait
               (pong_ms) + reconnect (1 RTT) + Update again (1 RTT)"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from devclient import DevClient, ROOT  # noqa: E402
from session import run_session  # noqa: E402
from devserver.tcp import TcpServer, free_tcp_port  # noqa: E402

WAKE_S, AWAKE_S, PONG_S = 3600, 10, 10
import build_mpy  # noqa: E402


def radio_on_day():
    try:
        from energy.config import DEFAULTS as d
    except ImportError:
        d = {"setup_ms": 1000, "rtt_ms": 500, "inactivity_ms": 10000}
    su, rtt, tail = d["setup_ms"] / 1000, d["rtt_ms"] / 1000, d["inactivity_ms"] / 1000
    wakes = 86400 // WAKE_S
    base = su + rtt + AWAKE_S + tail
    return {"tcp_radio_on_s_day_short": round(wakes * (base + 2 * rtt)),
            "tcp_radio_on_s_day_long": round(wakes * base),
            "tcp_radio_on_s_day_long_nat30m": round(wakes * (base + PONG_S + 2 * rtt))}


def mpy_sizes():
    out = {}
    d = tempfile.mkdtemp()
    for key, f in (("tcp_mpy_bytes", "client/tcp.py"), ("mqtt_mpy_bytes", "client/mqtt.py"),
                   ("rexchange_mpy_bytes", "client/rexchange.py"), ("tcptls_mpy_bytes", "client/tcptls.py"),
                   ("mq2m_mpy_bytes", "client/mq2m.py")):
        out[key] = build_mpy.compile(f, os.path.join(d, os.path.basename(f) + ".mpy"))
    shutil.rmtree(d)
    return out


def _bytes(res):
    return res["session_bytes_up"] + res["session_bytes_down"] if res else None


def tcp_session():
    with TcpServer() as srv:
        c = DevClient("coap+tcp://127.0.0.1:%d" % srv.tcp_port, "bt", "--lifetime", "300")
        try:
            return _bytes(run_session(srv, c, "bt", say=lambda *a: None, timeout=15))
        finally:
            c.kill()


def mqtt_session():
    mosq = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(mosq):
        return None
    sys.path.insert(0, os.path.join(ROOT, "tools", "mqtt"))
    from bridge import Bridge
    port = free_tcp_port()
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "m.conf"), "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\n" % port)
    p = subprocess.Popen([mosq, "-c", os.path.join(d, "m.conf")], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        with TcpServer() as srv, Bridge(("127.0.0.1", port), ("127.0.0.1", srv.tcp_port)):
            # keep-alive longer than the session: the same scripted messages as UDP/TCP
            c = DevClient("mqtt://127.0.0.1:%d" % port, "bm", "--lifetime", "300")
            try:
                return _bytes(run_session(srv, c, "bm", say=lambda *a: None, timeout=15))
            finally:
                c.kill()
    finally:
        p.kill()
        p.wait()


def _queue_run(long_, wakes):
    # bytes up + down of a TQ client stopped after `wakes` wake-up Updates
    import re
    with TcpServer(awake_s=1.0) as srv:
        c = DevClient("coap+tcp://127.0.0.1:%d" % srv.tcp_port, "bq", "--lifetime", "300", "--binding", "TQ",
                      "--awake", "2", "--tcp", "60,10" + (",long" if long_ else ""))
        try:
            srv.wait_registration("bq", timeout=20)
            for _ in range(wakes):
                n = len(srv.events)
                srv.wait_event("update", "bq", after=n, timeout=30)
            c.wait_line("sleep", after=len(c.lines), timeout=20)
            c.interrupt(20)
        finally:
            c.kill()
    m = re.search(r"bytes up=(\d+) down=(\d+)", c.output())
    return int(m.group(1)) + int(m.group(2))


def queue_bytes_per_wake(long_, wakes=4):
    """Measured: CoAP-over-TCP bytes (up + down, CSM and signalling included)
    per wake-up of the real client in queue mode, short- or long-lived: the
    difference between runs with `wakes` wake-ups and with none."""
    return round((_queue_run(long_, wakes) - _queue_run(long_, 0)) / wakes)


def measure():
    res = mpy_sizes()
    res.update(radio_on_day())
    for k, fn in (("tcp_session_bytes", tcp_session), ("mqtt_session_bytes", mqtt_session),
                  ("tcp_queue_bytes_per_wake_short", lambda: queue_bytes_per_wake(False)),
                  ("tcp_queue_bytes_per_wake_long", lambda: queue_bytes_per_wake(True))):
        try:
            res[k] = fn()
        except Exception:  # noqa: BLE001 - a figure missing, not a broken bench
            res[k] = None
    return res


if __name__ == "__main__":
    for k, v in sorted(measure().items()):
        print("%-28s %s" % (k, v))

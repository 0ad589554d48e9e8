"""boards/esp32.py on the unix port against fakes of machine, network, esp32
and time (host_tests/fakes/: connect delays, status and OSError codes, the
2**30 tick period, the 2000 epoch, RTC memory's 2048 B limit, deep sleep =
the process ends and the next boot keeps RTC memory, a watchdog that really
resets). The device runs firmware/main.py without options, from its
board.json, in its own folder, as on a board."""
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from conftest import MICROPYTHON, ROOT, run_mp
from devclient import DevClient, boots
from lwm2m_server import Server

FAKES = os.path.join(ROOT, "host_tests", "fakes")
APPS = os.path.join(ROOT, "host_tests", "apps")
AP = {"ssid": "lab", "password": "pw", "delay_ms": 100, "up": True, "rssi": -61,
      "ip": "192.168.4.23", "gw": "192.168.4.1", "adc": {"35": 1900000}}


def env(d, ticks0=None):
    e = dict(os.environ, MICROPYPATH=":".join((FAKES, ROOT, APPS)), FAKE_ESP32=str(d))
    if ticks0 is not None:
        e["FAKE_TICKS0"] = str(ticks0)
    return e


class Esp(DevClient):
    """One boot of the simulated ESP32: firmware/main.py with no options in
    the device folder d (board.json, state/)."""

    def __init__(self, d, ticks0=None, echo=None):
        self.lines = []
        self.echo = echo
        self.cv = threading.Condition()
        self.restarts = 0
        self._killed = True     # no automatic restart on exit 4: the test boots the device
        self.p = subprocess.Popen([MICROPYTHON, "-c", "from firmware import main\nmain.main([])"],
                                  cwd=str(d), env=env(d, ticks0), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()


def device(d, port, ap=AP, **cfg):
    c = {"board": "esp32", "server": "coap://127.0.0.1:%d" % port, "endpoint": "esp-{id}",
         "wifi": {"ssid": "lab", "password": "pw", "timeout_s": 2, "backoff_s": 0.2, "backoff_max_s": 1},
         "pins": {"battery": 35, "button": 0}}
    c.update(cfg)
    (d / "board.json").write_text(json.dumps(c))
    set_ap(d, **ap)
    return d


def set_ap(d, **kw):
    a = dict(AP)
    try:
        a.update(json.loads((d / "ap.json").read_text()))
    except OSError:
        pass
    a.update(kw)
    (d / "ap.json.tmp").write_text(json.dumps(a))
    os.replace(d / "ap.json.tmp", d / "ap.json")


def chip(d):
    return json.loads((d / "chip.json").read_text())


EP = "esp-5e1001"   # "{id}": the last three bytes of machine.unique_id()


def test_wifi_backoff_register_connmon_device(tmp_path):
    with Server(port=0) as srv:
        d = device(tmp_path, srv.port, ap=dict(AP, up=False))
        c = Esp(d)
        try:
            c.wait_line("wifi failed", timeout=20)
            i = c.wait_line("wifi failed", after=c.wait_line("wifi failed") + 1)
            c.wait_line("wifi failed", after=i + 1)
            # no AP found (201) after the connect delay, then back-off 0.2 s doubling
            retries = [int(x) for x in re.findall(r"wifi failed 201 retry in (\d+)ms", c.output())]
            assert retries[:3] == [200, 400, 800], c.output()
            assert EP not in srv.registrations
            set_ap(d, up=True)
            c.wait_line("wifi up 192.168.4.23 rssi -61", timeout=20)
            srv.wait_registration(EP, timeout=20)
            assert srv.read(EP, "/4/0/4/0", accept=0).payload == b"192.168.4.23"
            assert srv.read(EP, "/4/0/2", accept=0).payload == b"-61"
            assert srv.read(EP, "/4/0/0", accept=0).payload == b"21"     # WLAN
            assert srv.read(EP, "/3/0/1", accept=0).payload == b"esp32"
            assert srv.read(EP, "/3/0/7/0", accept=0).payload == b"3800"  # 1.9 V x divider 2
            assert srv.read(EP, "/3/0/9", accept=0).payload == b"55"
            # three failed connects in a row: IP connectivity failure (7) in /3/0/11
            assert srv.read(EP, "/3/0/11/0", accept=0).payload == b"7"
            # wall time: unix seconds, not the ESP32's 2000 epoch (the RTC starts at 2000-01-01)
            assert int(srv.read(EP, "/3/0/13", accept=0).payload) >= 946684800
        finally:
            c.interrupt()
        c.wait_line("deregistered", timeout=10)


@pytest.mark.parametrize("con", [False, True], ids=["NON", "CON"])
def test_wifi_loss_and_recovery_nothing_lost(tmp_path, con):
    with Server(port=0) as srv:
        d = device(tmp_path, srv.port, app="counter")
        c = Esp(d)
        try:
            srv.wait_registration(EP, timeout=20)
            if con:     # CON notifications (/1/0/26): one in flight when the link drops waits for it
                assert srv.write(EP, "/1/0/26", b"1", 0).code == "2.04"
            obs = srv.observe(EP, "/3303/0/5700", accept=0)
            deadline = time.time() + 10
            while len(obs.notifications) < 3 and time.time() < deadline:
                time.sleep(0.1)
            n = len(srv.events)
            set_ap(d, up=False)
            c.wait_line("wifi lost", timeout=10)
            time.sleep(1.5)             # ~5 changes while the link is down
            lost = len(obs.notifications)
            set_ap(d, up=True, ip="192.168.4.77", rssi=-70)
            c.wait_line("wifi up 192.168.4.77 rssi -70", timeout=20)
            srv.wait_event("update", EP, timeout=20, after=n)
            deadline = time.time() + 10
            while len(obs.notifications) < lost + 8 and time.time() < deadline:
                time.sleep(0.1)
            vals = [float(r.payload) for r in obs.notifications]
            # every change arrived, in order: stored while down, sent after the Update
            assert vals == [vals[0] + i for i in range(len(vals))], vals
            assert len(vals) >= lost + 8
            assert srv.read(EP, "/4/0/4/0", accept=0).payload == b"192.168.4.77"
            assert srv.read(EP, "/4/0/2", accept=0).payload == b"-70"
            # the registration stayed: one Register; no CON was given up
            assert len([e for e in srv.events if e["kind"] == "register"]) == 1
            assert "register failed" not in c.output() and obs.active
        finally:
            c.interrupt()


def test_dns_failure_then_recovery(tmp_path):
    # the ESP32's resolver (fakes/socket.py): OSError(-202) for a name the
    # network's DNS does not know; each failure is a failed registration
    # attempt with the back-off (Communication Retry Timer 1 s, doubling);
    # once the name resolves, the next attempt registers
    with Server(port=0) as srv:
        d = device(tmp_path, srv.port, server=None)
        cfg = tmp_path / "factory.json"
        cfg.write_text(json.dumps({"security": [{"uri": "coap://lwm2m.test:%d" % srv.port, "ssid": 1}],
                                   "server": [{"ssid": 1, "lifetime": 120, "retry_timer": 1}]}))
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "provision.py"), "--config", str(cfg),
                        "--state", str(d / "state")], check=True, capture_output=True)
        c = Esp(d)
        try:
            i = c.wait_line("connect failed coap://lwm2m.test:%d -202" % srv.port, timeout=20)
            i = c.wait_line("connect failed", after=i + 1, timeout=10)
            c.wait_line("retry in", after=i, timeout=10)
            retries = [int(x) for x in re.findall(r"retry in (\d+) ?s", c.output())]
            assert retries[:2] == [1, 2], c.output()
            set_ap(d, dns={"lwm2m.test": "127.0.0.1"})
            srv.wait_registration(EP, timeout=20)
            assert c.p.poll() is None and "Traceback" not in c.output()
        finally:
            c.interrupt()


def test_tick_wraparound(tmp_path):
    # booted 2**30 ms - 1.5 s ago: ticks_ms wraps while Wi-Fi connects and the
    # client registers; its clock and timers run straight through
    with Server(port=0) as srv:
        d = device(tmp_path, srv.port, app="counter")
        c = Esp(d, ticks0=(1 << 30) - 1500)
        try:
            srv.wait_registration(EP, timeout=20)
            time.sleep(3)
            obs = srv.observe(EP, "/3303/0/5700", accept=0)
            assert float(obs.first.payload) >= 5        # the 300 ms timer kept running
            t = [float(x) for x in re.findall(r"\[client (\d+\.\d+)\]", c.output())]
            assert t == sorted(t) and t[-1] < 60, t
        finally:
            c.interrupt()
    # the board's clock over the wrap, in one process
    p = subprocess.run([MICROPYTHON, "-c", """
import time
from boards.unix import Clock
k = Clock()
a = time.ticks_ms()
m0 = k.ms()
time.sleep_ms(120)
print(a, time.ticks_ms(), k.ms() - m0)
"""], env=env(tmp_path, (1 << 30) - 50), capture_output=True, text=True, timeout=30)
    a, b, dt = map(int, p.stdout.split())
    assert a > b                # the raw ticks wrapped
    assert 110 <= dt < 1000     # the clock did not


def test_deep_sleep_rtc_memory_restore_and_button(tmp_path):
    with Server(port=0) as srv:
        d = device(tmp_path, srv.port, binding="UQ", awake=1, deep=5, lifetime=120)
        mem = []

        def between(i):
            s = chip(d)
            mem.append((len(s["mem"]) // 2, os.path.exists(d / "state" / "sleep.img")))
            if i == 1:      # the button pressed 3 s into the second sleep
                s["wake"] = 2
                s["off"] -= s["log"][-1][1] - 3000
                (d / "chip.json").write_text(json.dumps(s))
        bs = boots(None, None, n=3, between=between, make=lambda: Esp(d))
        out = [b.output() for b in bs]
        assert [b.rc for b in bs[:2]] == [3, 3], out
        # the hot state went to RTC memory (<= 2048 B), not to flash
        assert all(0 < n <= 2048 and not f for n, f in mem), mem
        assert "registered" in out[0] and "deep sleep" in out[0]
        # a timer wake: restored (one Register in all), Update, sleep again
        slept = int(re.search(r"deep sleep (\d+)s", out[0]).group(1))
        late = int(re.search(r"restored after (\d+)s", out[1]).group(1))
        assert slept >= 5 and slept <= late <= slept + 5, out[1]     # + the real time of the reboot
        assert "updated" in out[1] and "register coap" not in out[1]
        # the button (ext0) woke the third boot 3 s in: Update at once
        assert re.search(r"restored after [34]s", out[2]) and "button" in out[2], out[2]
        assert "updated" in out[2]
        assert len([e for e in srv.events if e["kind"] == "register"]) == 1
        assert len([e for e in srv.events if e["kind"] == "update"]) == 2
        log = chip(d)["log"]
        assert ["wake_on_ext0", 0, 0] in log


def test_queue_mode_wifi_off_and_button_wake(tmp_path):
    # queue mode: after the awake window the radio goes off; a radio-off wait
    # of wifi off_s or more switches the Wi-Fi off (light sleeps); the button
    # (ext0) ends the light sleep, wakes the client: Wi-Fi on, Update first
    with Server(port=0) as srv:
        wifi = {"ssid": "lab", "password": "pw", "timeout_s": 2, "backoff_s": 0.2, "off_s": 2}
        d = device(tmp_path, srv.port, binding="UQ", awake=1, lifetime=300, wifi=wifi)
        c = Esp(d)
        try:
            srv.wait_registration(EP, timeout=20)
            i = c.wait_line("wifi off", timeout=20)
            n = len(srv.events)
            time.sleep(0.5)
            set_ap(d, pins={"0": 0})            # the button pressed
            j = c.wait_line("button", after=i, timeout=10)
            c.wait_line("wifi up", after=j, timeout=10)
            srv.wait_event("update", EP, timeout=10, after=n)
            assert c.wait_line("updated", after=j, timeout=10) > j
        finally:
            set_ap(d, pins={"0": 1})
            c.interrupt()


def test_sleep_image_flash_fallback_and_power_on(tmp_path):
    # an image over 2048 B goes to flash; a boot that is not a deep-sleep wake
    # (power on, reset) drops a stale image
    out = subprocess.run([MICROPYTHON, "-c", """
import os
from boards.esp32 import Board
from client.store import write, read
os.mkdir('state')
write('state', 'sleep.img', {'old': 1})
b = Board('state', {})
print('stale', 'sleep.img' in os.listdir('state'))
print('small', b.keep({'x': b'a' * 100}))
print('big', b.keep({'x': b'a' * 3000}))
import machine
print('rtc', len(machine.RTC().memory()))
b.radio = False             # a radio-off wait: light sleep
b.wait(60)
from _chip import chip
print([e for e in chip['log'] if e[0] == 'lightsleep'])
"""], cwd=str(tmp_path), env=env(tmp_path), capture_output=True, text=True, timeout=30)
    lines = out.stdout.split("\n")
    assert lines[:4] == ["stale False", "small True", "big False", "rtc 117"], out.stdout + out.stderr
    # one light sleep for what is left of the 60 ms (a tick may pass before it)
    assert lines[4] in ("[['lightsleep', 60]]", "[['lightsleep', 59]]"), out.stdout + out.stderr


def test_watchdog(tmp_path):
    with Server(port=0) as srv:
        # fed by the loop: idle for several timeouts, no reset
        d = device(tmp_path, srv.port, watchdog_s=0.5)
        c = Esp(d)
        try:
            srv.wait_registration(EP, timeout=20)
            time.sleep(2)
            assert c.p.poll() is None
        finally:
            c.interrupt()
        assert not os.path.exists(d / "chip.json") or "wdt reset" not in str(chip(d)["log"])
        # a hung loop: the watchdog resets the chip; the next boot reports it
        device(tmp_path, srv.port, watchdog_s=0.5, app="stuck")
        c = Esp(d)
        c.wait_line("hanging", timeout=20)
        assert c.p.wait(10) != 0
        c.t.join(5)
        assert chip(d)["reset"] == 3        # WDT_RESET
        device(tmp_path, srv.port, watchdog_s=0.5)
        n = len(srv.events)
        c = Esp(d)
        try:
            srv.wait_event("register", EP, timeout=20, after=n)
            assert srv.read(EP, "/3/0/11/0", accept=0).payload == b"16"
        finally:
            c.interrupt()


def test_ntp_sets_the_rtc(tmp_path):
    import socket
    import struct
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(20)
    port = s.getsockname()[1]

    def serve():
        try:
            q, a = s.recvfrom(48)
            r = bytearray(48)
            r[0] = 0x1C
            r[40:44] = struct.pack(">I", int(time.time()) + 2208988800)
            s.sendto(bytes(r), a)
        except OSError:
            pass
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    with Server(port=0) as srv:
        d = device(tmp_path, srv.port, ntp="127.0.0.1:%d" % port)
        c = Esp(d)
        try:
            c.wait_line("ntp ", timeout=20)
            srv.wait_registration(EP, timeout=20)
            t = int(srv.read(EP, "/3/0/13", accept=0).payload)
            assert abs(t - time.time()) < 5
        finally:
            c.interrupt()
            s.close()


def test_board_pick_and_config():
    out = run_mp("""
from boards.config import name
print(name({}, 'esp32'), name({}, 'linux'), name({'board': 'esp32'}, 'linux'))
""")
    assert out.split() == ["esp32", "unix", "esp32"]
    for f in ("esp32.json", "unix.json"):
        cfg = json.load(open(os.path.join(ROOT, "boards", f)))
        assert cfg.get("board") in ("esp32", "unix")


def test_reboot_and_factory_reset_really_reset(tmp_path):
    # the account from a factory configuration (tools/provision.py) in the
    # board's state folder: a server's writes are saved in lwm2m.cfg
    with Server(port=0) as srv:
        d = device(tmp_path, srv.port, server=None)
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "provision.py"), "--server",
                        "coap://127.0.0.1:%d" % srv.port, "--lifetime", "120", "--state", str(d / "state")],
                       check=True, capture_output=True)
        c = Esp(d)
        srv.wait_registration(EP, timeout=20)
        assert srv.write(EP, "/1/0/1", b"150", 0).code == "2.04"
        assert srv.execute(EP, "/3/0/4").code == "2.04"             # Reboot
        assert c.p.wait(20) == 4            # machine.reset(): this boot ends at once
        c.t.join(5)
        assert "reboot" in c.output() and chip(d)["reset"] == 5     # the next boot: SOFT_RESET
        n = len(srv.events)
        c = Esp(d)
        try:
            srv.wait_event("register", EP, timeout=20, after=n)
            assert srv.read(EP, "/1/0/1", accept=0).payload == b"150"   # saved over the reboot
            assert srv.execute(EP, "/3/0/5").code == "2.04"             # Factory Reset
            assert c.p.wait(20) == 4
            c.t.join(5)
        finally:
            c.kill()
        assert not (d / "state" / "lwm2m.cfg").exists()
        n = len(srv.events)
        c = Esp(d)
        try:
            srv.wait_event("register", EP, timeout=20, after=n)
            assert srv.read(EP, "/1/0/1", accept=0).payload == b"120"   # the factory value again
        finally:
            c.interrupt()


def test_link_down_holds_a_con_in_flight(mp):
    # board-agnostic (client/reg.py): a CON notification sent just before the
    # link goes down is neither retransmitted nor given up while it is down
    # (five minutes of virtual time, far past MAX_TRANSMIT_WAIT); back up, it
    # goes again and its ACK completes it; an Update goes first
    from mpharness import prelude
    import ast
    out = mp(prelude(600) + r"""
b.online = True
r = observe("/3303/0/5700", "pmin=0")
req(PUT, "/1/0/26", payload=b"1", opts=[(CONTENT_FORMAT, 0)])
n0 = len(sent)
c.set((3303, 0, 5700), 7.0)
c.step()                                # the CON notification goes out: not answered
b.online = False
end = b.clock.ms() + 300000
while b.clock.ms() < end:               # no pump: the peer hears nothing anyway
    c.step()
    c.idle(end)
down = [(m.t, m.code, m.mid) for t, m in sent[n0:]]
b.online = True
run(20000)
after = [(m.t, m.code, m.mid, m.strs(URI_PATH)) for t, m in sent[n0:]][len(down):]
print([down, after, c.servers[0].registered(), [bytes(m.payload) for t, m in sent[n0:] if m.code == 69]])
""", timeout=120)
    down, after, registered, vals = ast.literal_eval(out.strip().splitlines()[-1])
    assert down[0][:2] == (0, 69) and len(down) == 1    # the CON 2.05 once, nothing while down
    # back up: the same message again (same MID: a retransmission, not given
    # up), then the Update (CON POST /rd/x) behind it (NSTART 1)
    assert after[0][:3] == down[0] and all(a[2] == down[0][2] for a in after if a[1] == 69)
    assert [a[3] for a in after if a[1] == 2] == [["rd", "x"]], after
    assert registered and set(vals) == {b"7.0"}

# ESP32 board (MicroPython v1.24+ APIs only). What it adds to the unix
# board (sockets, select.poll, the wrap-safe ticks clock, littlefs files):
# - Wi-Fi station from the board config: connect with a timeout, back-off
#   between failed attempts, reconnect on loss; board.online is the link
#   state the client's scheduler reads (client/reg.py: nothing is sent and
#   no account timer runs while it is down; an Update goes first when back)
# - IP, gateway and RSSI for Connectivity Monitoring (/4)
# - time: ticks_ms (wrap-safe, boards/unix.Clock), wall time moved from the
#   ESP32's 2000 epoch to 1970, NTP when the config names a server
# - sleep: lightsleep for radio-off waits; deep sleep by machine.deepsleep
#   with the hot state (client/sleep.py's image) in RTC memory when it fits
#   (2048 B), else in flash; the reset cause / wake reason decide whether it
#   is restored; an ext0 button wakes the device (and the radio)
# - Device (/3): battery from an ADC pin, reset cause as an error code,
#   reboot and factory reset by machine.reset(); a machine.WDT fed by wait()
import time
import machine
import network
from micropython import const
from boards.unix import Board as Unix

# the ESP32's time.time() counts from 2000-01-01; LwM2M time is unix time
_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
_RTC_MEM = const(2048)
_WLAN = const(21)           # Network Bearer: WLAN
_ERR_BATTERY = const(1)     # /3/0/11: low battery power
_ERR_IP = const(7)          # IP connectivity failure
_ERR_WDT = const(16)        # device specific: reset by the watchdog
_NTP_DELTA = const(3155673600)  # 1900-01-01 -> 2000-01-01, s
IMAGE = "sleep.img"


class Board(Unix):
    def __init__(self, state="state", cfg=None, log=None):
        super().__init__(state)
        cfg = cfg or {}
        self.cfg = cfg
        self.log = log or (lambda *a: None)
        self.client = None
        w = cfg.get("wifi") or {}
        self.ssid = w.get("ssid")
        self.key = w.get("password")
        self.timeout = int(w.get("timeout_s", 15) * 1000)
        self.backoff = int(w.get("backoff_s", 2) * 1000)
        self.backoff_max = int(w.get("backoff_max_s", 300) * 1000)
        self.online = False     # the link: read by the client's scheduler
        self.fails = 0          # connect attempts failed in a row
        self.t0 = None          # connecting since (clock ms)
        self.next = 0           # next connect attempt (clock ms)
        self.ip = self.gw = "0.0.0.0"
        self.rssi = 0
        self.synced = False     # NTP
        self.slice = 1000       # ms: longest wait without looking at the link
        self.nap = 60000        # ms: longest radio-off light sleep (the watchdog's half)
        off = w.get("off_s")    # radio-off waits this long or more: Wi-Fi off
        self.wifi_off = None if off is None else int(off * 1000)
        self.off = False        # Wi-Fi switched off by us (radio off)
        self.light = int(cfg.get("lightsleep_ms", 20))  # radio-off waits this long or more: lightsleep
        self.wdt = None
        self.wlan = network.WLAN(network.STA_IF)
        self.wlan.active(bool(self.ssid))   # no Wi-Fi configured (a modem board): off
        pins = cfg.get("pins") or {}
        self.adc = None
        if pins.get("battery") is not None:
            self.adc = machine.ADC(machine.Pin(pins["battery"]))
            self.adc.atten(machine.ADC.ATTN_11DB)
        self.div = pins.get("battery_divider", 2)
        self.vmin, self.vmax = pins.get("battery_mv", (3300, 4200))
        self.btn = None
        self.pressed = False
        if pins.get("button") is not None:
            self.btn = machine.Pin(pins["button"], machine.Pin.IN, machine.Pin.PULL_UP)
            self.btn.irq(self._press, machine.Pin.IRQ_FALLING)
            import esp32        # ext0: the button also ends a light or deep sleep
            esp32.wake_on_ext0(self.btn, esp32.WAKEUP_ALL_LOW)
        # this boot: a deep-sleep wake restores the hot state, anything else
        # (power on, reset button, watchdog, machine.reset) starts afresh
        self.cause = machine.reset_cause()
        self.woke = self.cause == machine.DEEPSLEEP_RESET
        if self.woke:
            self.pressed = machine.wake_reason() == machine.EXT0_WAKE
        else:
            self.forget()

    # -- time ----------------------------------------------------------------
    def time(self):
        return int(time.time()) + _EPOCH

    def ntp(self, server):
        # SNTP (RFC 4330) query; sets the RTC. server: "host" or "host:port"
        import socket
        from struct import unpack
        host, _, port = server.partition(":")
        s = None
        try:
            a = socket.getaddrinfo(host, int(port or 123), 0, socket.SOCK_DGRAM)[0]
            s = socket.socket(a[0], socket.SOCK_DGRAM)
            s.settimeout(2)
            q = bytearray(48)
            q[0] = 0x1B         # version 3, client
            s.sendto(q, a[-1])
            d = s.recv(48)
            t = unpack(">I", d[40:44])[0] - _NTP_DELTA + (946684800 - _EPOCH)
            g = time.gmtime(t)
            machine.RTC().datetime((g[0], g[1], g[2], g[6] + 1, g[3], g[4], g[5], 0))
            self.synced = True
            self.log("ntp %d" % self.time())
        except (OSError, ValueError, IndexError) as e:
            self.log("ntp failed", e.args[0] if e.args else "")
        if s:
            s.close()

    # -- the link ------------------------------------------------------------
    def link(self):
        # Wi-Fi state machine, run from wait(): True when connected
        w = self.wlan
        now = self.clock.ms()
        if self.off:            # switched off for a radio-off sleep
            if not self.radio:
                return False
            self.off = False
            w.active(True)
            self.next = now
        if w.isconnected():
            if not self.online:
                self.online = True
                self.fails = 0
                self.t0 = None
                self._addr()
                self.log("wifi up", self.ip, "rssi %d" % self.rssi)
                if self.cfg.get("ntp") and not self.synced:
                    self.ntp(self.cfg["ntp"])
            return True
        if self.online:
            self.online = False
            self.log("wifi lost", w.status())
            self.t0 = None
            self.next = now
        if not self.ssid:
            return False
        if self.t0 is not None:
            st = w.status()
            if st == network.STAT_CONNECTING and now - self.t0 < self.timeout:
                return False
            # refused (no AP, wrong password) or timed out: back off
            self._disconnect()
            self.fails += 1
            d = min(self.backoff_max, self.backoff << min(self.fails - 1, 12))
            self.next = now + d
            self.log("wifi failed", st, "retry in %dms" % d)
            if self.fails == 3:
                self.error(_ERR_IP)
        elif now >= self.next:
            self._disconnect()
            try:
                w.connect(self.ssid, self.key)
                self.t0 = now
            except OSError as e:
                self.log("wifi", e.args[0] if e.args else "")
                self.next = now + self.backoff
        return False

    def _disconnect(self):
        try:
            self.wlan.disconnect()
        except OSError:
            pass
        self.t0 = None

    def _addr(self):
        w = self.wlan
        try:
            self.ip = w.ipconfig("addr4")[0]
            self.gw = w.ipconfig("gw4")
        except (AttributeError, ValueError):    # before v1.24
            c = w.ifconfig()
            self.ip, self.gw = c[0], c[2]
        try:
            self.rssi = w.status("rssi")
        except OSError:
            pass

    def conn(self):
        # Connectivity Monitoring: bearer WLAN, RSSI (dBm), link quality (%),
        # IP and router addresses (the last known while the link is down)
        if self.online:
            self._addr()
        q = min(100, max(0, 2 * (self.rssi + 100)))
        return {0: _WLAN, 1: {0: _WLAN}, 2: self.rssi, 3: q, 4: {0: self.ip}, 5: {0: self.gw}}

    # -- the loop ------------------------------------------------------------
    def attach(self, c):
        # the client built (and restored after a deep sleep): device values,
        # the watchdog, and a button pressed during the deep sleep wakes it
        self.client = c
        self.log = c.log
        d = c.objs.get(3)
        if d:
            i = d.inst[0]
            i[1] = i[17] = "esp32"
            i[2] = "".join("%02x" % x for x in machine.unique_id())
            try:
                import os
                i[3] = os.uname().release
            except (ImportError, AttributeError):
                pass
            if self.cause == machine.WDT_RESET:
                self.error(_ERR_WDT)
        s = self.cfg.get("watchdog_s")
        if s and not self.wdt:
            self.wdt = machine.WDT(timeout=int(s * 1000))
            self.slice = min(self.slice, int(s * 500))
            self.nap = min(self.nap, int(s * 500))
        if self.pressed:
            self._wake()

    def error(self, code):
        d = self.client and self.client.objs.get(3)
        if d:
            d.error(code)

    def _press(self, pin):
        self.pressed = True     # an interrupt: no allocation, wait() does the rest

    def _wake(self):
        self.pressed = False
        self.log("button")
        if self.client:
            self.client.wake()

    def wait(self, ms):
        # until a datagram, the deadline (ms), a link change or the button.
        # The watchdog is fed here: a step() that never returns resets the
        # chip. Radio off: lightsleep (RAM and Wi-Fi association kept); a
        # long one with the Wi-Fi off (wifi "off_s"), on again for the radio.
        end = self.clock.ms() + int(ms)
        was = self.online
        while True:
            if self.wdt:
                self.wdt.feed()
            self.link()
            if self.pressed:
                return self._wake()
            left = end - self.clock.ms()
            if left <= 0 or self.online != was:
                return
            if not self.radio and self.online and self.wifi_off is not None and left >= self.wifi_off:
                self.log("wifi off")
                self.wlan.active(False)
                self.off = True
                self.online = was = False
            t = min(left, self.slice if self.radio else self.nap)
            if self.radio and self.online:
                if self.input(self.poll.poll(t)):
                    return
            elif not self.radio and t >= self.light:
                machine.lightsleep(t)
                if self.btn and not self.btn.value():
                    self.pressed = True     # ext0 ended the light sleep
            else:
                time.sleep_ms(min(t, 50))   # connecting

    # -- deep sleep ----------------------------------------------------------
    def keep(self, v):
        # client/sleep.py's image into RTC memory when it fits: True
        from client.store import frame
        b = frame(v)
        if len(b) > _RTC_MEM:
            self.log("sleep image %d B: flash" % len(b))
            return False
        machine.RTC().memory(b)
        return True

    def kept(self):
        # the image from RTC memory after a deep-sleep wake (used once)
        if not self.woke:
            return None
        from client.store import unframe
        r = machine.RTC()
        v = unframe(r.memory())
        r.memory(b"")
        return v or None

    def forget(self):
        # not a deep-sleep wake: RTC memory and a flash image are stale
        machine.RTC().memory(b"")
        import os
        try:
            os.remove(self.state + "/" + IMAGE)
        except OSError:
            pass

    def deep_sleep(self, ms):
        # (the button's ext0 wake source is set since __init__)
        for t in list(self.open):
            t.close()
        self.wlan.active(False)
        machine.deepsleep(int(ms))

    def reset(self):
        # Reboot / Factory Reset (/3/0/4, /3/0/5): the chip restarts
        self.forget()
        machine.reset()

    def fwstore(self):
        # Firmware Update (/5): images into the next OTA partition, app bundles to files
        from boards.esp32ota import OtaStore
        return OtaStore(self.state)

    # -- device values -------------------------------------------------------
    def battery_mv(self):
        return self.adc.read_uv() * self.div // 1000 if self.adc else None

    def battery(self):
        mv = self.battery_mv()
        if mv is None:
            return None
        p = min(100, max(0, (mv - self.vmin) * 100 // (self.vmax - self.vmin)))
        if p < 10 and self.client:
            e = self.client.objs[3].inst[0][11]
            if _ERR_BATTERY not in e.values():
                self.error(_ERR_BATTERY)
        return p

    def uid(self):
        return "".join("%02x" % x for x in machine.unique_id()[-3:])

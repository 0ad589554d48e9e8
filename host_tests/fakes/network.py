# ESP32's network module (WLAN station) for the unix tests, modelling the
# real driver's behaviour: connect() needs active(True) and returns at once,
# status() is STAT_CONNECTING for the access point's connect delay, then
# STAT_GOT_IP or a failure code (no AP found, wrong password); an AP that
# goes away drops the link (STAT_BEACON_TIMEOUT) until connect() again;
# status("rssi") only while connected (else OSError). The access point is
# scripted by the test in $FAKE_ESP32/ap.json: {"ssid", "password",
# "delay_ms", "up", "rssi", "ip", "gw"}.
import time
from _chip import ap, note

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204


class WLAN:
    _the = {}

    def __new__(cls, i=STA_IF):
        w = WLAN._the.get(i)
        if w is None:
            w = WLAN._the[i] = object.__new__(cls)
            w._active = False
            w._st = STAT_IDLE
            w._t0 = None
            w._ssid = w._key = None
            w._ip = "0.0.0.0"
            w._chk = 0
        return w

    def __init__(self, i=STA_IF):
        pass

    def active(self, v=None):
        if v is None:
            return self._active
        self._active = bool(v)
        note("wifi active", int(self._active))
        if not v:
            self._st = STAT_IDLE
            self._t0 = None

    def connect(self, ssid=None, key=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        if self._t0 is not None:
            raise OSError("Wifi Internal State Error")
        self._ssid, self._key = ssid, key
        self._t0 = time.ticks_ms()
        self._st = STAT_CONNECTING
        note("wifi connect", ssid)

    def disconnect(self):
        self._t0 = None
        if self._st in (STAT_CONNECTING, STAT_GOT_IP):
            self._st = STAT_IDLE

    def _update(self):
        now = time.ticks_ms()
        if time.ticks_diff(now, self._chk) < 20 and self._st != STAT_CONNECTING:
            return
        self._chk = now
        a = ap()
        if self._st == STAT_CONNECTING:
            if time.ticks_diff(now, self._t0) < a.get("delay_ms", 300):
                return
            self._t0 = None
            if not a.get("up", True) or a.get("ssid") != self._ssid:
                self._st = STAT_NO_AP_FOUND
            elif a.get("password") != self._key:
                self._st = STAT_WRONG_PASSWORD
            else:
                self._st = STAT_GOT_IP
                self._ip = a.get("ip", "192.168.4.2")
        elif self._st == STAT_GOT_IP and not a.get("up", True):
            self._st = STAT_BEACON_TIMEOUT
            self._ip = "0.0.0.0"

    def status(self, what=None):
        self._update()
        if what == "rssi":
            if self._st != STAT_GOT_IP:
                raise OSError("STA is not connected")
            return ap().get("rssi", -60)
        if what is not None:
            raise ValueError("unknown status param")
        return self._st

    def isconnected(self):
        return self.status() == STAT_GOT_IP

    def ifconfig(self, v=None):
        a = ap()
        return (self._ip, "255.255.255.0", a.get("gw", "192.168.4.1"), a.get("gw", "192.168.4.1"))

    def ipconfig(self, what):
        if what == "addr4":
            return (self._ip, "255.255.255.0")
        if what == "gw4":
            return self.ifconfig()[2]
        raise ValueError("unexpected key")

    def config(self, *a, **kw):
        if a and a[0] == "mac":
            return b"\x24\x0a\xc4\x5e\x10\x01"
        return None

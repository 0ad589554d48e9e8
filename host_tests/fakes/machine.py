# ESP32's machine module for the unix tests, modelling what the board relies
# on: reset causes and wake reasons (ESP32 values), RTC memory (2048 B,
# ValueError beyond; kept through deep sleep, soft and watchdog resets, lost
# on power-on), RTC.datetime, deepsleep(ms) = the process ends (exit code 3)
# and the runner boots it again with RTC memory kept, lightsleep(ms) =
# a pause, reset() (exit code 4), a watchdog that really resets a stuck
# device (a thread kills the process once the timeout passes unfed), Pins
# scripted by the test ($FAKE_ESP32/ap.json "pins"), ADC.read_uv.
import sys
import os
import time
from _chip import chip, save, note, ap

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
PIN_WAKE = EXT0_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4
TOUCHPAD_WAKE = 5
ULP_WAKE = 6
_RTC_MEM = 2048

# this boot's cause and wake reason; the next boot's are set when it ends
_cause = chip["reset"]
_wake = chip["wake"]
chip["reset"], chip["wake"] = HARD_RESET, 0     # unless ended otherwise
note("boot", _cause, _wake)


def reset_cause():
    return _cause


def wake_reason():
    return _wake


def unique_id():
    return b"\x24\x0a\xc4\x5e\x10\x01"


def freq(f=None):
    return 240000000 if f is None else None


def idle():
    time.sleep_ms(1)


def _end(cause, wake, rc):
    chip["reset"], chip["wake"] = cause, wake
    save()
    sys.exit(rc)


def deepsleep(ms=0):
    # the chip powers down; the RTC keeps counting, RTC memory is kept. The
    # test's runner starts the next boot (it may change the wake reason: ext0)
    note("deepsleep", ms)
    chip["off"] += ms           # the sleep passes at once (the RTC runs on)
    _end(DEEPSLEEP_RESET, EXT0_WAKE if chip.get("press") else TIMER_WAKE, 3)


def lightsleep(ms=None):
    # a pause; the ext0 pin going to its level ends it early
    note("lightsleep", ms)
    end = time.ticks_add(time.ticks_ms(), ms or 0)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        time.sleep_ms(min(20, time.ticks_diff(end, time.ticks_ms())))
        e = chip.get("ext0")
        if e and ap().get("pins", {}).get(str(e[0]), 1) == e[1]:
            note("ext0 wake")
            return


def reset():
    note("reset")
    _end(SOFT_RESET, 0, 4)


def soft_reset():
    _end(SOFT_RESET, 0, 4)


class RTC:
    def memory(self, data=None):
        if data is None:
            return bytes.fromhex(chip["mem"])
        if len(data) > _RTC_MEM:
            raise ValueError("buffer too long")
        chip["mem"] = bytes(data).hex()

    def datetime(self, t=None):
        if t is None:
            g = time.gmtime()
            return (g[0], g[1], g[2], g[6], g[3], g[4], g[5], 0)
        time.set_rtc(time.mktime((t[0], t[1], t[2], t[4], t[5], t[6], 0, 0)))
        note("rtc set", list(t))


class WDT:
    # once started it cannot be stopped; a feed missing for timeout ms
    # resets the chip (cause WDT_RESET)
    def __init__(self, id=0, timeout=5000):
        import _thread
        self.timeout = timeout
        self.last = time.ticks_ms()
        chip["wdt"] = timeout
        note("wdt", timeout)
        _thread.start_new_thread(self._watch, ())

    def feed(self):
        self.last = time.ticks_ms()

    def _watch(self):
        while True:
            time.sleep_ms(20)
            if time.ticks_diff(time.ticks_ms(), self.last) > self.timeout:
                note("wdt reset")
                chip["reset"], chip["wake"] = WDT_RESET, 0
                save()
                os.system("kill -9 $PPID")      # the chip resets: nothing runs on


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_FALLING = 2
    IRQ_RISING = 1

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.v = value
        self.handler = None

    def value(self, v=None):
        if v is not None:
            self.v = v
            return None
        p = ap().get("pins", {})
        return p.get(str(self.id), 1 if self.v is None else self.v)

    def irq(self, handler=None, trigger=IRQ_FALLING):
        # the test presses a button by setting its pin to 0 in ap.json: the
        # handler runs on the falling edge (an interrupt: from a thread here)
        import _thread
        self.handler = handler
        _thread.start_new_thread(self._edges, ())

    def _edges(self):
        last = 1
        while True:
            time.sleep_ms(20)
            v = ap().get("pins", {}).get(str(self.id), 1)
            if last and not v and self.handler:
                self.handler(self)
            last = v


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.pin = pin

    def atten(self, a):
        self.a = a

    def read_uv(self):
        return ap().get("adc", {}).get(str(self.pin.id), 2000000)

    def read_u16(self):
        return self.read_uv() * 65535 // 3300000


class UART:
    # a UART whose far end is the file $FAKE_UART (a pseudo-terminal with
    # the simulated modem, tools/sim/ptymodem.py); read() never blocks
    def __init__(self, id, baudrate=115200, tx=None, rx=None, timeout=0, **kw):
        self.f = open(os.getenv("FAKE_UART"), "r+b")
        note("uart", id, baudrate, tx, rx)

    def write(self, b):
        return self.f.write(b)

    def read(self, n=-1):
        return self.f.read() or None

    def any(self):
        import select
        p = select.poll()
        p.register(self.f, select.POLLIN)
        return 1 if p.poll(0) else 0

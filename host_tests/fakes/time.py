# ESP32's time module for the unix tests: ticks_ms with the ESP32's 2**30
# period (wraps after ~12.4 days; $FAKE_TICKS0 starts it just before the
# wrap, as after 12 days of uptime), ticks restart at every boot, time() /
# gmtime() / localtime() / mktime() on the 2000 epoch, and a wall clock (the
# RTC) that starts at 2000-01-01 on power-on, runs on through a deep sleep
# (machine.deepsleep adds the slept time) and is set by RTC().datetime().
import sys

_p = sys.path
sys.path = []
import time as _t      # the built-in one
sys.path = _p
import os
from _chip import chip

_PERIOD = 1 << 30
_HALF = _PERIOD >> 1
EPOCH = 946684800      # 2000-01-01 in unix seconds
_T0 = int(os.getenv("FAKE_TICKS0") or 0)
_start = _t.ticks_ms()
if chip["off"] is None:     # power-on: the RTC starts at the 2000 epoch
    chip["off"] = -(_t.time_ns() // 1000000 - EPOCH * 1000)

sleep = _t.sleep
sleep_ms = _t.sleep_ms
sleep_us = _t.sleep_us
ticks_us = _t.ticks_us
ticks_cpu = _t.ticks_cpu


def ticks_ms():
    return (_T0 + _t.ticks_diff(_t.ticks_ms(), _start)) & (_PERIOD - 1)


def ticks_add(t, d):
    return (t + d) & (_PERIOD - 1)


def ticks_diff(a, b):
    return ((a - b + _HALF) & (_PERIOD - 1)) - _HALF


def time_ns():
    # ns since 2000-01-01 by the RTC
    return (_t.time_ns() // 1000000 + chip["off"] - EPOCH * 1000) * 1000000


def time():
    return time_ns() // 1000000000


def gmtime(s=None):
    return _t.gmtime(EPOCH + (time() if s is None else s))


localtime = gmtime


def mktime(t):
    return _t.mktime(t) - EPOCH


def set_rtc(secs_2000):
    # RTC().datetime(...) of the fake machine module
    chip["off"] = (secs_2000 + EPOCH) * 1000 - _t.time_ns() // 1000000

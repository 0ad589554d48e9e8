# The simulated ESP32's persistent parts, shared by the fakes of machine,
# network, esp32 and time: what survives a deep sleep (RTC memory, the RTC
# clock, the reset cause and wake reason of the next boot) lives in
# $FAKE_ESP32/chip.json; the test side scripts the Wi-Fi access point in
# $FAKE_ESP32/ap.json and reads chip.json back. No chip.json: a power-on.
import json
import os

DIR = os.getenv("FAKE_ESP32") or "."
_F = DIR + "/chip.json"


def _load():
    try:
        with open(_F) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


chip = _load()
POWER_ON = chip is None
if POWER_ON:
    # RTC memory empty, the RTC clock at 2000-01-01 (set "off" from the real clock)
    chip = {"reset": 1, "wake": 0, "mem": "", "off": None, "log": []}


def save():
    with open(_F + ".tmp", "w") as f:
        json.dump(chip, f)
    os.rename(_F + ".tmp", _F)


def note(*a):
    # an event for the test to check (deep sleeps, light sleeps, resets)
    chip["log"].append(list(a))
    del chip["log"][:-200]


def ap():
    # the access point as the test scripts it
    try:
        with open(DIR + "/ap.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}

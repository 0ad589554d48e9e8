# The esp32 module's parts the board uses, for the unix tests: ext0/ext1
# wake sources (kept for the next boot's wake reason). Additive: the OTA
# Partition class lives further down (issue 12).
from _chip import chip, note

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True


def wake_on_ext0(pin, level):
    chip["ext0"] = [pin.id, int(level)]
    note("wake_on_ext0", pin.id, int(level))


def wake_on_ext1(pins, level):
    chip["ext1"] = [[p.id for p in pins], int(level)]


def mcu_temperature():
    return 41

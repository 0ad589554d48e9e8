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


# -- OTA partitions (issue 12, boards/esp32ota.py) -------------------------
# Two app partitions ota_0/ota_1 of _OTA_BLOCKS 4096-byte blocks, kept in
# $FAKE_ESP32/flash_<label>.bin; the OTA data (which one boots, the state of
# a new image) in $FAKE_ESP32/otadata.json, written at once like flash.
# Modelled: NOR flash (a write without erase can only clear bits), erase per
# 4096-byte block, set_boot checks the app image header (0xE9 magic) like
# esp_ota_set_boot_partition, and the bootloader's roll-back: a new image
# boots once as "pending verify"; a boot that ends without
# mark_app_valid_cancel_rollback() makes the next boot go back to the old one.
import json  # noqa: E402
from _chip import DIR  # noqa: E402

_OTA_BLOCKS = 128
_BS = 4096


def _ota_load():
    try:
        with open(DIR + "/otadata.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"boot": "ota_0", "prev": None, "state": "valid"}


def _ota_save(d):
    with open(DIR + "/otadata.json.tmp", "w") as f:
        json.dump(d, f)
    import os
    os.rename(DIR + "/otadata.json.tmp", DIR + "/otadata.json")


def _no_ota():
    # $FAKE_ESP32/no_ota: a firmware with one app partition ("factory"), no OTA
    try:
        open(DIR + "/no_ota").close()
        return True
    except OSError:
        return False


_NO_OTA = _no_ota()
_ota = _ota_load()
if _ota["state"] == "new":                 # first boot of a new image
    _ota["state"] = "pending_verify"
elif _ota["state"] == "pending_verify":    # it was never confirmed: roll back
    _ota["state"], _ota["boot"] = "aborted", _ota["prev"]
    note("rollback", _ota["boot"])
_ota_save(_ota)
_running = _ota["boot"]


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id):
        if id == Partition.RUNNING:
            id = "factory" if _NO_OTA else _running
        elif id == Partition.BOOT:
            id = _ota_load()["boot"]
        if id not in ("ota_0", "ota_1") and not (_NO_OTA and id == "factory"):
            raise ValueError("partition not found")
        self.label = id
        self.path = DIR + "/flash_" + id + ".bin"
        try:
            open(self.path, "rb").close()
        except OSError:
            with open(self.path, "wb") as f:
                for _ in range(_OTA_BLOCKS):
                    f.write(b"\xff" * _BS)

    def info(self):
        return (0, 16 + int(self.label[-1]), 0x10000 + int(self.label[-1]) * _OTA_BLOCKS * _BS,
                _OTA_BLOCKS * _BS, self.label, False)

    def get_next_update(self):
        if _NO_OTA:
            raise OSError(2)    # no OTA app partition (ENOENT, as the port raises it)
        return Partition("ota_1" if self.label == "ota_0" else "ota_0")

    def _at(self, block, offset, n):
        if block < 0 or offset < 0 or block * _BS + offset + n > _OTA_BLOCKS * _BS:
            raise OSError(22)
        return block * _BS + offset

    def readblocks(self, block, buf, offset=0):
        with open(self.path, "rb") as f:
            f.seek(self._at(block, offset, len(buf)))
            f.readinto(buf)

    def writeblocks(self, block, buf, offset=None):
        # without offset: erase the blocks first (the simple block protocol)
        if offset is None:
            for b in range(block, block + (len(buf) + _BS - 1) // _BS):
                self.ioctl(6, b)
            offset = 0
        at = self._at(block, offset, len(buf))
        with open(self.path, "r+b") as f:
            f.seek(at)
            old = f.read(len(buf))
            f.seek(at)
            f.write(bytes(a & b for a, b in zip(old, buf)))    # NOR: only 1 -> 0

    def ioctl(self, op, arg):
        if op == 4:
            return _OTA_BLOCKS
        if op == 5:
            return _BS
        if op == 6:     # erase one block
            with open(self.path, "r+b") as f:
                f.seek(self._at(arg, 0, _BS))
                f.write(b"\xff" * _BS)
            note("erase", self.label, arg)
            return 0
        return None

    def set_boot(self):
        b = bytearray(1)
        self.readblocks(0, b)
        if b[0] != 0xE9:
            raise OSError(-5379)    # ESP_ERR_OTA_VALIDATE_FAILED
        d = _ota_load()
        d["prev"], d["boot"], d["state"] = _running, self.label, "new"
        _ota_save(d)

    @staticmethod
    def mark_app_valid_cancel_rollback():
        d = _ota_load()
        if d["state"] == "pending_verify":
            d["state"] = "valid"
            _ota_save(d)

"""The ESP32 apply path of Firmware Update (boards/esp32ota.py + objects/
firmware.py) on the unix port against the fake esp32.Partition
(host_tests/fakes/esp32.py: 4096-byte NOR blocks that need an erase, set_boot
checking the image header, OTA data across resets, the bootloader's roll-back
of an image never confirmed), and kill -9 in Updating before and after
set_boot. Each run of BOOT is one boot of the chip; machine.reset() ends it
with exit code 4."""
import os
import subprocess
import tempfile

from conftest import MICROPYTHON, ROOT
from fota import package

FAKES = os.path.join(ROOT, "host_tests", "fakes")

BOOT = r"""
import sys, os
from objects.firmware import Firmware
from boards.esp32ota import OtaStore
ST, MODE, ARG = sys.argv[1], sys.argv[2], sys.argv[3]
import esp32
READ = []
_rb = esp32.Partition.readblocks


def readblocks(self, i, buf, *a):
    READ.append(buf)
    return _rb(self, i, buf, *a)


esp32.Partition.readblocks = readblocks
_sha = OtaStore.sha256


def sha256(self, n, spare=None):
    # the digest reads the image back through the block buffer of its writes
    b = self.buf
    READ[:] = []
    r = _sha(self, n, spare)
    print("DIGEST", b is not None and len(READ) > 0 and all(x is b for x in READ), self.buf)
    return r


OtaStore.sha256 = sha256


class Clock:
    t = 0

    def ms(self):
        return self.t


class Board:
    state = ST
    radio = True
    spare = None
    clock = Clock()

    def fwstore(self):
        return OtaStore(ST)


class Srv:
    reg = ARG == "reg"

    def registered(self):
        return self.reg

    def trigger(self):
        print("trigger Update")


class C:
    # the parts of client/client.py the firmware object uses, timers on a virtual clock
    def __init__(self, b):
        self.board, self.timers, self.tasks, self.servers = b, [], [], [Srv()]

    def at(self, d, fn):
        self.timers.append((self.board.clock.t + d, fn))

    def changed(self, p):
        print("changed", p)

    def log(self, *a):
        print(*a)

    def run(self, until):
        while self.timers:
            self.timers.sort(key=lambda t: t[0])
            if self.timers[0][0] > until:
                break
            t = self.timers.pop(0)
            self.board.clock.t = max(self.board.clock.t, t[0])
            t[1]()


b = Board()
fw = Firmware(b)
c = C(b)
fw.client = c
c.run(0)        # the first step: what was going on before the reset
if MODE.startswith("push"):
    with open(ARG, "rb") as f:
        p = f.read()
    n = (len(p) + 1023) // 1024
    for i in range(n):
        r = fw.block(i, 1024, int(i < n - 1), p[i * 1024:(i + 1) * 1024], len(p) if i == 0 else None)
        if r:
            print("block", i, "->", r.code)
            break
    print("STATE", fw.inst[0][3], fw.inst[0][5])
    if fw.inst[0][3] == 2:
        if MODE == "push-crash-set-boot":       # the reset comes right after set_boot
            apply = OtaStore.apply

            def crash(self, rec):
                apply(self, rec)
                os.system("kill -9 $PPID")
            OtaStore.apply = crash
        fw.execute(0, 2, "")
        if MODE == "push-crash":                # the reset comes in Updating, before the apply
            os.system("kill -9 $PPID")
c.run(10 ** 9 if MODE == "boot" else 1000)
print("STATE", fw.inst[0][3], fw.inst[0][5], fw.inst[0][7])
if MODE == "crash":
    os._exit(1)     # the new image dies before it registers
"""


class Chip:
    def __init__(self, ota=True):
        self.d = tempfile.mkdtemp(prefix="fota-esp32-")
        if not ota:     # a firmware with one app partition (the fake's no_ota)
            open(os.path.join(self.d, "no_ota"), "w").close()
        self.st = os.path.join(self.d, "state")
        os.mkdir(self.st)
        self.script = os.path.join(self.d, "boot.py")
        with open(self.script, "w") as f:
            f.write(BOOT)

    def boot(self, mode, arg="-"):
        env = dict(os.environ, MICROPYPATH=":".join((FAKES, ROOT)), FAKE_ESP32=self.d)
        p = subprocess.run([MICROPYTHON, self.script, self.st, mode, arg], capture_output=True,
                           text=True, env=env, cwd=ROOT, timeout=120)
        out = p.stdout + p.stderr
        st = [ln for ln in out.splitlines() if ln.startswith("STATE")]
        return p.returncode, st[-1].split()[1:] if st else None, out

    def push(self, pkg, mode="push"):
        path = os.path.join(self.d, "pkg.bin")
        with open(path, "wb") as f:
            f.write(pkg)
        return self.boot(mode, path)

    def flash(self, label):
        with open(os.path.join(self.d, "flash_%s.bin" % label), "rb") as f:
            return f.read()

    def otadata(self):
        import json
        with open(os.path.join(self.d, "otadata.json")) as f:
            return json.load(f)


def image(size, seed):
    return package.esp32_image(size, seed)


def test_image_to_next_partition_confirmed_after_registration():
    chip = Chip()
    img = image(100 * 1024 + 123, 1)
    rc, st, out = chip.push(package.build(img, package.IMAGE, "esp32", "1.2.0"))
    assert rc == 4, out                          # machine.reset() after set_boot
    assert "STATE 2 0" in out and "fw reboot into 1.2.0" in out
    assert "DIGEST True None" in out, out        # through the write buffer, then let go
    assert chip.flash("ota_1")[:len(img)] == img    # the next update partition
    assert chip.otadata() == {"boot": "ota_1", "prev": "ota_0", "state": "new"}
    rc, st, out = chip.boot("boot", "reg")      # the new image registers
    assert rc == 0 and st == ["0", "1", "1.2.0"], out
    assert "trigger Update" in out
    assert chip.otadata()["state"] == "valid"   # mark_app_valid_cancel_rollback
    rc, st, out = chip.boot("boot", "reg")      # and it stays
    assert st == ["0", "1", "1.2.0"] and chip.otadata()["boot"] == "ota_1"
    # the next update goes to ota_0, the one after over the old ota_1 content:
    # only right when every block is erased before it is written
    for v, seed, part in (("1.3.0", 2, "ota_0"), ("1.4.0", 3, "ota_1")):
        img = image(90 * 1024, seed)
        rc, st, out = chip.push(package.build(img, package.IMAGE, "esp32", v))
        assert rc == 4 and chip.flash(part)[:len(img)] == img, out
        rc, st, out = chip.boot("boot", "reg")
        assert st == ["0", "1", v], out


def test_never_registered_rolls_back_result_8():
    chip = Chip()
    rc, st, out = chip.push(package.build(image(50000, 4), package.IMAGE, "esp32", "2.0"))
    assert rc == 4, out
    # the new image never registers: after the confirm window it resets unconfirmed
    rc, st, out = chip.boot("boot", "noreg")
    assert rc == 4 and "never registered: roll back" in out, out
    assert chip.otadata()["state"] == "pending_verify"
    rc, st, out = chip.boot("boot", "reg")      # the bootloader went back to ota_0
    assert chip.otadata() == {"boot": "ota_0", "prev": "ota_0", "state": "aborted"}
    assert rc == 0 and st[:2] == ["0", "8"], out


def test_crash_before_confirm_rolls_back_result_8():
    chip = Chip()
    rc, st, out = chip.push(package.build(image(30000, 5), package.IMAGE, "esp32", "3.0"))
    assert rc == 4, out
    rc, st, out = chip.boot("crash")            # dies before any registration
    assert rc == 1 and st[:2] == ["3", "0"], out     # still Updating
    rc, st, out = chip.boot("boot", "reg")      # old image: it knows from the boot partition
    assert "fw booted False" in out, out
    assert st[:2] == ["0", "8"] and chip.otadata()["boot"] == "ota_0"


def test_image_rejected_by_set_boot_stays_downloaded_result_8():
    chip = Chip()
    bad = b"\x00" + image(20000, 6)[1:]         # no app image magic
    rc, st, out = chip.push(package.build(bad, package.IMAGE, "esp32", "4.0"))
    assert rc == 0 and st[:2] == ["2", "8"], out     # Downloaded, update failed
    assert chip.otadata()["state"] == "valid"


def test_too_large_for_the_partition_result_2():
    chip = Chip()
    rc, st, out = chip.push(package.build(image(600 * 1024, 7), package.IMAGE, "esp32", "5.0"))
    assert "-> 141" in out and st[:2] == ["0", "2"], out      # 4.13, not enough flash


def test_app_bundle_goes_to_files_not_partitions():
    chip = Chip()
    b = package.bundle({"app.py": b"print('hi')\n"})
    rc, st, out = chip.push(package.build(b, package.APP, "app", "0.2"))
    assert rc == 4, out                         # machine.reset() to swap it in
    assert chip.otadata()["boot"] == "ota_0"    # no set_boot
    rc, st, out = chip.boot("boot", "reg")
    assert st == ["0", "1", "0.2"], out
    with open(os.path.join(chip.st, "app", "app.py"), "rb") as f:
        assert f.read() == b"print('hi')\n"


def test_reset_in_updating_before_set_boot_result_8():
    # kill -9 right after Update (Updating saved, set_boot not called): the
    # old image boots, reports Result 8 and tells the server with an Update
    chip = Chip()
    rc, st, out = chip.push(package.build(image(30000, 8), package.IMAGE, "esp32", "6.0"), "push-crash")
    assert rc == -9 and "STATE 2 0" in out, out
    rc, st, out = chip.boot("boot", "reg")
    assert "fw booted False" in out and "trigger Update" in out, out
    assert rc == 0 and st == ["0", "8"] and chip.otadata()["boot"] == "ota_0", out     # no PkgVersion


def test_reset_after_set_boot_new_image_confirmed_result_1():
    # kill -9 after set_boot, before machine.reset: the new image boots (the
    # partition it went to was saved before set_boot), is confirmed, Result 1
    chip = Chip()
    rc, st, out = chip.push(package.build(image(30000, 9), package.IMAGE, "esp32", "6.1"),
                            "push-crash-set-boot")
    assert rc == -9 and chip.otadata()["boot"] == "ota_1", out
    rc, st, out = chip.boot("boot", "reg")
    assert "fw booted True" in out and "trigger Update" in out, out
    assert rc == 0 and st == ["0", "1", "6.1"] and chip.otadata()["state"] == "valid", out


def test_no_ota_partitions_app_bundles_only():
    # the generic firmware (one app partition): app bundles still update,
    # an image has nowhere to go (Result 6, unsupported package type)
    chip = Chip(ota=False)
    b = package.bundle({"app.py": b"x = 1\n"})
    rc, st, out = chip.push(package.build(b, package.APP, "app", "0.3"))
    assert rc == 4, out
    rc, st, out = chip.boot("boot", "reg")
    assert rc == 0 and st == ["0", "1", "0.3"], out
    rc, st, out = chip.push(package.build(image(20000, 10), package.IMAGE, "esp32", "7.0"))
    assert rc == 0 and "STATE 0 6" in out, out

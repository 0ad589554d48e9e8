"""make flash: write a stock MicroPython firmware to an ESP32 with esptool.

  python tools/deploy/flash.py --port /dev/ttyUSB0 [--firmware FILE.bin]
        [--chip esp32|esp32s3|esp32c3] [--baud 460800] [--dry-run]

Use the OTA variant (BOARD_VARIANT=OTA: two 1.5 MiB app slots) from
https://micropython.org/download/ESP32_GENERIC/ so that Firmware Update
(object 5) can write the other slot. The flash is erased first (the old
filesystem goes too); the image goes to the chip's bootloader offset.
Without --firmware, the ESP32_GENERIC OTA build of v1.24.1 is downloaded
into build/firmware/ first (plain ESP32 only)."""
import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ESPTOOL = os.path.join(ROOT, ".venv", "bin", "esptool")
STOCK = "https://micropython.org/resources/firmware/ESP32_GENERIC-OTA-20241129-v1.24.1.bin"
OFFSET = {"esp32": "0x1000", "esp32s2": "0x1000", "esp32s3": "0x0", "esp32c3": "0x0", "esp32c6": "0x0"}


def commands(port, firmware, chip="esp32", baud=460800):
    base = [ESPTOOL, "--chip", chip, "--port", port, "--baud", str(baud)]
    return [base + ["erase-flash"],
            base + ["write-flash", "-z", OFFSET[chip], firmware]]


def main(argv=None):
    ap = argparse.ArgumentParser(description="flash a stock MicroPython (OTA variant) with esptool")
    ap.add_argument("--port", required=True)
    ap.add_argument("--firmware", help="the .bin from micropython.org (OTA variant); default: " + STOCK)
    ap.add_argument("--chip", default="esp32", choices=sorted(OFFSET))
    ap.add_argument("--baud", type=int, default=460800)
    ap.add_argument("--dry-run", action="store_true", help="print the esptool commands only")
    a = ap.parse_args(argv)
    if not a.firmware:
        if a.chip != "esp32":
            ap.error("--firmware needed for " + a.chip)
        a.firmware = os.path.join(ROOT, "build", "firmware", STOCK.rsplit("/", 1)[1])
        print("+ download", STOCK, flush=True)
        if not a.dry_run and not os.path.exists(a.firmware):
            import urllib.request
            os.makedirs(os.path.dirname(a.firmware), exist_ok=True)
            urllib.request.urlretrieve(STOCK, a.firmware + ".part")
            os.rename(a.firmware + ".part", a.firmware)
    if not a.dry_run and not os.path.exists(a.firmware):
        ap.error("no such firmware file: " + a.firmware)
    for cmd in commands(a.port, a.firmware, a.chip, a.baud):
        print("+", " ".join(cmd[1:]), flush=True)
        if not a.dry_run:
            subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

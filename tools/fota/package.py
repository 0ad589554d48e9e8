"""Firmware packages for objects/firmware.py (format in client/fwdl.py):

    "LWF1" | kind u8 | name len u8 | version len u8 | 0 u8 | payload size u32 BE
    | SHA-256 of the payload (32 bytes) | name | version | payload

kind 0 is a firmware image (ESP32: an app image for the next OTA partition;
the unix port: any bytes), kind 1 an application bundle: the entries of
bundle(): name length u8, name, size u32 BE, bytes (flat .mpy/.py files)."""
import hashlib
import os
import struct

MAGIC = b"LWF1"
IMAGE, APP = 0, 1


def build(payload, kind=IMAGE, name="fw", version="1.0"):
    """The package bytes: header with digest + payload."""
    n, v = name.encode(), version.encode()
    if len(n) > 255 or len(v) > 255:
        raise ValueError("name/version too long")
    h = MAGIC + struct.pack(">BBBBI", kind, len(n), len(v), 0, len(payload))
    return h + hashlib.sha256(payload).digest() + n + v + bytes(payload)


def parse(pkg):
    """(kind, name, version, payload, digest) of a package built by build()."""
    if pkg[:4] != MAGIC:
        raise ValueError("not a package")
    kind, nl, vl, _, size = struct.unpack(">BBBBI", pkg[4:12])
    e = 44 + nl + vl
    return kind, pkg[44:44 + nl].decode(), pkg[44 + nl:e].decode(), pkg[e:e + size], pkg[12:44]


def bundle(files):
    """An application bundle from {name: bytes} (flat names, no folders)."""
    out = bytearray()
    for name in sorted(files):
        b = name.encode()
        if "/" in name or name.startswith(".") or not 0 < len(b) < 256:
            raise ValueError("bad bundle entry name %r" % name)
        out += bytes([len(b)]) + b + struct.pack(">I", len(files[name])) + files[name]
    return bytes(out)


def bundle_dir(path, exts=(".mpy", ".py")):
    """bundle() of the files of a folder with these extensions."""
    files = {}
    for f in sorted(os.listdir(path)):
        if f.endswith(exts):
            with open(os.path.join(path, f), "rb") as fh:
                files[f] = fh.read()
    return bundle(files)


def esp32_image(size, seed=0):
    """Test bytes shaped like an ESP32 app image (0xE9 magic first, as the
    bootloader and esp32.Partition.set_boot check)."""
    import random
    r = random.Random(seed)
    return b"\xe9" + bytes(r.getrandbits(8) for _ in range(size - 1))

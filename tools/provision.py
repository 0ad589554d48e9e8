#!/usr/bin/env python3
"""Write a device's factory configuration (factory.cfg).

The device reads it at start when it has no saved configuration of its own
(client/store.py, same file format: magic, length, CRC-32, CBOR). Usually it
holds just a Bootstrap-Server account; the device bootstraps from there.

    # from a readable config file (JSON or INI, see tools/devserver/bsconfig.py)
    python tools/provision.py --config device.json --state state/
    # from options: a Bootstrap-Server account (NoSec, or PSK)
    python tools/provision.py --bootstrap coap://127.0.0.1:5783 --state state/
    python tools/provision.py --bootstrap coaps://bs.example:5784 \\
        --identity dev-1 --key 00112233445566778899aabbccddeeff --state state/
    # or a management server directly (no bootstrap)
    python tools/provision.py --server coap://127.0.0.1:5683 --ssid 1 --lifetime 300 --state state/
    # to a board over its USB serial port, with mpremote
    python tools/provision.py --bootstrap coap://192.168.1.10:5783 --device /dev/ttyUSB0

--state DIR is the unix port's --state directory; --remote-dir (default
"state") is the board's state directory. --reset also removes a saved
configuration (lwm2m.cfg), so the device starts over from the factory one.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import cbor2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from devserver import bsconfig  # noqa: E402

MAGIC = b"LwS1"
FACTORY = "factory.cfg"
STORE = "lwm2m.cfg"


def encode(res):
    """{oid: {iid: {rid: value}}} -> the device's store/factory file bytes."""
    p = cbor2.dumps(res)
    return MAGIC + struct.pack(">II", len(p), zlib.crc32(p)) + p


def decode(data):
    """The inverse of encode (raises ValueError on a bad file)."""
    if data[:4] != MAGIC:
        raise ValueError("not a configuration file")
    n, crc = struct.unpack(">II", data[4:12])
    p = data[12:]
    if len(p) != n or zlib.crc32(p) != crc:
        raise ValueError("length or checksum mismatch")
    return cbor2.loads(p)


def config_from_args(a):
    """A bsconfig dict from command-line options."""
    if a.config:
        return bsconfig.load(a.config)
    if not (a.bootstrap or a.server):
        raise SystemExit("give --config, --bootstrap or --server")
    sec = {"uri": a.bootstrap or a.server}
    if a.bootstrap:
        sec.update(bootstrap=True, holdoff=a.holdoff)
        if a.bs_timeout:
            sec["bs_timeout"] = a.bs_timeout
    else:
        sec["ssid"] = a.ssid
    if a.key:
        sec.update(mode="psk", identity=a.identity or "", key=a.key)
    cfg = {"security": [sec]}
    if a.server:
        cfg["server"] = [{"ssid": a.ssid, "lifetime": a.lifetime, "binding": a.binding}]
    return cfg


def write_state(directory, data, reset=False):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, FACTORY)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    if reset and os.path.exists(os.path.join(directory, STORE)):
        os.remove(os.path.join(directory, STORE))
    return path


def mpremote_commands(device, local, remote_dir="state", reset=False):
    """The mpremote invocations that put the file on a board."""
    base = ["mpremote", "connect", device]
    cmds = [base + ["fs", "mkdir", ":" + remote_dir],
            base + ["fs", "cp", local, ":%s/%s" % (remote_dir, FACTORY)]]
    if reset:
        cmds.append(base + ["fs", "rm", ":%s/%s" % (remote_dir, STORE)])
    return cmds


def push(device, data, remote_dir="state", reset=False, run=subprocess.run):
    with tempfile.NamedTemporaryFile(suffix=".cfg", delete=False) as f:
        f.write(data)
    try:
        for i, cmd in enumerate(mpremote_commands(device, f.name, remote_dir, reset)):
            # mkdir fails when the directory exists, rm when there is no store
            run(cmd, check=(i == 1))
    finally:
        os.unlink(f.name)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write a factory (bootstrap) configuration for the device")
    ap.add_argument("--config", help="JSON or INI configuration (see tools/devserver/bsconfig.py)")
    ap.add_argument("--bootstrap", help="Bootstrap-Server URI")
    ap.add_argument("--server", help="LwM2M Server URI (direct, without bootstrap)")
    ap.add_argument("--ssid", type=int, default=1)
    ap.add_argument("--lifetime", type=int, default=300)
    ap.add_argument("--binding", default="U")
    ap.add_argument("--holdoff", type=int, default=0, help="Client Hold Off Time, s")
    ap.add_argument("--bs-timeout", type=int, default=0, help="Bootstrap-Server Account Timeout, s")
    ap.add_argument("--identity", help="PSK identity (text)")
    ap.add_argument("--key", help="PSK key (hex)")
    ap.add_argument("--state", help="unix port state directory")
    ap.add_argument("--device", help="serial port of a board (mpremote)")
    ap.add_argument("--remote-dir", default="state")
    ap.add_argument("--out", help="just write the file here")
    ap.add_argument("--reset", action="store_true", help="also remove a saved configuration")
    a = ap.parse_args(argv)
    if not (a.state or a.device or a.out):
        ap.error("give --state, --device or --out")
    cfg = config_from_args(a)
    res = bsconfig.resources(cfg)
    data = encode(res)
    if a.out:
        with open(a.out, "wb") as f:
            f.write(data)
    if a.state:
        print("wrote", write_state(a.state, data, a.reset))
    if a.device:
        push(a.device, data, a.remote_dir, a.reset)
        print("copied to %s:%s/%s" % (a.device, a.remote_dir, FACTORY))
    print(json.dumps(shown(res), indent=1, sort_keys=True, default=str))
    return 0


def shown(res):
    """What was written, for the log: secrets left out; a NoSec account
    (Security mode 3) has no credentials, so none are shown, not even a placeholder."""
    out = {}
    for o, insts in res.items():
        out[o] = {}
        for i, rs in insts.items():
            nosec = o == 0 and rs.get(2, 3) == 3
            out[o][i] = {r: ("<secret>" if (o, r) == (0, 5) else v.hex() if isinstance(v, bytes) else v)
                         for r, v in rs.items() if not (nosec and o == 0 and r in (3, 4, 5))}
    return out


if __name__ == "__main__":
    sys.exit(main())

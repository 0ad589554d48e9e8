"""`make bench` figures of issue 13 (allocation-free hot paths, device size):

- alloc_parse_bytes, alloc_read_3_0_bytes, alloc_notify_bytes (goal 0 each):
  bytes the heap grows by in one steady-state run (tools/bench/alloc_probe.py on
  the unix port, gc off): parsing a 4-option GET; serving Read /3/0 (TLV,
  and the worst of TLV and SenML CBOR and a single resource); one
  notification (NON and CON + ACK);
- read_3_0_us: median time to serve Read /3/0 in TLV (parse in the receive
  buffer, the operation, the response built in the send buffer);
- mpy_bytes_device: .mpy bytes of everything that ships to a board (client/,
  objects/, firmware/, boards/ without simulators); mpy_bytes_device_issue13:
  the same for the modules that existed when issue 13 was filed (goal
  <= 56 KB), their later splits (render, dtlsrec, composite, attrs, linkf,
  senmlw, setup, codes_pub) included."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import build_mpy  # noqa: E402
from devclient import MICROPYTHON, ROOT  # noqa: E402

SIMULATORS = ("boards/virtual.py",)     # the virtual clock board: tests only
ISSUE13 = tuple("client/%s.py" % m for m in (
    "block", "bootstrap", "bsif", "cbor", "client", "coap", "codes", "crypto", "dtls",
    "dtlscert", "engine", "exchange", "ids", "model", "reg", "report", "senml", "sleep",
    "store", "text", "tlv", "render", "dtlsrec",
    # split out of those since (their code counts where it went), and the
    # public copy of codes.py's numbers the build writes
    "composite", "attrs", "linkf", "senmlw", "setup", "codes_pub")) + tuple("objects/%s.py" % m for m in (
        "acl", "appdata", "connmon", "device", "ipso", "security", "server")) + (
    "boards/unix.py", "boards/modem.py", "firmware/main.py")


def probe(names, mpy=None):
    """tools/bench/alloc_probe.py on the unix port: {name: [bytes, heap_lock ok]}"""
    path = mpy or ROOT
    env = dict(os.environ, MICROPYPATH=".frozen:" + path)
    p = subprocess.run([MICROPYTHON, os.path.join(ROOT, "tools", "bench", "alloc_probe.py")] + list(names),
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    if p.returncode:
        raise RuntimeError("alloc_probe failed:\n%s%s" % (p.stdout, p.stderr))
    return json.loads(p.stdout.strip().splitlines()[-1])


def measure():
    # the probe runs the .mpy just compiled (as shipped), not the sources
    with tempfile.TemporaryDirectory() as d:
        sizes = build_mpy.build(out=d)
        p = probe(["parse", "read_3_0_tlv", "read_3_0_senml", "read_res", "notify", "notify_con",
                   "read_3_0_us"], d)
    return {
        "mpy_bytes_device": sum(v for k, v in sizes.items() if k not in SIMULATORS),
        "mpy_bytes_device_issue13": sum(v for k, v in sizes.items() if k in ISSUE13),
        "alloc_parse_bytes": p["parse"][0],
        "alloc_read_3_0_bytes": max(p[k][0] for k in ("read_3_0_tlv", "read_3_0_senml", "read_res")),
        "alloc_notify_bytes": max(p["notify"][0], p["notify_con"][0]),
        "read_3_0_us": p["read_3_0_us"],
    }


if __name__ == "__main__":
    for k, v in sorted(measure().items()):
        print("%-26s %s" % (k, v))

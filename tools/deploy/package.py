"""The device code as mip packages (micropython-lib's package.json format:
{"urls": [[target path, url]], "deps": [[url, version]], "version": ...}).

  python tools/deploy/package.py --source       rewrite ./package.json (sources, for
                                                mpremote mip install github:OWNER/REPO)
  python tools/deploy/package.py --out DIR [--base-url URL] [--march A]
                                                compiled tree: DIR/package.json (core + the
                                                esp32 board), DIR/<part>.json per optional part
                                                and board, DIR/**/*.mpy (mpy-cross)

A compiled tree served by any static web server installs with
`mpremote mip install URL/package.json` (a part: URL/dtls.json). Parts:
core (registration, DM, reporting, TLV/text, store, sleep), dtls, formats
(SenML, LwM2M JSON/CBOR), fota, tcp (TCP/TLS, MQTT), and one per board:
esp32, unix, cellular. Files a part does not claim are core."""
import argparse
import fnmatch
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import build_mpy  # noqa: E402
DIRS = ("client", "objects", "boards", "firmware")
VERSION = "0.1.0"
PARTS = {
    "dtls": ["client/dtls*.py", "client/crypto.py"],
    "formats": ["client/senml*.py", "client/lwjson.py", "client/lwcbor.py"],
    "fota": ["client/fwdl*.py", "client/fwup*.py", "client/http.py", "client/mq2m.py", "boards/fwstore.py", "boards/fwapp.py", "boards/esp32ota.py"],
    "tcp": ["client/tcp*.py", "client/mqtt*.py", "client/rexchange.py", "boards/unixtcp.py"],
    "esp32": ["boards/esp32.py"],
    "unix": ["boards/virtual.py"],
    "cellular": ["boards/modem.py", "boards/cellular.py", "boards/at*.py", "client/sms*.py"],
}
# device files that are not part of any package (examples)
SKIP = ["firmware/app_example.py", "firmware/boot.py", "firmware/manifest.py"]
DEFAULT_DEPS = ("esp32",)       # what `mip install github:OWNER/REPO` brings besides the core


def sources():
    out = []
    for d in DIRS:
        for name in sorted(os.listdir(os.path.join(ROOT, d))):
            rel = d + "/" + name
            if name.endswith(".py") and not any(fnmatch.fnmatch(rel, p) for p in SKIP):
                out.append(rel)
    return out


def parts():
    """{part: [source paths]}; "core" gets what no other part claims"""
    src = sources()
    got = {p: [f for f in src if any(fnmatch.fnmatch(f, g) for g in globs)] for p, globs in PARTS.items()}
    claimed = {f for fs in got.values() for f in fs}
    got["core"] = [f for f in src if f not in claimed]
    return got


def source_json():
    # the repository's own package.json: sources by relative URL (mip
    # resolves them against the package.json's location)
    p = parts()
    files = p["core"] + [f for d in DEFAULT_DEPS for f in p[d]]
    return {"urls": [[f, f] for f in files], "deps": [], "version": VERSION}


def compile_tree(out, base_url=None, march=None, only=None):
    """.mpy files (build_mpy.compile: the inlined sources) and one package.json
    per part into out; returns {part: json}. The core carries
    client/codes_pub.py, which the build adds (inline_consts)."""
    p = parts()
    p["core"] = p["core"] + [build_mpy.inline_consts.PUB]
    src = build_mpy.tree()
    res = {}
    for part, files in p.items():
        if only and part not in only:
            continue
        urls = []
        for f in files:
            dst = f[:-3] + ".mpy"
            build_mpy.compile(f, os.path.join(out, dst), march, src)
            urls.append([dst, dst])
        pj = {"urls": urls, "deps": [], "version": VERSION}
        if part == "core" and base_url:
            pj["deps"] = [[base_url.rstrip("/") + "/%s.json" % d, VERSION] for d in DEFAULT_DEPS]
        name = "package.json" if part == "core" else part + ".json"
        with open(os.path.join(out, name), "w") as fh:
            json.dump(pj, fh, indent=1)
        res[part] = pj
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", action="store_true", help="rewrite ./package.json (sources)")
    ap.add_argument("--out", help="compiled package tree folder")
    ap.add_argument("--base-url", help="where the tree will be served (core's deps on the default parts)")
    ap.add_argument("--march", help="mpy-cross -march (xtensawin for ESP32/S3, rv32imc for C3)")
    a = ap.parse_args(argv)
    if a.source:
        with open(os.path.join(ROOT, "package.json"), "w") as fh:
            json.dump(source_json(), fh, indent=1)
            fh.write("\n")
    if a.out:
        for part, pj in compile_tree(a.out, a.base_url, a.march).items():
            print("%-9s %3d files" % (part, len(pj["urls"])))
    if not (a.source or a.out):
        ap.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

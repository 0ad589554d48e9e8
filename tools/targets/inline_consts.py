"""The build-time pass of every device build (tools/build_mpy.py: .mpy trees,
tools/deploy/package.py: mip/deploy packages, firmware/manifest.py and the
qemu / 32-bit targets: frozen firmware). The sources keep one place for every
protocol number (client/codes.py, client/ids.py); the build gets them folded:

- `from client.codes import R, W, STR` (and client.ids) becomes `_R = const(1)`
  ... in the importing module, and every use of the name in it (NAME tokens:
  not strings, comments or attributes `.R`) is renamed to the private `_R`.
  MicroPython keeps a public `const()` in the module's globals (it stays
  importable); a private one costs no RAM and no qstr at all. A name stays
  public (still folded) where it must stay importable or is bound otherwise:
  another module (device code, tools, tests) imports it from this one, the
  device code reads an attribute of that name (of anything) or has a string
  of it (getattr), a tool reads it from something named like a device
  module, its import line says `noqa: F401` (a re-export, e.g.
  client/app.py), it is assigned, a parameter or a keyword argument, an
  f-string uses it, it is used above its definition, or `_NAME` is taken.
- so do the int constants a module imports from another device module
  (`from client.dtlsrec import CCS`), and a module's own public
  `NAME = const(n)`.
- `from micropython import const` goes (the compiler knows `const` without it).
- client/codes.py keeps its functions and classes, its numbers become private,
  and a module `__getattr__` serves them by name from client/codes_pub.py (made
  here), so code that imports a number at run time (applications, tools)
  still gets it, but the device code, which no longer does, never builds
  their dict. client/ids.py is no longer imported by the device code at all.
Tuples made only of numbers (every object's RES table) become constants too.
Line numbers are kept (the replaced imports keep their lines).

    python tools/targets/inline_consts.py SRC OUT   (copies client/ objects/
    boards/ firmware/ from SRC to OUT, rewritten)"""
import ast
import io
import os
import re
import shutil
import sys
import tokenize

DIRS = ("client", "objects", "boards", "firmware")
SOURCES = ("client.codes", "client.ids")
CODES, PUB = "client/codes.py", "client/codes_pub.py"
# host code that may import names from the device modules at run time (scanned
# as text, strings included: scripts in strings run on the built trees)
CONSUMERS = ("tools", "host_tests")
SKIP_DIRS = {"__pycache__", "node_modules", ".venv", "build", "peers"}


def _const_value(v):
    if (isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "const"
            and len(v.args) == 1 and not v.keywords):
        a = v.args[0]
        if isinstance(a, ast.UnaryOp) and isinstance(a.op, ast.USub) and isinstance(a.operand, ast.Constant):
            a = ast.Constant(-a.operand.value)
        if isinstance(a, ast.Constant) and type(a.value) is int:
            return a.value
    return None


def own_consts(tree):
    """{NAME: (int, Assign node)} of the module-level `NAME = const(n)`"""
    out = {}
    for n in tree.body:
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
            v = _const_value(n.value)
            if v is not None:
                out[n.targets[0].id] = (v, n)
    return out


def consts(path):
    """{NAME: int} of the module-level `NAME = const(n)` of a file"""
    with open(path) as f:
        return {k: v for k, (v, _) in own_consts(ast.parse(f.read())).items()}


def api_names(tree):
    """the public names of a module that are not its int constants"""
    c = own_consts(tree)
    out = set()
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.Assign):
            out |= {t.id for t in n.targets if isinstance(t, ast.Name)}
    return {x for x in out if not x.startswith("_") and x not in c}


def modname(rel):
    return rel[:-3].replace("/", ".").replace(os.sep, ".")


_FROM = re.compile(r"from\s+(\.*[\w.]*)\s+import\s+(\([^)]*\)|[^\n;]*)")
_IMPORT = re.compile(r"import\s+((?:client|objects|boards|firmware)\.\w+)(?:\s+as\s+(\w+))?")


def _names(body):
    body = re.sub(r"#[^\n]*", "", body).strip("() \n\\")
    return [x.split(" as ")[0].strip() for x in body.replace("\\\n", " ").split(",") if x.strip()]


def scan(texts, mods):
    """(imported, attrs): {(module, name)} imported by any of texts (as text:
    strings count) and the names read as attributes of something called like
    a device module (mods: their short names; `coap.PAY`, `m.X` after
    `import client.x as m`)"""
    imported, attrs = set(), set()
    for text in texts:
        for m in _FROM.finditer(text):
            src = m.group(1)        # a relative one (".x"): as from any device package
            full = [p + "." + src.lstrip(".") for p in DIRS] if src.startswith(".") else [src]
            imported |= {(f, n) for f in full for n in _names(m.group(2))}
            if m.group(1) in ("client", "objects", "boards", "firmware"):
                mods = mods | set(_names(m.group(2)))
        names = set(mods)
        for m in _IMPORT.finditer(text):
            names.add(m.group(2) or m.group(1))
        alt = "|".join(sorted(re.escape(x) for x in names))
        attrs |= set(re.findall(r"\b(?:%s)\s*\.\s*([A-Za-z_]\w*)" % alt, text))
    return imported, attrs


def consumer_texts(root):
    out = []
    for d in CONSUMERS:
        for r, ds, fs in os.walk(os.path.join(root, d)):
            ds[:] = [x for x in ds if x not in SKIP_DIRS]
            for f in fs:
                if f.endswith(".py"):
                    with open(os.path.join(r, f), errors="replace") as fh:
                        out.append(fh.read())
    return out


def _bound(tree, name, skip=()):
    """name is bound in the module otherwise than by the nodes in skip"""
    skip = {id(x) for s in skip for x in ast.walk(s)}
    for n in ast.walk(tree):
        if id(n) in skip:
            continue
        if isinstance(n, ast.Name) and n.id == name and not isinstance(n.ctx, ast.Load):
            return True
        if isinstance(n, ast.arg) and n.arg == name or isinstance(n, ast.keyword) and n.arg == name:
            return True
        if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and n.name == name:
            return True
        if isinstance(n, (ast.Global, ast.Nonlocal)) and name in n.names:
            return True
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.split(".")[0]) == name for a in n.names):
                return True
    return False


def _absolute(mod, node):
    # the module an ImportFrom names (`from .codes import` in client.x: client.codes)
    if not node.level:
        return node.module
    return ".".join(mod.split(".")[:-node.level] + [node.module])


def _tokens(text):
    return list(tokenize.generate_tokens(io.StringIO(text).readline))


def rewrite(rel, text, ctx):
    """(new text, {name: "private" | "public"}) of one device module"""
    values, codes_api, imported, attrs = ctx["values"], ctx["api"], ctx["imported"], ctx["attrs"]
    tree = ast.parse(text)
    toks = _tokens(text)
    used = {t.string for t in toks if t.type == tokenize.NAME}
    fstr = " ".join(t.string for t in toks if t.type == tokenize.STRING
                    and re.match(r"[rRbB]?[fF]", t.string))
    lines = text.split("\n")
    mod = modname(rel)
    cand = {}           # local name -> (value, why: "import" | "own", node)
    imports = []        # (node, remaining aliases)
    if rel != CODES:
        for n in tree.body:
            if not (isinstance(n, ast.ImportFrom) and n.module and _absolute(mod, n) in values):
                continue
            if n.col_offset or lines[n.end_lineno - 1][n.end_col_offset:].split("#")[0].strip():
                continue        # shares its line with another statement: left as it is
            n.module = _absolute(mod, n)
            if n.names[0].name == "*" and n.module not in SOURCES:
                continue
            if n.names[0].name == "*":
                extra = codes_api if n.module == "client.codes" else set()
                aliases = [ast.alias(name=x, asname=None) for x in sorted(used & (set(values[n.module]) | extra))]
            else:
                aliases = n.names
            keep = []
            for a in aliases:
                local = a.asname or a.name
                if a.name in values[n.module]:
                    cand[local] = (values[n.module][a.name], "import", n)
                else:
                    keep.append(a)
            imports.append((n, keep))
    own = own_consts(tree) if rel == CODES or mod not in SOURCES else {}     # ids: all public
    for k, (v, node) in own.items():
        if not k.startswith("_") and k not in cand:
            cand[k] = (v, "own", node)
    first = {}
    for t in toks:
        if t.type == tokenize.NAME and t.string in cand and t.string not in first:
            first[t.string] = t.start[0]
    state = {}
    for k, (v, why, node) in cand.items():
        if k.startswith("_"):       # imported under a private name already
            continue
        src = "\n".join(lines[node.lineno - 1:node.end_lineno])
        public = (rel != CODES and ((mod, k) in imported or k in attrs)
                  or why == "import" and "F401" in src
                  or _bound(tree, k, skip=(node,) if why == "own" else (node, *[i for i, _ in imports]))
                  or "_" + k in used or re.search(r"\b%s\b" % k, fstr)
                  or first.get(k, node.lineno) < node.lineno)     # used above: a global look-up
        state[k] = "public" if public else "private"
    private = {k for k, s in state.items() if s == "private"}
    # the NAME tokens to rename (not after a '.', not in the imports replaced)
    drop = set()
    for n, _ in imports:
        drop |= set(range(n.lineno, n.end_lineno + 1))
    const_imp = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "micropython"
                 and [a.name for a in n.names] == ["const"] and not n.names[0].asname]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id == "const"]
    folded = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Assign) and len(n.targets) == 1
              and isinstance(n.targets[0], ast.Name)}
    n_const = sum(1 for t in toks if t.type == tokenize.NAME and t.string == "const")
    if const_imp and all(id(c) in folded for c in calls) and n_const == len(calls) + len(const_imp):
        for n in const_imp:
            drop |= set(range(n.lineno, n.end_lineno + 1))
    edits = {}
    prev = None
    for t in toks:
        if t.type == tokenize.NAME and t.string in private and t.start[0] not in drop and not (
                prev is not None and prev.type == tokenize.OP and prev.string == "."):
            edits.setdefault(t.start[0], []).append(t.start[1])
        if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            prev = t
    for row, cols in edits.items():
        s = lines[row - 1]
        for c in sorted(cols, reverse=True):
            s = s[:c] + "_" + s[c:]
        lines[row - 1] = s
    # the imports: what is not a number stays imported, the numbers become const()
    for n, keep in imports:
        stmts = []
        if keep:
            stmts.append("from %s import %s" % (n.module, ", ".join(
                a.name + (" as " + a.asname if a.asname else "") for a in keep)))
        for local, (v, why, node) in cand.items():
            if node is n:
                stmts.append("%s%s = const(%d)" % ("_" if local in private else "", local, v))
        if not stmts:
            stmts.append("pass")
        _replace(lines, n, "; ".join(stmts))
    for n in const_imp:
        if n.lineno in drop:
            _replace(lines, n, "")
    out = "\n".join(lines)
    if rel == CODES:
        out += ("\n\ndef __getattr__(n):\n"
                "    # a number by name (applications, tools): from the build's own module\n"
                "    import client.codes_pub as p\n"
                "    return getattr(p, n)\n")
    return out, state


def _replace(lines, node, new):
    # the statement's lines: the new text on the first, the others empty
    first, last = node.lineno - 1, node.end_lineno - 1
    lines[first] = new
    for i in range(first + 1, last + 1):
        lines[i] = ""


def sources(src):
    """{rel: text} of the device files under src"""
    out = {}
    for d in DIRS:
        if not os.path.isdir(os.path.join(src, d)):
            continue
        for r, ds, fs in os.walk(os.path.join(src, d)):
            ds[:] = [x for x in ds if x not in SKIP_DIRS]
            for name in fs:
                if name.endswith(".py"):
                    p = os.path.join(r, name)
                    with open(p) as f:
                        out[os.path.relpath(p, src).replace(os.sep, "/")] = f.read()
    return out


def context(texts, consumers=()):
    """what rewrite() needs to know of the whole tree: every module's int
    constants, client.codes' other names, the (module, name) pairs imported
    at run time (by the tree: all but the constants, which are folded; by
    the consumers: all), the names read as attributes (of anything, in the
    tree; of something named like a device module, in the consumers)"""
    trees = {r: ast.parse(t) for r, t in texts.items()}
    values = {modname(r): {k: v for k, (v, _) in own_consts(t).items()} for r, t in trees.items()}
    mods = {modname(r).split(".")[-1] for r in texts}
    imported, attrs = scan(consumers, mods)
    for r, t in trees.items():
        # any attribute the device code reads (a module may be held by any
        # name), and any string that could name one (getattr, __import__)
        attrs |= {n.attr for n in ast.walk(t) if isinstance(n, ast.Attribute)}
        attrs |= {n.value for n in ast.walk(t) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                  and n.value.isidentifier()}
        top = {id(n) for n in t.body}
        for n in ast.walk(t):
            if isinstance(n, ast.ImportFrom) and n.module:
                m = _absolute(modname(r), n)
                names = [a.name for a in n.names]
                if names == ["*"] and m not in SOURCES:
                    names = list(values.get(m, ()))
                # a module-level import of a constant is folded (rewrite), a nested one is not
                imported |= {(m, x) for x in names if id(n) not in top or x not in values.get(m, ())}
    return {"values": values, "api": api_names(ast.parse(texts[CODES])), "imported": imported,
            "attrs": attrs}


def transform(texts, consumers=(), extra=None):
    """{rel: rewritten text} of a device tree ({rel: text}), client/codes_pub.py
    added; extra: {rel: text} of other modules frozen with it (rewritten too)"""
    ctx = context(dict(texts, **(extra or {})), consumers)
    out = {}
    for rel, text in list(texts.items()) + list((extra or {}).items()):
        out[rel] = rewrite(rel, text, ctx)[0]
    if CODES in texts:
        v = ctx["values"]["client.codes"]
        out[PUB] = ("# Made by tools/targets/inline_consts.py: client/codes.py's numbers by name\n"
                    "# (client.codes.__getattr__ imports this module on first such use).\n"
                    + "".join("%s = const(%d)\n" % kv for kv in v.items()))
    return out


def write_tree(files, out, replace=True):
    """Write {rel: text} to out (atomically: a new folder renamed); returns out.
    replace=False: a folder already there (another process made it) stays."""
    tmp = out + ".tmp%d" % os.getpid()
    shutil.rmtree(tmp, ignore_errors=True)
    for rel, text in files.items():
        p = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    if os.path.isdir(out) and replace:
        shutil.rmtree(out, ignore_errors=True)
    try:
        os.rename(tmp, out)
    except OSError:     # another process was first
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def inline(src, out, root=None, extra=()):
    """Copy the device folders of src to out, rewritten; returns out. root: the
    repository whose tools/ and host_tests/ are scanned (default: src's
    parent of tools/, else src); extra: paths of other modules frozen with the
    tree (rewritten to out/<basename>)."""
    root = root or (src if os.path.isdir(os.path.join(src, "tools")) else
                    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    ex = {}
    for p in extra:
        with open(p) as f:
            ex[os.path.basename(p)] = f.read()
    return write_tree(transform(sources(src), consumer_texts(root), ex), out)


if __name__ == "__main__":
    print(inline(sys.argv[1], sys.argv[2]))

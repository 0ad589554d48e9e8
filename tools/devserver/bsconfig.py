"""Readable LwM2M client configurations -> resource values.

Shared by tools/provision.py (writes the device's factory configuration)
and tools/bootstrap_server.py (sends it as Bootstrap-Writes). A
configuration is a dict (from JSON, or INI via from_ini)::

    {
      "security": [   # Security (0) instances; "iid" optional (list index)
        {"uri": "coap://bs.example:5683", "bootstrap": true, "holdoff": 0},
        {"uri": "coaps://lwm2m.example:5684", "ssid": 1, "mode": "psk",
         "identity": "dev-1", "key": "00112233445566778899aabbccddeeff"}
      ],
      "server": [     # Server (1) instances
        {"ssid": 1, "lifetime": 300, "binding": "U"}
      ],
      "acl": [        # Access Control (2) instances
        {"object": 3, "instance": 0, "acl": {"1": "RWE", "2": "R"}, "owner": 1}
      ],
      "write": {"/3/0/15": "Europe/Paris"}   # other resources (bootstrap server)
    }

Keys: identity is text (identity_hex: hex), key and server_key are hex,
mode is psk/rpk/cert/nosec/est or 0..4 (default: psk when a key is given,
else nosec). ACL rights are an int or letters R W E D C.

INI form (from_ini): sections [security.N], [server.N], [acl.N] with the
same keys, acl as "1:RWE, 2:R", and a [write] section of path = value.
"""
import configparser
import json

MODES = {"psk": 0, "rpk": 1, "cert": 2, "nosec": 3, "est": 4}
RIGHTS = {"R": 1, "W": 2, "E": 4, "D": 8, "C": 16}


def _bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return bool(v)
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a boolean: %r" % (v,))


def _mode(v):
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    return MODES[s] if s in MODES else int(s)


def _text(v):
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


def _hex(v):
    return v if isinstance(v, bytes) else bytes.fromhex(str(v).replace(":", "").replace(" ", ""))


def rights(v):
    """An ACL value: int, or letters "RWEDC"."""
    if isinstance(v, int):
        return v
    s = str(v).strip().upper()
    if s.isdigit():
        return int(s)
    n = 0
    for ch in s:
        if ch not in RIGHTS:
            raise ValueError("unknown access right %r" % ch)
        n |= RIGHTS[ch]
    return n


def _acl(v):
    if isinstance(v, str):
        pairs = [p.split(":") for p in v.replace(";", ",").split(",") if p.strip()]
        v = {k.strip(): r for k, r in pairs}
    return {int(k): rights(r) for k, r in v.items()}


# key -> (resource id, converter)
SECURITY = {
    "uri": (0, str), "bootstrap": (1, _bool), "mode": (2, _mode),
    "identity": (3, _text), "identity_hex": (3, _hex), "server_key": (4, _hex),
    "key": (5, _hex), "ssid": (10, int), "holdoff": (11, int),
    "bs_timeout": (12, int), "sni": (14, str), "usage": (15, int),
}
SERVER = {
    "ssid": (0, int), "lifetime": (1, int), "pmin": (2, int), "pmax": (3, int),
    "disable_timeout": (5, int), "storing": (6, _bool), "binding": (7, str),
    "bootstrap_on_failure": (16, _bool), "retry_count": (17, int),
    "retry_timer": (18, int), "sequence_delay": (19, int), "sequence_retry": (20, int),
    "mute_send": (23, _bool),
}
ACL = {"object": (0, int), "instance": (1, int), "acl": (2, _acl), "owner": (3, int)}
OBJECTS = (("security", 0, SECURITY), ("server", 1, SERVER), ("acl", 2, ACL))


def _defaults(oid, entry):
    if oid == 0:
        return {1: False, 2: 0 if entry.get("key") else 3, 3: b"", 4: b"", 5: b""}
    if oid == 1:
        return {1: 86400, 6: True, 7: "U"}
    return {3: 65535}


def resources(cfg):
    """{oid: {iid: {rid: value | {riid: value}}}} for objects 0, 1, 2."""
    out = {}
    for name, oid, keys in OBJECTS:
        for n, entry in enumerate(cfg.get(name, ())):
            iid = int(entry.get("iid", n))
            res = _defaults(oid, entry)
            for k, v in entry.items():
                if k == "iid":
                    continue
                if k not in keys:
                    raise ValueError("%s: unknown key %r" % (name, k))
                rid, conv = keys[k]
                res[rid] = conv(v)
            insts = out.setdefault(oid, {})
            if iid in insts:
                raise ValueError("%s: instance %d twice" % (name, iid))
            insts[iid] = res
    return out


def writes(cfg):
    """[(path, value)] of the "write" section."""
    return [("/" + p.strip("/"), v) for p, v in cfg.get("write", {}).items()]


def from_ini(text):
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read_string(text)
    cfg = {}
    for sec in cp.sections():
        if sec == "write":
            cfg["write"] = dict(cp.items(sec))
            continue
        name, _, iid = sec.partition(".")
        if name not in ("security", "server", "acl"):
            raise ValueError("unknown section [%s]" % sec)
        entry = dict(cp.items(sec))
        if iid:
            entry["iid"] = int(iid)
        cfg.setdefault(name, []).append(entry)
    return cfg


def load(path):
    """A configuration file: JSON, or INI when it does not parse as JSON."""
    with open(path) as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError:
        return from_ini(text)

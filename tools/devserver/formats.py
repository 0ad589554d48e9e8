"""Host-side LwM2M payload formats: OMA TLV, plain text, SenML, pretty printing.

This is plain CPython, written independently of the device code so that it
can be used to cross-check the device's codecs.

OMA TLV (content format 11542), per TLV entry:

    type byte   bits 7-6  kind of identifier
                          00 object instance      (value = nested TLVs)
                          01 resource instance    (value = bytes)
                          10 multiple resource    (value = nested resource instances)
                          11 resource with value  (value = bytes)
                bit 5     identifier length: 0 -> 8 bit, 1 -> 16 bit
                bits 4-3  length type: 00 length is in bits 2-0,
                          01/10/11 -> an 8/16/24 bit length field follows the id
                bits 2-0  the length when the length type is 00
    identifier  1 or 2 bytes, big-endian
    length      0..3 bytes, big-endian
    value

Decoded form (``tlv_decode``): a list of dicts
``{"type": "instance"|"resource"|"multiple"|"resinst", "id": n, "value": ...}``
where ``value`` is ``bytes`` for "resource"/"resinst" and a list of such
dicts for "instance"/"multiple".
"""
import base64
import json
import math
import struct

__all__ = [
    "TLV_INSTANCE", "TLV_RESINST", "TLV_MULTIPLE", "TLV_RESOURCE",
    "tlv_decode", "tlv_encode", "tlv_entry", "tlv_value", "tlv_resource",
    "tlv_resinst", "tlv_instance", "tlv_multiple", "tlv_paths",
    "tlv_int", "tlv_uint", "tlv_float", "tlv_bool", "tlv_str", "tlv_objlnk",
    "text_encode", "text_decode", "senml_decode", "senml_resolve",
    "parse_links", "format_name", "pretty",
]

# identifier kinds (bits 7-6 of the type byte)
TLV_INSTANCE = 0
TLV_RESINST = 1
TLV_MULTIPLE = 2
TLV_RESOURCE = 3

_KIND_NAMES = {TLV_INSTANCE: "instance", TLV_RESINST: "resinst",
               TLV_MULTIPLE: "multiple", TLV_RESOURCE: "resource"}
_KIND_BITS = {v: k for k, v in _KIND_NAMES.items()}
_CONTAINERS = ("instance", "multiple")

FORMAT_NAMES = {
    0: "text/plain", 40: "application/link-format", 42: "application/octet-stream",
    50: "application/json", 60: "application/cbor",
    110: "application/senml+json", 112: "application/senml+cbor",
    11542: "application/vnd.oma.lwm2m+tlv", 11543: "application/vnd.oma.lwm2m+json",
    11544: "application/vnd.oma.lwm2m+cbor",
}


def format_name(ct):
    if ct is None:
        return "none"
    return FORMAT_NAMES.get(ct, str(ct))


# --------------------------------------------------------------------------
# TLV: decoding


def _tlv_header(buf, pos):
    """Parse one header at buf[pos]; return (kind, id, value_start, value_end)."""
    end = len(buf)
    if pos >= end:
        raise ValueError("TLV: truncated type byte")
    t = buf[pos]
    pos += 1
    kind = t >> 6
    id_len = 2 if t & 0x20 else 1
    len_type = (t >> 3) & 0x03
    if pos + id_len > end:
        raise ValueError("TLV: truncated identifier")
    ident = int.from_bytes(buf[pos:pos + id_len], "big")
    pos += id_len
    if len_type == 0:
        length = t & 0x07
    else:
        if pos + len_type > end:
            raise ValueError("TLV: truncated length field")
        length = int.from_bytes(buf[pos:pos + len_type], "big")
        pos += len_type
    if pos + length > end:
        raise ValueError("TLV: value of id %d needs %d bytes, %d left" % (ident, length, end - pos))
    return kind, ident, pos, pos + length


def tlv_decode(data):
    """Decode a TLV payload into a list of dicts (see module docstring).

    Raises ValueError on malformed input (truncation, a resource instance
    inside an object instance, anything but resource instances inside a
    multiple resource)."""
    return _decode(bytes(data), 0, len(data), None)


def _decode(buf, pos, end, parent):
    out = []
    while pos < end:
        kind, ident, vs, ve = _tlv_header(buf[:end], pos)
        name = _KIND_NAMES[kind]
        if parent == "multiple" and name != "resinst":
            raise ValueError("TLV: %s id %d inside a multiple resource" % (name, ident))
        if parent == "instance" and name in ("instance", "resinst"):
            raise ValueError("TLV: %s id %d inside an object instance" % (name, ident))
        if name in _CONTAINERS:
            value = _decode(buf, vs, ve, name)
        else:
            value = buf[vs:ve]
        out.append({"type": name, "id": ident, "value": value})
        pos = ve
    return out


# --------------------------------------------------------------------------
# TLV: value conversions (bytes <-> Python values)


def tlv_value(value):
    """Encode a Python value as TLV value bytes.

    int -> shortest signed big-endian of 1/2/4/8 bytes; bool -> 1 byte;
    float -> 8-byte IEEE 754 double; str -> UTF-8; bytes -> as is;
    (object id, instance id) tuple -> 4-byte object link; None -> empty."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    if isinstance(value, int):
        for n in (1, 2, 4, 8):
            lo = -(1 << (8 * n - 1))
            if lo <= value < -lo:
                return value.to_bytes(n, "big", signed=True)
        raise ValueError("TLV: integer %d does not fit in 64 bits" % value)
    if isinstance(value, float):
        return struct.pack(">d", value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, tuple) and len(value) == 2:
        oid, iid = value
        return struct.pack(">HH", oid, iid)
    raise TypeError("TLV: cannot encode %r" % (value,))


def tlv_int(b):
    """Signed big-endian integer of 1, 2, 4 or 8 bytes."""
    if len(b) not in (1, 2, 4, 8):
        raise ValueError("TLV: integer of %d bytes" % len(b))
    return int.from_bytes(b, "big", signed=True)


def tlv_uint(b):
    """Unsigned big-endian integer of 1, 2, 4 or 8 bytes."""
    if len(b) not in (1, 2, 4, 8):
        raise ValueError("TLV: unsigned integer of %d bytes" % len(b))
    return int.from_bytes(b, "big")


def tlv_float(b):
    if len(b) == 4:
        return struct.unpack(">f", b)[0]
    if len(b) == 8:
        return struct.unpack(">d", b)[0]
    raise ValueError("TLV: float of %d bytes" % len(b))


def tlv_bool(b):
    if len(b) != 1 or b[0] > 1:
        raise ValueError("TLV: bad boolean %r" % (b,))
    return b[0] == 1


def tlv_str(b):
    return bytes(b).decode("utf-8")


def tlv_objlnk(b):
    if len(b) != 4:
        raise ValueError("TLV: object link of %d bytes" % len(b))
    return struct.unpack(">HH", b)


# --------------------------------------------------------------------------
# TLV: encoding


def tlv_entry(kind, ident, value):
    """One TLV entry: kind is a name ("resource", ...) or 0..3; value is bytes."""
    if isinstance(kind, str):
        kind = _KIND_BITS[kind]
    value = bytes(value)
    if not 0 <= ident <= 0xFFFF:
        raise ValueError("TLV: identifier %d out of range" % ident)
    n = len(value)
    t = kind << 6
    head = b""
    if ident > 0xFF:
        t |= 0x20
        head += ident.to_bytes(2, "big")
    else:
        head += bytes((ident,))
    if n < 8:
        t |= n
    elif n < 0x100:
        t |= 0x08
        head += bytes((n,))
    elif n < 0x10000:
        t |= 0x10
        head += n.to_bytes(2, "big")
    elif n < 0x1000000:
        t |= 0x18
        head += n.to_bytes(3, "big")
    else:
        raise ValueError("TLV: value of %d bytes is too long" % n)
    return bytes((t,)) + head + value


def tlv_encode(items):
    """Encode a list of dicts (as returned by tlv_decode) to bytes.

    A "resource"/"resinst" value may be any value tlv_value accepts; an
    "instance"/"multiple" value is a list of dicts, or already encoded
    bytes of its children. Entries may also be given as encoded bytes."""
    out = bytearray()
    for it in items:
        if isinstance(it, (bytes, bytearray)):
            out += it
            continue
        kind = it["type"]
        value = it["value"]
        if kind in _CONTAINERS:
            body = value if isinstance(value, (bytes, bytearray)) else tlv_encode(value)
        else:
            body = tlv_value(value)
        out += tlv_entry(kind, it["id"], body)
    return bytes(out)


def tlv_resource(rid, value):
    """A single-value resource TLV (bytes)."""
    return tlv_entry(TLV_RESOURCE, rid, tlv_value(value))


def tlv_resinst(riid, value):
    """A resource instance TLV (bytes)."""
    return tlv_entry(TLV_RESINST, riid, tlv_value(value))


def tlv_multiple(rid, values):
    """A multiple resource TLV (bytes); values: {riid: value} or [(riid, value)]."""
    pairs = values.items() if isinstance(values, dict) else values
    return tlv_entry(TLV_MULTIPLE, rid, b"".join(tlv_resinst(i, v) for i, v in pairs))


def tlv_instance(iid, resources):
    """An object instance TLV (bytes); resources: encoded TLVs (bytes) or dicts."""
    return tlv_entry(TLV_INSTANCE, iid, tlv_encode(resources))


def tlv_paths(payload, base=""):
    """Flatten a TLV payload to {path: bytes}, e.g. base "/3" gives
    {"/3/0/0": b"...", "/3/0/7/1": b"..."}; base "/3/0" for a payload
    that starts at the resource level."""
    base = base.rstrip("/")
    out = {}

    def walk(items, prefix):
        for it in items:
            p = "%s/%d" % (prefix, it["id"])
            if it["type"] in _CONTAINERS:
                walk(it["value"], p)
            else:
                out[p] = it["value"]

    walk(tlv_decode(payload) if isinstance(payload, (bytes, bytearray)) else payload, base)
    return out


# --------------------------------------------------------------------------
# plain text (content format 0)


def text_encode(value):
    """Plain-text representation of a single value (bytes)."""
    if isinstance(value, bool):
        return b"1" if value else b"0"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("text: float %r has no plain-text form" % value)
        return repr(value).encode()
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value))
    if isinstance(value, tuple) and len(value) == 2:
        return ("%d:%d" % value).encode()
    raise TypeError("text: cannot encode %r" % (value,))


def text_decode(data, kind="str"):
    """Parse a plain-text value; kind: str, int, uint, time, float, bool,
    objlnk, opaque (base64)."""
    s = bytes(data).decode("utf-8")
    if kind == "str":
        return s
    if kind in ("int", "uint", "time"):
        v = int(s.strip())
        if kind == "uint" and v < 0:
            raise ValueError("text: negative unsigned %r" % s)
        return v
    if kind == "float":
        return float(s.strip())
    if kind == "bool":
        if s.strip() not in ("0", "1"):
            raise ValueError("text: bad boolean %r" % s)
        return s.strip() == "1"
    if kind == "objlnk":
        a, b = s.strip().split(":")
        return int(a), int(b)
    if kind == "opaque":
        return base64.b64decode(s)
    raise ValueError("text: unknown kind %r" % kind)


# --------------------------------------------------------------------------
# SenML (RFC 8428) JSON / CBOR, for logs and tests

# CBOR integer labels (RFC 8428 section 6)
_SENML_CBOR_LABELS = {
    -1: "bver", -2: "bn", -3: "bt", -4: "bu", -5: "bv", -6: "bs",
    0: "n", 1: "u", 2: "v", 3: "vs", 4: "vb", 5: "s", 6: "t", 7: "ut", 8: "vd",
}


def senml_decode(payload, content_format=110):
    """SenML-JSON (110) or SenML-CBOR (112) payload -> list of records with
    string labels (vd as bytes in both)."""
    if content_format == 112:
        import cbor2
        raw = cbor2.loads(bytes(payload))
    else:
        raw = json.loads(bytes(payload).decode("utf-8"))
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise ValueError("SenML: top level is not an array")
    out = []
    for rec in raw:
        if not isinstance(rec, dict):
            raise ValueError("SenML: record is not a map")
        r = {}
        for k, v in rec.items():
            k = _SENML_CBOR_LABELS.get(k, k) if isinstance(k, int) else k
            if k == "vd" and isinstance(v, str):
                v = base64.urlsafe_b64decode(v + "=" * (-len(v) % 4))
            r[k] = v
        out.append(r)
    return out


def senml_resolve(records):
    """Apply base name / base time / base value (RFC 8428 section 4.6):
    returns records with full "n" and absolute-or-relative "t" and without
    base fields."""
    bn, bt, bv = "", 0, None
    out = []
    for r in records:
        if "bn" in r:
            bn = r["bn"]
        if "bt" in r:
            bt = r["bt"]
        if "bv" in r:
            bv = r["bv"]
        res = {"n": bn + r.get("n", "")}
        t = bt + r.get("t", 0)
        if t:
            res["t"] = t
        for k in ("v", "vs", "vb", "vd", "vlo", "u", "s"):
            if k in r:
                res[k] = r[k]
        if "v" in res and bv is not None:
            res["v"] = res["v"] + bv
        out.append(res)
    return out


# --------------------------------------------------------------------------
# link format (RFC 6690), enough for registration payloads


def _split_outside_quotes(s, sep):
    parts, cur, quoted, angle = [], [], False, False
    for ch in s:
        if ch == '"' and not angle:
            quoted = not quoted
        elif ch == "<" and not quoted:
            angle = True
        elif ch == ">" and not quoted:
            angle = False
        if ch == sep and not quoted and not angle:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_links(text):
    """'</>;rt="oma.lwm2m";ct=11542,</1/0>' -> [("/", {"rt": "oma.lwm2m",
    "ct": "11542"}), ("/1/0", {})]. Attributes without value map to None."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    out = []
    for link in _split_outside_quotes(text.strip(), ","):
        link = link.strip()
        if not link:
            continue
        parts = _split_outside_quotes(link, ";")
        target = parts[0].strip()
        if target.startswith("<") and target.endswith(">"):
            target = target[1:-1]
        attrs = {}
        for p in parts[1:]:
            p = p.strip()
            if not p:
                continue
            if "=" in p:
                k, v = p.split("=", 1)
                v = v.strip()
                if len(v) >= 2 and v[0] == v[-1] == '"':
                    v = v[1:-1]
                attrs[k.strip()] = v
            else:
                attrs[p] = None
        out.append((target, attrs))
    return out


# --------------------------------------------------------------------------
# pretty printing


def _guess(b):
    """Readable rendering of an untyped TLV value."""
    b = bytes(b)
    if not b:
        return "''"
    try:
        s = b.decode("utf-8")
        printable = all(c.isprintable() or c in "\r\n\t" for c in s)
    except UnicodeDecodeError:
        printable = False
    n = len(b)
    as_int = int.from_bytes(b, "big", signed=True) if n in (1, 2, 4, 8) else None
    if printable and (as_int is None or n > 2 or all(c.isalnum() or c in " ._-:/" for c in s)):
        if len(s) > 200:
            s = s[:200] + "...(%d bytes)" % n
            return repr(s)
        if as_int is not None and n <= 2:
            return "%r (int %d)" % (s, as_int)
        return repr(s)
    if as_int is not None:
        extra = ""
        if n == 8:
            f = struct.unpack(">d", b)[0]
            if f == 0 or (math.isfinite(f) and 1e-9 < abs(f) < 1e15):
                extra = ", float %r" % f
        return "%d (0x%s%s)" % (as_int, b.hex(), extra)
    if n > 64:
        return "0x%s...(%d bytes)" % (b[:64].hex(), n)
    return "0x" + b.hex()


def _pretty_tlv(items, indent, oid=None, rid=None):
    from .model import render, rtype
    lines = []
    pad = "  " * indent
    names = {"instance": "inst", "multiple": "res", "resource": "res", "resinst": "[%d]"}
    for it in items:
        if it["type"] == "resinst":
            label = "[%d]" % it["id"]
        else:
            label = "%s %d" % (names[it["type"]], it["id"])
        r = rid if it["type"] == "resinst" else it["id"] if it["type"] != "instance" else None
        if it["type"] in _CONTAINERS:
            lines.append("%s%s:" % (pad, label))
            lines.extend(_pretty_tlv(it["value"], indent + 1, oid, r))
        else:
            t = rtype(oid, r)
            v = render(t, it["value"]) if t else None
            lines.append("%s%s = %s" % (pad, label, v if v is not None else _guess(it["value"])))
    return lines


def _pretty_json(obj):
    return json.dumps(obj, indent=None, default=lambda o: "0x" + o.hex() if isinstance(o, bytes) else repr(o))


def pretty(payload, content_format=None, path=None):
    """Render any payload readable for logs (one or more lines, no trailing
    newline). Never raises: undecodable payloads are shown as hex. With the
    request's path ("/3/0" or its parts), TLV values show as their type."""
    payload = bytes(payload or b"")
    if not payload:
        return "(empty)"
    try:
        ct = content_format
        if ct == 11542:
            parts = [p for p in (path.strip("/").split("/") if isinstance(path, str) else path or ()) if p != ""]
            oid = parts[0] if parts else None
            rid = parts[2] if len(parts) > 2 else None
            return "\n".join(_pretty_tlv(tlv_decode(payload), 0, oid, rid))
        if ct in (110, 112):
            recs = senml_resolve(senml_decode(payload, ct))
            lines = []
            for r in recs:
                val = [k + "=" + (_pretty_json(v) if k != "vd" else "0x" + v.hex())
                       for k, v in r.items() if k != "n"]
                lines.append("%s %s" % (r["n"] or "(no name)", " ".join(val)))
            return "\n".join(lines)
        if ct in (60, 11544):
            import cbor2
            return _pretty_json(cbor2.loads(payload))
        if ct in (50, 11543):
            return _pretty_json(json.loads(payload.decode("utf-8")))
        if ct == 40:
            return ",\n".join(l.strip() for l in _split_outside_quotes(payload.decode("utf-8"), ","))
        if ct == 0 or ct is None:
            s = payload.decode("utf-8")
            if all(c.isprintable() or c in "\r\n\t" for c in s):
                return s
            return "0x" + payload.hex()
        return "0x" + payload.hex()
    except Exception as e:  # noqa: BLE001 - logs must never fail
        return "0x%s (undecodable as %s: %s)" % (payload.hex(), format_name(content_format), e)

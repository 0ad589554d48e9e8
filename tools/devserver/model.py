"""Resource types the dev server knows, to show TLV values (which carry no
type) as what they are: the LwM2M core objects by (object, resource), the
IPSO resources (5500-5999, the same type in every object) by resource.
Types: s string, i integer, u unsigned, f float, b boolean, o opaque,
t time, l object link, e executable (no value)."""
import struct

CORE = {
    0: "s b i o o o i i i i i i i u s i",                       # Security 0..15
    1: "i i i i e i b s e e l i t u u b b u u u u b s b",       # Server 0..23
    2: "i i i i",                                               # Access Control
    3: "s s s s e e i i i i i i e t s s s s s s i i l",         # Device 0..22
    4: "i i i i s s i s i i i i i",                             # Connectivity Monitoring
    5: "o s e - i - s s i i",                                   # Firmware Update (4 unused)
    6: "f f f f o t f",                                         # Location
    19: "o i t s s i",                                          # LwM2M APPDATA
}
CORE = {oid: dict(enumerate(t.split())) for oid, t in CORE.items()}
IPSO = {5500: "b", 5501: "i", 5502: "b", 5503: "i", 5504: "i", 5505: "e", 5518: "t",
        5550: "b", 5551: "b", 5601: "f", 5602: "f", 5603: "f", 5604: "f", 5605: "e",
        5700: "f", 5701: "s", 5706: "s", 5750: "s", 5751: "s", 5805: "f", 5820: "f",
        5850: "b", 5851: "i", 5852: "i", 5853: "s", 5854: "i"}
NAMES = {"s": "string", "i": "integer", "u": "unsigned", "f": "float", "b": "boolean",
         "o": "opaque", "t": "time", "l": "objlnk", "e": "none"}


def rtype(oid, rid):
    """The type letter of /oid/x/rid, or None when unknown."""
    try:
        oid, rid = int(oid), int(rid)
    except (TypeError, ValueError):
        return None
    t = CORE.get(oid, {}).get(rid) if oid in CORE else IPSO.get(rid)
    return t if t and t != "-" else None


def render(t, b):
    """A TLV value of type t as text; None when it does not fit the type."""
    b = bytes(b)
    n = len(b)
    if t == "s":
        try:
            return repr(b.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    if t in "iut" and n in (1, 2, 4, 8):
        v = int.from_bytes(b, "big", signed=t != "u")
        return "%d" % v if t != "t" else "%d (time)" % v
    if t == "f" and n in (4, 8):
        return repr(struct.unpack(">f" if n == 4 else ">d", b)[0])
    if t == "b" and n == 1 and b[0] in (0, 1):
        return "true" if b[0] else "false"
    if t == "l" and n == 4:
        return "%d:%d" % struct.unpack(">HH", b)
    if t == "o":
        return "0x%s (%d bytes)" % (b[:64].hex() + ("..." if n > 64 else ""), n)
    if t == "e" and n == 0:
        return "''"
    return None

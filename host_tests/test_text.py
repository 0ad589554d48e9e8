"""Plain text (0) and opaque (42) codecs (client/text.py) on the MicroPython unix port."""

NONE, STR, INT, UINT, FLOAT, BOOL, OPAQUE, TIME, OBJLNK, CORELNK = range(10)
RID = {STR: 0, INT: 1, UINT: 2, FLOAT: 3, BOOL: 4, OPAQUE: 5, TIME: 6,
       OBJLNK: 7, CORELNK: 8}

PRELUDE = """
from client import text
from client.codes import CoapError
T = %r
def typeof(p):
    if p[2] not in T:
        raise CoapError(0x84)
    return T[p[2]]
def P(b):
    # ('ba', b) -> bytearray, ('mv', b) -> memoryview slice
    if type(b) is tuple:
        return bytearray(b[1]) if b[0] == 'ba' else memoryview(b'x' + b[1])[1:]
    return b
def call(f, *a):
    try:
        return f(*a)
    except CoapError as e:
        return ('ERR', e.code)
""" % ({v: k for k, v in RID.items()},)


def run(mp, body):
    return [eval(l, {"inf": float("inf")}) for l in mp(PRELUDE + body).splitlines()]


def encs(mp, cases, fn="enc"):
    """cases: list of (recs, base) -> list of bytes or ('ERR', code)."""
    return run(mp, "for r, base in %r:\n    print(repr(call(text.%s, r, base)))\n" % (cases, fn))


def decs(mp, cases, fn="dec"):
    """cases: list of (payload, base) -> list of decoded lists or ('ERR', code)."""
    return run(mp, "for b, base in %r:\n    print(repr(call(text.%s, P(b), base, typeof)))\n" % (cases, fn))


# (type, value, text)
VALUES = [
    (STR, "Open Mobile Alliance", b"Open Mobile Alliance"), (STR, "", b""),
    (STR, "h\u00e9\u20ac\U0001F600", "h\u00e9\u20ac\U0001F600".encode()),
    (CORELNK, "</3/0>;ver=1.1", b"</3/0>;ver=1.1"),
    (INT, 0, b"0"), (INT, -42, b"-42"), (INT, -(1 << 63), b"-9223372036854775808"),
    (INT, (1 << 63) - 1, b"9223372036854775807"),
    (UINT, (1 << 64) - 1, b"18446744073709551615"), (UINT, 7, b"7"),
    (TIME, 1367491215, b"1367491215"),
    (FLOAT, 1.5, b"1.5"), (FLOAT, -0.1, b"-0.1"), (FLOAT, 3.0, b"3.0"),
    (FLOAT, 1e22, b"1e+22"), (FLOAT, 2.5e-300, b"2.5e-300"),
    (BOOL, True, b"1"), (BOOL, False, b"0"),
    (OBJLNK, (3, 0), b"3:0"), (OBJLNK, (65535, 65535), b"65535:65535"),
    (OPAQUE, b"", b""), (OPAQUE, b"\x00\xff\x10", b"AP8Q"), (OPAQUE, b"ab", b"YWI="),
    (OPAQUE, b"a", b"YQ=="),
]


def test_enc_values(mp):
    got = encs(mp, [([((3, 0, RID[t]), t, v)], (3, 0, RID[t])) for t, v, _ in VALUES]
               + [([((3, 0, RID[t], 4), t, v)], (3, 0, RID[t], 4)) for t, v, _ in VALUES])
    want = [x for _, _, x in VALUES]
    assert got == want + want


def test_dec_values(mp):
    got = decs(mp, [(x, (3, 0, RID[t])) for t, _, x in VALUES]
               + [(x, (3, 0, RID[t], 4)) for t, _, x in VALUES])
    n = len(VALUES)
    for (t, v, x), g, g4 in zip(VALUES, got[:n], got[n:]):
        assert g == [((3, 0, RID[t]), v)], (t, x)
        assert g4 == [((3, 0, RID[t], 4), v)], (t, x)
        assert type(g[0][1]) is type(v)


def test_float_round_trip(mp):
    body = """
import random, struct
random.seed(5)
bad = 0
for i in range(3000):
    f = struct.unpack('>d', bytes(random.getrandbits(8) for _ in range(8)))[0]
    if f - f:
        continue
    e = text.enc([((3, 0, 3), 4, f)], (3, 0, 3))
    if text.dec(e, (3, 0, 3), typeof)[0][1] != f:
        bad += 1
print(bad)
"""
    assert run(mp, body) == [0]


def test_enc_not_acceptable(mp):
    r1 = ((3, 0, 1), INT, 1)
    got = encs(mp, [([r1], (3, 0)), ([r1], (3,)), ([r1, ((3, 0, 2), UINT, 2)], (3, 0)),
                    ([((3, 0, 1, 0), INT, 1)], (3, 0, 1)), ([], (3, 0, 1))])
    assert got == [("ERR", 0x86)] * 5


def test_dec_bad(mp):
    bad = {
        INT: [b"", b"-", b"+1", b"1.0", b" 1", b"1 ", b"1\n", b"0x10", b"1_0", b"--1", b"1e3",
              b"9223372036854775808", b"-9223372036854775809", "\u0661".encode()],
        UINT: [b"-1", b"-0", b"18446744073709551616", b"", b"+0"],
        TIME: [b"a", b"9223372036854775808"],
        FLOAT: [b"", b".", b".5", b"5.", b"e5", b"1e", b"1e+", b"inf", b"nan", b"-inf", b"1.5.3",
                b"1,5", b" 1.5", b"1.5 ", b"1_0.0", b"+1.5", b"0x1p3", b"1e999", b"-1e999"],
        BOOL: [b"", b"2", b"true", b"01", b"1 ", b"-0"],
        OBJLNK: [b"", b"3", b"3:", b":0", b"3:0:1", b"-3:0", b"3:-0", b"65536:0", b"0:65536",
                 b"3 :0", b"a:b", b"+3:0"],
        OPAQUE: [b"Y", b"YW", b"YWI", b"YW=I", b"Y WI=", b"YWI=\n", b"YWJ=", b"YR==", b"*WI=",
                 b"YWI=YWI=", b"====", "\u00e9YWI".encode()],
        STR: [b"\xff", b"\xc3\x28", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\xc3",
              b"\xe0\x80\x80"],
        CORELNK: [b"\x80"],
    }
    cases = [(x, (3, 0, RID[t])) for t in bad for x in bad[t]]
    got = decs(mp, cases)
    for c, g in zip(cases, got):
        assert g == ("ERR", 0x80), c


def test_dec_shape(mp):
    got = decs(mp, [(b"1", (3, 0)), (b"1", (3,)), (b"1", (3, 0, 99)),
                    (("ba", b"42"), (3, 0, 1)), (("mv", b"42"), (3, 0, 1))])
    assert got == [("ERR", 0x8F), ("ERR", 0x8F), ("ERR", 0x84),
                   [((3, 0, 1), 42)], [((3, 0, 1), 42)]]


def test_opaque(mp):
    got = encs(mp, [([((3, 0, 5), OPAQUE, b"\x00\x01")], (3, 0, 5)),
                    ([((3, 0, 5, 2), OPAQUE, b"\xff")], (3, 0, 5, 2)),
                    ([((3, 0, 5), OPAQUE, b"")], (3, 0, 5)),
                    ([((3, 0, 0), STR, "x")], (3, 0, 0)),
                    ([((3, 0, 5), OPAQUE, b"")], (3, 0)),
                    ([((3, 0, 5, 0), OPAQUE, b"")], (3, 0, 5)),
                    ([((3, 0, 5, 0), OPAQUE, b""), ((3, 0, 5, 1), OPAQUE, b"")], (3, 0, 5))],
               "enc_opaque")
    assert got == [b"\x00\x01", b"\xff", b""] + [("ERR", 0x86)] * 4
    got = decs(mp, [(b"\x00\xff", (3, 0, 5)), (b"", (3, 0, 5, 1)), (b"1", (3, 0, 1)),
                    (b"1", (3, 0)), (b"1", (3, 0, 99)),
                    (("ba", b"ab"), (3, 0, 5)), (("mv", b"ab"), (3, 0, 5))],
               "dec_opaque")
    assert got == [[((3, 0, 5), b"\x00\xff")], [((3, 0, 5, 1), b"")], ("ERR", 0x8F),
                   ("ERR", 0x8F), ("ERR", 0x84), [((3, 0, 5), b"ab")], [((3, 0, 5), b"ab")]]


def test_fuzz(mp):
    # random short byte strings: only values or 4.00 come out
    body = """
import random
random.seed(9)
alpha = b'0123456789-+.eE:=/AYWQ \\xc3\\xa9\\xff\\x80'
other = 0
for n in range(2000):
    b = bytes(alpha[random.getrandbits(8) % len(alpha)] for _ in range(random.getrandbits(3)))
    for rid in range(9):
        try:
            text.dec(b, (3, 0, rid), typeof)
        except CoapError as e:
            if e.code != 0x80:
                other += 1
        except Exception as e:
            print(repr((b, rid, repr(e))))
            other += 1
print(repr(('done', other)))
"""
    assert run(mp, body) == [("done", 0)]

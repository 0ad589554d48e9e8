"""client/cbor.py on the MicroPython unix port, checked against PyPI cbor2."""
import io
import json
import math
import random
import struct

import cbor2
import pytest

# Shared by host and device: a JSON-able, exact picture of a decoded value
# (ints as text, floats as the bits of a double) and its inverse.
SHOW = r'''
import struct, binascii
def show(v):
    if v is None or v is True or v is False:
        return v
    t = type(v)
    if t is int:
        return ["i", str(v)]
    if t is float:
        return ["f", "nan" if v != v else binascii.hexlify(struct.pack(">d", v)).decode()]
    if t is str:
        return ["s", binascii.hexlify(v.encode()).decode()]
    if t in (bytes, bytearray):
        return ["b", binascii.hexlify(v).decode()]
    if t in (list, tuple):
        return ["l", [show(x) for x in v]]
    if t is dict:
        return ["d", [[show(k), show(x)] for k, x in v.items()]]
    return ["?", repr(v)]
def make(x):
    if x is None or x is True or x is False:
        return x
    t, v = x
    if t == "i":
        return int(v)
    if t == "f":
        return float("nan") if v == "nan" else struct.unpack(">d", binascii.unhexlify(v))[0]
    if t == "s":
        return binascii.unhexlify(v).decode()
    if t == "b":
        return binascii.unhexlify(v)
    if t == "l":
        return [make(y) for y in v]
    return {make(k): make(y) for k, y in v}
'''
exec(SHOW)  # host copies of show()/make()

# Device side: decode every hex line of a file, print one JSON result a line.
DECODE = SHOW + r'''
import json
from client import cbor
from client.codes import CoapError
for line in open(%r):
    b = binascii.unhexlify(line.strip())
    try:
        r = show(cbor.loads(b))
    except CoapError as e:
        r = ["E", e.code]
    except Exception as e:
        r = ["X", type(e).__name__ + ": " + str(e)]
    print(json.dumps(r))
'''

ENCODE = SHOW + r'''
import json
from client import cbor
for line in open(%r):
    print(binascii.hexlify(cbor.dumps(make(json.loads(line)))).decode())
'''


def norm(x):
    # device dict order is not insertion order: compare maps as sorted pairs
    if isinstance(x, list):
        if len(x) == 2 and x[0] == "d":
            return ["d", sorted(([norm(k), norm(v)] for k, v in x[1]), key=json.dumps)]
        return [norm(y) for y in x]
    return x


def plain(v):
    # cbor2 results -> what the device returns (simple values -> None)
    if isinstance(v, (cbor2.CBORSimpleValue,)) or v is cbor2.undefined:
        return None
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {plain(k): plain(x) for k, x in v.items()}
    return v


class _AllTags(dict):
    # cbor2 semantic decoders for every tag: keep the tagged item only
    def __contains__(self, k):
        return True

    def get(self, k, d=None):
        return self[k]

    def __getitem__(self, k):
        return lambda v, immutable: v


def ref_loads(b):
    """cbor2 as the reference: whole input, tags dropped, no duplicates."""
    d = cbor2.CBORDecoder(io.BytesIO(b), semantic_decoders=_AllTags(),
                          allow_duplicate_keys=False)
    v = d.decode()
    if d.fp.tell() != len(b):
        raise ValueError("trailing bytes")
    return plain(v)


def dev_decode(mp, tmp_path, blobs):
    f = tmp_path / "in.hex"
    f.write_text("".join(b.hex() + "\n" for b in blobs))
    out = mp(DECODE % str(f)).splitlines()
    assert len(out) == len(blobs)
    return [norm(json.loads(x)) for x in out]


def dev_encode(mp, tmp_path, values):
    f = tmp_path / "vals.json"
    f.write_text("".join(json.dumps(show(v), ensure_ascii=False) + "\n" for v in values),
                 encoding="utf-8")
    out = mp(ENCODE % str(f)).splitlines()
    assert len(out) == len(values)
    return [bytes.fromhex(x) for x in out]


INTS = [0, 1, 10, 23, 24, 25, 100, 255, 256, 1000, 65535, 65536, 2**31 - 1, 2**31,
        2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1,
        -1, -10, -24, -25, -100, -256, -257, -65536, -65537, -2**31, -2**32,
        -2**32 - 1, -2**63, -2**63 - 1, -2**64]
FLOATS = [0.0, -0.0, 1.0, -1.0, 1.5, 0.5, 100.0, 65504.0, 65505.0, 1e5, 3.4028234663852886e38,
          1.1, 0.1, -4.1, 1e300, -1e-300, 5e-324, 5.960464477539063e-08, 6.103515625e-05,
          1.401298464324817e-45, 2.0**-30, 1e-7, 21.5, 3800.25, math.pi,
          float("inf"), float("-inf"), float("nan")]
STRS = ["", "a", "IETF", "\"\\", "\u00fc", "\u6c34", "\U0001f600", "é€😀 x", "\ud7ff\ue000\U0010ffff\x7f\x80\u07ff\u0800\uffff\U00010000", "x" * 23, "y" * 24,
        "z" * 255, "w" * 256, "v" * 70000]
BYTES = [b"", b"\x00", b"\x01\x02\x03\x04", b"\xff" * 24, bytes(range(256)), b"\xaa" * 65536]
OTHER = [True, False, None, [], [1, 2, 3], [1, [2, 3], [4, 5]], list(range(25)),
         {}, {1: 2, 3: 4}, {"a": 1, "b": [2, 3]}, {"a": "A", "b": "B", "c": "C"},
         [-2, {0: "3303", 2: 21.5, 3: "x", 4: True, 8: b"\x01"}], {-3: 1.5, "vlo": "1:2"},
         ["a", {"b": "c"}], {1: {2: {3: {4: [5, {6: None}]}}}}]


def same(dev, ref):
    return norm(json.loads(json.dumps(show(ref)))) == dev


def test_encode_matches_cbor2(mp, tmp_path):
    values = INTS + FLOATS + STRS + BYTES + OTHER
    enc = dev_encode(mp, tmp_path, values)
    for v, b in zip(values, enc):
        got = cbor2.loads(b)
        if isinstance(v, float) and v != v:
            assert math.isnan(got) and b == b"\xf9\x7e\x00"
            continue
        assert same(norm(show(got)), v), (v, b.hex())
        if not isinstance(v, dict) and not (isinstance(v, list) and any(isinstance(x, dict) for x in v)):
            # ints, strings, arrays: the same bytes; floats: the shortest
            # exact width, as cbor2's canonical mode
            assert b == cbor2.dumps(v, canonical=True), (v, b.hex())
    # float width: half when exact, else single, else double
    width = {b[0] for v, b in zip(values, enc) if isinstance(v, float)}
    assert width == {0xF9, 0xFA, 0xFB}


def test_float_width(mp, tmp_path):
    enc = dev_encode(mp, tmp_path, [1.5, 100000.0, 1.1, 65504.0, 65520.0, -0.0])
    assert [b.hex() for b in enc] == ["f93e00", "fa47c35000", "fb3ff199999999999a",
                                     "f97bff", "fa477ff000", "f98000"]


def test_decode_cbor2_output(mp, tmp_path):
    values = INTS + FLOATS + STRS + BYTES + OTHER
    blobs = [cbor2.dumps(v) for v in values] + [cbor2.dumps(v, canonical=True) for v in values]
    # single-precision floats as such
    singles = [1.1, -3.5e-20, 2.5e38, 1e-40]
    blobs += [b"\xfa" + struct.pack(">f", v) for v in singles]
    exp = values + values + [struct.unpack(">f", struct.pack(">f", v))[0] for v in singles]
    for v, b, got in zip(exp, blobs, dev_decode(mp, tmp_path, blobs)):
        assert same(got, v), (b.hex()[:80], got)


INDEFINITE = [
    "9f0102ff", "9fff", "5f426162416 3ff", "5fff", "7f626162616 3ff", "7fff",
    "bf61610161629f0203ffff", "bfff", "9f9f01ff82029f03ffff", "826161bf61626163ff",
    "bf01bf02bf03bf04a1056161ffffffff", "5f40410040ff", "7f6060ff", "9f5f4101ff7f6161ffff",
    "a1626162bf6163f4ff", "9f01f93c00fa3fc00000fb3ff8000000000000ff",
]
HAND = [
    # tags: the number is dropped
    "c11a514b67b0", "c074323031332d30332d32315432303a30343a30305a", "d8184101",
    "d9d9f7820102", "dbffffffffffffffff00", "c24101", "c0c0c000", "d90fa0bf0102ff",
    # simple values
    "f4", "f5", "f6", "f7", "f0", "e0", "f820", "f8ff",
    # half floats: max, subnormals, infinities, NaN
    "f97bff", "f90001", "f903ff", "f90400", "f97c00", "f9fc00", "f97e00", "f98000", "f9c400",
    # non-minimal heads are still well-formed
    "1800", "190017", "1a00000017", "1b0000000000000017", "3800", "5900024142", "780161",
    "9900010a", "b9000100f5", "fa00000000", "fb0000000000000000",
]


def test_decode_hand_built_agrees_with_cbor2(mp, tmp_path):
    blobs = [bytes.fromhex(h.replace(" ", "")) for h in INDEFINITE + HAND]
    got = dev_decode(mp, tmp_path, blobs)
    for b, g in zip(blobs, got):
        assert same(g, ref_loads(b)), (b.hex(), g)


BAD = [
    "", "18", "19 01", "1a 0000 00", "1b 00000000000000", "38", "5a 0000", "41", "42 61",
    "62 61", "63 61 62", "81", "82 01", "a1", "a1 01", "a2 01 02 03", "9f", "9f 01", "bf",
    "bf 01", "bf 01 ff", "5f", "5f 41 61", "7f", "7f 61 61", "c1", "d8", "f9 00", "fa 0000 00",
    "fb 00", "f8", "f8 1f", "f8 00", "ff", "1c", "1d", "1e", "1f", "3c", "3f", "5c", "7d",
    "9c", "bc", "dc", "dd", "de", "df", "fc", "fd", "fe",
    # indefinite strings: chunks of another type, nested indefinite chunks
    "5f 01 ff", "5f 61 61 ff", "7f 41 61 ff", "5f 5f 41 61 ff ff", "7f 7f ff ff",
    # break in the wrong places
    "9f ff ff", "82 ff 01", "bf 01 ff", "a1 ff 01",
    # invalid UTF-8 in text (also per chunk): bad structure, overlong forms,
    # surrogates, code points past U+10FFFF
    "61 ff", "62 c3 28", "61 80", "62 e2 82", "7f 61 c3 61 a9 ff", "62 c0 80", "62 c1 bf",
    "63 e0 80 80", "63 e0 9f bf", "63 ed a0 80", "63 ed bf bf", "64 f0 80 80 80",
    "64 f4 90 80 80", "64 f7 bf bf bf", "65 61 ed a0 80 62", "7f 62 c3 a9 63 ed a0 80 ff",
    # trailing bytes
    "00 00", "80 00", "f6 ff", "a0 a0",
    # duplicate map key, unhashable map key (an array key is a path fragment
    # of LwM2M CBOR, kept as a tuple: one holding an array is unhashable)
    "a2 01 01 01 02", "a2 61 61 00 61 61 01", "a1 81 80 01", "a1 a0 01",
    # lengths past the end
    "5b ffffffffffffffff 00", "9b ffffffffffffffff 00", "bb ffffffffffffffff 00",
    "7b 00000001 00000000 61",
]


def test_decode_malformed(mp, tmp_path):
    blobs = [bytes.fromhex(h.replace(" ", "")) for h in BAD]
    for h, g in zip(BAD, dev_decode(mp, tmp_path, blobs)):
        assert g == ["E", 0x80], (h, g)


def test_depth_limit(mp, tmp_path):
    blobs = [b"\x81" * 8 + b"\x01", b"\xa1\x01" * 8 + b"\x01", b"\xc1" * 8 + b"\x01",
             b"\x81" * 9 + b"\x01", b"\xa1\x01" * 9 + b"\x01", b"\x9f" * 9 + b"\x01" + b"\xff" * 9,
             b"\xc1" * 9 + b"\x01", b"\x81" * 5000 + b"\x01", b"\x9f" * 5000, b"\xc1" * 5000]
    got = dev_decode(mp, tmp_path, blobs)
    for b, g in zip(blobs[:3], got[:3]):
        assert same(g, ref_loads(b))
    assert all(g == ["E", 0x80] for g in got[3:])


def test_input_types_and_encode_errors(mp):
    out = mp(r'''
from client import cbor
from client.codes import CoapError
b = cbor.dumps([1, "a", b"b"])
print(cbor.loads(bytearray(b)), cbor.loads(memoryview(b)), cbor.loads(memoryview(b"\x00" + b)[1:]))
print(type(cbor.loads(memoryview(b"\x41x"))).__name__, cbor.dumps((1, 2)) == cbor.dumps([1, 2]))
print(cbor.dumps(bytearray(b"ab")), cbor.dumps(memoryview(b"ab")))
for bad in (2**64, -2**64 - 1, {1, 2}, object(), [1, 2.5, object()], {1: print}):
    try:
        cbor.dumps(bad)
        print("no error")
    except CoapError as e:
        print(e.code)
for bad in (None, 5, "x"):
    try:
        cbor.loads(bad)
    except CoapError as e:
        print(e.code)
''').split("\n")
    assert out[0] == "[1, 'a', b'b'] [1, 'a', b'b'] [1, 'a', b'b']"
    assert out[1] == "bytes True"
    assert out[2] == "b'Bab' b'Bab'"
    assert out[3:9] == ["160"] * 6
    assert out[9:12] == ["128"] * 3


def _mutate(rng, b):
    b = bytearray(b)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        i = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(i, len(b) - 1)] = rng.randrange(256)
        elif op == 1:
            b.insert(i, rng.randrange(256))
        elif op == 2 and b:
            del b[min(i, len(b) - 1)]
        elif op == 3:
            b = b[:i]
        elif b:
            j = min(i, len(b) - 1)
            b[j] ^= 1 << rng.randrange(8)
    return bytes(b)


def test_fuzz_agrees_with_cbor2(mp, tmp_path):
    rng = random.Random(8949)
    seeds = [cbor2.dumps(v, canonical=c) for v in INTS + FLOATS + STRS[:10] + BYTES[:4] + OTHER
             for c in (False, True)] + [bytes.fromhex(h.replace(" ", "")) for h in INDEFINITE + HAND]
    blobs = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12))) for _ in range(1500)]
    blobs += [_mutate(rng, rng.choice(seeds)) for _ in range(3500)]
    got = dev_decode(mp, tmp_path, blobs)
    ok = 0
    for b, g in zip(blobs, got):
        assert not (isinstance(g, list) and g[0] == "X"), (b.hex(), g)  # only CoapError may escape
        try:
            ref = ref_loads(b)
        except Exception:
            ref = ValueError
        if g == ["E", 0x80]:
            # refusing is fine only where cbor2 refuses too (or input nests deeply)
            assert ref is ValueError or b.count(0x81) + b.count(0x9f) > 8, b.hex()
        else:
            ok += 1
            assert ref is not ValueError and same(g, ref), (b.hex(), g)
    assert ok > 500, ok

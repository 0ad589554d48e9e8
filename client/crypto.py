# Symmetric crypto for DTLS 1.2 PSK on MicroPython built-ins (hashlib, cryptolib):
# HMAC-SHA256 (RFC 2104), the TLS 1.2 PRF (RFC 5246 s5), AES-CCM (RFC 3610)
# and AES-128-CBC + HMAC-SHA256 record protection (RFC 5246 s6.2.3.2).
from hashlib import sha256
import cryptolib
from micropython import const

_ECB = const(1)
_CBC = const(2)
_MAC = const(32)  # HMAC-SHA256 output


def hmac(key, *msgs):
    if len(key) > 64:
        key = sha256(key).digest()
    ki = bytearray(64)
    ko = bytearray(64)
    for i in range(64):
        b = key[i] if i < len(key) else 0
        ki[i] = b ^ 0x36
        ko[i] = b ^ 0x5C
    h = sha256(ki)
    for m in msgs:
        h.update(m)
    h2 = sha256(ko)
    h2.update(h.digest())
    return h2.digest()


def prf(secret, label, seed, n):
    # P_SHA256: A(i) = HMAC(secret, A(i-1)), out = HMAC(secret, A(i) + label + seed)...
    seed = label + seed
    a = seed
    out = b""
    while len(out) < n:
        a = hmac(secret, a)
        out += hmac(secret, a, seed)
    return out[:n]


def ct_eq(a, b):
    # compare without an early exit (no timing hint on where they differ)
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


def _xor(a, b):
    n = len(a)
    return (int.from_bytes(a, "big") ^ int.from_bytes(b[:n], "big")).to_bytes(n, "big")


def ccm(key, nonce, aad, data, m=8, dec=False):
    # RFC 3610 with an M-byte tag and L = 15 - len(nonce) length bytes.
    # Seal: returns ciphertext + tag. Open (dec): plaintext, or None if the tag is wrong.
    q = 15 - len(nonce)
    n = len(data)
    if dec:
        n -= m
        if n < 0:
            return None
        tag = data[n:]
        data = data[:n]
    # CTR blocks A_i = flags(L-1) | nonce | i; S_0 masks the tag, S_1.. the payload
    nb = (n + 15) >> 4
    a = bytearray()
    for i in range(nb + 1):
        a += bytes((q - 1,)) + nonce + i.to_bytes(q, "big")
    s = cryptolib.aes(key, _ECB).encrypt(a)
    out = _xor(data, s[16:])
    p = out if dec else data
    # CBC-MAC over B_0 | len(aad) aad | payload, each zero-padded to 16 bytes:
    # the last block of a CBC encryption with a zero IV.
    b = bytearray(((64 if aad else 0) | (m - 2) << 2 | (q - 1),)) + nonce + n.to_bytes(q, "big")
    if aad:
        b += len(aad).to_bytes(2, "big") + aad
        b += bytes(-len(b) & 15)
    b += p
    b += bytes(-len(b) & 15)
    t = _xor(cryptolib.aes(key, _CBC, bytes(16)).encrypt(b)[-16:][:m], s)
    if dec:
        return out if ct_eq(t, tag) else None
    return out + t


def cbc_seal(key, mkey, iv, aad, data):
    # MAC-then-encrypt: IV | AES-CBC(data | HMAC(aad | data) | padding)
    b = bytearray(data) + hmac(mkey, aad, len(data).to_bytes(2, "big"), data)
    p = 15 - len(b) % 16
    b += bytes((p,)) * (p + 1)
    return iv + cryptolib.aes(key, _CBC, iv).encrypt(b)


def cbc_open(key, mkey, aad, frag):
    # Returns the plaintext, or None when the padding or MAC is wrong.
    # Both are checked before answering (one result for both failures).
    n = len(frag) - 16
    if n < 48 or n & 15:
        return None
    b = cryptolib.aes(key, _CBC, bytes(frag[:16])).decrypt(bytes(frag[16:]))
    p = b[-1]
    bad = p + 1 + _MAC > n
    if bad:
        p = 0
    for i in range(n - 1 - p, n):
        bad |= b[i] != p
    n -= p + 1 + _MAC
    t = hmac(mkey, aad, n.to_bytes(2, "big"), b[:n])
    if ct_eq(t, b[n:n + _MAC]) and not bad:
        return b[:n]

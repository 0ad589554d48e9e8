# Symmetric crypto for DTLS 1.2 PSK on MicroPython built-ins (hashlib, cryptolib):
# HMAC-SHA256 (RFC 2104), the TLS 1.2 PRF (RFC 5246 s5), AES-CCM (RFC 3610)
# and AES-128-CBC + HMAC-SHA256 record protection (RFC 5246 s6.2.3.2).
# CCM works block at a time in place over preallocated bytearrays (Ccm: the
# record layer's steady state allocates nothing); no byte strings grow by +=.
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
    out = bytearray(n + 31)
    i = 0
    while i < n:
        a = hmac(secret, a)
        out[i:i + 32] = hmac(secret, a, seed)
        i += 32
    return bytes(memoryview(out)[:n])


def ct_eq(a, b):
    # compare without an early exit (no timing hint on where they differ)
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


class Ccm:
    # AES-CCM (RFC 3610) with an m-byte tag and nonces of nl bytes (L = 15 - nl
    # length bytes), one key; block state in three 16-byte buffers
    def __init__(self, key, nl=12, m=8):
        self.e = cryptolib.aes(key, _ECB)
        self.q = 15 - nl
        self.m = m
        self.x = bytearray(16)      # CBC-MAC state
        self.s = bytearray(16)      # key stream block
        self.a = bytearray(16)      # counter block: flags | nonce | counter

    def nonce(self, b, i):
        # the nonce from b[i:i + nl]
        a = self.a
        a[0] = self.q - 1
        for k in range(15 - self.q):
            a[1 + k] = b[i + k]

    def _ctr_block(self, i):
        a = self.a
        for k in range(self.q):
            a[15 - k] = (i >> (8 * k)) & 255
        self.e.encrypt(a, self.s)

    def mac(self, ad, an, p, po, n, xt=-1):
        # CBC-MAC of B0 | len(ad) ad[:an] | payload p[po:po + n] (then the byte
        # xt if >= 0), zero padded to blocks: the result in self.x
        x = self.x
        e = self.e
        q = self.q
        t = n + (1 if xt >= 0 else 0)
        x[0] = (64 if an else 0) | (self.m - 2) << 2 | (q - 1)
        for k in range(1, 16 - q):
            x[k] = self.a[k]
        for k in range(q):
            x[15 - k] = (t >> (8 * k)) & 255
        e.encrypt(x, x)
        if an:
            x[0] ^= an >> 8
            x[1] ^= an & 255
            j = 2
            for k in range(an):
                x[j] ^= ad[k]
                j += 1
                if j == 16:
                    e.encrypt(x, x)
                    j = 0
            if j:
                e.encrypt(x, x)
        k = 0
        while k + 16 <= n:
            o = po + k
            for j in range(16):
                x[j] ^= p[o + j]
            e.encrypt(x, x)
            k += 16
        r = n - k
        if r or xt >= 0:
            o = po + k
            for j in range(r):
                x[j] ^= p[o + j]
            if xt >= 0:
                x[r] ^= xt
            e.encrypt(x, x)

    def ctr(self, src, so, n, dst, do, xt=-1):
        # dst[do:] = src[so:so + n] (then xt if >= 0) XOR S_1, S_2, ...
        s = self.s
        t = n + (1 if xt >= 0 else 0)
        k = 0
        i = 1
        while k < t:
            self._ctr_block(i)
            if k + 16 <= n:
                o = so + k
                d = do + k
                for j in range(16):
                    dst[d + j] = src[o + j] ^ s[j]
            else:
                for j in range(min(16, t - k)):
                    q = k + j
                    dst[do + q] = (src[so + q] if q < n else xt) ^ s[j]
            k += 16
            i += 1

    def tag(self, b, i):
        # the tag (CBC-MAC XOR S_0) into b[i:i + m]
        self._ctr_block(0)
        x = self.x
        s = self.s
        for k in range(self.m):
            b[i + k] = x[k] ^ s[k]

    def check(self, b, i):
        # the tag at b[i:i + m] is right (compared without an early exit)
        self._ctr_block(0)
        x = self.x
        s = self.s
        bad = 0
        for k in range(self.m):
            bad |= x[k] ^ s[k] ^ b[i + k]
        return not bad


def ccm(key, nonce, aad, data, m=8, dec=False):
    # RFC 3610 with an M-byte tag and L = 15 - len(nonce) length bytes.
    # Seal: returns ciphertext + tag. Open (dec): plaintext, or None if the tag is wrong.
    c = Ccm(key, len(nonce), m)
    c.nonce(nonce, 0)
    n = len(data) - (m if dec else 0)
    if n < 0:
        return None
    out = bytearray(n + (0 if dec else m))
    c.ctr(data, 0, n, out, 0)
    c.mac(aad, len(aad), out if dec else data, 0, n)
    if dec:
        return bytes(out) if c.check(data, n) else None
    c.tag(out, n)
    return bytes(out)


def cbc_seal(key, mkey, iv, aad, data):
    # MAC-then-encrypt: IV | AES-CBC(data | HMAC(aad | data) | padding)
    n = len(data)
    p = 15 - (n + _MAC) % 16
    b = bytearray(n + _MAC + p + 1)
    b[0:n] = data
    b[n:n + _MAC] = hmac(mkey, aad, n.to_bytes(2, "big"), data)
    for i in range(n + _MAC, len(b)):
        b[i] = p
    out = bytearray(16 + len(b))
    out[0:16] = iv
    out[16:] = cryptolib.aes(key, _CBC, iv).encrypt(b)
    return bytes(out)


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

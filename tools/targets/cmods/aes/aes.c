// AES (FIPS-197) behind the axTLS API subset in lib/axtls/crypto/crypto.h, so
// the vendored snapshot's extmod/modcryptolib.c gives the 32-bit unix test
// build a native cryptolib.aes (ECB/CBC). Byte-oriented and table-free apart
// from the S-boxes, which are computed once from their definition.
#include <string.h>
#include "lib/axtls/crypto/crypto.h"

static uint8_t sbox[256], inv_sbox[256];
static int sbox_ready;

static uint8_t gmul(uint8_t a, uint8_t b) {
    uint8_t p = 0;
    while (b) {
        if (b & 1) {
            p ^= a;
        }
        a = (uint8_t)((a << 1) ^ ((a & 0x80) ? 0x1b : 0));
        b >>= 1;
    }
    return p;
}

static uint8_t rotl8(uint8_t x, int n) {
    return (uint8_t)((x << n) | (x >> (8 - n)));
}

static void sbox_init(void) {
    for (int x = 0; x < 256; x++) {
        // multiplicative inverse as x^254 (0 maps to 0)
        uint8_t inv = 1, base = (uint8_t)x;
        for (int e = 254; e; e >>= 1) {
            if (e & 1) {
                inv = gmul(inv, base);
            }
            base = gmul(base, base);
        }
        if (x == 0) {
            inv = 0;
        }
        uint8_t s = inv ^ rotl8(inv, 1) ^ rotl8(inv, 2) ^ rotl8(inv, 3) ^ rotl8(inv, 4) ^ 0x63;
        sbox[x] = s;
        inv_sbox[s] = (uint8_t)x;
    }
    sbox_ready = 1;
}

void AES_set_key(AES_CTX *ctx, const uint8_t *key, const uint8_t *iv, AES_MODE mode) {
    if (!sbox_ready) {
        sbox_init();
    }
    int nk = mode == AES_MODE_256 ? 8 : 4;
    ctx->rounds = (uint8_t)(nk + 6);
    ctx->dec = 0;
    int words = 4 * (ctx->rounds + 1);
    uint8_t *w = ctx->ks;
    memcpy(w, key, 4 * nk);
    uint8_t rcon = 1;
    for (int i = nk; i < words; i++) {
        uint8_t t[4];
        memcpy(t, w + 4 * (i - 1), 4);
        if (i % nk == 0) {
            uint8_t t0 = t[0];
            t[0] = sbox[t[1]] ^ rcon;
            t[1] = sbox[t[2]];
            t[2] = sbox[t[3]];
            t[3] = sbox[t0];
            rcon = gmul(rcon, 2);
        } else if (nk > 6 && i % nk == 4) {
            for (int j = 0; j < 4; j++) {
                t[j] = sbox[t[j]];
            }
        }
        for (int j = 0; j < 4; j++) {
            w[4 * i + j] = w[4 * (i - nk) + j] ^ t[j];
        }
    }
    // ECB has no IV (NULL)
    if (iv) {
        memcpy(ctx->iv, iv, AES_IV_SIZE);
    } else {
        memset(ctx->iv, 0, AES_IV_SIZE);
    }
}

void AES_convert_key(AES_CTX *ctx) {
    // the inverse cipher below runs on the same schedule
    ctx->dec = 1;
}

static void add_key(uint8_t *s, const uint8_t *k) {
    for (int i = 0; i < 16; i++) {
        s[i] ^= k[i];
    }
}

static void enc_block(const AES_CTX *ctx, uint8_t *s) {
    uint8_t t[16];
    add_key(s, ctx->ks);
    for (int r = 1; r <= ctx->rounds; r++) {
        // SubBytes + ShiftRows (state is column-major: s[4 * col + row])
        for (int c = 0; c < 4; c++) {
            for (int row = 0; row < 4; row++) {
                t[4 * c + row] = sbox[s[4 * ((c + row) & 3) + row]];
            }
        }
        if (r < ctx->rounds) {
            for (int c = 0; c < 4; c++) {
                uint8_t *a = t + 4 * c;
                uint8_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
                s[4 * c + 0] = gmul(a0, 2) ^ gmul(a1, 3) ^ a2 ^ a3;
                s[4 * c + 1] = a0 ^ gmul(a1, 2) ^ gmul(a2, 3) ^ a3;
                s[4 * c + 2] = a0 ^ a1 ^ gmul(a2, 2) ^ gmul(a3, 3);
                s[4 * c + 3] = gmul(a0, 3) ^ a1 ^ a2 ^ gmul(a3, 2);
            }
        } else {
            memcpy(s, t, 16);
        }
        add_key(s, ctx->ks + 16 * r);
    }
}

static void dec_block(const AES_CTX *ctx, uint8_t *s) {
    uint8_t t[16];
    add_key(s, ctx->ks + 16 * ctx->rounds);
    for (int r = ctx->rounds - 1; r >= 0; r--) {
        // InvShiftRows + InvSubBytes
        for (int c = 0; c < 4; c++) {
            for (int row = 0; row < 4; row++) {
                t[4 * ((c + row) & 3) + row] = inv_sbox[s[4 * c + row]];
            }
        }
        add_key(t, ctx->ks + 16 * r);
        if (r > 0) {
            for (int c = 0; c < 4; c++) {
                uint8_t *a = t + 4 * c;
                uint8_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
                s[4 * c + 0] = gmul(a0, 14) ^ gmul(a1, 11) ^ gmul(a2, 13) ^ gmul(a3, 9);
                s[4 * c + 1] = gmul(a0, 9) ^ gmul(a1, 14) ^ gmul(a2, 11) ^ gmul(a3, 13);
                s[4 * c + 2] = gmul(a0, 13) ^ gmul(a1, 9) ^ gmul(a2, 14) ^ gmul(a3, 11);
                s[4 * c + 3] = gmul(a0, 11) ^ gmul(a1, 13) ^ gmul(a2, 9) ^ gmul(a3, 14);
            }
        } else {
            memcpy(s, t, 16);
        }
    }
}

// the ECB path hands over words holding the big-endian value of each 4 bytes
static void words_op(const AES_CTX *ctx, uint32_t *data, int enc) {
    uint8_t s[16];
    for (int i = 0; i < 16; i++) {
        s[i] = (uint8_t)(data[i >> 2] >> (24 - 8 * (i & 3)));
    }
    if (enc) {
        enc_block(ctx, s);
    } else {
        dec_block(ctx, s);
    }
    for (int i = 0; i < 4; i++) {
        data[i] = ((uint32_t)s[4 * i] << 24) | ((uint32_t)s[4 * i + 1] << 16)
            | ((uint32_t)s[4 * i + 2] << 8) | s[4 * i + 3];
    }
}

void AES_encrypt(const AES_CTX *ctx, uint32_t *data) {
    words_op(ctx, data, 1);
}

void AES_decrypt(const AES_CTX *ctx, uint32_t *data) {
    words_op(ctx, data, 0);
}

void AES_cbc_encrypt(AES_CTX *ctx, const uint8_t *msg, uint8_t *out, int length) {
    for (; length >= 16; length -= 16, msg += 16, out += 16) {
        for (int i = 0; i < 16; i++) {
            ctx->iv[i] ^= msg[i];
        }
        enc_block(ctx, ctx->iv);
        memcpy(out, ctx->iv, 16);
    }
}

void AES_cbc_decrypt(AES_CTX *ctx, const uint8_t *msg, uint8_t *out, int length) {
    uint8_t c[16], s[16];
    for (; length >= 16; length -= 16, msg += 16, out += 16) {
        memcpy(c, msg, 16);
        memcpy(s, msg, 16);
        dec_block(ctx, s);
        for (int i = 0; i < 16; i++) {
            out[i] = s[i] ^ ctx->iv[i];
        }
        memcpy(ctx->iv, c, 16);
    }
}

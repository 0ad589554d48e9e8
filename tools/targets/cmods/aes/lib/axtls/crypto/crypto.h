/* The subset of axTLS's crypto.h API that extmod/modcryptolib.c uses,
 * implemented in ../../../aes.c (FIPS-197 AES-128/256). */
#ifndef H3_AXTLS_CRYPTO_SHIM_H
#define H3_AXTLS_CRYPTO_SHIM_H
#include <stdint.h>

#define AES_BLOCKSIZE 16
#define AES_IV_SIZE 16
typedef enum { AES_MODE_128, AES_MODE_256 } AES_MODE;

typedef struct {
    uint8_t rounds;
    uint8_t dec;                 /* round keys hold the decryption schedule */
    uint8_t ks[15 * 16];         /* expanded key, one 16-byte round key per round */
    uint8_t iv[AES_IV_SIZE];
} AES_CTX;

void AES_set_key(AES_CTX *ctx, const uint8_t *key, const uint8_t *iv, AES_MODE mode);
void AES_convert_key(AES_CTX *ctx);
/* one block as four words holding the big-endian value of each 4 bytes */
void AES_encrypt(const AES_CTX *ctx, uint32_t *data);
void AES_decrypt(const AES_CTX *ctx, uint32_t *data);
void AES_cbc_encrypt(AES_CTX *ctx, const uint8_t *msg, uint8_t *out, int length);
void AES_cbc_decrypt(AES_CTX *ctx, const uint8_t *msg, uint8_t *out, int length);
#endif

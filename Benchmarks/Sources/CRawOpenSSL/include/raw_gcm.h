#ifndef RAW_GCM_H
#define RAW_GCM_H
#include <stddef.h>

/* The physical peer of Custos's Encrypt: OpenSSL AES-256-GCM called directly from C, no Swift in between. */

/* What a careful caller writes for one message: fresh context, key setup, a fresh random 96-bit nonce,
   encrypt, tag, free. Returns 1 on success. */
int raw_gcm_encrypt_oneshot(const unsigned char key[32], const unsigned char *aad, size_t aad_len,
                            const unsigned char *plaintext, size_t len, unsigned char *out, unsigned char tag[16]);

/* `openssl speed` style: one context whose key schedule is kept; per message only a fresh random nonce. */
void *raw_gcm_context_new(const unsigned char key[32]);
int raw_gcm_encrypt_reused(void *context, const unsigned char *aad, size_t aad_len, const unsigned char *plaintext,
                           size_t len, unsigned char *out, unsigned char tag[16]);
void raw_gcm_context_free(void *context);
#endif

/* Ed25519 signing as OpenSSL does it for one message: a digest context per signature over a loaded key. */
void *raw_ed25519_key_new(const unsigned char seed[32]);
int raw_ed25519_sign(void *key, const unsigned char *message, size_t len, unsigned char signature[64]);
void raw_ed25519_key_free(void *key);

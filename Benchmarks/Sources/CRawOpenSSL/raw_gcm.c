#include "raw_gcm.h"
#include <openssl/evp.h>
#include <openssl/rand.h>

static int seal(EVP_CIPHER_CTX *ctx, const unsigned char *key, const unsigned char *aad, size_t aad_len,
                const unsigned char *plaintext, size_t len, unsigned char *out, unsigned char tag[16]) {
  unsigned char nonce[12];
  int n = 0;
  if (RAND_bytes(nonce, sizeof nonce) != 1) return 0;
  if (EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1) return 0;
  if (aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) return 0;
  if (EVP_EncryptUpdate(ctx, out, &n, plaintext, (int)len) != 1) return 0;
  if (EVP_EncryptFinal_ex(ctx, out + n, &n) != 1) return 0;
  return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
}

int raw_gcm_encrypt_oneshot(const unsigned char key[32], const unsigned char *aad, size_t aad_len,
                            const unsigned char *plaintext, size_t len, unsigned char *out, unsigned char tag[16]) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) return 0;
  int ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
           seal(ctx, key, aad, aad_len, plaintext, len, out, tag);
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

void *raw_gcm_context_new(const unsigned char key[32]) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) return NULL;
  if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

int raw_gcm_encrypt_reused(void *context, const unsigned char *aad, size_t aad_len, const unsigned char *plaintext,
                           size_t len, unsigned char *out, unsigned char tag[16]) {
  return seal((EVP_CIPHER_CTX *)context, NULL, aad, aad_len, plaintext, len, out, tag);
}

void raw_gcm_context_free(void *context) { EVP_CIPHER_CTX_free((EVP_CIPHER_CTX *)context); }

void *raw_ed25519_key_new(const unsigned char seed[32]) {
  return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
}

int raw_ed25519_sign(void *key, const unsigned char *message, size_t len, unsigned char signature[64]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  size_t signature_len = 64;
  int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, (EVP_PKEY *)key) == 1 &&
           EVP_DigestSign(ctx, signature, &signature_len, message, len) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

void raw_ed25519_key_free(void *key) { EVP_PKEY_free((EVP_PKEY *)key); }

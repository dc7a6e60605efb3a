#ifndef CCUSTOS_OPENSSL_SHIM_H
#define CCUSTOS_OPENSSL_SHIM_H

/* The low-level SHA256 API is the fastest path for one-shot hashing; keep it visible without warnings. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/hmac.h>

/* OPENSSL_free and OPENSSL_cleanse-adjacent helpers are macros; Swift cannot call macros. */
static inline void ccustos_openssl_free(void *ptr) { OPENSSL_free(ptr); }

/* HKDF through EVP_KDF. The OSSL_PARAM keys are C string macros that must outlive the parameter array,
   which Swift's bridged temporaries do not; building the array here keeps them static. Returns 1 on success. */
static inline int ccustos_hkdf_sha256(const unsigned char *ikm, size_t ikm_len,
                                      const unsigned char *salt, size_t salt_len,
                                      const unsigned char *info, size_t info_len,
                                      unsigned char *out, size_t out_len) {
  EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  if (kdf == NULL) return 0;
  EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == NULL) return 0;
  static const unsigned char empty = 0;
  OSSL_PARAM params[5];
  int n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(ikm_len ? ikm : &empty), ikm_len);
  if (salt_len > 0) params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
  if (info_len > 0) params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
  params[n] = OSSL_PARAM_construct_end();
  int rc = EVP_KDF_derive(ctx, out, out_len, params);
  EVP_KDF_CTX_free(ctx);
  return rc;
}

#endif

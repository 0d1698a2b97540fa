
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target for the token decoder.  The first byte picks a mode:
 * the rest is decoded as a token (as a request would bring it), or is
 * encrypted under a known key and then decoded, so the plaintext parser
 * behind the tag check sees the input too.  A token that decodes must
 * satisfy every rule the endpoints rely on.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mt_token.h"
#include "mt_base64.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_check(mt_rc_t rc, mt_token_t *tok, u_char purpose);
static size_t fuzz_seal(const uint8_t *plain, size_t len, u_char purpose,
    u_char *out);


static mt_keyring_t  *kr;

static const char  keys[] =
    "3 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    "7 H+5oTL0w7nHrQzmhfW1mNf1P6bMc9gV03t34vPFj4xQ=\n";

static const u_char  purposes[] = { 'o', 'c', 'u' };


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        err[128];
    size_t      i, n;
    mt_rc_t     rc;
    mt_token_t  tok;
    u_char      purpose;
    static u_char  plain[MT_TOKEN_MAX_PLAIN];
    static u_char  token[MT_TOKEN_MAX_LEN * 2];

    if (kr == NULL) {
        kr = mt_keyring_create();

        if (mt_keyring_parse(kr, (const u_char *) keys, sizeof(keys) - 1,
                             err, sizeof(err))
            != 0)
        {
            abort();
        }
    }

    if (size == 0) {
        return 0;
    }

    purpose = purposes[data[0] % 3];

    if (data[0] & 0x80) {
        /* the input is the plaintext of an authentic token */

        if (size - 1 > MT_TOKEN_MAX_PLAIN) {
            return 0;
        }

        n = fuzz_seal(data + 1, size - 1, purpose, token);
        rc = mt_token_decode(kr, purpose, token, n, 1800000000, plain, &tok);
        fuzz_check(rc, &tok, purpose);

        return 0;
    }

    for (i = 0; i < sizeof(purposes); i++) {
        rc = mt_token_decode(kr, purposes[i], data + 1, size - 1, 1800000000,
                             plain, &tok);
        fuzz_check(rc, &tok, purposes[i]);
    }

    return 0;
}


static void
fuzz_check(mt_rc_t rc, mt_token_t *tok, u_char purpose)
{
    if (rc >= MT_RC_MAX) {
        abort();
    }

    if (rc != MT_OK) {
        return;
    }

    if (tok->mid.len == 0 || tok->purpose != purpose
        || (tok->expires != 0 && tok->expires <= 1800000000))
    {
        abort();
    }

    if (purpose == 'c' && !mt_url_allowed(tok->url.data, tok->url.len)) {
        abort();
    }
}


/* the AES-256-GCM sealing of mt_token_encode, over arbitrary plaintext */

static size_t
fuzz_seal(const uint8_t *plain, size_t len, u_char purpose, u_char *out)
{
    int              n, m;
    u_char           raw[MT_TOKEN_MAX_RAW + 64], aad[3];
    EVP_CIPHER_CTX  *ctx;

    raw[0] = MT_TOKEN_VERSION;
    raw[1] = 3;
    memset(raw + 2, 0x5a, MT_TOKEN_NONCE_LEN);

    aad[0] = MT_TOKEN_VERSION;
    aad[1] = 3;
    aad[2] = purpose;

    ctx = EVP_CIPHER_CTX_new();

    if (ctx == NULL
        || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, kr->keys[3].key,
                              raw + 2) != 1
        || EVP_EncryptUpdate(ctx, NULL, &n, aad, 3) != 1
        || EVP_EncryptUpdate(ctx, raw + 14, &n, plain, (int) len) != 1
        || EVP_EncryptFinal_ex(ctx, raw + 14 + n, &m) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, raw + 14 + len)
           != 1)
    {
        abort();
    }

    EVP_CIPHER_CTX_free(ctx);

    return mt_base64url_encode(out, raw, 14 + len + 16);
}

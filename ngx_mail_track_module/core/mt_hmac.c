
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * HMAC keys made ready once: OpenSSL's HMAC keeps the key's inner and
 * outer pads in its context, and EVP_MAC_init() without a key starts a
 * new MAC from them.
 */


#include "mt_hmac.h"

#include <stdio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>


struct mt_hmac_s {
    EVP_MAC_CTX        *ctx;
};


mt_hmac_t *
mt_hmac_create(const char *digest, const u_char *key, size_t len)
{
    EVP_MAC     *mac;
    mt_hmac_t   *h;
    OSSL_PARAM   params[2];

    h = calloc(1, sizeof(mt_hmac_t));
    if (h == NULL) {
        return NULL;
    }

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        goto failed;
    }

    h->ctx = EVP_MAC_CTX_new(mac);

    /* the context holds its own reference */
    EVP_MAC_free(mac);

    if (h->ctx == NULL) {
        goto failed;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) digest, 0);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_MAC_init(h->ctx, key, len, params) != 1) {
        goto failed;
    }

    return h;

failed:

    ERR_clear_error();
    mt_hmac_free(h);

    return NULL;
}


void
mt_hmac_free(mt_hmac_t *h)
{
    if (h == NULL) {
        return;
    }

    EVP_MAC_CTX_free(h->ctx);
    free(h);
}


mt_rc_t
mt_hmac_key(const char *digest, const u_char *key, size_t len, void **data,
    char *err, size_t errlen)
{
    *data = mt_hmac_create(digest, key, len);

    if (*data == NULL) {
        snprintf(err, errlen, "cannot make an HMAC-%s key", digest);
        return MT_ERR_INTERNAL;
    }

    return MT_OK;
}


void
mt_hmac_key_free(void *data)
{
    mt_hmac_free(data);
}


size_t
mt_hmac(mt_hmac_t *h, const mt_str_t *parts, size_t n, u_char *md)
{
    size_t  i, len;

    if (EVP_MAC_init(h->ctx, NULL, 0, NULL) != 1) {
        goto failed;
    }

    for (i = 0; i < n; i++) {
        if (parts[i].len
            && EVP_MAC_update(h->ctx, parts[i].data, parts[i].len) != 1)
        {
            goto failed;
        }
    }

    if (EVP_MAC_final(h->ctx, md, &len, EVP_MAX_MD_SIZE) != 1) {
        goto failed;
    }

    return len;

failed:

    ERR_clear_error();

    return 0;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * SNS signing certificates: parsed, chained to the configured CA store,
 * their RSA key taken; the issuer a leaf names, and the leaf with its
 * issuer as one PEM.
 */


#include "mt_webhook.h"

#include <stdio.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>


#define MT_SNS_PEM_MAX          65536
#define MT_SNS_CHAIN_MAX        8
#define MT_SNS_RSA_MIN_BITS     2048


/*
 * The certificate must chain to the store (the leaf first, then any
 * intermediates the PEM carries) and hold an RSA key of 2048 bits or
 * more.
 */

void *
mt_sns_cert_load(const u_char *pem, size_t len, void *store, int64_t now,
    char *err, size_t errlen)
{
    int               n, vrc;
    BIO              *bio;
    X509             *cert, *extra;
    EVP_PKEY         *pkey;
    X509_STORE_CTX   *ctx;
    STACK_OF(X509)   *chain;

    pkey = NULL;
    cert = NULL;
    chain = NULL;
    ctx = NULL;
    bio = NULL;

    if (store == NULL) {
        snprintf(err, errlen, "no trusted CA store");
        return NULL;
    }

    if (pem == NULL || len == 0 || len > MT_SNS_PEM_MAX) {
        snprintf(err, errlen, "certificate empty or larger than %d bytes",
                 MT_SNS_PEM_MAX);
        return NULL;
    }

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (cert == NULL) {
        snprintf(err, errlen, "cannot parse the PEM certificate");
        goto done;
    }

    chain = sk_X509_new_null();
    if (chain == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    for (n = 0; n < MT_SNS_CHAIN_MAX; n++) {
        extra = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (extra == NULL) {
            break;
        }

        if (!sk_X509_push(chain, extra)) {
            X509_free(extra);
            snprintf(err, errlen, "out of memory");
            goto done;
        }
    }

    ctx = X509_STORE_CTX_new();
    if (ctx == NULL
        || X509_STORE_CTX_init(ctx, store, cert, chain) != 1)
    {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    if (now > 0) {
        /* sets X509_V_FLAG_USE_CHECK_TIME */
        X509_STORE_CTX_set_time(ctx, 0, (time_t) now);
    }

    /*
     * SNS serves the leaf alone, issued by an Amazon intermediate that
     * system stores lack: a store may hold that intermediate (or the
     * leaf itself) as the anchor, without the root.
     */
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);

    if (X509_verify_cert(ctx) != 1) {
        vrc = X509_STORE_CTX_get_error(ctx);
        snprintf(err, errlen, "certificate does not chain to a trusted CA: "
                 "%s", X509_verify_cert_error_string(vrc));
        goto done;
    }

    pkey = X509_get_pubkey(cert);

    if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "certificate key is not RSA");
        EVP_PKEY_free(pkey);
        pkey = NULL;
        goto done;
    }

    if (EVP_PKEY_get_bits(pkey) < MT_SNS_RSA_MIN_BITS) {
        snprintf(err, errlen, "certificate RSA key shorter than %d bits",
                 MT_SNS_RSA_MIN_BITS);
        EVP_PKEY_free(pkey);
        pkey = NULL;
        goto done;
    }

done:

    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(chain, X509_free);
    X509_free(cert);
    BIO_free(bio);

    /* the end of the PEM and any failure leave errors queued */
    ERR_clear_error();

    return pkey;
}


void
mt_sns_key_free(void *pkey)
{
    EVP_PKEY_free(pkey);
}


/*
 * SNS serves its signing certificate without the intermediate that
 * issued it, and system stores hold roots only: the leaf's Authority
 * Information Access names where the intermediate is published.
 */

int
mt_sns_issuer_url(const u_char *pem, size_t len, mt_alloc_t *a,
    mt_str_t *url)
{
    int                     i, rc;
    BIO                    *bio;
    X509                   *cert;
    ACCESS_DESCRIPTION     *ad;
    AUTHORITY_INFO_ACCESS  *aia;
    const unsigned char    *data;

    rc = -1;
    aia = NULL;
    cert = NULL;

    bio = BIO_new_mem_buf(pem, (int) mt_min(len, MT_SNS_PEM_MAX));
    if (bio == NULL) {
        goto done;
    }

    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (cert == NULL) {
        goto done;
    }

    aia = X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
    if (aia == NULL) {
        goto done;
    }

    for (i = 0; i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
        ad = sk_ACCESS_DESCRIPTION_value(aia, i);

        if (OBJ_obj2nid(ad->method) != NID_ad_ca_issuers
            || ad->location->type != GEN_URI)
        {
            continue;
        }

        data = ASN1_STRING_get0_data(ad->location->d.uniformResourceIdentifier);
        len = ASN1_STRING_length(ad->location->d.uniformResourceIdentifier);

        if (!mt_sns_issuer_url_valid(data, len)) {
            continue;
        }

        if (mt_strdup(a, url, data, len) != NULL) {
            rc = 0;
        }

        break;
    }

done:

    AUTHORITY_INFO_ACCESS_free(aia);
    X509_free(cert);
    BIO_free(bio);
    ERR_clear_error();

    return rc;
}


/* the leaf's PEM followed by the issuer (fetched as DER or PEM) as PEM */

u_char *
mt_sns_pem_append(mt_alloc_t *a, const u_char *pem, size_t len,
    const u_char *issuer, size_t ilen, size_t *out)
{
    BIO                  *bio, *mem;
    X509                 *cert;
    u_char               *p;
    char                 *data;
    long                  n;
    const unsigned char  *d;

    p = NULL;
    cert = NULL;
    mem = NULL;

    if (ilen > 27 && memcmp(issuer, "-----BEGIN CERTIFICATE-----", 27) == 0)
    {
        bio = BIO_new_mem_buf(issuer, (int) mt_min(ilen, MT_SNS_PEM_MAX));
        if (bio != NULL) {
            cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
            BIO_free(bio);
        }

    } else {
        d = issuer;
        cert = d2i_X509(NULL, &d, (long) mt_min(ilen, MT_SNS_PEM_MAX));
    }

    if (cert == NULL) {
        goto done;
    }

    mem = BIO_new(BIO_s_mem());
    if (mem == NULL || PEM_write_bio_X509(mem, cert) != 1) {
        goto done;
    }

    n = BIO_get_mem_data(mem, &data);

    p = mt_alloc(a, len + 1 + n);
    if (p == NULL) {
        goto done;
    }

    memcpy(p, pem, len);
    p[len] = '\n';
    memcpy(p + len + 1, data, n);
    *out = len + 1 + n;

done:

    BIO_free(mem);
    X509_free(cert);
    ERR_clear_error();

    return p;
}


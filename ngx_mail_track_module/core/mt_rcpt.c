
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#include "mt_rcpt.h"
#include "mt_base64.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>


static int mt_rcpt_space(u_char c);


static int
mt_rcpt_space(u_char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


size_t
mt_rcpt_normalize(u_char *dst, const u_char *src, size_t len)
{
    size_t         i, n;
    const u_char  *p, *end, *lt;

    p = src;
    end = src + len;

    while (p < end && mt_rcpt_space(*p)) {
        p++;
    }

    while (end > p && mt_rcpt_space(end[-1])) {
        end--;
    }

    /* "Name <addr>": the address in the last angle brackets */

    if (end > p && end[-1] == '>') {
        for (lt = end - 1; lt > p && lt[-1] != '<'; lt--) {
            /* void */
        }

        if (lt > p) {
            p = lt;
            end--;

            while (p < end && mt_rcpt_space(*p)) {
                p++;
            }

            while (end > p && mt_rcpt_space(end[-1])) {
                end--;
            }
        }
    }

    n = end - p;

    for (i = 0; i < n; i++) {
        dst[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (u_char) (p[i] | 0x20) : p[i];
    }

    return n;
}


void
mt_rcpt_domain(const u_char *addr, size_t len, mt_str_t *domain)
{
    const u_char  *at;

    at = NULL;

    if (len) {
        at = memrchr(addr, '@', len);
    }

    if (at == NULL) {
        domain->len = 0;
        domain->data = (u_char *) addr + len;
        return;
    }

    domain->data = (u_char *) at + 1;
    domain->len = addr + len - (at + 1);
}


int
mt_rcpt_is_address(const u_char *addr, size_t len)
{
    size_t         i;
    const u_char  *at;

    if (len == 0 || len > MT_RCPT_ADDR_MAX || !mt_utf8_valid(addr, len)) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (addr[i] <= 0x20 || addr[i] == 0x7f) {
            return 0;
        }
    }

    at = memrchr(addr, '@', len);

    /* "local@domain.tld" or "local@[192.0.2.1]" */

    if (at == NULL || at == addr || at == addr + len - 1) {
        return 0;
    }

    at++;

    if (*at == '[') {
        return addr[len - 1] == ']';
    }

    return memchr(at, '.', addr + len - at) != NULL
           && at[0] != '.' && addr[len - 1] != '.';
}


int
mt_rcpt_is_hash(const u_char *p, size_t len)
{
    size_t  i;

    if (len != MT_RCPT_HASH_HEX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


int
mt_rcpt_key_parse(const u_char *text, size_t len, u_char *key)
{
    int            lines, rc;
    u_char         raw[mt_base64_decoded_len(64)];
    ssize_t        n;
    const u_char  *p, *q, *end, *eol;

    lines = 0;
    rc = -1;

    for (p = text, end = text + len; p < end; p = eol + 1) {
        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            eol = end;
        }

        for (q = eol; q > p && (q[-1] == ' ' || q[-1] == '\t'
                                 || q[-1] == '\r'); q--)
        {
            /* void */
        }

        while (p < q && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == q || *p == '#') {
            continue;
        }

        if (lines++ == 0 && q - p <= 64) {
            n = mt_base64_decode(raw, p, q - p);

            if (n == MT_RCPT_KEY_LEN) {
                memcpy(key, raw, MT_RCPT_KEY_LEN);
                rc = 0;
            }
        }
    }

    OPENSSL_cleanse(raw, sizeof(raw));

    return (lines == 1) ? rc : -1;
}


int
mt_rcpt_hasher_init(mt_rcpt_hasher_t *h, const u_char *key, size_t keylen)
{
    EVP_MAC       *mac;
    EVP_MAC_CTX   *ctx;
    OSSL_PARAM     params[2];

    h->mac = NULL;

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        return -1;
    }

    ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);

    if (ctx == NULL) {
        return -1;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_MAC_init(ctx, key, keylen, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return -1;
    }

    h->mac = ctx;

    return 0;
}


void
mt_rcpt_hasher_free(mt_rcpt_hasher_t *h)
{
    EVP_MAC_CTX_free(h->mac);
    h->mac = NULL;
}


/* the one computation of a hashed recipient */

int
mt_rcpt_hasher_hash(mt_rcpt_hasher_t *h, const u_char *addr, size_t len,
    u_char *hex)
{
    u_char  md[EVP_MAX_MD_SIZE];
    u_char  norm[MT_RCPT_NORM_MAX];
    size_t  n, mdlen;

    if (len > sizeof(norm)) {
        return -1;
    }

    n = mt_rcpt_normalize(norm, addr, len);

    /* the key set at init is used again */

    if (EVP_MAC_init(h->mac, NULL, 0, NULL) != 1
        || EVP_MAC_update(h->mac, norm, n) != 1
        || EVP_MAC_final(h->mac, md, &mdlen, sizeof(md)) != 1
        || mdlen * 2 != MT_RCPT_HASH_HEX)
    {
        return -1;
    }

    hex[mt_hex_encode(hex, md, mdlen)] = '\0';

    return 0;
}


int
mt_rcpt_hash(const u_char *key, size_t keylen, const u_char *addr,
    size_t len, u_char *hex)
{
    int               rc;
    mt_rcpt_hasher_t  h;

    if (mt_rcpt_hasher_init(&h, key, keylen) != 0) {
        return -1;
    }

    rc = mt_rcpt_hasher_hash(&h, addr, len, hex);

    mt_rcpt_hasher_free(&h);

    return rc;
}

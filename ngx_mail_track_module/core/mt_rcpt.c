
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#include "mt_rcpt.h"
#include "mt_base64.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>


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
mt_rcpt_hash(const u_char *key, size_t keylen, const u_char *addr,
    size_t len, u_char *hex)
{
    u_char    md[EVP_MAX_MD_SIZE];
    unsigned  mdlen;

    if (HMAC(EVP_sha256(), key, (int) keylen, addr, len, md, &mdlen) == NULL
        || mdlen * 2 != MT_RCPT_HASH_HEX)
    {
        return -1;
    }

    hex[mt_hex_encode(hex, md, mdlen)] = '\0';

    return 0;
}

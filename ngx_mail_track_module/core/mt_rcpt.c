
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#include "mt_rcpt.h"


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


/*
 * Copyright (C) ngx_mail_track_module authors
 */


#include "mt_privacy.h"
#include "mt_classify.h"

#include <arpa/inet.h>


static void mt_privacy_reason(mt_event_t *ev, mt_privacy_buf_t *b);
static const u_char *mt_privacy_find(const u_char *hay, size_t len,
    const u_char *needle, size_t n);


mt_rc_t
mt_privacy_apply(const mt_privacy_t *p, mt_event_t *ev, mt_privacy_buf_t *b)
{
    size_t  n;

    if (p->rcpt != MT_PRIV_FULL && ev->rcpt.len) {
        b->rcpt[0] = '\0';

        if (p->rcpt == MT_PRIV_HASH
            && mt_rcpt_hasher_hash(p->hasher, ev->rcpt.data, ev->rcpt.len,
                                   b->rcpt)
               != 0
            && ev->rcpt.len <= MT_RCPT_NORM_MAX)
        {
            return MT_ERR_INTERNAL;
        }

        /* bounce texts quote the address: it goes too */

        mt_privacy_reason(ev, b);

        /* hashed, or left out (off, or too long to be an address) */

        ev->rcpt.data = b->rcpt;
        ev->rcpt.len = b->rcpt[0] ? MT_RCPT_HASH_HEX : 0;
    }

    if (p->ua != MT_PRIV_FULL && ev->ua.len) {
        if (p->ua == MT_PRIV_OFF) {
            ev->ua.len = 0;

        } else if (ev->why.len) {
            /* the classifier's verdict: apple_mpp, google_image_proxy */
            ev->ua = ev->why;

        } else {
            ev->ua.data = (u_char *) mt_ua_family(ev->ua.data, ev->ua.len);
            ev->ua.len = strlen((char *) ev->ua.data);
        }
    }

    if (p->url != MT_PRIV_FULL && ev->url.len) {
        n = (p->url == MT_PRIV_HOST)
            ? mt_privacy_url_host(b->url, sizeof(b->url), ev->url.data,
                                  ev->url.len)
            : 0;

        ev->url.data = b->url;
        ev->url.len = n;
    }

    /* the own endpoints' address is cut from the socket address already */

    if (p->ip != MT_PRIV_FULL && ev->ip.len && ev->src != MT_SRC_TRACK) {
        n = (p->ip == MT_PRIV_TRUNCATE)
            ? mt_privacy_ip_truncate(b->ip, sizeof(b->ip), ev->ip.data,
                                     ev->ip.len)
            : 0;

        ev->ip.data = b->ip;
        ev->ip.len = n;
    }

    return MT_OK;
}


/*
 * The reason with each mention of the recipient (any case) replaced:
 * by its hash (b->rcpt), or by MT_PRIV_RCPT_GONE.
 */

static void
mt_privacy_reason(mt_event_t *ev, mt_privacy_buf_t *b)
{
    u_char        *d, *end;
    size_t         n, rlen;
    const u_char  *s, *last, *hit, *with;
    u_char         addr[MT_RCPT_NORM_MAX];

    if (ev->reason.len == 0 || ev->rcpt.len > sizeof(addr)) {
        return;
    }

    n = mt_rcpt_normalize(addr, ev->rcpt.data, ev->rcpt.len);

    if (n < 3 || memchr(addr, '@', n) == NULL) {
        return;
    }

    s = ev->reason.data;
    last = s + ev->reason.len;

    hit = mt_privacy_find(s, last - s, addr, n);
    if (hit == NULL) {
        return;
    }

    if (b->rcpt[0]) {
        with = b->rcpt;
        rlen = MT_RCPT_HASH_HEX;

    } else {
        with = (u_char *) MT_PRIV_RCPT_GONE;
        rlen = sizeof(MT_PRIV_RCPT_GONE) - 1;
    }

    d = b->reason;
    end = b->reason + sizeof(b->reason);

    while (hit != NULL) {
        if ((size_t) (end - d) < (size_t) (hit - s) + rlen) {
            break;
        }

        memcpy(d, s, hit - s);
        d += hit - s;
        memcpy(d, with, rlen);
        d += rlen;

        s = hit + n;
        hit = mt_privacy_find(s, last - s, addr, n);
    }

    if (hit == NULL) {
        n = mt_min((size_t) (last - s), (size_t) (end - d));
        memcpy(d, s, n);
        d += n;
    }

    ev->reason.data = b->reason;
    ev->reason.len = d - b->reason;
}


/* needle is lowercase already */

static const u_char *
mt_privacy_find(const u_char *hay, size_t len, const u_char *needle,
    size_t n)
{
    size_t  i, j;
    u_char  c;

    if (n == 0 || len < n) {
        return NULL;
    }

    for (i = 0; i <= len - n; i++) {
        for (j = 0; j < n; j++) {
            c = hay[i + j];

            if (c >= 'A' && c <= 'Z') {
                c |= 0x20;
            }

            if (c != needle[j]) {
                break;
            }
        }

        if (j == n) {
            return hay + i;
        }
    }

    return NULL;
}


/*
 * "scheme://host[:port]" of an absolute URL: no user information, path,
 * query or fragment.  0 (nothing kept) for anything else.
 */

size_t
mt_privacy_url_host(u_char *dst, size_t size, const u_char *url, size_t len)
{
    size_t         n;
    const u_char  *p, *end, *host, *at;

    end = url + len;

    p = memmem(url, len, "://", 3);
    if (p == NULL || p == url) {
        return 0;
    }

    n = p + 3 - url;
    host = p + 3;

    for (p = host; p < end && *p != '/' && *p != '?' && *p != '#'; p++) {
        /* void */
    }

    /* user information, a password even: the last '@' ends it */

    at = memrchr(host, '@', p - host);

    if (at != NULL) {
        host = at + 1;
    }

    if (host == p) {
        return 0;
    }

    if (n + (size_t) (p - host) > size) {
        return 0;
    }

    memcpy(dst, url, n);
    memcpy(dst + n, host, p - host);

    return n + (p - host);
}


/*
 * The /24 of an IPv4 address, the /48 of an IPv6 one, as mail_track_ip
 * truncate does for the own endpoints.  0 for anything unparseable.
 */

size_t
mt_privacy_ip_truncate(u_char *dst, size_t size, const u_char *ip,
    size_t len)
{
    u_char  text[INET6_ADDRSTRLEN + 1];
    u_char  addr[16];

    if (len >= sizeof(text) || size < INET6_ADDRSTRLEN) {
        return 0;
    }

    memcpy(text, ip, len);
    text[len] = '\0';

    if (inet_pton(AF_INET, (char *) text, addr) == 1) {
        addr[3] = 0;

        if (inet_ntop(AF_INET, addr, (char *) dst, size) == NULL) {
            return 0;
        }

    } else if (inet_pton(AF_INET6, (char *) text, addr) == 1) {
        memset(addr + 6, 0, 10);

        if (inet_ntop(AF_INET6, addr, (char *) dst, size) == NULL) {
            return 0;
        }

    } else {
        return 0;
    }

    return strlen((char *) dst);
}

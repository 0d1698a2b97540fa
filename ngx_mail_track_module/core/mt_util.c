
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#include "mt_core.h"

#include <openssl/crypto.h>


typedef struct {
    const char  *name;
    const char  *text;
} mt_rc_desc_t;


static const mt_rc_desc_t  mt_rc_desc[MT_RC_MAX] = {
    { "accepted", "accepted" },
    { "ignored", "nothing to record" },
    { "need_cert", "signing certificate not available" },

    { "token_empty", "empty token" },
    { "token_length", "token too long" },
    { "token_encoding", "token is not base64url" },
    { "token_version", "unknown token version" },
    { "token_key", "unknown token key id" },
    { "token_truncated", "truncated token" },
    { "token_tampered", "token fails authentication" },
    { "token_purpose", "token minted for another purpose" },
    { "token_expired", "expired token" },
    { "token_payload", "bad token payload" },
    { "token_url", "token url is not http(s)" },

    { "auth_missing", "credential missing" },
    { "auth_failed", "credential does not match" },
    { "signature_missing", "signature or its headers missing" },
    { "bad_signature", "signature does not verify" },
    { "stale", "timestamp too old" },
    { "future", "timestamp in the future" },
    { "replay", "replayed request" },
    { "topic", "topic not allowed" },
    { "cert_url", "signing certificate url not allowed" },
    { "cert", "signing certificate not trusted" },
    { "confirm", "subscription confirmation failed" },
    { "method", "method not allowed" },
    { "content_type", "unexpected content type" },
    { "empty_body", "empty body" },
    { "bad_json", "malformed json" },
    { "bad_payload", "unexpected payload" },
    { "too_many", "too many events" },
    { "too_large", "body larger than client_max_body_size" },
    { "nomem", "out of memory" },
    { "zone_full", "zone full" },
    { "spool", "spool unavailable" },
    { "internal", "internal error" }
};


const char *
mt_rc_name(mt_rc_t rc)
{
    if ((unsigned) rc >= MT_RC_MAX) {
        return "internal";
    }

    return mt_rc_desc[rc].name;
}


const char *
mt_rc_text(mt_rc_t rc)
{
    if ((unsigned) rc >= MT_RC_MAX) {
        return "internal error";
    }

    return mt_rc_desc[rc].text;
}


void *
mt_alloc(mt_alloc_t *a, size_t size)
{
    return a->alloc(a->data, size);
}


u_char *
mt_strdup(mt_alloc_t *a, mt_str_t *dst, const u_char *src, size_t len)
{
    u_char  *p;

    p = a->alloc(a->data, len + 1);
    if (p == NULL) {
        return NULL;
    }

    if (len) {
        memcpy(p, src, len);
    }

    p[len] = '\0';

    dst->len = len;
    dst->data = p;

    return p;
}


int
mt_memeq_ct(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}


int
mt_str_eq(mt_str_t *s, const char *lit)
{
    size_t  n;

    n = strlen(lit);

    return s->len == n && memcmp(s->data, lit, n) == 0;
}


int
mt_str_eq_nocase(mt_str_t *s, const char *lit)
{
    size_t  n;

    n = strlen(lit);

    return s->len == n && strncasecmp((char *) s->data, lit, n) == 0;
}


int
mt_str_has_prefix_nocase(mt_str_t *s, const char *lit)
{
    size_t  n;

    n = strlen(lit);

    return s->len >= n && strncasecmp((char *) s->data, lit, n) == 0;
}


/* a non-negative decimal, or -1 */

int64_t
mt_atoi64(const u_char *p, size_t len)
{
    int64_t  v;

    if (len == 0 || len > 18) {
        return -1;
    }

    for (v = 0; len; len--, p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        v = v * 10 + (*p - '0');
    }

    return v;
}


/* "90", "90s", "5m", "2h", "30d", "1w": seconds, or -1 */

int64_t
mt_parse_duration(const u_char *p, size_t len)
{
    int64_t  v, mul;

    if (len == 0) {
        return -1;
    }

    mul = 1;

    switch (p[len - 1]) {
    case 's': mul = 1; len--; break;
    case 'm': mul = 60; len--; break;
    case 'h': mul = 3600; len--; break;
    case 'd': mul = 86400; len--; break;
    case 'w': mul = 7 * 86400; len--; break;
    case 'y': mul = 365 * 86400; len--; break;
    default: break;
    }

    v = mt_atoi64(p, len);
    if (v < 0 || v > INT64_MAX / mul / 1000) {
        return -1;
    }

    return v * mul;
}


/* the length of the valid UTF-8 sequence at p, or 0 */

static size_t
mt_utf8_seq(const u_char *p, size_t len)
{
    u_char  c;

    c = p[0];

    if (c < 0x80) {
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        return (len >= 2 && (p[1] & 0xc0) == 0x80) ? 2 : 0;
    }

    if (c >= 0xe0 && c <= 0xef) {
        if (len < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80) {
            return 0;
        }

        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f)) {
            return 0;
        }

        return 3;
    }

    if (c >= 0xf0 && c <= 0xf4) {
        if (len < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80
            || (p[3] & 0xc0) != 0x80)
        {
            return 0;
        }

        if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f)) {
            return 0;
        }

        return 4;
    }

    return 0;
}


int
mt_utf8_valid(const u_char *p, size_t len)
{
    size_t    n;
    uint64_t  w;

    while (len) {

        /* bodies are mostly ASCII: eight bytes at a time */

        while (len >= 8) {
            memcpy(&w, p, 8);

            if (w & 0x8080808080808080ULL) {
                break;
            }

            p += 8;
            len -= 8;
        }

        if (len == 0) {
            break;
        }

        if (*p < 0x80) {
            p++;
            len--;
            continue;
        }

        n = mt_utf8_seq(p, len);
        if (n == 0) {
            return 0;
        }

        p += n;
        len -= n;
    }

    return 1;
}


/*
 * Copies src replacing every byte that starts no valid sequence with
 * U+FFFD; dst must hold 3 * len bytes.
 */

size_t
mt_utf8_repair(u_char *dst, const u_char *src, size_t len)
{
    size_t   n;
    u_char  *d;

    d = dst;

    while (len) {
        n = mt_utf8_seq(src, len);

        if (n == 0) {
            *d++ = 0xef;
            *d++ = 0xbf;
            *d++ = 0xbd;
            src++;
            len--;
            continue;
        }

        memcpy(d, src, n);
        d += n;
        src += n;
        len -= n;
    }

    return d - dst;
}


/* the longest prefix of at most cap bytes that does not split a char */

size_t
mt_utf8_cut(const u_char *p, size_t len, size_t cap)
{
    size_t  n;

    if (len <= cap) {
        return len;
    }

    /* a character is at most 4 bytes: invalid input is cut where it is */

    for (n = cap; n && cap - n < 3 && (p[n] & 0xc0) == 0x80; n--) {
        /* void */
    }

    return ((p[n] & 0xc0) == 0x80) ? cap : n;
}


/*
 * A JSON string with its quotes; a byte that starts no valid UTF-8
 * sequence becomes U+FFFD, so the output is always valid JSON.  dst
 * must hold 6 * len + 2 bytes.
 */

u_char *
mt_json_quote(u_char *dst, const u_char *p, size_t len)
{
    size_t               n;
    u_char               c;
    static const u_char  hex[] = "0123456789abcdef";

    *dst++ = '"';

    while (len) {
        c = *p;

        if (c >= 0x80) {
            n = mt_utf8_seq(p, len);

            if (n == 0) {
                *dst++ = 0xef;
                *dst++ = 0xbf;
                *dst++ = 0xbd;
                n = 1;

            } else {
                memcpy(dst, p, n);
                dst += n;
            }

            p += n;
            len -= n;
            continue;
        }

        p++;
        len--;

        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
            *dst++ = c;
            continue;
        }

        *dst++ = '\\';

        switch (c) {
        case '"':  *dst++ = '"'; break;
        case '\\': *dst++ = '\\'; break;
        case '\n': *dst++ = 'n'; break;
        case '\r': *dst++ = 'r'; break;
        case '\t': *dst++ = 't'; break;
        case '\b': *dst++ = 'b'; break;
        case '\f': *dst++ = 'f'; break;
        default:
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];
        }
    }

    *dst++ = '"';

    return dst;
}


/*
 * Decodes %XX escapes, strictly: a "%" not followed by two hex digits is
 * an error (-1), not a literal.  "+" stays "+" (a path, not a form).
 * dst may be src.
 */

ssize_t
mt_percent_decode(u_char *dst, const u_char *src, size_t len)
{
    int            hi, lo;
    u_char        *d;
    const u_char  *end;

    d = dst;

    for (end = src + len; src < end; src++) {

        if (*src != '%') {
            *d++ = *src;
            continue;
        }

        if (end - src < 3) {
            return -1;
        }

        hi = mt_hex_digit(src[1]);
        lo = mt_hex_digit(src[2]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        *d++ = (u_char) (hi << 4 | lo);
        src += 2;
    }

    return d - dst;
}


/* the value of a hex digit, either case, or -1 */

int
mt_hex_digit(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static uint64_t
mt_fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;

    return k;
}


/*
 * A fast 128-bit hash for table keys (dedupe ids, message ids): the
 * inputs are authenticated, so speed matters more than resistance to
 * crafted collisions; ns separates the key spaces.
 */

void
mt_hash128(const char *ns, const u_char *p, size_t len, u_char *out)
{
    mt_hash128_seeded(mt_hash128_seed(ns), p, len, out);
}


/* what ns makes of the hash, for callers that hash often in one space */

uint64_t
mt_hash128_seed(const char *ns)
{
    uint64_t  h2;

    h2 = 0x6a09e667f3bcc909ULL;

    for ( /* void */ ; *ns; ns++) {
        h2 = (h2 ^ (u_char) *ns) * 0x100000001b3ULL;
    }

    return h2;
}


void
mt_hash128_seeded(uint64_t seed, const u_char *p, size_t len, u_char *out)
{
    size_t    n;
    uint32_t  a, b;
    uint64_t  h1, h2, w;

    h1 = 0x9e3779b97f4a7c15ULL ^ len;
    h2 = seed;

    for (n = len; n >= 8; n -= 8, p += 8) {
        memcpy(&w, p, 8);

        h1 = mt_fmix64(h1 ^ w);
        h2 = (h2 ^ w) * 0x87c37b91114253d5ULL;
        h2 = (h2 << 31 | h2 >> 33) + h1;
    }

    /* the last n < 8 bytes as memcpy() into a zero word puts them */

#if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

    if (n >= 4) {
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        w = a | (uint64_t) b << (8 * (n - 4));

    } else if (n) {
        w = p[0] | (uint64_t) p[n / 2] << (8 * (n / 2))
            | (uint64_t) p[n - 1] << (8 * (n - 1));

    } else {
        w = 0;
    }

#else

    w = 0;
    memcpy(&w, p, n);

#endif

    h1 = mt_fmix64(h1 ^ w ^ (uint64_t) n << 56);
    h2 = mt_fmix64((h2 ^ w) * 0x4cf5ad432745937fULL + h1);
    h1 += h2;

    memcpy(out, &h1, 8);
    memcpy(out + 8, &h2, 8);
}


u_char *
mt_sprint_u64(u_char *p, uint64_t v)
{
    size_t  n;
    u_char  tmp[MT_INT64_LEN];

    n = sizeof(tmp);

    do {
        tmp[--n] = (u_char) ('0' + v % 10);
        v /= 10;
    } while (v);

    memcpy(p, tmp + n, sizeof(tmp) - n);

    return p + sizeof(tmp) - n;
}


u_char *
mt_sprint_i64(u_char *p, int64_t v)
{
    if (v >= 0) {
        return mt_sprint_u64(p, (uint64_t) v);
    }

    *p++ = '-';

    /* -INT64_MIN does not fit: negate in unsigned arithmetic */

    return mt_sprint_u64(p, 0 - (uint64_t) v);
}

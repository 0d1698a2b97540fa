
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#include "mt_base64.h"


static size_t mt_base64_encode_internal(u_char *dst, const u_char *src,
    size_t len, const char *alphabet, int pad);
static ssize_t mt_base64_decode_internal(u_char *dst, const u_char *src,
    size_t len, const u_char *table);


static const char  mt_b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char  mt_b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


/* 0..63, or 77 for a byte outside the alphabet */
static const u_char  mt_b64_std_dec[256] = {
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 62, 77, 77, 77, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 77, 77, 77, 77, 77, 77,
    77,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 77, 77, 77, 77, 77,
    77, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77
};

static const u_char  mt_b64_url_dec[256] = {
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 62, 77, 77,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 77, 77, 77, 77, 77, 77,
    77,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 77, 77, 77, 77, 63,
    77, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77
};


size_t
mt_base64_encode(u_char *dst, const u_char *src, size_t len)
{
    return mt_base64_encode_internal(dst, src, len, mt_b64_std, 1);
}


size_t
mt_base64url_encode(u_char *dst, const u_char *src, size_t len)
{
    return mt_base64_encode_internal(dst, src, len, mt_b64_url, 0);
}


static size_t
mt_base64_encode_internal(u_char *dst, const u_char *src, size_t len,
    const char *alphabet, int pad)
{
    u_char  *d;

    d = dst;

    while (len > 2) {
        *d++ = alphabet[(src[0] >> 2) & 0x3f];
        *d++ = alphabet[((src[0] & 3) << 4) | (src[1] >> 4)];
        *d++ = alphabet[((src[1] & 0x0f) << 2) | (src[2] >> 6)];
        *d++ = alphabet[src[2] & 0x3f];

        src += 3;
        len -= 3;
    }

    if (len) {
        *d++ = alphabet[(src[0] >> 2) & 0x3f];

        if (len == 1) {
            *d++ = alphabet[(src[0] & 3) << 4];
            if (pad) {
                *d++ = '=';
            }

        } else {
            *d++ = alphabet[((src[0] & 3) << 4) | (src[1] >> 4)];
            *d++ = alphabet[(src[1] & 0x0f) << 2];
        }

        if (pad) {
            *d++ = '=';
        }
    }

    return d - dst;
}


ssize_t
mt_base64_decode(u_char *dst, const u_char *src, size_t len)
{
    return mt_base64_decode_internal(dst, src, len, mt_b64_std_dec);
}


ssize_t
mt_base64url_decode(u_char *dst, const u_char *src, size_t len)
{
    return mt_base64_decode_internal(dst, src, len, mt_b64_url_dec);
}


static ssize_t
mt_base64_decode_internal(u_char *dst, const u_char *src, size_t len,
    const u_char *table)
{
    size_t   n, i;
    u_char  *d;
    u_char   a, b, c, e;

    /* padding is optional, but when present it must be complete */

    if (len && src[len - 1] == '=') {
        if (len % 4) {
            return -1;
        }

        len--;

        if (len && src[len - 1] == '=') {
            len--;
        }
    }

    if (len % 4 == 1) {
        return -1;
    }

    d = dst;

    /* one pass: 77 marks a byte outside the alphabet, and 77 has bit 6 */

    for (i = 0; i + 4 <= len; i += 4) {
        a = table[src[i]];
        b = table[src[i + 1]];
        c = table[src[i + 2]];
        e = table[src[i + 3]];

        if ((a | b | c | e) & 0x40) {
            return -1;
        }

        *d++ = (u_char) (a << 2 | b >> 4);
        *d++ = (u_char) (b << 4 | c >> 2);
        *d++ = (u_char) (c << 6 | e);
    }

    n = len - i;

    for (len = i; len < i + n; len++) {
        if (table[src[len]] & 0x40) {
            return -1;
        }
    }

    /*
     * the bits past the last byte must be zero: otherwise two spellings
     * decode to the same bytes, and a flipped character would go unseen
     */

    if (n == 2) {
        if (table[src[i + 1]] & 0x0f) {
            return -1;
        }

        *d++ = (u_char) (table[src[i]] << 2 | table[src[i + 1]] >> 4);

    } else if (n == 3) {
        if (table[src[i + 2]] & 0x03) {
            return -1;
        }

        *d++ = (u_char) (table[src[i]] << 2 | table[src[i + 1]] >> 4);
        *d++ = (u_char) (table[src[i + 1]] << 4 | table[src[i + 2]] >> 2);
    }

    return d - dst;
}


#define mt_hex_row(h)                                                        \
    h "0", h "1", h "2", h "3", h "4", h "5", h "6", h "7",                  \
    h "8", h "9", h "a", h "b", h "c", h "d", h "e", h "f"

const char  mt_hex_pairs[256][2] = {
    mt_hex_row("0"), mt_hex_row("1"), mt_hex_row("2"), mt_hex_row("3"),
    mt_hex_row("4"), mt_hex_row("5"), mt_hex_row("6"), mt_hex_row("7"),
    mt_hex_row("8"), mt_hex_row("9"), mt_hex_row("a"), mt_hex_row("b"),
    mt_hex_row("c"), mt_hex_row("d"), mt_hex_row("e"), mt_hex_row("f")
};


size_t
mt_hex_encode(u_char *dst, const u_char *src, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        memcpy(dst + 2 * i, mt_hex_pairs[src[i]], 2);
    }

    return len * 2;
}


ssize_t
mt_hex_decode(u_char *dst, const u_char *src, size_t len)
{
    int     hi, lo;
    size_t  i;

    if (len % 2) {
        return -1;
    }

    for (i = 0; i < len; i += 2) {
        hi = mt_hex_digit(src[i]);
        lo = mt_hex_digit(src[i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        *dst++ = (u_char) (hi << 4 | lo);
    }

    return len / 2;
}
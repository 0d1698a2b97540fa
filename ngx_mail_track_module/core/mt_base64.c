
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#include "mt_base64.h"
#include "mt_cpu.h"

#if (MT_HAVE_AVX2)
#include <immintrin.h>
#endif


static size_t mt_base64_encode_internal(u_char *dst, const u_char *src,
    size_t len, const char *alphabet, int pad);
static ssize_t mt_base64_decode_internal(u_char *dst, const u_char *src,
    size_t len, const u_char *table);
#if (MT_HAVE_AVX2)
static size_t mt_base64url_decode_avx2(u_char *dst, const u_char *src,
    size_t len);
#endif


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
    i = 0;

#if (MT_HAVE_AVX2)

    if (table == mt_b64_url_dec && len >= 32
        && (mt_cpu_features() & MT_CPU_AVX2))
    {
        i = mt_base64url_decode_avx2(dst, src, len);

        if (i == (size_t) -1) {
            return -1;
        }

        d = dst + i / 4 * 3;
    }

#endif

    /* one pass: 77 marks a byte outside the alphabet, and 77 has bit 6 */

    for ( /* void */ ; i + 4 <= len; i += 4) {
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


#if (MT_HAVE_AVX2)

/*
 * base64url, 32 characters into 24 bytes a step (the way of W. Mula and
 * D. Lemire's vector decoders).  A character's low and high nibble pick
 * a byte each from two tables whose bits meet only for a byte outside
 * the alphabet; the high nibble gives what to add to make the value,
 * '_' alone needing more.  The last whole groups of four are decoded by
 * a step that ends with them, over bytes already written with the same
 * values.  Returns the characters decoded, a multiple of 4, or -1 for a
 * byte outside the alphabet; the plain code does the last two or three
 * and their checks.
 */

MT_TARGET_AVX2
static inline __m256i
mt_base64url_step(u_char *dst, const u_char *src)
{
    __m256i  v, lo, hi, bad, add, out;

    /*
     * The high nibble's class: 0x01 for 0-1 and 8-f (no character),
     * 0x02 for 2 ('-' only), 0x04 for 3 ('0'-'9'), 0x08 for 4 and 6
     * (not '@', '`'), 0x10 for 5 (not '['-'^'), 0x20 for 7 (not '{'-DEL);
     * the low nibble's entry has the bits of the classes it is not in.
     */

    const __m256i  lut_lo = _mm256_setr_epi8(
        0x0b, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03,
        0x03, 0x03, 0x07, 0x37, 0x37, 0x35, 0x37, 0x27,
        0x0b, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03,
        0x03, 0x03, 0x07, 0x37, 0x37, 0x35, 0x37, 0x27);

    const __m256i  lut_hi = _mm256_setr_epi8(
        0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x08, 0x20,
        0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
        0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x08, 0x20,
        0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01);

    /* '-' + 17 = 62, '0' + 4 = 52, 'A' - 65 = 0, 'a' - 71 = 26 */

    const __m256i  lut_add = _mm256_setr_epi8(
        0, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);

    /* the three bytes of each 32-bit group, most significant first */

    const __m256i  pack = _mm256_setr_epi8(
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);

    const __m256i  nibble = _mm256_set1_epi8(0x0f);
    const __m256i  under = _mm256_set1_epi8('_');
    const __m256i  under_add = _mm256_set1_epi8(33);    /* '_' - 65 + 33 */
    const __m256i  lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);

    v = _mm256_loadu_si256((const __m256i *) src);

    lo = _mm256_and_si256(v, nibble);
    hi = _mm256_and_si256(_mm256_srli_epi32(v, 4), nibble);

    bad = _mm256_and_si256(_mm256_shuffle_epi8(lut_lo, lo),
                           _mm256_shuffle_epi8(lut_hi, hi));

    add = _mm256_add_epi8(_mm256_shuffle_epi8(lut_add, hi),
              _mm256_and_si256(_mm256_cmpeq_epi8(v, under), under_add));

    v = _mm256_add_epi8(v, add);

    /* four 6-bit values a b c d: a * 64 + b, then ab * 4096 + cd */

    v = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
    v = _mm256_madd_epi16(v, _mm256_set1_epi32(0x00011000));

    out = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, pack), lanes);

    _mm_storeu_si128((__m128i *) dst, _mm256_castsi256_si128(out));
    _mm_storel_epi64((__m128i *) (dst + 16),
                     _mm256_extracti128_si256(out, 1));

    return bad;
}


MT_TARGET_AVX2
static size_t
mt_base64url_decode_avx2(u_char *dst, const u_char *src, size_t len)
{
    size_t   i, quads;
    __m256i  bad;

    quads = len / 4 * 4;
    bad = _mm256_setzero_si256();

    for (i = 0; i + 32 <= quads; i += 32) {
        bad = _mm256_or_si256(bad, mt_base64url_step(dst + i / 4 * 3,
                                                     src + i));
    }

    if (i < quads) {
        bad = _mm256_or_si256(bad,
                  mt_base64url_step(dst + (quads - 32) / 4 * 3,
                                    src + quads - 32));
    }

    if (!_mm256_testz_si256(bad, bad)) {
        return (size_t) -1;
    }

    return quads;
}

#endif


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
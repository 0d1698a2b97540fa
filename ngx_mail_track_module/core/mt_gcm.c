
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * AES-256-GCM (NIST SP 800-38D), opening only.  GHASH works on blocks
 * with their bytes reversed: a block's polynomial then has x^0 in the
 * top bit, a carry-less product of two such blocks shifted left by one
 * is the product's own 256 bits in that order, and multiplying by x is
 * a shift right.  The product is reduced modulo g = x^128 + x^7 + x^2 +
 * x + 1 by folding its upper half back times x^7 + x^2 + x + 1, twice
 * for the few bits that fall past x^127 the first time.
 */


#include "mt_gcm.h"
#include "mt_cpu.h"

#include <openssl/crypto.h>

#if (MT_HAVE_AESNI)
#include <immintrin.h>
#endif


#if (MT_HAVE_AESNI)

static __m128i mt_gcm_expand(__m128i a, __m128i t);
static __m128i mt_gcm_aes(const mt_gcm_key_t *k, __m128i x);
static void mt_gcm_aes4(const mt_gcm_key_t *k, __m128i *x);
static void mt_gcm_mul_add(__m128i a, __m128i b, __m128i *lo, __m128i *mid,
    __m128i *hi);
static __m128i mt_gcm_reduce(__m128i lo, __m128i mid, __m128i hi);
static __m128i mt_gcm_shr(__m128i a, int n);
static __m128i mt_gcm_load(const u_char *p, size_t n, int back);
static __m128i mt_gcm_block(const u_char *aad, size_t aadlen,
    const u_char *in, size_t len, size_t i);
static __m128i mt_gcm_ghash(const mt_gcm_key_t *k, const u_char *aad,
    size_t aadlen, const u_char *in, size_t len);
static __m128i mt_gcm_counter(const u_char *nonce, uint32_t n);

/* a block's bytes in reverse order */
#define mt_gcm_reverse(x)                                                     \
    _mm_shuffle_epi8(x, _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6,     \
                                      5, 4, 3, 2, 1, 0))

#define mt_gcm_blocks(n)  (((n) + 15) / 16)

/* round keys i, from i - 2 and i - 1 (FIPS-197 5.2, by 128-bit halves) */
#define mt_gcm_round_key(rk, i, rcon)                                         \
    rk[i] = mt_gcm_expand(rk[i - 2],                                          \
                _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], rcon), \
                                  0xff))

#define mt_gcm_round_key_odd(rk, i)                                           \
    rk[i] = mt_gcm_expand(rk[i - 2],                                          \
                _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], 0),    \
                                  0xaa))

#define mt_gcm_round(x, k, i)                                                 \
    x = _mm_aesenc_si128(x, _mm_loadu_si128((const __m128i *) (k)->rk[i]))

#define mt_gcm_round4(x, k, i)                                                \
    rk = _mm_loadu_si128((const __m128i *) (k)->rk[i]);                       \
    x[0] = _mm_aesenc_si128(x[0], rk);                                        \
    x[1] = _mm_aesenc_si128(x[1], rk);                                        \
    x[2] = _mm_aesenc_si128(x[2], rk);                                        \
    x[3] = _mm_aesenc_si128(x[3], rk)


/* the last n bytes of 16 read back to front, zeros after them */
static const u_char  mt_gcm_tail[32] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80
};

#endif


int
mt_gcm_usable(void)
{
    return (mt_cpu_features() & MT_CPU_AESNI) != 0;
}


#if (MT_HAVE_AESNI)

/* each word of a xored with all the words below it, then with t */

MT_TARGET_AESNI
static inline __m128i
mt_gcm_expand(__m128i a, __m128i t)
{
    a = _mm_xor_si128(a, _mm_slli_si128(a, 4));
    a = _mm_xor_si128(a, _mm_slli_si128(a, 4));
    a = _mm_xor_si128(a, _mm_slli_si128(a, 4));

    return _mm_xor_si128(a, t);
}


MT_TARGET_AESNI
void
mt_gcm_init(mt_gcm_key_t *k, const u_char *key)
{
    int      i;
    __m128i  rk[15], h, p, lo, mid, hi;

    rk[0] = _mm_loadu_si128((const __m128i *) key);
    rk[1] = _mm_loadu_si128((const __m128i *) (key + 16));

    mt_gcm_round_key(rk, 2, 0x01);
    mt_gcm_round_key_odd(rk, 3);
    mt_gcm_round_key(rk, 4, 0x02);
    mt_gcm_round_key_odd(rk, 5);
    mt_gcm_round_key(rk, 6, 0x04);
    mt_gcm_round_key_odd(rk, 7);
    mt_gcm_round_key(rk, 8, 0x08);
    mt_gcm_round_key_odd(rk, 9);
    mt_gcm_round_key(rk, 10, 0x10);
    mt_gcm_round_key_odd(rk, 11);
    mt_gcm_round_key(rk, 12, 0x20);
    mt_gcm_round_key_odd(rk, 13);
    mt_gcm_round_key(rk, 14, 0x40);

    for (i = 0; i < 15; i++) {
        _mm_storeu_si128((__m128i *) k->rk[i], rk[i]);
    }

    /* H = E(K, 0^128), and its powers for the aggregated reduction */

    h = mt_gcm_reverse(mt_gcm_aes(k, _mm_setzero_si128()));
    p = h;

    for (i = 0; i < MT_GCM_AGGREGATE; i++) {
        _mm_storeu_si128((__m128i *) k->h[i], p);

        lo = _mm_setzero_si128();
        mid = lo;
        hi = lo;

        mt_gcm_mul_add(p, h, &lo, &mid, &hi);
        p = mt_gcm_reduce(lo, mid, hi);
    }

    explicit_bzero(rk, sizeof(rk));
}


MT_TARGET_AESNI
static inline __m128i
mt_gcm_aes(const mt_gcm_key_t *k, __m128i x)
{
    x = _mm_xor_si128(x, _mm_loadu_si128((const __m128i *) k->rk[0]));

    mt_gcm_round(x, k, 1);
    mt_gcm_round(x, k, 2);
    mt_gcm_round(x, k, 3);
    mt_gcm_round(x, k, 4);
    mt_gcm_round(x, k, 5);
    mt_gcm_round(x, k, 6);
    mt_gcm_round(x, k, 7);
    mt_gcm_round(x, k, 8);
    mt_gcm_round(x, k, 9);
    mt_gcm_round(x, k, 10);
    mt_gcm_round(x, k, 11);
    mt_gcm_round(x, k, 12);
    mt_gcm_round(x, k, 13);

    return _mm_aesenclast_si128(x,
                                _mm_loadu_si128((const __m128i *) k->rk[14]));
}


/* four blocks at once: a round waits for the one before, not for them */

MT_TARGET_AESNI
static inline void
mt_gcm_aes4(const mt_gcm_key_t *k, __m128i *x)
{
    __m128i  rk;

    rk = _mm_loadu_si128((const __m128i *) k->rk[0]);

    x[0] = _mm_xor_si128(x[0], rk);
    x[1] = _mm_xor_si128(x[1], rk);
    x[2] = _mm_xor_si128(x[2], rk);
    x[3] = _mm_xor_si128(x[3], rk);

    mt_gcm_round4(x, k, 1);
    mt_gcm_round4(x, k, 2);
    mt_gcm_round4(x, k, 3);
    mt_gcm_round4(x, k, 4);
    mt_gcm_round4(x, k, 5);
    mt_gcm_round4(x, k, 6);
    mt_gcm_round4(x, k, 7);
    mt_gcm_round4(x, k, 8);
    mt_gcm_round4(x, k, 9);
    mt_gcm_round4(x, k, 10);
    mt_gcm_round4(x, k, 11);
    mt_gcm_round4(x, k, 12);
    mt_gcm_round4(x, k, 13);

    rk = _mm_loadu_si128((const __m128i *) k->rk[14]);

    x[0] = _mm_aesenclast_si128(x[0], rk);
    x[1] = _mm_aesenclast_si128(x[1], rk);
    x[2] = _mm_aesenclast_si128(x[2], rk);
    x[3] = _mm_aesenclast_si128(x[3], rk);
}


/* a >> n as one 128-bit number, 0 < n < 64 */

MT_TARGET_AESNI
static inline __m128i
mt_gcm_shr(__m128i a, int n)
{
    return _mm_or_si128(_mm_srli_epi64(a, n),
                        _mm_slli_epi64(_mm_srli_si128(a, 8), 64 - n));
}


/* adds the carry-less product a * b, 256 bits in three parts */

MT_TARGET_AESNI
static inline void
mt_gcm_mul_add(__m128i a, __m128i b, __m128i *lo, __m128i *mid, __m128i *hi)
{
    *lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(a, b, 0x00));
    *hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(a, b, 0x11));
    *mid = _mm_xor_si128(*mid,
                         _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01),
                                       _mm_clmulepi64_si128(a, b, 0x10)));
}


/* a sum of products mod g, bytes reversed */

MT_TARGET_AESNI
static inline __m128i
mt_gcm_reduce(__m128i lo, __m128i mid, __m128i hi)
{
    __m128i  clo, chi, t, f;

    lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
    hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));

    /* shifted left by one: hi is then the product's x^0..x^127 */

    clo = _mm_srli_epi64(lo, 63);
    chi = _mm_srli_epi64(hi, 63);

    lo = _mm_or_si128(_mm_slli_epi64(lo, 1), _mm_slli_si128(clo, 8));
    hi = _mm_or_si128(_mm_or_si128(_mm_slli_epi64(hi, 1),
                                   _mm_slli_si128(chi, 8)),
                      _mm_srli_si128(clo, 8));

    /*
     * lo is the part of x^128 and up: x^128 = x^7 + x^2 + x + 1.  Its
     * bits that the shifts by 1, 2 and 7 push past x^127 come back as
     * t, whose own shifts stay below x^14.
     */

    t = _mm_xor_si128(_mm_xor_si128(_mm_slli_epi64(lo, 63),
                                    _mm_slli_epi64(lo, 62)),
                      _mm_slli_epi64(lo, 57));

    f = _mm_xor_si128(lo, _mm_slli_si128(t, 8));

    return _mm_xor_si128(_mm_xor_si128(hi, f),
                         _mm_xor_si128(_mm_xor_si128(mt_gcm_shr(f, 1),
                                                     mt_gcm_shr(f, 2)),
                                       mt_gcm_shr(f, 7)));
}


/*
 * n bytes (at most 16) as a block padded with zeros; back: the 16 bytes
 * before p + n may be read (a part of the same buffer)
 */

MT_TARGET_AESNI
static inline __m128i
mt_gcm_load(const u_char *p, size_t n, int back)
{
    u_char  b[16];

    if (n == 16) {
        return _mm_loadu_si128((const __m128i *) p);
    }

    if (back) {
        return _mm_shuffle_epi8(
                   _mm_loadu_si128((const __m128i *) (p + n - 16)),
                   _mm_loadu_si128((const __m128i *) (mt_gcm_tail + 16 - n)));
    }

    memset(b, 0, 16);

    while (n--) {
        b[n] = p[n];
    }

    return _mm_loadu_si128((const __m128i *) b);
}


/* block i of aad || text || their lengths, bytes reversed */

MT_TARGET_AESNI
static inline __m128i
mt_gcm_block(const u_char *aad, size_t aadlen, const u_char *in, size_t len,
    size_t i)
{
    size_t  na, nc, at;

    na = mt_gcm_blocks(aadlen);
    nc = mt_gcm_blocks(len);

    if (i < na) {
        at = i * 16;
        return mt_gcm_reverse(mt_gcm_load(aad + at, mt_min(aadlen - at, 16),
                                          aadlen >= 16));
    }

    if (i < na + nc) {
        at = (i - na) * 16;
        return mt_gcm_reverse(mt_gcm_load(in + at, mt_min(len - at, 16),
                                          len >= 16));
    }

    /* the lengths in bits, aad's first: reversed, they swap halves */

    return _mm_set_epi64x((long long) aadlen * 8, (long long) len * 8);
}


/* Y_i = (Y_i-1 + X_i) H, folded as sum of X_i H^(n-i+1), n at a time */

MT_TARGET_AESNI
static __m128i
mt_gcm_ghash(const mt_gcm_key_t *k, const u_char *aad, size_t aadlen,
    const u_char *in, size_t len)
{
    size_t   i, j, n, total;
    __m128i  y, x, lo, mid, hi;

    total = mt_gcm_blocks(aadlen) + mt_gcm_blocks(len) + 1;
    y = _mm_setzero_si128();

    for (i = 0; i < total; i += n) {
        n = mt_min(total - i, MT_GCM_AGGREGATE);

        lo = _mm_setzero_si128();
        mid = lo;
        hi = lo;

        for (j = 0; j < n; j++) {
            x = mt_gcm_block(aad, aadlen, in, len, i + j);

            if (j == 0) {
                x = _mm_xor_si128(x, y);
            }

            mt_gcm_mul_add(x, _mm_loadu_si128((const __m128i *)
                                              k->h[n - j - 1]),
                           &lo, &mid, &hi);
        }

        y = mt_gcm_reduce(lo, mid, hi);
    }

    return y;
}


/* nonce || n, n big-endian */

MT_TARGET_AESNI
static inline __m128i
mt_gcm_counter(const u_char *nonce, uint32_t n)
{
    u_char  b[16];

    memcpy(b, nonce, 12);
    n = __builtin_bswap32(n);
    memcpy(b + 12, &n, 4);

    return _mm_loadu_si128((const __m128i *) b);
}


MT_TARGET_AESNI
int
mt_gcm_open(const mt_gcm_key_t *k, const u_char *nonce, const u_char *aad,
    size_t aadlen, const u_char *in, size_t len, const u_char *tag,
    u_char *out)
{
    size_t    i, j, n;
    __m128i   y, ks[4];
    uint32_t  c, base, have;
    u_char    t[16];

    /*
     * ks[j] is the encryption of nonce || base + j: first 1 (for the tag)
     * to 4, along with GHASH; then four at a time while four are needed,
     * the last ones one by one.
     */

    for (j = 0; j < 4; j++) {
        ks[j] = mt_gcm_counter(nonce, (uint32_t) j + 1);
    }

    mt_gcm_aes4(k, ks);

    base = 1;
    have = 4;

    y = mt_gcm_ghash(k, aad, aadlen, in, len);

    _mm_storeu_si128((__m128i *) t, _mm_xor_si128(mt_gcm_reverse(y), ks[0]));

    if (CRYPTO_memcmp(t, tag, 16) != 0) {
        return -1;
    }

    for (i = 0, c = 2; i < len; i += 16, c++) {

        if (c - base >= have) {
            base = c;

            if (len - i > 48) {
                for (j = 0; j < 4; j++) {
                    ks[j] = mt_gcm_counter(nonce, c + (uint32_t) j);
                }

                mt_gcm_aes4(k, ks);
                have = 4;

            } else {
                ks[0] = mt_gcm_aes(k, mt_gcm_counter(nonce, c));
                have = 1;
            }
        }

        j = c - base;
        n = len - i;

        if (n >= 16) {
            _mm_storeu_si128((__m128i *) (out + i),
                _mm_xor_si128(ks[j],
                              _mm_loadu_si128((const __m128i *) (in + i))));
            continue;
        }

        _mm_storeu_si128((__m128i *) t,
                         _mm_xor_si128(ks[j], mt_gcm_load(in + i, n,
                                                          len >= 16)));
        memcpy(out + i, t, n);
    }

    return 0;
}


#else


void
mt_gcm_init(mt_gcm_key_t *k, const u_char *key)
{
    (void) k;
    (void) key;
}


int
mt_gcm_open(const mt_gcm_key_t *k, const u_char *nonce, const u_char *aad,
    size_t aadlen, const u_char *in, size_t len, const u_char *tag,
    u_char *out)
{
    (void) k; (void) nonce; (void) aad; (void) aadlen; (void) in;
    (void) len; (void) tag; (void) out;

    return -1;
}


#endif

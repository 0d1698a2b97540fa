
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * token = base64url_nopad(0x01 || kid || nonce(12) || ciphertext || tag(16))
 * AES-256-GCM, aad = 0x01 || kid || purpose, plaintext a msgpack map.
 */


#include "mt_token.h"
#include "mt_base64.h"
#include "mt_msgpack.h"

#include <stdio.h>
#include <openssl/rand.h>


static int mt_token_open(mt_key_t *key, u_char kid, u_char purpose,
    const u_char *raw, size_t rawlen, u_char *plain);
static mt_token_aes_t *mt_token_aes_create(mt_keyring_t *kr,
    const u_char *key);
static void mt_token_aes_free(mt_token_aes_t *aes);
static void mt_token_aes_block(const u_char in[16], u_char out[16],
    const void *key);
static mt_rc_t mt_token_parse_plain(const u_char *p, size_t len,
    mt_token_t *tok);
static int mt_keyring_line(mt_keyring_t *kr, u_char *p, u_char *end,
    char *err, size_t errlen, unsigned line);


mt_keyring_t *
mt_keyring_create(void)
{
    mt_keyring_t  *kr;

    kr = calloc(1, sizeof(mt_keyring_t));
    if (kr == NULL) {
        return NULL;
    }

    /* the ciphers fetched once, not by name at each use */

    kr->ecb = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
    kr->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);

    if (kr->ecb == NULL || kr->gcm == NULL) {
        EVP_CIPHER_free(kr->ecb);
        EVP_CIPHER_free(kr->gcm);
        free(kr);
        return NULL;
    }

    kr->last = -1;

    return kr;
}


void
mt_keyring_free(mt_keyring_t *kr)
{
    unsigned  i;

    if (kr == NULL) {
        return;
    }

    for (i = 0; i < 256; i++) {
        mt_token_aes_free(kr->keys[i].aes);
    }

    EVP_CIPHER_free(kr->ecb);
    EVP_CIPHER_free(kr->gcm);

    OPENSSL_cleanse(kr, sizeof(mt_keyring_t));
    free(kr);
}


int
mt_keyring_add(mt_keyring_t *kr, unsigned kid, const u_char *key)
{
    mt_key_t  *k;

    if (kid > 255) {
        return -1;
    }

    k = &kr->keys[kid];

    if (k->set) {
        return -1;
    }

    k->aes = mt_token_aes_create(kr, key);
    if (k->aes == NULL) {
        return -1;
    }

    memcpy(k->key, key, MT_TOKEN_KEY_LEN);

    k->set = 1;
    kr->last = (int) kid;
    kr->nkeys++;

    return 0;
}


int
mt_keyring_parse(mt_keyring_t *kr, const u_char *buf, size_t len,
    char *err, size_t errlen)
{
    u_char    *p, *end, *eol, *copy;
    unsigned   line;
    int        rc;

    /* a private copy: lines are cut in place */

    copy = malloc(len + 1);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    memcpy(copy, buf, len);
    copy[len] = '\n';

    p = copy;
    end = copy + len;
    line = 0;
    rc = 0;

    while (p < end) {
        line++;

        eol = memchr(p, '\n', end + 1 - p);

        if (mt_keyring_line(kr, p, eol, err, errlen, line) != 0) {
            rc = -1;
            break;
        }

        p = eol + 1;
    }

    if (rc == 0 && kr->nkeys == 0) {
        snprintf(err, errlen, "no keys");
        rc = -1;
    }

    OPENSSL_cleanse(copy, len + 1);
    free(copy);

    return rc;
}


static int
mt_keyring_line(mt_keyring_t *kr, u_char *p, u_char *end, char *err,
    size_t errlen, unsigned line)
{
    u_char   *kid, *key;
    size_t    kidlen, keylen;
    int64_t   id;
    ssize_t   n;
    u_char    raw[MT_TOKEN_KEY_LEN + 3];

    while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p == end || *p == '#') {
        return 0;
    }

    kid = p;

    while (p < end && *p != ' ' && *p != '\t') {
        p++;
    }

    kidlen = p - kid;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    key = p;

    while (p < end && *p != ' ' && *p != '\t') {
        p++;
    }

    keylen = p - key;

    if (keylen == 0 || p != end) {
        snprintf(err, errlen, "line %u: expected \"KID BASE64_32_BYTES\"",
                 line);
        return -1;
    }

    id = mt_atoi64(kid, kidlen);

    if (id < 0 || id > 255) {
        snprintf(err, errlen, "line %u: key id \"%.*s\" is not 0..255",
                 line, (int) mt_min(kidlen, 32), kid);
        return -1;
    }

    if (keylen > mt_base64_encoded_len(MT_TOKEN_KEY_LEN)) {
        n = -1;

    } else {
        n = mt_base64_decode(raw, key, keylen);
    }

    if (n != MT_TOKEN_KEY_LEN) {
        snprintf(err, errlen, "line %u: key is not base64 of 32 bytes", line);
        return -1;
    }

    if (kr->keys[id].set) {
        snprintf(err, errlen, "line %u: duplicate key id %d", line, (int) id);
        return -1;
    }

    if (mt_keyring_add(kr, (unsigned) id, raw) != 0) {
        snprintf(err, errlen, "line %u: cannot set up the key", line);
        OPENSSL_cleanse(raw, sizeof(raw));
        return -1;
    }

    OPENSSL_cleanse(raw, sizeof(raw));

    return 0;
}


mt_rc_t
mt_token_decode(mt_keyring_t *kr, u_char purpose, const u_char *in,
    size_t len, int64_t now, u_char *plain, mt_token_t *tok)
{
    ssize_t    rawlen;
    mt_rc_t    rc;
    mt_key_t  *key;
    u_char     kid, other;
    u_char     raw[MT_TOKEN_MAX_RAW];
    unsigned   i;

    static const u_char  purposes[] = { MT_PURPOSE_OPEN, MT_PURPOSE_CLICK,
                                        MT_PURPOSE_UNSUBSCRIBE };

    if (len == 0) {
        return MT_ERR_TOKEN_EMPTY;
    }

    if (len > MT_TOKEN_MAX_LEN) {
        return MT_ERR_TOKEN_LENGTH;
    }

    rawlen = mt_base64url_decode(raw, in, len);
    if (rawlen < 0) {
        return MT_ERR_TOKEN_ENCODING;
    }

    if (rawlen < 1) {
        return MT_ERR_TOKEN_TRUNCATED;
    }

    if (raw[0] != MT_TOKEN_VERSION) {
        return MT_ERR_TOKEN_VERSION;
    }

    /* the smallest plaintext, an empty map, is one byte */

    if ((size_t) rawlen < MT_TOKEN_OVERHEAD + 1) {
        return MT_ERR_TOKEN_TRUNCATED;
    }

    kid = raw[1];
    key = &kr->keys[kid];

    if (!key->set) {
        return MT_ERR_TOKEN_KEY;
    }

    if (mt_token_open(key, kid, purpose, raw, rawlen, plain) != 0) {

        /* only on the failure path: name the misuse for the log */

        for (i = 0; i < sizeof(purposes); i++) {
            other = purposes[i];

            if (other != purpose
                && mt_token_open(key, kid, other, raw, rawlen, plain) == 0)
            {
                return MT_ERR_TOKEN_PURPOSE;
            }
        }

        return MT_ERR_TOKEN_TAMPERED;
    }

    rc = mt_token_parse_plain(plain, rawlen - MT_TOKEN_OVERHEAD, tok);
    if (rc != MT_OK) {
        return rc;
    }

    tok->purpose = purpose;
    tok->kid = kid;
    memcpy(tok->nonce, raw + 2, MT_TOKEN_NONCE_LEN);

    if (tok->expires && tok->expires <= now) {
        return MT_ERR_TOKEN_EXPIRED;
    }

    if (purpose == MT_PURPOSE_CLICK
        && (tok->url.len == 0 || !mt_url_allowed(tok->url.data, tok->url.len)))
    {
        return MT_ERR_TOKEN_URL;
    }

    return MT_OK;
}


static mt_token_aes_t *
mt_token_aes_create(mt_keyring_t *kr, const u_char *key)
{
    mt_token_aes_t  *aes;

    aes = calloc(1, sizeof(mt_token_aes_t));
    if (aes == NULL) {
        return NULL;
    }

    aes->ecb = EVP_CIPHER_CTX_new();
    if (aes->ecb == NULL
        || EVP_EncryptInit_ex2(aes->ecb, kr->ecb, key, NULL, NULL) != 1
        || EVP_CIPHER_CTX_set_padding(aes->ecb, 0) != 1)
    {
        mt_token_aes_free(aes);
        return NULL;
    }

    /* GCM's hash key is the encryption of a zero block: asked for here */

    aes->gcm = CRYPTO_gcm128_new(aes, mt_token_aes_block);
    if (aes->gcm == NULL) {
        mt_token_aes_free(aes);
        return NULL;
    }

    return aes;
}


static void
mt_token_aes_free(mt_token_aes_t *aes)
{
    if (aes == NULL) {
        return;
    }

    if (aes->gcm) {
        CRYPTO_gcm128_release(aes->gcm);
    }

    if (aes->ecb) {
        EVP_CIPHER_CTX_free(aes->ecb);
    }

    OPENSSL_cleanse(aes, sizeof(mt_token_aes_t));
    free(aes);
}


/*
 * GCM's block function.  The token's counter blocks were encrypted
 * beforehand, in one call: GCM asks for them in order, and gets each from
 * there; any other block is encrypted when asked for.
 */

static void
mt_token_aes_block(const u_char in[16], u_char out[16], const void *key)
{
    int              n;
    uint64_t         a[2], b[2];
    mt_token_aes_t  *aes;

    aes = (mt_token_aes_t *) key;

    if (aes->next < aes->nblocks) {
        memcpy(a, in, 16);
        memcpy(b, aes->ctr[aes->next], 16);

        if (a[0] == b[0] && a[1] == b[1]) {
            memcpy(out, aes->stream[aes->next++], 16);
            return;
        }
    }

    if (EVP_EncryptUpdate(aes->ecb, out, &n, in, 16) != 1) {
        /* cannot happen with a set-up context; fail the tag, not open */
        memset(out, 0, 16);
    }
}


static int
mt_token_open(mt_key_t *key, u_char kid, u_char purpose, const u_char *raw,
    size_t rawlen, u_char *plain)
{
    int              n;
    size_t           ctlen;
    u_char           aad[3];
    unsigned         i, nblocks;
    uint32_t         c;
    const u_char    *nonce;
    mt_token_aes_t  *aes;

    aes = key->aes;
    ctlen = rawlen - MT_TOKEN_OVERHEAD;
    nonce = raw + 2;

    aad[0] = MT_TOKEN_VERSION;
    aad[1] = kid;
    aad[2] = purpose;

    /* J0 = nonce || 1 for the tag, then nonce || 2, 3, ... for the text */

    nblocks = (unsigned) ((ctlen + 15) / 16 + 1);

    for (i = 0; i < nblocks; i++) {
        c = i + 1;

        memcpy(aes->ctr[i], nonce, MT_TOKEN_NONCE_LEN);
        aes->ctr[i][12] = (u_char) (c >> 24);
        aes->ctr[i][13] = (u_char) (c >> 16);
        aes->ctr[i][14] = (u_char) (c >> 8);
        aes->ctr[i][15] = (u_char) c;
    }

    aes->next = 0;
    aes->nblocks = 0;

    if (EVP_EncryptUpdate(aes->ecb, aes->stream[0], &n, aes->ctr[0],
                          (int) (nblocks * 16))
        != 1)
    {
        return -1;
    }

    aes->nblocks = nblocks;

    CRYPTO_gcm128_setiv(aes->gcm, nonce, MT_TOKEN_NONCE_LEN);

    if (CRYPTO_gcm128_aad(aes->gcm, aad, 3) != 0
        || CRYPTO_gcm128_decrypt(aes->gcm, raw + 2 + MT_TOKEN_NONCE_LEN,
                                 plain, ctlen)
           != 0
        || CRYPTO_gcm128_finish(aes->gcm, raw + rawlen - MT_TOKEN_TAG_LEN,
                                MT_TOKEN_TAG_LEN)
           != 0)
    {
        return -1;
    }

    return 0;
}


static mt_rc_t
mt_token_parse_plain(const u_char *p, size_t len, mt_token_t *tok)
{
    uint32_t         n;
    mt_str_t         key, *dst;
    mt_mp_reader_t   r;
    unsigned         seen;

    r.pos = p;
    r.end = p + len;

    memset(tok, 0, sizeof(mt_token_t));

    if (mt_mp_read_map(&r, &n) != 0) {
        return MT_ERR_TOKEN_PAYLOAD;
    }

    seen = 0;

    while (n--) {
        if (mt_mp_read_str(&r, &key) != 0) {
            return MT_ERR_TOKEN_PAYLOAD;
        }

        dst = NULL;

        if (key.len == 1) {
            switch (key.data[0]) {
            case 'm': dst = &tok->mid; seen |= 1; break;
            case 'r': dst = &tok->rcpt; seen |= 2; break;
            case 'u': dst = &tok->url; break;
            case 't': dst = &tok->tag; break;
            case 'x':
                if (mt_mp_read_int(&r, &tok->expires) != 0
                    || tok->expires < 0)
                {
                    return MT_ERR_TOKEN_PAYLOAD;
                }
                continue;
            default:
                break;
            }
        }

        if (dst == NULL) {
            /* unknown keys are skipped: newer minters may add fields */
            if (mt_mp_skip(&r, 8) != 0) {
                return MT_ERR_TOKEN_PAYLOAD;
            }

            continue;
        }

        if (mt_mp_read_str(&r, dst) != 0) {
            return MT_ERR_TOKEN_PAYLOAD;
        }
    }

    if (seen != 3 || tok->mid.len == 0 || r.pos != r.end) {
        return MT_ERR_TOKEN_PAYLOAD;
    }

    return MT_OK;
}


ssize_t
mt_token_encode(mt_keyring_t *kr, mt_token_t *tok, const u_char *nonce,
    u_char *out)
{
    int              n, m, ok;
    size_t           plen, rawlen;
    unsigned         fields;
    mt_key_t        *key;
    u_char           aad[3];
    u_char           plain[MT_TOKEN_MAX_PLAIN];
    u_char           raw[MT_TOKEN_MAX_RAW];
    mt_mp_writer_t   w;
    EVP_CIPHER_CTX  *ctx;

    key = &kr->keys[tok->kid];

    if (!key->set) {
        return -1;
    }

    fields = 2 + (tok->url.len != 0) + (tok->expires != 0)
             + (tok->tag.len != 0);

    mt_mp_writer_init(&w, plain, sizeof(plain));

    msgpack_pack_map(&w.pk, fields);
    mt_mp_put_cstr(&w, "m");
    mt_mp_put_str(&w, tok->mid.data, tok->mid.len);
    mt_mp_put_cstr(&w, "r");
    mt_mp_put_str(&w, tok->rcpt.data, tok->rcpt.len);

    if (tok->url.len) {
        mt_mp_put_cstr(&w, "u");
        mt_mp_put_str(&w, tok->url.data, tok->url.len);
    }

    if (tok->expires) {
        mt_mp_put_cstr(&w, "x");
        msgpack_pack_int64(&w.pk, tok->expires);
    }

    if (tok->tag.len) {
        mt_mp_put_cstr(&w, "t");
        mt_mp_put_str(&w, tok->tag.data, tok->tag.len);
    }

    if (w.overflow) {
        return -1;
    }

    plen = w.pos - w.start;
    rawlen = plen + MT_TOKEN_OVERHEAD;

    if (mt_base64url_encoded_len(rawlen) > MT_TOKEN_MAX_LEN) {
        return -1;
    }

    raw[0] = MT_TOKEN_VERSION;
    raw[1] = tok->kid;

    if (nonce) {
        memcpy(raw + 2, nonce, MT_TOKEN_NONCE_LEN);

    } else if (RAND_bytes(raw + 2, MT_TOKEN_NONCE_LEN) != 1) {
        return -1;
    }

    aad[0] = MT_TOKEN_VERSION;
    aad[1] = tok->kid;
    aad[2] = tok->purpose;

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    ok = EVP_EncryptInit_ex2(ctx, kr->gcm, key->key, raw + 2, NULL) == 1
         && EVP_EncryptUpdate(ctx, NULL, &n, aad, 3) == 1
         && EVP_EncryptUpdate(ctx, raw + 2 + MT_TOKEN_NONCE_LEN, &n, plain,
                              (int) plen) == 1
         && EVP_EncryptFinal_ex(ctx, raw + 2 + MT_TOKEN_NONCE_LEN + n, &m)
            == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, MT_TOKEN_TAG_LEN,
                                raw + rawlen - MT_TOKEN_TAG_LEN) == 1;

    EVP_CIPHER_CTX_free(ctx);

    if (!ok) {
        return -1;
    }

    memcpy(tok->nonce, raw + 2, MT_TOKEN_NONCE_LEN);

    n = (int) mt_base64url_encode(out, raw, rawlen);
    out[n] = '\0';

    return n;
}


/*
 * Only absolute http(s) URLs with a host, and nothing that could split
 * or bend a Location header.
 */

int
mt_url_allowed(const u_char *url, size_t len)
{
    size_t    i, skip;
    uint64_t  x, bad;

    /* bytes below 0x21, DEL and a backslash, eight at a time */

#define mt_url_ones   0x0101010101010101ULL
#define mt_url_highs  0x8080808080808080ULL
#define mt_url_zero(v)  (((v) - mt_url_ones) & ~(v) & mt_url_highs)

    if (len >= 8 && strncasecmp((char *) url, "https://", 8) == 0) {
        skip = 8;

    } else if (len >= 7 && strncasecmp((char *) url, "http://", 7) == 0) {
        skip = 7;

    } else {
        return 0;
    }

    if (len == skip || url[skip] == '/' || url[skip] == '?'
        || url[skip] == '#' || url[skip] == '\\' || url[skip] == '@')
    {
        return 0;
    }

    bad = 0;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&x, url + i, 8);

        bad |= ((x - 0x21 * mt_url_ones) & ~x & mt_url_highs)
               | mt_url_zero(x ^ (0x7f * mt_url_ones))
               | mt_url_zero(x ^ ('\\' * mt_url_ones));
    }

    if (bad) {
        return 0;
    }

    for ( /* void */ ; i < len; i++) {
        if (url[i] <= 0x20 || url[i] == 0x7f || url[i] == '\\') {
            return 0;
        }
    }

    return 1;
}

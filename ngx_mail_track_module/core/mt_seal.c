
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Sealed spool files.  GCM must never see one (key, nonce) pair twice:
 * the key is new for every file (a new ephemeral key), and the nonce
 * is a counter that the writer takes before every attempt to write a
 * chunk and never gives back, so a batch retried after a rolled back
 * write (a full disk, a smaller batch) is sealed under a new nonce.
 */


#include "mt_seal.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <stdio.h>


static void mt_seal_put32(u_char *p, uint32_t v);
static void mt_seal_put64(u_char *p, uint64_t v);
static uint32_t mt_seal_get32(const u_char *p);
static uint64_t mt_seal_get64(const u_char *p);
static void mt_seal_nonce(u_char *nonce, uint64_t counter);
static const EVP_CIPHER *mt_seal_cipher(mt_seal_ctx_t *c);
static int mt_seal_kid(const u_char *pub, u_char *kid);
static int mt_seal_derive(mt_seal_ctx_t *c, EVP_PKEY *own, EVP_PKEY *peer,
    const u_char *header, const u_char *recipient, u_char *key);
static int mt_seal_pem(EVP_PKEY *pkey, int private, u_char **pem,
    size_t *len);


/*
 * A PEM key of type X25519.  An edge gets only the public half: a
 * private key given where the public one is wanted is refused, whatever
 * else the file holds.
 */

int
mt_seal_key_parse(mt_seal_key_t *k, const u_char *pem, size_t len,
    int want_private, char *err, size_t errlen)
{
    BIO       *bio;
    size_t     n;
    EVP_PKEY  *pkey;

    memset(k, 0, sizeof(mt_seal_key_t));

    if (!want_private && memmem(pem, len, "PRIVATE KEY", 11) != NULL) {
        snprintf(err, errlen, "it holds a private key: an edge gets only "
                 "the public key (the second file of \"mail-track keygen "
                 "--seal\")");
        return -1;
    }

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    pkey = want_private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                        : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

    BIO_free(bio);

    if (pkey == NULL) {
        snprintf(err, errlen, "no PEM %s key in it",
                 want_private ? "private" : "public");
        return -1;
    }

    if (!EVP_PKEY_is_a(pkey, "X25519")) {
        snprintf(err, errlen, "it is a %s key, not an X25519 key",
                 EVP_PKEY_get0_type_name(pkey) != NULL
                 ? EVP_PKEY_get0_type_name(pkey) : "unknown");
        EVP_PKEY_free(pkey);
        return -1;
    }

    n = MT_SEAL_KEY_LEN;

    if (EVP_PKEY_get_raw_public_key(pkey, k->pub, &n) != 1
        || n != MT_SEAL_KEY_LEN
        || mt_seal_kid(k->pub, k->kid) != 0)
    {
        snprintf(err, errlen, "its public key cannot be had");
        EVP_PKEY_free(pkey);
        return -1;
    }

    k->pkey = pkey;
    k->private = want_private ? 1 : 0;

    return 0;
}


/* a public key from its 32 bytes */

int
mt_seal_key_raw(mt_seal_key_t *k, const u_char *pub)
{
    EVP_PKEY  *pkey;

    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub,
                                       MT_SEAL_KEY_LEN);
    if (pkey == NULL) {
        return -1;
    }

    mt_seal_key_free(k);

    memcpy(k->pub, pub, MT_SEAL_KEY_LEN);

    if (mt_seal_kid(k->pub, k->kid) != 0) {
        EVP_PKEY_free(pkey);
        return -1;
    }

    k->pkey = pkey;
    k->private = 0;

    return 0;
}


void
mt_seal_key_free(mt_seal_key_t *k)
{
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
}


/* a new key pair as PEM: PKCS#8 private key, SubjectPublicKeyInfo */

int
mt_seal_keygen(u_char **priv_pem, size_t *priv_len, u_char **pub_pem,
    size_t *pub_len)
{
    int        rc;
    EVP_PKEY  *pkey;

    *priv_pem = NULL;
    *pub_pem = NULL;

    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    if (pkey == NULL) {
        return -1;
    }

    rc = 0;

    if (mt_seal_pem(pkey, 1, priv_pem, priv_len) != 0
        || mt_seal_pem(pkey, 0, pub_pem, pub_len) != 0)
    {
        if (*priv_pem != NULL) {
            OPENSSL_cleanse(*priv_pem, *priv_len);
            free(*priv_pem);
            *priv_pem = NULL;
        }

        free(*pub_pem);
        *pub_pem = NULL;
        rc = -1;
    }

    EVP_PKEY_free(pkey);

    return rc;
}


static int
mt_seal_pem(EVP_PKEY *pkey, int private, u_char **pem, size_t *len)
{
    int     ok;
    BIO    *bio;
    char   *data;
    long    n;

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return -1;
    }

    ok = private ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
                                            NULL)
                 : PEM_write_bio_PUBKEY(bio, pkey);

    n = BIO_get_mem_data(bio, &data);

    if (ok != 1 || n <= 0) {
        BIO_free(bio);
        return -1;
    }

    *pem = malloc(n);
    if (*pem == NULL) {
        BIO_free(bio);
        return -1;
    }

    memcpy(*pem, data, n);
    *len = n;

    OPENSSL_cleanse(data, n);
    BIO_free(bio);

    return 0;
}


/* the recipient key's id: the first 8 bytes of SHA-256 of its 32 bytes */

static int
mt_seal_kid(const u_char *pub, u_char *kid)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  n;

    if (EVP_Digest(pub, MT_SEAL_KEY_LEN, md, &n, EVP_sha256(), NULL) != 1) {
        return -1;
    }

    memcpy(kid, md, MT_SEAL_KID_LEN);

    return 0;
}


int
mt_seal_ctx_init(mt_seal_ctx_t *c)
{
    c->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    c->ctx = EVP_CIPHER_CTX_new();
    c->kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);

    if (c->cipher == NULL || c->ctx == NULL || c->kdf == NULL) {
        mt_seal_ctx_free(c);
        return -1;
    }

    return 0;
}


void
mt_seal_ctx_free(mt_seal_ctx_t *c)
{
    EVP_CIPHER_free(c->cipher);
    EVP_CIPHER_CTX_free(c->ctx);
    EVP_KDF_free(c->kdf);

    c->cipher = NULL;
    c->ctx = NULL;
    c->kdf = NULL;
}


int
mt_seal_file_new(mt_seal_ctx_t *c, const mt_seal_key_t *k, const u_char *eph,
    mt_seal_file_t *f)
{
    int        rc;
    size_t     n;
    u_char    *h;
    EVP_PKEY  *own;

    own = (eph != NULL)
          ? EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, eph,
                                         MT_SEAL_KEY_LEN)
          : EVP_PKEY_Q_keygen(NULL, NULL, "X25519");

    if (own == NULL) {
        return -1;
    }

    h = f->header;

    memcpy(h, MT_SEAL_MAGIC, MT_SEAL_MAGIC_LEN);
    h[6] = MT_SEAL_VERSION;
    h[7] = MT_SEAL_SUITE;
    memcpy(h + 8, k->kid, MT_SEAL_KID_LEN);

    n = MT_SEAL_KEY_LEN;

    rc = -1;

    if (EVP_PKEY_get_raw_public_key(own, h + 16, &n) == 1
        && n == MT_SEAL_KEY_LEN
        && mt_seal_derive(c, own, k->pkey, h, k->pub, f->key) == 0)
    {
        f->counter = 0;
        f->chunks = 0;
        rc = 0;
    }

    EVP_PKEY_free(own);

    return rc;
}


int
mt_seal_file_open(mt_seal_ctx_t *c, const mt_seal_key_t *k,
    const u_char *header, mt_seal_file_t *f)
{
    int        rc;
    EVP_PKEY  *peer;

    if (!k->private
        || memcmp(header + 8, k->kid, MT_SEAL_KID_LEN) != 0)
    {
        return -1;
    }

    peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, header + 16,
                                       MT_SEAL_KEY_LEN);
    if (peer == NULL) {
        return -1;
    }

    memcpy(f->header, header, MT_SEAL_HEADER_LEN);

    rc = mt_seal_derive(c, k->pkey, peer, header, k->pub, f->key);

    f->counter = 0;
    f->chunks = 0;

    EVP_PKEY_free(peer);

    return rc;
}


/*
 * key = HKDF-SHA256(IKM = X25519 shared secret, no salt,
 *                   info = "mail-track spool v1" || header || recipient)
 */

static int
mt_seal_derive(mt_seal_ctx_t *c, EVP_PKEY *own, EVP_PKEY *peer,
    const u_char *header, const u_char *recipient, u_char *key)
{
    int            rc;
    size_t         n;
    EVP_KDF_CTX   *kctx;
    EVP_PKEY_CTX  *pctx;
    OSSL_PARAM     params[4];
    u_char         secret[MT_SEAL_KEY_LEN];
    u_char         info[sizeof(MT_SEAL_INFO) - 1 + MT_SEAL_HEADER_LEN
                        + MT_SEAL_KEY_LEN];

    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, own, NULL);
    if (pctx == NULL) {
        return -1;
    }

    n = sizeof(secret);

    rc = (EVP_PKEY_derive_init(pctx) == 1
          && EVP_PKEY_derive_set_peer(pctx, peer) == 1
          && EVP_PKEY_derive(pctx, secret, &n) == 1
          && n == sizeof(secret)) ? 0 : -1;

    EVP_PKEY_CTX_free(pctx);

    if (rc != 0) {
        OPENSSL_cleanse(secret, sizeof(secret));
        return -1;
    }

    memcpy(info, MT_SEAL_INFO, sizeof(MT_SEAL_INFO) - 1);
    memcpy(info + sizeof(MT_SEAL_INFO) - 1, header, MT_SEAL_HEADER_LEN);
    memcpy(info + sizeof(MT_SEAL_INFO) - 1 + MT_SEAL_HEADER_LEN, recipient,
           MT_SEAL_KEY_LEN);

    kctx = EVP_KDF_CTX_new(c->kdf);

    if (kctx != NULL) {
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                     (char *) "SHA256", 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                      secret, sizeof(secret));
        params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                      info, sizeof(info));
        params[3] = OSSL_PARAM_construct_end();

        rc = (EVP_KDF_derive(kctx, key, MT_SEAL_KEY_LEN, params) == 1)
             ? 0 : -1;

        EVP_KDF_CTX_free(kctx);

    } else {
        rc = -1;
    }

    OPENSSL_cleanse(secret, sizeof(secret));

    return rc;
}


/* once the context has the cipher, a new key and nonce reuse its state */

static const EVP_CIPHER *
mt_seal_cipher(mt_seal_ctx_t *c)
{
    return EVP_CIPHER_CTX_get0_cipher(c->ctx) == NULL ? c->cipher : NULL;
}


/* nonce = 4 zero bytes || counter, big-endian */

static void
mt_seal_nonce(u_char *nonce, uint64_t counter)
{
    memset(nonce, 0, 4);
    mt_seal_put64(nonce + 4, counter);
}


int
mt_seal_chunk(mt_seal_ctx_t *c, const mt_seal_file_t *f, uint32_t index,
    uint64_t counter, u_char *data, size_t len)
{
    int      n;
    u_char  *hdr;
    u_char   nonce[MT_SEAL_NONCE_LEN];

    if (len == 0 || len > MT_SEAL_CHUNK_MAX) {
        return -1;
    }

    hdr = data - MT_SEAL_CHUNK_HDR_LEN;

    mt_seal_put32(hdr, index);
    mt_seal_put32(hdr + 4, (uint32_t) len);
    mt_seal_put64(hdr + 8, counter);

    mt_seal_nonce(nonce, counter);

    /* in place: GCM's output may be its input */

    if (EVP_EncryptInit_ex2(c->ctx, mt_seal_cipher(c), f->key, nonce, NULL)
        != 1
        || EVP_EncryptUpdate(c->ctx, NULL, &n, hdr, MT_SEAL_CHUNK_HDR_LEN)
           != 1
        || EVP_EncryptUpdate(c->ctx, data, &n, data, (int) len) != 1
        || EVP_EncryptFinal_ex(c->ctx, data + len, &n) != 1
        || EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_GET_TAG, MT_SEAL_TAG_LEN,
                               data + len) != 1)
    {
        return -1;
    }

    return 0;
}


int
mt_seal_header_check(const u_char *p, size_t len)
{
    if (len < MT_SEAL_MAGIC_LEN || memcmp(p, MT_SEAL_MAGIC, MT_SEAL_MAGIC_LEN))
    {
        return -1;
    }

    if (len < MT_SEAL_HEADER_LEN || p[6] != MT_SEAL_VERSION
        || p[7] != MT_SEAL_SUITE)
    {
        return 1;
    }

    return 0;
}


void
mt_seal_chunk_header(const u_char *p, mt_seal_chunk_t *ch)
{
    ch->index = mt_seal_get32(p);
    ch->len = mt_seal_get32(p + 4);
    ch->counter = mt_seal_get64(p + 8);
}


/*
 * The framing rules, before the tag is known to verify: a length a
 * writer gives, the chunk's own place, a counter above the one before.
 */

mt_seal_rc_e
mt_seal_chunk_check(const mt_seal_chunk_t *ch, uint32_t index,
    uint64_t min_counter)
{
    if (ch->len == 0 || ch->len > MT_SEAL_CHUNK_MAX) {
        return MT_SEAL_BAD_LENGTH;
    }

    if (ch->index != index) {
        return MT_SEAL_BAD_INDEX;
    }

    if (ch->counter < min_counter) {
        return MT_SEAL_BAD_COUNTER;
    }

    return MT_SEAL_OK;
}


/* decrypts in place; MT_SEAL_AUTH when the tag does not verify */

mt_seal_rc_e
mt_seal_chunk_open(mt_seal_ctx_t *c, const mt_seal_file_t *f,
    const u_char *hdr, u_char *data, size_t len, const u_char *tag)
{
    int      n;
    u_char   nonce[MT_SEAL_NONCE_LEN];
    u_char   t[MT_SEAL_TAG_LEN];

    mt_seal_nonce(nonce, mt_seal_get64(hdr + 8));
    memcpy(t, tag, MT_SEAL_TAG_LEN);

    if (EVP_DecryptInit_ex2(c->ctx, mt_seal_cipher(c), f->key, nonce, NULL)
        != 1
        || EVP_DecryptUpdate(c->ctx, NULL, &n, hdr, MT_SEAL_CHUNK_HDR_LEN)
           != 1
        || EVP_DecryptUpdate(c->ctx, data, &n, data, (int) len) != 1
        || EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_TAG, MT_SEAL_TAG_LEN,
                               t) != 1)
    {
        return MT_SEAL_ERROR;
    }

    if (EVP_DecryptFinal_ex(c->ctx, data + len, &n) != 1) {
        /* no plaintext of a chunk that failed is ever used */
        OPENSSL_cleanse(data, len);
        return MT_SEAL_AUTH;
    }

    return MT_SEAL_OK;
}


const char *
mt_seal_rc_text(mt_seal_rc_e rc)
{
    switch (rc) {
    case MT_SEAL_OK:
        return "ok";
    case MT_SEAL_TORN:
        return "torn (the file ends inside it)";
    case MT_SEAL_BAD_LENGTH:
        return "a length no writer gives";
    case MT_SEAL_BAD_INDEX:
        return "out of place (a chunk before it dropped, or it moved)";
    case MT_SEAL_BAD_COUNTER:
        return "its nonce counter does not increase";
    case MT_SEAL_AUTH:
        return "authentication failed (damaged, or another file's key)";
    default:
        return "decryption failed";
    }
}


static void
mt_seal_put32(u_char *p, uint32_t v)
{
    p[0] = (u_char) (v >> 24);
    p[1] = (u_char) (v >> 16);
    p[2] = (u_char) (v >> 8);
    p[3] = (u_char) v;
}


static void
mt_seal_put64(u_char *p, uint64_t v)
{
    mt_seal_put32(p, (uint32_t) (v >> 32));
    mt_seal_put32(p + 4, (uint32_t) v);
}


static uint32_t
mt_seal_get32(const u_char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | p[3];
}


static uint64_t
mt_seal_get64(const u_char *p)
{
    return (uint64_t) mt_seal_get32(p) << 32 | mt_seal_get32(p + 4);
}


/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _MT_TOKEN_H_INCLUDED_
#define _MT_TOKEN_H_INCLUDED_


#include "mt_core.h"

#include <openssl/evp.h>
#include <openssl/modes.h>


#define MT_TOKEN_VERSION       0x01
#define MT_TOKEN_KEY_LEN       32
#define MT_TOKEN_NONCE_LEN     12
#define MT_TOKEN_TAG_LEN       16
#define MT_TOKEN_OVERHEAD      (2 + MT_TOKEN_NONCE_LEN + MT_TOKEN_TAG_LEN)

/* the longest token accepted, in base64url characters */
#define MT_TOKEN_MAX_LEN       4096
#define MT_TOKEN_MAX_RAW       (MT_TOKEN_MAX_LEN / 4 * 3)
#define MT_TOKEN_MAX_PLAIN     (MT_TOKEN_MAX_RAW - MT_TOKEN_OVERHEAD)

#define MT_PURPOSE_OPEN        'o'
#define MT_PURPOSE_CLICK       'c'
#define MT_PURPOSE_UNSUBSCRIBE 'u'


/* the AES blocks of one token: J0 and a counter per ciphertext block */
#define MT_TOKEN_BLOCKS        ((MT_TOKEN_MAX_PLAIN + 15) / 16 + 1)


/*
 * A key's decryption state, kept between tokens: the AES key schedule
 * (an ECB context) and GCM's hash key are made once; a token costs its
 * counter blocks (encrypted with one EVP call) and GHASH.
 */
typedef struct {
    EVP_CIPHER_CTX   *ecb;
    GCM128_CONTEXT   *gcm;
    unsigned          next;           /* the next block GCM asks for */
    unsigned          nblocks;
    u_char            ctr[MT_TOKEN_BLOCKS][16];
    u_char            stream[MT_TOKEN_BLOCKS][16];
} mt_token_aes_t;


typedef struct {
    u_char            key[MT_TOKEN_KEY_LEN];
    mt_token_aes_t   *aes;
    unsigned          set:1;
} mt_key_t;


typedef struct {
    mt_key_t          keys[256];
    EVP_CIPHER       *ecb;            /* AES-256-ECB: a key's blocks */
    EVP_CIPHER       *gcm;            /* AES-256-GCM: minting */
    int               last;           /* the key id of the last line */
    unsigned          nkeys;
} mt_keyring_t;


typedef struct {
    u_char            purpose;
    u_char            kid;
    u_char            nonce[MT_TOKEN_NONCE_LEN];
    mt_str_t          mid;
    mt_str_t          rcpt;
    mt_str_t          url;
    mt_str_t          tag;
    int64_t           expires;        /* unix seconds, 0: never */
} mt_token_t;


mt_keyring_t *mt_keyring_create(void);
void mt_keyring_free(mt_keyring_t *kr);

/*
 * Parses a key file: lines "KID BASE64_32_BYTES", "#" comments.
 * On error returns -1 with a message naming the line in err.
 */
int mt_keyring_parse(mt_keyring_t *kr, const u_char *buf, size_t len,
    char *err, size_t errlen);
int mt_keyring_add(mt_keyring_t *kr, unsigned kid, const u_char *key);

/*
 * Decodes and authenticates a token for the given purpose.  The token's
 * strings point into plain, which must hold MT_TOKEN_MAX_PLAIN bytes.
 */
mt_rc_t mt_token_decode(mt_keyring_t *kr, u_char purpose, const u_char *in,
    size_t len, int64_t now, u_char *plain, mt_token_t *tok);

/*
 * Mints a token with key tok->kid; a NULL nonce means a random one.
 * out must hold MT_TOKEN_MAX_LEN + 1 bytes; returns the length or -1.
 */
ssize_t mt_token_encode(mt_keyring_t *kr, mt_token_t *tok,
    const u_char *nonce, u_char *out);

int mt_url_allowed(const u_char *url, size_t len);


#endif /* _MT_TOKEN_H_INCLUDED_ */

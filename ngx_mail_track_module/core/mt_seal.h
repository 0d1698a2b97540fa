
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Sealed spool files (docs/spool-format.md, "Sealed files"): each file
 * encrypted for an X25519 public key as it is written.  A file starts
 * with a header naming the recipient key and an ephemeral public key;
 * X25519 and HKDF-SHA256 give the file's AES-256-GCM key; every batch
 * the writer appends is one chunk, authenticated on its own.
 */


#ifndef _MT_SEAL_H_INCLUDED_
#define _MT_SEAL_H_INCLUDED_


#include "mt_core.h"


#define MT_SEAL_MAGIC           "MTSEAL"
#define MT_SEAL_MAGIC_LEN       6
#define MT_SEAL_VERSION         0x01
#define MT_SEAL_SUITE           0x01    /* X25519, HKDF-SHA256, AES-256-GCM */

#define MT_SEAL_KEY_LEN         32
#define MT_SEAL_KID_LEN         8
#define MT_SEAL_HEADER_LEN      48
#define MT_SEAL_CHUNK_HDR_LEN   16
#define MT_SEAL_TAG_LEN         16
#define MT_SEAL_NONCE_LEN       12

/* room a batch needs before and after its records to be sealed in place */
#define MT_SEAL_HEADROOM        (MT_SEAL_HEADER_LEN + MT_SEAL_CHUNK_HDR_LEN)
#define MT_SEAL_TAILROOM        MT_SEAL_TAG_LEN
#define MT_SEAL_CHUNK_OVERHEAD  (MT_SEAL_CHUNK_HDR_LEN + MT_SEAL_TAG_LEN)

/* the largest chunk a reader accepts (the module writes 256k at most) */
#define MT_SEAL_CHUNK_MAX       (16 * 1024 * 1024)

#define MT_SEAL_INFO            "mail-track spool v1"


typedef enum {
    MT_SEAL_OK = 0,
    MT_SEAL_TORN,              /* the file ends inside this chunk */
    MT_SEAL_BAD_LENGTH,        /* a length no writer gives */
    MT_SEAL_BAD_INDEX,         /* out of place: one dropped or moved */
    MT_SEAL_BAD_COUNTER,       /* its nonce counter did not increase */
    MT_SEAL_AUTH,              /* the tag does not verify */
    MT_SEAL_ERROR              /* OpenSSL failed */
} mt_seal_rc_e;


/* a recipient key: the public half, and the private one for readers */
typedef struct {
    void               *pkey;                   /* EVP_PKEY * */
    u_char              pub[MT_SEAL_KEY_LEN];
    u_char              kid[MT_SEAL_KID_LEN];
    unsigned            private:1;
} mt_seal_key_t;


/*
 * What a writer or a reader needs per file: its header and key; the
 * writer also keeps the next chunk's index and nonce counter.
 */
typedef struct {
    u_char              header[MT_SEAL_HEADER_LEN];
    u_char              key[MT_SEAL_KEY_LEN];
    uint64_t            counter;       /* the next nonce counter */
    uint32_t            chunks;        /* whole chunks in the file */
} mt_seal_file_t;


/* the OpenSSL objects, fetched once, used by one thread at a time */
typedef struct {
    void               *cipher;        /* EVP_CIPHER * */
    void               *ctx;           /* EVP_CIPHER_CTX * */
    void               *kdf;           /* EVP_KDF * */
} mt_seal_ctx_t;


/* a chunk's header, as read */
typedef struct {
    uint32_t            index;
    uint32_t            len;
    uint64_t            counter;
} mt_seal_chunk_t;


int mt_seal_key_parse(mt_seal_key_t *k, const u_char *pem, size_t len,
    int want_private, char *err, size_t errlen);
int mt_seal_key_raw(mt_seal_key_t *k, const u_char *pub);
void mt_seal_key_free(mt_seal_key_t *k);
int mt_seal_keygen(u_char **priv_pem, size_t *priv_len, u_char **pub_pem,
    size_t *pub_len);

int mt_seal_ctx_init(mt_seal_ctx_t *c);
void mt_seal_ctx_free(mt_seal_ctx_t *c);

/* a new file for the key; eph: a fixed ephemeral key (test vectors) */
int mt_seal_file_new(mt_seal_ctx_t *c, const mt_seal_key_t *k,
    const u_char *eph, mt_seal_file_t *f);

/* the file's key from its header, for the key's private half */
int mt_seal_file_open(mt_seal_ctx_t *c, const mt_seal_key_t *k,
    const u_char *header, mt_seal_file_t *f);

/*
 * Seals len bytes at data in place: the chunk's header is written to
 * the MT_SEAL_CHUNK_HDR_LEN bytes before data, the tag to the
 * MT_SEAL_TAG_LEN after it.
 */
int mt_seal_chunk(mt_seal_ctx_t *c, const mt_seal_file_t *f, uint32_t index,
    uint64_t counter, u_char *data, size_t len);

/* 0: a header this code reads; 1: sealed, another version; -1: not */
int mt_seal_header_check(const u_char *p, size_t len);
void mt_seal_chunk_header(const u_char *p, mt_seal_chunk_t *ch);
mt_seal_rc_e mt_seal_chunk_check(const mt_seal_chunk_t *ch, uint32_t index,
    uint64_t min_counter);
mt_seal_rc_e mt_seal_chunk_open(mt_seal_ctx_t *c, const mt_seal_file_t *f,
    const u_char *hdr, u_char *data, size_t len, const u_char *tag);
const char *mt_seal_rc_text(mt_seal_rc_e rc);



#endif /* _MT_SEAL_H_INCLUDED_ */


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * HMAC keys made ready once, when the configuration is read: each
 * request then only re-initializes the context (no fetch, no key
 * schedule, no allocation of its own).
 */


#ifndef _MT_HMAC_H_INCLUDED_
#define _MT_HMAC_H_INCLUDED_


#include "mt_core.h"


typedef struct mt_hmac_s  mt_hmac_t;


/* digest: "SHA256", "SHA1"; NULL when the key or the digest cannot be */
mt_hmac_t *mt_hmac_create(const char *digest, const u_char *key, size_t len);
void mt_hmac_free(mt_hmac_t *h);

/* the same for a provider's key() and key_free() */
mt_rc_t mt_hmac_key(const char *digest, const u_char *key, size_t len,
    void **data, char *err, size_t errlen);
void mt_hmac_key_free(void *data);

/*
 * The MAC of the parts, in order, into md (EVP_MAX_MD_SIZE bytes); its
 * length, or 0 on an error.  Not reentrant: one request at a time.
 */
size_t mt_hmac(mt_hmac_t *h, const mt_str_t *parts, size_t n, u_char *md);


#endif /* _MT_HMAC_H_INCLUDED_ */


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * AES-256-GCM opening with the CPU's AES and carry-less multiply
 * instructions, for the short messages that tokens are.  Where the CPU
 * has neither, mt_token.c opens tokens with OpenSSL alone; the tests
 * check this against OpenSSL's EVP AES-256-GCM.
 */


#ifndef _MT_GCM_H_INCLUDED_
#define _MT_GCM_H_INCLUDED_


#include "mt_core.h"


/* blocks hashed with one reduction */
#define MT_GCM_AGGREGATE  8


typedef struct {
    u_char      rk[15][16];           /* the AES-256 key schedule */
    u_char      h[MT_GCM_AGGREGATE][16];  /* H, H^2 ... bytes reversed */
} mt_gcm_key_t;


/* 1 when this CPU can use mt_gcm_init() and mt_gcm_open() */
int mt_gcm_usable(void);

void mt_gcm_init(mt_gcm_key_t *k, const u_char *key);

/*
 * Checks the tag over aad and the ciphertext, then decrypts into out;
 * 0, or -1 when the tag does not match (out is left alone then).
 */
int mt_gcm_open(const mt_gcm_key_t *k, const u_char *nonce,
    const u_char *aad, size_t aadlen, const u_char *in, size_t len,
    const u_char *tag, u_char *out);


#endif /* _MT_GCM_H_INCLUDED_ */

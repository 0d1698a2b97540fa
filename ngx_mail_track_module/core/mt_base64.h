
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _MT_BASE64_H_INCLUDED_
#define _MT_BASE64_H_INCLUDED_


#include "mt_core.h"


#define mt_base64_encoded_len(n)    (((n) + 2) / 3 * 4)
#define mt_base64url_encoded_len(n) (((n) * 4 + 2) / 3)
#define mt_base64_decoded_len(n)    (((n) + 3) / 4 * 3)


size_t mt_base64_encode(u_char *dst, const u_char *src, size_t len);
size_t mt_base64url_encode(u_char *dst, const u_char *src, size_t len);

/* strict: no whitespace; padding optional; returns -1 on a bad byte */
ssize_t mt_base64_decode(u_char *dst, const u_char *src, size_t len);
ssize_t mt_base64url_decode(u_char *dst, const u_char *src, size_t len);

size_t mt_hex_encode(u_char *dst, const u_char *src, size_t len);

/* a byte's two lowercase hex digits */
extern const char  mt_hex_pairs[256][2];

/* either case; returns -1 on an odd length or a byte that is not hex */
ssize_t mt_hex_decode(u_char *dst, const u_char *src, size_t len);


#endif /* _MT_BASE64_H_INCLUDED_ */


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The nginx-free core: plain C over bytes, no nginx headers.  The module,
 * the mail-track tool, the unit tests and the fuzzers link the same code.
 */


#ifndef _MT_CORE_H_INCLUDED_
#define _MT_CORE_H_INCLUDED_


/* memmem(), strndup(): the nginx build has no -D_GNU_SOURCE for us */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>


/* the same layout as ngx_str_t, so the glue may cast between them */
typedef struct {
    size_t      len;
    u_char     *data;
} mt_str_t;


#define mt_string(s)      { sizeof(s) - 1, (u_char *) s }
#define mt_null_string    { 0, NULL }
#define mt_str_set(str, text)                                                 \
    (str)->len = sizeof(text) - 1; (str)->data = (u_char *) text

#define mt_min(a, b)      ((a) < (b) ? (a) : (b))
#define mt_max(a, b)      ((a) > (b) ? (a) : (b))


/*
 * Every outcome the core can report.  The names (mt_rc_name()) are what
 * $mail_track_result, the error log and the metrics labels show.
 */
typedef enum {
    MT_OK = 0,
    MT_DECLINED,               /* valid, but nothing to record */
    MT_NEED_CERT,              /* SNS: signing certificate not at hand */

    MT_ERR_TOKEN_EMPTY,
    MT_ERR_TOKEN_LENGTH,
    MT_ERR_TOKEN_ENCODING,
    MT_ERR_TOKEN_VERSION,
    MT_ERR_TOKEN_KEY,
    MT_ERR_TOKEN_TRUNCATED,
    MT_ERR_TOKEN_TAMPERED,
    MT_ERR_TOKEN_PURPOSE,
    MT_ERR_TOKEN_EXPIRED,
    MT_ERR_TOKEN_PAYLOAD,
    MT_ERR_TOKEN_URL,

    MT_ERR_AUTH_MISSING,
    MT_ERR_AUTH_FAILED,
    MT_ERR_SIGNATURE_MISSING,
    MT_ERR_SIGNATURE,
    MT_ERR_STALE,
    MT_ERR_FUTURE,
    MT_ERR_REPLAY,
    MT_ERR_TOPIC,
    MT_ERR_CERT_URL,
    MT_ERR_CERT,
    MT_ERR_CONFIRM,
    MT_ERR_METHOD,
    MT_ERR_CONTENT_TYPE,
    MT_ERR_BODY_EMPTY,
    MT_ERR_JSON,
    MT_ERR_PAYLOAD,
    MT_ERR_TOO_MANY,
    MT_ERR_TOO_LARGE,
    MT_ERR_NOMEM,
    MT_ERR_FULL,
    MT_ERR_SPOOL,
    MT_ERR_INTERNAL,

    MT_RC_MAX
} mt_rc_t;


const char *mt_rc_name(mt_rc_t rc);
const char *mt_rc_text(mt_rc_t rc);


/* a bump allocator the caller backs with whatever memory it has */
typedef struct {
    void       *(*alloc)(void *data, size_t size);
    void         *data;
} mt_alloc_t;


void *mt_alloc(mt_alloc_t *a, size_t size);
u_char *mt_strdup(mt_alloc_t *a, mt_str_t *dst, const u_char *src,
    size_t len);


int mt_memeq_ct(const void *a, const void *b, size_t len);
int mt_str_eq(mt_str_t *s, const char *lit);
int mt_str_eq_nocase(mt_str_t *s, const char *lit);
int mt_str_has_prefix_nocase(mt_str_t *s, const char *lit);
int64_t mt_atoi64(const u_char *p, size_t len);

/* decimal digits, '-' first if negative; p has room for MT_INT64_LEN */
#define MT_INT64_LEN  21
u_char *mt_sprint_u64(u_char *p, uint64_t v);
u_char *mt_sprint_i64(u_char *p, int64_t v);
int64_t mt_parse_duration(const u_char *p, size_t len);
int mt_utf8_valid(const u_char *p, size_t len);
size_t mt_utf8_repair(u_char *dst, const u_char *src, size_t len);
size_t mt_utf8_cut(const u_char *p, size_t len, size_t cap);
u_char *mt_json_quote(u_char *dst, const u_char *p, size_t len);
ssize_t mt_percent_decode(u_char *dst, const u_char *src, size_t len);
int mt_hex_digit(u_char c);
void mt_hash128(const char *ns, const u_char *p, size_t len, u_char *out);
uint64_t mt_hash128_seed(const char *ns);
void mt_hash128_seeded(uint64_t seed, const u_char *p, size_t len,
    u_char *out);


#endif /* _MT_CORE_H_INCLUDED_ */

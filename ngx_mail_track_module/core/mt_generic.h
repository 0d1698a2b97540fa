
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The generic webhook provider: an engine that the mail_track_generic_*
 * directives configure, for any ESP whose callbacks carry a static
 * credential, an HMAC or a digest over pieces of the request, and events
 * in a JSON, JSON Lines, form or query-string body.
 *
 * Everything that can be prepared is prepared at configuration time:
 * JSON Pointers are parsed into reference tokens, the signed-message
 * template is compiled into pieces, the event names are hashed and the
 * keys are decoded (with an HMAC context per key).
 */


#ifndef _MT_GENERIC_H_INCLUDED_
#define _MT_GENERIC_H_INCLUDED_


#include "mt_webhook.h"
#include "mt_form.h"
#include "mt_json.h"


#define MT_GEN_NAME_MAX       32
#define MT_GEN_NONCE_MAX      256
#define MT_GEN_SIG_MAX        4096      /* a signature source, whole */
#define MT_GEN_CANDIDATES     16        /* signatures in one source */
#define MT_GEN_FIELD_PTRS     8         /* pointers of one field */


typedef enum {
    MT_GEN_FMT_AUTO = 0,               /* by Content-Type */
    MT_GEN_FMT_JSON,
    MT_GEN_FMT_NDJSON,
    MT_GEN_FMT_FORM,
    MT_GEN_FMT_QUERY
} mt_gen_format_e;


typedef enum {
    MT_GEN_AUTH_UNSET = 0,             /* digest if one is set, else token */
    MT_GEN_AUTH_NONE,
    MT_GEN_AUTH_TOKEN,
    MT_GEN_AUTH_DIGEST
} mt_gen_auth_e;


typedef enum {
    MT_GEN_ALG_HMAC_SHA256 = 0,
    MT_GEN_ALG_HMAC_SHA1,
    MT_GEN_ALG_HMAC_SHA512,
    MT_GEN_ALG_MD5,
    MT_GEN_ALG_SHA256
} mt_gen_alg_e;


typedef enum {
    MT_GEN_ENC_HEX = 0,
    MT_GEN_ENC_BASE64
} mt_gen_enc_e;


typedef enum {
    MT_GEN_KEY_RAW = 0,
    MT_GEN_KEY_BASE64,
    MT_GEN_KEY_WHSEC
} mt_gen_keyenc_e;


/* where a value of the request is */
typedef enum {
    MT_GEN_SRC_NONE = 0,
    MT_GEN_SRC_HEADER,
    MT_GEN_SRC_FIELD,
    MT_GEN_SRC_QUERY
} mt_gen_src_e;


/* the pieces of a signed-message template */
typedef enum {
    MT_GEN_PIECE_TEXT = 0,
    MT_GEN_PIECE_BODY,
    MT_GEN_PIECE_KEY,
    MT_GEN_PIECE_METHOD,
    MT_GEN_PIECE_URI,
    MT_GEN_PIECE_SOURCE                /* {header:..} {field:..} {query:..} */
} mt_gen_piece_e;


/* the record keys a field may fill */
typedef enum {
    MT_GEN_F_ID = 0,
    MT_GEN_F_TS,
    MT_GEN_F_ESP_TYPE,
    MT_GEN_F_MID,
    MT_GEN_F_ESP_MID,
    MT_GEN_F_RCPT,
    MT_GEN_F_REASON,
    MT_GEN_F_SMTP_CODE,
    MT_GEN_F_SMTP_STATUS,
    MT_GEN_F_URL,
    MT_GEN_F_IP,
    MT_GEN_F_UA,
    MT_GEN_F_TAG,
    MT_GEN_F_BOUNCE,
    MT_GEN_F_MAX
} mt_gen_field_e;


/* value conversions of a field, a bit each */
#define MT_GEN_CONV_S         0x01     /* unix seconds */
#define MT_GEN_CONV_MS        0x02     /* unix milliseconds */
#define MT_GEN_CONV_RFC3339   0x04
#define MT_GEN_CONV_LOCAL     0x08     /* RFC 3339, this zone when none */
#define MT_GEN_CONV_INT       0x10
#define MT_GEN_CONV_LOWER     0x20
#define MT_GEN_CONV_FIRST     0x40     /* an array: its first element */
#define MT_GEN_CONV_TIME      0x0f


/* what a pointer or a source found */
typedef enum {
    MT_GEN_V_ABSENT = 0,
    MT_GEN_V_NULL,
    MT_GEN_V_STRING,
    MT_GEN_V_NUMBER,                   /* s: the number as sent */
    MT_GEN_V_BOOL,                     /* s: "true" or "false" */
    MT_GEN_V_OBJECT,
    MT_GEN_V_ARRAY
} mt_gen_val_e;


typedef struct {
    mt_str_t            text;          /* as configured */
    mt_str_t           *tokens;        /* reference tokens, ~0 ~1 undone */
    size_t              ntokens;
} mt_gen_ptr_t;


typedef struct {
    mt_gen_src_e        type;
    mt_str_t            name;          /* header: lowercase, NUL-ended */
    mt_gen_ptr_t        ptr;           /* field */
} mt_gen_src_t;


typedef struct {
    mt_gen_piece_e      type;
    mt_str_t            text;          /* literal text */
    mt_gen_src_t        src;
} mt_gen_piece_t;


typedef struct {
    mt_gen_ptr_t        ptrs[MT_GEN_FIELD_PTRS];   /* the first present */
    size_t              nptrs;
    unsigned            conv;
    int64_t             offset;        /* local: seconds east of UTC */
} mt_gen_field_t;


typedef struct mt_gen_event_s  mt_gen_event_t;

struct mt_gen_event_s {
    mt_str_t            name;
    uint32_t            hash;
    mt_event_type_e     type;
    mt_bounce_e         bounce;
    mt_gen_event_t     *next;          /* as configured */
};


typedef struct mt_gen_bounce_s  mt_gen_bounce_t;

struct mt_gen_bounce_s {
    mt_gen_ptr_t        ptr;
    mt_str_t           *values;
    mt_bounce_e        *classes;
    size_t              n;
    mt_gen_bounce_t    *next;
};


typedef struct {
    mt_str_t            bytes;         /* decoded as key= says */
    void               *mac;           /* EVP_MAC_CTX *, HMAC only */
} mt_gen_key_t;


typedef struct {
    mt_alloc_t          alloc;         /* configuration memory */

    mt_str_t            name;          /* the records' src */
    mt_gen_format_e     format;
    mt_gen_ptr_t        events;
    unsigned            events_set:1;

    mt_gen_auth_e       auth;
    mt_gen_src_t        token;         /* none: Authorization */

    unsigned            digest_set:1;
    mt_gen_alg_e        alg;
    mt_gen_enc_e        enc;
    mt_gen_keyenc_e     keyenc;
    mt_gen_src_t        sig;
    mt_str_t            prefix;
    mt_str_t            split;

    mt_gen_piece_t     *pieces;        /* default: {body} */
    size_t              npieces;

    mt_gen_src_t        ts;
    unsigned            ts_conv;       /* MT_GEN_CONV_S, _MS or _RFC3339 */
    mt_gen_src_t        nonce;

    mt_gen_field_t     *fields[MT_GEN_F_MAX];

    mt_gen_event_t     *event_list;    /* as configured, newest first */
    mt_gen_event_t    **event_hash;    /* built by mt_gen_conf_finish() */
    size_t              event_mask;
    mt_gen_event_t      event_default;
    unsigned            default_set:1;

    mt_gen_bounce_t    *bounces;       /* in configuration order */

    /* prepared by mt_gen_conf_finish() */
    mt_gen_key_t       *keys;
    size_t              nkeys;
    void               *md;            /* EVP_MD *: the plain digests */
    size_t              md_len;
    unsigned            auth_fields:1; /* auth reads the parsed body */
    unsigned            has_body:1;    /* the template signs {body} */
    unsigned            has_key:1;
} mt_gen_conf_t;


extern const char *const  mt_gen_field_names[MT_GEN_F_MAX + 1];


mt_gen_conf_t *mt_gen_conf_create(mt_alloc_t *a);

/*
 * One mail_track_generic_* directive: name is what follows the prefix
 * ("digest", "field", ...), args its arguments.  MT_OK, or an error
 * with err saying why.
 */
mt_rc_t mt_gen_directive(mt_gen_conf_t *gc, const char *name,
    mt_str_t *args, size_t nargs, char *err, size_t errlen);

/*
 * The location is complete: the checks that need all of it (and the
 * keys), the event hash, the prepared keys.  wh->generic is set.
 */
mt_rc_t mt_gen_conf_finish(mt_gen_conf_t *gc, mt_wh_conf_t *wh, char *err,
    size_t errlen);
void mt_gen_conf_free(mt_gen_conf_t *gc);

mt_rc_t mt_gen_ptr_parse(mt_alloc_t *a, mt_str_t *text, mt_gen_ptr_t *ptr,
    char *err, size_t errlen);
mt_rc_t mt_gen_template_parse(mt_gen_conf_t *gc, mt_str_t *text,
    char *err, size_t errlen);

const mt_gen_event_t *mt_gen_event_find(mt_gen_conf_t *gc, mt_str_t *name);


/* the request: what the engine parsed, and where it looks values up */

typedef struct {
    mt_wh_t            *wh;
    mt_gen_conf_t      *gc;
    mt_gen_format_e     format;

    mt_form_param_t    *params;        /* form body or query string */
    size_t              nparams;
    mt_form_param_t    *args;          /* the query string, for query: */
    size_t              nargs;
    unsigned            args_parsed:1;
    unsigned            parsed:1;

    mt_json_t           root;          /* JSON: the parsed document */

    mt_str_t           *values;        /* the template's, resolved */
    mt_str_t            nonce;

    mt_event_t         *events;        /* built, not yet emitted */
    size_t              nevents;
    size_t              cap;
} mt_gen_req_t;


typedef struct {
    mt_gen_val_e        type;
    mt_str_t            s;
    mt_json_t           node;          /* JSON: the value */
    unsigned            count;         /* a header or form field: times */
} mt_gen_val_t;


mt_rc_t mt_generic_process(mt_wh_t *wh);
mt_rc_t mt_generic_normalize(mt_wh_t *wh);

/* mt_generic_sign.c */
mt_rc_t mt_gen_authenticate(mt_gen_req_t *rq);
mt_rc_t mt_gen_check_time(mt_gen_req_t *rq);
mt_rc_t mt_gen_get_nonce(mt_gen_req_t *rq);
mt_rc_t mt_gen_digest(mt_gen_conf_t *gc, mt_gen_key_t *key,
    mt_gen_req_t *rq, u_char *md, size_t *len);
int64_t mt_gen_time_ms(mt_gen_val_t *v, unsigned conv, int64_t offset);
void mt_gen_detail(mt_gen_req_t *rq, const char *fmt, ...);

/* mt_generic_field.c */
mt_rc_t mt_gen_source(mt_gen_req_t *rq, mt_gen_src_t *src,
    mt_gen_val_t *v);
mt_rc_t mt_gen_parse(mt_gen_req_t *rq);
mt_rc_t mt_gen_lookup(mt_gen_req_t *rq, void *node, mt_gen_ptr_t *ptr,
    mt_gen_val_t *v);
mt_rc_t mt_gen_events(mt_gen_req_t *rq);
mt_rc_t mt_gen_event_add(mt_gen_req_t *rq, void *node);

/* mt_generic_json.c: the JSON formats */
mt_rc_t mt_gen_json_parse(mt_gen_req_t *rq, const u_char *p, size_t len);
mt_rc_t mt_gen_json_lookup(mt_gen_req_t *rq, void *node, mt_gen_ptr_t *ptr,
    mt_gen_val_t *v);
mt_rc_t mt_gen_json_first(mt_gen_req_t *rq, mt_gen_val_t *v);
mt_rc_t mt_gen_json_events(mt_gen_req_t *rq);


#endif /* _MT_GENERIC_H_INCLUDED_ */

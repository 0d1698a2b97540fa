
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * ESP webhooks: one entry per provider that authenticates the request over
 * the raw bytes, parses it and emits normalized events one by one.
 */


#ifndef _MT_WEBHOOK_H_INCLUDED_
#define _MT_WEBHOOK_H_INCLUDED_


#include "mt_core.h"
#include "mt_event.h"
#include "mt_json.h"


/* the largest batch accepted (Mandrill documents 1000) */
#define MT_WH_MAX_EVENTS      10000

#define MT_WH_HASH_ID_LEN     32


typedef struct mt_wh_s  mt_wh_t;


typedef struct {
    mt_str_t            raw;          /* as configured, file: resolved */
    void               *data;         /* prepared by the provider */
    void              (*free)(void *data);
} mt_wh_key_t;


typedef struct {
    mt_src_e            provider;
    mt_wh_key_t        *keys;
    size_t              nkeys;
    int64_t             tolerance;    /* seconds, 0: no timestamp check */
    mt_str_t            url;          /* mandrill: the URL it signs */
    mt_str_t            id_field;     /* custom argument with the app's id */
    mt_str_t           *topics;       /* SNS topic ARN allowlist */
    size_t              ntopics;
    mt_str_t            src_name;     /* the records' src */
    void               *generic;      /* mt_gen_conf_t */

    /*
     * mail_track_rcpt hash: an mt_rcpt_hasher_t that keys the ids made
     * of an event's fields, which hold the address
     */
    void               *id_key;
    unsigned            auth_off:1;   /* unsigned provider, no credential */
} mt_wh_conf_t;


struct mt_wh_s {
    /* what the glue fills in */
    mt_wh_conf_t       *conf;
    mt_str_t            method;
    mt_str_t            uri;          /* as sent, with the query string */
    mt_str_t            args;         /* the query string */
    mt_str_t            content_type;
    const u_char       *body;
    size_t              body_len;
    unsigned            body_padded:1;  /* MT_JSON_PADDING bytes follow */
    int64_t             now_ms;

    /* a request header by lowercase name; empty if absent */
    mt_str_t          (*header)(mt_wh_t *wh, const char *lcname);

    /* how many times the header came; NULL: at most once */
    unsigned          (*header_count)(mt_wh_t *wh, const char *lcname);

    mt_alloc_t          alloc;

    /*
     * Called once per event, in order.  Returns MT_OK (queued or a
     * duplicate) or an error that ends processing (MT_ERR_FULL ...).
     */
    mt_rc_t           (*emit)(mt_wh_t *wh, mt_event_t *ev);

    /*
     * Mailgun: records a signature token.  MT_OK when it is new or was
     * seen with the same event id, MT_ERR_REPLAY otherwise.
     */
    mt_rc_t           (*replay)(mt_wh_t *wh, mt_str_t *token,
                                mt_str_t *event_id);

    /*
     * SNS: the EVP_PKEY of a certificate already fetched and trusted,
     * for a URL that passed mt_sns_cert_url_valid(); NULL if none.
     */
    void             *(*cert)(mt_wh_t *wh, mt_str_t *url);

    void               *data;         /* the glue's own */

    /* what the provider reports back */
    unsigned            nevents;      /* emitted so far */
    mt_str_t            cert_url;     /* MT_NEED_CERT: the URL to fetch */
    mt_str_t            confirm_url;  /* SNS SubscribeURL, validated */
    mt_str_t            detail;       /* why, for the error log */
    unsigned            basic_auth:1; /* a 401 should carry a challenge */
};


typedef struct {
    const char         *name;
    mt_src_e            src;
    unsigned            signs:1;      /* verifies a signature with a key */
    int64_t             tolerance;    /* default, seconds; 0: none */
    int64_t             retry_window; /* seconds: dedupe must cover it */
    mt_rc_t           (*key)(mt_str_t *raw, void **data, char *err,
                             size_t errlen);
    void              (*key_free)(void *data);
    mt_rc_t           (*process)(mt_wh_t *wh);
} mt_provider_t;


const mt_provider_t *mt_provider_find(const u_char *name, size_t len);
const mt_provider_t *mt_provider_get(mt_src_e src);
extern const mt_provider_t  *mt_providers[];


/* the providers */
mt_rc_t mt_sendgrid_key(mt_str_t *raw, void **data, char *err, size_t len);
void mt_sendgrid_key_free(void *data);
mt_rc_t mt_sendgrid_process(mt_wh_t *wh);
mt_rc_t mt_mailgun_key(mt_str_t *raw, void **data, char *err, size_t len);
mt_rc_t mt_mailgun_process(mt_wh_t *wh);
mt_rc_t mt_ses_process(mt_wh_t *wh);
mt_rc_t mt_postmark_process(mt_wh_t *wh);
mt_rc_t mt_sparkpost_process(mt_wh_t *wh);
mt_rc_t mt_mandrill_key(mt_str_t *raw, void **data, char *err, size_t len);
mt_rc_t mt_mandrill_process(mt_wh_t *wh);
mt_rc_t mt_mailjet_process(mt_wh_t *wh);
mt_rc_t mt_brevo_process(mt_wh_t *wh);
mt_rc_t mt_resend_key(mt_str_t *raw, void **data, char *err, size_t len);
mt_rc_t mt_resend_process(mt_wh_t *wh);
mt_rc_t mt_generic_process(mt_wh_t *wh);

/*
 * The parse-and-normalize half of each provider, run after the request
 * was authenticated (and, for SES, on the verified envelope); the
 * fuzzers call these directly.
 */
mt_rc_t mt_sendgrid_normalize(mt_wh_t *wh);
mt_rc_t mt_mailgun_normalize(mt_wh_t *wh);
mt_rc_t mt_ses_normalize(mt_wh_t *wh);
mt_rc_t mt_postmark_normalize(mt_wh_t *wh);
mt_rc_t mt_sparkpost_normalize(mt_wh_t *wh);
mt_rc_t mt_mandrill_normalize(mt_wh_t *wh);
mt_rc_t mt_mailjet_normalize(mt_wh_t *wh);
mt_rc_t mt_brevo_normalize(mt_wh_t *wh);
mt_rc_t mt_resend_normalize(mt_wh_t *wh);
mt_rc_t mt_generic_normalize(mt_wh_t *wh);


/* the per-process JSON parsers: made, trimmed after a request, freed */
int mt_wh_json_init(void);
void mt_wh_json_trim(void);
void mt_wh_cleanup(void);


/* helpers shared by the providers (mt_webhook.c) */

const char *mt_wh_src_name(mt_wh_conf_t *conf);
mt_rc_t mt_wh_check_credential(mt_wh_t *wh);
mt_rc_t mt_wh_process_unsigned(mt_wh_t *wh,
    mt_rc_t (*normalize)(mt_wh_t *wh));
mt_rc_t mt_wh_each_event(mt_wh_t *wh, int (*valid)(mt_json_t obj),
    mt_rc_t (*event)(mt_wh_t *wh, mt_json_t obj, mt_event_t *ev));
mt_rc_t mt_wh_each_in_array(mt_wh_t *wh, mt_json_t array,
    int (*valid)(mt_json_t obj),
    mt_rc_t (*event)(mt_wh_t *wh, mt_json_t obj, mt_event_t *ev));
mt_rc_t mt_wh_check_time(mt_wh_t *wh, int64_t ts);
int mt_wh_content_type_is(mt_wh_t *wh, const char *type);
int mt_wh_content_type_json(mt_wh_t *wh);
mt_rc_t mt_wh_json_load(mt_wh_t *wh, const u_char *p, size_t len,
    mt_json_t *root);
mt_rc_t mt_wh_json_load_inner(const u_char *p, size_t len, mt_json_t *root);
mt_rc_t mt_wh_emit(mt_wh_t *wh, mt_event_t *ev);
void *mt_wh_sha256(void **ctx);
mt_rc_t mt_wh_hash_id(mt_wh_t *wh, mt_str_t *id, const mt_str_t *fields,
    size_t n);

/* JSON values as the providers read them (mt_webhook.c) */

/* a member's string, or { 0, NULL } */
static inline mt_str_t
mt_json_str(mt_json_t obj, const char *key)
{
    return mt_json_string(mt_json_get(obj, key));
}

mt_str_t mt_json_str_value(mt_wh_t *wh, mt_json_t v);
mt_str_t mt_json_scalar(mt_json_t v, u_char *buf, size_t size);
mt_rc_t mt_json_join(mt_wh_t *wh, mt_json_t v, mt_str_t *out);
int mt_json_int(mt_json_t obj, const char *key, int64_t *v);
mt_rc_t mt_wh_custom_id(mt_wh_t *wh, mt_json_t custom, mt_str_t *mid);
int64_t mt_json_time_ms(mt_json_t v);
int64_t mt_time_iso8601_ms(const u_char *p, size_t len);

void mt_smtp_parse(mt_str_t *text, mt_str_t *status, int *code);
mt_bounce_e mt_bounce_classify(mt_str_t *status, int code);


/* Amazon SNS: the certificate and its URL */

int mt_sns_cert_url_valid(const u_char *url, size_t len);
int mt_sns_subscribe_url_valid(const u_char *url, size_t len);

/*
 * Parses a PEM certificate and checks it chains to store (X509_STORE *);
 * returns an EVP_PKEY * the caller frees, or NULL with err set.
 */
void *mt_sns_cert_load(const u_char *pem, size_t len, void *store,
    int64_t now, char *err, size_t errlen);
void mt_sns_key_free(void *pkey);

/* the caIssuers URL of a leaf, when it is an amazontrust.com address */
int mt_sns_issuer_url(const u_char *pem, size_t len, mt_alloc_t *a,
    mt_str_t *url);
int mt_sns_issuer_url_valid(const u_char *url, size_t len);
u_char *mt_sns_pem_append(mt_alloc_t *a, const u_char *pem, size_t len,
    const u_char *issuer, size_t ilen, size_t *out);


#endif /* _MT_WEBHOOK_H_INCLUDED_ */

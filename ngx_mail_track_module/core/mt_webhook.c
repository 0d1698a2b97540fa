
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * What the providers share: the registry, credentials, timestamps, JSON
 * access, deterministic event ids, SMTP status parsing.
 */


#include "mt_webhook.h"
#include "mt_base64.h"
#include "mt_hmac.h"
#include "mt_rcpt.h"

#include <stdio.h>
#include <openssl/evp.h>


static const mt_provider_t  mt_provider_sendgrid = {
    "sendgrid", MT_SRC_SENDGRID, 1,
    /*
     * SendGrid retries for 24 hours and documents neither whether a retry
     * is signed afresh nor any tolerance: accept the whole retry window,
     * replays of the same events are dropped as duplicates.
     */
    25 * 3600, 25 * 3600,
    mt_sendgrid_key, mt_sendgrid_key_free, mt_sendgrid_process
};

static const mt_provider_t  mt_provider_mailgun = {
    "mailgun", MT_SRC_MAILGUN, 1,
    /* retries over about 8 hours keep the first timestamp */
    9 * 3600, 9 * 3600,
    mt_mailgun_key, mt_hmac_key_free, mt_mailgun_process
};

static const mt_provider_t  mt_provider_ses = {
    "ses", MT_SRC_SES, 1,
    /* SNS retries an HTTP/S delivery for at most an hour */
    2 * 3600, 2 * 3600,
    NULL, NULL, mt_ses_process
};

static const mt_provider_t  mt_provider_postmark = {
    "postmark", MT_SRC_POSTMARK, 0, 0, 12 * 3600,
    NULL, NULL, mt_postmark_process
};

static const mt_provider_t  mt_provider_sparkpost = {
    "sparkpost", MT_SRC_SPARKPOST, 0, 0, 9 * 3600,
    NULL, NULL, mt_sparkpost_process
};

static const mt_provider_t  mt_provider_mandrill = {
    "mandrill", MT_SRC_MANDRILL, 1, 0, 25 * 3600,
    mt_mandrill_key, mt_hmac_key_free, mt_mandrill_process
};

static const mt_provider_t  mt_provider_mailjet = {
    "mailjet", MT_SRC_MAILJET, 0, 0, 25 * 3600,
    NULL, NULL, mt_mailjet_process
};

static const mt_provider_t  mt_provider_brevo = {
    "brevo", MT_SRC_BREVO, 0, 0, 25 * 3600,
    NULL, NULL, mt_brevo_process
};

static const mt_provider_t  mt_provider_resend = {
    "resend", MT_SRC_RESEND, 1,
    /* Svix signs every attempt afresh; its libraries allow 5 minutes */
    300, 28 * 3600,
    mt_resend_key, mt_hmac_key_free, mt_resend_process
};


/*
 * The generic provider's defaults: five minutes, as the Standard
 * Webhooks libraries allow, when a timestamp is configured; its vendors'
 * retry windows are unknown, so dedupe covers a day.
 */

static const mt_provider_t  mt_provider_generic = {
    "generic", MT_SRC_GENERIC, 0, 300, 25 * 3600,
    NULL, NULL, mt_generic_process
};


const mt_provider_t  *mt_providers[] = {
    &mt_provider_sendgrid,
    &mt_provider_mailgun,
    &mt_provider_ses,
    &mt_provider_postmark,
    &mt_provider_sparkpost,
    &mt_provider_mandrill,
    &mt_provider_mailjet,
    &mt_provider_brevo,
    &mt_provider_resend,
    &mt_provider_generic,
    NULL
};


/*
 * Two parsers per process, their buffers kept from one request to the
 * next: one for the body, one for JSON inside a string of the body (an
 * SNS Message, a Mailjet Payload), parsed while the body is in use.
 */

static mt_json_parser_t  *mt_wh_parser[2];

static EVP_MD            *mt_hash_md;
static EVP_MD_CTX        *mt_hash_ctx;


int
mt_wh_json_init(void)
{
    size_t  i;

    for (i = 0; i < 2; i++) {
        if (mt_wh_parser[i] == NULL) {
            mt_wh_parser[i] = mt_json_parser_create();

            if (mt_wh_parser[i] == NULL) {
                return -1;
            }
        }
    }

    return 0;
}


/* after a request: a large body's buffers go back */

void
mt_wh_json_trim(void)
{
    mt_json_parser_trim(mt_wh_parser[0]);
    mt_json_parser_trim(mt_wh_parser[1]);
}


/* what a process kept between requests, at its exit */

void
mt_wh_cleanup(void)
{
    EVP_MD_free(mt_hash_md);
    EVP_MD_CTX_free(mt_hash_ctx);
    mt_hash_md = NULL;
    mt_hash_ctx = NULL;

    mt_json_parser_destroy(mt_wh_parser[0]);
    mt_json_parser_destroy(mt_wh_parser[1]);
    mt_wh_parser[0] = NULL;
    mt_wh_parser[1] = NULL;
}


const mt_provider_t *
mt_provider_find(const u_char *name, size_t len)
{
    const mt_provider_t  **p;

    for (p = mt_providers; *p; p++) {
        if (strlen((*p)->name) == len
            && strncasecmp((*p)->name, (char *) name, len) == 0)
        {
            return *p;
        }
    }

    return NULL;
}


const mt_provider_t *
mt_provider_get(mt_src_e src)
{
    const mt_provider_t  **p;

    for (p = mt_providers; *p; p++) {
        if ((*p)->src == src) {
            return *p;
        }
    }

    return NULL;
}


/* the records' src: a generic provider's name, or a built-in's */

const char *
mt_wh_src_name(mt_wh_conf_t *conf)
{
    return conf->src_name.len ? (const char *) conf->src_name.data
                              : mt_src_names[conf->provider];
}


/*
 * Providers that sign nothing send a credential: a basic-auth password
 * (or "user:password" when the key holds a colon) or a bearer token.
 */

mt_rc_t
mt_wh_check_credential(mt_wh_t *wh)
{
    size_t         i;
    ssize_t        n;
    u_char        *colon, *buf;
    mt_str_t       auth, full, cand, *key;
    mt_wh_conf_t  *conf;

    conf = wh->conf;

    if (conf->nkeys == 0) {
        return conf->auth_off ? MT_OK : MT_ERR_AUTH_MISSING;
    }

    wh->basic_auth = 1;

    auth = wh->header(wh, "authorization");

    if (auth.len == 0) {
        return MT_ERR_AUTH_MISSING;
    }

    if (mt_str_has_prefix_nocase(&auth, "basic ")) {
        auth.data += 6;
        auth.len -= 6;

        while (auth.len && auth.data[0] == ' ') {
            auth.data++;
            auth.len--;
        }

        buf = mt_alloc(&wh->alloc, mt_base64_decoded_len(auth.len) + 1);
        if (buf == NULL) {
            return MT_ERR_NOMEM;
        }

        n = mt_base64_decode(buf, auth.data, auth.len);
        if (n < 0) {
            return MT_ERR_AUTH_FAILED;
        }

        full.data = buf;
        full.len = n;

        colon = memchr(buf, ':', n);
        if (colon == NULL) {
            return MT_ERR_AUTH_FAILED;
        }

        cand.data = colon + 1;
        cand.len = buf + n - cand.data;

    } else if (mt_str_has_prefix_nocase(&auth, "bearer ")) {
        cand.data = auth.data + 7;
        cand.len = auth.len - 7;
        full = cand;

    } else {
        return MT_ERR_AUTH_FAILED;
    }

    for (i = 0; i < conf->nkeys; i++) {
        key = &conf->keys[i].raw;

        if (memchr(key->data, ':', key->len)) {
            if (full.len == key->len
                && mt_memeq_ct(full.data, key->data, key->len))
            {
                return MT_OK;
            }

            continue;
        }

        if (cand.len == key->len
            && mt_memeq_ct(cand.data, key->data, key->len))
        {
            return MT_OK;
        }
    }

    return MT_ERR_AUTH_FAILED;
}


/* the providers that sign nothing: a credential, then JSON */

mt_rc_t
mt_wh_process_unsigned(mt_wh_t *wh, mt_rc_t (*normalize)(mt_wh_t *wh))
{
    mt_rc_t  rc;

    rc = mt_wh_check_credential(wh);
    if (rc != MT_OK) {
        return rc;
    }

    if (!mt_wh_content_type_json(wh)) {
        return MT_ERR_CONTENT_TYPE;
    }

    return normalize(wh);
}


/*
 * A body that is one event object or an array of them (grouped or
 * batched webhooks).
 */

mt_rc_t
mt_wh_each_event(mt_wh_t *wh, int (*valid)(mt_json_t obj),
    mt_rc_t (*event)(mt_wh_t *wh, mt_json_t obj, mt_event_t *ev))
{
    mt_rc_t      rc;
    mt_json_t    root;
    mt_event_t   ev;

    rc = mt_wh_json_load(wh, wh->body, wh->body_len, &root);
    if (rc != MT_OK) {
        return rc;
    }

    if (mt_json_is_object(root)) {
        if (!valid(root)) {
            mt_str_set(&wh->detail, "event without a name");
            return MT_ERR_PAYLOAD;
        }

        rc = event(wh, root, &ev);

        if (rc == MT_OK) {
            rc = mt_wh_emit(wh, &ev);
        }

        return rc;
    }

    if (!mt_json_is_array(root)) {
        mt_str_set(&wh->detail, "neither an object nor an array");
        return MT_ERR_PAYLOAD;
    }

    return mt_wh_each_in_array(wh, root, valid, event);
}


/*
 * Every element of an array of events.  The whole batch is checked
 * before the first event is emitted: a bad one queues nothing.
 */

mt_rc_t
mt_wh_each_in_array(mt_wh_t *wh, mt_json_t array,
    int (*valid)(mt_json_t obj),
    mt_rc_t (*event)(mt_wh_t *wh, mt_json_t obj, mt_event_t *ev))
{
    mt_rc_t          rc;
    mt_json_t        obj;
    mt_event_t       ev;
    mt_json_iter_t   it;

    if (mt_json_size(array) > MT_WH_MAX_EVENTS) {
        return MT_ERR_TOO_MANY;
    }

    mt_json_array_foreach(array, it, obj) {
        if (!valid(obj)) {
            mt_str_set(&wh->detail, "event without a name");
            return MT_ERR_PAYLOAD;
        }
    }

    if (mt_json_size(array) == 0) {
        return MT_DECLINED;
    }

    mt_json_array_foreach(array, it, obj) {
        rc = event(wh, obj, &ev);
        if (rc != MT_OK) {
            return rc;
        }

        rc = mt_wh_emit(wh, &ev);
        if (rc != MT_OK) {
            return rc;
        }
    }

    return MT_OK;
}


/* ts in seconds; a request from the future gets at most 5 minutes */

mt_rc_t
mt_wh_check_time(mt_wh_t *wh, int64_t ts)
{
    int64_t  now, tol;

    tol = wh->conf->tolerance;

    if (tol <= 0) {
        return MT_OK;
    }

    now = wh->now_ms / 1000;

    if (ts < now - tol) {
        return MT_ERR_STALE;
    }

    if (ts > now + mt_min(tol, 300)) {
        return MT_ERR_FUTURE;
    }

    return MT_OK;
}


/* the media type alone, without parameters, case-insensitively */

int
mt_wh_content_type_is(mt_wh_t *wh, const char *type)
{
    size_t  n, len;

    n = strlen(type);
    len = wh->content_type.len;

    if (len < n || strncasecmp((char *) wh->content_type.data, type, n) != 0) {
        return 0;
    }

    return len == n || wh->content_type.data[n] == ';'
           || wh->content_type.data[n] == ' ';
}


/* application/json, or an application/ type with the +json suffix */

int
mt_wh_content_type_json(mt_wh_t *wh)
{
    size_t   n;
    u_char  *p;

    if (mt_wh_content_type_is(wh, "application/json")) {
        return 1;
    }

    p = wh->content_type.data;

    for (n = 0; n < wh->content_type.len; n++) {
        if (p[n] == ';' || p[n] == ' ') {
            break;
        }
    }

    return n > sizeof("application/+json") - 1
           && strncasecmp((char *) p, "application/", 12) == 0
           && strncasecmp((char *) p + n - 5, "+json", 5) == 0;
}


/*
 * Invalid UTF-8 is repaired with U+FFFD rather than refused: the bytes
 * were authenticated already, and a bounce with a Latin-1 diagnostic
 * from some MTA must not be lost.  simdjson checks UTF-8 as it parses,
 * so a valid body costs one pass, and only a bad one is repaired (into
 * the parser's own buffer) and parsed again.
 */

mt_rc_t
mt_wh_json_load(mt_wh_t *wh, const u_char *p, size_t len, mt_json_t *root)
{
    u_char            *fixed;
    mt_json_err_e      err;
    mt_json_parser_t  *jp;

    if (mt_wh_parser[0] == NULL && mt_wh_json_init() != 0) {
        return MT_ERR_NOMEM;
    }

    jp = mt_wh_parser[0];

    if (p == wh->body && wh->body_padded) {
        err = mt_json_parse_padded(jp, p, len, root);

    } else {
        err = mt_json_parse(jp, p, len, root);
    }

    if (err == MT_JSON_ERR_UTF8) {
        fixed = mt_json_buffer(jp, len * 3);
        if (fixed == NULL) {
            return MT_ERR_NOMEM;
        }

        len = mt_utf8_repair(fixed, p, len);
        err = mt_json_parse_padded(jp, fixed, len, root);
    }

    switch (err) {

    case MT_JSON_OK:
        return MT_OK;

    case MT_JSON_ERR_EMPTY:
        return MT_ERR_BODY_EMPTY;

    case MT_JSON_ERR_NOMEM:
        return MT_ERR_NOMEM;

    default:
        wh->detail.data = (u_char *) mt_json_error(jp);
        wh->detail.len = strlen(mt_json_error(jp));
        return MT_ERR_JSON;
    }
}


/*
 * JSON inside a string of the body (valid UTF-8 already), parsed while
 * the body's document is in use; the value lives until the next call.
 */

mt_rc_t
mt_wh_json_load_inner(const u_char *p, size_t len, mt_json_t *root)
{
    if (mt_wh_parser[1] == NULL && mt_wh_json_init() != 0) {
        return MT_ERR_NOMEM;
    }

    switch (mt_json_parse(mt_wh_parser[1], p, len, root)) {

    case MT_JSON_OK:
        return MT_OK;

    case MT_JSON_ERR_NOMEM:
        return MT_ERR_NOMEM;

    default:
        return MT_ERR_JSON;
    }
}


mt_rc_t
mt_wh_emit(mt_wh_t *wh, mt_event_t *ev)
{
    mt_rc_t  rc;

    ev->src = wh->conf->provider;
    ev->src_name = wh->conf->src_name;
    ev->rt = wh->now_ms;

    /* mid is the application's id, else the provider's */

    if (ev->mid.len == 0) {
        ev->mid = ev->esp_mid;
        ev->esp_mid.len = 0;

    } else if (ev->esp_mid.len == ev->mid.len
               && memcmp(ev->esp_mid.data, ev->mid.data, ev->mid.len) == 0)
    {
        ev->esp_mid.len = 0;
    }

    if (wh->nevents >= MT_WH_MAX_EVENTS) {
        return MT_ERR_TOO_MANY;
    }

    rc = wh->emit(wh, ev);

    if (rc == MT_OK) {
        wh->nevents++;
    }

    return rc;
}


/*
 * SHA-256 fetched once and a digest context kept for the process: an
 * implicit fetch (EVP_sha256()) costs as much as hashing a small event.
 * The context is left reset for the next user.
 */

void *
mt_wh_sha256(void **ctx)
{
    if (mt_hash_ctx == NULL) {
        mt_hash_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        mt_hash_ctx = EVP_MD_CTX_new();

        if (mt_hash_md == NULL || mt_hash_ctx == NULL) {
            mt_wh_cleanup();
            return NULL;
        }
    }

    if (ctx != NULL) {
        *ctx = mt_hash_ctx;
    }

    return mt_hash_md;
}


/*
 * A deterministic event id: 128 bits of SHA-256 over the provider's name
 * and NUL, then each field as a 32-bit big-endian length and its bytes,
 * in hex.  The bytes are laid out first and hashed in one update: one
 * EVP_DigestUpdate() per field cost more than the hash of a small event.
 * With hashed recipients it is HMAC-SHA256 with their key: the fields
 * hold the address, and a plain hash would let anyone who guesses it
 * check the guess against the record.
 */

mt_rc_t
mt_wh_hash_id(mt_wh_t *wh, mt_str_t *id, const mt_str_t *fields, size_t n)
{
    size_t         i, len, total, maclen;
    u_char        *p, *msg;
    u_char         buf[1024], md[EVP_MAX_MD_SIZE];
    mt_str_t       src;
    EVP_MAC_CTX   *mac;
    unsigned int   mdlen;

    if (mt_wh_sha256(NULL) == NULL) {
        return MT_ERR_NOMEM;
    }

    /* the name and its NUL (both names are C strings): one namespace each */

    src = wh->conf->src_name;

    if (src.len == 0) {
        src.data = (u_char *) mt_src_names[wh->conf->provider];
        src.len = strlen((char *) src.data);
    }

    len = src.len + 1;
    total = len + 4 * n;

    for (i = 0; i < n; i++) {
        total += fields[i].len;
    }

    msg = (total <= sizeof(buf)) ? buf : mt_alloc(&wh->alloc, total);
    if (msg == NULL) {
        return MT_ERR_NOMEM;
    }

    p = msg;
    memcpy(p, src.data, len);
    p += len;

    for (i = 0; i < n; i++) {
        *p++ = (u_char) (fields[i].len >> 24);
        *p++ = (u_char) (fields[i].len >> 16);
        *p++ = (u_char) (fields[i].len >> 8);
        *p++ = (u_char) fields[i].len;

        if (fields[i].len) {
            memcpy(p, fields[i].data, fields[i].len);
            p += fields[i].len;
        }
    }

    mac = (wh->conf->id_key != NULL)
          ? ((mt_rcpt_hasher_t *) wh->conf->id_key)->mac : NULL;

    if (mac != NULL) {
        if (EVP_MAC_init(mac, NULL, 0, NULL) != 1
            || EVP_MAC_update(mac, msg, total) != 1
            || EVP_MAC_final(mac, md, &maclen, sizeof(md)) != 1)
        {
            return MT_ERR_INTERNAL;
        }

    } else if (EVP_DigestInit_ex(mt_hash_ctx, mt_hash_md, NULL) != 1
               || EVP_DigestUpdate(mt_hash_ctx, msg, total) != 1
               || EVP_DigestFinal_ex(mt_hash_ctx, md, &mdlen) != 1)
    {
        return MT_ERR_INTERNAL;
    }

    p = mt_alloc(&wh->alloc, MT_WH_HASH_ID_LEN + 1);
    if (p == NULL) {
        return MT_ERR_NOMEM;
    }

    mt_hex_encode(p, md, MT_WH_HASH_ID_LEN / 2);
    p[MT_WH_HASH_ID_LEN] = '\0';

    id->data = p;
    id->len = MT_WH_HASH_ID_LEN;

    return MT_OK;
}


/*
 * A string as it is, or an integer printed exactly (Mailjet's 64-bit
 * ids); anything else is empty.
 */

mt_str_t
mt_json_str_value(mt_wh_t *wh, mt_json_t v)
{
    u_char    *p;
    mt_str_t   s = mt_null_string;

    switch (mt_json_type(v)) {

    case MT_JSON_STRING:
        return mt_json_string(v);

    case MT_JSON_INT:
    case MT_JSON_UINT:
        p = mt_alloc(&wh->alloc, 24);

        if (p != NULL) {
            s = mt_json_scalar(v, p, 24);
        }

        break;

    default:
        break;
    }

    return s;
}


/*
 * The application's id (the id_field) in a custom-data member that is
 * an object, or a string holding one (Mailjet's Payload, Brevo's
 * X-Mailin-custom); empty when absent or not JSON.  A string from the
 * inner document is copied: the next event parses over it.
 */

mt_rc_t
mt_wh_custom_id(mt_wh_t *wh, mt_json_t custom, mt_str_t *mid)
{
    int        inner;
    mt_str_t   s;
    mt_json_t  v;

    mid->len = 0;
    mid->data = NULL;

    if (wh->conf->id_field.len == 0) {
        return MT_OK;
    }

    inner = !mt_json_is_object(custom);

    if (inner) {
        s = mt_json_string(custom);

        if (s.len < 2 || s.data[0] != '{'
            || mt_wh_json_load_inner(s.data, s.len, &custom) != MT_OK)
        {
            return MT_OK;
        }
    }

    v = mt_json_getn(custom, wh->conf->id_field.data, wh->conf->id_field.len);
    s = mt_json_str_value(wh, v);

    if (inner && mt_json_is_string(v) && s.len
        && mt_strdup(&wh->alloc, &s, s.data, s.len) == NULL)
    {
        return MT_ERR_NOMEM;
    }

    *mid = s;

    return MT_OK;
}


/* a string as it is, a number printed into buf; anything else is empty */

mt_str_t
mt_json_scalar(mt_json_t v, u_char *buf, size_t size)
{
    int       n;
    double    d;
    int64_t   i;
    uint64_t  u;
    mt_str_t  s = mt_null_string;

    switch (mt_json_type(v)) {

    case MT_JSON_STRING:
        return mt_json_string(v);

    /* integers as "%lld" and "%llu" print them, without snprintf() */

    case MT_JSON_INT:
        (void) mt_json_int64(v, &i);

        if (size < MT_INT64_LEN) {
            return s;
        }

        s.data = buf;
        s.len = mt_sprint_i64(buf, i) - buf;
        return s;

    case MT_JSON_UINT:
        (void) mt_json_uint64(v, &u);

        if (size < MT_INT64_LEN) {
            return s;
        }

        s.data = buf;
        s.len = mt_sprint_u64(buf, u) - buf;
        return s;

    case MT_JSON_DOUBLE:
        (void) mt_json_double(v, &d);
        n = snprintf((char *) buf, size, "%.17g", d);
        break;

    default:
        return s;
    }

    if (n > 0 && (size_t) n < size) {
        s.data = buf;
        s.len = n;
    }

    return s;
}


/* tags: a string as it is, or an array's non-empty strings joined by "," */

mt_rc_t
mt_json_join(mt_wh_t *wh, mt_json_t v, mt_str_t *out)
{
    size_t           len;
    u_char          *p;
    mt_str_t         s;
    mt_json_t        e;
    mt_json_iter_t   it;

    if (mt_json_is_string(v)) {
        *out = mt_json_string(v);
        return MT_OK;
    }

    if (!mt_json_is_array(v)) {
        return MT_OK;
    }

    len = 0;

    mt_json_array_foreach(v, it, e) {
        s = mt_json_string(e);

        if (s.len) {
            len += s.len + 1;
        }
    }

    if (len == 0) {
        return MT_OK;
    }

    p = mt_alloc(&wh->alloc, len);
    if (p == NULL) {
        return MT_ERR_NOMEM;
    }

    out->data = p;

    mt_json_array_foreach(v, it, e) {
        s = mt_json_string(e);

        if (s.len) {
            if (p != out->data) {
                *p++ = ',';
            }

            memcpy(p, s.data, s.len);
            p += s.len;
        }
    }

    out->len = p - out->data;

    return MT_OK;
}


/* an integer, a real without fraction loss, or a decimal string */

int
mt_json_int(mt_json_t obj, const char *key, int64_t *v)
{
    double     d;
    int64_t    n;
    mt_str_t   s;
    mt_json_t  j;

    j = key ? mt_json_get(obj, key) : obj;

    switch (mt_json_type(j)) {

    case MT_JSON_INT:
        return mt_json_int64(j, v);

    case MT_JSON_DOUBLE:
        (void) mt_json_double(j, &d);

        if (d != d || d > 9.2e18 || d < -9.2e18) {
            return -1;
        }

        *v = (int64_t) d;
        return 0;

    case MT_JSON_STRING:
        s = mt_json_string(j);

        if (s.len && s.data[0] == '-') {
            n = mt_atoi64(s.data + 1, s.len - 1);
            if (n < 0) {
                return -1;
            }

            *v = -n;
            return 0;
        }

        n = mt_atoi64(s.data, s.len);
        if (n < 0) {
            return -1;
        }

        *v = n;
        return 0;

    default:
        return -1;
    }
}


/*
 * Unix seconds (integer, real or decimal string, with a fraction) or an
 * ISO 8601 string, as milliseconds; 0 when unknown.
 */

int64_t
mt_json_time_ms(mt_json_t v)
{
    double     d;
    size_t     i;
    int64_t    sec, ms, scale;
    mt_str_t   s;

    switch (mt_json_type(v)) {

    case MT_JSON_INT:
        (void) mt_json_int64(v, &sec);
        return (sec > 0 && sec < 100000000000LL) ? sec * 1000 : 0;

    case MT_JSON_DOUBLE:
        (void) mt_json_double(v, &d);
        return (d > 0 && d < 1e11) ? (int64_t) (d * 1000.0 + 0.5) : 0;

    case MT_JSON_STRING:
        break;

    default:
        return 0;
    }

    s = mt_json_string(v);

    for (i = 0; i < s.len && s.data[i] >= '0' && s.data[i] <= '9'; i++) {
        /* void */
    }

    if (i == 0) {
        return 0;
    }

    if (i == s.len || s.data[i] == '.') {
        sec = mt_atoi64(s.data, i);
        if (sec <= 0 || sec >= 100000000000LL) {
            return 0;
        }

        ms = 0;
        scale = 100;

        for (i++; i < s.len; i++) {
            if (s.data[i] < '0' || s.data[i] > '9') {
                return 0;
            }

            ms += (s.data[i] - '0') * scale;
            scale /= 10;
        }

        return sec * 1000 + ms;
    }

    return mt_time_iso8601_ms(s.data, s.len);
}


static int64_t
mt_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static int
mt_digits(const u_char *p, size_t n, int64_t *v)
{
    int64_t  r;

    for (r = 0; n; n--, p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        r = r * 10 + (*p - '0');
    }

    *v = r;

    return 0;
}


/*
 * "2017-08-05T00:41:02.669Z", "2014-08-01T13:28:10.2735393-04:00",
 * "2024-01-01 10:00:00" (UTC when no zone is given); 0 if unparseable
 */

int64_t
mt_time_iso8601_ms(const u_char *p, size_t len)
{
    size_t   i;
    int64_t  y, mo, d, h, mi, s, ms, scale, oh, om, off, t;

    if (len < 19 || p[4] != '-' || p[7] != '-'
        || (p[10] != 'T' && p[10] != 't' && p[10] != ' ')
        || p[13] != ':' || p[16] != ':'
        || mt_digits(p, 4, &y) || mt_digits(p + 5, 2, &mo)
        || mt_digits(p + 8, 2, &d) || mt_digits(p + 11, 2, &h)
        || mt_digits(p + 14, 2, &mi) || mt_digits(p + 17, 2, &s))
    {
        return 0;
    }

    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59
        || s > 60)
    {
        return 0;
    }

    i = 19;
    ms = 0;

    if (i < len && p[i] == '.') {
        scale = 100;

        for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
            ms += (p[i] - '0') * scale;
            scale /= 10;
        }
    }

    off = 0;

    if (i < len && (p[i] == 'Z' || p[i] == 'z')) {
        i++;

    } else if (i < len && (p[i] == '+' || p[i] == '-')) {
        if (len - i == 6 && p[i + 3] == ':') {
            if (mt_digits(p + i + 1, 2, &oh) || mt_digits(p + i + 4, 2, &om)) {
                return 0;
            }

        } else if (len - i == 5) {
            if (mt_digits(p + i + 1, 2, &oh) || mt_digits(p + i + 3, 2, &om)) {
                return 0;
            }

        } else if (len - i == 3) {
            if (mt_digits(p + i + 1, 2, &oh)) {
                return 0;
            }

            om = 0;

        } else {
            return 0;
        }

        off = (oh * 60 + om) * 60;

        if (p[i] == '+') {
            off = -off;
        }

        i = len;
    }

    if (i != len) {
        return 0;
    }

    t = mt_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s + off;

    if (t <= 0) {
        return 0;
    }

    return t * 1000 + ms;
}


/*
 * "550 5.1.1 user unknown", "smtp; 550 5.1.1 ...", "5.1.1", "250 OK":
 * the SMTP code and the RFC 3463 enhanced status, where present.
 */

void
mt_smtp_parse(mt_str_t *text, mt_str_t *status, int *code)
{
    u_char  *p, *end, *q;
    size_t   scan;
    int      dots, digits;

    if (text->len == 0) {
        return;
    }

    p = text->data;
    end = p + text->len;

    if (text->len >= 5 && strncasecmp((char *) p, "smtp;", 5) == 0) {
        p += 5;
    }

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (*code == 0 && end - p >= 3 && p[0] >= '2' && p[0] <= '5'
        && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9'
        && (end - p == 3 || p[3] == ' ' || p[3] == '-'))
    {
        *code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    }

    if (status->len) {
        return;
    }

    scan = mt_min((size_t) (end - p), 128);
    end = p + scan;

    for ( /* void */ ; p < end; p++) {
        if (*p < '2' || *p > '5' || p + 1 >= end || p[1] != '.') {
            continue;
        }

        if (p > text->data && ((p[-1] >= '0' && p[-1] <= '9')
                               || p[-1] == '.'))
        {
            continue;
        }

        dots = 0;
        digits = 0;

        for (q = p + 1; q < end; q++) {
            if (*q == '.') {
                if (digits == 0 && q != p + 1) {
                    break;
                }

                dots++;
                digits = 0;

                if (dots > 2) {
                    break;
                }

                continue;
            }

            if (*q >= '0' && *q <= '9') {
                if (++digits > 3) {
                    break;
                }

                continue;
            }

            break;
        }

        if (dots == 2 && digits > 0 && digits <= 3 && q[-1] != '.'
            && (q == end || *q == ' ' || *q == ')' || *q == ','
                || *q == ';' || *q == ':' || *q == '\r' || *q == '\n'
                || *q == '>' || *q == ']' || *q == '-'))
        {
            status->data = p;
            status->len = q - p;
            return;
        }
    }
}


/*
 * RFC 3463 as ESPs apply it: 4.x.x and "mailbox full" are soft, 5.7.x
 * is a policy block (not an address problem), other 5.x.x are hard.
 */

mt_bounce_e
mt_bounce_classify(mt_str_t *status, int code)
{
    u_char  *s;

    if (status->len >= 5) {
        s = status->data;

        if (s[0] == '4') {
            return MT_BOUNCE_SOFT;
        }

        if (s[0] == '5') {
            if (s[2] == '7' && s[3] == '.') {
                return MT_BOUNCE_BLOCK;
            }

            if (s[2] == '2' && s[3] == '.' && status->len == 5
                && (s[4] == '2' || s[4] == '3'))
            {
                return MT_BOUNCE_SOFT;
            }

            return MT_BOUNCE_HARD;
        }
    }

    if (code >= 500 && code < 600) {
        return MT_BOUNCE_HARD;
    }

    if (code >= 400 && code < 500) {
        return MT_BOUNCE_SOFT;
    }

    return MT_BOUNCE_UNDETERMINED;
}

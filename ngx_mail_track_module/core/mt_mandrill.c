
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Mandrill (Mailchimp Transactional): an urlencoded form whose
 * "mandrill_events" field holds a JSON array.  X-Mandrill-Signature is
 * base64(HMAC-SHA1(key, url || key1 || value1 || ...)) over the
 * configured URL and every POST field, sorted by name, values decoded.
 */


#include "mt_webhook.h"
#include "mt_base64.h"
#include "mt_form.h"
#include "mt_hmac.h"

#include <openssl/evp.h>
#include <openssl/crypto.h>


#define MT_MANDRILL_SIG_LEN  20      /* SHA-1 */


typedef struct {
    const char         *name;
    mt_event_type_e     type;
    mt_bounce_e         bounce;
} mt_mandrill_map_t;


static int mt_mandrill_param_cmp(const void *one, const void *two);
static mt_rc_t mt_mandrill_verify(mt_wh_t *wh, mt_form_param_t *params,
    size_t nparams);
static mt_rc_t mt_mandrill_field(mt_wh_t *wh, mt_form_param_t *params,
    size_t nparams, mt_str_t *events);
static mt_rc_t mt_mandrill_events(mt_wh_t *wh, mt_str_t *value);
static int mt_mandrill_valid(mt_json_t obj);
static mt_rc_t mt_mandrill_event(mt_wh_t *wh, mt_json_t obj, mt_event_t *ev);
static mt_rc_t mt_mandrill_concat(mt_wh_t *wh, mt_str_t *out, mt_str_t *a,
    mt_str_t *b);


static const mt_mandrill_map_t  mt_mandrill_types[] = {
    { "send",         MT_EV_SENT,          MT_BOUNCE_NONE },
    { "deferral",     MT_EV_DEFERRED,      MT_BOUNCE_SOFT },
    { "hard_bounce",  MT_EV_BOUNCED,       MT_BOUNCE_HARD },
    { "soft_bounce",  MT_EV_BOUNCED,       MT_BOUNCE_SOFT },
    { "delivered",    MT_EV_DELIVERED,     MT_BOUNCE_NONE },
    { "open",         MT_EV_OPENED,        MT_BOUNCE_NONE },
    { "click",        MT_EV_CLICKED,       MT_BOUNCE_NONE },
    { "spam",         MT_EV_COMPLAINED,    MT_BOUNCE_NONE },
    { "unsub",        MT_EV_UNSUBSCRIBED,  MT_BOUNCE_NONE },
    { "reject",       MT_EV_REJECTED,      MT_BOUNCE_NONE },
    { NULL,           MT_EV_OTHER,         MT_BOUNCE_NONE }
};


/* the webhook's key, as Mandrill shows it, used as it is */

mt_rc_t
mt_mandrill_key(mt_str_t *raw, void **data, char *err, size_t len)
{
    return mt_hmac_key("SHA1", raw->data, raw->len, data, err, len);
}


mt_rc_t
mt_mandrill_process(mt_wh_t *wh)
{
    size_t            n;
    mt_rc_t           rc;
    mt_str_t          events;
    mt_form_param_t  *params;

    if (wh->header(wh, "x-mandrill-signature").len == 0) {
        return MT_ERR_SIGNATURE_MISSING;
    }

    if (!mt_wh_content_type_is(wh, "application/x-www-form-urlencoded")) {
        return MT_ERR_CONTENT_TYPE;
    }

    rc = mt_form_parse(&wh->alloc, wh->body, wh->body_len, &params, &n);
    if (rc != MT_OK) {
        return rc;
    }

    rc = mt_mandrill_verify(wh, params, n);
    if (rc != MT_OK) {
        return rc;
    }

    if (wh->body_len == 0) {
        return MT_ERR_BODY_EMPTY;
    }

    rc = mt_mandrill_field(wh, params, n, &events);
    if (rc != MT_OK) {
        return rc;
    }

    return mt_mandrill_events(wh, &events);
}


mt_rc_t
mt_mandrill_normalize(mt_wh_t *wh)
{
    size_t            n;
    mt_rc_t           rc;
    mt_str_t          events;
    mt_form_param_t  *params;

    if (wh->body_len == 0) {
        return MT_ERR_BODY_EMPTY;
    }

    rc = mt_form_parse(&wh->alloc, wh->body, wh->body_len, &params, &n);
    if (rc != MT_OK) {
        return rc;
    }

    rc = mt_mandrill_field(wh, params, n, &events);
    if (rc != MT_OK) {
        return rc;
    }

    return mt_mandrill_events(wh, &events);
}


/* byte order of the names, then the order in the body */

static int
mt_mandrill_param_cmp(const void *one, const void *two)
{
    int                     rc;
    size_t                  n;
    const mt_form_param_t  *a, *b;

    a = one;
    b = two;

    n = mt_min(a->key.len, b->key.len);

    rc = n ? memcmp(a->key.data, b->key.data, n) : 0;

    if (rc != 0) {
        return rc;
    }

    if (a->key.len != b->key.len) {
        return a->key.len < b->key.len ? -1 : 1;
    }

    return a->index < b->index ? -1 : (a->index > b->index);
}


static mt_rc_t
mt_mandrill_verify(mt_wh_t *wh, mt_form_param_t *params, size_t nparams)
{
    size_t     i, len;
    u_char    *data, *p;
    u_char     sig[mt_base64_decoded_len(64)], md[EVP_MAX_MD_SIZE];
    ssize_t    n;
    mt_str_t   hdr, signed_data;

    hdr = wh->header(wh, "x-mandrill-signature");

    while (hdr.len && hdr.data[hdr.len - 1] == ' ') {
        hdr.len--;
    }

    if (hdr.len == 0) {
        return MT_ERR_SIGNATURE_MISSING;
    }

    if (hdr.len > 64) {
        return MT_ERR_SIGNATURE;
    }

    n = mt_base64_decode(sig, hdr.data, hdr.len);

    if (n != MT_MANDRILL_SIG_LEN) {
        return MT_ERR_SIGNATURE;
    }

    if (wh->conf->nkeys == 0) {
        /* the configuration requires a key; never accept unverified */
        return MT_ERR_SIGNATURE;
    }

    /* an empty form has no array at all: qsort() wants one */

    if (nparams > 1) {
        qsort(params, nparams, sizeof(mt_form_param_t),
              mt_mandrill_param_cmp);
    }

    len = wh->conf->url.len;

    for (i = 0; i < nparams; i++) {
        len += params[i].key.len + params[i].value.len;
    }

    data = mt_alloc(&wh->alloc, len + 1);
    if (data == NULL) {
        return MT_ERR_NOMEM;
    }

    p = data;

    if (wh->conf->url.len) {
        memcpy(p, wh->conf->url.data, wh->conf->url.len);
        p += wh->conf->url.len;
    }

    for (i = 0; i < nparams; i++) {
        if (params[i].key.len) {
            memcpy(p, params[i].key.data, params[i].key.len);
            p += params[i].key.len;
        }

        if (params[i].value.len) {
            memcpy(p, params[i].value.data, params[i].value.len);
            p += params[i].value.len;
        }
    }

    signed_data.data = data;
    signed_data.len = len;

    for (i = 0; i < wh->conf->nkeys; i++) {
        if (wh->conf->keys[i].data == NULL) {
            continue;
        }

        if (mt_hmac(wh->conf->keys[i].data, &signed_data, 1, md)
            != MT_MANDRILL_SIG_LEN)
        {
            return MT_ERR_INTERNAL;
        }

        if (CRYPTO_memcmp(md, sig, MT_MANDRILL_SIG_LEN) == 0) {
            return MT_OK;
        }
    }

    return MT_ERR_SIGNATURE;
}


static mt_rc_t
mt_mandrill_field(mt_wh_t *wh, mt_form_param_t *params, size_t nparams,
    mt_str_t *events)
{
    size_t  i;

    for (i = 0; i < nparams; i++) {
        if (mt_str_eq(&params[i].key, "mandrill_events")) {
            *events = params[i].value;
            return MT_OK;
        }
    }

    mt_str_set(&wh->detail, "no mandrill_events field");

    return MT_ERR_PAYLOAD;
}


static mt_rc_t
mt_mandrill_events(mt_wh_t *wh, mt_str_t *value)
{
    mt_rc_t    rc;
    mt_json_t  root;

    rc = mt_wh_json_load(wh, value->data, value->len, &root);
    if (rc != MT_OK) {
        return rc;
    }

    if (!mt_json_is_array(root)) {
        mt_str_set(&wh->detail, "mandrill_events is not an array");
        return MT_ERR_PAYLOAD;
    }

    return mt_wh_each_in_array(wh, root, mt_mandrill_valid,
                               mt_mandrill_event);
}


static int
mt_mandrill_valid(mt_json_t obj)
{
    return mt_json_is_object(obj)
           && (mt_json_str(obj, "event").len != 0
               || mt_json_str(obj, "type").len != 0);
}


/*
 * Message events carry "event" and "msg"; sync events (allowlist and
 * denylist changes, "whitelist"/"blacklist" in older accounts) carry
 * "type", "action" and "reject" instead, and become "other".
 */

static mt_rc_t
mt_mandrill_event(mt_wh_t *wh, mt_json_t obj, mt_event_t *ev)
{
    int                       sync;
    size_t                    n;
    mt_rc_t                   rc;
    mt_str_t                  tstr, diag, desc, action, last;
    mt_str_t                  fields[10];
    mt_json_t                 msg, rej, meta, v, smtp, attempt;
    mt_json_iter_t            it;
    const mt_mandrill_map_t  *m;

    mt_event_init(ev);

    msg = mt_json_get(obj, "msg");
    rej = mt_json_none;
    sync = 0;
    action.len = 0;
    last.len = 0;

    ev->esp_type = mt_json_str(obj, "event");

    if (ev->esp_type.len) {
        for (m = mt_mandrill_types; m->name != NULL; m++) {
            if (mt_str_eq(&ev->esp_type, m->name)) {
                break;
            }
        }

        ev->type = m->type;
        ev->bounce = m->bounce;

    } else {
        ev->esp_type = mt_json_str(obj, "type");
        ev->type = MT_EV_OTHER;
        sync = 1;

        rej = mt_json_get(obj, "reject");
        action = mt_json_str(obj, "action");
    }

    v = mt_json_get(obj, "ts");
    ev->ts = mt_json_time_ms(v);
    tstr = mt_json_str_value(wh, v);

    if (mt_json_is_object(rej)) {
        ev->rcpt = mt_json_str(rej, "email");
        last = mt_json_str(rej, "last_event_at");

        if (ev->ts == 0) {
            ev->ts = mt_time_iso8601_ms(last.data, last.len);
        }

        desc = mt_json_str(rej, "detail");

        if (desc.len == 0) {
            desc = mt_json_str(rej, "reason");
        }

        /* "add: hard-bounce", "remove: ..." */

        rc = mt_mandrill_concat(wh, &ev->reason, &action, &desc);
        if (rc != MT_OK) {
            return rc;
        }
    }

    if (mt_json_is_object(msg)) {
        ev->rcpt = mt_json_str(msg, "email");

        meta = mt_json_get(msg, "metadata");

        if (mt_json_is_object(meta) && wh->conf->id_field.len) {
            v = mt_json_getn(meta, wh->conf->id_field.data,
                             wh->conf->id_field.len);
            ev->mid = mt_json_str_value(wh, v);
        }

        rc = mt_json_join(wh, mt_json_get(msg, "tags"), &ev->tag);
        if (rc != MT_OK) {
            return rc;
        }

        /* a deferral has the MTA's answer in the last SMTP attempt */

        diag = mt_json_str(msg, "diag");

        if (diag.len == 0) {
            smtp = mt_json_get(msg, "smtp_events");

            mt_json_array_foreach(smtp, it, attempt) {
                diag = mt_json_str(attempt, "diag");
            }
        }

        desc = mt_json_str(msg, "bounce_description");

        if (diag.len) {
            mt_smtp_parse(&diag, &ev->smtp_status, &ev->smtp_code);
        }

        /* "bad_mailbox: smtp;550 5.1.1 ..." */

        rc = mt_mandrill_concat(wh, &ev->reason, &desc, &diag);
        if (rc != MT_OK) {
            return rc;
        }
    }

    ev->esp_mid = mt_json_str_value(wh, mt_json_get(obj, "_id"));

    if (ev->esp_mid.len == 0 && mt_json_is_object(msg)) {
        ev->esp_mid = mt_json_str_value(wh, mt_json_get(msg, "_id"));
    }

    if (ev->type == MT_EV_OPENED || ev->type == MT_EV_CLICKED) {
        ev->ip = mt_json_str(obj, "ip");
        ev->ua = mt_json_str(obj, "user_agent");

        if (ev->type == MT_EV_CLICKED) {
            ev->url = mt_json_str(obj, "url");
        }
    }

    /*
     * Mandrill has no event id: the message, the event and its time,
     * and what tells two opens or clicks in one second apart.
     */

    n = 0;
    fields[n++] = ev->esp_mid;
    fields[n++] = ev->esp_type;
    fields[n++] = tstr;
    fields[n++] = mt_json_str(obj, "url");
    fields[n++] = ev->rcpt;
    fields[n++] = ev->ip;
    fields[n++] = ev->ua;
    fields[n++] = action;
    fields[n++] = last;
    fields[n].data = (u_char *) (sync ? "sync" : "");
    fields[n].len = sync ? 4 : 0;
    n++;

    return mt_wh_hash_id(wh, &ev->id, fields, n);
}


/* "a: b", or whichever of the two is there */

static mt_rc_t
mt_mandrill_concat(mt_wh_t *wh, mt_str_t *out, mt_str_t *a, mt_str_t *b)
{
    u_char  *p;

    if (a->len == 0 || b->len == 0) {
        *out = a->len ? *a : *b;
        return MT_OK;
    }

    p = mt_alloc(&wh->alloc, a->len + 2 + b->len);
    if (p == NULL) {
        return MT_ERR_NOMEM;
    }

    out->data = p;
    out->len = a->len + 2 + b->len;

    memcpy(p, a->data, a->len);
    p += a->len;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, b->data, b->len);

    return MT_OK;
}


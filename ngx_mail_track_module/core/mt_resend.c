
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Resend webhooks, delivered by Svix ("Standard Webhooks"): a base64
 * HMAC-SHA256 over id "." timestamp "." raw body, keyed with the
 * base64-decoded secret; one event per request.
 */


#include "mt_webhook.h"
#include "mt_base64.h"
#include "mt_hmac.h"

#include <stdio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>


#define MT_RESEND_KEY_MIN      16
#define MT_RESEND_KEY_MAX      1024
#define MT_RESEND_MD_LEN       32
/* base64 of 32 bytes is 44 characters; anything longer cannot match */
#define MT_RESEND_SIG_B64_MAX  64
#define MT_RESEND_ID_FIELDS    4


typedef struct {
    const char         *name;
    mt_event_type_e     type;
} mt_resend_map_t;


static mt_rc_t mt_resend_verify(mt_wh_t *wh, mt_str_t *id, mt_str_t *ts,
    mt_str_t *sig);
static int mt_resend_sig_match(mt_str_t *sig, const u_char *md);
static mt_rc_t mt_resend_run(mt_wh_t *wh, mt_str_t *id);
static mt_rc_t mt_resend_event(mt_wh_t *wh, mt_json_t root, mt_json_t data,
    mt_str_t *id, mt_event_t *ev);
static mt_event_type_e mt_resend_type(mt_str_t *name);
static void mt_resend_bounce(mt_json_t data, mt_event_t *ev);
static mt_str_t mt_resend_tag(mt_wh_t *wh, mt_json_t tags, mt_str_t *name);
static mt_str_t mt_resend_rcpt(mt_json_t data);
static mt_str_t mt_resend_trim(mt_str_t s);


static const mt_resend_map_t  mt_resend_types[] = {
    { "email.sent",              MT_EV_SENT },
    { "email.delivered",         MT_EV_DELIVERED },
    { "email.delivery_delayed",  MT_EV_DEFERRED },
    { "email.bounced",           MT_EV_BOUNCED },
    { "email.failed",            MT_EV_REJECTED },
    { "email.suppressed",        MT_EV_REJECTED },
    { "email.opened",            MT_EV_OPENED },
    { "email.clicked",           MT_EV_CLICKED },
    { "email.complained",        MT_EV_COMPLAINED },
    { NULL,                      MT_EV_OTHER }
};


/* "whsec_<base64>", or the base64 alone */

mt_rc_t
mt_resend_key(mt_str_t *raw, void **data, char *err, size_t len)
{
    ssize_t   n;
    mt_rc_t   rc;
    mt_str_t  s;
    u_char    key[MT_RESEND_KEY_MAX];

    s = mt_resend_trim(*raw);

    if (s.len >= 6 && strncmp((char *) s.data, "whsec_", 6) == 0) {
        s.data += 6;
        s.len -= 6;
    }

    if (s.len == 0 || mt_base64_decoded_len(s.len) > MT_RESEND_KEY_MAX) {
        snprintf(err, len, "expected \"whsec_\" followed by base64");
        return MT_ERR_INTERNAL;
    }

    n = mt_base64_decode(key, s.data, s.len);

    if (n < 0) {
        snprintf(err, len, "the secret after \"whsec_\" is not base64");
        return MT_ERR_INTERNAL;
    }

    if (n < MT_RESEND_KEY_MIN) {
        snprintf(err, len, "the secret is shorter than %d bytes",
                 MT_RESEND_KEY_MIN);
        return MT_ERR_INTERNAL;
    }

    rc = mt_hmac_key("SHA256", key, n, data, err, len);

    OPENSSL_cleanse(key, sizeof(key));

    return rc;
}


mt_rc_t
mt_resend_process(mt_wh_t *wh)
{
    int64_t   t;
    mt_rc_t   rc;
    mt_str_t  id, ts, sig;

    /* Svix's names, or Standard Webhooks' (white-labelled Svix) */

    id = wh->header(wh, "svix-id");

    if (id.len) {
        ts = wh->header(wh, "svix-timestamp");
        sig = wh->header(wh, "svix-signature");

    } else {
        id = wh->header(wh, "webhook-id");
        ts = wh->header(wh, "webhook-timestamp");
        sig = wh->header(wh, "webhook-signature");
    }

    if (id.len == 0 || ts.len == 0 || sig.len == 0) {
        return MT_ERR_SIGNATURE_MISSING;
    }

    t = mt_atoi64(ts.data, ts.len);
    if (t < 0) {
        mt_str_set(&wh->detail, "timestamp header is not a number");
        return MT_ERR_SIGNATURE;
    }

    rc = mt_resend_verify(wh, &id, &ts, &sig);
    if (rc != MT_OK) {
        return rc;
    }

    /* after the signature: "stale" then means a genuine late delivery */

    rc = mt_wh_check_time(wh, t);
    if (rc != MT_OK) {
        return rc;
    }

    if (!mt_wh_content_type_json(wh)) {
        return MT_ERR_CONTENT_TYPE;
    }

    return mt_resend_run(wh, &id);
}


mt_rc_t
mt_resend_normalize(mt_wh_t *wh)
{
    mt_str_t  id = mt_null_string;

    if (wh->header != NULL) {
        id = wh->header(wh, "svix-id");

        if (id.len == 0) {
            id = wh->header(wh, "webhook-id");
        }
    }

    return mt_resend_run(wh, &id);
}


/*
 * Every configured secret against every "v1," signature in the header:
 * during a rotation Svix signs with both secrets.
 */

static mt_rc_t
mt_resend_verify(mt_wh_t *wh, mt_str_t *id, mt_str_t *ts, mt_str_t *sig)
{
    size_t         i;
    mt_str_t       parts[5];
    mt_wh_conf_t  *conf;
    u_char         md[EVP_MAX_MD_SIZE];

    conf = wh->conf;

    /* Svix signs "<id>.<timestamp>.<body>" */

    parts[0] = *id;
    mt_str_set(&parts[1], ".");
    parts[2] = *ts;
    mt_str_set(&parts[3], ".");
    parts[4].data = (u_char *) wh->body;
    parts[4].len = wh->body_len;

    for (i = 0; i < conf->nkeys; i++) {
        if (conf->keys[i].data == NULL) {
            continue;
        }

        if (mt_hmac(conf->keys[i].data, parts, 5, md) != MT_RESEND_MD_LEN) {
            return MT_ERR_INTERNAL;
        }

        if (mt_resend_sig_match(sig, md)) {
            return MT_OK;
        }
    }

    mt_str_set(&wh->detail, "no configured secret verifies a signature");

    return MT_ERR_SIGNATURE;
}


/* "v1,<base64> v1,<base64> v2,..." : other versions are skipped */

static int
mt_resend_sig_match(mt_str_t *sig, const u_char *md)
{
    size_t   len;
    u_char  *p, *end, *q;
    ssize_t  n;
    u_char   bin[MT_RESEND_SIG_B64_MAX];

    p = sig->data;
    end = p + sig->len;

    while (p < end) {
        while (p < end && *p == ' ') {
            p++;
        }

        q = p;

        while (q < end && *q != ' ') {
            q++;
        }

        len = q - p;

        if (len > 3 && len - 3 <= MT_RESEND_SIG_B64_MAX
            && p[0] == 'v' && p[1] == '1' && p[2] == ',')
        {
            n = mt_base64_decode(bin, p + 3, len - 3);

            if (n == MT_RESEND_MD_LEN
                && CRYPTO_memcmp(bin, md, MT_RESEND_MD_LEN) == 0)
            {
                return 1;
            }
        }

        p = q;
    }

    return 0;
}


static mt_rc_t
mt_resend_run(mt_wh_t *wh, mt_str_t *id)
{
    mt_rc_t      rc;
    mt_str_t     type;
    mt_json_t    root, data;
    mt_event_t   ev;

    rc = mt_wh_json_load(wh, wh->body, wh->body_len, &root);
    if (rc != MT_OK) {
        return rc;
    }

    type = mt_json_str(root, "type");
    data = mt_json_get(root, "data");

    if (type.len == 0 || !mt_json_is_object(data)) {
        mt_str_set(&wh->detail, "not an object with a \"type\" name and "
                   "a \"data\" object");
        return MT_ERR_PAYLOAD;
    }

    mt_event_init(&ev);

    rc = mt_resend_event(wh, root, data, id, &ev);
    if (rc != MT_OK) {
        return rc;
    }

    return mt_wh_emit(wh, &ev);
}


/*
 * One record per request.  Resend posts a separate event for each
 * recipient of a multi-recipient email, with the whole "to" list and
 * no word of which recipient it is about: rcpt is set only when the
 * list names one address.
 */

static mt_rc_t
mt_resend_event(mt_wh_t *wh, mt_json_t root, mt_json_t data, mt_str_t *id,
    mt_event_t *ev)
{
    mt_str_t       f[MT_RESEND_ID_FIELDS];
    mt_json_t      v;
    mt_wh_conf_t  *conf;

    conf = wh->conf;

    ev->esp_type = mt_json_str(root, "type");
    ev->type = mt_resend_type(&ev->esp_type);

    /* the top-level created_at is the event's; data's is the email's */

    ev->ts = mt_json_time_ms(mt_json_get(root, "created_at"));
    if (ev->ts == 0) {
        ev->ts = mt_json_time_ms(mt_json_get(data, "created_at"));
    }

    ev->esp_mid = mt_json_str(data, "email_id");
    ev->rcpt = mt_resend_rcpt(data);

    if (conf->id_field.len) {
        ev->mid = mt_resend_tag(wh, mt_json_get(data, "tags"),
                                &conf->id_field);
    }

    switch (ev->type) {

    case MT_EV_BOUNCED:
        mt_resend_bounce(data, ev);
        break;

    case MT_EV_DEFERRED:
        ev->bounce = MT_BOUNCE_SOFT;
        break;

    case MT_EV_REJECTED:
        v = mt_json_get(data, "failed");
        ev->reason = mt_json_str(v, "reason");

        if (ev->reason.len == 0) {
            ev->reason = mt_json_str(v, "message");
        }

        break;

    case MT_EV_CLICKED:
        v = mt_json_get(data, "click");
        ev->url = mt_json_str(v, "link");
        ev->ip = mt_json_str(v, "ipAddress");
        ev->ua = mt_json_str(v, "userAgent");
        break;

    case MT_EV_OPENED:
        v = mt_json_get(data, "open");
        ev->ip = mt_json_str(v, "ipAddress");
        ev->ua = mt_json_str(v, "userAgent");
        break;

    default:
        break;
    }

    /* svix-id is the same on every retry of the event */

    if (id->len) {
        ev->id = *id;
        return MT_OK;
    }

    f[0] = ev->esp_type;
    f[1] = mt_json_str(root, "created_at");
    f[2] = ev->esp_mid;
    f[3] = ev->url;

    return mt_wh_hash_id(wh, &ev->id, f, MT_RESEND_ID_FIELDS);
}


static mt_event_type_e
mt_resend_type(mt_str_t *name)
{
    const mt_resend_map_t  *m;

    for (m = mt_resend_types; m->name; m++) {
        if (mt_str_eq(name, m->name)) {
            return m->type;
        }
    }

    return MT_EV_OTHER;
}


/*
 * bounce.type is SES's: Permanent is hard, Transient soft.  A permanent
 * policy rejection (5.7.x in the diagnostic) is a block instead: not a
 * reason to suppress the address.
 */

static void
mt_resend_bounce(mt_json_t data, mt_event_t *ev)
{
    int          code;
    mt_str_t     type, diag, msg;
    mt_json_t    b, d;
    mt_bounce_e  cls;

    b = mt_json_get(data, "bounce");

    type = mt_json_str(b, "type");
    msg = mt_json_str(b, "message");

    d = mt_json_get(b, "diagnosticCode");

    if (mt_json_is_array(d)) {
        d = mt_json_at(d, 0);
    }

    diag.len = 0;
    diag.data = NULL;

    if (mt_json_is_string(d)) {
        diag = mt_json_string(d);
    }

    code = 0;

    if (diag.len) {
        mt_smtp_parse(&diag, &ev->smtp_status, &code);
    }

    ev->smtp_code = code;
    ev->reason = diag.len ? diag : msg;

    cls = mt_bounce_classify(&ev->smtp_status, ev->smtp_code);

    if (mt_str_eq_nocase(&type, "Permanent")) {
        ev->bounce = (cls == MT_BOUNCE_BLOCK) ? MT_BOUNCE_BLOCK
                                              : MT_BOUNCE_HARD;

    } else if (mt_str_eq_nocase(&type, "Transient")) {
        ev->bounce = MT_BOUNCE_SOFT;

    } else {
        ev->bounce = cls;
    }
}


/*
 * data.tags as Resend documents it, [{"name":..,"value":..}], or as
 * an object {"name": "value"}
 */

static mt_str_t
mt_resend_tag(mt_wh_t *wh, mt_json_t tags, mt_str_t *name)
{
    mt_str_t         n, none = mt_null_string;
    mt_json_t        e;
    mt_json_iter_t   it;

    if (mt_json_is_object(tags)) {
        return mt_json_str_value(wh, mt_json_getn(tags, name->data,
                                                  name->len));
    }

    if (!mt_json_is_array(tags)) {
        return none;
    }

    mt_json_array_foreach(tags, it, e) {
        n = mt_json_str(e, "name");

        if (n.len == name->len && memcmp(n.data, name->data, n.len) == 0) {
            return mt_json_str_value(wh, mt_json_get(e, "value"));
        }
    }

    return none;
}


/*
 * The one address of "to" (a list or a string), without a display name;
 * none when cc or bcc name others: the event may be about any of them.
 */

static mt_str_t
mt_resend_rcpt(mt_json_t data)
{
    u_char    *lt, *gt;
    mt_str_t   s = mt_null_string;
    mt_json_t  to, cc, bcc;

    cc = mt_json_get(data, "cc");
    bcc = mt_json_get(data, "bcc");

    if ((mt_json_is_array(cc) && mt_json_size(cc))
        || mt_json_string(cc).len
        || (mt_json_is_array(bcc) && mt_json_size(bcc))
        || mt_json_string(bcc).len)
    {
        return s;
    }

    to = mt_json_get(data, "to");

    if (mt_json_is_array(to)) {
        if (mt_json_size(to) != 1) {
            return s;
        }

        to = mt_json_at(to, 0);
    }

    if (!mt_json_is_string(to)) {
        return s;
    }

    s = mt_json_string(to);

    /*
     * "Doe, Jane" <jane@example.com>: the address in angle brackets; a
     * display name may hold a comma, but not an address (then it is a
     * list of several recipients, and none of them is the one)
     */

    if (s.len && s.data[s.len - 1] == '>') {
        gt = s.data + s.len - 1;

        for (lt = gt; lt > s.data && *lt != '<'; lt--) {
            /* void */
        }

        if (*lt == '<') {
            if (memchr(s.data, '@', lt - s.data) != NULL) {
                s.len = 0;
                return s;
            }

            s.data = lt + 1;
            s.len = gt - s.data;
        }
    }

    if (s.len && memchr(s.data, ',', s.len) != NULL) {
        s.len = 0;
        return s;
    }

    return mt_resend_trim(s);
}


static mt_str_t
mt_resend_trim(mt_str_t s)
{
    while (s.len && (s.data[0] == ' ' || s.data[0] == '\t'
                     || s.data[0] == '\r' || s.data[0] == '\n'))
    {
        s.data++;
        s.len--;
    }

    while (s.len && (s.data[s.len - 1] == ' ' || s.data[s.len - 1] == '\t'
                     || s.data[s.len - 1] == '\r'
                     || s.data[s.len - 1] == '\n'))
    {
        s.len--;
    }

    return s;
}

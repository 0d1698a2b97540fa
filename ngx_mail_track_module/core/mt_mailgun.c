
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Mailgun webhooks (JSON, one event per request): a hex HMAC-SHA256 over
 * timestamp || token, keyed with the webhook signing key as ASCII.  The
 * signature covers neither the event nor the body, so a signature block
 * may be spent on one event only: the glue keeps the tokens.
 */


#include "mt_webhook.h"
#include "mt_hmac.h"

#include <stdio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>


/* Mailgun's tokens are 50 characters */
#define MT_MAILGUN_TOKEN_MAX   512
#define MT_MAILGUN_TS_MAX      20
#define MT_MAILGUN_ID_FIELDS   7


typedef struct {
    const char         *name;
    mt_event_type_e     type;
} mt_mailgun_map_t;


static mt_rc_t mt_mailgun_run(mt_wh_t *wh, int auth);
static mt_rc_t mt_mailgun_auth(mt_wh_t *wh, mt_json_t root,
    mt_str_t *token);
static int mt_mailgun_sig_eq(mt_str_t *hex, const u_char *md);
static mt_str_t mt_mailgun_trim(mt_str_t s);
static mt_rc_t mt_mailgun_event(mt_wh_t *wh, mt_json_t ed, mt_event_t *ev);
static mt_event_type_e mt_mailgun_type(mt_str_t *name);
static mt_bounce_e mt_mailgun_bounce(mt_json_t ed, mt_event_t *ev);
static mt_rc_t mt_mailgun_id(mt_wh_t *wh, mt_json_t ed, mt_event_t *ev);


static const mt_mailgun_map_t  mt_mailgun_types[] = {
    { "accepted",      MT_EV_SENT },
    { "delivered",     MT_EV_DELIVERED },
    { "failed",        MT_EV_BOUNCED },
    { "rejected",      MT_EV_REJECTED },
    { "opened",        MT_EV_OPENED },
    { "clicked",       MT_EV_CLICKED },
    { "complained",    MT_EV_COMPLAINED },
    { "unsubscribed",  MT_EV_UNSUBSCRIBED },
    { NULL,            MT_EV_OTHER }
};


/*
 * The webhook signing key, used as ASCII; one read from a file may end
 * with a newline.  An empty one verifies nothing.
 */

mt_rc_t
mt_mailgun_key(mt_str_t *raw, void **data, char *err, size_t len)
{
    mt_str_t  key;

    key = mt_mailgun_trim(*raw);
    *data = NULL;

    if (key.len == 0) {
        return MT_OK;
    }

    return mt_hmac_key("SHA256", key.data, key.len, data, err, len);
}


mt_rc_t
mt_mailgun_process(mt_wh_t *wh)
{
    /* the legacy form-encoded webhooks were retired in 2023 */

    if (!mt_wh_content_type_json(wh)) {
        return MT_ERR_CONTENT_TYPE;
    }

    return mt_mailgun_run(wh, 1);
}


mt_rc_t
mt_mailgun_normalize(mt_wh_t *wh)
{
    return mt_mailgun_run(wh, 0);
}


/*
 * The signature needs the parsed body, so one parse serves both halves:
 * verify the signature block, check its time, check the event's shape,
 * spend the token on this event id, emit.
 */

static mt_rc_t
mt_mailgun_run(mt_wh_t *wh, int auth)
{
    mt_rc_t      rc;
    mt_str_t     token;
    mt_json_t    root, ed;
    mt_event_t   ev;

    rc = mt_wh_json_load(wh, wh->body, wh->body_len, &root);
    if (rc != MT_OK) {
        return rc;
    }

    if (!mt_json_is_object(root)) {
        mt_str_set(&wh->detail, "body is not a JSON object");
        return MT_ERR_PAYLOAD;
    }

    if (auth) {
        rc = mt_mailgun_auth(wh, root, &token);
        if (rc != MT_OK) {
            return rc;
        }
    }

    ed = mt_json_get(root, "event-data");

    if (mt_json_str(ed, "event").len == 0) {
        mt_str_set(&wh->detail, "no \"event-data\" object with an "
                   "\"event\" name");
        return MT_ERR_PAYLOAD;
    }

    mt_event_init(&ev);

    rc = mt_mailgun_event(wh, ed, &ev);
    if (rc != MT_OK) {
        return rc;
    }

    /*
     * The same token with the same event is a retry (a duplicate); with
     * another event it is a captured signature block on a forged event.
     */

    if (auth && wh->replay != NULL) {
        rc = wh->replay(wh, &token, &ev.id);
        if (rc != MT_OK) {
            return rc;
        }
    }

    return mt_wh_emit(wh, &ev);
}


/*
 * Any configured key may verify either the signature or, for events of
 * a subaccount, the parent-signature made with the primary account's key.
 */

static mt_rc_t
mt_mailgun_auth(mt_wh_t *wh, mt_json_t root, mt_str_t *token)
{
    size_t         i;
    int64_t        t;
    mt_str_t       ts, s1, s2, msg[2];
    mt_json_t      sig, jt;
    mt_wh_conf_t  *conf;
    u_char         tsbuf[32], md[EVP_MAX_MD_SIZE];

    conf = wh->conf;

    sig = mt_json_get(root, "signature");

    if (!mt_json_is_object(sig)) {
        return MT_ERR_SIGNATURE_MISSING;
    }

    *token = mt_json_str(sig, "token");
    s1 = mt_json_str(sig, "signature");
    s2 = mt_json_str(sig, "parent-signature");
    jt = mt_json_get(sig, "timestamp");

    if (token->len == 0 || mt_json_is_none(jt)
        || (s1.len == 0 && s2.len == 0))
    {
        return MT_ERR_SIGNATURE_MISSING;
    }

    /* signed as sent: a decimal string, or a JSON integer printed */

    ts = mt_json_scalar(jt, tsbuf, sizeof(tsbuf));
    t = mt_json_is_double(jt) ? -1 : mt_atoi64(ts.data, ts.len);

    if (t < 0 || ts.len > MT_MAILGUN_TS_MAX) {
        mt_str_set(&wh->detail, "signature timestamp is not a number");
        return MT_ERR_SIGNATURE;
    }

    if (token->len > MT_MAILGUN_TOKEN_MAX) {
        mt_str_set(&wh->detail, "signature token is too long");
        return MT_ERR_SIGNATURE;
    }

    msg[0] = ts;
    msg[1] = *token;

    for (i = 0; i < conf->nkeys; i++) {
        if (conf->keys[i].data == NULL) {
            continue;
        }

        if (mt_hmac(conf->keys[i].data, msg, 2, md) != 32) {
            return MT_ERR_INTERNAL;
        }

        if (mt_mailgun_sig_eq(&s1, md) || mt_mailgun_sig_eq(&s2, md)) {
            return mt_wh_check_time(wh, t);
        }
    }

    mt_str_set(&wh->detail, "no configured key verifies the signature");

    return MT_ERR_SIGNATURE;
}


/* 64 hex digits, either case, against the digest in constant time */

static int
mt_mailgun_sig_eq(mt_str_t *hex, const u_char *md)
{
    size_t  i;
    u_char  c, hi, lo, bin[32];

    if (hex->len != 64) {
        return 0;
    }

    hi = 0;

    for (i = 0; i < 64; i++) {
        c = hex->data[i];

        if (c >= '0' && c <= '9') {
            lo = c - '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            lo = (c | 0x20) - 'a' + 10;

        } else {
            return 0;
        }

        if (i % 2 == 0) {
            hi = lo;

        } else {
            bin[i / 2] = (u_char) (hi << 4 | lo);
        }
    }

    return CRYPTO_memcmp(bin, md, 32) == 0;
}


/* a key read from a file may end with a newline */

static mt_str_t
mt_mailgun_trim(mt_str_t s)
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


static mt_rc_t
mt_mailgun_event(mt_wh_t *wh, mt_json_t ed, mt_event_t *ev)
{
    int            code;
    size_t         n;
    u_char        *p;
    mt_json_t      ds, ci, v;
    int64_t        c;
    mt_str_t       s, bot;
    mt_wh_conf_t  *conf;

    conf = wh->conf;

    ev->esp_type = mt_json_str(ed, "event");
    ev->type = mt_mailgun_type(&ev->esp_type);
    ev->rcpt = mt_json_str(ed, "recipient");
    ev->ts = mt_json_time_ms(mt_json_get(ed, "timestamp"));

    if (ev->type == MT_EV_BOUNCED) {
        s = mt_json_str(ed, "severity");

        if (mt_str_eq(&s, "temporary")) {
            ev->type = MT_EV_DEFERRED;
        }
    }

    /* the send API answers "<id>"; the event carries it without brackets */

    v = mt_json_get(mt_json_get(ed, "message"), "headers");
    ev->esp_mid = mt_json_str(v, "message-id");

    if (ev->esp_mid.len >= 2 && ev->esp_mid.data[0] == '<'
        && ev->esp_mid.data[ev->esp_mid.len - 1] == '>')
    {
        ev->esp_mid.data++;
        ev->esp_mid.len -= 2;
    }

    if (conf->id_field.len) {
        v = mt_json_get(ed, "user-variables");

        if (mt_json_is_object(v)) {
            ev->mid = mt_json_str_value(wh,
                          mt_json_getn(v, conf->id_field.data,
                                       conf->id_field.len));
        }
    }

    /* delivery-status: the MTA's text, its code, Mailgun's description */

    ds = mt_json_get(ed, "delivery-status");
    code = 0;

    if (mt_json_int(ds, "code", &c) == 0 && c >= 200 && c < 600) {
        code = (int) c;
    }

    s = mt_json_str(ds, "enhanced-code");
    if (s.len) {
        mt_smtp_parse(&s, &ev->smtp_status, &code);
    }

    ev->reason = mt_json_str(ds, "message");
    if (ev->reason.len) {
        mt_smtp_parse(&ev->reason, &ev->smtp_status, &code);
    }

    s = mt_json_str(ds, "description");
    if (s.len) {
        mt_smtp_parse(&s, &ev->smtp_status, &code);

        if (ev->reason.len == 0) {
            ev->reason = s;
        }
    }

    if (ev->reason.len == 0) {
        v = mt_json_get(ed, "reject");
        ev->reason = mt_json_str(v, "reason");

        if (ev->reason.len == 0) {
            ev->reason = mt_json_str(v, "description");
        }
    }

    ev->smtp_code = code;

    switch (ev->type) {

    case MT_EV_BOUNCED:
        ev->bounce = mt_mailgun_bounce(ed, ev);
        break;

    case MT_EV_DEFERRED:
        ev->bounce = MT_BOUNCE_SOFT;
        break;

    case MT_EV_CLICKED:
        ev->url = mt_json_str(ed, "url");
        /* fall through */

    case MT_EV_OPENED:
        ev->ip = mt_json_str(ed, "ip");

        ci = mt_json_get(ed, "client-info");
        ev->ua = mt_json_str(ci, "user-agent");

        /*
         * "apple" (Mail Privacy Protection), "gmail" (Google's image
         * proxy), "generic" (a scanner); empty: no bot detected
         */

        v = mt_json_get(ci, "bot");

        if (mt_json_is_string(v)) {
            bot = mt_json_string(v);

            if (bot.len == 0) {
                ev->machine = 0;
                break;
            }

            n = sizeof("mailgun_bot_") - 1;

            p = mt_alloc(&wh->alloc, n + bot.len);
            if (p == NULL) {
                return MT_ERR_NOMEM;
            }

            memcpy(p, "mailgun_bot_", n);
            memcpy(p + n, bot.data, bot.len);

            ev->machine = 1;
            ev->why.data = p;
            ev->why.len = n + bot.len;
        }

        break;

    default:
        break;
    }

    if (mt_json_join(wh, mt_json_get(ed, "tags"), &ev->tag)
        != MT_OK)
    {
        return MT_ERR_NOMEM;
    }

    /* event-data.id repeats on a retry of the same event */

    ev->id = mt_json_str(ed, "id");

    if (ev->id.len) {
        return MT_OK;
    }

    return mt_mailgun_id(wh, ed, ev);
}


static mt_event_type_e
mt_mailgun_type(mt_str_t *name)
{
    const mt_mailgun_map_t  *m;

    for (m = mt_mailgun_types; m->name; m++) {
        if (mt_str_eq(name, m->name)) {
            return m->type;
        }
    }

    return MT_EV_OTHER;
}


/*
 * A permanent failure: Mailgun's "reason" first (suppressions are
 * Mailgun refusing to try, "old" is giving up after temporary
 * failures), else the enhanced status and the SMTP code.
 */

static mt_bounce_e
mt_mailgun_bounce(mt_json_t ed, mt_event_t *ev)
{
    mt_str_t  reason;

    reason = mt_json_str(ed, "reason");

    if (mt_str_eq(&reason, "suppress-bounce")) {
        return MT_BOUNCE_HARD;
    }

    if (mt_str_has_prefix_nocase(&reason, "suppress-")
        || mt_str_eq(&reason, "espblock"))
    {
        return MT_BOUNCE_BLOCK;
    }

    if (mt_str_eq(&reason, "old")) {
        return MT_BOUNCE_SOFT;
    }

    return mt_bounce_classify(&ev->smtp_status, ev->smtp_code);
}


/* only when event-data.id is missing */

static mt_rc_t
mt_mailgun_id(mt_wh_t *wh, mt_json_t ed, mt_event_t *ev)
{
    mt_str_t  f[MT_MAILGUN_ID_FIELDS];
    u_char    ts[32];

    f[0] = ev->esp_type;
    f[1] = ev->esp_mid;
    f[2] = ev->rcpt;
    f[3] = mt_json_scalar(mt_json_get(ed, "timestamp"), ts, sizeof(ts));
    f[4] = mt_json_str(ed, "url");
    f[5] = mt_json_str(ed, "severity");
    f[6] = mt_json_str(ed, "reason");

    return mt_wh_hash_id(wh, &ev->id, f, MT_MAILGUN_ID_FIELDS);
}



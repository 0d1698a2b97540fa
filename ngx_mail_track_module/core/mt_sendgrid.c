
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * SendGrid Event Webhook: ECDSA P-256 with SHA-256 over the timestamp
 * header immediately followed by the raw body; the body is a JSON array
 * of events, custom arguments merged into each event's top level.
 */


#include "mt_webhook.h"
#include "mt_base64.h"

#include <stdio.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>


/* a DER ECDSA P-256 signature is at most 72 bytes */
#define MT_SENDGRID_SIG_MAX     128
#define MT_SENDGRID_ID_FIELDS   10


typedef struct {
    const char         *name;
    mt_event_type_e     type;
} mt_sendgrid_map_t;


/* the members an event is read from, found in one pass (mt_json_get_all) */
enum {
    SG_EVENT = 0,
    SG_EMAIL,
    SG_TIMESTAMP,
    SG_MESSAGE_ID,
    SG_SMTP_ID,
    SG_REASON,
    SG_RESPONSE,
    SG_STATUS,
    SG_TYPE,
    SG_BOUNCE_CLASS,
    SG_URL,
    SG_IP,
    SG_USERAGENT,
    SG_MACHINE_OPEN,
    SG_CATEGORY,
    SG_ATTEMPT,
    SG_ASM_GROUP,
    SG_APP_ID,                    /* mail_track_id_field, set per call */
    SG_NFIELDS
};


static EVP_PKEY *mt_sendgrid_key_parse(mt_str_t *raw, char *err,
    size_t errlen);
static mt_rc_t mt_sendgrid_verify(mt_wh_t *wh, mt_str_t *ts, mt_str_t *sig);
static int mt_sendgrid_valid(mt_json_t o);
static mt_rc_t mt_sendgrid_emit(mt_wh_t *wh, mt_json_t o);
static mt_rc_t mt_sendgrid_event(mt_wh_t *wh, mt_json_t o, mt_event_t *ev);
static mt_event_type_e mt_sendgrid_type(mt_str_t *name);
static mt_bounce_e mt_sendgrid_bounce(mt_json_t *f, mt_event_t *ev);
static mt_rc_t mt_sendgrid_id(mt_wh_t *wh, mt_json_t *f, mt_event_t *ev);


static const mt_sendgrid_map_t  mt_sendgrid_types[] = {
    { "processed",          MT_EV_SENT },
    { "delivered",          MT_EV_DELIVERED },
    { "deferred",           MT_EV_DEFERRED },
    { "bounce",             MT_EV_BOUNCED },
    { "dropped",            MT_EV_REJECTED },
    { "open",               MT_EV_OPENED },
    { "click",              MT_EV_CLICKED },
    { "spamreport",         MT_EV_COMPLAINED },
    { "unsubscribe",        MT_EV_UNSUBSCRIBED },
    { "group_unsubscribe",  MT_EV_UNSUBSCRIBED },
    { NULL,                 MT_EV_OTHER }
};


static const mt_str_t  mt_sendgrid_fields[SG_NFIELDS] = {
    mt_string("event"),
    mt_string("email"),
    mt_string("timestamp"),
    mt_string("sg_message_id"),
    mt_string("smtp-id"),
    mt_string("reason"),
    mt_string("response"),
    mt_string("status"),
    mt_string("type"),
    mt_string("bounce_classification"),
    mt_string("url"),
    mt_string("ip"),
    mt_string("useragent"),
    mt_string("sg_machine_open"),
    mt_string("category"),
    mt_string("attempt"),
    mt_string("asm_group_id"),
    mt_null_string
};


mt_rc_t
mt_sendgrid_key(mt_str_t *raw, void **data, char *err, size_t len)
{
    EVP_PKEY  *pkey;

    pkey = mt_sendgrid_key_parse(raw, err, len);
    if (pkey == NULL) {
        return MT_ERR_INTERNAL;
    }

    *data = pkey;

    return MT_OK;
}


void
mt_sendgrid_key_free(void *data)
{
    EVP_PKEY_free(data);
}


/*
 * The "Verification Key" as the dashboard and the API show it (base64
 * of a DER SubjectPublicKeyInfo, without armour; line breaks allowed),
 * or the same key as PEM text.
 */

static EVP_PKEY *
mt_sendgrid_key_parse(mt_str_t *raw, char *err, size_t errlen)
{
    int            nid;
    char           group[64];
    size_t         i, n, glen;
    u_char        *buf, *der, c;
    ssize_t        dlen;
    BIO           *bio;
    EVP_PKEY      *pkey;
    const u_char  *p;

    if (raw->len == 0 || raw->len > 65536) {
        snprintf(err, errlen, "empty or oversized key");
        return NULL;
    }

    if (memmem(raw->data, raw->len, "-----BEGIN", 10) != NULL) {
        bio = BIO_new_mem_buf(raw->data, (int) raw->len);
        if (bio == NULL) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }

        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);

        if (pkey == NULL) {
            ERR_clear_error();

            /* inline, a PEM key can only be its armour line */

            snprintf(err, errlen, "%s",
                     memchr(raw->data, '\n', raw->len) == NULL
                     ? "a PEM armour line alone: give the key as the "
                       "base64 line SendGrid shows, or the PEM file with "
                       "file:"
                     : "no PEM public key found");
            return NULL;
        }

    } else {
        buf = malloc(raw->len + mt_base64_decoded_len(raw->len) + 1);
        if (buf == NULL) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }

        for (i = 0, n = 0; i < raw->len; i++) {
            c = raw->data[i];

            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
                buf[n++] = c;
            }
        }

        der = buf + raw->len;
        dlen = mt_base64_decode(der, buf, n);

        if (dlen <= 0) {
            free(buf);
            snprintf(err, errlen, "not base64 (expected the verification "
                     "key as SendGrid shows it, or PEM)");
            return NULL;
        }

        p = der;
        pkey = d2i_PUBKEY(NULL, &p, (long) dlen);

        if (pkey == NULL || p != der + dlen) {
            EVP_PKEY_free(pkey);
            free(buf);
            ERR_clear_error();
            snprintf(err, errlen, "not a DER SubjectPublicKeyInfo");
            return NULL;
        }

        free(buf);
    }

    nid = NID_undef;

    if (EVP_PKEY_is_a(pkey, "EC")
        && EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) == 1)
    {
        nid = OBJ_txt2nid(group);
    }

    if (nid != NID_X9_62_prime256v1) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        snprintf(err, errlen, "not an EC P-256 (prime256v1) public key");
        return NULL;
    }

    return pkey;
}


mt_rc_t
mt_sendgrid_process(mt_wh_t *wh)
{
    int64_t   t;
    mt_rc_t   rc;
    mt_str_t  ts, sig;

    ts = wh->header(wh, "x-twilio-email-event-webhook-timestamp");
    sig = wh->header(wh, "x-twilio-email-event-webhook-signature");

    if (ts.len == 0 || sig.len == 0) {
        return MT_ERR_SIGNATURE_MISSING;
    }

    /* the value is signed as it is: no trimming, decimal seconds only */

    t = mt_atoi64(ts.data, ts.len);
    if (t < 0) {
        mt_str_set(&wh->detail, "timestamp header is not a number");
        return MT_ERR_SIGNATURE;
    }

    rc = mt_sendgrid_verify(wh, &ts, &sig);
    if (rc != MT_OK) {
        return rc;
    }

    /*
     * The time is checked after the signature, so that "stale" always
     * means a genuine SendGrid request that came too late.
     */

    rc = mt_wh_check_time(wh, t);
    if (rc != MT_OK) {
        return rc;
    }

    if (!mt_wh_content_type_json(wh)) {
        return MT_ERR_CONTENT_TYPE;
    }

    return mt_sendgrid_normalize(wh);
}


/*
 * One digest-verify per configured key over the two parts as they are:
 * SendGrid signs the raw bytes (CRLFs between events, a trailing CRLF),
 * so the body is never copied or re-serialized.
 */

static mt_rc_t
mt_sendgrid_verify(mt_wh_t *wh, mt_str_t *ts, mt_str_t *sig)
{
    int            r;
    size_t         i;
    ssize_t        n;
    mt_rc_t        rc;
    mt_str_t       s;
    EVP_PKEY      *pkey;
    EVP_MD_CTX    *ctx;
    const EVP_MD  *md;
    mt_wh_conf_t  *conf;
    u_char         der[MT_SENDGRID_SIG_MAX];

    conf = wh->conf;
    s = *sig;

    while (s.len && (s.data[s.len - 1] == ' ' || s.data[s.len - 1] == '\t')) {
        s.len--;
    }

    while (s.len && (s.data[0] == ' ' || s.data[0] == '\t')) {
        s.data++;
        s.len--;
    }

    if (s.len == 0 || s.len > MT_SENDGRID_SIG_MAX / 3 * 4) {
        mt_str_set(&wh->detail, "signature header has a bad length");
        return MT_ERR_SIGNATURE;
    }

    n = mt_base64_decode(der, s.data, s.len);
    if (n <= 0) {
        mt_str_set(&wh->detail, "signature header is not base64");
        return MT_ERR_SIGNATURE;
    }

    md = mt_wh_sha256((void **) &ctx);
    if (md == NULL) {
        return MT_ERR_NOMEM;
    }

    rc = MT_ERR_SIGNATURE;

    for (i = 0; i < conf->nkeys; i++) {
        pkey = conf->keys[i].data;

        if (pkey == NULL) {
            continue;
        }

        if (EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) != 1
            || EVP_DigestVerifyUpdate(ctx, ts->data, ts->len) != 1
            || (wh->body_len
                && EVP_DigestVerifyUpdate(ctx, wh->body, wh->body_len) != 1))
        {
            rc = MT_ERR_INTERNAL;
            break;
        }

        r = EVP_DigestVerifyFinal(ctx, der, (size_t) n);

        if (r == 1) {
            rc = MT_OK;
            break;
        }

        EVP_MD_CTX_reset(ctx);
    }

    EVP_MD_CTX_reset(ctx);

    /* a failed verify leaves errors queued that nginx's SSL code would see */
    ERR_clear_error();

    if (rc == MT_ERR_SIGNATURE) {
        mt_str_set(&wh->detail, "no configured key verifies the signature");
    }

    return rc;
}


/*
 * The whole batch is checked before the first event is emitted, so a
 * malformed batch queues nothing.  SendGrid always posts an array; a
 * bare object (as in SendGrid's own SDK test vector) is a batch of one.
 */

mt_rc_t
mt_sendgrid_normalize(mt_wh_t *wh)
{
    mt_rc_t      rc;
    mt_json_t    root;

    rc = mt_wh_json_load(wh, wh->body, wh->body_len, &root);
    if (rc != MT_OK) {
        return rc;
    }

    if (mt_json_is_object(root)) {
        if (!mt_sendgrid_valid(root)) {
            goto invalid;
        }

        return mt_sendgrid_emit(wh, root);
    }

    if (!mt_json_is_array(root)) {
        mt_str_set(&wh->detail, "body is not a JSON array of events");
        return MT_ERR_PAYLOAD;
    }

    rc = mt_wh_each_in_array(wh, root, mt_sendgrid_valid, mt_sendgrid_event);

    if (rc == MT_DECLINED) {
        return MT_OK;
    }

    if (rc == MT_ERR_PAYLOAD) {
        goto invalid;
    }

    return rc;

invalid:

    mt_str_set(&wh->detail, "an event is not an object with an \"event\" "
               "name");
    return MT_ERR_PAYLOAD;
}


static int
mt_sendgrid_valid(mt_json_t o)
{
    return mt_json_str(o, "event").len != 0;
}


static mt_rc_t
mt_sendgrid_emit(mt_wh_t *wh, mt_json_t o)
{
    mt_rc_t     rc;
    mt_event_t  ev;

    rc = mt_sendgrid_event(wh, o, &ev);
    if (rc != MT_OK) {
        return rc;
    }

    return mt_wh_emit(wh, &ev);
}


static mt_rc_t
mt_sendgrid_event(mt_wh_t *wh, mt_json_t o, mt_event_t *ev)
{
    int         code;
    u_char     *p;
    mt_str_t    st, keys[SG_NFIELDS];
    mt_json_t   v, f[SG_NFIELDS];

    mt_event_init(ev);

    memcpy(keys, mt_sendgrid_fields, sizeof(keys));
    keys[SG_APP_ID] = wh->conf->id_field;

    mt_json_get_all(o, keys, keys[SG_APP_ID].len ? SG_NFIELDS : SG_APP_ID,
                    f);

    ev->esp_type = mt_json_string(f[SG_EVENT]);
    ev->type = mt_sendgrid_type(&ev->esp_type);
    ev->rcpt = mt_json_string(f[SG_EMAIL]);
    ev->ts = mt_json_time_ms(f[SG_TIMESTAMP]);

    /*
     * "<X-Message-Id>.filterdrecv-..." or "<X-Message-Id>.filter0001...":
     * the part before ".filter" is what the send API returned
     */

    ev->esp_mid = mt_json_string(f[SG_MESSAGE_ID]);

    if (ev->esp_mid.len) {
        p = memmem(ev->esp_mid.data, ev->esp_mid.len, ".filter", 7);

        if (p != NULL) {
            ev->esp_mid.len = p - ev->esp_mid.data;
        }
    }

    if (keys[SG_APP_ID].len) {
        ev->mid = mt_json_str_value(wh, f[SG_APP_ID]);
    }

    /* dropped and bounce carry "reason", delivered and deferred "response" */

    ev->reason = mt_json_string(f[SG_REASON]);
    if (ev->reason.len == 0) {
        ev->reason = mt_json_string(f[SG_RESPONSE]);
    }

    code = 0;
    st = mt_json_string(f[SG_STATUS]);

    if (st.len) {
        mt_smtp_parse(&st, &ev->smtp_status, &code);
    }

    if (ev->reason.len) {
        mt_smtp_parse(&ev->reason, &ev->smtp_status, &code);
    }

    ev->smtp_code = code;

    switch (ev->type) {

    case MT_EV_BOUNCED:
        ev->bounce = mt_sendgrid_bounce(f, ev);
        break;

    case MT_EV_DEFERRED:
        ev->bounce = MT_BOUNCE_SOFT;
        break;

    case MT_EV_CLICKED:
        ev->url = mt_json_string(f[SG_URL]);
        /* fall through */

    case MT_EV_OPENED:
        ev->ip = mt_json_string(f[SG_IP]);
        ev->ua = mt_json_string(f[SG_USERAGENT]);

        v = f[SG_MACHINE_OPEN];

        if (mt_json_is_true(v)) {
            ev->machine = 1;
            mt_str_set(&ev->why, "sg_machine_open");

        } else if (mt_json_is_false(v)) {
            ev->machine = 0;
        }

        break;

    default:
        break;
    }

    if (mt_json_join(wh, f[SG_CATEGORY], &ev->tag) != MT_OK) {
        return MT_ERR_NOMEM;
    }

    return mt_sendgrid_id(wh, f, ev);
}


static mt_event_type_e
mt_sendgrid_type(mt_str_t *name)
{
    const mt_sendgrid_map_t  *m;

    for (m = mt_sendgrid_types; m->name; m++) {
        if (mt_str_eq(name, m->name)) {
            return m->type;
        }
    }

    return MT_EV_OTHER;
}


/*
 * type=blocked is a block.  For type=bounce SendGrid's own
 * bounce_classification decides where it is unambiguous (compared by
 * prefix, case-insensitively: its casing is not documented); otherwise
 * the enhanced status and the SMTP code do.
 */

static mt_bounce_e
mt_sendgrid_bounce(mt_json_t *f, mt_event_t *ev)
{
    mt_str_t     type, cls;
    mt_bounce_e  b;

    type = mt_json_string(f[SG_TYPE]);

    if (mt_str_eq_nocase(&type, "blocked")) {
        return MT_BOUNCE_BLOCK;
    }

    cls = mt_json_string(f[SG_BOUNCE_CLASS]);

    if (mt_str_has_prefix_nocase(&cls, "invalid")) {
        return MT_BOUNCE_HARD;
    }

    if (mt_str_has_prefix_nocase(&cls, "reputation")
        || mt_str_has_prefix_nocase(&cls, "content"))
    {
        return MT_BOUNCE_BLOCK;
    }

    if (mt_str_has_prefix_nocase(&cls, "frequency")) {
        return MT_BOUNCE_SOFT;
    }

    b = mt_bounce_classify(&ev->smtp_status, ev->smtp_code);

    /* neither is an address problem when the status does not tell */

    if (b == MT_BOUNCE_UNDETERMINED
        && (mt_str_has_prefix_nocase(&cls, "mailbox")
            || mt_str_has_prefix_nocase(&cls, "technical")))
    {
        return MT_BOUNCE_SOFT;
    }

    return b;
}


/*
 * sg_event_id is new on every retry of the same event (sendgrid-nodejs
 * #1435) and missing on some events, so the id is a hash over what a
 * retry repeats: the message, the event, the recipient, the time, and
 * what tells apart events of one message in the same second (a click's
 * URL, a deferral's attempt, the bounce type, the client of an open or
 * click, the unsubscribe group).
 */

static mt_rc_t
mt_sendgrid_id(mt_wh_t *wh, mt_json_t *f, mt_event_t *ev)
{
    mt_str_t  h[MT_SENDGRID_ID_FIELDS];
    u_char    ts[32], attempt[32], group[32];

    h[0] = ev->esp_type;
    h[1] = mt_json_string(f[SG_MESSAGE_ID]);

    if (h[1].len == 0) {
        h[1] = mt_json_string(f[SG_SMTP_ID]);
    }

    h[2] = ev->rcpt;
    h[3] = mt_json_scalar(f[SG_TIMESTAMP], ts, sizeof(ts));
    h[4] = mt_json_string(f[SG_URL]);
    h[5] = mt_json_scalar(f[SG_ATTEMPT], attempt, sizeof(attempt));
    h[6] = mt_json_string(f[SG_TYPE]);
    h[7] = mt_json_string(f[SG_USERAGENT]);
    h[8] = mt_json_string(f[SG_IP]);
    h[9] = mt_json_scalar(f[SG_ASM_GROUP], group, sizeof(group));

    return mt_wh_hash_id(wh, &ev->id, h, MT_SENDGRID_ID_FIELDS);
}



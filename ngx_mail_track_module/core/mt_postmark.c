
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Postmark: one JSON object per request, no signature.  The request is
 * authenticated by the credential Postmark sends (basic auth in the
 * webhook URL, or a custom header turned into a bearer token).
 */


#include "mt_webhook.h"


typedef struct {
    const char         *name;
    mt_event_type_e     type;
    mt_bounce_e         bounce;
} mt_postmark_map_t;


static mt_rc_t mt_postmark_record_type(mt_wh_t *wh, mt_json_t obj,
    mt_str_t *rtype);
static const mt_postmark_map_t *mt_postmark_find(
    const mt_postmark_map_t *map, mt_str_t *name);
static mt_rc_t mt_postmark_event(mt_wh_t *wh, mt_json_t obj, mt_str_t *rtype,
    mt_event_t *ev);
static mt_rc_t mt_postmark_esp_type(mt_wh_t *wh, mt_str_t *rtype,
    mt_str_t *btype, mt_str_t *out);


static const mt_postmark_map_t  mt_postmark_records[] = {
    { "Delivery",           MT_EV_DELIVERED,    MT_BOUNCE_NONE },
    { "Open",               MT_EV_OPENED,       MT_BOUNCE_NONE },
    { "Click",              MT_EV_CLICKED,      MT_BOUNCE_NONE },
    { "SpamComplaint",      MT_EV_COMPLAINED,   MT_BOUNCE_NONE },
    { NULL,                 MT_EV_OTHER,        MT_BOUNCE_NONE }
};


/*
 * Bounce "Type" values.  Postmark files every NDR it receives as a
 * bounce, auto-replies included, so only the failures become "bounced";
 * "Transient" and "DnsError" are described as temporary and become
 * "deferred", so a later delivery is not overridden.  "undetermined" is
 * refined from the SMTP text in Details where that says more.
 */

static const mt_postmark_map_t  mt_postmark_bounces[] = {
    { "HardBounce",              MT_EV_BOUNCED,      MT_BOUNCE_HARD },
    { "BadEmailAddress",         MT_EV_BOUNCED,      MT_BOUNCE_HARD },
    { "ManuallyDeactivated",     MT_EV_BOUNCED,      MT_BOUNCE_HARD },
    { "SoftBounce",              MT_EV_BOUNCED,      MT_BOUNCE_SOFT },
    { "Transient",               MT_EV_DEFERRED,     MT_BOUNCE_SOFT },
    { "DnsError",                MT_EV_DEFERRED,     MT_BOUNCE_SOFT },
    { "Blocked",                 MT_EV_BOUNCED,      MT_BOUNCE_BLOCK },
    { "DMARCPolicy",             MT_EV_BOUNCED,      MT_BOUNCE_BLOCK },
    { "SpamNotification",        MT_EV_BOUNCED,      MT_BOUNCE_BLOCK },
    { "VirusNotification",       MT_EV_BOUNCED,      MT_BOUNCE_BLOCK },
    { "Unknown",                 MT_EV_BOUNCED,      MT_BOUNCE_UNDETERMINED },
    { "SpamComplaint",           MT_EV_COMPLAINED,   MT_BOUNCE_NONE },
    { "Unsubscribe",             MT_EV_UNSUBSCRIBED, MT_BOUNCE_NONE },
    { "ManualSuppression",       MT_EV_UNSUBSCRIBED, MT_BOUNCE_NONE },
    { "Unconfirmed",             MT_EV_REJECTED,     MT_BOUNCE_NONE },
    { "SMTPApiError",            MT_EV_REJECTED,     MT_BOUNCE_NONE },
    { "TemplateRenderingFailed", MT_EV_REJECTED,     MT_BOUNCE_NONE },
    { "Subscribe",               MT_EV_OTHER,        MT_BOUNCE_NONE },
    { "AutoResponder",           MT_EV_OTHER,        MT_BOUNCE_NONE },
    { "AddressChange",           MT_EV_OTHER,        MT_BOUNCE_NONE },
    { "OpenRelayTest",           MT_EV_OTHER,        MT_BOUNCE_NONE },
    { "ChallengeVerification",   MT_EV_OTHER,        MT_BOUNCE_NONE },
    { "InboundError",            MT_EV_OTHER,        MT_BOUNCE_NONE },
    { NULL,                      MT_EV_OTHER,        MT_BOUNCE_NONE }
};


/* the time field of each record type; the first one present is used */

static const char  *mt_postmark_times[] = {
    "DeliveredAt", "BouncedAt", "ReceivedAt", "ChangedAt", NULL
};


mt_rc_t
mt_postmark_process(mt_wh_t *wh)
{
    return mt_wh_process_unsigned(wh, mt_postmark_normalize);
}


mt_rc_t
mt_postmark_normalize(mt_wh_t *wh)
{
    mt_rc_t      rc;
    mt_str_t     rtype;
    mt_json_t    root;
    mt_event_t   ev;

    rc = mt_wh_json_load(wh, wh->body, wh->body_len, &root);
    if (rc != MT_OK) {
        return rc;
    }

    if (!mt_json_is_object(root)) {
        mt_str_set(&wh->detail, "not a JSON object");
        return MT_ERR_PAYLOAD;
    }

    rc = mt_postmark_record_type(wh, root, &rtype);
    if (rc != MT_OK) {
        return rc;
    }

    rc = mt_postmark_event(wh, root, &rtype, &ev);
    if (rc != MT_OK) {
        return rc;
    }

    return mt_wh_emit(wh, &ev);
}


/*
 * Payloads from before RecordType existed are recognized by their
 * fields, as Postmark still documents them that way.
 */

static mt_rc_t
mt_postmark_record_type(mt_wh_t *wh, mt_json_t obj, mt_str_t *rtype)
{
    mt_str_t   btype;
    mt_json_t  v;

    v = mt_json_get(obj, "RecordType");

    if (!mt_json_is_none(v)) {
        *rtype = mt_json_string(v);

        if (rtype->len == 0) {
            mt_str_set(&wh->detail, "RecordType is not a string");
            return MT_ERR_PAYLOAD;
        }

        return MT_OK;
    }

    btype = mt_json_str(obj, "Type");

    if (btype.len && !mt_json_is_none(mt_json_get(obj, "BouncedAt"))) {
        if (mt_str_eq(&btype, "SpamComplaint")) {
            mt_str_set(rtype, "SpamComplaint");

        } else {
            mt_str_set(rtype, "Bounce");
        }

        return MT_OK;
    }

    if (!mt_json_is_none(mt_json_get(obj, "OriginalLink"))) {
        mt_str_set(rtype, "Click");

    } else if (!mt_json_is_none(mt_json_get(obj, "FirstOpen"))) {
        mt_str_set(rtype, "Open");

    } else if (!mt_json_is_none(mt_json_get(obj, "DeliveredAt"))) {
        mt_str_set(rtype, "Delivery");

    } else if (!mt_json_is_none(mt_json_get(obj, "SuppressSending"))) {
        mt_str_set(rtype, "SubscriptionChange");

    } else if (!mt_json_is_none(mt_json_get(obj, "FromFull"))) {
        mt_str_set(rtype, "Inbound");

    } else {
        mt_str_set(&wh->detail, "no RecordType");
        return MT_ERR_PAYLOAD;
    }

    return MT_OK;
}


static const mt_postmark_map_t *
mt_postmark_find(const mt_postmark_map_t *map, mt_str_t *name)
{
    for ( /* void */ ; map->name != NULL; map++) {
        if (mt_str_eq(name, map->name)) {
            return map;
        }
    }

    return NULL;
}


static mt_rc_t
mt_postmark_event(mt_wh_t *wh, mt_json_t obj, mt_str_t *rtype, mt_event_t *ev)
{
    size_t                    i, n;
    mt_rc_t                   rc;
    mt_str_t                  btype, tstr, details, sreason;
    mt_str_t                  fields[7];
    mt_json_t                 v, meta, geo;
    const mt_postmark_map_t  *m;

    mt_event_init(ev);

    btype = mt_json_str(obj, "Type");

    if (mt_str_eq(rtype, "Bounce")) {
        m = mt_postmark_find(mt_postmark_bounces, &btype);

        /* a Type Postmark adds later is still a bounce record */
        ev->type = m ? m->type : MT_EV_BOUNCED;
        ev->bounce = m ? m->bounce : MT_BOUNCE_UNDETERMINED;

    } else if (mt_str_eq(rtype, "SubscriptionChange")) {
        sreason = mt_json_str(obj, "SuppressionReason");
        ev->reason = sreason;

        if (!mt_json_is_true(mt_json_get(obj, "SuppressSending"))) {
            /* reactivated: nothing the status index models */
            ev->type = MT_EV_OTHER;

        } else if (mt_str_eq(&sreason, "HardBounce")) {
            ev->type = MT_EV_BOUNCED;
            ev->bounce = MT_BOUNCE_HARD;

        } else if (mt_str_eq(&sreason, "SpamComplaint")) {
            ev->type = MT_EV_COMPLAINED;

        } else {
            ev->type = MT_EV_UNSUBSCRIBED;
        }

    } else {
        m = mt_postmark_find(mt_postmark_records, rtype);
        ev->type = m ? m->type : MT_EV_OTHER;
    }

    rc = mt_postmark_esp_type(wh, rtype, &btype, &ev->esp_type);
    if (rc != MT_OK) {
        return rc;
    }

    tstr.len = 0;
    tstr.data = NULL;

    for (i = 0; mt_postmark_times[i] != NULL; i++) {
        v = mt_json_get(obj, mt_postmark_times[i]);

        if (!mt_json_is_none(v)) {
            ev->ts = mt_json_time_ms(v);
            tstr = mt_json_str_value(wh, v);
            break;
        }
    }

    ev->rcpt = mt_json_str(obj, "Recipient");

    if (ev->rcpt.len == 0) {
        ev->rcpt = mt_json_str(obj, "Email");
    }

    ev->esp_mid = mt_json_str_value(wh, mt_json_get(obj, "MessageID"));
    ev->tag = mt_json_str(obj, "Tag");

    meta = mt_json_get(obj, "Metadata");

    if (mt_json_is_object(meta) && wh->conf->id_field.len) {
        v = mt_json_getn(meta, wh->conf->id_field.data,
                         wh->conf->id_field.len);
        ev->mid = mt_json_str_value(wh, v);
    }

    if (ev->type == MT_EV_OPENED || ev->type == MT_EV_CLICKED) {
        ev->ua = mt_json_str(obj, "UserAgent");

        geo = mt_json_get(obj, "Geo");

        if (mt_json_is_object(geo)) {
            ev->ip = mt_json_str(geo, "IP");
        }

        if (ev->type == MT_EV_CLICKED) {
            ev->url = mt_json_str(obj, "OriginalLink");
        }
    }

    details = mt_json_str(obj, "Details");

    if (details.len) {
        mt_smtp_parse(&details, &ev->smtp_status, &ev->smtp_code);
    }

    if (ev->reason.len == 0) {
        ev->reason = details.len ? details : mt_json_str(obj, "Description");
    }

    /* a bare 5xx says too little: only an enhanced status refines */

    if (ev->bounce == MT_BOUNCE_UNDETERMINED && ev->smtp_status.len) {
        ev->bounce = mt_bounce_classify(&ev->smtp_status, ev->smtp_code);
    }

    /*
     * Bounce and SpamComplaint records carry Postmark's own ID, stable
     * across retries; everything else gets a hash of what identifies it.
     */

    if (mt_str_eq(rtype, "Bounce") || mt_str_eq(rtype, "SpamComplaint")) {
        ev->id = mt_json_str_value(wh, mt_json_get(obj, "ID"));
    }

    if (ev->id.len == 0) {
        n = 0;
        fields[n++] = *rtype;
        fields[n++] = btype;
        fields[n++] = ev->esp_mid;
        fields[n++] = ev->rcpt;
        fields[n++] = tstr;
        fields[n++] = mt_json_str(obj, "OriginalLink");

        if (mt_json_is_true(mt_json_get(obj, "SuppressSending"))) {
            mt_str_set(&fields[n], "1");
            n++;
        }

        rc = mt_wh_hash_id(wh, &ev->id, fields, n);
        if (rc != MT_OK) {
            return rc;
        }
    }

    return MT_OK;
}


/* "Bounce:HardBounce": the record type, and for bounces the bounce type */

static mt_rc_t
mt_postmark_esp_type(mt_wh_t *wh, mt_str_t *rtype, mt_str_t *btype,
    mt_str_t *out)
{
    u_char  *p;

    if (!mt_str_eq(rtype, "Bounce") || btype->len == 0) {
        *out = *rtype;
        return MT_OK;
    }

    p = mt_alloc(&wh->alloc, rtype->len + 1 + btype->len);
    if (p == NULL) {
        return MT_ERR_NOMEM;
    }

    out->data = p;
    out->len = rtype->len + 1 + btype->len;

    memcpy(p, rtype->data, rtype->len);
    p[rtype->len] = ':';
    memcpy(p + rtype->len + 1, btype->data, btype->len);

    return MT_OK;
}

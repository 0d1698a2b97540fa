
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Brevo (Sendinblue) transactional webhooks: one event object per POST,
 * or an array when the webhook is "batched"; no signature, the request
 * is authenticated by basic auth in the URL or a bearer token.
 */


#include "mt_webhook.h"


typedef struct {
    const char         *name;
    mt_event_type_e     type;
    mt_bounce_e         bounce;
    unsigned            proxy:1;     /* Brevo's own machine-open flag */
} mt_brevo_map_t;


static int mt_brevo_valid(mt_json_t obj);
static mt_rc_t mt_brevo_event(mt_wh_t *wh, mt_json_t obj, mt_event_t *ev);
static int64_t mt_brevo_time(mt_wh_t *wh, mt_json_t obj, mt_str_t *raw);
static mt_rc_t mt_brevo_app_id(mt_wh_t *wh, mt_json_t obj, mt_str_t *mid);
static mt_rc_t mt_brevo_tag(mt_wh_t *wh, mt_json_t obj, mt_str_t *tag);


static const mt_brevo_map_t  mt_brevo_types[] = {
    { "request",            MT_EV_SENT,          MT_BOUNCE_NONE, 0 },
    { "delivered",          MT_EV_DELIVERED,     MT_BOUNCE_NONE, 0 },
    { "hard_bounce",        MT_EV_BOUNCED,       MT_BOUNCE_HARD, 0 },
    { "soft_bounce",        MT_EV_BOUNCED,       MT_BOUNCE_SOFT, 0 },
    { "invalid_email",      MT_EV_BOUNCED,       MT_BOUNCE_HARD, 0 },
    { "blocked",            MT_EV_REJECTED,      MT_BOUNCE_NONE, 0 },
    { "error",              MT_EV_REJECTED,      MT_BOUNCE_NONE, 0 },
    { "deferred",           MT_EV_DEFERRED,      MT_BOUNCE_SOFT, 0 },
    { "spam",               MT_EV_COMPLAINED,    MT_BOUNCE_NONE, 0 },
    { "complaint",          MT_EV_COMPLAINED,    MT_BOUNCE_NONE, 0 },
    { "opened",             MT_EV_OPENED,        MT_BOUNCE_NONE, 0 },
    { "unique_opened",      MT_EV_OPENED,        MT_BOUNCE_NONE, 0 },
    { "proxy_open",         MT_EV_OPENED,        MT_BOUNCE_NONE, 1 },
    { "unique_proxy_open",  MT_EV_OPENED,        MT_BOUNCE_NONE, 1 },
    { "click",              MT_EV_CLICKED,       MT_BOUNCE_NONE, 0 },
    { "unsubscribe",        MT_EV_UNSUBSCRIBED,  MT_BOUNCE_NONE, 0 },
    { NULL,                 MT_EV_OTHER,         MT_BOUNCE_NONE, 0 }
};


mt_rc_t
mt_brevo_process(mt_wh_t *wh)
{
    return mt_wh_process_unsigned(wh, mt_brevo_normalize);
}


mt_rc_t
mt_brevo_normalize(mt_wh_t *wh)
{
    return mt_wh_each_event(wh, mt_brevo_valid, mt_brevo_event);
}


static int
mt_brevo_valid(mt_json_t obj)
{
    return mt_json_is_object(obj) && mt_json_str(obj, "event").len != 0;
}


static mt_rc_t
mt_brevo_event(mt_wh_t *wh, mt_json_t obj, mt_event_t *ev)
{
    size_t                 n;
    mt_rc_t                rc;
    mt_str_t               tstr, fields[7];
    const mt_brevo_map_t  *m;

    mt_event_init(ev);

    ev->esp_type = mt_json_str(obj, "event");

    for (m = mt_brevo_types; m->name != NULL; m++) {
        if (mt_str_eq(&ev->esp_type, m->name)) {
            break;
        }
    }

    ev->type = m->type;
    ev->bounce = m->bounce;

    if (m->proxy) {
        ev->machine = 1;
        mt_str_set(&ev->why, "brevo_proxy_open");
    }

    ev->ts = mt_brevo_time(wh, obj, &tstr);
    ev->rcpt = mt_json_str(obj, "email");
    ev->esp_mid = mt_json_str_value(wh, mt_json_get(obj, "message-id"));

    rc = mt_brevo_app_id(wh, obj, &ev->mid);
    if (rc != MT_OK) {
        return rc;
    }

    rc = mt_brevo_tag(wh, obj, &ev->tag);
    if (rc != MT_OK) {
        return rc;
    }

    ev->reason = mt_json_str(obj, "reason");

    if (ev->reason.len) {
        mt_smtp_parse(&ev->reason, &ev->smtp_status, &ev->smtp_code);
    }

    /* sending_ip is Brevo's own MTA: never a client address */

    if (ev->type == MT_EV_OPENED || ev->type == MT_EV_CLICKED) {
        ev->ip = mt_json_str(obj, "ip");
        ev->ua = mt_json_str(obj, "user_agent");

        if (ev->type == MT_EV_CLICKED) {
            ev->url = mt_json_str(obj, "link");
        }
    }

    /* Brevo has no event id ("id" is the webhook's) */

    n = 0;
    fields[n++] = ev->esp_mid;
    fields[n++] = ev->esp_type;
    fields[n++] = ev->rcpt;
    fields[n++] = tstr;
    fields[n++] = mt_json_str(obj, "link");
    fields[n++] = mt_json_str(obj, "ip");
    fields[n++] = mt_json_str(obj, "user_agent");

    return mt_wh_hash_id(wh, &ev->id, fields, n);
}


/*
 * ts_epoch (UTC milliseconds) is the one reliable time; ts_event and
 * ts follow the account's time zone on some accounts but are the only
 * time of older payloads.  A ts_epoch too small for milliseconds (seen
 * on "error" events) is taken as seconds.
 */

static int64_t
mt_brevo_time(mt_wh_t *wh, mt_json_t obj, mt_str_t *raw)
{
    int64_t    t;
    mt_json_t  v;

    v = mt_json_get(obj, "ts_epoch");

    if (mt_json_int(v, NULL, &t) == 0 && t > 0) {
        *raw = mt_json_str_value(wh, v);
        return t >= 100000000000LL ? t : t * 1000;
    }

    v = mt_json_get(obj, "ts_event");

    if (mt_json_is_none(v)) {
        v = mt_json_get(obj, "ts");
    }

    *raw = mt_json_str_value(wh, v);

    return mt_json_time_ms(v);
}


/*
 * X-Mailin-custom is whatever the sender put in that header; it holds
 * the application's id only when it is a JSON object with the id field.
 */

static mt_rc_t
mt_brevo_app_id(mt_wh_t *wh, mt_json_t obj, mt_str_t *mid)
{
    return mt_wh_custom_id(wh, mt_json_get(obj, "X-Mailin-custom"), mid);
}


/*
 * "tags": ["a","b"] when the send set tags; else "tag": a string, a
 * JSON array serialized into that string, or (proxy opens) an array.
 */

static mt_rc_t
mt_brevo_tag(mt_wh_t *wh, mt_json_t obj, mt_str_t *tag)
{
    mt_rc_t    rc;
    mt_str_t   s;
    mt_json_t  v, parsed;

    tag->len = 0;
    tag->data = NULL;

    rc = mt_json_join(wh, mt_json_get(obj, "tags"), tag);

    if (rc != MT_OK || tag->len) {
        return rc;
    }

    v = mt_json_get(obj, "tag");

    if (mt_json_is_array(v)) {
        return mt_json_join(wh, v, tag);
    }

    if (!mt_json_is_string(v)) {
        return MT_OK;
    }

    s = mt_json_string(v);

    /* joined into a copy: the inner document goes with the next event */

    if (s.len >= 2 && s.data[0] == '['
        && mt_wh_json_load_inner(s.data, s.len, &parsed) == MT_OK
        && mt_json_is_array(parsed))
    {
        rc = mt_json_join(wh, parsed, tag);

        if (rc != MT_OK || tag->len) {
            return rc;
        }
    }

    *tag = s;

    return MT_OK;
}


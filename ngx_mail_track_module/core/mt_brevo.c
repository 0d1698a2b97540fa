
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


static int mt_brevo_valid(json_t *obj);
static mt_rc_t mt_brevo_event(mt_wh_t *wh, json_t *obj, mt_event_t *ev);
static int64_t mt_brevo_time(mt_wh_t *wh, json_t *obj, mt_str_t *raw);
static mt_rc_t mt_brevo_app_id(mt_wh_t *wh, json_t *obj, mt_str_t *mid);
static mt_rc_t mt_brevo_tag(mt_wh_t *wh, json_t *obj, mt_str_t *tag);


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
mt_brevo_valid(json_t *obj)
{
    return json_is_object(obj) && mt_json_str(obj, "event").len != 0;
}


static mt_rc_t
mt_brevo_event(mt_wh_t *wh, json_t *obj, mt_event_t *ev)
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
    ev->esp_mid = mt_json_str_value(wh, json_object_get(obj, "message-id"));

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
mt_brevo_time(mt_wh_t *wh, json_t *obj, mt_str_t *raw)
{
    json_t   *v;
    int64_t   t;

    v = json_object_get(obj, "ts_epoch");

    if (v != NULL && mt_json_int(v, NULL, &t) == 0 && t > 0) {
        *raw = mt_json_str_value(wh, v);
        return t >= 100000000000LL ? t : t * 1000;
    }

    v = json_object_get(obj, "ts_event");

    if (v == NULL) {
        v = json_object_get(obj, "ts");
    }

    *raw = mt_json_str_value(wh, v);

    return mt_json_time_ms(v);
}


/*
 * X-Mailin-custom is whatever the sender put in that header; it holds
 * the application's id only when it is a JSON object with the id field.
 */

static mt_rc_t
mt_brevo_app_id(mt_wh_t *wh, json_t *obj, mt_str_t *mid)
{
    json_t        *custom, *parsed, *v;
    mt_str_t       s;
    json_error_t   err;

    mid->len = 0;
    mid->data = NULL;

    if (wh->conf->id_field.len == 0) {
        return MT_OK;
    }

    custom = json_object_get(obj, "X-Mailin-custom");

    if (json_is_object(custom)) {
        v = json_object_getn(custom, (const char *) wh->conf->id_field.data,
                             wh->conf->id_field.len);
        *mid = mt_json_str_value(wh, v);
        return MT_OK;
    }

    if (!json_is_string(custom) || json_string_length(custom) < 2
        || json_string_value(custom)[0] != '{')
    {
        return MT_OK;
    }

    parsed = json_loadb(json_string_value(custom),
                        json_string_length(custom), JSON_ALLOW_NUL, &err);

    if (parsed == NULL) {
        return MT_OK;
    }

    v = json_is_object(parsed)
        ? json_object_getn(parsed, (const char *) wh->conf->id_field.data,
                           wh->conf->id_field.len)
        : NULL;

    s = mt_json_str_value(wh, v);

    /* the parsed tree goes now: keep a copy */

    if (s.len && json_is_string(v)
        && mt_strdup(&wh->alloc, &s, s.data, s.len) == NULL)
    {
        json_decref(parsed);
        return MT_ERR_NOMEM;
    }

    json_decref(parsed);

    *mid = s;

    return MT_OK;
}


/*
 * "tags": ["a","b"] when the send set tags; else "tag": a string, a
 * JSON array serialized into that string, or (proxy opens) an array.
 */

static mt_rc_t
mt_brevo_tag(mt_wh_t *wh, json_t *obj, mt_str_t *tag)
{
    json_t        *v, *parsed;
    mt_rc_t        rc;
    json_error_t   err;

    tag->len = 0;
    tag->data = NULL;

    rc = mt_json_join(wh, json_object_get(obj, "tags"), tag);

    if (rc != MT_OK || tag->len) {
        return rc;
    }

    v = json_object_get(obj, "tag");

    if (json_is_array(v)) {
        return mt_json_join(wh, v, tag);
    }

    if (!json_is_string(v)) {
        return MT_OK;
    }

    if (json_string_length(v) >= 2 && json_string_value(v)[0] == '[') {
        parsed = json_loadb(json_string_value(v), json_string_length(v),
                            JSON_ALLOW_NUL, &err);

        if (parsed != NULL) {
            rc = json_is_array(parsed) ? mt_json_join(wh, parsed, tag)
                                       : MT_OK;
            json_decref(parsed);

            if (rc != MT_OK || tag->len) {
                return rc;
            }
        }
    }

    tag->data = (u_char *) json_string_value(v);
    tag->len = json_string_length(v);

    return MT_OK;
}


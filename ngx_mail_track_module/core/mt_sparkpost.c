
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * SparkPost (Bird): a JSON array of {"msys":{<class>:{...}}}, no
 * signature; the request is authenticated by the basic-auth or OAuth2
 * bearer credential SparkPost sends.  {"msys":{}} is a ping.
 */


#include "mt_webhook.h"


typedef struct {
    const char         *name;
    mt_event_type_e     type;
    mt_bounce_e         bounce;
} mt_sparkpost_map_t;


static mt_rc_t mt_sparkpost_check(mt_wh_t *wh, mt_json_t root,
    size_t *nevents);
static const mt_sparkpost_map_t *mt_sparkpost_find(
    const mt_sparkpost_map_t *map, mt_str_t *name);
static int mt_sparkpost_first(mt_json_t msys, mt_str_t *cls, mt_json_t obj);
static mt_rc_t mt_sparkpost_event(mt_wh_t *wh, mt_str_t *cls, mt_json_t obj,
    mt_event_t *ev);
static void mt_sparkpost_bounce(mt_str_t *cls, mt_event_t *ev);


static const mt_sparkpost_map_t  mt_sparkpost_types[] = {
    { "injection",            MT_EV_SENT,          MT_BOUNCE_NONE },
    { "delivery",             MT_EV_DELIVERED,     MT_BOUNCE_NONE },
    { "bounce",               MT_EV_BOUNCED,       MT_BOUNCE_UNDETERMINED },
    { "out_of_band",          MT_EV_BOUNCED,       MT_BOUNCE_UNDETERMINED },
    { "delay",                MT_EV_DEFERRED,      MT_BOUNCE_SOFT },
    { "policy_rejection",     MT_EV_REJECTED,      MT_BOUNCE_NONE },
    { "generation_failure",   MT_EV_REJECTED,      MT_BOUNCE_NONE },
    { "generation_rejection", MT_EV_REJECTED,      MT_BOUNCE_NONE },
    { "spam_complaint",       MT_EV_COMPLAINED,    MT_BOUNCE_NONE },
    { "open",                 MT_EV_OPENED,        MT_BOUNCE_NONE },
    { "initial_open",         MT_EV_OPENED,        MT_BOUNCE_NONE },
    { "amp_open",             MT_EV_OPENED,        MT_BOUNCE_NONE },
    { "amp_initial_open",     MT_EV_OPENED,        MT_BOUNCE_NONE },
    { "click",                MT_EV_CLICKED,       MT_BOUNCE_NONE },
    { "amp_click",            MT_EV_CLICKED,       MT_BOUNCE_NONE },
    { "list_unsubscribe",     MT_EV_UNSUBSCRIBED,  MT_BOUNCE_NONE },
    { "link_unsubscribe",     MT_EV_UNSUBSCRIBED,  MT_BOUNCE_NONE },
    { NULL,                   MT_EV_OTHER,         MT_BOUNCE_NONE }
};


/*
 * bounce_class, after SparkPost's "Bounce Classification Codes": the
 * class category (Hard, Soft, Block, Admin, Undetermined) decides.
 * Auto-replies, challenge-response and subscribe requests come back
 * through the bounce channel but are no delivery failure: "other".
 * 90 is the recipient asking to be removed: "unsubscribed".
 */

static const mt_sparkpost_map_t  mt_sparkpost_classes[] = {
    { "1",    MT_EV_BOUNCED,       MT_BOUNCE_UNDETERMINED },
    { "10",   MT_EV_BOUNCED,       MT_BOUNCE_HARD },
    { "20",   MT_EV_BOUNCED,       MT_BOUNCE_SOFT },
    { "21",   MT_EV_BOUNCED,       MT_BOUNCE_SOFT },
    { "22",   MT_EV_BOUNCED,       MT_BOUNCE_SOFT },
    { "23",   MT_EV_BOUNCED,       MT_BOUNCE_SOFT },
    { "24",   MT_EV_BOUNCED,       MT_BOUNCE_SOFT },
    { "25",   MT_EV_BOUNCED,       MT_BOUNCE_BLOCK },
    { "26",   MT_EV_BOUNCED,       MT_BOUNCE_BLOCK },
    { "30",   MT_EV_BOUNCED,       MT_BOUNCE_HARD },
    { "40",   MT_EV_BOUNCED,       MT_BOUNCE_SOFT },
    { "50",   MT_EV_BOUNCED,       MT_BOUNCE_BLOCK },
    { "51",   MT_EV_BOUNCED,       MT_BOUNCE_BLOCK },
    { "52",   MT_EV_BOUNCED,       MT_BOUNCE_BLOCK },
    { "53",   MT_EV_BOUNCED,       MT_BOUNCE_BLOCK },
    { "54",   MT_EV_BOUNCED,       MT_BOUNCE_BLOCK },
    { "60",   MT_EV_OTHER,         MT_BOUNCE_NONE },
    { "70",   MT_EV_BOUNCED,       MT_BOUNCE_SOFT },
    { "80",   MT_EV_OTHER,         MT_BOUNCE_NONE },
    { "90",   MT_EV_UNSUBSCRIBED,  MT_BOUNCE_NONE },
    { "100",  MT_EV_OTHER,         MT_BOUNCE_NONE },
    { NULL,   MT_EV_BOUNCED,       MT_BOUNCE_UNDETERMINED }
};


mt_rc_t
mt_sparkpost_process(mt_wh_t *wh)
{
    return mt_wh_process_unsigned(wh, mt_sparkpost_normalize);
}


mt_rc_t
mt_sparkpost_normalize(mt_wh_t *wh)
{
    size_t           n;
    mt_rc_t          rc;
    mt_str_t         cls;
    mt_json_t        root, item, msys, obj;
    mt_event_t       ev;
    mt_json_iter_t   it, mit;

    rc = mt_wh_json_load(wh, wh->body, wh->body_len, &root);
    if (rc != MT_OK) {
        return rc;
    }

    /* the whole batch is checked first: a bad one queues nothing */

    rc = mt_sparkpost_check(wh, root, &n);
    if (rc != MT_OK) {
        return rc;
    }

    if (n == 0) {
        return MT_DECLINED;
    }

    mt_json_array_foreach(root, it, item) {
        msys = mt_json_get(item, "msys");

        mt_json_object_foreach(msys, mit, cls, obj) {
            if (!mt_sparkpost_first(msys, &cls, obj)) {
                continue;
            }

            rc = mt_sparkpost_event(wh, &cls, obj, &ev);
            if (rc != MT_OK) {
                return rc;
            }

            rc = mt_wh_emit(wh, &ev);
            if (rc != MT_OK) {
                return rc;
            }
        }
    }

    return MT_OK;
}


/*
 * Every element is {"msys":{...}}; each class in msys holds an object
 * with a "type".  SparkPost sends one class per element, but more are
 * taken as they come rather than refusing (and losing) a whole batch.
 */

static mt_rc_t
mt_sparkpost_check(mt_wh_t *wh, mt_json_t root, size_t *nevents)
{
    size_t           n;
    mt_str_t         cls;
    mt_json_t        item, msys, obj;
    mt_json_iter_t   it, mit;

    if (!mt_json_is_array(root)) {
        mt_str_set(&wh->detail, "not a JSON array");
        return MT_ERR_PAYLOAD;
    }

    n = 0;

    mt_json_array_foreach(root, it, item) {
        msys = mt_json_get(item, "msys");

        if (!mt_json_is_object(msys)) {
            mt_str_set(&wh->detail, "element without an msys object");
            return MT_ERR_PAYLOAD;
        }

        mt_json_object_foreach(msys, mit, cls, obj) {
            if (!mt_sparkpost_first(msys, &cls, obj)) {
                continue;
            }

            if (mt_json_str(obj, "type").len == 0) {
                mt_str_set(&wh->detail, "event without a type");
                return MT_ERR_PAYLOAD;
            }

            n++;
        }
    }

    if (n > MT_WH_MAX_EVENTS) {
        return MT_ERR_TOO_MANY;
    }

    *nevents = n;

    return MT_OK;
}


/* a class there twice: the first wins, as for every key */

static int
mt_sparkpost_first(mt_json_t msys, mt_str_t *cls, mt_json_t obj)
{
    return mt_json_eq(mt_json_getn(msys, cls->data, cls->len), obj);
}


static const mt_sparkpost_map_t *
mt_sparkpost_find(const mt_sparkpost_map_t *map, mt_str_t *name)
{
    for ( /* void */ ; map->name != NULL; map++) {
        if (mt_str_eq(name, map->name)) {
            return map;
        }
    }

    return map;
}


static mt_rc_t
mt_sparkpost_event(mt_wh_t *wh, mt_str_t *cls, mt_json_t obj, mt_event_t *ev)
{
    size_t                     n;
    mt_rc_t                    rc;
    int64_t                    code;
    mt_str_t                   bclass, tstr, fields[8];
    mt_json_t                  meta, v;
    const mt_sparkpost_map_t  *m;

    mt_event_init(ev);

    ev->esp_type = mt_json_str(obj, "type");

    m = mt_sparkpost_find(mt_sparkpost_types, &ev->esp_type);
    ev->type = m->type;
    ev->bounce = m->bounce;

    v = mt_json_get(obj, "timestamp");
    ev->ts = mt_json_time_ms(v);
    tstr = mt_json_str_value(wh, v);

    /* the address as the application gave it, else the lowercased one */

    ev->rcpt = mt_json_str(obj, "raw_rcpt_to");

    if (ev->rcpt.len == 0) {
        ev->rcpt = mt_json_str(obj, "rcpt_to");
    }

    /* transmission_id is what the send API returned to the application */

    ev->esp_mid = mt_json_str_value(wh, mt_json_get(obj, "transmission_id"));

    if (ev->esp_mid.len == 0) {
        ev->esp_mid = mt_json_str_value(wh, mt_json_get(obj, "message_id"));
    }

    meta = mt_json_get(obj, "rcpt_meta");

    if (mt_json_is_object(meta) && wh->conf->id_field.len) {
        v = mt_json_getn(meta, wh->conf->id_field.data,
                         wh->conf->id_field.len);
        ev->mid = mt_json_str_value(wh, v);
    }

    ev->tag = mt_json_str_value(wh, mt_json_get(obj, "campaign_id"));

    if (ev->tag.len == 0) {
        rc = mt_json_join(wh, mt_json_get(obj, "rcpt_tags"), &ev->tag);
        if (rc != MT_OK) {
            return rc;
        }
    }

    ev->reason = mt_json_str(obj, "raw_reason");

    if (ev->reason.len == 0) {
        ev->reason = mt_json_str(obj, "reason");
    }

    if (ev->type == MT_EV_COMPLAINED && ev->reason.len == 0) {
        ev->reason = mt_json_str(obj, "fbtype");
    }

    if (mt_json_int(obj, "error_code", &code) == 0
        && code >= 200 && code <= 599)
    {
        ev->smtp_code = (int) code;
    }

    if (ev->reason.len) {
        mt_smtp_parse(&ev->reason, &ev->smtp_status, &ev->smtp_code);
    }

    if (ev->type == MT_EV_BOUNCED) {
        bclass = mt_json_str_value(wh, mt_json_get(obj, "bounce_class"));
        mt_sparkpost_bounce(&bclass, ev);
    }

    /* ip_address is the receiving MTA on message events: engagement only */

    if (ev->type == MT_EV_OPENED || ev->type == MT_EV_CLICKED) {
        ev->ua = mt_json_str(obj, "user_agent");
        ev->ip = mt_json_str(obj, "ip_address");

        if (ev->type == MT_EV_CLICKED) {
            ev->url = mt_json_str(obj, "target_link_url");
        }
    }

    ev->id = mt_json_str_value(wh, mt_json_get(obj, "event_id"));

    if (ev->id.len == 0) {
        n = 0;
        fields[n++] = *cls;
        fields[n++] = ev->esp_type;
        fields[n++] = mt_json_str_value(wh, mt_json_get(obj, "message_id"));
        fields[n++] = ev->esp_mid;
        fields[n++] = ev->rcpt;
        fields[n++] = tstr;
        fields[n++] = mt_json_str(obj, "target_link_url");

        rc = mt_wh_hash_id(wh, &ev->id, fields, n);
        if (rc != MT_OK) {
            return rc;
        }
    }

    return MT_OK;
}


/*
 * An unknown or undetermined class is judged by the enhanced status
 * code, if the reply has one: a bare 554 says too little (blocklists
 * answer with it as often as unknown users do).
 */

static void
mt_sparkpost_bounce(mt_str_t *cls, mt_event_t *ev)
{
    const mt_sparkpost_map_t  *m;

    m = mt_sparkpost_find(mt_sparkpost_classes, cls);

    ev->type = m->type;
    ev->bounce = m->bounce;

    if (ev->bounce == MT_BOUNCE_UNDETERMINED && ev->smtp_status.len) {
        ev->bounce = mt_bounce_classify(&ev->smtp_status, ev->smtp_code);
    }
}


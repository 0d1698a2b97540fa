
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Mailjet: one event object per POST (version 1), or an array of them
 * ("grouped", version 2); no signature, the request is authenticated by
 * the basic-auth credential in the webhook URL.
 */


#include "mt_webhook.h"


typedef struct {
    const char         *name;
    mt_event_type_e     type;
} mt_mailjet_map_t;


static int mt_mailjet_valid(mt_json_t obj);
static mt_rc_t mt_mailjet_event(mt_wh_t *wh, mt_json_t obj, mt_event_t *ev);
static void mt_mailjet_bounce(mt_json_t obj, mt_event_t *ev);
static mt_rc_t mt_mailjet_app_id(mt_wh_t *wh, mt_json_t obj, mt_str_t *mid);
static mt_rc_t mt_mailjet_reason(mt_wh_t *wh, mt_json_t obj, mt_str_t *out);


/* Mailjet's "sent" is the receiving MTA's 250: "delivered" here */

static const mt_mailjet_map_t  mt_mailjet_types[] = {
    { "sent",     MT_EV_DELIVERED },
    { "open",     MT_EV_OPENED },
    { "click",    MT_EV_CLICKED },
    { "bounce",   MT_EV_BOUNCED },
    { "blocked",  MT_EV_REJECTED },
    { "spam",     MT_EV_COMPLAINED },
    { "unsub",    MT_EV_UNSUBSCRIBED },
    { NULL,       MT_EV_OTHER }
};


mt_rc_t
mt_mailjet_process(mt_wh_t *wh)
{
    return mt_wh_process_unsigned(wh, mt_mailjet_normalize);
}


mt_rc_t
mt_mailjet_normalize(mt_wh_t *wh)
{
    return mt_wh_each_event(wh, mt_mailjet_valid, mt_mailjet_event);
}


static int
mt_mailjet_valid(mt_json_t obj)
{
    return mt_json_is_object(obj) && mt_json_str(obj, "event").len != 0;
}


static mt_rc_t
mt_mailjet_event(mt_wh_t *wh, mt_json_t obj, mt_event_t *ev)
{
    size_t                   n;
    mt_rc_t                  rc;
    mt_str_t                 tstr, text, fields[7];
    mt_json_t                v;
    const mt_mailjet_map_t  *m;

    mt_event_init(ev);

    ev->esp_type = mt_json_str(obj, "event");

    for (m = mt_mailjet_types; m->name != NULL; m++) {
        if (mt_str_eq(&ev->esp_type, m->name)) {
            break;
        }
    }

    ev->type = m->type;

    v = mt_json_get(obj, "time");
    ev->ts = mt_json_time_ms(v);
    tstr = mt_json_str_value(wh, v);

    ev->rcpt = mt_json_str(obj, "email");

    /* MessageID exceeds 2^53: the parser keeps it an exact int64 */

    ev->esp_mid = mt_json_str_value(wh, mt_json_get(obj, "MessageID"));

    if (ev->esp_mid.len == 0) {
        ev->esp_mid = mt_json_str_value(wh, mt_json_get(obj, "mj_message_id"));
    }

    rc = mt_mailjet_app_id(wh, obj, &ev->mid);
    if (rc != MT_OK) {
        return rc;
    }

    ev->tag = mt_json_str(obj, "customcampaign");

    if (ev->type == MT_EV_OPENED || ev->type == MT_EV_CLICKED) {
        ev->ip = mt_json_str(obj, "ip");
        ev->ua = mt_json_str(obj, "agent");

        if (ev->type == MT_EV_CLICKED) {
            ev->url = mt_json_str(obj, "url");
        }
    }

    if (ev->type == MT_EV_DELIVERED) {
        /* "sent (250 2.0.0 OK 1498093527 a67bc12345def.22 - gsmtp)" */

        ev->reason = mt_json_str(obj, "smtp_reply");
        text = ev->reason;

        if (text.len > 6 && strncasecmp((char *) text.data, "sent (", 6) == 0)
        {
            text.data += 6;
            text.len -= 6;
        }

        if (text.len) {
            mt_smtp_parse(&text, &ev->smtp_status, &ev->smtp_code);
        }

    } else if (ev->type == MT_EV_COMPLAINED) {
        ev->reason = mt_json_str(obj, "source");

    } else {
        rc = mt_mailjet_reason(wh, obj, &ev->reason);
        if (rc != MT_OK) {
            return rc;
        }

        text = mt_json_str(obj, "comment");

        if (text.len) {
            mt_smtp_parse(&text, &ev->smtp_status, &ev->smtp_code);
        }
    }

    if (ev->type == MT_EV_BOUNCED) {
        mt_mailjet_bounce(obj, ev);
    }

    /* Mailjet has no event id */

    n = 0;
    fields[n++] = ev->esp_mid;
    fields[n++] = ev->esp_type;
    fields[n++] = tstr;
    fields[n++] = ev->rcpt;
    fields[n++] = mt_json_str(obj, "url");
    fields[n++] = mt_json_str(obj, "ip");
    fields[n++] = mt_json_str(obj, "agent");

    return mt_wh_hash_id(wh, &ev->id, fields, n);
}


/*
 * hard_bounce says hard or soft; errors related to "spam" (sender or
 * content blocked, policy issue) are blocks whatever hard_bounce says;
 * a greylisting that is not final is a deferral.  "blocked": true only
 * tells that Mailjet now blocks the contact.
 */

static void
mt_mailjet_bounce(mt_json_t obj, mt_event_t *ev)
{
    int       hard;
    mt_str_t  rel, err;

    rel = mt_json_str(obj, "error_related_to");
    err = mt_json_str(obj, "error");
    hard = mt_json_is_true(mt_json_get(obj, "hard_bounce"));

    if (!hard && mt_str_eq_nocase(&err, "greylisted")) {
        ev->type = MT_EV_DEFERRED;
        ev->bounce = MT_BOUNCE_SOFT;

    } else if (mt_str_eq_nocase(&rel, "spam")) {
        ev->bounce = MT_BOUNCE_BLOCK;

    } else {
        ev->bounce = hard ? MT_BOUNCE_HARD : MT_BOUNCE_SOFT;
    }
}


/*
 * The application's id: CustomID when set, else the id field of the
 * EventPayload (a JSON object, sent as a string).
 */

static mt_rc_t
mt_mailjet_app_id(mt_wh_t *wh, mt_json_t obj, mt_str_t *mid)
{
    *mid = mt_json_str_value(wh, mt_json_get(obj, "CustomID"));

    if (mid->len) {
        return MT_OK;
    }

    return mt_wh_custom_id(wh, mt_json_get(obj, "Payload"), mid);
}


/* "domain: invalid domain (Host or domain name not found...)" */

static mt_rc_t
mt_mailjet_reason(mt_wh_t *wh, mt_json_t obj, mt_str_t *out)
{
    size_t     len;
    u_char    *p;
    mt_str_t   rel, err, comment;

    rel = mt_json_str(obj, "error_related_to");
    err = mt_json_str(obj, "error");
    comment = mt_json_str(obj, "comment");

    len = rel.len + 2 + err.len + 3 + comment.len;

    if (rel.len + err.len + comment.len == 0) {
        return MT_OK;
    }

    p = mt_alloc(&wh->alloc, len);
    if (p == NULL) {
        return MT_ERR_NOMEM;
    }

    out->data = p;

    if (rel.len) {
        p = (u_char *) memcpy(p, rel.data, rel.len) + rel.len;
    }

    if (err.len) {
        if (p != out->data) {
            *p++ = ':';
            *p++ = ' ';
        }

        p = (u_char *) memcpy(p, err.data, err.len) + err.len;
    }

    if (comment.len) {
        if (p != out->data) {
            *p++ = ' ';
            *p++ = '(';
        }

        p = (u_char *) memcpy(p, comment.data, comment.len) + comment.len;

        if (p - comment.len != out->data) {
            *p++ = ')';
        }
    }

    out->len = p - out->data;

    return MT_OK;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Amazon SES event publishing through an Amazon SNS HTTP/S subscription:
 * once the SNS envelope is verified (mt_sns.c), the SES event inside
 * Message is normalized into one record per recipient.
 */


#include "mt_sns.h"

#include <stdio.h>


/* SES sends this one as a plain-text Message when a topic is set up */
#define MT_SES_TEST_MESSAGE                                                   \
    "Successfully validated SNS topic for Amazon SES"


typedef struct {
    const char         *name;
    const char         *object;      /* the sub-object named after it */
    const char         *recipients;  /* per-recipient array, or NULL */
    const char         *reason;      /* the sub-object's reason text */
    mt_event_type_e     type;
} mt_ses_type_t;


static mt_rc_t mt_ses_run(mt_wh_t *wh, int verify);
static mt_rc_t mt_ses_notification(mt_wh_t *wh, mt_sns_msg_t *msg);
static mt_rc_t mt_ses_opaque(mt_wh_t *wh, mt_sns_msg_t *msg);
static mt_rc_t mt_ses_event(mt_wh_t *wh, mt_sns_msg_t *msg, mt_json_t root,
    mt_str_t *name);
static mt_rc_t mt_ses_recipient(mt_wh_t *wh, const mt_ses_type_t *t,
    mt_json_t sub, mt_json_t r, mt_event_t *ev);
static mt_bounce_e mt_ses_bounce_class(mt_json_t bounce);
static mt_rc_t mt_ses_unsubscribed(mt_wh_t *wh, mt_json_t sub,
    mt_str_t *reason);
static int mt_ses_newly_out(mt_json_t topic, mt_json_t prev, mt_str_t *name);
static int mt_ses_opt_out(mt_json_t v);
static mt_rc_t mt_ses_tag(mt_wh_t *wh, mt_json_t tags, const u_char *name,
    size_t len, int join, mt_str_t *dst);
static size_t mt_ses_count(mt_json_t v);
static mt_rc_t mt_ses_id(mt_wh_t *wh, mt_sns_msg_t *msg, size_t i,
    mt_str_t *id);
static mt_rc_t mt_concat(mt_wh_t *wh, mt_str_t *dst, mt_str_t *a,
    const char *sep, mt_str_t *b);


static const mt_ses_type_t  mt_ses_types[] = {
    { "Send", "send", NULL, NULL, MT_EV_SENT },
    { "Delivery", "delivery", "recipients", "smtpResponse",
      MT_EV_DELIVERED },
    { "Bounce", "bounce", "bouncedRecipients", NULL, MT_EV_BOUNCED },
    { "Complaint", "complaint", "complainedRecipients",
      "complaintFeedbackType", MT_EV_COMPLAINED },
    { "Reject", "reject", NULL, "reason", MT_EV_REJECTED },
    { "DeliveryDelay", "deliveryDelay", "delayedRecipients", "delayType",
      MT_EV_DEFERRED },
    { "Open", "open", NULL, NULL, MT_EV_OPENED },
    { "Click", "click", NULL, NULL, MT_EV_CLICKED },
    { "Rendering Failure", "failure", NULL, "errorMessage",
      MT_EV_REJECTED },
    { "Subscription", "subscription", NULL, NULL, MT_EV_UNSUBSCRIBED },
    { NULL, NULL, NULL, NULL, MT_EV_OTHER }
};


mt_rc_t
mt_ses_process(mt_wh_t *wh)
{
    return mt_ses_run(wh, 1);
}


/* the verified half: the envelope in wh->body, no signature checks */

mt_rc_t
mt_ses_normalize(mt_wh_t *wh)
{
    return mt_ses_run(wh, 0);
}


static mt_rc_t
mt_ses_run(mt_wh_t *wh, int verify)
{
    mt_rc_t       rc;
    mt_sns_msg_t  msg;

    rc = verify ? mt_sns_receive(wh, &msg) : mt_sns_parse(wh, &msg);
    if (rc != MT_OK) {
        return rc;
    }

    if (msg.type == MT_SNS_NOTIFICATION) {
        return mt_ses_notification(wh, &msg);
    }

    return mt_sns_confirmation(wh, &msg);
}


static mt_rc_t
mt_ses_notification(mt_wh_t *wh, mt_sns_msg_t *msg)
{
    mt_str_t   name;
    mt_json_t  root;

    if (msg->message.len >= sizeof(MT_SES_TEST_MESSAGE) - 1
        && memcmp(msg->message.data, MT_SES_TEST_MESSAGE,
                  sizeof(MT_SES_TEST_MESSAGE) - 1) == 0)
    {
        return MT_DECLINED;
    }

    /* the envelope parsed, so Message is valid UTF-8 */

    if (mt_wh_json_load_inner(msg->message.data, msg->message.len, &root)
        != MT_OK
        || !mt_json_is_object(root))
    {
        return mt_ses_opaque(wh, msg);
    }

    name = mt_json_str(root, "eventType");

    if (name.len == 0) {
        name = mt_json_str(root, "notificationType");

        /* identity notifications announce a new topic with this one */

        if (mt_str_eq(&name, "AmazonSnsSubscriptionSucceeded")) {
            return MT_DECLINED;
        }
    }

    if (name.len == 0) {
        return mt_ses_opaque(wh, msg);
    }

    return mt_ses_event(wh, msg, root, &name);
}


/*
 * An authentic notification that is not an SES event (another publisher
 * on the topic, or a Message that is not JSON) is kept as "other" with
 * the text as reason: nothing a provider sends is lost.
 */

static mt_rc_t
mt_ses_opaque(mt_wh_t *wh, mt_sns_msg_t *msg)
{
    mt_rc_t     rc;
    mt_event_t  ev;

    mt_event_init(&ev);

    rc = mt_ses_id(wh, msg, 0, &ev.id);
    if (rc != MT_OK) {
        return rc;
    }

    ev.ts = msg->ts;
    ev.type = MT_EV_OTHER;
    mt_str_set(&ev.esp_type, "Notification");
    ev.reason = msg->message;
    ev.tag = msg->topic_arn;

    return mt_wh_emit(wh, &ev);
}


static mt_rc_t
mt_ses_event(mt_wh_t *wh, mt_sns_msg_t *msg, mt_json_t root, mt_str_t *name)
{
    size_t                i, n;
    mt_rc_t               rc;
    int64_t               ts;
    mt_json_t             mail, sub, tags, rcpts, r;
    mt_event_t            tmpl, ev;
    mt_json_iter_t        it;
    const mt_ses_type_t  *t;

    for (t = mt_ses_types; t->name != NULL; t++) {
        if (mt_str_eq(name, t->name)) {
            break;
        }
    }

    mail = mt_json_get(root, "mail");
    if (!mt_json_is_object(mail)) {
        mail = mt_json_none;
    }

    sub = (t->object != NULL) ? mt_json_get(root, t->object) : mt_json_none;
    if (!mt_json_is_object(sub)) {
        sub = mt_json_none;
    }

    mt_event_init(&tmpl);

    tmpl.type = t->type;
    tmpl.esp_type = *name;
    tmpl.esp_mid = mt_json_str(mail, "messageId");

    tags = mt_json_get(mail, "tags");

    if (mt_json_is_object(tags)) {
        rc = mt_ses_tag(wh, tags, wh->conf->id_field.data,
                        wh->conf->id_field.len, 0, &tmpl.mid);
        if (rc != MT_OK) {
            return rc;
        }

        rc = mt_ses_tag(wh, tags, (u_char *) "campaign", 8, 1, &tmpl.tag);
        if (rc != MT_OK) {
            return rc;
        }

        if (tmpl.tag.len == 0) {
            rc = mt_ses_tag(wh, tags, (u_char *) "tag", 3, 1, &tmpl.tag);
            if (rc != MT_OK) {
                return rc;
            }
        }
    }

    ts = mt_json_time_ms(mt_json_get(sub, "timestamp"));

    if (ts <= 0) {
        ts = mt_json_time_ms(mt_json_get(mail, "timestamp"));
    }

    tmpl.ts = (ts > 0) ? ts : msg->ts;

    if (t->reason != NULL) {
        tmpl.reason = mt_json_str(sub, t->reason);
    }

    switch (t->type) {

    case MT_EV_DELIVERED:
        /* mt_smtp_parse() does pointer arithmetic on a NULL empty text */
        if (tmpl.reason.len) {
            mt_smtp_parse(&tmpl.reason, &tmpl.smtp_status, &tmpl.smtp_code);
        }

        break;

    case MT_EV_BOUNCED:
        tmpl.bounce = mt_ses_bounce_class(sub);
        break;

    case MT_EV_COMPLAINED:
        if (tmpl.reason.len == 0) {
            tmpl.reason = mt_json_str(sub, "complaintSubType");
        }

        break;

    case MT_EV_DEFERRED:
        tmpl.bounce = MT_BOUNCE_SOFT;
        break;

    case MT_EV_OPENED:
    case MT_EV_CLICKED:
        tmpl.ip = mt_json_str(sub, "ipAddress");
        tmpl.ua = mt_json_str(sub, "userAgent");
        tmpl.url = mt_json_str(sub, "link");
        break;

    case MT_EV_UNSUBSCRIBED:
        rc = mt_ses_unsubscribed(wh, sub, &tmpl.reason);

        if (rc == MT_DECLINED) {
            tmpl.type = MT_EV_OTHER;

        } else if (rc != MT_OK) {
            return rc;
        }

        break;

    default:
        break;
    }

    /* one record per recipient the event names, else per destination */

    rcpts = (t->recipients != NULL) ? mt_json_get(sub, t->recipients)
                                    : mt_json_none;

    if (mt_ses_count(rcpts) == 0) {
        rcpts = mt_json_get(mail, "destination");
    }

    n = mt_ses_count(rcpts);

    if (n > MT_WH_MAX_EVENTS) {
        return MT_ERR_TOO_MANY;
    }

    if (n == 0) {
        rcpts = mt_json_none;
    }

    mt_json_iter(&it, rcpts);
    i = 0;

    do {
        ev = tmpl;

        if (!mt_json_next(&it, &r)) {
            r = mt_json_none;
        }

        rc = mt_ses_id(wh, msg, i, &ev.id);
        if (rc != MT_OK) {
            return rc;
        }

        rc = mt_ses_recipient(wh, t, sub, r, &ev);
        if (rc != MT_OK) {
            return rc;
        }

        rc = mt_wh_emit(wh, &ev);
        if (rc != MT_OK) {
            return rc;
        }

        i++;

    } while (i < n);

    return MT_OK;
}


/* the address and, for bounces and delays, the recipient's DSN fields */

static mt_rc_t
mt_ses_recipient(mt_wh_t *wh, const mt_ses_type_t *t, mt_json_t sub,
    mt_json_t r, mt_event_t *ev)
{
    mt_str_t  diag, kind;

    if (mt_json_is_string(r)) {
        ev->rcpt = mt_json_str_value(wh, r);

    } else {
        ev->rcpt = mt_json_str(r, "emailAddress");
        ev->smtp_status = mt_json_str(r, "status");
        diag = mt_json_str(r, "diagnosticCode");

        if (diag.len) {
            mt_smtp_parse(&diag, &ev->smtp_status, &ev->smtp_code);

            if (ev->reason.len == 0) {
                ev->reason = diag;
            }
        }
    }

    if (t->type != MT_EV_BOUNCED) {
        return MT_OK;
    }

    /* a bounceType SES did not document: judge by the DSN status */

    if (ev->bounce == MT_BOUNCE_NONE) {
        ev->bounce = mt_bounce_classify(&ev->smtp_status, ev->smtp_code);
    }

    if (ev->reason.len == 0) {
        kind = mt_json_str(sub, "bounceType");
        diag = mt_json_str(sub, "bounceSubType");

        return mt_concat(wh, &ev->reason, &kind, "/", &diag);
    }

    return MT_OK;
}


/*
 * SES's own verdict: Permanent is hard, Transient soft, Undetermined
 * undetermined.  A Transient ContentRejected or AttachmentRejected is the
 * receiver's policy refusing this content (SES: "you may be able to send
 * successfully to this recipient if you change the content"), so block.
 */

static mt_bounce_e
mt_ses_bounce_class(mt_json_t bounce)
{
    mt_str_t  type, subtype;

    type = mt_json_str(bounce, "bounceType");
    subtype = mt_json_str(bounce, "bounceSubType");

    if (mt_str_eq(&type, "Permanent")) {
        return MT_BOUNCE_HARD;
    }

    if (mt_str_eq(&type, "Transient")) {
        if (mt_str_eq(&subtype, "ContentRejected")
            || mt_str_eq(&subtype, "AttachmentRejected"))
        {
            return MT_BOUNCE_BLOCK;
        }

        return MT_BOUNCE_SOFT;
    }

    if (mt_str_eq(&type, "Undetermined")) {
        return MT_BOUNCE_UNDETERMINED;
    }

    return MT_BOUNCE_NONE;
}


/*
 * A Subscription event is an unsubscribe when the contact now opts out
 * of the whole list, or of a topic it was not opted out of before; an
 * opt-in is "other" (MT_DECLINED here).  The reason names the list and
 * what was left.
 */

static mt_rc_t
mt_ses_unsubscribed(mt_wh_t *wh, mt_json_t sub, mt_str_t *reason)
{
    size_t           len;
    u_char          *p;
    mt_str_t         list, name, what;
    unsigned         all, any;
    mt_json_t        now, topics, prev, topic;
    mt_json_iter_t   it;

    list = mt_json_str(sub, "contactList");
    *reason = list;

    now = mt_json_get(sub, "newTopicPreferences");
    topics = mt_json_get(now, "topicSubscriptionStatus");
    prev = mt_json_get(mt_json_get(sub, "oldTopicPreferences"),
                       "topicSubscriptionStatus");

    all = mt_json_is_true(mt_json_get(now, "unsubscribeAll"));

    len = 0;
    any = 0;

    if (!mt_json_is_array(topics)) {
        topics = mt_json_none;
    }

    mt_json_array_foreach(topics, it, topic) {
        if (mt_ses_newly_out(topic, prev, &name)) {
            any = 1;
            len += name.len + 1;
        }
    }

    if (!all && !any) {
        return MT_DECLINED;
    }

    if (all) {
        mt_str_set(&what, "all topics");

    } else {
        p = mt_alloc(&wh->alloc, len);
        if (p == NULL) {
            return MT_ERR_NOMEM;
        }

        what.data = p;

        mt_json_array_foreach(topics, it, topic) {
            if (!mt_ses_newly_out(topic, prev, &name)) {
                continue;
            }

            if (p != what.data) {
                *p++ = ',';
            }

            if (name.len) {
                memcpy(p, name.data, name.len);
                p += name.len;
            }
        }

        what.len = p - what.data;
    }

    return mt_concat(wh, reason, &list, ": ", &what);
}


/* a topic opted out of now that was not opted out of in prev */

static int
mt_ses_newly_out(mt_json_t topic, mt_json_t prev, mt_str_t *name)
{
    mt_str_t         oname;
    mt_json_t        o;
    mt_json_iter_t   it;

    if (!mt_ses_opt_out(mt_json_get(topic, "subscriptionStatus"))) {
        return 0;
    }

    *name = mt_json_str(topic, "topicName");

    if (!mt_json_is_array(prev)) {
        return 1;
    }

    mt_json_array_foreach(prev, it, o) {
        oname = mt_json_str(o, "topicName");

        if (oname.len == name->len
            && (name->len == 0
                || memcmp(oname.data, name->data, name->len) == 0)
            && mt_ses_opt_out(mt_json_get(o, "subscriptionStatus")))
        {
            return 0;
        }
    }

    return 1;
}


/* "OptOut" in events, "OPT_OUT" in the API */

static int
mt_ses_opt_out(mt_json_t v)
{
    mt_str_t  s;

    s = mt_json_string(v);

    return mt_str_eq_nocase(&s, "OptOut") || mt_str_eq_nocase(&s, "OPT_OUT");
}


/*
 * SES event-publishing tags are {"name": ["value"]}: the first value, or
 * with join all of them, comma separated.
 */

static mt_rc_t
mt_ses_tag(mt_wh_t *wh, mt_json_t tags, const u_char *name, size_t len,
    int join, mt_str_t *dst)
{
    size_t           n, total;
    u_char          *p;
    mt_str_t         s;
    mt_json_t        v, e;
    mt_json_iter_t   it;

    dst->len = 0;

    if (len == 0) {
        return MT_OK;
    }

    v = mt_json_getn(tags, name, len);

    if (mt_json_is_string(v)) {
        *dst = mt_json_str_value(wh, v);
        return MT_OK;
    }

    n = mt_ses_count(v);

    if (n == 0) {
        return MT_OK;
    }

    if (!join || n == 1) {
        *dst = mt_json_str_value(wh, mt_json_at(v, 0));
        return MT_OK;
    }

    total = 0;

    mt_json_array_foreach(v, it, e) {
        total += mt_json_string(e).len + 1;
    }

    p = mt_alloc(&wh->alloc, total);
    if (p == NULL) {
        return MT_ERR_NOMEM;
    }

    dst->data = p;

    mt_json_array_foreach(v, it, e) {
        s = mt_json_string(e);

        if (s.len == 0) {
            continue;
        }

        if (p != dst->data) {
            *p++ = ',';
        }

        memcpy(p, s.data, s.len);
        p += s.len;
    }

    dst->len = p - dst->data;

    return MT_OK;
}


/* the elements of an array; 0 for anything else */

static size_t
mt_ses_count(mt_json_t v)
{
    return mt_json_is_array(v) ? mt_json_size(v) : 0;
}


/*
 * SNS keeps MessageId on retries and the signed Message is identical,
 * so "MessageId#index" is stable and names each recipient's record.
 */

static mt_rc_t
mt_ses_id(mt_wh_t *wh, mt_sns_msg_t *msg, size_t i, mt_str_t *id)
{
    int      n;
    u_char  *p;

    p = mt_alloc(&wh->alloc, msg->message_id.len + 24);
    if (p == NULL) {
        return MT_ERR_NOMEM;
    }

    memcpy(p, msg->message_id.data, msg->message_id.len);

    n = snprintf((char *) p + msg->message_id.len, 24, "#%zu", i);

    id->data = p;
    id->len = msg->message_id.len + n;

    return MT_OK;
}


/* a sep b, or whichever of them is not empty */

static mt_rc_t
mt_concat(mt_wh_t *wh, mt_str_t *dst, mt_str_t *a, const char *sep,
    mt_str_t *b)
{
    size_t   n;
    u_char  *p;

    if (a->len == 0 || b->len == 0) {
        *dst = a->len ? *a : *b;
        return MT_OK;
    }

    n = strlen(sep);

    p = mt_alloc(&wh->alloc, a->len + n + b->len);
    if (p == NULL) {
        return MT_ERR_NOMEM;
    }

    dst->data = p;

    memcpy(p, a->data, a->len);
    p += a->len;
    memcpy(p, sep, n);
    p += n;
    memcpy(p, b->data, b->len);

    dst->len = a->len + n + b->len;

    return MT_OK;
}

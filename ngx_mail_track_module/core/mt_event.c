
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#include "mt_event.h"
#include "mt_msgpack.h"


static void mt_event_put(mt_mp_writer_t *w, const char *key, size_t klen,
    const mt_str_t *value, size_t cap);
static void mt_event_key(mt_mp_writer_t *w, const char *key, size_t len);


/* keys are literals: their lengths are known at compile time */
#define mt_event_lit(w, lit)  mt_event_key(w, lit, sizeof(lit) - 1)
#define mt_event_str(w, lit, v, cap)                                          \
    mt_event_put(w, lit, sizeof(lit) - 1, v, cap)


const char  *mt_event_type_names[MT_EV_MAX] = {
    "sent", "delivered", "deferred", "bounced", "rejected", "opened",
    "clicked", "complained", "unsubscribed", "other"
};

const char  *mt_bounce_names[MT_BOUNCE_MAX] = {
    "", "hard", "soft", "block", "undetermined"
};

const char  *mt_src_names[MT_SRC_MAX] = {
    "track", "sendgrid", "mailgun", "ses", "postmark", "sparkpost",
    "mandrill", "mailjet", "brevo", "resend"
};


void
mt_event_init(mt_event_t *ev)
{
    memset(ev, 0, sizeof(mt_event_t));
    ev->machine = MT_MACHINE_UNKNOWN;
    ev->type = MT_EV_OTHER;
}


/* a short string in one write: the fixstr header and the bytes */

static void
mt_event_key(mt_mp_writer_t *w, const char *key, size_t len)
{
    u_char  buf[32];

    buf[0] = (u_char) (0xa0 | len);
    memcpy(buf + 1, key, len);

    msgpack_pack_str_body(&w->pk, buf, len + 1);
}


static void
mt_event_put(mt_mp_writer_t *w, const char *key, size_t klen,
    const mt_str_t *value, size_t cap)
{
    mt_event_key(w, key, klen);
    mt_mp_put_str(w, value->data, mt_utf8_cut(value->data, value->len, cap));
}


ssize_t
mt_event_encode(const mt_event_t *ev, u_char *buf, size_t size)
{
    unsigned        n;
    mt_mp_writer_t  w;

    n = 5;  /* v, id, rt, src, type */

    n += (ev->ts != 0) + (ev->esp_type.len != 0) + (ev->mid.len != 0)
         + (ev->esp_mid.len != 0) + (ev->rcpt.len != 0)
         + (ev->bounce != MT_BOUNCE_NONE) + (ev->smtp_status.len != 0)
         + (ev->smtp_code != 0) + (ev->reason.len != 0)
         + (ev->url.len != 0) + (ev->ip.len != 0) + (ev->ua.len != 0)
         + (ev->machine != MT_MACHINE_UNKNOWN) + (ev->why.len != 0)
         + (ev->tag.len != 0);

    mt_mp_writer_init(&w, buf, size);

    msgpack_pack_map(&w.pk, n);

    mt_event_lit(&w, "v");
    msgpack_pack_int(&w.pk, MT_RECORD_VERSION);

    mt_event_str(&w, "id", &ev->id, 256);

    if (ev->ts) {
        mt_event_lit(&w, "ts");
        msgpack_pack_int64(&w.pk, ev->ts);
    }

    mt_event_lit(&w, "rt");
    msgpack_pack_int64(&w.pk, ev->rt);

    mt_event_lit(&w, "src");
    mt_event_key(&w, mt_src_names[ev->src], strlen(mt_src_names[ev->src]));

    mt_event_lit(&w, "type");
    mt_event_key(&w, mt_event_type_names[ev->type],
                 strlen(mt_event_type_names[ev->type]));

    if (ev->esp_type.len) {
        mt_event_str(&w, "esp_type", &ev->esp_type, 128);
    }

    if (ev->mid.len) {
        mt_event_str(&w, "mid", &ev->mid, 512);
    }

    if (ev->esp_mid.len) {
        mt_event_str(&w, "esp_mid", &ev->esp_mid, 512);
    }

    if (ev->rcpt.len) {
        mt_event_str(&w, "rcpt", &ev->rcpt, 512);
    }

    if (ev->bounce != MT_BOUNCE_NONE) {
        mt_event_lit(&w, "bounce");
        mt_event_key(&w, mt_bounce_names[ev->bounce],
                     strlen(mt_bounce_names[ev->bounce]));
    }

    if (ev->smtp_status.len) {
        mt_event_str(&w, "smtp_status", &ev->smtp_status, 32);
    }

    if (ev->smtp_code) {
        mt_event_lit(&w, "smtp_code");
        msgpack_pack_int(&w.pk, ev->smtp_code);
    }

    if (ev->reason.len) {
        mt_event_str(&w, "reason", &ev->reason, 2048);
    }

    if (ev->url.len) {
        mt_event_str(&w, "url", &ev->url, 8192);
    }

    if (ev->ip.len) {
        mt_event_str(&w, "ip", &ev->ip, 64);
    }

    if (ev->ua.len) {
        mt_event_str(&w, "ua", &ev->ua, 1024);
    }

    if (ev->machine != MT_MACHINE_UNKNOWN) {
        mt_event_lit(&w, "machine");

        if (ev->machine) {
            msgpack_pack_true(&w.pk);

        } else {
            msgpack_pack_false(&w.pk);
        }
    }

    if (ev->why.len) {
        mt_event_str(&w, "why", &ev->why, 128);
    }

    if (ev->tag.len) {
        mt_event_str(&w, "tag", &ev->tag, 512);
    }

    if (w.overflow) {
        return -1;
    }

    return w.pos - w.start;
}


int
mt_event_type_by_name(const u_char *name, size_t len)
{
    int  i;

    for (i = 0; i < MT_EV_MAX; i++) {
        if (strlen(mt_event_type_names[i]) == len
            && memcmp(mt_event_type_names[i], name, len) == 0)
        {
            return i;
        }
    }

    return -1;
}


int
mt_src_by_name(const u_char *name, size_t len)
{
    int  i;

    for (i = 0; i < MT_SRC_MAX; i++) {
        if (strlen(mt_src_names[i]) == len
            && memcmp(mt_src_names[i], name, len) == 0)
        {
            return i;
        }
    }

    return -1;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 */


#include "mt_event.h"


/*
 * The record encoder, written for the record's fixed layout
 * (docs/spool-format.md): keys are literals with their msgpack header,
 * values take msgpack's smallest encoding, as msgpack-c's packer wrote
 * them (the unit tests compare the two byte for byte).  Every string is
 * capped, so a record fits in MT_RECORD_MAX and no field needs a check.
 */

static u_char *mt_event_write(const mt_event_t *ev, u_char *p);
static u_char *mt_mp_map(u_char *p, uint32_t n);
static u_char *mt_mp_str(u_char *p, const u_char *s, size_t len);
static u_char *mt_mp_int(u_char *p, int64_t v);
static u_char *mt_mp_be(u_char *p, uint64_t v, unsigned bytes);
static u_char *mt_mp_copy(u_char *p, const u_char *s, size_t len);
static u_char *mt_event_name(u_char *p, const char *name);


/* a key: the literal with its fixstr header, e.g. "\xa2id" */
#define mt_event_key(p, key)                                                 \
    (memcpy(p, key, sizeof(key) - 1), (p) + sizeof(key) - 1)

#define mt_event_str(p, key, v, cap)                                         \
    mt_mp_str(mt_event_key(p, key), (v)->data,                               \
              mt_utf8_cut((v)->data, (v)->len, cap))


const char  *mt_event_type_names[MT_EV_MAX] = {
    "sent", "delivered", "deferred", "bounced", "rejected", "opened",
    "clicked", "complained", "unsubscribed", "other"
};

const char  *mt_bounce_names[MT_BOUNCE_MAX] = {
    "", "hard", "soft", "block", "undetermined"
};

const char  *mt_src_names[MT_SRC_MAX] = {
    "track", "sendgrid", "mailgun", "ses", "postmark", "sparkpost",
    "mandrill", "mailjet", "brevo", "resend", "generic"
};


void
mt_event_init(mt_event_t *ev)
{
    memset(ev, 0, sizeof(mt_event_t));
    ev->machine = MT_MACHINE_UNKNOWN;
    ev->type = MT_EV_OTHER;
}


static u_char *
mt_mp_be(u_char *p, uint64_t v, unsigned bytes)
{
    uint16_t  v2;
    uint32_t  v4;

    switch (bytes) {

    case 1:
        *p = (u_char) v;
        break;

    case 2:
        v2 = __builtin_bswap16((uint16_t) v);
        memcpy(p, &v2, 2);
        break;

    case 4:
        v4 = __builtin_bswap32((uint32_t) v);
        memcpy(p, &v4, 4);
        break;

    default:
        v = __builtin_bswap64(v);
        memcpy(p, &v, 8);
        break;
    }

    return p + bytes;
}


/* short strings without a call: two moves that may overlap */

static u_char *
mt_mp_copy(u_char *p, const u_char *s, size_t len)
{
    uint32_t  a4, b4;
    uint64_t  a8, b8;

    if (len >= 8 && len <= 16) {
        memcpy(&a8, s, 8);
        memcpy(&b8, s + len - 8, 8);
        memcpy(p, &a8, 8);
        memcpy(p + len - 8, &b8, 8);

    } else if (len >= 4 && len < 8) {
        memcpy(&a4, s, 4);
        memcpy(&b4, s + len - 4, 4);
        memcpy(p, &a4, 4);
        memcpy(p + len - 4, &b4, 4);

    } else if (len < 4) {
        while (len--) {
            *p++ = *s++;
        }

        return p;

    } else {
        memcpy(p, s, len);
    }

    return p + len;
}


static u_char *
mt_mp_map(u_char *p, uint32_t n)
{
    if (n < 16) {
        *p++ = (u_char) (0x80 | n);
        return p;
    }

    if (n < 0x10000) {
        *p++ = 0xde;
        return mt_mp_be(p, n, 2);
    }

    *p++ = 0xdf;
    return mt_mp_be(p, n, 4);
}


static u_char *
mt_mp_str(u_char *p, const u_char *s, size_t len)
{
    if (len < 32) {
        *p++ = (u_char) (0xa0 | len);

    } else if (len < 0x100) {
        *p++ = 0xd9;
        *p++ = (u_char) len;

    } else if (len < 0x10000) {
        *p++ = 0xda;
        p = mt_mp_be(p, len, 2);

    } else {
        *p++ = 0xdb;
        p = mt_mp_be(p, len, 4);
    }

    return mt_mp_copy(p, s, len);
}


static u_char *
mt_mp_int(u_char *p, int64_t v)
{
    if (v >= 0) {
        if (v < 0x80) {
            *p++ = (u_char) v;
            return p;
        }

        if (v < 0x100) {
            *p++ = 0xcc;
            return mt_mp_be(p, v, 1);
        }

        if (v < 0x10000) {
            *p++ = 0xcd;
            return mt_mp_be(p, v, 2);
        }

        if (v < 0x100000000LL) {
            *p++ = 0xce;
            return mt_mp_be(p, v, 4);
        }

        *p++ = 0xcf;
        return mt_mp_be(p, v, 8);
    }

    if (v >= -32) {
        *p++ = (u_char) v;
        return p;
    }

    if (v >= -0x80) {
        *p++ = 0xd0;
        return mt_mp_be(p, (uint64_t) v, 1);
    }

    if (v >= -0x8000) {
        *p++ = 0xd1;
        return mt_mp_be(p, (uint64_t) v, 2);
    }

    if (v >= -0x80000000LL) {
        *p++ = 0xd2;
        return mt_mp_be(p, (uint64_t) v, 4);
    }

    *p++ = 0xd3;
    return mt_mp_be(p, (uint64_t) v, 8);
}


/* src, type and bounce names: short strings */

static u_char *
mt_event_name(u_char *p, const char *name)
{
    return mt_mp_str(p, (const u_char *) name, strlen(name));
}


ssize_t
mt_event_encode(const mt_event_t *ev, u_char *buf, size_t size)
{
    size_t  n;
    u_char  tmp[MT_RECORD_MAX];

    if (size >= MT_RECORD_MAX) {
        return mt_event_write(ev, buf) - buf;
    }

    n = mt_event_write(ev, tmp) - tmp;

    if (n > size) {
        return -1;
    }

    memcpy(buf, tmp, n);

    return n;
}


static u_char *
mt_event_write(const mt_event_t *ev, u_char *p)
{
    unsigned  n;

    n = 5;  /* v, id, rt, src, type */

    n += (ev->ts != 0) + (ev->esp_type.len != 0) + (ev->mid.len != 0)
         + (ev->esp_mid.len != 0) + (ev->rcpt.len != 0)
         + (ev->bounce != MT_BOUNCE_NONE) + (ev->smtp_status.len != 0)
         + (ev->smtp_code != 0) + (ev->reason.len != 0)
         + (ev->url.len != 0) + (ev->ip.len != 0) + (ev->ua.len != 0)
         + (ev->machine != MT_MACHINE_UNKNOWN) + (ev->why.len != 0)
         + (ev->tag.len != 0);

    p = mt_mp_map(p, n);

    p = mt_event_key(p, "\xa1v");
    *p++ = MT_RECORD_VERSION;

    p = mt_event_str(p, "\xa2id", &ev->id, 256);

    if (ev->ts) {
        p = mt_mp_int(mt_event_key(p, "\xa2ts"), ev->ts);
    }

    p = mt_mp_int(mt_event_key(p, "\xa2rt"), ev->rt);

    p = mt_event_key(p, "\xa3src");

    if (ev->src_name.len) {
        /* a generic provider's name, at most 32 bytes */
        p = mt_mp_str(p, ev->src_name.data, mt_min(ev->src_name.len, 32));

    } else {
        p = mt_event_name(p, mt_src_names[ev->src]);
    }

    p = mt_event_name(mt_event_key(p, "\xa4type"),
                      mt_event_type_names[ev->type]);

    if (ev->esp_type.len) {
        p = mt_event_str(p, "\xa8""esp_type", &ev->esp_type, 128);
    }

    if (ev->mid.len) {
        p = mt_event_str(p, "\xa3mid", &ev->mid, 512);
    }

    if (ev->esp_mid.len) {
        p = mt_event_str(p, "\xa7""esp_mid", &ev->esp_mid, 512);
    }

    if (ev->rcpt.len) {
        p = mt_event_str(p, "\xa4rcpt", &ev->rcpt, 512);
    }

    if (ev->bounce != MT_BOUNCE_NONE) {
        p = mt_event_name(mt_event_key(p, "\xa6""bounce"),
                          mt_bounce_names[ev->bounce]);
    }

    if (ev->smtp_status.len) {
        p = mt_event_str(p, "\xabsmtp_status", &ev->smtp_status, 32);
    }

    if (ev->smtp_code) {
        p = mt_mp_int(mt_event_key(p, "\xa9smtp_code"), ev->smtp_code);
    }

    if (ev->reason.len) {
        p = mt_event_str(p, "\xa6reason", &ev->reason, 2048);
    }

    if (ev->url.len) {
        p = mt_event_str(p, "\xa3url", &ev->url, 8192);
    }

    if (ev->ip.len) {
        p = mt_event_str(p, "\xa2ip", &ev->ip, 64);
    }

    if (ev->ua.len) {
        p = mt_event_str(p, "\xa2ua", &ev->ua, 1024);
    }

    if (ev->machine != MT_MACHINE_UNKNOWN) {
        p = mt_event_key(p, "\xa7machine");
        *p++ = ev->machine ? 0xc3 : 0xc2;
    }

    if (ev->why.len) {
        p = mt_event_str(p, "\xa3why", &ev->why, 128);
    }

    if (ev->tag.len) {
        p = mt_event_str(p, "\xa3tag", &ev->tag, 512);
    }

    return p;
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

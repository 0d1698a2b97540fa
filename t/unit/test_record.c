
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The record encoder writes the fixed layout by hand; readers of spool
 * files must see the very bytes msgpack-c's packer wrote before.  Random
 * events, with lengths and numbers on every encoding boundary, are
 * encoded by both and compared.
 */


#include "mt_tap.h"
#include "mt_msgpack.h"
#include "mt_event.h"


#define rnd()  tap_rand(&seed)


static void ref_str(mt_mp_writer_t *w, const char *key, const mt_str_t *v,
    size_t cap);
static ssize_t ref_encode(const mt_event_t *ev, u_char *buf, size_t size);
static void rnd_str(mt_str_t *s, u_char *buf, size_t max);
static int64_t rnd_int(void);


static uint64_t  seed = 0x9e3779b97f4a7c15ULL;

/* lengths around each str header width, each field's cap, each copy */
static const size_t  lengths[] = {
    0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 30, 31, 32, 33, 62, 63, 64, 65, 127, 128, 129, 254, 255, 256,
    257, 511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 8191, 8192,
    8193, 9000
};

/* numbers around each int width */
static const int64_t  numbers[] = {
    0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 4294967295LL,
    4294967296LL, 1764000000123LL, INT64_MAX, -1, -31, -32, -33, -127,
    -128, -129, -32767, -32768, -32769, -2147483647LL, -2147483648LL,
    -2147483649LL, INT64_MIN
};


/* ASCII, or a run of 3-byte characters, so that caps cut inside them */

static void
rnd_str(mt_str_t *s, u_char *buf, size_t max)
{
    size_t  i, len;

    len = lengths[rnd() % (sizeof(lengths) / sizeof(lengths[0]))];
    len = len > max ? max : len;

    if (rnd() % 2) {
        for (i = 0; i < len; i++) {
            buf[i] = (u_char) ('a' + rnd() % 26);
        }

    } else {
        for (i = 0; i < len; i++) {
            buf[i] = (u_char) "\xe2\x82\xac"[i % 3];
        }
    }

    s->data = buf;
    s->len = len;
}


static int64_t
rnd_int(void)
{
    if (rnd() % 4 == 0) {
        return (int64_t) rnd();
    }

    return numbers[rnd() % (sizeof(numbers) / sizeof(numbers[0]))];
}


/* the encoder as it was, on msgpack-c's packer */

static void
ref_str(mt_mp_writer_t *w, const char *key, const mt_str_t *v, size_t cap)
{
    mt_mp_put_cstr(w, key);
    mt_mp_put_str(w, v->data, mt_utf8_cut(v->data, v->len, cap));
}


static ssize_t
ref_encode(const mt_event_t *ev, u_char *buf, size_t size)
{
    unsigned        n;
    mt_mp_writer_t  w;

    n = 5 + (ev->ts != 0) + (ev->esp_type.len != 0) + (ev->mid.len != 0)
        + (ev->esp_mid.len != 0) + (ev->rcpt.len != 0)
        + (ev->bounce != MT_BOUNCE_NONE) + (ev->smtp_status.len != 0)
        + (ev->smtp_code != 0) + (ev->reason.len != 0)
        + (ev->url.len != 0) + (ev->ip.len != 0) + (ev->ua.len != 0)
        + (ev->machine != MT_MACHINE_UNKNOWN) + (ev->why.len != 0)
        + (ev->tag.len != 0);

    mt_mp_writer_init(&w, buf, size);

    msgpack_pack_map(&w.pk, n);
    mt_mp_put_cstr(&w, "v");
    msgpack_pack_int(&w.pk, MT_RECORD_VERSION);
    ref_str(&w, "id", &ev->id, 256);

    if (ev->ts) {
        mt_mp_put_cstr(&w, "ts");
        msgpack_pack_int64(&w.pk, ev->ts);
    }

    mt_mp_put_cstr(&w, "rt");
    msgpack_pack_int64(&w.pk, ev->rt);
    mt_mp_put_cstr(&w, "src");
    mt_mp_put_cstr(&w, mt_src_names[ev->src]);
    mt_mp_put_cstr(&w, "type");
    mt_mp_put_cstr(&w, mt_event_type_names[ev->type]);

    if (ev->esp_type.len) {
        ref_str(&w, "esp_type", &ev->esp_type, 128);
    }

    if (ev->mid.len) {
        ref_str(&w, "mid", &ev->mid, 512);
    }

    if (ev->esp_mid.len) {
        ref_str(&w, "esp_mid", &ev->esp_mid, 512);
    }

    if (ev->rcpt.len) {
        ref_str(&w, "rcpt", &ev->rcpt, 512);
    }

    if (ev->bounce != MT_BOUNCE_NONE) {
        mt_mp_put_cstr(&w, "bounce");
        mt_mp_put_cstr(&w, mt_bounce_names[ev->bounce]);
    }

    if (ev->smtp_status.len) {
        ref_str(&w, "smtp_status", &ev->smtp_status, 32);
    }

    if (ev->smtp_code) {
        mt_mp_put_cstr(&w, "smtp_code");
        msgpack_pack_int(&w.pk, ev->smtp_code);
    }

    if (ev->reason.len) {
        ref_str(&w, "reason", &ev->reason, 2048);
    }

    if (ev->url.len) {
        ref_str(&w, "url", &ev->url, 8192);
    }

    if (ev->ip.len) {
        ref_str(&w, "ip", &ev->ip, 64);
    }

    if (ev->ua.len) {
        ref_str(&w, "ua", &ev->ua, 1024);
    }

    if (ev->machine != MT_MACHINE_UNKNOWN) {
        mt_mp_put_cstr(&w, "machine");

        if (ev->machine) {
            msgpack_pack_true(&w.pk);

        } else {
            msgpack_pack_false(&w.pk);
        }
    }

    if (ev->why.len) {
        ref_str(&w, "why", &ev->why, 128);
    }

    if (ev->tag.len) {
        ref_str(&w, "tag", &ev->tag, 512);
    }

    return w.overflow ? -1 : w.pos - w.start;
}


int
main(void)
{
    int          round, same, fits;
    size_t       f;
    ssize_t      n, m, longest;
    mt_str_t    *fields[12];
    mt_event_t   ev;
    static u_char  bufs[12][9000];
    static u_char  rec[MT_RECORD_MAX], ref[MT_RECORD_MAX * 2];

    same = 0;
    fits = 1;
    longest = 0;

    for (round = 0; round < 20000; round++) {
        mt_event_init(&ev);

        fields[0] = &ev.id;
        fields[1] = &ev.esp_type;
        fields[2] = &ev.mid;
        fields[3] = &ev.esp_mid;
        fields[4] = &ev.rcpt;
        fields[5] = &ev.smtp_status;
        fields[6] = &ev.reason;
        fields[7] = &ev.url;
        fields[8] = &ev.ip;
        fields[9] = &ev.ua;
        fields[10] = &ev.why;
        fields[11] = &ev.tag;

        for (f = 0; f < 12; f++) {
            rnd_str(fields[f], bufs[f], sizeof(bufs[f]));
        }

        ev.ts = rnd_int();
        ev.rt = rnd_int();
        ev.smtp_code = (int) rnd_int();
        ev.src = (mt_src_e) (rnd() % MT_SRC_MAX);
        ev.type = (mt_event_type_e) (rnd() % MT_EV_MAX);
        ev.bounce = (mt_bounce_e) (rnd() % MT_BOUNCE_MAX);
        ev.machine = (int) (rnd() % 3) - 1;

        n = mt_event_encode(&ev, rec, sizeof(rec));
        m = ref_encode(&ev, ref, sizeof(ref));

        if (n == m && n > 0 && memcmp(rec, ref, n) == 0) {
            same++;

        } else if (same == round) {
            diag("round %d: %d bytes, msgpack-c %d", round, (int) n, (int) m);
        }

        fits &= (n > 0 && n <= MT_RECORD_MAX);
        longest = n > longest ? n : longest;
    }

    is_int(same, 20000, "records are msgpack-c's bytes (20000 random events)");
    ok(fits, "every record fits in MT_RECORD_MAX (longest %d)",
       (int) longest);

    /* the small-buffer path: the same bytes, or -1 */

    mt_event_init(&ev);
    ev.id.data = (u_char *) "e-1";
    ev.id.len = 3;
    ev.rt = 1764000000123LL;

    m = ref_encode(&ev, ref, sizeof(ref));
    n = mt_event_encode(&ev, rec, (size_t) m);
    ok(n == m && memcmp(rec, ref, n) == 0, "a buffer of just the size");
    is_int(mt_event_encode(&ev, rec, (size_t) m - 1), -1,
           "one byte less fails cleanly");

    return done_testing();
}

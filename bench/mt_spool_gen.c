
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * spool-gen: realistic sealed spool files, written with the module's own
 * record encoder, for the loader's tests and bench.
 *
 *   spool-gen DIR EVENTS [MESSAGES [RECIPIENTS [SEED [PER_FILE [HOST]]]]]
 *
 * 70 % of the events are the module's own (opens, a third of them
 * machine opens, and clicks), 30 % webhook events of the nine providers
 * (sent, delivered, deferred, bounced hard/soft/block, complained,
 * unsubscribed).  Message i goes to recipient i % RECIPIENTS.  Event ids
 * are "SEED-N": the same seed gives the same events, so two runs with
 * one seed make copies (as two edges' copies of one file), and runs with
 * other seeds overlap in messages but not in events.  Times start at
 * 2025-11-24 and grow over about 60 days.
 */


#include "mt_event.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>


#define MT_GEN_START_MS         1764000000000LL


static uint64_t mt_gen_rand(uint64_t *s);
static int mt_gen_write(const char *dir, const char *host, uint64_t seed,
    unsigned seq, int64_t ms, const u_char *buf, size_t len);


static uint64_t
mt_gen_rand(uint64_t *s)
{
    uint64_t  x;

    /* xorshift64* */

    x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;

    return x * 0x2545f4914f6cdd1dULL;
}


static int
mt_gen_write(const char *dir, const char *host, uint64_t seed, unsigned seq,
    int64_t ms, const u_char *buf, size_t len)
{
    char   part[4096], path[4096];
    FILE  *f;

    /* the seed stands for the pid: other seeds, other names */

    snprintf(part, sizeof(part), "%s/%s-%llu-%lld-%u.part", dir, host,
             (unsigned long long) seed, (long long) ms, seq);
    snprintf(path, sizeof(path), "%s/%s-%llu-%lld-%u.mtspool", dir, host,
             (unsigned long long) seed, (long long) ms, seq);

    f = fopen(part, "w");

    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "spool-gen: %s: %s\n", part, strerror(errno));
        return -1;
    }

    if (rename(part, path) != 0) {
        fprintf(stderr, "spool-gen: %s: %s\n", path, strerror(errno));
        return -1;
    }

    return 0;
}


int
main(int argc, char **argv)
{
    u_char       *buf, rec[MT_RECORD_MAX];
    char          id[64], mid[64], rcpt[64], url[128], tag[32], reason[64];
    size_t        len, size;
    ssize_t       n;
    unsigned      seq, r;
    uint64_t      i, events, messages, rcpts, seed, per_file, m, s;
    int64_t       t, file_ms;
    mt_event_t    ev;
    const char   *dir, *host;

    if (argc < 3) {
        fprintf(stderr, "usage: spool-gen DIR EVENTS [MESSAGES "
                "[RECIPIENTS [SEED [PER_FILE [HOST]]]]]\n");
        return 2;
    }

    dir = argv[1];
    events = strtoull(argv[2], NULL, 10);
    messages = argc > 3 ? strtoull(argv[3], NULL, 10) : events / 5 + 1;
    rcpts = argc > 4 ? strtoull(argv[4], NULL, 10) : messages * 3 / 4 + 1;
    seed = argc > 5 ? strtoull(argv[5], NULL, 10) : 1;
    per_file = argc > 6 ? strtoull(argv[6], NULL, 10) : 50000;
    host = argc > 7 ? argv[7] : "edge1";

    if (messages == 0 || rcpts == 0 || per_file == 0) {
        fprintf(stderr, "spool-gen: zero messages, recipients or "
                "events per file\n");
        return 2;
    }

    size = per_file * 600 + MT_RECORD_MAX;

    buf = malloc(size);
    if (buf == NULL) {
        fprintf(stderr, "spool-gen: out of memory\n");
        return 1;
    }

    s = seed * 0x9e3779b97f4a7c15ULL + 1;
    len = 0;
    seq = 0;
    file_ms = MT_GEN_START_MS;

    for (i = 0; i < events; i++) {
        m = mt_gen_rand(&s) % messages;
        r = (unsigned) (mt_gen_rand(&s) % 1000);
        t = MT_GEN_START_MS + (int64_t) (i * 5000000ULL / (events + 1)) * 1000
            + (int64_t) (mt_gen_rand(&s) % 1000);

        mt_event_init(&ev);

        snprintf(id, sizeof(id), "%llu-%llu", (unsigned long long) seed,
                 (unsigned long long) i);
        snprintf(mid, sizeof(mid), "m-%llu", (unsigned long long) m);
        snprintf(rcpt, sizeof(rcpt), "user%llu@example%llu.com",
                 (unsigned long long) (m % rcpts),
                 (unsigned long long) (m % rcpts % 50));
        snprintf(tag, sizeof(tag), "campaign-%llu",
                 (unsigned long long) (m % 20));

        ev.id.data = (u_char *) id;
        ev.id.len = strlen(id);
        ev.mid.data = (u_char *) mid;
        ev.mid.len = strlen(mid);
        ev.rcpt.data = (u_char *) rcpt;
        ev.rcpt.len = strlen(rcpt);
        ev.tag.data = (u_char *) tag;
        ev.tag.len = strlen(tag);
        ev.rt = t;
        ev.ts = t;

        if (r < 700) {
            ev.src = MT_SRC_TRACK;
            mt_str_set(&ev.ip, "192.0.2.0");
            mt_str_set(&ev.ua, "Mozilla/5.0 (Windows NT 10.0; Win64; x64)");

            if (r < 500) {
                ev.type = MT_EV_OPENED;
                ev.machine = (r < 170);

                if (ev.machine) {
                    mt_str_set(&ev.why, "apple_mpp");
                }

            } else {
                ev.type = MT_EV_CLICKED;
                ev.machine = (r < 530);
                snprintf(url, sizeof(url), "https://example.com/offer/%u"
                         "?utm_source=mail", (unsigned) (m % 97));
                ev.url.data = (u_char *) url;
                ev.url.len = strlen(url);
            }

        } else {
            ev.src = (mt_src_e) (1 + m % (MT_SRC_MAX - 1));
            mt_str_set(&ev.esp_type, "event");

            if (r < 800) {
                ev.type = MT_EV_SENT;

            } else if (r < 930) {
                ev.type = MT_EV_DELIVERED;

            } else if (r < 945) {
                ev.type = MT_EV_DEFERRED;
                ev.bounce = MT_BOUNCE_SOFT;

            } else if (r < 980) {
                ev.type = MT_EV_BOUNCED;
                ev.bounce = (r < 960) ? MT_BOUNCE_HARD
                          : (r < 972) ? MT_BOUNCE_SOFT : MT_BOUNCE_BLOCK;
                ev.smtp_code = (ev.bounce == MT_BOUNCE_SOFT) ? 452 : 550;
                mt_str_set(&ev.smtp_status, "5.1.1");
                snprintf(reason, sizeof(reason), "%d 5.1.1 user unknown",
                         ev.smtp_code);
                ev.reason.data = (u_char *) reason;
                ev.reason.len = strlen(reason);

            } else if (r < 990) {
                ev.type = MT_EV_COMPLAINED;

            } else {
                ev.type = MT_EV_UNSUBSCRIBED;
            }
        }

        n = mt_event_encode(&ev, rec, sizeof(rec));
        if (n < 0) {
            fprintf(stderr, "spool-gen: a record does not fit\n");
            return 1;
        }

        memcpy(buf + len, rec, n);
        len += n;

        if ((i + 1) % per_file == 0 || i + 1 == events) {
            if (mt_gen_write(dir, host, seed, seq++, file_ms, buf, len) != 0) {
                return 1;
            }

            len = 0;
            file_ms = t;
        }
    }

    free(buf);

    return 0;
}

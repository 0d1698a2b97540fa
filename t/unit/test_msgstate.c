
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * A message's state from its events (core/mt_msgstate.c): each rule of
 * docs/status.md, the exact JSON, and the same answer for the same set of
 * events in any order of arrival, also when the set is folded in parts
 * and merged, or stored in a database row half way.
 */


#include "mt_tap.h"
#include "mt_ms_test.h"


#define TS_MAX_EVENTS  96


static void ts_apply(ts_store_t *m, const mt_event_t *ev);
static void ts_merge(ts_store_t *m, const ts_store_t *from);
static void ts_fold(ts_store_t *m, mt_event_t *evs, unsigned *order,
    unsigned n);
static size_t ts_json(const ts_store_t *m, u_char *buf);
static mt_event_t ts_ev(mt_event_type_e type, mt_src_e src, int64_t ts,
    const char *rcpt, const char *url);
static uint64_t ts_rand(void);
static void ts_shuffle(unsigned *order, unsigned n);
static void ts_random_events(mt_event_t *evs, unsigned n);
static int ts_all_orders(mt_event_t *evs, unsigned n, const char *name);
static int ts_random_orders(mt_event_t *evs, unsigned n, unsigned rounds);
static int ts_merged_parts(mt_event_t *evs, unsigned n, unsigned rounds);
static void test_empty(void);
static void test_json(void);
static void test_state(void);
static void test_bounce(void);
static void test_times(void);
static void test_counts(void);
static void test_url(void);
static void test_rcpt(void);
static void test_sources(void);
static void test_cuts(void);
static void test_strings(void);
static void test_row(void);
static void test_orders(void);
static void ts_random_state(ts_store_t *m);
static void test_apply_is_merge(void);


static uint64_t  ts_seed = 0x9e3779b97f4a7c15ULL;


static void
ts_apply(ts_store_t *m, const mt_event_t *ev)
{
    mt_str_t  mid;

    if (m->s.mid.len == 0) {
        mt_msgstate_key(ev, &mid);
        memcpy(m->mid, mid.data, mid.len);
        m->s.mid.len = mid.len;
    }

    ts_keep(m, mt_msgstate_apply(&m->st, &m->s, ev));
}


static void
ts_merge(ts_store_t *m, const ts_store_t *from)
{
    if (m->s.mid.len == 0) {
        memcpy(m->mid, from->mid, from->s.mid.len);
        m->s.mid.len = from->s.mid.len;
    }

    ts_keep(m, mt_msgstate_merge(&m->st, &m->s, &from->st, &from->s));
}


static void
ts_fold(ts_store_t *m, mt_event_t *evs, unsigned *order, unsigned n)
{
    unsigned  i;

    ts_init(m);

    for (i = 0; i < n; i++) {
        ts_apply(m, &evs[order ? order[i] : i]);
    }
}


static size_t
ts_json(const ts_store_t *m, u_char *buf)
{
    u_char  *p;

    p = mt_msgstate_json(buf, &m->st, &m->s);
    *p = '\0';

    return p - buf;
}


static mt_event_t
ts_ev(mt_event_type_e type, mt_src_e src, int64_t ts, const char *rcpt,
    const char *url)
{
    mt_event_t  ev;

    mt_event_init(&ev);

    ev.type = type;
    ev.src = src;
    ev.ts = ts;
    ev.rt = 1700000000000LL;
    ev.mid.data = (u_char *) "m-1";
    ev.mid.len = 3;

    if (rcpt != NULL) {
        ev.rcpt.data = (u_char *) rcpt;
        ev.rcpt.len = strlen(rcpt);
    }

    if (url != NULL) {
        ev.url.data = (u_char *) url;
        ev.url.len = strlen(url);
    }

    return ev;
}


static uint64_t
ts_rand(void)
{
    ts_seed ^= ts_seed << 13;
    ts_seed ^= ts_seed >> 7;
    ts_seed ^= ts_seed << 17;

    return ts_seed;
}


static void
ts_shuffle(unsigned *order, unsigned n)
{
    unsigned  i, j, t;

    for (i = n - 1; i > 0; i--) {
        j = (unsigned) (ts_rand() % (i + 1));
        t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}


/* few distinct values, so that ties in time, url and class are common */

static void
ts_random_events(mt_event_t *evs, unsigned n)
{
    unsigned            i;
    static const char  *rcpts[] = { NULL, "b@example.com", "a@example.com",
                                    "A@example.com", "a@example.co" };
    static const char  *urls[] = { NULL, "https://e.com/1", "https://e.com/2",
                                   "https://e.com/10", "https://e.com/1?" };

    for (i = 0; i < n; i++) {
        evs[i] = ts_ev((mt_event_type_e) (ts_rand() % MT_EV_MAX),
                       (mt_src_e) (ts_rand() % MT_SRC_MAX),
                       (int64_t) (ts_rand() % 4) * 1000,
                       rcpts[ts_rand() % 5], urls[ts_rand() % 5]);

        evs[i].rt = 1700000000000LL + (int64_t) (ts_rand() % 3) * 500;
        evs[i].bounce = (mt_bounce_e) (ts_rand() % MT_BOUNCE_MAX);
        evs[i].machine = (int) (ts_rand() % 3) - 1;

        if (ts_rand() % 8 == 0) {
            evs[i].rt = 0;
        }
    }
}


/* every order of a small set (Heap's algorithm) */

static int
ts_all_orders(mt_event_t *evs, unsigned n, const char *name)
{
    int          same;
    unsigned     c[TS_MAX_EVENTS], order[TS_MAX_EVENTS], i, t, count;
    ts_store_t   first, m;

    for (i = 0; i < n; i++) {
        order[i] = i;
        c[i] = 0;
    }

    ts_fold(&first, evs, order, n);

    same = 1;
    count = 1;
    i = 1;

    while (i < n) {

        if (c[i] < i) {
            if (i % 2 == 0) {
                t = order[0]; order[0] = order[i]; order[i] = t;

            } else {
                t = order[c[i]]; order[c[i]] = order[i]; order[i] = t;
            }

            ts_fold(&m, evs, order, n);
            count++;

            if (!ts_same(&first, &m)) {
                same = 0;
            }

            c[i]++;
            i = 1;

        } else {
            c[i] = 0;
            i++;
        }
    }

    ok(same, "%s: the same state in all %u orders", name, count);

    return same;
}


static int
ts_random_orders(mt_event_t *evs, unsigned n, unsigned rounds)
{
    unsigned    order[TS_MAX_EVENTS], i, r;
    ts_store_t  first, m;

    for (i = 0; i < n; i++) {
        order[i] = i;
    }

    ts_fold(&first, evs, order, n);

    for (r = 0; r < rounds; r++) {
        ts_shuffle(order, n);
        ts_fold(&m, evs, order, n);

        if (!ts_same(&first, &m)) {
            return 0;
        }
    }

    return 1;
}


/* the set cut into parts, each folded alone, the parts merged any way */

static int
ts_merged_parts(mt_event_t *evs, unsigned n, unsigned rounds)
{
    unsigned    order[TS_MAX_EVENTS], parts[5], i, k, r, at, len;
    ts_store_t  whole, part[5], m;

    ts_fold(&whole, evs, NULL, n);

    for (i = 0; i < n; i++) {
        order[i] = i;
    }

    for (r = 0; r < rounds; r++) {
        ts_shuffle(order, n);

        at = 0;

        for (k = 0; k < 5; k++) {
            len = (k == 4) ? n - at : (unsigned) (ts_rand() % (n - at + 1));
            ts_fold(&part[k], evs, order + at, len);
            at += len;
            parts[k] = k;
        }

        ts_shuffle(parts, 5);
        ts_init(&m);

        for (k = 0; k < 5; k++) {
            ts_merge(&m, &part[parts[k]]);
        }

        if (!ts_same(&whole, &m)) {
            return 0;
        }
    }

    return 1;
}


static void
test_empty(void)
{
    u_char      buf[4096];
    ts_store_t  m;

    ts_init(&m);
    ts_json(&m, buf);

    ok(strcmp((char *) buf,
              "{\"message_id\":\"\",\"recipient\":null,\"state\":null,"
              "\"sent_at\":null,\"delivered_at\":null,\"bounce\":null,"
              "\"bounced_at\":null,\"complained_at\":null,"
              "\"unsubscribed_at\":null,\"opens\":{\"count\":0,"
              "\"machine\":0,\"first_at\":null,\"last_at\":null},"
              "\"clicks\":{\"count\":0,\"machine\":0,\"first_at\":null,"
              "\"last_at\":null,\"last_url\":null},\"sources\":[]}") == 0,
       "a state without events: every field null or zero");
    ok(mt_msgstate_state_name(&m.st) == NULL, "no state name");
}


/* DESIGN.md's example, byte for byte */

static void
test_json(void)
{
    u_char      buf[4096];
    size_t      len;
    unsigned    i;
    ts_store_t  m;
    mt_event_t  evs[6];

    evs[0] = ts_ev(MT_EV_SENT, MT_SRC_SENDGRID, 1764000000000LL,
                   "a@example.com", NULL);
    evs[1] = ts_ev(MT_EV_DELIVERED, MT_SRC_SENDGRID, 1764000001000LL,
                   "a@example.com", NULL);
    evs[2] = ts_ev(MT_EV_OPENED, MT_SRC_TRACK, 1764000100000LL,
                   "a@example.com", NULL);
    evs[2].machine = 1;
    evs[3] = ts_ev(MT_EV_OPENED, MT_SRC_TRACK, 1764000200000LL,
                   "a@example.com", NULL);
    evs[3].machine = 0;
    evs[4] = ts_ev(MT_EV_CLICKED, MT_SRC_TRACK, 1764000300000LL,
                   "a@example.com", "https://example.com/a");
    evs[4].machine = 0;
    evs[5] = ts_ev(MT_EV_OTHER, MT_SRC_SENDGRID, 1764000400000LL, NULL,
                   NULL);

    for (i = 0; i < 6; i++) {
        evs[i].mid.data = (u_char *) "m-1";
    }

    ts_fold(&m, evs, NULL, 6);
    len = ts_json(&m, buf);

    ok(strcmp((char *) buf,
              "{\"message_id\":\"m-1\",\"recipient\":\"a@example.com\","
              "\"state\":\"delivered\",\"sent_at\":1764000000000,"
              "\"delivered_at\":1764000001000,\"bounce\":null,"
              "\"bounced_at\":null,\"complained_at\":null,"
              "\"unsubscribed_at\":null,\"opens\":{\"count\":2,"
              "\"machine\":1,\"first_at\":1764000100000,"
              "\"last_at\":1764000200000},\"clicks\":{\"count\":1,"
              "\"machine\":0,\"first_at\":1764000300000,"
              "\"last_at\":1764000300000,"
              "\"last_url\":\"https://example.com/a\"},"
              "\"sources\":[\"sendgrid\",\"track\"]}") == 0,
       "DESIGN.md's example, byte for byte");
    ok(len < mt_msgstate_json_size(&m.s), "within json_size (%zu < %zu)",
       len, mt_msgstate_json_size(&m.s));
    ok(ts_all_orders(evs, 6, "the example"), "the example in any order");
}


static void
test_state(void)
{
    unsigned     i, j;
    ts_store_t   m;
    mt_event_t   a, b;
    const char  *name;

    /* the rank of each type, as docs/status.md lists them */
    static const struct {
        mt_event_type_e  type;
        int              rank;
    } ranks[] = {
        { MT_EV_OPENED, 0 }, { MT_EV_CLICKED, 0 }, { MT_EV_UNSUBSCRIBED, 0 },
        { MT_EV_OTHER, 0 }, { MT_EV_SENT, 1 }, { MT_EV_DEFERRED, 2 },
        { MT_EV_DELIVERED, 3 }, { MT_EV_REJECTED, 10 },
        { MT_EV_BOUNCED, 11 }, { MT_EV_COMPLAINED, 12 }
    };

    for (i = 0; i < sizeof(ranks) / sizeof(ranks[0]); i++) {
        for (j = 0; j < sizeof(ranks) / sizeof(ranks[0]); j++) {
            a = ts_ev(ranks[i].type, MT_SRC_SES, 1000, NULL, NULL);
            b = ts_ev(ranks[j].type, MT_SRC_SES, 2000, NULL, NULL);

            ts_init(&m);
            ts_apply(&m, &a);
            ts_apply(&m, &b);

            name = mt_msgstate_state_name(&m.st);

            if (ranks[i].rank == 0 && ranks[j].rank == 0) {
                ok(name == NULL, "%s then %s: no state",
                   mt_event_type_names[ranks[i].type],
                   mt_event_type_names[ranks[j].type]);
                continue;
            }

            ok(name != NULL
               && strcmp(name, mt_event_type_names[
                      ranks[i].rank >= ranks[j].rank ? ranks[i].type
                                                     : ranks[j].type]) == 0,
               "%s then %s: %s", mt_event_type_names[ranks[i].type],
               mt_event_type_names[ranks[j].type], name ? name : "null");
        }
    }

    /* a state read from a database may be anything */

    ts_init(&m);
    m.st.state = 200;
    a = ts_ev(MT_EV_SENT, MT_SRC_SES, 1000, NULL, NULL);
    ts_apply(&m, &a);
    ok(m.st.state == MT_EV_SENT + 1, "an unknown stored state gives way");
}


static void
test_bounce(void)
{
    u_char      buf[4096];
    ts_store_t  m;
    mt_event_t  evs[4];

    evs[0] = ts_ev(MT_EV_BOUNCED, MT_SRC_SES, 1000, NULL, NULL);
    evs[0].bounce = MT_BOUNCE_SOFT;
    evs[1] = ts_ev(MT_EV_BOUNCED, MT_SRC_SES, 3000, NULL, NULL);
    evs[1].bounce = MT_BOUNCE_SOFT;
    evs[2] = ts_ev(MT_EV_BOUNCED, MT_SRC_SES, 3000, NULL, NULL);
    evs[2].bounce = MT_BOUNCE_HARD;
    evs[3] = ts_ev(MT_EV_DEFERRED, MT_SRC_SES, 4000, NULL, NULL);
    evs[3].bounce = MT_BOUNCE_BLOCK;

    ts_fold(&m, evs, NULL, 2);
    is_int(m.st.bounced_at, 3000, "the latest bounce is shown");

    ts_fold(&m, evs, NULL, 3);
    is_int(m.st.bounce, MT_BOUNCE_HARD,
           "of two bounces at once, the graver class");
    is_int(m.st.bounced_at, 3000, "and its time");

    ts_fold(&m, evs, NULL, 4);
    is_int(m.st.bounce, MT_BOUNCE_HARD, "a deferral's class is not shown");
    ok(strcmp(mt_msgstate_state_name(&m.st), "bounced") == 0,
       "state bounced after a later deferral");

    ts_json(&m, buf);
    ok(strstr((char *) buf, "\"bounce\":\"hard\",\"bounced_at\":3000,")
       != NULL, "bounce and bounced_at in the JSON");

    ts_all_orders(evs, 4, "bounces");

    /* block beats soft, undetermined loses to every known class */
    evs[0].ts = 3000;
    evs[0].bounce = MT_BOUNCE_UNDETERMINED;
    evs[1].bounce = MT_BOUNCE_BLOCK;
    evs[2].bounce = MT_BOUNCE_SOFT;

    ts_fold(&m, evs, NULL, 3);
    is_int(m.st.bounce, MT_BOUNCE_BLOCK, "block over soft and undetermined");
    ts_all_orders(evs, 3, "bounce classes at one time");

    /* a bounce of unknown time and class still makes the state */
    evs[0] = ts_ev(MT_EV_BOUNCED, MT_SRC_SES, 0, NULL, NULL);
    evs[0].rt = 0;
    ts_fold(&m, evs, NULL, 1);
    ok(strcmp(mt_msgstate_state_name(&m.st), "bounced") == 0
       && m.st.bounce == MT_BOUNCE_NONE && m.st.bounced_at == 0,
       "a bounce of unknown time and class: bounced, bounce null");
}


static void
test_times(void)
{
    ts_store_t  m;
    mt_event_t  evs[5];

    evs[0] = ts_ev(MT_EV_SENT, MT_SRC_SES, 5000, NULL, NULL);
    evs[1] = ts_ev(MT_EV_SENT, MT_SRC_SES, 2000, NULL, NULL);
    evs[2] = ts_ev(MT_EV_SENT, MT_SRC_SES, 0, NULL, NULL);
    evs[2].rt = 0;
    evs[3] = ts_ev(MT_EV_SENT, MT_SRC_SES, 9000, NULL, NULL);

    ts_fold(&m, evs, NULL, 4);
    is_int(m.st.sent_at, 2000, "sent_at: the earliest");

    ts_fold(&m, evs + 2, NULL, 1);
    is_int(m.st.sent_at, 0, "an event of unknown time leaves it unknown");
    ts_apply(&m, &evs[0]);
    is_int(m.st.sent_at, 5000, "and a later known time is taken");
    ts_apply(&m, &evs[2]);
    is_int(m.st.sent_at, 5000, "an unknown time never erases a known one");

    evs[4] = ts_ev(MT_EV_DELIVERED, MT_SRC_SES, 0, NULL, NULL);
    evs[4].rt = 7000;
    ts_fold(&m, evs + 4, NULL, 1);
    is_int(m.st.delivered_at, 7000, "without ts, the receive time");

    evs[4].ts = -5;
    ts_fold(&m, evs + 4, NULL, 1);
    is_int(m.st.delivered_at, 7000, "a negative ts counts as unknown");

    ts_all_orders(evs, 5, "times with unknowns");

    evs[0] = ts_ev(MT_EV_COMPLAINED, MT_SRC_SES, 4000, NULL, NULL);
    evs[1] = ts_ev(MT_EV_COMPLAINED, MT_SRC_SES, 3000, NULL, NULL);
    evs[2] = ts_ev(MT_EV_UNSUBSCRIBED, MT_SRC_TRACK, 6000, NULL, NULL);
    evs[3] = ts_ev(MT_EV_UNSUBSCRIBED, MT_SRC_TRACK, 5000, NULL, NULL);
    ts_fold(&m, evs, NULL, 4);
    is_int(m.st.complained_at, 3000, "complained_at: the earliest");
    is_int(m.st.unsubscribed_at, 5000, "unsubscribed_at: the earliest");
    ok(strcmp(mt_msgstate_state_name(&m.st), "complained") == 0,
       "an unsubscribe is no delivery state");
}


static void
test_counts(void)
{
    ts_store_t  m;
    mt_event_t  evs[4];

    evs[0] = ts_ev(MT_EV_OPENED, MT_SRC_TRACK, 3000, NULL, NULL);
    evs[0].machine = 1;
    evs[1] = ts_ev(MT_EV_OPENED, MT_SRC_TRACK, 1000, NULL, NULL);
    evs[1].machine = 0;
    evs[2] = ts_ev(MT_EV_OPENED, MT_SRC_SENDGRID, 2000, NULL, NULL);
    evs[3] = ts_ev(MT_EV_CLICKED, MT_SRC_TRACK, 500, NULL, NULL);
    evs[3].machine = 1;

    ts_fold(&m, evs, NULL, 4);
    is_int(m.st.opens, 3, "opens counted");
    is_int(m.st.opens_machine, 1, "machine opens: machine true only");
    is_int(m.st.opens_first, 1000, "opens first_at: the earliest");
    is_int(m.st.opens_last, 3000, "opens last_at: the latest");
    is_int(m.st.clicks, 1, "clicks counted");
    is_int(m.st.clicks_machine, 1, "machine clicks");
    is_int(m.st.clicks_first, 500, "clicks first_at");

    m.st.opens = UINT32_MAX - 1;
    ts_apply(&m, &evs[0]);
    ts_apply(&m, &evs[0]);
    ok(m.st.opens == UINT32_MAX, "a count stops at 2^32-1");
}


static void
test_url(void)
{
    ts_store_t  m;
    mt_event_t  evs[5];

    evs[0] = ts_ev(MT_EV_CLICKED, MT_SRC_TRACK, 1000, NULL, "https://e/old");
    evs[1] = ts_ev(MT_EV_CLICKED, MT_SRC_TRACK, 2000, NULL, "https://e/a");
    evs[2] = ts_ev(MT_EV_CLICKED, MT_SRC_TRACK, 2000, NULL, "https://e/b");
    evs[3] = ts_ev(MT_EV_CLICKED, MT_SRC_TRACK, 3000, NULL, NULL);
    evs[4] = ts_ev(MT_EV_CLICKED, MT_SRC_TRACK, 2000, NULL, "https://e/a/");

    ts_fold(&m, evs, NULL, 2);
    is_str(m.s.url, "https://e/a", "the url of the latest click");

    ts_fold(&m, evs, NULL, 3);
    is_str(m.s.url, "https://e/b", "of two clicks at once, the greater url");

    ts_fold(&m, evs, NULL, 4);
    is_str(m.s.url, "https://e/b", "a click without a url keeps the url");
    is_int(m.st.clicks_last, 3000, "but is the last click");
    is_int(m.st.url_at, 2000, "url_at is the time of the url's click");

    ts_fold(&m, evs, NULL, 5);
    is_str(m.s.url, "https://e/b", "a longer url with the same prefix");
    evs[2].url.len = 0;
    ts_fold(&m, evs, NULL, 5);
    is_str(m.s.url, "https://e/a/", "the longer of two urls sharing a prefix");
    evs[2].url.len = 11;

    ts_all_orders(evs, 5, "clicks");
}


static void
test_rcpt(void)
{
    u_char      buf[4096];
    ts_store_t  m;
    mt_event_t  evs[4];

    evs[0] = ts_ev(MT_EV_SENT, MT_SRC_SES, 1000, NULL, NULL);
    ts_fold(&m, evs, NULL, 1);
    ts_json(&m, buf);
    ok(strstr((char *) buf, "\"recipient\":null") != NULL,
       "an unknown recipient is null");

    evs[1] = ts_ev(MT_EV_OPENED, MT_SRC_TRACK, 2000, "b@example.com", NULL);
    evs[2] = ts_ev(MT_EV_DELIVERED, MT_SRC_SES, 500, "a@example.com", NULL);
    evs[3] = ts_ev(MT_EV_OPENED, MT_SRC_TRACK, 100, "a@example.com.x", NULL);

    ts_fold(&m, evs, NULL, 2);
    is_str(m.s.rcpt, "b@example.com", "the one recipient named");

    ts_fold(&m, evs, NULL, 4);
    is_str(m.s.rcpt, "a@example.com", "of several, the least bytes");

    ts_all_orders(evs, 4, "recipients");
}


static void
test_sources(void)
{
    u_char      buf[4096];
    unsigned    i;
    ts_store_t  m;
    mt_event_t  ev;

    ts_init(&m);

    for (i = MT_SRC_MAX; i > 0; i--) {
        ev = ts_ev(MT_EV_OTHER, (mt_src_e) (i - 1), 1000, NULL, NULL);
        ts_apply(&m, &ev);
    }

    ts_json(&m, buf);

    ok(strstr((char *) buf,
              "\"sources\":[\"brevo\",\"generic\",\"mailgun\",\"mailjet\","
              "\"mandrill\",\"postmark\",\"resend\",\"sendgrid\",\"ses\","
              "\"sparkpost\",\"track\"]}") != NULL,
       "every source, once, in name order");
    ok(mt_msgstate_state_name(&m.st) == NULL, "'other' is no state");

    /*
     * generic sources by their slots' names, sorted in with the others;
     * a slot without a name is "generic", once
     */

    {
        mt_str_t  names[3] = {
            mt_string("sendcloud"), mt_string("aliyun-dm"), mt_null_string
        };

        ts_init(&m);

        for (i = 0; i < 4; i++) {
            ev = ts_ev(MT_EV_OTHER, (mt_src_e) (MT_SRC_GENERIC + i), 1000,
                       NULL, NULL);
            ts_apply(&m, &ev);
        }

        ev = ts_ev(MT_EV_OTHER, MT_SRC_MAILGUN, 1000, NULL, NULL);
        ts_apply(&m, &ev);

        m.s.generic = names;
        m.s.ngeneric = 3;

        ts_json(&m, buf);

        ok(strstr((char *) buf,
                  "\"sources\":[\"aliyun-dm\",\"generic\",\"mailgun\","
                  "\"sendcloud\"]}") != NULL,
           "generic sources by name: %s", strstr((char *) buf, "sources"));
    }
}


static void
test_cuts(void)
{
    u_char      big[4096], buf[32768];
    ts_store_t  m;
    mt_event_t  ev;

    /* ids cut as the record cuts them: at a character boundary */

    memset(big, 'm', sizeof(big));
    memcpy(big + 510, "\xc3\xa9", 2);

    ev = ts_ev(MT_EV_SENT, MT_SRC_SES, 1000, NULL, NULL);
    ev.mid.data = big;
    ev.mid.len = 600;
    ts_fold(&m, &ev, NULL, 1);
    is_int(m.s.mid.len, 512, "a long id: 512 bytes kept");

    memcpy(big + 510, "m\xc3\xa9", 3);
    ts_fold(&m, &ev, NULL, 1);
    is_int(m.s.mid.len, 511, "never half a character");

    ev.mid.len = 0;
    ts_fold(&m, &ev, NULL, 1);
    is_int(m.s.mid.len, 0, "no id: no key");

    ev = ts_ev(MT_EV_CLICKED, MT_SRC_TRACK, 1000, NULL, NULL);
    ev.rcpt.data = big;
    ev.rcpt.len = 1000;
    ev.url.data = big;
    ev.url.len = 3000;
    ts_fold(&m, &ev, NULL, 1);
    is_int(m.s.rcpt.len, MT_MSGSTATE_RCPT_MAX, "a recipient: 255 bytes");
    is_int(m.s.url.len, MT_MSGSTATE_URL_MAX, "a url: 2048 bytes");
    ok(mt_msgstate_json(buf, &m.st, &m.s) - buf
       < (ssize_t) mt_msgstate_json_size(&m.s), "within json_size");
}


static void
test_strings(void)
{
    u_char      buf[4096];
    ts_store_t  m;
    mt_event_t  ev;

    ev = ts_ev(MT_EV_CLICKED, MT_SRC_TRACK, 1000, "x\"y\\z\n\x01\x7f@e",
               "https://e/\xff\xc3\xa9?q=\"1\"");
    ev.mid.data = (u_char *) "a/b c\"d\t";
    ev.mid.len = 8;

    ts_fold(&m, &ev, NULL, 1);
    ts_json(&m, buf);

    ok(strstr((char *) buf, "\"message_id\":\"a/b c\\\"d\\t\"") != NULL,
       "the id escaped");
    ok(strstr((char *) buf,
              "\"recipient\":\"x\\\"y\\\\z\\n\\u0001\\u007f@e\"") != NULL,
       "quotes, backslashes and control characters escaped");
    ok(strstr((char *) buf,
              "\"last_url\":\"https://e/\xef\xbf\xbd\xc3\xa9?q=\\\"1\\\"\"")
       != NULL, "a byte that is not UTF-8 becomes U+FFFD, the rest stays");
}


/*
 * A state written to a database row (its integers, its strings) and read
 * back into fresh memory goes on as if it had never left.
 */

static void
test_row(void)
{
    int         same;
    unsigned    i, r, half;
    ts_store_t  whole, m, row;
    mt_event_t  evs[40];

    same = 1;

    for (r = 0; r < 200; r++) {
        ts_random_events(evs, 40);
        ts_fold(&whole, evs, NULL, 40);

        half = (unsigned) (ts_rand() % 41);
        ts_fold(&m, evs, NULL, half);

        ts_init(&row);
        row.st = m.st;
        memcpy(row.mid, m.s.mid.data, m.s.mid.len);
        row.s.mid.len = m.s.mid.len;
        memcpy(row.rcpt, m.s.rcpt.data, m.s.rcpt.len);
        row.s.rcpt.len = m.s.rcpt.len;
        memcpy(row.url, m.s.url.data, m.s.url.len);
        row.s.url.len = m.s.url.len;

        for (i = half; i < 40; i++) {
            ts_apply(&row, &evs[i]);
        }

        if (!ts_same(&whole, &row)) {
            same = 0;
        }
    }

    ok(same, "a state stored half way and read back: the same result");
}


static void
test_orders(void)
{
    int         same;
    unsigned    r, n;
    mt_event_t  evs[TS_MAX_EVENTS];
    char        name[64];

    /* every order of small random sets */

    same = 1;

    for (r = 0; r < 60; r++) {
        n = 2 + r % 6;
        ts_random_events(evs, n);
        snprintf(name, sizeof(name), "random set %u of %u events", r, n);

        if (!ts_all_orders(evs, n, name)) {
            same = 0;
        }
    }

    ok(same, "60 small sets: the same state in every order");

    /* many random orders of larger sets */

    same = 1;

    for (r = 0; r < 100; r++) {
        ts_random_events(evs, TS_MAX_EVENTS);

        if (!ts_random_orders(evs, TS_MAX_EVENTS, 50)) {
            same = 0;
            diag("set %u differs", r);
        }
    }

    ok(same, "100 sets of %d events, 50 orders each: the same state",
       TS_MAX_EVENTS);

    /* folded in parts and merged in any order */

    same = 1;

    for (r = 0; r < 100; r++) {
        ts_random_events(evs, 40);

        if (!ts_merged_parts(evs, 40, 20)) {
            same = 0;
        }
    }

    ok(same, "100 sets cut in 5 parts, merged in any order: the same state");
}


/* any state a row may hold: times below 0, counts at the cap, bad codes */

static void
ts_random_state(ts_store_t *m)
{
    unsigned        i;
    int64_t        *t[10];
    uint32_t       *c[4];
    static int64_t  times[] = { 0, 0, 1000, 2000, 3000, -1000, INT64_MAX,
                                1700000000000LL };
    static uint32_t counts[] = { 0, 1, 7, UINT32_MAX - 1, UINT32_MAX };

    ts_init(m);

    t[0] = &m->st.sent_at;
    t[1] = &m->st.delivered_at;
    t[2] = &m->st.bounced_at;
    t[3] = &m->st.complained_at;
    t[4] = &m->st.unsubscribed_at;
    t[5] = &m->st.opens_first;
    t[6] = &m->st.opens_last;
    t[7] = &m->st.clicks_first;
    t[8] = &m->st.clicks_last;
    t[9] = &m->st.url_at;

    for (i = 0; i < 10; i++) {
        *t[i] = times[ts_rand() % 8];
    }

    c[0] = &m->st.opens;
    c[1] = &m->st.opens_machine;
    c[2] = &m->st.clicks;
    c[3] = &m->st.clicks_machine;

    for (i = 0; i < 4; i++) {
        *c[i] = counts[ts_rand() % 5];
    }

    m->st.sources = (uint32_t) ts_rand();
    m->st.state = (uint8_t) (ts_rand() % 4 ? ts_rand() % (MT_EV_MAX + 2)
                                           : ts_rand());
    m->st.bounce = (uint8_t) (ts_rand() % 4 ? ts_rand() % (MT_BOUNCE_MAX + 1)
                                            : ts_rand());

    memcpy(m->mid, "m-1", 3);
    m->s.mid.len = 3;

    if (ts_rand() % 2) {
        memcpy(m->rcpt, "b@example.com", 13);
        m->s.rcpt.len = 13 - ts_rand() % 3;
    }

    if (ts_rand() % 2) {
        memcpy(m->url, "https://e.com/2", 15);
        m->s.url.len = 15 - ts_rand() % 2;
    }
}


/*
 * apply is merge's rule for one event, written out: on every event and
 * any state, it must give what merging the event's own state gives.
 */

static void
test_apply_is_merge(void)
{
    int                same;
    unsigned           r, fa, fm;
    ts_store_t         base, a, b;
    mt_event_t         ev;
    mt_msgstate_t      one;
    mt_msgstate_str_t  one_s;
    static u_char      long_url[MT_MSGSTATE_URL_MAX + 8];
    static u_char      long_rcpt[MT_MSGSTATE_RCPT_MAX + 8];

    memcpy(long_url, "https://e.com/", 14);
    memset(long_url + 14, 'x', sizeof(long_url) - 14);
    memcpy(long_url + MT_MSGSTATE_URL_MAX - 1, "\xe2\x82\xac", 3);

    memset(long_rcpt, 'a', sizeof(long_rcpt));
    memcpy(long_rcpt + MT_MSGSTATE_RCPT_MAX - 2, "\xf0\x9f\x98\x80", 4);

    same = 1;

    for (r = 0; r < 200000; r++) {
        if (r % 2) {
            ts_random_state(&base);

        } else {
            ts_random_events(&ev, 1);
            ts_fold(&base, &ev, NULL, 1);
        }

        ts_random_events(&ev, 1);

        switch (ts_rand() % 8) {
        case 0:
            ev.type = (mt_event_type_e) (MT_EV_MAX + ts_rand() % 3);
            break;
        case 1:
            ev.src = (mt_src_e) (ts_rand() % 40);
            ev.bounce = (mt_bounce_e) (ts_rand() % (MT_BOUNCE_MAX + 3));
            break;
        case 2:
            ev.ts = -(int64_t) (ts_rand() % 3) * 1000;
            break;
        case 3:
            ev.url.data = long_url;
            ev.url.len = MT_MSGSTATE_URL_MAX - 2 + ts_rand() % 8;
            break;
        case 4:
            ev.rcpt.data = long_rcpt;
            ev.rcpt.len = MT_MSGSTATE_RCPT_MAX - 2 + ts_rand() % 8;
            break;
        default:
            break;
        }

        ts_copy(&a, &base);
        fa = mt_msgstate_apply(&a.st, &a.s, &ev);

        ts_copy(&b, &base);
        mt_msgstate_event(&one, &one_s, &ev);
        fm = mt_msgstate_merge(&b.st, &b.s, &one, &one_s);

        if (fa != fm || !ts_same(&a, &b)) {
            if (same) {
                diag("round %u: type %d src %d differs", r, (int) ev.type,
                     (int) ev.src);
            }

            same = 0;
        }
    }

    ok(same, "200,000 events on random states: apply == merge of the event");
}


int
main(void)
{
    test_empty();
    test_json();
    test_state();
    test_bounce();
    test_times();
    test_counts();
    test_url();
    test_rcpt();
    test_sources();
    test_cuts();
    test_strings();
    test_row();
    test_orders();
    test_apply_is_merge();

    return done_testing();
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * A message's state from its events; the rules are in docs/status.md.
 * An event becomes a state of its own, and merge folds states together
 * field by field with operations that are commutative and associative
 * (min, max, highest rank, add, or): the order of arrival cannot show.
 */


#include "mt_msgstate.h"


static int64_t mt_msgstate_first(int64_t a, int64_t b);
static uint32_t mt_msgstate_add(uint32_t a, uint32_t b);
static int mt_msgstate_cmp(const mt_str_t *a, const mt_str_t *b);
static size_t mt_msgstate_sources(const mt_msgstate_t *st,
    const mt_msgstate_str_t *s, mt_str_t *names);
static u_char *mt_msgstate_int(u_char *p, int64_t v);
static u_char *mt_msgstate_time(u_char *p, const char *name, size_t len,
    int64_t ms);


#define mt_msgstate_lit(p, lit)                                               \
    (memcpy(p, lit, sizeof(lit) - 1), (p) + sizeof(lit) - 1)

#define mt_msgstate_at(p, lit, ms)                                            \
    mt_msgstate_time(p, lit, sizeof(lit) - 1, ms)

/* a value read from a database may be anything: rank 0 then */
#define mt_msgstate_state_rank(state)                                         \
    ((unsigned) (state) <= MT_EV_MAX ? mt_msgstate_ranks[state] : 0)

#define mt_msgstate_bounce_rank(bounce)                                       \
    ((unsigned) (bounce) < MT_BOUNCE_MAX                                      \
     ? mt_msgstate_bounce_ranks[bounce] : 0)


/*
 * The delivery state only moves forward (sent < deferred < delivered);
 * a failure or a complaint overrides it.  Indexed by mt_event_type_e + 1.
 */
static const uint8_t  mt_msgstate_ranks[MT_EV_MAX + 1] = {
    0,      /* none */
    1,      /* sent */
    3,      /* delivered */
    2,      /* deferred */
    11,     /* bounced */
    10,     /* rejected */
    0,      /* opened */
    0,      /* clicked */
    12,     /* complained */
    0,      /* unsubscribed */
    0       /* other */
};

/* of two bounces at the same time, the graver class is shown */
static const uint8_t  mt_msgstate_bounce_ranks[MT_BOUNCE_MAX] = {
    0,      /* none */
    4,      /* hard */
    2,      /* soft */
    3,      /* block */
    1       /* undetermined */
};

void
mt_msgstate_init(mt_msgstate_t *st, mt_msgstate_str_t *s)
{
    memset(st, 0, sizeof(mt_msgstate_t));

    if (s != NULL) {
        memset(s, 0, sizeof(mt_msgstate_str_t));
    }
}


void
mt_msgstate_key(const mt_event_t *ev, mt_str_t *mid)
{
    mid->data = ev->mid.data;
    mid->len = mt_utf8_cut(ev->mid.data, ev->mid.len, MT_MSGSTATE_MID_MAX);
}


/*
 * merge(st, mt_msgstate_event(ev)) without building the event's state:
 * only the fields an event sets are looked at, each by merge's rule with
 * the event's value or its zero (t/unit/test_msgstate.c and
 * fuzz_msgstate check the two agree on every event and any state).
 */

unsigned
mt_msgstate_apply(mt_msgstate_t *st, mt_msgstate_str_t *s,
    const mt_event_t *ev)
{
    int64_t   at, bounced_at, opens_at, clicks_at;
    uint8_t   bounce;
    unsigned  flags, type;
    mt_str_t  rcpt, url;

    flags = 0;
    type = (unsigned) ev->type;

    at = (ev->ts > 0) ? ev->ts : (ev->rt > 0) ? ev->rt : 0;

    if ((unsigned) ev->src < MT_MSGSTATE_SOURCES) {
        st->sources |= (uint32_t) 1 << ev->src;
    }

    bounced_at = 0;
    bounce = MT_BOUNCE_NONE;
    opens_at = 0;
    clicks_at = 0;
    url.len = 0;

    if (type < MT_EV_MAX
        && mt_msgstate_state_rank(type + 1)
           > mt_msgstate_state_rank(st->state))
    {
        st->state = (uint8_t) (type + 1);
    }

    switch (type) {

    case MT_EV_SENT:
        st->sent_at = mt_msgstate_first(st->sent_at, at);
        break;

    case MT_EV_DELIVERED:
        st->delivered_at = mt_msgstate_first(st->delivered_at, at);
        break;

    case MT_EV_BOUNCED:
        bounced_at = at;
        bounce = ((unsigned) ev->bounce < MT_BOUNCE_MAX)
                 ? (uint8_t) ev->bounce : MT_BOUNCE_NONE;
        break;

    case MT_EV_COMPLAINED:
        st->complained_at = mt_msgstate_first(st->complained_at, at);
        break;

    case MT_EV_UNSUBSCRIBED:
        st->unsubscribed_at = mt_msgstate_first(st->unsubscribed_at, at);
        break;

    case MT_EV_OPENED:
        opens_at = at;
        st->opens = mt_msgstate_add(st->opens, 1);
        st->opens_machine = mt_msgstate_add(st->opens_machine,
                                            ev->machine == 1);
        st->opens_first = mt_msgstate_first(st->opens_first, at);
        break;

    case MT_EV_CLICKED:
        clicks_at = at;
        st->clicks = mt_msgstate_add(st->clicks, 1);
        st->clicks_machine = mt_msgstate_add(st->clicks_machine,
                                             ev->machine == 1);
        st->clicks_first = mt_msgstate_first(st->clicks_first, at);

        url.data = ev->url.data;
        url.len = mt_utf8_cut(ev->url.data, ev->url.len,
                              MT_MSGSTATE_URL_MAX);
        break;

    default:
        break;
    }

    /* an event's zeros still count here: a time below 0 becomes 0 */

    st->opens_last = mt_max(st->opens_last, opens_at);
    st->clicks_last = mt_max(st->clicks_last, clicks_at);

    if (bounced_at > st->bounced_at
        || (bounced_at == st->bounced_at
            && mt_msgstate_bounce_rank(bounce)
               > mt_msgstate_bounce_rank(st->bounce)))
    {
        st->bounced_at = bounced_at;
        st->bounce = bounce;
    }

    if (url.len
        && (s->url.len == 0
            || at > st->url_at
            || (at == st->url_at && mt_msgstate_cmp(&url, &s->url) > 0)))
    {
        st->url_at = at;
        s->url = url;
        flags |= MT_MSGSTATE_URL;
    }

    rcpt.data = ev->rcpt.data;
    rcpt.len = mt_utf8_cut(ev->rcpt.data, ev->rcpt.len,
                           MT_MSGSTATE_RCPT_MAX);

    if (rcpt.len
        && (s->rcpt.len == 0 || mt_msgstate_cmp(&rcpt, &s->rcpt) < 0))
    {
        s->rcpt = rcpt;
        flags |= MT_MSGSTATE_RCPT;
    }

    return flags;
}


/* one event as a state of its own */

void
mt_msgstate_event(mt_msgstate_t *one, mt_msgstate_str_t *s,
    const mt_event_t *ev)
{
    int64_t  at;

    memset(one, 0, sizeof(mt_msgstate_t));

    mt_msgstate_key(ev, &s->mid);

    s->rcpt.data = ev->rcpt.data;
    s->rcpt.len = mt_utf8_cut(ev->rcpt.data, ev->rcpt.len,
                              MT_MSGSTATE_RCPT_MAX);
    s->url.data = NULL;
    s->url.len = 0;

    /* the provider's time where given, else when it was received */
    at = (ev->ts > 0) ? ev->ts : (ev->rt > 0) ? ev->rt : 0;

    if ((unsigned) ev->src < MT_MSGSTATE_SOURCES) {
        one->sources = (uint32_t) 1 << ev->src;
    }

    if ((unsigned) ev->type >= MT_EV_MAX) {
        return;
    }

    if (mt_msgstate_state_rank(ev->type + 1)) {
        one->state = (uint8_t) (ev->type + 1);
    }

    switch (ev->type) {

    case MT_EV_SENT:
        one->sent_at = at;
        break;

    case MT_EV_DELIVERED:
        one->delivered_at = at;
        break;

    case MT_EV_BOUNCED:
        one->bounced_at = at;
        one->bounce = ((unsigned) ev->bounce < MT_BOUNCE_MAX)
                      ? (uint8_t) ev->bounce : MT_BOUNCE_NONE;
        break;

    case MT_EV_COMPLAINED:
        one->complained_at = at;
        break;

    case MT_EV_UNSUBSCRIBED:
        one->unsubscribed_at = at;
        break;

    case MT_EV_OPENED:
        one->opens = 1;
        one->opens_machine = (ev->machine == 1);
        one->opens_first = at;
        one->opens_last = at;
        break;

    case MT_EV_CLICKED:
        one->clicks = 1;
        one->clicks_machine = (ev->machine == 1);
        one->clicks_first = at;
        one->clicks_last = at;

        if (ev->url.len) {
            s->url.data = ev->url.data;
            s->url.len = mt_utf8_cut(ev->url.data, ev->url.len,
                                     MT_MSGSTATE_URL_MAX);
            one->url_at = at;
        }

        break;

    default:
        break;
    }
}


unsigned
mt_msgstate_merge(mt_msgstate_t *st, mt_msgstate_str_t *s,
    const mt_msgstate_t *from, const mt_msgstate_str_t *from_s)
{
    unsigned  flags;

    flags = 0;

    st->sent_at = mt_msgstate_first(st->sent_at, from->sent_at);
    st->delivered_at = mt_msgstate_first(st->delivered_at,
                                         from->delivered_at);
    st->complained_at = mt_msgstate_first(st->complained_at,
                                          from->complained_at);
    st->unsubscribed_at = mt_msgstate_first(st->unsubscribed_at,
                                            from->unsubscribed_at);
    st->opens_first = mt_msgstate_first(st->opens_first, from->opens_first);
    st->clicks_first = mt_msgstate_first(st->clicks_first,
                                         from->clicks_first);
    st->opens_last = mt_max(st->opens_last, from->opens_last);
    st->clicks_last = mt_max(st->clicks_last, from->clicks_last);

    st->opens = mt_msgstate_add(st->opens, from->opens);
    st->opens_machine = mt_msgstate_add(st->opens_machine,
                                        from->opens_machine);
    st->clicks = mt_msgstate_add(st->clicks, from->clicks);
    st->clicks_machine = mt_msgstate_add(st->clicks_machine,
                                         from->clicks_machine);

    st->sources |= from->sources;

    if (mt_msgstate_state_rank(from->state)
        > mt_msgstate_state_rank(st->state))
    {
        st->state = from->state;
    }

    /* the bounce shown is the latest; of two at once, the graver */

    if (from->bounced_at > st->bounced_at
        || (from->bounced_at == st->bounced_at
            && mt_msgstate_bounce_rank(from->bounce)
               > mt_msgstate_bounce_rank(st->bounce)))
    {
        st->bounced_at = from->bounced_at;
        st->bounce = from->bounce;
    }

    /* the url of the latest click; of two at once, the greater bytes */

    if (from_s->url.len
        && (s->url.len == 0
            || from->url_at > st->url_at
            || (from->url_at == st->url_at
                && mt_msgstate_cmp(&from_s->url, &s->url) > 0)))
    {
        st->url_at = from->url_at;
        s->url = from_s->url;
        flags |= MT_MSGSTATE_URL;
    }

    /* events of one message name one recipient; if not, the least bytes */

    if (from_s->rcpt.len
        && (s->rcpt.len == 0 || mt_msgstate_cmp(&from_s->rcpt, &s->rcpt) < 0))
    {
        s->rcpt = from_s->rcpt;
        flags |= MT_MSGSTATE_RCPT;
    }

    return flags;
}


/* the earlier of two times, 0 being unknown */

static int64_t
mt_msgstate_first(int64_t a, int64_t b)
{
    if (a == 0) {
        return b;
    }

    if (b == 0) {
        return a;
    }

    return mt_min(a, b);
}


static uint32_t
mt_msgstate_add(uint32_t a, uint32_t b)
{
    return (a > UINT32_MAX - b) ? UINT32_MAX : a + b;
}


static int
mt_msgstate_cmp(const mt_str_t *a, const mt_str_t *b)
{
    int  rc;

    rc = memcmp(a->data, b->data, mt_min(a->len, b->len));

    if (rc != 0) {
        return rc;
    }

    return (a->len > b->len) - (a->len < b->len);
}


unsigned
mt_msgstate_order(unsigned state)
{
    return mt_msgstate_state_rank(state);
}


unsigned
mt_msgstate_bounce_order(unsigned bounce)
{
    return mt_msgstate_bounce_rank(bounce);
}


const char *
mt_msgstate_state_name(const mt_msgstate_t *st)
{
    if (st->state == 0 || st->state > MT_EV_MAX) {
        return NULL;
    }

    return mt_event_type_names[st->state - 1];
}


size_t
mt_msgstate_json_size(const mt_msgstate_str_t *s)
{
    return sizeof("{\"message_id\":,\"recipient\":,\"state\":\"unsubscribed\","
                  "\"sent_at\":,\"delivered_at\":,"
                  "\"bounce\":\"undetermined\",\"bounced_at\":,"
                  "\"complained_at\":,\"unsubscribed_at\":,"
                  "\"opens\":{\"count\":,\"machine\":,\"first_at\":,"
                  "\"last_at\":},\"clicks\":{\"count\":,\"machine\":,"
                  "\"first_at\":,\"last_at\":,\"last_url\":},"
                  "\"sources\":[]}")
           + 6 * (s->mid.len + s->rcpt.len + s->url.len) + 6
           + 13 * sizeof("-9223372036854775808")
           + MT_MSGSTATE_SOURCES * (6 * MT_MSGSTATE_NAME_MAX + 3);
}


u_char *
mt_msgstate_json(u_char *p, const mt_msgstate_t *st,
    const mt_msgstate_str_t *s)
{
    size_t       i, n;
    mt_str_t     names[MT_MSGSTATE_SOURCES];
    const char  *name;

    p = mt_msgstate_lit(p, "{\"message_id\":");
    p = mt_json_quote(p, s->mid.data, s->mid.len);

    p = mt_msgstate_lit(p, ",\"recipient\":");

    if (s->rcpt.len) {
        p = mt_json_quote(p, s->rcpt.data, s->rcpt.len);

    } else {
        p = mt_msgstate_lit(p, "null");
    }

    p = mt_msgstate_lit(p, ",\"state\":");

    name = mt_msgstate_state_name(st);

    if (name != NULL) {
        p = mt_json_quote(p, (u_char *) name, strlen(name));

    } else {
        p = mt_msgstate_lit(p, "null");
    }

    p = mt_msgstate_at(p, ",\"sent_at\":", st->sent_at);
    p = mt_msgstate_at(p, ",\"delivered_at\":", st->delivered_at);

    p = mt_msgstate_lit(p, ",\"bounce\":");

    if (st->bounce != MT_BOUNCE_NONE && st->bounce < MT_BOUNCE_MAX) {
        name = mt_bounce_names[st->bounce];
        p = mt_json_quote(p, (u_char *) name, strlen(name));

    } else {
        p = mt_msgstate_lit(p, "null");
    }

    p = mt_msgstate_at(p, ",\"bounced_at\":", st->bounced_at);
    p = mt_msgstate_at(p, ",\"complained_at\":", st->complained_at);
    p = mt_msgstate_at(p, ",\"unsubscribed_at\":", st->unsubscribed_at);

    p = mt_msgstate_lit(p, ",\"opens\":{\"count\":");
    p = mt_msgstate_int(p, st->opens);
    p = mt_msgstate_lit(p, ",\"machine\":");
    p = mt_msgstate_int(p, st->opens_machine);
    p = mt_msgstate_at(p, ",\"first_at\":", st->opens_first);
    p = mt_msgstate_at(p, ",\"last_at\":", st->opens_last);

    p = mt_msgstate_lit(p, "},\"clicks\":{\"count\":");
    p = mt_msgstate_int(p, st->clicks);
    p = mt_msgstate_lit(p, ",\"machine\":");
    p = mt_msgstate_int(p, st->clicks_machine);
    p = mt_msgstate_at(p, ",\"first_at\":", st->clicks_first);
    p = mt_msgstate_at(p, ",\"last_at\":", st->clicks_last);

    p = mt_msgstate_lit(p, ",\"last_url\":");

    if (s->url.len) {
        p = mt_json_quote(p, s->url.data, s->url.len);

    } else {
        p = mt_msgstate_lit(p, "null");
    }

    p = mt_msgstate_lit(p, "},\"sources\":[");

    n = mt_msgstate_sources(st, s, names);

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        p = mt_json_quote(p, names[i].data, names[i].len);
    }

    *p++ = ']';
    *p++ = '}';

    return p;
}


/*
 * "sources", a set sorted by name: the built-in providers', and the
 * generic ones' by the names the caller gave (a name twice counts once)
 */

static size_t
mt_msgstate_sources(const mt_msgstate_t *st, const mt_msgstate_str_t *s,
    mt_str_t *names)
{
    size_t    i, n, k;
    unsigned  src;
    mt_str_t  name;

    n = 0;

    for (src = 0; src < MT_MSGSTATE_SOURCES; src++) {
        if (!(st->sources & ((uint32_t) 1 << src))) {
            continue;
        }

        k = src - MT_SRC_GENERIC;

        if (src < MT_SRC_GENERIC) {
            name.data = (u_char *) mt_src_names[src];
            name.len = strlen(mt_src_names[src]);

        } else if (s->generic != NULL && k < s->ngeneric
                   && s->generic[k].len)
        {
            name.data = s->generic[k].data;
            name.len = mt_min(s->generic[k].len, MT_MSGSTATE_NAME_MAX);

        } else {
            name.data = (u_char *) "generic";
            name.len = sizeof("generic") - 1;
        }

        for (i = 0; i < n && mt_msgstate_cmp(&names[i], &name) < 0; i++) {
            /* void */
        }

        if (i < n && mt_msgstate_cmp(&names[i], &name) == 0) {
            continue;
        }

        memmove(&names[i + 1], &names[i], (n - i) * sizeof(mt_str_t));
        names[i] = name;
        n++;
    }

    return n;
}


static u_char *
mt_msgstate_time(u_char *p, const char *name, size_t len, int64_t ms)
{
    memcpy(p, name, len);
    p += len;

    if (ms == 0) {
        return mt_msgstate_lit(p, "null");
    }

    return mt_msgstate_int(p, ms);
}


static u_char *
mt_msgstate_int(u_char *p, int64_t v)
{
    u_char    buf[24], *d;
    uint64_t  u;

    u = (v < 0) ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;
    d = buf + sizeof(buf);

    do {
        *--d = (u_char) ('0' + u % 10);
        u /= 10;
    } while (u);

    if (v < 0) {
        *--d = '-';
    }

    memcpy(p, d, buf + sizeof(buf) - d);

    return p + (buf + sizeof(buf) - d);
}

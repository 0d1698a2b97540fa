
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * A message state kept the way a caller of core/mt_msgstate.h keeps one
 * (the zone, a database row): the state and its own copies of the
 * strings.  Shared by t/unit/test_msgstate.c and t/fuzz/fuzz_msgstate.c.
 */


#ifndef _MT_MS_TEST_H_INCLUDED_
#define _MT_MS_TEST_H_INCLUDED_


#include "mt_msgstate.h"


typedef struct {
    mt_msgstate_t      st;
    mt_msgstate_str_t  s;
    u_char             mid[MT_MSGSTATE_MID_MAX];
    u_char             rcpt[MT_MSGSTATE_RCPT_MAX];
    u_char             url[MT_MSGSTATE_URL_MAX];
} ts_store_t;


static inline void
ts_init(ts_store_t *m)
{
    mt_msgstate_init(&m->st, &m->s);
    m->s.mid.data = m->mid;
    m->s.rcpt.data = m->rcpt;
    m->s.url.data = m->url;
}


/* what the caller does with the flags: copy the new bytes into its own */

static inline void
ts_keep(ts_store_t *m, unsigned flags)
{
    if (flags & MT_MSGSTATE_RCPT) {
        memmove(m->rcpt, m->s.rcpt.data, m->s.rcpt.len);
        m->s.rcpt.data = m->rcpt;
    }

    if (flags & MT_MSGSTATE_URL) {
        memmove(m->url, m->s.url.data, m->s.url.len);
        m->s.url.data = m->url;
    }
}


/* a copy in its own storage */

static inline void
ts_copy(ts_store_t *dst, const ts_store_t *src)
{
    ts_init(dst);

    dst->st = src->st;
    memcpy(dst->mid, src->s.mid.data, src->s.mid.len);
    dst->s.mid.len = src->s.mid.len;
    memcpy(dst->rcpt, src->s.rcpt.data, src->s.rcpt.len);
    dst->s.rcpt.len = src->s.rcpt.len;
    memcpy(dst->url, src->s.url.data, src->s.url.len);
    dst->s.url.len = src->s.url.len;
}


/* the same state and strings */

static inline int
ts_same(const ts_store_t *a, const ts_store_t *b)
{
    const mt_msgstate_t  *x, *y;

    x = &a->st;
    y = &b->st;

    return x->sent_at == y->sent_at && x->delivered_at == y->delivered_at
           && x->bounced_at == y->bounced_at
           && x->complained_at == y->complained_at
           && x->unsubscribed_at == y->unsubscribed_at
           && x->opens_first == y->opens_first
           && x->opens_last == y->opens_last
           && x->clicks_first == y->clicks_first
           && x->clicks_last == y->clicks_last && x->url_at == y->url_at
           && x->opens == y->opens && x->opens_machine == y->opens_machine
           && x->clicks == y->clicks
           && x->clicks_machine == y->clicks_machine
           && x->sources == y->sources && x->state == y->state
           && x->bounce == y->bounce
           && a->s.mid.len == b->s.mid.len
           && memcmp(a->s.mid.data, b->s.mid.data, a->s.mid.len) == 0
           && a->s.rcpt.len == b->s.rcpt.len
           && memcmp(a->s.rcpt.data, b->s.rcpt.data, a->s.rcpt.len) == 0
           && a->s.url.len == b->s.url.len
           && memcmp(a->s.url.data, b->s.url.data, a->s.url.len) == 0;
}


#endif /* _MT_MS_TEST_H_INCLUDED_ */

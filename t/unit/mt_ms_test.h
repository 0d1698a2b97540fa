
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


#endif /* _MT_MS_TEST_H_INCLUDED_ */

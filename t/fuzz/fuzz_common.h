
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * What the webhook fuzz targets share: splitting an input into lines,
 * and the record contract every emitted event must keep.
 */


#ifndef _FUZZ_COMMON_H_INCLUDED_
#define _FUZZ_COMMON_H_INCLUDED_


#include <stdint.h>

#include "mt_wh_test.h"


/* the next line of the input, as a new C string for the caller to free */

static inline char *
fuzz_line(const uint8_t **p, size_t *len)
{
    char           *s;
    size_t          n;
    const uint8_t  *nl;

    nl = memchr(*p, '\n', *len);
    n = nl ? (size_t) (nl - *p) : *len;

    s = malloc(n + 1);
    memcpy(s, *p, n);
    s[n] = '\0';

    *p += nl ? n + 1 : n;
    *len -= nl ? n + 1 : n;

    return s;
}


/*
 * What must hold whatever the input (wh_test_emit checks the encoding):
 * a known answer, a batch checked whole before its first event is
 * queued, and events of src that keep the record contract.
 */

static inline void
fuzz_check_events(wh_test_t *t, mt_rc_t rc, mt_src_e src)
{
    unsigned     i;
    mt_event_t  *e;

    if (rc >= MT_RC_MAX) {
        abort();
    }

    if ((rc != MT_OK && t->nevents != 0) || (rc == MT_OK && t->nevents == 0))
    {
        abort();
    }

    for (i = 0; i < t->nevents; i++) {
        e = &t->events[i];

        if (e->type >= MT_EV_MAX || e->bounce >= MT_BOUNCE_MAX
            || e->src != src || e->esp_type.len == 0)
        {
            abort();
        }

        if (e->bounce != MT_BOUNCE_NONE && e->type != MT_EV_BOUNCED
            && e->type != MT_EV_DEFERRED)
        {
            abort();
        }

        if ((e->url.len || e->ip.len || e->ua.len
             || e->machine != MT_MACHINE_UNKNOWN)
            && e->type != MT_EV_OPENED && e->type != MT_EV_CLICKED)
        {
            abort();
        }
    }
}


#endif /* _FUZZ_COMMON_H_INCLUDED_ */

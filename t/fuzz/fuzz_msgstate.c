
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target for a message's state (mt_msgstate.c).  The input is
 * read as a list of events, 8 bytes of fields each and then, by two
 * length bytes, a recipient and a url taken from the input itself.  The
 * list is folded forwards, backwards and in two merged halves: any
 * difference is a rule that depends on the order of arrival.  The JSON
 * must stay within json_size and be valid UTF-8.  Each event applied
 * must change the state as merging the event's own state would.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mt_ms_test.h"


#define FUZZ_EVENTS  64


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static size_t fuzz_events(const uint8_t *data, size_t size, mt_event_t *evs);
static void fuzz_fold(ts_store_t *f, mt_event_t *evs, size_t from,
    size_t to, int back);
static size_t fuzz_json(ts_store_t *f, u_char *buf);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t         n, len, half;
    unsigned       flags;
    mt_event_t     evs[FUZZ_EVENTS];
    ts_store_t   fwd, back, one, two;
    static u_char  a[32768], b[32768];

    n = fuzz_events(data, size, evs);

    fuzz_fold(&fwd, evs, 0, n, 0);
    fuzz_fold(&back, evs, 0, n, 1);

    half = n / 2;
    fuzz_fold(&one, evs, 0, half, 1);
    fuzz_fold(&two, evs, half, n, 0);
    flags = mt_msgstate_merge(&two.st, &two.s, &one.st, &one.s);
    ts_keep(&two, flags);

    len = fuzz_json(&fwd, a);

    if (len >= mt_msgstate_json_size(&fwd.s) || !mt_utf8_valid(a, len)) {
        abort();
    }

    if (fuzz_json(&back, b) != len || memcmp(a, b, len) != 0
        || back.st.url_at != fwd.st.url_at)
    {
        abort();
    }

    if (fuzz_json(&two, b) != len || memcmp(a, b, len) != 0
        || two.st.url_at != fwd.st.url_at)
    {
        abort();
    }

    return 0;
}


static size_t
fuzz_events(const uint8_t *data, size_t size, mt_event_t *evs)
{
    size_t       n, rl, ul;
    mt_event_t  *ev;

    for (n = 0; n < FUZZ_EVENTS && size >= 10; n++) {
        ev = &evs[n];

        mt_event_init(ev);

        /* out of range values too: a record read back may hold anything */
        ev->type = (mt_event_type_e) (data[0] % (MT_EV_MAX + 1));
        ev->src = (mt_src_e) (data[1] % (MT_SRC_MAX + 1));
        ev->bounce = (mt_bounce_e) (data[2] % (MT_BOUNCE_MAX + 1));
        ev->machine = (int) (data[3] % 3) - 1;
        ev->ts = (int64_t) (int8_t) data[4] * 1000;
        ev->rt = (int64_t) data[5] * 500;
        ev->mid.data = (u_char *) "m";
        ev->mid.len = 1;

        rl = data[6] % 8;
        ul = data[7];

        data += 10;
        size -= 10;

        rl = mt_min(rl, size);
        ev->rcpt.data = (u_char *) data;
        ev->rcpt.len = rl;

        ul = mt_min(ul, size);
        ev->url.data = (u_char *) data + (size - ul);
        ev->url.len = ul;
    }

    return n;
}


static void
fuzz_fold(ts_store_t *f, mt_event_t *evs, size_t from, size_t to,
    int back)
{
    size_t             i;
    unsigned           flags, mflags;
    mt_event_t        *ev;
    mt_msgstate_t      one;
    mt_msgstate_str_t  one_s;
    static ts_store_t  m;

    ts_init(f);
    f->mid[0] = 'm';
    f->s.mid.len = 1;

    for (i = from; i < to; i++) {
        ev = &evs[back ? to - 1 - (i - from) : i];

        /* apply is merge's rule for one event, written out: the same */

        ts_copy(&m, f);
        mt_msgstate_event(&one, &one_s, ev);
        mflags = mt_msgstate_merge(&m.st, &m.s, &one, &one_s);
        ts_keep(&m, mflags);

        flags = mt_msgstate_apply(&f->st, &f->s, ev);
        ts_keep(f, flags);

        if (flags != mflags || !ts_same(f, &m)) {
            abort();
        }
    }
}


static size_t
fuzz_json(ts_store_t *f, u_char *buf)
{
    return mt_msgstate_json(buf, &f->st, &f->s) - buf;
}

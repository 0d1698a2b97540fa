
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The libFuzzer target of a provider that signs nothing (define FUZZ_SRC
 * and FUZZ_NORMALIZE, then include this): the input is the body, given
 * straight to the normalizer and then as a whole request with a valid
 * credential; every event emitted must keep the record contract.
 */


#ifndef _FUZZ_UNSIGNED_H_INCLUDED_
#define _FUZZ_UNSIGNED_H_INCLUDED_


#include <stdint.h>

#include "mt_wh_test.h"


#define FUZZ_KEY  "fuzz-secret"
#define FUZZ_NOW  1764000000


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_wh(wh_test_t *t, const uint8_t *data, size_t size);
static void fuzz_check(wh_test_t *t, mt_rc_t rc);


static wh_test_t     t;
static mt_wh_conf_t  conf;
static mt_wh_key_t   key;
static int           ready;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_rc_t  rc;

    if (!ready) {
        wh_conf(&conf, &key, FUZZ_SRC, FUZZ_KEY);
        ready = 1;
    }

    wh_reset(&t);
    fuzz_wh(&t, data, size);
    rc = FUZZ_NORMALIZE(&t.wh);
    fuzz_check(&t, rc);

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer " FUZZ_KEY);
    rc = wh_run(&t, &conf, "application/json", data, size, FUZZ_NOW);
    fuzz_check(&t, rc);

    return 0;
}


/* the request as wh_run() sets it up, without running the provider */

static void
fuzz_wh(wh_test_t *t, const uint8_t *data, size_t size)
{
    memset(&t->wh, 0, sizeof(mt_wh_t));

    t->wh.conf = &conf;
    mt_str_set(&t->wh.method, "POST");
    mt_str_set(&t->wh.content_type, "application/json");
    t->wh.body = data;
    t->wh.body_len = size;
    t->wh.now_ms = FUZZ_NOW * 1000LL;
    t->wh.header = wh_test_header;
    t->wh.alloc.alloc = wh_test_alloc;
    t->wh.alloc.data = t;
    t->wh.emit = wh_test_emit;
    t->wh.replay = wh_test_replay;
    t->wh.cert = wh_test_cert;
    t->wh.data = t;
}


/* what must hold whatever the input (wh_test_emit checks the encoding) */

static void
fuzz_check(wh_test_t *t, mt_rc_t rc)
{
    unsigned     i;
    mt_event_t  *e;

    if (rc >= MT_RC_MAX) {
        abort();
    }

    /* a batch is checked whole before its first event is queued */

    if ((rc != MT_OK && t->nevents != 0) || (rc == MT_OK && t->nevents == 0))
    {
        abort();
    }

    for (i = 0; i < t->nevents; i++) {
        e = &t->events[i];

        if (e->type >= MT_EV_MAX || e->bounce >= MT_BOUNCE_MAX
            || e->src != FUZZ_SRC || e->esp_type.len == 0)
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


#endif /* _FUZZ_UNSIGNED_H_INCLUDED_ */

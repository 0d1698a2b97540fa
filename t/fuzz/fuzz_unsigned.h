
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

#include "fuzz_common.h"


#define FUZZ_KEY  "fuzz-secret"
#define FUZZ_NOW  1764000000


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


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
    wh_setup(&t, &conf, "application/json", data, size, FUZZ_NOW);
    rc = FUZZ_NORMALIZE(&t.wh);
    fuzz_check_events(&t, rc, FUZZ_SRC);

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer " FUZZ_KEY);
    rc = wh_run(&t, &conf, "application/json", data, size, FUZZ_NOW);
    fuzz_check_events(&t, rc, FUZZ_SRC);

    return 0;
}


#endif /* _FUZZ_UNSIGNED_H_INCLUDED_ */

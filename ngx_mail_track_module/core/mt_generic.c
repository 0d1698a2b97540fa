
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The generic provider's request: authenticate (over the raw bytes, or
 * after the parse when a value comes from the body), check the time,
 * take the nonce, build every event, spend the nonce, emit.
 */


#include "mt_generic.h"


static mt_rc_t mt_gen_run(mt_gen_req_t *rq);
static void mt_gen_req_init(mt_gen_req_t *rq, mt_wh_t *wh);


mt_rc_t
mt_generic_process(mt_wh_t *wh)
{
    mt_gen_req_t   rq;

    mt_gen_req_init(&rq, wh);

    return mt_gen_run(&rq);
}


static mt_rc_t
mt_gen_run(mt_gen_req_t *rq)
{
    mt_rc_t  rc;

    /*
     * Authentication that needs no field of the body comes first: a
     * forged request is refused before its body is parsed.
     */

    if (rq->gc->auth_fields) {
        rc = mt_gen_parse(rq);

        if (rc == MT_OK) {
            rc = mt_gen_authenticate(rq);
        }

    } else {
        rc = mt_gen_authenticate(rq);

        if (rc == MT_OK) {
            rc = mt_gen_parse(rq);
        }
    }

    if (rc != MT_OK) {
        return rc;
    }

    /* after the signature: "stale" then means a genuine late delivery */

    rc = mt_gen_check_time(rq);
    if (rc != MT_OK) {
        return rc;
    }

    rc = mt_gen_get_nonce(rq);
    if (rc != MT_OK) {
        return rc;
    }

    return mt_gen_events(rq);
}


/* the payload alone, for the fuzzers: no authentication, no nonce */

mt_rc_t
mt_generic_normalize(mt_wh_t *wh)
{
    mt_rc_t        rc;
    mt_gen_req_t   rq;

    mt_gen_req_init(&rq, wh);

    rc = mt_gen_parse(&rq);

    if (rc == MT_OK) {
        rc = mt_gen_events(&rq);
    }

    return rc;
}


static void
mt_gen_req_init(mt_gen_req_t *rq, mt_wh_t *wh)
{
    memset(rq, 0, sizeof(mt_gen_req_t));

    rq->wh = wh;
    rq->gc = wh->conf->generic;
}

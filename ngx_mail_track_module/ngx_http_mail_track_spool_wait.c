
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Durable acknowledgements: a request waits, without blocking the
 * worker, until the records it queued (or the originals of its
 * duplicates) are on disk.  Any worker may write them, so the waiters
 * of this worker look at the zone after each of its own flushes and on
 * a short poll.  A waiter lives in its request's pool: a pool cleanup
 * takes it off the list however the request ends.
 */


#include "ngx_http_mail_track_spool_wait.h"
#include "ngx_http_mail_track_spool_flush.h"


#define NGX_HTTP_MAIL_TRACK_POLL        5


typedef struct {
    ngx_http_mail_track_zone_t        *zone;
    ngx_queue_t                        waiters;
    ngx_event_t                        poll;
} ngx_http_mail_track_waiters_t;


static void ngx_http_mail_track_spool_poll(ngx_event_t *ev);
static void ngx_http_mail_track_spool_waiter_cleanup(void *data);


static ngx_http_mail_track_waiters_t  ngx_http_mail_track_waiters;


void
ngx_http_mail_track_spool_wait_init(ngx_http_mail_track_zone_t *zone)
{
    ngx_http_mail_track_waiters_t  *ws;

    ws = &ngx_http_mail_track_waiters;

    ws->zone = zone;
    ngx_queue_init(&ws->waiters);

    ws->poll.handler = ngx_http_mail_track_spool_poll;
    ws->poll.data = ws;
    ws->poll.log = ngx_cycle->log;
}


/*
 * NGX_OK: the records are on disk already.  NGX_AGAIN: the waiter is
 * called later, from an event: never from within this call, so that a
 * handler finalizing its request cannot pull the request from under the
 * caller.  The next flush is asked to make everything up to w->seq
 * durable: the original of a duplicate may have been queued without.
 */

ngx_int_t
ngx_http_mail_track_spool_wait(ngx_http_mail_track_waiter_t *w,
    ngx_pool_t *pool)
{
    ngx_pool_cleanup_t             *cln;
    ngx_http_mail_track_sh_t       *sh;
    ngx_http_mail_track_waiters_t  *ws;

    ws = &ngx_http_mail_track_waiters;

    if (ws->zone == NULL) {
        return NGX_ERROR;
    }

    sh = ws->zone->sh;

    if (sh->durable_seq > w->seq) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mail_track_spool_waiter_cleanup;
    cln->data = w;

    ngx_shmtx_lock(&ws->zone->shpool->mutex);

    if (sh->spool.sync_seq <= w->seq) {
        sh->spool.sync_seq = w->seq + 1;
    }

    ngx_shmtx_unlock(&ws->zone->shpool->mutex);

    ngx_queue_insert_tail(&ws->waiters, &w->queue);
    w->active = 1;

    ngx_http_mail_track_spool_flush_soon();

    if (!ws->poll.timer_set) {
        ngx_add_timer(&ws->poll, NGX_HTTP_MAIL_TRACK_POLL);
    }

    return NGX_AGAIN;
}


void
ngx_http_mail_track_spool_unwait(ngx_http_mail_track_waiter_t *w)
{
    if (w->active) {
        ngx_queue_remove(&w->queue);
        w->active = 0;
    }
}


static void
ngx_http_mail_track_spool_waiter_cleanup(void *data)
{
    ngx_http_mail_track_spool_unwait(data);
}


/* answers the waiters whose records are on disk, or whose time is up */

void
ngx_http_mail_track_spool_wake(ngx_uint_t all)
{
    uint64_t                        durable;
    ngx_queue_t                    *q, *next;
    ngx_msec_t                      now;
    ngx_http_mail_track_waiter_t   *w;
    ngx_http_mail_track_waiters_t  *ws;

    ws = &ngx_http_mail_track_waiters;

    if (ws->zone == NULL || ngx_queue_empty(&ws->waiters)) {
        return;
    }

    durable = ws->zone->sh->durable_seq;
    now = ngx_current_msec;

    for (q = ngx_queue_head(&ws->waiters);
         q != ngx_queue_sentinel(&ws->waiters);
         q = next)
    {
        next = ngx_queue_next(q);
        w = ngx_queue_data(q, ngx_http_mail_track_waiter_t, queue);

        if (durable > w->seq) {
            ngx_queue_remove(q);
            w->active = 0;
            w->handler(w->data, NGX_OK);
            continue;
        }

        if (all || (ngx_msec_int_t) (now - w->deadline) >= 0) {
            ngx_queue_remove(q);
            w->active = 0;
            w->handler(w->data, NGX_ERROR);
        }
    }

    if (!ngx_queue_empty(&ws->waiters) && !ws->poll.timer_set) {
        ngx_add_timer(&ws->poll, NGX_HTTP_MAIL_TRACK_POLL);
    }
}


static void
ngx_http_mail_track_spool_poll(ngx_event_t *ev)
{
    /* another worker may hold the role: look again, and help it along */

    ngx_http_mail_track_spool_flush_now();
    ngx_http_mail_track_spool_wake(0);
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The message states behind mail_track_status: one entry per message
 * id, in a chained hash table with an LRU queue; the least recently
 * updated go first when the zone is full (a view the spool can rebuild).
 */


#include "ngx_http_mail_track_msgstat.h"


static ngx_http_mail_track_status_t *ngx_http_mail_track_status_find(
    ngx_http_mail_track_sh_t *sh, uint64_t *hash);
static ngx_uint_t ngx_http_mail_track_state_rank(ngx_uint_t state);


/*
 * Message states take 256 bytes or more each and may fill what the
 * queue leaves: a bucket per 512 bytes keeps the chains at two nodes
 * or fewer on average even then.
 */

ngx_int_t
ngx_http_mail_track_msgstat_init(ngx_http_mail_track_zone_t *zone,
    size_t room)
{
    ngx_http_mail_track_sh_t  *sh;

    sh = zone->sh;

    for (sh->nstatus = 1024; sh->nstatus * 2 <= room / 512; sh->nstatus *= 2)
    {
        /* void */
    }

    sh->status = ngx_slab_calloc(zone->shpool, sh->nstatus * sizeof(void *));
    if (sh->status == NULL) {
        return NGX_ERROR;
    }

    ngx_queue_init(&sh->status_lru);

    return NGX_OK;
}


static ngx_http_mail_track_status_t *
ngx_http_mail_track_status_find(ngx_http_mail_track_sh_t *sh, uint64_t *hash)
{
    ngx_http_mail_track_status_t  *st;

    for (st = sh->status[hash[0] & (sh->nstatus - 1)]; st; st = st->next) {
        if (st->hash[0] == hash[0] && st->hash[1] == hash[1]) {
            return st;
        }
    }

    return NULL;
}


void
ngx_http_mail_track_msgstat_evict(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t n)
{
    ngx_queue_t                    *q;
    ngx_http_mail_track_sh_t       *sh;
    ngx_http_mail_track_status_t   *st, **p;

    sh = zone->sh;

    while (n-- && !ngx_queue_empty(&sh->status_lru)) {
        q = ngx_queue_last(&sh->status_lru);
        st = ngx_queue_data(q, ngx_http_mail_track_status_t, queue);

        ngx_queue_remove(q);

        for (p = &sh->status[st->hash[0] & (sh->nstatus - 1)]; *p;
             p = &(*p)->next)
        {
            if (*p == st) {
                *p = st->next;
                break;
            }
        }

        if (st->url) {
            ngx_slab_free_locked(zone->shpool, st->url);
        }

        ngx_slab_free_locked(zone->shpool, st);
        sh->status_n--;
    }
}


/* the delivery state only moves forward; a failure overrides it */

static ngx_uint_t
ngx_http_mail_track_state_rank(ngx_uint_t state)
{
    switch (state) {
    case MT_EV_SENT + 1: return 1;
    case MT_EV_DEFERRED + 1: return 2;
    case MT_EV_DELIVERED + 1: return 3;
    case MT_EV_REJECTED + 1: return 10;
    case MT_EV_BOUNCED + 1: return 11;
    case MT_EV_COMPLAINED + 1: return 12;
    default: return 0;
    }
}


/*
 * With the entry being updated off the LRU queue until it is done, making
 * room for its url cannot evict it (and free it under our feet).
 */

void
ngx_http_mail_track_status_update(ngx_http_mail_track_zone_t *zone,
    mt_event_t *ev)
{
    size_t                          mlen, rlen, ulen;
    int64_t                         at;
    uint64_t                        hash[2];
    u_char                          md[NGX_HTTP_MAIL_TRACK_HASH_LEN];
    ngx_http_mail_track_sh_t       *sh;
    ngx_http_mail_track_status_t   *st, **bucket;

    if (ev->mid.len == 0) {
        return;
    }

    sh = zone->sh;
    mlen = ngx_min(ev->mid.len, 255);
    at = ev->ts ? ev->ts : ev->rt;

    mt_hash128("status", ev->mid.data, mlen, md);
    ngx_memcpy(hash, md, sizeof(hash));

    ngx_shmtx_lock(&zone->shpool->mutex);

    st = ngx_http_mail_track_status_find(sh, hash);

    if (st == NULL) {
        rlen = ngx_min(ev->rcpt.len, 255);

        st = ngx_http_mail_track_zone_alloc(zone,
                           offsetof(ngx_http_mail_track_status_t, data)
                           + mlen + rlen);
        if (st == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return;
        }

        ngx_memzero(st, offsetof(ngx_http_mail_track_status_t, data));
        ngx_memcpy(st->hash, hash, sizeof(hash));

        st->mid_len = (u_char) mlen;
        st->rcpt_len = (u_char) rlen;
        ngx_memcpy(st->data, ev->mid.data, mlen);
        ngx_memcpy(st->data + mlen, ev->rcpt.data, rlen);

        bucket = &sh->status[hash[0] & (sh->nstatus - 1)];
        st->next = *bucket;
        *bucket = st;

        sh->status_n++;

    } else {
        ngx_queue_remove(&st->queue);
    }

    st->sources |= (uint16_t) (1 << ev->src);

    switch (ev->type) {

    case MT_EV_OPENED:
        st->opens++;
        st->opens_machine += (ev->machine == 1);
        st->opens_first = st->opens_first ? ngx_min(st->opens_first, at) : at;
        st->opens_last = ngx_max(st->opens_last, at);
        break;

    case MT_EV_CLICKED:
        st->clicks++;
        st->clicks_machine += (ev->machine == 1);
        st->clicks_first = st->clicks_first ? ngx_min(st->clicks_first, at)
                                            : at;

        if (at >= st->clicks_last && ev->url.len) {
            ulen = ngx_min(ev->url.len, 2048);

            if (st->url && st->url_len != ulen) {
                ngx_slab_free_locked(zone->shpool, st->url);
                st->url = NULL;
            }

            if (st->url == NULL) {
                st->url = ngx_http_mail_track_zone_alloc(zone, ulen);
            }

            if (st->url) {
                ngx_memcpy(st->url, ev->url.data, ulen);
                st->url_len = (uint16_t) ulen;
            }
        }

        st->clicks_last = ngx_max(st->clicks_last, at);
        break;

    case MT_EV_UNSUBSCRIBED:
        st->unsubscribed_at = st->unsubscribed_at
                              ? ngx_min(st->unsubscribed_at, at) : at;
        break;

    case MT_EV_SENT:
        st->sent_at = st->sent_at ? ngx_min(st->sent_at, at) : at;
        break;

    case MT_EV_DELIVERED:
        st->delivered_at = st->delivered_at ? ngx_min(st->delivered_at, at)
                                            : at;
        break;

    case MT_EV_BOUNCED:
        st->bounced_at = at;
        st->bounce = (u_char) ev->bounce;
        break;

    case MT_EV_COMPLAINED:
        st->complained_at = st->complained_at
                            ? ngx_min(st->complained_at, at) : at;
        break;

    default:
        break;
    }

    if (ngx_http_mail_track_state_rank(ev->type + 1)
        > ngx_http_mail_track_state_rank(st->state))
    {
        st->state = (u_char) (ev->type + 1);
    }

    ngx_queue_insert_head(&sh->status_lru, &st->queue);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* a copy of a message's status, taken under the lock; NGX_DECLINED: none */

ngx_int_t
ngx_http_mail_track_status_get(ngx_http_mail_track_zone_t *zone,
    ngx_str_t *mid, ngx_pool_t *pool, ngx_http_mail_track_status_t **out)
{
    size_t                          size;
    uint64_t                        hash[2];
    ngx_int_t                       rc;
    u_char                          md[NGX_HTTP_MAIL_TRACK_HASH_LEN];
    ngx_http_mail_track_status_t   *st, *copy;

    mt_hash128("status", mid->data, ngx_min(mid->len, 255), md);
    ngx_memcpy(hash, md, sizeof(hash));

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    st = ngx_http_mail_track_status_find(zone->sh, hash);

    if (st) {
        size = offsetof(ngx_http_mail_track_status_t, data) + st->mid_len
               + st->rcpt_len;

        copy = ngx_palloc(pool, size + st->url_len);

        if (copy) {
            ngx_memcpy(copy, st, size);

            if (st->url) {
                copy->url = (u_char *) copy + size;
                ngx_memcpy(copy->url, st->url, st->url_len);
            }

            *out = copy;
            rc = NGX_OK;

        } else {
            rc = NGX_ERROR;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}

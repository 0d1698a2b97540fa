
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The dedupe and replay table: event hashes seen within their TTL, in a
 * chained hash table with an LRU queue, so that a retried webhook is
 * queued once and a replayed Mailgun token is refused.
 */


#include "ngx_http_mail_track_dedupe.h"
#include "ngx_http_mail_track_queue.h"


static ngx_http_mail_track_dedupe_node_t *ngx_http_mail_track_dedupe_lookup(
    ngx_http_mail_track_sh_t *sh, u_char *hash);
static void ngx_http_mail_track_dedupe_unlink(ngx_http_mail_track_sh_t *sh,
    ngx_http_mail_track_dedupe_node_t *dn);
static ngx_http_mail_track_dedupe_node_t *ngx_http_mail_track_dedupe_add(
    ngx_http_mail_track_zone_t *zone, u_char *hash, time_t expire);


/*
 * A chained hash table: a lookup touches a bucket and a node or two,
 * where a tree of a million ids would miss the cache twenty times.
 * One bucket per 256 bytes of what the queue leaves.
 */

ngx_int_t
ngx_http_mail_track_dedupe_init(ngx_http_mail_track_zone_t *zone, size_t room)
{
    ngx_http_mail_track_sh_t  *sh;

    sh = zone->sh;

    for (sh->nbuckets = 1024; sh->nbuckets * 2 <= room / 256;
         sh->nbuckets *= 2)
    {
        /* void */
    }

    sh->buckets = ngx_slab_calloc(zone->shpool, sh->nbuckets * sizeof(void *));
    if (sh->buckets == NULL) {
        return NGX_ERROR;
    }

    ngx_queue_init(&sh->dedupe_lru);

    return NGX_OK;
}


/*
 * Queues a record unless its hash was seen within the TTL.  Lookup,
 * append and insert happen under one lock, so two workers receiving the
 * same event at once spool it once.  NGX_BUSY: a duplicate (seq is the
 * original's); NGX_DECLINED: the queue is full.
 */

ngx_int_t
ngx_http_mail_track_zone_append_unique(ngx_http_mail_track_zone_t *zone,
    u_char *hash, time_t ttl, u_char *rec, size_t len, ngx_uint_t flags,
    uint64_t *seq)
{
    time_t                              now;
    ngx_http_mail_track_sh_t           *sh;
    ngx_http_mail_track_dedupe_node_t  *dn;

    if (ttl == 0) {
        return ngx_http_mail_track_zone_append(zone, rec, len, flags, seq);
    }

    sh = zone->sh;
    now = ngx_time();

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_mail_track_dedupe_expire(zone, 2, 0);

    dn = ngx_http_mail_track_dedupe_lookup(sh, hash);

    if (dn && dn->expire > now) {
        *seq = dn->seq;
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_BUSY;
    }

    if (!ngx_http_mail_track_queue_fits(sh, len)) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    if (dn) {
        dn->expire = now + ttl;
        ngx_queue_remove(&dn->queue);
        ngx_queue_insert_head(&sh->dedupe_lru, &dn->queue);

    } else {
        dn = ngx_http_mail_track_dedupe_add(zone, hash, now + ttl);
    }

    *seq = ngx_http_mail_track_queue_put_locked(sh, rec, len, flags);

    if (dn) {
        dn->seq = *seq;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/*
 * Mailgun's signature token: NGX_OK when new, or seen before with the
 * same event (a retry of a request we answered); NGX_DECLINED when it
 * comes back with another event, which only a forger would send.
 */

ngx_int_t
ngx_http_mail_track_zone_replay(ngx_http_mail_track_zone_t *zone,
    u_char *hash, uint64_t aux, time_t ttl)
{
    time_t                              now;
    ngx_int_t                           rc;
    ngx_http_mail_track_dedupe_node_t  *dn;

    now = ngx_time();
    rc = NGX_OK;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_mail_track_dedupe_expire(zone, 2, 0);

    dn = ngx_http_mail_track_dedupe_lookup(zone->sh, hash);

    if (dn && dn->expire > now) {
        if (dn->aux != aux) {
            rc = NGX_DECLINED;
        }

    } else if (dn) {
        dn->expire = now + ttl;
        dn->aux = aux;

    } else {
        dn = ngx_http_mail_track_dedupe_add(zone, hash, now + ttl);

        if (dn) {
            dn->aux = aux;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


static ngx_http_mail_track_dedupe_node_t *
ngx_http_mail_track_dedupe_lookup(ngx_http_mail_track_sh_t *sh, u_char *hash)
{
    uint64_t                            h[2];
    ngx_http_mail_track_dedupe_node_t  *dn;

    ngx_memcpy(h, hash, sizeof(h));

    for (dn = sh->buckets[h[0] & (sh->nbuckets - 1)]; dn; dn = dn->next) {
        if (dn->hash[0] == h[0] && dn->hash[1] == h[1]) {
            return dn;
        }
    }

    return NULL;
}


static void
ngx_http_mail_track_dedupe_unlink(ngx_http_mail_track_sh_t *sh,
    ngx_http_mail_track_dedupe_node_t *dn)
{
    ngx_http_mail_track_dedupe_node_t  **p;

    for (p = &sh->buckets[dn->hash[0] & (sh->nbuckets - 1)]; *p;
         p = &(*p)->next)
    {
        if (*p == dn) {
            *p = dn->next;
            break;
        }
    }
}


/*
 * Drops up to n expired entries from the old end; with force, drops
 * the oldest entries even if they have not expired (memory is short).
 */

void
ngx_http_mail_track_dedupe_expire(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t n, ngx_uint_t force)
{
    time_t                              now;
    ngx_queue_t                        *q;
    ngx_http_mail_track_sh_t           *sh;
    ngx_http_mail_track_dedupe_node_t  *dn;

    sh = zone->sh;
    now = ngx_time();

    while (n--) {

        if (ngx_queue_empty(&sh->dedupe_lru)) {
            return;
        }

        q = ngx_queue_last(&sh->dedupe_lru);
        dn = ngx_queue_data(q, ngx_http_mail_track_dedupe_node_t, queue);

        if (dn->expire > now) {
            if (!force) {
                return;
            }

            ngx_http_mail_track_count(zone,
                              misc[NGX_HTTP_MAIL_TRACK_DEDUPE_EVICTED]);
        }

        ngx_queue_remove(q);
        ngx_http_mail_track_dedupe_unlink(sh, dn);
        ngx_slab_free_locked(zone->shpool, dn);
        sh->dedupe_n--;
    }
}


static ngx_http_mail_track_dedupe_node_t *
ngx_http_mail_track_dedupe_add(ngx_http_mail_track_zone_t *zone, u_char *hash,
    time_t expire)
{
    ngx_http_mail_track_sh_t            *sh;
    ngx_http_mail_track_dedupe_node_t   *dn, **bucket;

    sh = zone->sh;

    dn = ngx_http_mail_track_zone_alloc(zone,
                                  sizeof(ngx_http_mail_track_dedupe_node_t));
    if (dn == NULL) {
        return NULL;
    }

    ngx_memcpy(dn->hash, hash, sizeof(dn->hash));
    dn->expire = expire;
    dn->aux = 0;
    dn->seq = 0;

    bucket = &sh->buckets[dn->hash[0] & (sh->nbuckets - 1)];
    dn->next = *bucket;
    *bucket = dn;

    ngx_queue_insert_head(&sh->dedupe_lru, &dn->queue);
    sh->dedupe_n++;

    return dn;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The message states behind mail_track_status: one entry per message
 * id, in a chained hash table with an LRU queue; the least recently
 * updated go first when the zone is full (a view the spool can rebuild).
 * The rules are the core's (mt_msgstate.c); this file only stores.
 */


#include "ngx_http_mail_track_msgstat.h"


static void ngx_http_mail_track_status_hash(mt_str_t *mid, uint64_t *hash);
static ngx_http_mail_track_status_t *ngx_http_mail_track_status_find(
    ngx_http_mail_track_sh_t *sh, uint64_t *hash, mt_str_t *mid);
static ngx_http_mail_track_status_t *ngx_http_mail_track_status_new(
    ngx_http_mail_track_zone_t *zone, uint64_t *hash, mt_str_t *mid,
    size_t rcpt);
static size_t ngx_http_mail_track_status_size(size_t mid, size_t rcpt);
static ngx_http_mail_track_status_t *ngx_http_mail_track_status_rcpt(
    ngx_http_mail_track_zone_t *zone, ngx_http_mail_track_status_t *st,
    mt_str_t *rcpt);
static void ngx_http_mail_track_status_url(ngx_http_mail_track_zone_t *zone,
    ngx_http_mail_track_status_t *st, mt_str_t *url);
static void ngx_http_mail_track_status_strs(ngx_http_mail_track_status_t *st,
    mt_msgstate_str_t *s);


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


static void
ngx_http_mail_track_status_hash(mt_str_t *mid, uint64_t *hash)
{
    u_char           md[NGX_HTTP_MAIL_TRACK_HASH_LEN];
    static uint64_t  seed;

    if (seed == 0) {
        seed = mt_hash128_seed("status");
    }

    mt_hash128_seeded(seed, mid->data, mid->len, md);
    ngx_memcpy(hash, md, 2 * sizeof(uint64_t));
}


static ngx_http_mail_track_status_t *
ngx_http_mail_track_status_find(ngx_http_mail_track_sh_t *sh, uint64_t *hash,
    mt_str_t *mid)
{
    ngx_http_mail_track_status_t  *st;

    for (st = sh->status[hash[0] & (sh->nstatus - 1)]; st; st = st->next) {
        if (st->hash[0] == hash[0] && st->hash[1] == hash[1]
            && st->mid_len == mid->len
            && ngx_memcmp(st->data, mid->data, mid->len) == 0)
        {
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


/* the message id and its hash, before the lock; NGX_DECLINED: no id */

ngx_int_t
ngx_http_mail_track_status_key(mt_event_t *ev,
    ngx_http_mail_track_status_key_t *key)
{
    mt_msgstate_key(ev, &key->mid);

    if (key->mid.len == 0) {
        return NGX_DECLINED;
    }

    ngx_http_mail_track_status_hash(&key->mid, key->hash);

    return NGX_OK;
}


void
ngx_http_mail_track_status_update(ngx_http_mail_track_zone_t *zone,
    mt_event_t *ev)
{
    ngx_http_mail_track_status_key_t  key;

    if (ngx_http_mail_track_status_key(ev, &key) != NGX_OK) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_mail_track_status_update_locked(zone, ev, &key);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * The entry being updated stays off the LRU queue until it is done:
 * making room for its url or recipient cannot evict it (and free it
 * under our feet).
 */

void
ngx_http_mail_track_status_update_locked(ngx_http_mail_track_zone_t *zone,
    mt_event_t *ev, ngx_http_mail_track_status_key_t *key)
{
    unsigned                        flags;
    mt_msgstate_str_t               s;
    ngx_http_mail_track_sh_t       *sh;
    ngx_http_mail_track_status_t   *st;

    sh = zone->sh;

    st = ngx_http_mail_track_status_find(sh, key->hash, &key->mid);

    if (st == NULL) {
        st = ngx_http_mail_track_status_new(zone, key->hash, &key->mid,
                                  mt_utf8_cut(ev->rcpt.data, ev->rcpt.len,
                                              MT_MSGSTATE_RCPT_MAX));
        if (st == NULL) {
            return;
        }

    } else {
        ngx_queue_remove(&st->queue);
    }

    ngx_http_mail_track_status_strs(st, &s);

    flags = mt_msgstate_apply(&st->ms, &s, ev);

    if (flags & MT_MSGSTATE_RCPT) {
        st = ngx_http_mail_track_status_rcpt(zone, st, &s.rcpt);
    }

    if (flags & MT_MSGSTATE_URL) {
        ngx_http_mail_track_status_url(zone, st, &s.url);
    }

    ngx_queue_insert_head(&sh->status_lru, &st->queue);
}


/* a new entry, in its bucket but not yet on the LRU queue */

static ngx_http_mail_track_status_t *
ngx_http_mail_track_status_new(ngx_http_mail_track_zone_t *zone,
    uint64_t *hash, mt_str_t *mid, size_t rcpt)
{
    size_t                          size;
    ngx_http_mail_track_sh_t       *sh;
    ngx_http_mail_track_status_t   *st, **bucket;

    sh = zone->sh;
    size = ngx_http_mail_track_status_size(mid->len, rcpt);

    st = ngx_http_mail_track_zone_alloc(zone, size);
    if (st == NULL) {
        return NULL;
    }

    ngx_memzero(st, offsetof(ngx_http_mail_track_status_t, data));
    ngx_memcpy(st->hash, hash, 2 * sizeof(uint64_t));

    st->mid_len = (uint16_t) mid->len;
    st->rcpt_cap = (uint16_t) ngx_min(size - mid->len
                        - offsetof(ngx_http_mail_track_status_t, data),
                        MT_MSGSTATE_RCPT_MAX);
    ngx_memcpy(st->data, mid->data, mid->len);

    bucket = &sh->status[hash[0] & (sh->nstatus - 1)];
    st->next = *bucket;
    *bucket = st;

    sh->status_n++;

    return st;
}


/* the whole slab chunk: the slack holds a longer recipient later */

static size_t
ngx_http_mail_track_status_size(size_t mid, size_t rcpt)
{
    size_t  size, need;

    need = offsetof(ngx_http_mail_track_status_t, data) + mid + rcpt;

    for (size = 64; size < need; size *= 2) {
        /* void */
    }

    return size;
}


/*
 * Stores the recipient in place when it fits, else moves the entry to a
 * larger chunk; when the zone has no room, the old recipient stays.
 */

static ngx_http_mail_track_status_t *
ngx_http_mail_track_status_rcpt(ngx_http_mail_track_zone_t *zone,
    ngx_http_mail_track_status_t *st, mt_str_t *rcpt)
{
    size_t                          size;
    ngx_http_mail_track_sh_t       *sh;
    ngx_http_mail_track_status_t   *n, **p;

    if (rcpt->len > st->rcpt_cap) {
        sh = zone->sh;
        size = ngx_http_mail_track_status_size(st->mid_len, rcpt->len);

        n = ngx_http_mail_track_zone_alloc(zone, size);
        if (n == NULL) {
            return st;
        }

        ngx_memcpy(n, st, offsetof(ngx_http_mail_track_status_t, data)
                          + st->mid_len);

        n->rcpt_cap = (uint16_t) ngx_min(size - st->mid_len
                          - offsetof(ngx_http_mail_track_status_t, data),
                          MT_MSGSTATE_RCPT_MAX);

        for (p = &sh->status[st->hash[0] & (sh->nstatus - 1)]; *p != st;
             p = &(*p)->next)
        {
            /* void */
        }

        *p = n;

        ngx_slab_free_locked(zone->shpool, st);
        st = n;
    }

    ngx_memcpy(st->data + st->mid_len, rcpt->data, rcpt->len);
    st->rcpt_len = (uint16_t) rcpt->len;

    return st;
}


/* without room for the url, the click shows none rather than an old one */

static void
ngx_http_mail_track_status_url(ngx_http_mail_track_zone_t *zone,
    ngx_http_mail_track_status_t *st, mt_str_t *url)
{
    if (st->url != NULL && st->url_len != url->len) {
        ngx_slab_free_locked(zone->shpool, st->url);
        st->url = NULL;
    }

    if (st->url == NULL) {
        st->url = ngx_http_mail_track_zone_alloc(zone, url->len);
    }

    if (st->url == NULL) {
        st->url_len = 0;
        st->ms.url_at = 0;
        return;
    }

    ngx_memcpy(st->url, url->data, url->len);
    st->url_len = (uint16_t) url->len;
}


static void
ngx_http_mail_track_status_strs(ngx_http_mail_track_status_t *st,
    mt_msgstate_str_t *s)
{
    s->mid.data = st->data;
    s->mid.len = st->mid_len;
    s->rcpt.data = st->data + st->mid_len;
    s->rcpt.len = st->rcpt_len;
    s->url.data = st->url;
    s->url.len = st->url_len;
}


/* a copy of a message's state, taken under the lock; NGX_DECLINED: none */

ngx_int_t
ngx_http_mail_track_status_get(ngx_http_mail_track_zone_t *zone,
    ngx_str_t *mid, ngx_pool_t *pool, mt_msgstate_t *ms, mt_msgstate_str_t *s)
{
    u_char                         *p;
    uint64_t                        hash[2];
    mt_str_t                        key;
    ngx_int_t                       rc;
    ngx_http_mail_track_status_t   *st;

    key.data = mid->data;
    key.len = mt_utf8_cut(mid->data, mid->len, MT_MSGSTATE_MID_MAX);

    ngx_http_mail_track_status_hash(&key, hash);

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    st = ngx_http_mail_track_status_find(zone->sh, hash, &key);

    if (st != NULL) {
        p = ngx_pnalloc(pool, st->mid_len + st->rcpt_len + st->url_len + 1);

        if (p != NULL) {
            *ms = st->ms;

            s->mid.data = p;
            s->mid.len = st->mid_len;
            p = ngx_cpymem(p, st->data, st->mid_len);

            s->rcpt.data = p;
            s->rcpt.len = st->rcpt_len;
            p = ngx_cpymem(p, st->data + st->mid_len, st->rcpt_len);

            s->url.data = p;
            s->url.len = st->url_len;

            if (st->url_len) {
                ngx_memcpy(p, st->url, st->url_len);
            }

            rc = NGX_OK;

        } else {
            rc = NGX_ERROR;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}

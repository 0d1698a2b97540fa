
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The shared zone: the event queue (a byte ring), the dedupe and replay
 * table, the SNS certificate cache and the counters, in one slab pool
 * that all workers share and that a reload with the same size keeps.
 */


#include "ngx_http_mail_track_zone.h"


static ngx_int_t ngx_http_mail_track_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_mail_track_ring_write(ngx_http_mail_track_sh_t *sh,
    uint64_t off, u_char *src, size_t len);
static void ngx_http_mail_track_ring_read(ngx_http_mail_track_sh_t *sh,
    uint64_t off, u_char *dst, size_t len);
static uint64_t ngx_http_mail_track_ring_put(ngx_http_mail_track_sh_t *sh,
    u_char *rec, size_t len, ngx_uint_t flags);
static ngx_http_mail_track_dedupe_node_t *ngx_http_mail_track_dedupe_lookup(
    ngx_http_mail_track_sh_t *sh, u_char *hash);
static void ngx_http_mail_track_dedupe_unlink(ngx_http_mail_track_sh_t *sh,
    ngx_http_mail_track_dedupe_node_t *dn);
static void ngx_http_mail_track_dedupe_expire(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t n, ngx_uint_t force);
static ngx_http_mail_track_dedupe_node_t *ngx_http_mail_track_dedupe_add(
    ngx_http_mail_track_zone_t *zone, u_char *hash, time_t expire);
static void ngx_http_mail_track_status_evict(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t n);
static ngx_http_mail_track_status_t *ngx_http_mail_track_status_find(
    ngx_http_mail_track_sh_t *sh, uint64_t *hash);


#define ngx_http_mail_track_entry_size(len)                                   \
    (NGX_HTTP_MAIL_TRACK_ENTRY_HDR + ngx_align(len, 8))


char *
ngx_http_mail_track_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mail_track_main_conf_t  *mmcf = conf;

    u_char                      *p;
    ssize_t                      size, queue;
    time_t                       dedupe;
    ngx_str_t                   *value, name, s;
    ngx_uint_t                   i;
    ngx_shm_zone_t              *shm_zone;
    ngx_http_mail_track_zone_t  *zone;

    if (mmcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    name.len = 0;
    size = 0;
    queue = 0;
    dedupe = 86400;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (128 * 1024)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small, "
                                   "the minimum is 128k", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "dedupe=", 7) == 0) {

            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
                dedupe = 0;
                continue;
            }

            dedupe = ngx_parse_time(&s, 1);

            if (dedupe == (time_t) NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid dedupe time \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "queue=", 6) == 0) {

            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            queue = ngx_parse_size(&s);

            if (queue == NGX_ERROR || queue < 65536) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid queue size \"%V\", "
                                   "the minimum is 64k", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (queue == 0) {
        queue = size / 4;
    }

    if (queue > size / 4 * 3) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "queue size must be at most 3/4 of the zone");
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_mail_track_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->name = name;
    zone->queue_size = ngx_align((size_t) queue, ngx_pagesize);
    zone->dedupe = dedupe;

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_mail_track_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_mail_track_init_zone;
    shm_zone->data = zone;

    mmcf->shm_zone = shm_zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mail_track_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_mail_track_zone_t  *ozone = data;

    size_t                       len;
    ngx_slab_pool_t             *shpool;
    ngx_http_mail_track_sh_t    *sh;
    ngx_http_mail_track_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /*
         * A reload kept the zone (same size): take it over with
         * everything queued, unless an older build laid it out otherwise.
         */

        if (ozone->sh->magic != NGX_HTTP_MAIL_TRACK_MAGIC
            || ozone->sh->layout != NGX_HTTP_MAIL_TRACK_LAYOUT
            || ozone->sh->size != sizeof(ngx_http_mail_track_sh_t))
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "mail_track_zone \"%V\" has an incompatible "
                          "layout; change its size or restart nginx",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        if (zone->queue_size != zone->sh->ring_size) {
            ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                          "mail_track_zone \"%V\" keeps its queue of %uz "
                          "bytes until the zone is recreated",
                          &shm_zone->shm.name, zone->sh->ring_size);
        }

        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = shpool->data;
        zone->shpool = shpool;
        return NGX_OK;
    }

    zone->shpool = shpool;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_mail_track_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    zone->sh = sh;

    sh->magic = NGX_HTTP_MAIL_TRACK_MAGIC;
    sh->layout = NGX_HTTP_MAIL_TRACK_LAYOUT;
    sh->size = sizeof(ngx_http_mail_track_sh_t);

    sh->ring = ngx_slab_alloc(shpool, zone->queue_size);
    if (sh->ring == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "mail_track_zone \"%V\" cannot hold a queue of %uz "
                      "bytes", &shm_zone->shm.name, zone->queue_size);
        return NGX_ERROR;
    }

    sh->ring_size = zone->queue_size;

    /*
     * A chained hash table: a lookup touches a bucket and a node or two,
     * where a tree of a million ids would miss the cache twenty times.
     * One bucket per 256 bytes of what the queue leaves.
     */

    for (sh->nbuckets = 1024;
         sh->nbuckets * 2 <= (shm_zone->shm.size - zone->queue_size) / 256;
         sh->nbuckets *= 2)
    {
        /* void */
    }

    sh->buckets = ngx_slab_calloc(shpool, sh->nbuckets * sizeof(void *));
    if (sh->buckets == NULL) {
        return NGX_ERROR;
    }

    ngx_queue_init(&sh->dedupe_lru);

    /*
     * Message states take 256 bytes or more each and may fill what the
     * queue leaves: a bucket per 512 bytes keeps the chains at two nodes
     * or fewer on average even then.
     */

    for (sh->nstatus = 1024;
         sh->nstatus * 2 <= (shm_zone->shm.size - zone->queue_size) / 512;
         sh->nstatus *= 2)
    {
        /* void */
    }

    sh->status = ngx_slab_calloc(shpool, sh->nstatus * sizeof(void *));
    if (sh->status == NULL) {
        return NGX_ERROR;
    }

    ngx_queue_init(&sh->status_lru);

    ngx_rbtree_init(&sh->certs, &sh->certs_sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&sh->certs_lru);

    sh->started = ngx_http_mail_track_now_ms();

    len = sizeof(" in mail_track_zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in mail_track_zone \"%V\"%Z",
                &shm_zone->shm.name);

    shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_mail_track_ring_write(ngx_http_mail_track_sh_t *sh, uint64_t off,
    u_char *src, size_t len)
{
    size_t  pos, n;

    pos = (size_t) (off % sh->ring_size);
    n = ngx_min(len, sh->ring_size - pos);

    ngx_memcpy(sh->ring + pos, src, n);

    if (len > n) {
        ngx_memcpy(sh->ring, src + n, len - n);
    }
}


static void
ngx_http_mail_track_ring_read(ngx_http_mail_track_sh_t *sh, uint64_t off,
    u_char *dst, size_t len)
{
    size_t  pos, n;

    pos = (size_t) (off % sh->ring_size);
    n = ngx_min(len, sh->ring_size - pos);

    ngx_memcpy(dst, sh->ring + pos, n);

    if (len > n) {
        ngx_memcpy(dst + n, sh->ring, len - n);
    }
}


/* with the mutex held and the space checked */

static uint64_t
ngx_http_mail_track_ring_put(ngx_http_mail_track_sh_t *sh, u_char *rec,
    size_t len, ngx_uint_t flags)
{
    uint32_t  hdr[2];

    hdr[0] = (uint32_t) len;
    hdr[1] = (uint32_t) flags;

    /* entries start 8-aligned in an 8-aligned ring: a header never wraps */

    ngx_memcpy(sh->ring + sh->tail % sh->ring_size, hdr, sizeof(hdr));
    ngx_http_mail_track_ring_write(sh, sh->tail + sizeof(hdr), rec, len);

    sh->tail += ngx_http_mail_track_entry_size(len);

    if (sh->tail - sh->head > sh->peak) {
        sh->peak = sh->tail - sh->head;
    }

    return sh->tail_seq++;
}


ngx_int_t
ngx_http_mail_track_zone_append(ngx_http_mail_track_zone_t *zone, u_char *rec,
    size_t len, ngx_uint_t flags, uint64_t *seq)
{
    ngx_http_mail_track_sh_t  *sh;

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (sh->tail - sh->head + ngx_http_mail_track_entry_size(len)
        > sh->ring_size)
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    *seq = ngx_http_mail_track_ring_put(sh, rec, len, flags);

    ngx_shmtx_unlock(&zone->shpool->mutex);

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

    if (sh->tail - sh->head + ngx_http_mail_track_entry_size(len)
        > sh->ring_size)
    {
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

    *seq = ngx_http_mail_track_ring_put(sh, rec, len, flags);

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

static void
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


/*
 * With the mutex held.  When the zone is full, room is made in order of
 * what matters least: expired ids, message states (a view that can be
 * rebuilt from the spool), and only then ids that have not expired.
 */

void *
ngx_http_mail_track_zone_alloc(ngx_http_mail_track_zone_t *zone, size_t size)
{
    void        *p;
    ngx_uint_t   tries;

    for (tries = 0; tries < 8; tries++) {
        p = ngx_slab_alloc_locked(zone->shpool, size);
        if (p) {
            return p;
        }

        if (tries == 0) {
            ngx_http_mail_track_dedupe_expire(zone, 16, 0);

        } else if (tries < 6 && !ngx_queue_empty(&zone->sh->status_lru)) {
            ngx_http_mail_track_status_evict(zone, 16);

        } else {
            ngx_http_mail_track_dedupe_expire(zone, 16, 1);
        }
    }

    return NULL;
}


ngx_int_t
ngx_http_mail_track_cert_get(ngx_http_mail_track_zone_t *zone, ngx_str_t *url,
    ngx_pool_t *pool, ngx_str_t *pem)
{
    uint32_t                          hash;
    ngx_int_t                         rc;
    ngx_rbtree_node_t                *node, *sentinel;
    ngx_http_mail_track_sh_t         *sh;
    ngx_http_mail_track_cert_node_t  *cn;

    sh = zone->sh;
    hash = ngx_crc32_short(url->data, url->len);
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = sh->certs.root;
    sentinel = sh->certs.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        cn = (ngx_http_mail_track_cert_node_t *) node;

        if (cn->url_len == url->len
            && ngx_memcmp(cn->data, url->data, url->len) == 0)
        {
            pem->data = ngx_pnalloc(pool, cn->pem_len);

            if (pem->data) {
                pem->len = cn->pem_len;
                ngx_memcpy(pem->data, cn->data + cn->url_len, cn->pem_len);
                rc = NGX_OK;
            }

            break;
        }

        node = node->right;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


void
ngx_http_mail_track_cert_put(ngx_http_mail_track_zone_t *zone, ngx_str_t *url,
    ngx_str_t *pem)
{
    ngx_queue_t                      *q;
    ngx_http_mail_track_sh_t         *sh;
    ngx_http_mail_track_cert_node_t  *cn, *old;

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for ( ;; ) {
        cn = ngx_slab_alloc_locked(zone->shpool,
                                 offsetof(ngx_http_mail_track_cert_node_t, data)
                                 + url->len + pem->len);
        if (cn) {
            break;
        }

        if (ngx_queue_empty(&sh->certs_lru)) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return;
        }

        q = ngx_queue_last(&sh->certs_lru);
        old = ngx_queue_data(q, ngx_http_mail_track_cert_node_t, queue);

        ngx_queue_remove(q);
        ngx_rbtree_delete(&sh->certs, &old->node);
        ngx_slab_free_locked(zone->shpool, old);
    }

    cn->node.key = ngx_crc32_short(url->data, url->len);
    cn->url_len = url->len;
    cn->pem_len = pem->len;
    ngx_memcpy(cn->data, url->data, url->len);
    ngx_memcpy(cn->data + url->len, pem->data, pem->len);

    ngx_rbtree_insert(&sh->certs, &cn->node);
    ngx_queue_insert_head(&sh->certs_lru, &cn->queue);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Copies whole records from the head of the ring, without removing them:
 * only the flush role holder calls this, and only it consumes.
 */

ngx_uint_t
ngx_http_mail_track_zone_take(ngx_http_mail_track_zone_t *zone, u_char *buf,
    size_t size, ngx_uint_t max, size_t *len, size_t *ring_bytes,
    ngx_uint_t *flags, uint64_t *end_seq)
{
    size_t                     n;
    uint32_t                   hdr[2];
    uint64_t                   off;
    ngx_uint_t                 count;
    ngx_http_mail_track_sh_t  *sh;

    sh = zone->sh;

    *len = 0;
    *flags = 0;
    count = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    off = sh->head;

    while (off < sh->tail && count < max) {
        ngx_memcpy(hdr, sh->ring + off % sh->ring_size, sizeof(hdr));

        n = hdr[0];

        if (*len + n > size) {
            break;
        }

        ngx_http_mail_track_ring_read(sh, off + sizeof(hdr), buf + *len, n);

        *len += n;
        *flags |= hdr[1];
        off += ngx_http_mail_track_entry_size(n);
        count++;
    }

    *ring_bytes = (size_t) (off - sh->head);
    *end_seq = sh->head_seq + count;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return count;
}


void
ngx_http_mail_track_zone_consume(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t n, size_t bytes, ngx_uint_t durable)
{
    ngx_http_mail_track_sh_t  *sh;

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sh->head += bytes;
    sh->head_seq += n;

    if (durable) {
        sh->durable_seq = sh->head_seq;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


ngx_uint_t
ngx_http_mail_track_zone_pending(ngx_http_mail_track_zone_t *zone,
    size_t *bytes)
{
    ngx_uint_t                 n;
    ngx_http_mail_track_sh_t  *sh;

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    n = (ngx_uint_t) (sh->tail_seq - sh->head_seq);
    *bytes = (size_t) (sh->tail - sh->head);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
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


static void
ngx_http_mail_track_status_evict(ngx_http_mail_track_zone_t *zone,
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

        ngx_queue_insert_head(&sh->status_lru, &st->queue);
        sh->status_n++;

    } else {
        ngx_queue_remove(&st->queue);
        ngx_queue_insert_head(&sh->status_lru, &st->queue);
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

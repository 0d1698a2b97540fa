
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The event queue: a byte ring in the zone.  Workers append records
 * under the zone's mutex; the spool writer (the one worker holding the
 * flush role) copies a batch from the head and, once it is written,
 * consumes it.  Offsets and sequence numbers only grow.
 */


#include "ngx_http_mail_track_queue.h"
#include "ngx_http_mail_track_msgstat.h"


static void ngx_http_mail_track_ring_write(ngx_http_mail_track_sh_t *sh,
    uint64_t off, u_char *src, size_t len);
static void ngx_http_mail_track_ring_read(ngx_http_mail_track_sh_t *sh,
    uint64_t off, u_char *dst, size_t len);


ngx_int_t
ngx_http_mail_track_queue_init(ngx_http_mail_track_zone_t *zone)
{
    ngx_http_mail_track_sh_t  *sh;

    sh = zone->sh;

    sh->ring = ngx_slab_alloc(zone->shpool, zone->queue_size);
    if (sh->ring == NULL) {
        return NGX_ERROR;
    }

    sh->ring_size = zone->queue_size;

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

uint64_t
ngx_http_mail_track_queue_put_locked(ngx_http_mail_track_sh_t *sh,
    u_char *rec, size_t len, ngx_uint_t flags)
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

    if (!ngx_http_mail_track_queue_fits(sh, len)) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    *seq = ngx_http_mail_track_queue_put_locked(sh, rec, len, flags);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/*
 * A tracking event: its record queued and its message's state updated
 * under one lock (the state only when the record got in).
 */

ngx_int_t
ngx_http_mail_track_zone_append_event(ngx_http_mail_track_zone_t *zone,
    u_char *rec, size_t len, mt_event_t *ev, uint64_t *seq)
{
    ngx_int_t                          has_key;
    ngx_http_mail_track_sh_t          *sh;
    ngx_http_mail_track_status_key_t   key;

    sh = zone->sh;

    has_key = ngx_http_mail_track_status_key(ev, &key);

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (!ngx_http_mail_track_queue_fits(sh, len)) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    *seq = ngx_http_mail_track_queue_put_locked(sh, rec, len, 0);

    if (has_key == NGX_OK) {
        ngx_http_mail_track_status_update_locked(zone, ev, &key);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
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

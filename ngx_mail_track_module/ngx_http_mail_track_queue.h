
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_QUEUE_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_QUEUE_H_INCLUDED_


#include "ngx_http_mail_track_zone.h"


/* a ring entry: length, flags, then the record, padded to 8 bytes */
#define NGX_HTTP_MAIL_TRACK_ENTRY_HDR    8
#define NGX_HTTP_MAIL_TRACK_DURABLE      0x01


#define ngx_http_mail_track_entry_size(len)                                   \
    (NGX_HTTP_MAIL_TRACK_ENTRY_HDR + ngx_align(len, 8))

/* with the mutex held */
#define ngx_http_mail_track_queue_fits(sh, len)                               \
    ((sh)->tail - (sh)->head + ngx_http_mail_track_entry_size(len)            \
     <= (sh)->ring_size)


ngx_int_t ngx_http_mail_track_queue_init(ngx_http_mail_track_zone_t *zone);
uint64_t ngx_http_mail_track_queue_put_locked(ngx_http_mail_track_sh_t *sh,
    u_char *rec, size_t len, ngx_uint_t flags);

ngx_int_t ngx_http_mail_track_zone_append(ngx_http_mail_track_zone_t *zone,
    u_char *rec, size_t len, ngx_uint_t flags, uint64_t *seq);
ngx_int_t ngx_http_mail_track_zone_append_event(
    ngx_http_mail_track_zone_t *zone, u_char *rec, size_t len,
    mt_event_t *ev, uint64_t *seq);

/* the spool writer's side of the ring */
ngx_uint_t ngx_http_mail_track_zone_take(ngx_http_mail_track_zone_t *zone,
    u_char *buf, size_t size, ngx_uint_t max, size_t *len,
    size_t *ring_bytes, ngx_uint_t *flags, uint64_t *end_seq);
void ngx_http_mail_track_zone_consume(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t n, size_t bytes, ngx_uint_t durable);
ngx_uint_t ngx_http_mail_track_zone_pending(ngx_http_mail_track_zone_t *zone,
    size_t *bytes);


#endif /* _NGX_HTTP_MAIL_TRACK_QUEUE_H_INCLUDED_ */

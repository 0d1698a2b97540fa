
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_DEDUPE_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_DEDUPE_H_INCLUDED_


#include "ngx_http_mail_track_zone.h"


/* 64 bytes: one slab chunk, one cache line */
typedef struct ngx_http_mail_track_dedupe_node_s
    ngx_http_mail_track_dedupe_node_t;

struct ngx_http_mail_track_dedupe_node_s {
    ngx_http_mail_track_dedupe_node_t  *next;      /* bucket chain */
    ngx_queue_t                         queue;     /* oldest last */
    uint64_t                            hash[2];
    uint64_t                            aux;       /* replay: event hash */
    uint64_t                            seq;       /* for durable acks */
    time_t                              expire;
};


ngx_int_t ngx_http_mail_track_dedupe_init(ngx_http_mail_track_zone_t *zone,
    size_t room);
void ngx_http_mail_track_dedupe_expire(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t n, ngx_uint_t force);

ngx_int_t ngx_http_mail_track_zone_append_unique(
    ngx_http_mail_track_zone_t *zone, u_char *hash, time_t ttl,
    u_char *rec, size_t len, ngx_uint_t flags, uint64_t *seq);
ngx_int_t ngx_http_mail_track_zone_replay(ngx_http_mail_track_zone_t *zone,
    u_char *hash, uint64_t aux, time_t ttl);


#endif /* _NGX_HTTP_MAIL_TRACK_DEDUPE_H_INCLUDED_ */

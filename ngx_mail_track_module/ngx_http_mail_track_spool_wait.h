
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_SPOOL_WAIT_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_SPOOL_WAIT_H_INCLUDED_


#include "ngx_http_mail_track_module.h"
#include "ngx_http_mail_track_zone.h"


/* a request waiting until its events are on disk (durable acks) */
typedef struct {
    ngx_queue_t                 queue;
    uint64_t                    seq;       /* done when durable_seq > seq */
    ngx_msec_t                  deadline;
    void                      (*handler)(void *data, ngx_int_t rc);
    void                       *data;
    unsigned                    active:1;
} ngx_http_mail_track_waiter_t;


void ngx_http_mail_track_spool_wait_init(ngx_http_mail_track_zone_t *zone);
ngx_int_t ngx_http_mail_track_spool_wait(ngx_http_mail_track_waiter_t *w,
    ngx_pool_t *pool);
void ngx_http_mail_track_spool_unwait(ngx_http_mail_track_waiter_t *w);
void ngx_http_mail_track_spool_wake(ngx_uint_t all);


#endif /* _NGX_HTTP_MAIL_TRACK_SPOOL_WAIT_H_INCLUDED_ */

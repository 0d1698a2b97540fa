
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_SPOOL_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_SPOOL_H_INCLUDED_


#include "ngx_http_mail_track_module.h"
#include "ngx_http_mail_track_zone.h"


/* a request waiting until its events are fsynced (durable acks) */
typedef struct {
    ngx_queue_t                 queue;
    uint64_t                    seq;       /* done when durable_seq > seq */
    ngx_msec_t                  deadline;
    void                      (*handler)(void *data, ngx_int_t rc);
    void                       *data;
    unsigned                    active:1;
} ngx_http_mail_track_waiter_t;


char *ngx_http_mail_track_spool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_mail_track_spool_check_dir(ngx_cycle_t *cycle,
    ngx_http_mail_track_spool_conf_t *scf);
ngx_int_t ngx_http_mail_track_spool_init_process(ngx_cycle_t *cycle,
    ngx_http_mail_track_zone_t *zone, ngx_http_mail_track_spool_conf_t *scf);
void ngx_http_mail_track_spool_exit_process(ngx_cycle_t *cycle);

/* after an append: flushes early when a batch is full */
void ngx_http_mail_track_spool_appended(ngx_http_mail_track_zone_t *zone,
    uint64_t seq);

ngx_int_t ngx_http_mail_track_spool_wait(ngx_http_mail_track_waiter_t *w);
void ngx_http_mail_track_spool_unwait(ngx_http_mail_track_waiter_t *w);


#endif /* _NGX_HTTP_MAIL_TRACK_SPOOL_H_INCLUDED_ */

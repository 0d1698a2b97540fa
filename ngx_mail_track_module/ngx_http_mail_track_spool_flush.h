
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_SPOOL_FLUSH_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_SPOOL_FLUSH_H_INCLUDED_


#include "ngx_http_mail_track_module.h"
#include "ngx_http_mail_track_zone.h"


ngx_int_t ngx_http_mail_track_spool_flush_init(ngx_cycle_t *cycle,
    ngx_http_mail_track_zone_t *zone, ngx_http_mail_track_spool_conf_t *scf);
void ngx_http_mail_track_spool_flush_exit(ngx_cycle_t *cycle);

/* a flush now if the role is free; one soon, from an event */
void ngx_http_mail_track_spool_flush_now(void);
void ngx_http_mail_track_spool_flush_soon(void);

/* after an append: flushes early when a batch is full */
void ngx_http_mail_track_spool_appended(ngx_http_mail_track_zone_t *zone,
    uint64_t seq);


#endif /* _NGX_HTTP_MAIL_TRACK_SPOOL_FLUSH_H_INCLUDED_ */


/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_SPOOL_ROLE_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_SPOOL_ROLE_H_INCLUDED_


#include "ngx_http_mail_track_module.h"
#include "ngx_http_mail_track_zone.h"


/* this process, as the flush role knows it */
typedef struct {
    uint64_t                    start;     /* /proc start time, 0: unknown */
    ngx_msec_t                  probe_at;
} ngx_http_mail_track_role_t;


void ngx_http_mail_track_spool_role_init(ngx_http_mail_track_role_t *role);
ngx_int_t ngx_http_mail_track_spool_role_take(ngx_http_mail_track_zone_t *zone,
    ngx_http_mail_track_role_t *role, ngx_log_t *log);
void ngx_http_mail_track_spool_role_give(ngx_http_mail_track_zone_t *zone,
    ngx_http_mail_track_role_t *role);


#endif /* _NGX_HTTP_MAIL_TRACK_SPOOL_ROLE_H_INCLUDED_ */

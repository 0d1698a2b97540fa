
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_SPOOL_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_SPOOL_H_INCLUDED_


#include "ngx_http_mail_track_module.h"
#include "ngx_http_mail_track_zone.h"
#include "ngx_http_mail_track_spool_flush.h"
#include "ngx_http_mail_track_spool_role.h"
#include "ngx_http_mail_track_spool_wait.h"


char *ngx_http_mail_track_spool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_mail_track_spool_check_dir(ngx_cycle_t *cycle,
    ngx_http_mail_track_spool_conf_t *scf);
ngx_int_t ngx_http_mail_track_spool_init_process(ngx_cycle_t *cycle,
    ngx_http_mail_track_zone_t *zone, ngx_http_mail_track_spool_conf_t *scf);
void ngx_http_mail_track_spool_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_MAIL_TRACK_SPOOL_H_INCLUDED_ */

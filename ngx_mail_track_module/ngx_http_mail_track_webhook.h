
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_WEBHOOK_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_WEBHOOK_H_INCLUDED_


#include "ngx_http_mail_track_module.h"


ngx_int_t ngx_http_mail_track_webhook_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mail_track_webhook_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_mail_track_webhook_log(ngx_http_request_t *r);
void ngx_http_mail_track_webhook_exit(void);
char *ngx_http_mail_track_webhook_merge(ngx_conf_t *cf,
    ngx_http_mail_track_loc_conf_t *conf);


#endif /* _NGX_HTTP_MAIL_TRACK_WEBHOOK_H_INCLUDED_ */

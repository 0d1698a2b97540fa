
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_STATUS_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_STATUS_H_INCLUDED_


#include "ngx_http_mail_track_module.h"


ngx_int_t ngx_http_mail_track_metrics_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mail_track_status_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_MAIL_TRACK_STATUS_H_INCLUDED_ */

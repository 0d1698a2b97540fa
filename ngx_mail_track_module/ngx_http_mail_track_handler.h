
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_HANDLER_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_HANDLER_H_INCLUDED_


#include "ngx_http_mail_track_module.h"
#include "ngx_http_mail_track_zone.h"


ngx_int_t ngx_http_mail_track_open_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mail_track_click_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mail_track_unsubscribe_handler(ngx_http_request_t *r);

/* encodes, queues and counts one event; NGX_DECLINED: zone full */
ngx_int_t ngx_http_mail_track_record(ngx_http_request_t *r, mt_event_t *ev);
void ngx_http_mail_track_queued(ngx_http_mail_track_zone_t *zone,
    mt_event_t *ev, uint64_t seq);

ngx_http_mail_track_zone_t *ngx_http_mail_track_zone_get(
    ngx_http_request_t *r);
void ngx_http_mail_track_event_id(u_char *buf, mt_str_t *id);
void ngx_http_mail_track_client(ngx_http_request_t *r, mt_event_t *ev,
    u_char *ipbuf);
ngx_int_t ngx_http_mail_track_send(ngx_http_request_t *r, ngx_buf_t *b,
    const char *type);
ngx_int_t ngx_http_mail_track_send_status(ngx_http_request_t *r,
    ngx_uint_t status, ngx_buf_t *b, const char *type);
ngx_table_elt_t *ngx_http_mail_track_add_header(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *value);
void ngx_http_mail_track_refused(ngx_http_request_t *r, ngx_uint_t src,
    mt_rc_t rc, ngx_str_t *detail);


#endif /* _NGX_HTTP_MAIL_TRACK_HANDLER_H_INCLUDED_ */

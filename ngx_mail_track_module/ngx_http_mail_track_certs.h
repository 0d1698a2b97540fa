
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_CERTS_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_CERTS_H_INCLUDED_


#include "ngx_http_mail_track_zone.h"


typedef struct {
    ngx_rbtree_node_t           node;      /* key: crc32 of the url */
    ngx_queue_t                 queue;
    size_t                      url_len;
    size_t                      pem_len;
    u_char                      data[1];   /* url, then pem */
} ngx_http_mail_track_cert_node_t;


void ngx_http_mail_track_certs_init(ngx_http_mail_track_zone_t *zone);

ngx_int_t ngx_http_mail_track_cert_get(ngx_http_mail_track_zone_t *zone,
    ngx_str_t *url, ngx_pool_t *pool, ngx_str_t *pem);
void ngx_http_mail_track_cert_put(ngx_http_mail_track_zone_t *zone,
    ngx_str_t *url, ngx_str_t *pem);


#endif /* _NGX_HTTP_MAIL_TRACK_CERTS_H_INCLUDED_ */


/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_MSGSTAT_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_MSGSTAT_H_INCLUDED_


#include "ngx_http_mail_track_zone.h"


/* a message's status, for mail_track_status: one slab chunk of 256 */
typedef struct ngx_http_mail_track_status_s  ngx_http_mail_track_status_t;

struct ngx_http_mail_track_status_s {
    ngx_http_mail_track_status_t       *next;      /* bucket chain */
    ngx_queue_t                         queue;     /* least recent last */
    uint64_t                            hash[2];
    int64_t                             sent_at;
    int64_t                             delivered_at;
    int64_t                             bounced_at;
    int64_t                             complained_at;
    int64_t                             unsubscribed_at;
    int64_t                             opens_first;
    int64_t                             opens_last;
    int64_t                             clicks_first;
    int64_t                             clicks_last;
    uint32_t                            opens;
    uint32_t                            opens_machine;
    uint32_t                            clicks;
    uint32_t                            clicks_machine;
    u_char                             *url;       /* last click, slab */
    uint16_t                            url_len;
    uint16_t                            sources;   /* 1 << mt_src_e */
    u_char                              state;     /* mt_event_type_e + 1 */
    u_char                              bounce;
    u_char                              mid_len;
    u_char                              rcpt_len;
    u_char                              data[1];   /* mid, rcpt */
};


ngx_int_t ngx_http_mail_track_msgstat_init(ngx_http_mail_track_zone_t *zone,
    size_t room);
void ngx_http_mail_track_msgstat_evict(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t n);

void ngx_http_mail_track_status_update(ngx_http_mail_track_zone_t *zone,
    mt_event_t *ev);
ngx_int_t ngx_http_mail_track_status_get(ngx_http_mail_track_zone_t *zone,
    ngx_str_t *mid, ngx_pool_t *pool, ngx_http_mail_track_status_t **out);


#endif /* _NGX_HTTP_MAIL_TRACK_MSGSTAT_H_INCLUDED_ */

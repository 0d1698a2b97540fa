
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_MSGSTAT_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_MSGSTAT_H_INCLUDED_


#include "ngx_http_mail_track_zone.h"
#include "mt_msgstate.h"


/*
 * A message's state, for mail_track_status: the core's state, its
 * strings, and the links of the table.  About 160 bytes and the two
 * strings, in one slab chunk (256 bytes for common ids and addresses).
 */
typedef struct ngx_http_mail_track_status_s  ngx_http_mail_track_status_t;

struct ngx_http_mail_track_status_s {
    ngx_http_mail_track_status_t       *next;      /* bucket chain */
    ngx_queue_t                         queue;     /* least recent last */
    uint64_t                            hash[2];
    u_char                             *url;       /* last click, slab */
    mt_msgstate_t                       ms;
    uint16_t                            mid_len;
    uint16_t                            rcpt_len;
    uint16_t                            rcpt_cap;  /* room after the mid */
    uint16_t                            url_len;
    u_char                              data[1];   /* mid, rcpt */
};


/* a message id and its hash, taken before the zone is locked */
typedef struct {
    mt_str_t                            mid;
    uint64_t                            hash[2];
} ngx_http_mail_track_status_key_t;


ngx_int_t ngx_http_mail_track_msgstat_init(ngx_http_mail_track_zone_t *zone,
    size_t room);
void ngx_http_mail_track_msgstat_evict(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t n);

ngx_int_t ngx_http_mail_track_status_key(mt_event_t *ev,
    ngx_http_mail_track_status_key_t *key);
void ngx_http_mail_track_status_update(ngx_http_mail_track_zone_t *zone,
    mt_event_t *ev);
void ngx_http_mail_track_status_update_locked(
    ngx_http_mail_track_zone_t *zone, mt_event_t *ev,
    ngx_http_mail_track_status_key_t *key);
ngx_int_t ngx_http_mail_track_status_get(ngx_http_mail_track_zone_t *zone,
    ngx_str_t *mid, ngx_pool_t *pool, mt_msgstate_t *ms,
    mt_msgstate_str_t *s);


#endif /* _NGX_HTTP_MAIL_TRACK_MSGSTAT_H_INCLUDED_ */


/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_ZONE_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_ZONE_H_INCLUDED_


#include "ngx_http_mail_track_module.h"


#define NGX_HTTP_MAIL_TRACK_MAGIC        0x4b52544d   /* "MTRK" */
#define NGX_HTTP_MAIL_TRACK_LAYOUT       5

#define NGX_HTTP_MAIL_TRACK_HASH_LEN     16

/* a ring entry: length, flags, then the record, padded to 8 bytes */
#define NGX_HTTP_MAIL_TRACK_ENTRY_HDR    8
#define NGX_HTTP_MAIL_TRACK_DURABLE      0x01


typedef enum {
    NGX_HTTP_MAIL_TRACK_SPOOL_RECORDS = 0,
    NGX_HTTP_MAIL_TRACK_SPOOL_BYTES,
    NGX_HTTP_MAIL_TRACK_SPOOL_FILES,
    NGX_HTTP_MAIL_TRACK_SPOOL_ERRORS,
    NGX_HTTP_MAIL_TRACK_SPOOL_FLUSHES,
    NGX_HTTP_MAIL_TRACK_SPOOL_FSYNCS,
    NGX_HTTP_MAIL_TRACK_SPOOL_RECOVERED,
    NGX_HTTP_MAIL_TRACK_DEDUPE_EVICTED,
    NGX_HTTP_MAIL_TRACK_MACHINE_OPENS,
    NGX_HTTP_MAIL_TRACK_MACHINE_CLICKS,
    NGX_HTTP_MAIL_TRACK_UTF8_REPAIRED,
    NGX_HTTP_MAIL_TRACK_SNS_CERT_FETCHES,
    NGX_HTTP_MAIL_TRACK_SNS_CONFIRMS,
    NGX_HTTP_MAIL_TRACK_MISC_MAX
} ngx_http_mail_track_misc_e;


typedef struct {
    ngx_atomic_t                events[MT_SRC_MAX][MT_EV_MAX];
    ngx_atomic_t                duplicates[MT_SRC_MAX];
    ngx_atomic_t                refused[MT_SRC_MAX][MT_RC_MAX];
    ngx_atomic_t                misc[NGX_HTTP_MAIL_TRACK_MISC_MAX];
} ngx_http_mail_track_counters_t;


/* 64 bytes: one slab chunk, one cache line */
typedef struct ngx_http_mail_track_dedupe_node_s
    ngx_http_mail_track_dedupe_node_t;

struct ngx_http_mail_track_dedupe_node_s {
    ngx_http_mail_track_dedupe_node_t  *next;      /* bucket chain */
    ngx_queue_t                         queue;     /* oldest last */
    uint64_t                            hash[2];
    uint64_t                            aux;       /* replay: event hash */
    uint64_t                            seq;       /* for durable acks */
    time_t                              expire;
};


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


typedef struct {
    ngx_rbtree_node_t           node;      /* key: crc32 of the url */
    ngx_queue_t                 queue;
    size_t                      url_len;
    size_t                      pem_len;
    u_char                      data[1];   /* url, then pem */
} ngx_http_mail_track_cert_node_t;


typedef struct {
    uint32_t                    magic;
    uint32_t                    layout;
    size_t                      size;

    /* the event queue, a byte ring; offsets only grow */
    u_char                     *ring;
    size_t                      ring_size;
    uint64_t                    head;
    uint64_t                    tail;
    uint64_t                    head_seq;
    uint64_t                    tail_seq;
    uint64_t                    durable_seq;
    uint64_t                    peak;

    ngx_http_mail_track_dedupe_node_t  **buckets;
    ngx_uint_t                  nbuckets;      /* a power of two */
    ngx_queue_t                 dedupe_lru;
    ngx_uint_t                  dedupe_n;

    ngx_http_mail_track_status_t  **status;
    ngx_uint_t                  nstatus;       /* buckets, a power of two */
    ngx_queue_t                 status_lru;
    ngx_uint_t                  status_n;

    ngx_rbtree_t                certs;
    ngx_rbtree_node_t           certs_sentinel;
    ngx_queue_t                 certs_lru;

    /* the spool writer: one worker at a time holds the flush role */
    ngx_atomic_t                flusher;
    ngx_uint_t                  part_gen;
    off_t                       part_size;
    int64_t                     part_created;
    ngx_uint_t                  part_records;
    uint64_t                    file_seq;
    ngx_uint_t                  recovered;
    u_char                      part_path[NGX_MAX_PATH + 1];

    int64_t                     started;

    ngx_http_mail_track_counters_t  cnt;
} ngx_http_mail_track_sh_t;


typedef struct {
    ngx_http_mail_track_sh_t   *sh;
    ngx_slab_pool_t            *shpool;
    ngx_str_t                   name;
    size_t                      queue_size;
    time_t                      dedupe;        /* seconds, 0: off */
} ngx_http_mail_track_zone_t;


#define ngx_http_mail_track_count(zone, field)                                \
    (void) ngx_atomic_fetch_add(&(zone)->sh->cnt.field, 1)


char *ngx_http_mail_track_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

ngx_int_t ngx_http_mail_track_zone_append(ngx_http_mail_track_zone_t *zone,
    u_char *rec, size_t len, ngx_uint_t flags, uint64_t *seq);
ngx_int_t ngx_http_mail_track_zone_append_unique(
    ngx_http_mail_track_zone_t *zone, u_char *hash, time_t ttl,
    u_char *rec, size_t len, ngx_uint_t flags, uint64_t *seq);
ngx_int_t ngx_http_mail_track_zone_replay(ngx_http_mail_track_zone_t *zone,
    u_char *hash, uint64_t aux, time_t ttl);

void *ngx_http_mail_track_zone_alloc(ngx_http_mail_track_zone_t *zone,
    size_t size);
void ngx_http_mail_track_status_update(ngx_http_mail_track_zone_t *zone,
    mt_event_t *ev);
ngx_int_t ngx_http_mail_track_status_get(ngx_http_mail_track_zone_t *zone,
    ngx_str_t *mid, ngx_pool_t *pool, ngx_http_mail_track_status_t **out);

ngx_int_t ngx_http_mail_track_cert_get(ngx_http_mail_track_zone_t *zone,
    ngx_str_t *url, ngx_pool_t *pool, ngx_str_t *pem);
void ngx_http_mail_track_cert_put(ngx_http_mail_track_zone_t *zone,
    ngx_str_t *url, ngx_str_t *pem);

/* the spool writer's side of the ring */
ngx_uint_t ngx_http_mail_track_zone_take(ngx_http_mail_track_zone_t *zone,
    u_char *buf, size_t size, ngx_uint_t max, size_t *len,
    size_t *ring_bytes, ngx_uint_t *flags, uint64_t *end_seq);
void ngx_http_mail_track_zone_consume(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t n, size_t bytes, ngx_uint_t durable);
ngx_uint_t ngx_http_mail_track_zone_pending(ngx_http_mail_track_zone_t *zone,
    size_t *bytes);


#endif /* _NGX_HTTP_MAIL_TRACK_ZONE_H_INCLUDED_ */


/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_ZONE_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_ZONE_H_INCLUDED_


#include "ngx_http_mail_track_module.h"
#include "mt_generic.h"
#include "mt_seal.h"


#define NGX_HTTP_MAIL_TRACK_MAGIC        0x4b52544d   /* "MTRK" */
#define NGX_HTTP_MAIL_TRACK_LAYOUT       10

#define NGX_HTTP_MAIL_TRACK_HASH_LEN     16

/*
 * The counters' sources: the built-in providers by mt_src_e, then one
 * slot per mail_track_generic_name (MT_SRC_GENERIC is the first).
 */
#define NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS  16
#define NGX_HTTP_MAIL_TRACK_SRC_SLOTS                                         \
    (MT_SRC_GENERIC + NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS)


typedef enum {
    NGX_HTTP_MAIL_TRACK_SPOOL_RECORDS = 0,
    NGX_HTTP_MAIL_TRACK_SPOOL_BYTES,
    NGX_HTTP_MAIL_TRACK_SPOOL_FILES,
    NGX_HTTP_MAIL_TRACK_SPOOL_ERRORS,
    NGX_HTTP_MAIL_TRACK_SPOOL_FLUSHES,
    NGX_HTTP_MAIL_TRACK_SPOOL_FSYNCS,
    NGX_HTTP_MAIL_TRACK_SPOOL_RECOVERED,
    NGX_HTTP_MAIL_TRACK_SPOOL_DIR_FSYNCS,
    NGX_HTTP_MAIL_TRACK_SPOOL_NOSPACE,
    NGX_HTTP_MAIL_TRACK_DEDUPE_EVICTED,
    NGX_HTTP_MAIL_TRACK_MACHINE_OPENS,
    NGX_HTTP_MAIL_TRACK_MACHINE_CLICKS,
    NGX_HTTP_MAIL_TRACK_UTF8_REPAIRED,
    NGX_HTTP_MAIL_TRACK_SNS_CERT_FETCHES,
    NGX_HTTP_MAIL_TRACK_SNS_CONFIRMS,
    NGX_HTTP_MAIL_TRACK_MISC_MAX
} ngx_http_mail_track_misc_e;


typedef struct {
    ngx_atomic_t                events[NGX_HTTP_MAIL_TRACK_SRC_SLOTS]
                                      [MT_EV_MAX];
    ngx_atomic_t                duplicates[NGX_HTTP_MAIL_TRACK_SRC_SLOTS];
    ngx_atomic_t                refused[NGX_HTTP_MAIL_TRACK_SRC_SLOTS]
                                       [MT_RC_MAX];
    ngx_atomic_t                misc[NGX_HTTP_MAIL_TRACK_MISC_MAX];

    /* the name each generic slot counts for, NUL-terminated */
    u_char                      generic[NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS]
                                       [MT_GEN_NAME_MAX + 1];
} ngx_http_mail_track_counters_t;


/*
 * The spool writer's shared state (ngx_http_mail_track_spool_flush.c).
 * One worker at a time holds the flush role; the role, the open .part
 * and the settings of the newest configuration live here, so workers of
 * an older configuration write where the newest ones do.
 */
typedef struct {
    ngx_pid_t                   flusher;       /* 0: nobody */
    uint64_t                    flusher_start; /* its start, /proc */
    ngx_msec_t                  flusher_since; /* monotonic, as all */

    uint64_t                    sync_seq;      /* durable wanted below */
    size_t                      batch_limit;   /* smaller while disk full */
    ngx_msec_t                  retry_at;      /* after a failure */

    uint64_t                    part_first;    /* seq of its first record */
    ngx_uint_t                  part_gen;
    off_t                       part_size;
    int64_t                     part_created;
    ngx_uint_t                  part_records;
    ngx_uint_t                  part_dir_synced;
    uint64_t                    file_seq;

    /*
     * seal=: the current part's key and header, the count of its
     * chunks and the next nonce counter, which a writer takes before
     * each attempt (docs/spool-format.md); all zero for a plain part
     */
    ngx_uint_t                  part_sealed;
    mt_seal_file_t              part_seal;

    ngx_uint_t                  recovered;     /* path scanned */
    ngx_msec_t                  recover_at;

    off_t                       max_size;
    ngx_msec_t                  max_age;
    ngx_msec_t                  flush;
    ngx_uint_t                  fsync;
    ngx_uint_t                  sync_seal;     /* durable acks in use */
    ngx_uint_t                  mode;          /* of new files */
    ngx_uint_t                  seal;          /* seal= is set, for: */
    u_char                      seal_pub[MT_SEAL_KEY_LEN];

    u_char                      path[NGX_MAX_PATH + 1];
    u_char                      part_path[NGX_MAX_PATH + 1];
} ngx_http_mail_track_spool_sh_t;


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

    /* the tables' node types are in their own headers */

    struct ngx_http_mail_track_dedupe_node_s  **buckets;
    ngx_uint_t                  nbuckets;      /* a power of two */
    ngx_queue_t                 dedupe_lru;
    ngx_uint_t                  dedupe_n;

    struct ngx_http_mail_track_status_s       **status;
    ngx_uint_t                  nstatus;       /* buckets, a power of two */
    ngx_queue_t                 status_lru;
    ngx_uint_t                  status_n;

    ngx_rbtree_t                certs;
    ngx_rbtree_node_t           certs_sentinel;
    ngx_queue_t                 certs_lru;

    ngx_http_mail_track_spool_sh_t  spool;

    int64_t                     started;
    ngx_atomic_t                spool_progress;  /* ms: last write or
                                                    an empty queue seen */

    ngx_http_mail_track_counters_t  cnt;
} ngx_http_mail_track_sh_t;


typedef struct {
    ngx_http_mail_track_sh_t   *sh;
    ngx_slab_pool_t            *shpool;
    ngx_str_t                   name;
    size_t                      queue_size;
    time_t                      dedupe;        /* seconds, 0: off */
    ngx_array_t                *generic;       /* ngx_str_t */

    /* the zone's slot of each of those names */
    ngx_uint_t                  generic_slot
                                    [NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS];
} ngx_http_mail_track_zone_t;


#define ngx_http_mail_track_count(zone, field)                                \
    (void) ngx_atomic_fetch_add(&(zone)->sh->cnt.field, 1)


char *ngx_http_mail_track_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void *ngx_http_mail_track_zone_alloc(ngx_http_mail_track_zone_t *zone,
    size_t size);
ngx_str_t ngx_http_mail_track_src_label(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t src);
ngx_uint_t ngx_http_mail_track_src_slot(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t src);


#endif /* _NGX_HTTP_MAIL_TRACK_ZONE_H_INCLUDED_ */

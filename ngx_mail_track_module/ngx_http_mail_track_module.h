
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_MODULE_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mt_core.h"
#include "mt_version.h"
#include "mt_event.h"
#include "mt_token.h"
#include "mt_webhook.h"
#include "mt_seal.h"
#include "mt_privacy.h"


#define NGX_HTTP_MAIL_TRACK_IP_FULL       0
#define NGX_HTTP_MAIL_TRACK_IP_TRUNCATE   1
#define NGX_HTTP_MAIL_TRACK_IP_OFF        2

#define NGX_HTTP_MAIL_TRACK_ACK_QUEUED    0
#define NGX_HTTP_MAIL_TRACK_ACK_DURABLE   1


typedef struct {
    ngx_str_t                   path;
    ngx_msec_t                  flush;
    ngx_uint_t                  batch;
    off_t                       max_size;
    ngx_msec_t                  max_age;
    ngx_flag_t                  fsync;
    ngx_uint_t                  durable;   /* durable acks in use */
    ngx_uint_t                  mode;      /* of new files; 0: auto */
    ngx_str_t                   seal_file;
    mt_seal_key_t              *seal;      /* a public key, or NULL */
#if (NGX_THREADS)
    ngx_thread_pool_t          *thread_pool;
#endif
    ngx_str_t                   file;      /* conf file, for messages */
    ngx_uint_t                  line;
} ngx_http_mail_track_spool_conf_t;


typedef struct {
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_mail_track_spool_conf_t  *spool;
    ngx_str_t                          id_field;
    ngx_array_t                       *generic_names;  /* ngx_str_t */
    ngx_uint_t                         used;   /* an event handler exists */
    ngx_uint_t                         query;  /* status or metrics */
    ngx_uint_t                         durable; /* mail_track_webhook_ack */
} ngx_http_mail_track_main_conf_t;


typedef struct {
    mt_keyring_t               *keyring;
    ngx_uint_t                  ip;
    ngx_uint_t                  rcpt;
    ngx_uint_t                  ua;
    ngx_uint_t                  url;
    mt_rcpt_hasher_t           *rcpt_key;
    ngx_uint_t                  minimise;      /* a switch is not full */
    mt_privacy_t                privacy;       /* built in merge */
    ngx_uint_t                  log_level;
    ngx_str_t                   click_fallback;
    ngx_str_t                   token_handler;  /* needs mail_track_keys */

    const mt_provider_t        *provider;
    ngx_array_t                *wh_keys;       /* ngx_str_t */
    ngx_flag_t                  wh_auth;
    time_t                      wh_tolerance;
    ngx_str_t                   wh_url;
    ngx_uint_t                  wh_ack;
    ngx_array_t                *sns_topics;    /* ngx_str_t */
    ngx_str_t                   sns_cert_dir;
    ngx_str_t                   sns_cert_fetch;
    ngx_str_t                   sns_ca;
    void                       *sns_store;     /* X509_STORE * */
    ngx_flag_t                  sns_confirm;
    mt_wh_conf_t               *wh;            /* built in merge */
    void                       *generic;       /* mt_gen_conf_t */
    ngx_uint_t                  src_slot;      /* its counters' source */
} ngx_http_mail_track_loc_conf_t;


/* per request, for the variables */
typedef struct {
    ngx_int_t                   event;         /* mt_event_type_e, -1 */
    ngx_str_t                   mid;
    ngx_str_t                   result;
    void                       *data;          /* the handler's state */
} ngx_http_mail_track_ctx_t;


extern ngx_module_t  ngx_http_mail_track_module;


ngx_http_mail_track_ctx_t *ngx_http_mail_track_get_ctx(ngx_http_request_t *r);
void ngx_http_mail_track_set_result(ngx_http_request_t *r,
    ngx_http_mail_track_ctx_t *ctx, const char *result);
int64_t ngx_http_mail_track_now_ms(void);
ngx_int_t ngx_http_mail_track_read_file(ngx_str_t *path, size_t max,
    ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *out, ngx_err_t *err);
char *ngx_http_mail_track_read_secret(ngx_conf_t *cf, ngx_str_t *path,
    size_t max, const char *what, ngx_str_t *out);
u_char *ngx_http_mail_track_mode_text(u_char *buf, ngx_uint_t mode);


#endif /* _NGX_HTTP_MAIL_TRACK_MODULE_H_INCLUDED_ */

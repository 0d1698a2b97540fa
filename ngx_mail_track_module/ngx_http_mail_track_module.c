
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Directives, configuration, process hooks and variables.
 */


#include "ngx_http_mail_track_module.h"
#include "ngx_http_mail_track_zone.h"
#include "ngx_http_mail_track_spool.h"
#include "ngx_http_mail_track_handler.h"
#include "ngx_http_mail_track_webhook.h"
#include "ngx_http_mail_track_status.h"
#include "ngx_http_mail_track_generic.h"


static ngx_int_t ngx_http_mail_track_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_mail_track_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_mail_track_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mail_track_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mail_track_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mail_track_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_mail_track_keys(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_mail_track_keyring_cleanup(void *data);
static char *ngx_http_mail_track_rcpt_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_mail_track_rcpt_key_cleanup(void *data);
static char *ngx_http_mail_track_privacy_merge(ngx_conf_t *cf,
    ngx_http_mail_track_loc_conf_t *conf);
static char *ngx_http_mail_track_set_handler(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_mail_track_webhook(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mail_track_click_fallback(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_mail_track_init_module(ngx_cycle_t *cycle);
static void ngx_http_mail_track_log_version(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_mail_track_init_process(ngx_cycle_t *cycle);
static void ngx_http_mail_track_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_mail_track_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_conf_enum_t  ngx_http_mail_track_ip_modes[] = {
    { ngx_string("full"), NGX_HTTP_MAIL_TRACK_IP_FULL },
    { ngx_string("truncate"), NGX_HTTP_MAIL_TRACK_IP_TRUNCATE },
    { ngx_string("off"), NGX_HTTP_MAIL_TRACK_IP_OFF },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_mail_track_rcpt_modes[] = {
    { ngx_string("full"), MT_PRIV_FULL },
    { ngx_string("hash"), MT_PRIV_HASH },
    { ngx_string("off"), MT_PRIV_OFF },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_mail_track_ua_modes[] = {
    { ngx_string("full"), MT_PRIV_FULL },
    { ngx_string("class"), MT_PRIV_CLASS },
    { ngx_string("off"), MT_PRIV_OFF },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_mail_track_url_modes[] = {
    { ngx_string("full"), MT_PRIV_FULL },
    { ngx_string("host"), MT_PRIV_HOST },
    { ngx_string("off"), MT_PRIV_OFF },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_mail_track_ack_modes[] = {
    { ngx_string("queued"), NGX_HTTP_MAIL_TRACK_ACK_QUEUED },
    { ngx_string("durable"), NGX_HTTP_MAIL_TRACK_ACK_DURABLE },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_mail_track_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_mail_track_commands[] = {

    { ngx_string("mail_track_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_mail_track_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_spool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_mail_track_spool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_id_field"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mail_track_main_conf_t, id_field),
      NULL },

    { ngx_string("mail_track_keys"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mail_track_keys,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_ip"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, ip),
      &ngx_http_mail_track_ip_modes },

    { ngx_string("mail_track_rcpt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, rcpt),
      &ngx_http_mail_track_rcpt_modes },

    { ngx_string("mail_track_rcpt_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mail_track_rcpt_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_ua"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, ua),
      &ngx_http_mail_track_ua_modes },

    { ngx_string("mail_track_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, url),
      &ngx_http_mail_track_url_modes },

    { ngx_string("mail_track_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, log_level),
      &ngx_http_mail_track_log_levels },

    { ngx_string("mail_track_open"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mail_track_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_mail_track_open_handler },

    { ngx_string("mail_track_click"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mail_track_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_mail_track_click_handler },

    { ngx_string("mail_track_click_fallback"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mail_track_click_fallback,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, click_fallback),
      NULL },

    { ngx_string("mail_track_unsubscribe"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mail_track_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_mail_track_unsubscribe_handler },

    { ngx_string("mail_track_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mail_track_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_mail_track_status_handler },

    { ngx_string("mail_track_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mail_track_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_mail_track_metrics_handler },

    { ngx_string("mail_track_webhook"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mail_track_webhook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_webhook_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, wh_keys),
      NULL },

    { ngx_string("mail_track_webhook_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, wh_auth),
      NULL },

    { ngx_string("mail_track_webhook_tolerance"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, wh_tolerance),
      NULL },

    { ngx_string("mail_track_webhook_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, wh_url),
      NULL },

    { ngx_string("mail_track_webhook_ack"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, wh_ack),
      &ngx_http_mail_track_ack_modes },

    { ngx_string("mail_track_sns_topic"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, sns_topics),
      NULL },

    { ngx_string("mail_track_sns_cert_dir"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, sns_cert_dir),
      NULL },

    { ngx_string("mail_track_sns_cert_fetch"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, sns_cert_fetch),
      NULL },

    { ngx_string("mail_track_sns_ca"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, sns_ca),
      NULL },

    { ngx_string("mail_track_sns_confirm"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mail_track_loc_conf_t, sns_confirm),
      NULL },

    { ngx_string("mail_track_generic_name"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mail_track_generic,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_generic_format"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mail_track_generic,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_generic_events"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mail_track_generic,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_generic_auth"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mail_track_generic,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_generic_token"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mail_track_generic,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_generic_digest"),
      NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_mail_track_generic,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_generic_message"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mail_track_generic,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_generic_timestamp"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_mail_track_generic,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_generic_nonce"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mail_track_generic,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_generic_field"),
      NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_mail_track_generic,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_generic_event"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_mail_track_generic,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mail_track_generic_bounce"),
      NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_mail_track_generic,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mail_track_module_ctx = {
    ngx_http_mail_track_add_variables,      /* preconfiguration */
    ngx_http_mail_track_postconfiguration,  /* postconfiguration */

    ngx_http_mail_track_create_main_conf,   /* create main configuration */
    ngx_http_mail_track_init_main_conf,     /* init main configuration */

    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */

    ngx_http_mail_track_create_loc_conf,    /* create location configuration */
    ngx_http_mail_track_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_mail_track_module = {
    NGX_MODULE_V1,
    &ngx_http_mail_track_module_ctx,        /* module context */
    ngx_http_mail_track_commands,           /* module directives */
    NGX_HTTP_MODULE,                        /* module type */
    NULL,                                   /* init master */
    ngx_http_mail_track_init_module,        /* init module */
    ngx_http_mail_track_init_process,       /* init process */
    NULL,                                   /* init thread */
    NULL,                                   /* exit thread */
    ngx_http_mail_track_exit_process,       /* exit process */
    NULL,                                   /* exit master */
    NGX_MODULE_V1_PADDING
};


#define NGX_HTTP_MAIL_TRACK_VAR_EVENT    0
#define NGX_HTTP_MAIL_TRACK_VAR_MID      1
#define NGX_HTTP_MAIL_TRACK_VAR_RESULT   2


static ngx_http_variable_t  ngx_http_mail_track_vars[] = {

    { ngx_string("mail_track_event"), NULL, ngx_http_mail_track_variable,
      NGX_HTTP_MAIL_TRACK_VAR_EVENT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mail_track_message_id"), NULL, ngx_http_mail_track_variable,
      NGX_HTTP_MAIL_TRACK_VAR_MID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mail_track_result"), NULL, ngx_http_mail_track_variable,
      NGX_HTTP_MAIL_TRACK_VAR_RESULT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_mail_track_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_mail_track_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return ngx_http_mail_track_webhook_variables(cf);
}


static ngx_int_t
ngx_http_mail_track_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                        s;
    ngx_http_mail_track_ctx_t       *ctx;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mail_track_module);

    /*
     * nginx refuses a body over client_max_body_size before the handler
     * runs, and the access log is written before our log phase handler
     */

    if (data == NGX_HTTP_MAIL_TRACK_VAR_RESULT
        && r->headers_out.status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
        && (ctx == NULL || ctx->result.len == 0))
    {
        mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

        if (mlcf->provider) {
            v->data = (u_char *) mt_rc_name(MT_ERR_TOO_LARGE);
            v->len = ngx_strlen(v->data);
            v->valid = 1;
            v->no_cacheable = 1;
            v->not_found = 0;
            return NGX_OK;
        }
    }

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_MAIL_TRACK_VAR_EVENT:
        if (ctx->event < 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        s.data = (u_char *) mt_event_type_names[ctx->event];
        s.len = ngx_strlen(s.data);
        break;

    case NGX_HTTP_MAIL_TRACK_VAR_MID:
        s = ctx->mid;
        break;

    default:
        s = ctx->result;
        break;
    }

    if (s.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s.data;

    return NGX_OK;
}


ngx_http_mail_track_ctx_t *
ngx_http_mail_track_get_ctx(ngx_http_request_t *r)
{
    ngx_http_mail_track_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mail_track_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mail_track_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ctx->event = -1;

        ngx_http_set_ctx(r, ctx, ngx_http_mail_track_module);
    }

    return ctx;
}


void
ngx_http_mail_track_set_result(ngx_http_request_t *r,
    ngx_http_mail_track_ctx_t *ctx, const char *result)
{
    (void) r;

    ctx->result.data = (u_char *) result;
    ctx->result.len = ngx_strlen(result);
}


/*
 * A small file whole into a pool buffer (NUL-terminated).  NGX_DECLINED:
 * larger than max; NGX_ERROR: err says why it could not be read.
 */

ngx_int_t
ngx_http_mail_track_read_file(ngx_str_t *path, size_t max, ngx_pool_t *pool,
    ngx_log_t *log, ngx_str_t *out, ngx_err_t *err)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_int_t        rc;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    *err = 0;

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        *err = ngx_errno;
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *path;
    file.log = log;

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        *err = ngx_errno;
        goto done;
    }

    if ((size_t) ngx_file_size(&fi) > max) {
        rc = NGX_DECLINED;
        goto done;
    }

    out->data = ngx_pnalloc(pool, (size_t) ngx_file_size(&fi) + 1);
    if (out->data == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, out->data, (size_t) ngx_file_size(&fi), 0);

    if (n == NGX_ERROR || n != (ssize_t) ngx_file_size(&fi)) {
        *err = ngx_errno;
        goto done;
    }

    out->len = (size_t) n;
    out->data[n] = '\0';
    rc = NGX_OK;

done:

    (void) ngx_close_file(fd);

    return rc;
}


/*
 * A key file for the configuration: refused when others may read it
 * (the group is the operator's: an application's or a loader's).
 */

char *
ngx_http_mail_track_read_secret(ngx_conf_t *cf, ngx_str_t *path, size_t max,
    const char *what, ngx_str_t *out)
{
    ngx_err_t        err;
    ngx_file_info_t  fi;
    u_char           mode[5];

    if (ngx_file_info(path->data, &fi) != NGX_FILE_ERROR
        && (fi.st_mode & S_IROTH))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" is readable by others (mode "
                           "%s): chmod o-rwx it", what, path,
                           ngx_http_mail_track_mode_text(mode, fi.st_mode));
        return NGX_CONF_ERROR;
    }

    switch (ngx_http_mail_track_read_file(path, max, cf->temp_pool, cf->log,
                                          out, &err))
    {
    case NGX_OK:
        return NGX_CONF_OK;

    case NGX_DECLINED:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" is larger than %uz bytes", what,
                           path, max);
        return NGX_CONF_ERROR;

    default:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                           "cannot read %s file \"%V\"", what, path);
        return NGX_CONF_ERROR;
    }
}


/* a file mode as four octal digits: nginx's formats have no octal */

u_char *
ngx_http_mail_track_mode_text(u_char *buf, ngx_uint_t mode)
{
    ngx_uint_t  i;

    for (i = 0; i < 4; i++) {
        buf[i] = (u_char) ('0' + ((mode >> (9 - 3 * i)) & 7));
    }

    buf[4] = '\0';

    return buf;
}


int64_t
ngx_http_mail_track_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


static void *
ngx_http_mail_track_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mail_track_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mail_track_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mmcf->shm_zone = NULL;
     *     mmcf->spool = NULL;
     *     mmcf->id_field = { 0, NULL };
     *     mmcf->used = 0;
     *     mmcf->durable = 0;
     */

    return mmcf;
}


static char *
ngx_http_mail_track_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mail_track_main_conf_t  *mmcf = conf;

    if (mmcf->id_field.data == NULL) {
        ngx_str_set(&mmcf->id_field, "mail_track_id");
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_mail_track_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mail_track_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mail_track_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->click_fallback = { 0, NULL };
     *     conf->provider = NULL;
     *     conf->wh_url = { 0, NULL };
     *     conf->sns_cert_dir = { 0, NULL };
     *     conf->sns_cert_fetch = { 0, NULL };
     *     conf->sns_ca = { 0, NULL };
     *     conf->sns_store = NULL;
     *     conf->wh = NULL;
     */

    conf->keyring = NGX_CONF_UNSET_PTR;
    conf->ip = NGX_CONF_UNSET_UINT;
    conf->rcpt = NGX_CONF_UNSET_UINT;
    conf->ua = NGX_CONF_UNSET_UINT;
    conf->url = NGX_CONF_UNSET_UINT;
    conf->rcpt_key = NGX_CONF_UNSET_PTR;
    conf->log_level = NGX_CONF_UNSET_UINT;
    conf->wh_keys = NGX_CONF_UNSET_PTR;
    conf->wh_auth = NGX_CONF_UNSET;
    conf->wh_tolerance = NGX_CONF_UNSET;
    conf->wh_ack = NGX_CONF_UNSET_UINT;
    conf->sns_topics = NGX_CONF_UNSET_PTR;
    conf->sns_confirm = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_mail_track_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mail_track_loc_conf_t *prev = parent;
    ngx_http_mail_track_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->keyring, prev->keyring, NULL);
    ngx_conf_merge_uint_value(conf->ip, prev->ip, NGX_HTTP_MAIL_TRACK_IP_FULL);
    ngx_conf_merge_uint_value(conf->rcpt, prev->rcpt, MT_PRIV_FULL);
    ngx_conf_merge_uint_value(conf->ua, prev->ua, MT_PRIV_FULL);
    ngx_conf_merge_uint_value(conf->url, prev->url, MT_PRIV_FULL);
    ngx_conf_merge_ptr_value(conf->rcpt_key, prev->rcpt_key, NULL);

    if (ngx_http_mail_track_privacy_merge(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_uint_value(conf->log_level, prev->log_level, NGX_LOG_ERR);
    ngx_conf_merge_str_value(conf->click_fallback, prev->click_fallback, "");

    ngx_conf_merge_ptr_value(conf->wh_keys, prev->wh_keys, NULL);
    ngx_conf_merge_value(conf->wh_auth, prev->wh_auth, 1);
    ngx_conf_merge_value(conf->wh_tolerance, prev->wh_tolerance, -1);
    ngx_conf_merge_str_value(conf->wh_url, prev->wh_url, "");
    ngx_conf_merge_uint_value(conf->wh_ack, prev->wh_ack,
                              NGX_HTTP_MAIL_TRACK_ACK_QUEUED);
    ngx_conf_merge_ptr_value(conf->sns_topics, prev->sns_topics, NULL);
    ngx_conf_merge_str_value(conf->sns_cert_dir, prev->sns_cert_dir, "");
    ngx_conf_merge_str_value(conf->sns_cert_fetch, prev->sns_cert_fetch, "");
    ngx_conf_merge_str_value(conf->sns_ca, prev->sns_ca, "");
    ngx_conf_merge_value(conf->sns_confirm, prev->sns_confirm, 0);

    if (conf->token_handler.len && conf->keyring == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" requires \"mail_track_keys\"",
                           &conf->token_handler);
        return NGX_CONF_ERROR;
    }

    if (conf->provider
        && ngx_http_mail_track_webhook_merge(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    return ngx_http_mail_track_generic_merge(cf, conf);
}


static char *
ngx_http_mail_track_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mail_track_loc_conf_t  *mlcf = conf;

    char                 msg[256];
    ngx_str_t           *value, path, text;
    mt_keyring_t        *kr;
    ngx_pool_cleanup_t  *cln;

    if (mlcf->keyring != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mail_track_read_secret(cf, &path, 1024 * 1024, "key", &text)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    kr = mt_keyring_create();
    if (kr == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        mt_keyring_free(kr);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_mail_track_keyring_cleanup;
    cln->data = kr;

    if (mt_keyring_parse(kr, text.data, text.len, msg, sizeof(msg)) != 0) {
        ngx_explicit_memzero(text.data, text.len);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key file \"%V\": %s", &path, msg);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(text.data, text.len);

    mlcf->keyring = kr;

    (void) cmd;

    return NGX_CONF_OK;
}


static void
ngx_http_mail_track_keyring_cleanup(void *data)
{
    mt_keyring_free(data);
}


/* mail_track_rcpt_key FILE: "mail-track keygen --hash", never rotated */

static char *
ngx_http_mail_track_rcpt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mail_track_loc_conf_t  *mlcf = conf;

    ngx_str_t           *value, path, text;
    mt_rcpt_hasher_t    *h;
    ngx_pool_cleanup_t  *cln;
    u_char               key[MT_RCPT_KEY_LEN];

    if (mlcf->rcpt_key != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mail_track_read_secret(cf, &path, 4096, "hash key", &text)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (mt_rcpt_key_parse(text.data, text.len, key) != 0) {
        ngx_explicit_memzero(text.data, text.len);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid hash key \"%V\": expected one line of "
                           "base64, %d bytes (mail-track keygen --hash)",
                           &path, MT_RCPT_KEY_LEN);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(text.data, text.len);

    h = ngx_pcalloc(cf->pool, sizeof(mt_rcpt_hasher_t));
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_mail_track_rcpt_key_cleanup;
    cln->data = h;

    if (mt_rcpt_hasher_init(h, key, MT_RCPT_KEY_LEN) != 0) {
        ngx_explicit_memzero(key, sizeof(key));
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "HMAC-SHA256 is not available from OpenSSL");
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(key, sizeof(key));

    mlcf->rcpt_key = h;

    (void) cmd;

    return NGX_CONF_OK;
}


static void
ngx_http_mail_track_rcpt_key_cleanup(void *data)
{
    mt_rcpt_hasher_free(data);
}


/*
 * mail_track_rcpt, _ua, _url and _ip (for what providers report): what
 * every source's events keep.  A location with all of them full costs
 * the requests nothing.
 */

static char *
ngx_http_mail_track_privacy_merge(ngx_conf_t *cf,
    ngx_http_mail_track_loc_conf_t *conf)
{
    mt_privacy_t  *p;

    if (conf->rcpt == MT_PRIV_HASH && conf->rcpt_key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mail_track_rcpt hash\" requires "
                           "\"mail_track_rcpt_key\"");
        return NGX_CONF_ERROR;
    }

    p = &conf->privacy;

    p->rcpt = conf->rcpt;
    p->ua = conf->ua;
    p->url = conf->url;
    p->hasher = conf->rcpt_key;

    switch (conf->ip) {
    case NGX_HTTP_MAIL_TRACK_IP_TRUNCATE:
        p->ip = MT_PRIV_TRUNCATE;
        break;
    case NGX_HTTP_MAIL_TRACK_IP_OFF:
        p->ip = MT_PRIV_OFF;
        break;
    default:
        p->ip = MT_PRIV_FULL;
    }

    conf->minimise = (p->rcpt != MT_PRIV_FULL || p->ua != MT_PRIV_FULL
                      || p->url != MT_PRIV_FULL
                      || (p->ip != MT_PRIV_FULL && conf->provider != NULL));

    return NGX_CONF_OK;
}


static char *
ngx_http_mail_track_set_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_mail_track_loc_conf_t  *mlcf = conf;

    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_mail_track_main_conf_t  *mmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mail_track_module);

    if (clcf->handler == ngx_http_mail_track_metrics_handler
        || clcf->handler == ngx_http_mail_track_status_handler)
    {
        mmcf->query = 1;

    } else {
        mmcf->used = 1;
        mlcf->token_handler = cmd->name;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mail_track_webhook(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mail_track_loc_conf_t  *mlcf = conf;

    ngx_str_t                        *value;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_mail_track_main_conf_t  *mmcf;

    if (mlcf->provider) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mlcf->provider = mt_provider_find(value[1].data, value[1].len);

    if (mlcf->provider == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown provider \"%V\", expected one of "
                           "sendgrid mailgun ses postmark sparkpost "
                           "mandrill mailjet brevo resend generic",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_mail_track_webhook_handler;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mail_track_module);
    mmcf->used = 1;

    (void) cmd;

    return NGX_CONF_OK;
}


static char *
ngx_http_mail_track_click_fallback(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char       *rv;
    ngx_str_t  *value;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    if (!mt_url_allowed(value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fallback \"%V\" is not an absolute http(s) URL",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mail_track_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt              *h;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_mail_track_zone_t       *zone;
    ngx_http_mail_track_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mail_track_module);

    if (mmcf->spool && mmcf->shm_zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"mail_track_spool\" requires \"mail_track_zone\"");
        return NGX_ERROR;
    }

    if (mmcf->spool) {
        /* locations are merged by now */
        mmcf->spool->durable = mmcf->durable;
    }

    if (mmcf->query && mmcf->shm_zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"mail_track_status\" and \"mail_track_metrics\" "
                      "require \"mail_track_zone\" at the http level");
        return NGX_ERROR;
    }

    if (!mmcf->used) {
        return NGX_OK;
    }

    if (mmcf->shm_zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "mail_track handlers require \"mail_track_zone\" "
                      "at the http level");
        return NGX_ERROR;
    }

    zone = mmcf->shm_zone->data;
    zone->generic = mmcf->generic_names;

    if (mmcf->spool == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "mail_track handlers require \"mail_track_spool\" "
                      "at the http level");
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mail_track_webhook_log;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mail_track_init_module(ngx_cycle_t *cycle)
{
    ngx_http_mail_track_main_conf_t  *mmcf;

    if (ngx_process == NGX_PROCESS_SIGNALLER || ngx_test_config) {
        return NGX_OK;
    }

    ngx_http_mail_track_log_version(cycle);

    mmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mail_track_module);

    if (mmcf == NULL || mmcf->spool == NULL) {
        return NGX_OK;
    }

    return ngx_http_mail_track_spool_check_dir(cycle, mmcf->spool);
}


/*
 * A reload does not load a replaced module file: the dynamic loader
 * hands nginx the object it already has for that path, so the old code
 * runs on.  The file's identity is kept in a static, which survives
 * reloads for that very reason, and a replaced file is named.
 */

static void
ngx_http_mail_track_log_version(ngx_cycle_t *cycle)
{
    Dl_info           info;
    ngx_file_info_t   fi;

    static dev_t       dev;
    static ino_t       ino;
    static ngx_uint_t  known;

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "ngx_http_mail_track_module/" MT_VERSION);

    if (dladdr(&ngx_http_mail_track_module, &info) == 0
        || info.dli_fname == NULL || info.dli_fname[0] != '/')
    {
        return;
    }

    if (ngx_file_info(info.dli_fname, &fi) == NGX_FILE_ERROR) {
        return;
    }

    if (!known) {
        dev = fi.st_dev;
        ino = fi.st_ino;
        known = 1;
        return;
    }

    if (fi.st_dev != dev || fi.st_ino != ino) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "mail_track: module file \"%s\" was replaced, "
                      "version " MT_VERSION " runs on until nginx is "
                      "restarted (a reload keeps a loaded module)",
                      info.dli_fname);
    }
}


static ngx_int_t
ngx_http_mail_track_init_process(ngx_cycle_t *cycle)
{
    ngx_http_mail_track_main_conf_t  *mmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mail_track_module);

    if (mmcf == NULL || mmcf->shm_zone == NULL || mmcf->spool == NULL) {
        return NGX_OK;
    }

    if (mt_wh_json_init() != 0) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "mail_track: cannot allocate the JSON parsers");
        return NGX_ERROR;
    }

    return ngx_http_mail_track_spool_init_process(cycle,
                                                  mmcf->shm_zone->data,
                                                  mmcf->spool);
}


static void
ngx_http_mail_track_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mail_track_spool_exit_process(cycle);
    ngx_http_mail_track_webhook_exit();
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The mail_track_generic_* directives: each is handed to the core's
 * parser as it is read (so an error names its line); the location is
 * checked as a whole once it is merged.
 */


#include "ngx_http_mail_track_generic.h"
#include "ngx_http_mail_track_zone.h"


#define NGX_HTTP_MAIL_TRACK_GENERIC_PREFIX  "mail_track_generic_"


static mt_gen_conf_t *ngx_http_mail_track_generic_conf(ngx_conf_t *cf,
    ngx_http_mail_track_loc_conf_t *mlcf);
static char *ngx_http_mail_track_generic_slot(ngx_conf_t *cf,
    ngx_http_mail_track_loc_conf_t *conf);
static void *ngx_http_mail_track_generic_alloc(void *data, size_t size);
static void ngx_http_mail_track_generic_cleanup(void *data);


char *
ngx_http_mail_track_generic(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mail_track_loc_conf_t  *mlcf = conf;

    char           *name;
    char            err[512];
    mt_rc_t         rc;
    ngx_str_t      *value;
    mt_gen_conf_t  *gc;

    gc = ngx_http_mail_track_generic_conf(cf, mlcf);
    if (gc == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    name = (char *) cmd->name.data + sizeof(NGX_HTTP_MAIL_TRACK_GENERIC_PREFIX)
           - 1;

    /* ngx_str_t and mt_str_t share their layout */

    rc = mt_gen_directive(gc, name, (mt_str_t *) &value[1],
                          cf->args->nelts - 1, err, sizeof(err));

    if (rc == MT_ERR_NOMEM) {
        return NGX_CONF_ERROR;
    }

    if (rc != MT_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\": %s", &cmd->name,
                           err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* after mail_track_webhook's own merge: the whole location is known */

char *
ngx_http_mail_track_generic_merge(ngx_conf_t *cf,
    ngx_http_mail_track_loc_conf_t *conf)
{
    char      err[512];
    mt_rc_t   rc;

    if (conf->provider == NULL || conf->provider->src != MT_SRC_GENERIC) {
        if (conf->generic != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mail_track_generic_*\" directives require "
                               "\"mail_track_webhook generic\" in the same "
                               "location");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    /* nothing configured: mt_gen_conf_finish() says what is missing */

    if (ngx_http_mail_track_generic_conf(cf, conf) == NULL) {
        return NGX_CONF_ERROR;
    }

    rc = mt_gen_conf_finish(conf->generic, conf->wh, err, sizeof(err));

    if (rc == MT_ERR_NOMEM) {
        return NGX_CONF_ERROR;
    }

    if (rc != MT_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mail_track_webhook generic\": %s", err);
        return NGX_CONF_ERROR;
    }

    return ngx_http_mail_track_generic_slot(cf, conf);
}


/*
 * The counters of each name: its place among this configuration's names
 * (in the order they first appear), which the zone maps to its slot.
 */

static char *
ngx_http_mail_track_generic_slot(ngx_conf_t *cf,
    ngx_http_mail_track_loc_conf_t *conf)
{
    ngx_str_t                        *names, *name;
    ngx_uint_t                        i;
    mt_gen_conf_t                    *gc;
    ngx_http_mail_track_main_conf_t  *mmcf;

    gc = conf->generic;
    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mail_track_module);

    if (mmcf->generic_names == NULL) {
        mmcf->generic_names = ngx_array_create(cf->pool, 4,
                                               sizeof(ngx_str_t));
        if (mmcf->generic_names == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    names = mmcf->generic_names->elts;

    for (i = 0; i < mmcf->generic_names->nelts; i++) {
        if (names[i].len == gc->name.len
            && ngx_strncmp(names[i].data, gc->name.data, gc->name.len) == 0)
        {
            conf->src_slot = MT_SRC_GENERIC + i;
            return NGX_CONF_OK;
        }
    }

    if (i == NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "more than %d names of \"mail_track_webhook "
                           "generic\" locations",
                           NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS);
        return NGX_CONF_ERROR;
    }

    name = ngx_array_push(mmcf->generic_names);
    if (name == NULL) {
        return NGX_CONF_ERROR;
    }

    name->data = gc->name.data;
    name->len = gc->name.len;

    conf->src_slot = MT_SRC_GENERIC + i;

    return NGX_CONF_OK;
}


static mt_gen_conf_t *
ngx_http_mail_track_generic_conf(ngx_conf_t *cf,
    ngx_http_mail_track_loc_conf_t *mlcf)
{
    mt_alloc_t           a;
    mt_gen_conf_t       *gc;
    ngx_pool_cleanup_t  *cln;

    if (mlcf->generic != NULL) {
        return mlcf->generic;
    }

    a.alloc = ngx_http_mail_track_generic_alloc;
    a.data = cf->pool;

    gc = mt_gen_conf_create(&a);
    if (gc == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mail_track_generic_cleanup;
    cln->data = gc;

    mlcf->generic = gc;

    return gc;
}


static void *
ngx_http_mail_track_generic_alloc(void *data, size_t size)
{
    return ngx_palloc(data, size);
}


static void
ngx_http_mail_track_generic_cleanup(void *data)
{
    mt_gen_conf_free(data);
}

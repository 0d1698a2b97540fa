
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The shared zone: one slab pool that all workers share and that a
 * reload with the same size keeps.  It holds the event queue (_queue.c),
 * the dedupe and replay table (_dedupe.c), the message states
 * (_msgstat.c), the SNS certificate cache (_certs.c) and the counters;
 * this file makes the zone, takes it over on reload, and makes room in
 * it when it is full.
 */


#include "ngx_http_mail_track_zone.h"
#include "ngx_http_mail_track_queue.h"
#include "ngx_http_mail_track_dedupe.h"
#include "ngx_http_mail_track_msgstat.h"
#include "ngx_http_mail_track_certs.h"


static void ngx_http_mail_track_zone_names(ngx_http_mail_track_zone_t *zone);
static ngx_int_t ngx_http_mail_track_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


char *
ngx_http_mail_track_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mail_track_main_conf_t  *mmcf = conf;

    u_char                      *p;
    ssize_t                      size, queue;
    time_t                       dedupe;
    ngx_str_t                   *value, name, s;
    ngx_uint_t                   i;
    ngx_shm_zone_t              *shm_zone;
    ngx_http_mail_track_zone_t  *zone;

    if (mmcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    name.len = 0;
    size = 0;
    queue = 0;
    dedupe = 86400;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (128 * 1024)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small, "
                                   "the minimum is 128k", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "dedupe=", 7) == 0) {

            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
                dedupe = 0;
                continue;
            }

            dedupe = ngx_parse_time(&s, 1);

            if (dedupe == (time_t) NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid dedupe time \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "queue=", 6) == 0) {

            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            queue = ngx_parse_size(&s);

            if (queue == NGX_ERROR || queue < 65536) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid queue size \"%V\", "
                                   "the minimum is 64k", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (queue == 0) {
        queue = size / 4;
    }

    if (queue > size / 4 * 3) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "queue size must be at most 3/4 of the zone");
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_mail_track_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->name = name;
    zone->queue_size = ngx_align((size_t) queue, ngx_pagesize);
    zone->dedupe = dedupe;

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_mail_track_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_mail_track_init_zone;
    shm_zone->data = zone;

    mmcf->shm_zone = shm_zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mail_track_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_mail_track_zone_t  *ozone = data;

    size_t                       len, room;
    ngx_slab_pool_t             *shpool;
    ngx_http_mail_track_sh_t    *sh;
    ngx_http_mail_track_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /*
         * A reload kept the zone (same size): take it over with
         * everything queued, unless an older build laid it out otherwise.
         */

        if (ozone->sh->magic != NGX_HTTP_MAIL_TRACK_MAGIC
            || ozone->sh->layout != NGX_HTTP_MAIL_TRACK_LAYOUT
            || ozone->sh->size != sizeof(ngx_http_mail_track_sh_t))
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "mail_track_zone \"%V\" has an incompatible "
                          "layout; change its size or restart nginx",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        if (zone->queue_size != zone->sh->ring_size) {
            ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                          "mail_track_zone \"%V\" keeps its queue of %uz "
                          "bytes until the zone is recreated",
                          &shm_zone->shm.name, zone->sh->ring_size);
        }

        ngx_http_mail_track_zone_names(zone);

        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = shpool->data;
        zone->shpool = shpool;
        ngx_http_mail_track_zone_names(zone);
        return NGX_OK;
    }

    zone->shpool = shpool;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_mail_track_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    zone->sh = sh;

    sh->magic = NGX_HTTP_MAIL_TRACK_MAGIC;
    sh->layout = NGX_HTTP_MAIL_TRACK_LAYOUT;
    sh->size = sizeof(ngx_http_mail_track_sh_t);

    if (ngx_http_mail_track_queue_init(zone) != NGX_OK) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "mail_track_zone \"%V\" cannot hold a queue of %uz "
                      "bytes", &shm_zone->shm.name, zone->queue_size);
        return NGX_ERROR;
    }

    room = shm_zone->shm.size - zone->queue_size;

    if (ngx_http_mail_track_dedupe_init(zone, room) != NGX_OK
        || ngx_http_mail_track_msgstat_init(zone, room) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_mail_track_certs_init(zone);
    ngx_http_mail_track_zone_names(zone);

    sh->started = ngx_http_mail_track_now_ms();

    len = sizeof(" in mail_track_zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in mail_track_zone \"%V\"%Z",
                &shm_zone->shm.name);

    shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * Each generic name keeps its slot in the zone across reloads, so that
 * its counters and the message states that name it stay right; a new
 * name takes a slot no name uses, else the slot of a name this
 * configuration no longer has, whose counters then start from zero.
 * Locations know their name's place in the configuration; this maps it
 * to the slot.
 */

static void
ngx_http_mail_track_zone_names(ngx_http_mail_track_zone_t *zone)
{
    ngx_uint_t                       i, j, k, n, s;
    ngx_str_t                       *name;
    u_char                          *label;
    ngx_uint_t                       used[NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS];
    ngx_http_mail_track_counters_t  *cnt;

    cnt = &zone->sh->cnt;

    n = (zone->generic != NULL) ? zone->generic->nelts : 0;
    name = (n != 0) ? zone->generic->elts : NULL;

    ngx_memzero(used, sizeof(used));

    /* the names the zone knows keep their slots */

    for (i = 0; i < n; i++) {
        zone->generic_slot[i] = NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS;

        for (j = 0; j < NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS; j++) {
            label = cnt->generic[j];

            if (ngx_strlen(label) == name[i].len
                && ngx_strncmp(label, name[i].data, name[i].len) == 0)
            {
                zone->generic_slot[i] = j;
                used[j] = 1;
                break;
            }
        }
    }

    /* the others take a free slot first, then a forgotten name's */

    for (i = 0; i < n; i++) {
        if (zone->generic_slot[i] < NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS) {
            continue;
        }

        for (j = 0; j < NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS; j++) {
            if (!used[j] && cnt->generic[j][0] == '\0') {
                break;
            }
        }

        if (j == NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS) {
            for (j = 0; used[j]; j++) {
                /* void: n <= NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS */
            }
        }

        s = MT_SRC_GENERIC + j;

        for (k = 0; k < MT_EV_MAX; k++) {
            cnt->events[s][k] = 0;
        }

        for (k = 0; k < MT_RC_MAX; k++) {
            cnt->refused[s][k] = 0;
        }

        cnt->duplicates[s] = 0;

        label = cnt->generic[j];
        ngx_memzero(label, MT_GEN_NAME_MAX + 1);
        ngx_memcpy(label, name[i].data, name[i].len);

        zone->generic_slot[i] = j;
        used[j] = 1;
    }
}


/* the counters' source of a location's src_slot */

ngx_uint_t
ngx_http_mail_track_src_slot(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t src)
{
    if (src < MT_SRC_GENERIC
        || src - MT_SRC_GENERIC >= NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS)
    {
        return src;
    }

    return MT_SRC_GENERIC + zone->generic_slot[src - MT_SRC_GENERIC];
}


/* a counter source's name: a provider's, a generic slot's ("": unused) */

ngx_str_t
ngx_http_mail_track_src_label(ngx_http_mail_track_zone_t *zone,
    ngx_uint_t src)
{
    ngx_str_t  s;

    if (src < MT_SRC_GENERIC) {
        s.data = (u_char *) mt_src_names[src];

    } else if (src < NGX_HTTP_MAIL_TRACK_SRC_SLOTS) {
        s.data = zone->sh->cnt.generic[src - MT_SRC_GENERIC];

    } else {
        s.data = (u_char *) "";
    }

    s.len = ngx_strlen(s.data);

    return s;
}


/*
 * With the mutex held.  When the zone is full, room is made in order of
 * what matters least: expired ids, message states (a view that can be
 * rebuilt from the spool), and only then ids that have not expired.
 */

void *
ngx_http_mail_track_zone_alloc(ngx_http_mail_track_zone_t *zone, size_t size)
{
    void        *p;
    ngx_uint_t   tries;

    for (tries = 0; tries < 8; tries++) {
        p = ngx_slab_alloc_locked(zone->shpool, size);
        if (p) {
            return p;
        }

        if (tries == 0) {
            ngx_http_mail_track_dedupe_expire(zone, 16, 0);

        } else if (tries < 6 && !ngx_queue_empty(&zone->sh->status_lru)) {
            ngx_http_mail_track_msgstat_evict(zone, 16);

        } else {
            ngx_http_mail_track_dedupe_expire(zone, 16, 1);
        }
    }

    return NULL;
}

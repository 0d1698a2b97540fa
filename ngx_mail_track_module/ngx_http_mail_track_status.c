
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The query side, served from the zone: a message's status as JSON, and
 * Prometheus metrics.
 */


#include "ngx_http_mail_track_status.h"
#include "ngx_http_mail_track_zone.h"
#include "ngx_http_mail_track_queue.h"
#include "ngx_http_mail_track_msgstat.h"
#include "ngx_http_mail_track_handler.h"


typedef struct {
    const char                 *name;
    const char                 *help;
    const char                 *type;
    ngx_uint_t                  index;
} ngx_http_mail_track_metric_t;


static ngx_http_mail_track_metric_t  ngx_http_mail_track_misc_metrics[] = {
    { "mail_track_spool_records_total", "Records written to spool files.",
      "counter", NGX_HTTP_MAIL_TRACK_SPOOL_RECORDS },
    { "mail_track_spool_bytes_total", "Bytes written to spool files.",
      "counter", NGX_HTTP_MAIL_TRACK_SPOOL_BYTES },
    { "mail_track_spool_files_total", "Spool files sealed.",
      "counter", NGX_HTTP_MAIL_TRACK_SPOOL_FILES },
    { "mail_track_spool_errors_total", "Failed spool writes (retried).",
      "counter", NGX_HTTP_MAIL_TRACK_SPOOL_ERRORS },
    { "mail_track_spool_flushes_total", "Batches written.",
      "counter", NGX_HTTP_MAIL_TRACK_SPOOL_FLUSHES },
    { "mail_track_spool_fsyncs_total", "Spool file data syncs.",
      "counter", NGX_HTTP_MAIL_TRACK_SPOOL_FSYNCS },
    { "mail_track_spool_recovered_files_total",
      "Unsealed files of an earlier run sealed at start.",
      "counter", NGX_HTTP_MAIL_TRACK_SPOOL_RECOVERED },
    { "mail_track_spool_dir_fsyncs_total",
      "Spool directory syncs: a file's name made durable.",
      "counter", NGX_HTTP_MAIL_TRACK_SPOOL_DIR_FSYNCS },
    { "mail_track_spool_nospace_total",
      "Spool writes that found the disk full (retried smaller, later).",
      "counter", NGX_HTTP_MAIL_TRACK_SPOOL_NOSPACE },
    { "mail_track_dedupe_evicted_total",
      "Dedupe entries dropped before expiry for lack of memory.",
      "counter", NGX_HTTP_MAIL_TRACK_DEDUPE_EVICTED },
    { "mail_track_machine_opens_total", "Opens judged automated.",
      "counter", NGX_HTTP_MAIL_TRACK_MACHINE_OPENS },
    { "mail_track_machine_clicks_total", "Clicks judged automated.",
      "counter", NGX_HTTP_MAIL_TRACK_MACHINE_CLICKS },
    { "mail_track_sns_cert_fetches_total",
      "SNS signing certificates fetched.",
      "counter", NGX_HTTP_MAIL_TRACK_SNS_CERT_FETCHES },
    { "mail_track_sns_confirmations_total",
      "SNS subscriptions confirmed.",
      "counter", NGX_HTTP_MAIL_TRACK_SNS_CONFIRMS },
    { NULL, NULL, NULL, 0 }
};


static ngx_uint_t ngx_http_mail_track_status_id(ngx_http_request_t *r,
    ngx_str_t *mid);
static ngx_int_t ngx_http_mail_track_status_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, ngx_str_t *mid);


#define ngx_http_mail_track_help(p, name, help, type)                         \
    ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type)


ngx_int_t
ngx_http_mail_track_metrics_handler(ngx_http_request_t *r)
{
    u_char                           *p;
    size_t                            size;
    uint64_t                          records, bytes;
    ngx_int_t                         rc;
    ngx_buf_t                        *b;
    ngx_str_t                         name;
    ngx_uint_t                        s, t, n;
    ngx_atomic_uint_t                 v;
    ngx_http_mail_track_sh_t         *sh;
    ngx_http_mail_track_zone_t       *zone;
    ngx_http_mail_track_metric_t     *m;
    ngx_http_mail_track_main_conf_t  *mmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mail_track_module);

    if (mmcf->shm_zone == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mail_track_metrics: no mail_track_zone configured");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    zone = mmcf->shm_zone->data;
    sh = zone->sh;

    size = 16384 + NGX_HTTP_MAIL_TRACK_SRC_SLOTS * (MT_EV_MAX + MT_RC_MAX + 1)
                   * 128;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    p = ngx_http_mail_track_help(p, "mail_track_events_total",
                                 "Events queued, by source and type.",
                                 "counter");

    for (s = 0; s < NGX_HTTP_MAIL_TRACK_SRC_SLOTS; s++) {
        name = ngx_http_mail_track_src_label(zone, s);

        for (t = 0; name.len && t < MT_EV_MAX; t++) {
            v = sh->cnt.events[s][t];

            if (v == 0 && s != MT_SRC_TRACK) {
                continue;
            }

            if (s == MT_SRC_TRACK && v == 0 && t != MT_EV_OPENED
                && t != MT_EV_CLICKED && t != MT_EV_UNSUBSCRIBED)
            {
                continue;
            }

            p = ngx_sprintf(p, "mail_track_events_total{src=\"%V\","
                            "type=\"%s\"} %uA\n", &name,
                            mt_event_type_names[t], v);
        }
    }

    p = ngx_http_mail_track_help(p, "mail_track_duplicates_total",
                                 "Webhook events dropped as duplicates.",
                                 "counter");

    for (s = 1; s < NGX_HTTP_MAIL_TRACK_SRC_SLOTS; s++) {
        name = ngx_http_mail_track_src_label(zone, s);

        if (name.len) {
            p = ngx_sprintf(p, "mail_track_duplicates_total{src=\"%V\"} "
                            "%uA\n", &name, sh->cnt.duplicates[s]);
        }
    }

    p = ngx_http_mail_track_help(p, "mail_track_refused_total",
                                 "Requests or events refused, by reason.",
                                 "counter");

    n = 0;

    for (s = 0; s < NGX_HTTP_MAIL_TRACK_SRC_SLOTS; s++) {
        name = ngx_http_mail_track_src_label(zone, s);

        for (t = 0; name.len && t < MT_RC_MAX; t++) {
            v = sh->cnt.refused[s][t];

            if (v == 0) {
                continue;
            }

            n++;
            p = ngx_sprintf(p, "mail_track_refused_total{src=\"%V\","
                            "reason=\"%s\"} %uA\n", &name,
                            mt_rc_name((mt_rc_t) t), v);
        }
    }

    if (n == 0) {
        p = ngx_sprintf(p, "mail_track_refused_total{src=\"track\","
                        "reason=\"zone_full\"} 0\n");
    }

    for (m = ngx_http_mail_track_misc_metrics; m->name; m++) {
        p = ngx_http_mail_track_help(p, m->name, m->help, m->type);
        p = ngx_sprintf(p, "%s %uA\n", m->name, sh->cnt.misc[m->index]);
    }

    records = ngx_http_mail_track_zone_pending(zone, &bytes);

    p = ngx_http_mail_track_help(p, "mail_track_queue_records",
                                 "Events waiting in the zone.", "gauge");
    p = ngx_sprintf(p, "mail_track_queue_records %uL\n", records);

    p = ngx_http_mail_track_help(p, "mail_track_queue_bytes",
                                 "Bytes waiting in the zone.", "gauge");
    p = ngx_sprintf(p, "mail_track_queue_bytes %uL\n", bytes);

    p = ngx_http_mail_track_help(p, "mail_track_queue_capacity_bytes",
                                 "Size of the zone's event queue.", "gauge");
    p = ngx_sprintf(p, "mail_track_queue_capacity_bytes %uz\n",
                    sh->ring_size);

    p = ngx_http_mail_track_help(p, "mail_track_queue_peak_bytes",
                                 "Highest queue fill since the zone was "
                                 "created.", "gauge");
    p = ngx_sprintf(p, "mail_track_queue_peak_bytes %uL\n", sh->peak);

    p = ngx_http_mail_track_help(p, "mail_track_dedupe_entries",
                                 "Event ids remembered for dedupe.", "gauge");
    p = ngx_sprintf(p, "mail_track_dedupe_entries %ui\n", sh->dedupe_n);

    p = ngx_http_mail_track_help(p, "mail_track_status_entries",
                                 "Messages whose status is kept.", "gauge");
    p = ngx_sprintf(p, "mail_track_status_entries %ui\n", sh->status_n);

    /* before the writer's first tick: the zone's start */
    v = sh->spool_progress ? sh->spool_progress
                           : (ngx_atomic_uint_t) sh->started;

    p = ngx_http_mail_track_help(p,
                                 "mail_track_spool_progress_timestamp_seconds",
                                 "When the spool writer last wrote a batch "
                                 "or found the queue empty.", "gauge");
    p = ngx_sprintf(p, "mail_track_spool_progress_timestamp_seconds "
                    "%uA.%03uA\n", v / 1000, v % 1000);

    p = ngx_http_mail_track_help(p, "mail_track_build_info",
                                 "The module's version.", "gauge");
    p = ngx_sprintf(p, "mail_track_build_info{version=\"" MT_VERSION
                    "\"} 1\n");

    b->last = p;

    return ngx_http_mail_track_send(r, b, "text/plain; version=0.0.4");
}


/*
 * GET .../<message-id>.  Every answer is JSON, errors too:
 * {"error":"...","message_id":"..." or null}.
 */

ngx_int_t
ngx_http_mail_track_status_handler(ngx_http_request_t *r)
{
    u_char                           *p;
    ngx_int_t                         rc;
    ngx_buf_t                        *b;
    ngx_str_t                         mid, key, value, name;
    ngx_uint_t                        status;
    ngx_uint_t                        i;
    mt_str_t                          names[NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS];
    mt_msgstate_t                     st;
    mt_msgstate_str_t                 s;
    ngx_http_mail_track_zone_t       *zone;
    ngx_http_mail_track_main_conf_t  *mmcf;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    status = ngx_http_mail_track_status_id(r, &mid);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        ngx_str_set(&key, "Allow");
        ngx_str_set(&value, "GET, HEAD");

        if (ngx_http_mail_track_add_header(r, &key, &value) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_mail_track_status_error(r, NGX_HTTP_NOT_ALLOWED,
                                                "method not allowed", &mid);
    }

    switch (status) {

    case NGX_HTTP_OK:
        break;

    case NGX_HTTP_BAD_REQUEST:
        return ngx_http_mail_track_status_error(r, status,
                                                "bad percent-encoding", &mid);

    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
        return ngx_http_mail_track_status_error(r, status,
                                                "message id too long", &mid);

    case NGX_HTTP_NOT_FOUND:
        return ngx_http_mail_track_status_error(r, status, "no message id",
                                                &mid);

    default:
        return ngx_http_mail_track_status_error(r, status, "internal error",
                                                &mid);
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mail_track_module);

    zone = mmcf->shm_zone->data;

    rc = ngx_http_mail_track_status_get(zone, &mid, r->pool, &st, &s);

    if (rc == NGX_ERROR) {
        return ngx_http_mail_track_status_error(r,
                                          NGX_HTTP_INTERNAL_SERVER_ERROR,
                                          "internal error", &mid);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_mail_track_status_error(r, NGX_HTTP_NOT_FOUND,
                                                "not found", &mid);
    }

    /* the generic sources by the names their slots count for */

    for (i = 0; i < NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS; i++) {
        name = ngx_http_mail_track_src_label(zone, MT_SRC_GENERIC + i);
        names[i].data = name.data;
        names[i].len = name.len;
    }

    s.generic = names;
    s.ngeneric = NGX_HTTP_MAIL_TRACK_GENERIC_SLOTS;

    b = ngx_create_temp_buf(r->pool, mt_msgstate_json_size(&s) + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = mt_msgstate_json(b->last, &st, &s);
    *p++ = '\n';

    b->last = p;

    return ngx_http_mail_track_send(r, b, "application/json");
}


/*
 * The message id, from the URI as the client sent it: nginx's own
 * r->uri has "//" merged and "/./" removed, which ids may hold.  It is
 * what follows the location's prefix (slashes and all), or the last path
 * segment for an exact or regex location; percent-decoded here, strictly.
 * Answers the status to refuse with; mid->data is NULL when there is no
 * id to show.
 */

static ngx_uint_t
ngx_http_mail_track_status_id(ngx_http_request_t *r, ngx_str_t *mid)
{
    u_char                    *p, *end, *raw;
    ssize_t                    n;
    ngx_uint_t                 prefix;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_str_null(mid);

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    raw = r->unparsed_uri.data;
    end = raw + r->unparsed_uri.len;

    p = ngx_strlchr(raw, end, '?');
    if (p != NULL) {
        end = p;
    }

    prefix = !clcf->exact_match
#if (NGX_PCRE)
             && clcf->regex == NULL
#endif
             ;

    if (!prefix) {
        for (p = end; p > raw && p[-1] != '/'; p--) {
            /* void */
        }

        raw = p;
    }

    mid->data = ngx_pnalloc(r->pool, end - raw + 1);
    if (mid->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = mt_percent_decode(mid->data, raw, end - raw);

    if (n < 0) {
        mid->data = NULL;
        return NGX_HTTP_BAD_REQUEST;
    }

    mid->len = n;

    if (prefix) {
        if (mid->len >= clcf->name.len
            && ngx_strncmp(mid->data, clcf->name.data, clcf->name.len) == 0)
        {
            mid->data += clcf->name.len;
            mid->len -= clcf->name.len;

        } else {
            /*
             * The client's path reached the location only once normalized
             * ("/a/../status/x"): the id is what follows the prefix there.
             */

            if (r->uri.len < clcf->name.len) {
                ngx_str_null(mid);
                return NGX_HTTP_NOT_FOUND;
            }

            mid->data = r->uri.data + clcf->name.len;
            mid->len = r->uri.len - clcf->name.len;
        }

        /* "location /status" and ".../status/m-1" */

        if (mid->len && mid->data[0] == '/'
            && clcf->name.len && clcf->name.data[clcf->name.len - 1] != '/')
        {
            mid->data++;
            mid->len--;
        }
    }

    if (mid->len == 0) {
        mid->data = NULL;
        return NGX_HTTP_NOT_FOUND;
    }

    if (mid->len > MT_MSGSTATE_MID_MAX) {
        return NGX_HTTP_REQUEST_URI_TOO_LARGE;
    }

    return NGX_HTTP_OK;
}


static ngx_int_t
ngx_http_mail_track_status_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, ngx_str_t *mid)
{
    u_char     *p;
    size_t      len;
    ngx_buf_t  *b;

    len = sizeof("{\"error\":\"\",\"message_id\":null}\n") + ngx_strlen(error)
          + 6 * mid->len + 2;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(b->last, "{\"error\":\"%s\",\"message_id\":", error);

    if (mid->data != NULL) {
        p = mt_json_quote(p, mid->data, mid->len);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    *p++ = '}';
    *p++ = '\n';

    b->last = p;

    return ngx_http_mail_track_send_status(r, status, b, "application/json");
}

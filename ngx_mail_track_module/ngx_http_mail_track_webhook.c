
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * ESP webhooks: read the whole body (also when nginx spilled it to a
 * file), hand the exact bytes to the provider's core entry, dedupe and
 * queue each event it emits, and answer the way the ESP's retry logic
 * expects.  SNS certificates come from a directory or a subrequest.
 */


#include "ngx_http_mail_track_webhook.h"
#include "ngx_http_mail_track_zone.h"
#include "ngx_http_mail_track_queue.h"
#include "ngx_http_mail_track_dedupe.h"
#include "ngx_http_mail_track_certs.h"
#include "ngx_http_mail_track_spool.h"
#include "ngx_http_mail_track_handler.h"
#include "mt_generic.h"

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>


#define NGX_HTTP_MAIL_TRACK_DURABLE_WAIT   5000
#define NGX_HTTP_MAIL_TRACK_PKEY_CACHE     8

#define NGX_HTTP_MAIL_TRACK_FETCH_CERT     0
#define NGX_HTTP_MAIL_TRACK_FETCH_ISSUER   1
#define NGX_HTTP_MAIL_TRACK_FETCH_CONFIRM  2


typedef struct {
    ngx_http_request_t             *request;
    mt_wh_t                         wh;
    ngx_str_t                       body;
    uint64_t                        max_seq;
    ngx_uint_t                      queued;
    ngx_uint_t                      duplicates;
    ngx_int_t                       first_type;
    mt_rc_t                         rc;

    /* a subrequest for an SNS certificate, its issuer, a subscription */
    ngx_str_t                       fetch_url;
    ngx_str_t                       fetched;
    ngx_str_t                       leaf;
    ngx_uint_t                      fetch_status;
    ngx_uint_t                      fetch_done;
    ngx_uint_t                      fetch_kind;
    ngx_uint_t                      tried_cert;
    ngx_uint_t                      tried_issuer;

    ngx_http_mail_track_waiter_t    waiter;
} ngx_http_mail_track_wh_ctx_t;


typedef struct {
    u_char                         *url;
    size_t                          len;
    void                           *store;      /* trusted under this */
    void                           *pkey;
} ngx_http_mail_track_pkey_t;


static void ngx_http_mail_track_webhook_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mail_track_webhook_read(ngx_http_request_t *r,
    ngx_str_t *body, ngx_uint_t *padded);
static void ngx_http_mail_track_webhook_run(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc);
static void ngx_http_mail_track_webhook_done(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc, mt_rc_t rc);
static void ngx_http_mail_track_webhook_durable(void *data, ngx_int_t rc);
static ngx_int_t ngx_http_mail_track_webhook_respond(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc, mt_rc_t rc);
static mt_str_t ngx_http_mail_track_wh_header(mt_wh_t *wh,
    const char *lcname);
static unsigned ngx_http_mail_track_wh_header_count(mt_wh_t *wh,
    const char *lcname);
static ngx_table_elt_t *ngx_http_mail_track_wh_find(mt_wh_t *wh,
    const char *lcname, ngx_uint_t *count);
static void *ngx_http_mail_track_wh_alloc(void *data, size_t size);
static mt_rc_t ngx_http_mail_track_wh_emit(mt_wh_t *wh, mt_event_t *ev);
static mt_rc_t ngx_http_mail_track_wh_replay(mt_wh_t *wh, mt_str_t *token,
    mt_str_t *event_id);
static void *ngx_http_mail_track_wh_cert(mt_wh_t *wh, mt_str_t *url);
static void *ngx_http_mail_track_pkey_get(mt_str_t *url, void *store);
static void ngx_http_mail_track_pkey_put(mt_str_t *url, void *store,
    void *pkey);
static ngx_int_t ngx_http_mail_track_cert_from_dir(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc);
static ngx_int_t ngx_http_mail_track_cert_try(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc, ngx_str_t *pem);
static ngx_int_t ngx_http_mail_track_cert_accept(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc, ngx_str_t *pem);
static ngx_int_t ngx_http_mail_track_fetch(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc, mt_str_t *url);
static ngx_int_t ngx_http_mail_track_fetch_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_mail_track_webhook_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_mail_track_sns_url_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static char *ngx_http_mail_track_webhook_key_value(ngx_conf_t *cf,
    ngx_str_t *in, ngx_str_t *out);
static void ngx_http_mail_track_key_cleanup(void *data);
static void ngx_http_mail_track_store_cleanup(void *data);


static ngx_http_mail_track_pkey_t
    ngx_http_mail_track_pkeys[NGX_HTTP_MAIL_TRACK_PKEY_CACHE];
static ngx_uint_t  ngx_http_mail_track_pkey_next;

static ngx_str_t  ngx_http_mail_track_sns_url_name =
    ngx_string("mail_track_sns_url");


/*
 * A body over client_max_body_size is refused by nginx itself, before the
 * handler runs when Content-Length says so: counted here, for every way.
 */

ngx_int_t
ngx_http_mail_track_webhook_log(ngx_http_request_t *r)
{
    ngx_http_mail_track_ctx_t       *ctx;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    if (r->headers_out.status != NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
        || r != r->main)
    {
        return NGX_OK;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    if (mlcf->provider == NULL) {
        return NGX_OK;
    }

    ctx = ngx_http_mail_track_get_ctx(r);
    if (ctx == NULL) {
        return NGX_OK;
    }

    ngx_http_mail_track_set_result(r, ctx, mt_rc_name(MT_ERR_TOO_LARGE));
    ngx_http_mail_track_refused(r, mlcf->src_slot, MT_ERR_TOO_LARGE,
                                NULL);

    return NGX_OK;
}


ngx_int_t
ngx_http_mail_track_webhook_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &ngx_http_mail_track_sns_url_name,
                                NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_mail_track_sns_url_variable;

    return NGX_OK;
}


ngx_int_t
ngx_http_mail_track_webhook_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_http_mail_track_ctx_t       *ctx;
    ngx_http_mail_track_wh_ctx_t    *whc;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    ctx = ngx_http_mail_track_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* Mandrill checks a new webhook URL with HEAD */

    if (r->method == NGX_HTTP_HEAD) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        r->headers_out.status = NGX_HTTP_OK;
        r->headers_out.content_length_n = 0;
        r->header_only = 1;

        return ngx_http_send_header(r);
    }

    /* a generic provider may take a query string (GET, no body) */

    if (r->method != NGX_HTTP_POST
        && (r->method != NGX_HTTP_GET
            || mlcf->provider->src != MT_SRC_GENERIC))
    {
        ngx_http_mail_track_set_result(r, ctx, mt_rc_name(MT_ERR_METHOD));
        ngx_http_mail_track_refused(r, mlcf->src_slot, MT_ERR_METHOD,
                                    NULL);
        return NGX_HTTP_NOT_ALLOWED;
    }

    whc = ngx_pcalloc(r->pool, sizeof(ngx_http_mail_track_wh_ctx_t));
    if (whc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    whc->request = r;
    whc->first_type = -1;
    ctx->data = whc;

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_mail_track_webhook_body);

    /* a 413 is counted in the log phase, also when nginx sends it first */

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_mail_track_webhook_body(ngx_http_request_t *r)
{
    ngx_uint_t                       padded;
    ngx_http_mail_track_ctx_t       *ctx;
    ngx_http_mail_track_wh_ctx_t    *whc;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mail_track_module);
    whc = ctx->data;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    if (ngx_http_mail_track_webhook_read(r, &whc->body, &padded) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    whc->wh.conf = mlcf->wh;
    whc->wh.method.data = r->method_name.data;
    whc->wh.method.len = r->method_name.len;
    whc->wh.uri.data = r->unparsed_uri.data;
    whc->wh.uri.len = r->unparsed_uri.len;
    whc->wh.args.data = r->args.data;
    whc->wh.args.len = r->args.len;

    if (r->headers_in.content_type) {
        whc->wh.content_type.data = r->headers_in.content_type->value.data;
        whc->wh.content_type.len = r->headers_in.content_type->value.len;
    }

    whc->wh.body = whc->body.data;
    whc->wh.body_len = whc->body.len;
    whc->wh.body_padded = padded;
    whc->wh.now_ms = ngx_http_mail_track_now_ms();
    whc->wh.header = ngx_http_mail_track_wh_header;
    whc->wh.header_count = ngx_http_mail_track_wh_header_count;
    whc->wh.alloc.alloc = ngx_http_mail_track_wh_alloc;
    whc->wh.alloc.data = r->pool;
    whc->wh.emit = ngx_http_mail_track_wh_emit;
    whc->wh.replay = ngx_http_mail_track_wh_replay;
    whc->wh.cert = ngx_http_mail_track_wh_cert;
    whc->wh.data = whc;

    ngx_http_mail_track_webhook_run(r, whc);
}


/*
 * The body as one buffer: the signatures cover the bytes in order.  One
 * assembled here gets the JSON parser's padding (*padded); nginx's own
 * buffer ends where the body does, and the parser copies it.
 */

static ngx_int_t
ngx_http_mail_track_webhook_read(ngx_http_request_t *r, ngx_str_t *body,
    ngx_uint_t *padded)
{
    u_char       *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = (u_char *) "";
    *padded = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    /* the common case, one buffer in memory: used where it is */

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    p = ngx_pnalloc(r->pool, len + MT_JSON_PADDING);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                              b->file_pos);

            if (n != b->file_last - b->file_pos) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "mail_track: cannot read the request body "
                              "back from \"%V\"", &b->file->name);
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    ngx_memzero(p, MT_JSON_PADDING);
    body->len = p - body->data;
    *padded = 1;

    return NGX_OK;
}


static void
ngx_http_mail_track_webhook_run(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc)
{
    mt_rc_t                          rc;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    whc->wh.nevents = 0;
    whc->wh.cert_url.len = 0;
    whc->wh.confirm_url.len = 0;
    whc->wh.detail.len = 0;

    rc = mlcf->provider->process(&whc->wh);

    /* the provider is done with its JSON: a large body's buffers go */

    mt_wh_json_trim();

    if (rc == MT_NEED_CERT) {

        if (whc->tried_cert) {
            rc = MT_ERR_CERT;
            goto done;
        }

        whc->tried_cert = 1;

        switch (ngx_http_mail_track_cert_from_dir(r, whc)) {

        case NGX_OK:
            ngx_http_mail_track_webhook_run(r, whc);
            return;

        case NGX_AGAIN:
            return;

        case NGX_ABORT:
            rc = MT_ERR_CERT;
            goto done;

        default:
            break;
        }

        if (mlcf->sns_cert_fetch.len) {
            whc->fetch_kind = NGX_HTTP_MAIL_TRACK_FETCH_CERT;

            if (ngx_http_mail_track_fetch(r, whc, &whc->wh.cert_url)
                == NGX_OK)
            {
                return;
            }
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mail_track ses: signing certificate \"%V\" is not "
                      "available", &whc->wh.cert_url);

        rc = MT_NEED_CERT;
        goto done;
    }

    if (rc == MT_OK && whc->wh.detail.len) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "mail_track %s: %*s", mt_wh_src_name(whc->wh.conf),
                      whc->wh.detail.len, whc->wh.detail.data);
    }

    if (rc == MT_OK && whc->wh.confirm_url.len) {

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "mail_track ses: subscription confirmation, "
                      "SubscribeURL \"%V\"%s", &whc->wh.confirm_url,
                      mlcf->sns_confirm ? ", confirming"
                                        : ", not confirmed: "
                                          "mail_track_sns_confirm is off");

        if (mlcf->sns_confirm && mlcf->sns_cert_fetch.len) {
            whc->fetch_kind = NGX_HTTP_MAIL_TRACK_FETCH_CONFIRM;

            if (ngx_http_mail_track_fetch(r, whc, &whc->wh.confirm_url)
                == NGX_OK)
            {
                return;
            }

            rc = MT_ERR_CONFIRM;
        }
    }

done:

    ngx_http_mail_track_webhook_done(r, whc, rc);
}


static void
ngx_http_mail_track_webhook_done(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc, mt_rc_t rc)
{
    ngx_http_mail_track_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    whc->rc = rc;

    if ((rc == MT_OK || rc == MT_DECLINED)
        && mlcf->wh_ack == NGX_HTTP_MAIL_TRACK_ACK_DURABLE
        && (whc->queued || whc->duplicates))
    {
        /* answer once the batch holding these events is on disk */

        whc->waiter.seq = whc->max_seq;
        whc->waiter.deadline = ngx_current_msec
                               + NGX_HTTP_MAIL_TRACK_DURABLE_WAIT;
        whc->waiter.handler = ngx_http_mail_track_webhook_durable;
        whc->waiter.data = whc;

        switch (ngx_http_mail_track_spool_wait(&whc->waiter, r->pool)) {

        case NGX_AGAIN:
            /*
             * A client that leaves ends the request, and the wait.  Its
             * leaving may have come with the body (an edge already
             * consumed): look once, from an event.
             */
            r->read_event_handler = ngx_http_test_reading;
            ngx_post_event(r->connection->read, &ngx_posted_events);
            return;

        case NGX_OK:
            break;

        default:
            rc = MT_ERR_INTERNAL;
            whc->rc = rc;
        }
    }

    ngx_http_finalize_request(r,
                              ngx_http_mail_track_webhook_respond(r, whc, rc));
}


static void
ngx_http_mail_track_webhook_durable(void *data, ngx_int_t rc)
{
    ngx_http_mail_track_wh_ctx_t  *whc = data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = whc->request;
    c = r->connection;

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "mail_track %s: events not on disk within %ui ms, "
                      "answering 503 so the sender retries",
                      mt_wh_src_name(whc->wh.conf),
                      (ngx_uint_t) NGX_HTTP_MAIL_TRACK_DURABLE_WAIT);

        whc->rc = MT_ERR_SPOOL;
    }

    /* called from a timer or a thread completion: not from the request */

    ngx_http_finalize_request(r,
                       ngx_http_mail_track_webhook_respond(r, whc, whc->rc));
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_mail_track_webhook_respond(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc, mt_rc_t rc)
{
    ngx_int_t                        status;
    ngx_buf_t                       *b;
    ngx_str_t                        detail, key, value;
    ngx_table_elt_t                 *h;
    ngx_http_mail_track_ctx_t       *ctx;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    ctx = ngx_http_mail_track_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    switch (rc) {

    case MT_OK:
    case MT_DECLINED:
        status = NGX_HTTP_OK;
        break;

    case MT_ERR_AUTH_MISSING:
    case MT_ERR_AUTH_FAILED:
    case MT_ERR_SIGNATURE_MISSING:
    case MT_ERR_SIGNATURE:
    case MT_ERR_STALE:
    case MT_ERR_FUTURE:
    case MT_ERR_REPLAY:
    case MT_ERR_CERT_URL:
    case MT_ERR_CERT:
        status = NGX_HTTP_UNAUTHORIZED;
        break;

    case MT_ERR_TOPIC:
        status = NGX_HTTP_FORBIDDEN;
        break;

    case MT_ERR_METHOD:
        status = NGX_HTTP_NOT_ALLOWED;
        break;

    case MT_ERR_CONTENT_TYPE:
    case MT_ERR_BODY_EMPTY:
    case MT_ERR_JSON:
    case MT_ERR_PAYLOAD:
    case MT_ERR_TOO_MANY:
        status = NGX_HTTP_BAD_REQUEST;
        break;

    case MT_ERR_FULL:
    case MT_ERR_SPOOL:
    case MT_NEED_CERT:
    case MT_ERR_CONFIRM:
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        break;

    default:
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        break;
    }

    if (status != NGX_HTTP_OK) {
        ngx_http_mail_track_set_result(r, ctx, mt_rc_name(rc));

        if (rc != MT_ERR_FULL) {
            detail.data = whc->wh.detail.data;
            detail.len = whc->wh.detail.len;

            ngx_http_mail_track_refused(r, mlcf->src_slot, rc,
                                        &detail);
        }

        /* Mailgun stops retrying on 406, and only on 406 */

        if (whc->wh.conf->provider == MT_SRC_MAILGUN
            && (status == NGX_HTTP_UNAUTHORIZED
                || status == NGX_HTTP_FORBIDDEN))
        {
            status = 406;  /* Not Acceptable */
        }

        if (status == NGX_HTTP_UNAUTHORIZED && whc->wh.basic_auth) {
            ngx_str_set(&key, "WWW-Authenticate");
            ngx_str_set(&value, "Basic realm=\"mail_track\"");

            h = ngx_http_mail_track_add_header(r, &key, &value);
            if (h == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            r->headers_out.www_authenticate = h;
        }

        if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {
            ngx_str_set(&key, "Retry-After");
            ngx_str_set(&value, "30");

            if (ngx_http_mail_track_add_header(r, &key, &value) == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        return status;
    }

    if (ctx->result.len == 0 || whc->queued) {
        ngx_http_mail_track_set_result(r, ctx,
                                       whc->queued || whc->duplicates == 0
                                       ? "accepted" : "duplicate");
    }

    b = ngx_create_temp_buf(r->pool, 64);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "{\"accepted\":%ui,\"duplicates\":%ui}\n",
                          whc->queued, whc->duplicates);

    return ngx_http_mail_track_send(r, b, "application/json");
}


static mt_str_t
ngx_http_mail_track_wh_header(mt_wh_t *wh, const char *lcname)
{
    mt_str_t          v;
    ngx_table_elt_t  *h;

    h = ngx_http_mail_track_wh_find(wh, lcname, NULL);

    if (h == NULL) {
        v.data = NULL;
        v.len = 0;
        return v;
    }

    v.data = h->value.data;
    v.len = h->value.len;

    return v;
}


static unsigned
ngx_http_mail_track_wh_header_count(mt_wh_t *wh, const char *lcname)
{
    ngx_uint_t  n;

    (void) ngx_http_mail_track_wh_find(wh, lcname, &n);

    return (unsigned) n;
}


/* the first header of that name; with count, how many there are */

static ngx_table_elt_t *
ngx_http_mail_track_wh_find(mt_wh_t *wh, const char *lcname,
    ngx_uint_t *count)
{
    size_t                         len;
    ngx_uint_t                     i;
    ngx_list_part_t               *part;
    ngx_table_elt_t               *h, *first;
    ngx_http_mail_track_wh_ctx_t  *whc;

    whc = wh->data;
    len = ngx_strlen(lcname);
    first = NULL;

    if (count != NULL) {
        *count = 0;
    }

    part = &whc->request->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) lcname, len) == 0)
        {
            if (first == NULL) {
                first = &h[i];
            }

            if (count == NULL) {
                break;
            }

            (*count)++;
        }
    }

    return first;
}


static void *
ngx_http_mail_track_wh_alloc(void *data, size_t size)
{
    return ngx_palloc(data, size);
}


static mt_rc_t
ngx_http_mail_track_wh_emit(mt_wh_t *wh, mt_event_t *ev)
{
    ssize_t                          len;
    time_t                           ttl;
    uint64_t                         seq;
    ngx_int_t                        rc;
    ngx_uint_t                       flags;
    const char                      *src;
    ngx_http_request_t              *r;
    ngx_http_mail_track_ctx_t       *ctx;
    ngx_http_mail_track_zone_t      *zone;
    ngx_http_mail_track_wh_ctx_t    *whc;
    ngx_http_mail_track_loc_conf_t  *mlcf;
    mt_privacy_buf_t                 pb;
    u_char                           hash[NGX_HTTP_MAIL_TRACK_HASH_LEN];
    u_char                           rec[MT_RECORD_MAX];

    whc = wh->data;
    r = whc->request;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);
    zone = ngx_http_mail_track_zone_get(r);

    if (mlcf->minimise && mt_privacy_apply(&mlcf->privacy, ev, &pb) != MT_OK)
    {
        return MT_ERR_INTERNAL;
    }

    len = mt_event_encode(ev, rec, sizeof(rec));
    if (len < 0) {
        return MT_ERR_INTERNAL;
    }

    /* a generic provider's name is a C string */

    src = ev->src_name.len ? (const char *) ev->src_name.data
                           : mt_src_names[ev->src];

    mt_hash128(src, ev->id.data, ev->id.len, hash);

    /* counted under its location's source: a generic one has its slot */

    ev->src = ngx_http_mail_track_src_slot(zone, mlcf->src_slot);

    /* the dedupe window covers at least the provider's retry window */

    ttl = 0;

    if (zone->dedupe) {
        ttl = ngx_max(zone->dedupe, (time_t) mlcf->provider->retry_window);
    }

    flags = (mlcf->wh_ack == NGX_HTTP_MAIL_TRACK_ACK_DURABLE)
            ? NGX_HTTP_MAIL_TRACK_DURABLE : 0;

    rc = ngx_http_mail_track_zone_append_unique(zone, hash, ttl, rec, len,
                                                flags, &seq);

    if (rc == NGX_DECLINED) {
        ctx = ngx_http_mail_track_get_ctx(r);
        if (ctx) {
            ngx_http_mail_track_set_result(r, ctx, mt_rc_name(MT_ERR_FULL));
        }

        ngx_http_mail_track_refused(r, mlcf->src_slot, MT_ERR_FULL, NULL);

        return MT_ERR_FULL;
    }

    if (whc->queued + whc->duplicates == 0 || seq > whc->max_seq) {
        whc->max_seq = seq;
    }

    if (rc == NGX_BUSY) {
        whc->duplicates++;
        ngx_http_mail_track_count(zone, duplicates[ev->src]);

    } else {
        whc->queued++;
        ngx_http_mail_track_queued(zone, ev, seq);
    }

    if (whc->first_type < 0) {
        whc->first_type = ev->type;

        ctx = ngx_http_mail_track_get_ctx(r);

        if (ctx) {
            ctx->event = ev->type;
            ctx->mid.data = ngx_pstrdup(r->pool, (ngx_str_t *) &ev->mid);
            ctx->mid.len = ctx->mid.data ? ev->mid.len : 0;
        }
    }

    return MT_OK;
}


static mt_rc_t
ngx_http_mail_track_wh_replay(mt_wh_t *wh, mt_str_t *token,
    mt_str_t *event_id)
{
    time_t                           ttl;
    uint64_t                         aux;
    ngx_http_request_t              *r;
    ngx_http_mail_track_zone_t      *zone;
    ngx_http_mail_track_wh_ctx_t    *whc;
    ngx_http_mail_track_loc_conf_t  *mlcf;
    u_char                           hash[NGX_HTTP_MAIL_TRACK_HASH_LEN];
    u_char                           evh[NGX_HTTP_MAIL_TRACK_HASH_LEN];
    u_char                           tns[MT_GEN_NAME_MAX + 8];
    u_char                           ens[MT_GEN_NAME_MAX + 8];

    whc = wh->data;
    r = whc->request;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);
    zone = ngx_http_mail_track_zone_get(r);

    /*
     * Mailgun's tokens, or a generic provider's nonces: apart from each
     * other and from the event ids (":" is in no provider's name)
     */

    if (wh->conf->src_name.len) {
        ngx_sprintf(tns, "%V:nonce%Z", (ngx_str_t *) &wh->conf->src_name);
        ngx_sprintf(ens, "%V:event%Z", (ngx_str_t *) &wh->conf->src_name);

    } else {
        ngx_sprintf(tns, "mailgun-token%Z");
        ngx_sprintf(ens, "mailgun-event%Z");
    }

    mt_hash128((char *) tns, token->data, token->len, hash);
    mt_hash128((char *) ens, event_id->data, event_id->len, evh);

    ngx_memcpy(&aux, evh, sizeof(aux));

    /* a token older than the tolerance fails the timestamp check anyway */

    ttl = ngx_max((time_t) wh->conf->tolerance,
                  (time_t) mlcf->provider->retry_window) + 300;

    if (ngx_http_mail_track_zone_replay(zone, hash, aux, ttl) != NGX_OK) {
        return MT_ERR_REPLAY;
    }

    return MT_OK;
}


/*
 * The SNS key for a certificate URL: from this worker's few parsed keys,
 * else from the zone's cache, checked again against the trust store.
 */

static void *
ngx_http_mail_track_wh_cert(mt_wh_t *wh, mt_str_t *url)
{
    char                             err[256];
    void                            *pkey;
    ngx_str_t                        pem, u;
    ngx_http_request_t              *r;
    ngx_http_mail_track_wh_ctx_t    *whc;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    whc = wh->data;
    r = whc->request;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    /* a key trusted under one location's CAs is not under another's */

    pkey = ngx_http_mail_track_pkey_get(url, mlcf->sns_store);
    if (pkey) {
        return pkey;
    }

    u.data = url->data;
    u.len = url->len;

    if (ngx_http_mail_track_cert_get(ngx_http_mail_track_zone_get(r), &u,
                                     r->pool, &pem)
        != NGX_OK)
    {
        return NULL;
    }

    pkey = mt_sns_cert_load(pem.data, pem.len, mlcf->sns_store,
                            (int64_t) ngx_time(), err, sizeof(err));
    if (pkey == NULL) {
        return NULL;
    }

    ngx_http_mail_track_pkey_put(url, mlcf->sns_store, pkey);

    return pkey;
}


static void *
ngx_http_mail_track_pkey_get(mt_str_t *url, void *store)
{
    ngx_uint_t                   i;
    ngx_http_mail_track_pkey_t  *pk;

    for (i = 0; i < NGX_HTTP_MAIL_TRACK_PKEY_CACHE; i++) {
        pk = &ngx_http_mail_track_pkeys[i];

        if (pk->pkey && pk->store == store && pk->len == url->len
            && ngx_memcmp(pk->url, url->data, url->len) == 0)
        {
            return pk->pkey;
        }
    }

    return NULL;
}


static void
ngx_http_mail_track_pkey_put(mt_str_t *url, void *store, void *pkey)
{
    u_char                      *copy;
    ngx_http_mail_track_pkey_t  *pk;

    copy = ngx_alloc(url->len, ngx_cycle->log);
    if (copy == NULL) {
        mt_sns_key_free(pkey);
        return;
    }

    pk = &ngx_http_mail_track_pkeys[ngx_http_mail_track_pkey_next];
    ngx_http_mail_track_pkey_next = (ngx_http_mail_track_pkey_next + 1)
                                    % NGX_HTTP_MAIL_TRACK_PKEY_CACHE;

    if (pk->pkey) {
        mt_sns_key_free(pk->pkey);
        ngx_free(pk->url);
    }

    ngx_memcpy(copy, url->data, url->len);

    pk->url = copy;
    pk->len = url->len;
    pk->store = store;
    pk->pkey = pkey;
}


/* at the worker's exit: the per-worker keys and what core kept */

void
ngx_http_mail_track_webhook_exit(void)
{
    ngx_uint_t                   i;
    ngx_http_mail_track_pkey_t  *pk;

    for (i = 0; i < NGX_HTTP_MAIL_TRACK_PKEY_CACHE; i++) {
        pk = &ngx_http_mail_track_pkeys[i];

        if (pk->pkey) {
            mt_sns_key_free(pk->pkey);
            ngx_free(pk->url);
            pk->pkey = NULL;
        }
    }

    mt_wh_cleanup();
}


/*
 * mail_track_sns_cert_dir: the file named as the URL's last path
 * segment.  NGX_DECLINED: no such file; NGX_ABORT: not trusted.
 */

static ngx_int_t
ngx_http_mail_track_cert_from_dir(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc)
{
    u_char                          *p, *name, *end;
    ngx_err_t                        err;
    ngx_str_t                        path, pem;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    if (mlcf->sns_cert_dir.len == 0) {
        return NGX_DECLINED;
    }

    end = whc->wh.cert_url.data + whc->wh.cert_url.len;
    name = end;

    while (name > whc->wh.cert_url.data && name[-1] != '/') {
        name--;
    }

    path.len = mlcf->sns_cert_dir.len + 1 + (end - name);
    path.data = ngx_pnalloc(r->pool, path.len + 1);
    if (path.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(path.data, mlcf->sns_cert_dir.data,
                   mlcf->sns_cert_dir.len);
    *p++ = '/';
    p = ngx_cpymem(p, name, end - name);
    *p = '\0';

    if (ngx_http_mail_track_read_file(&path, 65536, r->pool,
                                      r->connection->log, &pem, &err)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return ngx_http_mail_track_cert_try(r, whc, &pem);
}


/*
 * A certificate that does not chain by itself: SNS does not send its
 * intermediate, so fetch the one the leaf names (Amazon Trust Services
 * only) and try again with both.  NGX_AGAIN: fetching.
 */

static ngx_int_t
ngx_http_mail_track_cert_try(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc, ngx_str_t *pem)
{
    ngx_int_t                        rc;
    mt_str_t                         url;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    rc = ngx_http_mail_track_cert_accept(r, whc, pem);

    if (rc != NGX_ABORT || whc->tried_issuer) {
        return rc;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    if (mlcf->sns_cert_fetch.len == 0
        || mt_sns_issuer_url(pem->data, pem->len, &whc->wh.alloc, &url) != 0)
    {
        return rc;
    }

    whc->tried_issuer = 1;
    whc->leaf = *pem;
    whc->fetch_kind = NGX_HTTP_MAIL_TRACK_FETCH_ISSUER;

    if (ngx_http_mail_track_fetch(r, whc, &url) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_mail_track_cert_accept(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc, ngx_str_t *pem)
{
    char                             err[256];
    void                            *pkey;
    ngx_str_t                        url;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    pkey = mt_sns_cert_load(pem->data, pem->len, mlcf->sns_store,
                            (int64_t) ngx_time(), err, sizeof(err));

    if (pkey == NULL) {
        mt_strdup(&whc->wh.alloc, &whc->wh.detail, (u_char *) err,
                  ngx_strlen(err));
        return NGX_ABORT;
    }

    url.data = whc->wh.cert_url.data;
    url.len = whc->wh.cert_url.len;

    ngx_http_mail_track_cert_put(ngx_http_mail_track_zone_get(r), &url, pem);
    ngx_http_mail_track_pkey_put(&whc->wh.cert_url, mlcf->sns_store, pkey);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mail_track_fetch(ngx_http_request_t *r,
    ngx_http_mail_track_wh_ctx_t *whc, mt_str_t *url)
{
    size_t                           len;
    ngx_str_t                        args;
    ngx_http_request_t              *sr;
    ngx_http_post_subrequest_t      *psr;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    whc->fetch_url.data = url->data;
    whc->fetch_url.len = url->len;
    whc->fetch_done = 0;
    whc->fetched.len = 0;

    len = ngx_escape_uri(NULL, url->data, url->len, NGX_ESCAPE_ARGS);

    args.len = 4 + url->len + 2 * len;
    args.data = ngx_pnalloc(r->pool, args.len);
    if (args.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(args.data, "url=", 4);
    args.len = (u_char *) ngx_escape_uri(args.data + 4, url->data, url->len,
                                         NGX_ESCAPE_ARGS)
               - args.data;

    psr = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (psr == NULL) {
        return NGX_ERROR;
    }

    psr->handler = ngx_http_mail_track_fetch_done;
    psr->data = whc;

    r->write_event_handler = ngx_http_mail_track_webhook_resume;

    if (ngx_http_subrequest(r, &mlcf->sns_cert_fetch, &args, &sr, psr,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (whc->fetch_kind != NGX_HTTP_MAIL_TRACK_FETCH_CONFIRM) {
        ngx_http_mail_track_count(ngx_http_mail_track_zone_get(r),
                                  misc[NGX_HTTP_MAIL_TRACK_SNS_CERT_FETCHES]);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mail_track_fetch_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_mail_track_wh_ctx_t  *whc = data;

    ngx_buf_t  *b;

    whc->fetch_done = 1;
    whc->fetch_status = r->headers_out.status;

    if (rc != NGX_OK && rc != NGX_DONE && rc < NGX_HTTP_SPECIAL_RESPONSE) {
        whc->fetch_status = NGX_HTTP_BAD_GATEWAY;
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        whc->fetch_status = rc;
    }

    b = r->out ? r->out->buf : NULL;

    if (b && whc->fetch_status == NGX_HTTP_OK) {
        whc->fetched.data = b->pos;
        whc->fetched.len = b->last - b->pos;
    }

    return rc;
}


static void
ngx_http_mail_track_webhook_resume(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      chain;
    ngx_http_mail_track_ctx_t     *ctx;
    ngx_http_mail_track_wh_ctx_t  *whc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mail_track_module);
    whc = ctx->data;

    if (!whc->fetch_done) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    if (whc->fetch_kind == NGX_HTTP_MAIL_TRACK_FETCH_CONFIRM) {

        if (whc->fetch_status >= 200 && whc->fetch_status < 300) {
            ngx_http_mail_track_count(ngx_http_mail_track_zone_get(r),
                                      misc[NGX_HTTP_MAIL_TRACK_SNS_CONFIRMS]);
            ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                          "mail_track ses: subscription confirmed");
            ngx_http_mail_track_webhook_done(r, whc, MT_OK);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mail_track ses: confirming the subscription "
                      "failed with status %ui", whc->fetch_status);
        ngx_http_mail_track_webhook_done(r, whc, MT_ERR_CONFIRM);
        return;
    }

    if (whc->fetch_status != NGX_HTTP_OK || whc->fetched.len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mail_track ses: fetching \"%V\" failed with status "
                      "%ui", &whc->fetch_url, whc->fetch_status);
        ngx_http_mail_track_webhook_done(r, whc, MT_NEED_CERT);
        return;
    }

    if (whc->fetch_kind == NGX_HTTP_MAIL_TRACK_FETCH_ISSUER) {
        chain.data = mt_sns_pem_append(&whc->wh.alloc, whc->leaf.data,
                                       whc->leaf.len, whc->fetched.data,
                                       whc->fetched.len, &chain.len);
        if (chain.data == NULL) {
            mt_str_set(&whc->wh.detail, "the fetched issuer certificate "
                                        "does not parse");
            ngx_http_mail_track_webhook_done(r, whc, MT_ERR_CERT);
            return;
        }

        rc = ngx_http_mail_track_cert_accept(r, whc, &chain);

    } else {
        /* copied: the subrequest's buffer is not ours to keep */

        chain.len = whc->fetched.len;
        chain.data = ngx_pstrdup(r->pool, &whc->fetched);
        if (chain.data == NULL) {
            ngx_http_mail_track_webhook_done(r, whc, MT_ERR_NOMEM);
            return;
        }

        rc = ngx_http_mail_track_cert_try(r, whc, &chain);
    }

    switch (rc) {

    case NGX_OK:
        ngx_http_mail_track_webhook_run(r, whc);
        return;

    case NGX_AGAIN:
        return;

    default:
        ngx_http_mail_track_webhook_done(r, whc, MT_ERR_CERT);
        return;
    }
}


/* $mail_track_sns_url: what the fetch location proxies to */

static ngx_int_t
ngx_http_mail_track_sns_url_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_mail_track_ctx_t     *ctx;
    ngx_http_mail_track_wh_ctx_t  *whc;

    (void) data;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mail_track_module);

    if (ctx == NULL || ctx->data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    whc = ctx->data;

    if (whc->fetch_url.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = whc->fetch_url.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = whc->fetch_url.data;

    return NGX_OK;
}


char *
ngx_http_mail_track_webhook_merge(ngx_conf_t *cf,
    ngx_http_mail_track_loc_conf_t *conf)
{
    char                             err[256], *rv;
    ngx_str_t                       *keys, *topics, value;
    ngx_http_mail_track_main_conf_t  *mmcf;
    ngx_uint_t            i;
    mt_wh_conf_t         *wh;
    X509_STORE           *store;
    ngx_pool_cleanup_t   *cln;
    const mt_provider_t  *p;

    p = conf->provider;

    wh = ngx_pcalloc(cf->pool, sizeof(mt_wh_conf_t));
    if (wh == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->wh = wh;

    wh->provider = p->src;
    conf->src_slot = p->src;
    wh->tolerance = (conf->wh_tolerance == -1) ? p->tolerance
                                                 : conf->wh_tolerance;
    wh->url.data = conf->wh_url.data;
    wh->url.len = conf->wh_url.len;
    wh->auth_off = (conf->wh_auth == 0);
    wh->id_key = (conf->rcpt == MT_PRIV_HASH) ? conf->rcpt_key : NULL;

    /* the main conf is initialized before locations are merged */

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mail_track_module);

    wh->id_field.data = mmcf->id_field.data;
    wh->id_field.len = mmcf->id_field.len;

    if (conf->wh_ack == NGX_HTTP_MAIL_TRACK_ACK_DURABLE) {
        mmcf->durable = 1;
    }

    if (conf->wh_keys) {
        keys = conf->wh_keys->elts;
        wh->nkeys = conf->wh_keys->nelts;

        wh->keys = ngx_pcalloc(cf->pool, wh->nkeys * sizeof(mt_wh_key_t));
        if (wh->keys == NULL) {
            return NGX_CONF_ERROR;
        }

        for (i = 0; i < wh->nkeys; i++) {
            rv = ngx_http_mail_track_webhook_key_value(cf, &keys[i], &value);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            wh->keys[i].raw.data = value.data;
            wh->keys[i].raw.len = value.len;

            if (p->key == NULL) {
                continue;
            }

            if (p->key(&wh->keys[i].raw, &wh->keys[i].data, err, sizeof(err))
                != MT_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid %s webhook key \"%V\": %s",
                                   p->name, &keys[i], err);
                return NGX_CONF_ERROR;
            }

            cln = ngx_pool_cleanup_add(cf->pool, 0);
            if (cln == NULL) {
                return NGX_CONF_ERROR;
            }

            wh->keys[i].free = p->key_free;

            cln->handler = ngx_http_mail_track_key_cleanup;
            cln->data = &wh->keys[i];
        }
    }

    if (p->src == MT_SRC_GENERIC) {
        /* the engine checks its keys with the rest of the location */
        return NGX_CONF_OK;
    }

    if (p->src == MT_SRC_SES) {
        if (conf->sns_topics == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mail_track_webhook ses\" requires "
                               "\"mail_track_sns_topic\"");
            return NGX_CONF_ERROR;
        }

        if (conf->sns_cert_dir.len == 0 && conf->sns_cert_fetch.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mail_track_webhook ses\" requires "
                               "\"mail_track_sns_cert_dir\" or "
                               "\"mail_track_sns_cert_fetch\"");
            return NGX_CONF_ERROR;
        }

        if (conf->sns_cert_dir.len
            && ngx_conf_full_name(cf->cycle, &conf->sns_cert_dir, 1)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        topics = conf->sns_topics->elts;
        wh->ntopics = conf->sns_topics->nelts;
        wh->topics = ngx_pcalloc(cf->pool, wh->ntopics * sizeof(mt_str_t));
        if (wh->topics == NULL) {
            return NGX_CONF_ERROR;
        }

        for (i = 0; i < wh->ntopics; i++) {
            wh->topics[i].data = topics[i].data;
            wh->topics[i].len = topics[i].len;
        }

        store = X509_STORE_new();
        if (store == NULL) {
            return NGX_CONF_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            X509_STORE_free(store);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_mail_track_store_cleanup;
        cln->data = store;

        if (conf->sns_ca.len) {
            if (ngx_conf_full_name(cf->cycle, &conf->sns_ca, 1) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            if (X509_STORE_load_file(store, (char *) conf->sns_ca.data)
                != 1)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "cannot load CA certificates from "
                                   "\"%V\"", &conf->sns_ca);
                return NGX_CONF_ERROR;
            }

        } else if (X509_STORE_set_default_paths(store) != 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "cannot load the system CA certificates");
            return NGX_CONF_ERROR;
        }

        conf->sns_store = store;

        return NGX_CONF_OK;
    }

    if (p->src == MT_SRC_MANDRILL && wh->url.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mail_track_webhook mandrill\" requires "
                           "\"mail_track_webhook_url\": Mandrill signs the "
                           "exact URL it posts to");
        return NGX_CONF_ERROR;
    }

    if (wh->nkeys == 0) {
        if (p->signs) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mail_track_webhook %s\" requires "
                               "\"mail_track_webhook_key\"", p->name);
            return NGX_CONF_ERROR;
        }

        if (!wh->auth_off) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mail_track_webhook %s\" requires "
                               "\"mail_track_webhook_key\" (the credential "
                               "%s sends), or \"mail_track_webhook_auth "
                               "off\" to accept unauthenticated requests",
                               p->name, p->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* "VALUE" or "file:PATH" (the file, without trailing whitespace) */

static char *
ngx_http_mail_track_webhook_key_value(ngx_conf_t *cf, ngx_str_t *in,
    ngx_str_t *out)
{
    ngx_err_t  err;
    ngx_str_t  path;

    if (in->len < 5 || ngx_strncmp(in->data, "file:", 5) != 0) {
        *out = *in;
        return NGX_CONF_OK;
    }

    path.data = in->data + 5;
    path.len = in->len - 5;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    switch (ngx_http_mail_track_read_file(&path, 65536, cf->pool, cf->log,
                                          out, &err)) {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%V\" is larger than 64k", &path);
        return NGX_CONF_ERROR;

    default:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                           "cannot read key file \"%V\"", &path);
        return NGX_CONF_ERROR;
    }

    /* the whole file: a PEM key spans lines; trailing whitespace goes */

    while (out->len && (out->data[out->len - 1] == '\r'
                        || out->data[out->len - 1] == '\n'
                        || out->data[out->len - 1] == ' '
                        || out->data[out->len - 1] == '\t'))
    {
        out->len--;
    }

    if (out->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%V\" is empty", &path);
        return NGX_CONF_ERROR;
    }

    out->data[out->len] = '\0';

    return NGX_CONF_OK;
}


static void
ngx_http_mail_track_key_cleanup(void *data)
{
    mt_wh_key_t  *key = data;

    if (key->data && key->free) {
        key->free(key->data);
    }

    key->data = NULL;
}


static void
ngx_http_mail_track_store_cleanup(void *data)
{
    X509_STORE_free(data);
}

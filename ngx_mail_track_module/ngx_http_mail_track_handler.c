
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The tracking endpoints: open pixel, click redirect, one-click
 * unsubscribe.  Each decodes its token on the stack, queues one record
 * and answers without touching the disk.
 */


#include "ngx_http_mail_track_handler.h"
#include "ngx_http_mail_track_spool.h"
#include "ngx_http_mail_track_queue.h"
#include "ngx_http_mail_track_msgstat.h"
#include "mt_classify.h"
#include "mt_base64.h"

#include <openssl/rand.h>


static ngx_int_t ngx_http_mail_track_token(ngx_http_request_t *r,
    u_char purpose, u_char *plain, mt_token_t *tok, ngx_str_t *suffix);
static void ngx_http_mail_track_token_event(ngx_http_request_t *r,
    mt_token_t *tok, mt_event_t *ev, mt_event_type_e type, u_char *idbuf,
    u_char *ipbuf);
static ngx_int_t ngx_http_mail_track_nocache(ngx_http_request_t *r);
static ngx_int_t ngx_http_mail_track_redirect(ngx_http_request_t *r,
    u_char *url, size_t len);
static void ngx_http_mail_track_unsubscribe_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mail_track_one_click(ngx_http_request_t *r);
static ngx_int_t ngx_http_mail_track_unsubscribe_page(ngx_http_request_t *r);
static void ngx_http_mail_track_counted(ngx_http_mail_track_zone_t *zone,
    mt_event_t *ev, uint64_t seq);


/* the smallest transparent GIF, as in ngx_http_empty_gif_module */

static u_char  ngx_http_mail_track_gif[] = {

    'G', 'I', 'F', '8', '9', 'a',  /* header                                 */

                                   /* logical screen descriptor              */
    0x01, 0x00,                    /* logical screen width                   */
    0x01, 0x00,                    /* logical screen height                  */
    0x80,                          /* global 1-bit color table               */
    0x01,                          /* background color #1                    */
    0x00,                          /* no aspect ratio                        */

                                   /* global color table                     */
    0x00, 0x00, 0x00,              /* #0: black                              */
    0xff, 0xff, 0xff,              /* #1: white                              */

                                   /* graphic control extension              */
    0x21,                          /* extension introducer                   */
    0xf9,                          /* graphic control label                  */
    0x04,                          /* block size                             */
    0x01,                          /* transparent color is given,            */
                                   /*     no disposal specified,             */
                                   /*     user input is not expected         */
    0x00, 0x00,                    /* delay time                             */
    0x01,                          /* transparent color #1                   */
    0x00,                          /* block terminator                       */

                                   /* image descriptor                       */
    0x2c,                          /* image separator                        */
    0x00, 0x00,                    /* image left position                    */
    0x00, 0x00,                    /* image top position                     */
    0x01, 0x00,                    /* image width                            */
    0x01, 0x00,                    /* image height                           */
    0x00,                          /* no local color table, no interlaced    */

                                   /* table based image data                 */
    0x02,                          /* LZW minimum code size,                 */
                                   /*     must be at least 2-bit             */
    0x02,                          /* block size                             */
    0x4c, 0x01,                    /* compressed bytes 01_001_100, 0000000_1 */
                                   /* 100: clear code                        */
                                   /* 001: 1                                 */
                                   /* 101: end of information code           */
    0x00,                          /* block terminator                       */

    0x3B                           /* trailer                                */
};


static ngx_keyval_t  ngx_http_mail_track_nocache_headers[] = {
    { ngx_string("Cache-Control"),
      ngx_string("no-store, no-cache, must-revalidate, max-age=0") },
    { ngx_string("Expires"), ngx_string("Thu, 01 Jan 1970 00:00:01 GMT") }
};


static uint64_t  ngx_http_mail_track_id_salt;
static uint64_t  ngx_http_mail_track_id_seq;
static u_char    ngx_http_mail_track_id_hex[16];     /* the salt's digits */


ngx_int_t
ngx_http_mail_track_open_handler(ngx_http_request_t *r)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_str_t    suffix;
    mt_event_t   ev;
    mt_token_t   tok;
    u_char       idbuf[40], ipbuf[NGX_INET6_ADDRSTRLEN];
    u_char        plain[MT_TOKEN_MAX_PLAIN];

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&suffix, ".gif");

    /* a bad token still gets the pixel: only the event is withheld */

    if (ngx_http_mail_track_token(r, MT_PURPOSE_OPEN, plain, &tok, &suffix)
        == NGX_OK)
    {
        ngx_http_mail_track_token_event(r, &tok, &ev, MT_EV_OPENED, idbuf,
                                        ipbuf);
        (void) ngx_http_mail_track_record(r, &ev);
    }

    if (ngx_http_mail_track_nocache(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = ngx_http_mail_track_gif;
    b->last = ngx_http_mail_track_gif + sizeof(ngx_http_mail_track_gif);
    b->memory = 1;

    return ngx_http_mail_track_send(r, b, "image/gif");
}


ngx_int_t
ngx_http_mail_track_click_handler(ngx_http_request_t *r)
{
    u_char                          *url;
    ngx_int_t                        rc;
    mt_event_t                       ev;
    mt_token_t                       tok;
    ngx_http_mail_track_loc_conf_t  *mlcf;
    u_char                           idbuf[40];
    u_char                           ipbuf[NGX_INET6_ADDRSTRLEN];
    u_char                           plain[MT_TOKEN_MAX_PLAIN];

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    if (ngx_http_mail_track_token(r, MT_PURPOSE_CLICK, plain, &tok, NULL)
        != NGX_OK)
    {
        if (mlcf->click_fallback.len) {
            return ngx_http_mail_track_redirect(r, mlcf->click_fallback.data,
                                                mlcf->click_fallback.len);
        }

        return NGX_HTTP_BAD_REQUEST;
    }

    ngx_http_mail_track_token_event(r, &tok, &ev, MT_EV_CLICKED, idbuf,
                                    ipbuf);
    ev.url = tok.url;

    /* the person gets to the link even when the zone is full */

    (void) ngx_http_mail_track_record(r, &ev);

    url = ngx_pnalloc(r->pool, tok.url.len);
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(url, tok.url.data, tok.url.len);

    return ngx_http_mail_track_redirect(r, url, tok.url.len);
}


ngx_int_t
ngx_http_mail_track_unsubscribe_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_mail_track_unsubscribe_page(r);
    }

    if (!(r->method & NGX_HTTP_POST)) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_read_client_request_body(r,
                                       ngx_http_mail_track_unsubscribe_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_mail_track_unsubscribe_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_mail_track_one_click(r));
}


/*
 * RFC 8058: the body is "List-Unsubscribe=One-Click", urlencoded or as a
 * multipart/form-data field; the answer is 200, never a redirect.
 */

static ngx_int_t
ngx_http_mail_track_one_click(ngx_http_request_t *r)
{
    u_char       *p, *last, *q;
    size_t        len;
    ngx_buf_t    *b;
    ngx_str_t     body, ct;
    ngx_uint_t    found;
    mt_event_t    ev;
    mt_token_t    tok;
    ngx_chain_t  *cl;
    u_char        idbuf[40], ipbuf[NGX_INET6_ADDRSTRLEN];
    u_char        plain[MT_TOKEN_MAX_PLAIN];
    u_char        buf[4096];

    static u_char  done[] = "<!DOCTYPE html>\n<html><head><title>"
                            "Unsubscribed</title></head><body>\n"
                            "<p>You are unsubscribed.</p>\n</body></html>\n";

    /* the one-click body is tiny: anything beyond 4k is not one */

    len = 0;

    if (r->request_body && r->request_body->bufs) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;

            if (b->in_file) {
                return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
            }

            if (len + (b->last - b->pos) > sizeof(buf)) {
                return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
            }

            len = ngx_cpymem(buf + len, b->pos, b->last - b->pos) - buf;
        }
    }

    body.data = buf;
    body.len = len;

    ct.len = 0;

    if (r->headers_in.content_type) {
        ct = r->headers_in.content_type->value;
    }

    found = 0;
    p = body.data;
    last = body.data + body.len;

    if (ct.len >= 19
        && ngx_strncasecmp(ct.data, (u_char *) "multipart/form-data", 19)
           == 0)
    {
        q = ngx_strlcasestrn(p, last, (u_char *) "name=\"List-Unsubscribe\"",
                             sizeof("name=\"List-Unsubscribe\"") - 2);
        if (q) {
            q = ngx_strlcasestrn(q, last, (u_char *) "\r\n\r\n", 3);

            if (q && last - (q + 4) >= 9
                && ngx_strncmp(q + 4, "One-Click", 9) == 0
                && (last - (q + 4) == 9 || q[13] == '\r' || q[13] == '\n'))
            {
                found = 1;
            }
        }

    } else {
        while (p < last) {
            q = ngx_strlchr(p, last, '&');
            if (q == NULL) {
                q = last;
            }

            while (q > p && (q[-1] == '\r' || q[-1] == '\n')) {
                q--;
            }

            if (q - p == 26
                && ngx_strncmp(p, "List-Unsubscribe=One-Click", 26) == 0)
            {
                found = 1;
                break;
            }

            p = ngx_strlchr(p, last, '&');
            if (p == NULL) {
                break;
            }

            p++;
        }
    }

    if (!found) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mail_track unsubscribe: body is not "
                      "\"List-Unsubscribe=One-Click\"");
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_mail_track_token(r, MT_PURPOSE_UNSUBSCRIBE, plain, &tok,
                                  NULL)
        != NGX_OK)
    {
        return NGX_HTTP_BAD_REQUEST;
    }

    ngx_http_mail_track_token_event(r, &tok, &ev, MT_EV_UNSUBSCRIBED, idbuf,
                                    ipbuf);
    ev.machine = MT_MACHINE_UNKNOWN;
    ev.why.len = 0;

    if (ngx_http_mail_track_record(r, &ev) != NGX_OK) {
        /* the receiver retries: the unsubscription must not get lost */
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (ngx_http_mail_track_nocache(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = done;
    b->last = done + sizeof(done) - 1;
    b->memory = 1;

    return ngx_http_mail_track_send(r, b, "text/html");
}


/*
 * GET shows a page with a button that POSTs the one-click body to the
 * same URL.  It records nothing: link scanners issue GETs.
 */

static ngx_int_t
ngx_http_mail_track_unsubscribe_page(ngx_http_request_t *r)
{
    u_char      *p;
    size_t       len;
    ngx_buf_t   *b;
    mt_token_t   tok;
    u_char       plain[MT_TOKEN_MAX_PLAIN];

    static u_char  head[] = "<!DOCTYPE html>\n<html><head><title>"
                            "Unsubscribe</title></head><body>\n"
                            "<form method=\"post\">\n"
                            "<input type=\"hidden\" name=\"List-Unsubscribe\""
                            " value=\"One-Click\">\n"
                            "<p>Stop receiving these messages";
    static u_char  tail[] = "?</p>\n<button type=\"submit\">Unsubscribe"
                            "</button>\n</form>\n</body></html>\n";

    if (ngx_http_mail_track_token(r, MT_PURPOSE_UNSUBSCRIBE, plain, &tok,
                                  NULL)
        != NGX_OK)
    {
        return NGX_HTTP_BAD_REQUEST;
    }

    len = sizeof(head) - 1 + sizeof(" at ") - 1
          + ngx_escape_html(NULL, tok.rcpt.data, tok.rcpt.len) + tok.rcpt.len
          + sizeof(tail) - 1;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, head, sizeof(head) - 1);

    if (tok.rcpt.len) {
        p = ngx_cpymem(p, " at ", 4);
        p = (u_char *) ngx_escape_html(p, tok.rcpt.data, tok.rcpt.len);
    }

    p = ngx_cpymem(p, tail, sizeof(tail) - 1);

    b->last = p;

    if (ngx_http_mail_track_nocache(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mail_track_send(r, b, "text/html");
}


/*
 * The token is the last path segment, optionally with a suffix
 * (".gif"); refusals are counted and logged with their reason.
 */

static ngx_int_t
ngx_http_mail_track_token(ngx_http_request_t *r, u_char purpose,
    u_char *plain, mt_token_t *tok, ngx_str_t *suffix)
{
    u_char                          *p, *start, *end;
    mt_rc_t                          rc;
    ngx_http_mail_track_ctx_t       *ctx;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    ctx = ngx_http_mail_track_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    end = r->uri.data + r->uri.len;
    start = r->uri.data;

    p = memrchr(start, '/', end - start);

    start = (p != NULL) ? p + 1 : start;

    if (suffix && (size_t) (end - start) >= suffix->len
        && strncasecmp((char *) end - suffix->len, (char *) suffix->data,
                       suffix->len)
           == 0)
    {
        end -= suffix->len;
    }

    if (mlcf->keyring == NULL) {
        rc = MT_ERR_TOKEN_KEY;

    } else {
        rc = mt_token_decode(mlcf->keyring, purpose, start, end - start,
                             (int64_t) ngx_time(), plain, tok);
    }

    if (rc != MT_OK) {
        ngx_http_mail_track_set_result(r, ctx, mt_rc_name(rc));
        ngx_http_mail_track_refused(r, MT_SRC_TRACK, rc, NULL);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_mail_track_token_event(ngx_http_request_t *r, mt_token_t *tok,
    mt_event_t *ev, mt_event_type_e type, u_char *idbuf, u_char *ipbuf)
{
    unsigned          flags;
    mt_str_t          ip, ua;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    mt_event_init(ev);

    ev->src = MT_SRC_TRACK;
    ev->type = type;
    ev->rt = ngx_http_mail_track_now_ms();
    ev->ts = ev->rt;
    ev->mid = tok->mid;
    ev->rcpt = tok->rcpt;
    ev->tag = tok->tag;

    ngx_http_mail_track_event_id(idbuf, &ev->id);

    ua.len = 0;
    ua.data = NULL;

    if (r->headers_in.user_agent) {
        ua.data = r->headers_in.user_agent->value.data;
        ua.len = r->headers_in.user_agent->value.len;
    }

    ip.data = r->connection->addr_text.data;
    ip.len = r->connection->addr_text.len;

    flags = (r->method == NGX_HTTP_HEAD) ? MT_CLASSIFY_HEAD : 0;

    /* Purpose: prefetch (Chrome), Sec-Purpose: prefetch (the standard) */

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (((h[i].key.len == 7
                  && ngx_strncasecmp(h[i].key.data, (u_char *) "purpose", 7)
                     == 0)
                 || (h[i].key.len == 11
                     && ngx_strncasecmp(h[i].key.data,
                                        (u_char *) "sec-purpose", 11) == 0))
                && ngx_strlcasestrn(h[i].value.data,
                                    h[i].value.data + h[i].value.len,
                                    (u_char *) "prefetch", 7)
                   != NULL)
            {
                flags |= MT_CLASSIFY_PREFETCH;
            }
        }
    }

    mt_classify(ev, &ip, &ua, flags);

    ev->ua = ua;

    ngx_http_mail_track_client(r, ev, ipbuf);
}


/* the client address as mail_track_ip says: full, /24 and /48, or none */

void
ngx_http_mail_track_client(ngx_http_request_t *r, mt_event_t *ev,
    u_char *ipbuf)
{
    size_t                           len;
    struct sockaddr_in               sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6              sin6;
#endif
    ngx_http_mail_track_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    switch (mlcf->ip) {

    case NGX_HTTP_MAIL_TRACK_IP_OFF:
        ev->ip.len = 0;
        return;

    case NGX_HTTP_MAIL_TRACK_IP_FULL:
        ev->ip.data = r->connection->addr_text.data;
        ev->ip.len = r->connection->addr_text.len;
        return;
    }

    len = 0;

    switch (r->connection->sockaddr->sa_family) {

    case AF_INET:
        ngx_memcpy(&sin, r->connection->sockaddr, sizeof(sin));
        sin.sin_addr.s_addr &= htonl(0xffffff00);
        len = ngx_sock_ntop((struct sockaddr *) &sin, sizeof(sin), ipbuf,
                            NGX_INET6_ADDRSTRLEN, 0);
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        ngx_memcpy(&sin6, r->connection->sockaddr, sizeof(sin6));
        ngx_memzero(&sin6.sin6_addr.s6_addr[6], 10);
        len = ngx_sock_ntop((struct sockaddr *) &sin6, sizeof(sin6), ipbuf,
                            NGX_INET6_ADDRSTRLEN, 0);
        break;
#endif
    }

    ev->ip.data = ipbuf;
    ev->ip.len = len;
}


/*
 * 128 bits, unique by construction within a process (a counter) and
 * across processes and edges (a random salt drawn per process).
 */

void
ngx_http_mail_track_event_id(u_char *buf, mt_str_t *id)
{
    uint64_t       seq;
    ngx_uint_t     i;
    static u_char  hex[] = "0123456789abcdef";

    if (ngx_http_mail_track_id_salt == 0) {
        if (RAND_bytes((u_char *) &ngx_http_mail_track_id_salt, 8) != 1) {
            ngx_http_mail_track_id_salt = (uint64_t) ngx_pid << 32
                                          ^ (uint64_t) ngx_time();
        }

        ngx_http_mail_track_id_salt |= 1;
        ngx_http_mail_track_id_seq = (uint64_t) ngx_http_mail_track_now_ms()
                                     << 16;

        for (i = 0; i < 16; i++) {
            ngx_http_mail_track_id_hex[15 - i] =
                hex[(ngx_http_mail_track_id_salt >> (i * 4)) & 0xf];
        }
    }

    seq = ++ngx_http_mail_track_id_seq;

    ngx_memcpy(buf, ngx_http_mail_track_id_hex, 16);

    /* the counter's bytes, two digits at a time */

    for (i = 0; i < 8; i++) {
        ngx_memcpy(buf + 30 - 2 * i, &mt_hex_pairs[(seq >> (i * 8)) & 0xff],
                   2);
    }

    id->data = buf;
    id->len = 32;
}


static ngx_int_t
ngx_http_mail_track_nocache(ngx_http_request_t *r)
{
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    for (i = 0; i < sizeof(ngx_http_mail_track_nocache_headers)
                    / sizeof(ngx_keyval_t); i++)
    {
        kv = &ngx_http_mail_track_nocache_headers[i];

        if (ngx_http_mail_track_add_header(r, &kv->key, &kv->value) == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a 200 with the buffer as its whole body (no body for HEAD) */

ngx_int_t
ngx_http_mail_track_send(ngx_http_request_t *r, ngx_buf_t *b,
    const char *type)
{
    return ngx_http_mail_track_send_status(r, NGX_HTTP_OK, b, type);
}


ngx_int_t
ngx_http_mail_track_send_status(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b, const char *type)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_table_elt_t *
ngx_http_mail_track_add_header(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key = *key;
    h->value = *value;
    h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}


/*
 * The 302 is sent here, with no body: nginx's HTML page for it (and the
 * special response's work) would cost a click a tenth more.
 */

static ngx_int_t
ngx_http_mail_track_redirect(ngx_http_request_t *r, u_char *url, size_t len)
{
    ngx_buf_t        *b;
    ngx_str_t         key, value;
    ngx_table_elt_t  *h;

    ngx_http_clear_location(r);

    ngx_str_set(&key, "Location");
    value.data = url;
    value.len = len;

    h = ngx_http_mail_track_add_header(r, &key, &value);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.location = h;

    if (ngx_http_mail_track_nocache(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mail_track_send_status(r, NGX_HTTP_MOVED_TEMPORARILY, b,
                                           "");
}


ngx_http_mail_track_zone_t *
ngx_http_mail_track_zone_get(ngx_http_request_t *r)
{
    ngx_http_mail_track_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mail_track_module);

    return mmcf->shm_zone->data;
}


ngx_int_t
ngx_http_mail_track_record(ngx_http_request_t *r, mt_event_t *ev)
{
    ssize_t                          len;
    uint64_t                         seq;
    mt_privacy_buf_t                 pb;
    ngx_http_mail_track_ctx_t       *ctx;
    ngx_http_mail_track_zone_t      *zone;
    ngx_http_mail_track_loc_conf_t  *mlcf;
    u_char                           rec[MT_RECORD_MAX];

    zone = ngx_http_mail_track_zone_get(r);

    ctx = ngx_http_mail_track_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->event = ev->type;
    ctx->mid.data = ngx_pstrdup(r->pool, (ngx_str_t *) &ev->mid);
    ctx->mid.len = ctx->mid.data ? ev->mid.len : 0;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    if (mlcf->minimise && mt_privacy_apply(&mlcf->privacy, ev, &pb) != MT_OK)
    {
        ngx_http_mail_track_set_result(r, ctx, mt_rc_name(MT_ERR_INTERNAL));
        ngx_http_mail_track_refused(r, ev->src, MT_ERR_INTERNAL, NULL);
        return NGX_DECLINED;
    }

    len = mt_event_encode(ev, rec, sizeof(rec));

    if (len < 0
        || ngx_http_mail_track_zone_append_event(zone, rec, len, ev, &seq)
           != NGX_OK)
    {
        ngx_http_mail_track_set_result(r, ctx, mt_rc_name(MT_ERR_FULL));
        ngx_http_mail_track_refused(r, ev->src, MT_ERR_FULL, NULL);
        return NGX_DECLINED;
    }

    ngx_http_mail_track_counted(zone, ev, seq);

    ngx_http_mail_track_set_result(r, ctx, "accepted");

    return NGX_OK;
}


/* an event is in the queue: count it, and flush early on a full batch */

void
ngx_http_mail_track_queued(ngx_http_mail_track_zone_t *zone, mt_event_t *ev,
    uint64_t seq)
{
    ngx_http_mail_track_status_update(zone, ev);
    ngx_http_mail_track_counted(zone, ev, seq);
}


/* its message state is up to date too (the tracking path: one lock) */

static void
ngx_http_mail_track_counted(ngx_http_mail_track_zone_t *zone, mt_event_t *ev,
    uint64_t seq)
{
    ngx_http_mail_track_count(zone, events[ev->src][ev->type]);

    if (ev->machine == 1 && ev->type == MT_EV_OPENED) {
        ngx_http_mail_track_count(zone,
                                  misc[NGX_HTTP_MAIL_TRACK_MACHINE_OPENS]);

    } else if (ev->machine == 1 && ev->type == MT_EV_CLICKED) {
        ngx_http_mail_track_count(zone,
                                  misc[NGX_HTTP_MAIL_TRACK_MACHINE_CLICKS]);
    }

    ngx_http_mail_track_spool_appended(zone, seq);
}


/* every refusal is counted; the log line names the reason */

void
ngx_http_mail_track_refused(ngx_http_request_t *r, ngx_uint_t src, mt_rc_t rc,
    ngx_str_t *detail)
{
    ngx_str_t                        name;
    ngx_uint_t                       level;
    ngx_http_mail_track_zone_t      *zone;
    ngx_http_mail_track_loc_conf_t  *mlcf;

    zone = ngx_http_mail_track_zone_get(r);
    src = ngx_http_mail_track_src_slot(zone, src);

    if ((unsigned) rc < MT_RC_MAX) {
        ngx_http_mail_track_count(zone, refused[src][rc]);
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mail_track_module);

    level = mlcf->log_level;

    if (rc == MT_ERR_FULL || rc == MT_ERR_SPOOL || rc == MT_ERR_NOMEM
        || rc == MT_ERR_INTERNAL)
    {
        level = NGX_LOG_ERR;
    }

    name = ngx_http_mail_track_src_label(zone, src);

    if (detail && detail->len) {
        ngx_log_error(level, r->connection->log, 0,
                      "mail_track %V: %s (%s): %V",
                      &name, mt_rc_text(rc), mt_rc_name(rc), detail);

    } else {
        ngx_log_error(level, r->connection->log, 0,
                      "mail_track %V: %s (%s)",
                      &name, mt_rc_text(rc), mt_rc_name(rc));
    }
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The HTTP client (mt_tool_http.h): libcurl's easy interface, one handle
 * kept for the connection's life so that requests reuse the connection.
 */


#include "mt_tool_http.h"

#include <curl/curl.h>


/* a server that takes no byte for this long is given up on */
#define MT_HTTP_CONNECT_S       10
#define MT_HTTP_STALL_S         120


static size_t mt_http_write(char *p, size_t size, size_t n, void *data);


int
mt_http_init(mt_http_t *h, const char *base, const char *user,
    const char *password, const char *cafile)
{
    size_t  len;
    CURL   *curl;

    memset(h, 0, sizeof(mt_http_t));
    mt_tool_buf_init(&h->resp);

    h->base = strdup(base);
    if (h->base == NULL) {
        snprintf(h->err, MT_HTTP_ERR_LEN, "out of memory");
        return -1;
    }

    if (user != NULL) {
        len = strlen(user) + 1 + (password ? strlen(password) : 0) + 1;

        h->userpwd = malloc(len);
        if (h->userpwd == NULL) {
            snprintf(h->err, MT_HTTP_ERR_LEN, "out of memory");
            return -1;
        }

        snprintf(h->userpwd, len, "%s:%s", user, password ? password : "");
    }

    curl = curl_easy_init();
    if (curl == NULL) {
        snprintf(h->err, MT_HTTP_ERR_LEN, "curl_easy_init() failed");
        return -1;
    }

    h->curl = curl;

    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, h->err);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, mt_http_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long) MT_HTTP_CONNECT_S);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long) MT_HTTP_STALL_S);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, MT_TOOL_NAME "/" MT_VERSION);

    if (h->userpwd != NULL) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERPWD, h->userpwd);
    }

    if (cafile != NULL) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, cafile);
    }

    return 0;
}


void
mt_http_free(mt_http_t *h)
{
    if (h->curl != NULL) {
        curl_easy_cleanup(h->curl);
    }

    if (h->userpwd != NULL) {
        /* not left in freed memory */
        memset(h->userpwd, 0, strlen(h->userpwd));
        free(h->userpwd);
    }

    free(h->base);
    mt_tool_buf_free(&h->resp);

    h->curl = NULL;
    h->userpwd = NULL;
    h->base = NULL;
}


int
mt_http_post(mt_http_t *h, const char *args, const u_char *body, size_t len)
{
    CURLcode            rc;
    mt_tool_buf_t       url;
    struct curl_slist  *headers;

    h->resp.len = 0;
    h->resp.nomem = 0;
    h->status = 0;
    h->err[0] = '\0';

    mt_tool_buf_init(&url);
    mt_tool_buf_add_cstr(&url, h->base);
    mt_tool_buf_add_cstr(&url, args);
    mt_tool_buf_add(&url, "", 1);

    if (url.nomem) {
        snprintf(h->err, MT_HTTP_ERR_LEN, "out of memory");
        return -1;
    }

    /* no "Expect: 100-continue": one round trip less per insert */

    headers = curl_slist_append(NULL, "Expect:");
    headers = curl_slist_append(headers,
                                "Content-Type: application/octet-stream");

    curl_easy_setopt(h->curl, CURLOPT_URL, (char *) url.data);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, (char *) body);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);

    rc = curl_easy_perform(h->curl);

    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    mt_tool_buf_free(&url);

    if (rc != CURLE_OK) {
        if (h->err[0] == '\0') {
            snprintf(h->err, MT_HTTP_ERR_LEN, "%s", curl_easy_strerror(rc));
        }

        return -1;
    }

    if (h->resp.nomem) {
        snprintf(h->err, MT_HTTP_ERR_LEN, "out of memory");
        return -1;
    }

    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);

    /* the body as a C string too */

    mt_tool_buf_add(&h->resp, "", 1);
    h->resp.len--;

    return 0;
}


static size_t
mt_http_write(char *p, size_t size, size_t n, void *data)
{
    mt_http_t  *h = data;

    mt_tool_buf_add(&h->resp, p, size * n);

    return h->resp.nomem ? 0 : size * n;
}


void
mt_http_escape(mt_tool_buf_t *b, const char *s, size_t len)
{
    u_char        *d;
    const u_char  *p, *end;

    static const char  hex[] = "0123456789ABCDEF";

    if (mt_tool_buf_reserve(b, 3 * len) != 0) {
        return;
    }

    d = b->data + b->len;

    for (p = (const u_char *) s, end = p + len; p < end; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
            || *p == '.' || *p == '~')
        {
            *d++ = *p;

        } else {
            *d++ = '%';
            *d++ = hex[*p >> 4];
            *d++ = hex[*p & 0xf];
        }
    }

    b->len = d - b->data;
}

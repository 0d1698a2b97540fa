
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * A small HTTP client over libcurl, for the databases spoken to over
 * HTTP (ClickHouse): one keep-alive connection, a POST with a body, the
 * whole answer in memory.  libcurl, not a socket of our own: it verifies
 * TLS certificates and host names, honours proxies and time limits, and
 * its security fixes come with the distribution.
 */


#ifndef _MT_TOOL_HTTP_H_INCLUDED_
#define _MT_TOOL_HTTP_H_INCLUDED_


#include "mt_tool.h"


#define MT_HTTP_ERR_LEN         256


typedef struct {
    void                       *curl;
    char                       *base;      /* "http[s]://host:port/?" */
    char                       *userpwd;   /* NULL: no Authorization */
    long                        status;    /* of the last answer */
    mt_tool_buf_t               resp;      /* its body */
    char                        err[MT_HTTP_ERR_LEN];
} mt_http_t;


/*
 * base: the URL every request starts with; user, password may be NULL;
 * cafile: the CAs to trust for https (NULL: the system's).
 */
int mt_http_init(mt_http_t *h, const char *base, const char *user,
    const char *password, const char *cafile);
void mt_http_free(mt_http_t *h);

/*
 * POSTs body to base + args ("a=1&b=2", escaped by the caller).  0: an
 * answer came (h->status, h->resp); -1: none did (h->err says why).
 */
int mt_http_post(mt_http_t *h, const char *args, const u_char *body,
    size_t len);

/* percent-encodes s into b, as a URL's query wants it */
void mt_http_escape(mt_tool_buf_t *b, const char *s, size_t len);


#endif /* _MT_TOOL_HTTP_H_INCLUDED_ */

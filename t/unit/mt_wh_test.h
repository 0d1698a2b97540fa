
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Drives a provider's core entry the way the nginx glue does, capturing
 * what it emits: for the provider unit tests and the fuzzers.
 */


#ifndef _MT_WH_TEST_H_INCLUDED_
#define _MT_WH_TEST_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_core.h"
#include "mt_event.h"
#include "mt_webhook.h"
#include "mt_base64.h"

#include <openssl/rand.h>


#define WH_MAX_HEADERS   16
#define WH_MAX_EVENTS    2048
#define WH_MAX_TOKENS    64


typedef struct {
    const char       *name;        /* lowercase */
    const char       *value;
} wh_header_t;


typedef struct {
    mt_wh_t           wh;
    wh_header_t       headers[WH_MAX_HEADERS];
    unsigned          nheaders;
    char              auth[512];     /* the value wh_basic() sets */

    /* every allocation, freed by wh_reset() */
    void            **allocs;
    size_t            nallocs;
    size_t            cap;

    mt_event_t        events[WH_MAX_EVENTS];
    unsigned          nevents;
    mt_rc_t           emit_rc;       /* make emit fail after emit_limit */
    unsigned          emit_limit;

    /* mailgun replay cache: token -> event id */
    char             *tokens[WH_MAX_TOKENS];
    char             *token_events[WH_MAX_TOKENS];
    unsigned          ntokens;

    /* SNS: the key cert() returns for cert_url, and how often it was asked */
    void             *pkey;
    const char       *pkey_url;
    unsigned          cert_calls;
} wh_test_t;


static inline void *
wh_test_alloc(void *data, size_t size)
{
    wh_test_t  *t = data;
    void       *p;

    if (t->nallocs == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->allocs = realloc(t->allocs, t->cap * sizeof(void *));
        if (t->allocs == NULL) {
            abort();
        }
    }

    p = malloc(size ? size : 1);
    if (p == NULL) {
        abort();
    }

    t->allocs[t->nallocs++] = p;

    return p;
}


static inline mt_str_t
wh_test_header(mt_wh_t *wh, const char *lcname)
{
    wh_test_t  *t = wh->data;
    unsigned    i;
    mt_str_t    v = mt_null_string;

    for (i = 0; i < t->nheaders; i++) {
        if (strcasecmp(t->headers[i].name, lcname) == 0) {
            v.data = (u_char *) t->headers[i].value;
            v.len = strlen(t->headers[i].value);
            break;
        }
    }

    return v;
}


static inline unsigned
wh_test_header_count(mt_wh_t *wh, const char *lcname)
{
    wh_test_t  *t = wh->data;
    unsigned    i, n;

    for (i = 0, n = 0; i < t->nheaders; i++) {
        if (strcasecmp(t->headers[i].name, lcname) == 0) {
            n++;
        }
    }

    return n;
}


static inline void
wh_test_copy(wh_test_t *t, mt_str_t *s)
{
    u_char  *p;

    if (s->len == 0) {
        s->data = NULL;
        return;
    }

    p = wh_test_alloc(t, s->len + 1);
    memcpy(p, s->data, s->len);
    p[s->len] = '\0';
    s->data = p;
}


static inline mt_rc_t
wh_test_emit(mt_wh_t *wh, mt_event_t *ev)
{
    wh_test_t   *t = wh->data;
    mt_event_t  *e;
    ssize_t      n;
    u_char       rec[MT_RECORD_MAX];

    if (t->emit_rc != MT_OK && t->nevents >= t->emit_limit) {
        return t->emit_rc;
    }

    /* every event must encode: the glue spools exactly this */

    n = mt_event_encode(ev, rec, sizeof(rec));
    if (n <= 0) {
        fprintf(stderr, "event does not encode\n");
        abort();
    }

    if (ev->id.len == 0) {
        fprintf(stderr, "event without id\n");
        abort();
    }

    if (t->nevents == WH_MAX_EVENTS) {
        return MT_OK;
    }

    e = &t->events[t->nevents++];
    *e = *ev;

    wh_test_copy(t, &e->id);
    wh_test_copy(t, &e->esp_type);
    wh_test_copy(t, &e->mid);
    wh_test_copy(t, &e->esp_mid);
    wh_test_copy(t, &e->rcpt);
    wh_test_copy(t, &e->smtp_status);
    wh_test_copy(t, &e->reason);
    wh_test_copy(t, &e->url);
    wh_test_copy(t, &e->ip);
    wh_test_copy(t, &e->ua);
    wh_test_copy(t, &e->why);
    wh_test_copy(t, &e->tag);

    return MT_OK;
}


static inline mt_rc_t
wh_test_replay(mt_wh_t *wh, mt_str_t *token, mt_str_t *event_id)
{
    wh_test_t  *t = wh->data;
    unsigned    i;

    for (i = 0; i < t->ntokens; i++) {
        if (strlen(t->tokens[i]) == token->len
            && memcmp(t->tokens[i], token->data, token->len) == 0)
        {
            if (strlen(t->token_events[i]) == event_id->len
                && memcmp(t->token_events[i], event_id->data, event_id->len)
                   == 0)
            {
                return MT_OK;
            }

            return MT_ERR_REPLAY;
        }
    }

    if (t->ntokens < WH_MAX_TOKENS) {
        t->tokens[t->ntokens] = strndup((char *) token->data, token->len);
        t->token_events[t->ntokens] = strndup((char *) event_id->data,
                                              event_id->len);
        t->ntokens++;
    }

    return MT_OK;
}


static inline void *
wh_test_cert(mt_wh_t *wh, mt_str_t *url)
{
    wh_test_t  *t = wh->data;

    t->cert_calls++;

    if (t->pkey && t->pkey_url && strlen(t->pkey_url) == url->len
        && memcmp(t->pkey_url, url->data, url->len) == 0)
    {
        return t->pkey;
    }

    return NULL;
}


/* frees what the last run allocated; keeps headers, tokens and pkey */

static inline void
wh_reset(wh_test_t *t)
{
    size_t  i;

    for (i = 0; i < t->nallocs; i++) {
        free(t->allocs[i]);
    }

    t->nallocs = 0;
    t->nevents = 0;
    t->nheaders = 0;
}


static inline void
wh_free(wh_test_t *t)
{
    unsigned  i;

    wh_reset(t);
    free(t->allocs);
    t->allocs = NULL;
    t->cap = 0;

    for (i = 0; i < t->ntokens; i++) {
        free(t->tokens[i]);
        free(t->token_events[i]);
    }

    t->ntokens = 0;
}


static inline void
wh_header(wh_test_t *t, const char *name, const char *value)
{
    if (t->nheaders < WH_MAX_HEADERS) {
        t->headers[t->nheaders].name = name;
        t->headers[t->nheaders].value = value;
        t->nheaders++;
    }
}


/* an Authorization: Basic header for user:pass */

static inline void
wh_basic(wh_test_t *t, const char *user, const char *pass)
{
    char    plain[256];
    size_t  n;

    n = snprintf(plain, sizeof(plain), "%s:%s", user, pass);

    memcpy(t->auth, "Basic ", 6);
    n = mt_base64_encode((u_char *) t->auth + 6, (u_char *) plain, n);
    t->auth[6 + n] = '\0';

    wh_header(t, "authorization", t->auth);
}


/* a fresh credential: 24 random bytes in hex (49 bytes with the NUL) */

static inline void
wh_fresh_secret(char *buf)
{
    size_t  i;
    u_char  raw[24];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        abort();
    }

    for (i = 0; i < sizeof(raw); i++) {
        sprintf(buf + 2 * i, "%02x", raw[i]);
    }
}


/*
 * Sets up the request as the glue does: POST, content_type (may be NULL),
 * body, now in unix seconds, the headers set by wh_header() since the
 * last wh_reset().
 */

static inline void
wh_setup(wh_test_t *t, mt_wh_conf_t *conf, const char *content_type,
    const void *body, size_t len, int64_t now)
{
    memset(&t->wh, 0, sizeof(mt_wh_t));

    t->wh.conf = conf;
    mt_str_set(&t->wh.method, "POST");
    t->wh.content_type.data = (u_char *) content_type;
    t->wh.content_type.len = content_type ? strlen(content_type) : 0;
    t->wh.body = body;
    t->wh.body_len = len;
    t->wh.now_ms = now * 1000;
    t->wh.header = wh_test_header;
    t->wh.header_count = wh_test_header_count;
    t->wh.alloc.alloc = wh_test_alloc;
    t->wh.alloc.data = t;
    t->wh.emit = wh_test_emit;
    t->wh.replay = wh_test_replay;
    t->wh.cert = wh_test_cert;
    t->wh.data = t;
}


/* runs the provider of conf over the request that wh_setup() makes */

static inline mt_rc_t
wh_run(wh_test_t *t, mt_wh_conf_t *conf, const char *content_type,
    const void *body, size_t len, int64_t now)
{
    wh_setup(t, conf, content_type, body, len, now);

    return mt_provider_get(conf->provider)->process(&t->wh);
}


/* a conf with one key (prepared by the provider when it has a parser) */

static inline void
wh_conf(mt_wh_conf_t *conf, mt_wh_key_t *key, mt_src_e src,
    const char *keyval)
{
    char                  err[256];
    const mt_provider_t  *p;

    memset(conf, 0, sizeof(mt_wh_conf_t));

    p = mt_provider_get(src);

    conf->provider = src;
    conf->tolerance = p->tolerance;
    mt_str_set(&conf->id_field, "mail_track_id");

    if (keyval == NULL) {
        return;
    }

    memset(key, 0, sizeof(mt_wh_key_t));
    key->raw.data = (u_char *) keyval;
    key->raw.len = strlen(keyval);

    if (p->key && p->key(&key->raw, &key->data, err, sizeof(err)) != MT_OK) {
        fprintf(stderr, "key: %s\n", err);
        abort();
    }

    key->free = p->key_free;

    conf->keys = key;
    conf->nkeys = 1;
}


#endif /* _MT_WH_TEST_H_INCLUDED_ */

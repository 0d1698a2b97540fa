
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The generic provider's authentication: a credential compared in
 * constant time, or a digest over the compiled template evaluated on the
 * raw bytes of the request; the timestamp and the nonce.
 */


#include "mt_generic.h"
#include "mt_base64.h"

#include <stdarg.h>
#include <stdio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>


static mt_rc_t mt_gen_token(mt_gen_req_t *rq);
static mt_rc_t mt_gen_verify(mt_gen_req_t *rq);
static mt_rc_t mt_gen_candidates(mt_gen_req_t *rq, mt_str_t *sig,
    u_char *cand, size_t *ncand);
static mt_rc_t mt_gen_resolve(mt_gen_req_t *rq);
static mt_rc_t mt_gen_text(mt_gen_req_t *rq, mt_gen_src_t *src,
    const char *what, mt_rc_t missing, mt_str_t *out);
static void mt_gen_src_text(mt_gen_src_t *src, char *buf, size_t size);
static mt_str_t mt_gen_trim(mt_str_t s);
static int mt_gen_has_zone(mt_str_t *s);
static int64_t mt_gen_decimal_ms(mt_str_t *s, int64_t scale);


mt_rc_t
mt_gen_authenticate(mt_gen_req_t *rq)
{
    switch (rq->gc->auth) {

    case MT_GEN_AUTH_TOKEN:
        return mt_gen_token(rq);

    case MT_GEN_AUTH_DIGEST:
        return mt_gen_verify(rq);

    default:
        return MT_OK;
    }
}


/*
 * Authorization as the built-in unsigned providers take it (Basic or
 * Bearer); any other header, field or query argument as it comes.
 */

static mt_rc_t
mt_gen_token(mt_gen_req_t *rq)
{
    size_t          i;
    mt_str_t       *key;
    mt_gen_src_t   *src;
    mt_gen_val_t    v;
    mt_wh_conf_t   *conf;
    char            name[80];

    conf = rq->wh->conf;
    src = &rq->gc->token;

    if (src->type == MT_GEN_SRC_NONE
        || (src->type == MT_GEN_SRC_HEADER
            && mt_str_eq(&src->name, "authorization")))
    {
        return mt_wh_check_credential(rq->wh);
    }

    if (conf->nkeys == 0) {
        return conf->auth_off ? MT_OK : MT_ERR_AUTH_MISSING;
    }

    if (mt_gen_source(rq, src, &v) != MT_OK) {
        return MT_ERR_NOMEM;
    }

    mt_gen_src_text(src, name, sizeof(name));

    if ((v.type != MT_GEN_V_STRING && v.type != MT_GEN_V_NUMBER)
        || v.s.len == 0)
    {
        mt_gen_detail(rq, "no token in %s", name);
        return MT_ERR_AUTH_MISSING;
    }

    if (v.count > 1) {
        mt_gen_detail(rq, "the token %s came %u times", name, v.count);
        return MT_ERR_AUTH_FAILED;
    }

    for (i = 0; i < conf->nkeys; i++) {
        key = &conf->keys[i].raw;

        if (v.s.len == key->len && mt_memeq_ct(v.s.data, key->data, key->len))
        {
            return MT_OK;
        }
    }

    return MT_ERR_AUTH_FAILED;
}


/*
 * The signature source holds one or more candidates; each key's digest
 * over the template is compared with each, and any match passes (key
 * rotation on either side).
 */

static mt_rc_t
mt_gen_verify(mt_gen_req_t *rq)
{
    size_t          i, c, ncand, len;
    mt_rc_t         rc;
    mt_str_t        sig;
    mt_gen_val_t    v;
    mt_gen_conf_t  *gc;
    u_char          md[EVP_MAX_MD_SIZE];
    u_char          cand[MT_GEN_CANDIDATES * EVP_MAX_MD_SIZE];
    char            name[80];

    gc = rq->gc;

    if (mt_gen_source(rq, &gc->sig, &v) != MT_OK) {
        return MT_ERR_NOMEM;
    }

    mt_gen_src_text(&gc->sig, name, sizeof(name));

    if (v.type != MT_GEN_V_STRING || v.s.len == 0) {
        mt_gen_detail(rq, "no signature in %s", name);
        return MT_ERR_SIGNATURE_MISSING;
    }

    if (v.count > 1) {
        mt_gen_detail(rq, "the signature %s came %u times", name, v.count);
        return MT_ERR_SIGNATURE;
    }

    if (v.s.len > MT_GEN_SIG_MAX) {
        mt_gen_detail(rq, "the signature %s is longer than %d bytes", name,
                      MT_GEN_SIG_MAX);
        return MT_ERR_SIGNATURE;
    }

    sig = v.s;

    rc = mt_gen_candidates(rq, &sig, cand, &ncand);
    if (rc != MT_OK) {
        return rc;
    }

    rc = mt_gen_resolve(rq);
    if (rc != MT_OK) {
        return rc;
    }

    for (i = 0; i < gc->nkeys; i++) {
        rc = mt_gen_digest(gc, &gc->keys[i], rq, md, &len);
        if (rc != MT_OK) {
            return rc;
        }

        for (c = 0; c < ncand; c++) {
            if (CRYPTO_memcmp(md, cand + c * gc->md_len, gc->md_len) == 0) {
                return MT_OK;
            }
        }
    }

    mt_gen_detail(rq, "no configured key verifies the signature");

    return MT_ERR_SIGNATURE;
}


/*
 * "v1,abc v1,def": split on the split= characters, the prefix= taken off
 * (a candidate without it is another scheme's, skipped), then decoded;
 * only those of the digest's length are kept.
 */

static mt_rc_t
mt_gen_candidates(mt_gen_req_t *rq, mt_str_t *sig, u_char *cand,
    size_t *ncand)
{
    size_t          n, seen;
    ssize_t         len;
    u_char         *p, *end, *q;
    mt_str_t        c;
    mt_gen_conf_t  *gc;
    u_char          buf[MT_GEN_SIG_MAX];

    gc = rq->gc;
    n = 0;
    seen = 0;

    p = sig->data;
    end = p + sig->len;

    while (p <= end && n < MT_GEN_CANDIDATES) {
        q = p;

        if (gc->split.len) {
            while (q < end && memchr(gc->split.data, *q, gc->split.len)
                              == NULL)
            {
                q++;
            }

        } else {
            q = end;
        }

        c.data = p;
        c.len = q - p;
        c = mt_gen_trim(c);

        p = q + 1;

        if (c.len == 0) {
            continue;
        }

        if (gc->prefix.len) {
            if (c.len < gc->prefix.len
                || strncasecmp((char *) c.data, (char *) gc->prefix.data,
                               gc->prefix.len) != 0)
            {
                continue;
            }

            c.data += gc->prefix.len;
            c.len -= gc->prefix.len;
        }

        seen++;

        if (gc->enc == MT_GEN_ENC_HEX) {
            if (c.len != gc->md_len * 2) {
                continue;
            }

            len = mt_hex_decode(buf, c.data, c.len);

        } else {
            if (c.len > mt_base64_encoded_len(gc->md_len)) {
                continue;
            }

            len = mt_base64_decode(buf, c.data, c.len);
        }

        if (len != (ssize_t) gc->md_len) {
            continue;
        }

        memcpy(cand + n * gc->md_len, buf, gc->md_len);
        n++;
    }

    if (n == 0) {
        if (seen == 0 && gc->prefix.len) {
            mt_gen_detail(rq, "no signature starts with \"%.*s\"",
                          (int) gc->prefix.len, gc->prefix.data);

        } else if (gc->enc == MT_GEN_ENC_HEX) {
            mt_gen_detail(rq, "the signature is not %d hex digits",
                          (int) gc->md_len * 2);

        } else {
            mt_gen_detail(rq, "the signature is not base64 of %d bytes",
                          (int) gc->md_len);
        }

        return MT_ERR_SIGNATURE;
    }

    *ncand = n;

    return MT_OK;
}


/* the values of the template's header, field and query pieces */

static mt_rc_t
mt_gen_resolve(mt_gen_req_t *rq)
{
    size_t           i;
    mt_rc_t          rc;
    mt_gen_conf_t   *gc;
    mt_gen_piece_t  *pc;

    gc = rq->gc;

    rq->values = mt_alloc(&rq->wh->alloc, gc->npieces * sizeof(mt_str_t));
    if (rq->values == NULL) {
        return MT_ERR_NOMEM;
    }

    for (i = 0; i < gc->npieces; i++) {
        pc = &gc->pieces[i];

        rq->values[i].len = 0;
        rq->values[i].data = NULL;

        if (pc->type != MT_GEN_PIECE_SOURCE) {
            continue;
        }

        rc = mt_gen_text(rq, &pc->src, "the signed", MT_ERR_SIGNATURE_MISSING,
                         &rq->values[i]);
        if (rc != MT_OK) {
            return rc;
        }
    }

    return MT_OK;
}


/*
 * A value that authentication uses: a string, or a number or boolean as
 * it was sent; missing, repeated or structured values are refused.
 */

static mt_rc_t
mt_gen_text(mt_gen_req_t *rq, mt_gen_src_t *src, const char *what,
    mt_rc_t missing, mt_str_t *out)
{
    mt_gen_val_t  v;
    char          name[80];

    if (mt_gen_source(rq, src, &v) != MT_OK) {
        return MT_ERR_NOMEM;
    }

    mt_gen_src_text(src, name, sizeof(name));

    switch (v.type) {

    case MT_GEN_V_STRING:
    case MT_GEN_V_NUMBER:
    case MT_GEN_V_BOOL:
        break;

    case MT_GEN_V_ABSENT:
    case MT_GEN_V_NULL:
        mt_gen_detail(rq, "%s %s is missing", what, name);
        return missing;

    default:
        mt_gen_detail(rq, "%s %s is not a string or a number", what, name);
        return MT_ERR_SIGNATURE;
    }

    if (v.count > 1) {
        mt_gen_detail(rq, "%s %s came %u times", what, name, v.count);
        return MT_ERR_SIGNATURE;
    }

    *out = v.s;

    return MT_OK;
}


/* "header:Name", "field:/ptr", "query:arg": for the error log */

static void
mt_gen_src_text(mt_gen_src_t *src, char *buf, size_t size)
{
    switch (src->type) {

    case MT_GEN_SRC_HEADER:
        snprintf(buf, size, "header %.*s", (int) src->name.len,
                 src->name.data);
        break;

    case MT_GEN_SRC_FIELD:
        snprintf(buf, size, "field %.*s", (int) src->ptr.text.len,
                 src->ptr.text.data);
        break;

    case MT_GEN_SRC_QUERY:
        snprintf(buf, size, "query argument %.*s", (int) src->name.len,
                 src->name.data);
        break;

    default:
        snprintf(buf, size, "(none)");
        break;
    }
}


mt_rc_t
mt_gen_digest(mt_gen_conf_t *gc, mt_gen_key_t *key, mt_gen_req_t *rq,
    u_char *md, size_t *len)
{
    int              ok;
    size_t           i;
    mt_wh_t         *wh;
    mt_str_t         s;
    EVP_MD_CTX      *mdctx;
    EVP_MAC_CTX     *mac;
    unsigned int     mdlen;
    mt_gen_piece_t  *pc;

    wh = rq->wh;
    mac = key->mac;
    mdctx = NULL;

    if (mac != NULL) {
        /* no key: the one set at configuration is used again */
        ok = EVP_MAC_init(mac, NULL, 0, NULL);

    } else {
        mdctx = EVP_MD_CTX_new();
        ok = mdctx != NULL && EVP_DigestInit_ex(mdctx, gc->md, NULL);
    }

    for (i = 0; ok && i < gc->npieces; i++) {
        pc = &gc->pieces[i];

        switch (pc->type) {

        case MT_GEN_PIECE_TEXT:
            s = pc->text;
            break;

        case MT_GEN_PIECE_BODY:
            s.data = (u_char *) wh->body;
            s.len = wh->body_len;
            break;

        case MT_GEN_PIECE_KEY:
            s = key->bytes;
            break;

        case MT_GEN_PIECE_METHOD:
            s = wh->method;
            break;

        case MT_GEN_PIECE_URI:
            s = wh->uri;
            break;

        default:
            s = rq->values[i];
            break;
        }

        if (s.len == 0) {
            continue;
        }

        ok = (mac != NULL) ? EVP_MAC_update(mac, s.data, s.len)
                           : EVP_DigestUpdate(mdctx, s.data, s.len);
    }

    if (ok) {
        if (mac != NULL) {
            ok = EVP_MAC_final(mac, md, len, EVP_MAX_MD_SIZE);

        } else {
            ok = EVP_DigestFinal_ex(mdctx, md, &mdlen);
            *len = mdlen;
        }
    }

    EVP_MD_CTX_free(mdctx);

    if (!ok || *len != gc->md_len) {
        ERR_clear_error();
        return MT_ERR_INTERNAL;
    }

    return MT_OK;
}


/* mail_track_generic_timestamp, against mail_track_webhook_tolerance */

mt_rc_t
mt_gen_check_time(mt_gen_req_t *rq)
{
    int64_t         ms;
    mt_rc_t         rc;
    mt_str_t        s;
    mt_gen_val_t    v;
    mt_gen_conf_t  *gc;

    gc = rq->gc;

    if (gc->ts.type == MT_GEN_SRC_NONE) {
        return MT_OK;
    }

    rc = mt_gen_text(rq, &gc->ts, "the timestamp", MT_ERR_SIGNATURE_MISSING,
                     &s);
    if (rc != MT_OK) {
        return rc;
    }

    v.type = MT_GEN_V_STRING;
    v.s = s;

    ms = mt_gen_time_ms(&v, gc->ts_conv, 0);

    if (ms <= 0) {
        mt_gen_detail(rq, "the timestamp \"%.*s\" is not %s",
                      (int) mt_min(s.len, 64), s.data,
                      gc->ts_conv == MT_GEN_CONV_S ? "unix seconds"
                      : gc->ts_conv == MT_GEN_CONV_MS ? "unix milliseconds"
                      : "an RFC 3339 time");
        return MT_ERR_SIGNATURE;
    }

    return mt_wh_check_time(rq->wh, ms / 1000);
}


mt_rc_t
mt_gen_get_nonce(mt_gen_req_t *rq)
{
    mt_rc_t         rc;
    mt_gen_conf_t  *gc;

    gc = rq->gc;

    if (gc->nonce.type == MT_GEN_SRC_NONE) {
        return MT_OK;
    }

    rc = mt_gen_text(rq, &gc->nonce, "the nonce", MT_ERR_SIGNATURE_MISSING,
                     &rq->nonce);
    if (rc != MT_OK) {
        return rc;
    }

    if (rq->nonce.len == 0) {
        mt_gen_detail(rq, "the nonce is empty");
        return MT_ERR_SIGNATURE_MISSING;
    }

    if (rq->nonce.len > MT_GEN_NONCE_MAX) {
        mt_gen_detail(rq, "the nonce is longer than %d bytes",
                      MT_GEN_NONCE_MAX);
        return MT_ERR_SIGNATURE;
    }

    return MT_OK;
}


/*
 * A time as milliseconds, 0 when it is not one: s (unix seconds, maybe
 * with a fraction), ms, rfc3339, local (RFC 3339, offset seconds east
 * when it names no zone), or none of them: a number is seconds (or
 * milliseconds when that large), a string RFC 3339.
 */

int64_t
mt_gen_time_ms(mt_gen_val_t *v, unsigned conv, int64_t offset)
{
    int64_t   ms;
    mt_str_t  s;

    if (v->type != MT_GEN_V_STRING && v->type != MT_GEN_V_NUMBER) {
        return 0;
    }

    s = mt_gen_trim(v->s);

    switch (conv & MT_GEN_CONV_TIME) {

    case MT_GEN_CONV_S:
        return mt_gen_decimal_ms(&s, 1000);

    case MT_GEN_CONV_MS:
        return mt_gen_decimal_ms(&s, 1);

    case MT_GEN_CONV_RFC3339:
        return mt_time_iso8601_ms(s.data, s.len);

    case MT_GEN_CONV_LOCAL:
        ms = mt_time_iso8601_ms(s.data, s.len);

        if (ms > 0 && !mt_gen_has_zone(&s)) {
            ms -= offset * 1000;
        }

        return ms > 0 ? ms : 0;

    default:
        break;
    }

    if (s.len && s.data[0] >= '0' && s.data[0] <= '9'
        && (s.len < 5 || s.data[4] != '-'))
    {
        ms = mt_gen_decimal_ms(&s, 1000);

        /* beyond the year 5138 in seconds: milliseconds */

        if (ms >= 100000000000000LL) {
            ms = mt_gen_decimal_ms(&s, 1);
        }

        return ms < 100000000000000LL ? ms : 0;
    }

    return mt_time_iso8601_ms(s.data, s.len);
}


/* "1415014855", "1534110422.25" times scale (1000: seconds), as ms */

static int64_t
mt_gen_decimal_ms(mt_str_t *s, int64_t scale)
{
    size_t   i;
    int64_t  n, frac, f;

    for (i = 0; i < s->len && s->data[i] >= '0' && s->data[i] <= '9'; i++) {
        /* void */
    }

    if (i == 0 || i > 15) {
        return 0;
    }

    n = mt_atoi64(s->data, i);

    if (n <= 0) {
        return 0;
    }

    frac = 0;

    if (i < s->len) {
        if (s->data[i] != '.' || scale == 1) {
            return 0;
        }

        for (i++, f = scale / 10; i < s->len; i++, f /= 10) {
            if (s->data[i] < '0' || s->data[i] > '9') {
                return 0;
            }

            frac += (s->data[i] - '0') * f;
        }
    }

    return n * scale + frac;
}


/* "...Z", "...+08:00", "...-0400", "...+08": RFC 3339 with a zone */

static int
mt_gen_has_zone(mt_str_t *s)
{
    size_t  i;

    if (s->len <= 19) {
        return 0;
    }

    if (s->data[s->len - 1] == 'Z' || s->data[s->len - 1] == 'z') {
        return 1;
    }

    for (i = 19; i < s->len; i++) {
        if (s->data[i] == '+' || s->data[i] == '-') {
            return 1;
        }
    }

    return 0;
}


static mt_str_t
mt_gen_trim(mt_str_t s)
{
    while (s.len && (s.data[0] == ' ' || s.data[0] == '\t')) {
        s.data++;
        s.len--;
    }

    while (s.len && (s.data[s.len - 1] == ' ' || s.data[s.len - 1] == '\t'))
    {
        s.len--;
    }

    return s;
}


/* what the error log says after the reason */

void
mt_gen_detail(mt_gen_req_t *rq, const char *fmt, ...)
{
    int      n;
    u_char  *p;
    va_list  ap;

    p = mt_alloc(&rq->wh->alloc, 256);
    if (p == NULL) {
        return;
    }

    va_start(ap, fmt);
    n = vsnprintf((char *) p, 256, fmt, ap);
    va_end(ap);

    if (n < 0) {
        return;
    }

    rq->wh->detail.data = p;
    rq->wh->detail.len = mt_min((size_t) n, 255);
}

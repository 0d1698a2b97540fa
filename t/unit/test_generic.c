
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The generic provider's engine: JSON Pointers and templates compiled,
 * forms and query strings decoded, every digest and encoding, prefix
 * and split, the template evaluated over raw bytes, the timestamp, the
 * nonce, the configuration refusals, and form events end to end.
 */


#include "mt_tap.h"
#include "mt_wh_test.h"
#include "mt_generic.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>


#define FORM  "application/x-www-form-urlencoded"
#define NOW   1764000000


static wh_test_t     t;
static wh_test_t     cfg;              /* configuration memory */
static mt_wh_conf_t  conf;
static mt_wh_key_t   keys[4];
static char          err[512];


/* "digest hmac-sha256 hex header:X" split as nginx would, "..." quoted */

static mt_rc_t
directive(mt_gen_conf_t *gc, const char *line)
{
    char      *copy, *p, *name;
    size_t     n;
    mt_str_t   args[16];

    copy = wh_test_alloc(&cfg, strlen(line) + 1);
    strcpy(copy, line);

    p = copy;
    name = NULL;
    n = 0;

    while (*p) {
        while (*p == ' ') {
            p++;
        }

        if (*p == '\0') {
            break;
        }

        if (*p == '"') {
            args[n].data = (u_char *) ++p;

            while (*p && *p != '"') {
                p++;
            }

        } else {
            args[n].data = (u_char *) p;

            while (*p && *p != ' ') {
                p++;
            }
        }

        args[n].len = (u_char *) p - args[n].data;

        if (*p) {
            *p++ = '\0';
        }

        if (name == NULL) {
            name = (char *) args[n].data;
            continue;
        }

        n++;
    }

    err[0] = '\0';

    return mt_gen_directive(gc, name, args, n, err, sizeof(err));
}


/*
 * A location: directive lines up to NULL, keys up to NULL; MT_OK or the
 * refusal of mt_gen_conf_finish() (err says why).
 */

static mt_rc_t
location(const char **lines, const char **keyv, int auth_off,
    mt_gen_conf_t **out)
{
    size_t          i;
    mt_rc_t         rc;
    mt_gen_conf_t  *gc;

    memset(&conf, 0, sizeof(mt_wh_conf_t));
    conf.provider = MT_SRC_GENERIC;
    conf.tolerance = 300;
    conf.auth_off = auth_off;
    mt_str_set(&conf.id_field, "mail_track_id");

    for (i = 0; keyv != NULL && keyv[i] != NULL; i++) {
        memset(&keys[i], 0, sizeof(mt_wh_key_t));
        keys[i].raw.data = (u_char *) keyv[i];
        keys[i].raw.len = strlen(keyv[i]);
    }

    conf.keys = keys;
    conf.nkeys = i;

    gc = mt_gen_conf_create(&cfg.wh.alloc);

    for (i = 0; lines[i] != NULL; i++) {
        rc = directive(gc, lines[i]);

        if (rc != MT_OK) {
            diag("%s: %s", lines[i], err);
            return rc;
        }
    }

    err[0] = '\0';
    rc = mt_gen_conf_finish(gc, &conf, err, sizeof(err));

    *out = gc;

    return rc;
}


static void
hex(const u_char *md, size_t n, char *out)
{
    mt_hex_encode((u_char *) out, md, n);
    out[n * 2] = '\0';
}


/* a fresh nonce memory */

static void
forget_tokens(void)
{
    unsigned  i;

    for (i = 0; i < t.ntokens; i++) {
        free(t.tokens[i]);
        free(t.token_events[i]);
    }

    t.ntokens = 0;
}


static int
has(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}


static void
test_pointers(void)
{
    mt_rc_t       rc;
    mt_str_t      s;
    mt_gen_ptr_t  p;

    mt_str_set(&s, "");
    rc = mt_gen_ptr_parse(&cfg.wh.alloc, &s, &p, err, sizeof(err));
    ok(rc == MT_OK && p.ntokens == 0, "pointer \"\": the whole document");

    mt_str_set(&s, "/data/email/0/id");
    rc = mt_gen_ptr_parse(&cfg.wh.alloc, &s, &p, err, sizeof(err));
    ok(rc == MT_OK && p.ntokens == 4, "four reference tokens");
    is_str(p.tokens[0], "data", "token 1");
    is_str(p.tokens[2], "0", "an array index is a token like any other");
    is_str(p.tokens[3], "id", "token 4");

    mt_str_set(&s, "/a~1b/m~0n/~01/~10");
    rc = mt_gen_ptr_parse(&cfg.wh.alloc, &s, &p, err, sizeof(err));
    ok(rc == MT_OK && p.ntokens == 4, "escapes");
    is_str(p.tokens[0], "a/b", "~1 is /");
    is_str(p.tokens[1], "m~n", "~0 is ~");
    is_str(p.tokens[2], "~1", "~01 is ~1, not /");
    is_str(p.tokens[3], "/0", "~10 is /0");

    mt_str_set(&s, "/");
    rc = mt_gen_ptr_parse(&cfg.wh.alloc, &s, &p, err, sizeof(err));
    ok(rc == MT_OK && p.ntokens == 1 && p.tokens[0].len == 0,
       "\"/\" is the member named \"\"");

    mt_str_set(&s, "//x/");
    rc = mt_gen_ptr_parse(&cfg.wh.alloc, &s, &p, err, sizeof(err));
    ok(rc == MT_OK && p.ntokens == 3 && p.tokens[0].len == 0
       && p.tokens[2].len == 0, "empty tokens kept");

    mt_str_set(&s, "event");
    rc = mt_gen_ptr_parse(&cfg.wh.alloc, &s, &p, err, sizeof(err));
    ok(rc != MT_OK && has(err, "start with \"/\""),
       "no leading slash: refused (%s)", err);

    mt_str_set(&s, "/a~2");
    rc = mt_gen_ptr_parse(&cfg.wh.alloc, &s, &p, err, sizeof(err));
    ok(rc != MT_OK && has(err, "\"~\""), "~2: refused (%s)", err);

    mt_str_set(&s, "/a~");
    rc = mt_gen_ptr_parse(&cfg.wh.alloc, &s, &p, err, sizeof(err));
    ok(rc != MT_OK, "a trailing ~: refused");
}


static void
test_templates(void)
{
    mt_rc_t         rc;
    mt_str_t        s;
    mt_gen_conf_t  *gc;

    gc = mt_gen_conf_create(&cfg.wh.alloc);

    mt_str_set(&s, "{header:Webhook-Id}.{header:webhook-timestamp}.{body}");
    rc = mt_gen_template_parse(gc, &s, err, sizeof(err));
    ok(rc == MT_OK && gc->npieces == 5, "standard webhooks: 5 pieces");
    ok(gc->pieces[0].type == MT_GEN_PIECE_SOURCE
       && gc->pieces[0].src.type == MT_GEN_SRC_HEADER, "a header piece");
    is_str(gc->pieces[0].src.name, "webhook-id", "its name, lowercase");
    is_str(gc->pieces[1].text, ".", "a literal between");
    ok(gc->pieces[4].type == MT_GEN_PIECE_BODY, "the body last");

    mt_str_set(&s, "{{x}}{method} {uri}{key}{query:t}{field:/a~1b}");
    rc = mt_gen_template_parse(gc, &s, err, sizeof(err));
    ok(rc == MT_OK && gc->npieces == 7, "braces, method, uri, key, query, "
       "field: %d pieces", (int) gc->npieces);
    is_str(gc->pieces[0].text, "{x}", "{{ and }} are braces");
    ok(gc->pieces[1].type == MT_GEN_PIECE_METHOD, "{method}");
    is_str(gc->pieces[2].text, " ", "a space");
    ok(gc->pieces[3].type == MT_GEN_PIECE_URI, "{uri}");
    ok(gc->pieces[4].type == MT_GEN_PIECE_KEY, "{key}");
    ok(gc->pieces[5].src.type == MT_GEN_SRC_QUERY, "{query:t}");
    is_str(gc->pieces[6].src.ptr.tokens[0], "a/b", "{field:} with ~1");

    mt_str_set(&s, "plain text");
    rc = mt_gen_template_parse(gc, &s, err, sizeof(err));
    ok(rc == MT_OK && gc->npieces == 1, "literal text only");

    mt_str_set(&s, "{body");
    ok(mt_gen_template_parse(gc, &s, err, sizeof(err)) != MT_OK
       && has(err, "unclosed"), "an unclosed brace (%s)", err);

    mt_str_set(&s, "a}b");
    ok(mt_gen_template_parse(gc, &s, err, sizeof(err)) != MT_OK
       && has(err, "lone"), "a lone closing brace (%s)", err);

    mt_str_set(&s, "{bodies}");
    ok(mt_gen_template_parse(gc, &s, err, sizeof(err)) != MT_OK,
       "an unknown piece (%s)", err);

    mt_str_set(&s, "{field:x}");
    ok(mt_gen_template_parse(gc, &s, err, sizeof(err)) != MT_OK,
       "a malformed pointer in a piece (%s)", err);

    mt_str_set(&s, "{header:a b}");
    ok(mt_gen_template_parse(gc, &s, err, sizeof(err)) != MT_OK,
       "a header name with a space (%s)", err);
}


static void
test_form(void)
{
    size_t            n;
    unsigned          count;
    mt_str_t          v;
    mt_form_param_t  *p;
    const char       *body;

    wh_reset(&t);
    wh_setup(&t, &conf, FORM, "", 0, NOW);

    body = "a=1&b=x+y%20z&c=%E4%BD%A0%2B&&d&e=%zz%4&a=2&=v&f%3Dg=h%26i";

    ok(mt_form_parse(&t.wh.alloc, (u_char *) body, strlen(body), &p, &n)
       == MT_OK, "parsed");
    is_int(n, 8, "8 pairs, the empty one skipped");

    v = mt_form_get(p, n, (u_char *) "a", 1, &count);
    is_str(v, "1", "a repeated name: the first value");
    is_int(count, 2, "and how often it came");

    v = mt_form_get(p, n, (u_char *) "b", 1, &count);
    is_str(v, "x y z", "+ and %20 are spaces");

    v = mt_form_get(p, n, (u_char *) "c", 1, NULL);
    is_str(v, "\xe4\xbd\xa0+", "UTF-8 bytes and an encoded +");

    v = mt_form_get(p, n, (u_char *) "d", 1, &count);
    ok(count == 1 && v.len == 0, "a name without \"=\": empty value");

    v = mt_form_get(p, n, (u_char *) "e", 1, NULL);
    is_str(v, "%zz%4", "malformed escapes kept as they are");

    v = mt_form_get(p, n, (u_char *) "", 0, &count);
    ok(count == 1 && mt_str_eq(&v, "v"), "an empty name");

    v = mt_form_get(p, n, (u_char *) "f=g", 3, NULL);
    is_str(v, "h&i", "encoded = and & in a name and a value");

    v = mt_form_get(p, n, (u_char *) "zz", 2, &count);
    ok(count == 0 && v.len == 0, "an absent name");
}


/*
 * Every algorithm and encoding over the body, against the digest made
 * here with OpenSSL's one-shot calls: a right one passes, a wrong one
 * and one of the wrong length do not.
 */

static void
test_algorithms(void)
{
    int             a, e;
    char            sig[256], line[256];
    u_char          md[EVP_MAX_MD_SIZE], b64[128], km[512];
    size_t          n;
    mt_rc_t         rc;
    mt_gen_req_t    rq;
    unsigned int    mdlen;
    mt_gen_conf_t  *gc;
    const EVP_MD   *md_alg;

    static const char  *algs[] = {
        "hmac-sha256", "hmac-sha1", "hmac-sha512", "md5", "sha256", NULL
    };
    static const char  *encs[] = { "hex", "base64", NULL };
    static const char   body[] = "{\"event\":\"x\"}\r\n\0binary\xff";
    static const char  *key = "k3y-of-this-test";

    const char  *lines[4], *keyv[2] = { key, NULL };

    for (a = 0; algs[a] != NULL; a++) {
        for (e = 0; encs[e] != NULL; e++) {
            snprintf(line, sizeof(line), "digest %s %s header:X-Sig",
                     algs[a], encs[e]);

            lines[0] = "event default other";
            lines[1] = line;
            lines[2] = a >= 3 ? "message {body}{key}" : NULL;
            lines[3] = NULL;

            rc = location(lines, keyv, 0, &gc);
            ok(rc == MT_OK, "%s %s: configured (%s)", algs[a], encs[e],
               err);

            md_alg = a == 0 || a == 4 ? EVP_sha256()
                     : a == 1 ? EVP_sha1() : a == 2 ? EVP_sha512()
                     : EVP_md5();

            if (a < 3) {
                HMAC(md_alg, key, strlen(key), (u_char *) body,
                     sizeof(body) - 1, md, &mdlen);

            } else {
                memcpy(km, body, sizeof(body) - 1);
                memcpy(km + sizeof(body) - 1, key, strlen(key));
                EVP_Digest(km, sizeof(body) - 1 + strlen(key), md, &mdlen,
                           md_alg, NULL);
            }

            if (e == 0) {
                hex(md, mdlen, sig);

            } else {
                n = mt_base64_encode(b64, md, mdlen);
                memcpy(sig, b64, n);
                sig[n] = '\0';
            }

            wh_reset(&t);
            wh_header(&t, "x-sig", sig);
            wh_setup(&t, &conf, "application/json", body, sizeof(body) - 1,
                     NOW);

            memset(&rq, 0, sizeof(rq));
            rq.wh = &t.wh;
            rq.gc = gc;

            rc = mt_gen_authenticate(&rq);
            ok(rc == MT_OK, "%s %s: the right signature verifies",
               algs[a], encs[e]);

            /* one bit of the body changed */

            wh_setup(&t, &conf, "application/json", "{\"event\":\"y\"}", 13,
                     NOW);
            rc = mt_gen_authenticate(&rq);
            ok(rc == MT_ERR_SIGNATURE, "%s %s: another body does not",
               algs[a], encs[e]);

            /* one character short */

            /* base64: a whole quad less, padding is optional */

            sig[strlen(sig) - (e == 1 ? 4 : 1)] = '\0';
            wh_setup(&t, &conf, "application/json", body, sizeof(body) - 1,
                     NOW);
            rc = mt_gen_authenticate(&rq);
            ok(rc == MT_ERR_SIGNATURE
               && (has((char *) t.wh.detail.data, "hex digits")
                   || has((char *) t.wh.detail.data, "base64 of")),
               "%s %s: a short signature (%.*s)", algs[a], encs[e],
               (int) t.wh.detail.len, t.wh.detail.data);

            mt_gen_conf_free(gc);
        }
    }
}


/* a header signature for a location set up by location() */

static mt_rc_t
verify(mt_gen_conf_t *gc, const char *sig, const char *body)
{
    mt_gen_req_t  rq;

    wh_reset(&t);

    if (sig != NULL) {
        wh_header(&t, "x-sig", sig);
    }

    wh_setup(&t, &conf, "application/json", body, strlen(body), NOW);

    memset(&rq, 0, sizeof(rq));
    rq.wh = &t.wh;
    rq.gc = gc;

    return mt_gen_authenticate(&rq);
}


static void
test_candidates(void)
{
    char            good[128], other[128], sig[512];
    u_char          md[EVP_MAX_MD_SIZE], raw[32];
    size_t          n;
    unsigned int    mdlen;
    mt_gen_conf_t  *gc;

    static const char  *body = "{\"test\": 2432232314}";
    static const char  *lines[] = {
        "event default other",
        "digest hmac-sha256 base64 header:X-Sig prefix=v1, \"split= \" "
            "key=whsec",
        "message {header:webhook-id}.{header:webhook-timestamp}.{body}",
        "timestamp header:webhook-timestamp s",
        NULL
    };
    static const char  *keyv[] = {
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", NULL
    };

    ok(location(lines, keyv, 0, &gc) == MT_OK, "standard webhooks (%s)",
       err);

    /* the Standard Webhooks test vector, among others */

    wh_reset(&t);
    wh_header(&t, "webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek");
    wh_header(&t, "webhook-timestamp", "1614265330");
    wh_header(&t, "x-sig", "v2,AAAA v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVl"
                           "NIOLJ1OE= v1,bm90IGl0");
    wh_setup(&t, &conf, "application/json", body, strlen(body), NOW);

    {
        mt_gen_req_t  rq;

        memset(&rq, 0, sizeof(rq));
        rq.wh = &t.wh;
        rq.gc = gc;

        ok(mt_gen_authenticate(&rq) == MT_OK,
           "the vector verifies among other versions and signatures");
    }

    mt_gen_conf_free(gc);

    /* hex with a prefix, several candidates, either case */

    {
        static const char  *l2[] = {
            "event default other",
            "digest hmac-sha256 hex header:X-Sig prefix=sha256= split=,;",
            NULL
        };
        static const char  *k2[] = { "old-key", "new-key", NULL };

        ok(location(l2, k2, 0, &gc) == MT_OK, "hex, prefix, split (%s)",
           err);
    }

    HMAC(EVP_sha256(), "new-key", 7, (u_char *) body, strlen(body), md,
         &mdlen);
    hex(md, mdlen, good);
    HMAC(EVP_sha256(), "gone-key", 8, (u_char *) body, strlen(body), md,
         &mdlen);
    hex(md, mdlen, other);

    snprintf(sig, sizeof(sig), "sha256=%s", good);
    ok(verify(gc, sig, body) == MT_OK, "one candidate, the second key");

    snprintf(sig, sizeof(sig), "sha256=%s,sha256=%s", other, good);
    ok(verify(gc, sig, body) == MT_OK, "the second candidate matches");

    snprintf(sig, sizeof(sig), "SHA256=%s ; sha256=%s", other, good);
    ok(verify(gc, sig, body) == MT_OK,
       "split on either character, spaces trimmed, prefix in any case");

    for (n = 0; good[n]; n++) {
        if (good[n] >= 'a' && good[n] <= 'f') {
            good[n] -= 0x20;
        }
    }

    snprintf(sig, sizeof(sig), "sha256=%s", good);
    ok(verify(gc, sig, body) == MT_OK, "upper-case hex");

    ok(verify(gc, good, body) == MT_ERR_SIGNATURE
       && has((char *) t.wh.detail.data, "starts with"),
       "without the prefix: refused (%.*s)", (int) t.wh.detail.len,
       t.wh.detail.data);

    snprintf(sig, sizeof(sig), "sha256=%s", other);
    ok(verify(gc, sig, body) == MT_ERR_SIGNATURE
       && has((char *) t.wh.detail.data, "no configured key"),
       "a key not configured: refused");

    good[10] = 'g';
    snprintf(sig, sizeof(sig), "sha256=%s", good);
    ok(verify(gc, sig, body) == MT_ERR_SIGNATURE
       && has((char *) t.wh.detail.data, "64 hex digits"),
       "not hex: refused");

    ok(verify(gc, NULL, body) == MT_ERR_SIGNATURE_MISSING
       && has((char *) t.wh.detail.data, "header x-sig"),
       "no signature: signature_missing, the header named");

    /* the same header twice */

    wh_reset(&t);
    wh_header(&t, "x-sig", sig);
    wh_header(&t, "X-Sig", sig);
    wh_setup(&t, &conf, "application/json", body, strlen(body), NOW);

    {
        mt_gen_req_t  rq;

        memset(&rq, 0, sizeof(rq));
        rq.wh = &t.wh;
        rq.gc = gc;

        ok(mt_gen_authenticate(&rq) == MT_ERR_SIGNATURE
           && has((char *) t.wh.detail.data, "came 2 times"),
           "a repeated signature header: refused (%.*s)",
           (int) t.wh.detail.len, t.wh.detail.data);
    }

    /* a longer signature than any digest */

    memset(sig, 'a', 300);
    sig[300] = '\0';
    ok(verify(gc, sig, body) == MT_ERR_SIGNATURE, "300 hex digits");

    mt_gen_conf_free(gc);

    /* key=base64: the decoded bytes are the key */

    {
        static const char  *l3[] = {
            "event default other",
            "digest hmac-sha1 base64 header:X-Sig key=base64",
            NULL
        };
        static const char  *k3[] = { "AAECAwQFBgcICQoLDA0ODw==", NULL };

        ok(location(l3, k3, 0, &gc) == MT_OK, "key=base64 (%s)", err);
    }

    for (n = 0; n < 16; n++) {
        raw[n] = (u_char) n;
    }

    HMAC(EVP_sha1(), raw, 16, (u_char *) body, strlen(body), md, &mdlen);
    n = mt_base64_encode((u_char *) sig, md, mdlen);
    sig[n] = '\0';

    ok(verify(gc, sig, body) == MT_OK, "an HMAC keyed with decoded bytes");

    mt_gen_conf_free(gc);
}


/*
 * The template over the raw bytes: the method, the URI as sent, headers,
 * query arguments, a form field (decoded) and a body with CR, LF, NUL
 * and a byte that is not UTF-8.
 */

static void
test_raw_template(void)
{
    char            sig[129], *msg;
    u_char          md[EVP_MAX_MD_SIZE];
    size_t          n;
    mt_rc_t         rc;
    unsigned int    mdlen;
    mt_gen_conf_t  *gc;

    static const char   body[] = "tok=a%2Bb+c&x=1\r\n\0\xff";
    static const char  *lines[] = {
        "event default other",
        "format form",
        "digest hmac-sha512 hex header:X-Sig",
        "message \"{method} {uri}|{header:X-Ts}|{query:q}|{field:/tok}|"
            "{{{body}}}\"",
        "timestamp header:X-Ts s",
        NULL
    };
    static const char  *keyv[] = { "raw key", NULL };

    ok(location(lines, keyv, 0, &gc) == MT_OK, "configured (%s)", err);

    msg = malloc(1024);
    n = snprintf(msg, 1024, "POST /h?q=%%41+1|%d|A 1|a+b c|{", NOW);
    memcpy(msg + n, body, sizeof(body) - 1);
    n += sizeof(body) - 1;
    msg[n++] = '}';

    HMAC(EVP_sha512(), "raw key", 7, (u_char *) msg, n, md, &mdlen);
    hex(md, mdlen, sig);
    free(msg);

    {
        char  ts[32];

        snprintf(ts, sizeof(ts), "%d", NOW);

        wh_reset(&t);
        wh_header(&t, "x-sig", sig);
        wh_header(&t, "x-ts", ts);
        wh_setup(&t, &conf, FORM, body, sizeof(body) - 1, NOW);
        mt_str_set(&t.wh.uri, "/h?q=%41+1");
        mt_str_set(&t.wh.args, "q=%41+1");

        rc = mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
        ok(rc == MT_OK, "verified over method, uri, header, query, field "
           "and raw body (%s)", mt_rc_name(rc));
        is_int(t.nevents, 1, "one event");

        /* the header the template names is missing */

        wh_reset(&t);
        wh_header(&t, "x-sig", sig);
        wh_setup(&t, &conf, FORM, body, sizeof(body) - 1, NOW);
        mt_str_set(&t.wh.uri, "/h?q=%41+1");
        mt_str_set(&t.wh.args, "q=%41+1");

        rc = mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
        ok(rc == MT_ERR_SIGNATURE_MISSING
           && has((char *) t.wh.detail.data, "header x-ts is missing"),
           "a template piece missing: signature_missing, named (%.*s)",
           (int) t.wh.detail.len, t.wh.detail.data);
    }

    mt_gen_conf_free(gc);
}


static const char  *sendcloud[] = {
    "name sendcloud",
    "format form",
    "digest hmac-sha256 hex field:/signature",
    "message {field:/timestamp}{field:/token}",
    "timestamp field:/timestamp s",
    "nonce field:/token",
    "field esp_type /event",
    "field esp_mid /emailId /messageId",
    "field rcpt /recipient lower",
    "field ts /timestamp s",
    "field ip /ip",
    "field url /url",
    "field tag /labelName",
    "event request sent",
    "event deliver delivered",
    "event open opened",
    "event click clicked",
    "event invalid bounced hard",
    "event soft_bounce bounced soft",
    NULL
};


/* a SendCloud form, signed as SendCloud signs */

static mt_rc_t
sendcloud_post(const char *fields, const char *token, long ts,
    const char *key)
{
    char          *body, msg[1024], sig[65];
    u_char         md[32];
    unsigned int   mdlen;

    snprintf(msg, sizeof(msg), "%ld%s", ts, token);
    HMAC(EVP_sha256(), key, strlen(key), (u_char *) msg, strlen(msg), md,
         &mdlen);
    hex(md, 32, sig);

    body = wh_test_alloc(&t, strlen(fields) + strlen(token) + 256);
    sprintf(body, "%s&timestamp=%ld&token=%s&signature=%s", fields, ts,
            token, sig);

    wh_setup(&t, &conf, FORM, body, strlen(body), NOW);

    return mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
}


static void
test_sendcloud(void)
{
    char            tok[51];
    mt_rc_t         rc;
    mt_event_t     *ev;
    mt_gen_conf_t  *gc;

    static const char  *keyv[] = { "test_app_key", NULL };

    ok(location(sendcloud, keyv, 0, &gc) == MT_OK, "sendcloud (%s)", err);

    /* the [X] vector of the reference: timestamp || token */

    wh_reset(&t);
    forget_tokens();

    rc = sendcloud_post("event=deliver&emailId=1676615711309_104117_18546_"
                        "8821.sc-10_43_7_16-inbound0%24alice%40example.com"
                        "&recipient=Alice%40Example.com&outIp=192.0.2.7"
                        "&message=hello+world%21",
                        "067ef7e2f286a9a56eabb07dc9657852abcdefghij12345678",
                        1415014855, "test_app_key");
    ok(rc == MT_ERR_STALE, "the 2014 vector verifies, then is stale (%s)",
       mt_rc_name(rc));

    memcpy(tok, "067ef7e2f286a9a56eabb07dc9657852abcdefghij1234567", 49);
    tok[49] = 'z';
    tok[50] = '\0';

    wh_reset(&t);
    rc = sendcloud_post("event=deliver&emailId=1676615711309_104117_18546_"
                        "8821.sc-10_43_7_16-inbound0%24alice%40example.com"
                        "&recipient=Alice%40Example.com&outIp=192.0.2.7",
                        tok, NOW - 60, "test_app_key");
    ok(rc == MT_OK, "a delivery a minute old (%s)", mt_rc_name(rc));
    is_int(t.nevents, 1, "one event");

    ev = &t.events[0];
    is_mapped(ev, MT_EV_DELIVERED, MT_BOUNCE_NONE, "deliver: delivered");
    is_str(ev->esp_type, "deliver", "esp_type");
    is_str(ev->mid, "1676615711309_104117_18546_8821.sc-10_43_7_16-"
           "inbound0$alice@example.com", "no app id: mid is the emailId");
    is_str(ev->rcpt, "alice@example.com", "rcpt, %40 decoded, lowercased");
    is_int(ev->ts, (int64_t) (NOW - 60) * 1000, "ts in ms");
    ok(ev->ip.len == 0, "outIp is not a client address");
    is_int(ev->src, MT_SRC_GENERIC, "src generic");
    is_str(ev->src_name, "sendcloud", "its name");
    is_int(ev->id.len, 32, "an id hashed from the event and the nonce");

    /* the same token again: the same event is a retry, another a replay */

    wh_reset(&t);
    rc = sendcloud_post("event=deliver&emailId=1676615711309_104117_18546_"
                        "8821.sc-10_43_7_16-inbound0%24alice%40example.com"
                        "&recipient=Alice%40Example.com&outIp=192.0.2.7",
                        tok, NOW - 60, "test_app_key");
    ok(rc == MT_OK, "a retry: the same token, the same event");

    wh_reset(&t);
    rc = sendcloud_post("event=invalid&emailId=x&recipient=alice%40example"
                        ".com", tok, NOW - 60, "test_app_key");
    ok(rc == MT_ERR_REPLAY && t.nevents == 0,
       "the token on another event: replay, nothing emitted");

    /* a click: + and percent-encoding in the URL */

    wh_reset(&t);
    rc = sendcloud_post("event=click&emailId=e2&recipient=b%40example.com"
                        "&ip=198.51.100.7&labelName=spring+sale"
                        "&url=https%3A%2F%2Fexample.com%2Fa%3Fq%3Dx%2By%26z"
                        "%3D1+2", "click-token-000000000000000000000000000000"
                        "0000000", NOW, "test_app_key");
    ok(rc == MT_OK, "a click (%s)", mt_rc_name(rc));
    ev = &t.events[0];
    is_mapped(ev, MT_EV_CLICKED, MT_BOUNCE_NONE, "click: clicked");
    is_str(ev->url, "https://example.com/a?q=x+y&z=1 2",
           "%2B is +, + is a space");
    is_str(ev->ip, "198.51.100.7", "the client's ip");
    is_str(ev->tag, "spring sale", "labelName with +");

    /* invalid and soft_bounce: the table's bounce class */

    wh_reset(&t);
    rc = sendcloud_post("event=soft_bounce&emailId=e3&recipient=c%40example"
                        ".com", "sb-token-00000000000000000000000000000000000"
                        "000000", NOW, "test_app_key");
    ok(rc == MT_OK, "soft_bounce");
    is_mapped(&t.events[0], MT_EV_BOUNCED, MT_BOUNCE_SOFT, "bounced soft");

    /* an unknown event name: other */

    wh_reset(&t);
    rc = sendcloud_post("event=route&emailId=e4&recipient=d%40example.com",
                        "route-token-00000000000000000000000000000000000"
                        "0000", NOW, "test_app_key");
    ok(rc == MT_OK && t.events[0].type == MT_EV_OTHER,
       "an event not in the table: other");

    /* refusals */

    wh_reset(&t);
    rc = sendcloud_post("event=deliver&emailId=e5", "t5", NOW, "wrong key");
    ok(rc == MT_ERR_SIGNATURE, "another key: bad_signature");

    wh_reset(&t);
    rc = sendcloud_post("event=deliver&emailId=e6", "t6", NOW - 400,
                        "test_app_key");
    ok(rc == MT_ERR_STALE, "older than the tolerance: stale");

    wh_reset(&t);
    rc = sendcloud_post("event=deliver&emailId=e7", "t7", NOW + 400,
                        "test_app_key");
    ok(rc == MT_ERR_FUTURE, "from the future: future");

    wh_reset(&t);
    {
        char  big[400];

        memset(big, 'n', 257);
        big[257] = '\0';

        rc = sendcloud_post("event=deliver&emailId=e8", big, NOW,
                            "test_app_key");
        ok(rc == MT_ERR_SIGNATURE
           && has((char *) t.wh.detail.data, "longer than 256"),
           "a nonce of 257 bytes: refused (%.*s)", (int) t.wh.detail.len,
           t.wh.detail.data);
    }

    wh_reset(&t);
    wh_setup(&t, &conf, FORM, "event=deliver&timestamp=1&token=x", 33, NOW);
    rc = mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
    ok(rc == MT_ERR_SIGNATURE_MISSING
       && has((char *) t.wh.detail.data, "field /signature"),
       "no signature field: signature_missing, named");

    wh_reset(&t);
    wh_setup(&t, &conf, FORM, "event=deliver&signature=ab&token=x", 34, NOW);
    rc = mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
    ok(rc == MT_ERR_SIGNATURE, "a signature of the wrong length");

    wh_reset(&t);
    wh_setup(&t, &conf, FORM, "", 0, NOW);
    rc = mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
    ok(rc == MT_ERR_BODY_EMPTY, "an empty body: empty_body");

    /* a signed request without an event name */

    wh_reset(&t);
    rc = sendcloud_post("emailId=e9", "noname-token", NOW, "test_app_key");
    ok(rc == MT_ERR_PAYLOAD && has((char *) t.wh.detail.data, "/event"),
       "no event name: bad_payload (%.*s)", (int) t.wh.detail.len,
       t.wh.detail.data);

    /* bytes that are not UTF-8 are repaired in the record */

    wh_reset(&t);
    rc = sendcloud_post("event=open&emailId=e10&recipient=caf%E9%40example"
                        ".com", "utf8-token", NOW, "test_app_key");
    ok(rc == MT_OK && mt_utf8_valid(t.events[0].rcpt.data,
                                    t.events[0].rcpt.len),
       "a Latin-1 byte: repaired, accepted");

    mt_gen_conf_free(gc);
}


static void
test_query(void)
{
    mt_rc_t         rc;
    mt_gen_conf_t  *gc;

    static const char  *lines[] = {
        "name elastic",
        "format query",
        "auth token",
        "token query:secret",
        "field esp_type /status",
        "field esp_mid /messageid",
        "field rcpt /to",
        "field url /target",
        "event Sent delivered",
        "event Clicked clicked",
        NULL
    };
    static const char  *keyv[] = { "s3cret", NULL };

    ok(location(lines, keyv, 0, &gc) == MT_OK, "a query location (%s)",
       err);

    wh_reset(&t);
    wh_setup(&t, &conf, NULL, "", 0, NOW);
    mt_str_set(&t.wh.method, "GET");
    mt_str_set(&t.wh.args, "secret=s3cret&status=Clicked&messageid=m-1"
               "&to=a%40example.com&target=https%3A%2F%2Fx.example%2F%3Fa"
               "%3D1%2B2");

    rc = mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
    ok(rc == MT_OK && t.nevents == 1, "a GET with the event in its query");
    is_mapped(&t.events[0], MT_EV_CLICKED, MT_BOUNCE_NONE, "clicked");
    is_str(t.events[0].url, "https://x.example/?a=1+2", "its URL decoded");

    wh_reset(&t);
    wh_setup(&t, &conf, NULL, "", 0, NOW);
    mt_str_set(&t.wh.method, "GET");
    mt_str_set(&t.wh.args, "secret=nope&status=Sent");
    rc = mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
    ok(rc == MT_ERR_AUTH_FAILED, "a wrong token: auth_failed");

    wh_reset(&t);
    wh_setup(&t, &conf, NULL, "", 0, NOW);
    mt_str_set(&t.wh.method, "GET");
    mt_str_set(&t.wh.args, "status=Sent");
    rc = mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
    ok(rc == MT_ERR_AUTH_MISSING, "no token: auth_missing");

    /* no query string at all: no bytes, not even a pointer (a fuzz find) */

    wh_reset(&t);
    wh_setup(&t, &conf, NULL, "", 0, NOW);
    mt_str_set(&t.wh.method, "GET");
    rc = mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
    ok(rc == MT_ERR_AUTH_MISSING && t.wh.args.data == NULL,
       "no query string: auth_missing");

    {
        size_t            n;
        mt_form_param_t  *prm;

        prm = (mt_form_param_t *) &n;
        ok(mt_form_parse(&t.wh.alloc, NULL, 0, &prm, &n) == MT_OK
           && n == 0 && prm == NULL, "an empty form from a NULL pointer");
    }

    wh_reset(&t);
    wh_setup(&t, &conf, NULL, "", 0, NOW);
    mt_str_set(&t.wh.method, "GET");
    mt_str_set(&t.wh.args, "secret=s3cret&secret=s3cret&status=Sent");
    rc = mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
    ok(rc == MT_ERR_AUTH_FAILED, "the token twice: refused");

    wh_reset(&t);
    wh_setup(&t, &conf, FORM, "status=Sent", 11, NOW);
    mt_str_set(&t.wh.method, "POST");
    mt_str_set(&t.wh.args, "secret=s3cret");
    rc = mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
    ok(rc == MT_ERR_PAYLOAD && has((char *) t.wh.detail.data, "body"),
       "a body with the query format: bad_payload");

    mt_gen_conf_free(gc);
}


static void
test_times(void)
{
    mt_gen_val_t  v;

    v.type = MT_GEN_V_NUMBER;

    mt_str_set(&v.s, "1415014855");
    is_int(mt_gen_time_ms(&v, MT_GEN_CONV_S, 0), 1415014855000LL, "s");
    mt_str_set(&v.s, "1534110422.25");
    is_int(mt_gen_time_ms(&v, MT_GEN_CONV_S, 0), 1534110422250LL,
           "s with a fraction");
    mt_str_set(&v.s, "1676615711325");
    is_int(mt_gen_time_ms(&v, MT_GEN_CONV_MS, 0), 1676615711325LL, "ms");
    mt_str_set(&v.s, "1676615711325.5");
    is_int(mt_gen_time_ms(&v, MT_GEN_CONV_MS, 0), 0, "ms with a fraction");
    mt_str_set(&v.s, "1676615711325");
    is_int(mt_gen_time_ms(&v, 0, 0), 1676615711325LL, "auto: ms");
    mt_str_set(&v.s, "1415014855");
    is_int(mt_gen_time_ms(&v, 0, 0), 1415014855000LL, "auto: s");
    mt_str_set(&v.s, "-5");
    is_int(mt_gen_time_ms(&v, MT_GEN_CONV_S, 0), 0, "negative");
    mt_str_set(&v.s, "12ab");
    is_int(mt_gen_time_ms(&v, MT_GEN_CONV_S, 0), 0, "not a number");

    v.type = MT_GEN_V_STRING;

    mt_str_set(&v.s, "2023-06-12T10:04:56.3694682Z");
    is_int(mt_gen_time_ms(&v, MT_GEN_CONV_RFC3339, 0), 1686564296369LL,
           "rfc3339, 7 fraction digits");
    is_int(mt_gen_time_ms(&v, 0, 0), 1686564296369LL, "auto: rfc3339");
    mt_str_set(&v.s, "2024-04-29T11:07:04+08:00");
    is_int(mt_gen_time_ms(&v, MT_GEN_CONV_LOCAL, 8 * 3600), 1714360024000LL,
           "local: a zone given wins");
    mt_str_set(&v.s, "2024-04-29T11:07:04");
    is_int(mt_gen_time_ms(&v, MT_GEN_CONV_LOCAL, 8 * 3600), 1714360024000LL,
           "local: no zone, +08:00");
    is_int(mt_gen_time_ms(&v, MT_GEN_CONV_RFC3339, 0), 1714388824000LL,
           "rfc3339 without a zone: UTC");
    mt_str_set(&v.s, "yesterday");
    is_int(mt_gen_time_ms(&v, MT_GEN_CONV_RFC3339, 0), 0, "not a time");

    v.type = MT_GEN_V_OBJECT;
    is_int(mt_gen_time_ms(&v, 0, 0), 0, "an object is no time");
}


/* what mt_gen_directive() and mt_gen_conf_finish() refuse, and why */

static void
test_refusals(void)
{
    mt_gen_conf_t  *gc;

    struct {
        const char  *lines[6];
        const char  *keys[2];
        int          auth_off;
        const char  *why;
    } bad[] = {
        { { "event default other", "digest hmac-sha256 hex header:S",
            "message {header:T}", NULL }, { "k", NULL }, 0,
          "does not contain {body}" },
        { { "event default other", "auth none", NULL }, { NULL }, 0,
          "requires \"mail_track_webhook_auth off\"" },
        { { "field esp_type /e", NULL }, { "k", NULL }, 0,
          "no event type can be produced" },
        { { "event x sent", NULL }, { "k", NULL }, 0,
          "no event type can be produced" },
        { { "event default other", "digest md5 hex header:S", NULL },
          { "k", NULL }, 0, "without {key}" },
        { { "event default other", NULL }, { NULL }, 0,
          "requires \"mail_track_webhook_key\"" },
        { { "event default other", "auth digest", NULL }, { "k", NULL }, 0,
          "requires \"mail_track_generic_digest\"" },
        { { "event default other", "digest sha256 hex header:S",
            "message {key}{body}", NULL }, { NULL }, 1,
          "requires \"mail_track_webhook_key\"" },
        { { "event default other", "auth token",
            "digest hmac-sha1 hex header:S", NULL }, { "k", NULL }, 0,
          "but \"mail_track_generic_auth\" is \"token\"" },
        { { "event default other", "message {body}", NULL }, { "k", NULL },
          0, "not \"digest\"" },
        { { "event default other", "format form", "field rcpt /a/b", NULL },
          { "k", NULL }, 0, "not one field of a form" },
        { { "event default other", "format form", "events /items", NULL },
          { "k", NULL }, 0, "a form holds one event" },
        { { "event default other", "format ndjson", "auth token",
            "token field:/secret", NULL }, { "k", NULL }, 0,
          "JSON Lines have no one document" },
        { { "event default other", "digest hmac-sha256 hex header:S "
            "key=base64", NULL }, { "not base64!", NULL }, 0,
          "is not base64" },
        { { NULL }, { NULL }, 0, NULL }
    };

    int  i;

    for (i = 0; bad[i].why != NULL; i++) {
        ok(location(bad[i].lines, bad[i].keys, bad[i].auth_off, &gc)
           != MT_OK && has(err, bad[i].why), "refused: %s (%s)",
           bad[i].why, err);
        mt_gen_conf_free(gc);
    }

    /* accepted with the operator's consent */

    {
        const char  *l1[] = {
            "event default other", "digest hmac-sha256 hex header:S",
            "message {header:T}", NULL
        };
        const char  *l2[] = { "event default other", "auth none", NULL };
        const char  *l3[] = {
            "event default other", "digest hmac-sha256 hex header:S",
            "message {header:T}", "nonce header:N", NULL
        };
        const char  *k[] = { "k", NULL };

        ok(location(l1, k, 1, &gc) == MT_OK,
           "no {body}: accepted with mail_track_webhook_auth off");
        mt_gen_conf_free(gc);
        ok(location(l2, NULL, 1, &gc) == MT_OK,
           "auth none: accepted with mail_track_webhook_auth off");
        mt_gen_conf_free(gc);
        ok(location(l3, k, 0, &gc) == MT_OK, "no {body}, but a nonce");
        mt_gen_conf_free(gc);
    }

    /* the timestamp needs a tolerance to check it against */

    {
        const char  *l[] = {
            "event default other", "digest hmac-sha256 hex header:S",
            "timestamp header:T s", NULL
        };
        const char  *k[] = { "k", NULL };
        mt_rc_t      rc;

        gc = mt_gen_conf_create(&cfg.wh.alloc);
        directive(gc, l[0]);
        directive(gc, l[1]);
        directive(gc, l[2]);

        memset(&conf, 0, sizeof(conf));
        keys[0].raw.data = (u_char *) k[0];
        keys[0].raw.len = 1;
        conf.keys = keys;
        conf.nkeys = 1;
        conf.tolerance = 0;

        rc = mt_gen_conf_finish(gc, &conf, err, sizeof(err));
        ok(rc != MT_OK && has(err, "tolerance"), "tolerance 0 (%s)", err);
        mt_gen_conf_free(gc);
    }

    /* each directive's own refusals */

    gc = mt_gen_conf_create(&cfg.wh.alloc);

    {
        struct {
            const char  *line;
            const char  *why;
        } d[] = {
            { "name sendgrid", "built-in" },
            { "name Send_Cloud", "lowercase" },
            { "name abcdefghijklmnopqrstuvwxyz0123456", "1 to 32" },
            { "format xml", "unknown format" },
            { "auth hmac", "unknown authentication" },
            { "digest hmac-md5 hex header:S", "unknown algorithm" },
            { "digest hmac-sha256 base32 header:S", "unknown encoding" },
            { "digest hmac-sha256 hex query:s", "header:NAME or field" },
            { "digest hmac-sha256 hex header:S key=pem", "key encoding" },
            { "digest hmac-sha256 hex header:S bits=3", "invalid parameter" },
            { "timestamp header:T minutes", "unknown time unit" },
            { "token cookie:x", "is not header" },
            { "field type /event", "unknown record key" },
            { "field ts hours", "is not a JSON pointer" },
            { "field ts /t seconds", "unknown conversion" },
            { "field rcpt /r s", "applies to \"ts\" only" },
            { "field ts /t s ms", "more than one time conversion" },
            { "field ts /t s /u", "after a conversion" },
            { "field id event", "is not a JSON pointer" },
            { "field id /a~3", "malformed JSON pointer" },
            { "event x delivered soft", "needs the type bounced" },
            { "event x arrived", "unknown type" },
            { "event x bounced permanent", "unknown bounce class" },
            { "bounce /t soft", "is not VALUE=CLASS" },
            { "bounce /t =soft", "is not VALUE=CLASS" },
            { "bounce /t x=mild", "unknown bounce class" },
            { "events items", "malformed JSON pointer" },
            { "nonce field:", "not the whole document" },
            { NULL, NULL }
        };

        for (i = 0; d[i].line != NULL; i++) {
            ok(directive(gc, d[i].line) != MT_OK && has(err, d[i].why),
               "\"%s\" refused: %s", d[i].line, err);
        }
    }

    /* a later directive replaces an earlier one: profiles can be changed */

    ok(directive(gc, "field rcpt /a") == MT_OK
       && directive(gc, "field rcpt /b lower") == MT_OK
       && mt_str_eq(&gc->fields[MT_GEN_F_RCPT]->ptrs[0].text, "/b"),
       "field: the last one for a key wins");
    ok(directive(gc, "event x sent") == MT_OK
       && directive(gc, "event x opened") == MT_OK
       && gc->event_list->next == NULL && gc->event_list->type == MT_EV_OPENED,
       "event: the last one for a name wins");
}


/* run a JSON request through the whole provider */

static mt_rc_t
run_json(const char *ct, const char *body, size_t len)
{
    wh_setup(&t, &conf, ct, body, len, NOW);

    return mt_provider_get(MT_SRC_GENERIC)->process(&t.wh);
}


static void
test_json_pointers(void)
{
    mt_rc_t         rc;
    mt_gen_conf_t  *gc;

    static const char  *lines[] = {
        "auth none",
        "format json",
        "events /batch",
        "field esp_type /ev~1name",
        "field rcpt /to/1 /to/0",
        "field esp_mid /m~0id",
        "field reason /obj /arr /why",
        "field tag /tags first",
        "field url /link/2/href",
        "field ts /at",
        "field smtp_code /code int",
        "field ip /nums/0",
        "event open opened",
        "event default other",
        NULL
    };

    static const char  body[] =
        "{\"batch\":["
        "{\"ev/name\":\"open\",\"to\":[\"a@example.com\",\"b@example.com\"],"
        "\"m~id\":\"m-1\",\"obj\":{\"x\":1},\"arr\":[1],\"why\":\"because\","
        "\"tags\":[\"t1\",\"t2\"],\"link\":[{},{},{\"href\":\"https://e.x/\"}],"
        "\"at\":1700000000123,\"code\":\"550\","
        "\"nums\":[12345678901234567890]},"
        "{\"ev/name\":\"x\",\"to\":[\"c@example.com\"],\"m~id\":12,"
        "\"obj\":null,\"arr\":null,\"tags\":\"solo\","
        "\"at\":\"2023-11-14T22:13:20Z\","
        "\"code\":550.5}"
        "]}";

    ok(location(lines, NULL, 1, &gc) == MT_OK, "configured (%s)", err);

    wh_reset(&t);
    rc = run_json("application/json", body, sizeof(body) - 1);
    ok(rc == MT_OK && t.nevents == 2, "two events from /batch (%s)",
       mt_rc_name(rc));

    is_str(t.events[0].esp_type, "open", "~1 in a pointer is \"/\"");
    is_str(t.events[0].mid, "m-1", "~0 is \"~\" (esp_mid, as mid)");
    is_str(t.events[0].rcpt, "b@example.com", "/to/1: an array index");
    is_str(t.events[1].rcpt, "c@example.com",
           "/to/1 absent: the next pointer, /to/0");
    is_str(t.events[0].reason, NULL,
           "the first present is an object: left out, not stringified");
    is_str(t.events[0].tag, "t1", "first: an array's first element");
    is_str(t.events[1].tag, "solo", "first: a string as it is");
    is_str(t.events[0].url, "https://e.x/", "/link/2/href");
    is_int(t.events[0].ts, 1700000000123LL, "a large number is ms");
    is_int(t.events[1].ts, 1700000000000LL, "an RFC 3339 string");
    is_int(t.events[0].smtp_code, 550, "a decimal string as an int");
    is_int(t.events[1].smtp_code, 0, "550.5 is no int");
    is_str(t.events[0].ip, "12345678901234567890",
           "a number beyond 64 bits... as sent");
    is_str(t.events[1].mid, "12", "a number as it was sent");
    is_mapped(&t.events[1], MT_EV_OTHER, MT_BOUNCE_NONE, "x: the default");

    mt_gen_conf_free(gc);
}


static void
test_json_bodies(void)
{
    int             i;
    char           *big;
    size_t          n;
    mt_rc_t         rc;
    mt_gen_conf_t  *gc;

    static const char  *lines[] = {
        "auth none",
        "events /events",
        "field id /id",
        "field esp_type /event",
        "field rcpt /email",
        "event delivery delivered",
        NULL
    };

    ok(location(lines, NULL, 1, &gc) == MT_OK, "configured (%s)", err);

    wh_reset(&t);
    rc = run_json("application/json", "{\"events\":[]}", 13);
    ok(rc == MT_DECLINED && t.nevents == 0, "an empty array: nothing");

    wh_reset(&t);
    rc = run_json("application/json",
                  "{\"events\":[{\"event\":\"delivery\"},7]}", 35);
    ok(rc == MT_ERR_PAYLOAD && t.nevents == 0,
       "an element that is not an object: the batch refused");

    wh_reset(&t);
    rc = run_json("application/json",
                  "{\"events\":[{\"event\":\"delivery\"},{\"email\":\"x\"}]}",
                  47);
    ok(rc == MT_ERR_PAYLOAD && t.nevents == 0,
       "an event without a name: the batch refused, nothing emitted");

    wh_reset(&t);
    rc = run_json("application/json", "{\"events\":{\"event\":\"delivery\"}}",
                  31);
    ok(rc == MT_OK && t.nevents == 1, "an object at the pointer: one event");

    wh_reset(&t);
    rc = run_json("application/json", "{\"other\":[]}", 12);
    ok(rc == MT_ERR_PAYLOAD, "nothing at the pointer: bad_payload");

    wh_reset(&t);
    rc = run_json("application/json", "{\"events\":[{\"event\":", 20);
    ok(rc == MT_ERR_JSON, "truncated: bad_json");

    wh_reset(&t);
    rc = run_json("application/json", "  \r\n", 4);
    ok(rc == MT_ERR_BODY_EMPTY, "whitespace only: empty_body");

    wh_reset(&t);
    rc = run_json("text/plain", "{\"events\":[]}", 13);
    ok(rc == MT_ERR_CONTENT_TYPE, "text/plain without a format: content_type");

    wh_reset(&t);
    {
        static const char  latin1[] =
            "{\"events\":[{\"event\":\"delivery\",\"email\":\"caf\xe9@x\"}]}";

        rc = run_json("application/json", latin1, sizeof(latin1) - 1);
    }
    ok(rc == MT_OK && t.nevents == 1
       && mt_utf8_valid(t.events[0].rcpt.data, t.events[0].rcpt.len),
       "not UTF-8: repaired, accepted");

    /* nesting beyond the parser's cap */

    big = malloc(200 * 2 + 64);
    n = sprintf(big, "{\"events\":");
    for (i = 0; i < 200; i++) {
        big[n++] = '[';
    }
    for (i = 0; i < 200; i++) {
        big[n++] = ']';
    }
    big[n++] = '}';

    wh_reset(&t);
    rc = run_json("application/json", big, n);
    ok(rc == MT_ERR_JSON, "nested 200 deep: bad_json");
    free(big);

    /* more events than a batch may hold */

    big = malloc(10001 * 24 + 32);
    n = sprintf(big, "{\"events\":[");
    for (i = 0; i <= 10000; i++) {
        n += sprintf(big + n, "%s{\"event\":\"delivery\"}", i ? "," : "");
    }
    n += sprintf(big + n, "]}");

    wh_reset(&t);
    rc = run_json("application/json", big, n);
    ok(rc == MT_ERR_TOO_MANY && t.nevents == 0, "10001 events: too_many");
    free(big);

    /* JSON Lines */

    wh_reset(&t);
    {
        static const char  lines_body[] =
            "{\"event\":\"delivery\",\"id\":\"e1\",\"email\":\"a@x\"}\r\n"
            "\n"
            "{\"event\":\"bounce\",\"id\":\"e2\",\"email\":\"b@x\"}\n";

        rc = run_json("application/x-ndjson", lines_body,
                      sizeof(lines_body) - 1);
        ok(rc == MT_OK && t.nevents == 2, "JSON Lines: two events");
        is_str(t.events[0].rcpt, "a@x", "the first line's fields kept");
        is_str(t.events[1].id, "e2", "the second's");
    }

    wh_reset(&t);
    rc = run_json("application/x-ndjson", "{\"event\":\"delivery\"}\n[1]\n",
                  25);
    ok(rc == MT_ERR_PAYLOAD && t.nevents == 0,
       "a line that is not an object: refused");

    mt_gen_conf_free(gc);
}


/* the vendors' vectors, through the whole provider */

static void
test_vectors(void)
{
    char            ts[32];
    mt_rc_t         rc;
    mt_gen_conf_t  *gc;

    {
        static const char  *l[] = {
            "format json",
            "digest hmac-sha256 hex header:Mailtrap-Signature",
            "events /events",
            "event default other",
            NULL
        };
        static const char  *k[] = { "8d9a3c0e7f5b2d4a6c1e9f8b3a7d5c2e", NULL };
        static const char  body[] =
            "{\"event\":\"delivery\",\"message_id\":\"abc-123\"}";

        ok(location(l, k, 0, &gc) == MT_OK, "mailtrap (%s)", err);

        wh_reset(&t);
        wh_header(&t, "mailtrap-signature", "652203ffe654251d933f4f6af788b7"
                  "adafe0799f81f0c2ea6a83864c2f03a473");
        rc = run_json("application/json", body, sizeof(body) - 1);
        ok(rc == MT_ERR_PAYLOAD, "the Mailtrap vector verifies (then: no "
           "events array, %s)", mt_rc_name(rc));
        mt_gen_conf_free(gc);
    }

    {
        static const char  *l[] = {
            "digest hmac-sha256 hex header:Signature",
            "field esp_type /data/type",
            "event sent sent",
            NULL
        };
        static const char  *k[] = { "TEST_WEBHOOK_SIGNING_SECRET", NULL };
        static const char  body[] = "{\"data\": {\"type\": \"sent\"}}";

        ok(location(l, k, 0, &gc) == MT_OK, "mailersend (%s)", err);

        wh_reset(&t);
        wh_header(&t, "signature", "6529f2905659b7c290fc3c23f7e590cb474d6e"
                  "c9c291c55379223b76840b0a70");
        rc = run_json("application/json", body, sizeof(body) - 1);
        ok(rc == MT_OK && t.nevents == 1
           && t.events[0].type == MT_EV_SENT, "the MailerSend vector");
        mt_gen_conf_free(gc);
    }

    {
        static const char  *l[] = {
            "digest md5 hex field:/signature",
            "message {field:/token}{key}",
            "nonce field:/token",
            "field esp_type /events",
            "field esp_mid /send_id",
            "field rcpt /email",
            "field ts /timestamp s",
            "field tag /tag",
            "event delivered delivered",
            NULL
        };
        static const char  *k[] = { "test_subhook_key", NULL };
        static const char  body[] =
            "{\"events\":\"delivered\",\"email\":\"leo@submail.cn\","
            "\"message_id\":\"<6b472f5f207f7777ce59c9e1fe9884ab>\","
            "\"app\":10034,\"send_id\":\"oiidJ3\",\"tag\":\"testtag\","
            "\"timestamp\":1415014855,"
            "\"token\":\"067ef7e2f286a9a56eabb07dc9657852\","
            "\"signature\":\"C4B9A7D11E359E231AF754E3F83B8D5B\"}";

        ok(location(l, k, 0, &gc) == MT_OK, "submail (%s)", err);

        wh_reset(&t);
        forget_tokens();
        rc = run_json("application/json", body, sizeof(body) - 1);
        ok(rc == MT_OK && t.nevents == 1, "the SUBMAIL vector, upper-case "
           "hex (%s)", mt_rc_name(rc));
        is_str(t.events[0].mid, "oiidJ3", "mid: send_id");
        is_int(t.events[0].ts, 1415014855000LL, "ts from a JSON number");
        mt_gen_conf_free(gc);
    }

    {
        static const char  *l[] = {
            "digest hmac-sha256 hex header:X-WebHook-Signature",
            "message {header:X-WebHook-Timestamp}",
            "timestamp header:X-WebHook-Timestamp ms",
            "field esp_type /status/message_status",
            "field rcpt /to /status/status_data/tos/0",
            "event target sent",
            NULL
        };
        static const char  *k[] = { "test_app_key", NULL };
        static const char  body[] =
            "{\"server\":\"email\",\"message_id\":\"1676615711309_104117_"
            "18546_8821.sc-10_43_7_16-inbound\",\"itime\":1676615711325,"
            "\"status\":{\"message_status\":\"target\",\"status_data\":"
            "{\"tos\":[\"12345@hotmail.com\"]}}}";

        ok(location(l, k, 1, &gc) == MT_OK, "engagelab (%s)", err);

        wh_reset(&t);
        wh_header(&t, "x-webhook-timestamp", "1676615711325");
        wh_header(&t, "x-webhook-signature", "11acf7767efcc22458e00ebee9ca6e"
                  "48cc5b200874d7736d07a7201a80b84fd2");
        rc = run_json("application/json", body, sizeof(body) - 1);
        ok(rc == MT_ERR_STALE, "the EngageLab vector verifies, then is "
           "stale (%s)", mt_rc_name(rc));

        snprintf(ts, sizeof(ts), "%d000", NOW);
        mt_gen_conf_free(gc);
    }
}


int
main(void)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.wh.alloc.alloc = wh_test_alloc;
    cfg.wh.alloc.data = &cfg;

    test_pointers();
    test_templates();
    test_form();
    test_algorithms();
    test_candidates();
    test_raw_template();
    test_sendcloud();
    test_query();
    test_times();
    test_refusals();
    test_json_pointers();
    test_json_bodies();
    test_vectors();

    wh_free(&t);
    wh_free(&cfg);
    mt_wh_cleanup();

    return done_testing();
}

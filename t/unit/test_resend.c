
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Resend (Svix / Standard Webhooks): HMAC over id.timestamp.body with
 * the decoded secret, and the normalization of email.* events.
 */


#include "mt_tap.h"
#include "mt_wh_test.h"
#include "mt_hmac.h"
#include "mt_base64.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>


#define RS_JSON      "application/json"

/* standard-webhooks libraries/python/tests/test_webhooks.py */
#define VEC_SECRET   "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_ID       "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS       "1614265330"
#define VEC_BODY     "{\"test\": 2432232314}"
#define VEC_SIG      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

#define NOW          1764000000


static wh_test_t   T;
static u_char      secret[24];
static char        secret_str[64], secret2_str[64];
static char        sigbuf[128], tsbuf[32], idbuf[64];
static unsigned    id_seq;


/* "v1,<base64>" of HMAC(key, id.ts.body) */

static void
sign(const char *whsec, const char *id, const char *ts, const char *body,
    size_t len, char *out)
{
    u_char        key[64], md[32];
    char         *msg;
    ssize_t       klen;
    unsigned int  n;
    size_t        mlen;

    klen = mt_base64_decode(key, (u_char *) whsec + 6, strlen(whsec) - 6);

    mlen = strlen(id) + strlen(ts) + 2 + len;
    msg = malloc(mlen + 1);
    sprintf(msg, "%s.%s.", id, ts);
    memcpy(msg + strlen(id) + strlen(ts) + 2, body, len);

    HMAC(EVP_sha256(), key, klen, (u_char *) msg, mlen, md, &n);
    free(msg);

    memcpy(out, "v1,", 3);
    out[3 + mt_base64_encode((u_char *) out + 3, md, 32)] = '\0';
}


static mt_rc_t
run_signed(mt_wh_conf_t *conf, const char *ct, const char *body,
    int64_t ts, int64_t now)
{
    snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long) ts);
    snprintf(idbuf, sizeof(idbuf), "msg_%u", ++id_seq);
    sign(secret_str, idbuf, tsbuf, body, strlen(body), sigbuf);

    wh_reset(&T);
    wh_header(&T, "svix-id", idbuf);
    wh_header(&T, "svix-timestamp", tsbuf);
    wh_header(&T, "svix-signature", sigbuf);

    return wh_run(&T, conf, ct, body, strlen(body), now);
}


static mt_rc_t
run_str(mt_wh_conf_t *conf, const char *body)
{
    return run_signed(conf, RS_JSON, body, NOW, NOW);
}


static void
test_vector(void)
{
    mt_rc_t       rc;
    mt_wh_key_t   key;
    mt_wh_conf_t  conf;
    char          body[] = VEC_BODY;

    wh_conf(&conf, &key, MT_SRC_RESEND, VEC_SECRET);

    /* the body is no Resend event: verified, then refused as a shape */

    wh_reset(&T);
    wh_header(&T, "svix-id", VEC_ID);
    wh_header(&T, "svix-timestamp", VEC_TS);
    wh_header(&T, "svix-signature", VEC_SIG);
    rc = wh_run(&T, &conf, RS_JSON, body, strlen(body), 1614265330 + 10);
    is_int(rc, MT_ERR_PAYLOAD, "vector: signature verifies (the body is "
           "not a Resend event, so: payload)");

    wh_reset(&T);
    wh_header(&T, "webhook-id", VEC_ID);
    wh_header(&T, "webhook-timestamp", VEC_TS);
    wh_header(&T, "webhook-signature", VEC_SIG);
    rc = wh_run(&T, &conf, RS_JSON, body, strlen(body), 1614265330 - 10);
    is_int(rc, MT_ERR_PAYLOAD, "vector: webhook-* headers verify too");

    body[10] ^= 1;
    wh_reset(&T);
    wh_header(&T, "svix-id", VEC_ID);
    wh_header(&T, "svix-timestamp", VEC_TS);
    wh_header(&T, "svix-signature", VEC_SIG);
    rc = wh_run(&T, &conf, RS_JSON, body, strlen(body), 1614265330 + 10);
    is_int(rc, MT_ERR_SIGNATURE, "vector: one changed body byte fails");
    body[10] ^= 1;

    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJel");
    wh_header(&T, "svix-timestamp", VEC_TS);
    wh_header(&T, "svix-signature", VEC_SIG);
    rc = wh_run(&T, &conf, RS_JSON, body, strlen(body), 1614265330 + 10);
    is_int(rc, MT_ERR_SIGNATURE, "vector: another id fails");

    wh_reset(&T);
    wh_header(&T, "svix-id", VEC_ID);
    wh_header(&T, "svix-timestamp", "1614265331");
    wh_header(&T, "svix-signature", VEC_SIG);
    rc = wh_run(&T, &conf, RS_JSON, body, strlen(body), 1614265330 + 10);
    is_int(rc, MT_ERR_SIGNATURE, "vector: another timestamp fails");

    wh_reset(&T);
    wh_header(&T, "svix-id", VEC_ID);
    wh_header(&T, "svix-timestamp", VEC_TS);
    wh_header(&T, "svix-signature", VEC_SIG);
    rc = wh_run(&T, &conf, RS_JSON, body, strlen(body), 1614265330 + 301);
    is_int(rc, MT_ERR_STALE, "vector: 301 s later is stale");

    wh_reset(&T);
    wh_header(&T, "svix-id", VEC_ID);
    wh_header(&T, "svix-timestamp", VEC_TS);
    wh_header(&T, "svix-signature", VEC_SIG);
    rc = wh_run(&T, &conf, RS_JSON, body, strlen(body), 1614265330 - 301);
    is_int(rc, MT_ERR_FUTURE, "vector: 301 s early is future");

    /* the vector's own secret with a real event body */

    sign(VEC_SECRET, VEC_ID, VEC_TS, "{\"type\":\"email.sent\",\"data\":{}}",
         31, sigbuf);
    wh_reset(&T);
    wh_header(&T, "svix-id", VEC_ID);
    wh_header(&T, "svix-timestamp", VEC_TS);
    wh_header(&T, "svix-signature", sigbuf);
    rc = wh_run(&T, &conf, RS_JSON, "{\"type\":\"email.sent\",\"data\":{}}",
                31, 1614265330);
    is_int(rc, MT_OK, "vector secret: an event verifies and is queued");
    is_str(T.events[0].id, VEC_ID, "vector secret: id is svix-id");

    mt_hmac_key_free(key.data);
}


static void
test_keys(void)
{
    char      err[256];
    void     *data;
    mt_rc_t   rc;
    mt_str_t  raw;

    mt_str_set(&raw, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    data = NULL;
    rc = mt_resend_key(&raw, &data, err, sizeof(err));
    ok(rc == MT_OK && data != NULL, "key: base64 without the prefix");
    mt_hmac_key_free(data);

    mt_str_set(&raw, "  whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
    data = NULL;
    rc = mt_resend_key(&raw, &data, err, sizeof(err));
    ok(rc == MT_OK && data != NULL, "key: surrounding whitespace");
    mt_hmac_key_free(data);

    mt_str_set(&raw, "whsec_MfKQ9r8GKYqrTwjUPD8I*PZIo2LaLaSw");
    data = NULL;
    rc = mt_resend_key(&raw, &data, err, sizeof(err));
    ok(rc != MT_OK && data == NULL, "key: not base64 (%s)", err);

    mt_str_set(&raw, "whsec_");
    rc = mt_resend_key(&raw, &data, err, sizeof(err));
    ok(rc != MT_OK, "key: prefix only (%s)", err);

    mt_str_set(&raw, "whsec_c2hvcnQ=");
    rc = mt_resend_key(&raw, &data, err, sizeof(err));
    ok(rc != MT_OK, "key: too short (%s)", err);

    mt_str_set(&raw, "");
    rc = mt_resend_key(&raw, &data, err, sizeof(err));
    ok(rc != MT_OK, "key: empty");

    mt_hmac_key_free(NULL);
    ok(1, "key: freeing NULL is fine");
}


static void
test_auth(mt_wh_conf_t *conf)
{
    char          multi[1024], *body;
    mt_rc_t       rc;
    mt_wh_key_t   keys[2], key2;
    mt_wh_conf_t  c2;

    body = "{\"type\":\"email.delivered\",\"created_at\":\"2024-02-22T23:41:"
           "12.126Z\",\"data\":{\"email_id\":\"e-1\",\"to\":[\"a@x.org\"]}}";

    rc = run_str(conf, body);
    is_int(rc, MT_OK, "auth: fresh secret verifies");
    is_str(T.events[0].id, idbuf, "auth: id is svix-id");

    /* several signatures, other versions skipped, any v1 match passes */

    snprintf(tsbuf, sizeof(tsbuf), "%d", NOW);
    sign(secret_str, "msg_multi", tsbuf, body, strlen(body), sigbuf);

    snprintf(multi, sizeof(multi), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIO"
             "LJ1OE= v2,%s  %s", sigbuf + 3, sigbuf);
    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "svix-timestamp", tsbuf);
    wh_header(&T, "svix-signature", multi);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_OK, "sigs: the third of three signatures matches");

    snprintf(multi, sizeof(multi), "v2,%s v1a,%s v,%s 1,%s", sigbuf + 3,
             sigbuf + 3, sigbuf + 3, sigbuf + 3);
    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "svix-timestamp", tsbuf);
    wh_header(&T, "svix-signature", multi);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "sigs: only other versions: no match");

    snprintf(multi, sizeof(multi), "v1,%.43s", sigbuf + 3);
    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "svix-timestamp", tsbuf);
    wh_header(&T, "svix-signature", multi);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_OK, "sigs: the same bytes without the padding");

    snprintf(multi, sizeof(multi), "v1,%.42s", sigbuf + 3);
    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "svix-timestamp", tsbuf);
    wh_header(&T, "svix-signature", multi);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "sigs: a truncated signature fails");

    snprintf(multi, sizeof(multi), "v1,%sAAAA", sigbuf + 3);
    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "svix-timestamp", tsbuf);
    wh_header(&T, "svix-signature", multi);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "sigs: an extended signature fails");

    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "svix-timestamp", tsbuf);
    wh_header(&T, "svix-signature", "v1,");
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "sigs: an empty v1");

    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "svix-timestamp", tsbuf);
    wh_header(&T, "svix-signature", "   ");
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "sigs: only spaces");

    /* rotation: two secrets configured */

    wh_conf(&c2, &key2, MT_SRC_RESEND, secret2_str);
    keys[0] = key2;
    keys[1] = conf->keys[0];
    c2.keys = keys;
    c2.nkeys = 2;

    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "svix-timestamp", tsbuf);
    wh_header(&T, "svix-signature", sigbuf);
    rc = wh_run(&T, &c2, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_OK, "rotation: the second secret verifies");

    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_OK, "rotation: (the one secret alone too)");

    mt_hmac_key_free(key2.data);

    wh_conf(&c2, &key2, MT_SRC_RESEND, secret2_str);
    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "svix-timestamp", tsbuf);
    wh_header(&T, "svix-signature", sigbuf);
    rc = wh_run(&T, &c2, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "forged: another secret fails");
    is_int(T.nevents, 0, "forged: nothing emitted");
    mt_hmac_key_free(key2.data);

    /* headers: missing, mixed sets, names in any case */

    wh_reset(&T);
    wh_header(&T, "svix-timestamp", tsbuf);
    wh_header(&T, "svix-signature", sigbuf);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "missing: svix-id");

    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "svix-signature", sigbuf);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "missing: svix-timestamp");

    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "svix-timestamp", tsbuf);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "missing: svix-signature");

    wh_reset(&T);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "missing: all");

    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "webhook-timestamp", tsbuf);
    wh_header(&T, "webhook-signature", sigbuf);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "missing: the sets do not mix");

    wh_reset(&T);
    wh_header(&T, "Webhook-Id", "msg_multi");
    wh_header(&T, "Webhook-Timestamp", tsbuf);
    wh_header(&T, "Webhook-Signature", sigbuf);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_OK, "webhook-* headers, mixed case");
    is_str(T.events[0].id, "msg_multi", "webhook-id is the id");

    wh_reset(&T);
    wh_header(&T, "svix-id", "msg_multi");
    wh_header(&T, "svix-timestamp", "17640000OO");
    wh_header(&T, "svix-signature", sigbuf);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "timestamp not a number");

    /* time: 5 minutes both ways */

    rc = run_signed(conf, RS_JSON, body, NOW - 301, NOW);
    is_int(rc, MT_ERR_STALE, "time: 301 s old is stale");
    rc = run_signed(conf, RS_JSON, body, NOW - 299, NOW);
    is_int(rc, MT_OK, "time: 299 s old is fine");
    rc = run_signed(conf, RS_JSON, body, NOW + 301, NOW);
    is_int(rc, MT_ERR_FUTURE, "time: 301 s ahead is future");
    rc = run_signed(conf, RS_JSON, body, NOW + 299, NOW);
    is_int(rc, MT_OK, "time: 299 s ahead is fine");

    conf->tolerance = 0;
    rc = run_signed(conf, RS_JSON, body, 1000000000, NOW);
    is_int(rc, MT_OK, "time: tolerance 0 disables the check");
    conf->tolerance = 300;

    /* a captured request replayed later: stale; with a new timestamp: bad */

    rc = run_signed(conf, RS_JSON, body, NOW, NOW);
    wh_reset(&T);
    wh_header(&T, "svix-id", idbuf);
    wh_header(&T, "svix-timestamp", tsbuf);
    wh_header(&T, "svix-signature", sigbuf);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW + 3600);
    is_int(rc, MT_ERR_STALE, "replay: an hour later it is stale");

    wh_reset(&T);
    wh_header(&T, "svix-id", idbuf);
    wh_header(&T, "svix-timestamp", "1764003600");
    wh_header(&T, "svix-signature", sigbuf);
    rc = wh_run(&T, conf, RS_JSON, body, strlen(body), NOW + 3600);
    is_int(rc, MT_ERR_SIGNATURE, "replay: a fresh timestamp breaks it");

    /* content types */

    rc = run_signed(conf, "text/plain", body, NOW, NOW);
    is_int(rc, MT_ERR_CONTENT_TYPE, "ct: text/plain refused");
    rc = run_signed(conf, NULL, body, NOW, NOW);
    is_int(rc, MT_ERR_CONTENT_TYPE, "ct: none refused");
    rc = run_signed(conf, "application/json;charset=utf-8", body, NOW, NOW);
    is_int(rc, MT_OK, "ct: parameters allowed");
}


static void
test_bodies(mt_wh_conf_t *conf)
{
    int       distinct;
    char      b[512], prev[64];
    size_t    i;
    mt_rc_t   rc;

    rc = run_str(conf, "");
    is_int(rc, MT_ERR_BODY_EMPTY, "empty body");

    rc = run_str(conf, "{\"type\":\"email.sent\",\"data\":{");
    is_int(rc, MT_ERR_JSON, "truncated JSON");

    rc = run_str(conf, "{\"type\":email.sent}");
    is_int(rc, MT_ERR_JSON, "malformed JSON");

    rc = run_str(conf, "[{\"type\":\"email.sent\",\"data\":{}}]");
    is_int(rc, MT_ERR_PAYLOAD, "an array is not the shape");

    rc = run_str(conf, "{\"data\":{}}");
    is_int(rc, MT_ERR_PAYLOAD, "no type");

    rc = run_str(conf, "{\"type\":\"\",\"data\":{}}");
    is_int(rc, MT_ERR_PAYLOAD, "empty type");

    rc = run_str(conf, "{\"type\":\"email.sent\",\"data\":[]}");
    is_int(rc, MT_ERR_PAYLOAD, "data not an object");

    rc = run_str(conf, "{\"type\":\"email.sent\"}");
    is_int(rc, MT_ERR_PAYLOAD, "no data");
    is_int(T.nevents, 0, "shape errors emit nothing");

    rc = run_str(conf, "{\"type\":\"contact.created\",\"created_at\":"
                 "\"2024-02-22T23:41:12.126Z\",\"data\":{\"id\":\"c\"}}");
    is_int(rc, MT_OK, "contact.created: accepted");
    is_int(T.events[0].type, MT_EV_OTHER, "contact.created: other");
    is_str(T.events[0].esp_type, "contact.created", "contact.created: name");
    is_int(T.events[0].ts, 1708645272126LL, "contact.created: ts");

    rc = run_str(conf, "{\"type\":\"email.brand_new\",\"data\":{}}");
    is_int(T.events[0].type, MT_EV_OTHER, "unknown: other");

    rc = run_str(conf, "{\"type\":\"email.bounced\",\"data\":{\"bounce\":"
                 "{\"type\":\"Permanent\",\"message\":\"Empf\xe4nger "
                 "unbekannt\"}}}");
    is_int(rc, MT_OK, "latin-1: accepted");
    ok(memmem(T.events[0].reason.data, T.events[0].reason.len,
              "\xef\xbf\xbd", 3) != NULL, "latin-1: repaired, kept");

    rc = run_str(conf, "{\"type\":\"email.opened\",\"data\":{\"tags\":"
                 "{\"mail_track_id\":9007199254740993}}}");
    is_str(T.events[0].mid, "9007199254740993", "big int: exact");

    /* one event per request: a thousand in a row */

    distinct = 1;
    prev[0] = '\0';

    for (i = 0; i < 1000; i++) {
        snprintf(b, sizeof(b), "{\"type\":\"email.%s\",\"created_at\":"
                 "\"2024-02-22T23:41:12.126Z\",\"data\":{\"email_id\":"
                 "\"e-%zu\"}}", i % 2 ? "opened" : "clicked", i);
        rc = run_str(conf, b);

        if (rc != MT_OK || T.nevents != 1
            || strcmp(prev, (char *) T.events[0].id.data) == 0)
        {
            distinct = 0;
            break;
        }

        snprintf(prev, sizeof(prev), "%s", (char *) T.events[0].id.data);
    }

    ok(distinct, "a thousand requests, a thousand events");

    T.emit_rc = MT_ERR_FULL;
    T.emit_limit = 0;
    rc = run_str(conf, "{\"type\":\"email.sent\",\"data\":{}}");
    is_int(rc, MT_ERR_FULL, "emit failure propagates");
    T.emit_rc = MT_OK;

    /* normalize alone: without an id header the id is a hash */

    rc = run_str(conf, "{\"type\":\"email.sent\",\"data\":{}}");
    wh_reset(&T);
    snprintf(b, sizeof(b), "{\"type\":\"email.clicked\",\"created_at\":"
             "\"2024-02-22T23:41:12.126Z\",\"data\":{\"email_id\":\"n\","
             "\"click\":{\"link\":\"https://l\"}}}");
    T.wh.body = (u_char *) b;
    T.wh.body_len = strlen(b);
    T.wh.nevents = 0;
    rc = mt_resend_normalize(&T.wh);
    is_int(rc, MT_OK, "normalize: unsigned body parses");
    is_int(T.events[0].id.len, 32, "normalize: hashed id");
}


static void
test_fields(mt_wh_conf_t *conf)
{
    mt_rc_t  rc;

    rc = run_str(conf, "{\"type\":\"email.clicked\",\"created_at\":"
                 "\"2024-11-22T23:41:12.126Z\",\"data\":{\"created_at\":"
                 "\"2024-11-22T23:41:11.894719+00:00\",\"email_id\":"
                 "\"56761188-7520-42d8-8898-ff6fc54ce618\",\"from\":\"Acme "
                 "<onboarding@resend.dev>\",\"to\":[\"delivered@resend.dev\"],"
                 "\"subject\":\"Hi\",\"tags\":[{\"name\":\"category\","
                 "\"value\":\"confirm\"},{\"name\":\"mail_track_id\",\"value\":"
                 "\"app-7\"}],\"click\":{\"ipAddress\":\"122.115.53.11\","
                 "\"link\":\"https://resend.com\",\"timestamp\":\"2024-11-24T0"
                 "5:00:57.163Z\",\"userAgent\":\"Mozilla/5.0\"}}}");
    is_int(rc, MT_OK, "click: accepted");
    is_int(T.events[0].type, MT_EV_CLICKED, "click: type");
    is_str(T.events[0].url, "https://resend.com", "click: link");
    is_str(T.events[0].ip, "122.115.53.11", "click: ipAddress");
    is_str(T.events[0].ua, "Mozilla/5.0", "click: userAgent");
    is_str(T.events[0].mid, "app-7", "tags array: mid");
    is_str(T.events[0].esp_mid, "56761188-7520-42d8-8898-ff6fc54ce618",
           "esp_mid: email_id");
    is_str(T.events[0].rcpt, "delivered@resend.dev", "rcpt: the one to");
    is_int(T.events[0].ts, 1732318872126LL, "ts: top-level created_at");
    is_int(T.events[0].machine, MT_MACHINE_UNKNOWN, "click: machine unknown");

    rc = run_str(conf, "{\"type\":\"email.opened\",\"data\":{\"created_at\":"
                 "\"2024-11-22T23:41:11.894719+00:00\",\"email_id\":\"e9\","
                 "\"tags\":{\"mail_track_id\":\"app-8\"},\"to\":[\"a@x\","
                 "\"b@x\"]}}");
    is_str(T.events[0].mid, "app-8", "tags object: mid");
    is_str(T.events[0].rcpt, NULL, "rcpt: two recipients, none named");
    is_int(T.events[0].ts, 1732318871894LL, "ts: falls back to data's");

    rc = run_str(conf, "{\"type\":\"email.sent\",\"data\":{\"email_id\":"
                 "\"e10\",\"to\":\"Jane Doe <jane@x.org>\",\"tags\":[{\"name\":"
                 "\"other\",\"value\":\"v\"}]}}");
    is_str(T.events[0].rcpt, "jane@x.org", "rcpt: display name removed");
    is_str(T.events[0].mid, "e10", "no id tag: mid is email_id");
    is_str(T.events[0].esp_mid, NULL, "no id tag: esp_mid then absent");

    rc = run_str(conf, "{\"type\":\"email.sent\",\"data\":{\"to\":"
                 "[\"a@x\"],\"cc\":[\"c@x\"]}}");
    is_str(T.events[0].rcpt, NULL, "rcpt: one to but a cc: none named");

    rc = run_str(conf, "{\"type\":\"email.sent\",\"data\":{\"to\":"
                 "[\"a@x\"],\"cc\":[],\"bcc\":null}}");
    is_str(T.events[0].rcpt, "a@x", "rcpt: empty cc and null bcc");

    rc = run_str(conf, "{\"type\":\"email.sent\",\"data\":{\"to\":"
                 "[\"a@x, b@x\"]}}");
    is_str(T.events[0].rcpt, NULL, "rcpt: a comma list is not one address");

    rc = run_str(conf, "{\"type\":\"email.bounced\",\"data\":{\"bounce\":"
                 "{\"message\":\"The recipient's email provider sent a hard "
                 "bounce message\",\"subType\":\"General\",\"type\":"
                 "\"Permanent\",\"diagnosticCode\":[\"smtp; 550 5.1.1 user "
                 "unknown\"]}}}");
    is_int(T.events[0].bounce, MT_BOUNCE_HARD, "bounce: Permanent hard");
    is_int(T.events[0].smtp_code, 550, "bounce: code from diagnosticCode");
    is_str(T.events[0].smtp_status, "5.1.1", "bounce: status");
    is_str(T.events[0].reason, "smtp; 550 5.1.1 user unknown",
           "bounce: the MTA text is the reason");

    rc = run_str(conf, "{\"type\":\"email.bounced\",\"data\":{\"bounce\":"
                 "{\"message\":\"hard bounce\",\"type\":\"Permanent\"}}}");
    is_str(T.events[0].reason, "hard bounce", "bounce: else the message");

    rc = run_str(conf, "{\"type\":\"email.failed\",\"data\":{\"failed\":"
                 "{\"reason\":\"reached_daily_quota\"}}}");
    is_int(T.events[0].type, MT_EV_REJECTED, "failed: rejected");
    is_str(T.events[0].reason, "reached_daily_quota", "failed: reason");
}


static void
test_table(mt_wh_conf_t *conf)
{
    size_t  i;
    char    body[512];

    static const struct {
        const char   *type;
        const char   *data;
        int           ev;
        int           bounce;
    } tab[] = {
        { "email.sent", "", MT_EV_SENT, 0 },
        { "email.scheduled", "", MT_EV_OTHER, 0 },
        { "email.delivered", "", MT_EV_DELIVERED, 0 },
        { "email.delivery_delayed", "", MT_EV_DEFERRED, MT_BOUNCE_SOFT },
        { "email.bounced", ",\"bounce\":{\"type\":\"Permanent\"}",
          MT_EV_BOUNCED, MT_BOUNCE_HARD },
        { "email.bounced", ",\"bounce\":{\"type\":\"Permanent\","
          "\"diagnosticCode\":[\"smtp; 554 5.7.1 spam\"]}", MT_EV_BOUNCED,
          MT_BOUNCE_BLOCK },
        { "email.bounced", ",\"bounce\":{\"type\":\"Transient\","
          "\"subType\":\"MailboxFull\"}", MT_EV_BOUNCED, MT_BOUNCE_SOFT },
        { "email.bounced", ",\"bounce\":{\"type\":\"Transient\","
          "\"diagnosticCode\":[\"smtp; 550 5.1.1 x\"]}", MT_EV_BOUNCED,
          MT_BOUNCE_SOFT },
        { "email.bounced", ",\"bounce\":{\"type\":\"Undetermined\","
          "\"diagnosticCode\":\"550 5.1.1 x\"}", MT_EV_BOUNCED,
          MT_BOUNCE_HARD },
        { "email.bounced", ",\"bounce\":{}", MT_EV_BOUNCED,
          MT_BOUNCE_UNDETERMINED },
        { "email.bounced", "", MT_EV_BOUNCED, MT_BOUNCE_UNDETERMINED },
        { "email.complained", "", MT_EV_COMPLAINED, 0 },
        { "email.opened", "", MT_EV_OPENED, 0 },
        { "email.clicked", "", MT_EV_CLICKED, 0 },
        { "email.failed", "", MT_EV_REJECTED, 0 },
        { "email.suppressed", "", MT_EV_REJECTED, 0 },
        { "email.received", "", MT_EV_OTHER, 0 },
        { "contact.created", "", MT_EV_OTHER, 0 },
        { "contact.updated", "", MT_EV_OTHER, 0 },
        { "contact.deleted", "", MT_EV_OTHER, 0 },
        { "domain.created", "", MT_EV_OTHER, 0 },
        { "domain.updated", "", MT_EV_OTHER, 0 },
        { "domain.deleted", "", MT_EV_OTHER, 0 },
        { "Email.Sent", "", MT_EV_OTHER, 0 },
    };

    for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        snprintf(body, sizeof(body), "{\"type\":\"%s\",\"data\":{\"email_id\""
                 ":\"e\"%s}}", tab[i].type, tab[i].data);

        if (run_str(conf, body) != MT_OK || T.nevents != 1) {
            ok(0, "table: %s accepted", tab[i].type);
            continue;
        }

        is_mapped(&T.events[0], tab[i].ev, tab[i].bounce,
                  "table: %s%s -> %s %s", tab[i].type, tab[i].data,
                  mt_event_type_names[tab[i].ev],
                  mt_bounce_names[tab[i].bounce]);

        is_str(T.events[0].esp_type, tab[i].type, "table: esp_type %s",
               tab[i].type);
    }
}


int
main(void)
{
    mt_wh_key_t   key;
    mt_wh_conf_t  conf;
    u_char        s2[32];

    RAND_bytes(secret, sizeof(secret));
    RAND_bytes(s2, sizeof(s2));
    memcpy(secret_str, "whsec_", 6);
    secret_str[6 + mt_base64_encode((u_char *) secret_str + 6, secret,
                                    sizeof(secret))] = '\0';
    memcpy(secret2_str, "whsec_", 6);
    secret2_str[6 + mt_base64_encode((u_char *) secret2_str + 6, s2,
                                     sizeof(s2))] = '\0';

    test_vector();
    test_keys();

    wh_conf(&conf, &key, MT_SRC_RESEND, secret_str);
    is_int(conf.tolerance, 300, "conf: default tolerance 300 s");

    test_auth(&conf);
    test_bodies(&conf);
    test_fields(&conf);
    test_table(&conf);

    mt_hmac_key_free(key.data);
    wh_free(&T);

    return done_testing();
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Mailgun: HMAC over timestamp || token, the token replay check, and
 * the normalization of event-data.
 */


#include "mt_tap.h"
#include "mt_wh_test.h"
#include "mt_hmac.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>


#define MG_JSON      "application/json"
#define MG_KEY       "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"

/* HMAC-SHA256 computed independently (Python's hmac module) */
#define VEC_TS       "1534110422"
#define VEC_TOKEN    "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
#define VEC_SIG      "6766c669a238db0728dac4b258f4b20b12694e57b880f467624a84" \
                     "6d914b9dfd"

#define VEC_EVENT    "{\"event\":\"failed\",\"severity\":\"permanent\"," \
                     "\"reason\":\"bounce\",\"recipient\":" \
                     "\"invalid@example.com\",\"id\":\"G9Bn5sl1TC6nu79C8C" \
                     "0bwg\",\"timestamp\":1534110422.389832,\"log-level\":" \
                     "\"error\",\"message\":{\"headers\":{\"to\":" \
                     "\"invalid@example.com\",\"message-id\":\"20180812214" \
                     "658.1.0DF563D0B3597700@example.org\"}},\"delivery-" \
                     "status\":{\"code\":550,\"message\":\"5.1.1 The email " \
                     "account that you tried to reach does not exist\"," \
                     "\"attempt-no\":1},\"user-variables\":{\"mail_track_id" \
                     "\":\"app-42\"},\"tags\":[\"welcome\",\"q3\"]}"

#define NOW          1764000000


static wh_test_t   T;
static char        body[65536];
static unsigned    token_seq;


static void
hmac_hex(const char *key, const char *ts, const char *token, char *out)
{
    char          msg[1024];
    u_char        md[32];
    unsigned int  n, i;

    snprintf(msg, sizeof(msg), "%s%s", ts, token);
    HMAC(EVP_sha256(), key, strlen(key), (u_char *) msg, strlen(msg), md, &n);

    for (i = 0; i < 32; i++) {
        sprintf(out + i * 2, "%02x", md[i]);
    }
}


/* a body signed with key at ts, with a fresh token */

static const char *
signed_body(const char *key, int64_t ts, const char *event_data)
{
    char  sig[65], tsb[32], token[64];

    snprintf(tsb, sizeof(tsb), "%lld", (long long) ts);
    snprintf(token, sizeof(token), "tok%047u", ++token_seq);
    hmac_hex(key, tsb, token, sig);

    snprintf(body, sizeof(body), "{\"signature\":{\"token\":\"%s\","
             "\"timestamp\":\"%s\",\"signature\":\"%s\"},\"event-data\":%s}",
             token, tsb, sig, event_data);

    return body;
}


static mt_rc_t
run(mt_wh_conf_t *conf, const char *ct, const char *b)
{
    wh_reset(&T);

    return wh_run(&T, conf, ct, b, strlen(b), NOW);
}


static mt_rc_t
run_event(mt_wh_conf_t *conf, const char *event_data)
{
    return run(conf, MG_JSON, signed_body(MG_KEY, NOW, event_data));
}


static void
test_vector(mt_wh_conf_t *conf)
{
    char     b[4096];
    mt_rc_t  rc;

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"" VEC_TOKEN "\","
             "\"timestamp\":\"" VEC_TS "\",\"signature\":\"" VEC_SIG "\"},"
             "\"event-data\":" VEC_EVENT "}");

    wh_reset(&T);
    rc = wh_run(&T, conf, MG_JSON, b, strlen(b), 1534110422 + 60);
    is_int(rc, MT_OK, "vector: verifies");
    is_int(T.nevents, 1, "vector: one event");
    is_int(T.events[0].type, MT_EV_BOUNCED, "vector: failed permanent");
    is_str(T.events[0].esp_type, "failed", "vector: esp_type");
    is_int(T.events[0].bounce, MT_BOUNCE_HARD, "vector: hard");
    is_int(T.events[0].smtp_code, 550, "vector: code");
    is_str(T.events[0].smtp_status, "5.1.1", "vector: status");
    is_str(T.events[0].rcpt, "invalid@example.com", "vector: rcpt");
    is_str(T.events[0].id, "G9Bn5sl1TC6nu79C8C0bwg", "vector: event id");
    is_int(T.events[0].ts, 1534110422390LL, "vector: ts from the float");
    is_str(T.events[0].mid, "app-42", "vector: mid from user-variables");
    is_str(T.events[0].esp_mid, "20180812214658.1.0DF563D0B3597700@example.org",
           "vector: esp_mid");
    is_str(T.events[0].tag, "welcome,q3", "vector: tags");
    ok(T.events[0].reason.len > 10, "vector: reason is the MTA text");
    is_int(T.events[0].src, MT_SRC_MAILGUN, "vector: src");

    /* the same request again: a retry, accepted (the zone dedupes it) */

    wh_reset(&T);
    rc = wh_run(&T, conf, MG_JSON, b, strlen(b), 1534110422 + 60);
    is_int(rc, MT_OK, "vector: the same token and event again is a retry");

    /* upper-case hex */

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"" VEC_TOKEN "\","
             "\"timestamp\":\"" VEC_TS "\",\"signature\":\"6766C669A238DB07"
             "28DAC4B258F4B20B12694E57B880F467624A846D914B9DFD\"},"
             "\"event-data\":" VEC_EVENT "}");
    wh_reset(&T);
    rc = wh_run(&T, conf, MG_JSON, b, strlen(b), 1534110422 + 60);
    is_int(rc, MT_OK, "vector: upper-case hex verifies");

    wh_reset(&T);
    rc = wh_run(&T, conf, MG_JSON, b, strlen(b), NOW);
    is_int(rc, MT_ERR_STALE, "vector: years later it is stale");

    /* one changed digit */

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"" VEC_TOKEN "\","
             "\"timestamp\":\"1534110423\",\"signature\":\"" VEC_SIG "\"},"
             "\"event-data\":" VEC_EVENT "}");
    wh_reset(&T);
    rc = wh_run(&T, conf, MG_JSON, b, strlen(b), 1534110422 + 60);
    is_int(rc, MT_ERR_SIGNATURE, "vector: another timestamp fails");
    is_int(T.nevents, 0, "vector: nothing emitted");
}


static void
test_auth(mt_wh_conf_t *conf)
{
    char          b[4096], sig[65], sig2[65];
    mt_rc_t       rc;
    mt_wh_key_t   keys[2];
    mt_wh_conf_t  c2;
    const char   *ed = "{\"event\":\"delivered\",\"id\":\"E1\"}";

    rc = run_event(conf, ed);
    is_int(rc, MT_OK, "auth: fresh token verifies");

    rc = run(conf, MG_JSON, signed_body("key-other", NOW, ed));
    is_int(rc, MT_ERR_SIGNATURE, "auth: another key fails");
    is_int(T.nevents, 0, "auth: nothing emitted");

    /* rotation, and a key read from a file with its newline */

    memset(&c2, 0, sizeof(c2));
    c2 = *conf;
    memset(keys, 0, sizeof(keys));
    mt_str_set(&keys[0].raw, "key-old");
    mt_str_set(&keys[1].raw, MG_KEY "\n");
    mt_mailgun_key(&keys[0].raw, &keys[0].data, b, sizeof(b));
    mt_mailgun_key(&keys[1].raw, &keys[1].data, b, sizeof(b));
    c2.keys = keys;
    c2.nkeys = 2;
    rc = run(&c2, MG_JSON, signed_body(MG_KEY, NOW, ed));
    is_int(rc, MT_OK, "auth: the second key (with a newline) verifies");

    rc = run(&c2, MG_JSON, signed_body("key-old", NOW, ed));
    is_int(rc, MT_OK, "auth: the first key verifies");

    mt_hmac_key_free(keys[0].data);
    mt_hmac_key_free(keys[1].data);

    /* parent-signature: a subaccount event signed by the primary account */

    hmac_hex("key-subaccount", "1764000000", "tokparent", sig);
    hmac_hex(MG_KEY, "1764000000", "tokparent", sig2);
    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"tokparent\","
             "\"timestamp\":\"1764000000\",\"signature\":\"%s\","
             "\"parent-signature\":\"%s\"},\"event-data\":%s}", sig, sig2,
             ed);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_OK, "auth: the parent-signature verifies");

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"tokparent2\","
             "\"timestamp\":\"1764000000\",\"signature\":\"%s\","
             "\"parent-signature\":\"%s\"},\"event-data\":%s}", sig, sig,
             ed);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_ERR_SIGNATURE, "auth: neither verifies");

    /* the signature block, piece by piece */

    rc = run(conf, MG_JSON, "{\"event-data\":{\"event\":\"delivered\"}}");
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "missing: no signature block");

    rc = run(conf, MG_JSON, "{\"signature\":\"abc\",\"event-data\":"
             "{\"event\":\"delivered\"}}");
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "missing: signature not an object");

    hmac_hex(MG_KEY, "1764000000", "t1", sig);

    snprintf(b, sizeof(b), "{\"signature\":{\"timestamp\":\"1764000000\","
             "\"signature\":\"%s\"},\"event-data\":%s}", sig, ed);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "missing: no token");

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"t1\","
             "\"signature\":\"%s\"},\"event-data\":%s}", sig, ed);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "missing: no timestamp");

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"t1\","
             "\"timestamp\":\"1764000000\"},\"event-data\":%s}", ed);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "missing: no signature");

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"t1\","
             "\"timestamp\":1764000000,\"signature\":\"%s\"},"
             "\"event-data\":%s}", sig, ed);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_OK, "timestamp: a JSON number is signed as printed");

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"t2\","
             "\"timestamp\":1764000000.0,\"signature\":\"%s\"},"
             "\"event-data\":%s}", sig, ed);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_ERR_SIGNATURE, "timestamp: a real is refused");

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"t3\","
             "\"timestamp\":\"17640x0000\",\"signature\":\"%s\"},"
             "\"event-data\":%s}", sig, ed);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_ERR_SIGNATURE, "timestamp: not digits");

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"t1\","
             "\"timestamp\":\"1764000000\",\"signature\":\"%.62szz\"},"
             "\"event-data\":%s}", sig, ed);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_ERR_SIGNATURE, "signature: not hex");

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"t1\","
             "\"timestamp\":\"1764000000\",\"signature\":\"%.62s\"},"
             "\"event-data\":%s}", sig, ed);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_ERR_SIGNATURE, "signature: too short");

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"t1\","
             "\"timestamp\":\"1764000000\",\"signature\":\"%s00\"},"
             "\"event-data\":%s}", sig, ed);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_ERR_SIGNATURE, "signature: too long");

    memset(b, 'a', 600);
    b[600] = '\0';
    hmac_hex(MG_KEY, "1764000000", b, sig2);
    snprintf(b + 700, sizeof(b) - 700, "{\"signature\":{\"token\":\"%.600s\","
             "\"timestamp\":\"1764000000\",\"signature\":\"%s\"},"
             "\"event-data\":%s}", b, sig2, ed);
    rc = run(conf, MG_JSON, b + 700);
    is_int(rc, MT_ERR_SIGNATURE, "token: oversized refused");

    /* time */

    rc = run(conf, MG_JSON, signed_body(MG_KEY, NOW - 9 * 3600 - 1, ed));
    is_int(rc, MT_ERR_STALE, "time: older than 9 h is stale");

    rc = run(conf, MG_JSON, signed_body(MG_KEY, NOW - 8 * 3600, ed));
    is_int(rc, MT_OK, "time: an 8 h old retry passes");

    rc = run(conf, MG_JSON, signed_body(MG_KEY, NOW + 301, ed));
    is_int(rc, MT_ERR_FUTURE, "time: 5 min ahead is future");

    conf->tolerance = 0;
    rc = run(conf, MG_JSON, signed_body(MG_KEY, 1000000000, ed));
    is_int(rc, MT_OK, "time: tolerance 0 disables the check");
    conf->tolerance = 9 * 3600;

    /* content type */

    rc = run(conf, "application/x-www-form-urlencoded",
             signed_body(MG_KEY, NOW, ed));
    is_int(rc, MT_ERR_CONTENT_TYPE, "ct: legacy form webhooks refused");

    rc = run(conf, "text/plain", signed_body(MG_KEY, NOW, ed));
    is_int(rc, MT_ERR_CONTENT_TYPE, "ct: text/plain refused");

    rc = run(conf, NULL, signed_body(MG_KEY, NOW, ed));
    is_int(rc, MT_ERR_CONTENT_TYPE, "ct: none refused");

    rc = run(conf, "application/json; charset=utf-8",
             signed_body(MG_KEY, NOW, ed));
    is_int(rc, MT_OK, "ct: with parameters");
}


/*
 * The signature does not cover event-data: a captured block on another
 * event must not pass.
 */

static void
test_replay(mt_wh_conf_t *conf)
{
    char     captured[512], b[4096], sig[65];
    mt_rc_t  rc;

    hmac_hex(MG_KEY, "1764000000", "tokreplay", sig);
    snprintf(captured, sizeof(captured), "{\"token\":\"tokreplay\","
             "\"timestamp\":\"1764000000\",\"signature\":\"%s\"}", sig);

    snprintf(b, sizeof(b), "{\"signature\":%s,\"event-data\":{\"event\":"
             "\"delivered\",\"id\":\"real-1\",\"recipient\":\"a@x\"}}",
             captured);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_OK, "replay: the genuine event");

    snprintf(b, sizeof(b), "{\"signature\":%s,\"event-data\":{\"event\":"
             "\"failed\",\"severity\":\"permanent\",\"id\":\"forged-1\","
             "\"recipient\":\"a@x\"}}", captured);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_ERR_REPLAY, "replay: its signature on a forged event");
    is_int(T.nevents, 0, "replay: nothing emitted");

    snprintf(b, sizeof(b), "{\"signature\":%s,\"event-data\":{\"event\":"
             "\"failed\",\"severity\":\"permanent\","
             "\"recipient\":\"a@x\"}}", captured);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_ERR_REPLAY, "replay: a forged event without an id");

    snprintf(b, sizeof(b), "{\"signature\":%s,\"event-data\":{\"event\":"
             "\"delivered\",\"id\":\"real-1\",\"recipient\":\"a@x\"}}",
             captured);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_OK, "replay: the genuine event retried passes");

    /* a malformed event does not spend the token */

    hmac_hex(MG_KEY, "1764000000", "tokshape", sig);
    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"tokshape\","
             "\"timestamp\":\"1764000000\",\"signature\":\"%s\"},"
             "\"event-data\":{\"id\":\"x\"}}", sig);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_ERR_PAYLOAD, "shape: event-data without an event name");

    snprintf(b, sizeof(b), "{\"signature\":{\"token\":\"tokshape\","
             "\"timestamp\":\"1764000000\",\"signature\":\"%s\"},"
             "\"event-data\":{\"event\":\"opened\",\"id\":\"y\"}}", sig);
    rc = run(conf, MG_JSON, b);
    is_int(rc, MT_OK, "shape: the token is still good afterwards");
}


static void
test_bodies(mt_wh_conf_t *conf)
{
    int       distinct;
    char      ed[512], ids[1000][33];
    size_t    i;
    mt_rc_t   rc;

    rc = run(conf, MG_JSON, "");
    is_int(rc, MT_ERR_BODY_EMPTY, "empty body");

    rc = run(conf, MG_JSON, "{\"signature\":{\"token\":");
    is_int(rc, MT_ERR_JSON, "truncated JSON");

    rc = run(conf, MG_JSON, "{\"signature\":x}");
    is_int(rc, MT_ERR_JSON, "malformed JSON");

    rc = run(conf, MG_JSON, "[{\"signature\":{}}]");
    is_int(rc, MT_ERR_PAYLOAD, "an array is not the shape");

    rc = run(conf, MG_JSON, signed_body(MG_KEY, NOW, "[]"));
    is_int(rc, MT_ERR_PAYLOAD, "event-data not an object");

    rc = run(conf, MG_JSON, signed_body(MG_KEY, NOW, "{\"event\":3}"));
    is_int(rc, MT_ERR_PAYLOAD, "event name not a string");

    rc = run(conf, MG_JSON, "{\"signature\":{\"token\":\"a\","
             "\"timestamp\":\"1\",\"signature\":\"b\"}}");
    is_int(rc, MT_ERR_SIGNATURE, "no event-data, bad signature: signature");

    rc = run_event(conf, "{\"event\":\"list_member_uploaded\",\"id\":\"L\"}");
    is_int(rc, MT_OK, "unknown event: accepted");
    is_int(T.events[0].type, MT_EV_OTHER, "unknown event: other");
    is_str(T.events[0].esp_type, "list_member_uploaded",
           "unknown event: esp_type");

    rc = run_event(conf, "{\"event\":\"failed\",\"severity\":\"permanent\","
                   "\"delivery-status\":{\"code\":554,\"message\":\"5.7.1 "
                   "Nachricht abgelehnt \xe4\xf6\xfc\"}}");
    is_int(rc, MT_OK, "latin-1: accepted");
    is_int(T.nevents, 1, "latin-1: kept");
    ok(memmem(T.events[0].reason.data, T.events[0].reason.len,
              "\xef\xbf\xbd", 3) != NULL, "latin-1: repaired");
    is_int(T.events[0].bounce, MT_BOUNCE_BLOCK, "latin-1: 5.7.1 is a block");

    rc = run_event(conf, "{\"event\":\"opened\",\"user-variables\":"
                   "{\"mail_track_id\":9007199254740993}}");
    is_int(rc, MT_OK, "big int: accepted");
    is_str(T.events[0].mid, "9007199254740993", "big int: exact");

    /* no event-data.id: a stable hash */

    rc = run_event(conf, "{\"event\":\"clicked\",\"timestamp\":1764000000.5,"
                   "\"url\":\"https://a\",\"recipient\":\"r@x\"}");
    is_int(rc, MT_OK, "no id: accepted");
    ok(T.events[0].id.len == 32, "no id: hashed");
    memcpy(ids[0], T.events[0].id.data, 32);
    ids[0][32] = '\0';

    rc = run_event(conf, "{\"url\":\"https://a\",\"recipient\":\"r@x\","
                   "\"timestamp\":1764000000.5,\"event\":\"clicked\"}");
    ok(rc == MT_OK && strcmp(ids[0], (char *) T.events[0].id.data) == 0,
       "no id: the same event hashes alike");

    rc = run_event(conf, "{\"url\":\"https://b\",\"recipient\":\"r@x\","
                   "\"timestamp\":1764000000.5,\"event\":\"clicked\"}");
    ok(rc == MT_OK && strcmp(ids[0], (char *) T.events[0].id.data) != 0,
       "no id: another url hashes apart");

    /* one event per request: a thousand requests in a row */

    distinct = 1;

    for (i = 0; i < 1000; i++) {
        snprintf(ed, sizeof(ed), "{\"event\":\"%s\",\"id\":\"ev-%zu\","
                 "\"recipient\":\"u%zu@x\"}", i % 2 ? "opened" : "delivered",
                 i, i);
        rc = run_event(conf, ed);

        if (rc != MT_OK || T.nevents != 1) {
            distinct = 0;
            break;
        }

        memcpy(ids[i], T.events[0].id.data, T.events[0].id.len);
        ids[i][T.events[0].id.len] = '\0';

        if (i && strcmp(ids[i], ids[i - 1]) == 0) {
            distinct = 0;
        }
    }

    ok(distinct, "a thousand requests, a thousand distinct events");

    T.emit_rc = MT_ERR_FULL;
    T.emit_limit = 0;
    rc = run_event(conf, "{\"event\":\"opened\",\"id\":\"full\"}");
    is_int(rc, MT_ERR_FULL, "emit failure propagates");
    T.emit_rc = MT_OK;

    /* normalize alone: no signature needed */

    rc = run_event(conf, "{\"event\":\"opened\",\"id\":\"n0\"}");
    snprintf(body, sizeof(body), "{\"event-data\":{\"event\":\"clicked\","
             "\"id\":\"n1\",\"url\":\"https://n\"}}");
    T.wh.body = (u_char *) body;
    T.wh.body_len = strlen(body);
    T.nevents = 0;
    T.wh.nevents = 0;
    rc = mt_mailgun_normalize(&T.wh);
    is_int(rc, MT_OK, "normalize: unsigned body parses");
    is_str(T.events[0].url, "https://n", "normalize: url");
}


static void
test_fields(mt_wh_conf_t *conf)
{
    mt_rc_t  rc;

    rc = run_event(conf, "{\"event\":\"opened\",\"id\":\"o1\",\"ip\":"
                   "\"203.0.113.9\",\"client-info\":{\"client-name\":"
                   "\"unknown\",\"user-agent\":\"Mozilla/5.0\",\"bot\":"
                   "\"apple\"},\"message\":{\"headers\":{\"message-id\":"
                   "\"<abc@mg.example.org>\"}}}");
    is_int(rc, MT_OK, "bot apple: ok");
    is_int(T.events[0].machine, 1, "bot apple: machine");
    is_str(T.events[0].why, "mailgun_bot_apple", "bot apple: why");
    is_str(T.events[0].ip, "203.0.113.9", "bot apple: ip");
    is_str(T.events[0].ua, "Mozilla/5.0", "bot apple: ua");
    is_str(T.events[0].mid, "abc@mg.example.org",
           "message-id: angle brackets removed");

    rc = run_event(conf, "{\"event\":\"opened\",\"client-info\":{\"bot\":"
                   "\"gmail\"}}");
    is_str(T.events[0].why, "mailgun_bot_gmail", "bot gmail: why");
    is_int(T.events[0].machine, 1, "bot gmail: machine");

    rc = run_event(conf, "{\"event\":\"clicked\",\"url\":\"https://x/y\","
                   "\"client-info\":{\"bot\":\"generic\"}}");
    is_str(T.events[0].why, "mailgun_bot_generic", "bot generic: why");
    is_str(T.events[0].url, "https://x/y", "click: url");

    rc = run_event(conf, "{\"event\":\"opened\",\"client-info\":{\"bot\":"
                   "\"\"}}");
    is_int(T.events[0].machine, 0, "bot empty: no bot detected");
    is_str(T.events[0].why, NULL, "bot empty: no why");

    rc = run_event(conf, "{\"event\":\"opened\",\"client-info\":{}}");
    is_int(T.events[0].machine, MT_MACHINE_UNKNOWN, "bot absent: unknown");

    rc = run_event(conf, "{\"event\":\"delivered\",\"ip\":\"198.51.100.1\","
                   "\"delivery-status\":{\"code\":250,\"message\":\"OK\"}}");
    is_str(T.events[0].ip, NULL, "delivered: no client ip");
    is_int(T.events[0].smtp_code, 250, "delivered: code");

    rc = run_event(conf, "{\"event\":\"failed\",\"severity\":\"temporary\","
                   "\"reason\":\"greylisted\",\"delivery-status\":{\"code\":"
                   "451,\"enhanced-code\":\"4.7.1\",\"message\":\"try later\","
                   "\"description\":\"greylisted\"}}");
    is_int(T.events[0].type, MT_EV_DEFERRED, "temporary: deferred");
    is_int(T.events[0].bounce, MT_BOUNCE_SOFT, "temporary: soft");
    is_str(T.events[0].smtp_status, "4.7.1", "temporary: enhanced-code");
    is_str(T.events[0].reason, "try later", "temporary: message as reason");

    rc = run_event(conf, "{\"event\":\"failed\",\"severity\":\"permanent\","
                   "\"delivery-status\":{\"code\":605,\"description\":\"Not "
                   "delivering to previously bounced address\"},\"reason\":"
                   "\"suppress-bounce\"}");
    is_int(T.events[0].smtp_code, 0, "605: not an SMTP code");
    is_str(T.events[0].reason, "Not delivering to previously bounced "
           "address", "605: description as reason");

    rc = run_event(conf, "{\"event\":\"rejected\",\"reject\":{\"reason\":"
                   "\"Sandbox subdomains are for test purposes only\"}}");
    is_int(T.events[0].type, MT_EV_REJECTED, "rejected: type");
    is_str(T.events[0].reason, "Sandbox subdomains are for test purposes "
           "only", "rejected: reject.reason");

    rc = run_event(conf, "{\"event\":\"opened\",\"tags\":\"solo\"}");
    is_str(T.events[0].tag, "solo", "tags: a lone string");

    rc = run_event(conf, "{\"event\":\"opened\",\"tags\":[]}");
    is_str(T.events[0].tag, NULL, "tags: empty");

    mt_str_set(&conf->id_field, "app");
    rc = run_event(conf, "{\"event\":\"opened\",\"user-variables\":"
                   "{\"app\":\"A1\",\"mail_track_id\":\"no\"}}");
    is_str(T.events[0].mid, "A1", "id_field: configured name");
    mt_str_set(&conf->id_field, "mail_track_id");
}


static void
test_table(mt_wh_conf_t *conf)
{
    size_t   i;
    char     ed[512];

    static const struct {
        const char   *json;
        int           type;
        int           bounce;
        const char   *what;
    } tab[] = {
        { "\"event\":\"accepted\"", MT_EV_SENT, 0, "accepted" },
        { "\"event\":\"delivered\"", MT_EV_DELIVERED, 0, "delivered" },
        { "\"event\":\"failed\",\"severity\":\"permanent\",\"reason\":"
          "\"bounce\",\"delivery-status\":{\"code\":550,\"message\":"
          "\"5.1.1 no such user\"}", MT_EV_BOUNCED, MT_BOUNCE_HARD,
          "failed permanent 5.1.1" },
        { "\"event\":\"failed\",\"severity\":\"permanent\",\"reason\":"
          "\"bounce\",\"delivery-status\":{\"code\":550}", MT_EV_BOUNCED,
          MT_BOUNCE_HARD, "failed permanent 550" },
        { "\"event\":\"failed\",\"severity\":\"permanent\",\"reason\":"
          "\"generic\",\"delivery-status\":{\"code\":554,\"message\":"
          "\"5.7.1 rejected by policy\"}", MT_EV_BOUNCED, MT_BOUNCE_BLOCK,
          "failed permanent 5.7.1" },
        { "\"event\":\"failed\",\"severity\":\"permanent\",\"reason\":"
          "\"bounce\",\"delivery-status\":{\"code\":552,\"message\":"
          "\"5.2.2 mailbox full\"}", MT_EV_BOUNCED, MT_BOUNCE_SOFT,
          "failed permanent 5.2.2" },
        { "\"event\":\"failed\",\"severity\":\"permanent\",\"reason\":"
          "\"suppress-bounce\",\"delivery-status\":{\"code\":605}",
          MT_EV_BOUNCED, MT_BOUNCE_HARD, "failed suppress-bounce" },
        { "\"event\":\"failed\",\"severity\":\"permanent\",\"reason\":"
          "\"suppress-unsubscribe\"", MT_EV_BOUNCED, MT_BOUNCE_BLOCK,
          "failed suppress-unsubscribe" },
        { "\"event\":\"failed\",\"severity\":\"permanent\",\"reason\":"
          "\"suppress-complaint\",\"delivery-status\":{\"code\":607}",
          MT_EV_BOUNCED, MT_BOUNCE_BLOCK, "failed suppress-complaint" },
        { "\"event\":\"failed\",\"severity\":\"permanent\",\"reason\":"
          "\"espblock\"", MT_EV_BOUNCED, MT_BOUNCE_BLOCK, "failed espblock" },
        { "\"event\":\"failed\",\"severity\":\"permanent\",\"reason\":"
          "\"old\",\"delivery-status\":{\"code\":421}", MT_EV_BOUNCED,
          MT_BOUNCE_SOFT, "failed old" },
        { "\"event\":\"failed\",\"severity\":\"permanent\"", MT_EV_BOUNCED,
          MT_BOUNCE_UNDETERMINED, "failed permanent, nothing known" },
        { "\"event\":\"failed\"", MT_EV_BOUNCED, MT_BOUNCE_UNDETERMINED,
          "failed without severity" },
        { "\"event\":\"failed\",\"severity\":\"temporary\",\"reason\":"
          "\"generic\",\"delivery-status\":{\"code\":550}", MT_EV_DEFERRED,
          MT_BOUNCE_SOFT, "failed temporary" },
        { "\"event\":\"rejected\"", MT_EV_REJECTED, 0, "rejected" },
        { "\"event\":\"opened\"", MT_EV_OPENED, 0, "opened" },
        { "\"event\":\"clicked\"", MT_EV_CLICKED, 0, "clicked" },
        { "\"event\":\"complained\"", MT_EV_COMPLAINED, 0, "complained" },
        { "\"event\":\"unsubscribed\"", MT_EV_UNSUBSCRIBED, 0,
          "unsubscribed" },
        { "\"event\":\"stored\"", MT_EV_OTHER, 0, "stored" },
        { "\"event\":\"Delivered\"", MT_EV_OTHER, 0, "case-sensitive" },
    };

    for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        snprintf(ed, sizeof(ed), "{%s,\"recipient\":\"t@x\"}", tab[i].json);

        if (run_event(conf, ed) != MT_OK || T.nevents != 1) {
            ok(0, "table: %s accepted", tab[i].what);
            continue;
        }

        is_mapped(&T.events[0], tab[i].type, tab[i].bounce,
                  "table: %s -> %s %s", tab[i].what,
                  mt_event_type_names[tab[i].type],
                  mt_bounce_names[tab[i].bounce]);
    }
}


int
main(void)
{
    mt_wh_key_t   key;
    mt_wh_conf_t  conf;

    wh_conf(&conf, &key, MT_SRC_MAILGUN, MG_KEY);
    is_int(conf.tolerance, 9 * 3600, "conf: default tolerance 9 h");

    test_vector(&conf);
    test_auth(&conf);
    test_replay(&conf);
    test_bodies(&conf);
    test_fields(&conf);
    test_table(&conf);

    key.free(key.data);
    wh_free(&T);

    return done_testing();
}

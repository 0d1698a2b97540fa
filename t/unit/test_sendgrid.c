
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * SendGrid: ECDSA verification over timestamp || raw body, and the
 * normalization of event batches.
 */


#include "mt_tap.h"
#include "mt_wh_test.h"
#include "mt_base64.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>


#define SG_JSON      "application/json"
#define SG_TS_HDR    "x-twilio-email-event-webhook-timestamp"
#define SG_SIG_HDR   "x-twilio-email-event-webhook-signature"

/* sendgrid-nodejs packages/eventwebhook/src/eventwebhook.spec.js */
#define VEC_KEY      "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzp" \
                     "lybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPA" \
                     "ZFceEu/1FwCM/QmGUhA=="
#define VEC_SIG      "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJ" \
                     "Tz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0="
#define VEC_TS       "1588788367"
#define VEC_BODY     "{\"category\":\"example_payload\",\"event\":" \
                     "\"test_event\",\"message_id\":\"message_id\"}"

#define NOW          1764000000


static wh_test_t      T;
static EVP_PKEY      *priv, *priv2;
static char           pub_b64[512], pub2_b64[512];
static char           sigbuf[256], tsbuf[32];


static void
b64_pubkey(EVP_PKEY *pk, char *out)
{
    int     n;
    u_char *der, *p;

    n = i2d_PUBKEY(pk, NULL);
    der = malloc(n);
    p = der;
    i2d_PUBKEY(pk, &p);
    out[mt_base64_encode((u_char *) out, der, n)] = '\0';
    free(der);
}


static void
sign(EVP_PKEY *pk, const char *ts, const void *body, size_t len, char *out)
{
    size_t       n;
    u_char       der[128];
    EVP_MD_CTX  *ctx;

    ctx = EVP_MD_CTX_new();
    n = sizeof(der);

    if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) != 1
        || EVP_DigestSignUpdate(ctx, ts, strlen(ts)) != 1
        || EVP_DigestSignUpdate(ctx, body, len) != 1
        || EVP_DigestSignFinal(ctx, der, &n) != 1)
    {
        abort();
    }

    EVP_MD_CTX_free(ctx);

    out[mt_base64_encode((u_char *) out, der, n)] = '\0';
}


/* signs body with priv at ts and runs it */

static mt_rc_t
run_signed(mt_wh_conf_t *conf, const char *ct, const char *body, size_t len,
    int64_t ts, int64_t now)
{
    snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long) ts);
    sign(priv, tsbuf, body, len, sigbuf);

    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, tsbuf);
    wh_header(&T, SG_SIG_HDR, sigbuf);

    return wh_run(&T, conf, ct, body, len, now);
}


static mt_rc_t
run_str(mt_wh_conf_t *conf, const char *body)
{
    return run_signed(conf, SG_JSON, body, strlen(body), NOW, NOW);
}


static void
test_vector(void)
{
    char          pem[512];
    mt_rc_t       rc;
    mt_wh_key_t   key;
    mt_wh_conf_t  conf;
    char          body[] = VEC_BODY;

    wh_conf(&conf, &key, MT_SRC_SENDGRID, VEC_KEY);

    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, VEC_TS);
    wh_header(&T, SG_SIG_HDR, VEC_SIG);
    rc = wh_run(&T, &conf, SG_JSON, body, strlen(body), 1588788367 + 60);

    is_int(rc, MT_OK, "vector: the SDK's test vector verifies");
    is_int(T.nevents, 1, "vector: a bare object is a batch of one");
    is_str(T.events[0].esp_type, "test_event", "vector: esp_type");
    is_int(T.events[0].type, MT_EV_OTHER, "vector: unknown event is other");
    is_str(T.events[0].tag, "example_payload", "vector: category is tag");
    ok(T.events[0].id.len == 32, "vector: hashed id");

    body[10] ^= 1;
    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, VEC_TS);
    wh_header(&T, SG_SIG_HDR, VEC_SIG);
    rc = wh_run(&T, &conf, SG_JSON, body, strlen(body), 1588788367 + 60);
    is_int(rc, MT_ERR_SIGNATURE, "vector: one changed body byte fails");
    is_int(T.nevents, 0, "vector: nothing emitted on a bad signature");

    body[10] ^= 1;
    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, "1588788368");
    wh_header(&T, SG_SIG_HDR, VEC_SIG);
    rc = wh_run(&T, &conf, SG_JSON, body, strlen(body), 1588788367 + 60);
    is_int(rc, MT_ERR_SIGNATURE, "vector: another timestamp fails");

    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, VEC_TS);
    wh_header(&T, SG_SIG_HDR, VEC_SIG);
    rc = wh_run(&T, &conf, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_STALE, "vector: years later it is stale");

    mt_sendgrid_key_free(key.data);

    snprintf(pem, sizeof(pem), "-----BEGIN PUBLIC KEY-----\n%.64s\n%s\n"
             "-----END PUBLIC KEY-----\n", VEC_KEY, VEC_KEY + 64);
    wh_conf(&conf, &key, MT_SRC_SENDGRID, pem);

    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, VEC_TS);
    wh_header(&T, SG_SIG_HDR, VEC_SIG);
    rc = wh_run(&T, &conf, SG_JSON, body, strlen(body), 1588788367);
    is_int(rc, MT_OK, "vector: the key as PEM verifies too");

    mt_sendgrid_key_free(key.data);
}


static void
test_keys(void)
{
    char       err[256], b64[1024], *pem;
    u_char     der[256];
    long       n;
    BIO       *bio;
    void      *data;
    mt_rc_t    rc;
    mt_str_t   raw;
    EVP_PKEY  *k;

    k = EVP_RSA_gen(2048);
    b64_pubkey(k, b64);
    raw.data = (u_char *) b64;
    raw.len = strlen(b64);
    data = NULL;
    rc = mt_sendgrid_key(&raw, &data, err, sizeof(err));
    ok(rc != MT_OK && data == NULL, "key: an RSA key is refused (%s)", err);
    EVP_PKEY_free(k);

    k = EVP_EC_gen("P-384");
    b64_pubkey(k, b64);
    raw.len = strlen(b64);
    rc = mt_sendgrid_key(&raw, &data, err, sizeof(err));
    ok(rc != MT_OK, "key: a P-384 key is refused (%s)", err);
    EVP_PKEY_free(k);

    mt_str_set(&raw, "not base64!");
    rc = mt_sendgrid_key(&raw, &data, err, sizeof(err));
    ok(rc != MT_OK, "key: garbage is refused (%s)", err);

    mt_str_set(&raw, "AAAA");
    rc = mt_sendgrid_key(&raw, &data, err, sizeof(err));
    ok(rc != MT_OK, "key: base64 that is no DER is refused (%s)", err);

    mt_str_set(&raw, "");
    rc = mt_sendgrid_key(&raw, &data, err, sizeof(err));
    ok(rc != MT_OK, "key: empty is refused");

    n = mt_base64_decode(der, (u_char *) VEC_KEY, strlen(VEC_KEY));
    der[n] = 0; der[n + 1] = 0; der[n + 2] = 0;
    raw.data = (u_char *) b64;
    raw.len = mt_base64_encode((u_char *) b64, der, n + 3);
    rc = mt_sendgrid_key(&raw, &data, err, sizeof(err));
    ok(rc != MT_OK, "key: trailing bytes after the DER are refused");

    mt_str_set(&raw, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC "
               "KEY-----\n");
    rc = mt_sendgrid_key(&raw, &data, err, sizeof(err));
    ok(rc != MT_OK, "key: a broken PEM is refused (%s)", err);

    mt_str_set(&raw, "-----BEGIN PUBLIC KEY-----");
    rc = mt_sendgrid_key(&raw, &data, err, sizeof(err));
    ok(rc != MT_OK && strstr(err, "the base64 line") != NULL,
       "key: a PEM armour line alone says what to do (%s)", err);

    /* the fresh key as PEM, and as base64 wrapped over lines */

    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, priv);
    n = BIO_get_mem_data(bio, &pem);
    raw.data = (u_char *) pem;
    raw.len = n;
    data = NULL;
    rc = mt_sendgrid_key(&raw, &data, err, sizeof(err));
    ok(rc == MT_OK && data != NULL, "key: PEM of a fresh key");
    mt_sendgrid_key_free(data);
    BIO_free(bio);

    snprintf(b64, sizeof(b64), "  %.40s\r\n%s\n", pub_b64, pub_b64 + 40);
    raw.data = (u_char *) b64;
    raw.len = strlen(b64);
    data = NULL;
    rc = mt_sendgrid_key(&raw, &data, err, sizeof(err));
    ok(rc == MT_OK && data != NULL, "key: base64 with line breaks");
    mt_sendgrid_key_free(data);
}


static void
test_auth(mt_wh_conf_t *conf)
{
    char          body[] = "[{\"event\":\"delivered\",\"email\":\"a@x.org\","
                           "\"timestamp\":1764000000}]\r\n";
    char          ts[32], shifted[64];
    mt_rc_t       rc;
    mt_wh_key_t   keys[2], key2;
    mt_wh_conf_t  c2;

    rc = run_str(conf, body);
    is_int(rc, MT_OK, "auth: fresh key verifies");
    is_int(T.nevents, 1, "auth: one event");

    /* forged: signed with another key */

    snprintf(tsbuf, sizeof(tsbuf), "%d", NOW);
    sign(priv2, tsbuf, body, strlen(body), sigbuf);
    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, tsbuf);
    wh_header(&T, SG_SIG_HDR, sigbuf);
    rc = wh_run(&T, conf, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "auth: another key's signature fails");
    is_int(T.nevents, 0, "auth: no events from a forgery");

    /* rotation: either configured key verifies */

    wh_conf(&c2, &key2, MT_SRC_SENDGRID, pub2_b64);
    keys[0] = key2;
    keys[1] = conf->keys[0];
    c2.keys = keys;
    c2.nkeys = 2;

    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, tsbuf);
    wh_header(&T, SG_SIG_HDR, sigbuf);
    rc = wh_run(&T, &c2, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_OK, "auth: the second key signs, the first verifies");

    sign(priv, tsbuf, body, strlen(body), sigbuf);
    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, tsbuf);
    wh_header(&T, SG_SIG_HDR, sigbuf);
    rc = wh_run(&T, &c2, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_OK, "auth: the first key signs, the second verifies");

    mt_sendgrid_key_free(key2.data);

    /* one changed byte, anywhere */

    sign(priv, tsbuf, body, strlen(body), sigbuf);
    body[3] = 'E';
    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, tsbuf);
    wh_header(&T, SG_SIG_HDR, sigbuf);
    rc = wh_run(&T, conf, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "auth: one changed body byte fails");
    body[3] = 'e';

    /* the trailing CRLF is signed: stripping it breaks the signature */

    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, tsbuf);
    wh_header(&T, SG_SIG_HDR, sigbuf);
    rc = wh_run(&T, conf, SG_JSON, body, strlen(body) - 2, NOW);
    is_int(rc, MT_ERR_SIGNATURE, "auth: trailing CRLF stripped fails");

    /* missing headers */

    wh_reset(&T);
    wh_header(&T, SG_SIG_HDR, sigbuf);
    rc = wh_run(&T, conf, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "auth: no timestamp header");

    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, tsbuf);
    rc = wh_run(&T, conf, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "auth: no signature header");

    wh_reset(&T);
    rc = wh_run(&T, conf, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE_MISSING, "auth: no headers (Test "
           "Integration before Save)");

    /* header names are matched whatever their case */

    wh_reset(&T);
    wh_header(&T, "X-Twilio-Email-Event-Webhook-Timestamp", tsbuf);
    wh_header(&T, "X-Twilio-Email-Event-Webhook-Signature", sigbuf);
    rc = wh_run(&T, conf, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_OK, "auth: mixed-case header names");

    /* garbage in the headers */

    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, "1764000000x");
    wh_header(&T, SG_SIG_HDR, sigbuf);
    rc = wh_run(&T, conf, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "auth: timestamp not a number");

    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, " 1764000000");
    wh_header(&T, SG_SIG_HDR, sigbuf);
    rc = wh_run(&T, conf, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "auth: timestamp with a space");

    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, tsbuf);
    wh_header(&T, SG_SIG_HDR, "not*base64");
    rc = wh_run(&T, conf, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "auth: signature not base64");

    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, tsbuf);
    wh_header(&T, SG_SIG_HDR, "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7R"
              "AwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=MEUCIQCtIHJeH9"
              "3Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsb"
              "VRamr2nlxFDWYNH2j/0=");
    rc = wh_run(&T, conf, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "auth: oversized signature");

    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, tsbuf);
    wh_header(&T, SG_SIG_HDR, "AAAA");
    rc = wh_run(&T, conf, SG_JSON, body, strlen(body), NOW);
    is_int(rc, MT_ERR_SIGNATURE, "auth: signature that is no DER");

    /* stale, future, tolerance off */

    rc = run_signed(conf, SG_JSON, body, strlen(body), NOW - 25 * 3600 - 1,
                    NOW);
    is_int(rc, MT_ERR_STALE, "time: older than the 25 h default is stale");

    rc = run_signed(conf, SG_JSON, body, strlen(body), NOW - 25 * 3600 + 5,
                    NOW);
    is_int(rc, MT_OK, "time: inside the retry window is fine");

    rc = run_signed(conf, SG_JSON, body, strlen(body), NOW + 301, NOW);
    is_int(rc, MT_ERR_FUTURE, "time: more than 5 min ahead is future");

    rc = run_signed(conf, SG_JSON, body, strlen(body), NOW + 299, NOW);
    is_int(rc, MT_OK, "time: a little clock skew is fine");

    conf->tolerance = 0;
    rc = run_signed(conf, SG_JSON, body, strlen(body), 1000000000, NOW);
    is_int(rc, MT_OK, "time: tolerance 0 disables the check");

    /*
     * Moving the boundary between timestamp and body keeps the signed
     * bytes; the body then is no JSON array.
     */

    snprintf(ts, sizeof(ts), "1764000000");
    snprintf(shifted, sizeof(shifted), "[{\"event\":\"open\"}]");
    sign(priv, ts, shifted, strlen(shifted), sigbuf);
    wh_reset(&T);
    wh_header(&T, SG_TS_HDR, "176400000");
    wh_header(&T, SG_SIG_HDR, sigbuf);
    snprintf(shifted, sizeof(shifted), "0[{\"event\":\"open\"}]");
    rc = wh_run(&T, conf, SG_JSON, shifted, strlen(shifted), NOW);
    ok(rc != MT_OK && T.nevents == 0, "attack: shifted boundary is "
       "refused (%s)", mt_rc_name(rc));

    conf->tolerance = 25 * 3600;

    /* content types */

    rc = run_signed(conf, "application/json; charset=utf-8", body,
                    strlen(body), NOW, NOW);
    is_int(rc, MT_OK, "ct: parameters allowed");

    rc = run_signed(conf, "Application/JSON", body, strlen(body), NOW, NOW);
    is_int(rc, MT_OK, "ct: case-insensitive");

    rc = run_signed(conf, "application/vnd.sendgrid+json", body,
                    strlen(body), NOW, NOW);
    is_int(rc, MT_OK, "ct: a +json suffix");

    rc = run_signed(conf, "text/plain", body, strlen(body), NOW, NOW);
    is_int(rc, MT_ERR_CONTENT_TYPE, "ct: text/plain refused");

    rc = run_signed(conf, "application/x-www-form-urlencoded", body,
                    strlen(body), NOW, NOW);
    is_int(rc, MT_ERR_CONTENT_TYPE, "ct: form refused");

    rc = run_signed(conf, NULL, body, strlen(body), NOW, NOW);
    is_int(rc, MT_ERR_CONTENT_TYPE, "ct: absent refused");

    rc = run_signed(conf, "application/jsonx", body, strlen(body), NOW, NOW);
    is_int(rc, MT_ERR_CONTENT_TYPE, "ct: application/jsonx refused");

    rc = run_signed(conf, "text/+json", body, strlen(body), NOW, NOW);
    is_int(rc, MT_ERR_CONTENT_TYPE, "ct: text/+json refused");
}


static void
test_bodies(mt_wh_conf_t *conf)
{
    char     *big, *p;
    size_t    i, n;
    mt_rc_t   rc;
    int       distinct;

    /* a real multi-event body: CRLF after each event, and at the end */

    rc = run_str(conf,
        "[{\"email\":\"a@example.com\",\"timestamp\":1764000000,"
        "\"event\":\"processed\",\"sg_message_id\":\"abcDEF123.filterdrecv-"
        "5645d9c87f-xyz-1-5F2B0D5C-4.0\",\"mail_track_id\":\"m-1\"},\r\n"
        "{\"email\":\"a@example.com\",\"timestamp\":1764000001,"
        "\"event\":\"delivered\",\"response\":\"250 2.0.0 OK\","
        "\"sg_message_id\":\"abcDEF123.filterdrecv-5645d9c87f-xyz-1-5F2B0D5C-"
        "4.0\",\"mail_track_id\":\"m-1\"},\r\n"
        "{\"email\":\"b@example.com\",\"timestamp\":1764000002,"
        "\"event\":\"open\",\"sg_message_id\":\"14c5d75ce93.dfd.64b469."
        "filter0001.16648.5515E0B88.0\"}\r\n]\r\n");
    is_int(rc, MT_OK, "crlf: multi-event CRLF body verifies");
    is_int(T.nevents, 3, "crlf: three events");
    is_int(T.events[0].type, MT_EV_SENT, "crlf: processed is sent");
    is_str(T.events[0].mid, "m-1", "crlf: mid from the custom argument");
    is_str(T.events[0].esp_mid, "abcDEF123", "crlf: esp_mid cut at .filter");
    is_int(T.events[0].ts, 1764000000000LL, "crlf: ts in ms");
    is_str(T.events[0].rcpt, "a@example.com", "crlf: rcpt");
    is_int(T.events[1].type, MT_EV_DELIVERED, "crlf: delivered");
    is_int(T.events[1].smtp_code, 250, "crlf: delivered smtp code");
    is_str(T.events[1].smtp_status, "2.0.0", "crlf: delivered status");
    is_str(T.events[1].reason, "250 2.0.0 OK", "crlf: response as reason");
    is_str(T.events[2].mid, "14c5d75ce93.dfd.64b469",
           "crlf: no custom argument: mid is the cut sg_message_id");
    is_str(T.events[2].esp_mid, NULL, "crlf: esp_mid then absent");
    is_int(T.events[0].src, MT_SRC_SENDGRID, "crlf: src");
    is_int(T.events[0].rt, NOW * 1000LL, "crlf: rt");

    rc = run_str(conf, "[]");
    is_int(rc, MT_OK, "empty array: ok");
    is_int(T.nevents, 0, "empty array: no events");

    rc = run_str(conf, " \r\n[ ]\r\n");
    is_int(rc, MT_OK, "empty array with whitespace: ok");

    rc = run_str(conf, "");
    is_int(rc, MT_ERR_BODY_EMPTY, "empty body");

    rc = run_str(conf, "\r\n");
    is_int(rc, MT_ERR_BODY_EMPTY, "whitespace body");

    rc = run_str(conf, "[{\"event\":\"open\"},");
    is_int(rc, MT_ERR_JSON, "truncated JSON");
    is_int(T.nevents, 0, "truncated JSON: nothing emitted");

    rc = run_str(conf, "[{\"event\":open}]");
    is_int(rc, MT_ERR_JSON, "malformed JSON");

    rc = run_str(conf, "[{\"event\":\"open\"}] x");
    is_int(rc, MT_ERR_JSON, "trailing garbage");

    rc = run_str(conf, "\"open\"");
    ok(rc == MT_ERR_JSON || rc == MT_ERR_PAYLOAD, "a string is no batch");

    rc = run_str(conf, "[{\"event\":\"open\"},1]");
    is_int(rc, MT_ERR_PAYLOAD, "a number in the batch");
    is_int(T.nevents, 0, "bad element: nothing emitted at all");

    rc = run_str(conf, "[{\"event\":\"open\"},{\"email\":\"a@b\"}]");
    is_int(rc, MT_ERR_PAYLOAD, "an event without a name");
    is_int(T.nevents, 0, "nameless event: nothing emitted at all");

    rc = run_str(conf, "[{\"event\":7}]");
    is_int(rc, MT_ERR_PAYLOAD, "an event name that is no string");

    rc = run_str(conf, "[{\"event\":\"\"}]");
    is_int(rc, MT_ERR_PAYLOAD, "an empty event name");

    rc = run_str(conf, "[{\"event\":\"brand_new_event\",\"email\":\"a@b\"}]");
    is_int(rc, MT_OK, "unknown event accepted");
    is_int(T.events[0].type, MT_EV_OTHER, "unknown event: other");
    is_str(T.events[0].esp_type, "brand_new_event", "unknown event: esp_type");

    /* non-UTF-8: repaired, kept */

    rc = run_str(conf, "[{\"event\":\"bounce\",\"email\":\"a@b\",\"reason\":"
                 "\"550 5.1.1 Benutzer unbekannt \xfc\xe4\",\"status\":"
                 "\"5.1.1\"}]");
    is_int(rc, MT_OK, "latin-1: accepted");
    is_int(T.nevents, 1, "latin-1: event kept");
    ok(T.events[0].reason.len > 0
       && memmem(T.events[0].reason.data, T.events[0].reason.len,
                 "\xef\xbf\xbd", 3) != NULL, "latin-1: repaired with U+FFFD");
    is_int(T.events[0].bounce, MT_BOUNCE_HARD, "latin-1: still classified");

    /* integers past 2^53 stay exact */

    rc = run_str(conf, "[{\"event\":\"open\",\"mail_track_id\":"
                 "9007199254740993,\"asm_group_id\":9223372036854775807}]");
    is_int(rc, MT_OK, "big int: accepted");
    is_str(T.events[0].mid, "9007199254740993", "big int: mid exact");

    rc = run_str(conf, "[{\"event\":\"open\",\"mail_track_id\":"
                 "99999999999999999999999}]");
    is_int(rc, MT_ERR_JSON, "big int: beyond int64 is a JSON error");

    /* a large batch */

    n = 1000;
    big = malloc(n * 200 + 16);
    p = big;
    *p++ = '[';

    for (i = 0; i < n; i++) {
        p += sprintf(p, "%s{\"email\":\"u%zu@example.com\",\"timestamp\":"
                     "1764000000,\"event\":\"click\",\"url\":\"https://e.x/"
                     "%zu\",\"sg_message_id\":\"m%zu.filter1\"}\r\n",
                     i ? "," : "", i, i % 7, i % 10);
    }

    *p++ = ']';
    *p = '\0';

    rc = run_signed(conf, SG_JSON, big, p - big, NOW, NOW);
    is_int(rc, MT_OK, "batch: 1000 events verify");
    is_int(T.nevents, 1000, "batch: 1000 events emitted");

    distinct = 1;
    for (i = 1; i < T.nevents; i++) {
        if (strcmp((char *) T.events[i].id.data,
                   (char *) T.events[i - 1].id.data) == 0)
        {
            distinct = 0;
        }
    }

    ok(distinct, "batch: distinct events have distinct ids");
    free(big);

    n = MT_WH_MAX_EVENTS + 1;
    big = malloc(n * 20 + 16);
    p = big;
    *p++ = '[';

    for (i = 0; i < n; i++) {
        p += sprintf(p, "%s{\"event\":\"open\"}", i ? "," : "");
    }

    *p++ = ']';

    rc = run_signed(conf, SG_JSON, big, p - big, NOW, NOW);
    is_int(rc, MT_ERR_TOO_MANY, "batch: more than the limit refused");
    is_int(T.nevents, 0, "batch: and nothing queued");
    free(big);

    /* an emit failure ends the batch with that code */

    T.emit_rc = MT_ERR_FULL;
    T.emit_limit = 1;
    rc = run_str(conf, "[{\"event\":\"open\"},{\"event\":\"click\"}]");
    is_int(rc, MT_ERR_FULL, "emit failure propagates");
    is_int(T.nevents, 1, "emit failure: stops after the first");
    T.emit_rc = MT_OK;
}


static void
test_fields(mt_wh_conf_t *conf)
{
    mt_str_t  id1, id2;
    char      a[40], b[40];

    ok(run_str(conf, "[{\"event\":\"open\",\"email\":\"a@b\",\"timestamp\":"
               "1764000000,\"ip\":\"192.0.2.1\",\"useragent\":\"Mozilla/5.0\","
               "\"sg_machine_open\":true,\"category\":[\"x\",\"y\",3,\"z\"]},"
               "{\"event\":\"open\",\"sg_machine_open\":false,"
               "\"category\":\"solo\"},{\"event\":\"open\"}]") == MT_OK,
       "open: accepted");
    is_int(T.events[0].type, MT_EV_OPENED, "open: type");
    is_int(T.events[0].machine, 1, "open: sg_machine_open true -> machine");
    is_str(T.events[0].why, "sg_machine_open", "open: why");
    is_str(T.events[0].ip, "192.0.2.1", "open: ip");
    is_str(T.events[0].ua, "Mozilla/5.0", "open: ua");
    is_str(T.events[0].tag, "x,y,z", "open: category array joined");
    is_int(T.events[1].machine, 0, "open: sg_machine_open false -> human");
    is_str(T.events[1].why, NULL, "open: no why when human");
    is_str(T.events[1].tag, "solo", "open: category string");
    is_int(T.events[2].machine, MT_MACHINE_UNKNOWN, "open: absent: unknown");

    ok(run_str(conf, "[{\"event\":\"click\",\"url\":\"https://e.x/a?b=1\","
               "\"ip\":\"2001:db8::1\",\"useragent\":\"UA\",\"url_offset\":"
               "{\"index\":0,\"type\":\"html\"}}]") == MT_OK, "click: ok");
    is_str(T.events[0].url, "https://e.x/a?b=1", "click: url");
    is_str(T.events[0].ip, "2001:db8::1", "click: ip");
    is_str(T.events[0].ua, "UA", "click: ua");

    ok(run_str(conf, "[{\"event\":\"delivered\",\"ip\":\"198.51.100.7\"}]")
       == MT_OK, "delivered: ok");
    is_str(T.events[0].ip, NULL, "delivered: the sending ip is not a client");

    ok(run_str(conf, "[{\"event\":\"deferred\",\"response\":\"421 4.7.0 "
               "try again later\",\"attempt\":\"3\"}]") == MT_OK,
       "deferred: ok");
    is_int(T.events[0].type, MT_EV_DEFERRED, "deferred: type");
    is_int(T.events[0].bounce, MT_BOUNCE_SOFT, "deferred: soft");
    is_int(T.events[0].smtp_code, 421, "deferred: code");
    is_str(T.events[0].smtp_status, "4.7.0", "deferred: status");

    ok(run_str(conf, "[{\"event\":\"dropped\",\"reason\":\"Bounced Address\","
               "\"status\":\"5.0.0\"}]") == MT_OK, "dropped: ok");
    is_int(T.events[0].type, MT_EV_REJECTED, "dropped: rejected");
    is_int(T.events[0].bounce, MT_BOUNCE_NONE, "dropped: no bounce class");
    is_str(T.events[0].reason, "Bounced Address", "dropped: reason");

    ok(run_str(conf, "[{\"event\":\"bounce\",\"reason\":\"500 unknown "
               "recipient\",\"status\":\"5.0.0\",\"type\":\"bounce\"}]")
       == MT_OK, "bounce: ok");
    is_int(T.events[0].smtp_code, 500, "bounce: code from reason");
    is_str(T.events[0].smtp_status, "5.0.0", "bounce: status field");
    is_int(T.events[0].bounce, MT_BOUNCE_HARD, "bounce: 5.0.0 hard");

    /* the id: stable over what a retry changes, distinct otherwise */

    ok(run_str(conf, "[{\"event\":\"click\",\"email\":\"a@b\",\"timestamp\":"
               "1764000000,\"sg_message_id\":\"m.filter1\",\"url\":\"u1\","
               "\"sg_event_id\":\"AAAA\"},{\"event\":\"click\",\"email\":"
               "\"a@b\",\"timestamp\":1764000000,\"sg_message_id\":"
               "\"m.filter1\",\"url\":\"u1\",\"sg_event_id\":\"BBBB\"},"
               "{\"event\":\"click\",\"email\":\"a@b\",\"timestamp\":"
               "1764000000,\"sg_message_id\":\"m.filter1\",\"url\":\"u2\"},"
               "{\"event\":\"deferred\",\"email\":\"a@b\",\"timestamp\":"
               "1764000000,\"sg_message_id\":\"m.filter1\",\"attempt\":\"1\"},"
               "{\"event\":\"deferred\",\"email\":\"a@b\",\"timestamp\":"
               "1764000000,\"sg_message_id\":\"m.filter1\",\"attempt\":\"2\"},"
               "{\"event\":\"click\",\"email\":\"a@b\",\"timestamp\":"
               "1764000000,\"sg_message_id\":\"m.filter2\",\"url\":\"u1\"}]")
       == MT_OK, "id: batch ok");

    id1 = T.events[0].id;
    id2 = T.events[1].id;
    ok(id1.len == 32 && id2.len == 32 && memcmp(id1.data, id2.data, 32) == 0,
       "id: a retry with a new sg_event_id keeps the id");
    ok(memcmp(T.events[0].id.data, T.events[2].id.data, 32) != 0,
       "id: another url, another id");
    ok(memcmp(T.events[3].id.data, T.events[4].id.data, 32) != 0,
       "id: another deferral attempt, another id");
    ok(memcmp(T.events[0].id.data, T.events[5].id.data, 32) != 0,
       "id: another filter suffix (another recipient send), another id");

    memcpy(a, T.events[0].id.data, 32);
    a[32] = '\0';

    /* the same event in another request gets the same id */

    ok(run_str(conf, "[{\"sg_event_id\":\"CCCC\",\"url\":\"u1\",\"event\":"
               "\"click\",\"timestamp\":1764000000,\"email\":\"a@b\","
               "\"sg_message_id\":\"m.filter1\"}]") == MT_OK, "id: again");
    memcpy(b, T.events[0].id.data, 32);
    b[32] = '\0';
    ok(strcmp(a, b) == 0, "id: key order and sg_event_id do not matter");

    /* id_field is configurable, and an empty one is ignored */

    mt_str_set(&conf->id_field, "app_id");
    ok(run_str(conf, "[{\"event\":\"open\",\"app_id\":\"A-9\",\"mail_track_id"
               "\":\"no\",\"sg_message_id\":\"q.filter\"}]") == MT_OK,
       "id_field: ok");
    is_str(T.events[0].mid, "A-9", "id_field: the configured name");
    is_str(T.events[0].esp_mid, "q", "id_field: esp_mid kept");

    conf->id_field.len = 0;
    ok(run_str(conf, "[{\"event\":\"open\",\"app_id\":\"A-9\","
               "\"sg_message_id\":\"q.filter\"}]") == MT_OK,
       "id_field empty: ok");
    is_str(T.events[0].mid, "q", "id_field empty: mid is the ESP's");

    mt_str_set(&conf->id_field, "mail_track_id");

    ok(run_str(conf, "[{\"event\":\"open\",\"mail_track_id\":{\"x\":1}}]")
       == MT_OK, "id_field object: ok");
    is_str(T.events[0].mid, NULL, "id_field object: ignored");
}


/* every documented event name, and the bounce classes */

static void
test_table(mt_wh_conf_t *conf)
{
    size_t  i;
    char    body[512];

    static const struct {
        const char   *json;
        int           type;
        int           bounce;
        const char   *what;
    } tab[] = {
        { "\"event\":\"processed\"", MT_EV_SENT, 0, "processed" },
        { "\"event\":\"delivered\"", MT_EV_DELIVERED, 0, "delivered" },
        { "\"event\":\"deferred\"", MT_EV_DEFERRED, MT_BOUNCE_SOFT,
          "deferred" },
        { "\"event\":\"bounce\",\"type\":\"bounce\",\"status\":\"5.1.1\"",
          MT_EV_BOUNCED, MT_BOUNCE_HARD, "bounce 5.1.1" },
        { "\"event\":\"bounce\",\"type\":\"blocked\",\"status\":\"5.1.1\"",
          MT_EV_BOUNCED, MT_BOUNCE_BLOCK, "bounce type=blocked" },
        { "\"event\":\"bounce\",\"type\":\"bounce\",\"status\":\"5.7.1\"",
          MT_EV_BOUNCED, MT_BOUNCE_BLOCK, "bounce 5.7.1" },
        { "\"event\":\"bounce\",\"type\":\"bounce\",\"status\":\"5.2.2\"",
          MT_EV_BOUNCED, MT_BOUNCE_SOFT, "bounce 5.2.2 mailbox full" },
        { "\"event\":\"bounce\",\"type\":\"bounce\",\"status\":\"4.2.2\"",
          MT_EV_BOUNCED, MT_BOUNCE_SOFT, "bounce 4.x.x" },
        { "\"event\":\"bounce\",\"type\":\"bounce\"", MT_EV_BOUNCED,
          MT_BOUNCE_UNDETERMINED, "bounce with nothing to go by" },
        { "\"event\":\"bounce\",\"reason\":\"550 no such user\"",
          MT_EV_BOUNCED, MT_BOUNCE_HARD, "bounce code 550 only" },
        { "\"event\":\"bounce\",\"status\":\"4.0.0\","
          "\"bounce_classification\":\"Invalid Address\"", MT_EV_BOUNCED,
          MT_BOUNCE_HARD, "bounce Invalid Address" },
        { "\"event\":\"bounce\",\"status\":\"5.0.0\","
          "\"bounce_classification\":\"Reputation\"", MT_EV_BOUNCED,
          MT_BOUNCE_BLOCK, "bounce Reputation" },
        { "\"event\":\"bounce\",\"status\":\"5.0.0\","
          "\"bounce_classification\":\"content\"", MT_EV_BOUNCED,
          MT_BOUNCE_BLOCK, "bounce content (lowercase)" },
        { "\"event\":\"bounce\",\"status\":\"5.0.0\","
          "\"bounce_classification\":\"Frequency or Volume Too High\"",
          MT_EV_BOUNCED, MT_BOUNCE_SOFT, "bounce Frequency" },
        { "\"event\":\"bounce\","
          "\"bounce_classification\":\"Mailbox Unavailable\"", MT_EV_BOUNCED,
          MT_BOUNCE_SOFT, "bounce Mailbox Unavailable, no status" },
        { "\"event\":\"bounce\",\"status\":\"5.2.1\","
          "\"bounce_classification\":\"Mailbox Unavailable\"", MT_EV_BOUNCED,
          MT_BOUNCE_HARD, "bounce Mailbox Unavailable 5.2.1" },
        { "\"event\":\"bounce\","
          "\"bounce_classification\":\"Technical Failure\"", MT_EV_BOUNCED,
          MT_BOUNCE_SOFT, "bounce Technical Failure" },
        { "\"event\":\"bounce\",\"status\":\"5.1.1\","
          "\"bounce_classification\":\"Unclassified\"", MT_EV_BOUNCED,
          MT_BOUNCE_HARD, "bounce Unclassified 5.1.1" },
        { "\"event\":\"dropped\"", MT_EV_REJECTED, 0, "dropped" },
        { "\"event\":\"open\"", MT_EV_OPENED, 0, "open" },
        { "\"event\":\"click\"", MT_EV_CLICKED, 0, "click" },
        { "\"event\":\"spamreport\"", MT_EV_COMPLAINED, 0, "spamreport" },
        { "\"event\":\"unsubscribe\"", MT_EV_UNSUBSCRIBED, 0, "unsubscribe" },
        { "\"event\":\"group_unsubscribe\",\"asm_group_id\":1",
          MT_EV_UNSUBSCRIBED, 0, "group_unsubscribe" },
        { "\"event\":\"group_resubscribe\",\"asm_group_id\":1", MT_EV_OTHER,
          0, "group_resubscribe" },
        { "\"event\":\"account_status_change\"", MT_EV_OTHER, 0,
          "account_status_change" },
        { "\"event\":\"Open\"", MT_EV_OTHER, 0, "names are case-sensitive" },
    };

    for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        snprintf(body, sizeof(body), "[{%s,\"email\":\"t@x\"}]", tab[i].json);

        if (run_str(conf, body) != MT_OK || T.nevents != 1) {
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

    priv = EVP_EC_gen("P-256");
    priv2 = EVP_EC_gen("P-256");

    if (priv == NULL || priv2 == NULL) {
        return 1;
    }

    b64_pubkey(priv, pub_b64);
    b64_pubkey(priv2, pub2_b64);

    test_vector();
    test_keys();

    wh_conf(&conf, &key, MT_SRC_SENDGRID, pub_b64);
    is_int(conf.tolerance, 25 * 3600, "conf: default tolerance 25 h");

    test_auth(&conf);
    test_bodies(&conf);
    test_fields(&conf);
    test_table(&conf);

    mt_sendgrid_key_free(key.data);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(priv2);
    wh_free(&T);

    return done_testing();
}

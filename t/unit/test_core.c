
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The shared pieces of core/: base64, UTF-8, durations, the record
 * encoder, the webhook helpers and the machine-open classifier.
 */


#include "mt_tap.h"
#include "mt_base64.h"
#include "mt_cpu.h"
#include "mt_msgpack.h"
#include "mt_event.h"
#include "mt_classify.h"
#include "mt_wh_test.h"
#include "mt_hmac.h"


#define MT_TOKEN_TEST_MAX  512


static mt_str_t
S(const char *s)
{
    mt_str_t  r;

    r.data = (u_char *) s;
    r.len = s ? strlen(s) : 0;

    return r;
}


static void
test_base64(void)
{
    u_char   out[64];
    ssize_t  n;

    n = mt_base64_encode(out, (u_char *) "foob", 4);
    is_str(((mt_str_t) { n, out }), "Zm9vYg==", "base64 with padding");

    n = mt_base64url_encode(out, (u_char *) "\xfb\xff", 2);
    is_str(((mt_str_t) { n, out }), "-_8", "base64url without padding");

    n = mt_base64_decode(out, (u_char *) "Zm9vYg==", 8);
    is_str(((mt_str_t) { n, out }), "foob", "decode padded");

    n = mt_base64_decode(out, (u_char *) "Zm9vYg", 6);
    is_str(((mt_str_t) { n, out }), "foob", "decode unpadded");

    is_int(mt_base64_decode(out, (u_char *) "Zm9vYg=", 7), -1,
           "half padding refused");
    is_int(mt_base64_decode(out, (u_char *) "Zm9vYh==", 8), -1,
           "non-canonical trailing bits refused");
    is_int(mt_base64_decode(out, (u_char *) "Zm9v Yg==", 9), -1,
           "whitespace refused");
    is_int(mt_base64url_decode(out, (u_char *) "-_8", 3), 2,
           "base64url decodes");
    is_int(mt_base64url_decode(out, (u_char *) "+/8", 3), -1,
           "base64url refuses + and /");
    is_int(mt_base64_decode(out, (u_char *) "Z", 1), -1,
           "a lone character refused");
    is_int(mt_base64_decode(out, (u_char *) "", 0), 0, "empty is empty");

    n = mt_hex_encode(out, (u_char *) "\x00\xab", 2);
    is_str(((mt_str_t) { n, out }), "00ab", "hex");
}


/*
 * The vector decoder and the plain one: the same answer, byte for byte,
 * and nothing written past what the input can decode to.
 */

static int
b64_same(const u_char *src, size_t len)
{
    size_t         i;
    ssize_t        a, b;
    static u_char  x[MT_TOKEN_TEST_MAX], y[MT_TOKEN_TEST_MAX];

    mt_cpu_limit(0);
    memset(x, 0xaa, sizeof(x));
    a = mt_base64url_decode(x, src, len);

    mt_cpu_limit(~0u);
    memset(y, 0xaa, sizeof(y));
    b = mt_base64url_decode(y, src, len);

    if (a != b) {
        return 0;
    }

    if (a >= 0) {
        return memcmp(x, y, sizeof(x)) == 0;
    }

    for (i = mt_base64_decoded_len(len); i < sizeof(y); i++) {
        if (y[i] != 0xaa) {
            return 0;
        }
    }

    return 1;
}


static void
test_base64_vector(void)
{
    size_t    n, len, i, pos;
    unsigned  r, c, same, valid;
    uint64_t  seed;
    u_char    raw[400], src[600], back[400];

    seed = 0x9e3779b97f4a7c15ULL;
    same = 1;
    valid = 1;

    diag("AVX2 %s", (mt_cpu_features() & MT_CPU_AVX2) ? "present"
                                                       : "absent: plain C only");

    /* random bytes at every length, some with one byte changed */

    for (r = 0; r < 30000; r++) {
        n = tap_rand(&seed) % sizeof(raw);

        for (i = 0; i < n; i++) {
            raw[i] = (u_char) tap_rand(&seed);
        }

        len = mt_base64url_encode(src, raw, n);

        if (r % 2 == 0 && mt_base64url_decode(back, src, len) != (ssize_t) n)
        {
            valid = 0;
        }

        if (r % 2 == 0 && memcmp(back, raw, n) != 0) {
            valid = 0;
        }

        if (r % 3 == 0 && len) {
            src[tap_rand(&seed) % len] = (u_char) tap_rand(&seed);
        }

        if (r % 5 == 0) {
            src[len++] = '=';
        }

        if (!b64_same(src, len)) {
            same = 0;
        }
    }

    /* each byte value at each place: vector steps, the padded last one */

    for (i = 0; i < 110; i++) {
        raw[i] = (u_char) (i * 7);
    }

    len = mt_base64url_encode(src, raw, 110);

    for (pos = 0; pos < len; pos++) {
        for (c = 0; c < 256; c++) {
            memcpy(back, src, len);
            back[pos] = (u_char) c;

            if (!b64_same(back, len)) {
                same = 0;
            }
        }
    }

    ok(valid, "base64url: 15,000 random strings decode back");
    ok(same, "base64url: the vector decoder answers as the plain one "
       "(67,000 inputs)");
}


static void
test_utf8_and_numbers(void)
{
    u_char  out[64];
    size_t  n;

    ok(mt_utf8_valid((u_char *) "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80",
                     15),
       "valid UTF-8");
    ok(!mt_utf8_valid((u_char *) "caf\xe9", 4), "Latin-1 is not UTF-8");
    ok(!mt_utf8_valid((u_char *) "\xc0\xaf", 2), "overlong refused");
    ok(!mt_utf8_valid((u_char *) "\xed\xa0\x80", 3), "surrogates refused");
    ok(!mt_utf8_valid((u_char *) "\xe2\x82", 2), "truncated sequence");

    n = mt_utf8_repair(out, (u_char *) "caf\xe9!", 5);
    is_str(((mt_str_t) { n, out }), "caf\xef\xbf\xbd!",
           "repaired with U+FFFD");

    is_int(mt_parse_duration((u_char *) "30d", 3), 30 * 86400, "30d");
    is_int(mt_parse_duration((u_char *) "90", 2), 90, "90");
    is_int(mt_parse_duration((u_char *) "15m", 3), 900, "15m");
    is_int(mt_parse_duration((u_char *) "2h", 2), 7200, "2h");
    is_int(mt_parse_duration((u_char *) "1w", 2), 604800, "1w");
    is_int(mt_parse_duration((u_char *) "d", 1), -1, "unit alone");
    is_int(mt_parse_duration((u_char *) "-5m", 3), -1, "negative");
    is_int(mt_parse_duration((u_char *) "5x", 2), -1, "unknown unit");

    is_int(mt_atoi64((u_char *) "1588788367", 10), 1588788367, "atoi64");
    is_int(mt_atoi64((u_char *) "12a", 3), -1, "atoi64 refuses junk");
    is_int(mt_atoi64((u_char *) "", 0), -1, "atoi64 refuses empty");

    n = mt_percent_decode(out, (u_char *) "a%2F%2fb+c%41", 13);
    is_str(((mt_str_t) { n, out }), "a//b+cA",
           "percent-decoded, either case, + kept");
    is_int(mt_percent_decode(out, (u_char *) "a%zzb", 5), -1,
           "a bad escape refused");
    is_int(mt_percent_decode(out, (u_char *) "a%4", 3), -1,
           "a cut escape refused");
    is_int(mt_percent_decode(out, (u_char *) "%", 1), -1,
           "a lone % refused");
}


/* decodes a record with the bounded reader: key -> printable value */

static int
record_get(const u_char *rec, size_t len, const char *key, char *out,
    size_t outlen)
{
    uint32_t        n;
    int64_t         v;
    mt_str_t        k, s;
    mt_mp_reader_t  r;

    r.pos = rec;
    r.end = rec + len;

    if (mt_mp_read_map(&r, &n) != 0) {
        return -1;
    }

    while (n--) {
        if (mt_mp_read_str(&r, &k) != 0) {
            return -1;
        }

        if (k.len == strlen(key) && memcmp(k.data, key, k.len) == 0) {
            if (mt_mp_read_str(&r, &s) == 0) {
                snprintf(out, outlen, "%.*s", (int) s.len, s.data);
                return 0;
            }

            if (mt_mp_read_int(&r, &v) == 0) {
                snprintf(out, outlen, "%lld", (long long) v);
                return 0;
            }

            if (*r.pos == 0xc3 || *r.pos == 0xc2) {
                snprintf(out, outlen, "%s", *r.pos == 0xc3 ? "true" : "false");
                return 0;
            }

            return -1;
        }

        if (mt_mp_skip(&r, 4) != 0) {
            return -1;
        }
    }

    return 1;
}


static void
test_event(void)
{
    char        val[9000];
    ssize_t     n;
    size_t      i;
    mt_event_t  ev;
    u_char      rec[MT_RECORD_MAX];
    u_char      big[20000];

    mt_event_init(&ev);

    ev.id = S("e-1");
    ev.rt = 1764000000123LL;
    ev.src = MT_SRC_SENDGRID;
    ev.type = MT_EV_BOUNCED;
    ev.esp_type = S("bounce");
    ev.mid = S("m-1");
    ev.rcpt = S("a@example.com");
    ev.bounce = MT_BOUNCE_HARD;
    ev.smtp_status = S("5.1.1");
    ev.smtp_code = 550;
    ev.machine = 0;

    n = mt_event_encode(&ev, rec, sizeof(rec));
    ok(n > 0, "record encodes (%d bytes)", (int) n);

    ok(record_get(rec, n, "v", val, sizeof(val)) == 0
       && strcmp(val, "1") == 0, "v = 1");
    ok(record_get(rec, n, "src", val, sizeof(val)) == 0
       && strcmp(val, "sendgrid") == 0, "src");
    ok(record_get(rec, n, "type", val, sizeof(val)) == 0
       && strcmp(val, "bounced") == 0, "type");
    ok(record_get(rec, n, "bounce", val, sizeof(val)) == 0
       && strcmp(val, "hard") == 0, "bounce");
    ok(record_get(rec, n, "smtp_code", val, sizeof(val)) == 0
       && strcmp(val, "550") == 0, "smtp_code");
    ok(record_get(rec, n, "rt", val, sizeof(val)) == 0
       && strcmp(val, "1764000000123") == 0, "rt in ms");
    ok(record_get(rec, n, "machine", val, sizeof(val)) == 0
       && strcmp(val, "false") == 0, "machine false is kept");
    is_int(record_get(rec, n, "ts", val, sizeof(val)), 1, "unknown ts absent");
    is_int(record_get(rec, n, "url", val, sizeof(val)), 1, "no url");
    is_int(record_get(rec, n, "esp_mid", val, sizeof(val)), 1, "no esp_mid");

    ok(n > 4 && rec[0] >= 0x80 && rec[0] <= 0x8f && rec[1] == 0xa1
       && rec[2] == 'v' && rec[3] == 0x01,
       "a record starts with map, \"v\", 1 (readers resync on it)");

    /* caps cut at a character boundary */

    for (i = 0; i + 3 <= sizeof(big); i += 3) {
        memcpy(big + i, "\xe2\x82\xac", 3);
    }

    ev.url.data = big;
    ev.url.len = 19998;
    ev.reason = ev.url;
    ev.ua = ev.url;

    n = mt_event_encode(&ev, rec, sizeof(rec));
    ok(n > 0 && n <= MT_RECORD_MAX, "long fields are capped");

    ok(record_get(rec, n, "url", val, sizeof(val)) == 0
       && strlen(val) == 8190 && mt_utf8_valid((u_char *) val, strlen(val)),
       "url capped to 8190 bytes at a boundary (%d)", (int) strlen(val));

    ok(record_get(rec, n, "reason", val, sizeof(val)) == 0
       && strlen(val) == 2046, "reason capped");

    is_int(mt_event_encode(&ev, rec, 100), -1, "a small buffer fails cleanly");

    is_int(mt_event_type_by_name((u_char *) "complained", 10), MT_EV_COMPLAINED,
           "type by name");
    is_int(mt_src_by_name((u_char *) "resend", 6), MT_SRC_RESEND,
           "src by name");
}


/* a JSON value from its text, parsed as a body is */

static mt_json_t
V(const char *text)
{
    wh_test_t  t;
    mt_json_t  v;

    memset(&t, 0, sizeof(t));
    t.wh.alloc.alloc = wh_test_alloc;
    t.wh.alloc.data = &t;

    if (mt_wh_json_load(&t.wh, (u_char *) text, strlen(text), &v) != MT_OK) {
        diag("cannot parse %s", text);
        v = mt_json_none;
    }

    return v;
}


static void
test_times(void)
{
    is_int(mt_time_iso8601_ms((u_char *) "2017-08-05T00:41:02.669Z", 24),
           1501893662669LL, "ISO 8601 with ms");
    is_int(mt_time_iso8601_ms((u_char *) "2014-08-01T13:28:10.2735393-04:00",
                              33),
           1406914090273LL, "ISO 8601 with 7 digits and an offset");
    is_int(mt_time_iso8601_ms((u_char *) "2024-01-01 10:00:00", 19),
           1704103200000LL, "space separated, UTC");
    is_int(mt_time_iso8601_ms((u_char *) "2024-01-01T10:00:00+0130", 24),
           1704097800000LL, "offset without colon");
    is_int(mt_time_iso8601_ms((u_char *) "2024-13-01T10:00:00Z", 20), 0,
           "month 13");
    is_int(mt_time_iso8601_ms((u_char *) "yesterday", 9), 0, "not a time");

    is_int(mt_json_time_ms(V("1534110422.389832")), 1534110422390LL,
           "float seconds");
    is_int(mt_json_time_ms(V("1513299569")), 1513299569000LL,
           "integer seconds");
    is_int(mt_json_time_ms(V("\"1460989507\"")), 1460989507000LL,
           "seconds as a string");
    is_int(mt_json_time_ms(V("\"1534110422.5\"")), 1534110422500LL,
           "fractional string");
    is_int(mt_json_time_ms(V("\"2023-10-01T20:01:01.598Z\"")),
           1696190461598LL, "ISO string");
    is_int(mt_json_time_ms(V("true")), 0, "not a time");
}


static void
smtp(const char *text, const char *status, int code)
{
    int       c;
    mt_str_t  t, s = mt_null_string;

    t = S(text);
    c = 0;

    mt_smtp_parse(&t, &s, &c);

    is_str(s, status, "status of \"%s\"", text);
    is_int(c, code, "code of \"%s\"", text);
}


static void
test_smtp(void)
{
    mt_str_t  s;

    smtp("550 5.1.1 user unknown", "5.1.1", 550);
    smtp("smtp; 550 5.1.1 <a@b>: Recipient address rejected", "5.1.1", 550);
    smtp("250 2.0.0 OK 1234", "2.0.0", 250);
    smtp("421-4.7.0 Try again later", "4.7.0", 421);
    smtp("5.2.2", "5.2.2", 0);
    smtp("250 OK", NULL, 250);
    smtp("500 unknown recipient", NULL, 500);
    smtp("mailbox 1.2.3.4 is full", NULL, 0);
    smtp("version 10.5.1.2 of something", NULL, 0);
    smtp("Message expired (4.4.7)", "4.4.7", 0);
    smtp("", NULL, 0);

    s = S("5.1.1");
    is_int(mt_bounce_classify(&s, 550), MT_BOUNCE_HARD, "5.1.1 hard");
    s = S("5.2.2");
    is_int(mt_bounce_classify(&s, 552), MT_BOUNCE_SOFT, "5.2.2 mailbox full");
    s = S("5.7.1");
    is_int(mt_bounce_classify(&s, 550), MT_BOUNCE_BLOCK, "5.7.1 block");
    s = S("4.2.2");
    is_int(mt_bounce_classify(&s, 452), MT_BOUNCE_SOFT, "4.x.x soft");
    s = S("5.1.10");
    is_int(mt_bounce_classify(&s, 0), MT_BOUNCE_HARD, "5.1.10 hard");
    s = S(NULL);
    is_int(mt_bounce_classify(&s, 554), MT_BOUNCE_HARD, "554 alone");
    is_int(mt_bounce_classify(&s, 421), MT_BOUNCE_SOFT, "421 alone");
    is_int(mt_bounce_classify(&s, 0), MT_BOUNCE_UNDETERMINED, "nothing");
}


static void
test_wh_helpers(void)
{
    size_t        i;
    wh_test_t     t;
    mt_wh_conf_t  conf;
    mt_wh_key_t   keys[2];
    mt_str_t      id1, id2, f[3];
    mt_json_t     root;
    const char   *text;

    memset(&t, 0, sizeof(t));
    memset(&conf, 0, sizeof(conf));

    conf.provider = MT_SRC_POSTMARK;
    keys[0].raw = S("s3cret");
    keys[1].raw = S("ops:pa55");
    conf.keys = keys;
    conf.nkeys = 2;

    t.wh.conf = &conf;
    t.wh.header = wh_test_header;
    t.wh.alloc.alloc = wh_test_alloc;
    t.wh.alloc.data = &t;
    t.wh.data = &t;

    is_int(mt_wh_check_credential(&t.wh), MT_ERR_AUTH_MISSING,
           "no Authorization");

    /* "anyone:s3cret" */
    wh_header(&t, "authorization", "Basic YW55b25lOnMzY3JldA==");
    is_int(mt_wh_check_credential(&t.wh), MT_OK, "basic password matches");
    ok(t.wh.basic_auth, "a challenge goes with a refusal");
    wh_reset(&t);

    /* "anyone:wrong" */
    wh_header(&t, "authorization", "Basic YW55b25lOndyb25n");
    is_int(mt_wh_check_credential(&t.wh), MT_ERR_AUTH_FAILED,
           "wrong password");
    wh_reset(&t);

    /* "ops:pa55" and "dev:pa55" */
    wh_header(&t, "authorization", "Basic b3BzOnBhNTU=");
    is_int(mt_wh_check_credential(&t.wh), MT_OK, "user:password key");
    wh_reset(&t);

    wh_header(&t, "authorization", "Basic ZGV2OnBhNTU=");
    is_int(mt_wh_check_credential(&t.wh), MT_ERR_AUTH_FAILED,
           "user:password key needs the user too");
    wh_reset(&t);

    wh_header(&t, "authorization", "Bearer s3cret");
    is_int(mt_wh_check_credential(&t.wh), MT_OK, "bearer token");
    wh_reset(&t);

    wh_header(&t, "authorization", "Bearer s3cre");
    is_int(mt_wh_check_credential(&t.wh), MT_ERR_AUTH_FAILED,
           "bearer prefix of the key");
    wh_reset(&t);

    wh_header(&t, "authorization", "Basic !!!");
    is_int(mt_wh_check_credential(&t.wh), MT_ERR_AUTH_FAILED,
           "garbage basic");
    wh_reset(&t);

    wh_header(&t, "authorization", "Digest x");
    is_int(mt_wh_check_credential(&t.wh), MT_ERR_AUTH_FAILED,
           "another scheme");
    wh_reset(&t);

    conf.nkeys = 0;
    is_int(mt_wh_check_credential(&t.wh), MT_ERR_AUTH_MISSING,
           "no key, auth on: refused");
    conf.auth_off = 1;
    is_int(mt_wh_check_credential(&t.wh), MT_OK,
           "no key, auth off: accepted");

    /* timestamps */

    conf.tolerance = 300;
    t.wh.now_ms = 1800000000000LL;
    is_int(mt_wh_check_time(&t.wh, 1800000000 - 300), MT_OK, "edge of window");
    is_int(mt_wh_check_time(&t.wh, 1800000000 - 301), MT_ERR_STALE, "stale");
    is_int(mt_wh_check_time(&t.wh, 1800000000 + 300), MT_OK, "future edge");
    is_int(mt_wh_check_time(&t.wh, 1800000000 + 301), MT_ERR_FUTURE,
           "future");

    conf.tolerance = 9 * 3600;
    is_int(mt_wh_check_time(&t.wh, 1800000000 + 301), MT_ERR_FUTURE,
           "a long tolerance still allows only 5 minutes ahead");
    is_int(mt_wh_check_time(&t.wh, 1800000000 - 8 * 3600), MT_OK,
           "8 hours old within 9");

    conf.tolerance = 0;
    is_int(mt_wh_check_time(&t.wh, 1), MT_OK, "tolerance 0: no check");

    /* content types */

    t.wh.content_type = S("Application/JSON; charset=utf-8");
    ok(mt_wh_content_type_is(&t.wh, "application/json"), "json with params");
    t.wh.content_type = S("application/jsonx");
    ok(!mt_wh_content_type_is(&t.wh, "application/json"), "jsonx is not");

    /* JSON */

    is_int(mt_wh_json_load(&t.wh, (u_char *) " \r\n", 3, &root),
           MT_ERR_BODY_EMPTY, "whitespace only is empty");
    is_int(mt_wh_json_load(&t.wh, (u_char *) "[{\"a\":", 6, &root),
           MT_ERR_JSON, "truncated JSON");
    ok(t.wh.detail.len > 0, "with a detail for the log");

    if (mt_wh_json_load(&t.wh, (u_char *) "{\"a\":\"caf\xe9\"}", 12, &root)
        == MT_OK)
    {
        is_str(mt_json_str(root, "a"), "caf\xef\xbf\xbd",
               "invalid UTF-8 repaired, not refused");

    } else {
        ok(0, "invalid UTF-8 repaired, not refused");
    }

    if (mt_wh_json_load(&t.wh, (u_char *) "{\"n\":19421777396190490}", 23,
                        &root)
        == MT_OK)
    {
        is_str(mt_json_str_value(&t.wh, mt_json_get(root, "n")),
               "19421777396190490", "an integer beyond 2^53 stays exact");

    } else {
        ok(0, "big integer");
    }

    /* bad input: each refused with a detail that names it */

    is_int(mt_wh_json_load(&t.wh, (u_char *) "[\"\\udc00\"]", 10, &root),
           MT_ERR_JSON, "a lone surrogate escape");
    ok(t.wh.detail.len && memmem(t.wh.detail.data, t.wh.detail.len,
                                 "surrogate", 9) != NULL,
       "named in the detail");
    is_int(mt_wh_json_load(&t.wh, (u_char *) "{\"n\":18446744073709551616}",
                           26, &root),
           MT_ERR_JSON, "an integer of 65 bits");
    ok(t.wh.detail.len && memmem(t.wh.detail.data, t.wh.detail.len,
                                 "64-bit", 6) != NULL,
       "named in the detail");

    text = "{\"n\":18446744073709551615,\"m\":-9223372036854775808}";

    if (mt_wh_json_load(&t.wh, (u_char *) text, strlen(text), &root)
        == MT_OK)
    {
        is_str(mt_json_str_value(&t.wh, mt_json_get(root, "n")),
               "18446744073709551615", "2^64 - 1 stays exact");
        is_str(mt_json_str_value(&t.wh, mt_json_get(root, "m")),
               "-9223372036854775808", "-2^63 stays exact");

    } else {
        ok(0, "64-bit integers");
        ok(0, "64-bit integers");
    }

    {
        char    deep[2 * 65 + 1];
        size_t  i;

        for (i = 0; i < 65; i++) {
            deep[i] = '[';
            deep[2 * 65 - 1 - i] = ']';
        }

        is_int(mt_wh_json_load(&t.wh, (u_char *) deep, 2 * 65, &root),
               MT_ERR_JSON, "65 levels of nesting");
        ok(t.wh.detail.len && memmem(t.wh.detail.data, t.wh.detail.len,
                                     "deeper than 64", 14) != NULL,
           "named in the detail");
    }

    text = "{\"a\":\"first\",\"a\":\"last\"}";

    if (mt_wh_json_load(&t.wh, (u_char *) text, strlen(text), &root)
        == MT_OK)
    {
        is_str(mt_json_str(root, "a"), "first",
               "a key there twice: the first wins");

    } else {
        ok(0, "duplicate keys");
    }

    /* HMAC keys made ready once (RFC 4231, test case 2), parts in order */

    {
        u_char      md[64], hex[129];
        size_t      n;
        mt_str_t    parts[3];
        mt_hmac_t  *h;

        h = mt_hmac_create("SHA256", (u_char *) "Jefe", 4);
        ok(h != NULL, "hmac: a key");

        parts[0] = S("what do ya");
        parts[1] = S("");
        parts[2] = S(" want for nothing?");

        for (i = 0; i < 2; i++) {
            n = mt_hmac(h, parts, 3, md);
            mt_hex_encode(hex, md, n);
            is_str(((mt_str_t) { 2 * n, hex }),
                   "5bdcc146bf60754e6a042426089575c7"
                   "5a003f089d2739839dec58b964ec3843",
                   "hmac: RFC 4231 case 2, use %d", (int) i + 1);
        }

        mt_hmac_free(h);
        ok(mt_hmac_create("NOSUCHDIGEST", (u_char *) "k", 1) == NULL,
           "hmac: an unknown digest");
    }

    /* hash ids */

    f[0] = S("a");
    f[1] = S("bc");
    mt_wh_hash_id(&t.wh, &id1, f, 2);
    f[0] = S("ab");
    f[1] = S("c");
    mt_wh_hash_id(&t.wh, &id2, f, 2);
    ok(id1.len == 32 && id2.len == 32
       && memcmp(id1.data, id2.data, 32) != 0,
       "field boundaries count in hash ids");

    f[0] = S("a");
    f[1] = S("bc");
    mt_wh_hash_id(&t.wh, &id2, f, 2);
    ok(memcmp(id1.data, id2.data, 32) == 0, "hash ids are deterministic");

    /* the layout of the hashed bytes is the dedupe key: it must not move */

    is_str(id1, "d99b76a7a4447a329693b0920c41b40c",
           "hash id: SHA-256 of \"postmark\\0\", then length and bytes");

    {
        u_char  big[3000];

        memset(big, 'x', sizeof(big));
        f[0].data = big;
        f[0].len = sizeof(big);
        f[1] = S("");
        f[2] = S("y");
        mt_wh_hash_id(&t.wh, &id2, f, 3);
        is_str(id2, "a9c47a69ed40dd61d07ef6da2a6eab6c",
               "hash id: fields larger than the stack buffer");

        /* back to the fields of id1, for the provider comparison */

        f[0] = S("a");
        f[1] = S("bc");
    }

    conf.provider = MT_SRC_MAILJET;
    mt_wh_hash_id(&t.wh, &id2, f, 2);
    ok(memcmp(id1.data, id2.data, 32) != 0, "and differ per provider");

    ok(mt_provider_find((u_char *) "SendGrid", 8) != NULL,
       "providers by name, any case");
    ok(mt_provider_find((u_char *) "sendmail", 8) == NULL,
       "unknown provider");

    wh_free(&t);
}


static int
cmp_u64(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


static void
test_hash128(void)
{
    size_t       i, j, k, dup;
    u_char       a[16], b[16], in[80];
    char         key[32];
    uint64_t    *seen, acc, w;
    const char  *spaces[] = { "status", "ns", "", "sendgrid" };

    mt_hash128("ns", (u_char *) "message-1", 9, a);
    mt_hash128("ns", (u_char *) "message-1", 9, b);
    ok(memcmp(a, b, 16) == 0, "hash128 is deterministic");

    /*
     * The values are kept in zones that outlive a binary upgrade: they
     * must not change.  A fold of them over lengths 0 to 72 in four
     * name spaces, as the first version gave it.
     */

    for (i = 0; i < sizeof(in); i++) {
        in[i] = (u_char) (i * 37 + 11);
    }

    acc = 0;

    for (k = 0; k < 4; k++) {
        for (j = 0; j <= 72; j++) {
            mt_hash128(spaces[k], in + j % 5, j, a);

            memcpy(&w, a, 8);
            acc = (acc ^ w) * 0x100000001b3ULL;
            memcpy(&w, a + 8, 8);
            acc = (acc ^ w) * 0x100000001b3ULL;
        }
    }

#if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
    ok(acc == 0xe87e095d6e2c903cULL, "hash128 gives the values it always "
       "gave (0x%016llx)", (unsigned long long) acc);
#else
    diag("big-endian: hash128's values are not these (%llx)",
         (unsigned long long) acc);
#endif

    mt_hash128_seeded(mt_hash128_seed("status"), in, 13, a);
    mt_hash128("status", in, 13, b);
    ok(memcmp(a, b, 16) == 0, "a seeded hash is the hash");

    mt_hash128("other", (u_char *) "message-1", 9, b);
    ok(memcmp(a, b, 16) != 0, "the namespace separates key spaces");

    mt_hash128("ns", (u_char *) "a", 1, a);
    mt_hash128("ns", (u_char *) "a\0", 2, b);
    ok(memcmp(a, b, 16) != 0, "a trailing zero byte counts");

    mt_hash128("ns", (u_char *) "12345678", 8, a);
    mt_hash128("ns", (u_char *) "12345679", 8, b);
    ok(memcmp(a, b, 8) != 0 && memcmp(a + 8, b + 8, 8) != 0,
       "one byte changes both halves");

    /* 200,000 sequential keys: no two share either half */

    seen = malloc(200000 * 2 * sizeof(uint64_t));
    dup = 0;

    for (i = 0; i < 200000; i++) {
        j = snprintf(key, sizeof(key), "m-%zu", i);
        mt_hash128("status", (u_char *) key, j, a);
        memcpy(&seen[i * 2], a, 16);
    }

    /* each half on its own: 400,000 64-bit values, sorted */

    qsort(seen, 400000, sizeof(uint64_t), cmp_u64);

    for (i = 1; i < 400000; i++) {
        dup += (seen[i] == seen[i - 1]);
    }

    ok(dup == 0, "no repeated half among 200000 keys (%zu)", dup);

    free(seen);
}


static void
judge(const char *ip, const char *ua, mt_event_type_e type, unsigned flags,
    int machine, const char *why)
{
    mt_event_t  ev;
    mt_str_t    i, u;

    mt_event_init(&ev);
    ev.type = type;
    i = S(ip);
    u = S(ua);

    mt_classify(&ev, &i, &u, flags);

    ok(ev.machine == machine && ev.why.len == (why ? strlen(why) : 0)
       && (why == NULL || memcmp(ev.why.data, why, ev.why.len) == 0),
       "%s \"%s\" from %s: machine=%d why=%s (got %d %.*s)",
       type == MT_EV_OPENED ? "open" : "click", ua, ip, machine,
       why ? why : "-", ev.machine, (int) ev.why.len,
       ev.why.data ? (char *) ev.why.data : "");
}


static void
test_classify(void)
{
    const char  *firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) "
                           "Gecko/20100101 Firefox/120.0";

    judge("203.0.113.5", firefox, MT_EV_OPENED, 0, 0, NULL);
    judge("17.58.1.2", firefox, MT_EV_OPENED, 0, 1, "apple_mpp");
    judge("203.0.113.5", "Mozilla/5.0", MT_EV_OPENED, 0, 1, "apple_mpp");
    judge("203.0.113.5", "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko "
          "Firefox/11.0 (via ggpht.com GoogleImageProxy)", MT_EV_OPENED, 0,
          0, "google_image_proxy");
    judge("203.0.113.5", "", MT_EV_OPENED, 0, 1, "no_user_agent");
    judge("203.0.113.5", firefox, MT_EV_CLICKED, MT_CLASSIFY_HEAD, 1,
          "head_request");
    judge("203.0.113.5", firefox, MT_EV_CLICKED, MT_CLASSIFY_PREFETCH, 1,
          "prefetch");
    judge("203.0.113.5", "python-requests/2.31", MT_EV_CLICKED, 0, 1,
          "http_library");
    judge("203.0.113.5", "Barracuda Sentinel (EE)", MT_EV_CLICKED, 0, 1,
          "scanner_barracuda");
    judge("17.58.1.2", firefox, MT_EV_CLICKED, 0, 0, NULL);
    judge("203.0.113.5", "Slackbot-LinkExpanding 1.0", MT_EV_CLICKED, 0, 1,
          "bot_user_agent");
}


int
main(void)
{
    test_base64();
    test_base64_vector();
    test_utf8_and_numbers();
    test_event();
    test_times();
    test_smtp();
    test_wh_helpers();
    test_hash128();
    test_classify();

    return done_testing();
}

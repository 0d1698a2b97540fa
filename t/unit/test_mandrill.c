
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Mandrill: the form, the signature over url + sorted fields, events.
 */


#include "mt_tap.h"
#include "mt_wh_test.h"
#include "mt_base64.h"

#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


#define FORM  "application/x-www-form-urlencoded"
#define URL   "https://hooks.example.com/mandrill"
#define KEY   "TEST_WEBHOOK_KEY"
#define NOW   1764000000


static wh_test_t     t;
static mt_wh_conf_t  conf;
static mt_wh_key_t   key;


/* Mandrill's sample "send" event; the signature was made with the CLI:
 * printf '%s' "$URL"mandrill_events"$JSON" \
 *     | openssl dgst -sha1 -hmac TEST_WEBHOOK_KEY -binary | base64
 */

static const char  *sample =
    "[{\"event\":\"send\",\"msg\":{\"ts\":1365109999,\"subject\":"
    "\"This an example webhook message\",\"email\":"
    "\"example.webhook@mandrillapp.com\",\"sender\":"
    "\"example.sender@mandrillapp.com\",\"tags\":[\"webhook-example\"],"
    "\"opens\":[],\"clicks\":[],\"state\":\"sent\",\"metadata\":"
    "{\"user_id\":111},\"_id\":\"exampleaaaaaaaaaaaaaaaaaaaaaaaaa\","
    "\"_version\":\"exampleaaaaaaaaaaaaaaa\"},\"_id\":"
    "\"exampleaaaaaaaaaaaaaaaaaaaaaaaaa\",\"ts\":1384954004}]";

static const char  *sample_sig = "98qlArkKRaEEf8/jcmjflDH5vn4=";


/* what every test body is freed with */

static char  *bufs[4096];
static int    nbufs;


static char *
keep(char *p)
{
    if (nbufs == 4096) {
        abort();
    }

    bufs[nbufs++] = p;

    return p;
}


static void
release(void)
{
    while (nbufs) {
        free(bufs[--nbufs]);
    }
}


static char *
urlencode(const char *s, size_t len)
{
    char        *out, *p;
    size_t       i;
    const char  *hex = "0123456789ABCDEF";

    out = malloc(len * 3 + 1);
    p = out;

    for (i = 0; i < len; i++) {
        u_char  c = (u_char) s[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
            || c == '~')
        {
            *p++ = c;

        } else if (c == ' ') {
            *p++ = '+';

        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }

    *p = '\0';

    return keep(out);
}


static char *
form(const char *json)
{
    char  *enc, *out;

    enc = urlencode(json, strlen(json));
    out = malloc(strlen(enc) + 32);
    sprintf(out, "mandrill_events=%s", enc);

    return keep(out);
}


/* base64(HMAC-SHA1(k, data)) in C */

static char *
sign(const char *k, const char *data, size_t len)
{
    char          *out;
    u_char         md[EVP_MAX_MD_SIZE];
    unsigned int   mdlen;

    HMAC(EVP_sha1(), k, strlen(k), (u_char *) data, len, md, &mdlen);

    out = malloc(64);
    out[mt_base64_encode((u_char *) out, md, mdlen)] = '\0';

    return keep(out);
}


static char *
sign_events(const char *k, const char *url, const char *json)
{
    char    *data;
    size_t   n;

    n = strlen(url) + strlen(json) + 16;
    data = keep(malloc(n));
    n = sprintf(data, "%smandrill_events%s", url, json);

    return sign(k, data, n);
}


/* the same with the openssl command line, over a file */

static char *
sign_cli(const char *k, const char *data)
{
    int     fd;
    FILE   *f;
    char    path[] = "/tmp/mt_mandrill_XXXXXX";
    char    cmd[256], *out;
    size_t  n;

    fd = mkstemp(path);
    if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t) strlen(data)) {
        abort();
    }

    close(fd);

    snprintf(cmd, sizeof(cmd), "openssl dgst -sha1 -hmac '%s' -binary %s "
             "| openssl base64 -A", k, path);

    out = keep(calloc(1, 128));

    f = popen(cmd, "r");
    n = f ? fread(out, 1, 127, f) : 0;

    if (f) {
        pclose(f);
    }

    unlink(path);

    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
        out[--n] = '\0';
    }

    return out;
}


static char *
cli_key(void)
{
    FILE    *f;
    char    *out;
    size_t   n;

    out = keep(calloc(1, 128));

    f = popen("openssl rand -hex 20", "r");
    n = f ? fread(out, 1, 127, f) : 0;

    if (f) {
        pclose(f);
    }

    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
        out[--n] = '\0';
    }

    return out;
}


static mt_rc_t
run_c(mt_wh_conf_t *c, const char *ctype, const char *body, const char *sig)
{
    wh_reset(&t);

    if (sig != NULL) {
        wh_header(&t, "x-mandrill-signature", sig);
    }

    return wh_run(&t, c, ctype, body, strlen(body), NOW);
}


static mt_rc_t
run(const char *body, const char *sig)
{
    return run_c(&conf, FORM, body, sig);
}


/* signs json with the test key and posts it */

static mt_rc_t
post(const char *json)
{
    return run(form(json), sign_events(KEY, URL, json));
}


static void
test_signature(void)
{
    char          *body, *k, *sig, *data;
    mt_rc_t        rc;
    mt_wh_key_t    keys[2];
    mt_wh_conf_t   c;
    mt_event_t    *e;

    body = form(sample);

    is_str(((mt_str_t) { strlen(sample_sig), (u_char *) sample_sig }),
           sign_events(KEY, URL, sample), "C HMAC matches the CLI vector");

    rc = run(body, sample_sig);
    is_int(rc, MT_OK, "CLI test vector: ok");
    is_int(t.nevents, 1, "CLI test vector: one event");

    e = &t.events[0];
    is_int(e->type, MT_EV_SENT, "sample: sent");
    is_str(e->esp_type, "send", "sample: esp_type");
    is_str(e->rcpt, "example.webhook@mandrillapp.com", "sample: msg.email");
    is_str(e->mid, "exampleaaaaaaaaaaaaaaaaaaaaaaaaa",
           "sample: no app id, mid is _id");
    is_str(e->tag, "webhook-example", "sample: tags");
    is_int(e->ts, 1384954004000LL, "sample: event ts, not msg.ts");
    is_int(e->id.len, MT_WH_HASH_ID_LEN, "sample: hashed id");
    is_int(e->src, MT_SRC_MANDRILL, "sample: src");

    mt_str_set(&conf.id_field, "user_id");
    is_int(run(body, sample_sig), MT_OK, "id_field user_id: ok");
    is_str(t.events[0].mid, "111", "id_field user_id: integer metadata");
    is_str(t.events[0].esp_mid, "exampleaaaaaaaaaaaaaaaaaaaaaaaaa",
           "id_field user_id: esp_mid");
    mt_str_set(&conf.id_field, "mail_track_id");

    /* anymail's test shape: the URL with basic auth in it is signed */

    wh_conf(&c, &keys[0], MT_SRC_MANDRILL, KEY);
    mt_str_set(&c.url, "http://username:password@testserver/anymail/mandrill/");
    rc = run_c(&c, FORM, form("[{\"event\": \"send\"}]"),
               "QUXzqdBD/L/blycKYMxJ4PJv7ek=");
    is_int(rc, MT_OK, "URL with credentials, CLI vector: ok");

    /* a fresh key from the openssl CLI, signed by the CLI */

    k = cli_key();
    is_int(strlen(k), 40, "fresh key from openssl rand");

    keys[0].free(keys[0].data);
    wh_conf(&c, &keys[0], MT_SRC_MANDRILL, k);
    mt_str_set(&c.url, URL);

    data = keep(malloc(strlen(URL) + strlen(sample) + 16));
    sprintf(data, "%smandrill_events%s", URL, sample);
    sig = sign_cli(k, data);

    is_int(strlen(sig), 28, "CLI signature: 28 base64 chars");
    is_int(run_c(&c, FORM, body, sig), MT_OK, "fresh CLI key: ok");
    is_int(run_c(&c, FORM, body, sample_sig), MT_ERR_SIGNATURE,
           "fresh key, the old signature: refused");

    /* rotation */

    keys[1] = keys[0];
    wh_conf(&c, &keys[0], MT_SRC_MANDRILL, "retired-key");
    c.keys = keys;
    c.nkeys = 2;
    mt_str_set(&c.url, URL);
    is_int(run_c(&c, FORM, body, sig), MT_OK, "second of two keys: ok");

    /* forgeries */

    is_int(run(body, NULL), MT_ERR_SIGNATURE_MISSING, "no signature header");
    is_int(t.nevents, 0, "no signature: nothing emitted");
    is_int(run(body, ""), MT_ERR_SIGNATURE_MISSING, "empty signature");
    is_int(run(body, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), MT_ERR_SIGNATURE,
           "forged signature");
    is_int(run(body, "98qlArkKRaEEf8/jcmjflDH5vn4"), MT_OK,
           "unpadded signature: same bytes, ok");
    is_int(run(body, "98qlArkKRaEEf8/jcmjflDH5vn"), MT_ERR_SIGNATURE,
           "truncated signature");
    is_int(run(body, "98qlArkKRaEEf8/jcmjflDH5vn4=AAAA"), MT_ERR_SIGNATURE,
           "signature too long");
    is_int(run(body, "98qlArkKRaEEf8/jcmjflDH5vn4!"), MT_ERR_SIGNATURE,
           "signature not base64");
    is_int(run(body, sign(KEY, sample, strlen(sample))), MT_ERR_SIGNATURE,
           "signature over the body alone");
    is_int(run(body, sign_events(KEY, "http://hooks.example.com/mandrill",
                                 sample)),
           MT_ERR_SIGNATURE, "signed for http, configured https");
    is_int(run(body, sign_events(KEY, URL "/", sample)), MT_ERR_SIGNATURE,
           "signed for another path");
    is_int(run(body, sign_events("WRONG_KEY", URL, sample)),
           MT_ERR_SIGNATURE, "signed with another key");

    body = keep(strdup(body));
    body[strlen(body) - 5] ^= 1;
    is_int(run(body, sample_sig), MT_ERR_SIGNATURE, "one body byte changed");
    is_int(t.nevents, 0, "changed byte: nothing emitted");

    /* fields are all signed, sorted by name, values decoded */

    body = keep(malloc(strlen(form(sample)) + 16));
    sprintf(body, "%s&x=1", form(sample));
    is_int(run(body, sample_sig), MT_ERR_SIGNATURE,
           "an unsigned field added: refused");

    data = keep(malloc(strlen(URL) + strlen(sample) + 32));
    sprintf(data, "%smandrill_events%sx1", URL, sample);
    sig = sign(KEY, data, strlen(data));
    is_int(run(body, sig), MT_OK, "the added field signed: ok");

    sprintf(body, "x=1&%s", form(sample));
    is_int(run(body, sig), MT_OK, "fields in another order: same signature");

    sprintf(data, "%sa1a2mandrill_events%s", URL, sample);
    sig = sign(KEY, data, strlen(data));
    body = keep(malloc(strlen(form(sample)) + 16));
    sprintf(body, "a=1&%s&a=2", form(sample));
    is_int(run(body, sig), MT_OK, "repeated name: every value signed");
    sprintf(body, "a=2&%s&a=1", form(sample));
    is_int(run(body, sig), MT_ERR_SIGNATURE,
           "repeated name, values swapped: refused");

    /* "+" and "%20" are the same space once decoded */

    sig = sign_events(KEY, URL, "[{\"event\":\"send\",\"_id\":\"a b\"}]");
    is_int(run("mandrill_events=%5B%7B%22event%22%3A%22send%22%2C%22_id%22"
               "%3A%22a+b%22%7D%5D", sig), MT_OK, "space as +: ok");
    is_int(run("mandrill_events=%5B%7B%22event%22%3A%22send%22%2C%22_id%22"
               "%3A%22a%20b%22%7D%5D", sig), MT_OK, "space as %20: ok");
    is_str(t.events[0].mid, "a b", "decoded value");
    is_int(run("mandrill_events=[{\"event\":\"send\",\"_id\":\"a+b\"}]",
               sig), MT_OK, "raw JSON, + decoded: ok");

    /* a malformed escape stays as it is, on both sides */

    sig = sign_events(KEY, URL, "[{\"event\":\"send\",\"_id\":\"%G1\"}]");
    is_int(run("mandrill_events=[{\"event\":\"send\",\"_id\":\"%G1\"}]",
               sig), MT_OK, "malformed escape kept: ok");
    is_str(t.events[0].mid, "%G1", "malformed escape: verbatim");

    /* Mandrill signs no time: an old batch is no reason to refuse */

    conf.tolerance = 300;
    is_int(run(form(sample), sample_sig), MT_OK,
           "2013 event, tolerance 300: still ok (nothing time-signed)");
    conf.tolerance = 0;

    keys[0].free(keys[0].data);
    keys[1].free(keys[1].data);
}


static void
test_transport(void)
{
    char    *big, *p, *sig;
    size_t   i;

    is_int(run_c(&conf, "application/json", form(sample), sample_sig),
           MT_ERR_CONTENT_TYPE, "application/json: refused");
    is_int(run_c(&conf, NULL, form(sample), sample_sig),
           MT_ERR_CONTENT_TYPE, "no content type: refused");
    is_int(run_c(&conf, FORM "; charset=UTF-8", form(sample), sample_sig),
           MT_OK, "form with charset: ok");
    is_int(run_c(&conf, "multipart/form-data; boundary=x", form(sample),
                 sample_sig),
           MT_ERR_CONTENT_TYPE, "multipart: refused");

    is_int(run("", sign(KEY, URL, strlen(URL))), MT_ERR_BODY_EMPTY,
           "empty body, signed: body_empty");
    is_int(run("", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), MT_ERR_SIGNATURE,
           "empty body, forged: signature first");
    is_int(run("mandrill_events=", sign_events(KEY, URL, "")),
           MT_ERR_BODY_EMPTY, "empty mandrill_events");

    sig = sign(KEY, URL "other1", strlen(URL) + 6);
    is_int(run("other=1", sig), MT_ERR_PAYLOAD, "no mandrill_events field");

    is_int(post("[{\"event\":\"send\""), MT_ERR_JSON, "truncated JSON");
    is_int(post("[{event:send}]"), MT_ERR_JSON, "malformed JSON");
    is_int(post("{\"event\":\"send\"}"), MT_ERR_PAYLOAD, "not an array");
    is_int(post("[\"send\"]"), MT_ERR_PAYLOAD, "element not an object");
    is_int(post("[{\"event\":\"send\"},{\"msg\":{}}]"), MT_ERR_PAYLOAD,
           "second element without a name");
    is_int(t.nevents, 0, "bad second element: nothing emitted");
    is_int(post("[{\"event\":7}]"), MT_ERR_PAYLOAD, "event not a string");
    is_int(post("[]"), MT_DECLINED, "empty batch: declined");

    /* invalid UTF-8 after decoding: repaired, event kept */

    is_int(post("[{\"event\":\"hard_bounce\",\"_id\":\"x\",\"msg\":{\"diag\":"
                "\"550 5.1.1 Empf\xe4nger\"}}]"), MT_OK, "Latin-1: ok");
    is_int(t.nevents, 1, "Latin-1: kept");
    is_str(t.events[0].reason, "550 5.1.1 Empf\xef\xbf\xbdnger",
           "Latin-1: U+FFFD");

    /* 1000 events (Mandrill's maximum), CRLF between them */

    big = keep(malloc(1000 * 140 + 16));
    p = big;
    *p++ = '[';

    for (i = 0; i < 1000; i++) {
        p += sprintf(p, "%s\r\n{\"event\":\"click\",\"_id\":\"m%zu\","
                     "\"ts\":1700000000,\"url\":\"https://example.com/%zu\","
                     "\"msg\":{\"email\":\"r%zu@example.com\"}}",
                     i ? "," : "", i, i, i);
    }

    strcpy(p, "\r\n]");

    is_int(post(big), MT_OK, "1000 events: ok");
    is_int(t.nevents, 1000, "1000 events: all emitted");
    is_str(t.events[999].url, "https://example.com/999", "1000: last url");
    ok(strcmp((char *) t.events[0].id.data, (char *) t.events[1].id.data)
       != 0, "1000: distinct ids");

    wh_reset(&t);
    wh_header(&t, "x-mandrill-signature", sample_sig);
    t.emit_rc = MT_ERR_FULL;
    t.emit_limit = 0;
    p = form(sample);
    is_int(wh_run(&t, &conf, FORM, p, strlen(p), NOW), MT_ERR_FULL,
           "zone full: passed on");
    t.emit_rc = MT_OK;
}


static void
test_events(void)
{
    char         id[64];
    mt_event_t  *e;

    is_int(post("[{\"event\":\"hard_bounce\",\"msg\":{\"ts\":1461095211,"
                "\"subject\":\"Webhook Test\",\"email\":"
                "\"bounce@example.com\",\"sender\":\"sender@example.com\","
                "\"bounce_description\":\"bad_mailbox\",\"bgtools_code\":10,"
                "\"diag\":\"smtp;550 5.1.1 The email account that you tried "
                "to reach does not exist.\",\"metadata\":{\"mail_track_id\":"
                "\"app-1\"},\"_id\":\"abcdef012345789abcdef012345789\"},"
                "\"_id\":\"abcdef012345789abcdef012345789\",\"ts\":"
                "1461095246}]"), MT_OK, "hard_bounce: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_BOUNCED, "hard_bounce: bounced");
    is_int(e->bounce, MT_BOUNCE_HARD, "hard_bounce: hard");
    is_str(e->reason, "bad_mailbox: smtp;550 5.1.1 The email account that "
           "you tried to reach does not exist.",
           "hard_bounce: bounce_description and diag");
    is_str(e->smtp_status, "5.1.1", "hard_bounce: smtp status");
    is_int(e->smtp_code, 550, "hard_bounce: smtp code");
    is_str(e->mid, "app-1", "hard_bounce: mid from metadata");
    is_str(e->esp_mid, "abcdef012345789abcdef012345789", "hard_bounce: _id");
    is_int(e->ts, 1461095246000LL, "hard_bounce: ts");

    is_int(post("[{\"event\":\"deferral\",\"_id\":\"d1\",\"ts\":1700000000,"
                "\"msg\":{\"email\":\"r@example.com\",\"smtp_events\":["
                "{\"ts\":1699999000,\"type\":\"deferred\",\"diag\":\"421 "
                "4.7.0 try later\"},{\"ts\":1699999900,\"type\":\"deferred\","
                "\"diag\":\"451 4.3.0 mailbox busy\"}]}}]"), MT_OK,
           "deferral: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_DEFERRED, "deferral: deferred");
    is_int(e->bounce, MT_BOUNCE_SOFT, "deferral: soft");
    is_str(e->smtp_status, "4.3.0", "deferral: the last SMTP attempt");
    is_str(e->reason, "451 4.3.0 mailbox busy", "deferral: its diag");

    is_int(post("[{\"event\":\"click\",\"msg\":{\"ts\":1461095211,"
                "\"email\":\"recipient@example.com\",\"opens\":[{\"ts\":"
                "1461095242}],\"clicks\":[{\"ts\":1461095246,\"url\":"
                "\"http://example.com\"}],\"tags\":[\"a\",\"b\"],\"_id\":"
                "\"abc\"},\"ip\":\"192.0.2.4\",\"location\":{\"country\":"
                "\"US\"},\"user_agent\":\"Mozilla/5.0 (Windows NT 5.1; "
                "rv:11.0) Gecko Firefox/11.0\",\"url\":\"http://example.com\","
                "\"_id\":\"abc\",\"ts\":1461095246}]"), MT_OK, "click: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_CLICKED, "click: clicked");
    is_str(e->url, "http://example.com", "click: url");
    is_str(e->ip, "192.0.2.4", "click: ip");
    is_str(e->ua, "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0",
           "click: user_agent");
    is_str(e->tag, "a,b", "click: tags joined");

    snprintf(id, sizeof(id), "%.*s", (int) e->id.len, e->id.data);

    is_int(post("[{\"event\":\"click\",\"msg\":{\"ts\":1461095211,"
                "\"email\":\"recipient@example.com\",\"opens\":[{\"ts\":"
                "1461095242}],\"clicks\":[{\"ts\":1461095246,\"url\":"
                "\"http://example.com\"}],\"tags\":[\"a\",\"b\"],\"_id\":"
                "\"abc\"},\"ip\":\"192.0.2.4\",\"location\":{\"country\":"
                "\"US\"},\"user_agent\":\"Mozilla/5.0 (Windows NT 5.1; "
                "rv:11.0) Gecko Firefox/11.0\",\"url\":\"http://example.com\","
                "\"_id\":\"abc\",\"ts\":1461095246}]"), MT_OK,
           "click retried: ok");
    is_str(t.events[0].id, id, "click retried: the same id");

    is_int(post("[{\"event\":\"click\",\"msg\":{\"email\":"
                "\"recipient@example.com\"},\"ip\":\"192.0.2.5\","
                "\"user_agent\":\"Scanner\",\"url\":\"http://example.com\","
                "\"_id\":\"abc\",\"ts\":1461095246}]"), MT_OK,
           "another client, same second: ok");
    ok(strcmp((char *) t.events[0].id.data, id) != 0,
       "another client, same second: another id");

    is_int(post("[{\"event\":\"open\",\"_id\":\"o\",\"ts\":1461095250,"
                "\"ip\":\"192.0.2.9\",\"user_agent\":\"Mozilla/5.0 (via "
                "ggpht.com GoogleImageProxy)\",\"msg\":{\"email\":"
                "\"r@example.com\"}}]"), MT_OK, "open: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_OPENED, "open: opened");
    is_str(e->ip, "192.0.2.9", "open: ip");
    is_str(e->url, NULL, "open: no url");
    ok(e->machine == MT_MACHINE_UNKNOWN, "open: Mandrill flags no machine");

    /* ip and user agent belong to opens and clicks only */

    is_int(post("[{\"event\":\"send\",\"_id\":\"s\",\"ip\":\"10.0.0.1\","
                "\"user_agent\":\"x\"}]"), MT_OK, "send with ip: ok");
    is_str(t.events[0].ip, NULL, "send: no ip");

    /* sync events */

    is_int(post("[{\"type\":\"blacklist\",\"action\":\"add\",\"reject\":"
                "{\"email\":\"recipient@example.com\",\"reason\":"
                "\"manual edit\",\"last_event_at\":\"2014-02-01 12:43:56\"}}]"),
           MT_OK, "sync blacklist: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_OTHER, "sync: other");
    is_str(e->esp_type, "blacklist", "sync: esp_type is the type");
    is_str(e->rcpt, "recipient@example.com", "sync: reject.email");
    is_str(e->reason, "add: manual edit", "sync: action and reason");
    is_int(e->ts, 1391258636000LL, "sync: last_event_at without ts");

    is_int(post("[{\"type\":\"denylist\",\"action\":\"remove\",\"ts\":"
                "1700000000,\"reject\":{\"email\":\"a@example.com\","
                "\"detail\":\"smtp;550 no\",\"reason\":\"hard-bounce\"}}]"),
           MT_OK, "sync denylist: ok");
    is_str(t.events[0].reason, "remove: smtp;550 no",
           "sync: detail preferred");
    is_int(t.events[0].ts, 1700000000000LL, "sync: ts");

    is_int(post("[{\"event\":\"inbound\",\"ts\":1700000000,\"msg\":"
                "{\"email\":\"in@example.com\",\"raw_msg\":\"...\"}}]"),
           MT_OK, "inbound: ok");
    is_int(t.events[0].type, MT_EV_OTHER, "inbound: other");
    is_str(t.events[0].esp_type, "inbound", "inbound: esp_type");

    is_int(post("[{\"event\":\"brand_new\",\"_id\":\"q\"}]"), MT_OK,
           "unknown event: ok");
    is_int(t.events[0].type, MT_EV_OTHER, "unknown event: other");
    is_str(t.events[0].esp_type, "brand_new", "unknown event: esp_type");
}


static void
test_table(void)
{
    size_t  i;
    char    json[256];

    static const struct {
        const char       *event;
        mt_event_type_e   want;
        mt_bounce_e       bounce;
    } rows[] = {
        { "send", MT_EV_SENT, MT_BOUNCE_NONE },
        { "deferral", MT_EV_DEFERRED, MT_BOUNCE_SOFT },
        { "hard_bounce", MT_EV_BOUNCED, MT_BOUNCE_HARD },
        { "soft_bounce", MT_EV_BOUNCED, MT_BOUNCE_SOFT },
        { "delivered", MT_EV_DELIVERED, MT_BOUNCE_NONE },
        { "open", MT_EV_OPENED, MT_BOUNCE_NONE },
        { "click", MT_EV_CLICKED, MT_BOUNCE_NONE },
        { "spam", MT_EV_COMPLAINED, MT_BOUNCE_NONE },
        { "unsub", MT_EV_UNSUBSCRIBED, MT_BOUNCE_NONE },
        { "reject", MT_EV_REJECTED, MT_BOUNCE_NONE },
        { "inbound", MT_EV_OTHER, MT_BOUNCE_NONE },
        { "hard-bounce", MT_EV_OTHER, MT_BOUNCE_NONE },
    };

    static const char  *syncs[] = {
        "whitelist", "blacklist", "allowlist", "denylist"
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(json, sizeof(json), "[{\"event\":\"%s\",\"_id\":\"id%zu\","
                 "\"ts\":1700000000,\"msg\":{\"email\":\"a@example.com\"}}]",
                 rows[i].event, i);

        if (post(json) != MT_OK || t.nevents != 1) {
            ok(0, "table %s: processed", rows[i].event);
            continue;
        }

        is_int(t.events[0].type, rows[i].want, "table %s: %s",
               rows[i].event, mt_event_type_names[rows[i].want]);
        is_int(t.events[0].bounce, rows[i].bounce, "table %s: bounce %s",
               rows[i].event, mt_bounce_names[rows[i].bounce]);
        is_str(t.events[0].esp_type, rows[i].event, "table %s: esp_type",
               rows[i].event);
    }

    for (i = 0; i < sizeof(syncs) / sizeof(syncs[0]); i++) {
        snprintf(json, sizeof(json), "[{\"type\":\"%s\",\"action\":\"add\","
                 "\"reject\":{\"email\":\"a@example.com\"}}]", syncs[i]);

        if (post(json) != MT_OK || t.nevents != 1) {
            ok(0, "table sync %s: processed", syncs[i]);
            continue;
        }

        is_int(t.events[0].type, MT_EV_OTHER, "table sync %s: other",
               syncs[i]);
        is_str(t.events[0].esp_type, syncs[i], "table sync %s: esp_type",
               syncs[i]);
    }
}


int
main(void)
{
    wh_conf(&conf, &key, MT_SRC_MANDRILL, KEY);
    mt_str_set(&conf.url, URL);

    test_signature();
    release();
    test_transport();
    release();
    test_events();
    release();
    test_table();
    release();

    key.free(key.data);
    wh_free(&t);

    return done_testing();
}

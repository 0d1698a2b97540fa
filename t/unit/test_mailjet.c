
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Mailjet: credentials, v1 objects and v2 arrays, 64-bit ids, bounces.
 */


#include "mt_tap.h"
#include "mt_wh_test.h"


#define JSON  "application/json"
#define NOW   1764000000


static wh_test_t     t;
static mt_wh_conf_t  conf;
static mt_wh_key_t   key;


/* the reference example (Mailjet's blog sample) */

static const char  *open_ref =
    "{\"event\":\"open\",\"time\":1433103519,\"MessageID\":"
    "19421777396190490,\"email\":\"api@mailjet.com\",\"mj_campaign_id\":"
    "7173,\"mj_contact_id\":320,\"customcampaign\":\"\",\"CustomID\":\"\","
    "\"Payload\":\"\",\"ip\":\"192.0.2.1\",\"geo\":\"US\",\"agent\":"
    "\"Mozilla/5.0 (Windows NT 10.0)\"}";

static const char  *sent =
    "[{\"event\":\"sent\",\"time\":1498093527,\"MessageID\":"
    "12345678901234567,\"Message_GUID\":\"1ab23cd4-e567-8901-2345-"
    "6789f0gh1i2j\",\"email\":\"recipient@example.com\",\"mj_campaign_id\":"
    "1234567890,\"mj_contact_id\":9876543210,\"customcampaign\":\"tag1\","
    "\"mj_message_id\":\"12345678901234567\",\"smtp_reply\":\"sent (250 "
    "2.0.0 OK 1498093527 a67bc12345def.22 - gsmtp)\",\"CustomID\":\"\","
    "\"Payload\":\"{\\\"meta1\\\": \\\"simple string\\\", "
    "\\\"mail_track_id\\\": \\\"app-5\\\"}\"}]";


static mt_rc_t
run(const char *body)
{
    wh_reset(&t);
    wh_basic(&t, "mailjet", "s3cret");

    return wh_run(&t, &conf, JSON, body, strlen(body), NOW);
}


static void
test_auth(void)
{
    char          fresh[64], wrong[64], bearer[80];
    mt_rc_t       rc;
    mt_wh_key_t   k;
    mt_wh_conf_t  c;

    wh_reset(&t);
    rc = wh_run(&t, &conf, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_ERR_AUTH_MISSING, "no Authorization: auth_missing");
    ok(t.wh.basic_auth, "no Authorization: challenge requested");

    wh_reset(&t);
    wh_basic(&t, "mailjet", "s3cre");
    rc = wh_run(&t, &conf, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "wrong password: auth_failed");
    is_int(t.nevents, 0, "wrong password: nothing emitted");

    wh_reset(&t);
    wh_basic(&t, "mailjet", "s3cret");
    rc = wh_run(&t, &conf, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_OK, "right password: ok");

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer s3cret");
    rc = wh_run(&t, &conf, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_OK, "bearer token: ok");

    wh_reset(&t);
    wh_header(&t, "authorization", "Basic");
    rc = wh_run(&t, &conf, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "bare \"Basic\": failed");

    wh_conf(&c, &k, MT_SRC_MAILJET, "mj:secret:with:colons");

    wh_reset(&t);
    wh_basic(&t, "mj", "secret:with:colons");
    rc = wh_run(&t, &c, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_OK, "user:password key (colons in password): ok");

    wh_reset(&t);
    wh_basic(&t, "mj2", "secret:with:colons");
    rc = wh_run(&t, &c, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "user:password key, wrong user: failed");

    /* a fresh random credential, as basic auth and as a bearer token */

    wh_fresh_secret(fresh);
    wh_conf(&c, &k, MT_SRC_MAILJET, fresh);

    wh_reset(&t);
    wh_basic(&t, "hook", fresh);
    rc = wh_run(&t, &c, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_OK, "fresh random secret, basic: ok");

    snprintf(bearer, sizeof(bearer), "Bearer %s", fresh);
    wh_reset(&t);
    wh_header(&t, "authorization", bearer);
    rc = wh_run(&t, &c, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_OK, "fresh random secret, bearer: ok");

    strcpy(wrong, fresh);
    wrong[0] = (wrong[0] == 'a') ? 'b' : 'a';
    wh_reset(&t);
    wh_basic(&t, "hook", wrong);
    rc = wh_run(&t, &c, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "fresh secret, one char changed: failed");

    wh_conf(&c, NULL, MT_SRC_MAILJET, NULL);
    c.auth_off = 1;

    wh_reset(&t);
    wh_basic(&t, "anything", "at-all");
    rc = wh_run(&t, &c, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_OK, "auth off, no keys: any credential ok");

    wh_reset(&t);
    rc = wh_run(&t, &c, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_OK, "auth off, no keys, none sent: ok");
}


static void
test_transport(void)
{
    mt_rc_t  rc;

    wh_reset(&t);
    wh_basic(&t, "u", "s3cret");
    rc = wh_run(&t, &conf, "text/plain", open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_ERR_CONTENT_TYPE, "text/plain: refused");

    wh_reset(&t);
    wh_basic(&t, "u", "s3cret");
    rc = wh_run(&t, &conf, "application/json;charset=utf-8", open_ref,
                strlen(open_ref), NOW);
    is_int(rc, MT_OK, "json;charset: ok");

    is_int(run(""), MT_ERR_BODY_EMPTY, "empty body");
    is_int(run("{\"event\":\"open\",\"time\":"), MT_ERR_JSON,
           "truncated JSON");
    is_int(run("{'event':'open'}"), MT_ERR_JSON, "malformed JSON");
    is_int(run("{\"time\":1}"), MT_ERR_PAYLOAD, "object without event");
    is_int(run("{\"event\":1}"), MT_ERR_PAYLOAD, "event not a string");
    is_int(run("[{\"event\":\"open\"},\"x\"]"), MT_ERR_PAYLOAD,
           "array with a non-object");
    is_int(t.nevents, 0, "bad element: nothing emitted");
    is_int(run("[]"), MT_DECLINED, "empty array: declined");

    /* the sink refuses: passed on */

    wh_reset(&t);
    wh_basic(&t, "u", "s3cret");
    t.emit_rc = MT_ERR_FULL;
    t.emit_limit = 0;
    rc = wh_run(&t, &conf, JSON, open_ref, strlen(open_ref), NOW);
    is_int(rc, MT_ERR_FULL, "zone full: passed on");
    t.emit_rc = MT_OK;
}


static void
test_events(void)
{
    char        *big, *p, id[64];
    size_t       i;
    mt_event_t  *e;

    is_int(run(open_ref), MT_OK, "reference open (v1 object): ok");
    is_int(t.nevents, 1, "reference open: one event");
    e = &t.events[0];
    is_int(e->type, MT_EV_OPENED, "reference open: opened");
    is_str(e->esp_type, "open", "reference open: esp_type");
    is_str(e->mid, "19421777396190490",
           "reference open: MessageID beyond 2^53, exact");
    is_str(e->rcpt, "api@mailjet.com", "reference open: email");
    is_int(e->ts, 1433103519000LL, "reference open: time");
    is_str(e->ip, "192.0.2.1", "reference open: ip");
    is_str(e->ua, "Mozilla/5.0 (Windows NT 10.0)", "reference open: agent");
    is_str(e->tag, NULL, "reference open: empty customcampaign");
    is_int(e->id.len, MT_WH_HASH_ID_LEN, "reference open: hashed id");

    snprintf(id, sizeof(id), "%.*s", (int) e->id.len, e->id.data);
    is_int(run(open_ref), MT_OK, "retry: ok");
    is_str(t.events[0].id, id, "retry: the same id");

    is_int(run("{\"event\":\"open\",\"time\":1433103519,\"MessageID\":"
               "9007199254740993,\"email\":\"a@example.com\"}"), MT_OK,
           "MessageID 2^53+1: ok");
    is_str(t.events[0].mid, "9007199254740993", "MessageID 2^53+1: exact");
    snprintf(id, sizeof(id), "%.*s", (int) t.events[0].id.len,
             t.events[0].id.data);

    is_int(run("{\"event\":\"open\",\"time\":1433103519,\"MessageID\":"
               "9007199254740992,\"email\":\"a@example.com\"}"), MT_OK,
           "MessageID 2^53: ok");
    ok(strcmp((char *) t.events[0].id.data, id) != 0,
       "ids of 2^53 and 2^53+1 differ");

    is_int(run(sent), MT_OK, "sent (v2 array): ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_DELIVERED, "sent: delivered");
    is_str(e->esp_type, "sent", "sent: esp_type");
    is_str(e->mid, "app-5", "sent: mid from Payload");
    is_str(e->esp_mid, "12345678901234567", "sent: esp_mid MessageID");
    is_str(e->tag, "tag1", "sent: customcampaign");
    is_str(e->reason, "sent (250 2.0.0 OK 1498093527 a67bc12345def.22 - "
           "gsmtp)", "sent: smtp_reply");
    is_int(e->smtp_code, 250, "sent: smtp code");
    is_str(e->smtp_status, "2.0.0", "sent: smtp status");

    /* fuzz: "sent" without smtp_reply gave mt_smtp_parse a NULL string */

    is_int(run("[{\"event\":\"sent\",\"time\":1498093527,\"MessageID\":"
               "12345678901234567,\"email\":\"recipien@example.com\"}]"),
           MT_OK, "sent without smtp_reply: ok");
    is_str(t.events[0].reason, NULL, "sent without smtp_reply: no reason");
    is_int(t.events[0].smtp_code, 0, "sent without smtp_reply: no code");

    is_int(run("{\"event\":\"sent\",\"MessageID\":1,\"CustomID\":"
               "\"custom-7\",\"Payload\":\"{\\\"mail_track_id\\\":\\\"no\\\"}"
               "\"}"), MT_OK, "CustomID: ok");
    is_str(t.events[0].mid, "custom-7", "CustomID wins over Payload");

    is_int(run("{\"event\":\"sent\",\"MessageID\":1,\"Payload\":"
               "{\"mail_track_id\":77}}"), MT_OK, "Payload object: ok");
    is_str(t.events[0].mid, "77", "Payload as an object, integer id");

    is_int(run("{\"event\":\"sent\",\"MessageID\":1,\"Payload\":"
               "\"not json\"}"), MT_OK, "Payload not JSON: ok");
    is_str(t.events[0].mid, "1", "Payload not JSON: MessageID");

    is_int(run("{\"event\":\"sent\",\"MessageID\":1,\"Payload\":"
               "\"{\\\"mail_track_id\\\":\"}"), MT_OK,
           "Payload truncated JSON: ok");
    is_str(t.events[0].mid, "1", "Payload truncated: MessageID");

    is_int(run("{\"event\":\"click\",\"time\":1498093527,\"MessageID\":"
               "12345678901234567,\"email\":\"recipient@example.com\","
               "\"url\":\"http://example.com\",\"ip\":\"192.168.100.100\","
               "\"geo\":\"US\",\"agent\":\"Mozilla/5.0 (Macintosh)\"}"),
           MT_OK, "click: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_CLICKED, "click: clicked");
    is_str(e->url, "http://example.com", "click: url");
    is_str(e->ua, "Mozilla/5.0 (Macintosh)", "click: agent");

    is_int(run("[{\"event\":\"bounce\",\"time\":1498093527,\"MessageID\":"
               "12345678901234567,\"email\":\"invalid@invalid\","
               "\"blocked\":true,\"hard_bounce\":true,\"error_related_to\":"
               "\"domain\",\"error\":\"invalid domain\",\"comment\":"
               "\"Host or domain name not found\"}]"), MT_OK,
           "hard bounce: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_BOUNCED, "hard bounce: bounced");
    is_int(e->bounce, MT_BOUNCE_HARD, "hard bounce: hard");
    is_str(e->reason, "domain: invalid domain (Host or domain name not "
           "found)", "hard bounce: reason");

    is_int(run("[{\"event\":\"bounce\",\"MessageID\":1,\"blocked\":true,"
               "\"hard_bounce\":false,\"error_related_to\":\"domain\","
               "\"error\":\"greylisted\"}]"), MT_OK, "greylisted: ok");
    is_int(t.events[0].type, MT_EV_DEFERRED, "greylisted: deferred");
    is_int(t.events[0].bounce, MT_BOUNCE_SOFT, "greylisted: soft");

    is_int(run("[{\"event\":\"bounce\",\"MessageID\":1,\"hard_bounce\":"
               "true,\"error_related_to\":\"spam\",\"error\":"
               "\"content blocked\"}]"), MT_OK, "content blocked: ok");
    is_int(t.events[0].bounce, MT_BOUNCE_BLOCK, "content blocked: block");

    is_int(run("[{\"event\":\"bounce\",\"MessageID\":1,\"hard_bounce\":"
               "false,\"error_related_to\":\"recipient\",\"error\":"
               "\"quota exceeded\",\"comment\":\"552 5.2.2 Mailbox full\"}]"),
           MT_OK, "quota: ok");
    is_int(t.events[0].bounce, MT_BOUNCE_SOFT, "quota: soft");
    is_int(t.events[0].smtp_code, 552, "quota: smtp code from comment");
    is_str(t.events[0].smtp_status, "5.2.2", "quota: smtp status");

    is_int(run("[{\"event\":\"blocked\",\"time\":1498093527,\"MessageID\":"
               "1,\"email\":\"bad@example.com\",\"error_related_to\":"
               "\"domain\",\"error\":\"typofix\"}]"), MT_OK, "blocked: ok");
    is_int(t.events[0].type, MT_EV_REJECTED, "blocked: rejected");
    is_int(t.events[0].bounce, MT_BOUNCE_NONE, "blocked: no bounce class");
    is_str(t.events[0].reason, "domain: typofix", "blocked: reason");

    is_int(run("[{\"event\":\"spam\",\"MessageID\":1,\"source\":\"JMRPP\"}]"),
           MT_OK, "spam: ok");
    is_int(t.events[0].type, MT_EV_COMPLAINED, "spam: complained");
    is_str(t.events[0].reason, "JMRPP", "spam: source");

    is_int(run("[{\"event\":\"unsub\",\"MessageID\":1,\"mj_list_id\":0,"
               "\"ip\":\"127.0.0.4\",\"agent\":\"List-Unsubscribe\"}]"),
           MT_OK, "unsub: ok");
    is_int(t.events[0].type, MT_EV_UNSUBSCRIBED, "unsub: unsubscribed");
    is_str(t.events[0].ip, NULL, "unsub: ip belongs to opens and clicks");

    is_int(run("[{\"event\":\"parseapi\",\"MessageID\":1}]"), MT_OK,
           "unknown event: ok");
    is_int(t.events[0].type, MT_EV_OTHER, "unknown event: other");
    is_str(t.events[0].esp_type, "parseapi", "unknown: esp_type");

    /* nothing signed carries a time: a tolerance does not apply */

    conf.tolerance = 300;
    is_int(run("[{\"event\":\"open\",\"time\":1000000000,\"MessageID\":1},"
               "{\"event\":\"open\",\"time\":4102444800,\"MessageID\":1}]"),
           MT_OK, "events from 2001 and 2100, tolerance 300: ok");
    is_int(t.nevents, 2, "old and future events: both kept");
    conf.tolerance = 0;

    /* invalid UTF-8 */

    is_int(run("{\"event\":\"bounce\",\"MessageID\":1,\"error\":\"user "
               "unknown\",\"comment\":\"Benutzer \xfc" "nbekannt\"}"), MT_OK,
           "Latin-1 comment: ok");
    is_str(t.events[0].reason, "user unknown (Benutzer \xef\xbf\xbd"
           "nbekannt)", "Latin-1 comment: repaired");

    /* 1000 grouped events, CRLF separated */

    big = malloc(1000 * 160 + 16);
    p = big;
    *p++ = '[';

    for (i = 0; i < 1000; i++) {
        p += sprintf(p, "%s\r\n{\"event\":\"open\",\"time\":%zu,"
                     "\"MessageID\":%llu,\"email\":\"r%zu@example.com\"}",
                     i ? "," : "", 1700000000 + i,
                     19421777396190490ULL + i, i);
    }

    strcpy(p, "\r\n]");

    is_int(run(big), MT_OK, "1000 events: ok");
    is_int(t.nevents, 1000, "1000 events: all emitted");
    is_str(t.events[999].mid, "19421777396191489", "1000: last MessageID");
    free(big);
}


static void
test_table(void)
{
    size_t  i;
    char    body[512];

    static const struct {
        const char       *event;
        const char       *extra;
        mt_event_type_e   want;
        mt_bounce_e       bounce;
    } rows[] = {
        { "sent", "", MT_EV_DELIVERED, MT_BOUNCE_NONE },
        { "open", "", MT_EV_OPENED, MT_BOUNCE_NONE },
        { "click", "", MT_EV_CLICKED, MT_BOUNCE_NONE },
        { "bounce", ",\"hard_bounce\":true", MT_EV_BOUNCED, MT_BOUNCE_HARD },
        { "bounce", ",\"hard_bounce\":false", MT_EV_BOUNCED,
          MT_BOUNCE_SOFT },
        { "bounce", "", MT_EV_BOUNCED, MT_BOUNCE_SOFT },
        { "bounce", ",\"hard_bounce\":false,\"error\":\"greylisted\"",
          MT_EV_DEFERRED, MT_BOUNCE_SOFT },
        { "bounce", ",\"hard_bounce\":true,\"error\":\"greylisted\"",
          MT_EV_BOUNCED, MT_BOUNCE_HARD },
        { "bounce", ",\"hard_bounce\":true,\"error_related_to\":\"spam\"",
          MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "bounce", ",\"hard_bounce\":false,\"error_related_to\":\"spam\"",
          MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "blocked", "", MT_EV_REJECTED, MT_BOUNCE_NONE },
        { "spam", "", MT_EV_COMPLAINED, MT_BOUNCE_NONE },
        { "unsub", "", MT_EV_UNSUBSCRIBED, MT_BOUNCE_NONE },
        { "Sent", "", MT_EV_OTHER, MT_BOUNCE_NONE },
        { "inbound", "", MT_EV_OTHER, MT_BOUNCE_NONE },
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(body, sizeof(body), "[{\"event\":\"%s\",\"time\":%zu,"
                 "\"MessageID\":%zu%s}]", rows[i].event, 1700000000 + i,
                 i + 1, rows[i].extra);

        if (run(body) != MT_OK || t.nevents != 1) {
            ok(0, "table %s%s: processed", rows[i].event, rows[i].extra);
            continue;
        }

        is_int(t.events[0].type, rows[i].want, "table %s%s: %s",
               rows[i].event, rows[i].extra,
               mt_event_type_names[rows[i].want]);
        is_int(t.events[0].bounce, rows[i].bounce, "table %s%s: bounce %s",
               rows[i].event, rows[i].extra,
               mt_bounce_names[rows[i].bounce]);
        is_str(t.events[0].esp_type, rows[i].event, "table %s: esp_type",
               rows[i].event);
    }
}


int
main(void)
{
    wh_conf(&conf, &key, MT_SRC_MAILJET, "s3cret");

    test_auth();
    test_transport();
    test_events();
    test_table();

    wh_free(&t);

    return done_testing();
}

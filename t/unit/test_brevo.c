
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Brevo: credentials, objects and batches, times, custom header, tags.
 */


#include "mt_tap.h"
#include "mt_wh_test.h"


#define JSON  "application/json"
#define NOW   1764000000


static wh_test_t     t;
static mt_wh_conf_t  conf;
static mt_wh_key_t   key;


/* the reference example */

static const char  *bounce_ref =
    "{\"event\":\"hard_bounce\",\"email\":\"x@example.com\",\"id\":123456,"
    "\"date\":\"2024-01-01 10:00:00\",\"ts\":1704099600,\"message-id\":"
    "\"<202401010900.12345678@smtp-relay.mailin.fr>\",\"ts_event\":"
    "1704099600,\"subject\":\"Hi\",\"tag\":\"welcome\",\"sending_ip\":"
    "\"192.0.2.10\",\"ts_epoch\":1704099600123,\"reason\":"
    "\"550 5.1.1 user unknown\"}";

/* a live capture (anymail's tests) */

static const char  *request =
    "{\"event\":\"request\",\"email\":\"recipient@example.com\",\"id\":"
    "9999999,\"message-id\":\"<201803062010.27287306012@smtp-relay.mailin.fr>"
    "\",\"subject\":\"Test subject\",\"date\":\"2018-03-06 11:10:23\","
    "\"ts\":1520331023,\"ts_event\":1520331023,\"ts_epoch\":1520363423000,"
    "\"X-Mailin-custom\":\"{\\\"meta\\\": \\\"data\\\", \\\"mail_track_id\\\""
    ": \\\"app-31\\\"}\",\"tag\":\"[\\\"tag1\\\",\\\"tag2\\\"]\",\"tags\":"
    "[\"tag1\",\"tag2\"],\"template_id\":12,\"sending_ip\":\"333.33.33.33\"}";


static mt_rc_t
run(const char *body)
{
    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer client-token");

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
    rc = wh_run(&t, &conf, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_ERR_AUTH_MISSING, "no Authorization: auth_missing");
    is_int(t.nevents, 0, "no Authorization: nothing emitted");

    /* Brevo's "auth":{"type":"bearer","token":"client-token"} */

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer client-token");
    rc = wh_run(&t, &conf, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_OK, "bearer token: ok");

    wh_reset(&t);
    wh_header(&t, "authorization", "bearer client-token");
    rc = wh_run(&t, &conf, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_OK, "bearer scheme in lower case: ok");

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer client-tokenX");
    rc = wh_run(&t, &conf, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "wrong bearer token: failed");

    wh_reset(&t);
    wh_basic(&t, "brevo", "client-token");
    rc = wh_run(&t, &conf, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_OK, "basic auth with the password: ok");

    wh_reset(&t);
    wh_basic(&t, "brevo", "wrong-password");
    rc = wh_run(&t, &conf, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "basic auth, wrong password: failed");

    wh_conf(&c, &k, MT_SRC_BREVO, "brevo:pw");

    wh_reset(&t);
    wh_basic(&t, "brevo", "pw");
    rc = wh_run(&t, &c, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_OK, "user:password key: ok");

    wh_reset(&t);
    wh_basic(&t, "Brevo", "pw");
    rc = wh_run(&t, &c, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "user:password key, user case: failed");

    wh_reset(&t);
    wh_basic(&t, "x", "brevo:pw");
    rc = wh_run(&t, &c, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED,
           "user:password key sent as the password only: failed");

    /* a fresh random credential, as basic auth and as a bearer token */

    wh_fresh_secret(fresh);
    wh_conf(&c, &k, MT_SRC_BREVO, fresh);

    wh_reset(&t);
    wh_basic(&t, "hook", fresh);
    rc = wh_run(&t, &c, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_OK, "fresh random secret, basic: ok");

    snprintf(bearer, sizeof(bearer), "Bearer %s", fresh);
    wh_reset(&t);
    wh_header(&t, "authorization", bearer);
    rc = wh_run(&t, &c, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_OK, "fresh random secret, bearer: ok");

    strcpy(wrong, fresh);
    wrong[0] = (wrong[0] == 'a') ? 'b' : 'a';
    wh_reset(&t);
    wh_basic(&t, "hook", wrong);
    rc = wh_run(&t, &c, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "fresh secret, one char changed: failed");

    wh_conf(&c, NULL, MT_SRC_BREVO, NULL);
    c.auth_off = 1;

    wh_reset(&t);
    rc = wh_run(&t, &c, JSON, bounce_ref, strlen(bounce_ref), NOW);
    is_int(rc, MT_OK, "auth off, no keys: ok");
}


static void
test_transport(void)
{
    mt_rc_t  rc;

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer client-token");
    rc = wh_run(&t, &conf, "application/x-www-form-urlencoded", bounce_ref,
                strlen(bounce_ref), NOW);
    is_int(rc, MT_ERR_CONTENT_TYPE, "form content type: refused");

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer client-token");
    rc = wh_run(&t, &conf, "application/json; charset=utf-8", bounce_ref,
                strlen(bounce_ref), NOW);
    is_int(rc, MT_OK, "json with charset: ok");

    is_int(run(""), MT_ERR_BODY_EMPTY, "empty body");
    is_int(run("\r\n"), MT_ERR_BODY_EMPTY, "CRLF only");
    is_int(run("{\"event\":\"delivered\",\"email\""), MT_ERR_JSON,
           "truncated JSON");
    is_int(run("{event=delivered}"), MT_ERR_JSON, "malformed JSON");
    is_int(run("{\"email\":\"a@example.com\"}"), MT_ERR_PAYLOAD,
           "no event name");
    is_int(run("{\"items\":[]}"), MT_ERR_PAYLOAD,
           "inbound parse payload: not a tracking event");
    is_int(run("[{\"event\":\"delivered\"},{\"event\":\"\"}]"),
           MT_ERR_PAYLOAD, "batch with an empty name");
    is_int(t.nevents, 0, "bad batch: nothing emitted");
    is_int(run("[]"), MT_DECLINED, "empty batch: declined");
    is_int(run("true"), MT_ERR_PAYLOAD, "a bare JSON literal");
}


static void
test_events(void)
{
    char        *big, *p, id[64];
    size_t       i;
    mt_event_t  *e;

    is_int(run(bounce_ref), MT_OK, "reference hard_bounce: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_BOUNCED, "reference: bounced");
    is_int(e->bounce, MT_BOUNCE_HARD, "reference: hard");
    is_str(e->esp_type, "hard_bounce", "reference: esp_type");
    is_int(e->ts, 1704099600123LL, "reference: ts_epoch in ms");
    is_str(e->mid, "<202401010900.12345678@smtp-relay.mailin.fr>",
           "reference: mid is message-id");
    is_str(e->rcpt, "x@example.com", "reference: email");
    is_str(e->tag, "welcome", "reference: tag");
    is_str(e->reason, "550 5.1.1 user unknown", "reference: reason");
    is_str(e->smtp_status, "5.1.1", "reference: smtp status");
    is_int(e->smtp_code, 550, "reference: smtp code");
    is_str(e->ip, NULL, "reference: sending_ip is no client ip");
    is_int(e->id.len, MT_WH_HASH_ID_LEN, "reference: hashed id");

    snprintf(id, sizeof(id), "%.*s", (int) e->id.len, e->id.data);
    is_int(run(bounce_ref), MT_OK, "retry: ok");
    is_str(t.events[0].id, id, "retry: the same id");

    is_int(run(request), MT_OK, "request: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_SENT, "request: sent");
    is_str(e->mid, "app-31", "request: mid from X-Mailin-custom");
    is_str(e->esp_mid, "<201803062010.27287306012@smtp-relay.mailin.fr>",
           "request: esp_mid");
    is_str(e->tag, "tag1,tag2", "request: tags joined");
    is_int(e->ts, 1520363423000LL, "request: ts_epoch, not ts");

    is_int(run("{\"event\":\"delivered\",\"message-id\":\"<a@b>\","
               "\"X-Mailin-custom\":\"just-a-string\",\"tag\":"
               "\"[\\\"t1\\\",\\\"t2\\\"]\"}"), MT_OK,
           "custom not JSON: ok");
    is_str(t.events[0].mid, "<a@b>", "custom not JSON: message-id");
    is_str(t.events[0].tag, "t1,t2", "tag holding a JSON array: joined");

    is_int(run("{\"event\":\"delivered\",\"message-id\":\"<a@b>\","
               "\"X-Mailin-custom\":{\"mail_track_id\":987654321987654321},"
               "\"tag\":\"[not json\"}"), MT_OK, "custom object: ok");
    is_str(t.events[0].mid, "987654321987654321",
           "custom object, 64-bit integer id");
    is_str(t.events[0].tag, "[not json", "tag not JSON: kept as it is");

    is_int(run("{\"event\":\"delivered\",\"X-Mailin-custom\":"
               "\"{\\\"mail_track_id\\\":\"}"), MT_OK,
           "custom truncated JSON: ok");
    is_str(t.events[0].mid, NULL, "custom truncated: no id, no message-id");

    /* times */

    is_int(run("{\"event\":\"error\",\"email\":\"example@domain.com\","
               "\"id\":\"xxxxx\",\"date\":\"2020-10-09 00:00:00\",\"ts\":"
               "1604933619,\"message-id\":\"201798300811.5787683@relay."
               "domain.com\",\"ts_event\":1604933654,\"subject\":\"My first "
               "Transactional\",\"template_id\":22,\"tags\":"
               "[\"transac_messages\"],\"ts_epoch\":1604933623}"), MT_OK,
           "error: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_REJECTED, "error: rejected");
    is_int(e->ts, 1604933623000LL, "ts_epoch in seconds: taken as seconds");

    is_int(run("{\"event\":\"complaint\",\"ts\":1604933619,\"ts_event\":"
               "1604933654,\"message-id\":\"m\"}"), MT_OK, "complaint: ok");
    is_int(t.events[0].type, MT_EV_COMPLAINED, "complaint: complained");
    is_int(t.events[0].ts, 1604933654000LL, "no ts_epoch: ts_event");

    is_int(run("{\"event\":\"spam\",\"ts\":1604933619}"), MT_OK,
           "spam: ok");
    is_int(t.events[0].ts, 1604933619000LL, "only ts: ts");

    /* opens and clicks */

    is_int(run("{\"event\":\"proxy_open\",\"email\":\"example@domain.com\","
               "\"id\":1,\"date\":\"2020-10-09 00:00:00\",\"message-id\":"
               "\"201798300811.5787683@relay.domain.com\",\"subject\":"
               "\"My first Transactional\",\"tag\":[\"transactionalTag\"],"
               "\"sending_ip\":\"xxx.xxx.xxx.xxx\",\"s_epoch\":1534486682000,"
               "\"template_id\":1}"), MT_OK, "proxy_open: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_OPENED, "proxy_open: opened");
    is_int(e->machine, 1, "proxy_open: machine");
    is_str(e->why, "brevo_proxy_open", "proxy_open: why");
    is_str(e->tag, "transactionalTag", "proxy_open: tag as an array");
    is_int(e->ts, 0, "proxy_open: no known time field, ts unknown");

    is_int(run("{\"event\":\"unique_opened\",\"email\":\"r@example.com\","
               "\"ts_epoch\":1520363423000,\"message-id\":\"<m@x>\","
               "\"user_agent\":\"Mozilla/5.0\",\"ip\":\"198.51.100.1\"}"),
           MT_OK, "unique_opened: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_OPENED, "unique_opened: opened");
    ok(e->machine == MT_MACHINE_UNKNOWN, "unique_opened: machine unknown");
    is_str(e->ua, "Mozilla/5.0", "unique_opened: user_agent");
    is_str(e->ip, "198.51.100.1", "unique_opened: ip");

    is_int(run("{\"event\":\"click\",\"email\":\"recipient@example.com\","
               "\"ts_epoch\":1520363423000,\"message-id\":\"<m@x>\","
               "\"link\":\"https://example.com/click/me\"}"), MT_OK,
           "click: ok");
    is_int(t.events[0].type, MT_EV_CLICKED, "click: clicked");
    is_str(t.events[0].url, "https://example.com/click/me", "click: link");
    snprintf(id, sizeof(id), "%.*s", (int) t.events[0].id.len,
             t.events[0].id.data);

    is_int(run("{\"event\":\"click\",\"email\":\"recipient@example.com\","
               "\"ts_epoch\":1520363423000,\"message-id\":\"<m@x>\","
               "\"link\":\"https://example.com/other\"}"), MT_OK,
           "another link, same ms: ok");
    ok(strcmp((char *) t.events[0].id.data, id) != 0,
       "another link: another id");

    is_int(run("{\"event\":\"deferred\",\"email\":\"notauser@example.com\","
               "\"ts_epoch\":1520363423000,\"reason\":\"550 RecipientError: "
               "550 5.1.1 <notauser@example.com>: Recipient address rejected\""
               "}"), MT_OK, "deferred: ok");
    is_int(t.events[0].type, MT_EV_DEFERRED, "deferred: deferred");
    is_int(t.events[0].bounce, MT_BOUNCE_SOFT,
           "deferred: soft, as Brevo says, whatever the text");

    is_int(run("{\"event\":\"list_addition\",\"email\":\"a@example.com\"}"),
           MT_OK, "list_addition: ok");
    is_int(t.events[0].type, MT_EV_OTHER, "list_addition: other");
    is_str(t.events[0].esp_type, "list_addition", "list_addition: esp_type");

    /* nothing signed carries a time: a tolerance does not apply */

    conf.tolerance = 300;
    is_int(run("[{\"event\":\"opened\",\"ts_epoch\":1000000000000},"
               "{\"event\":\"opened\",\"ts_epoch\":4102444800000}]"),
           MT_OK, "events from 2001 and 2100, tolerance 300: ok");
    is_int(t.nevents, 2, "old and future events: both kept");
    conf.tolerance = 0;

    /* invalid UTF-8 */

    is_int(run("{\"event\":\"soft_bounce\",\"reason\":\"452 4.2.2 Postfach "
               "\xfc" "berf\xfcllt\"}"), MT_OK, "Latin-1 reason: ok");
    is_int(t.nevents, 1, "Latin-1 reason: kept");
    is_str(t.events[0].reason, "452 4.2.2 Postfach \xef\xbf\xbd" "berf"
           "\xef\xbf\xbdllt", "Latin-1 reason: repaired");

    /* a batched webhook: 1000 events, CRLF between them */

    big = malloc(1000 * 160 + 16);
    p = big;
    *p++ = '[';

    for (i = 0; i < 1000; i++) {
        p += sprintf(p, "%s\r\n{\"event\":\"delivered\",\"email\":"
                     "\"r%zu@example.com\",\"message-id\":\"<%zu@relay>\","
                     "\"ts_epoch\":%llu}", i ? "," : "", i, i,
                     1704099600000ULL + i);
    }

    strcpy(p, "\r\n]");

    is_int(run(big), MT_OK, "1000 events: ok");
    is_int(t.nevents, 1000, "1000 events: all emitted");
    is_str(t.events[999].mid, "<999@relay>", "1000: last message-id");
    is_int(t.events[999].ts, 1704099600999LL, "1000: last ts");
    free(big);

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer client-token");
    t.emit_rc = MT_ERR_FULL;
    t.emit_limit = 0;
    is_int(wh_run(&t, &conf, JSON, bounce_ref, strlen(bounce_ref), NOW),
           MT_ERR_FULL, "zone full: passed on");
    t.emit_rc = MT_OK;
}


static void
test_table(void)
{
    size_t  i;
    char    body[512];

    static const struct {
        const char       *event;
        mt_event_type_e   want;
        mt_bounce_e       bounce;
        int               machine;
    } rows[] = {
        { "request", MT_EV_SENT, MT_BOUNCE_NONE, -1 },
        { "delivered", MT_EV_DELIVERED, MT_BOUNCE_NONE, -1 },
        { "hard_bounce", MT_EV_BOUNCED, MT_BOUNCE_HARD, -1 },
        { "soft_bounce", MT_EV_BOUNCED, MT_BOUNCE_SOFT, -1 },
        { "invalid_email", MT_EV_BOUNCED, MT_BOUNCE_HARD, -1 },
        { "blocked", MT_EV_REJECTED, MT_BOUNCE_NONE, -1 },
        { "error", MT_EV_REJECTED, MT_BOUNCE_NONE, -1 },
        { "deferred", MT_EV_DEFERRED, MT_BOUNCE_SOFT, -1 },
        { "spam", MT_EV_COMPLAINED, MT_BOUNCE_NONE, -1 },
        { "complaint", MT_EV_COMPLAINED, MT_BOUNCE_NONE, -1 },
        { "opened", MT_EV_OPENED, MT_BOUNCE_NONE, -1 },
        { "unique_opened", MT_EV_OPENED, MT_BOUNCE_NONE, -1 },
        { "proxy_open", MT_EV_OPENED, MT_BOUNCE_NONE, 1 },
        { "unique_proxy_open", MT_EV_OPENED, MT_BOUNCE_NONE, 1 },
        { "click", MT_EV_CLICKED, MT_BOUNCE_NONE, -1 },
        { "unsubscribe", MT_EV_UNSUBSCRIBED, MT_BOUNCE_NONE, -1 },
        { "list_addition", MT_EV_OTHER, MT_BOUNCE_NONE, -1 },
        { "contact_updated", MT_EV_OTHER, MT_BOUNCE_NONE, -1 },
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(body, sizeof(body), "{\"event\":\"%s\",\"email\":"
                 "\"a@example.com\",\"message-id\":\"<%zu@x>\","
                 "\"ts_epoch\":1704099600000}", rows[i].event, i);

        if (run(body) != MT_OK || t.nevents != 1) {
            ok(0, "table %s: processed", rows[i].event);
            continue;
        }

        is_int(t.events[0].type, rows[i].want, "table %s: %s",
               rows[i].event, mt_event_type_names[rows[i].want]);
        is_int(t.events[0].bounce, rows[i].bounce, "table %s: bounce %s",
               rows[i].event, mt_bounce_names[rows[i].bounce]);
        is_int(t.events[0].machine, rows[i].machine, "table %s: machine",
               rows[i].event);
        is_str(t.events[0].esp_type, rows[i].event, "table %s: esp_type",
               rows[i].event);
    }
}


int
main(void)
{
    wh_conf(&conf, &key, MT_SRC_BREVO, "client-token");

    test_auth();
    test_transport();
    test_events();
    test_table();

    wh_free(&t);

    return done_testing();
}

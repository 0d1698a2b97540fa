
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * SparkPost: credentials, batches and pings, event types, bounce classes.
 */


#include "mt_tap.h"
#include "mt_wh_test.h"


#define JSON  "application/json"
#define NOW   1764000000


static wh_test_t     t;
static mt_wh_conf_t  conf;
static mt_wh_key_t   key;


/* SparkPost's own sample injection event (its test batch has this shape) */

static const char  *injection =
    "[{\"msys\":{\"message_event\":{\"type\":\"injection\","
    "\"campaign_id\":\"Example Campaign Name\",\"customer_id\":\"1\","
    "\"event_id\":\"92356927693813856\",\"friendly_from\":"
    "\"sender@example.com\",\"ip_pool\":\"Example-Ip-Pool\","
    "\"message_id\":\"000443ee14578172be22\",\"msg_from\":"
    "\"sender@example.com\",\"msg_size\":\"1337\",\"rcpt_meta\":"
    "{\"customKey\":\"customValue\",\"mail_track_id\":\"app-77\"},"
    "\"rcpt_tags\":[\"male\",\"US\"],\"rcpt_to\":\"recipient@example.com\","
    "\"raw_rcpt_to\":\"Recipient@example.com\",\"rcpt_type\":\"cc\","
    "\"routing_domain\":\"example.com\",\"sending_ip\":\"127.0.0.1\","
    "\"subaccount_id\":\"101\",\"subject\":\"Summer deals are here!\","
    "\"template_id\":\"templ-1234\",\"template_version\":\"1\","
    "\"timestamp\":\"1454442600\",\"transmission_id\":"
    "\"65832150921904138\"}}}]";

/* the reference's bounce example */

static const char  *bounce_ref =
    "[{\"msys\":{\"message_event\":{\"type\":\"bounce\",\"bounce_class\":"
    "\"1\",\"campaign_id\":\"Example Campaign Name\",\"error_code\":\"554\","
    "\"event_id\":\"92356927693813856\",\"message_id\":"
    "\"000443ee14578172be22\",\"rcpt_to\":\"recipient@example.com\","
    "\"raw_rcpt_to\":\"recipient@example.com\",\"raw_reason\":"
    "\"MAIL REFUSED - IP (17.99.99.99) is in black list\",\"timestamp\":"
    "\"1460989507\",\"transmission_id\":\"65832150921904138\","
    "\"ip_address\":\"127.0.0.1\"}}}]";


static mt_rc_t
run(const char *body)
{
    wh_reset(&t);
    wh_basic(&t, "sparkpost", "s3cret");

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
    rc = wh_run(&t, &conf, JSON, injection, strlen(injection), NOW);
    is_int(rc, MT_ERR_AUTH_MISSING, "no Authorization: auth_missing");
    is_int(t.nevents, 0, "no Authorization: nothing emitted");

    wh_reset(&t);
    wh_basic(&t, "sparkpost", "wrong");
    rc = wh_run(&t, &conf, JSON, injection, strlen(injection), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "wrong password: auth_failed");

    wh_reset(&t);
    wh_basic(&t, "sparkpost", "s3cret");
    rc = wh_run(&t, &conf, JSON, injection, strlen(injection), NOW);
    is_int(rc, MT_OK, "right password: ok");

    /* SparkPost's oauth2 mode sends the token it fetched as a bearer */

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer s3cret");
    rc = wh_run(&t, &conf, JSON, injection, strlen(injection), NOW);
    is_int(rc, MT_OK, "bearer token: ok");

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer S3CRET");
    rc = wh_run(&t, &conf, JSON, injection, strlen(injection), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "bearer token, other case: failed");

    wh_conf(&c, &k, MT_SRC_SPARKPOST, "sp-user:sp-pass");

    wh_reset(&t);
    wh_basic(&t, "sp-user", "sp-pass");
    rc = wh_run(&t, &c, JSON, injection, strlen(injection), NOW);
    is_int(rc, MT_OK, "user:password key: ok");

    wh_reset(&t);
    wh_basic(&t, "sp-use", "sp-pass");
    rc = wh_run(&t, &c, JSON, injection, strlen(injection), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "user:password key, wrong user: failed");

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer sp-user:sp-pass");
    rc = wh_run(&t, &c, JSON, injection, strlen(injection), NOW);
    is_int(rc, MT_OK, "user:password key as a bearer token: ok");

    /* a fresh random credential, as basic auth and as a bearer token */

    wh_fresh_secret(fresh);
    wh_conf(&c, &k, MT_SRC_SPARKPOST, fresh);

    wh_reset(&t);
    wh_basic(&t, "hook", fresh);
    rc = wh_run(&t, &c, JSON, injection, strlen(injection), NOW);
    is_int(rc, MT_OK, "fresh random secret, basic: ok");

    snprintf(bearer, sizeof(bearer), "Bearer %s", fresh);
    wh_reset(&t);
    wh_header(&t, "authorization", bearer);
    rc = wh_run(&t, &c, JSON, injection, strlen(injection), NOW);
    is_int(rc, MT_OK, "fresh random secret, bearer: ok");

    strcpy(wrong, fresh);
    wrong[0] = (wrong[0] == 'a') ? 'b' : 'a';
    wh_reset(&t);
    wh_basic(&t, "hook", wrong);
    rc = wh_run(&t, &c, JSON, injection, strlen(injection), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "fresh secret, one char changed: failed");

    wh_conf(&c, NULL, MT_SRC_SPARKPOST, NULL);
    c.auth_off = 1;

    wh_reset(&t);
    rc = wh_run(&t, &c, JSON, injection, strlen(injection), NOW);
    is_int(rc, MT_OK, "auth off, no keys: ok");
    is_int(t.nevents, 1, "auth off: event emitted");
}


static void
test_transport(void)
{
    mt_rc_t  rc;

    wh_reset(&t);
    wh_basic(&t, "u", "s3cret");
    rc = wh_run(&t, &conf, "text/plain", injection, strlen(injection), NOW);
    is_int(rc, MT_ERR_CONTENT_TYPE, "text/plain: refused");

    wh_reset(&t);
    wh_basic(&t, "u", "s3cret");
    rc = wh_run(&t, &conf, "application/json; charset=UTF-8", injection,
                strlen(injection), NOW);
    is_int(rc, MT_OK, "json with charset: ok");

    wh_reset(&t);
    wh_basic(&t, "u", "s3cret");
    rc = wh_run(&t, &conf, NULL, injection, strlen(injection), NOW);
    is_int(rc, MT_ERR_CONTENT_TYPE, "no content type: refused");

    /* wrong credential wins over a wrong content type: auth comes first */

    wh_reset(&t);
    wh_basic(&t, "u", "nope");
    rc = wh_run(&t, &conf, "text/plain", injection, strlen(injection), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "bad auth and bad type: auth first");

    is_int(run(""), MT_ERR_BODY_EMPTY, "empty body");
    is_int(run("[{\"msys\":{\"message_event\":{\"type\":"), MT_ERR_JSON,
           "truncated JSON");
    is_int(run("[{msys}]"), MT_ERR_JSON, "malformed JSON");
    is_int(run("{\"msys\":{}}"), MT_ERR_PAYLOAD, "an object, not an array");
    is_int(run("[1]"), MT_ERR_PAYLOAD, "element not an object");
    is_int(run("[{\"cust\":{}}]"), MT_ERR_PAYLOAD, "element without msys");
    is_int(run("[{\"msys\":[]}]"), MT_ERR_PAYLOAD, "msys not an object");
    is_int(run("[{\"msys\":{\"track_event\":{\"event_id\":\"1\"}}}]"),
           MT_ERR_PAYLOAD, "event without type");
    is_int(run("[{\"msys\":{\"track_event\":7}}]"), MT_ERR_PAYLOAD,
           "event not an object");

    /* a bad element anywhere refuses the batch before anything is queued */

    is_int(run("[{\"msys\":{\"message_event\":{\"type\":\"delivery\","
               "\"event_id\":\"1\"}}},{\"msys\":{\"message_event\":"
               "{\"type\":7}}}]"), MT_ERR_PAYLOAD, "bad second element");
    is_int(t.nevents, 0, "bad second element: nothing emitted");

    /* a class there twice: the first wins, as for every key */

    is_int(run("[{\"msys\":{\"message_event\":{\"type\":\"delivery\","
               "\"event_id\":\"dup-1\"},\"message_event\":{\"type\":"
               "\"bounce\",\"event_id\":\"dup-2\"}}}]"), MT_OK,
           "a class twice: ok");
    is_int(t.nevents, 1, "a class twice: one event");
    is_str(t.events[0].id, "dup-1", "a class twice: the first");

    is_int(run("[{\"msys\":{\"message_event\":{\"type\":\"delivery\","
               "\"event_id\":\"dup-3\"},\"message_event\":{\"event_id\":"
               "\"dup-4\"}}}]"), MT_OK,
           "a class twice, the second without a type: not looked at");
}


static void
test_pings(void)
{
    is_int(run("[{\"msys\":{}}]"), MT_DECLINED, "ping: declined (200)");
    is_int(t.nevents, 0, "ping: nothing emitted");

    is_int(run("[{\"msys\":{}},{\"msys\":{}}]"), MT_DECLINED,
           "two pings: declined");
    is_int(run("[]"), MT_DECLINED, "empty batch: declined");

    is_int(run("[{\"msys\":{}},{\"msys\":{\"message_event\":{\"type\":"
               "\"delivery\",\"event_id\":\"5\"}}}]"), MT_OK,
           "ping and an event: ok");
    is_int(t.nevents, 1, "ping and an event: one event");

    /*
     * Nothing signed carries a time: a tolerance, if set, does not apply
     * to the events' own times (a batch retried for 8 hours is old).
     */

    conf.tolerance = 300;
    is_int(run("[{\"msys\":{\"message_event\":{\"type\":\"delivery\","
               "\"event_id\":\"old\",\"timestamp\":\"1000000000\"}}},"
               "{\"msys\":{\"message_event\":{\"type\":\"delivery\","
               "\"event_id\":\"new\",\"timestamp\":\"4102444800\"}}}]"),
           MT_OK, "events from 2001 and 2100, tolerance 300: ok");
    is_int(t.nevents, 2, "old and future events: both kept");
    conf.tolerance = 0;

    /* the creation test batch is an ordinary batch: it must get 200 */

    is_int(run(injection), MT_OK, "sample injection batch: ok");
}


static void
test_events(void)
{
    char        *big, *p;
    size_t       i;
    mt_event_t  *e;
    mt_str_t     id;

    is_int(run(injection), MT_OK, "injection: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_SENT, "injection: sent");
    is_str(e->esp_type, "injection", "injection: esp_type");
    is_str(e->id, "92356927693813856", "injection: event_id");
    is_int(e->ts, 1454442600000LL, "injection: timestamp string");
    is_str(e->rcpt, "Recipient@example.com", "injection: raw_rcpt_to");
    is_str(e->mid, "app-77", "injection: mid from rcpt_meta");
    is_str(e->esp_mid, "65832150921904138", "injection: transmission_id");
    is_str(e->tag, "Example Campaign Name", "injection: campaign_id");
    is_str(e->ip, NULL, "injection: sending ip is not a client ip");

    is_int(run(bounce_ref), MT_OK, "reference bounce: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_BOUNCED, "reference bounce: bounced");
    is_int(e->bounce, MT_BOUNCE_UNDETERMINED,
           "reference bounce: class 1, bare 554: undetermined");
    is_int(e->smtp_code, 554, "reference bounce: error_code");
    is_str(e->reason, "MAIL REFUSED - IP (17.99.99.99) is in black list",
           "reference bounce: raw_reason");
    is_str(e->mid, "65832150921904138", "reference bounce: mid fallback");
    is_str(e->ip, NULL, "reference bounce: ip_address of the MTA dropped");

    is_int(run("[{\"msys\":{\"message_event\":{\"type\":\"bounce\","
               "\"bounce_class\":\"10\",\"customer_id\":\"00000\","
               "\"error_code\":\"550\",\"event_id\":\"84345317653491230\","
               "\"message_id\":\"0004e3724f57753a3561\",\"raw_rcpt_to\":"
               "\"bounce@example.com\",\"raw_reason\":\"550 5.1.1 "
               "<bounce@example.com>: Recipient address rejected: User "
               "unknown\",\"rcpt_to\":\"bounce@example.com\",\"reason\":"
               "\"550 5.1.1 ...@... Recipient address rejected: ...\","
               "\"timestamp\":\"1464824548\",\"transmission_id\":"
               "\"84345317650824116\"}},\"cust\":{\"id\":\"00000\"}}]"),
           MT_OK, "bounce 10: ok");
    e = &t.events[0];
    is_int(e->bounce, MT_BOUNCE_HARD, "bounce 10: hard");
    is_str(e->smtp_status, "5.1.1", "bounce 10: smtp status");
    is_int(e->smtp_code, 550, "bounce 10: smtp code");

    is_int(run("[{\"msys\":{\"message_event\":{\"type\":\"bounce\","
               "\"bounce_class\":\"1\",\"raw_reason\":\"552 5.2.2 over "
               "quota\",\"event_id\":\"77\"}}}]"), MT_OK, "class 1: ok");
    is_int(t.events[0].bounce, MT_BOUNCE_SOFT,
           "class 1 with 5.2.2: refined to soft");

    is_int(run("[{\"msys\":{\"message_event\":{\"type\":\"bounce\","
               "\"bounce_class\":\"777\",\"raw_reason\":\"550 5.7.1 "
               "policy\",\"event_id\":\"78\"}}}]"), MT_OK,
           "unknown class: ok");
    is_int(t.events[0].type, MT_EV_BOUNCED, "unknown class: bounced");
    is_int(t.events[0].bounce, MT_BOUNCE_BLOCK, "unknown class 5.7.1: block");

    is_int(run("[{\"msys\":{\"message_event\":{\"type\":\"delay\","
               "\"bounce_class\":\"21\",\"error_code\":\"454\",\"event_id\":"
               "\"84345317653675522\",\"raw_rcpt_to\":"
               "\"recipient@nomx.example.com\",\"raw_reason\":\"454 4.4.4 "
               "[internal] no MX or A for domain\",\"timestamp\":"
               "\"1464825748\",\"transmission_id\":\"84345317650824116\"}}}]"),
           MT_OK, "delay: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_DEFERRED, "delay: deferred");
    is_int(e->bounce, MT_BOUNCE_SOFT, "delay: soft");
    is_str(e->smtp_status, "4.4.4", "delay: smtp status");

    is_int(run("[{\"msys\":{\"message_event\":{\"type\":"
               "\"generation_failure\",\"error_code\":\"554\",\"event_id\":"
               "\"139013368081587254\",\"raw_rcpt_to\":"
               "\"recipient@example.com\",\"raw_reason\":\"554 5.3.3 "
               "[internal] Error while rendering part html: ...\","
               "\"transmission_id\":\"139013368081177607\",\"timestamp\":"
               "\"2018-10-11T23:24:45.000+00:00\"}}}]"), MT_OK,
           "generation_failure: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_REJECTED, "generation_failure: rejected");
    is_int(e->bounce, MT_BOUNCE_NONE, "generation_failure: no bounce");
    is_int(e->ts, 1539300285000LL, "generation_failure: ISO timestamp");

    is_int(run("[{\"msys\":{\"track_event\":{\"type\":\"click\","
               "\"event_id\":\"c1\",\"raw_rcpt_to\":\"r@example.com\","
               "\"ip_address\":\"198.51.100.7\",\"user_agent\":\"Mozilla/5.0 "
               "(X11)\",\"target_link_url\":\"https://example.com/x?a=1\","
               "\"rcpt_tags\":[\"t1\",7,\"t2\"],\"rcpt_meta\":"
               "{\"mail_track_id\":42},\"timestamp\":\"1700000000\","
               "\"geo_ip\":{\"country\":\"US\"}}}}]"), MT_OK, "click: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_CLICKED, "click: clicked");
    is_str(e->url, "https://example.com/x?a=1", "click: target_link_url");
    is_str(e->ip, "198.51.100.7", "click: ip_address");
    is_str(e->ua, "Mozilla/5.0 (X11)", "click: user_agent");
    is_str(e->tag, "t1,t2", "click: rcpt_tags joined, non-strings left out");
    is_str(e->mid, "42", "click: integer app id");

    is_int(run("[{\"msys\":{\"track_event\":{\"type\":\"open\","
               "\"event_id\":\"o1\",\"ip_address\":\"203.0.113.9\","
               "\"user_agent\":\"Mozilla/5.0\"}}}]"), MT_OK, "open: ok");
    is_int(t.events[0].type, MT_EV_OPENED, "open: opened");
    is_str(t.events[0].ip, "203.0.113.9", "open: ip");
    ok(t.events[0].machine == MT_MACHINE_UNKNOWN, "open: machine unknown");

    is_int(run("[{\"msys\":{\"message_event\":{\"type\":"
               "\"spam_complaint\",\"event_id\":\"s1\",\"fbtype\":"
               "\"abuse\",\"rcpt_to\":\"r@example.com\"}}}]"), MT_OK,
           "spam_complaint: ok");
    is_int(t.events[0].type, MT_EV_COMPLAINED, "spam_complaint: complained");
    is_str(t.events[0].reason, "abuse", "spam_complaint: fbtype");
    is_str(t.events[0].rcpt, "r@example.com", "spam_complaint: rcpt_to");

    /* unknown classes and types are kept */

    is_int(run("[{\"msys\":{\"relay_event\":{\"type\":\"relay_injection\","
               "\"event_id\":\"r1\"}}},{\"msys\":{\"message_event\":"
               "{\"type\":\"sms_status\",\"event_id\":\"r2\"}}}]"), MT_OK,
           "relay and sms events: ok");
    is_int(t.nevents, 2, "relay and sms: two events");
    is_int(t.events[0].type, MT_EV_OTHER, "relay_injection: other");
    is_str(t.events[0].esp_type, "relay_injection", "relay: esp_type");
    is_int(t.events[1].type, MT_EV_OTHER, "sms_status: other");

    /* two classes in one msys are both taken */

    is_int(run("[{\"msys\":{\"message_event\":{\"type\":\"delivery\","
               "\"event_id\":\"d1\"},\"track_event\":{\"type\":\"open\","
               "\"event_id\":\"o2\"}}}]"), MT_OK, "two classes: ok");
    is_int(t.nevents, 2, "two classes: two events");

    /* an integer event_id beyond 2^53 stays exact */

    is_int(run("[{\"msys\":{\"message_event\":{\"type\":\"delivery\","
               "\"event_id\":92356927693813857}}}]"), MT_OK,
           "integer event_id: ok");
    is_str(t.events[0].id, "92356927693813857", "integer event_id: exact");

    /* no event_id: a hash, the same on a retry, new for a new event */

    is_int(run("[{\"msys\":{\"track_event\":{\"type\":\"open\","
               "\"message_id\":\"m\",\"timestamp\":\"1700000000\"}}}]"),
           MT_OK, "no event_id: ok");
    is_int(t.events[0].id.len, MT_WH_HASH_ID_LEN, "no event_id: hashed");
    id.len = t.events[0].id.len;
    id.data = (u_char *) strdup((char *) t.events[0].id.data);

    is_int(run("[{\"msys\":{\"track_event\":{\"type\":\"open\","
               "\"message_id\":\"m\",\"timestamp\":\"1700000000\"}}}]"),
           MT_OK, "no event_id again: ok");
    is_str(t.events[0].id, (char *) id.data, "no event_id: stable");

    is_int(run("[{\"msys\":{\"track_event\":{\"type\":\"open\","
               "\"message_id\":\"m\",\"timestamp\":\"1700000001\"}}}]"),
           MT_OK, "no event_id, next second: ok");
    ok(strcmp((char *) t.events[0].id.data, (char *) id.data) != 0,
       "no event_id: a later open differs");
    free(id.data);

    /* invalid UTF-8 repaired */

    is_int(run("[{\"msys\":{\"message_event\":{\"type\":\"bounce\","
               "\"bounce_class\":\"10\",\"event_id\":\"u1\",\"raw_reason\":"
               "\"550 5.1.1 Empf\xe4nger unbekannt\"}}}]"), MT_OK,
           "Latin-1 reason: ok");
    is_str(t.events[0].reason, "550 5.1.1 Empf\xef\xbf\xbdnger unbekannt",
           "Latin-1 reason: repaired");

    /* 1000 events, CRLF between them */

    big = malloc(1000 * 160 + 16);
    p = big;
    *p++ = '[';

    for (i = 0; i < 1000; i++) {
        p += sprintf(p, "%s\r\n{\"msys\":{\"track_event\":{\"type\":"
                     "\"click\",\"event_id\":\"%zu\",\"target_link_url\":"
                     "\"https://example.com/%zu\"}}}", i ? "," : "", i, i);
    }

    strcpy(p, "\r\n]\r\n");

    is_int(run(big), MT_OK, "1000 events: ok");
    is_int(t.nevents, 1000, "1000 events: all emitted");
    is_str(t.events[999].id, "999", "1000 events: last id");
    is_str(t.events[999].url, "https://example.com/999", "1000: last url");
    free(big);

    /* more than MT_WH_MAX_EVENTS: refused before anything is queued */

    big = malloc((MT_WH_MAX_EVENTS + 1) * 48 + 16);
    p = big;
    *p++ = '[';

    for (i = 0; i <= MT_WH_MAX_EVENTS; i++) {
        p += sprintf(p, "%s{\"msys\":{\"x\":{\"type\":\"open\"}}}",
                     i ? "," : "");
    }

    strcpy(p, "]");

    is_int(run(big), MT_ERR_TOO_MANY, "too many events: refused");
    is_int(t.nevents, 0, "too many events: nothing emitted");
    free(big);

    /* the sink fails halfway: the error is returned at once */

    wh_reset(&t);
    wh_basic(&t, "u", "s3cret");
    t.emit_rc = MT_ERR_FULL;
    t.emit_limit = 1;
    p = "[{\"msys\":{\"x\":{\"type\":\"open\",\"event_id\":\"1\"}}},"
        "{\"msys\":{\"x\":{\"type\":\"open\",\"event_id\":\"2\"}}},"
        "{\"msys\":{\"x\":{\"type\":\"open\",\"event_id\":\"3\"}}}]";
    is_int(wh_run(&t, &conf, JSON, p, strlen(p), NOW), MT_ERR_FULL,
           "zone full on the second: passed on");
    is_int(t.nevents, 1, "zone full: stopped after the first");
    t.emit_rc = MT_OK;
}


static void
test_table(void)
{
    size_t  i;
    char    body[512];

    static const struct {
        const char       *type;
        const char       *cls;
        mt_event_type_e   want;
        mt_bounce_e       bounce;
    } rows[] = {
        { "injection", NULL, MT_EV_SENT, MT_BOUNCE_NONE },
        { "delivery", NULL, MT_EV_DELIVERED, MT_BOUNCE_NONE },
        { "delay", "22", MT_EV_DEFERRED, MT_BOUNCE_SOFT },
        { "policy_rejection", "25", MT_EV_REJECTED, MT_BOUNCE_NONE },
        { "generation_failure", NULL, MT_EV_REJECTED, MT_BOUNCE_NONE },
        { "generation_rejection", NULL, MT_EV_REJECTED, MT_BOUNCE_NONE },
        { "spam_complaint", NULL, MT_EV_COMPLAINED, MT_BOUNCE_NONE },
        { "open", NULL, MT_EV_OPENED, MT_BOUNCE_NONE },
        { "initial_open", NULL, MT_EV_OPENED, MT_BOUNCE_NONE },
        { "amp_open", NULL, MT_EV_OPENED, MT_BOUNCE_NONE },
        { "amp_initial_open", NULL, MT_EV_OPENED, MT_BOUNCE_NONE },
        { "click", NULL, MT_EV_CLICKED, MT_BOUNCE_NONE },
        { "amp_click", NULL, MT_EV_CLICKED, MT_BOUNCE_NONE },
        { "list_unsubscribe", NULL, MT_EV_UNSUBSCRIBED, MT_BOUNCE_NONE },
        { "link_unsubscribe", NULL, MT_EV_UNSUBSCRIBED, MT_BOUNCE_NONE },
        { "relay_message", NULL, MT_EV_OTHER, MT_BOUNCE_NONE },
        { "relay_rejection", NULL, MT_EV_OTHER, MT_BOUNCE_NONE },
        { "sms_status", NULL, MT_EV_OTHER, MT_BOUNCE_NONE },
        { "ab_test_completed", NULL, MT_EV_OTHER, MT_BOUNCE_NONE },
        { "bounce", NULL, MT_EV_BOUNCED, MT_BOUNCE_UNDETERMINED },
        { "bounce", "1", MT_EV_BOUNCED, MT_BOUNCE_UNDETERMINED },
        { "bounce", "10", MT_EV_BOUNCED, MT_BOUNCE_HARD },
        { "bounce", "20", MT_EV_BOUNCED, MT_BOUNCE_SOFT },
        { "bounce", "21", MT_EV_BOUNCED, MT_BOUNCE_SOFT },
        { "bounce", "22", MT_EV_BOUNCED, MT_BOUNCE_SOFT },
        { "bounce", "23", MT_EV_BOUNCED, MT_BOUNCE_SOFT },
        { "bounce", "24", MT_EV_BOUNCED, MT_BOUNCE_SOFT },
        { "bounce", "25", MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "bounce", "26", MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "bounce", "30", MT_EV_BOUNCED, MT_BOUNCE_HARD },
        { "bounce", "40", MT_EV_BOUNCED, MT_BOUNCE_SOFT },
        { "bounce", "50", MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "bounce", "51", MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "bounce", "52", MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "bounce", "53", MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "bounce", "54", MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "bounce", "60", MT_EV_OTHER, MT_BOUNCE_NONE },
        { "bounce", "70", MT_EV_BOUNCED, MT_BOUNCE_SOFT },
        { "bounce", "80", MT_EV_OTHER, MT_BOUNCE_NONE },
        { "bounce", "90", MT_EV_UNSUBSCRIBED, MT_BOUNCE_NONE },
        { "bounce", "100", MT_EV_OTHER, MT_BOUNCE_NONE },
        { "out_of_band", "10", MT_EV_BOUNCED, MT_BOUNCE_HARD },
        { "out_of_band", "22", MT_EV_BOUNCED, MT_BOUNCE_SOFT },
        { "out_of_band", "51", MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "out_of_band", "60", MT_EV_OTHER, MT_BOUNCE_NONE },
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (rows[i].cls) {
            snprintf(body, sizeof(body),
                     "[{\"msys\":{\"message_event\":{\"type\":\"%s\","
                     "\"bounce_class\":\"%s\",\"event_id\":\"%zu\"}}}]",
                     rows[i].type, rows[i].cls, i);

        } else {
            snprintf(body, sizeof(body),
                     "[{\"msys\":{\"message_event\":{\"type\":\"%s\","
                     "\"event_id\":\"%zu\"}}}]", rows[i].type, i);
        }

        if (run(body) != MT_OK || t.nevents != 1) {
            ok(0, "table %s/%s: processed", rows[i].type,
               rows[i].cls ? rows[i].cls : "-");
            continue;
        }

        is_int(t.events[0].type, rows[i].want, "table %s/%s: %s",
               rows[i].type, rows[i].cls ? rows[i].cls : "-",
               mt_event_type_names[rows[i].want]);
        is_int(t.events[0].bounce, rows[i].bounce, "table %s/%s: bounce %s",
               rows[i].type, rows[i].cls ? rows[i].cls : "-",
               mt_bounce_names[rows[i].bounce]);
        is_str(t.events[0].esp_type, rows[i].type, "table %s: esp_type",
               rows[i].type);
    }
}


int
main(void)
{
    wh_conf(&conf, &key, MT_SRC_SPARKPOST, "s3cret");

    test_auth();
    test_transport();
    test_pings();
    test_events();
    test_table();

    wh_free(&t);

    return done_testing();
}

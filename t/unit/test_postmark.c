
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Postmark: credential checks, record types, bounce types, ids.
 */


#include "mt_tap.h"
#include "mt_wh_test.h"


#define JSON  "application/json"
#define NOW   1764000000


static wh_test_t     t;
static mt_wh_conf_t  conf;
static mt_wh_key_t   key;


static const char  *bounce_ref =
    "{\"ID\":42,\"Type\":\"HardBounce\",\"TypeCode\":1,\"Name\":"
    "\"Hard bounce\",\"Tag\":\"Test\",\"MessageID\":"
    "\"883953f4-6105-42a2-a16a-77a8eac79483\","
    "\"Description\":\"The server was unable to deliver your message (ex: "
    "unknown user, mailbox not found).\",\"Details\":\"Test bounce details\","
    "\"Email\":\"john@example.com\",\"BouncedAt\":"
    "\"2014-08-01T13:28:10.2735393-04:00\",\"DumpAvailable\":true,"
    "\"Inactive\":true,\"CanActivate\":true,\"Subject\":\"Test subject\","
    "\"Metadata\":{\"user_id\":43}}";

static const char  *delivery =
    "{\"RecordType\":\"Delivery\",\"ServerID\":23,\"MessageStream\":"
    "\"outbound\",\"MessageID\":\"883953f4-6105-42a2-a16a-77a8eac79483\","
    "\"Recipient\":\"john@example.com\",\"Tag\":\"welcome-email\","
    "\"DeliveredAt\":\"2014-08-01T13:28:10.2735393-04:00\",\"Details\":"
    "\"smtp;250 2.0.0 OK 1406914090 gsmtp\",\"Metadata\":{\"a_key\":"
    "\"a_value\",\"mail_track_id\":\"m-123\"}}";

static const char  *click =
    "{\"RecordType\":\"Click\",\"MessageStream\":\"outbound\","
    "\"ClickLocation\":\"HTML\",\"Client\":{\"Name\":\"Chrome 35.0\","
    "\"Company\":\"Google\",\"Family\":\"Chrome\"},\"OS\":{\"Name\":"
    "\"OS X 10.7 Lion\"},\"Platform\":\"Desktop\",\"UserAgent\":"
    "\"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) etc.\","
    "\"OriginalLink\":\"https://example.com/click/me\",\"Geo\":"
    "{\"CountryISOCode\":\"RS\",\"Country\":\"Serbia\",\"City\":\"Novi Sad\","
    "\"IP\":\"8.8.8.8\"},\"MessageID\":"
    "\"f4830d10-9c35-4f0c-bca3-3d9b459821f8\",\"ReceivedAt\":"
    "\"2017-10-25T15:21:11.9065619Z\",\"Tag\":\"welcome-email\","
    "\"Recipient\":\"recipient@example.com\",\"Metadata\":"
    "{\"mail_track_id\":\"m-9\"}}";


static mt_rc_t
run(const char *body)
{
    wh_reset(&t);
    wh_basic(&t, "postmark", "s3cret");

    return wh_run(&t, &conf, JSON, body, strlen(body), NOW);
}


static void
test_auth(void)
{
    char          fresh[64], wrong[64], bearer[80];
    mt_rc_t       rc;
    mt_wh_key_t   keys[2];
    mt_wh_conf_t  c;

    wh_reset(&t);
    rc = wh_run(&t, &conf, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_ERR_AUTH_MISSING, "no Authorization: auth_missing");
    is_int(t.nevents, 0, "no Authorization: nothing emitted");
    ok(t.wh.basic_auth, "no Authorization: a 401 carries a challenge");

    wh_reset(&t);
    wh_basic(&t, "postmark", "wrong");
    rc = wh_run(&t, &conf, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "wrong password: auth_failed");
    is_int(t.nevents, 0, "wrong password: nothing emitted");

    wh_reset(&t);
    wh_basic(&t, "anyone", "s3cret");
    rc = wh_run(&t, &conf, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_OK, "right password, any user name: ok");
    is_int(t.nevents, 1, "right password: one event");

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer s3cret");
    rc = wh_run(&t, &conf, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_OK, "bearer token: ok");

    wh_reset(&t);
    wh_header(&t, "authorization", "Bearer s3cre");
    rc = wh_run(&t, &conf, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "bearer token one byte short: failed");

    wh_reset(&t);
    wh_header(&t, "authorization", "Basic !!!notbase64");
    rc = wh_run(&t, &conf, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "basic with bad base64: failed");

    wh_reset(&t);
    wh_header(&t, "authorization", "Digest s3cret");
    rc = wh_run(&t, &conf, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "unknown scheme: failed");

    /* a key with a colon is user:password */

    wh_conf(&c, &keys[0], MT_SRC_POSTMARK, "hook:pa:ss");

    wh_reset(&t);
    wh_basic(&t, "hook", "pa:ss");
    rc = wh_run(&t, &c, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_OK, "user:password key, both right: ok");

    wh_reset(&t);
    wh_basic(&t, "other", "pa:ss");
    rc = wh_run(&t, &c, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "user:password key, wrong user: failed");

    /* rotation: any key verifies */

    wh_conf(&c, &keys[0], MT_SRC_POSTMARK, "old-secret");
    keys[1].raw.data = (u_char *) "new-secret";
    keys[1].raw.len = 10;
    keys[1].data = NULL;
    keys[1].free = NULL;
    c.keys = keys;
    c.nkeys = 2;

    wh_reset(&t);
    wh_basic(&t, "u", "new-secret");
    rc = wh_run(&t, &c, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_OK, "second of two keys: ok");

    wh_reset(&t);
    wh_basic(&t, "u", "old-secret");
    rc = wh_run(&t, &c, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_OK, "first of two keys: ok");

    /* auth off, no keys: accepted without a credential */

    /* a fresh random credential, as basic auth and as a bearer token */

    wh_fresh_secret(fresh);
    wh_conf(&c, &keys[0], MT_SRC_POSTMARK, fresh);

    wh_reset(&t);
    wh_basic(&t, "hook", fresh);
    rc = wh_run(&t, &c, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_OK, "fresh random secret, basic: ok");

    snprintf(bearer, sizeof(bearer), "Bearer %s", fresh);
    wh_reset(&t);
    wh_header(&t, "authorization", bearer);
    rc = wh_run(&t, &c, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_OK, "fresh random secret, bearer: ok");

    strcpy(wrong, fresh);
    wrong[0] = (wrong[0] == 'a') ? 'b' : 'a';
    wh_reset(&t);
    wh_basic(&t, "hook", wrong);
    rc = wh_run(&t, &c, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_ERR_AUTH_FAILED, "fresh secret, one char changed: failed");

    wh_conf(&c, NULL, MT_SRC_POSTMARK, NULL);

    wh_reset(&t);
    rc = wh_run(&t, &c, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_ERR_AUTH_MISSING, "no keys, auth on: refused");

    c.auth_off = 1;

    wh_reset(&t);
    rc = wh_run(&t, &c, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_OK, "no keys, auth off: ok");
    is_int(t.nevents, 1, "auth off: the event is emitted");
}


static void
test_transport(void)
{
    mt_rc_t      rc;
    size_t       i, n;
    char        *big;
    const char  *types_ok[] = {
        "application/json", "application/json; charset=utf-8",
        "Application/JSON", "application/vnd.postmark+json", NULL
    };
    const char  *types_bad[] = {
        "text/plain", "application/x-www-form-urlencoded",
        "application/jsonp", "", NULL
    };

    for (i = 0; types_ok[i]; i++) {
        wh_reset(&t);
        wh_basic(&t, "u", "s3cret");
        rc = wh_run(&t, &conf, types_ok[i], delivery, strlen(delivery), NOW);
        is_int(rc, MT_OK, "content type \"%s\": ok", types_ok[i]);
    }

    for (i = 0; types_bad[i]; i++) {
        wh_reset(&t);
        wh_basic(&t, "u", "s3cret");
        rc = wh_run(&t, &conf, types_bad[i], delivery, strlen(delivery), NOW);
        is_int(rc, MT_ERR_CONTENT_TYPE, "content type \"%s\": refused",
               types_bad[i]);
    }

    wh_reset(&t);
    wh_basic(&t, "u", "s3cret");
    rc = wh_run(&t, &conf, NULL, delivery, strlen(delivery), NOW);
    is_int(rc, MT_ERR_CONTENT_TYPE, "no content type: refused");

    is_int(run(""), MT_ERR_BODY_EMPTY, "empty body");
    is_int(run(" \r\n\t"), MT_ERR_BODY_EMPTY, "blank body");
    is_int(run("{\"RecordType\":"), MT_ERR_JSON, "truncated JSON");
    is_int(run("{RecordType: Delivery}"), MT_ERR_JSON, "malformed JSON");
    is_int(run("\"Delivery\""), MT_ERR_PAYLOAD, "a JSON string");
    is_int(run("[]"), MT_ERR_PAYLOAD, "an array: not Postmark's shape");
    is_int(run("{\"RecordType\":7}"), MT_ERR_PAYLOAD, "RecordType number");
    is_int(run("{\"RecordType\":\"\"}"), MT_ERR_PAYLOAD, "RecordType empty");
    is_int(run("{\"MessageID\":\"x\"}"), MT_ERR_PAYLOAD, "no RecordType");
    is_int(t.nevents, 0, "shape error: nothing emitted");

    /* one changed byte breaks the JSON: nothing is queued */

    big = strdup(delivery);
    big[strlen(big) - 1] = ']';
    is_int(run(big), MT_ERR_JSON, "one changed byte: refused");
    is_int(t.nevents, 0, "one changed byte: nothing emitted");
    free(big);

    /* CRLF pretty-printed */

    rc = run("{\r\n  \"RecordType\": \"Delivery\",\r\n  \"MessageID\": "
             "\"abc\",\r\n  \"Recipient\": \"a@example.com\"\r\n}\r\n");
    is_int(rc, MT_OK, "CRLF body: ok");
    is_str(t.events[0].rcpt, "a@example.com", "CRLF body: recipient");

    /* a 1000-element array is refused whole: Postmark posts one object */

    n = 1000 * (strlen(delivery) + 1) + 3;
    big = malloc(n);
    big[0] = '[';
    big[1] = '\0';

    for (i = 0; i < 1000; i++) {
        strcat(big, delivery);
        strcat(big, i < 999 ? "," : "]");
    }

    is_int(run(big), MT_ERR_PAYLOAD, "1000-element array: refused");
    is_int(t.nevents, 0, "1000-element array: nothing emitted");
    free(big);

    /* one large record (a 1 MB bounce Content) */

    n = 1024 * 1024;
    big = malloc(n + 256);
    i = sprintf(big, "{\"RecordType\":\"Bounce\",\"ID\":7,\"Type\":"
                "\"HardBounce\",\"Email\":\"a@example.com\",\"Content\":\"");
    memset(big + i, 'x', n);
    strcpy(big + i + n, "\"}");

    is_int(run(big), MT_OK, "1 MB record: ok");
    is_int(t.nevents, 1, "1 MB record: one event");
    free(big);

    /* the sink refuses: the error is passed on */

    wh_reset(&t);
    wh_basic(&t, "u", "s3cret");
    t.emit_rc = MT_ERR_FULL;
    t.emit_limit = 0;
    rc = wh_run(&t, &conf, JSON, delivery, strlen(delivery), NOW);
    is_int(rc, MT_ERR_FULL, "zone full: passed on");
    t.emit_rc = MT_OK;
}


static void
test_reference(void)
{
    mt_event_t  *e;

    /* the reference example: no RecordType, inferred from Type+BouncedAt */

    is_int(run(bounce_ref), MT_OK, "reference bounce: ok");
    is_int(t.nevents, 1, "reference bounce: one event");

    e = &t.events[0];
    is_int(e->type, MT_EV_BOUNCED, "reference bounce: bounced");
    is_int(e->bounce, MT_BOUNCE_HARD, "reference bounce: hard");
    is_str(e->esp_type, "Bounce:HardBounce", "reference bounce: esp_type");
    is_str(e->id, "42", "reference bounce: Postmark's ID");
    is_int(e->ts, 1406914090273LL, "reference bounce: BouncedAt in ms");
    is_str(e->rcpt, "john@example.com", "reference bounce: Email");
    is_str(e->mid, "883953f4-6105-42a2-a16a-77a8eac79483",
           "reference bounce: no app id, mid is MessageID");
    is_str(e->esp_mid, NULL, "reference bounce: esp_mid folded into mid");
    is_str(e->reason, "Test bounce details", "reference bounce: Details");
    is_str(e->tag, "Test", "reference bounce: Tag");
    is_int(e->src, MT_SRC_POSTMARK, "reference bounce: src");
    is_int(e->rt, NOW * 1000LL, "reference bounce: rt");
    ok(e->machine == MT_MACHINE_UNKNOWN, "reference bounce: no machine");

    /* an event from 2014 is accepted: Postmark signs no time */

    is_int(e->ts < (NOW - 86400 * 365) * 1000LL, 1,
           "no timestamp check on an unsigned provider");
}


static void
test_records(void)
{
    mt_event_t  *e;
    mt_str_t     id;

    is_int(run(delivery), MT_OK, "delivery: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_DELIVERED, "delivery: delivered");
    is_str(e->esp_type, "Delivery", "delivery: esp_type");
    is_str(e->mid, "m-123", "delivery: mid from Metadata.mail_track_id");
    is_str(e->esp_mid, "883953f4-6105-42a2-a16a-77a8eac79483",
           "delivery: esp_mid");
    is_str(e->rcpt, "john@example.com", "delivery: Recipient");
    is_str(e->tag, "welcome-email", "delivery: Tag");
    is_int(e->smtp_code, 250, "delivery: smtp code");
    is_str(e->smtp_status, "2.0.0", "delivery: smtp status");
    is_int(e->bounce, MT_BOUNCE_NONE, "delivery: no bounce class");
    is_int(e->id.len, MT_WH_HASH_ID_LEN, "delivery: hashed id");

    id.len = e->id.len;
    id.data = (u_char *) strdup((char *) e->id.data);

    is_int(run(delivery), MT_OK, "delivery again: ok");
    is_str(t.events[0].id, (char *) id.data, "a retry gets the same id");
    free(id.data);

    is_int(run(click), MT_OK, "click: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_CLICKED, "click: clicked");
    is_str(e->url, "https://example.com/click/me", "click: OriginalLink");
    is_str(e->ip, "8.8.8.8", "click: Geo.IP");
    is_str(e->ua, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) etc.",
           "click: UserAgent");
    is_str(e->mid, "m-9", "click: mid");
    is_str(e->esp_mid, "f4830d10-9c35-4f0c-bca3-3d9b459821f8",
           "click: esp_mid");
    is_int(e->ts, 1508944871906LL, "click: ReceivedAt");

    is_int(run("{\"RecordType\":\"Open\",\"FirstOpen\":true,\"Client\":{},"
               "\"UserAgent\":\"Mozilla/5.0 (via ggpht.com "
               "GoogleImageProxy)\",\"Geo\":{},\"MessageID\":\"m1\","
               "\"ReceivedAt\":\"2016-04-27T16:21:41.2493688-04:00\","
               "\"Recipient\":\"r@example.com\"}"), MT_OK, "open: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_OPENED, "open: opened");
    is_str(e->ip, NULL, "open: empty Geo, no ip");
    is_str(e->ua, "Mozilla/5.0 (via ggpht.com GoogleImageProxy)",
           "open: ua");
    is_int(e->ts, 1461788501249LL, "open: ReceivedAt with offset");
    ok(e->machine == MT_MACHINE_UNKNOWN,
       "open: Postmark flags no machine opens");

    /* the old open payload had no RecordType */

    is_int(run("{\"FirstOpen\":false,\"MessageID\":\"m1\",\"ReceivedAt\":"
               "\"2016-04-27T16:21:41Z\",\"Recipient\":\"r@example.com\"}"),
           MT_OK, "legacy open: ok");
    is_int(t.events[0].type, MT_EV_OPENED, "legacy open: opened");
    is_str(t.events[0].esp_type, "Open", "legacy open: esp_type");

    is_int(run("{\"RecordType\":\"SpamComplaint\",\"ID\":901542550,"
               "\"Type\":\"SpamComplaint\",\"TypeCode\":512,\"MessageID\":"
               "\"2706ee8a\",\"Details\":\"Test spam complaint details\","
               "\"Email\":\"spam@example.com\",\"BouncedAt\":"
               "\"2016-04-27T16:28:50.3963933-04:00\"}"), MT_OK,
           "spam complaint: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_COMPLAINED, "spam complaint: complained");
    is_str(e->esp_type, "SpamComplaint", "spam complaint: esp_type");
    is_str(e->id, "901542550", "spam complaint: ID");
    is_str(e->rcpt, "spam@example.com", "spam complaint: Email");
    is_int(e->ts, 1461788930396LL, "spam complaint: BouncedAt");

    is_int(run("{\"RecordType\":\"Bounce\",\"ID\":901542551,\"Type\":"
               "\"HardBounce\",\"MessageID\":\"2706ee8a\",\"Details\":"
               "\"smtp;550 5.1.1 The email account that you tried to reach "
               "does not exist.\",\"Email\":\"bounce@example.com\","
               "\"BouncedAt\":\"2016-04-27T16:28:50.3963933-04:00\"}"),
           MT_OK, "bounce with MTA text: ok");
    e = &t.events[0];
    is_int(e->smtp_code, 550, "bounce: smtp code");
    is_str(e->smtp_status, "5.1.1", "bounce: smtp status");
    is_str(e->reason, "smtp;550 5.1.1 The email account that you tried to "
           "reach does not exist.", "bounce: reason is Details");

    /* Postmark's ID beyond 2^53 stays exact */

    is_int(run("{\"RecordType\":\"Bounce\",\"ID\":9007199254740993,"
               "\"Type\":\"SoftBounce\",\"Email\":\"a@example.com\"}"),
           MT_OK, "ID beyond 2^53: ok");
    is_str(t.events[0].id, "9007199254740993", "ID beyond 2^53: exact");

    /* an integer in Metadata is printed as the app's id */

    is_int(run("{\"RecordType\":\"Delivery\",\"MessageID\":\"x\","
               "\"Metadata\":{\"mail_track_id\":12345678901234567}}"),
           MT_OK, "integer metadata id: ok");
    is_str(t.events[0].mid, "12345678901234567", "integer metadata id");
    is_str(t.events[0].esp_mid, "x", "integer metadata id: esp_mid kept");

    /* a different id field */

    mt_str_set(&conf.id_field, "a_key");
    is_int(run(delivery), MT_OK, "id_field a_key: ok");
    is_str(t.events[0].mid, "a_value", "id_field a_key: mid");
    mt_str_set(&conf.id_field, "mail_track_id");

    /* subscription changes */

    is_int(run("{\"RecordType\":\"SubscriptionChange\",\"MessageID\":"
               "\"a4909a96\",\"ChangedAt\":\"2022-06-05T17:17:32Z\","
               "\"Recipient\":\"john@example.com\",\"Origin\":\"Recipient\","
               "\"SuppressSending\":true,\"SuppressionReason\":"
               "\"ManualSuppression\",\"Tag\":\"welcome-email\"}"),
           MT_OK, "unsubscribe: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_UNSUBSCRIBED, "unsubscribe: unsubscribed");
    is_str(e->esp_type, "SubscriptionChange", "unsubscribe: esp_type");
    is_str(e->reason, "ManualSuppression", "unsubscribe: reason");
    is_int(e->ts, 1654449452000LL, "unsubscribe: ChangedAt");

    id.data = (u_char *) strdup((char *) e->id.data);

    is_int(run("{\"RecordType\":\"SubscriptionChange\",\"MessageID\":"
               "\"a4909a96\",\"ChangedAt\":\"2022-06-05T17:17:32Z\","
               "\"Recipient\":\"john@example.com\",\"Origin\":\"Recipient\","
               "\"SuppressSending\":false,\"SuppressionReason\":null}"),
           MT_OK, "resubscribe: ok");
    e = &t.events[0];
    is_int(e->type, MT_EV_OTHER, "resubscribe: other");
    ok(strcmp((char *) e->id.data, (char *) id.data) != 0,
       "resubscribe at the same time: a different id");
    free(id.data);

    is_int(run("{\"RecordType\":\"SubscriptionChange\",\"MessageID\":"
               "\"b4cb\",\"ChangedAt\":\"2022-06-05T17:17:32Z\","
               "\"Recipient\":\"john@example.com\",\"SuppressSending\":true,"
               "\"SuppressionReason\":\"HardBounce\"}"), MT_OK,
           "suppressed for a hard bounce: ok");
    is_int(t.events[0].type, MT_EV_BOUNCED, "suppressed hard bounce: bounced");
    is_int(t.events[0].bounce, MT_BOUNCE_HARD, "suppressed: hard");

    is_int(run("{\"RecordType\":\"SubscriptionChange\",\"Recipient\":"
               "\"john@example.com\",\"SuppressSending\":true,"
               "\"SuppressionReason\":\"SpamComplaint\"}"), MT_OK,
           "suppressed for a complaint: ok");
    is_int(t.events[0].type, MT_EV_COMPLAINED, "suppressed: complained");

    /* unknown and inbound records */

    is_int(run("{\"RecordType\":\"FutureThing\",\"MessageID\":\"q\"}"),
           MT_OK, "unknown record type: ok");
    is_int(t.events[0].type, MT_EV_OTHER, "unknown record type: other");
    is_str(t.events[0].esp_type, "FutureThing", "unknown: esp_type kept");

    is_int(run("{\"FromFull\":{\"Email\":\"a@example.com\"},\"MessageID\":"
               "\"in-1\"}"), MT_OK, "inbound payload: ok");
    is_int(t.events[0].type, MT_EV_OTHER, "inbound: other");
    is_str(t.events[0].esp_type, "Inbound", "inbound: esp_type");

    /* an unknown bounce type is still a bounce, classified by its text */

    is_int(run("{\"RecordType\":\"Bounce\",\"ID\":5,\"Type\":\"NewKind\","
               "\"Details\":\"550 5.1.1 no such user\"}"), MT_OK,
           "unknown bounce type: ok");
    is_int(t.events[0].type, MT_EV_BOUNCED, "unknown bounce type: bounced");
    is_int(t.events[0].bounce, MT_BOUNCE_HARD, "unknown bounce type: 5.1.1");
    is_str(t.events[0].esp_type, "Bounce:NewKind", "unknown: esp_type");

    is_int(run("{\"RecordType\":\"Bounce\",\"ID\":6,\"Type\":\"Unknown\","
               "\"Details\":\"452 4.2.2 mailbox full\"}"), MT_OK,
           "Unknown with 4.2.2: ok");
    is_int(t.events[0].bounce, MT_BOUNCE_SOFT, "Unknown with 4.2.2: soft");

    is_int(run("{\"RecordType\":\"Bounce\",\"ID\":8,\"Type\":\"Unknown\"}"),
           MT_OK, "Unknown without text: ok");
    is_int(t.events[0].bounce, MT_BOUNCE_UNDETERMINED,
           "Unknown without text: undetermined");

    /* a bounce without an ID gets a hash */

    is_int(run("{\"RecordType\":\"Bounce\",\"Type\":\"HardBounce\","
               "\"Email\":\"a@example.com\"}"), MT_OK, "bounce no ID: ok");
    is_int(t.events[0].id.len, MT_WH_HASH_ID_LEN, "bounce no ID: hashed");

    /* invalid UTF-8 is repaired, the event kept */

    is_int(run("{\"RecordType\":\"Bounce\",\"ID\":9,\"Type\":\"HardBounce\","
               "\"Details\":\"550 5.1.1 Benutzer \xfc" "nbekannt\"}"),
           MT_OK, "Latin-1 in Details: ok");
    is_int(t.nevents, 1, "Latin-1 in Details: kept");
    is_str(t.events[0].reason, "550 5.1.1 Benutzer \xef\xbf\xbd" "nbekannt",
           "Latin-1 in Details: U+FFFD");
}


static void
test_table(void)
{
    size_t       i;
    char         body[512];
    const char  *btype_name;

    static const struct {
        const char       *record;
        const char       *type;
        mt_event_type_e   want;
        mt_bounce_e       bounce;
    } rows[] = {
        { "Delivery", NULL, MT_EV_DELIVERED, MT_BOUNCE_NONE },
        { "Open", NULL, MT_EV_OPENED, MT_BOUNCE_NONE },
        { "Click", NULL, MT_EV_CLICKED, MT_BOUNCE_NONE },
        { "SpamComplaint", "SpamComplaint", MT_EV_COMPLAINED,
          MT_BOUNCE_NONE },
        { "Inbound", NULL, MT_EV_OTHER, MT_BOUNCE_NONE },
        { "Bounce", "HardBounce", MT_EV_BOUNCED, MT_BOUNCE_HARD },
        { "Bounce", "BadEmailAddress", MT_EV_BOUNCED, MT_BOUNCE_HARD },
        { "Bounce", "ManuallyDeactivated", MT_EV_BOUNCED, MT_BOUNCE_HARD },
        { "Bounce", "SoftBounce", MT_EV_BOUNCED, MT_BOUNCE_SOFT },
        { "Bounce", "Transient", MT_EV_DEFERRED, MT_BOUNCE_SOFT },
        { "Bounce", "DnsError", MT_EV_DEFERRED, MT_BOUNCE_SOFT },
        { "Bounce", "Blocked", MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "Bounce", "DMARCPolicy", MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "Bounce", "SpamNotification", MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "Bounce", "VirusNotification", MT_EV_BOUNCED, MT_BOUNCE_BLOCK },
        { "Bounce", "Unknown", MT_EV_BOUNCED, MT_BOUNCE_UNDETERMINED },
        { "Bounce", "SpamComplaint", MT_EV_COMPLAINED, MT_BOUNCE_NONE },
        { "Bounce", "Unsubscribe", MT_EV_UNSUBSCRIBED, MT_BOUNCE_NONE },
        { "Bounce", "ManualSuppression", MT_EV_UNSUBSCRIBED,
          MT_BOUNCE_NONE },
        { "Bounce", "Unconfirmed", MT_EV_REJECTED, MT_BOUNCE_NONE },
        { "Bounce", "SMTPApiError", MT_EV_REJECTED, MT_BOUNCE_NONE },
        { "Bounce", "TemplateRenderingFailed", MT_EV_REJECTED,
          MT_BOUNCE_NONE },
        { "Bounce", "Subscribe", MT_EV_OTHER, MT_BOUNCE_NONE },
        { "Bounce", "AutoResponder", MT_EV_OTHER, MT_BOUNCE_NONE },
        { "Bounce", "AddressChange", MT_EV_OTHER, MT_BOUNCE_NONE },
        { "Bounce", "OpenRelayTest", MT_EV_OTHER, MT_BOUNCE_NONE },
        { "Bounce", "ChallengeVerification", MT_EV_OTHER, MT_BOUNCE_NONE },
        { "Bounce", "InboundError", MT_EV_OTHER, MT_BOUNCE_NONE },
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        btype_name = rows[i].type ? rows[i].type : "";

        snprintf(body, sizeof(body),
                 "{\"RecordType\":\"%s\",\"ID\":%zu,\"Type\":\"%s\","
                 "\"MessageID\":\"t-%zu\",\"Email\":\"a@example.com\"}",
                 rows[i].record, i + 100, btype_name, i);

        if (run(body) != MT_OK || t.nevents != 1) {
            ok(0, "table %s/%s: processed", rows[i].record, btype_name);
            continue;
        }

        is_int(t.events[0].type, rows[i].want, "table %s/%s: %s",
               rows[i].record, btype_name,
               mt_event_type_names[rows[i].want]);
        is_int(t.events[0].bounce, rows[i].bounce, "table %s/%s: bounce %s",
               rows[i].record, btype_name, mt_bounce_names[rows[i].bounce]);
    }
}


int
main(void)
{
    wh_conf(&conf, &key, MT_SRC_POSTMARK, "s3cret");

    test_auth();
    test_transport();
    test_reference();
    test_records();
    test_table();

    wh_free(&t);

    return done_testing();
}

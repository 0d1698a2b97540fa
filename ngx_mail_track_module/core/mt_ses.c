
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Amazon SES event publishing through an Amazon SNS HTTP/S subscription:
 * the SNS envelope is verified (RSA-SHA1 or RSA-SHA256 with the key of a
 * certificate from a pinned sns.<region>.amazonaws.com URL that chains to
 * a trusted CA), then the SES event inside Message is normalized into one
 * record per recipient.
 */


#include "mt_webhook.h"
#include "mt_base64.h"

#include <stdio.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>


#define MT_SNS_URL_MAX          2048
#define MT_SNS_REGION_MAX       32
#define MT_SNS_CERT_ID_MAX      128

/* the base64 of an RSA-4096 signature is 684 bytes */
#define MT_SNS_SIGNATURE_MAX    1024

#define MT_SNS_PEM_MAX          65536
#define MT_SNS_CHAIN_MAX        8
#define MT_SNS_RSA_MIN_BITS     2048

/* SES sends this one as a plain-text Message when a topic is set up */
#define MT_SES_TEST_MESSAGE                                                   \
    "Successfully validated SNS topic for Amazon SES"


typedef enum {
    MT_SNS_NOTIFICATION = 0,
    MT_SNS_SUBSCRIBE,
    MT_SNS_UNSUBSCRIBE
} mt_sns_type_e;


typedef struct {
    json_t             *root;
    mt_sns_type_e       type;
    mt_str_t            type_name;
    mt_str_t            message_id;
    mt_str_t            topic_arn;
    mt_str_t            subject;
    mt_str_t            message;
    mt_str_t            timestamp;
    mt_str_t            version;
    mt_str_t            signature;
    mt_str_t            cert_url;
    mt_str_t            subscribe_url;
    mt_str_t            token;
    int64_t             ts;
    unsigned            has_subject:1;
} mt_sns_msg_t;


typedef struct {
    const char         *name;
    const char         *object;      /* the sub-object named after it */
    const char         *recipients;  /* per-recipient array, or NULL */
    const char         *reason;      /* the sub-object's reason text */
    mt_event_type_e     type;
} mt_ses_type_t;


static mt_rc_t mt_sns_parse(mt_wh_t *wh, mt_sns_msg_t *msg);
static mt_str_t mt_sns_get(json_t *root, const char *key, const char *alt);
static mt_rc_t mt_sns_check_headers(mt_wh_t *wh, mt_sns_msg_t *msg);
static int mt_sns_topic_allowed(mt_wh_t *wh, mt_str_t *arn);
static mt_rc_t mt_sns_verify(mt_wh_t *wh, mt_sns_msg_t *msg,
    EVP_PKEY *pkey);
static u_char *mt_sns_put_field(u_char *p, const char *key,
    mt_str_t *value);
static size_t mt_sns_host(const u_char *p, size_t len);
static int mt_sns_region_valid(const u_char *p, size_t len);
static int mt_sns_query_valid(const u_char *p, size_t len);
static int mt_lit_eq_nocase(const u_char *p, size_t len, const char *lit);
static u_char mt_lc(u_char c);

static mt_rc_t mt_ses_dispatch(mt_wh_t *wh, mt_sns_msg_t *msg);
static mt_rc_t mt_sns_confirmation(mt_wh_t *wh, mt_sns_msg_t *msg);
static mt_rc_t mt_ses_notification(mt_wh_t *wh, mt_sns_msg_t *msg);
static mt_rc_t mt_ses_opaque(mt_wh_t *wh, mt_sns_msg_t *msg);
static mt_rc_t mt_ses_event(mt_wh_t *wh, mt_sns_msg_t *msg, json_t *root,
    mt_str_t *name);
static mt_rc_t mt_ses_recipient(mt_wh_t *wh, const mt_ses_type_t *t,
    json_t *sub, json_t *r, mt_event_t *ev);
static mt_bounce_e mt_ses_bounce_class(json_t *bounce);
static mt_rc_t mt_ses_unsubscribed(mt_wh_t *wh, json_t *sub,
    mt_str_t *reason);
static int mt_ses_newly_out(json_t *topic, json_t *prev, mt_str_t *name);
static int mt_ses_opt_out(json_t *v);
static mt_rc_t mt_ses_tag(mt_wh_t *wh, json_t *tags, const u_char *name,
    size_t len, int join, mt_str_t *dst);
static mt_rc_t mt_ses_id(mt_wh_t *wh, mt_sns_msg_t *msg, size_t i,
    mt_str_t *id);
static mt_rc_t mt_concat(mt_wh_t *wh, mt_str_t *dst, mt_str_t *a,
    const char *sep, mt_str_t *b);


static const mt_ses_type_t  mt_ses_types[] = {
    { "Send", "send", NULL, NULL, MT_EV_SENT },
    { "Delivery", "delivery", "recipients", "smtpResponse",
      MT_EV_DELIVERED },
    { "Bounce", "bounce", "bouncedRecipients", NULL, MT_EV_BOUNCED },
    { "Complaint", "complaint", "complainedRecipients",
      "complaintFeedbackType", MT_EV_COMPLAINED },
    { "Reject", "reject", NULL, "reason", MT_EV_REJECTED },
    { "DeliveryDelay", "deliveryDelay", "delayedRecipients", "delayType",
      MT_EV_DEFERRED },
    { "Open", "open", NULL, NULL, MT_EV_OPENED },
    { "Click", "click", NULL, NULL, MT_EV_CLICKED },
    { "Rendering Failure", "failure", NULL, "errorMessage",
      MT_EV_REJECTED },
    { "Subscription", "subscription", NULL, NULL, MT_EV_UNSUBSCRIBED },
    { NULL, NULL, NULL, NULL, MT_EV_OTHER }
};


mt_rc_t
mt_ses_process(mt_wh_t *wh)
{
    void          *key;
    mt_rc_t        rc;
    mt_sns_msg_t   msg;

    if (!mt_wh_content_type_is(wh, "text/plain")
        && !mt_wh_content_type_is(wh, "application/json"))
    {
        return MT_ERR_CONTENT_TYPE;
    }

    rc = mt_sns_parse(wh, &msg);
    if (rc != MT_OK) {
        return rc;
    }

    rc = mt_sns_check_headers(wh, &msg);
    if (rc != MT_OK) {
        goto done;
    }

    if (msg.signature.len == 0 || msg.version.len == 0
        || msg.cert_url.len == 0)
    {
        mt_str_set(&wh->detail, "Signature, SignatureVersion or "
                   "SigningCertURL missing");
        rc = MT_ERR_SIGNATURE_MISSING;
        goto done;
    }

    if (!mt_str_eq(&msg.version, "1") && !mt_str_eq(&msg.version, "2")) {
        mt_str_set(&wh->detail, "unsupported SignatureVersion");
        rc = MT_ERR_SIGNATURE;
        goto done;
    }

    /* the URL is the sender's word: nothing may touch it before this */

    if (!mt_sns_cert_url_valid(msg.cert_url.data, msg.cert_url.len)) {
        mt_str_set(&wh->detail, "SigningCertURL is not "
                   "https://sns.<region>.amazonaws.com/"
                   "SimpleNotificationService-<id>.pem");
        rc = MT_ERR_CERT_URL;
        goto done;
    }

    /* any AWS account's topic carries a valid AWS signature */

    if (!mt_sns_topic_allowed(wh, &msg.topic_arn)) {
        mt_strdup(&wh->alloc, &wh->detail, msg.topic_arn.data,
                  mt_min(msg.topic_arn.len, 256));
        rc = MT_ERR_TOPIC;
        goto done;
    }

    key = (wh->cert != NULL) ? wh->cert(wh, &msg.cert_url) : NULL;

    if (key == NULL) {
        /* the glue fetches it and runs us again; the json is gone then */

        if (mt_strdup(&wh->alloc, &wh->cert_url, msg.cert_url.data,
                      msg.cert_url.len)
            == NULL)
        {
            rc = MT_ERR_NOMEM;
            goto done;
        }

        rc = MT_NEED_CERT;
        goto done;
    }

    rc = mt_sns_verify(wh, &msg, key);
    if (rc != MT_OK) {
        goto done;
    }

    /* the signed Timestamp bounds replays; SNS keeps it on retries */

    rc = mt_wh_check_time(wh, msg.ts / 1000);
    if (rc != MT_OK) {
        goto done;
    }

    rc = mt_ses_dispatch(wh, &msg);

done:

    json_decref(msg.root);

    return rc;
}


/* the verified half: the envelope in wh->body, no signature checks */

mt_rc_t
mt_ses_normalize(mt_wh_t *wh)
{
    mt_rc_t       rc;
    mt_sns_msg_t  msg;

    rc = mt_sns_parse(wh, &msg);
    if (rc != MT_OK) {
        return rc;
    }

    rc = mt_ses_dispatch(wh, &msg);

    json_decref(msg.root);

    return rc;
}


static mt_rc_t
mt_sns_parse(mt_wh_t *wh, mt_sns_msg_t *msg)
{
    json_t   *root, *v;
    mt_rc_t   rc;

    memset(msg, 0, sizeof(mt_sns_msg_t));

    rc = mt_wh_json_load(wh, wh->body, wh->body_len, &root);
    if (rc != MT_OK) {
        return rc;
    }

    msg->root = root;

    if (!json_is_object(root)) {
        goto shape;
    }

    msg->type_name = mt_json_str(root, "Type");

    if (mt_str_eq(&msg->type_name, "Notification")) {
        msg->type = MT_SNS_NOTIFICATION;

    } else if (mt_str_eq(&msg->type_name, "SubscriptionConfirmation")) {
        msg->type = MT_SNS_SUBSCRIBE;

    } else if (mt_str_eq(&msg->type_name, "UnsubscribeConfirmation")) {
        msg->type = MT_SNS_UNSUBSCRIBE;

    } else {
        goto shape;
    }

    msg->message_id = mt_json_str(root, "MessageId");
    msg->topic_arn = mt_json_str(root, "TopicArn");
    msg->timestamp = mt_json_str(root, "Timestamp");

    v = json_object_get(root, "Message");

    if (msg->message_id.len == 0 || msg->topic_arn.len == 0
        || msg->timestamp.len == 0 || !json_is_string(v))
    {
        goto shape;
    }

    msg->message = mt_json_str(root, "Message");

    msg->ts = mt_time_iso8601_ms(msg->timestamp.data, msg->timestamp.len);
    if (msg->ts <= 0) {
        mt_str_set(&wh->detail, "SNS Timestamp is not ISO 8601");
        json_decref(root);
        msg->root = NULL;
        return MT_ERR_PAYLOAD;
    }

    /* a null Subject (Lambda style) is no Subject: it is not signed */

    v = json_object_get(root, "Subject");

    if (json_is_string(v)) {
        msg->subject = mt_json_str(root, "Subject");
        msg->has_subject = 1;

    } else if (v != NULL && !json_is_null(v)) {
        goto shape;
    }

    if (msg->type != MT_SNS_NOTIFICATION) {
        msg->subscribe_url = mt_sns_get(root, "SubscribeURL",
                                        "SubscribeUrl");
        v = json_object_get(root, "Token");

        if (msg->subscribe_url.len == 0 || !json_is_string(v)) {
            goto shape;
        }

        msg->token = mt_json_str(root, "Token");
    }

    msg->version = mt_json_str(root, "SignatureVersion");
    msg->signature = mt_json_str(root, "Signature");
    msg->cert_url = mt_sns_get(root, "SigningCertURL", "SigningCertUrl");

    return MT_OK;

shape:

    mt_str_set(&wh->detail, "not an SNS message (is raw message delivery "
               "enabled on the subscription?)");

    json_decref(root);
    msg->root = NULL;

    return MT_ERR_PAYLOAD;
}


static mt_str_t
mt_sns_get(json_t *root, const char *key, const char *alt)
{
    mt_str_t  s;

    s = mt_json_str(root, key);

    if (s.len == 0) {
        s = mt_json_str(root, alt);
    }

    return s;
}


/* anymail's check: the headers SNS adds must agree with the body */

static mt_rc_t
mt_sns_check_headers(mt_wh_t *wh, mt_sns_msg_t *msg)
{
    size_t      i;
    mt_str_t    h;
    mt_str_t   *want;

    static const char  *names[] = {
        "x-amz-sns-message-type",
        "x-amz-sns-message-id",
        "x-amz-sns-topic-arn"
    };

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        h = wh->header(wh, names[i]);

        if (h.len == 0) {
            continue;
        }

        want = (i == 0) ? &msg->type_name
               : (i == 1) ? &msg->message_id : &msg->topic_arn;

        if (h.len != want->len || memcmp(h.data, want->data, h.len) != 0) {
            wh->detail.data = (u_char *) names[i];
            wh->detail.len = strlen(names[i]);
            return MT_ERR_PAYLOAD;
        }
    }

    return MT_OK;
}


static int
mt_sns_topic_allowed(mt_wh_t *wh, mt_str_t *arn)
{
    size_t         i;
    mt_wh_conf_t  *conf;

    conf = wh->conf;

    for (i = 0; i < conf->ntopics; i++) {
        if (conf->topics[i].len == arn->len
            && memcmp(conf->topics[i].data, arn->data, arn->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The string to sign is built from the JSON-decoded values, as AWS
 * documents: "key\nvalue\n" for each signed key present, in this order.
 */

static mt_rc_t
mt_sns_verify(mt_wh_t *wh, mt_sns_msg_t *msg, EVP_PKEY *pkey)
{
    int            ok;
    size_t         len;
    u_char        *tbs, *p, *sig;
    ssize_t        n;
    EVP_MD_CTX    *ctx;
    const EVP_MD  *md;

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        mt_str_set(&wh->detail, "the signing certificate has no RSA key");
        return MT_ERR_CERT;
    }

    if (msg->signature.len > MT_SNS_SIGNATURE_MAX) {
        mt_str_set(&wh->detail, "Signature too long");
        return MT_ERR_SIGNATURE;
    }

    sig = mt_alloc(&wh->alloc, mt_base64_decoded_len(msg->signature.len)
                               + 1);
    if (sig == NULL) {
        return MT_ERR_NOMEM;
    }

    n = mt_base64_decode(sig, msg->signature.data, msg->signature.len);
    if (n <= 0) {
        mt_str_set(&wh->detail, "Signature is not base64");
        return MT_ERR_SIGNATURE;
    }

    len = sizeof("Message\n\n") - 1 + msg->message.len
          + sizeof("MessageId\n\n") - 1 + msg->message_id.len
          + sizeof("Timestamp\n\n") - 1 + msg->timestamp.len
          + sizeof("TopicArn\n\n") - 1 + msg->topic_arn.len
          + sizeof("Type\n\n") - 1 + msg->type_name.len;

    if (msg->type == MT_SNS_NOTIFICATION) {
        if (msg->has_subject) {
            len += sizeof("Subject\n\n") - 1 + msg->subject.len;
        }

    } else {
        len += sizeof("SubscribeURL\n\n") - 1 + msg->subscribe_url.len
               + sizeof("Token\n\n") - 1 + msg->token.len;
    }

    tbs = mt_alloc(&wh->alloc, len);
    if (tbs == NULL) {
        return MT_ERR_NOMEM;
    }

    p = mt_sns_put_field(tbs, "Message", &msg->message);
    p = mt_sns_put_field(p, "MessageId", &msg->message_id);

    if (msg->type == MT_SNS_NOTIFICATION) {
        if (msg->has_subject) {
            p = mt_sns_put_field(p, "Subject", &msg->subject);
        }

        p = mt_sns_put_field(p, "Timestamp", &msg->timestamp);

    } else {
        p = mt_sns_put_field(p, "SubscribeURL", &msg->subscribe_url);
        p = mt_sns_put_field(p, "Timestamp", &msg->timestamp);
        p = mt_sns_put_field(p, "Token", &msg->token);
    }

    p = mt_sns_put_field(p, "TopicArn", &msg->topic_arn);
    p = mt_sns_put_field(p, "Type", &msg->type_name);

    md = (msg->version.data[0] == '1') ? EVP_sha1() : EVP_sha256();

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return MT_ERR_NOMEM;
    }

    ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) == 1
         && EVP_DigestVerify(ctx, sig, (size_t) n, tbs, p - tbs) == 1;

    EVP_MD_CTX_free(ctx);

    if (!ok) {
        /* a failed verify leaves errors that nginx's SSL code would see */
        ERR_clear_error();

        mt_str_set(&wh->detail, "SNS signature does not verify");
        return MT_ERR_SIGNATURE;
    }

    return MT_OK;
}


static u_char *
mt_sns_put_field(u_char *p, const char *key, mt_str_t *value)
{
    size_t  n;

    n = strlen(key);

    memcpy(p, key, n);
    p += n;
    *p++ = '\n';

    if (value->len) {
        memcpy(p, value->data, value->len);
        p += value->len;
    }

    *p++ = '\n';

    return p;
}


/*
 * https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<id>.pem
 * and nothing else: no userinfo, port, query, fragment, escapes, no
 * S3 bucket host.  Scheme and host compare case-insensitively.
 */

int
mt_sns_cert_url_valid(const u_char *url, size_t len)
{
    size_t         n, i;
    const u_char  *p, *end;

    static const char  prefix[] = "/SimpleNotificationService-";

    if (url == NULL || len > MT_SNS_URL_MAX || len < 8
        || !mt_lit_eq_nocase(url, 8, "https://"))
    {
        return 0;
    }

    p = url + 8;
    end = url + len;

    n = mt_sns_host(p, end - p);
    if (n == 0) {
        return 0;
    }

    p += n;

    if ((size_t) (end - p) < sizeof(prefix) - 1 + 1 + 4
        || memcmp(p, prefix, sizeof(prefix) - 1) != 0)
    {
        return 0;
    }

    p += sizeof(prefix) - 1;

    for (i = 0; p + i < end; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= '0' && p[i] <= '9')))
        {
            break;
        }
    }

    if (i == 0 || i > MT_SNS_CERT_ID_MAX) {
        return 0;
    }

    p += i;

    return end - p == 4 && memcmp(p, ".pem", 4) == 0;
}


/*
 * https://sns.<region>.amazonaws.com[.cn]/?Action=ConfirmSubscription&...
 * is the only URL a confirmation GET may go to.
 */

int
mt_sns_subscribe_url_valid(const u_char *url, size_t len)
{
    size_t         n;
    const u_char  *p, *end;

    if (url == NULL || len > MT_SNS_URL_MAX || len < 8
        || !mt_lit_eq_nocase(url, 8, "https://"))
    {
        return 0;
    }

    p = url + 8;
    end = url + len;

    n = mt_sns_host(p, end - p);
    if (n == 0) {
        return 0;
    }

    p += n;

    if (end - p < 2 || p[0] != '/' || p[1] != '?') {
        return 0;
    }

    p += 2;

    return mt_sns_query_valid(p, end - p);
}


/*
 * "sns.<region>.amazonaws.com" or "... .com.cn" up to the '/' that must
 * follow it: its length, or 0.
 */

static size_t
mt_sns_host(const u_char *p, size_t len)
{
    size_t  i, r;

    if (len < 4 || !mt_lit_eq_nocase(p, 4, "sns.")) {
        return 0;
    }

    for (i = 4; i < len && p[i] != '.'; i++) {
        /* void */
    }

    r = i - 4;

    if (i == len || !mt_sns_region_valid(p + 4, r)) {
        return 0;
    }

    if (len - i > sizeof(".amazonaws.com") - 1
        && mt_lit_eq_nocase(p + i, sizeof(".amazonaws.com/") - 1,
                            ".amazonaws.com/"))
    {
        return i + sizeof(".amazonaws.com") - 1;
    }

    if (len - i > sizeof(".amazonaws.com.cn") - 1
        && mt_lit_eq_nocase(p + i, sizeof(".amazonaws.com.cn/") - 1,
                            ".amazonaws.com.cn/"))
    {
        return i + sizeof(".amazonaws.com.cn") - 1;
    }

    return 0;
}


/*
 * An AWS region name: [a-z]{2,}(-[a-z]+)*-[0-9]+ (us-east-1, cn-north-1,
 * us-gov-west-1).  No digit before the last group keeps S3 bucket hosts
 * such as sns.s3-us-west-2.amazonaws.com out.
 */

static int
mt_sns_region_valid(const u_char *p, size_t len)
{
    size_t  i, n;

    if (len < 3 || len > MT_SNS_REGION_MAX) {
        return 0;
    }

    for (i = 0; i < len && mt_lc(p[i]) >= 'a' && mt_lc(p[i]) <= 'z'; i++) {
        /* void */
    }

    if (i < 2) {
        return 0;
    }

    for ( ;; ) {
        if (i == len || p[i] != '-') {
            return 0;
        }

        i++;

        for (n = 0; i < len && mt_lc(p[i]) >= 'a' && mt_lc(p[i]) <= 'z';
             i++, n++)
        {
            /* void */
        }

        if (n) {
            continue;
        }

        for (n = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++, n++) {
            /* void */
        }

        return n > 0 && i == len;
    }
}


/*
 * name=value pairs of unreserved characters, ':' and %XX escapes, with
 * exactly one Action, and that one ConfirmSubscription.
 */

static int
mt_sns_query_valid(const u_char *p, size_t len)
{
    size_t         i, actions, confirm;
    u_char         c;
    const u_char  *param, *eq, *end;

    end = p + len;
    actions = 0;
    confirm = 0;

    if (len == 0) {
        return 0;
    }

    while (p <= end) {
        param = p;
        eq = NULL;

        while (p < end && *p != '&') {
            c = *p;

            if (c == '=') {
                if (eq != NULL) {
                    return 0;
                }

                eq = p;

            } else if (c == '%') {
                for (i = 1; i < 3; i++) {
                    if (p + i >= end
                        || !((p[i] >= '0' && p[i] <= '9')
                             || (mt_lc(p[i]) >= 'a' && mt_lc(p[i]) <= 'f')))
                    {
                        return 0;
                    }
                }

                p += 2;

            } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                         || (c >= '0' && c <= '9') || c == '-' || c == '.'
                         || c == '_' || c == '~' || c == ':' || c == '+'))
            {
                return 0;
            }

            p++;
        }

        if (eq == NULL || eq == param) {
            return 0;
        }

        if (eq - param == 6 && memcmp(param, "Action", 6) == 0) {
            actions++;

            if (p - eq - 1 == 19
                && memcmp(eq + 1, "ConfirmSubscription", 19) == 0)
            {
                confirm++;
            }
        }

        if (p == end) {
            break;
        }

        p++;
    }

    return actions == 1 && confirm == 1;
}


static int
mt_lit_eq_nocase(const u_char *p, size_t len, const char *lit)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (lit[i] == '\0' || mt_lc(p[i]) != (u_char) lit[i]) {
            return 0;
        }
    }

    return lit[len] == '\0';
}


static u_char
mt_lc(u_char c)
{
    return (c >= 'A' && c <= 'Z') ? (u_char) (c | 0x20) : c;
}


/*
 * The certificate must chain to the store (the leaf first, then any
 * intermediates the PEM carries) and hold an RSA key of 2048 bits or
 * more.
 */

void *
mt_sns_cert_load(const u_char *pem, size_t len, void *store, int64_t now,
    char *err, size_t errlen)
{
    int               n, vrc;
    BIO              *bio;
    X509             *cert, *extra;
    EVP_PKEY         *pkey;
    X509_STORE_CTX   *ctx;
    STACK_OF(X509)   *chain;

    pkey = NULL;
    cert = NULL;
    chain = NULL;
    ctx = NULL;
    bio = NULL;

    if (store == NULL) {
        snprintf(err, errlen, "no trusted CA store");
        return NULL;
    }

    if (pem == NULL || len == 0 || len > MT_SNS_PEM_MAX) {
        snprintf(err, errlen, "certificate empty or larger than %d bytes",
                 MT_SNS_PEM_MAX);
        return NULL;
    }

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (cert == NULL) {
        snprintf(err, errlen, "cannot parse the PEM certificate");
        goto done;
    }

    chain = sk_X509_new_null();
    if (chain == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    for (n = 0; n < MT_SNS_CHAIN_MAX; n++) {
        extra = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (extra == NULL) {
            break;
        }

        if (!sk_X509_push(chain, extra)) {
            X509_free(extra);
            snprintf(err, errlen, "out of memory");
            goto done;
        }
    }

    ctx = X509_STORE_CTX_new();
    if (ctx == NULL
        || X509_STORE_CTX_init(ctx, store, cert, chain) != 1)
    {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    if (now > 0) {
        /* sets X509_V_FLAG_USE_CHECK_TIME */
        X509_STORE_CTX_set_time(ctx, 0, (time_t) now);
    }

    /*
     * SNS serves the leaf alone, issued by an Amazon intermediate that
     * system stores lack: a store may hold that intermediate (or the
     * leaf itself) as the anchor, without the root.
     */
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);

    if (X509_verify_cert(ctx) != 1) {
        vrc = X509_STORE_CTX_get_error(ctx);
        snprintf(err, errlen, "certificate does not chain to a trusted CA: "
                 "%s", X509_verify_cert_error_string(vrc));
        goto done;
    }

    pkey = X509_get_pubkey(cert);

    if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "certificate key is not RSA");
        EVP_PKEY_free(pkey);
        pkey = NULL;
        goto done;
    }

    if (EVP_PKEY_get_bits(pkey) < MT_SNS_RSA_MIN_BITS) {
        snprintf(err, errlen, "certificate RSA key shorter than %d bits",
                 MT_SNS_RSA_MIN_BITS);
        EVP_PKEY_free(pkey);
        pkey = NULL;
        goto done;
    }

done:

    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(chain, X509_free);
    X509_free(cert);
    BIO_free(bio);

    /* the end of the PEM and any failure leave errors queued */
    ERR_clear_error();

    return pkey;
}


void
mt_sns_key_free(void *pkey)
{
    EVP_PKEY_free(pkey);
}


static mt_rc_t
mt_ses_dispatch(mt_wh_t *wh, mt_sns_msg_t *msg)
{
    if (msg->type == MT_SNS_NOTIFICATION) {
        return mt_ses_notification(wh, msg);
    }

    return mt_sns_confirmation(wh, msg);
}


/*
 * A subscription (or unsubscribe) confirmation is recorded as "other";
 * only a SubscriptionConfirmation's URL may be confirmed: the one in an
 * UnsubscribeConfirmation would subscribe the endpoint again.
 */

static mt_rc_t
mt_sns_confirmation(mt_wh_t *wh, mt_sns_msg_t *msg)
{
    mt_event_t  ev;

    mt_event_init(&ev);

    ev.id = msg->message_id;
    ev.ts = msg->ts;
    ev.type = MT_EV_OTHER;
    ev.esp_type = msg->type_name;
    ev.url = msg->subscribe_url;
    ev.tag = msg->topic_arn;
    ev.reason = msg->message;

    if (msg->type == MT_SNS_SUBSCRIBE) {
        if (mt_sns_subscribe_url_valid(msg->subscribe_url.data,
                                       msg->subscribe_url.len))
        {
            if (mt_strdup(&wh->alloc, &wh->confirm_url,
                          msg->subscribe_url.data, msg->subscribe_url.len)
                == NULL)
            {
                return MT_ERR_NOMEM;
            }

        } else {
            mt_str_set(&wh->detail, "SubscribeURL is not an "
                       "https://sns.<region>.amazonaws.com/"
                       "?Action=ConfirmSubscription URL, not confirming");
        }
    }

    return mt_wh_emit(wh, &ev);
}


static mt_rc_t
mt_ses_notification(mt_wh_t *wh, mt_sns_msg_t *msg)
{
    json_t        *root;
    mt_rc_t        rc;
    mt_str_t       name;
    json_error_t   err;

    if (msg->message.len >= sizeof(MT_SES_TEST_MESSAGE) - 1
        && memcmp(msg->message.data, MT_SES_TEST_MESSAGE,
                  sizeof(MT_SES_TEST_MESSAGE) - 1) == 0)
    {
        return MT_DECLINED;
    }

    /* jansson checked the envelope, so Message is valid UTF-8 */

    root = json_loadb((const char *) msg->message.data, msg->message.len,
                      JSON_ALLOW_NUL, &err);

    if (!json_is_object(root)) {
        json_decref(root);
        return mt_ses_opaque(wh, msg);
    }

    name = mt_json_str(root, "eventType");

    if (name.len == 0) {
        name = mt_json_str(root, "notificationType");

        /* identity notifications announce a new topic with this one */

        if (mt_str_eq(&name, "AmazonSnsSubscriptionSucceeded")) {
            json_decref(root);
            return MT_DECLINED;
        }
    }

    if (name.len == 0) {
        json_decref(root);
        return mt_ses_opaque(wh, msg);
    }

    rc = mt_ses_event(wh, msg, root, &name);

    json_decref(root);

    return rc;
}


/*
 * An authentic notification that is not an SES event (another publisher
 * on the topic, or a Message that is not JSON) is kept as "other" with
 * the text as reason: nothing a provider sends is lost.
 */

static mt_rc_t
mt_ses_opaque(mt_wh_t *wh, mt_sns_msg_t *msg)
{
    mt_rc_t     rc;
    mt_event_t  ev;

    mt_event_init(&ev);

    rc = mt_ses_id(wh, msg, 0, &ev.id);
    if (rc != MT_OK) {
        return rc;
    }

    ev.ts = msg->ts;
    ev.type = MT_EV_OTHER;
    mt_str_set(&ev.esp_type, "Notification");
    ev.reason = msg->message;
    ev.tag = msg->topic_arn;

    return mt_wh_emit(wh, &ev);
}


static mt_rc_t
mt_ses_event(mt_wh_t *wh, mt_sns_msg_t *msg, json_t *root, mt_str_t *name)
{
    size_t                i, n;
    json_t               *mail, *sub, *tags, *rcpts, *r;
    mt_rc_t               rc;
    int64_t               ts;
    mt_event_t            tmpl, ev;
    const mt_ses_type_t  *t;

    for (t = mt_ses_types; t->name != NULL; t++) {
        if (mt_str_eq(name, t->name)) {
            break;
        }
    }

    mail = json_object_get(root, "mail");
    if (!json_is_object(mail)) {
        mail = NULL;
    }

    sub = (t->object != NULL) ? json_object_get(root, t->object) : NULL;
    if (!json_is_object(sub)) {
        sub = NULL;
    }

    mt_event_init(&tmpl);

    tmpl.type = t->type;
    tmpl.esp_type = *name;
    tmpl.esp_mid = mt_json_str(mail, "messageId");

    tags = json_object_get(mail, "tags");

    if (json_is_object(tags)) {
        rc = mt_ses_tag(wh, tags, wh->conf->id_field.data,
                        wh->conf->id_field.len, 0, &tmpl.mid);
        if (rc != MT_OK) {
            return rc;
        }

        rc = mt_ses_tag(wh, tags, (u_char *) "campaign", 8, 1, &tmpl.tag);
        if (rc != MT_OK) {
            return rc;
        }

        if (tmpl.tag.len == 0) {
            rc = mt_ses_tag(wh, tags, (u_char *) "tag", 3, 1, &tmpl.tag);
            if (rc != MT_OK) {
                return rc;
            }
        }
    }

    ts = mt_json_time_ms(json_object_get(sub, "timestamp"));

    if (ts <= 0) {
        ts = mt_json_time_ms(json_object_get(mail, "timestamp"));
    }

    tmpl.ts = (ts > 0) ? ts : msg->ts;

    if (t->reason != NULL) {
        tmpl.reason = mt_json_str(sub, t->reason);
    }

    switch (t->type) {

    case MT_EV_DELIVERED:
        /* mt_smtp_parse() does pointer arithmetic on a NULL empty text */
        if (tmpl.reason.len) {
            mt_smtp_parse(&tmpl.reason, &tmpl.smtp_status, &tmpl.smtp_code);
        }

        break;

    case MT_EV_BOUNCED:
        tmpl.bounce = mt_ses_bounce_class(sub);
        break;

    case MT_EV_COMPLAINED:
        if (tmpl.reason.len == 0) {
            tmpl.reason = mt_json_str(sub, "complaintSubType");
        }

        break;

    case MT_EV_DEFERRED:
        tmpl.bounce = MT_BOUNCE_SOFT;
        break;

    case MT_EV_OPENED:
    case MT_EV_CLICKED:
        tmpl.ip = mt_json_str(sub, "ipAddress");
        tmpl.ua = mt_json_str(sub, "userAgent");
        tmpl.url = mt_json_str(sub, "link");
        break;

    case MT_EV_UNSUBSCRIBED:
        rc = mt_ses_unsubscribed(wh, sub, &tmpl.reason);

        if (rc == MT_DECLINED) {
            tmpl.type = MT_EV_OTHER;

        } else if (rc != MT_OK) {
            return rc;
        }

        break;

    default:
        break;
    }

    /* one record per recipient the event names, else per destination */

    rcpts = (t->recipients != NULL) ? json_object_get(sub, t->recipients)
                                    : NULL;

    if (json_array_size(rcpts) == 0) {
        rcpts = json_object_get(mail, "destination");
    }

    n = json_array_size(rcpts);

    if (n > MT_WH_MAX_EVENTS) {
        return MT_ERR_TOO_MANY;
    }

    i = 0;

    do {
        ev = tmpl;
        r = json_array_get(rcpts, i);

        rc = mt_ses_id(wh, msg, i, &ev.id);
        if (rc != MT_OK) {
            return rc;
        }

        rc = mt_ses_recipient(wh, t, sub, r, &ev);
        if (rc != MT_OK) {
            return rc;
        }

        rc = mt_wh_emit(wh, &ev);
        if (rc != MT_OK) {
            return rc;
        }

        i++;

    } while (i < n);

    return MT_OK;
}


/* the address and, for bounces and delays, the recipient's DSN fields */

static mt_rc_t
mt_ses_recipient(mt_wh_t *wh, const mt_ses_type_t *t, json_t *sub,
    json_t *r, mt_event_t *ev)
{
    mt_str_t  diag, kind;

    if (json_is_string(r)) {
        ev->rcpt = mt_json_str_value(wh, r);

    } else {
        ev->rcpt = mt_json_str(r, "emailAddress");
        ev->smtp_status = mt_json_str(r, "status");
        diag = mt_json_str(r, "diagnosticCode");

        if (diag.len) {
            mt_smtp_parse(&diag, &ev->smtp_status, &ev->smtp_code);

            if (ev->reason.len == 0) {
                ev->reason = diag;
            }
        }
    }

    if (t->type != MT_EV_BOUNCED) {
        return MT_OK;
    }

    /* a bounceType SES did not document: judge by the DSN status */

    if (ev->bounce == MT_BOUNCE_NONE) {
        ev->bounce = mt_bounce_classify(&ev->smtp_status, ev->smtp_code);
    }

    if (ev->reason.len == 0) {
        kind = mt_json_str(sub, "bounceType");
        diag = mt_json_str(sub, "bounceSubType");

        return mt_concat(wh, &ev->reason, &kind, "/", &diag);
    }

    return MT_OK;
}


/*
 * SES's own verdict: Permanent is hard, Transient soft, Undetermined
 * undetermined.  A Transient ContentRejected or AttachmentRejected is the
 * receiver's policy refusing this content (SES: "you may be able to send
 * successfully to this recipient if you change the content"), so block.
 */

static mt_bounce_e
mt_ses_bounce_class(json_t *bounce)
{
    mt_str_t  type, subtype;

    type = mt_json_str(bounce, "bounceType");
    subtype = mt_json_str(bounce, "bounceSubType");

    if (mt_str_eq(&type, "Permanent")) {
        return MT_BOUNCE_HARD;
    }

    if (mt_str_eq(&type, "Transient")) {
        if (mt_str_eq(&subtype, "ContentRejected")
            || mt_str_eq(&subtype, "AttachmentRejected"))
        {
            return MT_BOUNCE_BLOCK;
        }

        return MT_BOUNCE_SOFT;
    }

    if (mt_str_eq(&type, "Undetermined")) {
        return MT_BOUNCE_UNDETERMINED;
    }

    return MT_BOUNCE_NONE;
}


/*
 * A Subscription event is an unsubscribe when the contact now opts out
 * of the whole list, or of a topic it was not opted out of before; an
 * opt-in is "other" (MT_DECLINED here).  The reason names the list and
 * what was left.
 */

static mt_rc_t
mt_ses_unsubscribed(mt_wh_t *wh, json_t *sub, mt_str_t *reason)
{
    size_t     i, len;
    u_char    *p;
    json_t    *now, *topics, *prev;
    mt_str_t   list, name, what;
    unsigned   all, any;

    list = mt_json_str(sub, "contactList");
    *reason = list;

    now = json_object_get(sub, "newTopicPreferences");
    topics = json_object_get(now, "topicSubscriptionStatus");
    prev = json_object_get(json_object_get(sub, "oldTopicPreferences"),
                           "topicSubscriptionStatus");

    all = json_is_true(json_object_get(now, "unsubscribeAll"));

    len = 0;
    any = 0;

    for (i = 0; i < json_array_size(topics); i++) {
        if (mt_ses_newly_out(json_array_get(topics, i), prev, &name)) {
            any = 1;
            len += name.len + 1;
        }
    }

    if (!all && !any) {
        return MT_DECLINED;
    }

    if (all) {
        mt_str_set(&what, "all topics");

    } else {
        p = mt_alloc(&wh->alloc, len);
        if (p == NULL) {
            return MT_ERR_NOMEM;
        }

        what.data = p;

        for (i = 0; i < json_array_size(topics); i++) {
            if (!mt_ses_newly_out(json_array_get(topics, i), prev, &name)) {
                continue;
            }

            if (p != what.data) {
                *p++ = ',';
            }

            if (name.len) {
                memcpy(p, name.data, name.len);
                p += name.len;
            }
        }

        what.len = p - what.data;
    }

    return mt_concat(wh, reason, &list, ": ", &what);
}


/* a topic opted out of now that was not opted out of in prev */

static int
mt_ses_newly_out(json_t *topic, json_t *prev, mt_str_t *name)
{
    size_t     j;
    json_t    *o;
    mt_str_t   oname;

    if (!mt_ses_opt_out(json_object_get(topic, "subscriptionStatus"))) {
        return 0;
    }

    *name = mt_json_str(topic, "topicName");

    for (j = 0; j < json_array_size(prev); j++) {
        o = json_array_get(prev, j);
        oname = mt_json_str(o, "topicName");

        if (oname.len == name->len
            && (name->len == 0
                || memcmp(oname.data, name->data, name->len) == 0)
            && mt_ses_opt_out(json_object_get(o, "subscriptionStatus")))
        {
            return 0;
        }
    }

    return 1;
}


/* "OptOut" in events, "OPT_OUT" in the API */

static int
mt_ses_opt_out(json_t *v)
{
    mt_str_t  s;

    s.data = (u_char *) json_string_value(v);
    s.len = json_is_string(v) ? json_string_length(v) : 0;

    return mt_str_eq_nocase(&s, "OptOut") || mt_str_eq_nocase(&s, "OPT_OUT");
}


/*
 * SES event-publishing tags are {"name": ["value"]}: the first value, or
 * with join all of them, comma separated.
 */

static mt_rc_t
mt_ses_tag(mt_wh_t *wh, json_t *tags, const u_char *name, size_t len,
    int join, mt_str_t *dst)
{
    size_t     i, n, total;
    u_char    *p;
    json_t    *v, *e;
    mt_str_t   s;

    dst->len = 0;

    if (len == 0) {
        return MT_OK;
    }

    v = json_object_getn(tags, (const char *) name, len);

    if (json_is_string(v)) {
        *dst = mt_json_str_value(wh, v);
        return MT_OK;
    }

    n = json_array_size(v);

    if (n == 0) {
        return MT_OK;
    }

    if (!join || n == 1) {
        *dst = mt_json_str_value(wh, json_array_get(v, 0));
        return MT_OK;
    }

    total = 0;

    for (i = 0; i < n; i++) {
        e = json_array_get(v, i);
        total += (json_is_string(e) ? json_string_length(e) : 0) + 1;
    }

    p = mt_alloc(&wh->alloc, total);
    if (p == NULL) {
        return MT_ERR_NOMEM;
    }

    dst->data = p;

    for (i = 0; i < n; i++) {
        e = json_array_get(v, i);

        if (!json_is_string(e) || json_string_length(e) == 0) {
            continue;
        }

        s = mt_json_str_value(wh, e);

        if (p != dst->data) {
            *p++ = ',';
        }

        memcpy(p, s.data, s.len);
        p += s.len;
    }

    dst->len = p - dst->data;

    return MT_OK;
}


/*
 * SNS keeps MessageId on retries and the signed Message is identical,
 * so "MessageId#index" is stable and names each recipient's record.
 */

static mt_rc_t
mt_ses_id(mt_wh_t *wh, mt_sns_msg_t *msg, size_t i, mt_str_t *id)
{
    int      n;
    u_char  *p;

    p = mt_alloc(&wh->alloc, msg->message_id.len + 24);
    if (p == NULL) {
        return MT_ERR_NOMEM;
    }

    memcpy(p, msg->message_id.data, msg->message_id.len);

    n = snprintf((char *) p + msg->message_id.len, 24, "#%zu", i);

    id->data = p;
    id->len = msg->message_id.len + n;

    return MT_OK;
}


/* a sep b, or whichever of them is not empty */

static mt_rc_t
mt_concat(mt_wh_t *wh, mt_str_t *dst, mt_str_t *a, const char *sep,
    mt_str_t *b)
{
    size_t   n;
    u_char  *p;

    if (a->len == 0 || b->len == 0) {
        *dst = a->len ? *a : *b;
        return MT_OK;
    }

    n = strlen(sep);

    p = mt_alloc(&wh->alloc, a->len + n + b->len);
    if (p == NULL) {
        return MT_ERR_NOMEM;
    }

    dst->data = p;

    memcpy(p, a->data, a->len);
    p += a->len;
    memcpy(p, sep, n);
    p += n;
    memcpy(p, b->data, b->len);

    dst->len = a->len + n + b->len;

    return MT_OK;
}


/*
 * Only Amazon Trust Services addresses: http(s)://<host>.amazontrust.com/
 * <file> with no port, user, query or fragment.
 */

int
mt_sns_issuer_url_valid(const u_char *url, size_t len)
{
    size_t   i, skip, host;
    u_char   c;

    static const char  suffix[] = ".amazontrust.com";

    if (len > 512) {
        return 0;
    }

    if (len > 7 && strncasecmp((char *) url, "http://", 7) == 0) {
        skip = 7;

    } else if (len > 8 && strncasecmp((char *) url, "https://", 8) == 0) {
        skip = 8;

    } else {
        return 0;
    }

    for (i = skip; i < len && url[i] != '/'; i++) {
        c = url[i] | 0x20;

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.'
              || c == '-'))
        {
            return 0;
        }
    }

    host = i - skip;

    if (i == len || host <= sizeof(suffix) - 1
        || strncasecmp((char *) url + i - (sizeof(suffix) - 1), suffix,
                       sizeof(suffix) - 1) != 0
        || url[i - sizeof(suffix)] == '.')
    {
        return 0;
    }

    for (i++; i < len; i++) {
        c = url[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'
              || c == '/'))
        {
            return 0;
        }
    }

    return url[len - 1] != '/';
}


/*
 * SNS serves its signing certificate without the intermediate that
 * issued it, and system stores hold roots only: the leaf's Authority
 * Information Access names where the intermediate is published.
 */

int
mt_sns_issuer_url(const u_char *pem, size_t len, mt_alloc_t *a,
    mt_str_t *url)
{
    int                     i, rc;
    BIO                    *bio;
    X509                   *cert;
    ACCESS_DESCRIPTION     *ad;
    AUTHORITY_INFO_ACCESS  *aia;
    const unsigned char    *data;

    rc = -1;
    aia = NULL;
    cert = NULL;

    bio = BIO_new_mem_buf(pem, (int) mt_min(len, MT_SNS_PEM_MAX));
    if (bio == NULL) {
        goto done;
    }

    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (cert == NULL) {
        goto done;
    }

    aia = X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
    if (aia == NULL) {
        goto done;
    }

    for (i = 0; i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
        ad = sk_ACCESS_DESCRIPTION_value(aia, i);

        if (OBJ_obj2nid(ad->method) != NID_ad_ca_issuers
            || ad->location->type != GEN_URI)
        {
            continue;
        }

        data = ASN1_STRING_get0_data(ad->location->d.uniformResourceIdentifier);
        len = ASN1_STRING_length(ad->location->d.uniformResourceIdentifier);

        if (!mt_sns_issuer_url_valid(data, len)) {
            continue;
        }

        if (mt_strdup(a, url, data, len) != NULL) {
            rc = 0;
        }

        break;
    }

done:

    AUTHORITY_INFO_ACCESS_free(aia);
    X509_free(cert);
    BIO_free(bio);
    ERR_clear_error();

    return rc;
}


/* the leaf's PEM followed by the issuer (fetched as DER or PEM) as PEM */

u_char *
mt_sns_pem_append(mt_alloc_t *a, const u_char *pem, size_t len,
    const u_char *issuer, size_t ilen, size_t *out)
{
    BIO                  *bio, *mem;
    X509                 *cert;
    u_char               *p;
    char                 *data;
    long                  n;
    const unsigned char  *d;

    p = NULL;
    cert = NULL;
    mem = NULL;

    if (ilen > 27 && memcmp(issuer, "-----BEGIN CERTIFICATE-----", 27) == 0)
    {
        bio = BIO_new_mem_buf(issuer, (int) mt_min(ilen, MT_SNS_PEM_MAX));
        if (bio != NULL) {
            cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
            BIO_free(bio);
        }

    } else {
        d = issuer;
        cert = d2i_X509(NULL, &d, (long) mt_min(ilen, MT_SNS_PEM_MAX));
    }

    if (cert == NULL) {
        goto done;
    }

    mem = BIO_new(BIO_s_mem());
    if (mem == NULL || PEM_write_bio_X509(mem, cert) != 1) {
        goto done;
    }

    n = BIO_get_mem_data(mem, &data);

    p = mt_alloc(a, len + 1 + n);
    if (p == NULL) {
        goto done;
    }

    memcpy(p, pem, len);
    p[len] = '\n';
    memcpy(p + len + 1, data, n);
    *out = len + 1 + n;

done:

    BIO_free(mem);
    X509_free(cert);
    ERR_clear_error();

    return p;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Amazon SNS envelopes: a Notification or a (un)subscription
 * confirmation, signed with RSA-SHA1 (version 1) or RSA-SHA256 (2) over
 * "key\nvalue\n" lines of its decoded fields, with the key of a
 * certificate from a pinned sns.<region>.amazonaws.com URL.
 */


#include "mt_sns.h"
#include "mt_base64.h"

#include <openssl/err.h>
#include <openssl/evp.h>


/* the base64 of an RSA-4096 signature is 684 bytes */
#define MT_SNS_SIGNATURE_MAX    1024


static mt_str_t mt_sns_get(mt_json_t root, const char *key, const char *alt);
static mt_rc_t mt_sns_check_headers(mt_wh_t *wh, mt_sns_msg_t *msg);
static int mt_sns_topic_allowed(mt_wh_t *wh, mt_str_t *arn);
static mt_rc_t mt_sns_verify(mt_wh_t *wh, mt_sns_msg_t *msg,
    EVP_PKEY *pkey);
static u_char *mt_sns_put_field(u_char *p, const char *key,
    mt_str_t *value);


mt_rc_t
mt_sns_receive(mt_wh_t *wh, mt_sns_msg_t *msg)
{
    void     *key;
    mt_rc_t   rc;

    if (!mt_wh_content_type_is(wh, "text/plain")
        && !mt_wh_content_type_is(wh, "application/json"))
    {
        return MT_ERR_CONTENT_TYPE;
    }

    rc = mt_sns_parse(wh, msg);
    if (rc != MT_OK) {
        return rc;
    }

    rc = mt_sns_check_headers(wh, msg);
    if (rc != MT_OK) {
        return rc;
    }

    if (msg->signature.len == 0 || msg->version.len == 0
        || msg->cert_url.len == 0)
    {
        mt_str_set(&wh->detail, "Signature, SignatureVersion or "
                   "SigningCertURL missing");
        return MT_ERR_SIGNATURE_MISSING;
    }

    if (!mt_str_eq(&msg->version, "1") && !mt_str_eq(&msg->version, "2")) {
        mt_str_set(&wh->detail, "unsupported SignatureVersion");
        return MT_ERR_SIGNATURE;
    }

    /* the URL is the sender's word: nothing may touch it before this */

    if (!mt_sns_cert_url_valid(msg->cert_url.data, msg->cert_url.len)) {
        mt_str_set(&wh->detail, "SigningCertURL is not "
                   "https://sns.<region>.amazonaws.com/"
                   "SimpleNotificationService-<id>.pem");
        return MT_ERR_CERT_URL;
    }

    /* any AWS account's topic carries a valid AWS signature */

    if (!mt_sns_topic_allowed(wh, &msg->topic_arn)) {
        mt_strdup(&wh->alloc, &wh->detail, msg->topic_arn.data,
                  mt_min(msg->topic_arn.len, 256));
        return MT_ERR_TOPIC;
    }

    key = (wh->cert != NULL) ? wh->cert(wh, &msg->cert_url) : NULL;

    if (key == NULL) {
        /* the glue fetches it and runs us again; the body parses again */

        if (mt_strdup(&wh->alloc, &wh->cert_url, msg->cert_url.data,
                      msg->cert_url.len)
            == NULL)
        {
            return MT_ERR_NOMEM;
        }

        return MT_NEED_CERT;
    }

    rc = mt_sns_verify(wh, msg, key);
    if (rc != MT_OK) {
        return rc;
    }

    /* the signed Timestamp bounds replays; SNS keeps it on retries */

    return mt_wh_check_time(wh, msg->ts / 1000);
}


mt_rc_t
mt_sns_parse(mt_wh_t *wh, mt_sns_msg_t *msg)
{
    mt_rc_t    rc;
    mt_json_t  root, v;

    memset(msg, 0, sizeof(mt_sns_msg_t));

    rc = mt_wh_json_load(wh, wh->body, wh->body_len, &root);
    if (rc != MT_OK) {
        return rc;
    }

    if (!mt_json_is_object(root)) {
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

    v = mt_json_get(root, "Message");

    if (msg->message_id.len == 0 || msg->topic_arn.len == 0
        || msg->timestamp.len == 0 || !mt_json_is_string(v))
    {
        goto shape;
    }

    msg->message = mt_json_str(root, "Message");

    msg->ts = mt_time_iso8601_ms(msg->timestamp.data, msg->timestamp.len);
    if (msg->ts <= 0) {
        mt_str_set(&wh->detail, "SNS Timestamp is not ISO 8601");
        return MT_ERR_PAYLOAD;
    }

    /* a null Subject (Lambda style) is no Subject: it is not signed */

    v = mt_json_get(root, "Subject");

    if (mt_json_is_string(v)) {
        msg->subject = mt_json_str(root, "Subject");
        msg->has_subject = 1;

    } else if (!mt_json_is_none(v) && !mt_json_is_null(v)) {
        goto shape;
    }

    if (msg->type != MT_SNS_NOTIFICATION) {
        msg->subscribe_url = mt_sns_get(root, "SubscribeURL", "SubscribeUrl");
        v = mt_json_get(root, "Token");

        if (msg->subscribe_url.len == 0 || !mt_json_is_string(v)) {
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

    return MT_ERR_PAYLOAD;
}


static mt_str_t
mt_sns_get(mt_json_t root, const char *key, const char *alt)
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
 * A subscription (or unsubscribe) confirmation is recorded as "other";
 * only a SubscriptionConfirmation's URL may be confirmed: the one in an
 * UnsubscribeConfirmation would subscribe the endpoint again.
 */

mt_rc_t
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


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target: the SNS envelope and the SES event inside it, through
 * mt_ses_normalize() (no signature) and mt_ses_process() with a fixed RSA
 * key, the allowlisted topic and the cert URL of the seed corpus.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt_wh_test.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>


#define FUZZ_TOPIC     "arn:aws:sns:us-east-1:123456789012:ses-events"
#define FUZZ_CERT_URL  "https://sns.us-east-1.amazonaws.com/" \
                       "SimpleNotificationService-" \
                       "9c6465fa7f48f5cacd23014631ec1136.pem"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static wh_test_t     t;
static mt_wh_conf_t  conf;
static mt_str_t      topic = mt_string(FUZZ_TOPIC);
static EVP_PKEY     *fuzz_key;


static void
fuzz_init(void)
{
    wh_conf(&conf, NULL, MT_SRC_SES, NULL);

    conf.topics = &topic;
    conf.ntopics = 1;

    fuzz_key = EVP_RSA_gen(2048);
    if (fuzz_key == NULL) {
        abort();
    }
}


static void
fuzz_check(mt_rc_t rc)
{
    unsigned     i;
    mt_event_t  *ev;

    if (rc >= MT_RC_MAX) {
        abort();
    }

    /* an accepted confirmation URL must be one the validator accepts */

    if (t.wh.confirm_url.len
        && !mt_sns_subscribe_url_valid(t.wh.confirm_url.data,
                                       t.wh.confirm_url.len))
    {
        abort();
    }

    if (t.wh.cert_url.len
        && !mt_sns_cert_url_valid(t.wh.cert_url.data, t.wh.cert_url.len))
    {
        abort();
    }

    for (i = 0; i < t.nevents; i++) {
        ev = &t.events[i];

        if (ev->type >= MT_EV_MAX || ev->bounce >= MT_BOUNCE_MAX
            || ev->src != MT_SRC_SES)
        {
            abort();
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_rc_t  rc;

    if (fuzz_key == NULL) {
        fuzz_init();
    }

    /* the verified half */

    wh_setup(&t, &conf, NULL, data, size, 1764000000);

    rc = mt_ses_normalize(&t.wh);
    fuzz_check(rc);
    wh_reset(&t);

    /* the whole request, with a key for the seed corpus' cert URL */

    t.pkey = fuzz_key;
    t.pkey_url = FUZZ_CERT_URL;

    if (size && (data[0] & 1)) {
        wh_header(&t, "x-amz-sns-message-type", "Notification");
    }

    rc = wh_run(&t, &conf, (size && (data[0] & 2)) ? "application/json"
                                                   : "text/plain",
                data, size, 1764000000);
    fuzz_check(rc);
    wh_reset(&t);

    return 0;
}

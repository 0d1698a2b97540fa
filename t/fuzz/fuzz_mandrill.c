
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target for Mandrill: the input is given to the normalizer
 * as a form body, posted as such with a signature that cannot match,
 * and posted as the mandrill_events value of a correctly signed form;
 * every event emitted must keep the record contract.
 */


#include <stdint.h>

#include "fuzz_common.h"
#include "mt_base64.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>


#define FUZZ_KEY  "fuzz-secret"
#define FUZZ_URL  "https://hooks.example.com/mandrill"
#define FUZZ_NOW  1764000000
#define FUZZ_FORM "application/x-www-form-urlencoded"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_signed(const uint8_t *data, size_t size);


static wh_test_t     t;
static mt_wh_conf_t  conf;
static mt_wh_key_t   key;
static int           ready;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_rc_t  rc;

    if (!ready) {
        wh_conf(&conf, &key, MT_SRC_MANDRILL, FUZZ_KEY);
        mt_str_set(&conf.url, FUZZ_URL);
        ready = 1;
    }

    wh_reset(&t);
    wh_setup(&t, &conf, FUZZ_FORM, data, size, FUZZ_NOW);
    rc = mt_mandrill_normalize(&t.wh);
    fuzz_check_events(&t, rc, MT_SRC_MANDRILL);

    wh_reset(&t);
    wh_header(&t, "x-mandrill-signature", "98qlArkKRaEEf8/jcmjflDH5vn4=");
    rc = wh_run(&t, &conf, FUZZ_FORM, data, size, FUZZ_NOW);
    fuzz_check_events(&t, rc, MT_SRC_MANDRILL);

    if (rc == MT_OK || rc == MT_DECLINED) {
        /* a forged signature must never pass */
        abort();
    }

    fuzz_signed(data, size);

    return 0;
}


/* the input as the mandrill_events value of a form signed right */

static void
fuzz_signed(const uint8_t *data, size_t size)
{
    char           sig[64];
    u_char        *body, *signed_data, *p;
    size_t         i, n;
    mt_rc_t        rc;
    unsigned int   mdlen;
    u_char         md[EVP_MAX_MD_SIZE];
    static const char  hex[] = "0123456789ABCDEF";

    body = malloc(sizeof("mandrill_events=") + size * 3);
    signed_data = malloc(sizeof(FUZZ_URL "mandrill_events") + size);

    if (body == NULL || signed_data == NULL) {
        abort();
    }

    p = (u_char *) stpcpy((char *) body, "mandrill_events=");

    for (i = 0; i < size; i++) {
        if ((data[i] >= 'a' && data[i] <= 'z')
            || (data[i] >= 'A' && data[i] <= 'Z')
            || (data[i] >= '0' && data[i] <= '9'))
        {
            *p++ = data[i];

        } else if (data[i] == ' ') {
            *p++ = '+';

        } else {
            *p++ = '%';
            *p++ = hex[data[i] >> 4];
            *p++ = hex[data[i] & 0xf];
        }
    }

    n = p - body;

    p = (u_char *) stpcpy((char *) signed_data, FUZZ_URL "mandrill_events");

    if (size) {
        memcpy(p, data, size);
    }

    HMAC(EVP_sha1(), FUZZ_KEY, sizeof(FUZZ_KEY) - 1, signed_data,
         p + size - signed_data, md, &mdlen);

    sig[mt_base64_encode((u_char *) sig, md, mdlen)] = '\0';

    wh_reset(&t);
    wh_header(&t, "x-mandrill-signature", sig);
    rc = wh_run(&t, &conf, FUZZ_FORM, body, n, FUZZ_NOW);
    fuzz_check_events(&t, rc, MT_SRC_MANDRILL);

    if (rc == MT_ERR_SIGNATURE || rc == MT_ERR_SIGNATURE_MISSING) {
        /* what was signed right must verify */
        abort();
    }

    free(body);
    free(signed_data);
}

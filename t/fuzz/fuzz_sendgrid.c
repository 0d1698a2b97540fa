
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target for the SendGrid provider.  The input is a body for
 * mt_sendgrid_normalize(), unless its first byte selects another path:
 *   0x01  "<timestamp>\n<signature>\n<body>" through mt_sendgrid_process()
 *   0x02  <body>, signed here with a fixed key, through
 *         mt_sendgrid_process(): the whole path up to emit
 */


#include "fuzz_common.h"
#include "mt_base64.h"

#include <openssl/evp.h>
#include <openssl/x509.h>


#define FZ_NOW  1764000000


static wh_test_t      T;
static mt_wh_conf_t   conf;
static mt_wh_key_t    key;
static EVP_PKEY      *priv;


static void
fz_init(void)
{
    int      n;
    u_char  *der, *p;
    char    *b64;

    priv = EVP_EC_gen("P-256");

    n = i2d_PUBKEY(priv, NULL);
    der = malloc(n);
    p = der;
    i2d_PUBKEY(priv, &p);

    b64 = malloc(mt_base64_encoded_len(n) + 1);
    b64[mt_base64_encode((u_char *) b64, der, n)] = '\0';
    free(der);

    /* the key string must outlive conf: it is never freed */
    wh_conf(&conf, &key, MT_SRC_SENDGRID, b64);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        *ts, *sig, sigb[256];
    size_t       n;
    u_char       der[128];
    uint8_t     *body;
    EVP_MD_CTX  *ctx;

    if (priv == NULL) {
        fz_init();
    }

    wh_reset(&T);

    if (size && data[0] == 0x01) {
        data++;
        size--;

        ts = fuzz_line(&data, &size);
        sig = fuzz_line(&data, &size);

        /* an exact copy, so that ASan sees any read past the body */
        body = malloc(size ? size : 1);
        memcpy(body, data, size);

        wh_header(&T, "x-twilio-email-event-webhook-timestamp", ts);
        wh_header(&T, "x-twilio-email-event-webhook-signature", sig);
        (void) wh_run(&T, &conf, "application/json", body, size, FZ_NOW);

        free(body);
        free(ts);
        free(sig);

    } else if (size && data[0] == 0x02) {
        data++;
        size--;

        ctx = EVP_MD_CTX_new();
        n = sizeof(der);

        if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, priv) != 1
            || EVP_DigestSignUpdate(ctx, "1764000000", 10) != 1
            || EVP_DigestSignUpdate(ctx, data, size) != 1
            || EVP_DigestSignFinal(ctx, der, &n) != 1)
        {
            abort();
        }

        EVP_MD_CTX_free(ctx);
        sigb[mt_base64_encode((u_char *) sigb, der, n)] = '\0';

        body = malloc(size ? size : 1);
        memcpy(body, data, size);

        wh_header(&T, "x-twilio-email-event-webhook-timestamp",
                  "1764000000");
        wh_header(&T, "x-twilio-email-event-webhook-signature", sigb);

        if (wh_run(&T, &conf, "application/json", body, size, FZ_NOW)
            == MT_ERR_SIGNATURE)
        {
            /* a body signed here must always verify */
            abort();
        }

        free(body);

    } else {
        wh_setup(&T, &conf, "application/json", data, size, FZ_NOW);
        (void) mt_sendgrid_normalize(&T.wh);
    }

    wh_reset(&T);

    return 0;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target for the Resend (Svix) provider.  The input is a body
 * for mt_resend_normalize(), unless its first byte selects another path:
 *   0x01  "<id>\n<timestamp>\n<signature header>\n<body>" through
 *         mt_resend_process() (header parsing, refusals)
 *   0x02  <body>, signed here with a fixed secret, through
 *         mt_resend_process(): the whole path up to emit
 */


#include "fuzz_common.h"
#include "mt_base64.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>


#define FZ_NOW     1764000000
#define FZ_SECRET  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


static wh_test_t      T;
static mt_wh_conf_t   conf;
static mt_wh_key_t    key;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char          *id, *ts, *sig, sigb[64];
    u_char         k[64], md[32];
    uint8_t       *body, *msg;
    ssize_t        klen;
    unsigned int   mdlen;
    mt_rc_t        rc;

    if (conf.keys == NULL) {
        wh_conf(&conf, &key, MT_SRC_RESEND, FZ_SECRET);
    }

    wh_reset(&T);

    if (size && data[0] == 0x01) {
        data++;
        size--;

        id = fuzz_line(&data, &size);
        ts = fuzz_line(&data, &size);
        sig = fuzz_line(&data, &size);

        body = malloc(size ? size : 1);
        memcpy(body, data, size);

        wh_header(&T, "svix-id", id);
        wh_header(&T, "svix-timestamp", ts);
        wh_header(&T, "svix-signature", sig);
        (void) wh_run(&T, &conf, "application/json", body, size, FZ_NOW);

        free(body);
        free(id);
        free(ts);
        free(sig);

    } else if (size && data[0] == 0x02) {
        data++;
        size--;

        klen = mt_base64_decode(k, (u_char *) FZ_SECRET + 6,
                                sizeof(FZ_SECRET) - 7);

        msg = malloc(size + 32);
        memcpy(msg, "msg_fuzz.1764000000.", 20);
        memcpy(msg + 20, data, size);
        HMAC(EVP_sha256(), k, klen, msg, size + 20, md, &mdlen);
        free(msg);

        memcpy(sigb, "v1,", 3);
        sigb[3 + mt_base64_encode((u_char *) sigb + 3, md, 32)] = '\0';

        body = malloc(size ? size : 1);
        memcpy(body, data, size);

        wh_header(&T, "svix-id", "msg_fuzz");
        wh_header(&T, "svix-timestamp", "1764000000");
        wh_header(&T, "svix-signature", sigb);
        rc = wh_run(&T, &conf, "application/json", body, size, FZ_NOW);

        /* a body signed here must always verify */
        if (rc == MT_ERR_SIGNATURE || rc == MT_ERR_SIGNATURE_MISSING) {
            abort();
        }

        free(body);

    } else {
        wh_setup(&T, &conf, "application/json", data, size, FZ_NOW);
        (void) mt_resend_normalize(&T.wh);
    }

    wh_reset(&T);

    return 0;
}

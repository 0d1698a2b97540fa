
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target for the Mailgun provider.  The input is a body for
 * mt_mailgun_normalize(), unless its first byte selects another path:
 *   0x01  <body> through mt_mailgun_process() as it is (signature block
 *         parsing, HMAC, refusals)
 *   0x02  <event-data JSON>, wrapped here in an envelope with a valid
 *         signature block and a fresh token, through mt_mailgun_process():
 *         the whole path up to the replay check and emit
 */


#include "fuzz_common.h"

#include <stdio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


#define FZ_NOW  1764000000
#define FZ_KEY  "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


static wh_test_t      T;
static mt_wh_conf_t   conf;
static mt_wh_key_t    key;
static unsigned       seq;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int           n;
    char          token[64], msg[128], hex[65], *env;
    u_char        md[32];
    uint8_t      *body;
    unsigned int  mdlen, i;
    mt_rc_t       rc;

    if (conf.keys == NULL) {
        wh_conf(&conf, &key, MT_SRC_MAILGUN, FZ_KEY);
    }

    wh_reset(&T);

    if (size && data[0] == 0x01) {
        body = malloc(size - 1 ? size - 1 : 1);
        memcpy(body, data + 1, size - 1);

        (void) wh_run(&T, &conf, "application/json", body, size - 1,
                      FZ_NOW);
        free(body);

    } else if (size && data[0] == 0x02) {
        snprintf(token, sizeof(token), "fuzz%046u", ++seq);
        n = snprintf(msg, sizeof(msg), "%d%s", FZ_NOW, token);
        HMAC(EVP_sha256(), FZ_KEY, sizeof(FZ_KEY) - 1, (u_char *) msg, n,
             md, &mdlen);

        for (i = 0; i < 32; i++) {
            sprintf(hex + i * 2, "%02x", md[i]);
        }

        /*
         * The signature block goes last: whatever the input holds, when
         * the envelope parses, this block is the top-level "signature".
         */

        env = malloc(size + 256);
        memcpy(env, "{\"event-data\":", 14);
        memcpy(env + 14, data + 1, size - 1);
        n = 14 + size - 1;
        n += sprintf(env + n, ",\"signature\":{\"token\":\"%s\","
                     "\"timestamp\":\"%d\",\"signature\":\"%s\"}}", token,
                     FZ_NOW, hex);

        rc = wh_run(&T, &conf, "application/json", env, n, FZ_NOW);

        /* a fresh, validly signed token never fails authentication */
        if (rc == MT_ERR_SIGNATURE || rc == MT_ERR_SIGNATURE_MISSING
            || rc == MT_ERR_REPLAY)
        {
            abort();
        }

        free(env);

    } else {
        wh_setup(&T, &conf, "application/json", data, size, FZ_NOW);
        (void) mt_mailgun_normalize(&T.wh);
    }

    wh_reset(&T);

    return 0;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target for the generic provider, with the shipped profiles
 * loaded: conf/mail-track/<vendor>.conf is read at start and its
 * mail_track_generic_* directives are given to the engine as nginx
 * would.  An input is:
 *
 *   byte 0   the profile (low 4 bits) and the path (high bits):
 *              0  the body through mt_generic_normalize()
 *              1  through mt_generic_process(), unauthenticated
 *              2  through mt_generic_process() with the credential or
 *                 the signature the profile expects (for the profiles
 *                 that sign the body, a valid one), so that the whole
 *                 path up to the nonce and emit runs
 *   byte 1   the Content-Type (JSON, JSON Lines, a form, none, text)
 *   the rest the body
 *
 * Whatever the input: a known answer, nothing emitted by a refused
 * request, every event keeping the record contract; a correctly signed
 * body is never refused for its signature.
 */


#include "fuzz_common.h"
#include "mt_generic.h"

#include <stdio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


#define FZ_NOW       1764000000
#define FZ_KEY       "fuzz-key-0123456789abcdef"
#define FZ_WHSEC     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


typedef struct {
    const char     *file;
    mt_wh_conf_t    conf;
    mt_wh_key_t     key;
    int             sign;          /* 1: HMAC-SHA256 hex of the body */
} fz_profile_t;


static int fz_load(fz_profile_t *p);
static int fz_directive(mt_gen_conf_t *gc, mt_wh_conf_t *conf, char **tok,
    size_t n);
static void fz_sign(fz_profile_t *p, wh_test_t *t, const uint8_t *body,
    size_t len, char *buf);


static fz_profile_t  fz_profiles[] = {
    { "sendcloud", { 0 }, { { 0, NULL }, NULL, NULL }, 0 },
    { "submail", { 0 }, { { 0, NULL }, NULL, NULL }, 0 },
    { "engagelab", { 0 }, { { 0, NULL }, NULL, NULL }, 0 },
    { "tencent-ses", { 0 }, { { 0, NULL }, NULL, NULL }, 0 },
    { "mailtrap", { 0 }, { { 0, NULL }, NULL, NULL }, 1 },
    { "mailersend", { 0 }, { { 0, NULL }, NULL, NULL }, 1 },
    { "smtp2go", { 0 }, { { 0, NULL }, NULL, NULL }, 0 },
    { "socketlabs", { 0 }, { { 0, NULL }, NULL, NULL }, 0 },
    { "aliyun-dm", { 0 }, { { 0, NULL }, NULL, NULL }, 0 },
    { "loops", { 0 }, { { 0, NULL }, NULL, NULL }, 2 },
    { "aoksend", { 0 }, { { 0, NULL }, NULL, NULL }, 0 }
};

#define FZ_NPROFILES  (sizeof(fz_profiles) / sizeof(fz_profiles[0]))


static const char  *fz_types[] = {
    "application/json", "application/x-ndjson",
    "application/x-www-form-urlencoded", NULL, "text/plain"
};


static wh_test_t     T;
static wh_test_t     cfg;
static int           ready;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           sig[512], auth[128];
    size_t         i;
    mt_rc_t        rc;
    const char    *ct;
    fz_profile_t  *p;

    if (!ready) {
        cfg.wh.alloc.alloc = wh_test_alloc;
        cfg.wh.alloc.data = &cfg;

        for (i = 0; i < FZ_NPROFILES; i++) {
            if (fz_load(&fz_profiles[i]) != 0) {
                abort();
            }
        }

        ready = 1;
    }

    if (size < 2) {
        return 0;
    }

    p = &fz_profiles[(data[0] & 0x0f) % FZ_NPROFILES];
    ct = fz_types[data[1] % 5];

    wh_reset(&T);

    switch (data[0] >> 4) {

    case 0:
        wh_setup(&T, &p->conf, ct, data + 2, size - 2, FZ_NOW);
        rc = mt_generic_normalize(&T.wh);
        fuzz_check_events(&T, rc, MT_SRC_GENERIC);
        break;

    case 1:
        wh_setup(&T, &p->conf, ct, data + 2, size - 2, FZ_NOW);
        rc = mt_generic_process(&T.wh);
        fuzz_check_events(&T, rc, MT_SRC_GENERIC);
        break;

    default:
        /* the credentials every token profile may read */

        snprintf(auth, sizeof(auth), "Bearer %s", FZ_KEY);
        wh_header(&T, "authorization", auth);
        fz_sign(p, &T, data + 2, size - 2, sig);

        wh_setup(&T, &p->conf, ct, data + 2, size - 2, FZ_NOW);
        mt_str_set(&T.wh.args, "token=" FZ_KEY);

        rc = mt_generic_process(&T.wh);
        fuzz_check_events(&T, rc, MT_SRC_GENERIC);

        if (p->sign && (rc == MT_ERR_SIGNATURE
                        || rc == MT_ERR_SIGNATURE_MISSING
                        || rc == MT_ERR_AUTH_FAILED))
        {
            abort();
        }

        break;
    }

    /* a nonce is remembered by the test glue: forget it */

    for (i = 0; i < T.ntokens; i++) {
        free(T.tokens[i]);
        free(T.token_events[i]);
    }

    T.ntokens = 0;

    wh_reset(&T);

    return 0;
}


/* the headers a signing profile wants, signed over body */

static void
fz_sign(fz_profile_t *p, wh_test_t *t, const uint8_t *body, size_t len,
    char *buf)
{
    size_t          i, n;
    u_char          md[32], *msg;
    unsigned int    mdlen;
    mt_gen_key_t   *k;

    if (p->sign == 1) {
        HMAC(EVP_sha256(), FZ_KEY, sizeof(FZ_KEY) - 1, body, len, md,
             &mdlen);

        for (i = 0; i < 32; i++) {
            sprintf(buf + 2 * i, "%02x", md[i]);
        }

        wh_header(t, "mailtrap-signature", buf);
        wh_header(t, "signature", buf);
        return;
    }

    if (p->sign == 2) {
        /* Standard Webhooks: id.timestamp.body, the key decoded */

        k = &((mt_gen_conf_t *) p->conf.generic)->keys[0];

        msg = malloc(len + 64);
        n = sprintf((char *) msg, "msg_fuzz.%d.", FZ_NOW);
        memcpy(msg + n, body, len);

        HMAC(EVP_sha256(), k->bytes.data, (int) k->bytes.len, msg, n + len,
             md, &mdlen);
        free(msg);

        memcpy(buf, "v1,", 3);
        n = mt_base64_encode((u_char *) buf + 3, md, 32);
        buf[3 + n] = '\0';

        wh_header(t, "webhook-id", "msg_fuzz");
        wh_header(t, "webhook-timestamp", "1764000000");
        wh_header(t, "webhook-signature", buf);
    }
}


/*
 * An nginx include file: "#" comments, quoted strings, directives ended
 * by ";".  The mail_track_generic_* ones go to the engine.
 */

static int
fz_load(fz_profile_t *p)
{
    int             rc, end;
    char            path[512], *text, *s, *tok[32], q;
    long            len;
    FILE           *f;
    size_t          n;
    const char     *dir;
    mt_gen_conf_t  *gc;

    dir = getenv("MT_PROFILES");

    if (dir != NULL) {
        snprintf(path, sizeof(path), "%s/%s.conf", dir, p->file);

    } else {
        /* relative to where make runs, as __FILE__ is */
        snprintf(path, sizeof(path), "%.*s/../../conf/mail-track/%s.conf",
                 (int) (strrchr(__FILE__, '/') - __FILE__), __FILE__,
                 p->file);
    }

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "fuzz_generic: cannot open %s (set MT_PROFILES)\n",
                path);
        return -1;
    }

    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);

    text = wh_test_alloc(&cfg, len + 1);
    if (fread(text, 1, len, f) != (size_t) len) {
        fclose(f);
        return -1;
    }

    fclose(f);
    text[len] = '\0';

    memset(&p->conf, 0, sizeof(mt_wh_conf_t));
    p->conf.provider = MT_SRC_GENERIC;
    p->conf.tolerance = mt_provider_get(MT_SRC_GENERIC)->tolerance;
    mt_str_set(&p->conf.id_field, "mail_track_id");

    memset(&p->key, 0, sizeof(mt_wh_key_t));
    p->key.raw.data = (u_char *) (p->sign == 2 ? FZ_WHSEC : FZ_KEY);
    p->key.raw.len = strlen((char *) p->key.raw.data);
    p->conf.keys = &p->key;
    p->conf.nkeys = 1;

    gc = mt_gen_conf_create(&cfg.wh.alloc);
    n = 0;

    for (s = text; *s; /* void */) {
        if (*s == '#') {
            while (*s && *s != '\n') {
                s++;
            }

            continue;
        }

        if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
            s++;
            continue;
        }

        end = 0;

        if (*s == ';') {
            s++;
            end = 1;

        } else if (n == 32) {
            return -1;

        } else if (*s == '"' || *s == '\'') {
            q = *s++;
            tok[n++] = s;

            while (*s && *s != q) {
                s++;
            }

            if (*s) {
                *s++ = '\0';
            }

        } else {
            tok[n++] = s;

            while (*s && *s != ' ' && *s != '\t' && *s != '\r'
                   && *s != '\n' && *s != ';')
            {
                s++;
            }

            end = (*s == ';');

            if (*s) {
                *s++ = '\0';
            }
        }

        if (end && n) {
            if (fz_directive(gc, &p->conf, tok, n) != 0) {
                fprintf(stderr, "fuzz_generic: %s: %s\n", p->file, tok[0]);
                return -1;
            }

            n = 0;
        }
    }

    rc = mt_gen_conf_finish(gc, &p->conf, path, sizeof(path));

    if (rc != MT_OK) {
        fprintf(stderr, "fuzz_generic: %s: %s\n", p->file, path);
        return -1;
    }

    return 0;
}


static int
fz_directive(mt_gen_conf_t *gc, mt_wh_conf_t *conf, char **tok, size_t n)
{
    char       err[256];
    size_t     i;
    mt_str_t   args[32];
    int64_t    t;

    if (strcmp(tok[0], "mail_track_webhook_tolerance") == 0 && n == 2) {
        t = mt_parse_duration((u_char *) tok[1], strlen(tok[1]));
        conf->tolerance = t > 0 ? t : 0;
        return 0;
    }

    if (strncmp(tok[0], "mail_track_generic_", 19) != 0) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        args[i - 1].data = (u_char *) tok[i];
        args[i - 1].len = strlen(tok[i]);
    }

    if (mt_gen_directive(gc, tok[0] + 19, args, n - 1, err, sizeof(err))
        != MT_OK)
    {
        fprintf(stderr, "fuzz_generic: %s\n", err);
        return -1;
    }

    return 0;
}

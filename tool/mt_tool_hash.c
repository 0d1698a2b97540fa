
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mail-track hash ADDR --key FILE: the hashed recipient that records of
 * "mail_track_rcpt hash" carry for ADDR, so that an application can
 * look its recipients up (core/mt_rcpt.c, the module's own code).
 */


#include "mt_tool_query.h"

#include <getopt.h>
#include <openssl/crypto.h>


static void mt_tool_hash_usage(FILE *f);


static const struct option  mt_tool_hash_options[] = {
    { "key",      required_argument, NULL, 'k' },
    { "help",     no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static void
mt_tool_hash_usage(FILE *f)
{
    fprintf(f,
        "usage: " MT_TOOL_NAME " hash ADDR... --key FILE\n"
        "\n"
        "Prints, one a line, what a record of \"mail_track_rcpt hash\"\n"
        "carries for each ADDR: HMAC-SHA256(key, normalized address) in\n"
        "hex.  The address is normalized as the module does it (white\n"
        "space and a display name dropped, ASCII letters lowercased).\n"
        "\n"
        "options:\n"
        "  -k, --key FILE   the hash key (mail_track_rcpt_key); required\n"
        "  -h, --help       this text\n");
}


int
mt_tool_hash(int argc, char **argv)
{
    int               c, i, rc;
    const char       *path;
    mt_rcpt_key_t     k;
    mt_rcpt_hasher_t  h;
    u_char            hex[MT_RCPT_HASH_HEX + 1];

    path = NULL;

    optind = 1;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":k:h", mt_tool_hash_options, NULL))
           != -1)
    {
        switch (c) {
        case 'k':
            path = optarg;
            break;
        case 'h':
            mt_tool_hash_usage(stdout);
            return MT_TOOL_OK;
        default:
            return mt_tool_bad_option("hash", c, argv);
        }
    }

    if (path == NULL) {
        return mt_tool_usage_error("hash", "--key FILE is required");
    }

    if (optind == argc) {
        return mt_tool_usage_error("hash", "expected ADDR arguments");
    }

    if (mt_rcpt_key_read(path, &k) != 0) {
        return MT_TOOL_ERROR;
    }

    rc = mt_rcpt_hasher_init(&h, k.key, MT_RCPT_KEY_LEN);

    OPENSSL_cleanse(&k, sizeof(k));

    if (rc != 0) {
        mt_tool_error("HMAC-SHA256 is not available from OpenSSL");
        return MT_TOOL_ERROR;
    }

    rc = MT_TOOL_OK;

    for (i = optind; i < argc; i++) {
        if (mt_rcpt_hasher_hash(&h, (u_char *) argv[i], strlen(argv[i]), hex)
            != 0)
        {
            mt_tool_error("\"%s\": cannot be hashed (longer than %d bytes)",
                          argv[i], MT_RCPT_NORM_MAX);
            rc = MT_TOOL_ERROR;
            continue;
        }

        printf("%s\n", hex);
    }

    mt_rcpt_hasher_free(&h);

    if (fflush(stdout) != 0) {
        mt_tool_error("write error");
        rc = MT_TOOL_ERROR;
    }

    return rc;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target: mt_sns_cert_url_valid() and
 * mt_sns_subscribe_url_valid().  Whatever they accept is checked again
 * with POSIX regular expressions written independently of the code, so
 * a URL that slips past the hand-written parser aborts.
 */


#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt_core.h"
#include "mt_webhook.h"


#define HOST_RE  "^https://sns\\.[a-z]{2,}(-[a-z]+)*-[0-9]+" \
                 "\\.amazonaws\\.com(\\.cn)?"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static regex_t  cert_re, sub_re, path_re;
static int      ready;


static void
fuzz_init(void)
{
    /* the scheme and the host case-insensitively, then the path exactly */

    if (regcomp(&cert_re, HOST_RE "/[^/]*$", REG_EXTENDED | REG_ICASE
                                             | REG_NOSUB) != 0
        || regcomp(&path_re, "^/SimpleNotificationService-[A-Za-z0-9]+"
                   "\\.pem$", REG_EXTENDED | REG_NOSUB) != 0
        || regcomp(&sub_re, HOST_RE "/\\?[A-Za-z0-9._~:+%=&-]+$",
                   REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0)
    {
        abort();
    }

    ready = 1;
}


static int
has_param(const char *s, const char *param)
{
    size_t       n;
    const char  *p;

    n = strlen(param);

    for (p = strchr(s, '?'); p != NULL; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, param, n) == 0
            && (p[1 + n] == '&' || p[1 + n] == '\0'))
        {
            return 1;
        }
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int    cert, sub;
    char  *s, *path;

    if (!ready) {
        fuzz_init();
    }

    cert = mt_sns_cert_url_valid(data, size);
    sub = mt_sns_subscribe_url_valid(data, size);

    if (!cert && !sub) {
        return 0;
    }

    if (cert && sub) {
        abort();
    }

    /* nothing accepted may hide a NUL from a C-string consumer */

    if (memchr(data, '\0', size) != NULL) {
        abort();
    }

    s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';

    if (cert) {
        path = strchr(s + 8, '/');

        if (regexec(&cert_re, s, 0, NULL, 0) != 0 || path == NULL
            || regexec(&path_re, path, 0, NULL, 0) != 0)
        {
            abort();
        }
    }

    if (sub) {
        if (regexec(&sub_re, s, 0, NULL, 0) != 0
            || !has_param(s, "Action=ConfirmSubscription"))
        {
            abort();
        }
    }

    free(s);

    return 0;
}

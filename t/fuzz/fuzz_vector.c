
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target: each AVX2 path against the plain C one it stands in
 * for, on the same input.  The first byte picks what is compared: the
 * base64url decoder (its answer, the bytes written, nothing written past
 * them) or the user-agent classifier with and without its prefilter (the
 * verdict and its reason, for an open and for a click).  Any difference
 * aborts.  On a CPU without AVX2 both sides are the plain code.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt_core.h"
#include "mt_base64.h"
#include "mt_classify.h"
#include "mt_cpu.h"


#define FUZZ_OUT  4096


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_base64(const u_char *src, size_t len);
static void fuzz_classify(const u_char *ua, size_t len, mt_event_type_e type);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }

    switch (data[0] % 3) {

    case 0:
        if (size - 1 <= FUZZ_OUT / 3 * 4) {
            fuzz_base64(data + 1, size - 1);
        }
        break;

    case 1:
        fuzz_classify(data + 1, size - 1, MT_EV_OPENED);
        break;

    default:
        fuzz_classify(data + 1, size - 1, MT_EV_CLICKED);
        break;
    }

    mt_cpu_limit(~0u);

    return 0;
}


static void
fuzz_base64(const u_char *src, size_t len)
{
    size_t         i;
    ssize_t        a, b;
    static u_char  x[FUZZ_OUT + 64], y[FUZZ_OUT + 64];

    memset(x, 0xaa, sizeof(x));
    memset(y, 0xaa, sizeof(y));

    mt_cpu_limit(0);
    a = mt_base64url_decode(x, src, len);

    mt_cpu_limit(~0u);
    b = mt_base64url_decode(y, src, len);

    if (a != b) {
        abort();
    }

    if (a >= 0) {
        if (memcmp(x, y, sizeof(x)) != 0) {
            abort();
        }

        return;
    }

    /* refused: either may have written, but not past the decoded length */

    for (i = mt_base64_decoded_len(len); i < sizeof(y); i++) {
        if (x[i] != 0xaa || y[i] != 0xaa) {
            abort();
        }
    }
}


static void
fuzz_classify(const u_char *data, size_t len, mt_event_type_e type)
{
    u_char      *copy;
    mt_str_t     ip, ua;
    mt_event_t   a, b;

    /* a copy of its own size: a read past the user agent is caught */

    copy = malloc(len + 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, data, len);

    ip.data = (u_char *) "192.0.2.1";
    ip.len = sizeof("192.0.2.1") - 1;
    ua.data = copy;
    ua.len = len;

    memset(&a, 0, sizeof(mt_event_t));
    memset(&b, 0, sizeof(mt_event_t));
    a.type = type;
    b.type = type;

    mt_cpu_limit(0);
    mt_classify(&a, &ip, &ua, 0);

    mt_cpu_limit(~0u);
    mt_classify(&b, &ip, &ua, 0);

    if (a.machine != b.machine || a.why.len != b.why.len
        || (a.why.len && memcmp(a.why.data, b.why.data, a.why.len) != 0))
    {
        abort();
    }

    free(copy);
}

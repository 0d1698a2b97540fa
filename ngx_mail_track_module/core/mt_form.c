
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * application/x-www-form-urlencoded: "&"-separated "name=value", "+" is
 * a space, %XX a byte (a malformed escape stays as it is), empty pairs
 * are skipped; a repeated name is kept every time, as it is signed.
 */


#include "mt_form.h"
#include "mt_base64.h"


mt_rc_t
mt_form_parse(mt_alloc_t *a, const u_char *p, size_t len,
    mt_form_param_t **params, size_t *nparams)
{
    size_t            n, max;
    u_char           *buf, *eq;
    const u_char     *q, *end, *amp;
    mt_form_param_t  *prm;

    if (len == 0) {
        /* a request without a query string has no bytes, not even p */
        *params = NULL;
        *nparams = 0;
        return MT_OK;
    }

    max = 1;
    end = p + len;

    for (q = p; q < end; q++) {
        if (*q == '&') {
            max++;
        }
    }

    prm = mt_alloc(a, max * sizeof(mt_form_param_t));
    buf = mt_alloc(a, len + 1);

    if (prm == NULL || buf == NULL) {
        return MT_ERR_NOMEM;
    }

    n = 0;

    for (q = p; q < end; q = amp + 1) {
        amp = memchr(q, '&', end - q);

        if (amp == NULL) {
            amp = end;
        }

        if (amp == q) {
            continue;
        }

        eq = memchr(q, '=', amp - q);

        prm[n].index = n;
        prm[n].key.data = buf;
        prm[n].key.len = mt_form_unescape(buf, q,
                                          ((eq != NULL) ? eq : amp) - q);
        buf += prm[n].key.len;

        prm[n].value.data = buf;
        prm[n].value.len = 0;

        if (eq != NULL) {
            prm[n].value.len = mt_form_unescape(buf, eq + 1,
                                                amp - (eq + 1));
            buf += prm[n].value.len;
        }

        n++;
    }

    *params = prm;
    *nparams = n;

    return MT_OK;
}


size_t
mt_form_unescape(u_char *dst, const u_char *src, size_t len)
{
    int      hi, lo;
    u_char  *d;

    d = dst;

    while (len) {
        if (*src == '+') {
            *d++ = ' ';
            src++;
            len--;
            continue;
        }

        if (*src == '%' && len >= 3) {
            hi = mt_hex_digit(src[1]);
            lo = mt_hex_digit(src[2]);

            if (hi >= 0 && lo >= 0) {
                *d++ = (u_char) (hi << 4 | lo);
                src += 3;
                len -= 3;
                continue;
            }
        }

        *d++ = *src++;
        len--;
    }

    return d - dst;
}


mt_str_t
mt_form_get(mt_form_param_t *params, size_t nparams, const u_char *name,
    size_t len, unsigned *count)
{
    size_t    i;
    unsigned  n;
    mt_str_t  v = mt_null_string;

    n = 0;

    for (i = 0; i < nparams; i++) {
        if (params[i].key.len == len
            && (len == 0 || memcmp(params[i].key.data, name, len) == 0))
        {
            if (n++ == 0) {
                v = params[i].value;
            }
        }
    }

    if (count != NULL) {
        *count = n;
    }

    return v;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The URLs an SNS message makes the module fetch, and the only ones it
 * may: the signing certificate on sns.<region>.amazonaws.com, the
 * SubscribeURL there, the certificate's issuer on amazontrust.com.
 */


#include "mt_webhook.h"


#define MT_SNS_URL_MAX          2048
#define MT_SNS_REGION_MAX       32
#define MT_SNS_CERT_ID_MAX      128


static const u_char *mt_sns_path(const u_char *url, size_t len);
static size_t mt_sns_host(const u_char *p, size_t len);
static int mt_sns_region_valid(const u_char *p, size_t len);
static int mt_sns_query_valid(const u_char *p, size_t len);
static int mt_lit_eq_nocase(const u_char *p, size_t len, const char *lit);
static u_char mt_lc(u_char c);


/*
 * https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<id>.pem
 * and nothing else: no userinfo, port, query, fragment, escapes, no
 * S3 bucket host.  Scheme and host compare case-insensitively.
 */

int
mt_sns_cert_url_valid(const u_char *url, size_t len)
{
    size_t         i;
    const u_char  *p, *end;

    static const char  prefix[] = "/SimpleNotificationService-";

    p = mt_sns_path(url, len);
    if (p == NULL) {
        return 0;
    }

    end = url + len;

    if ((size_t) (end - p) < sizeof(prefix) - 1 + 1 + 4
        || memcmp(p, prefix, sizeof(prefix) - 1) != 0)
    {
        return 0;
    }

    p += sizeof(prefix) - 1;

    for (i = 0; p + i < end; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= '0' && p[i] <= '9')))
        {
            break;
        }
    }

    if (i == 0 || i > MT_SNS_CERT_ID_MAX) {
        return 0;
    }

    p += i;

    return end - p == 4 && memcmp(p, ".pem", 4) == 0;
}


/*
 * https://sns.<region>.amazonaws.com[.cn]/?Action=ConfirmSubscription&...
 * is the only URL a confirmation GET may go to.
 */

int
mt_sns_subscribe_url_valid(const u_char *url, size_t len)
{
    const u_char  *p, *end;

    p = mt_sns_path(url, len);
    if (p == NULL) {
        return 0;
    }

    end = url + len;

    if (end - p < 2 || p[0] != '/' || p[1] != '?') {
        return 0;
    }

    p += 2;

    return mt_sns_query_valid(p, end - p);
}


/* https://sns.<region>.amazonaws.com[.cn]: where its path starts, or NULL */

static const u_char *
mt_sns_path(const u_char *url, size_t len)
{
    size_t  n;

    if (url == NULL || len > MT_SNS_URL_MAX || len < 8
        || !mt_lit_eq_nocase(url, 8, "https://"))
    {
        return NULL;
    }

    n = mt_sns_host(url + 8, len - 8);

    return n ? url + 8 + n : NULL;
}


/*
 * "sns.<region>.amazonaws.com" or "... .com.cn" up to the '/' that must
 * follow it: its length, or 0.
 */

static size_t
mt_sns_host(const u_char *p, size_t len)
{
    size_t  i, r;

    if (len < 4 || !mt_lit_eq_nocase(p, 4, "sns.")) {
        return 0;
    }

    for (i = 4; i < len && p[i] != '.'; i++) {
        /* void */
    }

    r = i - 4;

    if (i == len || !mt_sns_region_valid(p + 4, r)) {
        return 0;
    }

    if (len - i > sizeof(".amazonaws.com") - 1
        && mt_lit_eq_nocase(p + i, sizeof(".amazonaws.com/") - 1,
                            ".amazonaws.com/"))
    {
        return i + sizeof(".amazonaws.com") - 1;
    }

    if (len - i > sizeof(".amazonaws.com.cn") - 1
        && mt_lit_eq_nocase(p + i, sizeof(".amazonaws.com.cn/") - 1,
                            ".amazonaws.com.cn/"))
    {
        return i + sizeof(".amazonaws.com.cn") - 1;
    }

    return 0;
}


/*
 * An AWS region name: [a-z]{2,}(-[a-z]+)*-[0-9]+ (us-east-1, cn-north-1,
 * us-gov-west-1).  No digit before the last group keeps S3 bucket hosts
 * such as sns.s3-us-west-2.amazonaws.com out.
 */

static int
mt_sns_region_valid(const u_char *p, size_t len)
{
    size_t  i, n;

    if (len < 3 || len > MT_SNS_REGION_MAX) {
        return 0;
    }

    for (i = 0; i < len && mt_lc(p[i]) >= 'a' && mt_lc(p[i]) <= 'z'; i++) {
        /* void */
    }

    if (i < 2) {
        return 0;
    }

    for ( ;; ) {
        if (i == len || p[i] != '-') {
            return 0;
        }

        i++;

        for (n = 0; i < len && mt_lc(p[i]) >= 'a' && mt_lc(p[i]) <= 'z';
             i++, n++)
        {
            /* void */
        }

        if (n) {
            continue;
        }

        for (n = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++, n++) {
            /* void */
        }

        return n > 0 && i == len;
    }
}


/*
 * name=value pairs of unreserved characters, ':' and %XX escapes, with
 * exactly one Action, and that one ConfirmSubscription.
 */

static int
mt_sns_query_valid(const u_char *p, size_t len)
{
    size_t         i, actions, confirm;
    u_char         c;
    const u_char  *param, *eq, *end;

    end = p + len;
    actions = 0;
    confirm = 0;

    if (len == 0) {
        return 0;
    }

    while (p <= end) {
        param = p;
        eq = NULL;

        while (p < end && *p != '&') {
            c = *p;

            if (c == '=') {
                if (eq != NULL) {
                    return 0;
                }

                eq = p;

            } else if (c == '%') {
                for (i = 1; i < 3; i++) {
                    if (p + i >= end
                        || !((p[i] >= '0' && p[i] <= '9')
                             || (mt_lc(p[i]) >= 'a' && mt_lc(p[i]) <= 'f')))
                    {
                        return 0;
                    }
                }

                p += 2;

            } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                         || (c >= '0' && c <= '9') || c == '-' || c == '.'
                         || c == '_' || c == '~' || c == ':' || c == '+'))
            {
                return 0;
            }

            p++;
        }

        if (eq == NULL || eq == param) {
            return 0;
        }

        if (eq - param == 6 && memcmp(param, "Action", 6) == 0) {
            actions++;

            if (p - eq - 1 == 19
                && memcmp(eq + 1, "ConfirmSubscription", 19) == 0)
            {
                confirm++;
            }
        }

        if (p == end) {
            break;
        }

        p++;
    }

    return actions == 1 && confirm == 1;
}


static int
mt_lit_eq_nocase(const u_char *p, size_t len, const char *lit)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (lit[i] == '\0' || mt_lc(p[i]) != (u_char) lit[i]) {
            return 0;
        }
    }

    return lit[len] == '\0';
}


static u_char
mt_lc(u_char c)
{
    return (c >= 'A' && c <= 'Z') ? (u_char) (c | 0x20) : c;
}


/*
 * Only Amazon Trust Services addresses: http(s)://<host>.amazontrust.com/
 * <file> with no port, user, query or fragment.
 */

int
mt_sns_issuer_url_valid(const u_char *url, size_t len)
{
    size_t   i, skip, host;
    u_char   c;

    static const char  suffix[] = ".amazontrust.com";

    if (len > 512) {
        return 0;
    }

    if (len > 7 && strncasecmp((char *) url, "http://", 7) == 0) {
        skip = 7;

    } else if (len > 8 && strncasecmp((char *) url, "https://", 8) == 0) {
        skip = 8;

    } else {
        return 0;
    }

    for (i = skip; i < len && url[i] != '/'; i++) {
        c = url[i] | 0x20;

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.'
              || c == '-'))
        {
            return 0;
        }
    }

    host = i - skip;

    if (i == len || host <= sizeof(suffix) - 1
        || strncasecmp((char *) url + i - (sizeof(suffix) - 1), suffix,
                       sizeof(suffix) - 1) != 0
        || url[i - sizeof(suffix)] == '.')
    {
        return 0;
    }

    for (i++; i < len; i++) {
        c = url[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'
              || c == '/'))
        {
            return 0;
        }
    }

    return url[len - 1] != '/';
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Machine opens and clicks: the record keeps the hit and says why it
 * looks automated, instead of dropping it (see docs/classification.md).
 */


#include "mt_classify.h"


typedef struct {
    const char  *needle;
    const char  *why;
    int          machine;
    int          clicks_only;
} mt_ua_rule_t;


/* matched case-insensitively anywhere in the User-Agent, first wins */

static const mt_ua_rule_t  mt_ua_rules[] = {
    /* image proxies that fetch when a person opens: real opens */
    { "googleimageproxy", "google_image_proxy", 0, 0 },
    { "yahoomailproxy", "yahoo_mail_proxy", 0, 0 },

    /* security gateways and link scanners */
    { "barracuda", "scanner_barracuda", 1, 0 },
    { "mimecast", "scanner_mimecast", 1, 0 },
    { "proofpoint", "scanner_proofpoint", 1, 0 },
    { "symantec", "scanner_symantec", 1, 0 },
    { "trendmicro", "scanner_trendmicro", 1, 0 },
    { "forcepoint", "scanner_forcepoint", 1, 0 },
    { "safelinks", "scanner_safelinks", 1, 0 },
    { "headlesschrome", "headless_browser", 1, 0 },
    { "phantomjs", "headless_browser", 1, 0 },
    { "python-requests", "http_library", 1, 0 },
    { "python-urllib", "http_library", 1, 0 },
    { "go-http-client", "http_library", 1, 0 },
    { "curl/", "http_library", 1, 0 },
    { "wget/", "http_library", 1, 0 },
    { "libwww-perl", "http_library", 1, 0 },
    { "java/", "http_library", 1, 0 },
    { "okhttp", "http_library", 1, 0 },
    { "apache-httpclient", "http_library", 1, 0 },
    { "bot", "bot_user_agent", 1, 0 },
    { "crawler", "bot_user_agent", 1, 0 },
    { "spider", "bot_user_agent", 1, 0 },
    { "preview", "link_preview", 1, 1 },

    { NULL, NULL, 0, 0 }
};


static int mt_contains_nocase(mt_str_t *hay, const char *needle);
static int mt_ip_in_apple(mt_str_t *ip);


static int
mt_contains_nocase(mt_str_t *hay, const char *needle)
{
    size_t  i, n;

    n = strlen(needle);

    if (hay->len < n) {
        return 0;
    }

    for (i = 0; i + n <= hay->len; i++) {
        if (strncasecmp((char *) hay->data + i, needle, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* Apple's 17.0.0.0/8: where Mail Privacy Protection fetches from */

static int
mt_ip_in_apple(mt_str_t *ip)
{
    return ip->len > 3 && ip->data[0] == '1' && ip->data[1] == '7'
           && ip->data[2] == '.';
}


void
mt_classify(mt_event_t *ev, mt_str_t *ip, mt_str_t *ua, unsigned flags)
{
    const mt_ua_rule_t  *rule;

    ev->machine = 0;
    ev->why.len = 0;

    if (flags & MT_CLASSIFY_HEAD) {
        ev->machine = 1;
        mt_str_set(&ev->why, "head_request");
        return;
    }

    if (flags & MT_CLASSIFY_PREFETCH) {
        ev->machine = 1;
        mt_str_set(&ev->why, "prefetch");
        return;
    }

    if (ua->len == 0) {
        ev->machine = 1;
        mt_str_set(&ev->why, "no_user_agent");
        return;
    }

    /*
     * Mail Privacy Protection loads every image when the message arrives,
     * from Apple's network, with a bare "Mozilla/5.0".
     */

    if (ev->type == MT_EV_OPENED
        && (mt_ip_in_apple(ip) || mt_str_eq(ua, "Mozilla/5.0")))
    {
        ev->machine = 1;
        mt_str_set(&ev->why, "apple_mpp");
        return;
    }

    for (rule = mt_ua_rules; rule->needle; rule++) {
        if (rule->clicks_only && ev->type != MT_EV_CLICKED) {
            continue;
        }

        if (mt_contains_nocase(ua, rule->needle)) {
            ev->machine = rule->machine;
            ev->why.data = (u_char *) rule->why;
            ev->why.len = strlen(rule->why);
            return;
        }
    }
}

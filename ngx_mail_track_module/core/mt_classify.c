
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


/* only the start of a user agent is looked at */
#define MT_UA_SCAN  512


static void mt_classify_init(void);
static int mt_ip_in_apple(mt_str_t *ip);
static int mt_ua_match(const u_char *ua, size_t n, unsigned type);


/*
 * For each byte, the rules whose needle starts with it, and those whose
 * needle has it second: one pass over the user agent, where a candidate
 * needs both bytes to match before it is compared (the pixel's hot path).
 */
static uint32_t  mt_ua_first[256];
static uint32_t  mt_ua_second[256];
static size_t    mt_ua_len[32];
static int       mt_ua_ready;


static void
mt_classify_init(void)
{
    u_char    c0, c1;
    unsigned  i;

    /* both cases of each byte: the user agent is not lowercased first */

    for (i = 0; mt_ua_rules[i].needle && i < 32; i++) {
        mt_ua_len[i] = strlen(mt_ua_rules[i].needle);

        c0 = (u_char) mt_ua_rules[i].needle[0];
        c1 = (u_char) mt_ua_rules[i].needle[1];

        mt_ua_first[c0] |= (uint32_t) 1 << i;
        mt_ua_second[c1] |= (uint32_t) 1 << i;

        if (c0 >= 'a' && c0 <= 'z') {
            mt_ua_first[c0 & ~0x20] |= (uint32_t) 1 << i;
        }

        if (c1 >= 'a' && c1 <= 'z') {
            mt_ua_second[c1 & ~0x20] |= (uint32_t) 1 << i;
        }
    }

    mt_ua_ready = 1;
}


/* the index of the first rule (in table order) found in ua, or -1 */

static int
mt_ua_match(const u_char *ua, size_t n, unsigned type)
{
    size_t       i, len;
    unsigned     r;
    uint32_t     cand, found;
    const char  *needle;

    found = 0;

    for (i = 0; i + 1 < n; i++) {
        cand = mt_ua_first[ua[i]] & mt_ua_second[ua[i + 1]];

        while (cand) {
            r = (unsigned) __builtin_ctz(cand);
            cand &= cand - 1;

            needle = mt_ua_rules[r].needle;
            len = mt_ua_len[r];

            if (len <= n - i && strncasecmp((char *) ua + i, needle, len) == 0
                && !(mt_ua_rules[r].clicks_only && type != MT_EV_CLICKED))
            {
                found |= (uint32_t) 1 << r;
            }
        }
    }

    return found ? __builtin_ctz(found) : -1;
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
    int                  r;
    const mt_ua_rule_t  *rule;

    if (!mt_ua_ready) {
        mt_classify_init();
    }

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

    r = mt_ua_match(ua->data, mt_min(ua->len, MT_UA_SCAN), ev->type);

    if (r >= 0) {
        rule = &mt_ua_rules[r];
        ev->machine = rule->machine;
        ev->why.data = (u_char *) rule->why;
        ev->why.len = strlen(rule->why);
    }
}

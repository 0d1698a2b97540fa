
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


/*
 * User agent families for mail_track_ua class, first match wins: the
 * mail clients and the browsers built on another's engine before the
 * engine's own name (Edge and Opera say "Chrome/", Chrome "Safari/").
 */

typedef struct {
    const char  *needle;
    const char  *family;
} mt_ua_family_t;


static const mt_ua_family_t  mt_ua_families[] = {
    { "thunderbird", "thunderbird" },
    { "microsoft outlook", "outlook" },
    { "ms-office", "outlook" },
    { "edg/", "edge" },
    { "edge/", "edge" },
    { "opr/", "opera" },
    { "samsungbrowser", "samsung" },
    { "yabrowser", "yandex" },
    { "firefox/", "firefox" },
    { "fxios", "firefox" },
    { "crios", "chrome" },
    { "chrome/", "chrome" },
    { "safari/", "safari" },
    { "applewebkit", "apple_mail" },
    { "android", "android" },
    { NULL, NULL }
};


/* only the start of a user agent is looked at */
#define MT_UA_SCAN     512

#define MT_UA_RULES    32
#define MT_UA_CLASSES  32
#define MT_UA_STATES   512


static void mt_classify_init(void);
static void mt_ua_trie(void);
static int mt_ip_in_apple(mt_str_t *ip);
static uint32_t mt_ua_match(const u_char *ua, size_t n);


/*
 * The rules as one automaton (Aho-Corasick, made a full DFA): the user
 * agent is read once, with one table step per byte and no work per rule.
 *
 * Bytes are mapped to classes: each letter of a needle (in either case)
 * and each other byte of a needle gets its own, everything else class 0;
 * a state's row is 32 entries, 64 bytes, and a state is kept as its row's
 * offset, so a step is one load.  States that end a rule are numbered
 * last: a step needs one comparison to know that nothing was found.
 * A step waits for the one before, so the user agent is read as two
 * halves at once (the second starting early enough to see a needle that
 * straddles the middle).
 */
static u_char    mt_ua_class[256];
static uint16_t  mt_ua_trie_next[MT_UA_STATES][MT_UA_CLASSES];
static uint32_t  mt_ua_trie_out[MT_UA_STATES];
static unsigned  mt_ua_states;
static size_t    mt_ua_longest;

static uint16_t  mt_ua_step[MT_UA_STATES * MT_UA_CLASSES];
static uint32_t  mt_ua_out[MT_UA_STATES];
static unsigned  mt_ua_found;          /* the first state that ends a rule */
static uint32_t  mt_ua_clicks_only;
static int       mt_ua_ready;


/* the trie of the needles, its missing edges then made DFA steps */

static void
mt_ua_trie(void)
{
    u_char        c;
    unsigned      i, k, s, t, f, head, tail, nclasses;
    uint16_t      fail[MT_UA_STATES], queue[MT_UA_STATES];
    const char   *p;

    nclasses = 1;
    mt_ua_states = 1;

    /* the tables are sized for the rules (the unit tests check each one) */

    for (i = 0; mt_ua_rules[i].needle && i < MT_UA_RULES; i++) {
        s = 0;

        for (p = mt_ua_rules[i].needle; *p; p++) {
            c = (u_char) *p;

            if (mt_ua_class[c] == 0) {
                if (nclasses == MT_UA_CLASSES) {
                    return;
                }

                mt_ua_class[c] = (u_char) nclasses;

                if (c >= 'a' && c <= 'z') {
                    mt_ua_class[c & ~0x20] = (u_char) nclasses;
                }

                nclasses++;
            }

            k = mt_ua_class[c];

            if (mt_ua_trie_next[s][k] == 0) {
                if (mt_ua_states == MT_UA_STATES) {
                    return;
                }

                mt_ua_trie_next[s][k] = (uint16_t) mt_ua_states++;
            }

            s = mt_ua_trie_next[s][k];
        }

        mt_ua_trie_out[s] |= (uint32_t) 1 << i;
        mt_ua_longest = mt_max(mt_ua_longest,
                               (size_t) (p - mt_ua_rules[i].needle));

        if (mt_ua_rules[i].clicks_only) {
            mt_ua_clicks_only |= (uint32_t) 1 << i;
        }
    }

    /*
     * Breadth first: a missing edge goes where the longest proper suffix
     * that is in the trie goes, and a state also ends the rules its
     * suffix state ends.
     */

    head = 0;
    tail = 0;

    for (k = 0; k < MT_UA_CLASSES; k++) {
        t = mt_ua_trie_next[0][k];

        if (t) {
            fail[t] = 0;
            queue[tail++] = (uint16_t) t;
        }
    }

    while (head < tail) {
        s = queue[head++];
        f = fail[s];

        mt_ua_trie_out[s] |= mt_ua_trie_out[f];

        for (k = 0; k < MT_UA_CLASSES; k++) {
            t = mt_ua_trie_next[s][k];

            if (t) {
                fail[t] = mt_ua_trie_next[f][k];
                queue[tail++] = (uint16_t) t;

            } else {
                mt_ua_trie_next[s][k] = mt_ua_trie_next[f][k];
            }
        }
    }
}


static void
mt_classify_init(void)
{
    unsigned  s, k, n;
    uint16_t  order[MT_UA_STATES];

    mt_ua_ready = 1;

    mt_ua_trie();

    /* renumbered: the start state first, the states that end a rule last */

    n = 0;

    for (s = 0; s < mt_ua_states; s++) {
        if (mt_ua_trie_out[s] == 0) {
            order[s] = (uint16_t) n++;
        }
    }

    mt_ua_found = n * MT_UA_CLASSES;

    for (s = 0; s < mt_ua_states; s++) {
        if (mt_ua_trie_out[s]) {
            order[s] = (uint16_t) n++;
        }
    }

    for (s = 0; s < mt_ua_states; s++) {
        for (k = 0; k < MT_UA_CLASSES; k++) {
            mt_ua_step[order[s] * MT_UA_CLASSES + k] =
                (uint16_t) (order[mt_ua_trie_next[s][k]] * MT_UA_CLASSES);
        }

        mt_ua_out[order[s]] = mt_ua_trie_out[s];
    }
}


/* the set of rules whose needle occurs in ua */

static uint32_t
mt_ua_match(const u_char *ua, size_t n)
{
    size_t    i, j, half;
    unsigned  s, t;
    uint32_t  found;

    half = n / 2;
    j = half > mt_ua_longest ? half - mt_ua_longest : 0;

    s = 0;
    t = 0;
    found = 0;

    for (i = 0; i < half; i++, j++) {
        s = mt_ua_step[s + mt_ua_class[ua[i]]];
        t = mt_ua_step[t + mt_ua_class[ua[j]]];

        if (mt_max(s, t) >= mt_ua_found) {
            found |= mt_ua_out[s / MT_UA_CLASSES]
                     | mt_ua_out[t / MT_UA_CLASSES];
        }
    }

    for ( /* void */ ; j < n; j++) {
        t = mt_ua_step[t + mt_ua_class[ua[j]]];

        if (t >= mt_ua_found) {
            found |= mt_ua_out[t / MT_UA_CLASSES];
        }
    }

    return found;
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
    uint32_t             found;
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

    found = mt_ua_match(ua->data, mt_min(ua->len, MT_UA_SCAN));

    if (ev->type != MT_EV_CLICKED) {
        found &= ~mt_ua_clicks_only;
    }

    /* the first rule in table order wins */

    if (found) {
        rule = &mt_ua_rules[__builtin_ctz(found)];
        ev->machine = rule->machine;
        ev->why.data = (u_char *) rule->why;
        ev->why.len = strlen(rule->why);
    }
}


const char *
mt_ua_family(const u_char *ua, size_t len)
{
    size_t                 i;
    u_char                 low[MT_UA_SCAN];
    const mt_ua_family_t  *f;

    len = mt_min(len, MT_UA_SCAN);

    for (i = 0; i < len; i++) {
        low[i] = (ua[i] >= 'A' && ua[i] <= 'Z') ? (u_char) (ua[i] | 0x20)
                                                : ua[i];
    }

    for (f = mt_ua_families; f->needle != NULL; f++) {
        if (memmem(low, len, f->needle, strlen(f->needle)) != NULL) {
            return f->family;
        }
    }

    return "other";
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The user-agent rules of docs/classification.md, checked against a
 * plain search (each rule at each position, first rule wins) on every
 * rule and on random user agents made of rule pieces in random case;
 * with the vector prefilter and without it.
 */


#include "mt_tap.h"
#include "mt_classify.h"
#include "mt_cpu.h"


#define rnd()  tap_rand(&seed)


typedef struct {
    const char  *needle;
    const char  *why;
    int          machine;
    int          clicks_only;
} rule_t;


static int ref_match(const u_char *ua, size_t len, mt_event_type_e type);
static void judge(const u_char *ua, size_t len, mt_event_type_e type,
    int *machine, mt_str_t *why);
static int agrees(const u_char *ua, size_t len, mt_event_type_e type);
static void test_rules(const char *path);
static void test_places(const char *path);


/* docs/classification.md, in order */

static const rule_t  rules[] = {
    { "googleimageproxy", "google_image_proxy", 0, 0 },
    { "yahoomailproxy", "yahoo_mail_proxy", 0, 0 },
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
    { "preview", "link_preview", 1, 1 }
};

#define NRULES  (sizeof(rules) / sizeof(rules[0]))

/* pieces of user agents: rule prefixes, near misses, ordinary words */
static const char  *pieces[] = {
    "Mozilla/5.0 ", "(Windows NT 10.0; Win64; x64) ", "AppleWebKit/537.36 ",
    "(KHTML, like Gecko) ", "Chrome/120.0 ", "Safari/537.36", " ", "/",
    "-", "goo", "googleimage", "yahoomail", "proof", "python-", "pyth",
    "go-http", "cur", "wge", "libwww", "jav", "java", "ok", "apache-",
    "bo", "b", "crawl", "spid", "previe", "headless", "phantom", "safe",
    "trend", "force", "barra", "mime", "syman", "\xe2\x82\xac", "\xff"
};

static uint64_t  seed = 0x2545f4914f6cdd1dULL;


/* the index of the rule that must win, or -1 */

static int
ref_match(const u_char *ua, size_t len, mt_event_type_e type)
{
    size_t    i, n;
    unsigned  r;

    len = len > 512 ? 512 : len;

    for (r = 0; r < NRULES; r++) {
        if (rules[r].clicks_only && type != MT_EV_CLICKED) {
            continue;
        }

        n = strlen(rules[r].needle);

        for (i = 0; i + n <= len; i++) {
            if (strncasecmp((const char *) ua + i, rules[r].needle, n) == 0) {
                return (int) r;
            }
        }
    }

    return -1;
}


static void
judge(const u_char *ua, size_t len, mt_event_type_e type, int *machine,
    mt_str_t *why)
{
    mt_event_t  ev;
    mt_str_t    ip, u;

    mt_event_init(&ev);
    ev.type = type;
    ip.data = (u_char *) "203.0.113.5";
    ip.len = 11;
    u.data = (u_char *) ua;
    u.len = len;

    mt_classify(&ev, &ip, &u, 0);

    *machine = ev.machine;
    *why = ev.why;
}


static int
agrees(const u_char *ua, size_t len, mt_event_type_e type)
{
    int       r, machine;
    mt_str_t  why;

    r = ref_match(ua, len, type);
    judge(ua, len, type, &machine, &why);

    if (r < 0) {
        return machine == 0 && why.len == 0;
    }

    return machine == rules[r].machine
           && why.len == strlen(rules[r].why)
           && memcmp(why.data, rules[r].why, why.len) == 0;
}


int
main(void)
{
    const char  *vector;

    vector = "the prefilter";

    if (!mt_classify_prefilter()) {
        diag("no vector prefilter here (AVX2 %s)",
             (mt_cpu_features() & MT_CPU_AVX2) ? "present" : "absent");
        vector = "no prefilter (none here)";
    }

    ok(mt_classify_prefilter() == ((mt_cpu_features() & MT_CPU_AVX2) != 0),
       "every rule has its mark: the prefilter is on where AVX2 is");

    mt_cpu_limit(0);
    test_rules("plain");
    test_places("plain");

    mt_cpu_limit(~0u);
    test_rules(vector);
    test_places(vector);

    return done_testing();
}


static void
test_rules(const char *path)
{
    int        round, good, bad;
    size_t     i, n, len;
    unsigned   r;
    u_char     ua[700];
    const char *p;

    /* each rule alone, at the start, inside and at the end, in any case */

    for (r = 0; r < NRULES; r++) {
        good = 0;

        for (i = 0; i < 3; i++) {
            len = (size_t) snprintf((char *) ua, sizeof(ua), "%s%s%s",
                                    i == 1 || i == 2 ? "Foo/1.0 (x) " : "",
                                    rules[r].needle, i < 2 ? " Bar/2" : "");

            for (n = 0; n < len; n++) {
                if (rnd() % 2 && ua[n] >= 'a' && ua[n] <= 'z') {
                    ua[n] &= ~0x20;
                }
            }

            good += agrees(ua, len, MT_EV_OPENED)
                    && agrees(ua, len, MT_EV_CLICKED)
                    && ref_match(ua, len, MT_EV_CLICKED) == (int) r;
        }

        ok(good == 3, "%s: rule \"%s\" (%s)", path, rules[r].needle,
           rules[r].why);
    }

    /* the first 512 bytes only: a needle that ends past them is not seen */

    memset(ua, 'x', sizeof(ua));
    memcpy(ua + 512 - 3, "bot", 3);
    ok(agrees(ua, 600, MT_EV_OPENED) && ref_match(ua, 600, MT_EV_OPENED) == 20,
       "%s: a needle ending at byte 512 counts", path);
    memset(ua, 'x', sizeof(ua));
    memcpy(ua + 512 - 2, "bot", 3);
    ok(agrees(ua, 600, MT_EV_OPENED) && ref_match(ua, 600, MT_EV_OPENED) < 0,
       "%s: one ending past it does not", path);

    /* random user agents from pieces, in random case */

    good = 0;
    bad = 0;

    for (round = 0; round < 100000; round++) {
        len = 0;
        n = 1 + rnd() % 30;

        for (i = 0; i < n; i++) {
            p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];

            if (rnd() % 8 == 0) {
                p = rules[rnd() % NRULES].needle;
            }

            if (len + strlen(p) > sizeof(ua)) {
                break;
            }

            memcpy(ua + len, p, strlen(p));
            len += strlen(p);
        }

        for (i = 0; i < len; i++) {
            if (rnd() % 3 == 0 && ua[i] >= 'a' && ua[i] <= 'z') {
                ua[i] &= ~0x20;

            } else if (rnd() % 3 == 0 && ua[i] >= 'A' && ua[i] <= 'Z') {
                ua[i] |= 0x20;
            }
        }

        if (len == 0 || (len == 11 && memcmp(ua, "Mozilla/5.0", 11) == 0)) {
            continue;
        }

        if (agrees(ua, len, (round % 2) ? MT_EV_OPENED : MT_EV_CLICKED)) {
            good++;

        } else if (bad++ < 3) {
            diag("disagree on \"%.*s\"", (int) len, ua);
        }

    }

    is_int(bad, 0, "%s: random user agents, the same verdict as a plain "
           "search (%d)", path, good);
}


/*
 * Each needle at each place of a browser's user agent and at its end,
 * in random case: across the vector steps and into the copied tail.
 */

static void
test_places(const char *path)
{
    int           good, bad;
    size_t        i, len, at, n, cut;
    unsigned      r;
    u_char        ua[300];
    static char   browser[] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
                              "AppleWebKit/537.36 (KHTML, like Gecko) "
                              "Chrome/120.0 Safari/537.36";

    good = 0;
    bad = 0;

    for (r = 0; r < NRULES; r++) {
        n = strlen(rules[r].needle);

        for (at = 0; at <= 100; at++) {
            for (cut = 0; cut < 2; cut++) {
                memcpy(ua, browser, at);
                memcpy(ua + at, rules[r].needle, n);
                len = at + n;

                if (cut == 0) {
                    memcpy(ua + len, browser + at, sizeof(browser) - 1 - at);
                    len += sizeof(browser) - 1 - at;
                }

                for (i = at; i < at + n; i++) {
                    if (rnd() % 2 && ua[i] >= 'a' && ua[i] <= 'z') {
                        ua[i] &= ~0x20;
                    }
                }

                if (agrees(ua, len, MT_EV_CLICKED)
                    && ref_match(ua, len, MT_EV_CLICKED) >= 0)
                {
                    good++;

                } else if (bad++ < 3) {
                    diag("missed \"%.*s\"", (int) len, ua);
                }
            }
        }
    }

    /* the browser alone, cut at every length: nothing */

    for (len = 0; len <= sizeof(browser) - 1; len++) {
        if (len == 11 || len == 0) {
            continue;
        }

        if (agrees((u_char *) browser, len, MT_EV_CLICKED)) {
            good++;

        } else if (bad++ < 3) {
            diag("wrong on \"%.*s\"", (int) len, browser);
        }
    }

    is_int(bad, 0, "%s: each needle at each place (%d)", path, good);
}

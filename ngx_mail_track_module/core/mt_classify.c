
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Machine opens and clicks: the record keeps the hit and says why it
 * looks automated, instead of dropping it (see docs/classification.md).
 */


#include "mt_classify.h"
#include "mt_cpu.h"

#if (MT_HAVE_AVX2)
#include <immintrin.h>
#endif


typedef struct {
    const char  *needle;
    const char  *mark;         /* three bytes of it, for the prefilter */
    const char  *why;
    int          machine;
    int          clicks_only;
} mt_ua_rule_t;


/*
 * Matched case-insensitively anywhere in the User-Agent, first wins.
 * A mark is three bytes of the needle (lower case) that browsers' user
 * agents do not have: "oxy", not "ome" of HeadlessChrome.
 */

static const mt_ua_rule_t  mt_ua_rules[] = {
    /* image proxies that fetch when a person opens: real opens */
    { "googleimageproxy", "oxy", "google_image_proxy", 0, 0 },
    { "yahoomailproxy", "oxy", "yahoo_mail_proxy", 0, 0 },

    /* security gateways and link scanners */
    { "barracuda", "cud", "scanner_barracuda", 1, 0 },
    { "mimecast", "mec", "scanner_mimecast", 1, 0 },
    { "proofpoint", "oof", "scanner_proofpoint", 1, 0 },
    { "symantec", "yma", "scanner_symantec", 1, 0 },
    { "trendmicro", "dmi", "scanner_trendmicro", 1, 0 },
    { "forcepoint", "rce", "scanner_forcepoint", 1, 0 },
    { "safelinks", "fel", "scanner_safelinks", 1, 0 },
    { "headlesschrome", "ssc", "headless_browser", 1, 0 },
    { "phantomjs", "mjs", "headless_browser", 1, 0 },
    { "python-requests", "yth", "http_library", 1, 0 },
    { "python-urllib", "yth", "http_library", 1, 0 },
    { "go-http-client", "o-h", "http_library", 1, 0 },
    { "curl/", "rl/", "http_library", 1, 0 },
    { "wget/", "wge", "http_library", 1, 0 },
    { "libwww-perl", "bww", "http_library", 1, 0 },
    { "java/", "va/", "http_library", 1, 0 },
    { "okhttp", "okh", "http_library", 1, 0 },
    { "apache-httpclient", "e-h", "http_library", 1, 0 },
    { "bot", "bot", "bot_user_agent", 1, 0 },
    { "crawler", "awl", "bot_user_agent", 1, 0 },
    { "spider", "pid", "bot_user_agent", 1, 0 },
    { "preview", "vie", "link_preview", 1, 1 },

    { NULL, NULL, NULL, 0, 0 }
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
static void mt_ua_marks(void);
static int mt_ip_in_apple(mt_str_t *ip);
static uint32_t mt_ua_match(const u_char *ua, size_t n);
#if (MT_HAVE_AVX2)
static __m256i mt_ua_groups(const u_char *p, const u_char *lo,
    const u_char *hi);
static int mt_ua_marked_avx2(const u_char *ua, size_t n);
static int mt_ua_mark_at(const u_char *p, uint32_t bits);
#endif


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


/*
 * The prefilter (after Hyperscan's "Teddy"): a vector step tells, for
 * 32 positions at once, whether the three bytes from there might be a
 * mark: each byte's low and high nibble pick a set of mark groups from
 * tables, and a position survives when the six sets have a group in
 * common.  Survivors are checked against the marks themselves, and only
 * a user agent with a mark is read by the automaton; every needle has
 * its mark, so none is missed.  Bytes are compared with bit 5 set,
 * which folds letters to lower case (and a few other bytes onto marks:
 * the automaton then decides).
 */
#define MT_UA_MARK_SLOTS  64

static u_char    mt_ua_nibbles[6][32];  /* byte 0 low, high, byte 1 ... */
static uint32_t  mt_ua_mark_set[MT_UA_MARK_SLOTS];
static int       mt_ua_prefilter;

#define mt_ua_mark_key(a, b, c)                                               \
    ((uint32_t) ((a) | 0x20) | (uint32_t) ((b) | 0x20) << 8                   \
     | (uint32_t) ((c) | 0x20) << 16)

#define mt_ua_mark_slot(key)  (((key) * 0x9e3779b1u) >> 26)


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
    mt_ua_marks();

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


/* a rule without its mark turns the prefilter off */

static void
mt_ua_marks(void)
{
    u_char       c;
    unsigned     i, j, group;
    uint32_t     key, slot;
    const char  *mark;

    mt_ua_prefilter = 1;

    for (i = 0; mt_ua_rules[i].needle; i++) {
        mark = mt_ua_rules[i].mark;

        if (mark == NULL || strlen(mark) != 3
            || strstr(mt_ua_rules[i].needle, mark) == NULL)
        {
            mt_ua_prefilter = 0;
            return;
        }

        group = 1u << (i % 8);

        for (j = 0; j < 3; j++) {
            c = (u_char) mark[j];

            if ((c | 0x20) != c) {
                mt_ua_prefilter = 0;
                return;
            }

            mt_ua_nibbles[2 * j][c & 0x0f] |= group;
            mt_ua_nibbles[2 * j][16 + (c & 0x0f)] |= group;
            mt_ua_nibbles[2 * j + 1][c >> 4] |= group;
            mt_ua_nibbles[2 * j + 1][16 + (c >> 4)] |= group;
        }

        key = mt_ua_mark_key(mark[0], mark[1], mark[2]);

        for (j = 0, slot = mt_ua_mark_slot(key);
             mt_ua_mark_set[slot] != 0 && mt_ua_mark_set[slot] != key;
             j++, slot = (slot + 1) % MT_UA_MARK_SLOTS)
        {
            if (j == MT_UA_MARK_SLOTS) {
                mt_ua_prefilter = 0;
                return;
            }
        }

        mt_ua_mark_set[slot] = key;
    }
}


#if (MT_HAVE_AVX2)

/* the mark groups of each byte: those of its low and of its high nibble */

MT_TARGET_AVX2
static inline __m256i
mt_ua_groups(const u_char *p, const u_char *lo, const u_char *hi)
{
    __m256i  v, nibble;

    nibble = _mm256_set1_epi8(0x0f);

    v = _mm256_or_si256(_mm256_loadu_si256((const __m256i *) p),
                        _mm256_set1_epi8(0x20));

    return _mm256_and_si256(
               _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *) lo),
                                   _mm256_and_si256(v, nibble)),
               _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *) hi),
                                   _mm256_and_si256(_mm256_srli_epi32(v, 4),
                                                    nibble)));
}


/*
 * 1: the user agent may have a needle (it has a mark), 0: it has none.
 * A step reads two bytes past its 32 positions: the last one ends with
 * the user agent, over positions already seen; a short one is copied.
 */

MT_TARGET_AVX2
static int
mt_ua_marked_avx2(const u_char *ua, size_t n)
{
    size_t         i;
    uint32_t       bits;
    __m256i        m;
    const u_char  *p;
    u_char         copy[32 + 2];

    if (n < 34) {
        memset(copy, 0, sizeof(copy));
        memcpy(copy, ua, n);
        ua = copy;
        n = 34;
    }

    for (i = 0; i < n - 2; i += 32) {
        p = ua + ((i + 34 <= n) ? i : n - 34);

        m = _mm256_and_si256(
                _mm256_and_si256(mt_ua_groups(p, mt_ua_nibbles[0],
                                              mt_ua_nibbles[1]),
                                 mt_ua_groups(p + 1, mt_ua_nibbles[2],
                                              mt_ua_nibbles[3])),
                mt_ua_groups(p + 2, mt_ua_nibbles[4], mt_ua_nibbles[5]));

        bits = ~(uint32_t) _mm256_movemask_epi8(
                               _mm256_cmpeq_epi8(m, _mm256_setzero_si256()));

        if (bits && mt_ua_mark_at(p, bits)) {
            return 1;
        }
    }

    return 0;
}


/* a position of bits whose three bytes are a mark */

static int
mt_ua_mark_at(const u_char *p, uint32_t bits)
{
    unsigned  j;
    uint32_t  key, slot;

    do {
        j = (unsigned) __builtin_ctz(bits);
        bits &= bits - 1;

        key = mt_ua_mark_key(p[j], p[j + 1], p[j + 2]);

        for (slot = mt_ua_mark_slot(key); mt_ua_mark_set[slot] != 0;
             slot = (slot + 1) % MT_UA_MARK_SLOTS)
        {
            if (mt_ua_mark_set[slot] == key) {
                return 1;
            }
        }

    } while (bits);

    return 0;
}

#endif


int
mt_classify_prefilter(void)
{
    if (!mt_ua_ready) {
        mt_classify_init();
    }

#if (MT_HAVE_AVX2)
    return mt_ua_prefilter && (mt_cpu_features() & MT_CPU_AVX2);
#else
    return 0;
#endif
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
    size_t               n;
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
        && (mt_ip_in_apple(ip)
            || (ua->len == sizeof("Mozilla/5.0") - 1
                && mt_str_eq(ua, "Mozilla/5.0"))))
    {
        ev->machine = 1;
        mt_str_set(&ev->why, "apple_mpp");
        return;
    }

    n = mt_min(ua->len, MT_UA_SCAN);

#if (MT_HAVE_AVX2)

    if (mt_ua_prefilter && (mt_cpu_features() & MT_CPU_AVX2)
        && !mt_ua_marked_avx2(ua->data, n))
    {
        return;
    }

#endif

    found = mt_ua_match(ua->data, n);

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

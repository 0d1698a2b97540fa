
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Data minimisation (core/mt_privacy.c): what an event keeps of the
 * recipient (and of it in a bounce's reason), the user agent, a
 * clicked URL and a provider's client address; the hash key file; the
 * module's keyed hasher against mt_rcpt_hash().
 */


#include "mt_tap.h"
#include "mt_privacy.h"
#include "mt_classify.h"
#include "mt_rcpt.h"


#define KEY_B64  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

/* HMAC-SHA256(bytes 0..31, "alice@example.com") */
#define ALICE    "a59fc578d4cb46faab1d6eb348e7c74b33b85122d6459fdb7bf5654b" \
                 "333acab4"


static mt_str_t
s(const char *p)
{
    mt_str_t  r;

    r.data = (u_char *) p;
    r.len = strlen(p);

    return r;
}


static void
test_key(void)
{
    u_char  key[MT_RCPT_KEY_LEN];

    ok(mt_rcpt_key_parse((u_char *) KEY_B64 "\n", sizeof(KEY_B64), key) == 0,
       "one line of base64");
    ok(key[0] == 0 && key[31] == 31, "its 32 bytes");
    ok(mt_rcpt_key_parse((u_char *) "# c\n\n  " KEY_B64 " \r\n",
                         sizeof("# c\n\n  " KEY_B64 " \r\n") - 1, key) == 0,
       "comments, blank lines and spaces around it");
    ok(mt_rcpt_key_parse((u_char *) "AAEC\n", 5, key) != 0,
       "3 bytes: refused");
    ok(mt_rcpt_key_parse((u_char *) KEY_B64 "\n" KEY_B64 "\n",
                         2 * sizeof(KEY_B64), key) != 0,
       "two lines: refused");
    ok(mt_rcpt_key_parse((u_char *) "# none\n", 7, key) != 0,
       "no key: refused");
    ok(mt_rcpt_key_parse((u_char *) "!AECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw"
                         "dHh8=", 44, key) != 0, "not base64: refused");
}


static void
test_hasher(mt_rcpt_hasher_t *h)
{
    u_char  key[MT_RCPT_KEY_LEN];
    u_char  hex[MT_RCPT_HASH_HEX + 1], one[MT_RCPT_HASH_HEX + 1];
    u_char  big[MT_RCPT_NORM_MAX + 1];
    int     i;

    for (i = 0; i < MT_RCPT_KEY_LEN; i++) {
        key[i] = (u_char) i;
    }

    ok(mt_rcpt_hasher_init(h, key, sizeof(key)) == 0, "a hasher");

    ok(mt_rcpt_hasher_hash(h, (u_char *) " Alice <ALICE@Example.com> ", 27,
                           hex) == 0, "hashed");
    is_str(s((char *) hex), ALICE, "normalized first, then HMAC-SHA256");

    ok(mt_rcpt_hash(key, sizeof(key), (u_char *) "alice@example.com", 17,
                    one) == 0
       && strcmp((char *) one, (char *) hex) == 0,
       "what mt_rcpt_hash() gives for the normalized address");

    ok(mt_rcpt_hasher_hash(h, (u_char *) "bob@example.com", 15, hex) == 0
       && strcmp((char *) one, (char *) hex) != 0,
       "the key is used again for another address");

    memset(big, 'a', sizeof(big));
    ok(mt_rcpt_hasher_hash(h, big, sizeof(big), hex) != 0,
       "longer than %d bytes: not hashed", MT_RCPT_NORM_MAX);
}


static void
test_url(void)
{
    u_char  buf[MT_PRIV_URL_MAX];
    size_t  n;

    struct {
        const char  *in;
        const char  *out;
    } cases[] = {
        { "https://example.com/a?b=c#d", "https://example.com" },
        { "http://Example.COM:8080", "http://Example.COM:8080" },
        { "https://u:p@host.example/x", "https://host.example" },
        { "https://a@b@host.example?q", "https://host.example" },
        { "https://host.example#frag", "https://host.example" },
        { "https:///path", "" },
        { "mailto:a@b.c", "" },
        { "://x", "" },
        { "", "" }
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = mt_privacy_url_host(buf, sizeof(buf), (u_char *) cases[i].in,
                                strlen(cases[i].in));
        is_str(((mt_str_t) { n, buf }), cases[i].out, "url host of \"%s\"",
               cases[i].in);
    }
}


static void
test_ip(void)
{
    u_char  buf[64];
    size_t  n;

    struct {
        const char  *in;
        const char  *out;
    } cases[] = {
        { "192.0.2.77", "192.0.2.0" },
        { "2001:db8:1234:5678::1", "2001:db8:1234::" },
        { "::ffff:192.0.2.1", "::" },
        { "not an address", "" },
        { "192.0.2.77 ", "" }
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = mt_privacy_ip_truncate(buf, sizeof(buf), (u_char *) cases[i].in,
                                   strlen(cases[i].in));
        is_str(((mt_str_t) { n, buf }), cases[i].out, "truncated \"%s\"",
               cases[i].in);
    }
}


static void
test_family(void)
{
    struct {
        const char  *ua;
        const char  *family;
    } cases[] = {
        { "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like "
          "Gecko) Chrome/120.0 Safari/537.36", "chrome" },
        { "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 "
          "Safari/537.36 Edg/120.0", "edge" },
        { "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 "
          "Firefox/121.0", "firefox" },
        { "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.2 Safari/605.1.15", "safari" },
        { "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) "
          "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
          "apple_mail" },
        { "Microsoft Outlook 16.0.17126; Pro", "outlook" },
        { "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 "
          "Thunderbird/115.6.0", "thunderbird" },
        { "curl/8.5.0", "other" },
        { "", "other" }
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_str(s(mt_ua_family((u_char *) cases[i].ua, strlen(cases[i].ua))),
               cases[i].family, "family %s", cases[i].family);
    }
}


static void
test_apply(mt_rcpt_hasher_t *h)
{
    mt_event_t        ev;
    mt_privacy_t      p;
    mt_privacy_buf_t  b;

    memset(&p, 0, sizeof(p));
    p.rcpt = MT_PRIV_HASH;
    p.ua = MT_PRIV_CLASS;
    p.url = MT_PRIV_HOST;
    p.ip = MT_PRIV_TRUNCATE;
    p.hasher = h;

    mt_event_init(&ev);
    ev.src = MT_SRC_POSTMARK;
    ev.type = MT_EV_BOUNCED;
    ev.rcpt = s("Alice@Example.com");
    ev.reason = s("550 5.1.1 <ALICE@example.com>: unknown; alice@example.com");
    ev.ua = s("Mozilla/5.0 Firefox/121.0");
    ev.url = s("https://shop.example/x?e=alice%40example.com");
    ev.ip = s("198.51.100.9");

    is_int(mt_privacy_apply(&p, &ev, &b), MT_OK, "applied");
    is_str(ev.rcpt, ALICE, "rcpt: the hash");
    is_str(ev.reason, "550 5.1.1 <" ALICE ">: unknown; " ALICE,
           "each mention in the reason, any case, becomes the hash");
    is_str(ev.ua, "firefox", "ua: the family");
    is_str(ev.url, "https://shop.example", "url: the host");
    is_str(ev.ip, "198.51.100.0", "a provider's ip: truncated");

    mt_event_init(&ev);
    ev.src = MT_SRC_TRACK;
    ev.rcpt = s("bob@example.com");
    ev.ua = s("Mozilla/5.0");
    ev.why = s("apple_mpp");
    ev.ip = s("17.58.0.1");

    p.rcpt = MT_PRIV_OFF;
    is_int(mt_privacy_apply(&p, &ev, &b), MT_OK, "applied, rcpt off");
    is_int(ev.rcpt.len, 0, "rcpt: none");
    is_str(ev.ua, "apple_mpp", "ua class of a machine open: the verdict");
    is_str(ev.ip, "17.58.0.1",
           "the own endpoints' ip is cut from the socket, not here");

    mt_event_init(&ev);
    ev.src = MT_SRC_SES;
    ev.rcpt = s("carol@example.com");
    ev.reason = s("mailbox carol@example.com is full");
    is_int(mt_privacy_apply(&p, &ev, &b), MT_OK, "applied, a reason");
    is_str(ev.reason, "mailbox (recipient) is full",
           "rcpt off: the reason names no one");

    p.rcpt = MT_PRIV_FULL;
    p.ua = MT_PRIV_OFF;
    p.url = MT_PRIV_OFF;
    p.ip = MT_PRIV_OFF;

    mt_event_init(&ev);
    ev.src = MT_SRC_SES;
    ev.rcpt = s("carol@example.com");
    ev.ua = s("x");
    ev.url = s("https://a.example/");
    ev.ip = s("192.0.2.1");
    is_int(mt_privacy_apply(&p, &ev, &b), MT_OK, "applied, all off");
    is_str(ev.rcpt, "carol@example.com", "rcpt full: as it came");
    ok(ev.ua.len == 0 && ev.url.len == 0 && ev.ip.len == 0,
       "ua, url and ip: none");
}


int
main(void)
{
    mt_rcpt_hasher_t  h;

    test_key();
    test_hasher(&h);
    test_url();
    test_ip();
    test_family();
    test_apply(&h);

    mt_rcpt_hasher_free(&h);

    return done_testing();
}

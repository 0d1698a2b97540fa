
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The one form of a recipient: normalization, its domain, what passes
 * for an address, and the keyed hash an erased or pseudonymous address
 * is kept as.
 */


#include "mt_tap.h"
#include "mt_rcpt.h"


static mt_str_t norm(const char *s);
static void test_normalize(void);
static void test_domain(void);
static void test_is_address(void);
static void test_hash(void);


static u_char  norm_buf[1024];


static mt_str_t
norm(const char *s)
{
    mt_str_t  r;

    r.data = norm_buf;
    r.len = mt_rcpt_normalize(norm_buf, (const u_char *) s, strlen(s));

    return r;
}


static void
test_normalize(void)
{
    is_str(norm("alice@example.com"), "alice@example.com", "plain");
    is_str(norm("  Alice@Example.COM\r\n"), "alice@example.com",
           "white space cut, ASCII lowercased, the local part too");
    is_str(norm("Alice Liddell <Alice@Example.com>"), "alice@example.com",
           "a display name dropped");
    is_str(norm("\"a, b\" < Bob@X.org >"), "bob@x.org",
           "white space inside the brackets");
    is_str(norm("x<y<Z@Q.io>"), "z@q.io", "the last angle brackets");
    is_str(norm("a@b.c>"), "a@b.c>", "a '>' without '<' stays");
    is_str(norm("<>"), NULL, "empty brackets: empty");
    is_str(norm("\xc3\x84LICE@\xc3\x96.DE"), "\xc3\x84lice@\xc3\x96.de",
           "only ASCII letters lowercased");
}


static void
test_domain(void)
{
    mt_str_t  a, d;

    a = norm("Name <x@Sub.Example.COM>");
    mt_rcpt_domain(a.data, a.len, &d);
    is_str(d, "sub.example.com", "the domain after the last '@'");

    a = norm("\"a@b\"@c.org");
    mt_rcpt_domain(a.data, a.len, &d);
    is_str(d, "c.org", "a quoted local part with '@'");

    a = norm("nodomain");
    mt_rcpt_domain(a.data, a.len, &d);
    is_int(d.len, 0, "no '@': no domain");
}


static void
test_is_address(void)
{
    struct {
        const char  *s;
        int          ok;
    } cases[] = {
        { "alice@example.com", 1 },
        { "a+tag@sub.example.co.uk", 1 },
        { "user@[192.0.2.1]", 1 },
        { "\xc3\xa9t\xc3\xa9@exemple.fr", 1 },
        { "alice", 0 },
        { "@example.com", 0 },
        { "alice@", 0 },
        { "alice@localhost", 0 },
        { "alice@.com", 0 },
        { "alice@example.", 0 },
        { "al ice@example.com", 0 },
        { "alice@exa\tmple.com", 0 },
        { "a\xff@example.com", 0 },
        { "", 0 }
    };
    size_t    i;
    u_char    big[MT_RCPT_ADDR_MAX + 2];

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_int(mt_rcpt_is_address((const u_char *) cases[i].s,
                                  strlen(cases[i].s)),
               cases[i].ok, "\"%s\" %s an address", cases[i].s,
               cases[i].ok ? "is" : "is not");
    }

    memset(big, 'a', sizeof(big));
    memcpy(big + sizeof(big) - 6, "@b.cd", 5);
    is_int(mt_rcpt_is_address(big, sizeof(big) - 1), 0,
           "longer than a record holds: not an address");
    is_int(mt_rcpt_is_address(big + 1, sizeof(big) - 2), 1,
           "%d bytes: an address", MT_RCPT_ADDR_MAX);
}


static void
test_hash(void)
{
    int       i;
    u_char    key[MT_RCPT_KEY_LEN], hex[MT_RCPT_HASH_HEX + 1];
    mt_str_t  h;

    for (i = 0; i < MT_RCPT_KEY_LEN; i++) {
        key[i] = (u_char) i;
    }

    /* python3: hmac.new(bytes(range(32)), b"alice@example.com",
     *                   hashlib.sha256).hexdigest() */

    is_int(mt_rcpt_hash(key, sizeof(key), (u_char *) "alice@example.com",
                        17, hex), 0, "hashed");

    h.data = hex;
    h.len = strlen((char *) hex);
    is_str(h, "a59fc578d4cb46faab1d6eb348e7c74b33b85122d6459fdb7bf5654b333acab4",
           "HMAC-SHA256 of the normalized address, in hex");

    ok(mt_rcpt_is_hash(hex, MT_RCPT_HASH_HEX), "a hash is one");
    ok(!mt_rcpt_is_address(hex, MT_RCPT_HASH_HEX), "... and no address");
    ok(!mt_rcpt_is_hash(hex, MT_RCPT_HASH_HEX - 1), "a shorter one is not");

    hex[3] = 'A';
    ok(!mt_rcpt_is_hash(hex, MT_RCPT_HASH_HEX), "nor an uppercase one");

    h = norm("A59FC578D4CB46FAAB1D6EB348E7C74B33B85122D6459FDB7BF5654B333ACAB4");
    ok(mt_rcpt_is_hash(h.data, h.len), "which normalization lowercases");
}


int
main(void)
{
    test_normalize();
    test_domain();
    test_is_address();
    test_hash();

    return done_testing();
}

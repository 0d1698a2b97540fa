
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The token codec: key files, round trips, and every way a token can be
 * bad (DESIGN.md, Tokens).
 */


#include "mt_tap.h"
#include "mt_token.h"
#include "mt_base64.h"
#include "mt_msgpack.h"

#include <openssl/err.h>
#include <openssl/rand.h>


static const char  *key_a = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
static const char  *key_b = "H+5oTL0w7nHrQzmhfW1mNf1P6bMc9gV03t34vPFj4xQ=";


static mt_keyring_t *
keyring(const char *text)
{
    char           err[256];
    mt_keyring_t  *kr;

    kr = mt_keyring_create();

    if (mt_keyring_parse(kr, (const u_char *) text, strlen(text), err,
                         sizeof(err))
        != 0)
    {
        diag("keyring: %s", err);
        mt_keyring_free(kr);
        return NULL;
    }

    return kr;
}


static void
test_keyfile_error(const char *text, const char *want)
{
    char           err[256];
    int            rc;
    mt_keyring_t  *kr;

    kr = mt_keyring_create();
    err[0] = '\0';

    rc = mt_keyring_parse(kr, (const u_char *) text, strlen(text), err,
                          sizeof(err));

    ok(rc != 0 && strstr(err, want) != NULL,
       "key file refused: \"%s\" (got \"%s\")", want, err);

    mt_keyring_free(kr);
}


static void
test_keyfiles(void)
{
    char           text[512];
    mt_keyring_t  *kr;

    snprintf(text, sizeof(text),
             "# keys\r\n\n  3   %s  \r\n# old\n200\t%s\n", key_a, key_b);

    kr = keyring(text);
    ok(kr != NULL, "comments, blank lines, CRLF and tabs are accepted");

    if (kr) {
        ok(kr->keys[3].set && kr->keys[200].set && !kr->keys[4].set,
           "key ids 3 and 200 loaded");
        is_int(kr->last, 200, "the last line's key mints");
        is_int(kr->nkeys, 2, "two keys");
        mt_keyring_free(kr);
    }

    snprintf(text, sizeof(text), "1 %s\n256 %s\n", key_a, key_b);
    test_keyfile_error(text, "line 2: key id \"256\" is not 0..255");

    snprintf(text, sizeof(text), "x %s\n", key_a);
    test_keyfile_error(text, "line 1: key id \"x\"");

    test_keyfile_error("1 AAEC\n", "line 1: key is not base64 of 32 bytes");
    test_keyfile_error("1 !!!!\n", "line 1: key is not base64 of 32 bytes");

    snprintf(text, sizeof(text), "1 %sAAAA\n", key_a);
    test_keyfile_error(text, "line 1: key is not base64 of 32 bytes");

    snprintf(text, sizeof(text), "#\n1 %s\n1 %s\n", key_a, key_b);
    test_keyfile_error(text, "line 3: duplicate key id 1");

    snprintf(text, sizeof(text), "1 %s extra\n", key_a);
    test_keyfile_error(text, "line 1: expected");

    test_keyfile_error("1\n", "line 1: expected");
    test_keyfile_error("# nothing\n\n", "no keys");
    test_keyfile_error("", "no keys");
}


static ssize_t
mint(mt_keyring_t *kr, u_char purpose, u_char kid, const char *mid,
    const char *rcpt, const char *url, int64_t expires, const char *tag,
    u_char *out)
{
    mt_token_t  tok;

    memset(&tok, 0, sizeof(tok));

    tok.purpose = purpose;
    tok.kid = kid;
    tok.mid.data = (u_char *) mid;
    tok.mid.len = strlen(mid);
    tok.rcpt.data = (u_char *) rcpt;
    tok.rcpt.len = strlen(rcpt);

    if (url) {
        tok.url.data = (u_char *) url;
        tok.url.len = strlen(url);
    }

    if (tag) {
        tok.tag.data = (u_char *) tag;
        tok.tag.len = strlen(tag);
    }

    tok.expires = expires;

    return mt_token_encode(kr, &tok, NULL, out);
}


static mt_rc_t
decode(mt_keyring_t *kr, u_char purpose, const u_char *tok, size_t len,
    mt_token_t *out)
{
    static u_char  plain[MT_TOKEN_MAX_PLAIN];

    return mt_token_decode(kr, purpose, tok, len, 1800000000, plain, out);
}


static void
test_roundtrip(mt_keyring_t *kr)
{
    ssize_t     n;
    mt_rc_t     rc;
    mt_token_t  tok;
    u_char      out[MT_TOKEN_MAX_LEN + 1];

    n = mint(kr, 'o', 3, "m-1", "a@example.com", NULL, 0, NULL, out);
    ok(n > 0, "open token minted (%d chars)", (int) n);

    rc = decode(kr, 'o', out, n, &tok);
    is_int(rc, MT_OK, "open token decodes");
    is_str(tok.mid, "m-1", "mid");
    is_str(tok.rcpt, "a@example.com", "rcpt");
    is_int(tok.expires, 0, "no expiry");
    is_int(tok.kid, 3, "kid");
    is_int(tok.url.len, 0, "no url");

    n = mint(kr, 'c', 200, "m-2", "b@example.com",
             "https://example.com/a?b=1&c=%20", 1900000000, "spring", out);
    rc = decode(kr, 'c', out, n, &tok);
    is_int(rc, MT_OK, "click token decodes");
    is_str(tok.url, "https://example.com/a?b=1&c=%20", "url");
    is_str(tok.tag, "spring", "tag");
    is_int(tok.expires, 1900000000, "expiry");

    n = mint(kr, 'u', 3, "m-3", "c@example.com", NULL, 0, NULL, out);
    is_int(decode(kr, 'u', out, n, &tok), MT_OK, "unsubscribe decodes");

    /* every purpose pair fails, and says why */

    n = mint(kr, 'o', 3, "m-1", "a@example.com", NULL, 0, NULL, out);
    is_int(decode(kr, 'c', out, n, &tok), MT_ERR_TOKEN_PURPOSE,
           "open token on the click endpoint");
    is_int(decode(kr, 'u', out, n, &tok), MT_ERR_TOKEN_PURPOSE,
           "open token on the unsubscribe endpoint");

    n = mint(kr, 'c', 3, "m-1", "a@example.com", "https://x.example/", 0,
             NULL, out);
    is_int(decode(kr, 'o', out, n, &tok), MT_ERR_TOKEN_PURPOSE,
           "click token on the open endpoint");

    n = mint(kr, 'u', 3, "m-1", "a@example.com", NULL, 0, NULL, out);
    is_int(decode(kr, 'c', out, n, &tok), MT_ERR_TOKEN_PURPOSE,
           "unsubscribe token on the click endpoint");

    n = mint(kr, 'o', 3, "m-1", "a@example.com", NULL, 1700000000, NULL,
             out);
    is_int(decode(kr, 'o', out, n, &tok), MT_ERR_TOKEN_EXPIRED,
           "expired token");

    n = mint(kr, 'o', 3, "m-1", "a@example.com", NULL, 1800000000, NULL,
             out);
    is_int(decode(kr, 'o', out, n, &tok), MT_ERR_TOKEN_EXPIRED,
           "a token expiring this very second is expired");

    n = mint(kr, 'o', 3, "m-1", "a@example.com", NULL, 1800000001, NULL,
             out);
    is_int(decode(kr, 'o', out, n, &tok), MT_OK, "a second left is fine");

    ok(mint(kr, 'o', 9, "m-1", "a@example.com", NULL, 0, NULL, out) < 0,
       "minting with an unknown key fails");
}


static void
test_bad(mt_keyring_t *kr)
{
    ssize_t      n;
    size_t       i, tampered, total;
    mt_rc_t      rc;
    mt_token_t   tok;
    u_char       out[MT_TOKEN_MAX_LEN + 1], copy[MT_TOKEN_MAX_LEN + 8];
    u_char       raw[MT_TOKEN_MAX_RAW];
    char         big[5000];
    mt_keyring_t *other;

    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    is_int(decode(kr, 'o', (u_char *) "", 0, &tok), MT_ERR_TOKEN_EMPTY,
           "empty token");

    memset(big, 'A', sizeof(big));
    is_int(decode(kr, 'o', (u_char *) big, 4097, &tok), MT_ERR_TOKEN_LENGTH,
           "a token over 4 KiB");

    is_int(decode(kr, 'o', (u_char *) "abc*def", 7, &tok),
           MT_ERR_TOKEN_ENCODING, "not base64url");
    is_int(decode(kr, 'o', (u_char *) "ab+/", 4, &tok),
           MT_ERR_TOKEN_ENCODING, "standard base64 characters");
    is_int(decode(kr, 'o', (u_char *) "A", 1, &tok), MT_ERR_TOKEN_ENCODING,
           "one character");

    n = mint(kr, 'o', 3, "m-1", "a@example.com", NULL, 0, "t", out);

    /* version byte */
    n = mt_base64url_decode(raw, out, n);
    raw[0] = 2;
    n = mt_base64url_encode(copy, raw, n);
    is_int(decode(kr, 'o', copy, n, &tok), MT_ERR_TOKEN_VERSION,
           "unknown version");

    n = mint(kr, 'o', 3, "m-1", "a@example.com", NULL, 0, "t", out);

    other = keyring("9 H+5oTL0w7nHrQzmhfW1mNf1P6bMc9gV03t34vPFj4xQ=\n");
    is_int(decode(other, 'o', out, n, &tok), MT_ERR_TOKEN_KEY,
           "unknown key id");
    mt_keyring_free(other);

    other = keyring("3 H+5oTL0w7nHrQzmhfW1mNf1P6bMc9gV03t34vPFj4xQ=\n");
    is_int(decode(other, 'o', out, n, &tok), MT_ERR_TOKEN_TAMPERED,
           "same key id, another key");
    mt_keyring_free(other);

    for (i = 1; i < (size_t) n; i += 7) {
        rc = decode(kr, 'o', out, i, &tok);
        ok(rc != MT_OK, "truncated to %d chars: %s", (int) i, mt_rc_name(rc));
    }

    is_int(decode(kr, 'o', out, n - 1, &tok) != MT_OK, 1,
           "one character short");

    /* one character changed, at every position, to every other value */

    tampered = 0;
    total = 0;

    for (i = 0; i < (size_t) n; i++) {
        const char  *c;

        for (c = alphabet; *c; c++) {
            if ((u_char) *c == out[i]) {
                continue;
            }

            memcpy(copy, out, n);
            copy[i] = (u_char) *c;
            total++;

            if (decode(kr, 'o', copy, n, &tok) != MT_OK) {
                tampered++;
            }
        }
    }

    is_int(tampered, total, "all %d one-character changes are refused",
           (int) total);

    /* one raw byte flipped anywhere */

    tampered = 0;
    n = mint(kr, 'c', 3, "m-1", "a@example.com", "https://e.example/",
             0, NULL, out);
    total = mt_base64url_decode(raw, out, n);

    for (i = 0; i < total; i++) {
        u_char  flip[MT_TOKEN_MAX_RAW];

        memcpy(flip, raw, total);
        flip[i] ^= 0x01;
        n = mt_base64url_encode(copy, flip, total);

        if (decode(kr, 'c', copy, n, &tok) != MT_OK) {
            tampered++;
        }
    }

    is_int(tampered, total, "every flipped raw byte is refused");
}


/*
 * Tokens are minted through EVP's AES-256-GCM and opened with the key's
 * state kept from token to token, the counter blocks encrypted ahead
 * (mt_token_open): every plaintext length from one block to the longest,
 * whole and partial last blocks, must come back, a flipped last byte must
 * not, a refusal must leave the state good for the next token and nothing
 * in OpenSSL's error queue.
 */

static void
test_lengths(mt_keyring_t *kr)
{
    size_t      len, good, refused, total, max, ahead, again, quiet;
    ssize_t     n;
    mt_rc_t     rc;
    mt_token_t  tok;
    char        mid[MT_TOKEN_MAX_PLAIN];
    u_char      last;
    u_char      out[MT_TOKEN_MAX_LEN + 1];

    good = 0;
    refused = 0;
    total = 0;
    max = 0;
    ahead = 0;
    again = 0;
    quiet = 0;

    for (len = 1; len < sizeof(mid); len += (len < 300) ? 1 : 37) {
        memset(mid, 'a' + len % 26, len);
        mid[len] = '\0';

        n = mint(kr, 'o', 3, mid, "a@example.com", NULL, 0, NULL, out);
        if (n < 0) {
            break;
        }

        total++;
        max = len;

        rc = decode(kr, 'o', out, n, &tok);
        good += (rc == MT_OK && tok.mid.len == len
                 && memcmp(tok.mid.data, mid, len) == 0);

        /* GCM took every block from the ones encrypted ahead */
        ahead += (kr->keys[3].aes->next == kr->keys[3].aes->nblocks);

        last = out[n - 1];
        out[n - 1] = (last == 'A') ? 'B' : 'A';
        refused += (decode(kr, 'o', out, n, &tok) != MT_OK);
        quiet += (ERR_peek_error() == 0);

        out[n - 1] = last;
        again += (decode(kr, 'o', out, n, &tok) == MT_OK);
    }

    ok(total > 300 && max > 2900, "%d lengths up to %d bytes", (int) total,
       (int) max);
    is_int(good, total, "each length decodes to what was minted");
    is_int(ahead, total, "each with its blocks encrypted in one call");
    is_int(refused, total, "each with its last character changed is refused");
    is_int(quiet, total, "each refusal leaves OpenSSL's error queue empty");
    is_int(again, total, "each decodes again after the refusal");
}


/* every byte value at every position of the path (mt_url_allowed) */

/*
 * Each key keeps its own context: tokens of sixteen random keys opened
 * in a random order, each also asked for with another purpose (a refusal
 * in between), must all come back as minted.
 */

static void
test_interleaved(void)
{
    int            kid;
    size_t         i, t, right, refused, len;
    ssize_t        n;
    mt_rc_t        rc;
    uint32_t       x;
    mt_token_t     tok;
    mt_keyring_t  *kr;
    u_char         p;
    u_char         key[MT_TOKEN_KEY_LEN];
    u_char         kids[16];
    size_t         lens[64];
    u_char         purpose[64];
    char           mids[64][200];
    u_char         out[64][MT_TOKEN_MAX_LEN + 1];

    static const u_char  purposes[] = { 'o', 'c', 'u' };

    kr = mt_keyring_create();
    x = 0x9e3779b9;

    for (i = 0; i < 16; i++) {
        do {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            kid = (int) (x % 256);
        } while (kr->keys[kid].set);

        kids[i] = (u_char) kid;

        if (RAND_bytes(key, sizeof(key)) != 1
            || mt_keyring_add(kr, (unsigned) kid, key) != 0)
        {
            ok(0, "a random key");
            mt_keyring_free(kr);
            return;
        }
    }

    for (t = 0; t < 64; t++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;

        len = 1 + x % (sizeof(mids[0]) - 1);
        memset(mids[t], 'a' + t % 26, len);
        mids[t][len] = '\0';
        lens[t] = len;
        purpose[t] = purposes[x % 3];

        n = mint(kr, purpose[t], kids[(x >> 8) % 16], mids[t],
                 "a@example.com", "https://example.com/", 0, NULL, out[t]);
        if (n < 0) {
            ok(0, "token %d minted", (int) t);
            mt_keyring_free(kr);
            return;
        }
    }

    right = 0;
    refused = 0;

    for (i = 0; i < 4000; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        t = x % 64;
        p = purposes[(x >> 8) % 3];

        rc = decode(kr, p, out[t], strlen((char *) out[t]), &tok);

        if (p != purpose[t]) {
            refused++;
            right += (rc == MT_ERR_TOKEN_PURPOSE);

        } else {
            right += (rc == MT_OK && tok.mid.len == lens[t]
                      && memcmp(tok.mid.data, mids[t], lens[t]) == 0);
        }
    }

    is_int(right, 4000, "tokens of 16 keys opened in a random order, %d "
           "refused for another purpose in between", (int) refused);

    mt_keyring_free(kr);
}


static void
test_url_bytes(void)
{
    int       c, want, right, total;
    size_t    pos, len;
    u_char    url[64];

    static const char  base[] = "https://example.com/"
                                "abcdefghijklmnopqrstuvwxyz01234";

    right = 0;
    total = 0;
    len = sizeof(base) - 1;

    for (pos = sizeof("https://example.com") - 1; pos < len; pos++) {
        for (c = 0; c < 256; c++) {
            memcpy(url, base, len);
            url[pos] = (u_char) c;

            want = !(c <= 0x20 || c == 0x7f || c == '\\');

            right += (mt_url_allowed(url, len) == want);
            right += (mt_url_allowed(url, pos + 1) == want);
            total += 2;
        }
    }

    is_int(right, total, "each byte at each place of a url: control "
           "bytes, space, DEL and backslash refused, others allowed (%d)",
           total);
}


static void
test_urls(mt_keyring_t *kr)
{
    size_t      i;
    ssize_t     n;
    mt_token_t  tok;
    u_char      out[MT_TOKEN_MAX_LEN + 1];

    static const char  *bad[] = {
        "javascript:alert(1)", "ftp://example.com/", "//evil.example/",
        "http:/evil.example", "http://", "https:///path", "data:text/html,x",
        "https://example.com/\r\nSet-Cookie: a=b", "https://exa mple.com/",
        "https:\\\\evil.example", "https://@evil.example", "",
        "https://example.com/\x7f", NULL
    };

    static const char  *good[] = {
        "http://example.com", "HTTPS://EXAMPLE.COM/A",
        "https://e.example/p?q=1#f",
        "https://user@e.example/", "https://[2001:db8::1]:8443/x", NULL
    };

    for (i = 0; bad[i]; i++) {
        n = mint(kr, 'c', 3, "m", "r", bad[i], 0, NULL, out);
        ok(n > 0, "minted a click token with bad url #%d", (int) i);
        is_int(decode(kr, 'c', out, n, &tok), MT_ERR_TOKEN_URL,
               "bad url #%d refused on the click endpoint", (int) i);
    }

    for (i = 0; good[i]; i++) {
        n = mint(kr, 'c', 3, "m", "r", good[i], 0, NULL, out);
        is_int(decode(kr, 'c', out, n, &tok), MT_OK, "url \"%s\" allowed",
               good[i]);
    }

    test_url_bytes();
}


/* a plaintext written by another minter: other int widths, extra keys */

static void
test_foreign_plain(mt_keyring_t *kr)
{
    int              n, m;
    size_t           rawlen;
    mt_token_t       tok;
    u_char           plain[256], raw[512], out[1024], aad[3];
    mt_mp_writer_t   w;
    EVP_CIPHER_CTX  *ctx;

    mt_mp_writer_init(&w, plain, sizeof(plain));
    msgpack_pack_map(&w.pk, 5);
    mt_mp_put_cstr(&w, "z");
    msgpack_pack_array(&w.pk, 2);
    msgpack_pack_nil(&w.pk);
    msgpack_pack_double(&w.pk, 1.5);
    mt_mp_put_cstr(&w, "x");
    msgpack_pack_uint32(&w.pk, 1900000000);
    mt_mp_put_cstr(&w, "r");
    mt_mp_put_cstr(&w, "a@example.com");
    mt_mp_put_cstr(&w, "m");
    msgpack_pack_bin(&w.pk, 3);
    msgpack_pack_bin_body(&w.pk, "m-9", 3);
    mt_mp_put_cstr(&w, "future");
    msgpack_pack_map(&w.pk, 1);
    mt_mp_put_cstr(&w, "k");
    msgpack_pack_int(&w.pk, -1);

    raw[0] = 1;
    raw[1] = 3;
    memset(raw + 2, 7, 12);

    aad[0] = 1;
    aad[1] = 3;
    aad[2] = 'o';

    ctx = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, kr->keys[3].key, raw + 2);
    EVP_EncryptUpdate(ctx, NULL, &n, aad, 3);
    EVP_EncryptUpdate(ctx, raw + 14, &n, plain, (int) (w.pos - w.start));
    EVP_EncryptFinal_ex(ctx, raw + 14 + n, &m);
    rawlen = 14 + (w.pos - w.start);
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, raw + rawlen);
    rawlen += 16;
    EVP_CIPHER_CTX_free(ctx);

    n = (int) mt_base64url_encode(out, raw, rawlen);

    is_int(decode(kr, 'o', out, n, &tok), MT_OK,
           "keys in any order, other int widths, bin strings, unknown keys");
    is_str(tok.mid, "m-9", "mid from a bin");
    is_int(tok.expires, 1900000000, "expiry from a uint32");
}


int
main(void)
{
    char           text[256];
    mt_keyring_t  *kr;

    test_keyfiles();

    snprintf(text, sizeof(text), "3 %s\n200 %s\n", key_a, key_b);
    kr = keyring(text);

    if (kr == NULL) {
        ok(0, "keyring");
        return done_testing();
    }

    test_roundtrip(kr);
    test_bad(kr);
    test_lengths(kr);
    test_interleaved();
    test_urls(kr);
    test_foreign_plain(kr);

    mt_keyring_free(kr);

    return done_testing();
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The JSON API (core/mt_json.h): parsing and its refusals, values,
 * member look-up, iteration, raw text and JSON Pointers.
 */


#include "mt_tap.h"
#include "mt_json.h"

#include <stdint.h>
#include <time.h>


static mt_json_parser_t  *jp;


static mt_json_err_e
parse(const char *text, mt_json_t *root)
{
    return mt_json_parse(jp, (const u_char *) text, strlen(text), root);
}


static mt_json_t
doc(const char *text)
{
    mt_json_t  root;

    if (parse(text, &root) != MT_JSON_OK) {
        diag("cannot parse %s: %s", text, mt_json_error(jp));
        root.doc = NULL;
    }

    return root;
}


static mt_str_t
P(mt_json_t v, const char *ptr)
{
    return mt_json_raw(mt_json_pointer(v, (const u_char *) ptr,
                                       strlen(ptr)));
}


static void
test_parse(void)
{
    mt_json_t  root;

    is_int(parse("[1,{\"a\":null}]", &root), MT_JSON_OK, "parse: ok");
    ok(mt_json_is_array(root), "parse: the root is an array");

    is_int(parse("", &root), MT_JSON_ERR_EMPTY, "parse: empty");
    is_int(parse(" \r\n\t", &root), MT_JSON_ERR_EMPTY, "parse: whitespace");
    is_int(parse("[{\"a\":", &root), MT_JSON_ERR_SYNTAX, "parse: truncated");
    is_int(parse("[1,]", &root), MT_JSON_ERR_SYNTAX, "parse: trailing comma");
    is_int(parse("[1] x", &root), MT_JSON_ERR_SYNTAX, "parse: trailing bytes");
    is_int(parse("{\"a\" 1}", &root), MT_JSON_ERR_SYNTAX, "parse: no colon");
    is_int(parse("[01]", &root), MT_JSON_ERR_NUMBER, "parse: leading zero");
    is_int(parse("[\"a\xff\"]", &root), MT_JSON_ERR_UTF8,
           "parse: invalid UTF-8");
    is_int(parse("[\"\xed\xa0\x80\"]", &root), MT_JSON_ERR_UTF8,
           "parse: an encoded surrogate is not UTF-8");
    is_int(parse("[\"\xc0\xaf\"]", &root), MT_JSON_ERR_UTF8,
           "parse: an overlong form is not UTF-8");
    is_int(parse("[\"\\ud800\"]", &root), MT_JSON_ERR_STRING,
           "parse: a lone high surrogate escape");
    is_int(parse("[\"\\udc00\"]", &root), MT_JSON_ERR_STRING,
           "parse: a lone low surrogate escape");
    is_int(parse("[\"\\ud800\\u0041\"]", &root), MT_JSON_ERR_STRING,
           "parse: a high surrogate and no low one");
    is_int(parse("[\"\\x\"]", &root), MT_JSON_ERR_STRING,
           "parse: a bad escape");
    is_int(parse("[\"a\tb\"]", &root), MT_JSON_ERR_STRING,
           "parse: a raw control character in a string");
    is_int(parse("[\"abc]", &root), MT_JSON_ERR_STRING,
           "parse: an unclosed string");
    is_int(parse("[18446744073709551616]", &root), MT_JSON_ERR_NUMBER,
           "parse: 2^64 is beyond 64 bits");
    is_int(parse("[-9223372036854775809]", &root), MT_JSON_ERR_NUMBER,
           "parse: below INT64_MIN");
    is_int(parse("[99999999999999999999999]", &root), MT_JSON_ERR_NUMBER,
           "parse: a 23-digit integer");
    is_int(parse("[1e400]", &root), MT_JSON_ERR_NUMBER,
           "parse: a double beyond its range");
    ok(strstr(mt_json_error(jp), "64-bit range") != NULL,
       "parse: the error names the cause (%s)", mt_json_error(jp));

    parse("[\"\\ud800\"]", &root);
    ok(strstr(mt_json_error(jp), "lone surrogate") != NULL,
       "parse: a lone surrogate, named (%s)", mt_json_error(jp));
    parse("[\"a\xff\"]", &root);
    is_str(((mt_str_t) { strlen(mt_json_error(jp)),
                         (u_char *) mt_json_error(jp) }),
           "not UTF-8", "parse: not UTF-8, named");
    parse("[\"a\tb\"]", &root);
    ok(strstr(mt_json_error(jp), "control character") != NULL,
       "parse: a control character, named (%s)", mt_json_error(jp));
    parse("[{\"a\":", &root);
    ok(strstr(mt_json_error(jp), "structure") != NULL,
       "parse: a truncated document, named (%s)", mt_json_error(jp));

    is_int(parse("\"open\"", &root), MT_JSON_OK, "parse: a bare string");
    is_str(mt_json_string(root), "open", "parse: its value");
    is_int(parse("  42 ", &root), MT_JSON_OK, "parse: a bare number");
    is_str(mt_json_raw(root), "42", "parse: its raw text");
}


static void
test_depth(void)
{
    char       *p;
    size_t      i, n, len;
    clock_t     start;
    mt_json_t   root;

    p = malloc(5 * 1000 + 1);

    for (n = 62; n <= 66; n++) {
        for (i = 0; i < n; i++) {
            p[i] = '[';
            p[2 * n - 1 - i] = ']';
        }

        p[2 * n] = '\0';

        is_int(parse(p, &root), n <= MT_JSON_MAX_DEPTH ? MT_JSON_OK
                                                        : MT_JSON_ERR_DEPTH,
               "depth: %zu nested arrays", n);
    }

    ok(strstr(mt_json_error(jp), "deeper than 64") != NULL,
       "depth: named (%s)", mt_json_error(jp));

    is_int(mt_json_parse(jp, (u_char *) p, MT_JSON_MAX_DEPTH + 1, &root),
           MT_JSON_ERR_SYNTAX, "depth: unclosed arrays");

    for (n = 0; n < 1000; n++) {
        memcpy(p + n * 5, "{\"a\":", 5);
    }

    p[n * 5] = '\0';
    ok(parse(p, &root) != MT_JSON_OK, "depth: 1000 nested objects refused");
    free(p);

    /* 10 MB of '[': no stack, no quadratic time (the tape stops) */

    len = 10 * 1024 * 1024;
    p = malloc(len);
    memset(p, '[', len);

    start = clock();
    ok(mt_json_parse(jp, (u_char *) p, len, &root) != MT_JSON_OK,
       "depth: 10 MB of '[' refused");
    diag("10 MB of '[': %.3f s of CPU",
         (double) (clock() - start) / CLOCKS_PER_SEC);

    memset(p, ' ', len);
    memcpy(p + len - 3, "[1]", 3);
    is_int(mt_json_parse(jp, (u_char *) p, len, &root), MT_JSON_OK,
           "big: 10 MB of whitespace around [1]");
    is_str(mt_json_raw(root), "[1]", "big: raw text of the root");

    free(p);

    mt_json_parser_trim(jp);

    is_int(parse("[true]", &root), MT_JSON_OK, "trim: parses after a trim");
    ok(mt_json_is_true(mt_json_pointer(root, (u_char *) "/0", 2)),
       "trim: and the value is there");
}


static void
test_values(void)
{
    double      d;
    int64_t     i;
    uint64_t    u;
    mt_str_t    s;
    mt_json_t   root, v;

    root = doc("{\"s\":\"a\\u0000b\\\"\",\"e\":\"\",\"i\":-9223372036854775808,"
               "\"big\":9223372036854775807,\"u\":18446744073709551615,"
               "\"d\":1534110422.389832,\"x\":1e2,\"t\":true,\"f\":false,"
               "\"n\":null,\"a\":[],\"o\":{},\"emoji\":\"\\ud83d\\ude00\","
               "\"z\":-0}");

    ok(mt_json_is_object(root), "values: an object");
    is_int(mt_json_size(root), 14, "values: 14 members");

    s = mt_json_string(mt_json_get(root, "s"));
    ok(s.len == 4 && memcmp(s.data, "a\0b\"", 4) == 0,
       "string: \\u0000 kept, with its length");
    is_str(mt_json_raw(mt_json_get(root, "s")), "\"a\\u0000b\\\"\"",
           "string: raw text with quotes and escapes");

    s = mt_json_string(mt_json_get(root, "e"));
    ok(s.len == 0 && s.data != NULL, "string: empty, but there");
    s = mt_json_string(mt_json_get(root, "nope"));
    ok(s.len == 0 && s.data == NULL, "string: missing");
    s = mt_json_string(mt_json_get(root, "i"));
    ok(s.len == 0 && s.data == NULL, "string: a number is none");

    is_str(mt_json_string(mt_json_get(root, "emoji")), "\xf0\x9f\x98\x80",
           "string: a surrogate pair decoded to UTF-8");

    is_int(mt_json_type(mt_json_get(root, "i")), MT_JSON_INT, "int: type");
    ok(mt_json_int64(mt_json_get(root, "i"), &i) == 0 && i == INT64_MIN,
       "int: INT64_MIN exact");
    ok(mt_json_int64(mt_json_get(root, "big"), &i) == 0 && i == INT64_MAX,
       "int: INT64_MAX exact");
    ok(mt_json_uint64(mt_json_get(root, "i"), &u) != 0,
       "uint: a negative number is none");

    is_int(mt_json_type(mt_json_get(root, "u")), MT_JSON_UINT, "uint: type");
    ok(mt_json_uint64(mt_json_get(root, "u"), &u) == 0 && u == UINT64_MAX,
       "uint: UINT64_MAX exact");
    ok(mt_json_int64(mt_json_get(root, "u"), &i) != 0,
       "uint: not an int64");
    ok(mt_json_uint64(mt_json_get(root, "big"), &u) == 0
       && u == (uint64_t) INT64_MAX, "uint: a positive int64 is one");
    is_str(mt_json_raw(mt_json_get(root, "u")), "18446744073709551615",
           "uint: raw text");

    is_int(mt_json_type(mt_json_get(root, "d")), MT_JSON_DOUBLE,
           "double: type");
    ok(mt_json_double(mt_json_get(root, "d"), &d) == 0
       && d == 1534110422.389832, "double: value");
    is_str(mt_json_raw(mt_json_get(root, "d")), "1534110422.389832",
           "double: raw text as sent");
    is_int(mt_json_type(mt_json_get(root, "x")), MT_JSON_DOUBLE,
           "double: with an exponent");
    is_str(mt_json_raw(mt_json_get(root, "x")), "1e2", "double: its raw text");
    ok(mt_json_double(mt_json_get(root, "big"), &d) == 0
       && d == 9223372036854775807.0, "double: from an integer");
    ok(mt_json_int64(mt_json_get(root, "d"), &i) != 0,
       "double: not an int64");
    ok(mt_json_double(mt_json_get(root, "s"), &d) != 0,
       "double: a string is none");
    ok(mt_json_int64(mt_json_get(root, "z"), &i) == 0 && i == 0,
       "int: -0 is 0");
    is_str(mt_json_raw(mt_json_get(root, "z")), "-0", "int: -0 raw");

    ok(mt_json_is_true(mt_json_get(root, "t")), "true");
    ok(mt_json_is_false(mt_json_get(root, "f")), "false");
    ok(mt_json_is_null(mt_json_get(root, "n")), "null");
    is_str(mt_json_raw(mt_json_get(root, "f")), "false", "false: raw");
    is_str(mt_json_raw(mt_json_get(root, "n")), "null", "null: raw");
    ok(mt_json_is_array(mt_json_get(root, "a"))
       && mt_json_size(mt_json_get(root, "a")) == 0, "an empty array");
    ok(mt_json_is_object(mt_json_get(root, "o"))
       && mt_json_size(mt_json_get(root, "o")) == 0, "an empty object");
    is_str(mt_json_raw(mt_json_get(root, "o")), "{}", "empty object: raw");

    /* none propagates: a member of nothing is nothing */

    v = mt_json_get(mt_json_get(root, "nope"), "deeper");
    ok(mt_json_is_none(v), "none: a member of nothing is nothing");
    ok(mt_json_is_none(mt_json_get(mt_json_get(root, "s"), "x")),
       "none: a member of a string is nothing");
    is_int(mt_json_size(v), 0, "none: size 0");
    ok(mt_json_int64(v, &i) != 0, "none: no int");
    is_str(mt_json_raw(v), NULL, "none: no raw text");
}


static void
test_objects(void)
{
    int             n;
    mt_str_t        key, keys;
    mt_json_t       root, v;
    mt_json_iter_t  it;
    u_char          buf[256];

    /* a key present twice: the first one wins, as simdjson's at_key */

    root = doc("{\"a\":1,\"b\":{\"a\":5},\"a\":2}");
    is_str(mt_json_raw(mt_json_get(root, "a")), "1",
           "duplicate keys: the first wins");
    is_int(mt_json_size(root), 3, "duplicate keys: both counted");

    /* keys with NUL, with escapes; getn compares bytes */

    root = doc("{\"k\\u0000x\":\"nul\",\"\":\"empty\",\"a/b\":1,\"\\u00e9\":2,"
               "\"deep\":{\"deeper\":[10,{\"x\":[true]}]},\"last\":3}");
    is_str(mt_json_string(mt_json_getn(root, (u_char *) "k\0x", 3)), "nul",
           "getn: a key with NUL");
    ok(mt_json_is_none(mt_json_get(root, "k")),
       "get: the NUL key is not its prefix");
    is_str(mt_json_string(mt_json_get(root, "")), "empty", "get: empty key");
    is_str(mt_json_raw(mt_json_get(root, "\xc3\xa9")), "2",
           "get: an escaped key, decoded");
    is_str(mt_json_raw(mt_json_get(root, "last")), "3",
           "get: past a nested container");
    ok(mt_json_is_none(mt_json_get(root, "x")),
       "get: a nested key is not a member");

    {
        mt_json_t  all[5];

        static const mt_str_t  want[] = {
            mt_string("last"), mt_string("nope"), mt_string(""),
            mt_string("deep"), { 3, (u_char *) "k\0x" }
        };

        mt_json_get_all(root, want, 5, all);
        is_str(mt_json_raw(all[0]), "3", "get_all: a key");
        ok(mt_json_is_none(all[1]), "get_all: a missing key");
        is_str(mt_json_string(all[2]), "empty", "get_all: the empty key");
        ok(mt_json_eq(all[3], mt_json_get(root, "deep")),
           "get_all: the same value as get");
        is_str(mt_json_string(all[4]), "nul", "get_all: a key with NUL");

        mt_json_get_all(mt_json_get(root, "last"), want, 2, all);
        ok(mt_json_is_none(all[0]) && mt_json_is_none(all[1]),
           "get_all: of a number, nothing");

        mt_json_get_all(doc("{\"a\":1,\"b\":2,\"a\":3}"), want, 0, all);
        root = doc("{\"a\":1,\"b\":2,\"a\":3}");
        mt_json_get_all(root, (mt_str_t[]) { mt_string("a") }, 1, all);
        is_str(mt_json_raw(all[0]), "1", "get_all: the first of two");

        root = doc("{\"k\\u0000x\":\"nul\",\"\":\"empty\",\"a/b\":1,"
                   "\"\\u00e9\":2,\"deep\":{\"deeper\":[10,{\"x\":[true]}]},"
                   "\"last\":3}");
    }

    keys.data = buf;
    keys.len = 0;
    n = 0;

    mt_json_object_foreach(root, it, key, v) {
        if (keys.len + key.len + 1 < sizeof(buf)) {
            memcpy(buf + keys.len, key.data, key.len);
            keys.len += key.len;
            buf[keys.len++] = ',';
        }

        n++;
    }

    is_int(n, 6, "object iteration: every member");
    ok(keys.len == 22 && memcmp(buf, "k\0x,,a/b,\xc3\xa9,deep,last,", 22) == 0,
       "object iteration: keys in order");

    n = 0;
    mt_json_array_foreach(root, it, v) {
        n++;
    }

    is_int(n, 6, "mt_json_next over an object: its values");

    mt_json_iter(&it, mt_json_get(root, "last"));
    ok(!mt_json_next(&it, &v), "iteration over a number: nothing");
    ok(!mt_json_next_member(&it, &key, &v), "members of a number: none");
}


static void
test_arrays(void)
{
    int             n;
    int64_t         x;
    mt_str_t        key;
    mt_json_t       root, v;
    mt_json_iter_t  it;

    root = doc("[1,\"two\",[3,[4]],{\"five\":5},6.5,-7,true,null]");
    is_int(mt_json_size(root), 8, "array: size");

    n = 0;
    mt_json_array_foreach(root, it, v) {
        n++;
    }

    is_int(n, 8, "array: iteration");

    mt_json_iter(&it, root);
    ok(mt_json_next(&it, &v) && mt_json_int64(v, &x) == 0 && x == 1,
       "array: first element");
    ok(!mt_json_next_member(&it, &key, &v),
       "array: members of an array: none");

    is_str(mt_json_raw(mt_json_pointer(root, (u_char *) "/2", 2)),
           "[3,[4]]", "array: raw text of a nested array");

    is_str(mt_json_raw(mt_json_at(root, 0)), "1", "at: the first");
    is_str(mt_json_raw(mt_json_at(root, 3)), "{\"five\":5}",
           "at: past a nested array");
    is_str(mt_json_raw(mt_json_at(root, 7)), "null", "at: the last");
    ok(mt_json_is_none(mt_json_at(root, 8)), "at: past the end");
    ok(mt_json_is_none(mt_json_at(mt_json_at(root, 3), 0)),
       "at: an object has no elements");
    ok(mt_json_eq(mt_json_at(root, 4), mt_json_pointer(root, (u_char *) "/4",
                                                       2)),
       "eq: the same value found two ways");
    ok(!mt_json_eq(mt_json_at(root, 4), mt_json_at(root, 5)),
       "eq: two values differ");
    ok(mt_json_is_none(mt_json_none), "mt_json_none is none");

}


static void
test_pointer(void)
{
    mt_json_t  root;

    root = doc("{\"a\":{\"b\":[10,{\"c\":\"x\"},30]},\"m~n\":1,\"p/q\":2,"
               "\"\":{\"\":3},\"0\":4,\"~1\":5,\"e\":[]}");

    is_str(P(root, ""), "{\"a\":{\"b\":[10,{\"c\":\"x\"},30]},\"m~n\":1,"
           "\"p/q\":2,\"\":{\"\":3},\"0\":4,\"~1\":5,\"e\":[]}",
           "pointer: \"\" is the whole document");
    is_str(P(root, "/a/b/0"), "10", "pointer: /a/b/0");
    is_str(P(root, "/a/b/1/c"), "\"x\"", "pointer: /a/b/1/c");
    is_str(P(root, "/a/b/2"), "30", "pointer: the last element");
    is_str(P(root, "/a/b/3"), NULL, "pointer: past the end");
    is_str(P(root, "/a/b/-"), NULL, "pointer: '-' is nothing");
    is_str(P(root, "/a/b/01"), NULL, "pointer: a leading zero");
    is_str(P(root, "/a/b/+1"), NULL, "pointer: a sign");
    is_str(P(root, "/a/b/99999999999999999999"), NULL,
           "pointer: an index too large");
    is_str(P(root, "/m~0n"), "1", "pointer: ~0 is ~");
    is_str(P(root, "/p~1q"), "2", "pointer: ~1 is /");
    is_str(P(root, "/~01"), "5", "pointer: ~01 is ~1, not /");
    is_str(P(root, "/"), "{\"\":3}", "pointer: / is the empty key");
    is_str(P(root, "//"), "3", "pointer: // two empty keys");
    is_str(P(root, "/0"), "4", "pointer: a number is a key in an object");
    is_str(P(root, "/e/0"), NULL, "pointer: into an empty array");
    is_str(P(root, "/a/b/0/x"), NULL, "pointer: into a number");
    is_str(P(root, "a"), NULL, "pointer: no leading /");
    is_str(P(root, "/m~2n"), NULL, "pointer: ~2 is malformed");
    is_str(P(root, "/m~"), NULL, "pointer: a trailing ~");

    ok(mt_json_pointer_valid((u_char *) "", 0), "valid: empty");
    ok(mt_json_pointer_valid((u_char *) "/a~0~1", 6), "valid: escapes");
    ok(!mt_json_pointer_valid((u_char *) "a", 1), "invalid: no /");
    ok(!mt_json_pointer_valid((u_char *) "/a~", 3), "invalid: ~ at the end");
    ok(!mt_json_pointer_valid((u_char *) "/~a", 3), "invalid: ~a");
}


static void
test_reuse(void)
{
    u_char            *buf;
    mt_str_t           s;
    mt_json_t          root, inner;
    mt_json_parser_t  *jp2;

    /* two parsers: a document inside a string of another */

    jp2 = mt_json_parser_create();
    ok(jp2 != NULL, "a second parser");

    root = doc("{\"Message\":\"{\\\"eventType\\\":\\\"Bounce\\\"}\"}");
    s = mt_json_string(mt_json_get(root, "Message"));

    is_int(mt_json_parse(jp2, s.data, s.len, &inner), MT_JSON_OK,
           "nested: the inner document parses");
    is_str(mt_json_string(mt_json_get(inner, "eventType")), "Bounce",
           "nested: its value");
    is_str(mt_json_raw(mt_json_get(root, "Message")),
           "\"{\\\"eventType\\\":\\\"Bounce\\\"}\"",
           "nested: the outer document is still there");

    /* the padded entry point on the parser's own buffer */

    buf = mt_json_buffer(jp2, 7);
    ok(buf != NULL, "buffer: there");
    memcpy(buf, "[\"pad\"]", 7);
    is_int(mt_json_parse_padded(jp2, buf, 7, &inner), MT_JSON_OK,
           "padded: parses in place");
    is_str(mt_json_string(mt_json_pointer(inner, (u_char *) "/0", 2)), "pad",
           "padded: its value");
    is_int(mt_json_parse(jp2, buf, 7, &inner), MT_JSON_OK,
           "copying parse of the parser's own buffer");
    is_str(mt_json_raw(inner), "[\"pad\"]", "its raw text");

    /* a failed parse leaves no document to take raw text from */

    is_int(mt_json_parse(jp2, (u_char *) "[", 1, &inner), MT_JSON_ERR_SYNTAX,
           "a failed parse");

    mt_json_parser_destroy(jp2);
    mt_json_parser_destroy(NULL);
}


int
main(void)
{
    mt_json_t  root;

    jp = mt_json_parser_create();
    if (jp == NULL) {
        printf("Bail out! no parser\n");
        return 1;
    }

    /* a fresh parser has no buffer yet: an empty body is still empty */

    is_int(parse("", &root), MT_JSON_ERR_EMPTY, "empty, first of all");

    test_parse();
    test_depth();
    test_values();
    test_objects();
    test_arrays();
    test_pointer();
    test_reuse();

    mt_json_parser_destroy(jp);

    return done_testing();
}

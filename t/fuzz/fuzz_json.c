
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target: the JSON API (core/mt_json.h).  An input is an
 * optional JSON Pointer line ("/..."), then a document.  Every value of
 * a document that parses is visited; its raw text must parse again, on
 * its own, to the same type and value, every member must be found by
 * its key, sizes must match the iteration, and the pointer's target (if
 * any) must have raw text.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt_json.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void fuzz_visit(mt_json_t v, unsigned depth);
static void fuzz_same(mt_json_t v);


static mt_json_parser_t  *jp, *jp2;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          plen;
    mt_str_t        raw;
    mt_json_t       root, v;
    const uint8_t  *nl, *ptr;

    if (jp == NULL) {
        jp = mt_json_parser_create();
        jp2 = mt_json_parser_create();

        if (jp == NULL || jp2 == NULL) {
            abort();
        }
    }

    ptr = NULL;
    plen = 0;

    if (size && data[0] == '/') {
        nl = memchr(data, '\n', size);

        if (nl != NULL) {
            ptr = data;
            plen = nl - data;
            size -= plen + 1;
            data = nl + 1;
        }
    }

    if (mt_json_parse(jp, data, size, &root) != MT_JSON_OK) {
        if (mt_json_error(jp) == NULL) {
            abort();
        }

        return 0;
    }

    fuzz_visit(root, 0);

    if (ptr != NULL) {
        v = mt_json_pointer(root, ptr, plen);

        if (!mt_json_pointer_valid(ptr, plen) && !mt_json_is_none(v)) {
            abort();
        }

        raw = mt_json_raw(v);

        if (!mt_json_is_none(v) && raw.len == 0) {
            abort();
        }
    }

    mt_json_parser_trim(jp);

    return 0;
}


static void
fuzz_visit(mt_json_t v, unsigned depth)
{
    size_t          n;
    mt_str_t        key;
    mt_json_t       e, got;
    mt_json_iter_t  it;

    if (depth > MT_JSON_MAX_DEPTH + 1) {
        abort();
    }

    fuzz_same(v);

    n = 0;

    if (mt_json_is_object(v)) {
        mt_json_object_foreach(v, it, key, e) {
            got = mt_json_getn(v, key.data, key.len);

            /* the first member with that key: never past this one */

            if (mt_json_is_none(got) || got.i > e.i) {
                abort();
            }

            fuzz_visit(e, depth + 1);
            n++;
        }

    } else if (mt_json_is_array(v)) {
        mt_json_array_foreach(v, it, e) {
            fuzz_visit(e, depth + 1);
            n++;
        }
    }

    if (n != mt_json_size(v)) {
        abort();
    }
}


/* the raw text of v, parsed on its own, is the same value */

static void
fuzz_same(mt_json_t v)
{
    double     d1, d2;
    int64_t    i1, i2;
    uint64_t   u1, u2;
    mt_str_t   raw, s1, s2;
    mt_json_t  w;

    raw = mt_json_raw(v);

    if (raw.len == 0) {
        abort();
    }

    if (mt_json_parse(jp2, raw.data, raw.len, &w) != MT_JSON_OK
        || mt_json_type(w) != mt_json_type(v))
    {
        abort();
    }

    switch (mt_json_type(v)) {

    case MT_JSON_STRING:
        s1 = mt_json_string(v);
        s2 = mt_json_string(w);

        if (s1.len != s2.len
            || (s1.len && memcmp(s1.data, s2.data, s1.len) != 0))
        {
            abort();
        }

        break;

    case MT_JSON_INT:
        if (mt_json_int64(v, &i1) != 0 || mt_json_int64(w, &i2) != 0
            || i1 != i2)
        {
            abort();
        }

        break;

    case MT_JSON_UINT:
        if (mt_json_uint64(v, &u1) != 0 || mt_json_uint64(w, &u2) != 0
            || u1 != u2)
        {
            abort();
        }

        break;

    case MT_JSON_DOUBLE:
        if (mt_json_double(v, &d1) != 0 || mt_json_double(w, &d2) != 0
            || memcmp(&d1, &d2, sizeof(double)) != 0)
        {
            abort();
        }

        break;

    case MT_JSON_ARRAY:
    case MT_JSON_OBJECT:
        if (mt_json_size(v) != mt_json_size(w)) {
            abort();
        }

        break;

    default:
        break;
    }
}

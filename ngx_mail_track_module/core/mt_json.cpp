
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The JSON API of mt_json.h on simdjson's DOM parser.  A value is a
 * position on the parser's tape (simdjson's tape_ref: document and
 * index), so values are plain C structs and nothing is allocated per
 * value; accessors read the tape as simdjson's own dom:: classes do.
 *
 * nginx compiles this file with the module's C flags: no exception
 * leaves it (simdjson's error-code API and nothrow allocation only).
 */


#if __cplusplus < 201703L
#error "mt_json.cpp needs C++17 (g++ 8 or later defaults to it)"
#endif

#include <simdjson.h>

#include "mt_json.h"

#include <new>


using simdjson::internal::tape_ref;
using simdjson::internal::tape_type;


struct mt_json_parser_s {
    simdjson::dom::parser       parser;

    /* the padded copy of the input, kept from one document to the next */
    u_char                     *buf;
    size_t                      size;

    /* the current document's input: mt_json_raw() points into it */
    const u_char               *src;
    size_t                      len;

    /* mt_json_raw(): each tape slot's offset in src, built when asked */
    uint32_t                   *offs;
    size_t                      noffs;
    int                         offs_state;   /* 0 not built, 1, -1 bad */

    const char                 *error;
};


static_assert(MT_JSON_PADDING >= simdjson::SIMDJSON_PADDING,
              "MT_JSON_PADDING is below SIMDJSON_PADDING");
static_assert(MT_JSON_MAX_DEPTH == 64,
              "the depth error message says 64");


static mt_json_err_e mt_json_parse_error(mt_json_parser_t *jp,
    simdjson::error_code err);
static inline size_t mt_json_after(const uint64_t *tape, size_t i);
static tape_ref mt_json_ref(const mt_json_t &v);
static mt_json_t mt_json_value(const mt_json_parser_t *jp, size_t i);
static mt_json_t mt_json_none_value(void);
static int mt_json_offsets(mt_json_parser_t *jp);
static size_t mt_json_skip_string(const u_char *s, size_t pos, size_t len);
static size_t mt_json_skip_number(const u_char *s, size_t pos, size_t len);
static int mt_json_token_eq(mt_str_t *key, const u_char *tok, size_t len);
static int mt_json_token_index(const u_char *tok, size_t len, size_t *idx);


mt_json_parser_t *
mt_json_parser_create(void)
{
    mt_json_parser_t  *jp;

    jp = new (std::nothrow) mt_json_parser_s();
    if (jp == NULL) {
        return NULL;
    }

    /* the depth cap is set once; later growth keeps it */

    if (jp->parser.allocate(simdjson::dom::MINIMAL_DOCUMENT_CAPACITY,
                            MT_JSON_MAX_DEPTH)
        != simdjson::SUCCESS)
    {
        delete jp;
        return NULL;
    }

    jp->error = "no document";

    return jp;
}


void
mt_json_parser_destroy(mt_json_parser_t *jp)
{
    if (jp == NULL) {
        return;
    }

    free(jp->buf);
    free(jp->offs);

    delete jp;
}


void
mt_json_parser_trim(mt_json_parser_t *jp)
{
    simdjson::error_code  err;

    if (jp == NULL) {
        return;
    }

    if (jp->parser.capacity() > MT_JSON_KEEP
        || jp->parser.doc.capacity() > MT_JSON_KEEP)
    {
        /* a failure leaves a parser that allocates when it parses */

        err = jp->parser.doc.allocate(0);

        if (err == simdjson::SUCCESS) {
            err = jp->parser.allocate(MT_JSON_KEEP, MT_JSON_MAX_DEPTH);
        }

        jp->error = (err == simdjson::SUCCESS) ? "no document"
                                               : "out of memory";
        jp->src = NULL;
        jp->len = 0;
    }

    if (jp->size > MT_JSON_KEEP) {
        free(jp->buf);
        jp->buf = NULL;
        jp->size = 0;
        jp->src = NULL;
        jp->len = 0;
    }

    if (jp->noffs > MT_JSON_KEEP / 4) {
        free(jp->offs);
        jp->offs = NULL;
        jp->noffs = 0;
        jp->offs_state = 0;
    }
}


u_char *
mt_json_buffer(mt_json_parser_t *jp, size_t size)
{
    size_t   n;
    u_char  *p;

    if (size > SIZE_MAX / 2 - MT_JSON_PADDING) {
        return NULL;
    }

    if (jp->buf == NULL || jp->size < size) {
        n = jp->size ? jp->size : 4096;

        while (n < size) {
            n *= 2;
        }

        p = (u_char *) malloc(n + MT_JSON_PADDING);
        if (p == NULL) {
            return NULL;
        }

        free(jp->buf);
        jp->buf = p;
        jp->size = n;
    }

    return jp->buf;
}


mt_json_err_e
mt_json_parse(mt_json_parser_t *jp, const u_char *p, size_t len,
    mt_json_t *root)
{
    u_char  *buf;

    buf = mt_json_buffer(jp, len);
    if (buf == NULL) {
        jp->error = "out of memory";
        return MT_JSON_ERR_NOMEM;
    }

    if (len && p != buf) {
        memmove(buf, p, len);
    }

    /* simdjson reads the padding: defined bytes, for valgrind's sake */
    memset(buf + len, 0, MT_JSON_PADDING);

    return mt_json_parse_padded(jp, buf, len, root);
}


mt_json_err_e
mt_json_parse_padded(mt_json_parser_t *jp, const u_char *p, size_t len,
    mt_json_t *root)
{
    simdjson::error_code  err;

    jp->src = NULL;
    jp->len = 0;
    jp->offs_state = 0;

    err = jp->parser.parse(p, len, false).error();

    if (err != simdjson::SUCCESS) {
        return mt_json_parse_error(jp, err);
    }

    jp->src = p;
    jp->len = len;
    jp->error = NULL;

    /* the root value follows the tape's root word */
    *root = mt_json_value(jp, 1);

    return MT_JSON_OK;
}


/* simdjson's own message where it names the cause well enough */

static mt_json_err_e
mt_json_parse_error(mt_json_parser_t *jp, simdjson::error_code err)
{
    jp->error = simdjson::error_message(err);

    switch (err) {

    case simdjson::EMPTY:
        jp->error = "no JSON value, only whitespace";
        return MT_JSON_ERR_EMPTY;

    case simdjson::UTF8_ERROR:
        jp->error = "not UTF-8";
        return MT_JSON_ERR_UTF8;

    case simdjson::STRING_ERROR:
        jp->error = "a bad escape or a lone surrogate in a string";
        return MT_JSON_ERR_STRING;

    case simdjson::UNESCAPED_CHARS:
        jp->error = "a control character not escaped in a string";
        return MT_JSON_ERR_STRING;

    case simdjson::UNCLOSED_STRING:
        jp->error = "a string without its closing quote";
        return MT_JSON_ERR_STRING;

    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE:
        jp->error = "a number malformed or out of the 64-bit range";
        return MT_JSON_ERR_NUMBER;

    case simdjson::DEPTH_ERROR:
        jp->error = "nested deeper than 64 levels";
        return MT_JSON_ERR_DEPTH;

    case simdjson::MEMALLOC:
    case simdjson::CAPACITY:
        jp->error = "out of memory";
        return MT_JSON_ERR_NOMEM;

    default:
        return MT_JSON_ERR_SYNTAX;
    }
}


const char *
mt_json_error(mt_json_parser_t *jp)
{
    return jp->error ? jp->error : "no error";
}


/* the tape index past the value at i (tape_ref::after_element()) */

static inline size_t
mt_json_after(const uint64_t *tape, size_t i)
{
    uint64_t  w;

    w = tape[i];

    switch ((char) (w >> 56)) {

    case '{':
    case '[':
        /* a container's word holds the index past its closing one */
        return (uint32_t) w;

    case 'l':
    case 'u':
    case 'd':
        return i + 2;

    default:
        return i + 1;
    }
}


static tape_ref
mt_json_ref(const mt_json_t &v)
{
    const mt_json_parser_t  *jp;

    jp = (const mt_json_parser_t *) v.doc;

    return tape_ref(&jp->parser.doc, v.i);
}


static mt_json_t
mt_json_value(const mt_json_parser_t *jp, size_t i)
{
    mt_json_t  v;

    v.doc = jp;
    v.i = i;

    return v;
}


static mt_json_t
mt_json_none_value(void)
{
    mt_json_t  v;

    v.doc = NULL;
    v.i = 0;

    return v;
}


mt_json_type_e
mt_json_type(mt_json_t v)
{
    if (v.doc == NULL) {
        return MT_JSON_NONE;
    }

    switch (mt_json_ref(v).tape_ref_type()) {

    case tape_type::START_OBJECT:
        return MT_JSON_OBJECT;

    case tape_type::START_ARRAY:
        return MT_JSON_ARRAY;

    case tape_type::STRING:
        return MT_JSON_STRING;

    case tape_type::INT64:
        return MT_JSON_INT;

    case tape_type::UINT64:
        return MT_JSON_UINT;

    case tape_type::DOUBLE:
        return MT_JSON_DOUBLE;

    case tape_type::TRUE_VALUE:
        return MT_JSON_TRUE;

    case tape_type::FALSE_VALUE:
        return MT_JSON_FALSE;

    case tape_type::NULL_VALUE:
        return MT_JSON_NULL;

    default:
        return MT_JSON_NONE;
    }
}


mt_str_t
mt_json_string(mt_json_t v)
{
    mt_str_t          s;
    tape_ref          t;
    std::string_view  sv;

    s.len = 0;
    s.data = NULL;

    if (v.doc == NULL) {
        return s;
    }

    t = mt_json_ref(v);

    if (t.tape_ref_type() != tape_type::STRING) {
        return s;
    }

    sv = t.get_string_view();

    s.data = (u_char *) sv.data();
    s.len = sv.size();

    return s;
}


int
mt_json_int64(mt_json_t v, int64_t *out)
{
    tape_ref  t;

    if (v.doc == NULL) {
        return -1;
    }

    t = mt_json_ref(v);

    if (t.tape_ref_type() != tape_type::INT64) {
        return -1;
    }

    *out = t.next_tape_value<int64_t>();

    return 0;
}


int
mt_json_uint64(mt_json_t v, uint64_t *out)
{
    int64_t   n;
    tape_ref  t;

    if (v.doc == NULL) {
        return -1;
    }

    t = mt_json_ref(v);

    switch (t.tape_ref_type()) {

    case tape_type::UINT64:
        *out = t.next_tape_value<uint64_t>();
        return 0;

    case tape_type::INT64:
        n = t.next_tape_value<int64_t>();

        if (n < 0) {
            return -1;
        }

        *out = (uint64_t) n;
        return 0;

    default:
        return -1;
    }
}


int
mt_json_double(mt_json_t v, double *out)
{
    tape_ref  t;

    if (v.doc == NULL) {
        return -1;
    }

    t = mt_json_ref(v);

    switch (t.tape_ref_type()) {

    case tape_type::DOUBLE:
        *out = t.next_tape_value<double>();
        return 0;

    case tape_type::INT64:
        *out = (double) t.next_tape_value<int64_t>();
        return 0;

    case tape_type::UINT64:
        *out = (double) t.next_tape_value<uint64_t>();
        return 0;

    default:
        return -1;
    }
}


size_t
mt_json_size(mt_json_t v)
{
    size_t          n;
    tape_ref        t;
    mt_json_t       e;
    mt_json_iter_t  it;

    if (v.doc == NULL) {
        return 0;
    }

    t = mt_json_ref(v);

    if (t.tape_ref_type() != tape_type::START_ARRAY
        && t.tape_ref_type() != tape_type::START_OBJECT)
    {
        return 0;
    }

    n = t.scope_count();

    /* the count saturates at 2^24 - 1: count them then */

    if (n < simdjson::internal::JSON_COUNT_MASK) {
        return n;
    }

    n = 0;

    mt_json_array_foreach(v, it, e) {
        n++;
    }

    return n;
}


void
mt_json_iter(mt_json_iter_t *it, mt_json_t v)
{
    tape_ref  t;

    it->doc = NULL;
    it->i = 0;
    it->end = 0;
    it->object = 0;

    if (v.doc == NULL) {
        return;
    }

    t = mt_json_ref(v);

    if (t.tape_ref_type() != tape_type::START_ARRAY
        && t.tape_ref_type() != tape_type::START_OBJECT)
    {
        return;
    }

    it->doc = v.doc;
    it->i = v.i + 1;
    it->end = t.matching_brace_index() - 1;
    it->object = (t.tape_ref_type() == tape_type::START_OBJECT);
}


/* the next element of an array, the next member's value of an object */

int
mt_json_next(mt_json_iter_t *it, mt_json_t *v)
{
    mt_str_t  key;

    if (it->object) {
        return mt_json_next_member(it, &key, v);
    }

    if (it->i >= it->end) {
        return 0;
    }

    v->doc = it->doc;
    v->i = it->i;

    it->i = mt_json_ref(*v).after_element();

    return 1;
}


int
mt_json_next_member(mt_json_iter_t *it, mt_str_t *key, mt_json_t *v)
{
    mt_json_t  k;

    if (!it->object || it->i >= it->end) {
        return 0;
    }

    k.doc = it->doc;
    k.i = it->i;

    *key = mt_json_string(k);

    v->doc = it->doc;
    v->i = it->i + 1;

    it->i = mt_json_ref(*v).after_element();

    return 1;
}


/*
 * simdjson's own object::at_key does the same: the first key that
 * matches.  The loop reads the tape and the string buffer directly: it
 * runs for every member the providers look up.
 */

mt_json_t
mt_json_getn(mt_json_t obj, const u_char *key, size_t len)
{
    size_t                     i, end;
    uint32_t                   klen;
    uint64_t                   w;
    const uint8_t             *k, *sb;
    const uint64_t            *tape;
    const mt_json_parser_t    *jp;

    if (obj.doc == NULL) {
        return mt_json_none_value();
    }

    jp = (const mt_json_parser_t *) obj.doc;
    tape = jp->parser.doc.tape.get();
    sb = jp->parser.doc.string_buf.get();

    w = tape[obj.i];

    if ((w >> 56) != '{') {
        return mt_json_none_value();
    }

    /* the object's word holds the index past its closing '}' */

    end = (uint32_t) w - 1;

    /* a key's string is a 32-bit length, then the bytes */

    for (i = obj.i + 1; i < end; /* void */) {
        k = sb + (tape[i] & simdjson::internal::JSON_VALUE_MASK);
        memcpy(&klen, k, sizeof(uint32_t));

        if (klen == len
            && (len == 0
                || (k[4] == key[0] && memcmp(k + 4, key, len) == 0)))
        {
            return mt_json_value(jp, i + 1);
        }

        i = mt_json_after(tape, i + 1);
    }

    return mt_json_none_value();
}


/*
 * The wanted keys are chained by their length first, so that a member
 * is compared with the few keys of its own length only.
 */

void
mt_json_get_all(mt_json_t obj, const mt_str_t *keys, size_t n,
    mt_json_t *out)
{
    int                        j;
    size_t                     i, end, found;
    int8_t                     head[32], next[64];
    uint32_t                   klen;
    uint64_t                   w;
    const uint8_t             *k, *sb;
    const uint64_t            *tape;
    const mt_json_parser_t    *jp;

    for (i = 0; i < n; i++) {
        out[i] = mt_json_none_value();
    }

    if (obj.doc == NULL || n == 0) {
        return;
    }

    if (n > 64) {
        for (i = 0; i < n; i++) {
            out[i] = mt_json_getn(obj, keys[i].data, keys[i].len);
        }

        return;
    }

    jp = (const mt_json_parser_t *) obj.doc;
    tape = jp->parser.doc.tape.get();
    sb = jp->parser.doc.string_buf.get();

    w = tape[obj.i];

    if ((w >> 56) != '{') {
        return;
    }

    memset(head, -1, sizeof(head));

    for (j = (int) n - 1; j >= 0; j--) {
        next[j] = head[keys[j].len & 31];
        head[keys[j].len & 31] = (int8_t) j;
    }

    end = (uint32_t) w - 1;
    found = 0;

    for (i = obj.i + 1; i < end; i = mt_json_after(tape, i + 1)) {
        k = sb + (tape[i] & simdjson::internal::JSON_VALUE_MASK);
        memcpy(&klen, k, sizeof(uint32_t));

        for (j = head[klen & 31]; j >= 0; j = next[j]) {
            if (keys[j].len != klen || out[j].doc != NULL
                || (klen && memcmp(k + 4, keys[j].data, klen) != 0))
            {
                continue;
            }

            out[j] = mt_json_value(jp, i + 1);

            if (++found == n) {
                return;
            }
        }
    }
}


mt_json_t
mt_json_at(mt_json_t array, size_t i)
{
    mt_json_t       e;
    mt_json_iter_t  it;

    if (mt_json_type(array) != MT_JSON_ARRAY) {
        return mt_json_none_value();
    }

    mt_json_array_foreach(array, it, e) {
        if (i-- == 0) {
            return e;
        }
    }

    return mt_json_none_value();
}


int
mt_json_pointer_valid(const u_char *ptr, size_t len)
{
    size_t  i;

    if (len == 0) {
        return 1;
    }

    if (ptr[0] != '/') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (ptr[i] == '~'
            && (i + 1 == len || (ptr[i + 1] != '0' && ptr[i + 1] != '1')))
        {
            return 0;
        }
    }

    return 1;
}


mt_json_t
mt_json_pointer(mt_json_t v, const u_char *ptr, size_t len)
{
    size_t           idx, n;
    mt_str_t         key;
    mt_json_t        e;
    const u_char    *p, *end, *tok;
    mt_json_iter_t   it;

    if (!mt_json_pointer_valid(ptr, len)) {
        return mt_json_none_value();
    }

    p = ptr;
    end = ptr + len;

    while (p < end && v.doc != NULL) {

        /* p is at a '/' */

        tok = p + 1;
        p = (const u_char *) memchr(tok, '/', end - tok);

        if (p == NULL) {
            p = end;
        }

        n = p - tok;

        switch (mt_json_type(v)) {

        case MT_JSON_OBJECT:
            mt_json_iter(&it, v);
            v = mt_json_none_value();

            while (mt_json_next_member(&it, &key, &e)) {
                if (mt_json_token_eq(&key, tok, n)) {
                    v = e;
                    break;
                }
            }

            break;

        case MT_JSON_ARRAY:
            if (mt_json_token_index(tok, n, &idx) != 0) {
                return mt_json_none_value();
            }

            v = mt_json_at(v, idx);
            break;

        default:
            return mt_json_none_value();
        }
    }

    return v;
}


/* a key against a pointer's reference token, "~1" is '/', "~0" is '~' */

static int
mt_json_token_eq(mt_str_t *key, const u_char *tok, size_t len)
{
    size_t  i, k;
    u_char  c;

    for (i = 0, k = 0; i < len; i++, k++) {
        c = tok[i];

        if (c == '~') {
            c = (tok[++i] == '1') ? '/' : '~';
        }

        if (k >= key->len || key->data[k] != c) {
            return 0;
        }
    }

    return k == key->len;
}


/* "0", or digits without a leading zero; "-" (past the end) is none */

static int
mt_json_token_index(const u_char *tok, size_t len, size_t *idx)
{
    size_t  i, n;

    if (len == 0 || len > 9 || (tok[0] == '0' && len > 1)) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (tok[i] < '0' || tok[i] > '9') {
            return -1;
        }

        n = n * 10 + (tok[i] - '0');
    }

    *idx = n;

    return 0;
}


mt_str_t
mt_json_raw(mt_json_t v)
{
    size_t             start, stop;
    tape_ref           t;
    mt_str_t           s;
    mt_json_parser_t  *jp;

    s.len = 0;
    s.data = NULL;

    if (v.doc == NULL) {
        return s;
    }

    jp = (mt_json_parser_t *) v.doc;

    if (jp->offs_state == 0) {
        jp->offs_state = mt_json_offsets(jp);
    }

    if (jp->offs_state != 1 || v.i >= jp->noffs) {
        return s;
    }

    t = mt_json_ref(v);
    start = jp->offs[v.i];

    switch (t.tape_ref_type()) {

    case tape_type::START_OBJECT:
    case tape_type::START_ARRAY:
        stop = jp->offs[t.matching_brace_index() - 1] + 1;
        break;

    case tape_type::STRING:
        stop = mt_json_skip_string(jp->src, start, jp->len);
        break;

    case tape_type::INT64:
    case tape_type::UINT64:
    case tape_type::DOUBLE:
        stop = mt_json_skip_number(jp->src, start, jp->len);
        break;

    case tape_type::FALSE_VALUE:
        stop = start + 5;
        break;

    case tape_type::TRUE_VALUE:
    case tape_type::NULL_VALUE:
        stop = start + 4;
        break;

    default:
        return s;
    }

    if (stop > jp->len || stop <= start) {
        return s;
    }

    s.data = (u_char *) jp->src + start;
    s.len = stop - start;

    return s;
}


/*
 * Where each tape slot starts in the input: the tape holds the values
 * in input order, one slot per token (two for a number), the input adds
 * whitespace, ':' and ','.  The input parsed already, so the walk only
 * checks that each token starts as its slot says.
 */

static int
mt_json_offsets(mt_json_parser_t *jp)
{
    u_char          c;
    size_t          t, last, pos, n;
    uint32_t       *offs;
    const u_char   *s;
    const uint64_t *tape;

    if (jp->src == NULL || jp->len >= UINT32_MAX) {
        return -1;
    }

    /* the first root word holds the index past the last one */

    tape = jp->parser.doc.tape.get();
    last = (size_t) (tape[0] & simdjson::internal::JSON_VALUE_MASK) - 1;

    if (jp->noffs < last + 1) {
        offs = (uint32_t *) malloc((last + 1) * sizeof(uint32_t));
        if (offs == NULL) {
            return 0;
        }

        free(jp->offs);
        jp->offs = offs;
        jp->noffs = last + 1;
    }

    s = jp->src;
    n = jp->len;
    pos = 0;

    for (t = 1; t < last; /* void */) {

        while (pos < n && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\r'
                           || s[pos] == '\n' || s[pos] == ',' || s[pos] == ':'))
        {
            pos++;
        }

        if (pos >= n) {
            return -1;
        }

        c = s[pos];
        jp->offs[t] = (uint32_t) pos;

        switch ((char) (tape[t] >> 56)) {

        case '{':
        case '}':
        case '[':
        case ']':
            if (c != (u_char) (tape[t] >> 56)) {
                return -1;
            }

            pos++;
            t++;
            break;

        case '"':
            if (c != '"') {
                return -1;
            }

            pos = mt_json_skip_string(s, pos, n);
            t++;
            break;

        case 'l':
        case 'u':
        case 'd':
            if (c != '-' && (c < '0' || c > '9')) {
                return -1;
            }

            pos = mt_json_skip_number(s, pos, n);
            t += 2;
            break;

        case 't':
        case 'n':
        case 'f':
            if (c != (u_char) (tape[t] >> 56)) {
                return -1;
            }

            pos += (c == 'f') ? 5 : 4;
            t++;
            break;

        default:
            return -1;
        }
    }

    return 1;
}


static size_t
mt_json_skip_string(const u_char *s, size_t pos, size_t len)
{
    for (pos++; pos < len; pos++) {
        if (s[pos] == '\\') {
            pos++;
            continue;
        }

        if (s[pos] == '"') {
            return pos + 1;
        }
    }

    return len + 1;
}


static size_t
mt_json_skip_number(const u_char *s, size_t pos, size_t len)
{
    while (pos < len
           && ((s[pos] >= '0' && s[pos] <= '9') || s[pos] == '-'
               || s[pos] == '+' || s[pos] == '.' || s[pos] == 'e'
               || s[pos] == 'E'))
    {
        pos++;
    }

    return pos;
}

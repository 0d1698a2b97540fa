
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * JSON: a small C API over simdjson's DOM parser (mt_json.cpp is the only
 * file that includes simdjson).  A parser keeps its buffers from one
 * document to the next; a value is a handle into the parser's current
 * document, valid until that parser parses again or is destroyed.
 *
 * Integers are exact to 64 bits (int64, or uint64 above INT64_MAX); a
 * number beyond that fails the parse.  Strings keep "\u0000": use their
 * length.  Input must be UTF-8; lone surrogates in "\u" escapes fail.
 * A key present twice in an object: the first one wins.
 */


#ifndef _MT_JSON_H_INCLUDED_
#define _MT_JSON_H_INCLUDED_


#include "mt_core.h"


#ifdef __cplusplus
extern "C" {
#endif


/* mt_json_parse_padded(): readable bytes past the end (SIMDJSON_PADDING) */
#define MT_JSON_PADDING     64

/* containers nested deeper than this fail with MT_JSON_ERR_DEPTH */
#define MT_JSON_MAX_DEPTH   64

/* a parser keeps buffers for documents up to this size after a trim */
#define MT_JSON_KEEP        (1024 * 1024)


typedef struct mt_json_parser_s  mt_json_parser_t;


typedef enum {
    MT_JSON_NONE = 0,         /* no value: a missing member, a bad index */
    MT_JSON_NULL,
    MT_JSON_FALSE,
    MT_JSON_TRUE,
    MT_JSON_INT,              /* fits int64_t */
    MT_JSON_UINT,             /* above INT64_MAX, fits uint64_t */
    MT_JSON_DOUBLE,           /* with a fraction or an exponent */
    MT_JSON_STRING,
    MT_JSON_ARRAY,
    MT_JSON_OBJECT
} mt_json_type_e;


typedef enum {
    MT_JSON_OK = 0,
    MT_JSON_ERR_EMPTY,        /* nothing but whitespace */
    MT_JSON_ERR_SYNTAX,
    MT_JSON_ERR_UTF8,         /* the input is not UTF-8 */
    MT_JSON_ERR_STRING,       /* a bad escape, a lone surrogate */
    MT_JSON_ERR_NUMBER,       /* malformed, or beyond 64 bits */
    MT_JSON_ERR_DEPTH,        /* nested deeper than MT_JSON_MAX_DEPTH */
    MT_JSON_ERR_NOMEM
} mt_json_err_e;


/* a value: opaque, copied freely; { NULL, 0 } is MT_JSON_NONE */
typedef struct {
    const void         *doc;
    size_t              i;
} mt_json_t;


#define mt_json_none          ((mt_json_t) { NULL, 0 })


/* iteration over an array or an object: opaque */
typedef struct {
    const void         *doc;
    size_t              i;
    size_t              end;
    unsigned            object;
} mt_json_iter_t;


mt_json_parser_t *mt_json_parser_create(void);
void mt_json_parser_destroy(mt_json_parser_t *jp);

/* gives back the buffers of a document larger than MT_JSON_KEEP */
void mt_json_parser_trim(mt_json_parser_t *jp);

/*
 * Parses len bytes at p, copied into the parser's own padded buffer; on
 * success *root is the document.
 */
mt_json_err_e mt_json_parse(mt_json_parser_t *jp, const u_char *p,
    size_t len, mt_json_t *root);

/*
 * The same without the copy: p + len + MT_JSON_PADDING must be readable,
 * and p must not change while the document is in use (mt_json_raw()
 * points into it).
 */
mt_json_err_e mt_json_parse_padded(mt_json_parser_t *jp, const u_char *p,
    size_t len, mt_json_t *root);

/*
 * The parser's own buffer, size + MT_JSON_PADDING bytes, to build an
 * input in (then mt_json_parse_padded()); NULL when out of memory.  Its
 * contents go with the next mt_json_parse() or trim.
 */
u_char *mt_json_buffer(mt_json_parser_t *jp, size_t size);

/* why the last parse failed, for the log */
const char *mt_json_error(mt_json_parser_t *jp);


mt_json_type_e mt_json_type(mt_json_t v);

/* the same value of the same document */
#define mt_json_eq(a, b)      ((a).doc == (b).doc && (a).i == (b).i)

#define mt_json_is_none(v)    (mt_json_type(v) == MT_JSON_NONE)
#define mt_json_is_null(v)    (mt_json_type(v) == MT_JSON_NULL)
#define mt_json_is_true(v)    (mt_json_type(v) == MT_JSON_TRUE)
#define mt_json_is_false(v)   (mt_json_type(v) == MT_JSON_FALSE)
#define mt_json_is_string(v)  (mt_json_type(v) == MT_JSON_STRING)
#define mt_json_is_array(v)   (mt_json_type(v) == MT_JSON_ARRAY)
#define mt_json_is_object(v)  (mt_json_type(v) == MT_JSON_OBJECT)
#define mt_json_is_int(v)     (mt_json_type(v) == MT_JSON_INT)
#define mt_json_is_double(v)  (mt_json_type(v) == MT_JSON_DOUBLE)
#define mt_json_is_number(v)                                                  \
    (mt_json_type(v) >= MT_JSON_INT && mt_json_type(v) <= MT_JSON_DOUBLE)


/* a string's bytes (not NUL-terminated) and length; { 0, NULL } if none */
mt_str_t mt_json_string(mt_json_t v);

/* 0 and *out set when v is that number exactly; -1 otherwise */
int mt_json_int64(mt_json_t v, int64_t *out);
int mt_json_uint64(mt_json_t v, uint64_t *out);

/* any number, as a double; -1 if v is no number */
int mt_json_double(mt_json_t v, double *out);

/*
 * The value's text as it is in the input (a number's digits, a string
 * with its quotes and escapes, a whole object); { 0, NULL } if none.
 */
mt_str_t mt_json_raw(mt_json_t v);


/* elements of an array, members of an object; 0 for anything else */
size_t mt_json_size(mt_json_t v);

/* the member with that key (the first, if it is there twice); or none */
mt_json_t mt_json_getn(mt_json_t obj, const u_char *key, size_t len);

/* inline, so that the length of a literal key is known when compiling */
static inline mt_json_t
mt_json_get(mt_json_t obj, const char *key)
{
    return mt_json_getn(obj, (const u_char *) key, strlen(key));
}

/*
 * One pass over an object's members for many keys: out[i] is the member
 * named keys[i] (the first, if it is there twice), or none.
 */
void mt_json_get_all(mt_json_t obj, const mt_str_t *keys, size_t n,
    mt_json_t *out);

/*
 * An RFC 6901 JSON Pointer ("/a/0/b~1c"; "" is v itself) from v; none
 * when the pointer is malformed or leads nowhere.
 */
mt_json_t mt_json_pointer(mt_json_t v, const u_char *ptr, size_t len);
int mt_json_pointer_valid(const u_char *ptr, size_t len);

/* the i-th element of an array (counted from the first), or none */
mt_json_t mt_json_at(mt_json_t array, size_t i);

/* an array's elements or an object's members, in order */
void mt_json_iter(mt_json_iter_t *it, mt_json_t v);
int mt_json_next(mt_json_iter_t *it, mt_json_t *v);
int mt_json_next_member(mt_json_iter_t *it, mt_str_t *key, mt_json_t *v);

#define mt_json_array_foreach(array, it, v)                                   \
    for (mt_json_iter(&(it), array); mt_json_next(&(it), &(v)); /* void */)

#define mt_json_object_foreach(obj, it, key, v)                               \
    for (mt_json_iter(&(it), obj);                                            \
         mt_json_next_member(&(it), &(key), &(v));                            \
         /* void */)


#ifdef __cplusplus
}
#endif


#endif /* _MT_JSON_H_INCLUDED_ */

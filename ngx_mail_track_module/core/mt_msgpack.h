
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _MT_MSGPACK_H_INCLUDED_
#define _MT_MSGPACK_H_INCLUDED_


#include "mt_core.h"

#include <msgpack.h>


/* a msgpack-c packer writing into a fixed buffer, never allocating */
typedef struct {
    u_char           *start;
    u_char           *pos;
    u_char           *end;
    unsigned          overflow:1;
    msgpack_packer    pk;
} mt_mp_writer_t;


void mt_mp_writer_init(mt_mp_writer_t *w, u_char *buf, size_t size);
void mt_mp_put_str(mt_mp_writer_t *w, const u_char *s, size_t len);
void mt_mp_put_cstr(mt_mp_writer_t *w, const char *s);


/* a bounds-checked reader over untrusted bytes, for small maps */
typedef struct {
    const u_char     *pos;
    const u_char     *end;
} mt_mp_reader_t;


int mt_mp_read_map(mt_mp_reader_t *r, uint32_t *n);
int mt_mp_read_str_any(mt_mp_reader_t *r, mt_str_t *s);
int mt_mp_read_int(mt_mp_reader_t *r, int64_t *v);
int mt_mp_skip(mt_mp_reader_t *r, unsigned depth);


/* str in any width, or bin; a fixstr, nearly every one, without a call */

static inline int
mt_mp_read_str(mt_mp_reader_t *r, mt_str_t *s)
{
    size_t  len;

    if (r->pos < r->end && (*r->pos & 0xe0) == 0xa0) {
        len = *r->pos & 0x1f;

        if ((size_t) (r->end - r->pos) < 1 + len) {
            return -1;
        }

        s->data = (u_char *) r->pos + 1;
        s->len = len;
        r->pos += 1 + len;

        return 0;
    }

    return mt_mp_read_str_any(r, s);
}


#endif /* _MT_MSGPACK_H_INCLUDED_ */

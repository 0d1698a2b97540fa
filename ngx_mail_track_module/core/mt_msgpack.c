
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#include "mt_msgpack.h"


static int mt_mp_write(void *data, const char *buf, size_t len);
static int mt_mp_need(mt_mp_reader_t *r, size_t n);
static uint64_t mt_mp_be(const u_char *p, size_t n);


static int
mt_mp_write(void *data, const char *buf, size_t len)
{
    mt_mp_writer_t  *w = data;

    if ((size_t) (w->end - w->pos) < len) {
        w->overflow = 1;
        return -1;
    }

    memcpy(w->pos, buf, len);
    w->pos += len;

    return 0;
}


void
mt_mp_writer_init(mt_mp_writer_t *w, u_char *buf, size_t size)
{
    w->start = buf;
    w->pos = buf;
    w->end = buf + size;
    w->overflow = 0;

    msgpack_packer_init(&w->pk, w, mt_mp_write);
}


void
mt_mp_put_str(mt_mp_writer_t *w, const u_char *s, size_t len)
{
    msgpack_pack_str(&w->pk, len);
    msgpack_pack_str_body(&w->pk, s, len);
}


void
mt_mp_put_cstr(mt_mp_writer_t *w, const char *s)
{
    mt_mp_put_str(w, (const u_char *) s, strlen(s));
}


static int
mt_mp_need(mt_mp_reader_t *r, size_t n)
{
    return (size_t) (r->end - r->pos) >= n;
}


static uint64_t
mt_mp_be(const u_char *p, size_t n)
{
    uint64_t  v;

    for (v = 0; n; n--) {
        v = v << 8 | *p++;
    }

    return v;
}


int
mt_mp_read_map(mt_mp_reader_t *r, uint32_t *n)
{
    u_char  c;

    if (!mt_mp_need(r, 1)) {
        return -1;
    }

    c = *r->pos;

    if ((c & 0xf0) == 0x80) {
        r->pos++;
        *n = c & 0x0f;
        return 0;
    }

    if (c == 0xde && mt_mp_need(r, 3)) {
        *n = (uint32_t) mt_mp_be(r->pos + 1, 2);
        r->pos += 3;
        return 0;
    }

    if (c == 0xdf && mt_mp_need(r, 5)) {
        *n = (uint32_t) mt_mp_be(r->pos + 1, 4);
        r->pos += 5;
        return 0;
    }

    return -1;
}


/* str in any width; bin too, as some encoders write strings as bin */

int
mt_mp_read_str_any(mt_mp_reader_t *r, mt_str_t *s)
{
    u_char  c;
    size_t  hdr, len;

    if (!mt_mp_need(r, 1)) {
        return -1;
    }

    c = *r->pos;

    if ((c & 0xe0) == 0xa0) {
        hdr = 1;
        len = c & 0x1f;

    } else if ((c == 0xd9 || c == 0xc4) && mt_mp_need(r, 2)) {
        hdr = 2;
        len = r->pos[1];

    } else if ((c == 0xda || c == 0xc5) && mt_mp_need(r, 3)) {
        hdr = 3;
        len = (size_t) mt_mp_be(r->pos + 1, 2);

    } else if ((c == 0xdb || c == 0xc6) && mt_mp_need(r, 5)) {
        hdr = 5;
        len = (size_t) mt_mp_be(r->pos + 1, 4);

    } else {
        return -1;
    }

    if (!mt_mp_need(r, hdr + len)) {
        return -1;
    }

    s->data = (u_char *) r->pos + hdr;
    s->len = len;
    r->pos += hdr + len;

    return 0;
}


int
mt_mp_read_int(mt_mp_reader_t *r, int64_t *v)
{
    u_char    c;
    size_t    n;
    uint64_t  u;

    if (!mt_mp_need(r, 1)) {
        return -1;
    }

    c = *r->pos;

    if (c <= 0x7f) {
        *v = c;
        r->pos++;
        return 0;
    }

    if (c >= 0xe0) {
        *v = (int8_t) c;
        r->pos++;
        return 0;
    }

    switch (c) {
    case 0xcc: case 0xd0: n = 1; break;
    case 0xcd: case 0xd1: n = 2; break;
    case 0xce: case 0xd2: n = 4; break;
    case 0xcf: case 0xd3: n = 8; break;
    default: return -1;
    }

    if (!mt_mp_need(r, 1 + n)) {
        return -1;
    }

    u = mt_mp_be(r->pos + 1, n);
    r->pos += 1 + n;

    if (c >= 0xd0) {
        /* signed: sign-extend from n bytes */
        if (n < 8 && (u >> (n * 8 - 1)) & 1) {
            u |= ~(uint64_t) 0 << (n * 8);
        }

        *v = (int64_t) u;
        return 0;
    }

    if (u > INT64_MAX) {
        return -1;
    }

    *v = (int64_t) u;

    return 0;
}


int
mt_mp_skip(mt_mp_reader_t *r, unsigned depth)
{
    u_char    c;
    size_t    hdr;
    uint64_t  n, i;
    mt_str_t  s;

    if (depth == 0 || !mt_mp_need(r, 1)) {
        return -1;
    }

    c = *r->pos;

    if (c <= 0x7f || c >= 0xe0) {
        r->pos++;
        return 0;
    }

    switch (c) {
    case 0xcc: case 0xd0: hdr = 2; goto fixed;
    case 0xcd: case 0xd1: hdr = 3; goto fixed;
    case 0xce: case 0xd2: hdr = 5; goto fixed;
    case 0xcf: case 0xd3: hdr = 9; goto fixed;
    default: break;
    }

    if ((c & 0xe0) == 0xa0 || (c >= 0xc4 && c <= 0xc6)
        || (c >= 0xd9 && c <= 0xdb))
    {
        return mt_mp_read_str(r, &s);
    }

    switch (c) {
    case 0xc0: case 0xc2: case 0xc3:
        r->pos++;
        return 0;
    case 0xca:
        hdr = 5;
        goto fixed;
    case 0xcb:
        hdr = 9;
        goto fixed;
    case 0xd4: hdr = 3; goto fixed;
    case 0xd5: hdr = 4; goto fixed;
    case 0xd6: hdr = 6; goto fixed;
    case 0xd7: hdr = 10; goto fixed;
    case 0xd8: hdr = 18; goto fixed;
    case 0xc7: case 0xc8: case 0xc9:
        n = (c == 0xc7) ? 1 : (c == 0xc8) ? 2 : 4;
        if (!mt_mp_need(r, 1 + n)) {
            return -1;
        }
        hdr = 2 + n + mt_mp_be(r->pos + 1, n);
        goto fixed;
    default:
        break;
    }

    if ((c & 0xf0) == 0x90) {
        n = c & 0x0f;
        r->pos++;

    } else if ((c == 0xdc || c == 0xde) && mt_mp_need(r, 3)) {
        n = mt_mp_be(r->pos + 1, 2);
        r->pos += 3;

    } else if ((c == 0xdd || c == 0xdf) && mt_mp_need(r, 5)) {
        n = mt_mp_be(r->pos + 1, 4);
        r->pos += 5;

    } else if ((c & 0xf0) == 0x80) {
        n = c & 0x0f;
        r->pos++;
        c = 0xde;

    } else {
        return -1;
    }

    if (c == 0xde || c == 0xdf) {
        n *= 2;
    }

    for (i = 0; i < n; i++) {
        if (mt_mp_skip(r, depth - 1) != 0) {
            return -1;
        }
    }

    return 0;

fixed:

    if (!mt_mp_need(r, hdr)) {
        return -1;
    }

    r->pos += hdr;

    return 0;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * A block of rows in ClickHouse's Native format, the format of its own
 * client and servers: per block the number of columns and of rows (as
 * variable-length integers), then each column whole: its name, its type
 * and its values (integers little-endian, a string as its length and
 * bytes; a Nullable column its NULL map first).  The server reads the
 * whole block before it writes anything, so an INSERT of one block cut
 * short by a dropped connection inserts nothing (a row format such as
 * RowBinary would insert the rows that arrived).
 */


#include "mt_tool_clickhouse.h"

#include <endian.h>


static void mt_ch_varint(mt_tool_buf_t *b, uint64_t v);
static void mt_ch_byte(mt_tool_buf_t *b, u_char c);


int
mt_ch_block_init(mt_ch_block_t *b, const char *table,
    const mt_ch_col_t *cols, size_t ncols)
{
    memset(b, 0, sizeof(mt_ch_block_t));

    b->table = table;
    b->cols = cols;
    b->ncols = ncols;

    b->data = calloc(ncols, sizeof(mt_tool_buf_t));
    b->nulls = calloc(ncols, sizeof(mt_tool_buf_t));

    if (b->data == NULL || b->nulls == NULL) {
        return -1;
    }

    return 0;
}


void
mt_ch_block_free(mt_ch_block_t *b)
{
    size_t  i;

    for (i = 0; b->data != NULL && i < b->ncols; i++) {
        mt_tool_buf_free(&b->data[i]);
        mt_tool_buf_free(&b->nulls[i]);
    }

    free(b->data);
    free(b->nulls);

    b->data = NULL;
    b->nulls = NULL;
    b->rows = 0;
}


void
mt_ch_block_reset(mt_ch_block_t *b)
{
    size_t  i;

    for (i = 0; i < b->ncols; i++) {
        b->data[i].len = 0;
        b->data[i].nomem = 0;
        b->nulls[i].len = 0;
        b->nulls[i].nomem = 0;
    }

    b->rows = 0;
}


int
mt_ch_block_nomem(const mt_ch_block_t *b)
{
    size_t  i;

    for (i = 0; i < b->ncols; i++) {
        if (b->data[i].nomem || b->nulls[i].nomem) {
            return 1;
        }
    }

    return 0;
}


void
mt_ch_str(mt_ch_block_t *b, size_t i, const u_char *p, size_t len)
{
    mt_tool_buf_t  *d;

    if (b->cols[i].nullable) {
        mt_ch_byte(&b->nulls[i], len == 0);
    }

    d = &b->data[i];

    if (mt_tool_buf_reserve(d, len + 10) != 0) {
        return;
    }

    mt_ch_varint(d, len);

    if (len) {
        memcpy(d->data + d->len, p, len);
        d->len += len;
    }
}


void
mt_ch_int(mt_ch_block_t *b, size_t i, int64_t v, int known)
{
    size_t          n;
    uint64_t        le;
    mt_tool_buf_t  *d;

    if (b->cols[i].nullable) {
        mt_ch_byte(&b->nulls[i], !known);
    }

    n = (b->cols[i].base == MT_CH_UINT8) ? 1
        : (b->cols[i].base == MT_CH_UINT16) ? 2 : 8;

    d = &b->data[i];

    if (d->size - d->len < 8 && mt_tool_buf_reserve(d, 8) != 0) {
        return;
    }

    /* little-endian whatever the machine: the first n bytes */

    le = htole64(known ? (uint64_t) v : 0);
    memcpy(d->data + d->len, &le, 8);
    d->len += n;
}


void
mt_ch_block_native(const mt_ch_block_t *b, mt_tool_buf_t *out)
{
    size_t  i, total;

    total = 16;

    for (i = 0; i < b->ncols; i++) {
        total += 64 + b->data[i].len + b->nulls[i].len;
    }

    if (mt_tool_buf_reserve(out, total) != 0) {
        return;
    }

    mt_ch_varint(out, b->ncols);
    mt_ch_varint(out, b->rows);

    for (i = 0; i < b->ncols; i++) {
        mt_ch_varint(out, strlen(b->cols[i].name));
        mt_tool_buf_add_cstr(out, b->cols[i].name);
        mt_ch_varint(out, strlen(b->cols[i].type));
        mt_tool_buf_add_cstr(out, b->cols[i].type);

        if (b->cols[i].nullable && b->nulls[i].len) {
            mt_tool_buf_add(out, b->nulls[i].data, b->nulls[i].len);
        }

        if (b->data[i].len) {
            mt_tool_buf_add(out, b->data[i].data, b->data[i].len);
        }
    }
}


/* LEB128, as ClickHouse writes lengths and counts */

static void
mt_ch_varint(mt_tool_buf_t *b, uint64_t v)
{
    u_char  *p;

    if (mt_tool_buf_reserve(b, 10) != 0) {
        return;
    }

    p = b->data + b->len;

    while (v >= 0x80) {
        *p++ = (u_char) (v | 0x80);
        v >>= 7;
    }

    *p++ = (u_char) v;

    b->len = p - b->data;
}


static void
mt_ch_byte(mt_tool_buf_t *b, u_char c)
{
    if (b->len < b->size) {
        b->data[b->len++] = c;
        return;
    }

    mt_tool_buf_add(b, &c, 1);
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The output of the query commands: an aligned table for a person at a
 * terminal, JSON for a program (the default when stdout is not a
 * terminal), or CSV for a spreadsheet.  JSON and CSV rows are written
 * as they come; a table is kept until its end to align its columns.
 */


#include "mt_tool_query.h"

#include <time.h>
#include <unistd.h>


#define mt_out_title(col)  ((col)->title ? (col)->title : (col)->name)


static void mt_out_cell(mt_out_t *o, const mt_out_col_t *c,
    const mt_out_val_t *v, mt_tool_buf_t *b);
static void mt_out_csv_str(mt_tool_buf_t *b, const char *s, size_t len);
static size_t mt_out_rate(char *buf, double r, int percent);
static size_t mt_out_width(const u_char *p, size_t len);
static int mt_out_rules(mt_out_t *o);
static void mt_out_table(mt_out_t *o);


/* "--format X": X, else a table on a terminal and JSON otherwise */

int
mt_out_format(const char *cmd, const char *arg, mt_out_format_e *fmt)
{
    if (arg == NULL) {
        *fmt = isatty(STDOUT_FILENO) ? MT_OUT_TABLE : MT_OUT_JSON;
        return 0;
    }

    if (strcmp(arg, "table") == 0) {
        *fmt = MT_OUT_TABLE;

    } else if (strcmp(arg, "json") == 0) {
        *fmt = MT_OUT_JSON;

    } else if (strcmp(arg, "csv") == 0) {
        *fmt = MT_OUT_CSV;

    } else {
        (void) mt_tool_usage_error(cmd, "--format \"%s\": expected table, "
                                   "json or csv", arg);
        return -1;
    }

    return 0;
}


void
mt_out_init(mt_out_t *o, FILE *f, mt_out_format_e fmt,
    const mt_out_col_t *cols, int ncols, int list)
{
    int  i;

    memset(o, 0, sizeof(mt_out_t));

    o->f = f;
    o->format = fmt;
    o->cols = cols;
    o->ncols = ncols;
    o->list = list ? 1 : 0;

    if (fmt == MT_OUT_TABLE) {
        o->widths = calloc(ncols, sizeof(size_t));
        if (o->widths == NULL) {
            o->failed = 1;
            return;
        }

        for (i = 0; i < ncols; i++) {
            o->widths[i] = strlen(mt_out_title(&cols[i]));
        }

        return;
    }

    if (fmt == MT_OUT_CSV) {
        for (i = 0; i < ncols; i++) {
            fprintf(o->f, "%s%s", i ? "," : "", cols[i].name);
        }

        fputc('\n', o->f);
    }
}


/*
 * A table keeps its cells NUL-terminated, one after the other, in
 * o->buf; a JSON or CSV row goes out at once, o->buf holding one row.
 */

void
mt_out_row(mt_out_t *o, const mt_out_val_t *v)
{
    int      i;
    size_t   start, w;

    if (o->failed) {
        return;
    }

    if (o->format == MT_OUT_TABLE) {
        for (i = 0; i < o->ncols; i++) {
            start = o->buf.len;
            mt_out_cell(o, &o->cols[i], &v[i], &o->buf);
            w = mt_out_width(o->buf.data + start, o->buf.len - start);
            o->widths[i] = mt_max(o->widths[i], w);
            mt_tool_buf_add(&o->buf, "", 1);
        }

        if (mt_out_rules(o) != 0) {
            return;
        }

        goto done;
    }

    /* JSON or CSV: the row in o->buf, then out */

    o->buf.len = 0;

    if (o->format == MT_OUT_JSON) {
        if (o->list) {
            mt_tool_buf_add_cstr(&o->buf, o->nrows ? ",\n" : "[\n");
        }

        mt_out_json_object(&o->buf, o->cols, o->ncols, v);

        if (!o->list) {
            mt_tool_buf_add(&o->buf, "\n", 1);
        }

    } else {
        for (i = 0; i < o->ncols; i++) {
            if (i) {
                mt_tool_buf_add(&o->buf, ",", 1);
            }

            mt_out_cell(o, &o->cols[i], &v[i], &o->buf);
        }

        mt_tool_buf_add(&o->buf, "\n", 1);
    }

    if (!o->buf.nomem) {
        fwrite(o->buf.data, 1, o->buf.len, o->f);
    }

done:

    if (o->buf.nomem) {
        o->failed = 1;
    }

    o->nrows++;
}


/* a table: a line of dashes above the next row (a total) */

void
mt_out_rule(mt_out_t *o)
{
    if (o->format != MT_OUT_TABLE || o->failed || mt_out_rules(o) != 0) {
        return;
    }

    o->rules[o->nrows] = 1;
}


/* room for a flag of the row to come, and of every row before */

static int
mt_out_rules(mt_out_t *o)
{
    size_t    n;
    uint8_t  *rules;

    if (o->nrows < o->nalloc) {
        return 0;
    }

    n = o->nalloc ? 2 * o->nalloc : 64;

    rules = realloc(o->rules, n);
    if (rules == NULL) {
        o->failed = 1;
        return -1;
    }

    memset(rules + o->nalloc, 0, n - o->nalloc);
    o->rules = rules;
    o->nalloc = n;

    return 0;
}


/* -1 when something could not be written (reported) */

int
mt_out_end(mt_out_t *o)
{
    int  rc;

    if (!o->failed) {
        if (o->format == MT_OUT_TABLE) {
            mt_out_table(o);

        } else if (o->format == MT_OUT_JSON && o->list) {
            fputs(o->nrows ? "\n]\n" : "[]\n", o->f);
        }
    }

    rc = 0;

    if (o->failed) {
        mt_tool_error("out of memory");
        rc = -1;
    }

    mt_tool_buf_free(&o->buf);
    free(o->widths);
    free(o->rules);
    o->widths = NULL;
    o->rules = NULL;

    return rc;
}


void
mt_out_json_object(mt_tool_buf_t *b, const mt_out_col_t *cols, int ncols,
    const mt_out_val_t *v)
{
    int     i;
    char    num[64];
    size_t  n;

    mt_tool_buf_add(b, "{", 1);

    for (i = 0; i < ncols; i++) {
        if (i) {
            mt_tool_buf_add(b, ",", 1);
        }

        mt_tool_json_str(b, (const u_char *) cols[i].name,
                         strlen(cols[i].name));
        mt_tool_buf_add(b, ":", 1);

        if (v[i].null) {
            mt_tool_buf_add(b, "null", 4);
            continue;
        }

        switch (cols[i].type) {
        case MT_COL_STR:
            mt_tool_json_str(b, (const u_char *) v[i].str, v[i].len);
            break;
        case MT_COL_INT:
        case MT_COL_TIME:
            mt_tool_json_int(b, v[i].num);
            break;
        case MT_COL_RATE:
            n = mt_out_rate(num, v[i].rate, 0);
            mt_tool_buf_add(b, num, n);
            break;
        }
    }

    mt_tool_buf_add(b, "}", 1);
}


static void
mt_out_cell(mt_out_t *o, const mt_out_col_t *c, const mt_out_val_t *v,
    mt_tool_buf_t *b)
{
    char           num[64];
    size_t         n;
    u_char        *d;
    const u_char  *p, *end;

    if (v->null) {
        if (o->format == MT_OUT_TABLE) {
            mt_tool_buf_add(b, "-", 1);
        }

        return;
    }

    switch (c->type) {

    case MT_COL_STR:
        if (o->format == MT_OUT_CSV) {
            mt_out_csv_str(b, v->str, v->len);
            return;
        }

        /* a table shows no control characters: they would break it */

        if (mt_tool_buf_reserve(b, v->len) != 0) {
            return;
        }

        d = b->data + b->len;

        for (p = (const u_char *) v->str, end = p + v->len; p < end; p++) {
            *d++ = (*p < 0x20 || *p == 0x7f) ? '?' : *p;
        }

        b->len = d - b->data;
        return;

    case MT_COL_INT:
        n = snprintf(num, sizeof(num), "%lld", (long long) v->num);
        break;

    case MT_COL_TIME:
        n = mt_out_time(num, v->num, o->format == MT_OUT_CSV);
        break;

    default: /* MT_COL_RATE */
        n = mt_out_rate(num, v->rate, o->format == MT_OUT_TABLE);
        break;
    }

    mt_tool_buf_add(b, num, n);
}


/*
 * RFC 4180: quoted when it holds a comma, a quote or a line break (or
 * begins or ends with a space, which some readers would drop)
 */

static void
mt_out_csv_str(mt_tool_buf_t *b, const char *s, size_t len)
{
    size_t       i;
    const char  *p, *end, *q;

    for (i = 0; i < len; i++) {
        if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n') {
            break;
        }
    }

    if (i == len && !(len && (s[0] == ' ' || s[len - 1] == ' '))) {
        mt_tool_buf_add(b, s, len);
        return;
    }

    mt_tool_buf_add(b, "\"", 1);

    for (p = s, end = s + len; p < end; p = q + 1) {
        q = memchr(p, '"', end - p);

        if (q == NULL) {
            mt_tool_buf_add(b, p, end - p);
            break;
        }

        mt_tool_buf_add(b, p, q - p + 1);
        mt_tool_buf_add(b, "\"", 1);
    }

    mt_tool_buf_add(b, "\"", 1);
}


/*
 * ms since the epoch, UTC: "2026-01-05T10:00:00Z" (iso), else
 * "2026-01-05 10:00:00" for a person
 */

size_t
mt_out_time(char *buf, int64_t ms, int iso)
{
    time_t     t;
    struct tm  tm;

    t = (time_t) (ms / 1000);

    if (gmtime_r(&t, &tm) == NULL) {
        return snprintf(buf, 32, "%lld", (long long) ms);
    }

    return strftime(buf, 32, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S",
                    &tm);
}


/* a fraction to 6 places ("0.25", "1"), or a percentage to 2 */

static size_t
mt_out_rate(char *buf, double r, int percent)
{
    size_t  n;

    if (percent) {
        return snprintf(buf, 32, "%.2f%%", r * 100);
    }

    n = snprintf(buf, 32, "%.6f", r);

    while (buf[n - 1] == '0') {
        n--;
    }

    if (buf[n - 1] == '.') {
        n--;
    }

    buf[n] = '\0';

    return n;
}


/* characters, not bytes: continuation bytes take no column */

static size_t
mt_out_width(const u_char *p, size_t len)
{
    size_t  i, w;

    w = 0;

    for (i = 0; i < len; i++) {
        w += (p[i] & 0xc0) != 0x80;
    }

    return w;
}


static void
mt_out_table(mt_out_t *o)
{
    int            i, right;
    size_t         r, w, total, pad, len;
    const u_char  *p, *cell;

    total = 0;

    for (i = 0; i < o->ncols; i++) {
        total += o->widths[i] + (i ? 2 : 0);
    }

    p = o->buf.data;

    for (r = 0; r <= o->nrows; r++) {
        if (r > 0 && o->rules[r - 1]) {
            for (w = 0; w < total; w++) {
                fputc('-', o->f);
            }

            fputc('\n', o->f);
        }

        for (i = 0; i < o->ncols; i++) {
            if (r == 0) {
                cell = (const u_char *) mt_out_title(&o->cols[i]);
                len = strlen((const char *) cell);

            } else {
                cell = p;
                len = strlen((const char *) p);
                p += len + 1;
            }

            w = mt_out_width(cell, len);
            pad = o->widths[i] - w;
            right = (o->cols[i].type != MT_COL_STR);

            if (i) {
                fputs("  ", o->f);
            }

            if (right) {
                fprintf(o->f, "%*s", (int) pad, "");
            }

            fwrite(cell, 1, len, o->f);

            if (!right && i < o->ncols - 1) {
                fprintf(o->f, "%*s", (int) pad, "");
            }
        }

        fputc('\n', o->f);
    }
}


/* a column of a row as text: a string, or NULL */

void
mt_out_str(mt_out_val_t *v, const char *s, size_t len)
{
    memset(v, 0, sizeof(mt_out_val_t));

    v->str = s;
    v->len = len;
    v->null = (s == NULL);
}


void
mt_out_num(mt_out_val_t *v, const char *s)
{
    memset(v, 0, sizeof(mt_out_val_t));

    v->null = (s == NULL);
    v->num = s ? strtoll(s, NULL, 10) : 0;
}

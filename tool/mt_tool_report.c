
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mail-track report: per day, hour, tag, source or recipient domain,
 * how many messages were sent, delivered, bounced, opened ... and the
 * rates a deliverability person reads.  The definitions are the two
 * tables below, the only place they are written (docs/loading.md,
 * "Reports", says the same in words):
 *
 *   - an event counts in the window and the group of its own time and
 *     its own fields (the day of a delivery is the day of the delivered
 *     event, not of the sending);
 *   - every count is of distinct messages (the record's mid, else its
 *     event id): a message opened five times by a person is one human
 *     open; one that bounced soft, then hard, is one bounce, one soft
 *     and one hard;
 *   - the rates are computed here from those integers, so every backend
 *     prints the same digits.
 *
 * The SQL is plain enough for every SQL backend: CASE, max, sum, an
 * integer remainder for days and hours, a subquery.  Only the domain of
 * a recipient comes from the backend (rcpt_domain_sql), because the
 * loader's normalization (core/mt_rcpt.c) is not a standard function.
 */


#include "mt_tool_query.h"

#include <getopt.h>
#include <time.h>


#define MT_REPORT_SINCE         "7d"


typedef enum {
    MT_RM_SENT = 0,
    MT_RM_DELIVERED,
    MT_RM_DEFERRED,
    MT_RM_BOUNCED,
    MT_RM_HARD,
    MT_RM_SOFT,
    MT_RM_BLOCK,
    MT_RM_REJECTED,
    MT_RM_COMPLAINED,
    MT_RM_UNSUBSCRIBED,
    MT_RM_HUMAN_OPENS,
    MT_RM_MACHINE_OPENS,
    MT_RM_HUMAN_CLICKS,
    MT_RM_MAX
} mt_report_metric_e;


typedef struct {
    const char                 *name;
    const char                 *title;      /* a table's header */
    const char                 *when;       /* SQL: an event that counts */
} mt_report_metric_t;


typedef struct {
    const char                 *name;
    const char                 *title;
    mt_report_metric_e          num;
    mt_report_metric_e          den;
} mt_report_rate_t;


typedef enum {
    MT_BY_NONE = 0,
    MT_BY_DAY,
    MT_BY_HOUR,
    MT_BY_TAG,
    MT_BY_SRC,
    MT_BY_DOMAIN
} mt_report_by_e;


typedef struct {
    const char                 *name;
    const char                 *sql;        /* NULL: the backend's */
} mt_report_by_t;


typedef struct {
    char                       *key;        /* NULL: none */
    int64_t                     v[MT_RM_MAX];
} mt_report_row_t;


typedef struct {
    mt_report_by_e              by;
    mt_report_row_t            *rows;
    size_t                      n;
    size_t                      nalloc;
    mt_report_row_t             total;
    unsigned                    nomem:1;
} mt_report_t;


static int mt_report_usage(FILE *f);
static int mt_report_sql(mt_tool_buf_t *b, const char *group);
static int mt_report_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_report_total(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_report_cmp_num(const void *a, const void *b);
static int mt_report_cmp_str(const void *a, const void *b);
static void mt_report_vals(const mt_report_t *r, const mt_report_row_t *row,
    mt_out_val_t *v, char *label);
static int mt_report_print(mt_report_t *r, mt_out_format_e fmt,
    int64_t since, int64_t until);


/*
 * An event's message is coalesce(mid, id); "human" is a machine flag
 * that is false or unknown.  Each line: the column, a table's title,
 * and the events that make a message count.
 */
static const mt_report_metric_t  mt_report_metrics[MT_RM_MAX] = {
    { "sent", "sent", "type = 'sent'" },
    { "delivered", "deliv", "type = 'delivered'" },
    { "deferred", "defer", "type = 'deferred'" },
    { "bounced", "bounce", "type = 'bounced'" },
    { "hard", "hard", "type = 'bounced' AND bounce = 'hard'" },
    { "soft", "soft", "type = 'bounced' AND bounce = 'soft'" },
    { "block", "block", "type = 'bounced' AND bounce = 'block'" },
    { "rejected", "reject", "type = 'rejected'" },
    { "complained", "compl", "type = 'complained'" },
    { "unsubscribed", "unsub", "type = 'unsubscribed'" },
    { "human_opens", "opens",
      "type = 'opened' AND (machine IS NULL OR NOT machine)" },
    { "machine_opens", "m.opens", "type = 'opened' AND machine" },
    { "human_clicks", "clicks",
      "type = 'clicked' AND (machine IS NULL OR NOT machine)" }
};


/* a rate is null when its denominator is 0 */
static const mt_report_rate_t  mt_report_rates[] = {
    { "delivery_rate", "deliv%", MT_RM_DELIVERED, MT_RM_SENT },
    { "bounce_rate", "bounce%", MT_RM_BOUNCED, MT_RM_SENT },
    { "complaint_rate", "compl%", MT_RM_COMPLAINED, MT_RM_DELIVERED },
    { "open_rate", "open%", MT_RM_HUMAN_OPENS, MT_RM_DELIVERED },
    { "click_rate", "click%", MT_RM_HUMAN_CLICKS, MT_RM_DELIVERED }
};

#define MT_REPORT_NRATES                                                      \
    (sizeof(mt_report_rates) / sizeof(mt_report_rates[0]))

#define MT_REPORT_NCOLS         (1 + MT_RM_MAX + MT_REPORT_NRATES)


/* the groups: UTC days and hours as the ms they start at */
static const mt_report_by_t  mt_report_by[] = {
    { NULL, NULL },
    { "day", "at - at % 86400000" },
    { "hour", "at - at % 3600000" },
    { "tag", "tag" },
    { "src", "src" },
    { "domain", NULL }
};


static const struct option  mt_report_options[] = {
    { "db",       required_argument, NULL, 'd' },
    { "since",    required_argument, NULL, 's' },
    { "until",    required_argument, NULL, 'u' },
    { "by",       required_argument, NULL, 'b' },
    { "format",   required_argument, NULL, MT_OPT_FORMAT },
    { "help",     no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static int
mt_report_usage(FILE *f)
{
    fprintf(f,
        "usage: " MT_TOOL_NAME " report --db URL [--since WHEN] "
        "[--until WHEN]\n"
        "           [--by day|hour|tag|src|domain] "
        "[--format table|json|csv]\n"
        "\n"
        "Counts, per group, the distinct messages that were sent,\n"
        "delivered, deferred, bounced (hard, soft, block), rejected,\n"
        "complained about, unsubscribed, opened and clicked by a person,\n"
        "and opened by a machine; and the rates: delivery and bounce over\n"
        "sent, complaint, open and click over delivered.  An event counts\n"
        "in the group of its own time, tag, source and recipient domain.\n"
        "\n"
        "options:\n"
        "  --db URL       sqlite:PATH, postgresql://... or\n"
        "                 clickhouse://HOST:PORT/DB; required\n"
        "  --since WHEN   from WHEN (default 7d): a duration back from now\n"
        "                 (90m, 12h, 7d, 2w) or a UTC time (2026-01-31,\n"
        "                 2026-01-31T12:00:00Z)\n"
        "  --until WHEN   up to, not including, WHEN (default: now)\n"
        "  --by GROUP     one row per UTC day, hour, tag, source (track or\n"
        "                 the provider) or recipient domain, and a total\n"
        "  --format F     table (the default on a terminal), json (else)\n"
        "                 or csv\n"
        "  -h, --help     this text\n");

    return MT_TOOL_OK;
}


int
mt_tool_report(int argc, char **argv)
{
    int               c, rc;
    char              since_ms[24], until_ms[24];
    size_t            i;
    int64_t           now, since, until;
    mt_db_t           db;
    const char       *url, *since_arg, *until_arg, *by, *format, *group;
    const char       *params[2];
    mt_report_t       r;
    mt_tool_buf_t     sql;
    mt_out_format_e   fmt;

    url = NULL;
    since_arg = MT_REPORT_SINCE;
    until_arg = NULL;
    by = NULL;
    format = NULL;

    optind = 1;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", mt_report_options, NULL))
           != -1)
    {
        switch (c) {
        case 'd':
            url = optarg;
            break;
        case 's':
            since_arg = optarg;
            break;
        case 'u':
            until_arg = optarg;
            break;
        case 'b':
            by = optarg;
            break;
        case MT_OPT_FORMAT:
            format = optarg;
            break;
        case 'h':
            return mt_report_usage(stdout);
        default:
            return mt_tool_bad_option("report", c, argv);
        }
    }

    if (url == NULL) {
        return mt_tool_usage_error("report", "--db URL is required");
    }

    if (optind != argc) {
        return mt_tool_usage_error("report", "unexpected argument \"%s\"",
                                   argv[optind]);
    }

    memset(&r, 0, sizeof(mt_report_t));

    if (by != NULL) {
        for (i = 1; i < sizeof(mt_report_by) / sizeof(mt_report_by[0]); i++)
        {
            if (strcmp(by, mt_report_by[i].name) == 0) {
                r.by = (mt_report_by_e) i;
            }
        }

        if (r.by == MT_BY_NONE) {
            return mt_tool_usage_error("report", "--by \"%s\": expected day, "
                                       "hour, tag, src or domain", by);
        }
    }

    if (mt_out_format("report", format, &fmt) != 0) {
        return MT_TOOL_USAGE;
    }

    now = mt_query_now();

    if (mt_query_when("report", "--since", since_arg, now, &since) != 0
        || (until_arg != NULL
            && mt_query_when("report", "--until", until_arg, now, &until)
               != 0))
    {
        return MT_TOOL_USAGE;
    }

    if (until_arg == NULL) {
        until = now;
    }

    if (since >= until) {
        return mt_tool_usage_error("report", "--since %s is not before "
                                   "--until %s", since_arg,
                                   until_arg ? until_arg : "now");
    }

    if (mt_query_open(&db, url) != 0) {
        return MT_TOOL_ERROR;
    }

    snprintf(since_ms, sizeof(since_ms), "%lld", (long long) since);
    snprintf(until_ms, sizeof(until_ms), "%lld", (long long) until);
    params[0] = since_ms;
    params[1] = until_ms;

    mt_tool_buf_init(&sql);
    rc = MT_DB_OK;

    /* the groups, then the total: distinct messages do not add up */

    if (r.by != MT_BY_NONE) {
        group = mt_report_by[r.by].sql;

        if (group == NULL) {
            group = db.backend->rcpt_domain_sql;

            if (group == NULL) {
                mt_tool_error("%s: --by domain is not available for %s "
                              "databases", db.url, db.backend->name);
                mt_db_close(&db);
                return MT_TOOL_ERROR;
            }
        }

        if (mt_report_sql(&sql, group) != 0) {
            rc = MT_DB_ERROR;

        } else {
            rc = db.backend->query(&db, (char *) sql.data, params, 2,
                                   mt_report_row, &r);
        }
    }

    sql.len = 0;

    if (rc == MT_DB_OK) {
        if (mt_report_sql(&sql, NULL) != 0) {
            rc = MT_DB_ERROR;

        } else {
            rc = db.backend->query(&db, (char *) sql.data, params, 2,
                                   mt_report_total, &r);
        }
    }

    if (rc != MT_DB_OK || sql.nomem || r.nomem) {
        if (sql.nomem || r.nomem) {
            mt_tool_error("out of memory");

        } else {
            mt_tool_error("%s: %s", db.url, db.err);
        }

        rc = MT_DB_ERROR;
    }

    mt_tool_buf_free(&sql);
    mt_db_close(&db);

    if (rc == MT_DB_OK) {
        if (r.n) {
            qsort(r.rows, r.n, sizeof(mt_report_row_t),
                  (r.by == MT_BY_DAY || r.by == MT_BY_HOUR)
                  ? mt_report_cmp_num : mt_report_cmp_str);
        }

        if (mt_report_print(&r, fmt, since, until) != 0
            || mt_query_flush() != 0)
        {
            rc = MT_DB_ERROR;
        }
    }

    for (i = 0; i < r.n; i++) {
        free(r.rows[i].key);
    }

    free(r.rows);

    return rc == MT_DB_OK ? MT_TOOL_OK : MT_TOOL_ERROR;
}


/*
 * The query: each message's events in the window folded into one flag
 * per metric (inner), the flags summed per group (outer).  Parameters:
 * $1 the window's start, $2 its end (ms).
 */

static int
mt_report_sql(mt_tool_buf_t *b, const char *group)
{
    int   i;
    char  col[48];

    mt_tool_buf_add_cstr(b, "SELECT ");

    if (group != NULL) {
        mt_tool_buf_add_cstr(b, "g, ");
    }

    for (i = 0; i < MT_RM_MAX; i++) {
        snprintf(col, sizeof(col), "%ssum(f%d)", i ? ", " : "", i);
        mt_tool_buf_add_cstr(b, col);
    }

    mt_tool_buf_add_cstr(b, " FROM (SELECT ");

    if (group != NULL) {
        mt_tool_buf_add_cstr(b, group);
        mt_tool_buf_add_cstr(b, " AS g, ");
    }

    mt_tool_buf_add_cstr(b, "coalesce(mid, id) AS m");

    for (i = 0; i < MT_RM_MAX; i++) {
        mt_tool_buf_add_cstr(b, ", max(CASE WHEN ");
        mt_tool_buf_add_cstr(b, mt_report_metrics[i].when);
        snprintf(col, sizeof(col), " THEN 1 ELSE 0 END) AS f%d", i);
        mt_tool_buf_add_cstr(b, col);
    }

    /* CAST: ClickHouse compares no number with a string parameter */

    mt_tool_buf_add_cstr(b, " FROM mail_events WHERE at >= CAST($1 AS BIGINT) "
                         "AND at < CAST($2 AS BIGINT) GROUP BY ");
    mt_tool_buf_add_cstr(b, group != NULL ? "g, m) AS x GROUP BY g"
                                          : "m) AS x");
    mt_tool_buf_add(b, "", 1);

    return b->nomem ? -1 : 0;
}


static int
mt_report_row(void *data, int ncols, const char **cols, const size_t *lens)
{
    int               i;
    size_t            n;
    mt_report_t      *r = data;
    mt_report_row_t  *row;

    if (ncols < 1 + MT_RM_MAX) {
        return 0;
    }

    if (r->n == r->nalloc) {
        n = r->nalloc ? 2 * r->nalloc : 64;

        row = realloc(r->rows, n * sizeof(mt_report_row_t));
        if (row == NULL) {
            r->nomem = 1;
            return -1;
        }

        r->rows = row;
        r->nalloc = n;
    }

    row = &r->rows[r->n];
    row->key = NULL;

    if (cols[0] != NULL) {
        row->key = strndup(cols[0], lens[0]);
        if (row->key == NULL) {
            r->nomem = 1;
            return -1;
        }
    }

    for (i = 0; i < MT_RM_MAX; i++) {
        row->v[i] = cols[1 + i] ? strtoll(cols[1 + i], NULL, 10) : 0;
    }

    r->n++;

    return 0;
}


static int
mt_report_total(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    int           i;
    mt_report_t  *r = data;

    (void) lens;

    for (i = 0; i < MT_RM_MAX && i < ncols; i++) {
        r->total.v[i] = cols[i] ? strtoll(cols[i], NULL, 10) : 0;
    }

    return 0;
}


/* days and hours in time order */

static int
mt_report_cmp_num(const void *a, const void *b)
{
    int64_t                 x, y;
    const mt_report_row_t  *ra = a, *rb = b;

    x = ra->key ? strtoll(ra->key, NULL, 10) : 0;
    y = rb->key ? strtoll(rb->key, NULL, 10) : 0;

    return (x > y) - (x < y);
}


/* names by bytes (not a collation: every backend sorts alike); none last */

static int
mt_report_cmp_str(const void *a, const void *b)
{
    const mt_report_row_t  *ra = a, *rb = b;

    if (ra->key == NULL || rb->key == NULL) {
        return (ra->key == NULL) - (rb->key == NULL);
    }

    return strcmp(ra->key, rb->key);
}


/* a row's cells; label (64 bytes) holds a day's or an hour's name */

static void
mt_report_vals(const mt_report_t *r, const mt_report_row_t *row,
    mt_out_val_t *v, char *label)
{
    size_t     i, n;
    time_t     t;
    int64_t    den;
    struct tm  tm;

    memset(v, 0, MT_REPORT_NCOLS * sizeof(mt_out_val_t));

    if (row->key == NULL) {
        v[0].null = 1;

    } else if (r->by == MT_BY_DAY || r->by == MT_BY_HOUR) {
        t = (time_t) (strtoll(row->key, NULL, 10) / 1000);
        gmtime_r(&t, &tm);
        n = strftime(label, 64, r->by == MT_BY_DAY ? "%Y-%m-%d"
                                                   : "%Y-%m-%dT%H:00Z", &tm);
        mt_out_str(&v[0], label, n);

    } else {
        mt_out_str(&v[0], row->key, strlen(row->key));
    }

    for (i = 0; i < MT_RM_MAX; i++) {
        v[1 + i].num = row->v[i];
    }

    for (i = 0; i < MT_REPORT_NRATES; i++) {
        den = row->v[mt_report_rates[i].den];

        if (den == 0) {
            v[1 + MT_RM_MAX + i].null = 1;

        } else {
            v[1 + MT_RM_MAX + i].rate = (double) row->v[mt_report_rates[i].num]
                                        / (double) den;
        }
    }
}


static int
mt_report_print(mt_report_t *r, mt_out_format_e fmt, int64_t since,
    int64_t until)
{
    int               i, k;
    char              label[64], from[32], to[32];
    size_t            j;
    mt_out_t          out;
    mt_out_col_t      cols[MT_REPORT_NCOLS];
    mt_out_val_t      v[MT_REPORT_NCOLS];
    mt_tool_buf_t     b;
    mt_report_row_t   total;

    cols[0].name = mt_report_by[r->by].name ? mt_report_by[r->by].name : "";
    cols[0].title = NULL;
    cols[0].type = MT_COL_STR;

    for (i = 0; i < MT_RM_MAX; i++) {
        cols[1 + i].name = mt_report_metrics[i].name;
        cols[1 + i].title = mt_report_metrics[i].title;
        cols[1 + i].type = MT_COL_INT;
    }

    for (j = 0; j < MT_REPORT_NRATES; j++) {
        cols[1 + MT_RM_MAX + j].name = mt_report_rates[j].name;
        cols[1 + MT_RM_MAX + j].title = mt_report_rates[j].title;
        cols[1 + MT_RM_MAX + j].type = MT_COL_RATE;
    }

    /* without groups, no group column */
    k = (r->by == MT_BY_NONE) ? 1 : 0;

    total = r->total;
    total.key = NULL;

    if (fmt == MT_OUT_JSON) {
        mt_tool_buf_init(&b);

        mt_tool_buf_add_cstr(&b, "{\"since\":");
        mt_tool_json_int(&b, since);
        mt_tool_buf_add_cstr(&b, ",\"until\":");
        mt_tool_json_int(&b, until);
        mt_tool_buf_add_cstr(&b, ",\"by\":");

        if (r->by == MT_BY_NONE) {
            mt_tool_buf_add_cstr(&b, "null");

        } else {
            mt_tool_json_str(&b, (u_char *) cols[0].name,
                             strlen(cols[0].name));
            mt_tool_buf_add_cstr(&b, ",\"groups\":[");

            for (j = 0; j < r->n; j++) {
                mt_report_vals(r, &r->rows[j], v, label);
                mt_tool_buf_add_cstr(&b, j ? ",\n" : "\n");
                mt_out_json_object(&b, cols, MT_REPORT_NCOLS, v);
            }

            mt_tool_buf_add_cstr(&b, r->n ? "\n]" : "]");
        }

        mt_report_vals(r, &total, v, label);
        mt_tool_buf_add_cstr(&b, ",\"total\":");
        mt_out_json_object(&b, cols + 1, MT_REPORT_NCOLS - 1, v + 1);
        mt_tool_buf_add_cstr(&b, "}\n");

        if (b.nomem) {
            mt_tool_buf_free(&b);
            mt_tool_error("out of memory");
            return -1;
        }

        fwrite(b.data, 1, b.len, stdout);
        mt_tool_buf_free(&b);

        return 0;
    }

    if (fmt == MT_OUT_TABLE) {
        mt_out_time(from, since, 0);
        mt_out_time(to, until, 0);
        printf("%s .. %s UTC%s%s\n\n", from, to, r->by ? ", by " : "",
               r->by ? cols[0].name : "");
    }

    mt_out_init(&out, stdout, fmt, cols + k, MT_REPORT_NCOLS - k, 0);

    for (j = 0; j < r->n; j++) {
        mt_report_vals(r, &r->rows[j], v, label);
        mt_out_row(&out, v + k);
    }

    /* a table ends with the total; CSV has the groups only */

    if (k || fmt == MT_OUT_TABLE) {
        mt_report_vals(r, &total, v, label);

        if (!k) {
            mt_out_str(&v[0], "total", 5);
            mt_out_rule(&out);
        }

        mt_out_row(&out, v + k);
    }

    return mt_out_end(&out);
}

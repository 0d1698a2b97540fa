
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mail-track prune: retention.  Events older than the cutoff go (the
 * backend's way: whole monthly partitions in PostgreSQL, batches of
 * rows in SQLite), with the messages whose every known time is older,
 * and the soft bounces older.  Kept: the suppression list (an address
 * that bounced hard years ago still bounces; forget erases one), and
 * the file ledger (it names files, not people, and stops an old file
 * from being loaded again).
 */


#include "mt_tool_query.h"

#include <getopt.h>


#define MT_PRUNE_OPT_BEFORE     301


static int mt_prune_usage(FILE *f);
static int mt_prune_rest(mt_db_t *db, int64_t before, int64_t *messages,
    int64_t *soft);


static const struct option  mt_prune_options[] = {
    { "db",         required_argument, NULL, 'd' },
    { "older-than", required_argument, NULL, 'o' },
    { "before",     required_argument, NULL, MT_PRUNE_OPT_BEFORE },
    { "format",     required_argument, NULL, MT_OPT_FORMAT },
    { "help",       no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static int
mt_prune_usage(FILE *f)
{
    fprintf(f,
        "usage: " MT_TOOL_NAME " prune --db URL --older-than DURATION "
        "[--format F]\n"
        "       " MT_TOOL_NAME " prune --db URL --before WHEN [--format F]\n"
        "\n"
        "Deletes the events older than DURATION (400d, 56w), or before a\n"
        "UTC time (2025-01-01), with the messages whose every time is\n"
        "older and the soft bounces older.  PostgreSQL drops each month's\n"
        "partition that is older as a whole (DETACH ... CONCURRENTLY: the\n"
        "loaders go on) and deletes the rows of the month the cutoff falls\n"
        "in; SQLite deletes in batches of 10,000 rows; ClickHouse drops\n"
        "the older months' partitions and deletes the rest by mutations,\n"
        "awaited (a cluster: name one node of each shard).  Suppressions\n"
        "and the file ledger are kept.\n"
        "\n"
        "options:\n"
        "  --db URL              sqlite:PATH, postgresql://... or\n"
        "                        clickhouse://...; required\n"
        "  --older-than DURATION the age of the oldest event kept\n"
        "  --before WHEN         or the time of the oldest event kept\n"
        "  --format F            table (the default on a terminal), json\n"
        "                        (else) or csv\n"
        "  -h, --help            this text\n");

    return MT_TOOL_OK;
}


int
mt_tool_prune(int argc, char **argv)
{
    int               c, rc;
    char              when[32];
    mt_db_t           db;
    int64_t           now, before, secs, messages, soft;
    mt_out_t          out;
    const char       *url, *older, *at, *format;
    mt_out_val_t      v[7];
    mt_db_prune_t     stats;
    mt_out_format_e   fmt;

    static const mt_out_col_t  cols[7] = {
        { "before", MT_COL_TIME, NULL },
        { "events", MT_COL_INT, NULL },
        { "partitions", MT_COL_INT, NULL },
        { "first_partition", MT_COL_STR, NULL },
        { "last_partition", MT_COL_STR, NULL },
        { "messages", MT_COL_INT, NULL },
        { "soft_bounces", MT_COL_INT, NULL }
    };

    url = NULL;
    older = NULL;
    at = NULL;
    format = NULL;

    optind = 1;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", mt_prune_options, NULL))
           != -1)
    {
        switch (c) {
        case 'd':
            url = optarg;
            break;
        case 'o':
            older = optarg;
            break;
        case MT_PRUNE_OPT_BEFORE:
            at = optarg;
            break;
        case MT_OPT_FORMAT:
            format = optarg;
            break;
        case 'h':
            return mt_prune_usage(stdout);
        default:
            return mt_tool_bad_option("prune", c, argv);
        }
    }

    if (url == NULL) {
        return mt_tool_usage_error("prune", "--db URL is required");
    }

    if (optind != argc) {
        return mt_tool_usage_error("prune", "unexpected argument \"%s\"",
                                   argv[optind]);
    }

    if ((older == NULL) == (at == NULL)) {
        return mt_tool_usage_error("prune", "expected --older-than DURATION "
                                   "or --before WHEN");
    }

    if (mt_out_format("prune", format, &fmt) != 0) {
        return MT_TOOL_USAGE;
    }

    now = mt_query_now();

    if (older != NULL) {
        secs = mt_parse_duration((const u_char *) older, strlen(older));

        /* 0 would delete everything: never what a retention means */

        if (secs <= 0 || secs * 1000 > now) {
            return mt_tool_usage_error("prune", "--older-than \"%s\": "
                                       "expected a duration longer than 0 "
                                       "(400d, 56w, 12h)", older);
        }

        before = now - secs * 1000;

    } else if (mt_query_when("prune", "--before", at, now, &before) != 0) {
        return MT_TOOL_USAGE;
    }

    if (mt_query_open(&db, url) != 0) {
        return MT_TOOL_ERROR;
    }

    if (db.backend->prune == NULL) {
        mt_tool_error("%s: prune is not available for %s databases yet: "
                      "drop the months by hand (docs/loading.md)", db.url,
                      db.backend->name);
        mt_db_close(&db);
        return MT_TOOL_ERROR;
    }

    memset(&stats, 0, sizeof(mt_db_prune_t));
    messages = 0;
    soft = 0;

    rc = db.backend->prune(&db, before, &stats);

    if (rc == MT_DB_OK && !stats.rest) {
        rc = mt_prune_rest(&db, before, &messages, &soft);

    } else {
        messages = stats.messages;
        soft = stats.soft;
    }

    if (rc != MT_DB_OK) {
        mt_tool_error("%s: %s", db.url, db.err);
        mt_db_close(&db);
        return MT_TOOL_ERROR;
    }

    mt_db_close(&db);

    if (fmt == MT_OUT_TABLE) {
        mt_out_time(when, before, 0);
        printf("before %s UTC: %lld events", when, (long long) stats.events);

        if (stats.partitions) {
            printf(" (%lld monthly partitions dropped, %s .. %s)",
                   (long long) stats.partitions, stats.first, stats.last);
        }

        printf(", %lld messages, %lld soft bounces deleted; suppressions "
               "and the file ledger kept\n", (long long) messages,
               (long long) soft);

    } else {
        memset(v, 0, sizeof(v));
        v[0].num = before;
        v[1].num = stats.events;
        v[2].num = stats.partitions;
        mt_out_str(&v[3], stats.partitions ? stats.first : NULL,
                   strlen(stats.first));
        mt_out_str(&v[4], stats.partitions ? stats.last : NULL,
                   strlen(stats.last));
        v[5].num = messages;
        v[6].num = soft;

        mt_out_init(&out, stdout, fmt, cols, 7, 0);
        mt_out_row(&out, v);

        if (mt_out_end(&out) != 0) {
            return MT_TOOL_ERROR;
        }
    }

    return mt_query_flush() == 0 ? MT_TOOL_OK : MT_TOOL_ERROR;
}


/*
 * The messages whose every known time is before the cutoff (an unknown
 * time is older than any), and the soft bounces before it: one
 * transaction.
 */

static int
mt_prune_rest(mt_db_t *db, int64_t before, int64_t *messages, int64_t *soft)
{
    int          rc;
    char         ms[24];
    const char  *params[1];

    snprintf(ms, sizeof(ms), "%lld", (long long) before);
    params[0] = ms;

    rc = db->backend->begin(db);

    if (rc == MT_DB_OK) {
        rc = db->backend->query(db, "DELETE FROM mail_messages WHERE "
                                "coalesce(sent_at, 0) < $1 "
                                "AND coalesce(delivered_at, 0) < $1 "
                                "AND coalesce(bounced_at, 0) < $1 "
                                "AND coalesce(complained_at, 0) < $1 "
                                "AND coalesce(unsubscribed_at, 0) < $1 "
                                "AND coalesce(opens_last, 0) < $1 "
                                "AND coalesce(clicks_last, 0) < $1 "
                                "RETURNING message_id", params, 1,
                                mt_query_count_row, messages);
    }

    if (rc == MT_DB_OK) {
        rc = db->backend->query(db, "DELETE FROM mail_soft_bounces "
                                "WHERE at < $1 RETURNING address", params, 1,
                                mt_query_count_row, soft);
    }

    if (rc == MT_DB_OK) {
        rc = db->backend->commit(db);
    }

    if (rc != MT_DB_OK) {
        db->backend->rollback(db);
    }

    return rc;
}

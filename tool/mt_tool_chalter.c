
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Changes of rows in ClickHouse (prune, forget): whole monthly partitions
 * dropped, and rows deleted by ALTER TABLE ... DELETE, a mutation that
 * rewrites every part it touches in the background.  ClickHouse 18.16
 * has no mutations_sync: each mutation is awaited by polling
 * system.mutations until none of the table's is left undone, so what a
 * command says is true when it returns.
 *
 * A cluster's rows are in the NAME_local tables of each shard, which
 * ALTER must name (a Distributed table takes no ALTER ... DELETE, and
 * ON CLUSTER needs a ZooKeeper for its queue): every node of the URL is
 * altered in turn, as db init --cluster made them.  The counts are
 * read through the Distributed tables, after as before, so a shard the
 * URL does not name is an error, not a silent half.
 */


#include "mt_tool_clickhouse.h"

#include <time.h>
#include <unistd.h>


#define MT_CH_PARTS_MAX         4096


typedef struct {
    char                        name[MT_CH_PARTS_MAX][16];
    size_t                      n;
} mt_ch_parts_t;


static int mt_ch_count_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_ch_parts_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_ch_parts_cmp(const void *a, const void *b);
static int mt_ch_count(mt_db_t *db, const char *sql, int64_t before,
    int64_t *n);
static int64_t mt_ch_month_end(const char *yyyymm);


/* the messages whose every known time is before the cutoff (%lld) */
#define MT_CH_PRUNE_MESSAGES                                                  \
    "FROM mail_messages WHERE coalesce(sent_at, 0) < %lld "                   \
    "AND coalesce(delivered_at, 0) < %lld "                                   \
    "AND coalesce(bounced_at, 0) < %lld "                                     \
    "AND coalesce(complained_at, 0) < %lld "                                  \
    "AND coalesce(unsubscribed_at, 0) < %lld "                                \
    "AND coalesce(opens_last, 0) < %lld "                                     \
    "AND coalesce(clicks_last, 0) < %lld"


/*
 * Does this database hold a cluster's tables (db init --cluster)?  Then
 * the nodes of the URL must hold every event of the Distributed table,
 * once: one node of each shard, as db init wants them.
 */

int
mt_ch_is_cluster(mt_db_t *db, int *cluster)
{
    size_t     i;
    int64_t    n, all, sum;
    mt_http_t *h;
    mt_ch_t   *ch = db->conn;

    n = 0;

    if (mt_ch_query_on(db, &ch->node[ch->main], "SELECT count() FROM "
                       "system.tables WHERE database = currentDatabase() "
                       "AND name = 'mail_events_local'", NULL, 0,
                       mt_ch_count_row, &n)
        != MT_DB_OK)
    {
        return MT_DB_ERROR;
    }

    *cluster = (n > 0);

    if (n == 0) {
        return MT_DB_OK;
    }

    all = 0;
    sum = 0;

    if (mt_ch_query_on(db, &ch->node[ch->main], "SELECT count() FROM "
                       "mail_events", NULL, 0, mt_ch_count_row, &all)
        != MT_DB_OK)
    {
        return MT_DB_ERROR;
    }

    for (i = 0; i < ch->nnodes; i++) {
        h = mt_ch_node(db, i);
        n = 0;

        if (h == NULL
            || mt_ch_query_on(db, h, "SELECT count() FROM mail_events_local",
                              NULL, 0, mt_ch_count_row, &n)
               != MT_DB_OK)
        {
            return MT_DB_ERROR;
        }

        sum += n;
    }

    if (sum != all) {
        mt_db_error(db, "the URL's %zu nodes hold %lld of the cluster's "
                    "%lld events: name one node of each shard "
                    "(clickhouse://HOST1:PORT1,HOST2:PORT2/DB); nothing "
                    "was changed", ch->nnodes, (long long) sum,
                    (long long) all);
        return MT_DB_ERROR;
    }

    return MT_DB_OK;
}


/*
 * ALTER TABLE table(_local) <what> on the server, or on every node of a
 * cluster, each awaited until its mutations are done.
 */

int
mt_ch_alter(mt_db_t *db, int cluster, const char *table, const char *what)
{
    int            rc;
    size_t         i, n;
    int64_t        todo;
    useconds_t     pause;
    mt_http_t     *h;
    const char    *params[1];
    mt_tool_buf_t  b;
    char           name[64];
    mt_ch_t       *ch = db->conn;

    snprintf(name, sizeof(name), "%s%s", table, cluster ? "_local" : "");
    params[0] = name;

    mt_tool_buf_init(&b);
    rc = MT_DB_OK;
    n = cluster ? ch->nnodes : 1;

    for (i = 0; rc == MT_DB_OK && i < n; i++) {
        h = cluster ? mt_ch_node(db, i) : &ch->node[ch->main];
        if (h == NULL) {
            rc = MT_DB_DOWN;
            break;
        }

        b.len = 0;
        mt_tool_buf_add_cstr(&b, "ALTER TABLE ");
        mt_tool_buf_add_cstr(&b, name);
        mt_tool_buf_add_cstr(&b, " ");
        mt_tool_buf_add_cstr(&b, what);

        rc = mt_ch_exec_on(db, h, &b);

        for (pause = 20000; rc == MT_DB_OK; pause = mt_min(pause * 2,
                                                           1000000))
        {
            todo = 0;
            rc = mt_ch_query_on(db, h, "SELECT count() FROM system.mutations "
                                "WHERE database = currentDatabase() "
                                "AND table = $1 AND is_done = 0", params, 1,
                                mt_ch_count_row, &todo);

            if (rc != MT_DB_OK || todo == 0) {
                break;
            }

            usleep(pause);
        }
    }

    mt_tool_buf_free(&b);

    return rc;
}


/*
 * prune: the months wholly before the cutoff dropped as partitions, the
 * events left before it deleted, then the messages whose every time is
 * older (their events' states, mail_message_events) and the soft
 * bounces older.  Counted first, as distinct rows: a copy of a row
 * still unmerged is one row.
 */

int
mt_ch_prune(mt_db_t *db, int64_t before, mt_db_prune_t *stats)
{
    int             rc, cluster;
    char            sql[1024], what[1024];
    size_t          i, j, k;
    int64_t         left;
    mt_http_t      *h;
    const char     *params[1];
    mt_ch_parts_t  *parts;
    mt_tool_buf_t   b;
    mt_ch_t        *ch = db->conn;
    long long       ms = (long long) before;

    if (mt_ch_is_cluster(db, &cluster) != MT_DB_OK) {
        return MT_DB_ERROR;
    }

    stats->rest = 1;

    rc = mt_ch_count(db, "SELECT uniqExact(at, id) FROM mail_events "
                     "WHERE at < %lld", before, &stats->events);

    if (rc == MT_DB_OK) {
        snprintf(sql, sizeof(sql), "SELECT count() " MT_CH_PRUNE_MESSAGES,
                 ms, ms, ms, ms, ms, ms, ms);
        rc = mt_ch_count(db, sql, before, &stats->messages);
    }

    if (rc == MT_DB_OK) {
        rc = mt_ch_count(db, "SELECT uniqExact(address, at, event_id) "
                         "FROM mail_soft_bounces WHERE at < %lld", before,
                         &stats->soft);
    }

    if (rc != MT_DB_OK) {
        return rc;
    }

    /* the months of every node, and those wholly before the cutoff */

    parts = calloc(1, sizeof(mt_ch_parts_t));
    if (parts == NULL) {
        mt_db_error(db, "out of memory");
        return MT_DB_ERROR;
    }

    params[0] = cluster ? "mail_events_local" : "mail_events";

    for (i = 0; rc == MT_DB_OK && i < (cluster ? ch->nnodes : 1); i++) {
        h = cluster ? mt_ch_node(db, i) : &ch->node[ch->main];
        if (h == NULL) {
            rc = MT_DB_DOWN;
            break;
        }

        rc = mt_ch_query_on(db, h, "SELECT DISTINCT partition FROM "
                            "system.parts WHERE database = currentDatabase() "
                            "AND table = $1 AND active", params, 1,
                            mt_ch_parts_row, parts);
    }

    qsort(parts->name, parts->n, sizeof(parts->name[0]), mt_ch_parts_cmp);

    for (i = 0, j = 0; i < parts->n; i++) {
        if ((j > 0 && strcmp(parts->name[j - 1], parts->name[i]) == 0)
            || mt_ch_month_end(parts->name[i]) > before)
        {
            continue;
        }

        memmove(parts->name[j++], parts->name[i], sizeof(parts->name[0]));
    }

    for (k = 0; rc == MT_DB_OK && k < j; k++) {
        snprintf(what, sizeof(what), "DROP PARTITION %s", parts->name[k]);
        rc = mt_ch_alter(db, cluster, "mail_events", what);

        if (rc == MT_DB_OK) {
            if (stats->partitions++ == 0) {
                snprintf(stats->first, sizeof(stats->first), "%s",
                         parts->name[k]);
            }

            snprintf(stats->last, sizeof(stats->last), "%s", parts->name[k]);
        }
    }

    free(parts);

    /* the rows left before the cutoff: a mutation, when there are any */

    left = 0;

    if (rc == MT_DB_OK) {
        rc = mt_ch_count(db, "SELECT count() FROM mail_events "
                         "WHERE at < %lld", before, &left);
    }

    if (rc == MT_DB_OK && left > 0) {
        snprintf(what, sizeof(what), "DELETE WHERE at < %lld", ms);
        rc = mt_ch_alter(db, cluster, "mail_events", what);
    }

    /*
     * The messages' ids, kept in a table of their own first: a
     * mutation's IN (subquery) is run again for each part it rewrites,
     * and what is deleted of a message changes its aggregates.
     */

    if (rc == MT_DB_OK && stats->messages > 0) {
        mt_tool_buf_init(&b);

        for (i = 0; rc == MT_DB_OK && i < (cluster ? ch->nnodes : 1); i++) {
            h = cluster ? mt_ch_node(db, i) : &ch->node[ch->main];
            if (h == NULL) {
                rc = MT_DB_DOWN;
                break;
            }

            b.len = 0;
            mt_tool_buf_add_cstr(&b, "DROP TABLE IF EXISTS mail_prune_ids");
            rc = mt_ch_exec_on(db, h, &b);

            if (rc == MT_DB_OK) {
                b.len = 0;
                snprintf(sql, sizeof(sql), "CREATE TABLE mail_prune_ids "
                         "ENGINE = Log AS SELECT message_id "
                         MT_CH_PRUNE_MESSAGES, ms, ms, ms, ms, ms, ms, ms);
                mt_tool_buf_add_cstr(&b, sql);
                rc = mt_ch_exec_on(db, h, &b);
            }
        }

        if (rc == MT_DB_OK) {
            b.len = 0;
            mt_tool_buf_add_cstr(&b, "DELETE WHERE message_id IN "
                                 "(SELECT message_id FROM ");
            mt_ch_ident(&b, ch->database);
            mt_tool_buf_add_cstr(&b, ".mail_prune_ids)");
            mt_tool_buf_add(&b, "", 1);

            rc = b.nomem ? MT_DB_ERROR
                 : mt_ch_alter(db, cluster, "mail_message_events",
                               (const char *) b.data);
        }

        for (i = 0; rc == MT_DB_OK && i < (cluster ? ch->nnodes : 1); i++) {
            b.len = 0;
            mt_tool_buf_add_cstr(&b, "DROP TABLE IF EXISTS mail_prune_ids");
            rc = mt_ch_exec_on(db, cluster ? mt_ch_node(db, i)
                                           : &ch->node[ch->main], &b);
        }

        mt_tool_buf_free(&b);
    }

    if (rc == MT_DB_OK && stats->soft > 0) {
        snprintf(what, sizeof(what), "DELETE WHERE at < %lld", ms);
        rc = mt_ch_alter(db, cluster, "mail_soft_bounces", what);
    }

    /* what the URL does not reach of a cluster is still there */

    left = 0;

    if (rc == MT_DB_OK) {
        rc = mt_ch_count(db, "SELECT count() FROM mail_events "
                         "WHERE at < %lld", before, &left);
    }

    if (rc == MT_DB_OK && left > 0) {
        mt_db_error(db, "%lld events before the cutoff are left: name one "
                    "node of each shard in the URL "
                    "(clickhouse://HOST1:PORT1,HOST2:PORT2/DB)",
                    (long long) left);
        rc = MT_DB_ERROR;
    }

    return rc;
}


/* DELETE WHERE where, as mt_ch_alter() does it */

int
mt_ch_delete(mt_db_t *db, const char *table, const char *where,
    const char **params, int nparams)
{
    int            rc, cluster;
    mt_tool_buf_t  b;

    if (mt_ch_is_cluster(db, &cluster) != MT_DB_OK) {
        return MT_DB_ERROR;
    }

    mt_tool_buf_init(&b);
    mt_tool_buf_add_cstr(&b, "DELETE WHERE ");
    mt_ch_expand(&b, where, params, nparams);
    mt_tool_buf_add(&b, "", 1);

    if (b.nomem) {
        mt_db_error(db, "out of memory");
        rc = MT_DB_ERROR;

    } else {
        rc = mt_ch_alter(db, cluster, table, (const char *) b.data);
    }

    mt_tool_buf_free(&b);

    return rc;
}


/* a count; sql has one %lld, the cutoff (or none) */

static int
mt_ch_count(mt_db_t *db, const char *sql, int64_t before, int64_t *n)
{
    char      q[1024];
    mt_ch_t  *ch = db->conn;

    snprintf(q, sizeof(q), sql, (long long) before);
    *n = 0;

    return mt_ch_query_on(db, &ch->node[ch->main], q, NULL, 0,
                          mt_ch_count_row, n);
}


static int
mt_ch_count_row(void *data, int ncols, const char **cols, const size_t *lens)
{
    (void) lens;

    if (ncols >= 1 && cols[0] != NULL) {
        *(int64_t *) data = strtoll(cols[0], NULL, 10);
    }

    return 0;
}


static int
mt_ch_parts_row(void *data, int ncols, const char **cols, const size_t *lens)
{
    mt_ch_parts_t  *p = data;

    if (ncols < 1 || cols[0] == NULL || lens[0] != 6
        || p->n == MT_CH_PARTS_MAX)
    {
        return 0;
    }

    memcpy(p->name[p->n++], cols[0], 7);

    return 0;
}


static int
mt_ch_parts_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}


/* the first ms after a month YYYYMM; INT64_MAX when not one */

static int64_t
mt_ch_month_end(const char *yyyymm)
{
    int        y, m;
    struct tm  tm;

    if (sscanf(yyyymm, "%4d%2d", &y, &m) != 2 || m < 1 || m > 12) {
        return INT64_MAX;
    }

    memset(&tm, 0, sizeof(struct tm));
    tm.tm_year = y - 1900 + (m == 12);
    tm.tm_mon = m % 12;
    tm.tm_mday = 1;

    return (int64_t) timegm(&tm) * 1000;
}


/* a name as an identifier: backquoted, ` and \ escaped */

void
mt_ch_ident(mt_tool_buf_t *b, const char *s)
{
    for (mt_tool_buf_add(b, "`", 1); *s; s++) {
        if (*s == '`' || *s == '\\') {
            mt_tool_buf_add(b, "\\", 1);
        }

        mt_tool_buf_add(b, s, 1);
    }

    mt_tool_buf_add(b, "`", 1);
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The ClickHouse schema, version 1 (docs/loading.md): the tables as
 * lists of typed columns (the one definition the DDL, the inserts and
 * the check of an existing schema are made from), and the views that
 * give the rows of the SQL backends' mail_messages, mail_suppressions
 * and mail_settings.
 *
 * ClickHouse has no transactions and no unique keys, so every table is
 * a set: a ReplacingMergeTree keyed by what makes a row the same row
 * (an event's id, a message's event, a claim's event), into which the
 * loader's inserts may come twice (a crash before the ledger row, a
 * retried insert) without changing what the views and reports show.
 * The views merge with aggregates that a repeated row cannot move:
 * min, max, or, and counts of distinct event ids.
 *
 * On a cluster (db init --cluster NAME) every node gets the tables as
 * NAME_local and a Distributed table of the plain name over them, so a
 * loader or a query speaks to any node as to one server.
 */


#include "mt_tool_clickhouse.h"


#define MT_CH_NULLABLE(name, t, base)                                         \
    { name, "Nullable(" t ")", base, 1 }
#define MT_CH_COL(name, t, base)                                              \
    { name, t, base, 0 }


static const mt_ch_col_t  mt_ch_schema_cols[] = {
    MT_CH_COL("version", "Int64", MT_CH_INT64),
    MT_CH_COL("applied_at", "Int64", MT_CH_INT64),
    MT_CH_COL("tool", "String", MT_CH_STRING)
};

static const mt_ch_col_t  mt_ch_settings_cols[] = {
    MT_CH_COL("name", "String", MT_CH_STRING),
    MT_CH_COL("value", "String", MT_CH_STRING),
    MT_CH_COL("at", "Int64", MT_CH_INT64)
};

const mt_ch_col_t  mt_ch_files_cols[MT_CH_FILE_NCOLS] = {
    MT_CH_COL("sha256", "String", MT_CH_STRING),
    MT_CH_COL("file_id", "Int64", MT_CH_INT64),
    MT_CH_COL("name", "String", MT_CH_STRING),
    MT_CH_NULLABLE("host", "String", MT_CH_STRING),
    MT_CH_COL("size", "Int64", MT_CH_INT64),
    MT_CH_COL("events", "Int64", MT_CH_INT64),
    MT_CH_COL("duplicates", "Int64", MT_CH_INT64),
    MT_CH_COL("invalid", "Int64", MT_CH_INT64),
    MT_CH_COL("repaired", "Int64", MT_CH_INT64),
    MT_CH_NULLABLE("damaged_at", "Int64", MT_CH_INT64),
    MT_CH_COL("loaded_at", "Int64", MT_CH_INT64),
    MT_CH_COL("loader", "String", MT_CH_STRING)
};

/* MT_DB_EVENTS_INSERT's columns, in its order */
const mt_ch_col_t  mt_ch_events_cols[MT_DB_EVENTS_NCOLS] = {
    MT_CH_COL("id", "String", MT_CH_STRING),
    MT_CH_COL("at", "Int64", MT_CH_INT64),
    MT_CH_NULLABLE("ts", "Int64", MT_CH_INT64),
    MT_CH_COL("rt", "Int64", MT_CH_INT64),
    MT_CH_COL("src", "String", MT_CH_STRING),
    MT_CH_COL("type", "String", MT_CH_STRING),
    MT_CH_NULLABLE("esp_type", "String", MT_CH_STRING),
    MT_CH_NULLABLE("mid", "String", MT_CH_STRING),
    MT_CH_NULLABLE("esp_mid", "String", MT_CH_STRING),
    MT_CH_NULLABLE("rcpt", "String", MT_CH_STRING),
    MT_CH_NULLABLE("bounce", "String", MT_CH_STRING),
    MT_CH_NULLABLE("smtp_status", "String", MT_CH_STRING),
    MT_CH_NULLABLE("smtp_code", "Int64", MT_CH_INT64),
    MT_CH_NULLABLE("reason", "String", MT_CH_STRING),
    MT_CH_NULLABLE("url", "String", MT_CH_STRING),
    MT_CH_NULLABLE("ip", "String", MT_CH_STRING),
    MT_CH_NULLABLE("ua", "String", MT_CH_STRING),
    MT_CH_NULLABLE("machine", "UInt8", MT_CH_UINT8),
    MT_CH_NULLABLE("why", "String", MT_CH_STRING),
    MT_CH_NULLABLE("tag", "String", MT_CH_STRING),
    MT_CH_COL("v", "Int64", MT_CH_INT64),
    MT_CH_NULLABLE("extra", "String", MT_CH_STRING),
    MT_CH_COL("file_id", "Int64", MT_CH_INT64)
};

/* a message's state as one event makes it (mt_msgstate_apply) */
const mt_ch_col_t  mt_ch_msg_cols[MT_CH_MSG_NCOLS] = {
    MT_CH_COL("message_id", "String", MT_CH_STRING),
    MT_CH_COL("event_id", "String", MT_CH_STRING),
    MT_CH_COL("recipient", "String", MT_CH_STRING),
    MT_CH_COL("state", "UInt8", MT_CH_UINT8),
    MT_CH_COL("sent_at", "Int64", MT_CH_INT64),
    MT_CH_COL("delivered_at", "Int64", MT_CH_INT64),
    MT_CH_COL("bounce", "UInt8", MT_CH_UINT8),
    MT_CH_COL("bounced_at", "Int64", MT_CH_INT64),
    MT_CH_COL("complained_at", "Int64", MT_CH_INT64),
    MT_CH_COL("unsubscribed_at", "Int64", MT_CH_INT64),
    MT_CH_COL("opens", "UInt8", MT_CH_UINT8),
    MT_CH_COL("opens_machine", "UInt8", MT_CH_UINT8),
    MT_CH_COL("opens_first", "Int64", MT_CH_INT64),
    MT_CH_COL("opens_last", "Int64", MT_CH_INT64),
    MT_CH_COL("clicks", "UInt8", MT_CH_UINT8),
    MT_CH_COL("clicks_machine", "UInt8", MT_CH_UINT8),
    MT_CH_COL("clicks_first", "Int64", MT_CH_INT64),
    MT_CH_COL("clicks_last", "Int64", MT_CH_INT64),
    MT_CH_COL("last_url", "String", MT_CH_STRING),
    MT_CH_COL("url_at", "Int64", MT_CH_INT64),
    MT_CH_COL("sources", "UInt16", MT_CH_UINT16),
    MT_CH_COL("updated_at", "Int64", MT_CH_INT64)
};

const mt_ch_col_t  mt_ch_soft_cols[MT_CH_SOFT_NCOLS] = {
    MT_CH_COL("address", "String", MT_CH_STRING),
    MT_CH_COL("at", "Int64", MT_CH_INT64),
    MT_CH_COL("event_id", "String", MT_CH_STRING),
    MT_CH_NULLABLE("message_id", "String", MT_CH_STRING),
    MT_CH_NULLABLE("src", "String", MT_CH_STRING)
};

/* what an event claims of an address's suppression ("" is none) */
const mt_ch_col_t  mt_ch_claim_cols[MT_CH_CLAIM_NCOLS] = {
    MT_CH_COL("address", "String", MT_CH_STRING),
    MT_CH_COL("domain", "String", MT_CH_STRING),
    MT_CH_COL("reason", "String", MT_CH_STRING),
    MT_CH_COL("src", "String", MT_CH_STRING),
    MT_CH_COL("message_id", "String", MT_CH_STRING),
    MT_CH_COL("event_id", "String", MT_CH_STRING),
    MT_CH_COL("at", "Int64", MT_CH_INT64),
    MT_CH_COL("events", "Int64", MT_CH_INT64)
};

/*
 * What suppressions add and remove did: an address suppressed by hand
 * (reason, note), or removed (reason ""), at a time.
 */
static const mt_ch_col_t  mt_ch_hand_cols[MT_CH_HAND_NCOLS] = {
    MT_CH_COL("address", "String", MT_CH_STRING),
    MT_CH_COL("domain", "String", MT_CH_STRING),
    MT_CH_COL("reason", "String", MT_CH_STRING),
    MT_CH_NULLABLE("note", "String", MT_CH_STRING),
    MT_CH_COL("at", "Int64", MT_CH_INT64)
};


#define mt_ch_n(a)              (sizeof(a) / sizeof(a[0]))

/*
 * mail_schema comes first: a schema cut short is recognised as ours
 * (mail_schema without a row is version 0) and finished by the next
 * db init.  Events: by month, ordered by time (a report reads a time
 * window: the months, then the granules, that hold it), a copy of an
 * event (the same time and id) one row once merged.
 */
const mt_ch_table_t  mt_ch_tables[MT_CH_T_MAX] = {

    { "mail_schema", mt_ch_schema_cols, mt_ch_n(mt_ch_schema_cols),
      "MergeTree ORDER BY version", "rand()" },

    { "mail_settings_log", mt_ch_settings_cols,
      mt_ch_n(mt_ch_settings_cols),
      "ReplacingMergeTree(at) ORDER BY name", "sipHash64(name)" },

    { "mail_files", mt_ch_files_cols, MT_CH_FILE_NCOLS,
      "ReplacingMergeTree(loaded_at) ORDER BY sha256", "sipHash64(sha256)" },

    { "mail_events", mt_ch_events_cols, MT_DB_EVENTS_NCOLS,
      "ReplacingMergeTree "
      "PARTITION BY toYYYYMM(toDateTime(intDiv(at, 1000), 'UTC')) "
      "ORDER BY (at, id)",
      "sipHash64(ifNull(mid, id))" },

    { "mail_message_events", mt_ch_msg_cols, MT_CH_MSG_NCOLS,
      "ReplacingMergeTree ORDER BY (message_id, event_id)",
      "sipHash64(message_id)" },

    { "mail_soft_bounces", mt_ch_soft_cols, MT_CH_SOFT_NCOLS,
      "ReplacingMergeTree ORDER BY (address, at, event_id)",
      "sipHash64(address)" },

    { "mail_suppression_claims", mt_ch_claim_cols, MT_CH_CLAIM_NCOLS,
      "ReplacingMergeTree ORDER BY (address, event_id, reason)",
      "sipHash64(address)" },

    { "mail_suppression_hand", mt_ch_hand_cols, MT_CH_HAND_NCOLS,
      "ReplacingMergeTree ORDER BY (address, at, reason)",
      "sipHash64(address)" }
};


/*
 * A view's columns from its inner query's x_ ones: ClickHouse 18.16
 * takes neither an alias equal to a column of the expression nor a
 * table's alias in a view.
 */
#define MT_CH_MESSAGES_SELECT                                                 \
    "message_id, x_recipient AS recipient, x_state AS state, "                \
    "x_sent_at AS sent_at, x_delivered_at AS delivered_at, "                  \
    "x_bounce AS bounce, x_bounced_at AS bounced_at, "                        \
    "x_complained_at AS complained_at, "                                      \
    "x_unsubscribed_at AS unsubscribed_at, x_opens AS opens, "                \
    "x_opens_machine AS opens_machine, x_opens_first AS opens_first, "        \
    "x_opens_last AS opens_last, x_clicks AS clicks, "                        \
    "x_clicks_machine AS clicks_machine, x_clicks_first AS clicks_first, "    \
    "x_clicks_last AS clicks_last, x_last_url AS last_url, "                  \
    "x_url_at AS url_at, x_sources AS sources, x_updated_at AS updated_at"

#define MT_CH_SUPPRESSIONS_SELECT                                             \
    "address, x_domain AS domain, x_suppressed AS suppressed, "               \
    "x_reason AS reason, x_src AS src, x_message_id AS message_id, "          \
    "x_event_id AS event_id, x_first_at AS first_at, x_last_at AS last_at, "  \
    "x_events AS events, x_removed_at AS removed_at, x_note AS note"


static const char  *mt_ch_views[] = {
    "mail_settings", "mail_messages", "mail_suppressions"
};


/* the columns seen of each table, plain and _local; the first wrong one */
typedef struct {
    uint64_t                    seen[MT_CH_T_MAX][2];
    int                         views;
    char                        wrong[256];
} mt_ch_check_ctx_t;


static int mt_ch_create(mt_db_t *db, mt_http_t *h, const char *cluster);
static void mt_ch_table_ddl(mt_tool_buf_t *b, const mt_ch_table_t *t,
    const char *suffix, const char *engine);
static void mt_ch_view_settings(mt_tool_buf_t *b);
static void mt_ch_view_messages(mt_tool_buf_t *b);
static void mt_ch_view_suppressions(mt_tool_buf_t *b);
static void mt_ch_orders(mt_tool_buf_t *b, unsigned (*order)(unsigned),
    const char **names, unsigned n, int to_names);
static int mt_ch_check_node(mt_db_t *db, mt_http_t *h, int must_exist);
static int mt_ch_check_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_ch_shard_row(void *data, int ncols, const char **cols,
    const size_t *lens);


/*
 * The schema on the server, or with db->cluster on every node the URL
 * names, each of them a shard of the cluster.  Tables there already
 * must be ours, column for column: anything else is left alone.
 */

int
mt_ch_schema_create(mt_db_t *db)
{
    int          rc, shard[MT_CH_NODES_MAX], nshards;
    size_t       i, j;
    mt_http_t   *h;
    const char  *params[1];
    mt_ch_t     *ch = db->conn;

    if (db->cluster == NULL) {
        rc = mt_ch_check_node(db, &ch->node[0], 0);
        if (rc != MT_DB_OK) {
            return rc;
        }

        return mt_ch_create(db, &ch->node[0], NULL);
    }

    /* every node: which shard it is, and none twice */

    params[0] = db->cluster;
    nshards = 0;

    rc = mt_ch_query_on(db, &ch->node[0], "SELECT count(DISTINCT shard_num) "
                        "FROM system.clusters WHERE cluster = $1", params, 1,
                        mt_ch_shard_row, &nshards);
    if (rc != MT_DB_OK) {
        return rc;
    }

    if (nshards == 0) {
        mt_db_error(db, "no cluster \"%s\" in the server's remote_servers",
                    db->cluster);
        return MT_DB_ERROR;
    }

    if ((size_t) nshards != ch->nnodes) {
        mt_db_error(db, "the cluster \"%s\" has %d shards and the URL names "
                    "%zu nodes: name one node of each shard "
                    "(clickhouse://HOST1:PORT1,HOST2:PORT2/DB)", db->cluster,
                    nshards, ch->nnodes);
        return MT_DB_ERROR;
    }

    for (i = 0; i < ch->nnodes; i++) {
        h = mt_ch_node(db, i);
        if (h == NULL) {
            return MT_DB_DOWN;
        }

        shard[i] = 0;

        rc = mt_ch_query_on(db, h, "SELECT any(shard_num) FROM "
                            "system.clusters WHERE cluster = $1 "
                            "AND is_local = 1", params, 1, mt_ch_shard_row,
                            &shard[i]);
        if (rc != MT_DB_OK) {
            return rc;
        }

        if (shard[i] == 0) {
            mt_db_error(db, "%s is not a node of the cluster \"%s\" (by its "
                        "own remote_servers)", ch->hosts[i], db->cluster);
            return MT_DB_ERROR;
        }

        for (j = 0; j < i; j++) {
            if (shard[j] == shard[i]) {
                mt_db_error(db, "%s and %s are both shard %d of the cluster "
                            "\"%s\": name one node of each shard",
                            ch->hosts[j], ch->hosts[i], shard[i],
                            db->cluster);
                return MT_DB_ERROR;
            }
        }

        rc = mt_ch_check_node(db, h, 0);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    for (i = 0; i < ch->nnodes; i++) {
        rc = mt_ch_create(db, mt_ch_node(db, i), db->cluster);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    return MT_DB_OK;
}


static int
mt_ch_create(mt_db_t *db, mt_http_t *h, const char *cluster)
{
    int            rc;
    size_t         i;
    mt_tool_buf_t  b;
    mt_ch_t       *ch = db->conn;

    mt_tool_buf_init(&b);
    rc = MT_DB_OK;

    for (i = 0; rc == MT_DB_OK && i < MT_CH_T_MAX; i++) {
        b.len = 0;

        if (cluster == NULL) {
            mt_ch_table_ddl(&b, &mt_ch_tables[i], "", mt_ch_tables[i].engine);

        } else {
            mt_ch_table_ddl(&b, &mt_ch_tables[i], "_local",
                            mt_ch_tables[i].engine);

            rc = mt_ch_exec_on(db, h, &b);
            if (rc != MT_DB_OK) {
                break;
            }

            b.len = 0;
            mt_tool_buf_add_cstr(&b, "CREATE TABLE IF NOT EXISTS ");
            mt_tool_buf_add_cstr(&b, mt_ch_tables[i].name);
            mt_tool_buf_add_cstr(&b, " AS ");
            mt_tool_buf_add_cstr(&b, mt_ch_tables[i].name);
            mt_tool_buf_add_cstr(&b, "_local ENGINE = Distributed(");
            mt_ch_quote(&b, cluster, strlen(cluster));
            mt_tool_buf_add_cstr(&b, ", ");
            mt_ch_quote(&b, ch->database, strlen(ch->database));
            mt_tool_buf_add_cstr(&b, ", ");
            mt_tool_buf_add_cstr(&b, mt_ch_tables[i].name);
            mt_tool_buf_add_cstr(&b, "_local, ");
            mt_tool_buf_add_cstr(&b, mt_ch_tables[i].shard);
            mt_tool_buf_add_cstr(&b, ")");
        }

        rc = mt_ch_exec_on(db, h, &b);
    }

    for (i = 0; rc == MT_DB_OK && i < mt_ch_n(mt_ch_views); i++) {
        b.len = 0;

        switch (i) {
        case 0:
            mt_ch_view_settings(&b);
            break;
        case 1:
            mt_ch_view_messages(&b);
            break;
        default:
            mt_ch_view_suppressions(&b);
        }

        rc = mt_ch_exec_on(db, h, &b);
    }

    if (rc == MT_DB_OK) {
        rc = mt_ch_check_node(db, h, 1);
    }

    mt_tool_buf_free(&b);

    return rc;
}


static void
mt_ch_table_ddl(mt_tool_buf_t *b, const mt_ch_table_t *t, const char *suffix,
    const char *engine)
{
    size_t  i;

    mt_tool_buf_add_cstr(b, "CREATE TABLE IF NOT EXISTS ");
    mt_tool_buf_add_cstr(b, t->name);
    mt_tool_buf_add_cstr(b, suffix);
    mt_tool_buf_add_cstr(b, " (");

    for (i = 0; i < t->ncols; i++) {
        mt_tool_buf_add_cstr(b, i ? ", " : "");
        mt_tool_buf_add_cstr(b, t->cols[i].name);
        mt_tool_buf_add_cstr(b, " ");
        mt_tool_buf_add_cstr(b, t->cols[i].type);
    }

    mt_tool_buf_add_cstr(b, ") ENGINE = ");
    mt_tool_buf_add_cstr(b, engine);
}


/* the latest value of each setting; "" is a setting removed */

static void
mt_ch_view_settings(mt_tool_buf_t *b)
{
    mt_tool_buf_add_cstr(b,
        "CREATE VIEW IF NOT EXISTS mail_settings AS "
        "SELECT name, value FROM (SELECT name, argMax(value, at) AS value "
        "FROM mail_settings_log GROUP BY name) WHERE value != ''");
}


/*
 * mail_messages as the SQL backends have it: the states of a message's
 * events (each made by the core, mt_msgstate_apply) merged as
 * mt_msgstate_merge merges them, field by field: the earliest known
 * time, the latest, the highest rank (the core's orders), the least
 * recipient, the latest url (of two at once the greater bytes), the
 * sources or-ed, and counts of distinct event ids (an event inserted
 * twice counts once).
 */

static void
mt_ch_view_messages(mt_tool_buf_t *b)
{
    unsigned     i;
    char         num[16];
    const char  *states[MT_EV_MAX + 1], *bounces[MT_BOUNCE_MAX];

    static const char  *first[] = {
        "sent_at", "delivered_at", "complained_at", "unsubscribed_at"
    };

    states[0] = "";

    for (i = 0; i < MT_EV_MAX; i++) {
        states[i + 1] = mt_event_type_names[i];
    }

    for (i = 0; i < MT_BOUNCE_MAX; i++) {
        bounces[i] = i ? mt_bounce_names[i] : "";
    }

    mt_tool_buf_add_cstr(b, "CREATE VIEW IF NOT EXISTS mail_messages AS "
        "SELECT " MT_CH_MESSAGES_SELECT " FROM (SELECT message_id, "
        "nullIf(minIf(recipient, recipient != ''), '') AS x_recipient, "
        "nullIf(transform(max(transform(state, ");
    mt_ch_orders(b, mt_msgstate_order, states, MT_EV_MAX + 1, 0);
    mt_tool_buf_add_cstr(b, ", 0)), ");
    mt_ch_orders(b, mt_msgstate_order, states, MT_EV_MAX + 1, 1);
    mt_tool_buf_add_cstr(b, ", ''), '') AS x_state, ");

    for (i = 0; i < 4; i++) {
        mt_tool_buf_add_cstr(b, "nullIf(minIf(");
        mt_tool_buf_add_cstr(b, first[i]);
        mt_tool_buf_add_cstr(b, ", ");
        mt_tool_buf_add_cstr(b, first[i]);
        mt_tool_buf_add_cstr(b, " > 0), 0) AS x_");
        mt_tool_buf_add_cstr(b, first[i]);
        mt_tool_buf_add_cstr(b, ", ");
    }

    /* the latest bounce, of two at once the graver: the greatest key */

    mt_tool_buf_add_cstr(b, "nullIf(transform(toUInt8(max(bounced_at * 8 "
                         "+ transform(bounce, ");
    mt_ch_orders(b, mt_msgstate_bounce_order, bounces, MT_BOUNCE_MAX, 0);
    mt_tool_buf_add_cstr(b, ", 0)) % 8), ");
    mt_ch_orders(b, mt_msgstate_bounce_order, bounces, MT_BOUNCE_MAX, 1);
    mt_tool_buf_add_cstr(b, ", ''), '') AS x_bounce, "
                         "nullIf(intDiv(max(bounced_at * 8 "
                         "+ transform(bounce, ");
    mt_ch_orders(b, mt_msgstate_bounce_order, bounces, MT_BOUNCE_MAX, 0);
    mt_tool_buf_add_cstr(b, ", 0)), 8), 0) AS x_bounced_at, ");

    mt_tool_buf_add_cstr(b,
        "toInt64(uniqExactIf(event_id, opens > 0)) AS x_opens, "
        "toInt64(uniqExactIf(event_id, opens_machine > 0)) "
            "AS x_opens_machine, "
        "nullIf(minIf(opens_first, opens_first > 0), 0) "
            "AS x_opens_first, "
        "nullIf(max(opens_last), 0) AS x_opens_last, "
        "toInt64(uniqExactIf(event_id, clicks > 0)) AS x_clicks, "
        "toInt64(uniqExactIf(event_id, clicks_machine > 0)) "
            "AS x_clicks_machine, "
        "nullIf(minIf(clicks_first, clicks_first > 0), 0) "
            "AS x_clicks_first, "
        "nullIf(max(clicks_last), 0) AS x_clicks_last, "
        "nullIf(argMaxIf(last_url, (url_at, last_url), "
            "last_url != ''), '') AS x_last_url, "
        "nullIf(maxIf(url_at, last_url != ''), 0) AS x_url_at, "
        "nullIf(arrayStringConcat(arrayFilter(x -> x != '', [");

    /* the sources by number, as mt_db_msg_text() writes them */

    for (i = 0; i < MT_SRC_MAX; i++) {
        snprintf(num, sizeof(num), "%u", 1u << i);
        mt_tool_buf_add_cstr(b, i ? ", " : "");
        mt_tool_buf_add_cstr(b, "if(bitAnd(groupBitOr(sources), ");
        mt_tool_buf_add_cstr(b, num);
        mt_tool_buf_add_cstr(b, ") != 0, '");
        mt_tool_buf_add_cstr(b, mt_src_names[i]);
        mt_tool_buf_add_cstr(b, "', '')");
    }

    mt_tool_buf_add_cstr(b, "]), ','), '') AS x_sources, "
        "max(updated_at) AS x_updated_at "
        "FROM mail_message_events GROUP BY message_id)");
}


/*
 * The core's orders as two arrays for transform(): the values and their
 * orders ("[1, 2], [1, 3]"), or back from an order to a name ("[1, 3],
 * ['sent', 'delivered']"); only the values of an order above 0.
 */

static void
mt_ch_orders(mt_tool_buf_t *b, unsigned (*order)(unsigned),
    const char **names, unsigned n, int to_names)
{
    unsigned  i, k, o;
    char      num[16];

    for (k = 0; k < 2; k++) {
        mt_tool_buf_add_cstr(b, k ? ", [" : "[");

        for (i = 0, o = 0; i < n; i++) {
            if (order(i) == 0) {
                continue;
            }

            mt_tool_buf_add_cstr(b, o++ ? ", " : "");

            if (k && to_names) {
                mt_tool_buf_add_cstr(b, "'");
                mt_tool_buf_add_cstr(b, names[i]);
                mt_tool_buf_add_cstr(b, "'");
                continue;
            }

            snprintf(num, sizeof(num), "%u", (k || to_names) ? order(i) : i);
            mt_tool_buf_add_cstr(b, num);
        }

        mt_tool_buf_add_cstr(b, "]");
    }
}


/*
 * mail_suppressions as the SQL backends have it, from the claims and
 * what was done by hand.  A removal at R ends an epoch: the claims at or
 * before R (a hand's suppression is a claim of no event) belong to it,
 * the later ones to the next (z_epoch, the first removal at or after a
 * claim, 0 for the claims after the last one).  Of each epoch: the
 * earliest claim (of two at once the smaller event id) names the
 * reason, source, message and event; the span of the claims; the number
 * of distinct events that suppress by themselves.  The row is the epoch
 * after the last removal when there is one (suppressed), else the last
 * epoch removed; removed_at the last removal, the note the last one
 * given.  An event id that begins with a NUL byte (never one of the
 * loader's: it makes NUL U+FFFD) stands for an event of an address
 * forgotten, counted and never shown.
 */

static void
mt_ch_view_suppressions(mt_tool_buf_t *b)
{
    mt_tool_buf_add_cstr(b,
        "CREATE VIEW IF NOT EXISTS mail_suppressions AS "
        "SELECT " MT_CH_SUPPRESSIONS_SELECT " FROM ("
        "SELECT address, argMax(y_domain, y_key) AS x_domain, "
        "toInt64(min(y_epoch) = 0) AS x_suppressed, "
        "argMax(y_reason, y_key) AS x_reason, "
        "nullIf(argMax(y_src, y_key), '') AS x_src, "
        "nullIf(argMax(y_message_id, y_key), '') AS x_message_id, "
        "argMax(y_event_id, y_key) AS x_event_id0, "
        "nullIf(if(substring(x_event_id0, 1, 1) = '\\0', '', x_event_id0), "
            "'') AS x_event_id, "
        "argMax(y_first_at, y_key) AS x_first_at, "
        "argMax(y_last_at, y_key) AS x_last_at, "
        "argMax(y_events, y_key) AS x_events, "
        "nullIf(max(y_removed_at), 0) AS x_removed_at, "
        "argMax(y_note, y_note_at) AS x_note FROM ("

        "SELECT address, z_epoch AS y_epoch, "
        "if(z_epoch = 0, toInt64(9223372036854775807), z_epoch) AS y_key, "
        "any(domain) AS y_domain, "
        "argMin(reason, (at, event_id)) AS y_reason, "
        "argMin(src, (at, event_id)) AS y_src, "
        "argMin(message_id, (at, event_id)) AS y_message_id, "
        "argMin(event_id, (at, event_id)) AS y_event_id, "
        "min(at) AS y_first_at, max(at) AS y_last_at, "
        "toInt64(uniqExactIf(event_id, events > 0)) AS y_events, "
        "any(z_removed) AS y_removed_at, "
        "argMax(note, at) AS y_note, "
        "maxIf(at, isNotNull(note)) AS y_note_at FROM ("

        "SELECT address, domain, reason, src, message_id, event_id, at, "
        "events, note, z_removed, "
        "arrayReduce('min', arrayFilter(r -> r >= at, z_removals)) "
            "AS z_epoch FROM ("
        "SELECT address, domain, reason, src, message_id, event_id, at, "
        "events, CAST(NULL AS Nullable(String)) AS note "
        "FROM mail_suppression_claims UNION ALL "
        "SELECT address, domain, reason, '' AS src, '' AS message_id, "
        "'' AS event_id, at, toInt64(0) AS events, note "
        "FROM mail_suppression_hand WHERE reason != '') "
        "ANY LEFT JOIN (SELECT address, groupArray(at) AS z_removals, "
        "max(at) AS z_removed FROM mail_suppression_hand "
        "WHERE reason = '' GROUP BY address) USING address) "
        "GROUP BY address, z_epoch) GROUP BY address)");
}


/*
 * The tables of ours a node has must have our columns, no more and no
 * fewer, of our types; with must_exist, every one must be there.
 */

int
mt_ch_schema_check(mt_db_t *db)
{
    int       rc;
    size_t    i;
    mt_ch_t  *ch = db->conn;

    for (i = 0; i < (db->cluster ? ch->nnodes : 1); i++) {
        rc = mt_ch_check_node(db, db->cluster ? mt_ch_node(db, i)
                                              : &ch->node[0], 1);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    return MT_DB_OK;
}


static int
mt_ch_check_node(mt_db_t *db, mt_http_t *h, int must_exist)
{
    int                 rc, local;
    size_t              i, k;
    uint64_t            all;
    mt_ch_check_ctx_t   ctx;

    if (h == NULL) {
        return MT_DB_DOWN;
    }

    memset(&ctx, 0, sizeof(mt_ch_check_ctx_t));

    rc = mt_ch_query_on(db, h, "SELECT table, name, type FROM system.columns "
                        "WHERE database = currentDatabase() "
                        "AND substring(table, 1, 5) = 'mail_'", NULL, 0,
                        mt_ch_check_row, &ctx);
    if (rc != MT_DB_OK) {
        return rc;
    }

    if (ctx.wrong[0] == '\0') {
        for (i = 0; i < MT_CH_T_MAX; i++) {
            all = (mt_ch_tables[i].ncols == 64)
                  ? ~0ULL : (1ULL << mt_ch_tables[i].ncols) - 1;

            for (k = 0; k < 2; k++) {
                local = (k == 1);

                if (ctx.seen[i][k] == all) {
                    continue;
                }

                if (ctx.seen[i][k] != 0) {
                    snprintf(ctx.wrong, sizeof(ctx.wrong), "%s%s lacks "
                             "columns of schema version %d",
                             mt_ch_tables[i].name, local ? "_local" : "",
                             MT_DB_SCHEMA_VERSION);
                    break;
                }

                if (must_exist && (!local || db->cluster != NULL)) {
                    snprintf(ctx.wrong, sizeof(ctx.wrong), "no table %s%s",
                             mt_ch_tables[i].name, local ? "_local" : "");
                    break;
                }
            }

            if (ctx.wrong[0] != '\0') {
                break;
            }
        }
    }

    if (ctx.wrong[0] != '\0') {
        mt_db_error(db, "%s: %s; not made by this mail-track: the "
                    "database was not changed", h->base, ctx.wrong);
        return MT_DB_ERROR;
    }

    return MT_DB_OK;
}


static int
mt_ch_check_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    int                 local;
    size_t              i, k, n;
    const mt_ch_col_t  *c;
    mt_ch_check_ctx_t  *ctx = data;

    if (ncols < 3 || cols[0] == NULL || cols[1] == NULL || cols[2] == NULL
        || ctx->wrong[0] != '\0')
    {
        return 0;
    }

    for (i = 0; i < MT_CH_T_MAX; i++) {
        n = strlen(mt_ch_tables[i].name);

        if (lens[0] == n && memcmp(cols[0], mt_ch_tables[i].name, n) == 0) {
            local = 0;

        } else if (lens[0] == n + 6
                   && memcmp(cols[0], mt_ch_tables[i].name, n) == 0
                   && memcmp(cols[0] + n, "_local", 6) == 0)
        {
            local = 1;

        } else {
            continue;
        }

        for (k = 0; k < mt_ch_tables[i].ncols; k++) {
            c = &mt_ch_tables[i].cols[k];

            if (strcmp(c->name, cols[1]) != 0) {
                continue;
            }

            if (strcmp(c->type, cols[2]) != 0) {
                snprintf(ctx->wrong, sizeof(ctx->wrong), "%s.%s is %s, "
                         "not %s", cols[0], cols[1], cols[2], c->type);
                return 0;
            }

            ctx->seen[i][local] |= 1ULL << k;
            return 0;
        }

        snprintf(ctx->wrong, sizeof(ctx->wrong), "%s has a column %s that "
                 "schema version %d does not", cols[0], cols[1],
                 MT_DB_SCHEMA_VERSION);
        return 0;
    }

    return 0;
}


static int
mt_ch_shard_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    (void) lens;

    if (ncols >= 1 && cols[0] != NULL) {
        *(int *) data = atoi(cols[0]);
    }

    return 0;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The database layer of mail-track: one interface, a backend per
 * database (SQLite, PostgreSQL).  Callers speak of files, events,
 * messages and suppressions; each backend keeps its SQL to itself.
 *
 * A load transaction, in this order (the order is the lock order that
 * keeps concurrent loaders free of deadlocks):
 *
 *     begin
 *     file_add ...              the ledger rows; tells a file loaded before
 *     insert_events             sets is_new on events not seen before
 *     messages_get              rows of the touched messages, sorted by id,
 *                               held until the commit
 *     messages_put              the rows merged with the new events
 *     soft_bounces, suppress    sorted by address
 *     file_done                 the ledger row's counts
 *     commit (or rollback)
 */


#ifndef _MT_TOOL_DB_H_INCLUDED_
#define _MT_TOOL_DB_H_INCLUDED_


#include "mt_tool.h"
#include "mt_event.h"
#include "mt_msgstate.h"


/* the schema this tool writes; a newer one in a database is refused */
#define MT_DB_SCHEMA_VERSION    1

/* results of the backend functions */
#define MT_DB_OK                0
#define MT_DB_ERROR             -1   /* the statement or data: reported */
#define MT_DB_RETRY             -2   /* deadlock or serialization failure */
#define MT_DB_DOWN              -3   /* connection, auth, read-only: retry */

#define MT_DB_ERR_LEN           512


typedef struct mt_db_s          mt_db_t;
typedef struct mt_db_backend_s  mt_db_backend_t;


/* an arena of the strings of one transaction, freed at once */
typedef struct mt_arena_block_s  mt_arena_block_t;

typedef struct {
    mt_arena_block_t           *blocks;
    u_char                     *pos;
    u_char                     *end;
    size_t                      total;
} mt_arena_t;


/* one record of a spool file, decoded for loading */
typedef struct {
    mt_event_t                  ev;        /* typed; strings in the arena */
    mt_str_t                    src;       /* as recorded */
    mt_str_t                    type;
    mt_str_t                    bounce;
    mt_str_t                    extra;     /* unknown keys: a JSON object */
    int64_t                     at;        /* ts, else rt: the event time */
    int64_t                     v;
    int64_t                     file_id;   /* mail_files: whence it came */
    uint32_t                    repaired;  /* strings with bad UTF-8, NUL */
    unsigned                    known:1;   /* src and type are known */
    unsigned                    is_new:1;  /* set by insert_events */
} mt_db_event_t;


/* a spool file in the ledger (mail_files) */
typedef struct {
    int64_t                     file_id;   /* set by file_add */
    char                        sha256[65];
    const char                 *name;
    mt_str_t                    host;      /* from the name */
    int64_t                     size;
    int64_t                     events;    /* new */
    int64_t                     duplicates;
    int64_t                     invalid;
    int64_t                     repaired;
    int64_t                     damaged_at;  /* first damage, or -1 */
} mt_db_file_t;


/*
 * The claims of one transaction's events on an address's suppression
 * (mail_suppressions), merged per address: the earliest claim's reason,
 * source, message and event, the time span and the number of events.
 */
typedef struct {
    mt_str_t                    address;   /* normalized, mt_rcpt.h */
    mt_str_t                    domain;
    const char                 *reason;    /* hard_bounce complaint ... */
    mt_str_t                    src;
    mt_str_t                    message_id;
    mt_str_t                    event_id;
    int64_t                     first_at;
    int64_t                     last_at;
    int64_t                     events;
} mt_db_suppress_t;


/* a soft bounce, counted towards the soft bounce limit */
typedef struct {
    mt_str_t                    address;
    mt_str_t                    event_id;
    mt_str_t                    message_id;
    mt_str_t                    src;
    int64_t                     at;
} mt_db_soft_t;


/* a message's state (mail_messages): the core's, and its strings */
typedef struct {
    mt_msgstate_t               st;
    mt_msgstate_str_t           s;
    mt_str_t                    event_id;  /* per_event backends: its one */
    unsigned                    found:1;   /* backends: the row is there */
} mt_db_msg_t;


/* mail_messages columns, in this order (mt_db_msg_parse, _values) */
typedef enum {
    MT_DB_MSG_ID = 0,
    MT_DB_MSG_RCPT,
    MT_DB_MSG_STATE,
    MT_DB_MSG_SENT_AT,
    MT_DB_MSG_DELIVERED_AT,
    MT_DB_MSG_BOUNCE,
    MT_DB_MSG_BOUNCED_AT,
    MT_DB_MSG_COMPLAINED_AT,
    MT_DB_MSG_UNSUBSCRIBED_AT,
    MT_DB_MSG_OPENS,
    MT_DB_MSG_OPENS_MACHINE,
    MT_DB_MSG_OPENS_FIRST,
    MT_DB_MSG_OPENS_LAST,
    MT_DB_MSG_CLICKS,
    MT_DB_MSG_CLICKS_MACHINE,
    MT_DB_MSG_CLICKS_FIRST,
    MT_DB_MSG_CLICKS_LAST,
    MT_DB_MSG_LAST_URL,
    MT_DB_MSG_URL_AT,
    MT_DB_MSG_SOURCES,
    MT_DB_MSG_UPDATED_AT,
    MT_DB_MSG_NCOLS
} mt_db_msg_col_e;


/* a column's value, as the backends bind it */
#define MT_DB_NULL              0
#define MT_DB_TEXT              1
#define MT_DB_INT               2

/* the mail_messages columns that are integers; the others are text */
#define MT_DB_MSG_INTS                                                        \
    ((1 << MT_DB_MSG_SENT_AT) | (1 << MT_DB_MSG_DELIVERED_AT)                 \
     | (1 << MT_DB_MSG_BOUNCED_AT) | (1 << MT_DB_MSG_COMPLAINED_AT)           \
     | (1 << MT_DB_MSG_UNSUBSCRIBED_AT) | (1 << MT_DB_MSG_OPENS)              \
     | (1 << MT_DB_MSG_OPENS_MACHINE) | (1 << MT_DB_MSG_OPENS_FIRST)          \
     | (1 << MT_DB_MSG_OPENS_LAST) | (1 << MT_DB_MSG_CLICKS)                  \
     | (1 << MT_DB_MSG_CLICKS_MACHINE) | (1 << MT_DB_MSG_CLICKS_FIRST)        \
     | (1 << MT_DB_MSG_CLICKS_LAST) | (1 << MT_DB_MSG_URL_AT)                 \
     | (1 << MT_DB_MSG_UPDATED_AT))

#define MT_DB_MSG_IS_INT(c)     ((MT_DB_MSG_INTS >> (c)) & 1)

/* the values of a mail_messages row's columns (mt_db_msg_values) */
typedef struct {
    uint8_t                     type[MT_DB_MSG_NCOLS];
    const char                 *text[MT_DB_MSG_NCOLS];
    size_t                      len[MT_DB_MSG_NCOLS];
    int64_t                     num[MT_DB_MSG_NCOLS];
    char                        sources[MT_SRC_MAX * 12];
} mt_db_msg_values_t;


/* the row of message m, as a state; its strings live as long as the call */
typedef int (*mt_db_msg_row_pt)(void *data, mt_db_msg_t *m,
    mt_db_msg_t *row);

/* what prune did */
typedef struct {
    int64_t                     events;      /* rows deleted */
    int64_t                     partitions;  /* whole months dropped */
    char                        first[32];   /* the first one's name */
    char                        last[32];
    int64_t                     messages;    /* with rest: deleted too */
    int64_t                     soft;
    unsigned                    rest:1;      /* the backend did them */
} mt_db_prune_t;


/* a row of a query, as text; a NULL column is NULL */
typedef int (*mt_db_row_pt)(void *data, int ncols, const char **cols,
    const size_t *lens);


struct mt_db_backend_s {
    const char                 *name;

    int    (*open)(mt_db_t *db, const char *url);
    void   (*close)(mt_db_t *db);

    /*
     * The schema (mt_db_schema() drives it): the names of the tables
     * there are (one column), what begins a transaction that makes it
     * (under a lock no other loader gets past), and the statements.
     */
    const char                 *tables_sql;
    const char                 *schema_begin;
    const char                 *schema_ddl;

    /* statements without parameters or rows, ";"-separated */
    int    (*exec)(mt_db_t *db, const char *sql);

    int    (*begin)(mt_db_t *db);
    int    (*commit)(mt_db_t *db);
    void   (*rollback)(mt_db_t *db);

    /* *loaded: a file with the same content was loaded before */
    int    (*file_add)(mt_db_t *db, mt_db_file_t *f, int *loaded);
    int    (*file_done)(mt_db_t *db, mt_db_file_t *f);

    /*
     * The events of the transaction (distinct ids, each with its file),
     * in one call; marks the new ones.
     */
    int    (*insert_events)(mt_db_t *db, mt_db_event_t **ev, size_t n);

    /*
     * The rows of these messages (distinct ids, sorted by bytes), held
     * against other loaders until the commit: row() gets each there is
     * with its m[i] (mt_db_msg_from_values() makes it), and m[i]->found
     * tells which are there; row NULL: the rows are only held.
     */
    int    (*messages_get)(mt_db_t *db, mt_db_msg_t **m, size_t n,
               mt_db_msg_row_pt row, void *data);
    int    (*messages_put)(mt_db_t *db, mt_db_msg_t **m, size_t n);

    /*
     * Records soft bounces (sorted by address), holds their addresses
     * against other loaders until the commit, and calls row for every
     * soft bounce of these addresses within window ms of one of them:
     * cols address, at, event_id, message_id, src; ordered by address,
     * at.
     */
    int    (*soft_bounces)(mt_db_t *db, mt_db_soft_t *s, size_t n,
               int64_t window, mt_db_row_pt row, void *data);

    /* merges claims (distinct addresses, sorted) into mail_suppressions */
    int    (*suppress)(mt_db_t *db, mt_db_suppress_t *s, size_t n);

    /*
     * One statement; params as text ("$1".. in the SQL, any order), a
     * canonical integer ("42", "-7") an integer; row may be NULL.
     */
    int    (*query)(mt_db_t *db, const char *sql, const char **params,
               int nparams, mt_db_row_pt row, void *data);

    /*
     * A backend without transactions (ClickHouse) keeps everything as
     * sets that a repeated insert cannot change: per_event, the loader
     * gives messages_put one state per new event (event_id set) without
     * messages_get, and suppress the claims of each event unmerged.
     */
    unsigned                    per_event;

    /* optional: the tables are those of the schema (after the version) */
    int    (*check)(mt_db_t *db);

    /* optional: stores a setting (value NULL: removes it); else SQL */
    int    (*setting)(mt_db_t *db, const char *name, const char *value);

    /* the bytes of spool files a transaction takes; 0: the loader's */
    size_t                      tx_bytes;

    /*
     * The domain of mail_events.rcpt as mt_rcpt_normalize() and
     * mt_rcpt_domain() make it, NULL when empty: an SQL expression.
     */
    const char                 *rcpt_domain_sql;

    /*
     * What holds an address ($1) against loaders until the commit, as
     * soft_bounces() holds it; NULL when a transaction holds everything.
     */
    const char                 *lock_address_sql;

    /*
     * Deletes the events before a time (ms), in transactions of its own:
     * whole partitions where it can, rows elsewhere.
     */
    int    (*prune)(mt_db_t *db, int64_t before, mt_db_prune_t *stats);

    /* ORDER BY x <this>: by bytes, as every backend sorts the same */
    const char                 *bytes_order;

    /*
     * A backend without DELETE (ClickHouse): deletes the rows of table
     * where ("$1".. the params) holds, done when it returns; NULL: SQL.
     */
    int    (*delete_rows)(mt_db_t *db, const char *table, const char *where,
               const char **params, int nparams);
};


struct mt_db_s {
    const mt_db_backend_t      *backend;
    void                       *conn;        /* the backend's */
    char                       *url;         /* without a password */
    char                        loader[256]; /* this host, for mail_files */
    char                        err[MT_DB_ERR_LEN];
    int64_t                     soft_limit;  /* N soft bounces ... */
    int64_t                     soft_window; /* ... within ms: suppress */
    const char                 *cluster;     /* db init --cluster */
};

/*
 * Schema version 1, the columns every backend creates (docs/loading.md);
 * I is the backend's 64-bit integer type, B its boolean.  Times are
 * integers: ms since the epoch, as in the records and the status API.
 */

#define MT_DB_FILES_COLUMNS(I)                                                \
    "sha256 TEXT NOT NULL UNIQUE, name TEXT NOT NULL, host TEXT, "            \
    "size " I " NOT NULL, events " I " NOT NULL DEFAULT 0, "                  \
    "duplicates " I " NOT NULL DEFAULT 0, invalid " I " NOT NULL DEFAULT 0, " \
    "repaired " I " NOT NULL DEFAULT 0, damaged_at " I ", "                   \
    "loaded_at " I " NOT NULL, loader TEXT NOT NULL"

#define MT_DB_EVENTS_COLUMNS(I, B)                                            \
    "id TEXT NOT NULL, at " I " NOT NULL, ts " I ", rt " I " NOT NULL, "      \
    "src TEXT NOT NULL, type TEXT NOT NULL, esp_type TEXT, mid TEXT, "        \
    "esp_mid TEXT, rcpt TEXT, bounce TEXT, smtp_status TEXT, "                \
    "smtp_code INTEGER, reason TEXT, url TEXT, ip TEXT, ua TEXT, "            \
    "machine " B ", why TEXT, tag TEXT, v INTEGER NOT NULL, extra TEXT, "     \
    "file_id " I " NOT NULL"

/* the columns as insert_events writes them */
#define MT_DB_EVENTS_INSERT                                                   \
    "id, at, ts, rt, src, type, esp_type, mid, esp_mid, rcpt, bounce, "       \
    "smtp_status, smtp_code, reason, url, ip, ua, machine, why, tag, v, "     \
    "extra, file_id"
#define MT_DB_EVENTS_NCOLS      23

#define MT_DB_SUPPRESSIONS_COLUMNS(I)                                         \
    "address TEXT PRIMARY KEY, domain TEXT NOT NULL, "                        \
    "suppressed INTEGER NOT NULL, reason TEXT NOT NULL, src TEXT, "           \
    "message_id TEXT, event_id TEXT, first_at " I " NOT NULL, "               \
    "last_at " I " NOT NULL, events " I " NOT NULL, removed_at " I ", "       \
    "note TEXT"

#define MT_DB_MESSAGES_COLUMNS(I)                                             \
    "recipient TEXT, state TEXT, sent_at " I ", delivered_at " I ", "         \
    "bounce TEXT, bounced_at " I ", complained_at " I ", "                    \
    "unsubscribed_at " I ", opens " I " NOT NULL DEFAULT 0, "                 \
    "opens_machine " I " NOT NULL DEFAULT 0, opens_first " I ", "             \
    "opens_last " I ", clicks " I " NOT NULL DEFAULT 0, "                     \
    "clicks_machine " I " NOT NULL DEFAULT 0, clicks_first " I ", "           \
    "clicks_last " I ", last_url TEXT, url_at " I ", sources TEXT, "          \
    "updated_at " I

#define MT_DB_MESSAGES_SELECT                                                 \
    "message_id, recipient, state, sent_at, delivered_at, bounce, "           \
    "bounced_at, complained_at, unsubscribed_at, opens, opens_machine, "      \
    "opens_first, opens_last, clicks, clicks_machine, clicks_first, "         \
    "clicks_last, last_url, url_at, sources, updated_at"

#define MT_DB_SOFT_COLUMNS(I)                                                 \
    "address TEXT NOT NULL, at " I " NOT NULL, event_id TEXT NOT NULL, "      \
    "message_id TEXT, src TEXT, PRIMARY KEY (address, at, event_id)"

#define MT_DB_SETTINGS_COLUMNS                                                \
    "name TEXT PRIMARY KEY, value TEXT NOT NULL"

#define MT_DB_SCHEMA_COLUMNS(I)                                               \
    "version INTEGER PRIMARY KEY, applied_at " I " NOT NULL, "                \
    "tool TEXT NOT NULL"

/*
 * How a claim merges into an address's row (one rule for every SQL
 * backend): an event at or before a manual removal is ignored; on a row
 * not suppressed (removed before) the claim starts it anew; otherwise
 * the earliest claim names the reason, and the span and count grow.
 */
#define MT_DB_SUPPRESS_TAKE                                                   \
    "(mail_suppressions.suppressed = 0 "                                      \
    "OR excluded.first_at < mail_suppressions.first_at "                      \
    "OR (excluded.first_at = mail_suppressions.first_at "                     \
    "AND excluded.event_id < mail_suppressions.event_id))"

#define MT_DB_SUPPRESS_MERGE                                                  \
    " ON CONFLICT (address) DO UPDATE SET "                                   \
    "reason = CASE WHEN " MT_DB_SUPPRESS_TAKE                                 \
        " THEN excluded.reason ELSE mail_suppressions.reason END, "           \
    "src = CASE WHEN " MT_DB_SUPPRESS_TAKE                                    \
        " THEN excluded.src ELSE mail_suppressions.src END, "                 \
    "message_id = CASE WHEN " MT_DB_SUPPRESS_TAKE                             \
        " THEN excluded.message_id ELSE mail_suppressions.message_id END, "   \
    "event_id = CASE WHEN " MT_DB_SUPPRESS_TAKE                               \
        " THEN excluded.event_id ELSE mail_suppressions.event_id END, "       \
    "first_at = CASE WHEN " MT_DB_SUPPRESS_TAKE                               \
        " THEN excluded.first_at ELSE mail_suppressions.first_at END, "       \
    "last_at = CASE WHEN mail_suppressions.suppressed = 0 "                   \
        "OR excluded.last_at > mail_suppressions.last_at "                    \
        "THEN excluded.last_at ELSE mail_suppressions.last_at END, "          \
    "events = CASE WHEN mail_suppressions.suppressed = 0 "                    \
        "THEN excluded.events "                                               \
        "ELSE mail_suppressions.events + excluded.events END, "               \
    "suppressed = 1 "                                                         \
    "WHERE mail_suppressions.removed_at IS NULL "                             \
        "OR excluded.first_at > mail_suppressions.removed_at"


/* mt_tool_db.c */
int mt_db_open(mt_db_t *db, const char *url);
void mt_db_close(mt_db_t *db);
int mt_db_ready(mt_db_t *db, int create);
int mt_db_schema(mt_db_t *db, int create, int *version);
void mt_db_error(mt_db_t *db, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
int mt_db_setting(mt_db_t *db, const char *name, char *buf, size_t size);

int mt_db_msg_parse(int ncols, const char **cols, const size_t *lens,
    mt_db_msg_t *m);
int mt_db_msg_from_values(const mt_db_msg_values_t *r, mt_db_msg_t *m);
void mt_db_msg_values(const mt_db_msg_t *m, int64_t now,
    mt_db_msg_values_t *r);

int mt_db_str_cmp(const mt_str_t *a, const mt_str_t *b);
int mt_db_msg_cmp(const void *a, const void *b);
uint32_t mt_db_str_hash(const mt_str_t *s);
int mt_db_sort(void **items, size_t n, const mt_str_t *(*key)(const void *));

void mt_arena_init(mt_arena_t *a);
void *mt_arena_alloc(mt_arena_t *a, size_t size);
u_char *mt_arena_dup(mt_arena_t *a, const u_char *p, size_t len);
void mt_arena_free(mt_arena_t *a);

/* mt_tool_record.c */
int mt_record_decode(const msgpack_object *rec, mt_db_event_t *e,
    mt_arena_t *a, mt_tool_buf_t *tmp, const char **err);
void mt_record_typed(mt_db_event_t *e);

/* the backends */
extern const mt_db_backend_t  mt_db_sqlite;
extern const mt_db_backend_t  mt_db_pg;
extern const mt_db_backend_t  mt_db_clickhouse;


#endif /* _MT_TOOL_DB_H_INCLUDED_ */

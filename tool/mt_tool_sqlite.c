
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The SQLite backend: sqlite:PATH.  WAL with synchronous=FULL (a commit
 * is on disk before the loader moves the file: exactly once survives a
 * power cut), BEGIN IMMEDIATE (one writer at a time, the others wait),
 * prepared statements kept for the connection's life.
 */


#include "mt_tool_db.h"
#include "mt_rcpt.h"

#include <sqlite3.h>
#include <time.h>
#include <unistd.h>


#define MT_SQLITE_BUSY_MS       60000
#define MT_SQLITE_PRUNE_BATCH   "10000"


typedef enum {
    MT_SQ_FILE_ADD = 0,
    MT_SQ_FILE_DONE,
    MT_SQ_EVENT,
    MT_SQ_SOFT_ADD,
    MT_SQ_SOFT_GET,
    MT_SQ_SUPPRESS,
    MT_SQ_MSG_GET,
    MT_SQ_MSG_INSERT,
    MT_SQ_MSG_UPDATE,
    MT_SQ_MAX
} mt_sqlite_stmt_e;


typedef struct {
    sqlite3                    *db;
    sqlite3_stmt               *stmt[MT_SQ_MAX];
} mt_sqlite_t;


static int mt_sqlite_open(mt_db_t *db, const char *url);
static void mt_sqlite_close(mt_db_t *db);
static int mt_sqlite_fail(mt_db_t *db, int rc, const char *what);
static int mt_sqlite_exec(mt_db_t *db, const char *sql);
static int mt_sqlite_begin(mt_db_t *db);
static int mt_sqlite_commit(mt_db_t *db);
static void mt_sqlite_rollback(mt_db_t *db);
static sqlite3_stmt *mt_sqlite_stmt(mt_db_t *db, mt_sqlite_stmt_e i);
static int mt_sqlite_step(mt_db_t *db, sqlite3_stmt *st);
static void mt_sqlite_text(sqlite3_stmt *st, int i, mt_str_t *s);
static void mt_sqlite_int(sqlite3_stmt *st, int i, int64_t v);
static int mt_sqlite_file_add(mt_db_t *db, mt_db_file_t *f, int *loaded);
static int mt_sqlite_file_done(mt_db_t *db, mt_db_file_t *f);
static int mt_sqlite_insert_events(mt_db_t *db, mt_db_event_t **ev,
    size_t n);
static int mt_sqlite_soft_bounces(mt_db_t *db, mt_db_soft_t *s, size_t n,
    int64_t window, mt_db_row_pt row, void *data);
static int mt_sqlite_suppress(mt_db_t *db, mt_db_suppress_t *s, size_t n);
static int mt_sqlite_messages_get(mt_db_t *db, mt_db_msg_t **m, size_t n,
    mt_db_msg_row_pt row, void *data);
static int mt_sqlite_messages_put(mt_db_t *db, mt_db_msg_t **m, size_t n);
static int mt_sqlite_rows(mt_db_t *db, sqlite3_stmt *st, mt_db_row_pt row,
    void *data);
static int mt_sqlite_query(mt_db_t *db, const char *sql,
    const char **params, int nparams, mt_db_row_pt row, void *data);
static int mt_sqlite_is_int(const char *s);
static void mt_sqlite_rcpt_domain(sqlite3_context *ctx, int argc,
    sqlite3_value **argv);
static int mt_sqlite_prune(mt_db_t *db, int64_t before,
    mt_db_prune_t *stats);


static const char  mt_sqlite_ddl[] =
    "CREATE TABLE mail_schema (" MT_DB_SCHEMA_COLUMNS("INTEGER") ");"
    "CREATE TABLE mail_settings (" MT_DB_SETTINGS_COLUMNS ");"
    "CREATE TABLE mail_files (file_id INTEGER PRIMARY KEY, "
        MT_DB_FILES_COLUMNS("INTEGER") ");"
    "CREATE TABLE mail_events (" MT_DB_EVENTS_COLUMNS("INTEGER", "INTEGER")
        ");"
    "CREATE UNIQUE INDEX mail_events_id ON mail_events (id);"
    "CREATE INDEX mail_events_at ON mail_events (at);"
    "CREATE TABLE mail_messages (message_id TEXT PRIMARY KEY, "
        MT_DB_MESSAGES_COLUMNS("INTEGER") ") WITHOUT ROWID;"
    "CREATE TABLE mail_suppressions ("
        MT_DB_SUPPRESSIONS_COLUMNS("INTEGER") ");"
    "CREATE TABLE mail_soft_bounces (" MT_DB_SOFT_COLUMNS("INTEGER")
        ") WITHOUT ROWID;";


const mt_db_backend_t  mt_db_sqlite = {
    "sqlite",
    mt_sqlite_open,
    mt_sqlite_close,
    "SELECT name FROM sqlite_master WHERE type = 'table'",
    "BEGIN IMMEDIATE",
    mt_sqlite_ddl,
    mt_sqlite_exec,
    mt_sqlite_begin,
    mt_sqlite_commit,
    mt_sqlite_rollback,
    mt_sqlite_file_add,
    mt_sqlite_file_done,
    mt_sqlite_insert_events,
    mt_sqlite_messages_get,
    mt_sqlite_messages_put,
    mt_sqlite_soft_bounces,
    mt_sqlite_suppress,
    mt_sqlite_query,
    0,
    NULL,
    NULL,
    0,
    "mt_rcpt_domain(rcpt)",
    NULL,
    mt_sqlite_prune,
    "COLLATE BINARY",
    NULL                                     /* delete_rows: DELETE */
};


static const char  *mt_sqlite_sql[MT_SQ_MAX] = {

    "INSERT INTO mail_files (sha256, name, host, size, loaded_at, loader) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sha256) DO NOTHING",

    "UPDATE mail_files SET events = $1, duplicates = $2, invalid = $3, "
    "repaired = $4, damaged_at = $5 WHERE file_id = $6",

    "INSERT INTO mail_events (" MT_DB_EVENTS_INSERT ") VALUES ($1, $2, $3, "
    "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "
    "$19, $20, $21, $22, $23) ON CONFLICT (id) DO NOTHING",

    "INSERT INTO mail_soft_bounces (address, at, event_id, message_id, src) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",

    "SELECT address, at, event_id, message_id, src FROM mail_soft_bounces "
    "WHERE address = $1 AND at BETWEEN $2 AND $3 ORDER BY at, event_id",

    "INSERT INTO mail_suppressions (address, domain, suppressed, reason, "
    "src, message_id, event_id, first_at, last_at, events) "
    "VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9)" MT_DB_SUPPRESS_MERGE,

    "SELECT " MT_DB_MESSAGES_SELECT " FROM mail_messages "
    "WHERE message_id = $1",

    "INSERT INTO mail_messages (" MT_DB_MESSAGES_SELECT ") "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
    "$15, $16, $17, $18, $19, $20, $21)",

    /* numbered as in the INSERT (?N: SQLite numbers $N in order seen) */

    "UPDATE mail_messages SET recipient = ?2, state = ?3, sent_at = ?4, "
    "delivered_at = ?5, bounce = ?6, bounced_at = ?7, complained_at = ?8, "
    "unsubscribed_at = ?9, opens = ?10, opens_machine = ?11, "
    "opens_first = ?12, opens_last = ?13, clicks = ?14, "
    "clicks_machine = ?15, clicks_first = ?16, clicks_last = ?17, "
    "last_url = ?18, url_at = ?19, sources = ?20, updated_at = ?21 "
    "WHERE message_id = ?1"
};




static int
mt_sqlite_open(mt_db_t *db, const char *url)
{
    int           rc;
    const char   *path;
    mt_sqlite_t  *sq;

    path = url + sizeof("sqlite:") - 1;

    if (*path == '\0') {
        mt_tool_error("--db \"%s\": expected sqlite:PATH", url);
        return MT_DB_ERROR;
    }

    sq = calloc(1, sizeof(mt_sqlite_t));
    if (sq == NULL) {
        mt_tool_error("out of memory");
        return MT_DB_ERROR;
    }

    db->conn = sq;

    rc = sqlite3_open_v2(path, &sq->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                         | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc != SQLITE_OK) {
        return mt_sqlite_fail(db, rc, "open");
    }

    sqlite3_extended_result_codes(sq->db, 1);
    sqlite3_busy_timeout(sq->db, MT_SQLITE_BUSY_MS);

    /* the loader's normalization, for the reports (rcpt_domain_sql) */

    rc = sqlite3_create_function_v2(sq->db, "mt_rcpt_domain", 1,
                                    SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                    NULL, mt_sqlite_rcpt_domain, NULL, NULL,
                                    NULL);
    if (rc != SQLITE_OK) {
        return mt_sqlite_fail(db, rc, "sqlite3_create_function");
    }

    /* WAL needs a writable directory; a read-only file keeps its mode */

    (void) mt_sqlite_exec(db, "PRAGMA journal_mode = WAL");

    rc = mt_sqlite_exec(db, "PRAGMA synchronous = FULL;"
                        "PRAGMA foreign_keys = OFF;"
                        "PRAGMA cache_size = -65536");
    if (rc != MT_DB_OK) {
        return rc;
    }

    return MT_DB_OK;
}


static void
mt_sqlite_close(mt_db_t *db)
{
    int           i;
    mt_sqlite_t  *sq = db->conn;

    for (i = 0; i < MT_SQ_MAX; i++) {
        sqlite3_finalize(sq->stmt[i]);
    }

    sqlite3_close(sq->db);
    free(sq);
}


/* the error in db->err, classified */

static int
mt_sqlite_fail(mt_db_t *db, int rc, const char *what)
{
    mt_sqlite_t  *sq = db->conn;

    mt_db_error(db, "%s: %s", what,
                sq->db ? sqlite3_errmsg(sq->db) : sqlite3_errstr(rc));

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return MT_DB_RETRY;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return MT_DB_DOWN;
    default:
        return MT_DB_ERROR;
    }
}


static int
mt_sqlite_exec(mt_db_t *db, const char *sql)
{
    int           rc;
    char         *msg;
    mt_sqlite_t  *sq = db->conn;

    msg = NULL;

    rc = sqlite3_exec(sq->db, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK) {
        sqlite3_free(msg);
        return mt_sqlite_fail(db, rc, "sqlite");
    }

    return MT_DB_OK;
}


static int
mt_sqlite_begin(mt_db_t *db)
{
    return mt_sqlite_exec(db, "BEGIN IMMEDIATE");
}


static int
mt_sqlite_commit(mt_db_t *db)
{
    return mt_sqlite_exec(db, "COMMIT");
}


static void
mt_sqlite_rollback(mt_db_t *db)
{
    mt_sqlite_t  *sq = db->conn;

    if (!sqlite3_get_autocommit(sq->db)) {
        (void) sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
    }
}


static sqlite3_stmt *
mt_sqlite_stmt(mt_db_t *db, mt_sqlite_stmt_e i)
{
    int           rc;
    mt_sqlite_t  *sq = db->conn;

    if (sq->stmt[i] == NULL) {
        rc = sqlite3_prepare_v3(sq->db, mt_sqlite_sql[i], -1,
                                SQLITE_PREPARE_PERSISTENT, &sq->stmt[i],
                                NULL);
        if (rc != SQLITE_OK) {
            (void) mt_sqlite_fail(db, rc, "prepare");
            return NULL;
        }
    }

    sqlite3_reset(sq->stmt[i]);
    sqlite3_clear_bindings(sq->stmt[i]);

    return sq->stmt[i];
}


/* a statement without rows */

static int
mt_sqlite_step(mt_db_t *db, sqlite3_stmt *st)
{
    int  rc;

    rc = sqlite3_step(st);
    sqlite3_reset(st);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        return mt_sqlite_fail(db, rc, "sqlite");
    }

    return MT_DB_OK;
}


/* an empty string is unknown: NULL */

static void
mt_sqlite_text(sqlite3_stmt *st, int i, mt_str_t *s)
{
    if (s->len == 0) {
        return;
    }

    sqlite3_bind_text(st, i, (const char *) s->data, (int) s->len,
                      SQLITE_STATIC);
}


static void
mt_sqlite_int(sqlite3_stmt *st, int i, int64_t v)
{
    sqlite3_bind_int64(st, i, v);
}


static int
mt_sqlite_file_add(mt_db_t *db, mt_db_file_t *f, int *loaded)
{
    int            rc;
    sqlite3_stmt  *st;
    mt_sqlite_t   *sq = db->conn;

    st = mt_sqlite_stmt(db, MT_SQ_FILE_ADD);
    if (st == NULL) {
        return MT_DB_ERROR;
    }

    sqlite3_bind_text(st, 1, f->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, f->name, -1, SQLITE_STATIC);
    mt_sqlite_text(st, 3, &f->host);
    mt_sqlite_int(st, 4, f->size);
    mt_sqlite_int(st, 5, (int64_t) time(NULL) * 1000);
    sqlite3_bind_text(st, 6, db->loader, -1, SQLITE_STATIC);

    rc = mt_sqlite_step(db, st);
    if (rc != MT_DB_OK) {
        return rc;
    }

    *loaded = (sqlite3_changes(sq->db) == 0);
    f->file_id = sqlite3_last_insert_rowid(sq->db);

    return MT_DB_OK;
}


static int
mt_sqlite_file_done(mt_db_t *db, mt_db_file_t *f)
{
    sqlite3_stmt  *st;

    st = mt_sqlite_stmt(db, MT_SQ_FILE_DONE);
    if (st == NULL) {
        return MT_DB_ERROR;
    }

    mt_sqlite_int(st, 1, f->events);
    mt_sqlite_int(st, 2, f->duplicates);
    mt_sqlite_int(st, 3, f->invalid);
    mt_sqlite_int(st, 4, f->repaired);

    if (f->damaged_at >= 0) {
        mt_sqlite_int(st, 5, f->damaged_at);
    }

    mt_sqlite_int(st, 6, f->file_id);

    return mt_sqlite_step(db, st);
}


static int
mt_sqlite_insert_events(mt_db_t *db, mt_db_event_t **ev, size_t n)
{
    int             rc;
    size_t          i;
    sqlite3_stmt   *st;
    mt_db_event_t  *e;
    mt_sqlite_t    *sq = db->conn;

    for (i = 0; i < n; i++) {
        e = ev[i];

        st = mt_sqlite_stmt(db, MT_SQ_EVENT);
        if (st == NULL) {
            return MT_DB_ERROR;
        }

        mt_sqlite_text(st, 1, &e->ev.id);
        mt_sqlite_int(st, 2, e->at);

        if (e->ev.ts) {
            mt_sqlite_int(st, 3, e->ev.ts);
        }

        mt_sqlite_int(st, 4, e->ev.rt);
        mt_sqlite_text(st, 5, &e->src);
        mt_sqlite_text(st, 6, &e->type);
        mt_sqlite_text(st, 7, &e->ev.esp_type);
        mt_sqlite_text(st, 8, &e->ev.mid);
        mt_sqlite_text(st, 9, &e->ev.esp_mid);
        mt_sqlite_text(st, 10, &e->ev.rcpt);
        mt_sqlite_text(st, 11, &e->bounce);
        mt_sqlite_text(st, 12, &e->ev.smtp_status);

        if (e->ev.smtp_code) {
            mt_sqlite_int(st, 13, e->ev.smtp_code);
        }

        mt_sqlite_text(st, 14, &e->ev.reason);
        mt_sqlite_text(st, 15, &e->ev.url);
        mt_sqlite_text(st, 16, &e->ev.ip);
        mt_sqlite_text(st, 17, &e->ev.ua);

        if (e->ev.machine != MT_MACHINE_UNKNOWN) {
            mt_sqlite_int(st, 18, e->ev.machine);
        }

        mt_sqlite_text(st, 19, &e->ev.why);
        mt_sqlite_text(st, 20, &e->ev.tag);
        mt_sqlite_int(st, 21, e->v);
        mt_sqlite_text(st, 22, &e->extra);
        mt_sqlite_int(st, 23, e->file_id);

        rc = mt_sqlite_step(db, st);
        if (rc != MT_DB_OK) {
            return rc;
        }

        e->is_new = (sqlite3_changes(sq->db) == 1);
    }

    return MT_DB_OK;
}


/* one writer at a time: the database lock holds the addresses */

static int
mt_sqlite_soft_bounces(mt_db_t *db, mt_db_soft_t *s, size_t n,
    int64_t window, mt_db_row_pt row, void *data)
{
    int            rc;
    size_t         i, j;
    sqlite3_stmt  *st;

    for (i = 0; i < n; i++) {
        st = mt_sqlite_stmt(db, MT_SQ_SOFT_ADD);
        if (st == NULL) {
            return MT_DB_ERROR;
        }

        mt_sqlite_text(st, 1, &s[i].address);
        mt_sqlite_int(st, 2, s[i].at);
        mt_sqlite_text(st, 3, &s[i].event_id);
        mt_sqlite_text(st, 4, &s[i].message_id);
        mt_sqlite_text(st, 5, &s[i].src);

        rc = mt_sqlite_step(db, st);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    if (row == NULL) {
        return MT_DB_OK;
    }

    /* per address, from its first to its last soft bounce here */

    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n; j++) {
            if (s[j].address.len != s[i].address.len
                || memcmp(s[j].address.data, s[i].address.data,
                          s[i].address.len) != 0)
            {
                break;
            }
        }

        st = mt_sqlite_stmt(db, MT_SQ_SOFT_GET);
        if (st == NULL) {
            return MT_DB_ERROR;
        }

        mt_sqlite_text(st, 1, &s[i].address);
        mt_sqlite_int(st, 2, s[i].at - window);
        mt_sqlite_int(st, 3, s[j - 1].at + window);

        rc = mt_sqlite_rows(db, st, row, data);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    return MT_DB_OK;
}


static int
mt_sqlite_suppress(mt_db_t *db, mt_db_suppress_t *s, size_t n)
{
    int            rc;
    size_t         i;
    sqlite3_stmt  *st;

    for (i = 0; i < n; i++) {
        st = mt_sqlite_stmt(db, MT_SQ_SUPPRESS);
        if (st == NULL) {
            return MT_DB_ERROR;
        }

        mt_sqlite_text(st, 1, &s[i].address);
        sqlite3_bind_text(st, 2, (const char *) s[i].domain.data,
                          (int) s[i].domain.len, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, s[i].reason, -1, SQLITE_STATIC);
        mt_sqlite_text(st, 4, &s[i].src);
        mt_sqlite_text(st, 5, &s[i].message_id);
        mt_sqlite_text(st, 6, &s[i].event_id);
        mt_sqlite_int(st, 7, s[i].first_at);
        mt_sqlite_int(st, 8, s[i].last_at);
        mt_sqlite_int(st, 9, s[i].events);

        rc = mt_sqlite_step(db, st);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    return MT_DB_OK;
}


/* one writer at a time: the database lock holds the rows */

static int
mt_sqlite_messages_get(mt_db_t *db, mt_db_msg_t **m, size_t n,
    mt_db_msg_row_pt row, void *data)
{
    int                  rc, c;
    size_t               i;
    sqlite3_stmt        *st;
    mt_db_msg_t          r;
    mt_db_msg_values_t   v;

    for (i = 0; i < n; i++) {
        st = mt_sqlite_stmt(db, MT_SQ_MSG_GET);
        if (st == NULL) {
            return MT_DB_ERROR;
        }

        mt_sqlite_text(st, 1, &m[i]->s.mid);

        m[i]->found = 0;
        rc = sqlite3_step(st);

        if (rc == SQLITE_ROW) {
            for (c = 0; c < MT_DB_MSG_NCOLS; c++) {
                if (sqlite3_column_type(st, c) == SQLITE_NULL) {
                    v.type[c] = MT_DB_NULL;

                } else if (MT_DB_MSG_IS_INT(c)) {
                    v.type[c] = MT_DB_INT;
                    v.num[c] = sqlite3_column_int64(st, c);

                } else {
                    v.type[c] = MT_DB_TEXT;
                    v.text[c] = (const char *) sqlite3_column_text(st, c);
                    v.len[c] = sqlite3_column_bytes(st, c);
                }
            }

            m[i]->found = 1;

            if (row != NULL
                && (mt_db_msg_from_values(&v, &r) != 0
                    || row(data, m[i], &r) != 0))
            {
                sqlite3_reset(st);
                mt_db_error(db, "stopped");
                return MT_DB_ERROR;
            }

            rc = sqlite3_step(st);
        }

        sqlite3_reset(st);

        if (rc != SQLITE_DONE) {
            return mt_sqlite_fail(db, rc, "sqlite");
        }
    }

    return MT_DB_OK;
}


/* each row written once: updated when it was there, else inserted */

static int
mt_sqlite_messages_put(mt_db_t *db, mt_db_msg_t **m, size_t n)
{
    int                  rc, c;
    size_t               i;
    int64_t              now;
    sqlite3_stmt        *st;
    mt_db_msg_values_t   r;

    now = (int64_t) time(NULL) * 1000;

    for (i = 0; i < n; i++) {
        st = mt_sqlite_stmt(db, m[i]->found ? MT_SQ_MSG_UPDATE
                                            : MT_SQ_MSG_INSERT);
        if (st == NULL) {
            return MT_DB_ERROR;
        }

        mt_db_msg_values(m[i], now, &r);

        for (c = 0; c < MT_DB_MSG_NCOLS; c++) {
            if (r.type[c] == MT_DB_TEXT) {
                sqlite3_bind_text(st, c + 1, r.text[c], (int) r.len[c],
                                  SQLITE_STATIC);

            } else if (r.type[c] == MT_DB_INT) {
                sqlite3_bind_int64(st, c + 1, r.num[c]);
            }
        }

        rc = mt_sqlite_step(db, st);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    return MT_DB_OK;
}


/* the rows of a statement as text, to row() */

static int
mt_sqlite_rows(mt_db_t *db, sqlite3_stmt *st, mt_db_row_pt row, void *data)
{
    int          rc, i, n;
    size_t       lens[64];
    const char  *cols[64];

    n = mt_min(sqlite3_column_count(st), 64);

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (i = 0; i < n; i++) {
            cols[i] = (const char *) sqlite3_column_text(st, i);
            lens[i] = cols[i] ? (size_t) sqlite3_column_bytes(st, i) : 0;
        }

        if (row != NULL && row(data, n, cols, lens) != 0) {
            sqlite3_reset(st);
            mt_db_error(db, "stopped");
            return MT_DB_ERROR;
        }
    }

    sqlite3_reset(st);

    if (rc != SQLITE_DONE) {
        return mt_sqlite_fail(db, rc, "sqlite");
    }

    return MT_DB_OK;
}


static int
mt_sqlite_query(mt_db_t *db, const char *sql, const char **params,
    int nparams, mt_db_row_pt row, void *data)
{
    int            rc, i, idx;
    char           name[16];
    sqlite3_stmt  *st;
    mt_sqlite_t   *sq = db->conn;

    rc = sqlite3_prepare_v2(sq->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return mt_sqlite_fail(db, rc, "sqlite");
    }

    /* "$N" by name: SQLite numbers parameters in the order they appear */

    for (i = 0; i < nparams; i++) {
        snprintf(name, sizeof(name), "$%d", i + 1);
        idx = sqlite3_bind_parameter_index(st, name);

        if (params[i] == NULL || idx == 0) {
            continue;
        }

        /* an integer is one, as PostgreSQL infers it from the column:
         * an expression has no affinity, and text sorts after numbers */

        if (mt_sqlite_is_int(params[i])) {
            sqlite3_bind_int64(st, idx, strtoll(params[i], NULL, 10));

        } else {
            sqlite3_bind_text(st, idx, params[i], -1, SQLITE_STATIC);
        }
    }

    rc = mt_sqlite_rows(db, st, row, data);

    sqlite3_finalize(st);

    return rc;
}


/* "0", "-12", "1764000000000": what reads back as the same text */

static int
mt_sqlite_is_int(const char *s)
{
    size_t  n;

    if (*s == '-') {
        s++;
    }

    n = strspn(s, "0123456789");

    return n > 0 && n <= 18 && s[n] == '\0' && (s[0] != '0' || n == 1);
}


/* mt_rcpt_domain(x): the domain of the normalized address, NULL if none */

static void
mt_sqlite_rcpt_domain(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int            len;
    u_char        *buf;
    size_t         n;
    mt_str_t       domain;
    const u_char  *p;

    (void) argc;

    p = sqlite3_value_text(argv[0]);
    len = sqlite3_value_bytes(argv[0]);

    if (p == NULL || len <= 0) {
        sqlite3_result_null(ctx);
        return;
    }

    buf = malloc(len);
    if (buf == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }

    n = mt_rcpt_normalize(buf, p, len);
    mt_rcpt_domain(buf, n, &domain);

    if (domain.len == 0) {
        sqlite3_result_null(ctx);

    } else {
        sqlite3_result_text(ctx, (const char *) domain.data,
                            (int) domain.len, SQLITE_TRANSIENT);
    }

    free(buf);
}


/*
 * In batches, each a transaction of its own, oldest first (the index
 * on at): a loader waits for one batch at most, and the WAL stays small.
 */

static int
mt_sqlite_prune(mt_db_t *db, int64_t before, mt_db_prune_t *stats)
{
    int           rc, n;
    char          ms[24];
    const char   *params[1];
    mt_sqlite_t  *sq = db->conn;

    snprintf(ms, sizeof(ms), "%lld", (long long) before);
    params[0] = ms;

    do {
        rc = mt_sqlite_begin(db);

        if (rc == MT_DB_OK) {
            rc = mt_sqlite_query(db, "DELETE FROM mail_events WHERE rowid IN "
                                 "(SELECT rowid FROM mail_events WHERE "
                                 "at < $1 ORDER BY at LIMIT "
                                 MT_SQLITE_PRUNE_BATCH ")",
                                 params, 1, NULL, NULL);
        }

        n = sqlite3_changes(sq->db);

        if (rc == MT_DB_OK) {
            rc = mt_sqlite_commit(db);
        }

        if (rc != MT_DB_OK) {
            mt_sqlite_rollback(db);
            return rc;
        }

        stats->events += n;

    } while (n == atoi(MT_SQLITE_PRUNE_BATCH));

    return MT_DB_OK;
}

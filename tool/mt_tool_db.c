
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The database layer's common part: the URL picks the backend, the
 * schema version is checked the same way for every backend, and the
 * arena holds the strings of a load transaction.
 */


#include "mt_tool_db.h"

#include <stdarg.h>


#define MT_ARENA_BLOCK          (1024 * 1024)


struct mt_arena_block_s {
    mt_arena_block_t           *next;
    size_t                      size;
    u_char                      data[];
};


static int mt_db_setting_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static char *mt_db_hide_password(const char *url);


int
mt_db_open(mt_db_t *db, const char *url)
{
    memset(db, 0, sizeof(mt_db_t));

    if (strncmp(url, "sqlite:", 7) == 0) {
        db->backend = &mt_db_sqlite;

    } else if (strncmp(url, "postgresql://", 13) == 0
               || strncmp(url, "postgres://", 11) == 0)
    {
        db->backend = &mt_db_pg;

    } else {
        mt_tool_error("--db \"%s\": expected sqlite:PATH, postgresql://... "
                      "or postgres://...", url);
        return MT_DB_ERROR;
    }

    db->url = mt_db_hide_password(url);
    if (db->url == NULL) {
        mt_tool_error("out of memory");
        return MT_DB_ERROR;
    }

    if (db->backend->open(db, url) != MT_DB_OK) {
        mt_tool_error("%s: %s", db->url, db->err);
        return MT_DB_ERROR;
    }

    return MT_DB_OK;
}


void
mt_db_close(mt_db_t *db)
{
    if (db->backend != NULL && db->conn != NULL) {
        db->backend->close(db);
    }

    free(db->url);
    db->url = NULL;
    db->conn = NULL;
}


/* postgresql://user:secret@host/db is shown as postgresql://user@host/db */

static char *
mt_db_hide_password(const char *url)
{
    char        *copy, *p, *colon, *at;
    const char  *rest;

    copy = strdup(url);
    if (copy == NULL) {
        return NULL;
    }

    rest = strstr(url, "://");
    if (rest == NULL) {
        return copy;
    }

    p = copy + (rest - url) + 3;
    at = strchr(p, '@');
    colon = strchr(p, ':');

    if (at != NULL && colon != NULL && colon < at
        && memchr(p, '/', at - p) == NULL)
    {
        memmove(colon, at, strlen(at) + 1);
    }

    return copy;
}


void
mt_db_error(mt_db_t *db, const char *fmt, ...)
{
    size_t   n;
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(db->err, MT_DB_ERR_LEN, fmt, ap);
    va_end(ap);

    /* one line: the servers' messages end with newlines */

    for (n = strlen(db->err); n && (db->err[n - 1] == '\n'
                                    || db->err[n - 1] == ' '); n--)
    {
        db->err[n - 1] = '\0';
    }

    for (n = 0; db->err[n]; n++) {
        if (db->err[n] == '\n' || db->err[n] == '\t') {
            db->err[n] = ' ';
        }
    }
}


/*
 * Checks (and with create, makes or upgrades) the schema, then reads
 * the settings stored with it.  Reports on failure.
 */

int
mt_db_ready(mt_db_t *db, int create)
{
    int      rc, version;
    char     value[64], *end;
    int64_t  n, window;

    rc = db->backend->schema(db, create, &version);

    if (rc != MT_DB_OK) {
        mt_tool_error("%s: %s", db->url, db->err);
        return rc;
    }

    if (version > MT_DB_SCHEMA_VERSION) {
        mt_tool_error("%s: the database schema is version %d, newer than "
                      "this mail-track (%s) knows (%d); use a newer "
                      "mail-track: the database was not changed",
                      db->url, version, MT_TOOL_VERSION,
                      MT_DB_SCHEMA_VERSION);
        return MT_DB_ERROR;
    }

    if (version == 0) {
        mt_tool_error("%s: no mail-track schema in the database; run "
                      "\"mail-track db init --db URL\"", db->url);
        return MT_DB_ERROR;
    }

    if (version < MT_DB_SCHEMA_VERSION) {
        mt_tool_error("%s: the database schema is version %d, older than "
                      "this mail-track's (%d); run \"mail-track db init "
                      "--db URL\" to upgrade it", db->url, version,
                      MT_DB_SCHEMA_VERSION);
        return MT_DB_ERROR;
    }

    rc = mt_db_setting(db, "soft_bounce_limit", value, sizeof(value));
    if (rc < 0) {
        mt_tool_error("%s: %s", db->url, db->err);
        return rc;
    }

    db->soft_limit = 0;
    db->soft_window = 0;

    if (rc > 0) {
        /* "N/DURATION", as db init --soft-bounces writes it */

        n = strtoll(value, &end, 10);

        if (*end == '/') {
            window = mt_parse_duration((u_char *) end + 1,
                                       strlen(end + 1));

            if (n > 0 && window > 0) {
                db->soft_limit = n;
                db->soft_window = window * 1000;
            }
        }
    }

    return MT_DB_OK;
}


typedef struct {
    char                       *buf;
    size_t                      size;
    int                         found;
} mt_db_setting_ctx_t;


/* 1 found, 0 not set, < 0 an error */

int
mt_db_setting(mt_db_t *db, const char *name, char *buf, size_t size)
{
    int                   rc;
    mt_db_setting_ctx_t   ctx;

    ctx.buf = buf;
    ctx.size = size;
    ctx.found = 0;

    rc = db->backend->query(db, "SELECT value FROM mail_settings "
                            "WHERE name = $1", &name, 1,
                            mt_db_setting_row, &ctx);
    if (rc != MT_DB_OK) {
        return rc;
    }

    return ctx.found;
}


static int
mt_db_setting_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    mt_db_setting_ctx_t  *ctx = data;

    if (ncols < 1 || cols[0] == NULL || lens[0] >= ctx->size) {
        return 0;
    }

    memcpy(ctx->buf, cols[0], lens[0] + 1);
    ctx->found = 1;

    return 0;
}


/* the arena */

void
mt_arena_init(mt_arena_t *a)
{
    memset(a, 0, sizeof(mt_arena_t));
}


void *
mt_arena_alloc(mt_arena_t *a, size_t size)
{
    u_char            *p;
    size_t             bsize;
    mt_arena_block_t  *b;

    size = (size + 7) & ~(size_t) 7;

    if ((size_t) (a->end - a->pos) < size) {
        bsize = mt_max(size, MT_ARENA_BLOCK);

        b = malloc(sizeof(mt_arena_block_t) + bsize);
        if (b == NULL) {
            return NULL;
        }

        b->size = bsize;
        b->next = a->blocks;
        a->blocks = b;
        a->pos = b->data;
        a->end = b->data + bsize;
        a->total += bsize;
    }

    p = a->pos;
    a->pos += size;

    return p;
}


u_char *
mt_arena_dup(mt_arena_t *a, const u_char *p, size_t len)
{
    u_char  *d;

    d = mt_arena_alloc(a, len + 1);
    if (d == NULL) {
        return NULL;
    }

    memcpy(d, p, len);
    d[len] = '\0';

    return d;
}


void
mt_arena_free(mt_arena_t *a)
{
    mt_arena_block_t  *b, *next;

    for (b = a->blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }

    mt_arena_init(a);
}

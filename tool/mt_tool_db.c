
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The database layer's common part: the URL picks the backend, the
 * schema version is checked the same way for every backend, and the
 * arena holds the strings of a load transaction.
 */


#include "mt_tool_db.h"

#include <stdarg.h>
#include <unistd.h>
#include <time.h>


#define MT_ARENA_BLOCK          (1024 * 1024)


struct mt_arena_block_s {
    mt_arena_block_t           *next;
    size_t                      size;
    u_char                      data[];
};


typedef struct {
    uint64_t                    prefix;    /* the key's first bytes */
    const mt_str_t             *key;
    void                       *item;
} mt_db_sort_t;


static int mt_db_setting_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_db_sort_cmp(const void *a, const void *b);
static char *mt_db_hide_password(const char *url);
static int mt_db_version(mt_db_t *db, int *version);
static int mt_db_tables_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_db_int_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static void mt_db_msg_int(mt_db_msg_values_t *r, int i, int64_t v);
static void mt_db_msg_count(mt_db_msg_values_t *r, int i, int64_t v);
static void mt_db_msg_text(mt_db_msg_values_t *r, int i, const char *p,
    size_t len);


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

    } else if (strncmp(url, "clickhouse://", 13) == 0) {
        db->backend = &mt_db_clickhouse;

    } else {
        mt_tool_error("--db \"%s\": expected sqlite:PATH, postgresql://..., "
                      "postgres://... or clickhouse://...", url);
        return MT_DB_ERROR;
    }

    db->url = mt_db_hide_password(url);
    if (db->url == NULL) {
        mt_tool_error("out of memory");
        return MT_DB_ERROR;
    }

    if (gethostname(db->loader, sizeof(db->loader) - 1) != 0) {
        strcpy(db->loader, "localhost");
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

    rc = mt_db_schema(db, create, &version);

    if (rc != MT_DB_OK) {
        mt_tool_error("%s: %s", db->url, db->err);
        return rc;
    }

    if (version > MT_DB_SCHEMA_VERSION) {
        mt_tool_error("%s: the database schema is version %d, newer than "
                      "this mail-track (%s) knows (%d); use a newer "
                      "mail-track: the database was not changed",
                      db->url, version, MT_VERSION,
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

    if (db->backend->check != NULL) {
        rc = db->backend->check(db);

        if (rc != MT_DB_OK) {
            mt_tool_error("%s: %s", db->url, db->err);
            return rc;
        }
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


/*
 * The schema version in the database (0: empty); with create, an empty
 * database gets the schema, once, whoever comes first.  Tables of ours
 * without a version table are MT_DB_ERROR: not made by us, left alone.
 */

int
mt_db_schema(mt_db_t *db, int create, int *version)
{
    int   rc;
    char  sql[256];

    rc = mt_db_version(db, version);
    if (rc != MT_DB_OK || *version != 0 || !create) {
        return rc;
    }

    rc = db->backend->exec(db, db->backend->schema_begin);

    if (rc == MT_DB_OK) {
        rc = mt_db_version(db, version);
    }

    if (rc == MT_DB_OK && *version == 0) {
        snprintf(sql, sizeof(sql), "INSERT INTO mail_schema VALUES "
                 "(%d, %lld, '%s %s')", MT_DB_SCHEMA_VERSION,
                 (long long) time(NULL) * 1000, MT_TOOL_NAME,
                 MT_VERSION);

        rc = db->backend->exec(db, db->backend->schema_ddl);

        if (rc == MT_DB_OK) {
            rc = db->backend->exec(db, sql);
        }

        if (rc == MT_DB_OK) {
            *version = MT_DB_SCHEMA_VERSION;
        }
    }

    if (rc != MT_DB_OK) {
        db->backend->rollback(db);
        return rc;
    }

    return db->backend->commit(db);
}


static int
mt_db_version(mt_db_t *db, int *version)
{
    int  rc, tables;

    tables = 0;

    rc = db->backend->query(db, db->backend->tables_sql, NULL, 0,
                            mt_db_tables_row, &tables);
    if (rc != MT_DB_OK) {
        return rc;
    }

    *version = 0;

    if (!(tables & 1)) {
        if (tables & 2) {
            mt_db_error(db, "mail_* tables without mail_schema: not made "
                        "by mail-track, left alone");
            return MT_DB_ERROR;
        }

        return MT_DB_OK;
    }

    return db->backend->query(db, "SELECT max(version) FROM mail_schema",
                              NULL, 0, mt_db_int_row, version);
}


/* 1: mail_schema is there; 2: other mail_* tables are */

static int
mt_db_tables_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    int  *tables = data;

    if (ncols < 1 || cols[0] == NULL) {
        return 0;
    }

    if (strcmp(cols[0], "mail_schema") == 0) {
        *tables |= 1;

    } else if (lens[0] > 5 && strncmp(cols[0], "mail_", 5) == 0) {
        *tables |= 2;
    }

    return 0;
}


static int
mt_db_int_row(void *data, int ncols, const char **cols, const size_t *lens)
{
    (void) lens;

    if (ncols >= 1 && cols[0] != NULL) {
        *(int *) data = atoi(cols[0]);
    }

    return 0;
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


/* by bytes, as the backends sort ids (COLLATE "C", BINARY) */

int
mt_db_str_cmp(const mt_str_t *a, const mt_str_t *b)
{
    int  rc;

    rc = memcmp(a->data, b->data, mt_min(a->len, b->len));

    if (rc != 0) {
        return rc;
    }

    return (a->len > b->len) - (a->len < b->len);
}


/* qsort() and bsearch() of mt_db_msg_t pointers by message id */

int
mt_db_msg_cmp(const void *a, const void *b)
{
    const mt_db_msg_t  *x = *(mt_db_msg_t * const *) a;
    const mt_db_msg_t  *y = *(mt_db_msg_t * const *) b;

    return mt_db_str_cmp(&x->s.mid, &y->s.mid);
}


/* FNV-1a, folded to 32 bits */

uint32_t
mt_db_str_hash(const mt_str_t *s)
{
    uint64_t       h;
    const u_char  *p, *end;

    h = 14695981039346656037ULL;

    for (p = s->data, end = p + s->len; p < end; p++) {
        h = (h ^ *p) * 1099511628211ULL;
    }

    return (uint32_t) (h ^ (h >> 32));
}


/*
 * Sorts items by the bytes of their key(item).  The first eight bytes of
 * each key go along as a number, so that most comparisons neither call
 * memcmp() nor touch the item, which may be anywhere in memory.  -1:
 * out of memory (the items are as they were).
 */

int
mt_db_sort(void **items, size_t n, const mt_str_t *(*key)(const void *))
{
    size_t         i, j;
    uint64_t       v;
    mt_db_sort_t  *a;

    if (n < 2) {
        return 0;
    }

    a = malloc(n * sizeof(mt_db_sort_t));
    if (a == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        a[i].item = items[i];
        a[i].key = key(items[i]);

        v = 0;

        for (j = 0; j < 8; j++) {
            v = (v << 8) | (j < a[i].key->len ? a[i].key->data[j] : 0);
        }

        a[i].prefix = v;
    }

    qsort(a, n, sizeof(mt_db_sort_t), mt_db_sort_cmp);

    for (i = 0; i < n; i++) {
        items[i] = a[i].item;
    }

    free(a);

    return 0;
}


static int
mt_db_sort_cmp(const void *a, const void *b)
{
    const mt_db_sort_t  *x = a, *y = b;

    if (x->prefix != y->prefix) {
        return x->prefix < y->prefix ? -1 : 1;
    }

    return mt_db_str_cmp(x->key, y->key);
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


/*
 * A mail_messages row (MT_DB_MESSAGES_SELECT) as text into a state;
 * strings point into cols, to be copied by the caller.  -1: not such a
 * row.
 */

int
mt_db_msg_parse(int ncols, const char **cols, const size_t *lens,
    mt_db_msg_t *m)
{
    int                  c;
    mt_db_msg_values_t   r;

    if (ncols < MT_DB_MSG_NCOLS) {
        return -1;
    }

    for (c = 0; c < MT_DB_MSG_NCOLS; c++) {
        if (cols[c] == NULL) {
            r.type[c] = MT_DB_NULL;

        } else if (MT_DB_MSG_IS_INT(c)) {
            r.type[c] = MT_DB_INT;
            r.num[c] = strtoll(cols[c], NULL, 10);

        } else {
            r.type[c] = MT_DB_TEXT;
            r.text[c] = cols[c];
            r.len[c] = lens[c];
        }
    }

    return mt_db_msg_from_values(&r, m);
}


/*
 * A row's values into a state, what mt_db_msg_values() made undone;
 * strings point where the values do.  -1: no message id.
 */

int
mt_db_msg_from_values(const mt_db_msg_values_t *r, mt_db_msg_t *m)
{
    int             c, b;
    size_t          n;
    int64_t         v[MT_DB_MSG_NCOLS];
    const char     *p, *end, *comma;
    mt_msgstate_t  *st;

    if (r->type[MT_DB_MSG_ID] != MT_DB_TEXT) {
        return -1;
    }

    mt_msgstate_init(&m->st, &m->s);
    st = &m->st;
    m->found = 0;

    for (c = 0; c < MT_DB_MSG_NCOLS; c++) {
        v[c] = (r->type[c] == MT_DB_INT) ? r->num[c] : 0;
    }

    m->s.mid.data = (u_char *) r->text[MT_DB_MSG_ID];
    m->s.mid.len = r->len[MT_DB_MSG_ID];

    if (r->type[MT_DB_MSG_RCPT] == MT_DB_TEXT) {
        m->s.rcpt.data = (u_char *) r->text[MT_DB_MSG_RCPT];
        m->s.rcpt.len = r->len[MT_DB_MSG_RCPT];
    }

    if (r->type[MT_DB_MSG_LAST_URL] == MT_DB_TEXT) {
        m->s.url.data = (u_char *) r->text[MT_DB_MSG_LAST_URL];
        m->s.url.len = r->len[MT_DB_MSG_LAST_URL];
    }

    if (r->type[MT_DB_MSG_STATE] == MT_DB_TEXT) {
        b = mt_event_type_by_name((u_char *) r->text[MT_DB_MSG_STATE],
                                  r->len[MT_DB_MSG_STATE]);
        st->state = (b >= 0) ? (uint8_t) (b + 1) : 0;
    }

    if (r->type[MT_DB_MSG_BOUNCE] == MT_DB_TEXT) {
        for (b = 1; b < MT_BOUNCE_MAX; b++) {
            if (r->len[MT_DB_MSG_BOUNCE] == strlen(mt_bounce_names[b])
                && memcmp(r->text[MT_DB_MSG_BOUNCE], mt_bounce_names[b],
                          r->len[MT_DB_MSG_BOUNCE]) == 0)
            {
                st->bounce = (uint8_t) b;
            }
        }
    }

    st->sent_at = v[MT_DB_MSG_SENT_AT];
    st->delivered_at = v[MT_DB_MSG_DELIVERED_AT];
    st->bounced_at = v[MT_DB_MSG_BOUNCED_AT];
    st->complained_at = v[MT_DB_MSG_COMPLAINED_AT];
    st->unsubscribed_at = v[MT_DB_MSG_UNSUBSCRIBED_AT];
    st->opens = (uint32_t) v[MT_DB_MSG_OPENS];
    st->opens_machine = (uint32_t) v[MT_DB_MSG_OPENS_MACHINE];
    st->opens_first = v[MT_DB_MSG_OPENS_FIRST];
    st->opens_last = v[MT_DB_MSG_OPENS_LAST];
    st->clicks = (uint32_t) v[MT_DB_MSG_CLICKS];
    st->clicks_machine = (uint32_t) v[MT_DB_MSG_CLICKS_MACHINE];
    st->clicks_first = v[MT_DB_MSG_CLICKS_FIRST];
    st->clicks_last = v[MT_DB_MSG_CLICKS_LAST];
    st->url_at = v[MT_DB_MSG_URL_AT];

    /* "sendgrid,track" */

    if (r->type[MT_DB_MSG_SOURCES] != MT_DB_TEXT) {
        return 0;
    }

    p = r->text[MT_DB_MSG_SOURCES];
    end = p + r->len[MT_DB_MSG_SOURCES];

    while (p < end) {
        comma = memchr(p, ',', end - p);
        n = (comma ? comma : end) - p;

        b = mt_src_by_name((u_char *) p, n);
        if (b >= 0) {
            st->sources |= (uint16_t) (1 << b);
        }

        p += n + 1;
    }

    return 0;
}


/* a state as its row's values: unknown times are NULL, counts never */

void
mt_db_msg_values(const mt_db_msg_t *m, int64_t now, mt_db_msg_values_t *r)
{
    int                   b;
    size_t                n, len;
    const char           *name;
    const mt_msgstate_t  *st = &m->st;

    memset(r->type, MT_DB_NULL, sizeof(r->type));

    mt_db_msg_text(r, MT_DB_MSG_ID, (const char *) m->s.mid.data,
                   m->s.mid.len);
    mt_db_msg_text(r, MT_DB_MSG_RCPT, (const char *) m->s.rcpt.data,
                   m->s.rcpt.len);

    name = mt_msgstate_state_name(st);

    if (name != NULL) {
        mt_db_msg_text(r, MT_DB_MSG_STATE, name, strlen(name));
    }

    mt_db_msg_int(r, MT_DB_MSG_SENT_AT, st->sent_at);
    mt_db_msg_int(r, MT_DB_MSG_DELIVERED_AT, st->delivered_at);

    if (st->bounce != MT_BOUNCE_NONE && st->bounce < MT_BOUNCE_MAX) {
        name = mt_bounce_names[st->bounce];
        mt_db_msg_text(r, MT_DB_MSG_BOUNCE, name, strlen(name));
    }

    mt_db_msg_int(r, MT_DB_MSG_BOUNCED_AT, st->bounced_at);
    mt_db_msg_int(r, MT_DB_MSG_COMPLAINED_AT, st->complained_at);
    mt_db_msg_int(r, MT_DB_MSG_UNSUBSCRIBED_AT, st->unsubscribed_at);

    mt_db_msg_count(r, MT_DB_MSG_OPENS, st->opens);
    mt_db_msg_count(r, MT_DB_MSG_OPENS_MACHINE, st->opens_machine);

    mt_db_msg_int(r, MT_DB_MSG_OPENS_FIRST, st->opens_first);
    mt_db_msg_int(r, MT_DB_MSG_OPENS_LAST, st->opens_last);

    mt_db_msg_count(r, MT_DB_MSG_CLICKS, st->clicks);
    mt_db_msg_count(r, MT_DB_MSG_CLICKS_MACHINE, st->clicks_machine);

    mt_db_msg_int(r, MT_DB_MSG_CLICKS_FIRST, st->clicks_first);
    mt_db_msg_int(r, MT_DB_MSG_CLICKS_LAST, st->clicks_last);
    mt_db_msg_text(r, MT_DB_MSG_LAST_URL, (const char *) m->s.url.data,
                   m->s.url.len);
    mt_db_msg_int(r, MT_DB_MSG_URL_AT, st->url_at);

    /* the sources by number: a set, so any order reads back the same */

    n = 0;

    for (b = 0; b < MT_SRC_MAX; b++) {
        if (st->sources & (1 << b)) {
            if (n) {
                r->sources[n++] = ',';
            }

            len = strlen(mt_src_names[b]);
            memcpy(r->sources + n, mt_src_names[b], len);
            n += len;
        }
    }

    mt_db_msg_text(r, MT_DB_MSG_SOURCES, r->sources, n);
    mt_db_msg_int(r, MT_DB_MSG_UPDATED_AT, now);
}


/* 0 is unknown: NULL */

static void
mt_db_msg_int(mt_db_msg_values_t *r, int i, int64_t v)
{
    if (v != 0) {
        mt_db_msg_count(r, i, v);
    }
}


/* a count: 0 is 0, never NULL */

static void
mt_db_msg_count(mt_db_msg_values_t *r, int i, int64_t v)
{
    r->type[i] = MT_DB_INT;
    r->num[i] = v;
}


/* "" is unknown: NULL */

static void
mt_db_msg_text(mt_db_msg_values_t *r, int i, const char *p, size_t len)
{
    if (len != 0) {
        r->type[i] = MT_DB_TEXT;
        r->text[i] = p;
        r->len[i] = len;
    }
}

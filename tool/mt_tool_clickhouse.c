
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The ClickHouse backend: clickhouse://[USER[:PASSWORD]@]HOST[:PORT][,
 * HOST[:PORT]...]/DB[?secure=1&cafile=PATH], spoken to over its HTTP
 * interface (mt_tool_http.c); CLICKHOUSE_USER and CLICKHOUSE_PASSWORD
 * for what the URL leaves out.
 *
 * ClickHouse has no transactions: a load "transaction" is a set of
 * blocks, one per table, sent at the commit as one INSERT each in the
 * Native format (all of a block or none of it, even when the connection
 * drops), the ledger row last.  Every table is a set into which a block
 * may come twice, so a crash anywhere, a dropped connection or two
 * loaders with copies of one file change nothing a reader sees
 * (docs/loading.md, "Exactly once in ClickHouse").
 */


#include "mt_tool_clickhouse.h"

#include <ctype.h>
#include <time.h>


/*
 * A transaction takes up to 32 MiB of spool files: fewer, larger parts
 * for the server to write and merge (its CPU per event: 3.1 us with
 * 8 MiB, 2.3 with 32, 2.2 with 64), some 200 MB of the loader's memory.
 */
#define MT_CH_TX_BYTES          (32 * 1024 * 1024)

/* white space (as mt_rcpt_normalize() cuts it) cut off both ends */
#define MT_CH_TRIM(x)                                                         \
    "replaceRegexpAll(" x ", '^[ \\t\\r\\n]+|[ \\t\\r\\n]+$', '')"

#define MT_CH_PORT              "8123"
#define MT_CH_PORT_SECURE       "8443"

/*
 * The settings of every request: long IN lists; a WHERE taken into a
 * view's query (one message of mail_messages aggregates its own rows,
 * not every message's: 18.16's default is off, today's on).  And of an
 * INSERT: into a Distributed table, it returns when every shard has its
 * rows.
 */
#define MT_CH_ARGS                                                            \
    "max_query_size=67108864&enable_optimize_predicate_expression=1"
#define MT_CH_INSERT_ARGS       "&insert_distributed_sync=1"


static const char  mt_ch_ddl[] = "the schema (mt_tool_chschema.c)";


static int mt_ch_open(mt_db_t *db, const char *url);
static void mt_ch_close(mt_db_t *db);
static int mt_ch_parse(mt_db_t *db, mt_ch_t *ch, const char *url);
static char *mt_ch_decode(const char *p, size_t len);
static int mt_ch_post(mt_db_t *db, mt_http_t *h, const char *extra,
    const u_char *body, size_t len);
static int mt_ch_fail(mt_db_t *db, mt_http_t *h);
static int mt_ch_rows(mt_db_t *db, mt_http_t *h, mt_db_row_pt row,
    void *data);
static int mt_ch_exec(mt_db_t *db, const char *sql);
static int mt_ch_begin(mt_db_t *db);
static int mt_ch_commit(mt_db_t *db);
static void mt_ch_rollback(mt_db_t *db);
static int mt_ch_insert(mt_db_t *db, mt_ch_block_t *b);
static int mt_ch_file_add(mt_db_t *db, mt_db_file_t *f, int *loaded);
static int mt_ch_file_done(mt_db_t *db, mt_db_file_t *f);
static int mt_ch_insert_events(mt_db_t *db, mt_db_event_t **ev, size_t n);
static int mt_ch_messages_get(mt_db_t *db, mt_db_msg_t **m, size_t n,
    mt_db_msg_row_pt row, void *data);
static int mt_ch_messages_put(mt_db_t *db, mt_db_msg_t **m, size_t n);
static int mt_ch_soft_bounces(mt_db_t *db, mt_db_soft_t *s, size_t n,
    int64_t window, mt_db_row_pt row, void *data);
static int mt_ch_soft_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_ch_suppress(mt_db_t *db, mt_db_suppress_t *s, size_t n);
static int mt_ch_removed_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_ch_query(mt_db_t *db, const char *sql, const char **params,
    int nparams, mt_db_row_pt row, void *data);
static int mt_ch_setting(mt_db_t *db, const char *name, const char *value);
static int mt_ch_int_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int64_t mt_ch_now_ms(void);
static void mt_ch_cstr(mt_ch_block_t *b, size_t i, const char *s);
static void mt_ch_mstr(mt_ch_block_t *b, size_t i, const mt_str_t *s);


const mt_db_backend_t  mt_db_clickhouse = {
    "clickhouse",
    mt_ch_open,
    mt_ch_close,
    "SELECT name FROM system.tables WHERE database = currentDatabase()",
    "SELECT 1",
    mt_ch_ddl,
    mt_ch_exec,
    mt_ch_begin,
    mt_ch_commit,
    mt_ch_rollback,
    mt_ch_file_add,
    mt_ch_file_done,
    mt_ch_insert_events,
    mt_ch_messages_get,
    mt_ch_messages_put,
    mt_ch_soft_bounces,
    mt_ch_suppress,
    mt_ch_query,
    1,
    mt_ch_schema_check,
    mt_ch_setting,
    MT_CH_TX_BYTES,

    /* mt_rcpt_normalize() and mt_rcpt_domain() in SQL: white space cut,
     * "Name <addr>" taken apart, the part after the last '@'; lower() is
     * ASCII's alone here, as the normalization's */

    "nullIf(lower(extract(if(match(" MT_CH_TRIM("rcpt") ", '<[^<]*>$'), "
    MT_CH_TRIM("extract(" MT_CH_TRIM("rcpt") ", '<([^<]*)>$')") ", "
    MT_CH_TRIM("rcpt") "), '@([^@]*)$')), '')",

    NULL,                                    /* no locks: nothing to hold */
    mt_ch_prune,
    "",                                      /* strings compare as bytes */
    mt_ch_delete
};


static int
mt_ch_open(mt_db_t *db, const char *url)
{
    int       rc;
    size_t    i;
    mt_ch_t  *ch;

    ch = calloc(1, sizeof(mt_ch_t));
    if (ch == NULL) {
        mt_db_error(db, "out of memory");
        return MT_DB_ERROR;
    }

    db->conn = ch;

    rc = mt_ch_parse(db, ch, url);
    if (rc != MT_DB_OK) {
        return rc;
    }

    for (i = 0; i < MT_CH_T_MAX; i++) {
        if (mt_ch_block_init(&ch->block[i], mt_ch_tables[i].name,
                             mt_ch_tables[i].cols, mt_ch_tables[i].ncols)
            != 0)
        {
            mt_db_error(db, "out of memory");
            return MT_DB_ERROR;
        }
    }

    /* the first node that answers, and believes who we are */

    rc = MT_DB_DOWN;

    for (i = 0; i < ch->nnodes; i++) {
        if (mt_ch_node(db, i) == NULL) {
            return MT_DB_ERROR;
        }

        rc = mt_ch_query_on(db, &ch->node[i], "SELECT 1", NULL, 0, NULL,
                            NULL);
        if (rc != MT_DB_DOWN) {
            ch->main = i;
            break;
        }
    }

    return rc;
}


static void
mt_ch_close(mt_db_t *db)
{
    size_t    i;
    mt_ch_t  *ch = db->conn;

    for (i = 0; i < MT_CH_NODES_MAX; i++) {
        mt_http_free(&ch->node[i]);
        free(ch->hosts[i]);
    }

    for (i = 0; i < MT_CH_T_MAX; i++) {
        mt_ch_block_free(&ch->block[i]);
    }

    if (ch->password != NULL) {
        memset(ch->password, 0, strlen(ch->password));
    }

    free(ch->sha);
    free(ch->database);
    free(ch->user);
    free(ch->password);
    free(ch->cafile);
    mt_tool_buf_free(&ch->sql);
    mt_tool_buf_free(&ch->args);
    mt_tool_buf_free(&ch->body);
    free(ch);
}


/* clickhouse://[USER[:PASSWORD]@]HOST[:PORT][,HOST[:PORT]...]/[DB][?...] */

static int
mt_ch_parse(mt_db_t *db, mt_ch_t *ch, const char *url)
{
    char        *v, *s;
    size_t       n;
    const char  *p, *end, *at, *slash, *q, *host, *comma, *colon, *amp;
    const char  *eq;

    p = url + sizeof("clickhouse://") - 1;

    slash = p + strcspn(p, "/?");
    at = NULL;

    for (q = p; q < slash; q++) {
        if (*q == '@') {
            at = q;
        }
    }

    if (at != NULL) {
        colon = memchr(p, ':', at - p);

        ch->user = mt_ch_decode(p, (colon ? colon : at) - p);

        if (colon != NULL) {
            ch->password = mt_ch_decode(colon + 1, at - colon - 1);
        }

        p = at + 1;
    }

    /* the query: secure=1, cafile=PATH */

    q = strchr(slash, '?');

    for (s = (char *) (q ? q + 1 : NULL); s != NULL && *s; ) {
        amp = strchr(s, '&');
        end = amp ? amp : s + strlen(s);
        eq = memchr(s, '=', end - s);

        if (eq == NULL) {
            mt_db_error(db, "\"%.*s\": expected NAME=VALUE in the URL",
                        (int) (end - s), s);
            return MT_DB_ERROR;
        }

        v = mt_ch_decode(eq + 1, end - eq - 1);
        if (v == NULL) {
            mt_db_error(db, "out of memory");
            return MT_DB_ERROR;
        }

        n = eq - s;

        if (n == 6 && memcmp(s, "secure", 6) == 0) {
            ch->secure = (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
            free(v);

        } else if (n == 6 && memcmp(s, "cafile", 6) == 0) {
            free(ch->cafile);
            ch->cafile = v;

        } else {
            free(v);
            mt_db_error(db, "unknown URL parameter \"%.*s\" (secure=1, "
                        "cafile=PATH)", (int) n, s);
            return MT_DB_ERROR;
        }

        s = (char *) (amp ? amp + 1 : end);
    }

    /* the nodes */

    for (host = p; host < slash; host = comma + 1) {
        comma = memchr(host, ',', slash - host);
        if (comma == NULL) {
            comma = slash;
        }

        n = comma - host;

        if (n == 0) {
            mt_db_error(db, "expected clickhouse://[USER[:PASSWORD]@]HOST"
                        "[:PORT][,HOST[:PORT]...]/DB");
            return MT_DB_ERROR;
        }

        if (ch->nnodes == MT_CH_NODES_MAX) {
            mt_db_error(db, "more than %d nodes in the URL",
                        MT_CH_NODES_MAX);
            return MT_DB_ERROR;
        }

        /* a port unless one is there ("[::1]:8123" has its own) */

        colon = NULL;

        for (q = host + n; q > host; q--) {
            if (q[-1] == ':' || q[-1] == ']') {
                colon = (q[-1] == ':') ? q - 1 : NULL;
                break;
            }
        }

        s = malloc(n + sizeof(":" MT_CH_PORT_SECURE));
        if (s == NULL) {
            mt_db_error(db, "out of memory");
            return MT_DB_ERROR;
        }

        memcpy(s, host, n);
        s[n] = '\0';

        if (colon == NULL) {
            strcat(s, ch->secure ? ":" MT_CH_PORT_SECURE : ":" MT_CH_PORT);
        }

        ch->hosts[ch->nnodes++] = s;

        if (comma == slash) {
            break;
        }
    }

    if (ch->nnodes == 0) {
        mt_db_error(db, "expected clickhouse://[USER[:PASSWORD]@]HOST"
                    "[:PORT][,HOST[:PORT]...]/DB");
        return MT_DB_ERROR;
    }

    p = (*slash == '/') ? slash + 1 : slash;
    n = strcspn(p, "?");

    ch->database = n ? mt_ch_decode(p, n) : strdup("default");

    if (ch->user == NULL && getenv("CLICKHOUSE_USER") != NULL) {
        ch->user = strdup(getenv("CLICKHOUSE_USER"));
    }

    if (ch->password == NULL && getenv("CLICKHOUSE_PASSWORD") != NULL) {
        ch->password = strdup(getenv("CLICKHOUSE_PASSWORD"));
    }

    if (ch->database == NULL) {
        mt_db_error(db, "out of memory");
        return MT_DB_ERROR;
    }

    /* every request names the database */

    mt_tool_buf_add_cstr(&ch->args, MT_CH_ARGS "&database=");
    mt_http_escape(&ch->args, ch->database, strlen(ch->database));
    mt_tool_buf_add(&ch->args, "", 1);

    if (ch->args.nomem) {
        mt_db_error(db, "out of memory");
        return MT_DB_ERROR;
    }

    return MT_DB_OK;
}


/* %XX decoded; NULL when out of memory */

static char *
mt_ch_decode(const char *p, size_t len)
{
    char    *d, *s, hex[3];
    size_t   i;

    s = malloc(len + 1);
    if (s == NULL) {
        return NULL;
    }

    for (i = 0, d = s; i < len; i++) {
        if (p[i] == '%' && i + 2 < len && isxdigit((u_char) p[i + 1])
            && isxdigit((u_char) p[i + 2]))
        {
            hex[0] = p[i + 1];
            hex[1] = p[i + 2];
            hex[2] = '\0';
            *d++ = (char) strtol(hex, NULL, 16);
            i += 2;
            continue;
        }

        *d++ = p[i];
    }

    *d = '\0';

    return s;
}


/* node i's connection, made when first needed; NULL: reported */

mt_http_t *
mt_ch_node(mt_db_t *db, size_t i)
{
    char      base[600];
    mt_ch_t  *ch = db->conn;

    if (i >= ch->nnodes) {
        return NULL;
    }

    if (ch->node[i].curl != NULL) {
        return &ch->node[i];
    }

    snprintf(base, sizeof(base), "%s://%s/?", ch->secure ? "https" : "http",
             ch->hosts[i]);

    if (mt_http_init(&ch->node[i], base, ch->user, ch->password,
                     ch->cafile) != 0)
    {
        mt_db_error(db, "%s", ch->node[i].err);
        mt_http_free(&ch->node[i]);
        return NULL;
    }

    return &ch->node[i];
}


/* a request: the database's arguments, extra ones, and the body */

static int
mt_ch_post(mt_db_t *db, mt_http_t *h, const char *extra, const u_char *body,
    size_t len)
{
    int            rc;
    mt_tool_buf_t  args;
    mt_ch_t       *ch = db->conn;

    mt_tool_buf_init(&args);
    mt_tool_buf_add_cstr(&args, (char *) ch->args.data);
    mt_tool_buf_add_cstr(&args, extra ? extra : "");
    mt_tool_buf_add(&args, "", 1);

    if (args.nomem) {
        mt_db_error(db, "out of memory");
        return MT_DB_ERROR;
    }

    rc = mt_http_post(h, (char *) args.data, body, len);

    mt_tool_buf_free(&args);

    if (rc != 0) {
        mt_db_error(db, "%s", h->err);
        return MT_DB_DOWN;
    }

    if (h->status != 200) {
        return mt_ch_fail(db, h);
    }

    return MT_DB_OK;
}


/*
 * The server's "Code: N, e.displayText() = DB::Exception: WHAT, ..."
 * (18.16) or "Code: N. DB::Exception: WHAT. (NAME) (version ...)" as
 * one line, classified: who we are, read-only, a node away or busy is
 * MT_DB_DOWN (retried by --follow), too many parts MT_DB_RETRY.
 */

static int
mt_ch_fail(mt_db_t *db, mt_http_t *h)
{
    int          code;
    size_t       n;
    const char  *p, *msg, *end;

    p = (const char *) h->resp.data;
    code = 0;

    if (p != NULL && strncmp(p, "Code: ", 6) == 0) {
        code = atoi(p + 6);
    }

    msg = p ? strstr(p, "DB::Exception: ") : NULL;
    msg = msg ? msg + sizeof("DB::Exception: ") - 1 : (p ? p : "");

    end = strstr(msg, ", e.what() = ");
    n = end ? (size_t) (end - msg) : strcspn(msg, "\n");

    if (n == 0) {
        mt_db_error(db, "HTTP status %ld", h->status);

    } else {
        mt_db_error(db, "%.*s", (int) n, msg);
    }

    if (h->status == 401 || h->status == 403) {
        return MT_DB_DOWN;
    }

    switch (code) {
    case 81:     /* UNKNOWN_DATABASE */
    case 159:    /* TIMEOUT_EXCEEDED */
    case 164:    /* READONLY */
    case 192:    /* UNKNOWN_USER */
    case 193:    /* WRONG_PASSWORD */
    case 194:    /* REQUIRED_PASSWORD */
    case 195:    /* IP_ADDRESS_NOT_ALLOWED */
    case 202:    /* TOO_MANY_SIMULTANEOUS_QUERIES */
    case 209:    /* SOCKET_TIMEOUT */
    case 210:    /* NETWORK_ERROR */
    case 241:    /* MEMORY_LIMIT_EXCEEDED */
    case 242:    /* TABLE_IS_READ_ONLY */
    case 243:    /* NOT_ENOUGH_SPACE */
    case 279:    /* ALL_CONNECTION_TRIES_FAILED */
    case 497:    /* ACCESS_DENIED */
    case 516:    /* AUTHENTICATION_FAILED */
        return MT_DB_DOWN;
    case 252:    /* TOO_MANY_PARTS */
        return MT_DB_RETRY;
    default:
        return MT_DB_ERROR;
    }
}


/* a string literal: quoted, ' and \ escaped */

void
mt_ch_quote(mt_tool_buf_t *b, const char *s, size_t len)
{
    size_t  i;

    mt_tool_buf_add(b, "'", 1);

    for (i = 0; i < len; i++) {
        if (s[i] == '\'' || s[i] == '\\') {
            mt_tool_buf_add(b, "\\", 1);
        }

        mt_tool_buf_add(b, &s[i], 1);
    }

    mt_tool_buf_add(b, "'", 1);
}


/* sql with "$1".. as the params' string literals (NULL as NULL) */

void
mt_ch_expand(mt_tool_buf_t *b, const char *sql, const char **params,
    int nparams)
{
    int          k;
    const char  *p;

    for (p = sql; *p; p++) {
        if (*p == '$' && p[1] >= '1' && p[1] <= '9') {
            k = (int) strtol(p + 1, (char **) &p, 10);
            p--;

            if (k > nparams || params[k - 1] == NULL) {
                mt_tool_buf_add_cstr(b, "NULL");

            } else {
                mt_ch_quote(b, params[k - 1], strlen(params[k - 1]));
            }

            continue;
        }

        mt_tool_buf_add(b, p, 1);
    }
}


/*
 * One statement on a node; "$1".. are the params as string literals
 * (NULL as NULL).  With row, the rows come as TabSeparated.
 */

int
mt_ch_query_on(mt_db_t *db, mt_http_t *h, const char *sql,
    const char **params, int nparams, mt_db_row_pt row, void *data)
{
    int             rc;
    mt_tool_buf_t  *b;
    mt_ch_t        *ch = db->conn;

    b = &ch->sql;
    b->len = 0;
    b->nomem = 0;

    mt_ch_expand(b, sql, params, nparams);

    if (row != NULL) {
        mt_tool_buf_add_cstr(b, "\nFORMAT TabSeparated");
    }

    if (b->nomem) {
        mt_db_error(db, "out of memory");
        return MT_DB_ERROR;
    }

    /* an INSERT into a Distributed table: on the shards when it returns */

    rc = mt_ch_post(db, h, strncmp(sql, "INSERT", 6) == 0
                           ? MT_CH_INSERT_ARGS : NULL, b->data, b->len);

    if (rc != MT_DB_OK || row == NULL) {
        return rc;
    }

    return mt_ch_rows(db, h, row, data);
}


int
mt_ch_exec_on(mt_db_t *db, mt_http_t *h, mt_tool_buf_t *sql)
{
    if (sql->nomem) {
        mt_db_error(db, "out of memory");
        return MT_DB_ERROR;
    }

    return mt_ch_post(db, h, NULL, sql->data, sql->len);
}


/* TabSeparated rows: \N is NULL, backslash escapes undone in place */

static int
mt_ch_rows(mt_db_t *db, mt_http_t *h, mt_db_row_pt row, void *data)
{
    int      n;
    u_char  *p, *end, *line, *d, *f;
    size_t   lens[64];
    char    *cols[64];

    p = h->resp.data;
    end = p + h->resp.len;

    while (p < end) {
        line = p;
        p = memchr(line, '\n', end - line);
        p = p ? p : end;

        n = 0;
        f = line;
        d = line;

        for ( ;; ) {
            if (line == p || *line == '\t') {
                if (n < 64) {
                    lens[n] = d - f;
                    cols[n] = (char *) f;

                    if (lens[n] == 2 && f[0] == '\\' && f[1] == 'N') {
                        cols[n] = NULL;
                        lens[n] = 0;
                    }

                    n++;
                }

                if (line == p) {
                    break;
                }

                *d = '\0';
                line++;
                f = line;
                d = line;
                continue;
            }

            if (*line == '\\' && line + 1 < p) {
                line++;

                switch (*line) {
                case 'b': *d++ = '\b'; break;
                case 'f': *d++ = '\f'; break;
                case 'n': *d++ = '\n'; break;
                case 'r': *d++ = '\r'; break;
                case 't': *d++ = '\t'; break;
                case '0': *d++ = '\0'; break;
                case 'N':
                    *d++ = '\\';
                    *d++ = 'N';
                    break;
                default: *d++ = *line;
                }

                line++;
                continue;
            }

            *d++ = *line++;
        }

        /* the line's end: the last field ends here too */
        *d = '\0';

        if (p < end) {
            p++;
        }

        if (row(data, n, (const char **) cols, lens) != 0) {
            mt_db_error(db, "stopped");
            return MT_DB_ERROR;
        }
    }

    return MT_DB_OK;
}


static int
mt_ch_query(mt_db_t *db, const char *sql, const char **params, int nparams,
    mt_db_row_pt row, void *data)
{
    mt_ch_t  *ch = db->conn;

    return mt_ch_query_on(db, &ch->node[ch->main], sql, params, nparams, row,
                          data);
}


/* statements separated by ";", or the schema's DDL */

static int
mt_ch_exec(mt_db_t *db, const char *sql)
{
    int          rc;
    size_t       n;
    const char  *p;
    mt_ch_t     *ch = db->conn;

    if (sql == mt_ch_ddl) {
        return mt_ch_schema_create(db);
    }

    for (p = sql; *p; p += n + (p[n] == ';')) {
        n = strcspn(p, ";");

        if (n == 0) {
            continue;
        }

        rc = mt_ch_post(db, &ch->node[ch->main], NULL, (const u_char *) p,
                        n);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    return MT_DB_OK;
}


static int
mt_ch_begin(mt_db_t *db)
{
    mt_ch_rollback(db);

    return MT_DB_OK;
}


/*
 * The blocks, each as one INSERT: events, the states of their messages,
 * the claims on suppressions, and last the ledger rows, which say that
 * all before them is in.  A failure between two leaves the files not in
 * the ledger: they are loaded again, into the same sets.
 */

static int
mt_ch_commit(mt_db_t *db)
{
    int       rc;
    size_t    i;
    mt_ch_t  *ch = db->conn;

    static const mt_ch_table_e  order[] = {
        MT_CH_T_EVENTS, MT_CH_T_MSG, MT_CH_T_CLAIMS, MT_CH_T_FILES
    };

    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        rc = mt_ch_insert(db, &ch->block[order[i]]);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    mt_ch_rollback(db);

    return MT_DB_OK;
}


static void
mt_ch_rollback(mt_db_t *db)
{
    size_t    i;
    mt_ch_t  *ch = db->conn;

    for (i = 0; i < MT_CH_T_MAX; i++) {
        mt_ch_block_reset(&ch->block[i]);
    }

    ch->nsha = 0;
    ch->now = (int64_t) time(NULL) * 1000;
}


static int
mt_ch_insert(mt_db_t *db, mt_ch_block_t *b)
{
    int       rc;
    mt_ch_t  *ch = db->conn;

    if (b->rows == 0) {
        return MT_DB_OK;
    }

    if (mt_ch_block_nomem(b)) {
        mt_db_error(db, "out of memory");
        return MT_DB_ERROR;
    }

    ch->body.len = 0;
    ch->body.nomem = 0;
    mt_ch_block_native(b, &ch->body);

    ch->sql.len = 0;
    ch->sql.nomem = 0;
    mt_tool_buf_add_cstr(&ch->sql, MT_CH_INSERT_ARGS "&query=");
    mt_http_escape(&ch->sql, "INSERT INTO ", 12);
    mt_http_escape(&ch->sql, b->table, strlen(b->table));
    mt_http_escape(&ch->sql, " FORMAT Native", 14);
    mt_tool_buf_add(&ch->sql, "", 1);

    if (ch->body.nomem || ch->sql.nomem) {
        mt_db_error(db, "out of memory");
        return MT_DB_ERROR;
    }

    rc = mt_ch_post(db, &ch->node[ch->main], (char *) ch->sql.data,
                    ch->body.data, ch->body.len);

    if (rc == MT_DB_OK) {
        mt_ch_block_reset(b);
    }

    return rc;
}


static void
mt_ch_cstr(mt_ch_block_t *b, size_t i, const char *s)
{
    mt_ch_str(b, i, (const u_char *) s, s ? strlen(s) : 0);
}


static void
mt_ch_mstr(mt_ch_block_t *b, size_t i, const mt_str_t *s)
{
    mt_ch_str(b, i, s->data, s->len);
}


/*
 * The ledger: loaded before when its content's SHA-256 is there.  The
 * file's id is made of the hash, so a file loaded again after a crash
 * gives rows equal to the first time's.
 */

static int
mt_ch_file_add(mt_db_t *db, mt_db_file_t *f, int *loaded)
{
    int          rc, n;
    char         hex[16], (*sha)[65];
    size_t       i;
    const char  *params[1];
    mt_ch_t     *ch = db->conn;

    params[0] = f->sha256;
    n = 0;

    rc = mt_ch_query(db, "SELECT count() FROM mail_files WHERE sha256 = $1",
                     params, 1, mt_ch_int_row, &n);
    if (rc != MT_DB_OK) {
        return rc;
    }

    /* a copy of a file of this transaction is loaded before, too */

    for (i = 0; i < ch->nsha; i++) {
        n += (strcmp(ch->sha[i], f->sha256) == 0);
    }

    *loaded = (n > 0);

    if (!*loaded) {
        if (ch->nsha == ch->sha_alloc) {
            ch->sha_alloc = ch->sha_alloc ? 2 * ch->sha_alloc : 16;

            sha = realloc(ch->sha, ch->sha_alloc * sizeof(ch->sha[0]));
            if (sha == NULL) {
                mt_db_error(db, "out of memory");
                return MT_DB_ERROR;
            }

            ch->sha = sha;
        }

        memcpy(ch->sha[ch->nsha++], f->sha256, 65);
    }

    memcpy(hex, f->sha256, 15);
    hex[15] = '\0';
    f->file_id = strtoll(hex, NULL, 16);

    return MT_DB_OK;
}


static int
mt_ch_int_row(void *data, int ncols, const char **cols, const size_t *lens)
{
    (void) lens;

    if (ncols >= 1 && cols[0] != NULL) {
        *(int *) data = atoi(cols[0]);
    }

    return 0;
}


static int
mt_ch_file_done(mt_db_t *db, mt_db_file_t *f)
{
    mt_ch_t        *ch = db->conn;
    mt_ch_block_t  *b = &ch->block[MT_CH_T_FILES];

    mt_ch_cstr(b, 0, f->sha256);
    mt_ch_int(b, 1, f->file_id, 1);
    mt_ch_cstr(b, 2, f->name);
    mt_ch_mstr(b, 3, &f->host);
    mt_ch_int(b, 4, f->size, 1);
    mt_ch_int(b, 5, f->events, 1);
    mt_ch_int(b, 6, f->duplicates, 1);
    mt_ch_int(b, 7, f->invalid, 1);
    mt_ch_int(b, 8, f->repaired, 1);
    mt_ch_int(b, 9, f->damaged_at, f->damaged_at >= 0);
    mt_ch_int(b, 10, ch->now, 1);
    mt_ch_cstr(b, 11, db->loader);
    b->rows++;

    return MT_DB_OK;
}


/*
 * Every event of the files goes in, known before or not: a copy of an
 * event is the same row (its id, message and time), merged away by the
 * engine and never counted twice by a reader.  Only the copies within
 * a transaction are found here (and counted as duplicates).
 */

static int
mt_ch_insert_events(mt_db_t *db, mt_db_event_t **ev, size_t n)
{
    size_t          k;
    mt_db_event_t  *e;
    mt_ch_t        *ch = db->conn;
    mt_ch_block_t  *b = &ch->block[MT_CH_T_EVENTS];

    for (k = 0; k < n; k++) {
        e = ev[k];

        mt_ch_mstr(b, 0, &e->ev.id);
        mt_ch_int(b, 1, e->at, 1);
        mt_ch_int(b, 2, e->ev.ts, e->ev.ts != 0);
        mt_ch_int(b, 3, e->ev.rt, 1);
        mt_ch_mstr(b, 4, &e->src);
        mt_ch_mstr(b, 5, &e->type);
        mt_ch_mstr(b, 6, &e->ev.esp_type);
        mt_ch_mstr(b, 7, &e->ev.mid);
        mt_ch_mstr(b, 8, &e->ev.esp_mid);
        mt_ch_mstr(b, 9, &e->ev.rcpt);
        mt_ch_mstr(b, 10, &e->bounce);
        mt_ch_mstr(b, 11, &e->ev.smtp_status);
        mt_ch_int(b, 12, e->ev.smtp_code, e->ev.smtp_code != 0);
        mt_ch_mstr(b, 13, &e->ev.reason);
        mt_ch_mstr(b, 14, &e->ev.url);
        mt_ch_mstr(b, 15, &e->ev.ip);
        mt_ch_mstr(b, 16, &e->ev.ua);
        mt_ch_int(b, 17, e->ev.machine,
                  e->ev.machine != MT_MACHINE_UNKNOWN);
        mt_ch_mstr(b, 18, &e->ev.why);
        mt_ch_mstr(b, 19, &e->ev.tag);
        mt_ch_int(b, 20, e->v, 1);
        mt_ch_mstr(b, 21, &e->extra);
        mt_ch_int(b, 22, e->file_id, 1);
        b->rows++;

        e->is_new = 1;
    }

    return MT_DB_OK;
}


/* per_event: never asked (a state is merged where it is read) */

static int
mt_ch_messages_get(mt_db_t *db, mt_db_msg_t **m, size_t n,
    mt_db_msg_row_pt row, void *data)
{
    (void) db;
    (void) m;
    (void) n;
    (void) row;
    (void) data;

    return MT_DB_OK;
}


/* each event's own state (the core's), keyed by message and event */

static int
mt_ch_messages_put(mt_db_t *db, mt_db_msg_t **m, size_t n)
{
    size_t                i;
    mt_ch_t              *ch = db->conn;
    mt_ch_block_t        *b = &ch->block[MT_CH_T_MSG];
    const mt_msgstate_t  *st;

    for (i = 0; i < n; i++) {
        st = &m[i]->st;

        mt_ch_mstr(b, 0, &m[i]->s.mid);
        mt_ch_mstr(b, 1, &m[i]->event_id);
        mt_ch_mstr(b, 2, &m[i]->s.rcpt);
        mt_ch_int(b, 3, st->state, 1);
        mt_ch_int(b, 4, st->sent_at, 1);
        mt_ch_int(b, 5, st->delivered_at, 1);
        mt_ch_int(b, 6, st->bounce, 1);
        mt_ch_int(b, 7, st->bounced_at, 1);
        mt_ch_int(b, 8, st->complained_at, 1);
        mt_ch_int(b, 9, st->unsubscribed_at, 1);
        mt_ch_int(b, 10, st->opens, 1);
        mt_ch_int(b, 11, st->opens_machine, 1);
        mt_ch_int(b, 12, st->opens_first, 1);
        mt_ch_int(b, 13, st->opens_last, 1);
        mt_ch_int(b, 14, st->clicks, 1);
        mt_ch_int(b, 15, st->clicks_machine, 1);
        mt_ch_int(b, 16, st->clicks_first, 1);
        mt_ch_int(b, 17, st->clicks_last, 1);
        mt_ch_mstr(b, 18, &m[i]->s.url);
        mt_ch_int(b, 19, st->url_at, 1);
        mt_ch_int(b, 20, st->sources, 1);
        mt_ch_int(b, 21, ch->now, 1);
        b->rows++;
    }

    return MT_DB_OK;
}


typedef struct {
    mt_db_soft_t               *s;
    size_t                      n;
    int64_t                     window;
    mt_db_row_pt                row;
    void                       *data;
} mt_ch_soft_ctx_t;


/*
 * The soft bounces go in at once (the window query must see them), then
 * the window of each address: from its first soft bounce here less the
 * window to its last one plus the window, as the SQL backends ask.
 */

static int
mt_ch_soft_bounces(mt_db_t *db, mt_db_soft_t *s, size_t n,
    int64_t window, mt_db_row_pt row, void *data)
{
    int                rc;
    size_t             i;
    int64_t            lo, hi;
    mt_ch_t           *ch = db->conn;
    mt_ch_block_t     *b = &ch->block[MT_CH_T_SOFT];
    mt_tool_buf_t      q;
    mt_ch_soft_ctx_t   ctx;
    char               num[64];

    if (n == 0) {
        return MT_DB_OK;
    }

    for (i = 0; i < n; i++) {
        mt_ch_mstr(b, 0, &s[i].address);
        mt_ch_int(b, 1, s[i].at, 1);
        mt_ch_mstr(b, 2, &s[i].event_id);
        mt_ch_mstr(b, 3, &s[i].message_id);
        mt_ch_mstr(b, 4, &s[i].src);
        b->rows++;
    }

    rc = mt_ch_insert(db, b);
    if (rc != MT_DB_OK || row == NULL) {
        return rc;
    }

    lo = s[0].at;
    hi = s[0].at;

    mt_tool_buf_init(&q);
    mt_tool_buf_add_cstr(&q, "SELECT DISTINCT address, at, event_id, "
                         "message_id, src FROM mail_soft_bounces "
                         "WHERE address IN (");

    for (i = 0; i < n; i++) {
        if (i == 0 || s[i].address.len != s[i - 1].address.len
            || memcmp(s[i].address.data, s[i - 1].address.data,
                      s[i].address.len) != 0)
        {
            mt_tool_buf_add_cstr(&q, i ? ", " : "");
            mt_ch_quote(&q, (const char *) s[i].address.data,
                        s[i].address.len);
        }

        lo = mt_min(lo, s[i].at);
        hi = mt_max(hi, s[i].at);
    }

    snprintf(num, sizeof(num), ") AND at BETWEEN %lld AND %lld ",
             (long long) (lo - window), (long long) (hi + window));
    mt_tool_buf_add_cstr(&q, num);
    mt_tool_buf_add_cstr(&q, "ORDER BY address, at, event_id");
    mt_tool_buf_add(&q, "", 1);

    if (q.nomem) {
        mt_tool_buf_free(&q);
        mt_db_error(db, "out of memory");
        return MT_DB_ERROR;
    }

    ctx.s = s;
    ctx.n = n;
    ctx.window = window;
    ctx.row = row;
    ctx.data = data;

    rc = mt_ch_query(db, (char *) q.data, NULL, 0, mt_ch_soft_row, &ctx);

    mt_tool_buf_free(&q);

    return rc;
}


/* a row within its own address's window goes on to the caller */

static int
mt_ch_soft_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    int                r;
    size_t             i, lo, hi, first, last;
    int64_t            at;
    mt_ch_soft_ctx_t  *ctx = data;
    mt_db_soft_t      *s = ctx->s;

    if (ncols < 5 || cols[0] == NULL || cols[1] == NULL) {
        return 0;
    }

    /* the address's soft bounces of this transaction: s is sorted */

    lo = 0;
    hi = ctx->n;

    while (lo < hi) {
        i = (lo + hi) / 2;

        r = memcmp(s[i].address.data, cols[0],
                   mt_min(s[i].address.len, lens[0]));
        if (r == 0) {
            r = (s[i].address.len > lens[0]) - (s[i].address.len < lens[0]);
        }

        if (r < 0) {
            lo = i + 1;

        } else {
            hi = i;
        }
    }

    first = lo;

    for (last = first; last < ctx->n && s[last].address.len == lens[0]
                       && memcmp(s[last].address.data, cols[0], lens[0]) == 0;
         last++)
    {
        /* void */
    }

    if (first == last) {
        return 0;
    }

    at = strtoll(cols[1], NULL, 10);

    if (at < s[first].at - ctx->window || at > s[last - 1].at + ctx->window)
    {
        return 0;
    }

    return ctx->row(ctx->data, ncols, cols, lens);
}


/* the last removal by hand of each address asked for */
typedef struct {
    char                      **addr;
    int64_t                    *at;
    size_t                      n;
    size_t                      nalloc;
    unsigned                    nomem:1;
} mt_ch_removed_t;


/*
 * Each claim a row: the view merges them (mt_tool_chschema.c).  A claim
 * at or before the address's last removal by hand is left out, as SQL's
 * merge leaves it (MT_DB_SUPPRESS_MERGE): the row removed stays as it
 * was when removed.
 */

static int
mt_ch_suppress(mt_db_t *db, mt_db_suppress_t *s, size_t n)
{
    int              rc;
    size_t           i, k;
    mt_ch_removed_t  r;
    mt_ch_t         *ch = db->conn;
    mt_ch_block_t   *b = &ch->block[MT_CH_T_CLAIMS];

    if (n == 0) {
        return MT_DB_OK;
    }

    memset(&r, 0, sizeof(mt_ch_removed_t));

    ch->body.len = 0;
    ch->body.nomem = 0;
    mt_tool_buf_add_cstr(&ch->body, "SELECT address, max(at) FROM "
                         "mail_suppression_hand WHERE reason = '' "
                         "AND address IN (");

    for (i = 0; i < n; i++) {
        mt_tool_buf_add_cstr(&ch->body, i ? ", " : "");
        mt_ch_quote(&ch->body, (char *) s[i].address.data, s[i].address.len);
    }

    mt_tool_buf_add_cstr(&ch->body, ") GROUP BY address\n"
                         "FORMAT TabSeparated");

    if (ch->body.nomem) {
        mt_db_error(db, "out of memory");
        return MT_DB_ERROR;
    }

    /* posted as it is: an address may hold "$1" */

    rc = mt_ch_post(db, &ch->node[ch->main], NULL, ch->body.data,
                    ch->body.len);

    if (rc == MT_DB_OK) {
        rc = mt_ch_rows(db, &ch->node[ch->main], mt_ch_removed_row, &r);
    }

    if (rc == MT_DB_OK && r.nomem) {
        mt_db_error(db, "out of memory");
        rc = MT_DB_ERROR;
    }

    for (i = 0; rc == MT_DB_OK && i < n; i++) {
        for (k = 0; k < r.n; k++) {
            if (strlen(r.addr[k]) == s[i].address.len
                && memcmp(r.addr[k], s[i].address.data, s[i].address.len)
                   == 0)
            {
                break;
            }
        }

        if (k < r.n && s[i].first_at <= r.at[k]) {
            continue;
        }

        mt_ch_mstr(b, 0, &s[i].address);
        mt_ch_mstr(b, 1, &s[i].domain);
        mt_ch_cstr(b, 2, s[i].reason);
        mt_ch_mstr(b, 3, &s[i].src);
        mt_ch_mstr(b, 4, &s[i].message_id);
        mt_ch_mstr(b, 5, &s[i].event_id);
        mt_ch_int(b, 6, s[i].first_at, 1);
        mt_ch_int(b, 7, s[i].events, 1);
        b->rows++;
    }

    for (k = 0; k < r.n; k++) {
        free(r.addr[k]);
    }

    free(r.addr);
    free(r.at);

    return rc;
}


static int
mt_ch_removed_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    size_t            n;
    void             *p;
    mt_ch_removed_t  *r = data;

    if (ncols < 2 || cols[0] == NULL || cols[1] == NULL) {
        return 0;
    }

    if (r->n == r->nalloc) {
        n = r->nalloc ? r->nalloc * 2 : 16;

        p = realloc(r->addr, n * sizeof(char *));
        if (p == NULL) {
            r->nomem = 1;
            return -1;
        }

        r->addr = p;

        p = realloc(r->at, n * sizeof(int64_t));
        if (p == NULL) {
            r->nomem = 1;
            return -1;
        }

        r->at = p;
        r->nalloc = n;
    }

    r->addr[r->n] = strndup(cols[0], lens[0]);
    if (r->addr[r->n] == NULL) {
        r->nomem = 1;
        return -1;
    }

    r->at[r->n++] = strtoll(cols[1], NULL, 10);

    return 0;
}


/* a setting is the latest of its rows; "" removes it */

static int
mt_ch_setting(mt_db_t *db, const char *name, const char *value)
{
    char         now[24];
    const char  *params[3];

    snprintf(now, sizeof(now), "%lld", (long long) mt_ch_now_ms());

    params[0] = name;
    params[1] = value ? value : "";
    params[2] = now;

    return mt_ch_query(db, "INSERT INTO mail_settings_log (name, value, at) "
                       "VALUES ($1, $2, toInt64($3))", params, 3, NULL,
                       NULL);
}


static int64_t
mt_ch_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mail-track forget ADDR: erasure of one recipient (GDPR art. 17), in
 * one transaction (ClickHouse, which has none: mt_forget_unmerged()):
 *
 *   - its events: every event whose rcpt normalizes to ADDR (or is its
 *     hash), and the events without a recipient of its messages;
 *   - its messages: the mail_messages rows it is the recipient of, and
 *     those its events counted in (a message id shared by recipients):
 *     each is rebuilt from the events that remain, or deleted;
 *   - its soft bounces;
 *   - its suppression: kept, as the keyed hash of the address only (no
 *     domain, message, event or note), when it is suppressed, for the
 *     address must not be mailed again; deleted when it was removed.
 *
 * Rows are found without an index on rcpt: a prefilter any SQL backend
 * runs (lower(x) LIKE lower('%addr%'), a superset of the rows whose
 * normalized form is ADDR), then mt_rcpt_normalize() here decides.
 */


#include "mt_tool_query.h"

#include <getopt.h>
#include <unistd.h>


#define MT_FORGET_OPT_KEY       301
#define MT_FORGET_OPT_SUPPRESS  302
#define MT_FORGET_RETRIES       10
#define MT_FORGET_IN_MAX        500

/* address, suppressed, reason, src, first_at, last_at, events */
#define MT_FORGET_SUP_NCOLS     7


/* a set of strings */
typedef struct {
    mt_str_t                   *v;
    size_t                      n;
    size_t                      nalloc;
} mt_strs_t;


typedef struct {
    mt_db_t                     db;
    mt_rcpt_arg_t               rcpt;
    const char                 *key;
    int                         suppress;
    mt_arena_t                  arena;
    unsigned                    nomem:1;

    mt_strs_t                   variants;   /* rcpt as the events have it */
    mt_strs_t                   mids;       /* the messages touched */
    mt_strs_t                   own;        /* ... ADDR is recipient of */

    /* what was removed */
    int64_t                     events;
    int64_t                     messages;
    int64_t                     rebuilt;
    int64_t                     soft;
    const char                 *suppression;

    /* the rows of mids, held; the messages rebuilt */
    mt_db_msg_t               **locks;
    mt_db_msg_t               **msgs;
    size_t                      nmsgs;
    size_t                      msgs_alloc;

    /* the suppression rows of the address and of its hash */
    char                       *sup[2][MT_FORGET_SUP_NCOLS];
} mt_forget_t;


static int mt_forget_usage(FILE *f);
static int mt_forget_once(mt_forget_t *fg);
static int mt_forget_like(mt_forget_t *fg, const char *sql,
    mt_db_row_pt row);
static int mt_forget_event_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_forget_message_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_forget_is_ours(mt_forget_t *fg, const char *rcpt,
    size_t len);
static int mt_forget_in(mt_forget_t *fg, const char *head, const char *tail,
    mt_strs_t *set, mt_db_row_pt row, void *data);
static int mt_forget_messages(mt_forget_t *fg);
static int mt_forget_rebuild_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_forget_suppression(mt_forget_t *fg);
static int mt_forget_sup_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_forget_params(mt_forget_t *fg, const char **params);
static int mt_forget_add_hash(mt_forget_t *fg, const char *sql);
static void mt_forget_said(mt_forget_t *fg, int plain, int hashed);
static int mt_forget_sup_get(mt_forget_t *fg, const char **params, int n);
static void mt_forget_reset(mt_forget_t *fg);
static int mt_forget_unmerged(mt_forget_t *fg);
static int mt_forget_find(mt_forget_t *fg);
static size_t mt_forget_list(mt_forget_t *fg, mt_tool_buf_t *b,
    const char *head, mt_strs_t *set, const char **params, size_t n);
static int mt_forget_like_rows(mt_forget_t *fg, const char *head,
    const char *where, const char **params, size_t n, mt_strs_t *set);
static int mt_forget_set_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_forget_unmerged_sup(mt_forget_t *fg);
static int mt_strs_add(mt_strs_t *s, mt_arena_t *a, const char *p,
    size_t len);
static void mt_strs_sort(mt_strs_t *s);
static int mt_strs_cmp(const void *a, const void *b);
static void mt_forget_print(mt_forget_t *fg, mt_out_format_e fmt);


static const struct option  mt_forget_options[] = {
    { "db",       required_argument, NULL, 'd' },
    { "hash-key", required_argument, NULL, MT_FORGET_OPT_KEY },
    { "suppress", no_argument,       NULL, MT_FORGET_OPT_SUPPRESS },
    { "format",   required_argument, NULL, MT_OPT_FORMAT },
    { "help",     no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static int
mt_forget_usage(FILE *f)
{
    fprintf(f,
        "usage: " MT_TOOL_NAME " forget ADDR --db URL [--hash-key FILE] "
        "[--suppress]\n"
        "           [--format table|json|csv]\n"
        "\n"
        "Erases one recipient (GDPR art. 17): its events, its messages'\n"
        "rows (rebuilt from the events of other recipients, when a message\n"
        "id is shared), its soft bounces.  A suppressed address stays\n"
        "suppressed as its keyed hash only, so that \"suppressions check\n"
        "ADDR\" still says so; a removed one is deleted.  Prints what it\n"
        "removed.\n"
        "\n"
        "options:\n"
        "  --db URL          sqlite:PATH, postgresql://... or\n"
        "                    clickhouse://... (step by step there: run it\n"
        "                    again if cut short); required\n"
        "  --hash-key FILE   the hash key (keygen --hash FILE; also\n"
        "                    " MT_RCPT_KEY_ENV "); without one, the first\n"
        "                    erased address gives the database a secret\n"
        "                    of its own\n"
        "  --suppress        keep it suppressed (as its hash) even if it\n"
        "                    was not\n"
        "  --format F        table (the default on a terminal), json (else)\n"
        "                    or csv\n"
        "  -h, --help        this text\n");

    return MT_TOOL_OK;
}


int
mt_tool_forget(int argc, char **argv)
{
    int               c, rc, tries;
    const char       *url, *format;
    mt_forget_t       fg;
    mt_out_format_e   fmt;

    memset(&fg, 0, sizeof(mt_forget_t));
    url = NULL;
    format = NULL;

    optind = 1;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", mt_forget_options, NULL))
           != -1)
    {
        switch (c) {
        case 'd':
            url = optarg;
            break;
        case MT_FORGET_OPT_KEY:
            fg.key = optarg;
            break;
        case MT_FORGET_OPT_SUPPRESS:
            fg.suppress = 1;
            break;
        case MT_OPT_FORMAT:
            format = optarg;
            break;
        case 'h':
            return mt_forget_usage(stdout);
        default:
            return mt_tool_bad_option("forget", c, argv);
        }
    }

    if (url == NULL) {
        return mt_tool_usage_error("forget", "--db URL is required");
    }

    if (argc - optind != 1) {
        return mt_tool_usage_error("forget", "expected one ADDR");
    }

    if (mt_rcpt_arg("forget", argv[optind], &fg.rcpt) != 0
        || mt_out_format("forget", format, &fmt) != 0)
    {
        return MT_TOOL_USAGE;
    }

    if (mt_query_open(&fg.db, url) != 0) {
        return MT_TOOL_ERROR;
    }

    mt_arena_init(&fg.arena);

    /* without transactions: each step done, and a next run finishes */

    for (tries = 0; fg.db.backend->per_event; tries = MT_FORGET_RETRIES) {
        rc = mt_forget_unmerged(&fg);

        if (rc != MT_DB_OK && fg.db.err[0] != '\0') {
            mt_tool_error("%s: %s (run it again to finish)", fg.db.url,
                          fg.db.err);
        }

        break;
    }

    /* it deletes and updates rows, in a transaction */

    for (tries = 0; !fg.db.backend->per_event; tries++) {
        rc = fg.db.backend->begin(&fg.db);

        if (rc == MT_DB_OK) {
            rc = mt_forget_once(&fg);
        }

        if (rc == MT_DB_OK) {
            rc = fg.db.backend->commit(&fg.db);
        }

        if (rc == MT_DB_OK) {
            break;
        }

        fg.db.backend->rollback(&fg.db);

        if (rc != MT_DB_RETRY || tries == MT_FORGET_RETRIES) {
            if (fg.db.err[0] != '\0') {
                mt_tool_error("%s: %s (nothing was erased)", fg.db.url,
                              fg.db.err);
            }

            break;
        }

        mt_forget_reset(&fg);
        usleep(10000 << mt_min(tries, 6));
    }

    if (rc == MT_DB_OK) {
        mt_forget_print(&fg, fmt);

        if (mt_query_flush() != 0) {
            rc = MT_DB_ERROR;
        }
    }

    mt_forget_reset(&fg);
    mt_db_close(&fg.db);

    return rc == MT_DB_OK ? MT_TOOL_OK : MT_TOOL_ERROR;
}


/* errors are in db.err (reported by the caller), or reported here */

static int
mt_forget_once(mt_forget_t *fg)
{
    int          rc;
    size_t       i;
    mt_db_msg_t  *m;

    rc = mt_forget_find(fg);

    if (rc != MT_DB_OK) {
        return rc;
    }

    if (fg->nomem) {
        goto nomem;
    }

    /* the message rows, held against loaders in their order (by bytes) */

    if (fg->mids.n) {
        fg->locks = mt_arena_alloc(&fg->arena,
                                   fg->mids.n * sizeof(mt_db_msg_t *));
        if (fg->locks == NULL) {
            goto nomem;
        }

        for (i = 0; i < fg->mids.n; i++) {
            m = mt_arena_alloc(&fg->arena, sizeof(mt_db_msg_t));
            if (m == NULL) {
                goto nomem;
            }

            mt_msgstate_init(&m->st, &m->s);
            m->s.mid = fg->mids.v[i];
            fg->locks[i] = m;
        }

        rc = fg->db.backend->messages_get(&fg->db, fg->locks, fg->mids.n,
                                          NULL, NULL);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    /* the events: its own, then those without a recipient of its messages */

    rc = mt_forget_in(fg, "DELETE FROM mail_events WHERE rcpt IN (",
                      ") RETURNING id", &fg->variants,
                      mt_query_count_row, &fg->events);

    if (rc == MT_DB_OK) {
        rc = mt_forget_in(fg, "DELETE FROM mail_events WHERE rcpt IS NULL "
                          "AND mid IN (", ") RETURNING id", &fg->own,
                          mt_query_count_row, &fg->events);
    }

    if (rc == MT_DB_OK) {
        rc = mt_forget_messages(fg);
    }

    if (rc == MT_DB_OK) {
        rc = mt_forget_suppression(fg);
    }

    if (rc == MT_DB_OK && fg->nomem) {
        goto nomem;
    }

    return rc;

nomem:

    mt_db_error(&fg->db, "out of memory");
    return MT_DB_ERROR;
}


/* the address's events' recipients as they are, its messages' ids */

static int
mt_forget_find(mt_forget_t *fg)
{
    int  rc;

    fg->db.err[0] = '\0';

    /* the hash, if the database has a key; made below if one is needed */

    if (mt_rcpt_key(&fg->db, fg->key, 0, &fg->rcpt) != 0) {
        return MT_DB_ERROR;
    }

    /* the events naming the address, and the messages it received */

    rc = mt_forget_like(fg, "SELECT rcpt, mid FROM mail_events WHERE ",
                        mt_forget_event_row);

    if (rc == MT_DB_OK) {
        rc = mt_forget_like(fg, "SELECT recipient, message_id "
                            "FROM mail_messages WHERE ",
                            mt_forget_message_row);
    }

    if (rc == MT_DB_OK && !fg->nomem) {
        mt_strs_sort(&fg->variants);
        mt_strs_sort(&fg->mids);
        mt_strs_sort(&fg->own);
    }

    return rc;
}


/*
 * "SELECT x, y FROM t WHERE " + the prefilter: x, lowercased, holds the
 * address or its hash, lowercased.  Lowercasing maps one character to
 * one whatever the backend's rules, so every x that normalizes to the
 * address passes; row() decides on each.
 */

static int
mt_forget_like(mt_forget_t *fg, const char *sql, mt_db_row_pt row)
{
    int             rc, n;
    char           *pat[2];
    size_t          i, k, len;
    const u_char   *p;
    mt_tool_buf_t   q;
    const char     *params[2], *esc;

    n = 0;

    for (k = 0; k < 2; k++) {
        if (k == 0 && fg->rcpt.len) {
            p = fg->rcpt.addr;
            len = fg->rcpt.len;

        } else if (k == 1 && fg->rcpt.hashed) {
            p = fg->rcpt.hash;
            len = MT_RCPT_HASH_HEX;

        } else {
            continue;
        }

        pat[n] = mt_arena_alloc(&fg->arena, 2 * len + 3);
        if (pat[n] == NULL) {
            fg->nomem = 1;
            return MT_DB_OK;
        }

        params[n] = pat[n];
        pat[n][0] = '%';

        for (i = 0, p--; len--; ) {
            p++;

            if (*p == '%' || *p == '_' || *p == '\\') {
                pat[n][++i] = '\\';
            }

            pat[n][++i] = *p;
        }

        pat[n][++i] = '%';
        pat[n][++i] = '\0';
        n++;
    }

    /* ClickHouse's LIKE takes no ESCAPE: a backslash is its escape */

    esc = fg->db.backend->per_event ? "" : " ESCAPE '\\'";

    mt_tool_buf_init(&q);
    mt_tool_buf_add_cstr(&q, sql);

    /* the column the statement selects first */

    len = strcspn(sql + 7, ",");
    mt_tool_buf_add_cstr(&q, "lower(");
    mt_tool_buf_add(&q, sql + 7, len);
    mt_tool_buf_add_cstr(&q, ") LIKE lower($1)");
    mt_tool_buf_add_cstr(&q, esc);

    if (n == 2) {
        mt_tool_buf_add_cstr(&q, " OR lower(");
        mt_tool_buf_add(&q, sql + 7, len);
        mt_tool_buf_add_cstr(&q, ") LIKE lower($2)");
        mt_tool_buf_add_cstr(&q, esc);
    }

    mt_tool_buf_add(&q, "", 1);

    if (q.nomem) {
        mt_tool_buf_free(&q);
        fg->nomem = 1;
        return MT_DB_OK;
    }

    rc = fg->db.backend->query(&fg->db, (char *) q.data, params, n, row, fg);

    mt_tool_buf_free(&q);

    return rc;
}


/* an event of the address: its rcpt as it is, and its message */

static int
mt_forget_event_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    mt_forget_t  *fg = data;

    if (ncols < 2 || cols[0] == NULL
        || !mt_forget_is_ours(fg, cols[0], lens[0]))
    {
        return 0;
    }

    if (mt_strs_add(&fg->variants, &fg->arena, cols[0], lens[0]) != 0
        || (cols[1] != NULL
            && mt_strs_add(&fg->mids, &fg->arena, cols[1],
                           mt_utf8_cut((u_char *) cols[1], lens[1],
                                       MT_MSGSTATE_MID_MAX)) != 0))
    {
        fg->nomem = 1;
        return -1;
    }

    return 0;
}


static int
mt_forget_message_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    mt_forget_t  *fg = data;

    if (ncols < 2 || cols[0] == NULL || cols[1] == NULL
        || !mt_forget_is_ours(fg, cols[0], lens[0]))
    {
        return 0;
    }

    if (mt_strs_add(&fg->own, &fg->arena, cols[1], lens[1]) != 0
        || mt_strs_add(&fg->mids, &fg->arena, cols[1], lens[1]) != 0)
    {
        fg->nomem = 1;
        return -1;
    }

    return 0;
}


/* whether a recipient as stored normalizes to the address or its hash */

static int
mt_forget_is_ours(mt_forget_t *fg, const char *rcpt, size_t len)
{
    int      ours;
    u_char  *buf;
    size_t   n;

    buf = malloc(len + 1);
    if (buf == NULL) {
        fg->nomem = 1;
        return 0;
    }

    n = mt_rcpt_normalize(buf, (const u_char *) rcpt, len);

    ours = (fg->rcpt.len && n == fg->rcpt.len
            && memcmp(buf, fg->rcpt.addr, n) == 0)
           || (fg->rcpt.hashed && n == MT_RCPT_HASH_HEX
               && memcmp(buf, fg->rcpt.hash, n) == 0);

    free(buf);

    return ours;
}


/*
 * head "$1, $2, ..." tail over the set, in statements of at most
 * MT_FORGET_IN_MAX parameters.
 */

static int
mt_forget_in(mt_forget_t *fg, const char *head, const char *tail,
    mt_strs_t *set, mt_db_row_pt row, void *data)
{
    int            rc;
    char           num[16];
    size_t         i, n, from;
    const char   **params;
    mt_tool_buf_t  q;

    params = malloc(MT_FORGET_IN_MAX * sizeof(char *));
    if (params == NULL) {
        fg->nomem = 1;
        return MT_DB_OK;
    }

    mt_tool_buf_init(&q);
    rc = MT_DB_OK;
    from = 0;

    while (from < set->n && rc == MT_DB_OK) {
        n = mt_min(set->n - from, MT_FORGET_IN_MAX);

        q.len = 0;
        mt_tool_buf_add_cstr(&q, head);

        for (i = 0; i < n; i++) {
            snprintf(num, sizeof(num), "%s$%zu", i ? ", " : "", i + 1);
            mt_tool_buf_add_cstr(&q, num);
            params[i] = (const char *) set->v[from + i].data;
        }

        mt_tool_buf_add_cstr(&q, tail);
        mt_tool_buf_add(&q, "", 1);

        if (q.nomem) {
            fg->nomem = 1;
            break;
        }

        rc = fg->db.backend->query(&fg->db, (char *) q.data, params, (int) n,
                                   row, data);
        from += n;
    }

    mt_tool_buf_free(&q);
    free(params);

    return rc;
}


/*
 * The messages touched: rebuilt by the core's rules from the events
 * left (other recipients' of a shared message id), deleted when none
 * is left.
 */

static int
mt_forget_messages(mt_forget_t *fg)
{
    int        rc;
    char       tail[64];
    size_t     i, k;
    mt_strs_t  gone;

    if (fg->mids.n == 0) {
        return MT_DB_OK;
    }

    /* a message's events one after the other */

    snprintf(tail, sizeof(tail), ") ORDER BY mid %s",
             fg->db.backend->bytes_order);

    rc = mt_forget_in(fg, "SELECT mid, id, ts, rt, src, type, rcpt, bounce, "
                      "url, machine FROM mail_events WHERE mid IN (",
                      tail, &fg->mids, mt_forget_rebuild_row, fg);

    if (rc != MT_DB_OK || fg->nomem) {
        return rc;
    }

    /* in the order of mids (bytes), not of the database's collation */

    if (fg->nmsgs) {
        qsort(fg->msgs, fg->nmsgs, sizeof(mt_db_msg_t *), mt_db_msg_cmp);
    }

    memset(&gone, 0, sizeof(mt_strs_t));

    for (i = 0, k = 0; i < fg->mids.n; i++) {
        if (k < fg->nmsgs
            && mt_strs_cmp(&fg->mids.v[i], &fg->msgs[k]->s.mid) == 0)
        {
            /* updated where the row is, made where it is not */
            fg->msgs[k]->found = fg->locks[i]->found;
            k++;
            continue;
        }

        if (mt_strs_add(&gone, &fg->arena, (char *) fg->mids.v[i].data,
                        fg->mids.v[i].len) != 0)
        {
            free(gone.v);
            fg->nomem = 1;
            return MT_DB_OK;
        }
    }

    rc = mt_forget_in(fg, "DELETE FROM mail_messages WHERE message_id IN (",
                      ") RETURNING message_id", &gone,
                      mt_query_count_row, &fg->messages);

    free(gone.v);

    if (rc == MT_DB_OK && fg->nmsgs) {
        rc = fg->db.backend->messages_put(&fg->db, fg->msgs, fg->nmsgs);
        fg->rebuilt = fg->nmsgs;
    }

    return rc;
}


/* an event left of a touched message, folded into its state */

static int
mt_forget_rebuild_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    int             i;
    size_t          n;
    mt_str_t        mid, *s;
    mt_forget_t    *fg = data;
    mt_db_msg_t    *m, **msgs;
    mt_db_event_t   e;

    if (ncols < 10 || cols[0] == NULL || cols[1] == NULL) {
        return 0;
    }

    memset(&e, 0, sizeof(mt_db_event_t));
    mt_event_init(&e.ev);

    /* the strings the state keeps live in the arena */

    for (i = 0; i < 10; i++) {
        s = (i == 0) ? &e.ev.mid : (i == 1) ? &e.ev.id : (i == 4) ? &e.src
            : (i == 5) ? &e.type : (i == 6) ? &e.ev.rcpt
            : (i == 7) ? &e.bounce : (i == 8) ? &e.ev.url : NULL;

        if (s == NULL || cols[i] == NULL) {
            continue;
        }

        s->data = mt_arena_dup(&fg->arena, (u_char *) cols[i], lens[i]);
        s->len = lens[i];

        if (s->data == NULL) {
            fg->nomem = 1;
            return -1;
        }
    }

    e.ev.ts = cols[2] ? strtoll(cols[2], NULL, 10) : 0;
    e.ev.rt = cols[3] ? strtoll(cols[3], NULL, 10) : 0;

    /* SQLite 1 and 0, PostgreSQL t and f */
    if (cols[9] != NULL) {
        e.ev.machine = (cols[9][0] == '1' || cols[9][0] == 't');
    }

    mt_record_typed(&e);

    /* an event of a source or type this tool does not know changes no
     * state: a message with only such events left has no row */

    if (!e.known) {
        return 0;
    }

    mt_msgstate_key(&e.ev, &mid);

    n = fg->nmsgs;
    m = n ? fg->msgs[n - 1] : NULL;

    if (m == NULL || mt_strs_cmp(&m->s.mid, &mid) != 0) {
        if (n == fg->msgs_alloc) {
            fg->msgs_alloc = fg->msgs_alloc ? 2 * fg->msgs_alloc : 16;

            msgs = realloc(fg->msgs, fg->msgs_alloc * sizeof(mt_db_msg_t *));
            if (msgs == NULL) {
                fg->nomem = 1;
                return -1;
            }

            fg->msgs = msgs;
        }

        m = mt_arena_alloc(&fg->arena, sizeof(mt_db_msg_t));
        if (m == NULL) {
            fg->nomem = 1;
            return -1;
        }

        mt_msgstate_init(&m->st, &m->s);
        m->s.mid = mid;
        fg->msgs[fg->nmsgs++] = m;
    }

    /* the strings are in the arena already: nothing to copy */

    (void) mt_msgstate_apply(&m->st, &m->s, &e.ev);

    return 0;
}


/*
 * The address's suppression becomes its hash's (merged into a row the
 * hash has); a removed one goes.  With --suppress, the hash is
 * suppressed in any case.
 */

static int
mt_forget_suppression(mt_forget_t *fg)
{
    int                rc, n, plain, hashed, keep;
    const char        *params[5];
    mt_db_suppress_t   c;

    fg->suppression = "none";

    n = mt_forget_params(fg, params);

    /* held as the loaders hold an address they suppress */

    if (fg->db.backend->lock_address_sql != NULL) {
        for (rc = 0; rc < n; rc++) {
            if (fg->db.backend->query(&fg->db,
                                      fg->db.backend->lock_address_sql,
                                      &params[rc], 1, NULL, NULL)
                != MT_DB_OK)
            {
                return MT_DB_ERROR;
            }
        }
    }

    for (rc = 0; rc < n; rc++) {
        if (fg->db.backend->query(&fg->db, "DELETE FROM mail_soft_bounces "
                                  "WHERE address = $1 RETURNING address",
                                  &params[rc], 1, mt_query_count_row,
                                  &fg->soft)
            != MT_DB_OK)
        {
            return MT_DB_ERROR;
        }
    }

    rc = mt_forget_sup_get(fg, params, n);
    if (rc != MT_DB_OK || fg->nomem) {
        return rc;
    }

    plain = (fg->sup[0][0] != NULL);
    hashed = (fg->sup[1][0] != NULL);
    keep = fg->suppress || (plain && fg->sup[0][1][0] == '1');

    if (keep) {

        /* the first erased address makes the database's key, or records
         * the key file's id */

        if (mt_rcpt_key(&fg->db, fg->key, 1, &fg->rcpt) != 0) {
            fg->db.err[0] = '\0';
            return MT_DB_ERROR;
        }
    }

    if (plain && keep) {
        if (hashed) {
            memset(&c, 0, sizeof(mt_db_suppress_t));
            c.address.data = fg->rcpt.hash;
            c.address.len = MT_RCPT_HASH_HEX;
            c.domain.data = (u_char *) "";
            c.reason = fg->sup[0][2];
            c.src.data = (u_char *) fg->sup[0][3];
            c.src.len = fg->sup[0][3] ? strlen(fg->sup[0][3]) : 0;
            c.first_at = strtoll(fg->sup[0][4], NULL, 10);
            c.last_at = strtoll(fg->sup[0][5], NULL, 10);
            c.events = fg->sup[0][6] ? strtoll(fg->sup[0][6], NULL, 10) : 0;

            rc = fg->db.backend->suppress(&fg->db, &c, 1);
            fg->suppression = "merged into its hash";

        } else {
            params[0] = (const char *) fg->rcpt.addr;
            params[1] = (const char *) fg->rcpt.hash;

            rc = fg->db.backend->query(&fg->db, "UPDATE mail_suppressions "
                                       "SET address = $2, domain = '', "
                                       "message_id = NULL, event_id = NULL, "
                                       "note = NULL WHERE address = $1",
                                       params, 2, NULL, NULL);
            plain = 0;
            fg->suppression = "kept as its hash";
        }

        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    if (plain) {
        params[0] = (const char *) fg->rcpt.addr;

        rc = fg->db.backend->query(&fg->db, "DELETE FROM mail_suppressions "
                                   "WHERE address = $1", params, 1, NULL,
                                   NULL);
        if (rc != MT_DB_OK) {
            return rc;
        }

        if (!keep) {
            fg->suppression = "deleted (it was removed by hand)";
        }
    }

    if (fg->suppress) {
        rc = mt_forget_add_hash(fg, MT_SUP_ADD_SQL);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    mt_forget_said(fg, plain, hashed);

    return MT_DB_OK;
}


/* the hash suppressed by hand (reason manual), by sql (MT_SUP_*_SQL) */

static int
mt_forget_add_hash(mt_forget_t *fg, const char *sql)
{
    char         now[24];
    const char  *params[5];

    snprintf(now, sizeof(now), "%lld", (long long) mt_query_now());

    params[0] = (const char *) fg->rcpt.hash;
    params[1] = "";
    params[2] = "manual";
    params[3] = now;
    params[4] = NULL;

    return fg->db.backend->query(&fg->db, sql, params, 5, NULL, NULL);
}


/* what became of the suppression, when not said already */

static void
mt_forget_said(mt_forget_t *fg, int plain, int hashed)
{
    if (strcmp(fg->suppression, "none") != 0) {
        return;
    }

    if (fg->suppress) {
        fg->suppression = hashed ? "kept as its hash" : "added as its hash";

    } else if (!plain && hashed) {
        fg->suppression = fg->sup[1][1][0] == '1' ? "kept as its hash"
                                                  : "none";
    }
}


/* the address and its hash as parameters, as the database has them */

static int
mt_forget_params(mt_forget_t *fg, const char **params)
{
    int  n;

    n = 0;

    if (fg->rcpt.len) {
        params[n++] = (const char *) fg->rcpt.addr;
    }

    if (fg->rcpt.hashed) {
        params[n++] = (const char *) fg->rcpt.hash;
    }

    return n;
}


/* the suppression rows of params (the address, its hash): sup[0], sup[1] */

static int
mt_forget_sup_get(mt_forget_t *fg, const char **params, int n)
{
    return fg->db.backend->query(&fg->db, n == 2
                                 ? "SELECT address, suppressed, reason, "
                                   "src, first_at, last_at, events FROM "
                                   "mail_suppressions WHERE address = $1 "
                                   "OR address = $2"
                                 : "SELECT address, suppressed, reason, "
                                   "src, first_at, last_at, events FROM "
                                   "mail_suppressions WHERE address = $1",
                                 params, n, mt_forget_sup_row, fg);
}


/* the row of the address (sup[0]) or of its hash (sup[1]) */

static int
mt_forget_sup_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    int           i, k;
    mt_forget_t  *fg = data;

    if (ncols < MT_FORGET_SUP_NCOLS || cols[0] == NULL) {
        return 0;
    }

    k = mt_rcpt_is_hash((const u_char *) cols[0], lens[0])
        && fg->rcpt.hashed && memcmp(cols[0], fg->rcpt.hash, lens[0]) == 0;

    for (i = 0; i < MT_FORGET_SUP_NCOLS; i++) {
        fg->sup[k][i] = NULL;

        if (cols[i] == NULL) {
            continue;
        }

        fg->sup[k][i] = (char *) mt_arena_dup(&fg->arena, (u_char *) cols[i],
                                              lens[i]);
        if (fg->sup[k][i] == NULL) {
            fg->nomem = 1;
            return -1;
        }
    }

    return 0;
}


/*
 * forget where nothing is updated and there are no transactions
 * (ClickHouse): each step deletes what it erases (a mutation, awaited)
 * after the one before has, so a run cut short leaves less of the
 * address, and the next run finishes.  A message's state is its events'
 * states merged by a view: deleting the address's events' rows rebuilds
 * the messages shared with others, and leaves none of its own.  The
 * suppression's claims become the hash's, their events' ids made
 * opaque (MT_FORGET_OPAQUE).
 */

#define MT_FORGET_OPAQUE                                                      \
    "concat('\\0', hex(sipHash128(event_id)))"

static int
mt_forget_unmerged(mt_forget_t *fg)
{
    int             rc;
    size_t          n, k;
    mt_strs_t       ids, had, left, gone;
    mt_tool_buf_t   b, l;
    const char    **params;
    void           *tmp;

    memset(&ids, 0, sizeof(mt_strs_t));
    memset(&had, 0, sizeof(mt_strs_t));
    memset(&left, 0, sizeof(mt_strs_t));
    memset(&gone, 0, sizeof(mt_strs_t));
    mt_tool_buf_init(&b);
    mt_tool_buf_init(&l);
    params = NULL;

    rc = mt_forget_find(fg);

    if (rc != MT_DB_OK || fg->nomem) {
        goto done;
    }

    n = fg->variants.n + fg->own.n + fg->mids.n + 2;
    params = malloc(n * sizeof(char *));
    if (params == NULL) {
        fg->nomem = 1;
        goto done;
    }

    /* its events, their ids (each has a state in mail_message_events) */

    if (fg->variants.n || fg->own.n) {
        mt_tool_buf_add_cstr(&b, "(0");
        n = mt_forget_list(fg, &b, " OR rcpt IN (", &fg->variants, params,
                           0);
        n = mt_forget_list(fg, &b, " OR (rcpt IS NULL AND mid IN (",
                           &fg->own, params, n);
        mt_tool_buf_add_cstr(&b, fg->own.n ? "))" : ")");
        mt_tool_buf_add(&b, "", 1);

        if (b.nomem) {
            fg->nomem = 1;
            goto done;
        }

        rc = mt_forget_like_rows(fg, "SELECT DISTINCT id FROM mail_events "
                                 "WHERE ", (char *) b.data, params, n, &ids);
        if (rc != MT_DB_OK || fg->nomem) {
            goto done;
        }

        fg->events = (int64_t) ids.n;

        /* the ids are parameters below too */

        if (ids.n > fg->mids.n) {
            tmp = realloc(params, (ids.n + fg->variants.n + fg->own.n + 2)
                                  * sizeof(char *));
            if (tmp == NULL) {
                fg->nomem = 1;
                goto done;
            }

            params = tmp;
        }

        if (ids.n) {
            rc = fg->db.backend->delete_rows(&fg->db, "mail_events",
                                             (char *) b.data, params,
                                             (int) n);
        }
    }

    /*
     * The messages that had a state, and those that still have one after
     * the states of events no longer there went: the address's, and any
     * pruned before (SQL rebuilds a message from the events left).
     */

    for (k = 0; rc == MT_DB_OK && k < 2 && fg->mids.n; k++) {
        l.len = 0;
        n = mt_forget_list(fg, &l, "(", &fg->mids, params, 0);
        mt_tool_buf_add(&l, "", 1);

        b.len = 0;
        mt_tool_buf_add_cstr(&b, "message_id IN ");
        mt_tool_buf_add_cstr(&b, (char *) l.data);
        mt_tool_buf_add(&b, "", 1);

        if (b.nomem || l.nomem) {
            fg->nomem = 1;
            goto done;
        }

        rc = mt_forget_like_rows(fg, "SELECT DISTINCT message_id FROM "
                                 "mail_message_events WHERE ",
                                 (char *) b.data, params, n,
                                 k ? &left : &had);

        if (rc != MT_DB_OK || fg->nomem || k == 1) {
            continue;
        }

        /* GLOBAL: both tables may be Distributed ones (a cluster) */

        b.len--;
        mt_tool_buf_add_cstr(&b, " AND event_id GLOBAL NOT IN (SELECT id "
                             "FROM mail_events WHERE mid IN ");
        mt_tool_buf_add_cstr(&b, (char *) l.data);
        mt_tool_buf_add_cstr(&b, " OR id IN ");
        mt_tool_buf_add_cstr(&b, (char *) l.data);
        mt_tool_buf_add_cstr(&b, ")");
        mt_tool_buf_add(&b, "", 1);

        if (b.nomem) {
            fg->nomem = 1;
            goto done;
        }

        rc = mt_forget_like_rows(fg, "SELECT DISTINCT event_id FROM "
                                 "mail_message_events WHERE ",
                                 (char *) b.data, params, n, &gone);

        if (rc != MT_DB_OK || fg->nomem || gone.n == 0) {
            continue;
        }

        tmp = realloc(params, (fg->mids.n + gone.n) * sizeof(char *));
        if (tmp == NULL) {
            fg->nomem = 1;
            goto done;
        }

        params = tmp;

        b.len = 0;
        n = mt_forget_list(fg, &b, "message_id IN (", &fg->mids, params, 0);
        n = mt_forget_list(fg, &b, " AND event_id IN (", &gone, params, n);
        mt_tool_buf_add(&b, "", 1);

        if (b.nomem) {
            fg->nomem = 1;
            goto done;
        }

        rc = fg->db.backend->delete_rows(&fg->db, "mail_message_events",
                                         (char *) b.data, params, (int) n);
    }

    if (rc != MT_DB_OK || fg->nomem) {
        goto done;
    }

    fg->messages = (int64_t) had.n - (int64_t) left.n;
    fg->rebuilt = (int64_t) left.n;

    rc = mt_forget_unmerged_sup(fg);

done:

    free(ids.v);
    free(had.v);
    free(left.v);
    free(gone.v);
    free(params);
    mt_tool_buf_free(&b);
    mt_tool_buf_free(&l);

    if (rc == MT_DB_OK && fg->nomem) {
        mt_db_error(&fg->db, "out of memory");
        rc = MT_DB_ERROR;
    }

    return rc;
}


/* " OR col IN (" "$k, .." ")" of a set, its values params[n..]; the next n */

static size_t
mt_forget_list(mt_forget_t *fg, mt_tool_buf_t *b, const char *head,
    mt_strs_t *set, const char **params, size_t n)
{
    char    num[24];
    size_t  i;

    (void) fg;

    if (set->n == 0) {
        return n;
    }

    mt_tool_buf_add_cstr(b, head);

    for (i = 0; i < set->n; i++) {
        snprintf(num, sizeof(num), "%s$%zu", i ? ", " : "", n + 1);
        mt_tool_buf_add_cstr(b, num);
        params[n++] = (const char *) set->v[i].data;
    }

    mt_tool_buf_add_cstr(b, ")");

    return n;
}


/* the first column of head + where's rows, a set */

static int
mt_forget_like_rows(mt_forget_t *fg, const char *head, const char *where,
    const char **params, size_t n, mt_strs_t *set)
{
    int            rc;
    mt_tool_buf_t  q;
    void          *ctx[2];

    mt_tool_buf_init(&q);
    mt_tool_buf_add_cstr(&q, head);
    mt_tool_buf_add_cstr(&q, where);
    mt_tool_buf_add(&q, "", 1);

    if (q.nomem) {
        fg->nomem = 1;
        return MT_DB_OK;
    }

    ctx[0] = fg;
    ctx[1] = set;

    rc = fg->db.backend->query(&fg->db, (char *) q.data, params, (int) n,
                               mt_forget_set_row, ctx);

    mt_tool_buf_free(&q);

    return rc;
}


static int
mt_forget_set_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    void        **ctx = data;
    mt_forget_t  *fg = ctx[0];

    if (ncols < 1 || cols[0] == NULL) {
        return 0;
    }

    if (mt_strs_add(ctx[1], &fg->arena, cols[0], lens[0]) != 0) {
        fg->nomem = 1;
        return -1;
    }

    return 0;
}


/*
 * The soft bounces go; the suppression of a suppressed address becomes
 * its hash's: its claims and what was done by hand, as the hash's, with
 * no domain, message, event or note (the claims' event ids opaque,
 * still counted); a removed one goes.  --suppress: the hash suppressed
 * by hand unless it is.
 */

static int
mt_forget_unmerged_sup(mt_forget_t *fg)
{
    int           rc, n, plain, hashed, keep;
    const char   *params[5];
    mt_strs_t     soft;

    fg->suppression = "none";

    n = mt_forget_params(fg, params);

    memset(&soft, 0, sizeof(mt_strs_t));

    rc = mt_forget_like_rows(fg, "SELECT DISTINCT concat(address, '/', "
                             "toString(at), '/', event_id) FROM "
                             "mail_soft_bounces WHERE ", n == 2
                             ? "address = $1 OR address = $2"
                             : "address = $1", params, n, &soft);

    fg->soft = (int64_t) soft.n;
    free(soft.v);

    if (rc == MT_DB_OK && fg->soft > 0) {
        rc = fg->db.backend->delete_rows(&fg->db, "mail_soft_bounces",
                                         n == 2 ? "address = $1 "
                                                  "OR address = $2"
                                                : "address = $1",
                                         params, n);
    }

    if (rc == MT_DB_OK) {
        rc = mt_forget_sup_get(fg, params, n);
    }

    if (rc != MT_DB_OK || fg->nomem) {
        return rc;
    }

    plain = (fg->sup[0][0] != NULL);
    hashed = (fg->sup[1][0] != NULL);
    keep = fg->suppress || (plain && fg->sup[0][1][0] == '1');

    if (keep && mt_rcpt_key(&fg->db, fg->key, 1, &fg->rcpt) != 0) {
        fg->db.err[0] = '\0';
        return MT_DB_ERROR;
    }

    params[0] = (const char *) fg->rcpt.addr;
    params[1] = (const char *) fg->rcpt.hash;

    if (plain && keep) {
        rc = fg->db.backend->query(&fg->db, "INSERT INTO "
                                   "mail_suppression_claims (address, "
                                   "domain, reason, src, message_id, "
                                   "event_id, at, events) SELECT $2, '', "
                                   "reason, src, '', " MT_FORGET_OPAQUE ", "
                                   "at, events FROM mail_suppression_claims "
                                   "WHERE address = $1", params, 2, NULL,
                                   NULL);

        if (rc == MT_DB_OK) {
            rc = fg->db.backend->query(&fg->db, "INSERT INTO "
                                       "mail_suppression_hand (address, "
                                       "domain, reason, note, at) SELECT "
                                       "$2, '', reason, NULL, at FROM "
                                       "mail_suppression_hand "
                                       "WHERE address = $1", params, 2,
                                       NULL, NULL);
        }

        if (rc != MT_DB_OK) {
            return rc;
        }

        fg->suppression = hashed ? "merged into its hash"
                                 : "kept as its hash";
    }

    if (plain) {
        rc = fg->db.backend->delete_rows(&fg->db, "mail_suppression_claims",
                                         "address = $1", params, 1);

        if (rc == MT_DB_OK) {
            rc = fg->db.backend->delete_rows(&fg->db,
                                             "mail_suppression_hand",
                                             "address = $1", params, 1);
        }

        if (rc != MT_DB_OK) {
            return rc;
        }

        if (!keep) {
            fg->suppression = "deleted (it was removed by hand)";
        }
    }

    if (fg->suppress) {
        memset(fg->sup[1], 0, sizeof(fg->sup[1]));

        rc = mt_forget_sup_get(fg, &params[1], 1);

        /* as SQL's add: nothing on a hash suppressed already */

        if (rc == MT_DB_OK
            && (fg->sup[1][0] == NULL || fg->sup[1][1][0] != '1'))
        {
            rc = mt_forget_add_hash(fg, MT_SUP_HAND_SQL);
        }

        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    mt_forget_said(fg, plain, hashed);

    return MT_DB_OK;
}


static void
mt_forget_reset(mt_forget_t *fg)
{
    free(fg->variants.v);
    free(fg->mids.v);
    free(fg->own.v);
    free(fg->msgs);

    memset(&fg->variants, 0, sizeof(mt_strs_t));
    memset(&fg->mids, 0, sizeof(mt_strs_t));
    memset(&fg->own, 0, sizeof(mt_strs_t));
    memset(fg->sup, 0, sizeof(fg->sup));

    fg->msgs = NULL;
    fg->locks = NULL;
    fg->nmsgs = 0;
    fg->msgs_alloc = 0;
    fg->events = 0;
    fg->messages = 0;
    fg->rebuilt = 0;
    fg->soft = 0;
    fg->nomem = 0;

    mt_arena_free(&fg->arena);
}


/* a copy in the arena (NUL-terminated: a query parameter) */

static int
mt_strs_add(mt_strs_t *s, mt_arena_t *a, const char *p, size_t len)
{
    mt_str_t  *v;

    if (s->n == s->nalloc) {
        s->nalloc = s->nalloc ? 2 * s->nalloc : 16;

        v = realloc(s->v, s->nalloc * sizeof(mt_str_t));
        if (v == NULL) {
            return -1;
        }

        s->v = v;
    }

    s->v[s->n].data = mt_arena_dup(a, (const u_char *) p, len);
    s->v[s->n].len = len;

    if (s->v[s->n].data == NULL) {
        return -1;
    }

    s->n++;

    return 0;
}


/* sorted by bytes, each once */

static void
mt_strs_sort(mt_strs_t *s)
{
    size_t  i, j;

    if (s->n == 0) {
        return;
    }

    qsort(s->v, s->n, sizeof(mt_str_t), mt_strs_cmp);

    for (i = 0, j = 1; j < s->n; j++) {
        if (mt_strs_cmp(&s->v[i], &s->v[j]) != 0) {
            s->v[++i] = s->v[j];
        }
    }

    s->n = i + 1;
}


static int
mt_strs_cmp(const void *a, const void *b)
{
    return mt_db_str_cmp(a, b);
}


static void
mt_forget_print(mt_forget_t *fg, mt_out_format_e fmt)
{
    const char    *addr;
    mt_out_t       out;
    mt_out_val_t   v[7];

    static const mt_out_col_t  cols[7] = {
        { "address", MT_COL_STR, NULL },
        { "events", MT_COL_INT, NULL },
        { "messages", MT_COL_INT, NULL },
        { "messages_rebuilt", MT_COL_INT, NULL },
        { "soft_bounces", MT_COL_INT, NULL },
        { "suppression", MT_COL_STR, NULL },
        { "hash", MT_COL_STR, NULL }
    };

    addr = fg->rcpt.len ? (const char *) fg->rcpt.addr
                        : (const char *) fg->rcpt.hash;

    if (fmt == MT_OUT_TABLE) {
        printf("%s: erased %lld events, %lld messages (%lld more rebuilt "
               "from other recipients' events), %lld soft bounces; "
               "suppression: %s", addr, (long long) fg->events,
               (long long) fg->messages, (long long) fg->rebuilt,
               (long long) fg->soft, fg->suppression);

        if (strstr(fg->suppression, "hash") != NULL) {
            printf(" %s", fg->rcpt.hash);
        }

        printf("\n");
        return;
    }

    memset(v, 0, sizeof(v));
    mt_out_str(&v[0], addr, strlen(addr));
    v[1].num = fg->events;
    v[2].num = fg->messages;
    v[3].num = fg->rebuilt;
    v[4].num = fg->soft;
    mt_out_str(&v[5], fg->suppression, strlen(fg->suppression));

    if (strstr(fg->suppression, "hash") != NULL) {
        mt_out_str(&v[6], (const char *) fg->rcpt.hash, MT_RCPT_HASH_HEX);

    } else {
        v[6].null = 1;
    }

    mt_out_init(&out, stdout, fmt, cols, 7, 0);
    mt_out_row(&out, v);
    (void) mt_out_end(&out);
}

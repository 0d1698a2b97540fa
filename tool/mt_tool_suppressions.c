
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mail-track suppressions list|check|add|remove|export: the suppression
 * list the loader keeps (mail_suppressions), across every provider.  An
 * address is looked up as the loader stores it (core/mt_rcpt.c), and as
 * its hash when the database holds hashed addresses (forget, or records
 * hashed at the edge), so an erased address is still found.
 *
 * "check" is for a sending script: exit 0 when the address must not be
 * mailed (and why), 1 when it may be, 2 on any error, so that an error
 * never reads as "may be mailed".
 */


#include "mt_tool_query.h"

#include <getopt.h>
#include <time.h>


#define MT_SUP_OPT_ALL          301
#define MT_SUP_OPT_NOTE         302
#define MT_SUP_OPT_FOR          303
#define MT_SUP_OPT_LIST         304
#define MT_SUP_OPT_KEY          305

#define MT_SUP_CHECK_ERROR      2


typedef enum {
    MT_SUP_LIST = 0,
    MT_SUP_CHECK,
    MT_SUP_ADD,
    MT_SUP_REMOVE,
    MT_SUP_EXPORT
} mt_sup_cmd_e;


/* mail_suppressions columns, as MT_SUP_SELECT has them */
typedef enum {
    MT_SUP_ADDRESS = 0,
    MT_SUP_DOMAIN,
    MT_SUP_SUPPRESSED,
    MT_SUP_REASON,
    MT_SUP_SRC,
    MT_SUP_FIRST_AT,
    MT_SUP_LAST_AT,
    MT_SUP_EVENTS,
    MT_SUP_MESSAGE_ID,
    MT_SUP_EVENT_ID,
    MT_SUP_REMOVED_AT,
    MT_SUP_NOTE,
    MT_SUP_NCOLS
} mt_sup_col_e;


typedef struct {
    mt_sup_cmd_e                cmd;
    const char                 *name;
    mt_db_t                     db;
    mt_out_format_e             format;
    mt_out_t                    out;
    mt_rcpt_arg_t               rcpt;
    const char                 *reason;
    const char                 *note;
    const char                 *key;
    int                         all;
    int                         nomem;

    /* check: the row that answers, copied */
    int                         found;
    int64_t                     first_at;
    char                       *cols[MT_SUP_NCOLS];
    int64_t                     changed;
} mt_sup_t;


static int mt_sup_usage(FILE *f);
static int mt_sup_list(mt_sup_t *s);
static int mt_sup_list_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_sup_lookup(mt_sup_t *s);
static int mt_sup_lookup_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static void mt_sup_lookup_free(mt_sup_t *s);
static int mt_sup_check(mt_sup_t *s);
static int mt_sup_add(mt_sup_t *s);
static int mt_sup_remove(mt_sup_t *s);
static void mt_sup_print(mt_sup_t *s, const char *action);


static const struct option  mt_sup_options[] = {
    { "db",       required_argument, NULL, 'd' },
    { "format",   required_argument, NULL, MT_OPT_FORMAT },
    { "all",      no_argument,       NULL, MT_SUP_OPT_ALL },
    { "reason",   required_argument, NULL, 'r' },
    { "note",     required_argument, NULL, MT_SUP_OPT_NOTE },
    { "hash-key", required_argument, NULL, MT_SUP_OPT_KEY },
    { "for",      required_argument, NULL, MT_SUP_OPT_FOR },
    { "list",     required_argument, NULL, MT_SUP_OPT_LIST },
    { "output",   required_argument, NULL, 'o' },
    { "help",     no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static const char  *mt_sup_names[] = {
    "list", "check", "add", "remove", "export"
};

static const char  *mt_sup_cmds[] = {
    "suppressions list", "suppressions check", "suppressions add",
    "suppressions remove", "suppressions export"
};


/* what a hand may suppress for: soft_bounces is the loader's own */
static const char  *mt_sup_reasons[] = {
    "manual", "hard_bounce", "complaint", "unsubscribe", "soft_bounces"
};

#define MT_SUP_HAND_REASONS     4


static const mt_out_col_t  mt_sup_cols[MT_SUP_NCOLS] = {
    { "address", MT_COL_STR, NULL },
    { "domain", MT_COL_STR, NULL },
    { "suppressed", MT_COL_INT, NULL },
    { "reason", MT_COL_STR, NULL },
    { "src", MT_COL_STR, NULL },
    { "first_at", MT_COL_TIME, NULL },
    { "last_at", MT_COL_TIME, NULL },
    { "events", MT_COL_INT, NULL },
    { "message_id", MT_COL_STR, NULL },
    { "event_id", MT_COL_STR, NULL },
    { "removed_at", MT_COL_TIME, NULL },
    { "note", MT_COL_STR, NULL }
};


#define MT_SUP_SELECT                                                         \
    "SELECT address, domain, suppressed, reason, src, first_at, last_at, "    \
    "events, message_id, event_id, removed_at, note FROM mail_suppressions "


static int
mt_sup_usage(FILE *f)
{
    fprintf(f,
        "usage: " MT_TOOL_NAME " suppressions list --db URL [--all] "
        "[--reason R] [--format F]\n"
        "       " MT_TOOL_NAME " suppressions check ADDR --db URL "
        "[--hash-key FILE] [--format F]\n"
        "       " MT_TOOL_NAME " suppressions add ADDR --db URL "
        "[--reason R] [--note TEXT]\n"
        "       " MT_TOOL_NAME " suppressions remove ADDR --db URL\n"
        "       " MT_TOOL_NAME " suppressions export --db URL "
        "[--for sendgrid|mailgun|ses|postmark]\n"
        "           [--list bounces|complaints|unsubscribes] "
        "[--output FILE] [--format F]\n"
        "\n"
        "The addresses not to mail, across every provider the edges hear\n"
        "from: hard bounces, complaints, unsubscribes, soft bounce runs\n"
        "(db init --soft-bounces) and entries made by hand.  ADDR is\n"
        "normalized as the loader stores it (\"Name <Alice@Example.COM>\"\n"
        "is alice@example.com), or is a hashed address (64 hex digits).\n"
        "\n"
        "  list     the suppressed addresses (--all: removed ones too)\n"
        "  check    exit 0 and say why when ADDR is suppressed, exit 1 when\n"
        "           it is not, exit 2 on an error\n"
        "  add      suppress ADDR (--reason manual, the default, or\n"
        "           hard_bounce, complaint, unsubscribe; --note TEXT)\n"
        "  remove   mail ADDR again (until its next suppressing event)\n"
        "  export   a file for a provider's suppression import (CSV; JSON\n"
        "           request bodies for Postmark's API), or with no --for\n"
        "           CSV of every column; docs/loading.md has each format\n"
        "\n"
        "options:\n"
        "  --db URL          sqlite:PATH, postgresql://... or\n"
        "                    clickhouse://...; required\n"
        "  --hash-key FILE   the key of hashed addresses, when the\n"
        "                    database's are made with a key file (also\n"
        "                    " MT_RCPT_KEY_ENV ")\n"
        "  --format F        table (the default on a terminal), json (else)\n"
        "                    or csv\n"
        "  -h, --help        this text\n");

    return MT_TOOL_OK;
}


int
mt_tool_suppressions(int argc, char **argv)
{
    int          c, rc;
    size_t       i;
    mt_sup_t     s;
    const char  *url, *format, *target, *list, *output, *addr;

    if (argc < 2) {
        return mt_tool_usage_error("suppressions", "expected list, check, "
                                   "add, remove or export");
    }

    if (mt_tool_is_help(argv[1])) {
        return mt_sup_usage(stdout);
    }

    memset(&s, 0, sizeof(mt_sup_t));

    for (i = 0; i < sizeof(mt_sup_names) / sizeof(mt_sup_names[0]); i++) {
        if (strcmp(argv[1], mt_sup_names[i]) == 0) {
            break;
        }
    }

    if (i == sizeof(mt_sup_names) / sizeof(mt_sup_names[0])) {
        return mt_tool_usage_error("suppressions", "unknown subcommand "
                                   "\"%s\"", argv[1]);
    }

    s.cmd = (mt_sup_cmd_e) i;
    s.name = mt_sup_cmds[i];

    url = NULL;
    format = NULL;
    target = NULL;
    list = NULL;
    output = NULL;

    argc--;
    argv++;
    optind = 1;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":ho:r:", mt_sup_options, NULL))
           != -1)
    {
        switch (c) {
        case 'd':
            url = optarg;
            break;
        case MT_OPT_FORMAT:
            format = optarg;
            break;
        case MT_SUP_OPT_ALL:
            s.all = 1;
            break;
        case 'r':
            s.reason = optarg;
            break;
        case MT_SUP_OPT_NOTE:
            s.note = optarg;
            break;
        case MT_SUP_OPT_KEY:
            s.key = optarg;
            break;
        case MT_SUP_OPT_FOR:
            target = optarg;
            break;
        case MT_SUP_OPT_LIST:
            list = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'h':
            return mt_sup_usage(stdout);
        default:
            return mt_tool_bad_option(s.name, c, argv);
        }
    }

    /* a usage error is 2, check's "error" too: never "may be mailed" */

    if (url == NULL) {
        return mt_tool_usage_error(s.name, "--db URL is required");
    }

    if ((s.all && s.cmd != MT_SUP_LIST)
        || (s.reason && s.cmd != MT_SUP_LIST && s.cmd != MT_SUP_ADD)
        || (s.note && s.cmd != MT_SUP_ADD)
        || ((target || list || output) && s.cmd != MT_SUP_EXPORT)
        || (s.key && s.cmd == MT_SUP_LIST))
    {
        return mt_tool_usage_error(s.name, "an option that \"%s\" does "
                                   "not take (see --help)", s.name);
    }

    if (s.reason != NULL) {
        for (i = 0; i < MT_SUP_HAND_REASONS + (s.cmd == MT_SUP_LIST); i++) {
            if (strcmp(s.reason, mt_sup_reasons[i]) == 0) {
                break;
            }
        }

        if (i == MT_SUP_HAND_REASONS + (s.cmd == MT_SUP_LIST)) {
            return mt_tool_usage_error(s.name, "--reason \"%s\": expected "
                                       "manual, hard_bounce, complaint%s or "
                                       "unsubscribe", s.reason,
                                       s.cmd == MT_SUP_LIST
                                       ? ", soft_bounces" : "");
        }
    }

    if (s.cmd == MT_SUP_LIST || s.cmd == MT_SUP_EXPORT) {
        if (optind != argc) {
            return mt_tool_usage_error(s.name, "unexpected argument "
                                       "\"%s\"", argv[optind]);
        }

        addr = NULL;

    } else {
        if (argc - optind != 1) {
            return mt_tool_usage_error(s.name, "expected one ADDR");
        }

        addr = argv[optind];

        if (mt_rcpt_arg(s.name, addr, &s.rcpt) != 0) {
            return MT_TOOL_USAGE;
        }
    }

    if (s.cmd != MT_SUP_EXPORT
        && mt_out_format(s.name, format, &s.format) != 0)
    {
        return MT_TOOL_USAGE;
    }

    if (mt_query_open(&s.db, url) != 0) {
        return s.cmd == MT_SUP_CHECK ? MT_SUP_CHECK_ERROR : MT_TOOL_ERROR;
    }

    /* an address is also looked up as its hash, when there is a key */

    if (addr != NULL
        && mt_rcpt_key(&s.db, s.key, 0, &s.rcpt) != 0)
    {
        mt_db_close(&s.db);
        return s.cmd == MT_SUP_CHECK ? MT_SUP_CHECK_ERROR : MT_TOOL_ERROR;
    }

    switch (s.cmd) {
    case MT_SUP_LIST:
        rc = mt_sup_list(&s);
        break;
    case MT_SUP_CHECK:
        rc = mt_sup_check(&s);
        break;
    case MT_SUP_ADD:
        rc = mt_sup_add(&s);
        break;
    case MT_SUP_REMOVE:
        rc = mt_sup_remove(&s);
        break;
    default: /* MT_SUP_EXPORT */
        rc = mt_sup_export(&s.db, target, list, output, format);
        break;
    }

    mt_sup_lookup_free(&s);
    mt_db_close(&s.db);

    if (mt_query_flush() != 0 && rc != MT_TOOL_USAGE) {
        rc = s.cmd == MT_SUP_CHECK ? MT_SUP_CHECK_ERROR : MT_TOOL_ERROR;
    }

    return rc;
}


static int
mt_sup_list(mt_sup_t *s)
{
    int          rc;
    char         sql[512];
    const char  *params[1];

    snprintf(sql, sizeof(sql), MT_SUP_SELECT "%s%s ORDER BY address %s",
             s->all ? "WHERE 1 = 1" : "WHERE suppressed = 1",
             s->reason ? " AND reason = $1" : "",
             s->db.backend->bytes_order);

    params[0] = s->reason;

    mt_out_init(&s->out, stdout, s->format, mt_sup_cols, MT_SUP_NCOLS, 1);

    rc = s->db.backend->query(&s->db, sql, params, s->reason ? 1 : 0,
                              mt_sup_list_row, s);

    if (mt_out_end(&s->out) != 0) {
        return MT_TOOL_ERROR;
    }

    if (rc != MT_DB_OK) {
        mt_tool_error("%s: %s", s->db.url, s->db.err);
        return MT_TOOL_ERROR;
    }

    return MT_TOOL_OK;
}


static int
mt_sup_list_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    int            i;
    mt_sup_t      *s = data;
    mt_out_val_t   v[MT_SUP_NCOLS];

    if (ncols < MT_SUP_NCOLS) {
        return 0;
    }

    for (i = 0; i < MT_SUP_NCOLS; i++) {
        if (mt_sup_cols[i].type == MT_COL_STR) {
            mt_out_str(&v[i], cols[i], lens[i]);

        } else {
            mt_out_num(&v[i], cols[i]);
        }
    }

    mt_out_row(&s->out, v);

    return s->out.failed ? -1 : 0;
}


/*
 * The row of the address or of its hash; of two, the one suppressed
 * (the earlier, when both are).  -1: reported.
 */

static int
mt_sup_lookup(mt_sup_t *s)
{
    int          rc, n;
    const char  *params[2];

    mt_sup_lookup_free(s);

    n = 0;

    if (s->rcpt.len) {
        params[n++] = (const char *) s->rcpt.addr;
    }

    if (s->rcpt.hashed) {
        params[n++] = (const char *) s->rcpt.hash;
    }

    if (s->rcpt.len) {
        s->rcpt.addr[s->rcpt.len] = '\0';
    }

    rc = s->db.backend->query(&s->db, n == 2
                              ? MT_SUP_SELECT "WHERE address = $1 "
                                "OR address = $2"
                              : MT_SUP_SELECT "WHERE address = $1",
                              params, n, mt_sup_lookup_row, s);

    if (rc != MT_DB_OK || s->nomem) {
        mt_tool_error("%s: %s", s->db.url, s->nomem ? "out of memory"
                                                    : s->db.err);
        return -1;
    }

    return 0;
}


static int
mt_sup_lookup_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    int        i, suppressed;
    int64_t    first;
    mt_sup_t  *s = data;

    if (ncols < MT_SUP_NCOLS) {
        return 0;
    }

    suppressed = cols[MT_SUP_SUPPRESSED] && cols[MT_SUP_SUPPRESSED][0] == '1';
    first = cols[MT_SUP_FIRST_AT] ? strtoll(cols[MT_SUP_FIRST_AT], NULL, 10)
                                  : 0;

    if (s->found) {
        if (s->found == 2 && (!suppressed || first >= s->first_at)) {
            return 0;
        }

        if (s->found == 1 && !suppressed) {
            return 0;
        }

        mt_sup_lookup_free(s);
    }

    for (i = 0; i < MT_SUP_NCOLS; i++) {
        if (cols[i] != NULL) {
            s->cols[i] = strndup(cols[i], lens[i]);

            if (s->cols[i] == NULL) {
                s->nomem = 1;
                return -1;
            }
        }
    }

    s->found = suppressed ? 2 : 1;
    s->first_at = first;

    return 0;
}


static void
mt_sup_lookup_free(mt_sup_t *s)
{
    int  i;

    for (i = 0; i < MT_SUP_NCOLS; i++) {
        free(s->cols[i]);
        s->cols[i] = NULL;
    }

    s->found = 0;
}


static int
mt_sup_check(mt_sup_t *s)
{
    if (mt_sup_lookup(s) != 0) {
        return MT_SUP_CHECK_ERROR;
    }

    mt_sup_print(s, NULL);

    if (s->out.failed) {
        return MT_SUP_CHECK_ERROR;
    }

    return s->found == 2 ? MT_TOOL_OK : 1;
}


/*
 * Suppressed by hand: a new row, or a removed one suppressed again.  An
 * address suppressed already keeps its reason: the earliest one names
 * it, as the loader keeps it.  The hash's row when there is one.
 */

static int
mt_sup_add(mt_sup_t *s)
{
    int            rc;
    char           now[24];
    mt_str_t       domain;
    const char    *params[5];

    if (mt_sup_lookup(s) != 0) {
        return MT_TOOL_ERROR;
    }

    if (s->found) {
        params[0] = s->cols[MT_SUP_ADDRESS];
        params[1] = s->cols[MT_SUP_DOMAIN] ? s->cols[MT_SUP_DOMAIN] : "";

    } else if (s->rcpt.len) {
        mt_rcpt_domain(s->rcpt.addr, s->rcpt.len, &domain);
        params[0] = (const char *) s->rcpt.addr;
        params[1] = (const char *) domain.data;

    } else {
        params[0] = (const char *) s->rcpt.hash;
        params[1] = "";
    }

    snprintf(now, sizeof(now), "%lld", (long long) mt_query_now());

    params[2] = s->reason ? s->reason : "manual";
    params[3] = now;
    params[4] = s->note;
    s->changed = 0;

    if (!s->db.backend->per_event) {
        rc = s->db.backend->query(&s->db, MT_SUP_ADD_SQL,
                                  params, 5, mt_query_count_row,
                                  &s->changed);

    } else if (s->found == 2) {
        rc = MT_DB_OK;                  /* as SQL's: suppressed already */

    } else {
        rc = s->db.backend->query(&s->db, MT_SUP_HAND_SQL, params, 5, NULL,
                                  NULL);
        s->changed = 1;
    }

    if (rc != MT_DB_OK) {
        mt_tool_error("%s: %s", s->db.url, s->db.err);
        return MT_TOOL_ERROR;
    }

    if (mt_sup_lookup(s) != 0) {
        return MT_TOOL_ERROR;
    }

    mt_sup_print(s, s->changed ? "added" : "already");

    return s->out.failed ? MT_TOOL_ERROR : MT_TOOL_OK;
}


/*
 * Mailed again; removed_at keeps older events from suppressing it anew.
 * Both the address and its hash may be suppressed: each is removed.
 */

static int
mt_sup_remove(mt_sup_t *s)
{
    int          rc, tries;
    char         now[24];
    const char  *params[5];

    s->changed = 0;

    snprintf(now, sizeof(now), "%lld", (long long) mt_query_now());
    params[1] = now;

    /* the address and its hash: two rows at most */

    for (tries = 0; tries < 3; tries++) {
        if (mt_sup_lookup(s) != 0) {
            return MT_TOOL_ERROR;
        }

        if (s->found != 2) {
            break;
        }

        params[0] = s->cols[MT_SUP_ADDRESS];

        if (s->db.backend->per_event) {
            params[1] = s->cols[MT_SUP_DOMAIN] ? s->cols[MT_SUP_DOMAIN] : "";
            params[2] = "";
            params[3] = now;
            params[4] = NULL;

            rc = s->db.backend->query(&s->db, MT_SUP_HAND_SQL, params, 5,
                                      NULL, NULL);
            s->changed++;

        } else {
            rc = s->db.backend->query(&s->db, "UPDATE mail_suppressions "
                                      "SET suppressed = 0, removed_at = $2 "
                                      "WHERE address = $1 "
                                      "AND suppressed = 1 "
                                      "RETURNING address",
                                      params, 2, mt_query_count_row,
                                      &s->changed);
        }

        if (rc != MT_DB_OK) {
            mt_tool_error("%s: %s", s->db.url, s->db.err);
            return MT_TOOL_ERROR;
        }
    }

    mt_sup_print(s, s->changed ? "removed" : "none");

    return s->out.failed ? MT_TOOL_ERROR : MT_TOOL_OK;
}


/*
 * The answer about one address: a sentence on a terminal, else the row
 * (JSON, CSV) with "suppressed" true or false and, for add and remove,
 * what was done.
 */

static void
mt_sup_print(mt_sup_t *s, const char *action)
{
    int            i, suppressed, hashed;
    char           when[32];
    size_t         n;
    const char    *addr;
    mt_out_val_t   v[MT_SUP_NCOLS + 3];
    mt_out_col_t   cols[MT_SUP_NCOLS + 3];

    static const mt_out_col_t  query = { "query", MT_COL_STR, NULL };
    static const mt_out_col_t  hash = { "hashed", MT_COL_INT, NULL };
    static const mt_out_col_t  done = { "action", MT_COL_STR, NULL };

    addr = s->rcpt.len ? (const char *) s->rcpt.addr
                       : (const char *) s->rcpt.hash;
    suppressed = (s->found == 2);
    hashed = s->found && mt_rcpt_is_hash((u_char *) s->cols[MT_SUP_ADDRESS],
                                         strlen(s->cols[MT_SUP_ADDRESS]));

    if (s->format == MT_OUT_TABLE) {
        if (action != NULL) {
            printf("%s: %s; ", addr,
                   strcmp(action, "none") == 0 ? "nothing to remove"
                   : strcmp(action, "already") == 0 ? "nothing to add"
                   : action);
        }

        if (!suppressed) {
            printf("%s is not suppressed", addr);

            if (s->found && s->cols[MT_SUP_REMOVED_AT] != NULL) {
                mt_out_time(when, strtoll(s->cols[MT_SUP_REMOVED_AT], NULL,
                                          10), 0);
                printf(" (removed by hand %s UTC)", when);
            }

            printf("\n");
            return;
        }

        mt_out_time(when, s->first_at, 0);
        printf("%s is suppressed: %s", addr, s->cols[MT_SUP_REASON]);

        if (s->cols[MT_SUP_SRC] != NULL) {
            printf(" (%s)", s->cols[MT_SUP_SRC]);
        }

        printf(" since %s UTC", when);

        if (s->cols[MT_SUP_MESSAGE_ID] != NULL) {
            printf(", message %s", s->cols[MT_SUP_MESSAGE_ID]);
        }

        if (hashed) {
            printf(", as its hash");
        }

        if (s->cols[MT_SUP_NOTE] != NULL) {
            printf(" (%s)", s->cols[MT_SUP_NOTE]);
        }

        printf("\n");
        return;
    }

    /* query, hashed, the row's columns, and for add and remove action */

    cols[0] = query;
    cols[1] = hash;
    memcpy(cols + 2, mt_sup_cols, sizeof(mt_sup_cols));
    cols[2 + MT_SUP_NCOLS] = done;

    mt_out_str(&v[0], addr, strlen(addr));
    mt_out_num(&v[1], hashed ? "1" : "0");

    for (i = 0; i < MT_SUP_NCOLS; i++) {
        n = s->cols[i] ? strlen(s->cols[i]) : 0;

        if (mt_sup_cols[i].type == MT_COL_STR) {
            mt_out_str(&v[2 + i], s->cols[i], n);

        } else {
            mt_out_num(&v[2 + i], s->cols[i]);
        }
    }

    /* "suppressed": 0 for an address the list does not hold */
    mt_out_num(&v[2 + MT_SUP_SUPPRESSED], suppressed ? "1" : "0");
    mt_out_str(&v[2 + MT_SUP_NCOLS], action, action ? strlen(action) : 0);

    mt_out_init(&s->out, stdout, s->format, cols,
                MT_SUP_NCOLS + 2 + (action != NULL), 0);
    mt_out_row(&s->out, v);
    (void) mt_out_end(&s->out);
}

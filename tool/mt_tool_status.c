
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mail-track status MID --db URL: a message's status from mail_messages,
 * printed by the core's renderer, byte for byte what the module's status
 * API prints for the same events.
 */


#include "mt_tool_query.h"

#include <getopt.h>


typedef struct {
    int                         found;
    int                         nomem;
    mt_out_format_e             format;
} mt_status_ctx_t;


static int mt_status_usage(FILE *f);
static int mt_status_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static int mt_status_columns(mt_status_ctx_t *ctx, int ncols,
    const char **cols, const size_t *lens);


static const struct option  mt_status_options[] = {
    { "db",       required_argument, NULL, 'd' },
    { "format",   required_argument, NULL, MT_OPT_FORMAT },
    { "help",     no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


/* a table or CSV: the mail_messages row, as MT_DB_MESSAGES_SELECT has it */
static const mt_out_col_t  mt_status_cols[] = {
    { "message_id", MT_COL_STR, NULL },
    { "recipient", MT_COL_STR, NULL },
    { "state", MT_COL_STR, NULL },
    { "sent_at", MT_COL_TIME, NULL },
    { "delivered_at", MT_COL_TIME, NULL },
    { "bounce", MT_COL_STR, NULL },
    { "bounced_at", MT_COL_TIME, NULL },
    { "complained_at", MT_COL_TIME, NULL },
    { "unsubscribed_at", MT_COL_TIME, NULL },
    { "opens", MT_COL_INT, NULL },
    { "opens_machine", MT_COL_INT, NULL },
    { "opens_first", MT_COL_TIME, NULL },
    { "opens_last", MT_COL_TIME, NULL },
    { "clicks", MT_COL_INT, NULL },
    { "clicks_machine", MT_COL_INT, NULL },
    { "clicks_first", MT_COL_TIME, NULL },
    { "clicks_last", MT_COL_TIME, NULL },
    { "last_url", MT_COL_STR, NULL },
    { "url_at", MT_COL_TIME, NULL },
    { "sources", MT_COL_STR, NULL },
    { "updated_at", MT_COL_TIME, NULL }
};


static int
mt_status_usage(FILE *f)
{
    fprintf(f,
        "usage: " MT_TOOL_NAME " status MESSAGE_ID --db URL "
        "[--format json|table|csv]\n"
        "\n"
        "Prints the message's status as one JSON object (docs/status.md),\n"
        "from the database that mail-track load fills, on a terminal too;\n"
        "--format table or csv prints the mail_messages row instead.  An\n"
        "unknown id prints {\"error\":\"not found\",\"message_id\":...}\n"
        "and exits 1.\n");

    return MT_TOOL_OK;
}


int
mt_tool_status(int argc, char **argv)
{
    int              c, rc;
    u_char          *buf, *p;
    mt_db_t          db;
    mt_str_t         mid;
    mt_event_t       ev;
    const char      *url, *format, *params[1];
    mt_status_ctx_t  ctx;

    url = NULL;
    format = NULL;

    optind = 1;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", mt_status_options, NULL))
           != -1)
    {
        switch (c) {
        case 'd':
            url = optarg;
            break;
        case MT_OPT_FORMAT:
            format = optarg;
            break;
        case 'h':
            return mt_status_usage(stdout);
        default:
            return mt_tool_bad_option("status", c, argv);
        }
    }

    if (url == NULL) {
        return mt_tool_usage_error("status", "--db URL is required");
    }

    if (argc - optind != 1 || argv[optind][0] == '\0') {
        return mt_tool_usage_error("status", "expected one MESSAGE_ID");
    }

    /* the status API's JSON, unless asked otherwise: on a terminal too */

    ctx.format = MT_OUT_JSON;

    if (format != NULL && mt_out_format("status", format, &ctx.format) != 0)
    {
        return MT_TOOL_USAGE;
    }

    /* the id as the loader keys it */

    mt_event_init(&ev);
    ev.mid.data = (u_char *) argv[optind];
    ev.mid.len = strlen(argv[optind]);
    mt_msgstate_key(&ev, &mid);
    argv[optind][mid.len] = '\0';

    if (mt_query_open(&db, url) != 0) {
        return MT_TOOL_ERROR;
    }

    ctx.found = 0;
    ctx.nomem = 0;
    params[0] = argv[optind];

    rc = db.backend->query(&db, "SELECT " MT_DB_MESSAGES_SELECT
                           " FROM mail_messages WHERE message_id = $1",
                           params, 1, mt_status_row, &ctx);

    if (rc != MT_DB_OK) {
        mt_tool_error("%s: %s", db.url, db.err);

    } else if (ctx.nomem) {
        mt_tool_error("out of memory");
        rc = MT_DB_ERROR;

    } else if (!ctx.found) {
        buf = malloc(6 * mid.len + 64);

        if (buf == NULL) {
            mt_tool_error("out of memory");

        } else {
            p = buf;
            p += sprintf((char *) p, "{\"error\":\"not found\","
                         "\"message_id\":");
            p = mt_json_quote(p, mid.data, mid.len);
            *p++ = '}';
            *p++ = '\n';
            fwrite(buf, 1, p - buf, stdout);
            free(buf);
        }

        rc = MT_DB_ERROR;
    }

    mt_db_close(&db);

    if (mt_query_flush() != 0) {
        rc = MT_DB_ERROR;
    }

    return rc == MT_DB_OK ? MT_TOOL_OK : MT_TOOL_ERROR;
}


static int
mt_status_row(void *data, int ncols, const char **cols, const size_t *lens)
{
    u_char           *buf, *p;
    mt_db_msg_t       m;
    mt_status_ctx_t  *ctx = data;

    if (mt_db_msg_parse(ncols, cols, lens, &m) != 0) {
        return 0;
    }

    ctx->found = 1;

    if (ctx->format != MT_OUT_JSON) {
        return mt_status_columns(ctx, ncols, cols, lens);
    }

    buf = malloc(mt_msgstate_json_size(&m.s) + 1);
    if (buf == NULL) {
        ctx->nomem = 1;
        return -1;
    }

    p = mt_msgstate_json(buf, &m.st, &m.s);
    *p++ = '\n';

    fwrite(buf, 1, p - buf, stdout);
    free(buf);

    return 0;
}


static int
mt_status_columns(mt_status_ctx_t *ctx, int ncols, const char **cols,
    const size_t *lens)
{
    int            i;
    mt_out_t       out;
    mt_out_val_t   v[MT_DB_MSG_NCOLS];

    for (i = 0; i < MT_DB_MSG_NCOLS && i < ncols; i++) {
        if (mt_status_cols[i].type == MT_COL_STR) {
            mt_out_str(&v[i], cols[i], lens[i]);

        } else {
            mt_out_num(&v[i], cols[i]);
        }
    }

    mt_out_init(&out, stdout, ctx->format, mt_status_cols, MT_DB_MSG_NCOLS, 0);
    mt_out_row(&out, v);

    if (mt_out_end(&out) != 0) {
        ctx->nomem = 1;
        return -1;
    }

    return 0;
}

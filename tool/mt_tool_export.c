
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mail-track suppressions export: the suppressed addresses in the file
 * a provider's suppression import takes (docs/loading.md, "Exporting
 * suppressions", cites each provider's format):
 *
 *   sendgrid   CSV, the addresses in the first column under "email"
 *              (an unsubscribe group's "Upload CSV")
 *   mailgun    CSV with Mailgun's headers, one file per list (bounces,
 *              complaints, unsubscribes): /v3/DOMAIN/LIST/import
 *   ses        CSV "address,BOUNCE|COMPLAINT" without a header, or JSON
 *              lines (an SES v2 import job into the account-level list)
 *   postmark   JSON lines, each a request body of 50 addresses for
 *              POST /message-streams/STREAM/suppressions (Postmark takes
 *              no file)
 *
 * Without --for, every suppressed row (CSV by default).  Hashed
 * addresses and values that are not a plain address are left out of a
 * provider's file, and counted.
 */


#include "mt_tool_query.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>


#define MT_EXPORT_POSTMARK_BATCH  50


typedef struct mt_export_s  mt_export_t;

typedef void (*mt_export_row_pt)(mt_export_t *x, const char *addr,
    const char *reason, const char *src, int64_t first_at);


typedef struct {
    const char                 *name;
    const char                 *list;       /* mailgun's lists */
    const char                 *reasons;    /* ",r1,r2,": the rows taken */
    mt_out_format_e             format;     /* the default, and the other */
    mt_out_format_e             also;
    const char                 *header;
    mt_export_row_pt            row;
} mt_export_target_t;


struct mt_export_s {
    const mt_export_target_t   *target;
    mt_out_format_e             format;
    FILE                       *f;
    mt_out_t                    out;
    mt_tool_buf_t               line;
    uint64_t                    written;
    uint64_t                    hashed;
    uint64_t                    invalid;
    uint64_t                    batch;      /* postmark: in the line */
    unsigned                    failed:1;
};


static int mt_export_open(const char *output, char **tmp, FILE **f);
static int mt_export_row(void *data, int ncols, const char **cols,
    const size_t *lens);
static void mt_export_generic(mt_export_t *x, const char **cols,
    const size_t *lens);
static size_t mt_export_date(char *buf, int64_t ms);
static void mt_export_sendgrid(mt_export_t *x, const char *addr,
    const char *reason, const char *src, int64_t first_at);
static void mt_export_mailgun(mt_export_t *x, const char *addr,
    const char *reason, const char *src, int64_t first_at);
static void mt_export_ses(mt_export_t *x, const char *addr,
    const char *reason, const char *src, int64_t first_at);
static void mt_export_postmark(mt_export_t *x, const char *addr,
    const char *reason, const char *src, int64_t first_at);


static const mt_export_target_t  mt_export_targets[] = {
    { "sendgrid", NULL, NULL, MT_OUT_CSV, MT_OUT_CSV, "email",
      mt_export_sendgrid },
    { "mailgun", "bounces", ",hard_bounce,soft_bounces,", MT_OUT_CSV,
      MT_OUT_CSV, "address,code,error,created_at", mt_export_mailgun },
    { "mailgun", "complaints", ",complaint,", MT_OUT_CSV, MT_OUT_CSV,
      "address,created_at", mt_export_mailgun },
    { "mailgun", "unsubscribes", ",unsubscribe,manual,", MT_OUT_CSV,
      MT_OUT_CSV, "address,tags,created_at", mt_export_mailgun },
    { "ses", NULL, NULL, MT_OUT_CSV, MT_OUT_JSON, NULL, mt_export_ses },
    { "postmark", NULL, NULL, MT_OUT_JSON, MT_OUT_JSON, NULL,
      mt_export_postmark },
    { NULL, NULL, NULL, 0, 0, NULL, NULL }
};


/* every column of a suppressed row: the export without --for */
static const mt_out_col_t  mt_export_cols[] = {
    { "address", MT_COL_STR, NULL },
    { "domain", MT_COL_STR, NULL },
    { "reason", MT_COL_STR, NULL },
    { "src", MT_COL_STR, NULL },
    { "first_at", MT_COL_TIME, NULL },
    { "last_at", MT_COL_TIME, NULL },
    { "events", MT_COL_INT, NULL },
    { "message_id", MT_COL_STR, NULL }
};

#define MT_EXPORT_NCOLS                                                       \
    (int) (sizeof(mt_export_cols) / sizeof(mt_export_cols[0]))


int
mt_sup_export(mt_db_t *db, const char *target, const char *list,
    const char *output, const char *format)
{
    int                        rc;
    char                       sql[512], *tmp;
    mt_export_t                x;
    const mt_export_target_t  *t;

    memset(&x, 0, sizeof(mt_export_t));
    x.format = MT_OUT_CSV;
    t = NULL;

    if (format != NULL && mt_out_format("suppressions export", format,
                                        &x.format) != 0)
    {
        return MT_TOOL_USAGE;
    }

    if (target != NULL) {
        for (t = mt_export_targets; t->name != NULL; t++) {
            if (strcmp(t->name, target) == 0
                && (t->list == NULL || (list != NULL
                                        && strcmp(t->list, list) == 0)))
            {
                break;
            }
        }

        if (strcmp(target, "mailgun") == 0 && t->name == NULL) {
            return mt_tool_usage_error("suppressions export", "--for mailgun "
                                       "needs --list bounces, complaints or "
                                       "unsubscribes: Mailgun imports each "
                                       "list from a file of its own");
        }

        if (t->name == NULL) {
            return mt_tool_usage_error("suppressions export", "--for \"%s\": "
                                       "expected sendgrid, mailgun, ses or "
                                       "postmark", target);
        }

        if (list != NULL && t->list == NULL) {
            return mt_tool_usage_error("suppressions export", "--list is "
                                       "for --for mailgun only");
        }

        if (format == NULL) {
            x.format = t->format;

        } else if (x.format != t->format && x.format != t->also) {
            return mt_tool_usage_error("suppressions export", "--for %s "
                                       "writes %s", t->name,
                                       t->format == MT_OUT_JSON
                                       ? "JSON (the provider takes no file: "
                                         "these are its API's request "
                                         "bodies)"
                                       : t->also == MT_OUT_JSON
                                       ? "CSV or JSON" : "CSV");
        }

    } else if (list != NULL) {
        return mt_tool_usage_error("suppressions export", "--list is for "
                                   "--for mailgun only");
    }

    x.target = t;

    tmp = NULL;

    if (mt_export_open(output, &tmp, &x.f) != 0) {
        return MT_TOOL_ERROR;
    }

    if (t == NULL) {
        mt_out_init(&x.out, x.f, x.format, mt_export_cols, MT_EXPORT_NCOLS,
                    1);

    } else if (t->header != NULL && x.format == MT_OUT_CSV) {
        fprintf(x.f, "%s\n", t->header);
    }

    snprintf(sql, sizeof(sql), "SELECT address, domain, reason, src, "
             "first_at, last_at, events, message_id FROM mail_suppressions "
             "WHERE suppressed = 1 ORDER BY address %s",
             db->backend->bytes_order);

    rc = db->backend->query(db, sql, NULL, 0, mt_export_row, &x);

    if (t == NULL) {
        if (mt_out_end(&x.out) != 0) {
            x.failed = 1;
        }

    } else if (x.batch) {
        mt_tool_buf_add_cstr(&x.line, "]}\n");
        fwrite(x.line.data, 1, x.line.len, x.f);
    }

    if (x.line.nomem) {
        mt_tool_error("out of memory");
        x.failed = 1;
    }

    mt_tool_buf_free(&x.line);

    if (rc != MT_DB_OK) {
        mt_tool_error("%s: %s", db->url, db->err);
        x.failed = 1;
    }

    if (x.f != stdout) {
        if (fflush(x.f) != 0 || fsync(fileno(x.f)) != 0 || ferror(x.f)) {
            mt_tool_error("%s: %s", tmp, strerror(errno));
            x.failed = 1;
        }

        (void) fclose(x.f);

        if (!x.failed && rename(tmp, output) != 0) {
            mt_tool_error("%s: rename(): %s", output, strerror(errno));
            x.failed = 1;
        }

        if (x.failed) {
            (void) unlink(tmp);
        }

        free(tmp);
    }

    if (x.failed) {
        return MT_TOOL_ERROR;
    }

    if (t != NULL) {
        fprintf(stderr, MT_TOOL_NAME " suppressions export: %llu addresses "
                "for %s%s%s%s%s", (unsigned long long) x.written, t->name,
                t->list ? " " : "", t->list ? t->list : "",
                output ? " in " : "", output ? output : "");

        if (x.hashed || x.invalid) {
            fprintf(stderr, "; left out: %llu hashed, %llu not a plain "
                    "address", (unsigned long long) x.hashed,
                    (unsigned long long) x.invalid);
        }

        fputc('\n', stderr);
    }

    return MT_TOOL_OK;
}


/* FILE is written as FILE.tmp, 0600 (addresses), renamed when complete */

static int
mt_export_open(const char *output, char **tmp, FILE **f)
{
    int     fd;
    size_t  len;

    if (output == NULL) {
        *f = stdout;
        return 0;
    }

    len = strlen(output);

    *tmp = malloc(len + sizeof(".tmp"));
    if (*tmp == NULL) {
        mt_tool_error("out of memory");
        return -1;
    }

    memcpy(*tmp, output, len);
    memcpy(*tmp + len, ".tmp", sizeof(".tmp"));

    fd = open(*tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd == -1) {
        mt_tool_error("%s: %s", *tmp, strerror(errno));
        free(*tmp);
        return -1;
    }

    *f = fdopen(fd, "w");

    if (*f == NULL) {
        mt_tool_error("%s: %s", *tmp, strerror(errno));
        (void) close(fd);
        (void) unlink(*tmp);
        free(*tmp);
        return -1;
    }

    return 0;
}


static int
mt_export_row(void *data, int ncols, const char **cols, const size_t *lens)
{
    char          key[64];
    mt_export_t  *x = data;
    const char   *addr;

    if (ncols < MT_EXPORT_NCOLS || cols[0] == NULL || cols[2] == NULL) {
        return 0;
    }

    if (x->target == NULL) {
        mt_export_generic(x, cols, lens);
        return x->out.failed ? -1 : 0;
    }

    if (x->target->reasons != NULL) {
        snprintf(key, sizeof(key), ",%s,", cols[2]);

        if (strstr(x->target->reasons, key) == NULL) {
            return 0;
        }
    }

    addr = cols[0];

    if (mt_rcpt_is_hash((const u_char *) addr, lens[0])) {
        x->hashed++;
        return 0;
    }

    /* what a provider would refuse, or a CSV field would need quotes for */

    if (!mt_rcpt_is_address((const u_char *) addr, lens[0])
        || strpbrk(addr, ",\"") != NULL)
    {
        x->invalid++;
        return 0;
    }

    x->target->row(x, addr, cols[2], cols[3],
                   cols[4] ? strtoll(cols[4], NULL, 10) : 0);
    x->written++;

    return x->line.nomem ? -1 : 0;
}


static void
mt_export_generic(mt_export_t *x, const char **cols, const size_t *lens)
{
    int           i;
    mt_out_val_t  v[MT_EXPORT_NCOLS];

    for (i = 0; i < MT_EXPORT_NCOLS; i++) {
        if (mt_export_cols[i].type == MT_COL_STR) {
            mt_out_str(&v[i], cols[i], lens[i]);

        } else {
            mt_out_num(&v[i], cols[i]);
        }
    }

    mt_out_row(&x->out, v);
}


/* RFC 2822, as Mailgun's created_at: "Mon, 05 Jan 2026 10:00:00 +0000" */

static size_t
mt_export_date(char *buf, int64_t ms)
{
    time_t     t;
    struct tm  tm;

    t = (time_t) (ms / 1000);

    if (gmtime_r(&t, &tm) == NULL) {
        buf[0] = '\0';
        return 0;
    }

    return strftime(buf, 40, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}


static void
mt_export_sendgrid(mt_export_t *x, const char *addr, const char *reason,
    const char *src, int64_t first_at)
{
    (void) reason;
    (void) src;
    (void) first_at;

    fprintf(x->f, "%s\n", addr);
}


/*
 * Each list its columns: bounces "address,code,error,created_at" (code
 * empty, Mailgun's default 550; error: why, from which provider),
 * complaints "address,created_at", unsubscribes "address,tags,created_at"
 * (tags "*": everything the domain sends).
 */

static void
mt_export_mailgun(mt_export_t *x, const char *addr, const char *reason,
    const char *src, int64_t first_at)
{
    char  date[40];

    mt_export_date(date, first_at);

    switch (x->target->list[0]) {
    case 'b':
        fprintf(x->f, "%s,,mail-track %s%s%s,\"%s\"\n", addr, reason,
                src ? " from " : "", src ? src : "", date);
        break;
    case 'c':
        fprintf(x->f, "%s,\"%s\"\n", addr, date);
        break;
    default: /* unsubscribes */
        fprintf(x->f, "%s,*,\"%s\"\n", addr, date);
        break;
    }
}


/*
 * SES knows two reasons: a bounce, or the recipient's own wish (a
 * complaint; unsubscribes and entries made by hand go there too).
 */

static void
mt_export_ses(mt_export_t *x, const char *addr, const char *reason,
    const char *src, int64_t first_at)
{
    const char  *why;

    (void) src;
    (void) first_at;

    why = (strcmp(reason, "hard_bounce") == 0
           || strcmp(reason, "soft_bounces") == 0) ? "BOUNCE" : "COMPLAINT";

    if (x->format == MT_OUT_JSON) {
        x->line.len = 0;
        mt_tool_buf_add_cstr(&x->line, "{\"emailAddress\":");
        mt_tool_json_str(&x->line, (const u_char *) addr, strlen(addr));
        mt_tool_buf_add_cstr(&x->line, ",\"reason\":\"");
        mt_tool_buf_add_cstr(&x->line, why);
        mt_tool_buf_add_cstr(&x->line, "\"}\n");

        if (!x->line.nomem) {
            fwrite(x->line.data, 1, x->line.len, x->f);
        }

        return;
    }

    fprintf(x->f, "%s,%s\n", addr, why);
}


/* {"Suppressions":[{"EmailAddress":"a@b"},...]}: 50 to a request */

static void
mt_export_postmark(mt_export_t *x, const char *addr, const char *reason,
    const char *src, int64_t first_at)
{
    (void) reason;
    (void) src;
    (void) first_at;

    if (x->batch == MT_EXPORT_POSTMARK_BATCH) {
        mt_tool_buf_add_cstr(&x->line, "]}\n");

        if (!x->line.nomem) {
            fwrite(x->line.data, 1, x->line.len, x->f);
        }

        x->line.len = 0;
        x->batch = 0;
    }

    mt_tool_buf_add_cstr(&x->line, x->batch ? ",{\"EmailAddress\":"
                                            : "{\"Suppressions\":"
                                              "[{\"EmailAddress\":");
    mt_tool_json_str(&x->line, (const u_char *) addr, strlen(addr));
    mt_tool_buf_add_cstr(&x->line, "}");

    x->batch++;
}

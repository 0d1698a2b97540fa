
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * What the query commands share besides their output: the database
 * opened with its schema checked, times given on the command line, the
 * clock, a row counter.
 */


#include "mt_tool_query.h"

#include <errno.h>
#include <sys/stat.h>
#include <time.h>


/* a database with the schema in place, or a message on stderr */

int
mt_query_open(mt_db_t *db, const char *url)
{
    struct stat  st;

    /* a query never makes a database: SQLite would make an empty file */

    if (strncmp(url, "sqlite:", 7) == 0 && url[7] != '\0'
        && stat(url + 7, &st) == -1)
    {
        mt_tool_error("%s: %s", url + 7, strerror(errno));
        return -1;
    }

    if (mt_db_open(db, url) != MT_DB_OK) {
        mt_db_close(db);
        return -1;
    }

    if (mt_db_ready(db, 0) != MT_DB_OK) {
        mt_db_close(db);
        return -1;
    }

    return 0;
}


int
mt_query_flush(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        mt_tool_error("write error");
        return -1;
    }

    return 0;
}


int64_t
mt_query_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* a duration back from now, "now", or a UTC date and time */

int
mt_query_when(const char *cmd, const char *opt, const char *arg, int64_t now,
    int64_t *ms)
{
    size_t       i;
    int64_t      secs;
    const char  *end;
    struct tm    tm;

    static const char  *formats[] = {
        "%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"
    };

    if (strcmp(arg, "now") == 0) {
        *ms = now;
        return 0;
    }

    secs = mt_parse_duration((const u_char *) arg, strlen(arg));

    if (secs >= 0 && secs * 1000 <= now) {
        *ms = now - secs * 1000;
        return 0;
    }

    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        memset(&tm, 0, sizeof(struct tm));

        end = strptime(arg, formats[i], &tm);

        if (end != NULL && *end == '\0') {
            *ms = (int64_t) timegm(&tm) * 1000;
            return 0;
        }
    }

    (void) mt_tool_usage_error(cmd, "%s \"%s\": expected a duration "
                               "back from now (90m, 12h, 7d, 2w), \"now\" or "
                               "a UTC time (2026-01-31, "
                               "2026-01-31T12:00:00Z)", opt, arg);
    return -1;
}


/* a row callback that counts the rows (RETURNING ...) into an int64_t */

int
mt_query_count_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    (void) ncols;
    (void) cols;
    (void) lens;

    (*(int64_t *) data)++;

    return 0;
}

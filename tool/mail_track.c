
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mail-track: mints and inspects tracking tokens, reads spool files.
 */


#include "mt_tool_query.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>


typedef struct {
    const char                 *name;
    int                       (*handler)(int argc, char **argv);
    const char                 *summary;
} mt_tool_command_t;


static void mt_tool_usage(FILE *f);


static const mt_tool_command_t  mt_tool_commands[] = {
    { "keygen", mt_tool_keygen, "add a new random key to a key file" },
    { "token", mt_tool_token,
      "mint (open, click, unsubscribe) or decode a token" },
    { "spool", mt_tool_spool, "print spool records as JSON lines (cat)" },
    { "hash", mt_tool_hash, "the hashed form of a recipient address" },
    { "load", mt_load, "load sealed spool files into the database" },
    { "db", mt_tool_db, "create or upgrade the database schema (init)" },
    { "status", mt_tool_status, "a message's status from the database" },
    { "report", mt_tool_report,
      "sent, delivered, bounced, opened ... per day, tag, domain" },
    { "suppressions", mt_tool_suppressions,
      "the suppression list: list, check, add, remove, export" },
    { "forget", mt_tool_forget, "erase one recipient (GDPR art. 17)" },
    { "prune", mt_tool_prune, "delete events older than the retention" },
    { NULL, NULL, NULL }
};


int
main(int argc, char **argv)
{
    const mt_tool_command_t  *cmd;

    if (argc < 2) {
        mt_tool_usage(stderr);
        return MT_TOOL_USAGE;
    }

    if (mt_tool_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        mt_tool_usage(stdout);
        return MT_TOOL_OK;
    }

    if (strcmp(argv[1], "--version") == 0) {
        printf("%s %s\n", MT_TOOL_NAME, MT_VERSION);
        return MT_TOOL_OK;
    }

    for (cmd = mt_tool_commands; cmd->name != NULL; cmd++) {
        if (strcmp(argv[1], cmd->name) == 0) {
            return cmd->handler(argc - 1, argv + 1);
        }
    }

    if (argv[1][0] == '-') {
        return mt_tool_usage_error(NULL, "unknown option \"%s\"", argv[1]);
    }

    return mt_tool_usage_error(NULL, "unknown command \"%s\"", argv[1]);
}


static void
mt_tool_usage(FILE *f)
{
    const mt_tool_command_t  *cmd;

    fprintf(f, "usage: %s COMMAND [OPTIONS] [ARGS]\n\ncommands:\n",
            MT_TOOL_NAME);

    for (cmd = mt_tool_commands; cmd->name != NULL; cmd++) {
        fprintf(f, "  %-12s %s\n", cmd->name, cmd->summary);
    }

    fprintf(f, "\n\"%s COMMAND --help\" describes a command.\n"
            "Exit status: 0 success, 1 error, 2 usage error.\n",
            MT_TOOL_NAME);
}


void
mt_tool_error(const char *fmt, ...)
{
    va_list  ap;

    fprintf(stderr, "%s: ", MT_TOOL_NAME);

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);

    fputc('\n', stderr);
}


int
mt_tool_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list  ap;

    fprintf(stderr, "%s%s%s: ", MT_TOOL_NAME, cmd ? " " : "",
            cmd ? cmd : "");

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);

    fprintf(stderr, "\nTry \"%s%s%s --help\".\n", MT_TOOL_NAME,
            cmd ? " " : "", cmd ? cmd : "");

    return MT_TOOL_USAGE;
}


/* getopt_long() returned '?' or ':' (the optstring starts with ':') */

int
mt_tool_bad_option(const char *cmd, int c, char **argv)
{
    const char  *opt;

    opt = argv[optind - 1];

    if (c == ':') {
        return mt_tool_usage_error(cmd, "option \"%s\" needs a value", opt);
    }

    if (optopt != 0 && strncmp(opt, "--", 2) != 0) {
        return mt_tool_usage_error(cmd, "unknown option \"-%c\"", optopt);
    }

    return mt_tool_usage_error(cmd, "unknown option \"%s\"", opt);
}


int
mt_tool_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}


/*
 * Reads a whole (small) file; the buffer gets a terminating NUL that
 * is not counted.  Errors are reported.
 */

int
mt_tool_read_file(const char *path, u_char **buf, size_t *len, size_t max)
{
    int  fd, rc;

    fd = open(path, O_RDONLY);
    if (fd == -1) {
        mt_tool_error("%s: %s", path, strerror(errno));
        return -1;
    }

    rc = mt_tool_read_fd(fd, path, buf, len, max);

    (void) close(fd);

    return rc;
}


int
mt_tool_read_fd(int fd, const char *path, u_char **buf, size_t *len,
    size_t max)
{
    u_char      *p;
    size_t       size;
    ssize_t      n;
    struct stat  st;

    if (fstat(fd, &st) == -1) {
        mt_tool_error("%s: fstat(): %s", path, strerror(errno));
        return -1;
    }

    if (!S_ISREG(st.st_mode)) {
        mt_tool_error("%s: not a regular file", path);
        return -1;
    }

    if ((size_t) st.st_size > max) {
        mt_tool_error("%s: larger than %zu bytes", path, max);
        return -1;
    }

    size = (size_t) st.st_size;

    p = malloc(size + 1);
    if (p == NULL) {
        mt_tool_error("out of memory");
        return -1;
    }

    *len = 0;

    while (*len < size) {
        n = pread(fd, p + *len, size - *len, (off_t) *len);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1) {
            mt_tool_error("%s: read(): %s", path, strerror(errno));
            free(p);
            return -1;
        }

        if (n == 0) {
            break;
        }

        *len += n;
    }

    p[*len] = '\0';
    *buf = p;

    return 0;
}


/*
 * A key file: refused when others may read it (group is the operator's
 * choice: a loader's group, say).  The buffer is the caller's to cleanse
 * and free.
 */

int
mt_tool_read_secret(const char *path, u_char **buf, size_t *len, size_t max)
{
    int          fd, rc;
    struct stat  st;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        mt_tool_error("%s: %s", path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) == -1) {
        mt_tool_error("%s: fstat(): %s", path, strerror(errno));
        (void) close(fd);
        return -1;
    }

    if (st.st_mode & S_IROTH) {
        mt_tool_error("%s: mode %04o lets others read the key; refusing "
                      "to use it (run \"chmod o-rwx %s\" first)", path,
                      (unsigned) (st.st_mode & 07777), path);
        (void) close(fd);
        return -1;
    }

    rc = mt_tool_read_fd(fd, path, buf, len, max);

    (void) close(fd);

    return rc;
}

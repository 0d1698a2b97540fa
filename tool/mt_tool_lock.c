
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * One loader per spool directory: an flock() on SPOOL_DIR/.mail-track-
 * load.lock, held while the loader runs; the file says who holds it.
 * The kernel drops the lock when the holder dies, however it dies.
 */


#include "mt_tool_load.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/file.h>


static void mt_load_lock_holder(int fd, char *buf, size_t size);


/* 0, or -1 reported */

int
mt_load_lock(const char *dir, int wait, int *fd)
{
    int        lfd;
    char       path[4096], holder[512], host[256], line[512];
    time_t     now;
    struct tm  tm;

    if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir,
                          MT_LOAD_LOCK_NAME) >= sizeof(path))
    {
        mt_tool_error("%s: path too long", dir);
        return -1;
    }

    lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);

    if (lfd == -1 && errno == EACCES) {
        /* another user's lock file: flock() needs no write access */
        lfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }

    if (lfd == -1) {
        mt_tool_error("%s: cannot lock the spool directory: %s", path,
                      strerror(errno));
        return -1;
    }

    while (flock(lfd, LOCK_EX | LOCK_NB) == -1) {

        if (errno == EINTR) {
            continue;
        }

        if (errno != EWOULDBLOCK) {
            mt_tool_error("%s: flock(): %s", path, strerror(errno));
            (void) close(lfd);
            return -1;
        }

        mt_load_lock_holder(lfd, holder, sizeof(holder));

        if (!wait) {
            mt_tool_error("%s: another loader holds it (%s); it loads "
                          "this directory, or use --wait", dir, holder);
            (void) close(lfd);
            return -1;
        }

        fprintf(stderr, "%s: %s: waiting for another loader (%s)\n",
                MT_TOOL_NAME, dir, holder);

        if (flock(lfd, LOCK_EX) == -1) {
            if (errno == EINTR && !mt_load_stop) {
                continue;
            }

            mt_tool_error("%s: %s", path, errno == EINTR
                          ? "interrupted while waiting" : strerror(errno));
            (void) close(lfd);
            return -1;
        }

        break;
    }

    /* ours: say who we are, for the next one */

    if (gethostname(host, sizeof(host) - 1) != 0) {
        strcpy(host, "?");
    }

    host[sizeof(host) - 1] = '\0';

    now = time(NULL);
    gmtime_r(&now, &tm);

    snprintf(line, sizeof(line), "pid %ld on %s since "
             "%04d-%02d-%02dT%02d:%02d:%02dZ\n", (long) getpid(), host,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);

    if (ftruncate(lfd, 0) == -1
        || pwrite(lfd, line, strlen(line), 0) != (ssize_t) strlen(line))
    {
        /* the lock holds anyway; only the note is missing */
    }

    *fd = lfd;

    return 0;
}


static void
mt_load_lock_holder(int fd, char *buf, size_t size)
{
    ssize_t  n;

    n = pread(fd, buf, size - 1, 0);

    if (n <= 0) {
        snprintf(buf, size, "unknown process");
        return;
    }

    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

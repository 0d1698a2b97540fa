
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mail-track load --follow: a pass over the spool directories whenever
 * inotify says a file was sealed there (renamed into place), and every
 * MT_FOLLOW_RESCAN seconds anyway, in case an event was missed (or
 * inotify is out of watches).  A database that fails is retried with a
 * doubling delay; the files stay where they are meanwhile.
 */


#include "mt_tool_load.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <sys/inotify.h>


#define MT_FOLLOW_RESCAN        10        /* seconds */
#define MT_FOLLOW_BACKOFF_MIN   1
#define MT_FOLLOW_BACKOFF_MAX   60


static void mt_follow_wait(int fd, int seconds);


int
mt_load_follow(mt_load_t *ld)
{
    int     fd, rc, backoff;
    size_t  i;

    fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

    if (fd == -1) {
        mt_tool_error("inotify_init1(): %s; rescanning every %d s",
                      strerror(errno), MT_FOLLOW_RESCAN);

    } else {
        for (i = 0; i < ld->ndirs; i++) {
            if (inotify_add_watch(fd, ld->dirs[i],
                                  IN_MOVED_TO | IN_CLOSE_WRITE) == -1)
            {
                mt_tool_error("%s: inotify_add_watch(): %s; rescanning "
                              "every %d s", ld->dirs[i], strerror(errno),
                              MT_FOLLOW_RESCAN);
            }
        }
    }

    backoff = 0;

    while (!mt_load_stop) {

        /* a failure here is reported and waited out, never the end */

        rc = mt_load_connect(ld);

        if (rc == MT_DB_OK) {
            rc = mt_load_pass(ld);
        }

        if (rc != MT_DB_OK) {
            if (ld->connected && rc == MT_DB_DOWN) {
                mt_db_close(&ld->db);
                ld->connected = 0;
            }

            backoff = backoff ? mt_min(2 * backoff, MT_FOLLOW_BACKOFF_MAX)
                              : MT_FOLLOW_BACKOFF_MIN;

            fprintf(stderr, "%s: retrying in %d s\n", MT_TOOL_NAME,
                    backoff);

            mt_follow_wait(-1, backoff);
            continue;
        }

        backoff = 0;

        mt_follow_wait(fd, MT_FOLLOW_RESCAN);
    }

    if (fd != -1) {
        (void) close(fd);
    }

    /* a stop asked for is a clean end */

    ld->failed = 0;

    return MT_DB_OK;
}


/* until a spool directory changes, seconds pass, or a signal comes */

static void
mt_follow_wait(int fd, int seconds)
{
    char           buf[4096];
    struct pollfd  pfd;

    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;

    if (mt_load_stop) {
        return;
    }

    if (poll(&pfd, fd == -1 ? 0 : 1, seconds * 1000) > 0) {
        /* drain: one pass takes every file there is */

        while (read(fd, buf, sizeof(buf)) > 0) {
            /* void */
        }
    }
}

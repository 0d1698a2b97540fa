
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The flush role: one process at a time writes the spool.  The role is
 * the holder's pid and its start time, so that a holder that died is
 * recognized even when its pid belongs to another process by now.
 */


#include "ngx_http_mail_track_spool_role.h"


#define NGX_HTTP_MAIL_TRACK_ROLE_PROBE     1000
#define NGX_HTTP_MAIL_TRACK_PROBE_EVERY    100


static uint64_t ngx_http_mail_track_spool_started(ngx_pid_t pid);


void
ngx_http_mail_track_spool_role_init(ngx_http_mail_track_role_t *role)
{
    role->start = ngx_http_mail_track_spool_started(ngx_pid);
    role->probe_at = 0;
}


/*
 * NGX_OK: the role is ours (also when it was already).  A holder that
 * has had it for a while is looked at, at most every 100 ms: gone, or
 * its pid now another process's, the role is taken over.
 */

ngx_int_t
ngx_http_mail_track_spool_role_take(ngx_http_mail_track_zone_t *zone,
    ngx_http_mail_track_role_t *role, ngx_log_t *log)
{
    uint64_t                         start;
    ngx_int_t                        rc;
    ngx_pid_t                        pid;
    ngx_uint_t                       dead;
    ngx_http_mail_track_spool_sh_t  *ss;

    ss = &zone->sh->spool;

    pid = ss->flusher;
    start = ss->flusher_start;
    dead = 0;

    if (pid == ngx_pid && start == role->start) {
        return NGX_OK;
    }

    if (pid == ngx_pid) {
        /* an earlier process with our pid */
        dead = 1;

    } else if (pid != 0) {
        if ((ngx_msec_int_t) (ngx_current_msec - ss->flusher_since)
               < NGX_HTTP_MAIL_TRACK_ROLE_PROBE
            || ngx_current_msec - role->probe_at
               < NGX_HTTP_MAIL_TRACK_PROBE_EVERY)
        {
            return NGX_BUSY;
        }

        role->probe_at = ngx_current_msec;

        if (start != 0 && role->start != 0) {
            dead = (ngx_http_mail_track_spool_started(pid) != start);

        } else {
            dead = (kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH);
        }

        if (!dead) {
            return NGX_BUSY;
        }
    }

    rc = NGX_BUSY;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (ss->flusher == pid && ss->flusher_start == start) {
        ss->flusher = ngx_pid;
        ss->flusher_start = role->start;
        ss->flusher_since = ngx_current_msec;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (rc == NGX_OK && dead) {
        /* what it left past the committed size is cut by the write */
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "mail_track spool: taking over from exited "
                      "process %P", pid);
    }

    return rc;
}


void
ngx_http_mail_track_spool_role_give(ngx_http_mail_track_zone_t *zone,
    ngx_http_mail_track_role_t *role)
{
    ngx_http_mail_track_spool_sh_t  *ss;

    ss = &zone->sh->spool;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (ss->flusher == ngx_pid && ss->flusher_start == role->start) {
        ss->flusher = 0;
        ss->flusher_start = 0;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* a process's start time (clock ticks since boot); 0: none, or unknown */

static uint64_t
ngx_http_mail_track_spool_started(ngx_pid_t pid)
{
#if (NGX_LINUX)
    int          fd;
    u_char      *p, *last;
    ssize_t      n;
    uint64_t     start;
    ngx_uint_t   field;
    u_char       name[64], buf[1024];

    ngx_snprintf(name, sizeof(name), "/proc/%P/stat%Z", pid);

    fd = open((char *) name, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return 0;
    }

    n = read(fd, buf, sizeof(buf) - 1);

    (void) close(fd);

    if (n <= 0) {
        return 0;
    }

    last = buf + n;

    /* the name in parentheses may hold anything: count from the last ')' */

    for (p = last; p > buf && p[-1] != ')'; p--) {
        /* void */
    }

    if (p == buf) {
        return 0;
    }

    /* then " state ppid ...": starttime is field 22, the 20th after it */

    for (field = 2; p < last && field < 22; p++) {
        if (*p == ' ') {
            field++;
        }
    }

    for (start = 0; p < last && *p >= '0' && *p <= '9'; p++) {
        start = start * 10 + (*p - '0');
    }

    return start;
#else
    return 0;
#endif
}

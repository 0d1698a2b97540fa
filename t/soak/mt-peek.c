
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mt-peek: for make soak, finds the worker that holds the zone's lock or
 * the spool's flush role, from outside, and kills it there.  It reads the
 * zone through /proc/PID/mem of a worker (root), so nothing in the module
 * is built differently for the soak.  A holder seen is stopped (SIGSTOP)
 * and looked at again: only a worker that still holds the lock or the
 * role while it is stopped is killed (SIGKILL), otherwise it goes on
 * (SIGCONT) and the hunt continues.
 *
 *   mt-peek lock|flusher ZONE_SIZE MSEC WORKER_PID...
 *
 * Prints the pid killed and exits 0, or exits 1 when none was caught in
 * MSEC milliseconds.  Only the given pids are ever signalled.  Built
 * against the module's headers (offsets of the zone's fields).
 */


#include "ngx_http_mail_track_zone.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>


typedef struct {
    int                 fd;
    uintptr_t           base;
    uintptr_t           sh;
    size_t              off;
} mt_peek_zone_t;


static int mt_peek_open(mt_peek_zone_t *z, pid_t pid, size_t size);
static int mt_peek_read(mt_peek_zone_t *z, uintptr_t addr, void *buf,
    size_t len);
static pid_t mt_peek_holder(mt_peek_zone_t *z);
static int mt_peek_listed(pid_t pid, pid_t *pids, int n);
static void mt_peek_wait_stopped(pid_t pid);
static long mt_peek_now(void);


int
main(int argc, char **argv)
{
    int             i, n, sig;
    long            until;
    pid_t           pid, again, *pids;
    size_t          size;
    mt_peek_zone_t  z;

    if (argc < 5
        || (strcmp(argv[1], "lock") != 0 && strcmp(argv[1], "flusher") != 0))
    {
        fprintf(stderr, "usage: mt-peek lock|flusher ZONE_SIZE MSEC "
                        "WORKER_PID...\n");
        return 2;
    }

    size = strtoul(argv[2], NULL, 10);
    until = mt_peek_now() + strtol(argv[3], NULL, 10);

    n = argc - 4;
    pids = calloc(n, sizeof(pid_t));
    if (pids == NULL) {
        return 2;
    }

    for (i = 0; i < n; i++) {
        pids[i] = (pid_t) strtol(argv[4 + i], NULL, 10);
    }

    memset(&z, 0, sizeof(z));
    z.fd = -1;

    /* the lock is the slab pool's mutex, at the start of the zone */

    z.off = strcmp(argv[1], "lock") == 0
            ? (size_t) -1 : offsetof(ngx_http_mail_track_sh_t, spool.flusher);

    for (i = 0; i < n; i++) {
        if (mt_peek_open(&z, pids[i], size) == 0) {
            break;
        }
    }

    if (z.fd == -1) {
        fprintf(stderr, "mt-peek: no zone of %zu bytes in the workers\n",
                size);
        return 2;
    }

    while (mt_peek_now() < until) {
        pid = mt_peek_holder(&z);

        if (pid == -1) {
            return 2;
        }

        if (pid == 0 || !mt_peek_listed(pid, pids, n)) {
            continue;
        }

        if (kill(pid, SIGSTOP) == -1) {
            continue;
        }

        mt_peek_wait_stopped(pid);

        again = mt_peek_holder(&z);
        sig = (again == pid) ? SIGKILL : SIGCONT;

        if (kill(pid, sig) == 0 && sig == SIGKILL) {
            printf("%d\n", (int) pid);
            return 0;
        }
    }

    return 1;
}


static int
mt_peek_open(mt_peek_zone_t *z, pid_t pid, size_t size)
{
    int        fd;
    char       path[64], line[512];
    FILE      *f;
    size_t     page, want;
    uint32_t   magic;
    uintptr_t  start, end, data;

    page = (size_t) sysconf(_SC_PAGESIZE);
    want = (size + page - 1) / page * page;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int) pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    snprintf(path, sizeof(path), "/proc/%d/mem", (int) pid);

    fd = open(path, O_RDONLY);
    if (fd == -1) {
        fclose(f);
        return -1;
    }

    z->fd = fd;

    /* nginx maps shared zones MAP_SHARED|MAP_ANONYMOUS: "/dev/zero" */

    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "/dev/zero") == NULL
            || sscanf(line, "%lx-%lx", &start, &end) != 2
            || end - start != want)
        {
            continue;
        }

        z->base = start;

        if (mt_peek_read(z, start + offsetof(ngx_slab_pool_t, data),
                         &data, sizeof(data)) != 0
            || mt_peek_read(z, data
                               + offsetof(ngx_http_mail_track_sh_t, magic),
                            &magic, sizeof(magic)) != 0
            || magic != NGX_HTTP_MAIL_TRACK_MAGIC)
        {
            continue;
        }

        z->sh = data;
        fclose(f);
        return 0;
    }

    fclose(f);
    close(fd);
    z->fd = -1;

    return -1;
}


static int
mt_peek_read(mt_peek_zone_t *z, uintptr_t addr, void *buf, size_t len)
{
    return pread(z->fd, buf, len, (off_t) addr) == (ssize_t) len ? 0 : -1;
}


static pid_t
mt_peek_holder(mt_peek_zone_t *z)
{
    int                rc;
    ngx_pid_t          pid;
    ngx_atomic_uint_t  lock;

    /* the slab pool's mutex holds the pid as an atomic word */

    if (z->off == (size_t) -1) {
        rc = mt_peek_read(z, z->base, &lock, sizeof(lock));
        pid = (ngx_pid_t) lock;

    } else {
        rc = mt_peek_read(z, z->sh + z->off, &pid, sizeof(pid));
    }

    if (rc != 0) {
        fprintf(stderr, "mt-peek: the worker read from is gone\n");
        return -1;
    }

    return (pid_t) pid;
}


static int
mt_peek_listed(pid_t pid, pid_t *pids, int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        if (pids[i] == pid) {
            return 1;
        }
    }

    return 0;
}


/*
 * SIGSTOP takes effect when the process is next scheduled, not when
 * kill() returns: wait until /proc says it stopped (or a second passed).
 */

static void
mt_peek_wait_stopped(pid_t pid)
{
    int    i;
    char   path[64], stat[256], *p;
    FILE  *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);

    for (i = 0; i < 10000; i++) {
        f = fopen(path, "r");
        if (f == NULL) {
            return;
        }

        p = fgets(stat, sizeof(stat), f);
        fclose(f);

        if (p != NULL && (p = strrchr(stat, ')')) != NULL
            && (p[2] == 'T' || p[2] == 't'))
        {
            return;
        }

        usleep(100);
    }
}


static long
mt_peek_now(void)
{
    struct timeval  tv;

    gettimeofday(&tv, NULL);

    return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

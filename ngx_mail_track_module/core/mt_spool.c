
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Spool files on disk.  Every process that may append to a .part file
 * holds a shared flock() on it for as long as the file is current;
 * recovery takes the exclusive lock first, so a file whose lock can be
 * had has no live writer, whatever its name says and whoever has its
 * pid now.
 */


#include "mt_spool.h"
#include "mt_msgpack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>


/* module records are at most 16k: a window holds many */
#define MT_SPOOL_SCAN     (256 * 1024)


static int mt_spool_digits(const u_char *p, const u_char *end, uint64_t *v);
static void mt_spool_rollback(mt_spool_flush_t *f, int err, const char *op);
static int mt_spool_crypt_batch(mt_spool_flush_t *f, const u_char **p,
    size_t *len);
static int mt_spool_whole_sealed(int fd, off_t size, off_t *good);
static void mt_spool_recover_file(mt_spool_recover_t *rv, int dfd,
    const char *name);
static void mt_spool_log(mt_spool_recover_t *rv, int level, int err,
    const char *fmt, ...);


int
mt_spool_name_parse(const u_char *name, size_t len, mt_spool_name_t *sn)
{
    size_t         n;
    const u_char  *end, *p, *dash[3];
    unsigned       i;

    n = sizeof(MT_SPOOL_PART_SUFFIX) - 1;

    if (len > n && memcmp(name + len - n, MT_SPOOL_PART_SUFFIX, n) == 0) {
        sn->sealed = 0;

    } else {
        n = sizeof(MT_SPOOL_SUFFIX) - 1;

        if (len <= n || memcmp(name + len - n, MT_SPOOL_SUFFIX, n) != 0) {
            return -1;
        }

        sn->sealed = 1;
    }

    end = name + len - n;

    /* the host may hold dashes: the numbers are the last three parts */

    p = end;

    for (i = 0; i < 3; i++) {
        while (p > name && p[-1] != '-') {
            p--;
        }

        if (p == name) {
            return -1;
        }

        dash[i] = --p;
    }

    if (dash[2] == name
        || mt_spool_digits(dash[0] + 1, end, &sn->seq) != 0
        || mt_spool_digits(dash[1] + 1, dash[0], &sn->ms) != 0
        || mt_spool_digits(dash[2] + 1, dash[1], &sn->pid) != 0)
    {
        return -1;
    }

    sn->host.data = (u_char *) name;
    sn->host.len = dash[2] - name;

    return 0;
}


static int
mt_spool_digits(const u_char *p, const u_char *end, uint64_t *v)
{
    if (p == end || end - p > 19) {
        return -1;
    }

    for (*v = 0; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        *v = *v * 10 + (*p - '0');
    }

    return 0;
}


/*
 * Opens (or creates) a .part for appending and takes the shared lock.
 * ENOENT also when recovery holds the file or removed it meanwhile.
 */

int
mt_spool_part_open(const char *path, int create, int mode, int *fd)
{
    int          f, flags, err;
    struct stat  st;

    flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;

    if (create) {
        flags |= O_CREAT | O_EXCL;
    }

    f = open(path, flags, mode ? mode : 0600);
    if (f == -1) {
        return errno;
    }

    if (flock(f, LOCK_SH | LOCK_NB) == -1) {
        err = (errno == EWOULDBLOCK) ? ENOENT : errno;
        (void) close(f);
        return err;
    }

    if (fstat(f, &st) == -1) {
        err = errno;
        (void) close(f);
        return err;
    }

    if (!S_ISREG(st.st_mode) || st.st_nlink == 0) {
        (void) close(f);
        return ENOENT;
    }

    *fd = f;

    return 0;
}


/* is the descriptor still the file of that name?  0 or ENOENT */

int
mt_spool_part_check(int fd, const char *path)
{
    struct stat  a, b;

    if (fstat(fd, &a) == -1) {
        return errno;
    }

    if (lstat(path, &b) == -1) {
        return errno;
    }

    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino || a.st_nlink == 0) {
        return ENOENT;
    }

    return 0;
}


void
mt_spool_flush(mt_spool_flush_t *f)
{
    int           err, dfd, seal;
    off_t         committed;
    ssize_t       n;
    size_t        left, wlen;
    const u_char *p;
    struct stat   st;

    f->err = 0;
    f->op = NULL;
    f->err_path = NULL;
    f->size = f->committed;
    f->lost = 0;
    f->written = 0;
    f->sealed = 0;
    f->vanished = 0;
    f->truncated = 0;
    f->nospace = 0;
    f->synced = 0;
    f->dir_synced_now = 0;
    f->fsyncs = 0;

    committed = f->committed;
    seal = f->seal;
    wlen = 0;

    if (f->path == NULL || f->path[0] == '\0') {
        goto sync;
    }

    if (f->create) {
        if (f->fd != -1) {
            (void) close(f->fd);
            f->fd = -1;
        }

        err = mt_spool_part_open(f->path, 1, f->mode, &f->fd);

    } else if (f->fd == -1) {
        err = mt_spool_part_open(f->path, 0, 0, &f->fd);

    } else {
        err = mt_spool_part_check(f->fd, f->path);

        if (err) {
            (void) close(f->fd);
            f->fd = -1;
        }
    }

    if (err) {
        f->err = err;
        f->op = "open()";
        f->err_path = f->path;
        f->vanished = (err == ENOENT && !f->create);
        return;
    }

    if (f->len) {
        if (fstat(f->fd, &st) == -1) {
            mt_spool_rollback(f, errno, "fstat()");
            return;
        }

        /* a writer that died left a tail past what it committed */

        if (st.st_size > committed) {
            if (ftruncate(f->fd, committed) == -1) {
                mt_spool_rollback(f, errno, "ftruncate()");
                return;
            }

            f->truncated = 1;

        } else if (st.st_size < committed) {
            f->lost = committed - st.st_size;
            committed = st.st_size;
            f->committed = committed;
            f->size = committed;

            if (f->crypt != NULL) {
                /* a chunk after a hole would not read: a new file */
                seal = 1;
                goto seal;
            }
        }

        p = f->data;
        left = f->len;

        if (f->crypt != NULL && mt_spool_crypt_batch(f, &p, &left) != 0) {
            mt_spool_rollback(f, EIO, "sealing the batch");
            return;
        }

        wlen = left;

        while (left) {
            n = write(f->fd, p, left);

            if (n == -1) {
                if (errno == EINTR) {
                    continue;
                }

                mt_spool_rollback(f, errno, "write()");

                if (f->nospace && f->seal_if_full && !f->create
                    && committed > 0)
                {
                    /* what it holds becomes readable; the batch waits */
                    seal = 1;
                    goto seal;
                }

                return;
            }

            p += n;
            left -= n;
        }
    }

    if (f->sync || (f->seal && f->sync_seal)) {
        if (fdatasync(f->fd) == -1) {
            mt_spool_rollback(f, errno, "fdatasync()");
            return;
        }

        f->fsyncs++;
    }

    if (f->len) {
        f->written = 1;
        f->size = committed + wlen;

        if (f->crypt != NULL) {
            f->crypt->file.chunks++;
            f->crypt->file.counter = f->crypt->counter + 1;
        }
    }

seal:

    if (seal) {
        if (mt_spool_rename(AT_FDCWD, f->path, AT_FDCWD, f->sealed_path)
            == -1)
        {
            err = errno;

            if (f->err == 0) {
                f->err = err;
                f->op = "rename()";
                f->err_path = f->path;
                f->vanished = (err == ENOENT);
            }

            return;
        }

        f->sealed = 1;

        (void) close(f->fd);
        f->fd = -1;
    }

    if (f->err) {
        return;
    }

sync:

    /* the name that holds the data, as it is now, must be on disk too */

    if ((f->sync && f->fd != -1 && (f->create || !f->dir_synced))
        || (f->sealed && (f->sync || f->sync_seal)))
    {
        err = mt_spool_sync_dir(f->dir);

        if (err) {
            f->err = err;
            f->op = "fsync() of the directory";
            f->err_path = f->dir;
            return;
        }

        f->dir_synced_now = 1;
    }

    if (f->syncfs) {
        if (f->fd != -1) {
            err = (syncfs(f->fd) == -1) ? errno : 0;

        } else {
            dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            err = (dfd == -1) ? errno : 0;

            if (dfd != -1) {
                err = (syncfs(dfd) == -1) ? errno : 0;
                (void) close(dfd);
            }
        }

        if (err) {
            f->err = err;
            f->op = "syncfs()";
            f->err_path = f->dir;
            return;
        }

        f->fsyncs++;
    }

    f->synced = (f->sync || (f->sealed && f->sync_seal) || f->syncfs);
}


/*
 * The batch as one chunk, in place; a new file's header before it.  On
 * return p and len are what is to be written.
 */

static int
mt_spool_crypt_batch(mt_spool_flush_t *f, const u_char **p, size_t *len)
{
    u_char           *data;
    mt_spool_crypt_t  *s;

    s = f->crypt;
    data = (u_char *) f->data;

    if (f->create) {
        if (mt_seal_file_new(s->ctx, s->key, NULL, &s->file) != 0) {
            return -1;
        }
    }

    if (mt_seal_chunk(s->ctx, &s->file, s->file.chunks, s->counter, data,
                      f->len)
        != 0)
    {
        return -1;
    }

    *p = data - MT_SEAL_CHUNK_HDR_LEN;
    *len = f->len + MT_SEAL_CHUNK_OVERHEAD;

    if (f->create) {
        *p -= MT_SEAL_HEADER_LEN;
        *len += MT_SEAL_HEADER_LEN;
        memcpy((u_char *) *p, s->file.header, MT_SEAL_HEADER_LEN);
    }

    return 0;
}


/* the batch did not make it: leave the file as the last batch left it */

static void
mt_spool_rollback(mt_spool_flush_t *f, int err, const char *op)
{
    f->err = err;
    f->op = op;
    f->err_path = f->path;
    f->nospace = (err == ENOSPC || err == EDQUOT || err == EFBIG);

    if (ftruncate(f->fd, f->committed) == -1) {
        /* the next writer cuts it */
    }

    if (f->create) {
        (void) unlink(f->path);
        (void) close(f->fd);
        f->fd = -1;
    }
}


int
mt_spool_sync_dir(const char *dir)
{
    int  fd, err;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1) {
        return errno;
    }

    err = (fsync(fd) == -1) ? errno : 0;

    (void) close(fd);

    return err;
}


/* never over an existing file: a sealed file is the loader's */

int
mt_spool_rename(int olddirfd, const char *from, int newdirfd,
    const char *to)
{
#ifdef RENAME_NOREPLACE
    if (renameat2(olddirfd, from, newdirfd, to, RENAME_NOREPLACE) == 0) {
        return 0;
    }

    if (errno != EINVAL && errno != ENOSYS) {
        return -1;
    }
#endif

    /* a file system without it (some network ones): ask first */

    if (faccessat(newdirfd, to, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        errno = EEXIST;
        return -1;
    }

    return renameat(olddirfd, from, newdirfd, to);
}


/*
 * The length of the whole records at the start of a file: each a
 * msgpack map; a torn or damaged one ends it.
 */

int
mt_spool_whole(int fd, off_t size, off_t *good)
{
    u_char          *buf;
    size_t           have, used;
    off_t            off;
    ssize_t          n;
    const u_char    *save;
    mt_mp_reader_t   r;
    u_char           head[MT_SEAL_HEADER_LEN];

    *good = 0;

    n = pread(fd, head, sizeof(head), 0);
    if (n == -1) {
        return errno;
    }

    switch (mt_seal_header_check(head, (size_t) n)) {

    case 0:
        return mt_spool_whole_sealed(fd, size, good);

    case 1:
        if (n < MT_SEAL_HEADER_LEN) {
            /* torn inside its header: nothing in it */
            return 0;
        }

        /* sealed by a newer writer: not ours to cut */
        return EPROTONOSUPPORT;
    }

    buf = malloc(MT_SPOOL_SCAN);
    if (buf == NULL) {
        return ENOMEM;
    }

    off = 0;
    have = 0;

    for ( ;; ) {
        while (have < MT_SPOOL_SCAN && off + (off_t) have < size) {
            n = pread(fd, buf + have,
                      mt_min(MT_SPOOL_SCAN - have,
                             (size_t) (size - off - (off_t) have)),
                      off + have);

            if (n == -1) {
                if (errno == EINTR) {
                    continue;
                }

                free(buf);
                return errno;
            }

            if (n == 0) {
                size = off + have;
                break;
            }

            have += n;
        }

        r.pos = buf;
        r.end = buf + have;

        while (r.pos < r.end) {
            if ((*r.pos & 0xf0) != 0x80 && *r.pos != 0xde && *r.pos != 0xdf)
            {
                /* not a record: nothing after it counts */
                free(buf);
                return 0;
            }

            save = r.pos;

            if (mt_mp_skip(&r, 16) != 0) {
                r.pos = save;
                break;
            }

            *good = off + (r.pos - buf);
        }

        used = r.pos - buf;

        if (off + (off_t) have >= size || used == 0) {
            /* the end, torn; or a record longer than the window */
            break;
        }

        memmove(buf, buf + used, have - used);
        off += used;
        have -= used;
    }

    free(buf);

    return 0;
}


/*
 * A sealed file's framing, without its key: chunk after chunk, each in
 * its place, with a length a writer gives and an increasing counter;
 * the first torn or odd one ends the whole part.  The tags can only be
 * checked by a reader with the key.
 */

static int
mt_spool_whole_sealed(int fd, off_t size, off_t *good)
{
    off_t            off, end;
    ssize_t          n;
    uint32_t         index;
    uint64_t         min;
    mt_seal_chunk_t  ch;
    u_char           hdr[MT_SEAL_CHUNK_HDR_LEN];

    off = MT_SEAL_HEADER_LEN;
    index = 0;
    min = 0;

    while (off + MT_SEAL_CHUNK_HDR_LEN <= size) {
        n = pread(fd, hdr, sizeof(hdr), off);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            return errno;
        }

        if (n != sizeof(hdr)) {
            break;
        }

        mt_seal_chunk_header(hdr, &ch);

        if (mt_seal_chunk_check(&ch, index, min) != MT_SEAL_OK) {
            break;
        }

        end = off + MT_SEAL_CHUNK_OVERHEAD + (off_t) ch.len;

        if (end > size) {
            break;
        }

        *good = end;
        off = end;
        index++;
        min = ch.counter + 1;
    }

    return 0;
}


int
mt_spool_recover(mt_spool_recover_t *rv)
{
    int               dfd;
    DIR              *d;
    size_t            len;
    struct dirent    *de;
    mt_spool_name_t   sn;

    rv->err = 0;
    rv->op = NULL;

    dfd = open(rv->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd == -1) {
        rv->err = errno;
        rv->op = "open()";
        return -1;
    }

    d = fdopendir(dfd);
    if (d == NULL) {
        rv->err = errno;
        rv->op = "fdopendir()";
        (void) close(dfd);
        return -1;
    }

    for ( ;; ) {
        errno = 0;

        de = readdir(d);

        if (de == NULL) {
            if (errno) {
                rv->err = errno;
                rv->op = "readdir()";
            }

            break;
        }

        len = strlen(de->d_name);

        if (mt_spool_name_parse((u_char *) de->d_name, len, &sn) != 0
            || sn.sealed)
        {
            continue;
        }

        if (sn.host.len != rv->host.len
            || memcmp(sn.host.data, rv->host.data, sn.host.len) != 0)
        {
            rv->foreign++;
            continue;
        }

        mt_spool_recover_file(rv, dfd, de->d_name);
    }

    (void) closedir(d);

    return rv->err ? -1 : 0;
}


static void
mt_spool_recover_file(mt_spool_recover_t *rv, int dfd, const char *name)
{
    int           fd, err;
    off_t         good;
    size_t        len;
    struct stat   st;
    char          sealed[NAME_MAX + 16];

    fd = openat(dfd, name,
                O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd == -1) {
        err = errno;

        if (err == ENOENT) {
            return;
        }

        rv->odd++;

        if (err == ELOOP) {
            mt_spool_log(rv, MT_LOG_WARN, 0, "leaving \"%s/%s\" alone: "
                         "it is a symbolic link", rv->dir, name);
        } else {
            mt_spool_log(rv, MT_LOG_WARN, err, "leaving \"%s/%s\" alone: "
                         "open() failed", rv->dir, name);
        }

        return;
    }

    if (fstat(fd, &st) == -1) {
        err = errno;
        rv->odd++;
        mt_spool_log(rv, MT_LOG_WARN, err, "leaving \"%s/%s\" alone: "
                     "fstat() failed", rv->dir, name);
        goto done;
    }

    if (!S_ISREG(st.st_mode)) {
        rv->odd++;
        mt_spool_log(rv, MT_LOG_WARN, 0, "leaving \"%s/%s\" alone: "
                     "it is not a regular file", rv->dir, name);
        goto done;
    }

    if (st.st_uid != rv->uid) {
        rv->odd++;
        mt_spool_log(rv, MT_LOG_WARN, 0, "leaving \"%s/%s\" alone: "
                     "it belongs to uid %u, not to uid %u", rv->dir, name,
                     (unsigned) st.st_uid, (unsigned) rv->uid);
        goto done;
    }

    if (st.st_nlink != 1) {
        rv->odd++;
        mt_spool_log(rv, MT_LOG_WARN, 0, "leaving \"%s/%s\" alone: "
                     "it has %u links", rv->dir, name,
                     (unsigned) st.st_nlink);
        goto done;
    }

    /* a live writer holds a shared lock */

    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        if (errno == EWOULDBLOCK) {
            rv->live++;

        } else {
            rv->odd++;
            mt_spool_log(rv, MT_LOG_WARN, errno, "leaving \"%s/%s\" alone: "
                         "flock() failed", rv->dir, name);
        }

        goto done;
    }

    err = mt_spool_whole(fd, st.st_size, &good);

    if (err) {
        rv->odd++;
        mt_spool_log(rv, MT_LOG_WARN, err, "leaving \"%s/%s\" alone: "
                     "reading it failed", rv->dir, name);
        goto done;
    }

    if (good < st.st_size && ftruncate(fd, good) == -1) {
        rv->odd++;
        mt_spool_log(rv, MT_LOG_WARN, errno, "leaving \"%s/%s\" alone: "
                     "ftruncate() failed", rv->dir, name);
        goto done;
    }

    if (good == 0) {
        if (unlinkat(dfd, name, 0) == 0) {
            rv->removed++;
            mt_spool_log(rv, MT_LOG_NOTICE, 0, "removed \"%s/%s\": "
                         "no whole record in it", rv->dir, name);
        }

        goto done;
    }

    len = strlen(name) - (sizeof(MT_SPOOL_PART_SUFFIX) - 1);

    if (len + sizeof(MT_SPOOL_SUFFIX) > sizeof(sealed)) {
        goto done;
    }

    memcpy(sealed, name, len);
    memcpy(sealed + len, MT_SPOOL_SUFFIX, sizeof(MT_SPOOL_SUFFIX));

    if (mt_spool_rename(dfd, name, dfd, sealed) == -1) {
        rv->odd++;
        mt_spool_log(rv, MT_LOG_WARN, errno, "leaving \"%s/%s\" alone: "
                     "rename() failed", rv->dir, name);
        goto done;
    }

    rv->sealed++;

    mt_spool_log(rv, MT_LOG_NOTICE, 0, "sealed \"%s/%s\" left by an earlier "
                 "run, %lld byte(s) of it whole, %lld cut", rv->dir, sealed,
                 (long long) good, (long long) (st.st_size - good));

done:

    (void) close(fd);
}


static void
mt_spool_log(mt_spool_recover_t *rv, int level, int err, const char *fmt,
    ...)
{
    va_list  ap;
    char     msg[1024];

    if (rv->log == NULL) {
        return;
    }

    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    rv->log(rv->log_data, level, err, msg);
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Spool files on disk (core/mt_spool.c): names, the shared lock of a
 * .part, appending with the uncommitted tail cut, a full file system
 * (RLIMIT_FSIZE stands in for it: the same rollback, no root needed),
 * sealing without replacing, and recovery that leaves alone what is
 * not plainly its own.
 */


#include "mt_tap.h"
#include "mt_spool.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>


static char  dir[256];


/* a msgpack record: {"x": <n bytes>} */

static size_t
record(u_char *p, size_t n, u_char fill)
{
    p[0] = 0x81;
    p[1] = 0xa1;
    p[2] = 'x';
    p[3] = 0xda;
    p[4] = (u_char) (n >> 8);
    p[5] = (u_char) n;
    memset(p + 6, fill, n);

    return n + 6;
}


static char *
path(const char *name)
{
    static char  buf[4][512];
    static int   i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);

    return buf[i];
}


static void
put(const char *name, const void *data, size_t len)
{
    int  fd;

    fd = open(path(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (fd == -1 || write(fd, data, len) != (ssize_t) len) {
        perror(name);
        exit(2);
    }

    close(fd);
}


static off_t
fsize(const char *name)
{
    struct stat  st;

    return lstat(path(name), &st) == 0 ? st.st_size : -1;
}


static int
exists(const char *name)
{
    struct stat  st;

    return lstat(path(name), &st) == 0;
}


static void
test_names(void)
{
    mt_spool_name_t  sn;

    ok(mt_spool_name_parse((u_char *) "edge1-1234-1700000000000-7.part", 31,
                           &sn) == 0, "a .part name");
    is_str(sn.host, "edge1", "host");
    is_int(sn.pid, 1234, "pid");
    is_int(sn.ms, 1700000000000LL, "ms");
    is_int(sn.seq, 7, "seq");
    is_int(sn.sealed, 0, "not sealed");

    ok(mt_spool_name_parse((u_char *) "a-b-c-1-2-3.mtspool", 19, &sn) == 0,
       "a host with dashes");
    is_str(sn.host, "a-b-c", "host with dashes");
    is_int(sn.sealed, 1, "sealed");

    ok(mt_spool_name_parse((u_char *) "1-2-3.part", 10, &sn) != 0,
       "no host");
    ok(mt_spool_name_parse((u_char *) "-1-2-3.part", 11, &sn) != 0,
       "empty host");
    ok(mt_spool_name_parse((u_char *) "h-1-x-3.part", 12, &sn) != 0,
       "not a number");
    ok(mt_spool_name_parse((u_char *) "h-1--3.part", 11, &sn) != 0,
       "empty number");
    ok(mt_spool_name_parse((u_char *) "h-1-2-3.parts", 13, &sn) != 0,
       "other suffix");
    ok(mt_spool_name_parse((u_char *) "h-1-2-99999999999999999999.part", 31,
                           &sn) != 0, "too many digits");
}


static void
test_lock(void)
{
    int  a, b, c, err;

    a = b = -1;

    err = mt_spool_part_open(path("h-1-1-1.part"), 1, 0600, &a);
    is_int(err, 0, "create a .part");

    err = mt_spool_part_open(path("h-1-1-1.part"), 1, 0600, &b);
    is_int(err, EEXIST, "creating it again fails");

    err = mt_spool_part_open(path("h-1-1-1.part"), 0, 0600, &b);
    is_int(err, 0, "another writer opens it, sharing the lock");

    c = open(path("h-1-1-1.part"), O_RDONLY);
    ok(flock(c, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK,
       "the exclusive lock of recovery is refused while writers hold it");

    close(a);
    close(b);

    ok(flock(c, LOCK_EX | LOCK_NB) == 0, "and granted once they are gone");

    err = mt_spool_part_open(path("h-1-1-1.part"), 0, 0600, &b);
    is_int(err, ENOENT, "a writer meeting the recovery lock: ENOENT");

    close(c);

    ok(symlink(path("h-1-1-1.part"), path("h-1-1-2.part")) == 0, "symlink");
    err = mt_spool_part_open(path("h-1-1-2.part"), 0, 0600, &b);
    is_int(err, ELOOP, "a symlinked .part is not opened");

    unlink(path("h-1-1-1.part"));
    unlink(path("h-1-1-2.part"));
}


static void
flush_init(mt_spool_flush_t *f, const char *name, const u_char *data,
    size_t len)
{
    memset(f, 0, sizeof(*f));

    f->dir = dir;
    f->path = path(name);
    f->data = data;
    f->len = len;
    f->fd = -1;
}


static void
test_flush(void)
{
    int               fd;
    u_char            rec[3][200];
    size_t            n[3];
    mt_spool_flush_t  f;
    char              sealed[512];

    n[0] = record(rec[0], 50, 'a');
    n[1] = record(rec[1], 60, 'b');
    n[2] = record(rec[2], 70, 'c');

    flush_init(&f, "h-1-2-1.part", rec[0], n[0]);
    f.create = 1;
    f.sync = 1;
    mt_spool_flush(&f);

    ok(f.err == 0 && f.written, "created and written");
    is_int(f.size, n[0], "size after the first batch");
    ok(f.synced && f.dir_synced_now, "data and name on disk");
    is_int(f.fsyncs, 1, "one data sync");
    ok(f.fd != -1, "the descriptor is kept");

    fd = f.fd;

    /* a writer died halfway: its tail is cut before the next batch */

    if (write(fd, "\x81\xa1x\xda\x01", 5) != 5) {
        exit(2);
    }

    flush_init(&f, "h-1-2-1.part", rec[1], n[1]);
    f.committed = n[0];
    f.fd = fd;
    f.dir_synced = 1;
    f.sync = 1;
    mt_spool_flush(&f);

    ok(f.err == 0 && f.written, "second batch");
    ok(f.truncated, "the uncommitted tail was cut");
    is_int(fsize("h-1-2-1.part"), n[0] + n[1], "size is both batches");
    ok(!f.dir_synced_now, "the name was on disk already: no directory sync");

    /* seal, not over an existing file */

    snprintf(sealed, sizeof(sealed), "%s", path("h-1-2-1.mtspool"));
    put("h-1-2-1.mtspool", "x", 1);

    flush_init(&f, "h-1-2-1.part", rec[2], n[2]);
    f.committed = n[0] + n[1];
    f.fd = fd;
    f.seal = 1;
    f.sealed_path = sealed;
    mt_spool_flush(&f);

    ok(f.written && !f.sealed && f.err == EEXIST,
       "a sealed file of that name is never replaced");

    unlink(sealed);

    flush_init(&f, "h-1-2-1.part", NULL, 0);
    f.committed = n[0] + n[1] + n[2];
    f.fd = fd;
    f.seal = 1;
    f.sync_seal = 1;
    f.sealed_path = sealed;
    mt_spool_flush(&f);

    ok(f.err == 0 && f.sealed && f.synced, "sealed, synced first");
    ok(f.dir_synced_now, "the new name is on disk");
    is_int(f.fd, -1, "and the descriptor closed");
    is_int(fsize("h-1-2-1.mtspool"), n[0] + n[1] + n[2], "all three batches");
    ok(!exists("h-1-2-1.part"), "no .part left");

    /* a file shorter than committed: someone cut it */

    flush_init(&f, "h-1-2-2.part", rec[0], n[0]);
    f.create = 1;
    mt_spool_flush(&f);
    fd = f.fd;

    flush_init(&f, "h-1-2-2.part", rec[1], n[1]);
    f.committed = n[0] + 100;
    f.fd = fd;
    mt_spool_flush(&f);

    ok(f.written, "written after a file shorter than committed");
    is_int(f.lost, 100, "what is missing is reported");
    is_int(f.size, n[0] + n[1], "appended at the real end");

    /* the file went away: the descriptor is not written into */

    unlink(path("h-1-2-2.part"));

    flush_init(&f, "h-1-2-2.part", rec[2], n[2]);
    f.committed = n[0] + n[1];
    f.fd = fd;
    mt_spool_flush(&f);

    ok(f.vanished && !f.written, "a removed .part is reported, not written");
    is_int(f.fd, -1, "its descriptor closed");

    /* a sync-only step with no file: syncfs */

    flush_init(&f, "", NULL, 0);
    f.path = "";
    f.syncfs = 1;
    mt_spool_flush(&f);
    ok(f.err == 0 && f.synced, "the file system synced");

    unlink(sealed);
}


static void
test_nospace(void)
{
    int               fd;
    u_char            buf[3000];
    size_t            n, m;
    struct rlimit     rl, old;
    mt_spool_flush_t  f;
    char              sealed[512];

    /* RLIMIT_FSIZE: EFBIG past the limit, once SIGXFSZ is ignored */

    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);

    n = record(buf, 1000, 'a');
    m = record(buf + n, 1000, 'b');
    m += record(buf + n + m, 500, 'c');

    flush_init(&f, "h-1-3-1.part", buf, n);
    f.create = 1;
    mt_spool_flush(&f);
    ok(f.written, "first batch");
    fd = f.fd;

    rl = old;
    rl.rlim_cur = 2000;
    setrlimit(RLIMIT_FSIZE, &rl);

    flush_init(&f, "h-1-3-1.part", buf + n, m);
    f.committed = n;
    f.fd = fd;
    mt_spool_flush(&f);

    ok(!f.written && f.nospace, "a batch that does not fit: no space");
    is_int(f.err, EFBIG, "EFBIG");
    is_int(fsize("h-1-3-1.part"), n, "the part is as the last batch left it");

    flush_init(&f, "h-1-3-1.part", buf + n, 506);
    f.committed = n;
    f.fd = fd;
    mt_spool_flush(&f);
    ok(f.written, "a smaller batch fits");
    is_int(fsize("h-1-3-1.part"), n + 506, "and is there");

    /* not even one record: seal what there is, the record waits */

    snprintf(sealed, sizeof(sealed), "%s", path("h-1-3-1.mtspool"));

    flush_init(&f, "h-1-3-1.part", buf + n + 506, m - 506);
    f.committed = n + 506;
    f.fd = fd;
    f.seal_if_full = 1;
    f.sealed_path = sealed;
    mt_spool_flush(&f);

    ok(!f.written && f.nospace && f.sealed,
       "one record that does not fit: not written, the part sealed");
    is_int(fsize("h-1-3-1.mtspool"), n + 506, "what it held, whole");

    flush_init(&f, "h-1-3-2.part", buf, 2500);
    f.create = 1;
    mt_spool_flush(&f);
    ok(!f.written && f.nospace && !exists("h-1-3-2.part"),
       "a new part that cannot take its batch is removed");

    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);

    unlink(sealed);
}


static void
test_whole(void)
{
    int      fd;
    off_t    good, want;
    size_t   n, i;
    u_char  *buf;

    /* records across the 256k window, the last one torn */

    buf = malloc(600000);
    n = 0;

    for (i = 0; n < 550000; i++) {
        n += record(buf + n, 5000 + (i * 37) % 9000, 'a' + i % 26);
    }

    want = n;
    n += record(buf + n, 3000, 'z') - 100;

    put("whole", buf, n);
    fd = open(path("whole"), O_RDONLY);

    is_int(mt_spool_whole(fd, n, &good), 0, "scanned");
    is_int(good, want, "every whole record across windows, not the torn one");

    close(fd);

    /* something that is not a record ends it */

    n = record(buf, 10, 'a');
    buf[n] = 0x01;
    n += 1 + record(buf + n + 1, 10, 'b');

    put("whole", buf, n);
    fd = open(path("whole"), O_RDONLY);
    mt_spool_whole(fd, n, &good);
    is_int(good, 16, "up to the first thing that is not a map");
    close(fd);

    unlink(path("whole"));
    free(buf);
}


static void
log_handler(void *data, int level, int err, const char *msg)
{
    size_t  len;

    (void) level;
    (void) err;

    len = strlen(data);
    snprintf((char *) data + len, 2048 - len, "%s\n", msg);
}


/* recovery of dir as host "me", logging into log */

static void
recover_init(mt_spool_recover_t *rv, char *log)
{
    log[0] = '\0';

    memset(rv, 0, sizeof(*rv));
    rv->dir = dir;
    rv->host.data = (u_char *) "me";
    rv->host.len = 2;
    rv->uid = geteuid();
    rv->log = log_handler;
    rv->log_data = log;
}


static void
test_recover(void)
{
    int                 held, o;
    u_char              buf[400];
    size_t              n;
    struct stat         st;
    char                log[4096], outside[512];
    mt_spool_recover_t  rv;

    memset(buf, 0x81, sizeof(buf));

    n = record(buf, 100, 'a');
    n += record(buf + n, 100, 'b');

    /* dead, this host: cut to its whole records and sealed */
    put("me-999999-1-1.part", buf, n + 50);

    /* a pid alive now (ours) but no lock: dead all the same */
    snprintf(log, sizeof(log), "me-%d-1-2.part", (int) getpid());
    put(log, buf, n);

    /* another host's file is not ours to judge */
    put("other-999999-1-3.part", buf, n + 50);

    /* no whole record: removed */
    put("me-999999-1-4.part", buf, 20);

    /* a live writer */
    put("me-999999-1-5.part", buf, n + 50);
    held = open(path("me-999999-1-5.part"), O_RDONLY);
    flock(held, LOCK_SH);

    /* odd things are left alone */
    snprintf(outside, sizeof(outside), "%s.outside", dir);
    o = open(outside, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (o == -1 || write(o, buf, n + 50) != (ssize_t) (n + 50)) {
        exit(2);
    }

    close(o);

    ok(symlink(outside, path("me-999999-1-6.part")) == 0, "symlink");
    ok(mkfifo(path("me-999999-1-7.part"), 0644) == 0, "fifo");
    put("me-999999-1-8.part", buf, n);
    ok(link(path("me-999999-1-8.part"), path("hardlink")) == 0, "hard link");

    /* a sealed file of the same name is never replaced */
    put("me-999999-1-9.part", buf, n);
    put("me-999999-1-9.mtspool", "loader's", 8);

    recover_init(&rv, log);

    is_int(mt_spool_recover(&rv), 0, "recovery ran");

    is_int(rv.sealed, 2, "two sealed");
    is_int(rv.removed, 1, "one removed");
    is_int(rv.live, 1, "one live");
    is_int(rv.foreign, 1, "one of another host");
    is_int(rv.odd, 4, "four odd ones left alone");

    is_int(fsize("me-999999-1-1.mtspool"), n, "cut to its whole records");
    snprintf(log + 2048, 512, "me-%d-1-2.mtspool", (int) getpid());
    ok(exists(log + 2048), "a live unrelated pid does not keep a file");
    is_int(fsize("other-999999-1-3.part"), n + 50, "the other host's: as is");
    ok(!exists("me-999999-1-4.part"), "the empty one removed");
    is_int(fsize("me-999999-1-5.part"), n + 50, "the locked one: as is");

    ok(lstat(path("me-999999-1-6.part"), &st) == 0 && S_ISLNK(st.st_mode),
       "the symlink is still a symlink");
    ok(stat(outside, &st) == 0 && st.st_size == (off_t) (n + 50),
       "and what it points at is untouched");

    ok(exists("me-999999-1-7.part"), "the fifo is left");
    is_int(fsize("me-999999-1-8.part"), n, "the hard-linked one is left");
    is_int(fsize("me-999999-1-9.mtspool"), 8, "the loader's file is kept");
    ok(exists("me-999999-1-9.part"), "and the .part stays");

    log[2048] = '\0';
    ok(strstr(log, "me-999999-1-6.part\" alone: it is a symbolic link")
       != NULL, "the symlink is named in the log");
    ok(strstr(log, "me-999999-1-7.part\" alone: it is not a regular file")
       != NULL, "the fifo is named");
    ok(strstr(log, "me-999999-1-8.part\" alone: it has 2 links") != NULL,
       "the hard link is named");
    ok(strstr(log, "me-999999-1-9.part\" alone: rename() failed") != NULL,
       "the name clash is named");
    ok(strstr(log, "sealed \"") != NULL, "the sealed ones are logged");

    if (geteuid() == 0) {
        put("me-999999-1-10.part", buf, n);
        if (chown(path("me-999999-1-10.part"), 65534, 65534) != 0) {
            exit(2);
        }

        recover_init(&rv, log);
        mt_spool_recover(&rv);
        ok(strstr(log, "it belongs to uid 65534, not to uid 0") != NULL,
           "a file of another owner is left alone");
        ok(exists("me-999999-1-10.part"), "and stays");

    } else {
        diag("not root: the file-owner check is not run");
    }

    close(held);
    unlink(outside);
}


static void
cleanup(void)
{
    char  cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s.outside'", dir, dir);

    if (system(cmd) != 0) {
        /* left for the next run */
    }
}


int
main(void)
{
    snprintf(dir, sizeof(dir), "%s/mt-spool-test.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }

    test_names();
    test_lock();
    test_flush();
    test_nospace();
    test_whole();
    test_recover();

    cleanup();

    return done_testing();
}

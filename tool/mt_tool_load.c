
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mail-track load: sealed spool files into the database, exactly once.
 *
 * A transaction takes one file, or several small ones; in it go the
 * ledger row of each file (mail_files, keyed by the SHA-256 of its
 * content), its events (the event id is unique: a duplicate is counted
 * and skipped), the state of the messages and the suppressions that the
 * new events change.  Only after the commit is a file moved to loaded/
 * (or bad/, or removed with --delete).  A crash before the commit loads
 * the file again from scratch; a crash after it finds the file in the
 * ledger, and only moves it.
 *
 * With more than one transaction in a pass, a second thread reads and
 * decodes the files of the next transaction while this one writes the
 * last (mt_load_overlap()); the database and the moves are this
 * thread's alone.
 */


#include "mt_tool_load.h"
#include "mt_tool_query.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>


/*
 * A transaction: files until this many bytes (the module's default
 * max_size=, so one full file is a transaction of its own), or this many
 * files.  A larger transaction writes a message's row once for more of
 * its events: with a million events over 200,000 messages, 8 MiB
 * transactions rewrote 880,000 message rows, 64 MiB ones 480,000.
 */
#define MT_LOAD_TX_BYTES        (64 * 1024 * 1024)
#define MT_LOAD_TX_FILES        256

/* the first size of the event array; the live line every so many */
#define MT_LOAD_EVENTS          8192
#define MT_LOAD_DRAW_EVENTS     4096

#define MT_LOAD_RETRIES         8
#define MT_LOAD_DRAW_MS         200


/* the states of a transaction's slot */
#define MT_LOAD_TX_FREE         0
#define MT_LOAD_TX_READING      1
#define MT_LOAD_TX_READY        2

/* how often the loader waiting for the reader looks for a signal */
#define MT_LOAD_WAIT_MS         100


static int mt_load_usage(FILE *f);
static int mt_load_dirs(mt_load_t *ld);
static int mt_load_serial(mt_load_t *ld);
static int mt_load_overlap(mt_load_t *ld);
static void *mt_load_reader(void *data);
static int mt_load_aborted(mt_load_t *ld);
static int mt_load_read(mt_load_tx_t *tx, mt_load_entry_t *e, size_t n);
static void mt_load_tx_error(mt_load_tx_t *tx, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
static int mt_load_tx(mt_load_t *ld, mt_load_tx_t *tx);
static int mt_load_tx_once(mt_load_t *ld, mt_load_tx_t *tx);
static void mt_load_tx_undo(mt_load_tx_t *tx);
static void mt_load_tx_reset(mt_load_tx_t *tx);
static void mt_load_tx_free(mt_load_tx_t *tx);
static int mt_load_file(mt_load_tx_t *tx, mt_load_entry_t *e);
static int mt_load_hash(int fd, const char *path, char *hex, int64_t *size);
static void mt_load_host(const char *name, mt_str_t *host);
static int mt_load_record(void *data, const char *path, off_t offset,
    const msgpack_object *rec);
static void mt_load_damage(void *data, const char *path, off_t offset,
    const char *what);
static void mt_load_damaged(mt_load_tx_t *tx, off_t offset);
static int mt_load_batch(mt_load_tx_t *tx);
static int mt_load_flush(mt_load_t *ld);
static int mt_load_seen(mt_load_tx_t *tx, size_t k);
static int mt_load_seen_grow(mt_load_tx_t *tx);
static void mt_load_move(mt_load_t *ld, mt_load_file_t *f);
static int mt_load_mkdir(const char *dir, const char *sub, char *buf,
    size_t size);
static void mt_load_draw(mt_load_t *ld, int force);
static double mt_load_elapsed(mt_load_t *ld);
static void mt_load_signal(int signo);
static int mt_load_entry_cmp(const void *a, const void *b);


volatile sig_atomic_t  mt_load_stop;


static const struct option  mt_load_options[] = {
    { "db",       required_argument, NULL, 'd' },
    { "delete",   no_argument,       NULL, 'D' },
    { "follow",   no_argument,       NULL, 'f' },
    { "wait",     no_argument,       NULL, 'w' },
    { "quiet",    no_argument,       NULL, 'q' },
    { "no-overlap", no_argument,     NULL, 'O' },
    { "seal-key", required_argument, NULL, 'K' },
    { "hash-key", required_argument, NULL, 'k' },
    { "help",     no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static int
mt_load_usage(FILE *f)
{
    fprintf(f,
        "usage: " MT_TOOL_NAME " load SPOOL_DIR... --db URL [--follow] "
        "[--delete]\n"
        "           [--wait] [--quiet] [--no-overlap] [--seal-key FILE]\n"
        "           [--hash-key FILE]\n"
        "\n"
        "Loads the sealed spool files (*.mtspool, oldest first) of each\n"
        "SPOOL_DIR into the database, exactly once, and moves each file\n"
        "to SPOOL_DIR/loaded/ after its transaction commits (a damaged one\n"
        "to SPOOL_DIR/bad/).  An empty database gets the schema first.\n"
        "\n"
        "URL: sqlite:PATH, postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DB\n"
        "(also postgres://; libpq's PG* environment variables apply), or\n"
        "clickhouse://[USER[:PASSWORD]@]HOST[:PORT]/DB (CLICKHOUSE_USER,\n"
        "CLICKHOUSE_PASSWORD; ?secure=1 for HTTPS).\n"
        "\n"
        "options:\n"
        "  --db URL     the database; required\n"
        "  --follow     keep running: load each file as it is sealed, retry\n"
        "               an unreachable database with backoff; SIGTERM or\n"
        "               SIGINT finish the transaction in hand and exit 0\n"
        "  --delete     remove loaded files instead of moving them\n"
        "  --wait       wait for another loader's lock on a SPOOL_DIR\n"
        "               instead of exiting\n"
        "  --quiet      no progress line on a terminal\n"
        "  --no-overlap read the next transaction's files only after the\n"
        "               last one committed (by default a second thread\n"
        "               reads them while the database writes)\n"
        "  --seal-key FILE  the X25519 private key (PEM) that files\n"
        "               written with seal= are encrypted for\n"
        "  --hash-key FILE  the key of mail_track_rcpt hash (or\n"
        "               " MT_RCPT_KEY_ENV "): its id is recorded in the\n"
        "               database with the first hashed recipient, so\n"
        "               that lookups hash with it\n"
        "  -h, --help   this text\n"
        "\n"
        "Exit status: 0 all loaded; 1 a damaged file, a record that could\n"
        "not be loaded, a directory that could not be read, or a database\n"
        "error (nothing is moved then); 2 usage error.\n");

    return MT_TOOL_OK;
}


int
mt_load(int argc, char **argv)
{
    int               c, rc;
    size_t            i;
    mt_load_t         ld;
    const char       *seal_key, *hash_key;
    mt_rcpt_key_t     key;
    struct sigaction  sa;

    memset(&ld, 0, sizeof(mt_load_t));
    ld.overlap = 1;
    seal_key = NULL;
    hash_key = getenv(MT_RCPT_KEY_ENV);

    optind = 1;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", mt_load_options, NULL)) != -1)
    {
        switch (c) {
        case 'd':
            ld.url = optarg;
            break;
        case 'D':
            ld.del = 1;
            break;
        case 'f':
            ld.follow = 1;
            break;
        case 'w':
            ld.wait = 1;
            break;
        case 'q':
            ld.quiet = 1;
            break;
        case 'O':
            ld.overlap = 0;
            break;
        case 'K':
            seal_key = optarg;
            break;
        case 'k':
            hash_key = optarg;
            break;
        case 'h':
            return mt_load_usage(stdout);
        default:
            return mt_tool_bad_option("load", c, argv);
        }
    }

    if (ld.url == NULL) {
        return mt_tool_usage_error("load", "--db URL is required");
    }

    if (optind == argc) {
        return mt_tool_usage_error("load", "expected SPOOL_DIR arguments");
    }

    if (hash_key != NULL && hash_key[0] != '\0') {
        if (mt_rcpt_key_read(hash_key, &key) != 0) {
            return MT_TOOL_ERROR;
        }

        /* the id is all the loader needs: it never hashes */

        OPENSSL_cleanse(key.key, sizeof(key.key));
        ld.rcpt_key_id = key.id;
    }

    if (seal_key != NULL && mt_spool_seal_key(seal_key) != 0) {
        return MT_TOOL_ERROR;
    }

    ld.dirs = argv + optind;
    ld.ndirs = argc - optind;

    ld.locks = malloc(ld.ndirs * sizeof(int));
    if (ld.locks == NULL) {
        mt_tool_error("out of memory");
        return MT_TOOL_ERROR;
    }

    for (i = 0; i < ld.ndirs; i++) {
        ld.locks[i] = -1;
    }

    memset(&sa, 0, sizeof(struct sigaction));
    sa.sa_handler = mt_load_signal;
    sigemptyset(&sa.sa_mask);

    /* no SA_RESTART: a signal must cut a wait short */

    if (sigaction(SIGINT, &sa, NULL) == -1
        || sigaction(SIGTERM, &sa, NULL) == -1)
    {
        mt_tool_error("sigaction(): %s", strerror(errno));
        return MT_TOOL_ERROR;
    }

    ld.progress = !ld.quiet && isatty(STDERR_FILENO);

    clock_gettime(CLOCK_MONOTONIC, &ld.start);

    for (i = 0; i < 2; i++) {
        ld.txs[i].ld = &ld;
        mt_arena_init(&ld.txs[i].arena);
        mt_tool_buf_init(&ld.txs[i].tmp);
    }

    if (pthread_mutex_init(&ld.mutex, NULL) != 0
        || pthread_cond_init(&ld.cond, NULL) != 0)
    {
        mt_tool_error("pthread_mutex_init() failed");
        free(ld.locks);
        return MT_TOOL_ERROR;
    }

    rc = mt_load_dirs(&ld);

    if (rc == MT_TOOL_OK) {
        if (ld.follow) {
            (void) mt_load_follow(&ld);

        } else if (mt_load_connect(&ld) == MT_DB_OK) {
            (void) mt_load_pass(&ld);
        }

        mt_load_summary(&ld);

        rc = ld.failed ? MT_TOOL_ERROR : MT_TOOL_OK;
    }

    if (ld.connected) {
        mt_db_close(&ld.db);
    }

    for (i = 0; i < ld.ndirs; i++) {
        if (ld.locks[i] != -1) {
            (void) close(ld.locks[i]);
        }
    }

    mt_load_tx_free(&ld.txs[0]);
    mt_load_tx_free(&ld.txs[1]);

    (void) pthread_cond_destroy(&ld.cond);
    (void) pthread_mutex_destroy(&ld.mutex);

    free(ld.locks);
    mt_spool_seal_key_free();

    return rc;
}


/* each SPOOL_DIR a directory, and locked for us */

static int
mt_load_dirs(mt_load_t *ld)
{
    size_t       i;
    struct stat  st;

    for (i = 0; i < ld->ndirs; i++) {
        if (stat(ld->dirs[i], &st) == -1) {
            mt_tool_error("%s: %s", ld->dirs[i], strerror(errno));
            return MT_TOOL_ERROR;
        }

        if (!S_ISDIR(st.st_mode)) {
            mt_tool_error("%s: not a directory", ld->dirs[i]);
            return MT_TOOL_ERROR;
        }

        if (mt_load_lock(ld->dirs[i], ld->wait, &ld->locks[i]) != 0) {
            return MT_TOOL_ERROR;
        }
    }

    return MT_TOOL_OK;
}


int
mt_load_connect(mt_load_t *ld)
{
    int  rc;

    if (ld->connected) {
        return MT_DB_OK;
    }

    rc = mt_db_open(&ld->db, ld->url);

    if (rc == MT_DB_OK) {
        rc = mt_db_ready(&ld->db, 1);
    }

    if (rc != MT_DB_OK) {
        mt_db_close(&ld->db);
        ld->failed = 1;
        return rc;
    }

    ld->connected = 1;

    return MT_DB_OK;
}


/*
 * One pass over the spool directories: every sealed file there now,
 * oldest first.  Returns MT_DB_OK, or the database error that stopped
 * it (reported; the files of that transaction stay where they are).
 */

int
mt_load_pass(mt_load_t *ld)
{
    int               rc;
    char            **names;
    size_t            i, j, n, ntotal, nalloc, from;
    off_t             bytes, txmax;
    struct stat       st;
    mt_load_entry_t  *all, *p;

    all = NULL;
    ntotal = 0;
    nalloc = 0;
    rc = MT_DB_OK;

    for (i = 0; i < ld->ndirs; i++) {
        if (mt_spool_list(ld->dirs[i], &names, &n) != 0) {
            ld->failed = 1;
            continue;
        }

        for (j = 0; j < n; j++) {
            if (ntotal == nalloc) {
                nalloc = nalloc ? 2 * nalloc : 64;

                p = realloc(all, nalloc * sizeof(mt_load_entry_t));
                if (p == NULL) {
                    mt_spool_list_free(names, n);
                    goto nomem;
                }

                all = p;
            }

            p = &all[ntotal];
            p->dir = ld->dirs[i];
            p->name = names[j];
            p->path = malloc(strlen(ld->dirs[i]) + strlen(names[j]) + 2);

            if (p->path == NULL) {
                free(names[j]);
                for (j++; j < n; j++) {
                    free(names[j]);
                }
                free(names);
                goto nomem;
            }

            sprintf(p->path, "%s/%s", ld->dirs[i], names[j]);

            p->size = (stat(p->path, &st) == 0) ? st.st_size : 0;
            ntotal++;
        }

        free(names);
    }

    /* oldest first across directories too: the names start host-pid-ms */

    if (ntotal > 1) {
        qsort(all, ntotal, sizeof(mt_load_entry_t), mt_load_entry_cmp);
    }

    for (i = 0; i < ntotal; i++) {
        ld->bytes_total += all[i].size;
    }

    ld->files_total += ntotal;

    txmax = ld->db.backend->tx_bytes ? (off_t) ld->db.backend->tx_bytes
                                     : MT_LOAD_TX_BYTES;

    /* the transactions: groups[k] .. groups[k + 1] */

    ld->groups = malloc((ntotal + 1) * sizeof(size_t));
    if (ld->groups == NULL) {
        goto nomem;
    }

    ld->all = all;
    ld->ngroups = 0;

    for (from = 0; from < ntotal; from = i) {
        bytes = 0;

        for (i = from; i < ntotal && i - from < MT_LOAD_TX_FILES; i++) {
            if (i > from && bytes + all[i].size > txmax) {
                break;
            }

            bytes += all[i].size;
        }

        ld->groups[ld->ngroups++] = from;
    }

    ld->groups[ld->ngroups] = ntotal;

    if (ld->ngroups > 1 && ld->overlap) {
        rc = mt_load_overlap(ld);

    } else {
        rc = mt_load_serial(ld);
    }

    free(ld->groups);
    ld->groups = NULL;
    ld->all = NULL;

    mt_load_draw(ld, 1);

    for (i = 0; i < ntotal; i++) {
        free(all[i].name);
        free(all[i].path);
    }

    free(all);

    return rc;

nomem:

    mt_tool_error("out of memory");
    ld->failed = 1;

    for (i = 0; i < ntotal; i++) {
        free(all[i].name);
        free(all[i].path);
    }

    free(all);

    return MT_DB_ERROR;
}


/* by the time in the name (host-pid-ms-seq), then by name */

static int
mt_load_entry_cmp(const void *a, const void *b)
{
    int                     i;
    long long               t[2];
    const char             *p, *dash[3];
    const mt_load_entry_t  *e[2];

    e[0] = a;
    e[1] = b;

    for (i = 0; i < 2; i++) {
        t[i] = 0;
        dash[0] = dash[1] = dash[2] = NULL;

        for (p = e[i]->name; *p; p++) {
            if (*p == '-') {
                dash[0] = dash[1];
                dash[1] = dash[2];
                dash[2] = p;
            }
        }

        if (dash[1] != NULL) {
            t[i] = strtoll(dash[1] + 1, NULL, 10);
        }
    }

    if (t[0] != t[1]) {
        return t[0] < t[1] ? -1 : 1;
    }

    return strcmp(e[0]->name, e[1]->name);
}


/* the transactions one after the other, each read when it comes */

static int
mt_load_serial(mt_load_t *ld)
{
    int            rc;
    size_t         k;
    mt_load_tx_t  *tx;

    rc = MT_DB_OK;
    tx = &ld->txs[0];

    for (k = 0; k < ld->ngroups && !mt_load_stop; k++) {
        ld->tx = tx;

        tx->rc = mt_load_read(tx, &ld->all[ld->groups[k]],
                              ld->groups[k + 1] - ld->groups[k]);

        rc = mt_load_tx(ld, tx);

        ld->tx = NULL;
        mt_load_tx_reset(tx);

        if (rc != MT_DB_OK) {
            break;
        }
    }

    return rc;
}


/*
 * The transactions with a reading thread: while the database writes
 * transaction k, the thread reads and decodes the files of k + 1 into
 * the other slot.  The database sees only this thread, and a file moves
 * only after its own transaction committed, as without it; a stop asked
 * for finishes the transaction in hand and drops the one read ahead.
 */

static int
mt_load_overlap(mt_load_t *ld)
{
    int              rc, err, ready;
    size_t           k;
    sigset_t         set, old;
    pthread_t        reader;
    mt_load_tx_t    *tx;
    struct timespec  until;

    ld->abort = 0;

    /* the signals stay with this thread: they cut its waits short */

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    (void) pthread_sigmask(SIG_BLOCK, &set, &old);

    err = pthread_create(&reader, NULL, mt_load_reader, ld);

    (void) pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (err != 0) {
        mt_load_clear(ld);
        mt_tool_error("pthread_create(): %s; reading in turn",
                      strerror(err));
        return mt_load_serial(ld);
    }

    rc = MT_DB_OK;

    for (k = 0; k < ld->ngroups; k++) {
        tx = &ld->txs[k & 1];

        (void) pthread_mutex_lock(&ld->mutex);

        while (tx->state != MT_LOAD_TX_READY && !mt_load_stop) {
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += MT_LOAD_WAIT_MS * 1000000L;

            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }

            (void) pthread_cond_timedwait(&ld->cond, &ld->mutex, &until);
        }

        ready = (tx->state == MT_LOAD_TX_READY);

        (void) pthread_mutex_unlock(&ld->mutex);

        if (!ready) {
            break;
        }

        ld->tx = tx;

        rc = mt_load_tx(ld, tx);

        ld->tx = NULL;
        mt_load_tx_reset(tx);

        (void) pthread_mutex_lock(&ld->mutex);
        tx->state = MT_LOAD_TX_FREE;
        (void) pthread_cond_broadcast(&ld->cond);
        (void) pthread_mutex_unlock(&ld->mutex);

        if (rc != MT_DB_OK || mt_load_stop) {
            break;
        }
    }

    (void) pthread_mutex_lock(&ld->mutex);
    ld->abort = 1;
    (void) pthread_cond_broadcast(&ld->cond);
    (void) pthread_mutex_unlock(&ld->mutex);

    (void) pthread_join(reader, NULL);

    /* what was read ahead and not written: read again next time */

    for (k = 0; k < 2; k++) {
        mt_load_tx_reset(&ld->txs[k]);
        ld->txs[k].state = MT_LOAD_TX_FREE;
    }

    return rc;
}


/* the reading thread: each transaction's files into a free slot */

static void *
mt_load_reader(void *data)
{
    mt_load_t     *ld = data;
    int            rc;
    size_t         k;
    mt_load_tx_t  *tx;

    for (k = 0; k < ld->ngroups; k++) {
        tx = &ld->txs[k & 1];

        (void) pthread_mutex_lock(&ld->mutex);

        while (tx->state != MT_LOAD_TX_FREE && !ld->abort) {
            (void) pthread_cond_wait(&ld->cond, &ld->mutex);
        }

        if (ld->abort) {
            (void) pthread_mutex_unlock(&ld->mutex);
            break;
        }

        tx->state = MT_LOAD_TX_READING;

        (void) pthread_mutex_unlock(&ld->mutex);

        rc = mt_load_read(tx, &ld->all[ld->groups[k]],
                          ld->groups[k + 1] - ld->groups[k]);

        (void) pthread_mutex_lock(&ld->mutex);
        tx->rc = rc;
        tx->state = MT_LOAD_TX_READY;
        (void) pthread_cond_broadcast(&ld->cond);
        (void) pthread_mutex_unlock(&ld->mutex);

        if (rc != MT_DB_OK) {
            break;
        }
    }

    return NULL;
}


/* the reading thread is to stop: its transaction will not be written */

static int
mt_load_aborted(mt_load_t *ld)
{
    int  stop;

    if (!ld->overlap) {
        return 0;
    }

    (void) pthread_mutex_lock(&ld->mutex);
    stop = ld->abort;
    (void) pthread_mutex_unlock(&ld->mutex);

    return stop;
}


/*
 * The files of a transaction read, hashed and decoded, without the
 * database: MT_DB_OK, or MT_DB_ERROR (out of memory, in tx->err).  A
 * file that cannot be read is reported and left out (vanished).
 */

static int
mt_load_read(mt_load_tx_t *tx, mt_load_entry_t *e, size_t n)
{
    int              rc;
    size_t           i;
    mt_load_file_t  *f;

    tx->e = e;
    tx->n = n;

    if (tx->files_alloc < n) {
        f = realloc(tx->files, n * sizeof(mt_load_file_t));
        if (f == NULL) {
            mt_load_tx_error(tx, "out of memory");
            return MT_DB_ERROR;
        }

        tx->files = f;
        tx->files_alloc = n;
    }

    for (i = 0; i < n; i++) {
        if (mt_load_aborted(tx->ld)) {
            mt_load_tx_error(tx, "stopped");
            return MT_DB_ERROR;
        }

        rc = mt_load_file(tx, &e[i]);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    /*
     * Ahead of the database too: the transaction's new ids, and their
     * messages' states as if none was in the database before (the
     * loader does them again when a file or an id was)
     */

    if (mt_load_batch(tx) != 0
        || mt_load_messages_group(tx, tx->ld->db.backend->per_event) != 0)
    {
        mt_load_tx_error(tx, "out of memory");
        return MT_DB_ERROR;
    }

    return MT_DB_OK;
}


static void
mt_load_tx_error(mt_load_tx_t *tx, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    (void) vsnprintf(tx->err, sizeof(tx->err), fmt, args);
    va_end(args);
}


/* a transaction read, into the database; again when the database asks */

static int
mt_load_tx(mt_load_t *ld, mt_load_tx_t *tx)
{
    int       rc, tries;
    size_t    i;
    uint64_t  done;

    if (tx->failed) {
        ld->failed = 1;
    }

    rc = tx->rc;

    for (tries = 0; rc == MT_DB_OK; tries++) {
        done = ld->bytes_done;

        rc = mt_load_tx_once(ld, tx);

        if (rc == MT_DB_OK) {
            break;
        }

        ld->db.backend->rollback(&ld->db);
        ld->bytes_done = done;

        if (rc != MT_DB_RETRY || tries == MT_LOAD_RETRIES) {
            break;
        }

        mt_load_tx_undo(tx);
        usleep(10000 << mt_min(tries, 6));
        rc = MT_DB_OK;
    }

    if (rc != MT_DB_OK) {
        if (tx->rc != MT_DB_OK) {
            mt_db_error(&ld->db, "%s", tx->err);
        }

        mt_load_clear(ld);
        mt_tool_error("%s: %s (nothing of %s moved)", ld->db.url,
                      ld->db.err, tx->n == 1 ? tx->e[0].path : "these files");
        ld->failed = 1;
        return rc;
    }

    for (i = 0; i < tx->nfiles; i++) {
        mt_load_move(ld, &tx->files[i]);
    }

    mt_load_draw(ld, 0);

    return MT_DB_OK;
}


static int
mt_load_tx_once(mt_load_t *ld, mt_load_tx_t *tx)
{
    int              rc, loaded;
    size_t           i, j;
    mt_load_file_t  *f;

    rc = ld->db.backend->begin(&ld->db);
    if (rc != MT_DB_OK) {
        return rc;
    }

    /* the ledger rows: a file loaded before only moves */

    for (i = 0; i < tx->nfiles; i++) {
        f = &tx->files[i];

        if (f->vanished) {
            continue;
        }

        rc = ld->db.backend->file_add(&ld->db, &f->db, &loaded);
        if (rc != MT_DB_OK) {
            return rc;
        }

        ld->bytes_done += f->db.size;

        if (loaded) {
            f->loaded_before = 1;
            continue;
        }

        for (j = f->first; j < f->last; j++) {
            tx->ev[j]->file_id = f->db.file_id;
        }
    }

    rc = mt_load_flush(ld);
    if (rc != MT_DB_OK) {
        return rc;
    }

    rc = mt_load_messages(ld);
    if (rc != MT_DB_OK) {
        return rc;
    }

    rc = mt_load_suppressions(ld);
    if (rc != MT_DB_OK) {
        return rc;
    }

    if (tx->rcpt_hashed && !ld->rcpt_known) {
        rc = mt_rcpt_key_loaded(&ld->db, ld->rcpt_key_id);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    for (i = 0; i < tx->nfiles; i++) {
        f = &tx->files[i];

        if (f->loaded_before || f->vanished) {
            continue;
        }

        rc = ld->db.backend->file_done(&ld->db, &f->db);
        if (rc != MT_DB_OK) {
            return rc;
        }
    }

    rc = ld->db.backend->commit(&ld->db);
    if (rc != MT_DB_OK) {
        return rc;
    }

    /* committed: now the counts are true */

    if (tx->rcpt_hashed) {
        ld->rcpt_known = 1;
    }

    for (i = 0; i < tx->nfiles; i++) {
        f = &tx->files[i];

        if (f->vanished) {
            ld->n_vanished++;
            continue;
        }

        if (f->loaded_before) {
            ld->n_before++;
            continue;
        }

        ld->n_files++;
        ld->n_events += f->db.events;
        ld->n_dups += f->db.duplicates;
        ld->n_invalid += f->db.invalid;
        ld->n_repaired += f->db.repaired;
    }

    return MT_DB_OK;
}


/* a transaction rolled back, to be written again: as it was read */

static void
mt_load_tx_undo(mt_load_tx_t *tx)
{
    size_t           i;
    mt_load_file_t  *f;

    for (i = 0; i < tx->nfiles; i++) {
        f = &tx->files[i];
        f->loaded_before = 0;
        f->db.file_id = 0;
        f->db.events = 0;
        f->db.duplicates = 0;
    }

    mt_load_messages_drop(tx);
}


/* the transaction's memory; the files keep their paths until moved */

static void
mt_load_tx_reset(mt_load_tx_t *tx)
{
    size_t  i;

    for (i = 0; i < tx->nfiles; i++) {
        free(tx->files[i].path);
    }

    tx->nfiles = 0;
    tx->nev = 0;
    tx->cur = NULL;
    tx->rc = MT_DB_OK;
    tx->rcpt_hashed = 0;
    tx->failed = 0;
    tx->err[0] = '\0';
    tx->batch = NULL;
    tx->nbatch = 0;
    tx->batched = 0;

    mt_load_messages_drop(tx);

    if (tx->nseen) {
        memset(tx->ids, 0, tx->nids * sizeof(uint64_t));
        tx->nseen = 0;
    }

    mt_arena_free(&tx->arena);
}


static void
mt_load_tx_free(mt_load_tx_t *tx)
{
    mt_load_tx_reset(tx);

    free(tx->ev);
    free(tx->files);
    free(tx->ids);
    mt_tool_buf_free(&tx->tmp);
}


static int
mt_load_file(mt_load_tx_t *tx, mt_load_entry_t *e)
{
    int              fd, rc;
    mt_load_t       *ld;
    mt_load_file_t  *f;

    ld = tx->ld;
    f = &tx->files[tx->nfiles];
    memset(f, 0, sizeof(mt_load_file_t));

    f->path = strdup(e->path);
    if (f->path == NULL) {
        mt_load_tx_error(tx, "out of memory");
        return MT_DB_ERROR;
    }

    tx->nfiles++;

    f->dir = e->dir;
    f->name = f->path + strlen(e->dir) + 1;
    f->db.name = f->name;
    f->db.damaged_at = -1;

    mt_load_host(f->name, &f->db.host);

    fd = open(f->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd == -1) {
        mt_load_say(ld, 1);

        if (errno == ENOENT) {
            /* taken away since the listing: nothing to do */
            fprintf(stderr, "%s: %s: gone before it was read, skipped\n",
                    MT_TOOL_NAME, f->path);

        } else {
            mt_tool_error("%s: %s", f->path, strerror(errno));
            tx->failed = 1;
        }

        mt_load_say(ld, 0);
        f->vanished = 1;
        return MT_DB_OK;
    }

    /*
     * sealed for a key not given (or in a newer version): not damaged,
     * and not to be recorded as loaded; it stays for a loader that can
     */

    mt_load_say(ld, 1);

    rc = mt_spool_cannot_open(fd, f->path);

    if (rc == 1) {
        fprintf(stderr, "%s: %s: left where it is\n", MT_TOOL_NAME, f->path);
    }

    mt_load_say(ld, 0);

    if (rc != 0) {
        (void) close(fd);
        tx->failed = 1;
        f->vanished = 1;
        return MT_DB_OK;
    }

    if (mt_load_hash(fd, f->path, f->db.sha256, &f->db.size) != 0) {
        (void) close(fd);
        tx->failed = 1;
        f->vanished = 1;
        return MT_DB_OK;
    }

    tx->cur = f;
    tx->dbrc = MT_DB_OK;
    f->first = tx->nev;

    if (lseek(fd, 0, SEEK_SET) == -1) {
        mt_load_tx_error(tx, "%s: lseek(): %s", f->path, strerror(errno));
        (void) close(fd);
        return MT_DB_ERROR;
    }

    rc = mt_spool_read_fd(fd, f->path, mt_load_record, mt_load_damage, tx);

    (void) close(fd);

    if (rc == -1 && tx->dbrc != MT_DB_OK) {
        /* memory, or a stop, ended the reading */
        return tx->dbrc;
    }

    if (rc == -1) {
        /* a read error, reported: what was read is loaded, the file bad */
        mt_load_damaged(tx, 0);
    }

    f->last = tx->nev;
    tx->cur = NULL;

    return MT_DB_OK;
}


static int
mt_load_hash(int fd, const char *path, char *hex, int64_t *size)
{
    u_char          buf[65536], md[EVP_MAX_MD_SIZE];
    ssize_t         n;
    unsigned        i, mdlen;
    EVP_MD_CTX     *ctx;
    static const char  digits[] = "0123456789abcdef";

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        mt_tool_error("out of memory");
        return -1;
    }

    *size = 0;

    for ( ;; ) {
        n = read(fd, buf, sizeof(buf));

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1) {
            mt_tool_error("%s: read(): %s", path, strerror(errno));
            EVP_MD_CTX_free(ctx);
            return -1;
        }

        if (n == 0) {
            break;
        }

        EVP_DigestUpdate(ctx, buf, n);
        *size += n;
    }

    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);

    for (i = 0; i < mdlen; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0xf];
    }

    hex[2 * mdlen] = '\0';

    return 0;
}


/* <host>-<pid>-<unix_ms>-<seq>.mtspool: the host may hold dashes */

static void
mt_load_host(const char *name, mt_str_t *host)
{
    int          n;
    const char  *p;

    n = 0;
    host->len = 0;
    host->data = (u_char *) name;

    for (p = name + strlen(name); p > name; p--) {
        if (p[-1] == '-' && ++n == 3) {
            host->len = p - 1 - name;
            return;
        }
    }
}


static int
mt_load_record(void *data, const char *path, off_t offset,
    const msgpack_object *rec)
{
    mt_load_tx_t   *tx = data;
    const char     *err;
    mt_db_event_t  *e, **p;
    size_t          nalloc;

    if (tx->nev % MT_LOAD_DRAW_EVENTS == 0 && tx->nev != 0) {
        if (mt_load_aborted(tx->ld)) {
            mt_load_tx_error(tx, "stopped");
            tx->dbrc = MT_DB_ERROR;
            return -1;
        }

        if (!tx->ld->overlap) {
            mt_load_draw(tx->ld, 0);
        }
    }

    if (tx->nev == tx->nalloc) {
        nalloc = tx->nalloc ? 2 * tx->nalloc : MT_LOAD_EVENTS;

        p = realloc(tx->ev, nalloc * sizeof(mt_db_event_t *));
        if (p == NULL) {
            mt_load_tx_error(tx, "out of memory");
            tx->dbrc = MT_DB_ERROR;
            return -1;
        }

        tx->ev = p;
        tx->nalloc = nalloc;
    }

    e = mt_arena_alloc(&tx->arena, sizeof(mt_db_event_t));
    if (e == NULL) {
        mt_load_tx_error(tx, "out of memory");
        tx->dbrc = MT_DB_ERROR;
        return -1;
    }

    if (mt_record_decode(rec, e, &tx->arena, &tx->tmp, &err) != 0) {
        mt_load_say(tx->ld, 1);
        fprintf(stderr, "%s: record at byte %" PRId64 " not loaded: %s\n",
                path, (int64_t) offset, err);
        mt_load_say(tx->ld, 0);

        tx->cur->db.invalid++;
        mt_load_damaged(tx, offset);

        return 0;
    }

    tx->cur->db.repaired += e->repaired;
    tx->ev[tx->nev++] = e;

    if (e->ev.rcpt.len == MT_RCPT_HASH_HEX
        && mt_rcpt_is_hash(e->ev.rcpt.data, e->ev.rcpt.len))
    {
        tx->rcpt_hashed = 1;
    }

    return 0;
}


static void
mt_load_damage(void *data, const char *path, off_t offset, const char *what)
{
    mt_load_tx_t  *tx = data;

    mt_load_say(tx->ld, 1);
    fprintf(stderr, "%s: %s at byte %" PRId64 "\n", path, what,
            (int64_t) offset);
    mt_load_say(tx->ld, 0);

    mt_load_damaged(tx, offset);
}


static void
mt_load_damaged(mt_load_tx_t *tx, off_t offset)
{
    if (tx->cur->db.damaged_at < 0 || offset < tx->cur->db.damaged_at) {
        tx->cur->db.damaged_at = offset;
    }
}


/*
 * The transaction's batch: the events of the ids met first here (an id
 * met again, in the same file or another, is a duplicate there), not of
 * files loaded before; marked new until the database says.  -1: out of
 * memory.
 */

static int
mt_load_batch(mt_load_tx_t *tx)
{
    int              rc;
    size_t           i, k;
    mt_load_file_t  *f;

    tx->batched = 0;
    tx->nbatch = 0;

    if (tx->nseen) {
        memset(tx->ids, 0, tx->nids * sizeof(uint64_t));
        tx->nseen = 0;
    }

    tx->batch = mt_arena_alloc(&tx->arena,
                               (tx->nev + 1) * sizeof(mt_db_event_t *));
    if (tx->batch == NULL) {
        return -1;
    }

    for (k = 0; k < tx->nfiles; k++) {
        f = &tx->files[k];

        for (i = f->first; i < f->last; i++) {
            tx->ev[i]->is_new = 0;

            if (f->loaded_before) {
                continue;
            }

            rc = mt_load_seen(tx, i);

            if (rc == -1) {
                return -1;
            }

            if (rc == 0) {
                tx->ev[i]->is_new = 1;
                tx->batch[tx->nbatch++] = tx->ev[i];
            }
        }
    }

    tx->batched = 1;

    return 0;
}


/*
 * The batch into the database, in one call: one statement for all, the
 * ids locked in one order.  What the reading thread made ahead is taken
 * when no file was loaded before, its messages' states when every id
 * was new in the database.
 */

static int
mt_load_flush(mt_load_t *ld)
{
    int              rc, all_new;
    size_t           i, k;
    mt_load_tx_t    *tx;
    mt_load_file_t  *f;

    tx = ld->tx;

    if (tx->nev == 0) {
        return MT_DB_OK;
    }

    for (k = 0; k < tx->nfiles; k++) {
        if (tx->files[k].loaded_before) {
            tx->batched = 0;
            break;
        }
    }

    if (!tx->batched) {
        mt_load_messages_drop(tx);

        if (mt_load_batch(tx) != 0) {
            mt_db_error(&ld->db, "out of memory");
            return MT_DB_ERROR;
        }
    }

    for (i = 0; i < tx->nbatch; i++) {
        tx->batch[i]->is_new = 0;
    }

    rc = ld->db.backend->insert_events(&ld->db, tx->batch, tx->nbatch);
    if (rc != MT_DB_OK) {
        return rc;
    }

    all_new = 1;

    for (i = 0; i < tx->nbatch; i++) {
        if (!tx->batch[i]->is_new) {
            all_new = 0;
            break;
        }
    }

    if (!all_new) {
        mt_load_messages_drop(tx);
    }

    for (k = 0; k < tx->nfiles; k++) {
        f = &tx->files[k];

        if (f->loaded_before) {
            continue;
        }

        for (i = f->first; i < f->last; i++) {
            if (tx->ev[i]->is_new) {
                f->db.events++;

            } else {
                f->db.duplicates++;
            }
        }
    }

    mt_load_draw(ld, 0);

    return MT_DB_OK;
}


/*
 * 1 if an event before tx->ev[k] in the transaction had its id, else 0
 * (and tx->ev[k] is remembered); -1 out of memory.  An open-addressing
 * set, at most half full, of the ids' hashes (high 32 bits) and their
 * positions in tx->ev plus 1 (low 32 bits, 0: an empty slot): the
 * events are looked at only when the hashes are equal.
 */

static int
mt_load_seen(mt_load_tx_t *tx, size_t k)
{
    size_t          i, mask;
    uint64_t        h;
    mt_db_event_t  *e, *o;

    if (2 * (tx->nseen + 1) > tx->nids && mt_load_seen_grow(tx) != 0) {
        return -1;
    }

    e = tx->ev[k];
    h = mt_db_str_hash(&e->ev.id);
    mask = tx->nids - 1;

    for (i = h & mask; tx->ids[i] != 0; i = (i + 1) & mask) {
        if ((tx->ids[i] >> 32) != h) {
            continue;
        }

        o = tx->ev[(uint32_t) tx->ids[i] - 1];

        if (mt_db_str_cmp(&o->ev.id, &e->ev.id) == 0) {
            return 1;
        }
    }

    tx->ids[i] = (h << 32) | (k + 1);
    tx->nseen++;

    return 0;
}


static int
mt_load_seen_grow(mt_load_tx_t *tx)
{
    size_t     i, j, size, mask;
    uint64_t  *ids;

    size = tx->nids ? 2 * tx->nids : 2 * MT_LOAD_EVENTS;

    ids = calloc(size, sizeof(uint64_t));
    if (ids == NULL) {
        return -1;
    }

    mask = size - 1;

    for (i = 0; i < tx->nids; i++) {
        if (tx->ids[i] == 0) {
            continue;
        }

        for (j = (tx->ids[i] >> 32) & mask; ids[j] != 0; j = (j + 1) & mask)
        { /* void */ }

        ids[j] = tx->ids[i];
    }

    free(tx->ids);
    tx->ids = ids;
    tx->nids = size;

    return 0;
}


/* after the commit: to loaded/ (or removed), a damaged one to bad/ */

static void
mt_load_move(mt_load_t *ld, mt_load_file_t *f)
{
    char         to[4096];
    const char  *sub;

    if (f->vanished) {
        return;
    }

    if (f->db.damaged_at >= 0) {
        sub = MT_LOAD_BAD_DIR;
        ld->n_bad++;
        ld->failed = 1;

    } else if (ld->del) {
        if (unlink(f->path) == -1 && errno != ENOENT) {
            mt_load_clear(ld);
            mt_tool_error("%s: loaded, but unlink(): %s", f->path,
                          strerror(errno));
            ld->failed = 1;
        }

        return;

    } else {
        sub = MT_LOAD_LOADED_DIR;
    }

    if (mt_load_mkdir(f->dir, sub, to, sizeof(to)) != 0) {
        ld->failed = 1;
        return;
    }

    if (strlen(to) + 1 + strlen(f->name) + 1 > sizeof(to)) {
        mt_tool_error("%s: path too long", f->path);
        ld->failed = 1;
        return;
    }

    strcat(to, "/");
    strcat(to, f->name);

    if (rename(f->path, to) == -1) {
        mt_load_clear(ld);
        mt_tool_error("%s: loaded, but rename() to %s: %s", f->path, to,
                      strerror(errno));
        ld->failed = 1;
        return;
    }

    if (f->db.damaged_at >= 0) {
        mt_load_clear(ld);
        fprintf(stderr, "%s: %s: damaged from byte %" PRId64 ": %" PRId64
                " events loaded, %" PRId64 " records not; moved to %s\n",
                MT_TOOL_NAME, f->path, f->db.damaged_at, f->db.events,
                f->db.invalid, to);
    }
}


static int
mt_load_mkdir(const char *dir, const char *sub, char *buf, size_t size)
{
    if ((size_t) snprintf(buf, size, "%s/%s", dir, sub) >= size) {
        mt_tool_error("%s: path too long", dir);
        return -1;
    }

    if (mkdir(buf, 0750) == -1 && errno != EEXIST) {
        mt_tool_error("%s: mkdir(): %s", buf, strerror(errno));
        return -1;
    }

    return 0;
}


/* the live line on a terminal */

static void
mt_load_draw(mt_load_t *ld, int force)
{
    double           t, rate, eta;
    size_t           nev, nfiles;
    int64_t          ms;
    struct timespec  now;

    if (!ld->progress) {
        return;
    }

    clock_gettime(CLOCK_MONOTONIC, &now);

    ms = (now.tv_sec - ld->drawn.tv_sec) * 1000
         + (now.tv_nsec - ld->drawn.tv_nsec) / 1000000;

    if (!force && ms < MT_LOAD_DRAW_MS) {
        return;
    }

    ld->drawn = now;
    nev = (ld->tx != NULL) ? ld->tx->nev : 0;
    nfiles = (ld->tx != NULL) ? ld->tx->nfiles : 0;

    t = mt_load_elapsed(ld);
    rate = t > 0 ? (ld->n_events + nev) / t : 0;
    eta = (t > 0 && ld->bytes_done)
          ? (double) (ld->bytes_total - ld->bytes_done)
            * t / ld->bytes_done
          : 0;

    (void) pthread_mutex_lock(&ld->mutex);

    fprintf(stderr, "\r\033[Kloading: %" PRIu64 "/%" PRIu64 " files, %"
            PRIu64 " events, %.0f events/s, ETA %d:%02d",
            ld->n_files + ld->n_before + nfiles, ld->files_total,
            ld->n_events + (uint64_t) nev, rate, (int) eta / 60,
            (int) eta % 60);

    ld->shown = 1;

    (void) pthread_mutex_unlock(&ld->mutex);
}


/* before any other line on stderr */

void
mt_load_clear(mt_load_t *ld)
{
    mt_load_say(ld, 1);
    mt_load_say(ld, 0);
}


/*
 * Around a message on stderr from either thread: begin takes stderr and
 * clears the live line, the end gives stderr back.
 */

void
mt_load_say(mt_load_t *ld, int begin)
{
    if (!begin) {
        (void) pthread_mutex_unlock(&ld->mutex);
        return;
    }

    (void) pthread_mutex_lock(&ld->mutex);

    if (ld->shown) {
        fputs("\r\033[K", stderr);
        ld->shown = 0;
    }
}


void
mt_load_summary(mt_load_t *ld)
{
    double  t;

    mt_load_clear(ld);

    t = mt_load_elapsed(ld);

    fprintf(stderr, "%s load: %" PRIu64 " files, %" PRIu64 " events loaded, "
            "%" PRIu64 " duplicates, %" PRIu64 " not loadable, %" PRIu64
            " bad files, %" PRIu64 " loaded before, %.1f s, %.0f events/s\n",
            MT_TOOL_NAME, ld->n_files, ld->n_events, ld->n_dups,
            ld->n_invalid, ld->n_bad, ld->n_before, t,
            t > 0 ? ld->n_events / t : 0.0);
}


static double
mt_load_elapsed(mt_load_t *ld)
{
    struct timespec  now;

    clock_gettime(CLOCK_MONOTONIC, &now);

    return (now.tv_sec - ld->start.tv_sec)
           + (now.tv_nsec - ld->start.tv_nsec) / 1e9;
}


static void
mt_load_signal(int signo)
{
    (void) signo;

    mt_load_stop = 1;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The spool writer.  Records wait in the zone's queue until one worker,
 * holding the flush role, copies a batch out, appends it to the shared
 * .part file in a thread (core/mt_spool.c) and, once that succeeded,
 * consumes the batch.  A failed write leaves the records queued; a
 * worker that dies holding the role leaves at most an uncommitted tail,
 * which the next holder cuts.
 *
 * A batch is capped at the room the .part has left before max_size and
 * at NGX_HTTP_MAIL_TRACK_BATCH_MAX; while the disk is full it is halved
 * down to one record, and a .part that cannot take even that is sealed,
 * so that what fits is written and readable and the rest stays queued.
 *
 * durable_seq: every record below it is in a file whose data and name
 * are on disk.  A flush makes its batch durable when asked (fsync=on, a
 * durable record, a waiter's sync_seq); with durable acks in use a .part
 * is also synced before it is sealed, so that the files before the
 * current one never leave a gap; should there be one (the configuration
 * changed), syncfs() closes it.
 */


#include "ngx_http_mail_track_spool.h"
#include "ngx_http_mail_track_queue.h"
#include "mt_spool.h"


#define NGX_HTTP_MAIL_TRACK_BATCH_MAX      (2 * 1024 * 1024)
#define NGX_HTTP_MAIL_TRACK_EXIT_WAIT      10000
#define NGX_HTTP_MAIL_TRACK_RETRY          1000
#define NGX_HTTP_MAIL_TRACK_RECOVER_RETRY  60000

#define NGX_HTTP_MAIL_TRACK_HOOKS_ENV      "MAIL_TRACK_TEST_HOOKS"


typedef struct {
    mt_spool_flush_t            io;
    mt_spool_crypt_t            crypt;
    mt_spool_recover_t          rv;
    ngx_uint_t                  recover;
    ngx_uint_t                  n;
    size_t                      ring_bytes;
    uint64_t                    first_seq;
    ngx_uint_t                  more;
    ngx_uint_t                  hooks;
    ngx_log_t                  *log;
    volatile ngx_uint_t         done;
    u_char                      path[NGX_MAX_PATH + 1];
    u_char                      sealed_path[NGX_MAX_PATH + 1];
    u_char                      part_dir[NGX_MAX_PATH + 1];
    u_char                      dir[NGX_MAX_PATH + 1];
} ngx_http_mail_track_flush_t;


typedef struct {
    ngx_http_mail_track_zone_t        *zone;
    ngx_http_mail_track_spool_conf_t  *conf;
    ngx_log_t                         *log;
    ngx_event_t                        timer;
    ngx_event_t                        kick;
    u_char                            *buf;        /* MT_SEAL_HEADROOM, */
    u_char                            *data;       /* then the records */
    size_t                             buf_size;
    mt_seal_ctx_t                      seal;
    ngx_http_mail_track_role_t         role;
    ngx_msec_t                         last_error;
    int                                part_fd;
    ngx_uint_t                         part_gen;
    ngx_uint_t                         busy;
    ngx_uint_t                         exiting;
    ngx_uint_t                         hooks;
    ngx_http_mail_track_flush_t       *flush;
    mt_seal_key_t                      key;        /* the zone's seal= */
#if (NGX_THREADS)
    ngx_thread_task_t                 *task;
#endif
} ngx_http_mail_track_spool_t;


static void ngx_http_mail_track_spool_publish(ngx_http_mail_track_spool_t *sp);
static void ngx_http_mail_track_spool_timer(ngx_event_t *ev);
static void ngx_http_mail_track_spool_kick(ngx_event_t *ev);
static void ngx_http_mail_track_spool_follow(ngx_http_mail_track_spool_t *sp);
static ngx_int_t ngx_http_mail_track_spool_key(
    ngx_http_mail_track_spool_t *sp);
static ngx_int_t ngx_http_mail_track_spool_prepare(
    ngx_http_mail_track_spool_t *sp, ngx_uint_t max, ngx_uint_t exiting);
static void ngx_http_mail_track_spool_flush(ngx_http_mail_track_spool_t *sp);
static void ngx_http_mail_track_spool_write(void *data, ngx_log_t *log);
static void ngx_http_mail_track_spool_recovered(
    ngx_http_mail_track_spool_t *sp, int64_t now);
static void ngx_http_mail_track_spool_done(ngx_http_mail_track_spool_t *sp);
#if (NGX_THREADS)
static void ngx_http_mail_track_spool_thread_done(ngx_event_t *ev);
#endif
static void ngx_http_mail_track_spool_log(void *data, int level, int err,
    const char *msg);
static void ngx_http_mail_track_spool_hook(ngx_log_t *log, u_char *dir,
    const char *name);


static ngx_http_mail_track_spool_t  ngx_http_mail_track_spool_worker;


ngx_int_t
ngx_http_mail_track_spool_flush_init(ngx_cycle_t *cycle,
    ngx_http_mail_track_zone_t *zone, ngx_http_mail_track_spool_conf_t *scf)
{
    ngx_http_mail_track_spool_t  *sp;

    sp = &ngx_http_mail_track_spool_worker;

    sp->zone = zone;
    sp->conf = scf;
    sp->log = cycle->log;
    sp->busy = 0;
    sp->part_fd = -1;
    sp->part_gen = (ngx_uint_t) -1;
    ngx_http_mail_track_spool_role_init(&sp->role);

    /* only an "env" line in nginx.conf can set it */

    if (getenv(NGX_HTTP_MAIL_TRACK_HOOKS_ENV) != NULL) {
        sp->hooks = 1;
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "mail_track spool: test hooks are on ("
                      NGX_HTTP_MAIL_TRACK_HOOKS_ENV ")");
    }

    sp->buf_size = ngx_min(zone->sh->ring_size,
                           NGX_HTTP_MAIL_TRACK_BATCH_MAX);
    sp->buf_size = ngx_max(sp->buf_size, MT_RECORD_MAX);

    /* room to seal a batch in place (seal=) */

    sp->buf = ngx_alloc(MT_SEAL_HEADROOM + sp->buf_size + MT_SEAL_TAILROOM,
                        cycle->log);
    if (sp->buf == NULL) {
        return NGX_ERROR;
    }

    sp->data = sp->buf + MT_SEAL_HEADROOM;


#if (NGX_THREADS)
    sp->task = ngx_thread_task_alloc(cycle->pool,
                                     sizeof(ngx_http_mail_track_flush_t));
    if (sp->task == NULL) {
        return NGX_ERROR;
    }

    sp->flush = sp->task->ctx;
    sp->task->handler = ngx_http_mail_track_spool_write;
    sp->task->event.handler = ngx_http_mail_track_spool_thread_done;
    sp->task->event.data = sp;
    sp->task->event.log = cycle->log;
#else
    sp->flush = ngx_pcalloc(cycle->pool, sizeof(ngx_http_mail_track_flush_t));
    if (sp->flush == NULL) {
        return NGX_ERROR;
    }
#endif

    sp->flush->io.fd = -1;

    sp->timer.handler = ngx_http_mail_track_spool_timer;
    sp->timer.data = sp;
    sp->timer.log = cycle->log;
    sp->timer.cancelable = 1;

    sp->kick.handler = ngx_http_mail_track_spool_kick;
    sp->kick.data = sp;
    sp->kick.log = cycle->log;

    ngx_http_mail_track_spool_publish(sp);
    ngx_http_mail_track_spool_follow(sp);

    /* spread the workers' timers over the interval */

    ngx_add_timer(&sp->timer,
                  scf->flush / 2 + (ngx_pid % 97) * scf->flush / 194);

    return NGX_OK;
}


/*
 * A worker that starts has the newest configuration (reload or respawn
 * alike): the zone takes its spool settings, and a new path is scanned
 * for files an earlier run left there.
 */

static void
ngx_http_mail_track_spool_publish(ngx_http_mail_track_spool_t *sp)
{
    ngx_uint_t                         moved;
    ngx_http_mail_track_sh_t          *sh;
    ngx_http_mail_track_spool_sh_t    *ss;
    ngx_http_mail_track_spool_conf_t  *scf;

    sh = sp->zone->sh;
    ss = &sh->spool;
    scf = sp->conf;

    ngx_shmtx_lock(&sp->zone->shpool->mutex);

    moved = (ngx_strlen(ss->path) != scf->path.len
             || ngx_strncmp(ss->path, scf->path.data, scf->path.len) != 0);

    if (moved) {
        ngx_memcpy(ss->path, scf->path.data, scf->path.len);
        ss->path[scf->path.len] = '\0';
        ss->recovered = 0;
        ss->recover_at = 0;
    }

    ss->max_size = scf->max_size;
    ss->max_age = scf->max_age;
    ss->flush = scf->flush;
    ss->fsync = scf->fsync;
    ss->sync_seal = scf->fsync || scf->durable;
    ss->mode = scf->mode;
    ss->seal = (scf->seal != NULL);

    if (scf->seal) {
        ngx_memcpy(ss->seal_pub, scf->seal->pub, MT_SEAL_KEY_LEN);
    }

    ngx_shmtx_unlock(&sp->zone->shpool->mutex);

    if (moved) {
        ngx_log_error(NGX_LOG_NOTICE, sp->log, 0,
                      "mail_track spool: writing to \"%V\" from now on",
                      &scf->path);
    }
}


static void
ngx_http_mail_track_spool_timer(ngx_event_t *ev)
{
    ngx_http_mail_track_spool_t  *sp = ev->data;

    ngx_http_mail_track_spool_follow(sp);
    ngx_http_mail_track_spool_flush(sp);

    if (!ngx_exiting) {
        ngx_add_timer(&sp->timer, sp->conf->flush);
    }
}


static void
ngx_http_mail_track_spool_kick(ngx_event_t *ev)
{
    ngx_http_mail_track_spool_flush(ev->data);
}


void
ngx_http_mail_track_spool_flush_now(void)
{
    ngx_http_mail_track_spool_flush(&ngx_http_mail_track_spool_worker);
}


void
ngx_http_mail_track_spool_flush_soon(void)
{
    ngx_http_mail_track_spool_t  *sp;

    sp = &ngx_http_mail_track_spool_worker;

    if (sp->zone && !sp->exiting && !sp->kick.posted) {
        ngx_post_event(&sp->kick, &ngx_posted_events);
    }
}


void
ngx_http_mail_track_spool_appended(ngx_http_mail_track_zone_t *zone,
    uint64_t seq)
{
    ngx_http_mail_track_sh_t     *sh;
    ngx_http_mail_track_spool_t  *sp;

    sp = &ngx_http_mail_track_spool_worker;
    sh = zone->sh;

    if (sp->zone != zone || sp->busy || sp->kick.posted) {
        return;
    }

    /* unlocked reads: only a hint whether a batch is ready */

    if (seq + 1 - sh->head_seq >= sp->conf->batch
        || sh->tail - sh->head >= sh->ring_size / 2)
    {
        ngx_post_event(&sp->kick, &ngx_posted_events);
    }
}


/*
 * Every worker holds the current .part open with a shared lock, writer
 * or not, so that recovery elsewhere (a new zone after a resize or a
 * binary upgrade, a spool directory shared by edges) sees it is live.
 */

static void
ngx_http_mail_track_spool_follow(ngx_http_mail_track_spool_t *sp)
{
    int                              err, fd;
    ngx_uint_t                       gen;
    ngx_http_mail_track_spool_sh_t  *ss;
    u_char                           path[NGX_MAX_PATH + 1];

    ss = &sp->zone->sh->spool;

    if (sp->busy || sp->part_gen == ss->part_gen) {
        return;
    }

    ngx_shmtx_lock(&sp->zone->shpool->mutex);

    gen = ss->part_gen;
    ngx_cpystrn(path, ss->part_path, NGX_MAX_PATH);

    ngx_shmtx_unlock(&sp->zone->shpool->mutex);

    if (sp->part_fd != -1) {
        (void) close(sp->part_fd);
        sp->part_fd = -1;
    }

    sp->part_gen = gen;

    if (path[0] == '\0') {
        return;
    }

    err = mt_spool_part_open((char *) path, 0, 0, &fd);

    if (err == 0) {
        sp->part_fd = fd;

    } else if (err != ENOENT) {
        ngx_log_error(NGX_LOG_WARN, sp->log, err,
                      "mail_track spool: open() \"%s\" failed", path);
    }
}


/*
 * The key of the newest configuration's seal=, which may be newer than
 * this worker's own: what an older worker writes is sealed for it too.
 */

static ngx_int_t
ngx_http_mail_track_spool_key(ngx_http_mail_track_spool_t *sp)
{
    ngx_http_mail_track_spool_sh_t  *ss;

    ss = &sp->zone->sh->spool;

    if (sp->seal.ctx == NULL && mt_seal_ctx_init(&sp->seal) != 0) {
        ngx_log_error(NGX_LOG_ALERT, sp->log, 0,
                      "mail_track spool: AES-256-GCM or HKDF is not "
                      "available from OpenSSL, records stay queued");
        return NGX_ERROR;
    }

    if (sp->key.pkey != NULL
        && ngx_memcmp(sp->key.pub, ss->seal_pub, MT_SEAL_KEY_LEN) == 0)
    {
        return NGX_OK;
    }

    if (mt_seal_key_raw(&sp->key, ss->seal_pub) != 0) {
        ngx_log_error(NGX_LOG_ALERT, sp->log, 0,
                      "mail_track spool: the seal key cannot be used, "
                      "records stay queued");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * With the role held: takes the next batch (at most max records) and
 * fills in the task.  NGX_DECLINED when there is nothing to do.
 */

static ngx_int_t
ngx_http_mail_track_spool_prepare(ngx_http_mail_track_spool_t *sp,
    ngx_uint_t max, ngx_uint_t exiting)
{
    u_char                          *p;
    size_t                           limit, room, len;
    int64_t                          now;
    uint64_t                         end_seq, durable, sync_seq, head_seq,
                                     taken;
    size_t                           over;
    ngx_uint_t                       flags, part, moved, want, gap, sealed;
    mt_spool_flush_t                *io;
    ngx_http_mail_track_sh_t        *sh;
    ngx_http_mail_track_spool_sh_t  *ss;
    ngx_http_mail_track_flush_t     *fl;

    sh = sp->zone->sh;
    ss = &sh->spool;
    fl = sp->flush;
    io = &fl->io;

    now = ngx_http_mail_track_now_ms();

    /* ngx_current_msec: monotonic, the same clock in every worker */

    if (!exiting && ss->retry_at
        && (ngx_msec_int_t) (ngx_current_msec - ss->retry_at) < 0)
    {
        return NGX_DECLINED;
    }

    fl->recover = 0;
    fl->n = 0;
    fl->ring_bytes = 0;
    fl->more = 0;
    fl->hooks = sp->hooks;
    fl->log = sp->log;
    fl->done = 0;
    fl->path[0] = '\0';
    fl->sealed_path[0] = '\0';

    ngx_memzero(io, sizeof(mt_spool_flush_t));

    /* this process's descriptor, if it is of the current .part */

    if (sp->part_gen != ss->part_gen && sp->part_fd != -1) {
        (void) close(sp->part_fd);
        sp->part_fd = -1;
    }

    io->fd = sp->part_fd;

    ngx_cpystrn(fl->dir, ss->path, NGX_MAX_PATH);
    len = ngx_strlen(fl->dir);

    fl->recover = !exiting && !ss->recovered
                  && (ss->recover_at == 0
                      || (ngx_msec_int_t) (ngx_current_msec - ss->recover_at)
                         >= 0);

    /* the role holder alone moves the head: these stay as read */

    ngx_shmtx_lock(&sp->zone->shpool->mutex);

    durable = sh->durable_seq;
    sync_seq = ss->sync_seq;
    head_seq = sh->head_seq;

    ngx_shmtx_unlock(&sp->zone->shpool->mutex);

    limit = sp->buf_size;

    if (ss->batch_limit && ss->batch_limit < limit) {
        limit = ss->batch_limit;
    }

    part = (ss->part_path[0] != '\0');
    moved = 0;
    sealed = ss->seal;

    if (sealed && ngx_http_mail_track_spool_key(sp) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (part) {
        ngx_cpystrn(fl->path, ss->part_path, NGX_MAX_PATH);

        p = (u_char *) strrchr((char *) fl->path, '/');

        moved = (p == NULL || (size_t) (p - fl->path) != len
                 || ngx_strncmp(fl->path, fl->dir, len) != 0);

        /* seal= set, cleared or given another key: a new file too */

        moved = moved || ss->part_sealed != sealed
                || (sealed && ngx_memcmp(ss->part_seal.header + 8,
                                         sp->key.kid, MT_SEAL_KID_LEN) != 0);
    }

    /* a sealed batch's chunk and (in a new file) the header */

    over = sealed ? MT_SEAL_CHUNK_OVERHEAD : 0;

    flags = 0;

    if (part && !moved) {
        room = (ss->max_size > ss->part_size + (off_t) over)
               ? (size_t) (ss->max_size - ss->part_size - (off_t) over) : 0;

        if (room && max) {
            fl->n = ngx_http_mail_track_zone_take(sp->zone, sp->data,
                                                  ngx_min(limit, room), max,
                                                  &io->len, &fl->ring_bytes,
                                                  &flags, &taken);

            if (fl->n == 0) {
                /* the next record is larger than the cap: it goes alone */
                fl->n = ngx_http_mail_track_zone_take(sp->zone, sp->data,
                                                      ngx_min(room,
                                                              sp->buf_size),
                                                      1, &io->len,
                                                      &fl->ring_bytes,
                                                      &flags, &taken);
            }
        }

        io->committed = ss->part_size;
        fl->more = (fl->n < max && head_seq + fl->n < sh->tail_seq);

        /* the next record does not fit: this part is done */

        if (fl->more && (fl->n == 0 || room <= limit)) {
            io->seal = 1;
        }

        if (now - ss->part_created + (int64_t) ss->flush
            > (int64_t) ss->max_age)
        {
            /* the next tick would find it older than max_age */
            io->seal = 1;
        }

        if (exiting && fl->n == 0) {
            io->seal = 1;
        }

    } else if (part) {
        /* the path or the seal changed on reload: seal the old part */
        io->seal = 1;
        io->committed = ss->part_size;
        fl->more = (head_seq < sh->tail_seq);

    } else if (max) {
        if (sealed) {
            over += MT_SEAL_HEADER_LEN;
        }

        fl->n = ngx_http_mail_track_zone_take(sp->zone, sp->data,
                                              ngx_min(limit,
                                                      (size_t) ss->max_size
                                                      - over),
                                              max, &io->len, &fl->ring_bytes,
                                              &flags, &taken);

        if (fl->n == 0 && head_seq < sh->tail_seq) {
            /* a record larger than the cap goes alone */
            fl->n = ngx_http_mail_track_zone_take(sp->zone, sp->data,
                                                  sp->buf_size, 1,
                                                  &io->len, &fl->ring_bytes,
                                                  &flags, &taken);
        }

        fl->more = (fl->n < max && head_seq + fl->n < sh->tail_seq);

        if (fl->n) {
            io->create = 1;
            io->committed = 0;
            io->seal = (ss->flush >= ss->max_age)
                       || (fl->more && (size_t) ss->max_size <= limit);

            p = ngx_snprintf(fl->path, NGX_MAX_PATH - 16, "%s/%V-%P-%L-%uL",
                             fl->dir, &ngx_cycle->hostname, ngx_pid, now,
                             (uint64_t) ++ss->file_seq);
            ngx_memcpy(p, ".part", sizeof(".part"));
        }
    }

    if (fl->n && sealed) {
        io->crypt = &fl->crypt;
        fl->crypt.ctx = &sp->seal;
        fl->crypt.key = &sp->key;

        if (io->create) {
            fl->crypt.counter = 0;

        } else {
            /* taken for good, even if the write fails (the role's) */
            fl->crypt.file = ss->part_seal;
            fl->crypt.counter = ss->part_seal.counter++;
        }
    }

    io->mode = ss->mode;

    fl->first_seq = head_seq;
    end_seq = head_seq + fl->n;

    if (head_seq == sh->tail_seq) {
        /* nothing waits: as good as progress, for the metrics */
        sh->spool_progress = (ngx_atomic_uint_t) now;
    }

    /*
     * someone waits for records that are not on disk yet, and they are
     * written already or in this batch
     */
    want = (sync_seq > durable && (durable < head_seq || fl->n));

    if (fl->n == 0 && !io->seal && !fl->recover && !want) {
        return NGX_DECLINED;
    }

    /* records before this part's (or before this batch) not on disk */
    gap = durable < (io->create ? fl->first_seq
                     : part ? ss->part_first : head_seq);

    io->sync = ss->fsync || (flags & NGX_HTTP_MAIL_TRACK_DURABLE) || want;
    io->sync_seal = io->seal && ss->sync_seal && durable < end_seq;
    io->syncfs = (io->sync || io->sync_seal) && gap;
    io->seal_if_full = (fl->n == 1);
    io->dir_synced = !io->create && ss->part_dir_synced;
    io->data = sp->data;

    if (fl->path[0]) {
        p = ngx_cpystrn(fl->sealed_path, fl->path, NGX_MAX_PATH - 8);

        if (p - fl->sealed_path > 5 && ngx_strcmp(p - 5, ".part") == 0) {
            ngx_memcpy(p - 5, ".mtspool", sizeof(".mtspool"));
        }

        ngx_cpystrn(fl->part_dir, fl->path, NGX_MAX_PATH);
        p = (u_char *) strrchr((char *) fl->part_dir, '/');

        if (p) {
            *p = '\0';
        }

    } else {
        ngx_cpystrn(fl->part_dir, fl->dir, NGX_MAX_PATH);
    }

    /* a step that writes, seals or syncs nothing leaves the file alone */

    io->path = (fl->n || io->seal || io->sync) ? (char *) fl->path : "";
    io->sealed_path = (char *) fl->sealed_path;
    io->dir = (char *) fl->part_dir;

    return NGX_OK;
}


static void
ngx_http_mail_track_spool_flush(ngx_http_mail_track_spool_t *sp)
{
    if (sp->busy || sp->zone == NULL || sp->exiting) {
        return;
    }

    if (ngx_http_mail_track_spool_role_take(sp->zone, &sp->role, sp->log)
        != NGX_OK)
    {
        return;
    }

    if (ngx_http_mail_track_spool_prepare(sp, NGX_MAX_UINT32_VALUE, 0)
        != NGX_OK)
    {
        ngx_http_mail_track_spool_role_give(sp->zone, &sp->role);
        ngx_http_mail_track_spool_wake(0);
        return;
    }

    sp->busy = 1;

#if (NGX_THREADS)
    if (ngx_thread_task_post(sp->conf->thread_pool, sp->task) == NGX_OK) {
        return;
    }

    ngx_log_error(NGX_LOG_ALERT, sp->log, 0,
                  "mail_track spool: thread task post failed, "
                  "writing in the worker");
#endif

    ngx_http_mail_track_spool_write(sp->flush, sp->log);
    ngx_http_mail_track_spool_done(sp);
}


#if (NGX_THREADS)

static void
ngx_http_mail_track_spool_thread_done(ngx_event_t *ev)
{
    ngx_http_mail_track_spool_done(ev->data);
}

#endif


/* runs in a thread: nothing here may touch nginx state or the zone */

static void
ngx_http_mail_track_spool_write(void *data, ngx_log_t *log)
{
    ngx_http_mail_track_flush_t  *fl = data;

    if (fl->hooks) {
        ngx_http_mail_track_spool_hook(fl->log, fl->dir, "write");
    }

    if (fl->recover) {
        ngx_memzero(&fl->rv, sizeof(mt_spool_recover_t));

        fl->rv.dir = (char *) fl->dir;
        fl->rv.host.data = ngx_cycle->hostname.data;
        fl->rv.host.len = ngx_cycle->hostname.len;
        fl->rv.uid = geteuid();
        fl->rv.log = ngx_http_mail_track_spool_log;
        fl->rv.log_data = fl->log;

        (void) mt_spool_recover(&fl->rv);
    }

    mt_spool_flush(&fl->io);

    ngx_memory_barrier();
    fl->done = 1;
}


static void
ngx_http_mail_track_spool_log(void *data, int level, int err, const char *msg)
{
    ngx_log_error((ngx_uint_t) level, (ngx_log_t *) data, err,
                  "mail_track spool: %s", msg);
}


static void
ngx_http_mail_track_spool_done(ngx_http_mail_track_spool_t *sp)
{
    size_t                           bytes;
    int64_t                          now;
    ngx_uint_t                       n, gen, durable, retry;
    mt_spool_flush_t                *io;
    ngx_http_mail_track_sh_t        *sh;
    ngx_http_mail_track_zone_t      *zone;
    ngx_http_mail_track_spool_sh_t  *ss;
    ngx_http_mail_track_flush_t     *fl;

    zone = sp->zone;
    sh = zone->sh;
    ss = &sh->spool;
    fl = sp->flush;
    io = &fl->io;

    now = ngx_http_mail_track_now_ms();

    if (fl->recover) {
        ngx_http_mail_track_spool_recovered(sp, now);
    }

    if (io->lost) {
        ngx_log_error(NGX_LOG_ALERT, sp->log, 0,
                      "mail_track spool: \"%s\" is %O bytes shorter than "
                      "was written to it: records in it are lost",
                      fl->path, io->lost);
    }

    if (io->truncated) {
        ngx_log_error(NGX_LOG_WARN, sp->log, 0,
                      "mail_track spool: dropped an unfinished write at "
                      "the end of \"%s\"", fl->path);
    }

    durable = io->synced;

    if (io->written) {
        ngx_http_mail_track_zone_consume(zone, fl->n, fl->ring_bytes,
                                         durable);

        sh->spool_progress = (ngx_atomic_uint_t) now;

        (void) ngx_atomic_fetch_add(
                         &sh->cnt.misc[NGX_HTTP_MAIL_TRACK_SPOOL_RECORDS],
                         fl->n);
        (void) ngx_atomic_fetch_add(
                         &sh->cnt.misc[NGX_HTTP_MAIL_TRACK_SPOOL_BYTES],
                         io->len);
        ngx_http_mail_track_count(zone,
                                  misc[NGX_HTTP_MAIL_TRACK_SPOOL_FLUSHES]);

    } else if (durable) {
        ngx_http_mail_track_zone_consume(zone, 0, 0, 1);
    }

    if (io->fsyncs) {
        (void) ngx_atomic_fetch_add(
                         &sh->cnt.misc[NGX_HTTP_MAIL_TRACK_SPOOL_FSYNCS],
                         io->fsyncs);
    }

    if (io->dir_synced_now) {
        ngx_http_mail_track_count(zone,
                                  misc[NGX_HTTP_MAIL_TRACK_SPOOL_DIR_FSYNCS]);
    }

    if (io->vanished) {
        ngx_log_error(NGX_LOG_ALERT, sp->log, 0,
                      "mail_track spool: \"%s\" disappeared, "
                      "%O bytes of records in it are lost",
                      fl->path, ss->part_size);
    }

    if (io->sealed) {
        ngx_http_mail_track_count(zone, misc[NGX_HTTP_MAIL_TRACK_SPOOL_FILES]);
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (io->written) {
        if (io->create) {
            ngx_cpystrn(ss->part_path, fl->path, NGX_MAX_PATH);
            ss->part_created = now;
            ss->part_records = 0;
            ss->part_first = fl->first_seq;
            ss->part_dir_synced = 0;
            ss->part_gen++;
            ss->part_sealed = (io->crypt != NULL);

            if (io->crypt) {
                ss->part_seal = fl->crypt.file;
            }

        } else if (io->crypt) {
            ss->part_seal.chunks = fl->crypt.file.chunks;
        }

        ss->part_size = io->size;
        ss->part_records += fl->n;
    }

    if (io->dir_synced_now) {
        ss->part_dir_synced = 1;
    }

    if (io->sealed || io->vanished) {
        ss->part_path[0] = '\0';
        ss->part_size = 0;
        ss->part_records = 0;
        ss->part_dir_synced = 0;
        ss->part_gen++;
        ss->part_sealed = 0;
        ngx_explicit_memzero(&ss->part_seal, sizeof(mt_seal_file_t));
    }

    /* a full disk: smaller batches at once, down to one record */

    retry = 0;

    if (io->nospace && fl->n > 1) {
        ss->batch_limit = ngx_max(io->len / 2, 1);
        retry = 1;

    } else if (io->err && !io->vanished) {
        ss->retry_at = ngx_current_msec
                       + ngx_min(ss->flush, NGX_HTTP_MAIL_TRACK_RETRY);

    } else if (io->written && ss->batch_limit) {
        ss->batch_limit *= 2;

        if (ss->batch_limit >= sp->buf_size) {
            ss->batch_limit = 0;
        }
    }

    gen = ss->part_gen;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_explicit_memzero(&fl->crypt.file, sizeof(mt_seal_file_t));

    if (io->nospace) {
        ngx_http_mail_track_count(zone,
                                  misc[NGX_HTTP_MAIL_TRACK_SPOOL_NOSPACE]);
    }

    if (io->err && !io->vanished) {
        ngx_http_mail_track_count(zone, misc[NGX_HTTP_MAIL_TRACK_SPOOL_ERRORS]);

        /* one line per flush interval while the spool keeps failing */

        if (sp->last_error == 0
            || ngx_current_msec - sp->last_error >= sp->conf->flush)
        {
            sp->last_error = ngx_current_msec;
            n = ngx_http_mail_track_zone_pending(zone, &bytes);

            if (io->written || fl->n == 0) {
                ngx_log_error(NGX_LOG_ERR, sp->log, io->err,
                              "mail_track spool: %s \"%s\" failed: what "
                              "is written is not known to be on disk, "
                              "durable answers wait; %ui record(s) queued",
                              io->op, io->err_path ? io->err_path : "", n);

            } else {
                ngx_log_error(NGX_LOG_ERR, sp->log, io->err,
                              "mail_track spool: %s \"%s\" failed, %ui "
                              "record(s) stay queued", io->op,
                              io->err_path ? io->err_path : "", n);
            }
        }

    } else if (io->err == 0) {
        sp->last_error = 0;
    }

    sp->part_fd = io->fd;
    sp->part_gen = (io->fd != -1) ? gen : (ngx_uint_t) -1;
    io->fd = -1;

    ngx_http_mail_track_spool_role_give(sp->zone, &sp->role);
    sp->busy = 0;

    ngx_http_mail_track_spool_wake(0);

    if (sp->exiting) {
        return;
    }

    /* the batch was cut short (room, cap, a full disk): go on at once */

    if ((io->err == 0 && fl->more) || retry) {
        ngx_http_mail_track_spool_flush_soon();

    } else if (io->err == 0 && fl->n) {
        ngx_http_mail_track_spool_appended(zone, sh->tail_seq - 1);
    }
}


static void
ngx_http_mail_track_spool_recovered(ngx_http_mail_track_spool_t *sp,
    int64_t now)
{
    ngx_uint_t                       level;
    mt_spool_recover_t              *rv;
    ngx_http_mail_track_sh_t        *sh;
    ngx_http_mail_track_spool_sh_t  *ss;

    sh = sp->zone->sh;
    ss = &sh->spool;
    rv = &sp->flush->rv;

    if (rv->sealed) {
        (void) ngx_atomic_fetch_add(
                         &sh->cnt.misc[NGX_HTTP_MAIL_TRACK_SPOOL_RECOVERED],
                         rv->sealed);
    }

    if (rv->err) {
        /* it is tried again later; the writes report the directory too */

        ss->recover_at = ngx_current_msec + NGX_HTTP_MAIL_TRACK_RECOVER_RETRY;

        ngx_log_error(NGX_LOG_ERR, sp->log, rv->err,
                      "mail_track spool: looking for unsealed files in "
                      "\"%s\" failed: %s", sp->flush->dir, rv->op);
        return;
    }

    /* the path may have changed meanwhile: then the new one is next */

    if (ngx_strcmp(ss->path, sp->flush->dir) == 0) {
        ss->recovered = 1;
    }

    level = (rv->sealed || rv->odd) ? NGX_LOG_NOTICE : NGX_LOG_INFO;

    ngx_log_error(level, sp->log, 0,
                  "mail_track spool: looked for unsealed files in \"%s\": "
                  "%ui sealed, %ui removed, %ui in use, %ui left alone, "
                  "%ui of other hosts", sp->flush->dir,
                  (ngx_uint_t) rv->sealed, (ngx_uint_t) rv->removed,
                  (ngx_uint_t) rv->live, (ngx_uint_t) rv->odd,
                  (ngx_uint_t) rv->foreign);
}


/*
 * The worker is leaving: the thread pool is already gone, so the queue
 * as it is now is written here, synchronously, batch by batch, each
 * with the role held: another worker may take it between two batches.
 */

void
ngx_http_mail_track_spool_flush_exit(ngx_cycle_t *cycle)
{
    uint64_t                      exit_seq;
    ngx_uint_t                    n;
    ngx_msec_t                    waited;
    mt_spool_flush_t             *io;
    ngx_http_mail_track_sh_t     *sh;
    ngx_http_mail_track_spool_t  *sp;

    sp = &ngx_http_mail_track_spool_worker;

    if (sp->zone == NULL) {
        return;
    }

    sh = sp->zone->sh;
    io = &sp->flush->io;

    sp->exiting = 1;

    if (sp->busy) {
        for (waited = 0; !sp->flush->done && waited < 5000; waited++) {
            ngx_msleep(1);
        }

        if (sp->flush->done) {
            ngx_http_mail_track_spool_done(sp);
        }
    }

    if (sp->busy) {
        /* the thread still has the buffer */
        return;
    }

    exit_seq = sh->tail_seq;
    waited = 0;

    for ( ;; ) {
        if (ngx_http_mail_track_spool_role_take(sp->zone, &sp->role,
                                                cycle->log)
            != NGX_OK)
        {

            if (waited >= NGX_HTTP_MAIL_TRACK_EXIT_WAIT) {
                ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                              "mail_track spool: another process holds "
                              "the spool, leaving the queue to it");
                break;
            }

            ngx_msleep(5);
            waited += 5;
            continue;
        }

        n = (exit_seq > sh->head_seq) ? (ngx_uint_t) (exit_seq - sh->head_seq)
                                      : 0;

        if (ngx_http_mail_track_spool_prepare(sp, n, 1) != NGX_OK) {
            ngx_http_mail_track_spool_role_give(sp->zone, &sp->role);
            break;
        }

        ngx_http_mail_track_spool_write(sp->flush, cycle->log);

        sp->busy = 1;
        ngx_http_mail_track_spool_done(sp);

        if (io->err && !(io->nospace && sp->flush->n > 1)) {
            break;
        }

        if (sp->hooks) {
            ngx_http_mail_track_spool_hook(cycle->log, sp->flush->dir,
                                           "exit");
        }
    }

    n = (exit_seq > sh->head_seq) ? (ngx_uint_t) (exit_seq - sh->head_seq)
                                  : 0;

    if (n && io->err) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, io->err,
                      "mail_track spool: %ui record(s) not written when "
                      "leaving (%s \"%s\" failed): they stay queued for "
                      "the other workers, and are lost if none is left",
                      n, io->op, io->err_path ? io->err_path : "");
    }

    ngx_http_mail_track_spool_wake(1);

    if (sp->part_fd != -1) {
        (void) close(sp->part_fd);
        sp->part_fd = -1;
    }

    ngx_free(sp->buf);
    mt_seal_key_free(&sp->key);
    mt_seal_ctx_free(&sp->seal);
    sp->zone = NULL;
}


/*
 * Test hooks (MAIL_TRACK_TEST_HOOKS in the environment, from an "env"
 * line): while "<spool>/.mt-test-pause-<name>" exists the writer waits
 * there, holding what it holds, so that a test can line up a race.
 */

static void
ngx_http_mail_track_spool_hook(ngx_log_t *log, u_char *dir, const char *name)
{
    ngx_uint_t       logged;
    ngx_file_info_t  fi;
    u_char           path[NGX_MAX_PATH + 1];

    ngx_snprintf(path, NGX_MAX_PATH, "%s/.mt-test-pause-%s%Z", dir, name);

    for (logged = 0; ngx_file_info(path, &fi) != NGX_FILE_ERROR; logged = 1) {
        if (!logged) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "mail_track spool: test hook: %s paused", name);
        }

        ngx_msleep(10);
    }

    if (logged) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "mail_track spool: test hook: %s resumed", name);
    }
}

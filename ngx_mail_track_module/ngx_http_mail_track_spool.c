
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The spool writer.  Records wait in the zone's ring until one worker,
 * holding the flush role, copies a batch out, appends it to the shared
 * .part file in a thread and, once that succeeded, removes the batch from
 * the ring.  A failed write leaves the records queued; a worker that dies
 * holding the role leaves at most an uncommitted tail in the .part file,
 * which the next holder truncates away.  Sealing is a rename.
 */


#include "ngx_http_mail_track_spool.h"
#include "ngx_http_mail_track_queue.h"
#include "mt_msgpack.h"

#include <dirent.h>


#define NGX_HTTP_MAIL_TRACK_BUF_MAX     (4 * 1024 * 1024)
#define NGX_HTTP_MAIL_TRACK_POLL        5
#define NGX_HTTP_MAIL_TRACK_EXIT_WAIT   10000


typedef struct {
    /* in */
    u_char                      path[NGX_MAX_PATH + 1];
    u_char                      sealed_path[NGX_MAX_PATH + 1];
    u_char                      dir[NGX_MAX_PATH + 1];
    u_char                     *data;
    size_t                      len;
    off_t                       committed;
    off_t                       max_size;
    ngx_uint_t                  create;
    ngx_uint_t                  seal;
    ngx_uint_t                  fsync;
    ngx_uint_t                  recover;
    ngx_uint_t                  n;
    size_t                      ring_bytes;

    /* out */
    ngx_err_t                   err;
    const char                 *op;
    u_char                     *err_path;
    ngx_uint_t                  written;
    ngx_uint_t                  sealed;
    ngx_uint_t                  vanished;
    ngx_uint_t                  recovered;
    ngx_uint_t                  recover_failed;
    ngx_uint_t                  truncated;
    off_t                       size;
    volatile ngx_uint_t         done;
} ngx_http_mail_track_flush_t;


typedef struct {
    ngx_http_mail_track_zone_t        *zone;
    ngx_http_mail_track_spool_conf_t  *conf;
    ngx_log_t                         *log;
    ngx_event_t                        timer;
    ngx_event_t                        kick;
    ngx_event_t                        poll;
    u_char                            *buf;
    size_t                             buf_size;
    ngx_uint_t                         busy;
    ngx_uint_t                         exiting;
    ngx_msec_t                         last_error;
    ngx_queue_t                        waiters;
    ngx_http_mail_track_flush_t       *flush;
#if (NGX_THREADS)
    ngx_thread_task_t                 *task;
#endif
} ngx_http_mail_track_spool_t;


static void ngx_http_mail_track_spool_timer(ngx_event_t *ev);
static void ngx_http_mail_track_spool_kick(ngx_event_t *ev);
static void ngx_http_mail_track_spool_poll(ngx_event_t *ev);
static ngx_int_t ngx_http_mail_track_spool_lock(
    ngx_http_mail_track_spool_t *sp);
static void ngx_http_mail_track_spool_unlock(ngx_http_mail_track_spool_t *sp);
static ngx_int_t ngx_http_mail_track_spool_prepare(
    ngx_http_mail_track_spool_t *sp, ngx_uint_t exiting);
static void ngx_http_mail_track_spool_flush(ngx_http_mail_track_spool_t *sp);
static void ngx_http_mail_track_spool_write(void *data, ngx_log_t *log);
static void ngx_http_mail_track_spool_done(ngx_http_mail_track_spool_t *sp);
#if (NGX_THREADS)
static void ngx_http_mail_track_spool_thread_done(ngx_event_t *ev);
#endif
static void ngx_http_mail_track_spool_recover(ngx_http_mail_track_flush_t *fl,
    ngx_log_t *log);
static ngx_int_t ngx_http_mail_track_spool_recover_file(u_char *path,
    ngx_log_t *log);
static void ngx_http_mail_track_spool_fsync_dir(
    ngx_http_mail_track_flush_t *fl);
static void ngx_http_mail_track_spool_wake(ngx_http_mail_track_spool_t *sp,
    ngx_uint_t all);
static ngx_int_t ngx_http_mail_track_spool_probe(ngx_cycle_t *cycle,
    ngx_str_t *path, ngx_core_conf_t *ccf, ngx_err_t *err);


static ngx_http_mail_track_spool_t  ngx_http_mail_track_spool_worker;


char *
ngx_http_mail_track_spool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mail_track_main_conf_t  *mmcf = conf;

    ssize_t                            size;
    ngx_int_t                          n;
    ngx_str_t                         *value, s;
    ngx_uint_t                         i;
    ngx_msec_t                         ms;
    ngx_http_mail_track_spool_conf_t  *scf;
#if (NGX_THREADS)
    ngx_str_t                          pool;

    ngx_str_null(&pool);
#endif

    if (mmcf->spool) {
        return "is duplicate";
    }

    scf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mail_track_spool_conf_t));
    if (scf == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    scf->path = value[1];
    scf->flush = 1000;
    scf->batch = 1000;
    scf->max_size = 64 * 1024 * 1024;
    scf->max_age = 60000;
    scf->fsync = 0;
    scf->file = cf->conf_file->file.name;
    scf->line = cf->conf_file->line;

    if (ngx_conf_full_name(cf->cycle, &scf->path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    while (scf->path.len > 1 && scf->path.data[scf->path.len - 1] == '/') {
        scf->path.len--;
    }

    /* room for "/<host>-<pid>-<ms>-<seq>.mtspool" */

    if (scf->path.len > NGX_MAX_PATH - 160) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "spool path \"%V\" is too long", &scf->path);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "flush=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            ms = ngx_parse_time(&s, 0);

            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            scf->flush = ms;
            continue;
        }

        if (ngx_strncmp(value[i].data, "batch=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            scf->batch = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_size=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || size < 4096) {
                goto invalid;
            }

            scf->max_size = size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_age=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            ms = ngx_parse_time(&s, 0);

            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            scf->max_age = ms;
            continue;
        }

        if (ngx_strcmp(value[i].data, "fsync=on") == 0) {
            scf->fsync = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "fsync=off") == 0) {
            scf->fsync = 0;
            continue;
        }

#if (NGX_THREADS)
        if (ngx_strncmp(value[i].data, "thread_pool=", 12) == 0) {
            pool.data = value[i].data + 12;
            pool.len = value[i].len - 12;
            continue;
        }
#endif

        goto invalid;
    }

#if (NGX_THREADS)
    scf->thread_pool = ngx_thread_pool_add(cf, pool.len ? &pool : NULL);
    if (scf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }
#endif

    mmcf->spool = scf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * At start and on reload, in the master: create a missing spool
 * directory as nginx does its temp paths, and refuse to start unless the
 * worker user can create files in it.
 */

ngx_int_t
ngx_http_mail_track_spool_check_dir(ngx_cycle_t *cycle,
    ngx_http_mail_track_spool_conf_t *scf)
{
    ngx_err_t         err;
    ngx_file_info_t   fi;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (ngx_file_info(scf->path.data, &fi) == NGX_FILE_ERROR) {
        err = ngx_errno;

        if (err != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                          "mail_track_spool \"%V\" is not accessible",
                          &scf->path);
            return NGX_ERROR;
        }

        if (ngx_create_dir(scf->path.data, 0700) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "mail_track_spool \"%V\" cannot be created",
                          &scf->path);
            return NGX_ERROR;
        }

        if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
            && chown((const char *) scf->path.data, ccf->user, ccf->group)
               == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "chown(\"%V\", %d) failed",
                          &scf->path, ccf->user);
            return NGX_ERROR;
        }

    } else if (!ngx_is_dir(&fi)) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "mail_track_spool \"%V\" is not a directory",
                      &scf->path);
        return NGX_ERROR;
    }

    if (ngx_http_mail_track_spool_probe(cycle, &scf->path, ccf, &err)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                      "mail_track_spool \"%V\" is not writable by user "
                      "\"%s\"", &scf->path,
                      ccf->username ? ccf->username : "(current)");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Creates and removes a file in the directory as the worker user: a
 * child process switches to it, so ACLs and read-only mounts count too.
 */

static ngx_int_t
ngx_http_mail_track_spool_probe(ngx_cycle_t *cycle, ngx_str_t *path,
    ngx_core_conf_t *ccf, ngx_err_t *err)
{
    int        status;
    pid_t      pid;
    ngx_fd_t   fd;
    u_char     name[NGX_MAX_PATH + 1];

    ngx_snprintf(name, NGX_MAX_PATH, "%V/.mail_track_probe.%P%Z",
                 path, ngx_getpid());

    *err = 0;

    if (geteuid() != 0 || ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT
        || ccf->user == 0)
    {
        fd = ngx_open_file(name, NGX_FILE_WRONLY, NGX_FILE_CREATE_OR_OPEN,
                           NGX_FILE_DEFAULT_ACCESS);
        if (fd == NGX_INVALID_FILE) {
            *err = ngx_errno;
            return NGX_ERROR;
        }

        (void) ngx_close_file(fd);
        (void) ngx_delete_file(name);

        return NGX_OK;
    }

    pid = fork();

    if (pid == -1) {
        *err = ngx_errno;
        return NGX_ERROR;
    }

    if (pid == 0) {
        if (setgid(ccf->group) == -1
            || initgroups(ccf->username, ccf->group) == -1
            || setuid(ccf->user) == -1)
        {
            _exit(ngx_errno & 0xff);
        }

        fd = open((char *) name, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd == -1) {
            _exit(ngx_errno & 0xff);
        }

        (void) close(fd);
        (void) unlink((char *) name);

        _exit(0);
    }

    while (waitpid(pid, &status, 0) == -1) {
        if (ngx_errno != NGX_EINTR) {
            *err = ngx_errno;
            return NGX_ERROR;
        }
    }

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return NGX_OK;
    }

    *err = WIFEXITED(status) ? WEXITSTATUS(status) : NGX_EACCES;

    (void) unlink((char *) name);

    return NGX_ERROR;
}


ngx_int_t
ngx_http_mail_track_spool_init_process(ngx_cycle_t *cycle,
    ngx_http_mail_track_zone_t *zone, ngx_http_mail_track_spool_conf_t *scf)
{
    ngx_http_mail_track_spool_t  *sp;

    sp = &ngx_http_mail_track_spool_worker;

    sp->zone = zone;
    sp->conf = scf;
    sp->log = cycle->log;
    sp->busy = 0;

    ngx_queue_init(&sp->waiters);

    sp->buf_size = ngx_min(zone->sh->ring_size, NGX_HTTP_MAIL_TRACK_BUF_MAX);
    sp->buf_size = ngx_max(sp->buf_size, MT_RECORD_MAX);

    sp->buf = ngx_alloc(sp->buf_size, cycle->log);
    if (sp->buf == NULL) {
        return NGX_ERROR;
    }

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

    sp->timer.handler = ngx_http_mail_track_spool_timer;
    sp->timer.data = sp;
    sp->timer.log = cycle->log;
    sp->timer.cancelable = 1;

    sp->kick.handler = ngx_http_mail_track_spool_kick;
    sp->kick.data = sp;
    sp->kick.log = cycle->log;

    sp->poll.handler = ngx_http_mail_track_spool_poll;
    sp->poll.data = sp;
    sp->poll.log = cycle->log;

    /* spread the workers' timers over the interval */

    ngx_add_timer(&sp->timer,
                  scf->flush / 2 + (ngx_pid % 97) * scf->flush / 194);

    return NGX_OK;
}


static void
ngx_http_mail_track_spool_timer(ngx_event_t *ev)
{
    ngx_http_mail_track_spool_t  *sp = ev->data;

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


static ngx_int_t
ngx_http_mail_track_spool_lock(ngx_http_mail_track_spool_t *sp)
{
    ngx_pid_t                  pid;
    ngx_http_mail_track_sh_t  *sh;

    sh = sp->zone->sh;
    pid = (ngx_pid_t) sh->flusher;

    if (pid == ngx_pid) {
        return NGX_OK;
    }

    if (pid == 0) {
        return ngx_atomic_cmp_set(&sh->flusher, 0, ngx_pid) ? NGX_OK
                                                            : NGX_BUSY;
    }

    /* a worker that died holding the role: what it left is truncated */

    if (kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH
        && ngx_atomic_cmp_set(&sh->flusher, pid, ngx_pid))
    {
        ngx_log_error(NGX_LOG_NOTICE, sp->log, 0,
                      "mail_track spool: taking over from exited "
                      "process %P", pid);
        return NGX_OK;
    }

    return NGX_BUSY;
}


static void
ngx_http_mail_track_spool_unlock(ngx_http_mail_track_spool_t *sp)
{
    (void) ngx_atomic_cmp_set(&sp->zone->sh->flusher, ngx_pid, 0);
}


/*
 * With the role held: takes the next batch and fills in the task.
 * NGX_DECLINED when there is nothing to do.
 */

static ngx_int_t
ngx_http_mail_track_spool_prepare(ngx_http_mail_track_spool_t *sp,
    ngx_uint_t exiting)
{
    u_char                            *p;
    int64_t                            now;
    uint64_t                           end_seq;
    ngx_uint_t                         flags, aged;
    ngx_http_mail_track_sh_t          *sh;
    ngx_http_mail_track_flush_t       *fl;
    ngx_http_mail_track_spool_conf_t  *scf;

    sh = sp->zone->sh;
    scf = sp->conf;
    fl = sp->flush;

    ngx_memzero(fl, offsetof(ngx_http_mail_track_flush_t, err));
    fl->err = 0;
    fl->op = NULL;
    fl->err_path = NULL;
    fl->written = 0;
    fl->sealed = 0;
    fl->vanished = 0;
    fl->recovered = 0;
    fl->recover_failed = 0;
    fl->truncated = 0;
    fl->done = 0;

    /*
     * batch= says when to start; a flush then takes all that waits (up to
     * the buffer): under load the event loop runs a flush far less often
     * than batches fill
     */

    fl->n = ngx_http_mail_track_zone_take(sp->zone, sp->buf, sp->buf_size,
                                          NGX_MAX_UINT32_VALUE, &fl->len,
                                          &fl->ring_bytes, &flags, &end_seq);
    fl->data = sp->buf;
    fl->max_size = scf->max_size;
    fl->fsync = scf->fsync || (flags & NGX_HTTP_MAIL_TRACK_DURABLE);
    fl->recover = !sh->recovered;

    ngx_memcpy(fl->dir, scf->path.data, scf->path.len);
    fl->dir[scf->path.len] = '\0';

    now = ngx_http_mail_track_now_ms();

    if (fl->n == 0) {
        sh->spool_progress = (ngx_atomic_uint_t) now;
    }

    /*
     * A part is sealed when the next tick would find it older than
     * max_age: records become readable within max_age of the first one.
     */

    if (sh->part_path[0]) {
        ngx_cpystrn(fl->path, sh->part_path, NGX_MAX_PATH);

        /* the spool path changed on reload: seal the old part first */

        p = (u_char *) strrchr((char *) fl->path, '/');

        if (p == NULL || (size_t) (p - fl->path) != scf->path.len
            || ngx_strncmp(fl->path, scf->path.data, scf->path.len) != 0)
        {
            fl->len = 0;
            fl->n = 0;
            fl->ring_bytes = 0;
            fl->seal = 1;
        }

        fl->committed = sh->part_size;

        aged = now - sh->part_created + (int64_t) scf->flush
               > (int64_t) scf->max_age;

        if (aged || (exiting && fl->n == 0)) {
            fl->seal = 1;
        }

    } else if (fl->n) {
        fl->create = 1;
        fl->committed = 0;
        fl->seal = (scf->flush >= scf->max_age);

        p = ngx_snprintf(fl->path, NGX_MAX_PATH - 16, "%V/%V-%P-%L-%uL",
                         &scf->path, &ngx_cycle->hostname, ngx_pid,
                         now, (uint64_t) ++sh->file_seq);
        ngx_memcpy(p, ".part", sizeof(".part"));
    }

    if (fl->n == 0 && !fl->seal && !fl->recover) {
        return NGX_DECLINED;
    }

    if (fl->path[0]) {
        p = ngx_cpystrn(fl->sealed_path, fl->path, NGX_MAX_PATH);

        if (p - fl->sealed_path > 5
            && ngx_strcmp(p - 5, ".part") == 0)
        {
            ngx_memcpy(p - 5, ".mtspool", sizeof(".mtspool"));
        }
    }

    return NGX_OK;
}


static void
ngx_http_mail_track_spool_flush(ngx_http_mail_track_spool_t *sp)
{
    if (sp->busy || sp->zone == NULL) {
        return;
    }

    if (ngx_http_mail_track_spool_lock(sp) != NGX_OK) {
        return;
    }

    if (ngx_http_mail_track_spool_prepare(sp, 0) != NGX_OK) {
        ngx_http_mail_track_spool_unlock(sp);
        ngx_http_mail_track_spool_wake(sp, 0);
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

    int          fd, flags;
    u_char      *p;
    size_t       left;
    ssize_t      n;
    struct stat  st;

    fd = -1;

    if (fl->recover) {
        ngx_http_mail_track_spool_recover(fl, log);
    }

    if (fl->len) {
        flags = O_WRONLY | O_APPEND;

        if (fl->create) {
            flags |= O_CREAT | O_EXCL;
        }

        fd = open((char *) fl->path, flags, 0644);

        if (fd == -1) {
            fl->err = errno;
            fl->op = "open()";
            fl->err_path = fl->path;
            fl->vanished = (fl->err == ENOENT && !fl->create);
            goto done;
        }

        if (!fl->create) {
            if (fstat(fd, &st) == -1) {
                fl->err = errno;
                fl->op = "fstat()";
                goto failed;
            }

            /* what a writer left past the committed size is not ours */

            if (st.st_size != fl->committed) {
                if (ftruncate(fd, fl->committed) == -1) {
                    fl->err = errno;
                    fl->op = "ftruncate()";
                    goto failed;
                }

                fl->truncated = 1;
            }
        }

        p = fl->data;
        left = fl->len;

        while (left) {
            n = write(fd, p, left);

            if (n == -1) {
                if (errno == EINTR) {
                    continue;
                }

                fl->err = errno;
                fl->op = "write()";
                goto failed;
            }

            p += n;
            left -= n;
        }

        if (fl->fsync && fdatasync(fd) == -1) {
            fl->err = errno;
            fl->op = "fdatasync()";
            goto failed;
        }

        (void) close(fd);
        fd = -1;

        fl->written = 1;
        fl->size = fl->committed + fl->len;

        if (fl->create && fl->fsync) {
            ngx_http_mail_track_spool_fsync_dir(fl);
        }

        if (fl->size >= fl->max_size) {
            fl->seal = 1;
        }

    } else {
        fl->size = fl->committed;
    }

    if (fl->seal && fl->path[0]) {
        if (rename((char *) fl->path, (char *) fl->sealed_path) == -1) {
            fl->err = errno;
            fl->op = "rename()";
            fl->err_path = fl->path;
            fl->vanished = (fl->err == ENOENT);
            goto done;
        }

        fl->sealed = 1;

        if (fl->fsync) {
            ngx_http_mail_track_spool_fsync_dir(fl);
        }
    }

    goto done;

failed:

    fl->err_path = fl->path;

    /* leave the file as it was: the batch stays queued and comes again */

    if (fd != -1) {
        if (ftruncate(fd, fl->committed) == -1) {
            /* the next writer truncates it */
        }

        (void) close(fd);
    }

    if (fl->create) {
        (void) unlink((char *) fl->path);
    }

done:

    ngx_memory_barrier();
    fl->done = 1;
}


static void
ngx_http_mail_track_spool_fsync_dir(ngx_http_mail_track_flush_t *fl)
{
    int  fd;

    fd = open((char *) fl->dir, O_RDONLY | O_DIRECTORY);

    if (fd != -1) {
        (void) fsync(fd);
        (void) close(fd);
    }
}


static void
ngx_http_mail_track_spool_done(ngx_http_mail_track_spool_t *sp)
{
    ngx_msec_t                    now;
    ngx_http_mail_track_sh_t     *sh;
    ngx_http_mail_track_zone_t   *zone;
    ngx_http_mail_track_flush_t  *fl;

    zone = sp->zone;
    sh = zone->sh;
    fl = sp->flush;

    if (fl->recover && !fl->recover_failed) {
        sh->recovered = 1;
    }

    if (fl->recovered) {
        (void) ngx_atomic_fetch_add(
                         &sh->cnt.misc[NGX_HTTP_MAIL_TRACK_SPOOL_RECOVERED],
                         fl->recovered);
        ngx_log_error(NGX_LOG_NOTICE, sp->log, 0,
                      "mail_track spool: sealed %ui file(s) left by an "
                      "earlier run in \"%s\"", fl->recovered, fl->dir);
    }

    if (fl->truncated) {
        ngx_log_error(NGX_LOG_WARN, sp->log, 0,
                      "mail_track spool: dropped an unfinished write at "
                      "the end of \"%s\"", fl->path);
    }

    if (fl->written) {
        ngx_http_mail_track_zone_consume(zone, fl->n, fl->ring_bytes,
                                         fl->fsync);

        sh->spool_progress = (ngx_atomic_uint_t) ngx_http_mail_track_now_ms();

        (void) ngx_atomic_fetch_add(
                         &sh->cnt.misc[NGX_HTTP_MAIL_TRACK_SPOOL_RECORDS],
                         fl->n);
        (void) ngx_atomic_fetch_add(
                         &sh->cnt.misc[NGX_HTTP_MAIL_TRACK_SPOOL_BYTES],
                         fl->len);
        ngx_http_mail_track_count(zone,
                                  misc[NGX_HTTP_MAIL_TRACK_SPOOL_FLUSHES]);

        if (fl->fsync) {
            ngx_http_mail_track_count(zone,
                                      misc[NGX_HTTP_MAIL_TRACK_SPOOL_FSYNCS]);
        }

        if (fl->create) {
            ngx_cpystrn(sh->part_path, fl->path, NGX_MAX_PATH);
            sh->part_created = ngx_http_mail_track_now_ms();
            sh->part_records = 0;
            sh->part_gen++;
        }

        sh->part_size = fl->size;
        sh->part_records += fl->n;
    }

    if (fl->sealed || fl->vanished) {
        if (fl->sealed) {
            ngx_http_mail_track_count(zone,
                                      misc[NGX_HTTP_MAIL_TRACK_SPOOL_FILES]);
        }

        if (fl->vanished) {
            ngx_log_error(NGX_LOG_ALERT, sp->log, 0,
                          "mail_track spool: \"%s\" disappeared, "
                          "%O bytes of records in it are lost",
                          fl->path, sh->part_size);
        }

        sh->part_path[0] = '\0';
        sh->part_size = 0;
        sh->part_records = 0;
        sh->part_gen++;
    }

    if (fl->err && !fl->vanished) {
        ngx_http_mail_track_count(zone, misc[NGX_HTTP_MAIL_TRACK_SPOOL_ERRORS]);

        now = ngx_current_msec;

        /* one line per flush interval while the spool keeps failing */

        if (sp->last_error == 0 || now - sp->last_error >= sp->conf->flush) {
            sp->last_error = now;

            ngx_log_error(NGX_LOG_ERR, sp->log, fl->err,
                          "mail_track spool: %s \"%s\" failed, %ui "
                          "record(s) stay queued", fl->op,
                          fl->err_path ? fl->err_path : fl->dir,
                          ngx_http_mail_track_zone_pending(zone,
                                                           &fl->len));
        }

    } else if (fl->err == 0) {
        sp->last_error = 0;
    }

    ngx_http_mail_track_spool_unlock(sp);
    sp->busy = 0;

    ngx_http_mail_track_spool_wake(sp, 0);

    /* more than a batch waiting, and the last write worked: go on */

    if (fl->err == 0 && fl->n && !sp->exiting) {
        ngx_http_mail_track_spool_appended(zone, sh->tail_seq - 1);
    }
}


/*
 * .part files of a previous nginx (a crash, a power cut): cut each to
 * its last whole record and seal it.  Files of a live process are not
 * touched: on a reload that resized the zone, old workers still write.
 */

static void
ngx_http_mail_track_spool_recover(ngx_http_mail_track_flush_t *fl,
    ngx_log_t *log)
{
    DIR            *dir;
    u_char         *name, *p, *dash;
    size_t          len;
    pid_t           pid;
    struct dirent  *de;
    u_char          path[NGX_MAX_PATH + 1];

    dir = opendir((char *) fl->dir);

    if (dir == NULL) {
        /* the write that follows reports the directory's trouble */
        fl->recover_failed = 1;
        return;
    }

    while ((de = readdir(dir)) != NULL) {
        name = (u_char *) de->d_name;
        len = ngx_strlen(name);

        if (len < 6 || ngx_strcmp(name + len - 5, ".part") != 0) {
            continue;
        }

        /* <host>-<pid>-<ms>-<seq>.part: the pid is third from the right */

        p = name + len - 5;
        dash = NULL;

        for (pid = 0; p > name; p--) {
            if (p[-1] == '-' && ++pid == 3) {
                dash = p;
                break;
            }
        }

        pid = 0;

        if (dash) {
            pid = (pid_t) ngx_atoi(dash, (u_char *) ngx_strchr(dash, '-')
                                         - dash);
        }

        if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)) {
            continue;
        }

        ngx_snprintf(path, NGX_MAX_PATH, "%s/%s%Z", fl->dir, name);

        if (ngx_http_mail_track_spool_recover_file(path, log) == NGX_OK) {
            fl->recovered++;
        }
    }

    (void) closedir(dir);
}


static ngx_int_t
ngx_http_mail_track_spool_recover_file(u_char *path, ngx_log_t *log)
{
    int              fd;
    u_char          *buf, *end;
    size_t           size;
    off_t            good;
    ssize_t          n;
    struct stat      st;
    mt_mp_reader_t   r;
    u_char           sealed[NGX_MAX_PATH + 1];

    fd = open((char *) path, O_RDWR);
    if (fd == -1) {
        return NGX_ERROR;
    }

    if (fstat(fd, &st) == -1) {
        (void) close(fd);
        return NGX_ERROR;
    }

    size = (size_t) st.st_size;
    buf = NULL;
    good = 0;

    if (size) {
        buf = malloc(size);
        if (buf == NULL) {
            (void) close(fd);
            return NGX_ERROR;
        }

        n = pread(fd, buf, size, 0);

        if (n != (ssize_t) size) {
            free(buf);
            (void) close(fd);
            return NGX_ERROR;
        }

        r.pos = buf;
        r.end = buf + size;

        while (r.pos < r.end) {
            if (mt_mp_skip(&r, 16) != 0) {
                break;
            }

            good = r.pos - buf;
        }

        free(buf);
    }

    if ((off_t) size != good && ftruncate(fd, good) == -1) {
        (void) close(fd);
        return NGX_ERROR;
    }

    (void) close(fd);

    if (good == 0) {
        (void) unlink((char *) path);
        return NGX_DECLINED;
    }

    end = ngx_cpystrn(sealed, path, NGX_MAX_PATH - 8);
    ngx_memcpy(end - 5, ".mtspool", sizeof(".mtspool"));

    if (rename((char *) path, (char *) sealed) == -1) {
        return NGX_ERROR;
    }

    (void) log;

    return NGX_OK;
}


static void
ngx_http_mail_track_spool_wake(ngx_http_mail_track_spool_t *sp,
    ngx_uint_t all)
{
    uint64_t                       durable;
    ngx_queue_t                   *q, *next;
    ngx_msec_t                     now;
    ngx_http_mail_track_waiter_t  *w;

    if (ngx_queue_empty(&sp->waiters)) {
        return;
    }

    durable = sp->zone->sh->durable_seq;
    now = ngx_current_msec;

    for (q = ngx_queue_head(&sp->waiters);
         q != ngx_queue_sentinel(&sp->waiters);
         q = next)
    {
        next = ngx_queue_next(q);
        w = ngx_queue_data(q, ngx_http_mail_track_waiter_t, queue);

        if (durable > w->seq) {
            ngx_queue_remove(q);
            w->active = 0;
            w->handler(w->data, NGX_OK);
            continue;
        }

        if (all || (ngx_msec_int_t) (now - w->deadline) >= 0) {
            ngx_queue_remove(q);
            w->active = 0;
            w->handler(w->data, NGX_ERROR);
        }
    }

    if (!ngx_queue_empty(&sp->waiters) && !sp->poll.timer_set) {
        ngx_add_timer(&sp->poll, NGX_HTTP_MAIL_TRACK_POLL);
    }
}


static void
ngx_http_mail_track_spool_poll(ngx_event_t *ev)
{
    ngx_http_mail_track_spool_t  *sp = ev->data;

    /* another worker may hold the role: look again, and help it along */

    ngx_http_mail_track_spool_flush(sp);
    ngx_http_mail_track_spool_wake(sp, 0);
}


/*
 * NGX_OK: the records are on disk already.  Otherwise the waiter is
 * called later, from an event: never from within this call, so that a
 * handler finalizing its request cannot pull the request from under the
 * caller.
 */

ngx_int_t
ngx_http_mail_track_spool_wait(ngx_http_mail_track_waiter_t *w)
{
    ngx_http_mail_track_spool_t  *sp;

    sp = &ngx_http_mail_track_spool_worker;

    if (sp->zone->sh->durable_seq > w->seq) {
        return NGX_OK;
    }

    ngx_queue_insert_tail(&sp->waiters, &w->queue);
    w->active = 1;

    if (!sp->kick.posted) {
        ngx_post_event(&sp->kick, &ngx_posted_events);
    }

    if (!sp->poll.timer_set) {
        ngx_add_timer(&sp->poll, NGX_HTTP_MAIL_TRACK_POLL);
    }

    return NGX_AGAIN;
}


void
ngx_http_mail_track_spool_unwait(ngx_http_mail_track_waiter_t *w)
{
    if (w->active) {
        ngx_queue_remove(&w->queue);
        w->active = 0;
    }
}


/*
 * The worker is leaving: the thread pool is already gone, so the rest
 * of the queue is written here, synchronously, and the part sealed.
 */

void
ngx_http_mail_track_spool_exit_process(ngx_cycle_t *cycle)
{
    ngx_msec_t                    waited;
    ngx_http_mail_track_spool_t  *sp;

    sp = &ngx_http_mail_track_spool_worker;

    if (sp->zone == NULL) {
        return;
    }

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
        return;
    }

    for (waited = 0; waited < NGX_HTTP_MAIL_TRACK_EXIT_WAIT; waited += 5) {
        if (ngx_http_mail_track_spool_lock(sp) == NGX_OK) {
            break;
        }

        ngx_msleep(5);
    }

    if (waited >= NGX_HTTP_MAIL_TRACK_EXIT_WAIT) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "mail_track spool: another process holds the spool, "
                      "leaving the queue to it");
        return;
    }

    for ( ;; ) {
        if (ngx_http_mail_track_spool_prepare(sp, 1) != NGX_OK) {
            break;
        }

        ngx_http_mail_track_spool_write(sp->flush, cycle->log);

        sp->busy = 1;
        ngx_http_mail_track_spool_done(sp);

        if (sp->flush->err) {
            break;
        }

        (void) ngx_http_mail_track_spool_lock(sp);
    }

    ngx_http_mail_track_spool_unlock(sp);

    ngx_http_mail_track_spool_wake(sp, 1);

    ngx_free(sp->buf);
    sp->zone = NULL;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The spool: the mail_track_spool directive, the directory check the
 * master makes at start and on reload, and the worker's start and exit.
 * The writer is in ngx_http_mail_track_spool_flush.c, durable
 * acknowledgements in ngx_http_mail_track_spool_wait.c, the files on
 * disk in core/mt_spool.c.
 */


#include "ngx_http_mail_track_spool.h"
#include "mt_spool.h"


static char *ngx_http_mail_track_spool_seal(ngx_conf_t *cf,
    ngx_http_mail_track_spool_conf_t *scf);
static void ngx_http_mail_track_spool_seal_cleanup(void *data);
static ngx_int_t ngx_http_mail_track_spool_perms(ngx_cycle_t *cycle,
    ngx_http_mail_track_spool_conf_t *scf);
static ngx_int_t ngx_http_mail_track_spool_probe(ngx_cycle_t *cycle,
    ngx_str_t *path, ngx_core_conf_t *ccf, ngx_err_t *err);


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

        if (ngx_strncmp(value[i].data, "seal=", 5) == 0
            && value[i].len > 5)
        {
            scf->seal_file.data = value[i].data + 5;
            scf->seal_file.len = value[i].len - 5;
            continue;
        }

        if (ngx_strcmp(value[i].data, "mode=0600") == 0) {
            scf->mode = 0600;
            continue;
        }

        if (ngx_strcmp(value[i].data, "mode=0640") == 0) {
            scf->mode = 0640;
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

    if (scf->seal_file.len
        && ngx_http_mail_track_spool_seal(cf, scf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
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
 * seal=FILE: the X25519 public key the files are sealed for.  A private
 * key is refused: the edge must not be able to read what it wrote.
 */

static char *
ngx_http_mail_track_spool_seal(ngx_conf_t *cf,
    ngx_http_mail_track_spool_conf_t *scf)
{
    char                 msg[256];
    ngx_err_t            err;
    ngx_str_t            text;
    mt_seal_key_t       *k;
    ngx_pool_cleanup_t  *cln;

    if (ngx_conf_full_name(cf->cycle, &scf->seal_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    switch (ngx_http_mail_track_read_file(&scf->seal_file, 64 * 1024,
                                          cf->temp_pool, cf->log, &text,
                                          &err))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "seal key \"%V\" is larger than 64k: not a "
                           "key", &scf->seal_file);
        return NGX_CONF_ERROR;

    default:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                           "cannot read seal key \"%V\"", &scf->seal_file);
        return NGX_CONF_ERROR;
    }

    k = ngx_pcalloc(cf->pool, sizeof(mt_seal_key_t));
    if (k == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_mail_track_spool_seal_cleanup;
    cln->data = k;

    if (mt_seal_key_parse(k, text.data, text.len, 0, msg, sizeof(msg)) != 0)
    {
        ngx_explicit_memzero(text.data, text.len);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid seal key \"%V\": %s", &scf->seal_file,
                           msg);
        return NGX_CONF_ERROR;
    }

    scf->seal = k;

    return NGX_CONF_OK;
}


static void
ngx_http_mail_track_spool_seal_cleanup(void *data)
{
    mt_seal_key_free(data);
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

    /* whoever may change a link may send the records elsewhere */

    if (ngx_link_info(scf->path.data, &fi) != NGX_FILE_ERROR
        && ngx_is_link(&fi))
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "mail_track_spool \"%V\" is a symbolic link: "
                      "give the directory itself", &scf->path);
        return NGX_ERROR;
    }

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

    if (ngx_http_mail_track_spool_perms(cycle, scf) != NGX_OK) {
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
 * The two layouts docs/privacy.md describes: the workers' own directory
 * (no write access for group or others), or one shared with a loader's
 * group, setgid so that every file gets that group (Debian's 2770).
 * New files are 0600 in the first, 0640 in the second, unless mode=
 * says otherwise.
 */

static ngx_int_t
ngx_http_mail_track_spool_perms(ngx_cycle_t *cycle,
    ngx_http_mail_track_spool_conf_t *scf)
{
    ngx_uint_t       mode;
    ngx_file_info_t  fi;
    u_char           text[5];

    if (ngx_file_info(scf->path.data, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "mail_track_spool \"%V\" is not accessible",
                      &scf->path);
        return NGX_ERROR;
    }

    mode = fi.st_mode & 07777;

    if (mode & S_IWOTH) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "mail_track_spool \"%V\" is writable by others "
                      "(mode %s): anyone could replace the records; "
                      "chmod o-w it", &scf->path,
                      ngx_http_mail_track_mode_text(text, mode));
        return NGX_ERROR;
    }

    if ((mode & S_IWGRP) && !(mode & S_ISGID)) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "mail_track_spool \"%V\" is writable by its group "
                      "without the setgid bit (mode %s): a directory "
                      "shared with a loader's group is 2770 (chmod g+s), "
                      "else chmod g-w it", &scf->path,
                      ngx_http_mail_track_mode_text(text, mode));
        return NGX_ERROR;
    }

    if (scf->mode == 0) {
        scf->mode = (mode & S_ISGID) ? 0640 : 0600;
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
    ngx_http_mail_track_spool_wait_init(zone);

    return ngx_http_mail_track_spool_flush_init(cycle, zone, scf);
}


void
ngx_http_mail_track_spool_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mail_track_spool_flush_exit(cycle);
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Spool files on disk: names, appending a batch to the open .part file,
 * sealing it, and recovering what an earlier run left unsealed.  Plain
 * POSIX, no nginx: the module runs it in a thread, the unit tests and
 * the tool call it directly.
 */


#ifndef _MT_SPOOL_H_INCLUDED_
#define _MT_SPOOL_H_INCLUDED_


#include "mt_core.h"
#include "mt_seal.h"


#define MT_SPOOL_SUFFIX         ".mtspool"
#define MT_SPOOL_PART_SUFFIX    ".part"

/* room for "/<host>-<pid>-<ms>-<seq>.mtspool" after the directory */
#define MT_SPOOL_NAME_MAX       160

#define MT_LOG_ERR              4
#define MT_LOG_WARN             5
#define MT_LOG_NOTICE           6
#define MT_LOG_INFO             7


/* <host>-<pid>-<unix_ms>-<seq>.part or .mtspool */
typedef struct {
    mt_str_t            host;
    uint64_t            pid;
    uint64_t            ms;
    uint64_t            seq;
    unsigned            sealed:1;
} mt_spool_name_t;


typedef void (*mt_spool_log_pt)(void *data, int level, int err,
    const char *msg);


/*
 * A sealed spool file's part of a step.  data then has MT_SEAL_HEADROOM
 * bytes before it and MT_SEAL_TAILROOM after it, and is sealed in place.
 */
typedef struct {
    mt_seal_ctx_t          *ctx;
    const mt_seal_key_t    *key;       /* the recipient's public key */

    /* in: the part's (ignored with create); out: after the batch */
    mt_seal_file_t          file;

    /* in: this attempt's nonce counter, never used for another */
    uint64_t                counter;
} mt_spool_crypt_t;


/*
 * One step of the writer: append a batch to the .part file, make it
 * durable, seal it.  The caller holds the writer role; nothing here
 * touches shared state, so it may run in a thread.
 */
typedef struct {
    /* in */
    const char         *dir;
    const char         *path;          /* the .part file */
    const char         *sealed_path;   /* its name once sealed */
    const u_char       *data;
    size_t              len;
    off_t               committed;     /* what earlier batches left */
    mt_spool_crypt_t   *crypt;         /* seal=: encrypted, or NULL */
    int                 mode;          /* of a new file, 0600 or 0640 */

    unsigned            create:1;      /* a new .part for this batch */
    unsigned            seal:1;        /* rename it after the batch */
    unsigned            seal_if_full:1; /* a batch that fits nowhere */
    unsigned            sync:1;        /* data and name on disk */
    unsigned            sync_seal:1;   /* on disk before it is sealed */
    unsigned            syncfs:1;      /* earlier files too */
    unsigned            dir_synced:1;  /* its name is on disk already */

    /* in and out: this process's descriptor of the .part, or -1 */
    int                 fd;

    /* out */
    int                 err;
    const char         *op;
    const char         *err_path;
    off_t               size;          /* of the .part after the batch */
    off_t               lost;          /* shorter than committed */

    unsigned            written:1;
    unsigned            sealed:1;
    unsigned            vanished:1;
    unsigned            truncated:1;
    unsigned            nospace:1;
    unsigned            synced:1;      /* everything asked for is done */
    unsigned            dir_synced_now:1;
    unsigned            fsyncs:2;      /* data syncs done */
} mt_spool_flush_t;


typedef struct {
    /* in */
    const char         *dir;
    mt_str_t            host;          /* only this host's files */
    uid_t               uid;           /* only files it owns */
    mt_spool_log_pt     log;
    void               *log_data;

    /* out */
    unsigned            sealed;        /* cut and renamed */
    unsigned            removed;       /* no whole record: unlinked */
    unsigned            live;          /* locked by a writer */
    unsigned            odd;           /* left alone, logged */
    unsigned            foreign;       /* another host's */
    int                 err;
    const char         *op;
} mt_spool_recover_t;


int mt_spool_name_parse(const u_char *name, size_t len, mt_spool_name_t *sn);
int mt_spool_part_open(const char *path, int create, int mode, int *fd);
int mt_spool_part_check(int fd, const char *path);
void mt_spool_flush(mt_spool_flush_t *f);
int mt_spool_sync_dir(const char *dir);
int mt_spool_rename(int olddirfd, const char *from, int newdirfd,
    const char *to);
int mt_spool_whole(int fd, off_t size, off_t *good);
int mt_spool_recover(mt_spool_recover_t *rv);


#endif /* _MT_SPOOL_H_INCLUDED_ */

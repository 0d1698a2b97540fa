
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mail-track load: the loader's state, shared by the one-pass load
 * (mt_tool_load.c), --follow (mt_tool_follow.c) and the spool directory
 * lock (mt_tool_lock.c).
 */


#ifndef _MT_TOOL_LOAD_H_INCLUDED_
#define _MT_TOOL_LOAD_H_INCLUDED_


#include "mt_tool_db.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>


#define MT_LOAD_LOCK_NAME       ".mail-track-load.lock"
#define MT_LOAD_LOADED_DIR      "loaded"
#define MT_LOAD_BAD_DIR         "bad"


/* a file of the transaction in hand */
typedef struct {
    char                       *path;
    char                       *dir;        /* its spool directory */
    const char                 *name;       /* in path */
    mt_db_file_t                db;
    size_t                      first;      /* its events: ev[first .. last) */
    size_t                      last;
    unsigned                    loaded_before:1;
    unsigned                    vanished:1;
} mt_load_file_t;


/* a sealed file found by a pass */
typedef struct {
    char                       *dir;
    char                       *name;
    char                       *path;
    off_t                       size;
} mt_load_entry_t;


typedef struct mt_load_s  mt_load_t;

/*
 * A transaction: its files read and decoded (by the reading thread when
 * the load overlaps, mt_load_read()), then written (mt_load_tx()).
 */
typedef struct {
    mt_load_t                  *ld;
    mt_load_entry_t            *e;          /* its files */
    size_t                      n;

    mt_arena_t                  arena;
    mt_db_event_t             **ev;
    size_t                      nev;
    size_t                      nalloc;
    mt_load_file_t             *files;
    size_t                      nfiles;
    size_t                      files_alloc;
    mt_tool_buf_t               tmp;
    mt_load_file_t             *cur;
    int                         dbrc;       /* what stopped a read */
    int                         rc;         /* the reading's result */
    uint64_t                   *ids;        /* the id set: hash, position */
    size_t                      nids;       /* its size, a power of 2 */
    size_t                      nseen;      /* ids in it */
    mt_db_event_t             **batch;      /* the events of new ids */
    size_t                      nbatch;
    mt_db_msg_t               **msgs;       /* their messages' states */
    size_t                      nmsgs;

    int                         state;      /* the slot's, MT_LOAD_TX_* */
    unsigned                    rcpt_hashed:1;
    unsigned                    failed:1;   /* a file could not be read */
    unsigned                    batched:1;  /* batch is of every file */
    unsigned                    grouped:1;  /* msgs are of the batch */
    char                        err[MT_DB_ERR_LEN];
} mt_load_tx_t;


struct mt_load_s {
    mt_db_t                     db;
    const char                 *url;
    unsigned                    connected:1;

    char                      **dirs;
    size_t                      ndirs;
    int                        *locks;      /* fds of the dir locks */

    unsigned                    del:1;
    unsigned                    quiet:1;
    unsigned                    follow:1;
    unsigned                    wait:1;
    unsigned                    progress:1; /* a live line on a terminal */
    unsigned                    overlap:1;  /* a reading thread */
    unsigned                    rcpt_known:1;  /* the database's key set */
    const char                 *rcpt_key_id;   /* --hash-key's, or NULL */
    int                         shown;      /* the live line is drawn */

    /* the transaction in hand, and the two there may be */
    mt_load_tx_t               *tx;
    mt_load_tx_t                txs[2];

    /* the reading thread's: under mutex */
    pthread_mutex_t             mutex;      /* also stderr's */
    pthread_cond_t              cond;
    int                         abort;
    mt_load_entry_t            *all;        /* the pass's files */
    size_t                     *groups;     /* a transaction's first */
    size_t                      ngroups;

    /* totals */
    uint64_t                    n_files;
    uint64_t                    n_events;
    uint64_t                    n_dups;
    uint64_t                    n_invalid;
    uint64_t                    n_repaired;
    uint64_t                    n_bad;
    uint64_t                    n_before;
    uint64_t                    n_vanished;
    uint64_t                    bytes_done;
    uint64_t                    bytes_total;
    uint64_t                    files_total;
    struct timespec             start;
    struct timespec             drawn;

    unsigned                    failed:1;   /* exit status 1 */
};


extern volatile sig_atomic_t  mt_load_stop;


/* mt_tool_load.c */
int mt_load_pass(mt_load_t *ld);
int mt_load_connect(mt_load_t *ld);
void mt_load_clear(mt_load_t *ld);
void mt_load_say(mt_load_t *ld, int begin);
void mt_load_summary(mt_load_t *ld);

/* mt_tool_suppress.c */
int mt_load_suppressions(mt_load_t *ld);

/* mt_tool_messages.c */
int mt_load_messages(mt_load_t *ld);
int mt_load_messages_group(mt_load_tx_t *tx, unsigned per_event);
void mt_load_messages_drop(mt_load_tx_t *tx);

/* mt_tool_follow.c */
int mt_load_follow(mt_load_t *ld);

/* mt_tool_lock.c */
int mt_load_lock(const char *dir, int wait, int *fd);


#endif /* _MT_TOOL_LOAD_H_INCLUDED_ */


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


typedef struct {
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
    unsigned                    rcpt_hashed:1; /* in the transaction */
    unsigned                    rcpt_known:1;  /* the database's key set */
    const char                 *rcpt_key_id;   /* --hash-key's, or NULL */
    unsigned                    shown:1;    /* the live line is drawn */

    /* the transaction in hand */
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
    uint64_t                   *ids;        /* the id set: hash, position */
    size_t                      nids;       /* its size, a power of 2 */
    size_t                      nseen;      /* ids in it */

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
} mt_load_t;


extern volatile sig_atomic_t  mt_load_stop;


/* mt_tool_load.c */
int mt_load_pass(mt_load_t *ld);
int mt_load_connect(mt_load_t *ld);
void mt_load_clear(mt_load_t *ld);
void mt_load_summary(mt_load_t *ld);

/* mt_tool_suppress.c */
int mt_load_suppressions(mt_load_t *ld);

/* mt_tool_messages.c */
int mt_load_messages(mt_load_t *ld);

/* mt_tool_follow.c */
int mt_load_follow(mt_load_t *ld);

/* mt_tool_lock.c */
int mt_load_lock(const char *dir, int wait, int *fd);


#endif /* _MT_TOOL_LOAD_H_INCLUDED_ */

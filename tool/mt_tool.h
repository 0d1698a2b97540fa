
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The mail-track command-line tool: shared helpers, the msgpack to JSON
 * writer and the spool reader, so that every command (and a future
 * "load") reads spool files the same way.
 */


#ifndef _MT_TOOL_H_INCLUDED_
#define _MT_TOOL_H_INCLUDED_


#include "mt_core.h"
#include "mt_version.h"

#include <stdio.h>
#include <sys/types.h>
#include <msgpack.h>


#define MT_TOOL_NAME            "mail-track"

/* exit codes */
#define MT_TOOL_OK              0
#define MT_TOOL_ERROR           1
#define MT_TOOL_USAGE           2

/* the largest spool record the reader accepts (the module writes 16k) */
#define MT_SPOOL_RECORD_MAX     (1024 * 1024)
#define MT_SPOOL_CHUNK          (256 * 1024)
#define MT_SPOOL_SUFFIX         ".mtspool"
#define MT_SPOOL_PART_SUFFIX    ".part"

/* mt_tool_json_value() flags */
#define MT_JSON_BIN_STRING      0x01   /* bin as a string, not base64 */


/* a growing byte buffer; after a failed allocation nomem stays set */
typedef struct {
    u_char                     *data;
    size_t                      len;
    size_t                      size;
    unsigned                    nomem:1;
} mt_tool_buf_t;


/*
 * Called for every record of a spool file, in file order, with the byte
 * offset where the record starts.  Returning -1 stops the reading.
 */
typedef int (*mt_spool_handler_pt)(void *data, const char *path,
    off_t offset, const msgpack_object *rec);

/*
 * Called for a damaged stretch: what it is ("corrupt record", "truncated
 * record", or for a sealed file the chunk that failed and why), offset
 * where it starts.  Without one the reader prints "FILE: WHAT at byte N"
 * on stderr ("FILE: corrupt record at byte N").
 */
typedef void (*mt_spool_damage_pt)(void *data, const char *path,
    off_t offset, const char *what);


/* mail_track.c */
void mt_tool_error(const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));
int mt_tool_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
int mt_tool_read_file(const char *path, u_char **buf, size_t *len,
    size_t max);
int mt_tool_read_fd(int fd, const char *path, u_char **buf, size_t *len,
    size_t max);
int mt_tool_read_secret(const char *path, u_char **buf, size_t *len,
    size_t max);
int mt_tool_is_help(const char *arg);
int mt_tool_bad_option(const char *cmd, int c, char **argv);

/* mt_tool_keys.c */
int mt_tool_keygen(int argc, char **argv);
int mt_tool_token(int argc, char **argv);

/* mt_tool_seal.c, mt_tool_hash.c */
int mt_tool_keygen_seal(const char *priv, const char *pub);
int mt_tool_hash(int argc, char **argv);

/* mt_tool_spool.c */
int mt_tool_spool(int argc, char **argv);

/* mt_tool_load.c, mt_tool_dbcmd.c */
int mt_load(int argc, char **argv);
int mt_tool_db(int argc, char **argv);
int mt_tool_status(int argc, char **argv);

void mt_tool_buf_init(mt_tool_buf_t *b);
void mt_tool_buf_free(mt_tool_buf_t *b);
int mt_tool_buf_reserve(mt_tool_buf_t *b, size_t n);
void mt_tool_buf_add(mt_tool_buf_t *b, const void *p, size_t len);
void mt_tool_buf_add_cstr(mt_tool_buf_t *b, const char *s);
void mt_tool_json_str(mt_tool_buf_t *b, const u_char *p, size_t len);
void mt_tool_json_int(mt_tool_buf_t *b, int64_t v);
void mt_tool_json_value(mt_tool_buf_t *b, const msgpack_object *o,
    unsigned flags);

/*
 * Reads one spool file in chunks.  Corrupt and truncated stretches are
 * reported on stderr as "FILE: corrupt record at byte N" and skipped.
 * Returns 0 when all was well, 1 when something was corrupt, -1 when the
 * file could not be read (reported) or the handler stopped.
 */
int mt_spool_read_file(const char *path, mt_spool_handler_pt handler,
    void *data);
int mt_spool_read_fd(int fd, const char *path, mt_spool_handler_pt handler,
    mt_spool_damage_pt damage, void *data);

/*
 * The private key that opens sealed (seal=) spool files, for every
 * reader of this process: --seal-key.  0, or -1 (reported).
 */
int mt_spool_seal_key(const char *path);
void mt_spool_seal_key_free(void);
int mt_spool_cannot_open(int fd, const char *path);

/* the sealed spool files of a directory, sorted by name */
int mt_spool_list(const char *dir, char ***names, size_t *n);
void mt_spool_list_free(char **names, size_t n);


#endif /* _MT_TOOL_H_INCLUDED_ */

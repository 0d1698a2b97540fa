
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The query commands (status, report, suppressions, forget, prune): the
 * output formats they share (a table on a terminal, JSON otherwise, or
 * CSV), the recipient argument in the one form the loader stores, and
 * the key of hashed recipients.
 */


#ifndef _MT_TOOL_QUERY_H_INCLUDED_
#define _MT_TOOL_QUERY_H_INCLUDED_


#include "mt_tool_db.h"
#include "mt_rcpt.h"


/* the setting that names the key of hashed addresses in a database */
#define MT_RCPT_KEY_SETTING     "rcpt_hash_key"
#define MT_RCPT_KEY_ENV         "MAIL_TRACK_HASH_KEY"

/*
 * An address suppressed by hand ($1 address, $2 domain, $3 reason, $4
 * now, $5 note): a new row, or a removed one suppressed again; a row
 * suppressed already keeps its reason (the earliest names it).  Returns
 * the address when it changed something.
 */
#define MT_SUP_ADD_SQL                                                        \
    "INSERT INTO mail_suppressions (address, domain, suppressed, reason, "    \
    "src, first_at, last_at, events, note) "                                  \
    "VALUES ($1, $2, 1, $3, NULL, $4, $4, 0, $5) "                            \
    "ON CONFLICT (address) DO UPDATE SET suppressed = 1, "                    \
    "reason = excluded.reason, src = NULL, message_id = NULL, "               \
    "event_id = NULL, first_at = excluded.first_at, "                         \
    "last_at = excluded.last_at, events = 0, "                                \
    "note = coalesce(excluded.note, mail_suppressions.note) "                 \
    "WHERE mail_suppressions.suppressed = 0 RETURNING address"

/*
 * A backend without updates (ClickHouse) keeps what add and remove did
 * as rows: an address suppressed by hand ($3 a reason) or removed ($3
 * ""), at $4; the view mail_suppressions gives the rows SQL's has.
 */
#define MT_SUP_HAND_SQL                                                       \
    "INSERT INTO mail_suppression_hand (address, domain, reason, note, at) "  \
    "VALUES ($1, $2, $3, $5, toInt64($4))"

/* a long option every query command takes */
#define MT_OPT_FORMAT           300


typedef enum {
    MT_OUT_TABLE = 1,
    MT_OUT_JSON,
    MT_OUT_CSV
} mt_out_format_e;


typedef enum {
    MT_COL_STR = 0,
    MT_COL_INT,
    MT_COL_TIME,                               /* ms since the epoch */
    MT_COL_RATE                                /* a fraction */
} mt_col_type_e;


typedef struct {
    const char                 *name;          /* JSON key, CSV header */
    mt_col_type_e               type;
    const char                 *title;         /* a table's, else name */
} mt_out_col_t;


/* a cell; null: SQL NULL (JSON null, "-" in a table, empty in CSV) */
typedef struct {
    const char                 *str;
    size_t                      len;
    int64_t                     num;
    double                      rate;
    unsigned                    null:1;
} mt_out_val_t;


typedef struct {
    FILE                       *f;
    mt_out_format_e             format;
    const mt_out_col_t         *cols;
    int                         ncols;
    unsigned                    list:1;        /* JSON: rows in an array */
    unsigned                    failed:1;      /* out of memory */
    size_t                      nrows;
    mt_tool_buf_t               buf;           /* a row, or a table */
    size_t                     *widths;
    uint8_t                    *rules;         /* table: a rule above */
    size_t                      nalloc;
} mt_out_t;


/* the recipient an argument names, as the database keys it */
typedef struct {
    u_char                      addr[MT_RCPT_ADDR_MAX + 1];
    size_t                      len;           /* 0: given as a hash */
    u_char                      hash[MT_RCPT_HASH_HEX + 1];
    unsigned                    hashed:1;      /* hash is known */
} mt_rcpt_arg_t;


/* a hash key (keygen --hash) and its id, as the database records it */
#define MT_RCPT_KEY_ID_HEX      16

typedef struct {
    u_char                      key[MT_RCPT_KEY_LEN];
    char                        id[MT_RCPT_KEY_ID_HEX + 1];
} mt_rcpt_key_t;


/* mt_tool_out.c */
int mt_out_format(const char *cmd, const char *arg, mt_out_format_e *fmt);
void mt_out_init(mt_out_t *o, FILE *f, mt_out_format_e fmt,
    const mt_out_col_t *cols, int ncols, int list);
void mt_out_row(mt_out_t *o, const mt_out_val_t *v);
void mt_out_rule(mt_out_t *o);
int mt_out_end(mt_out_t *o);
void mt_out_json_object(mt_tool_buf_t *b, const mt_out_col_t *cols,
    int ncols, const mt_out_val_t *v);
size_t mt_out_time(char *buf, int64_t ms, int iso);
void mt_out_str(mt_out_val_t *v, const char *s, size_t len);
void mt_out_num(mt_out_val_t *v, const char *s);

/* mt_tool_query.c */
int mt_query_open(mt_db_t *db, const char *url);
int mt_query_flush(void);
int64_t mt_query_now(void);
int mt_query_when(const char *cmd, const char *opt, const char *arg,
    int64_t now, int64_t *ms);
int mt_query_count_row(void *data, int ncols, const char **cols,
    const size_t *lens);

/* mt_tool_export.c */
int mt_sup_export(mt_db_t *db, const char *target, const char *list,
    const char *output, const char *format);

/* mt_tool_rcptkey.c */
int mt_rcpt_keygen(const char *path);
int mt_rcpt_key_read(const char *path, mt_rcpt_key_t *k);
int mt_rcpt_key_loaded(mt_db_t *db, const char *id);
int mt_rcpt_arg(const char *cmd, const char *arg, mt_rcpt_arg_t *r);
int mt_rcpt_key(mt_db_t *db, const char *path, int create,
    mt_rcpt_arg_t *r);

/* the commands */
int mt_tool_report(int argc, char **argv);
int mt_tool_suppressions(int argc, char **argv);
int mt_tool_forget(int argc, char **argv);
int mt_tool_prune(int argc, char **argv);


#endif /* _MT_TOOL_QUERY_H_INCLUDED_ */

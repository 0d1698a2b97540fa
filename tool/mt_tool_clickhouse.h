
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The ClickHouse backend's parts: a block of rows in ClickHouse's Native
 * format (mt_tool_chblock.c), built column by column and sent as one
 * INSERT, and the schema (mt_tool_chschema.c).
 */


#ifndef _MT_TOOL_CLICKHOUSE_H_INCLUDED_
#define _MT_TOOL_CLICKHOUSE_H_INCLUDED_


#include "mt_tool_db.h"
#include "mt_tool_http.h"


typedef enum {
    MT_CH_STRING = 0,
    MT_CH_INT64,
    MT_CH_UINT8,
    MT_CH_UINT16
} mt_ch_type_e;


/* a column of a block: its name and ClickHouse type */
typedef struct {
    const char                 *name;
    const char                 *type;      /* "Nullable(String)", ... */
    mt_ch_type_e                base;
    unsigned                    nullable:1;
} mt_ch_col_t;


/*
 * The rows of one INSERT, kept by column as Native wants them: a
 * nullable column has its NULL map (a byte per row) and its values.
 */
typedef struct {
    const char                 *table;
    const mt_ch_col_t          *cols;
    size_t                      ncols;
    size_t                      rows;
    mt_tool_buf_t              *data;
    mt_tool_buf_t              *nulls;
} mt_ch_block_t;


/* a table of the schema: its columns, engine, and Distributed key */
typedef struct {
    const char                 *name;
    const mt_ch_col_t          *cols;
    size_t                      ncols;
    const char                 *engine;
    const char                 *shard;
} mt_ch_table_t;


typedef enum {
    MT_CH_T_SCHEMA = 0,
    MT_CH_T_SETTINGS,
    MT_CH_T_FILES,
    MT_CH_T_EVENTS,
    MT_CH_T_MSG,
    MT_CH_T_SOFT,
    MT_CH_T_CLAIMS,
    MT_CH_T_HAND,
    MT_CH_T_MAX
} mt_ch_table_e;


#define MT_CH_FILE_NCOLS        12
#define MT_CH_MSG_NCOLS         22
#define MT_CH_SOFT_NCOLS        5
#define MT_CH_CLAIM_NCOLS       8
#define MT_CH_HAND_NCOLS        5

/* the nodes a URL may name: clickhouse://HOST1:PORT1,HOST2:PORT2/DB */
#define MT_CH_NODES_MAX         64


typedef struct {
    mt_http_t                   node[MT_CH_NODES_MAX];  /* as needed */
    char                       *hosts[MT_CH_NODES_MAX]; /* "host:port" */
    size_t                      nnodes;
    size_t                      main;        /* the node spoken to */
    char                       *database;
    char                       *user;
    char                       *password;
    char                       *cafile;
    unsigned                    secure:1;

    mt_tool_buf_t               sql;         /* a statement */
    mt_tool_buf_t               args;        /* a URL's query */
    mt_tool_buf_t               body;        /* an INSERT's block */
    mt_ch_block_t               block[MT_CH_T_MAX];
    char                      (*sha)[65];   /* the transaction's files */
    size_t                      nsha;
    size_t                      sha_alloc;
    int64_t                     now;         /* the transaction's time */
} mt_ch_t;


/* mt_tool_clickhouse.c */
mt_http_t *mt_ch_node(mt_db_t *db, size_t i);
int mt_ch_query_on(mt_db_t *db, mt_http_t *h, const char *sql,
    const char **params, int nparams, mt_db_row_pt row, void *data);
int mt_ch_exec_on(mt_db_t *db, mt_http_t *h, mt_tool_buf_t *sql);
void mt_ch_quote(mt_tool_buf_t *b, const char *s, size_t len);
void mt_ch_expand(mt_tool_buf_t *b, const char *sql, const char **params,
    int nparams);

/* mt_tool_chalter.c */
int mt_ch_is_cluster(mt_db_t *db, int *cluster);
int mt_ch_alter(mt_db_t *db, int cluster, const char *table,
    const char *what);
int mt_ch_prune(mt_db_t *db, int64_t before, mt_db_prune_t *stats);
int mt_ch_delete(mt_db_t *db, const char *table, const char *where,
    const char **params, int nparams);
void mt_ch_ident(mt_tool_buf_t *b, const char *s);

/* mt_tool_chschema.c */
extern const mt_ch_table_t  mt_ch_tables[MT_CH_T_MAX];
extern const mt_ch_col_t    mt_ch_events_cols[MT_DB_EVENTS_NCOLS];
extern const mt_ch_col_t    mt_ch_files_cols[MT_CH_FILE_NCOLS];
extern const mt_ch_col_t    mt_ch_msg_cols[MT_CH_MSG_NCOLS];
extern const mt_ch_col_t    mt_ch_soft_cols[MT_CH_SOFT_NCOLS];
extern const mt_ch_col_t    mt_ch_claim_cols[MT_CH_CLAIM_NCOLS];

int mt_ch_schema_create(mt_db_t *db);
int mt_ch_schema_check(mt_db_t *db);

/* mt_tool_chblock.c */
int mt_ch_block_init(mt_ch_block_t *b, const char *table,
    const mt_ch_col_t *cols, size_t ncols);
void mt_ch_block_free(mt_ch_block_t *b);
void mt_ch_block_reset(mt_ch_block_t *b);
int mt_ch_block_nomem(const mt_ch_block_t *b);

/* a value of column i of the row being added; "" is NULL when nullable */
void mt_ch_str(mt_ch_block_t *b, size_t i, const u_char *p, size_t len);
void mt_ch_int(mt_ch_block_t *b, size_t i, int64_t v, int known);

/* the block in Native format: the header, then each column's bytes */
void mt_ch_block_native(const mt_ch_block_t *b, mt_tool_buf_t *out);


#endif /* _MT_TOOL_CLICKHOUSE_H_INCLUDED_ */

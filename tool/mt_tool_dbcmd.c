
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * mail-track db init: the schema, and the settings kept with it.
 */


#include "mt_tool_db.h"

#include <getopt.h>


static int mt_db_init(int argc, char **argv);
static int mt_db_usage(FILE *f);


static const struct option  mt_db_init_options[] = {
    { "db",           required_argument, NULL, 'd' },
    { "soft-bounces", required_argument, NULL, 's' },
    { "cluster",      required_argument, NULL, 'c' },
    { "help",         no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static int
mt_db_usage(FILE *f)
{
    fprintf(f,
        "usage: " MT_TOOL_NAME " db init --db URL "
        "[--soft-bounces N/DURATION|off]\n"
        "           [--cluster NAME]\n"
        "\n"
        "Creates the schema in an empty database (load does that too), or\n"
        "upgrades an older one.  A database whose schema is newer than this\n"
        "tool is refused and left alone.\n"
        "\n"
        "options:\n"
        "  --db URL             sqlite:PATH, postgresql://... or\n"
        "                       clickhouse://...; required\n"
        "  --cluster NAME       ClickHouse: local tables on every node the\n"
        "                       URL names (one per shard of the cluster NAME\n"
        "                       in the servers' remote_servers) and\n"
        "                       Distributed tables over them\n"
        "  --soft-bounces N/D   N soft bounces of an address within D (e.g.\n"
        "                       3/7d) suppress it; \"off\" (the default):\n"
        "                       soft bounces never suppress.  Kept in the\n"
        "                       database, so every loader applies the same\n"
        "  -h, --help           this text\n");

    return MT_TOOL_OK;
}


int
mt_tool_db(int argc, char **argv)
{
    if (argc < 2) {
        return mt_tool_usage_error("db", "expected \"init\"");
    }

    if (mt_tool_is_help(argv[1])) {
        return mt_db_usage(stdout);
    }

    if (strcmp(argv[1], "init") != 0) {
        return mt_tool_usage_error("db", "unknown subcommand \"%s\"",
                                   argv[1]);
    }

    return mt_db_init(argc - 1, argv + 1);
}


static int
mt_db_init(int argc, char **argv)
{
    int          c, rc;
    char        *end;
    mt_db_t      db;
    int64_t      n, window;
    const char  *url, *soft, *cluster, *params[2];

    url = NULL;
    soft = NULL;
    cluster = NULL;

    optind = 1;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", mt_db_init_options, NULL))
           != -1)
    {
        switch (c) {
        case 'd':
            url = optarg;
            break;
        case 's':
            soft = optarg;
            break;
        case 'c':
            cluster = optarg;
            break;
        case 'h':
            return mt_db_usage(stdout);
        default:
            return mt_tool_bad_option("db init", c, argv);
        }
    }

    if (url == NULL) {
        return mt_tool_usage_error("db init", "--db URL is required");
    }

    if (optind != argc) {
        return mt_tool_usage_error("db init", "unexpected argument \"%s\"",
                                   argv[optind]);
    }

    if (soft != NULL && strcmp(soft, "off") != 0) {
        n = strtoll(soft, &end, 10);
        window = (*end == '/') ? mt_parse_duration((u_char *) end + 1,
                                                   strlen(end + 1))
                               : -1;

        if (n < 1 || end == soft || window <= 0) {
            return mt_tool_usage_error("db init", "--soft-bounces \"%s\": "
                                       "expected N/DURATION (e.g. 3/7d) "
                                       "or off", soft);
        }
    }

    if (mt_db_open(&db, url) != MT_DB_OK) {
        mt_db_close(&db);
        return MT_TOOL_ERROR;
    }

    if (cluster != NULL && strcmp(db.backend->name, "clickhouse") != 0) {
        mt_db_close(&db);
        return mt_tool_usage_error("db init", "--cluster is for "
                                   "clickhouse:// databases");
    }

    db.cluster = cluster;

    rc = mt_db_ready(&db, 1);

    if (rc == MT_DB_OK && soft != NULL && db.backend->setting != NULL) {
        rc = db.backend->setting(&db, "soft_bounce_limit",
                                 strcmp(soft, "off") == 0 ? NULL : soft);

        if (rc != MT_DB_OK) {
            mt_tool_error("%s: %s", db.url, db.err);
        }

    } else if (rc == MT_DB_OK && soft != NULL) {
        params[0] = "soft_bounce_limit";
        params[1] = soft;

        rc = db.backend->query(&db, strcmp(soft, "off") == 0
                               ? "DELETE FROM mail_settings WHERE name = $1"
                               : "INSERT INTO mail_settings (name, value) "
                                 "VALUES ($1, $2) ON CONFLICT (name) "
                                 "DO UPDATE SET value = excluded.value",
                               params, strcmp(soft, "off") == 0 ? 1 : 2,
                               NULL, NULL);

        if (rc != MT_DB_OK) {
            mt_tool_error("%s: %s", db.url, db.err);
        }
    }

    if (rc == MT_DB_OK) {
        printf("%s: schema version %d\n", db.url, MT_DB_SCHEMA_VERSION);
    }

    mt_db_close(&db);

    return rc == MT_DB_OK ? MT_TOOL_OK : MT_TOOL_ERROR;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Recipients as the query commands take them, and the key of hashed
 * recipients.  An address is normalized by the loader's one function
 * (core/mt_rcpt.c); a hashed recipient is HMAC-SHA256(key, normalized
 * address) in hex, what "forget" leaves of an erased address that must
 * stay suppressed, and what records of a module hashing recipients
 * carry.  The key is a key file ("keygen --hash FILE", kept off the
 * database) or, when none was given when the first address was
 * hashed, a secret of the database (mail_settings).  The database
 * says which (MT_RCPT_KEY_SETTING: "file:KEY_ID" or "db:BASE64"), so
 * that a lookup without the right key fails instead of answering "not
 * suppressed".
 */


#include "mt_tool_query.h"
#include "mt_base64.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>


#define MT_RCPT_KEY_FILE_MAX    4096


static int mt_rcpt_key_decode(const u_char *p, size_t len, mt_rcpt_key_t *k);
static int mt_rcpt_key_setting(mt_db_t *db, char *value, size_t size,
    const char *want);


/* a new key file: never an existing one, a hash key never changes */

int
mt_rcpt_keygen(const char *path)
{
    int            fd, rc;
    u_char         line[mt_base64_encoded_len(MT_RCPT_KEY_LEN) + 2];
    size_t         n;
    ssize_t        w;
    mt_rcpt_key_t  k;

    if (RAND_bytes(k.key, MT_RCPT_KEY_LEN) != 1) {
        mt_tool_error("RAND_bytes() failed");
        return MT_TOOL_ERROR;
    }

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd == -1) {
        if (errno == EEXIST) {
            mt_tool_error("%s: exists; a hash key is made once and never "
                          "replaced (the hashes made with it would no longer "
                          "match)", path);
        } else {
            mt_tool_error("%s: %s", path, strerror(errno));
        }

        OPENSSL_cleanse(&k, sizeof(k));
        return MT_TOOL_ERROR;
    }

    n = mt_base64_encode(line, k.key, MT_RCPT_KEY_LEN);
    line[n++] = '\n';

    rc = MT_TOOL_OK;

    if (fchmod(fd, 0600) == -1) {
        mt_tool_error("%s: fchmod(): %s", path, strerror(errno));
        rc = MT_TOOL_ERROR;

    } else {
        do {
            w = write(fd, line, n);
        } while (w == -1 && errno == EINTR);

        if (w != (ssize_t) n || fsync(fd) == -1) {
            mt_tool_error("%s: write(): %s", path,
                          w == -1 || w == (ssize_t) n ? strerror(errno)
                                                      : "short write");
            rc = MT_TOOL_ERROR;
        }
    }

    if (close(fd) == -1 && rc == MT_TOOL_OK) {
        mt_tool_error("%s: close(): %s", path, strerror(errno));
        rc = MT_TOOL_ERROR;
    }

    if (rc == MT_TOOL_OK) {
        if (mt_rcpt_key_decode(line, n - 1, &k) == 0) {
            printf("%s\n", k.id);

        } else {
            mt_tool_error("HMAC-SHA256 failed");
            rc = MT_TOOL_ERROR;
        }
    }

    if (rc != MT_TOOL_OK) {
        (void) unlink(path);
    }

    OPENSSL_cleanse(line, sizeof(line));
    OPENSSL_cleanse(&k, sizeof(k));

    return rc;
}


/*
 * An ADDR argument: an address, normalized as the loader stores it, or
 * a hashed recipient as it is.  Anything else is refused (reported).
 */

int
mt_rcpt_arg(const char *cmd, const char *arg, mt_rcpt_arg_t *r)
{
    u_char  *buf;
    size_t   len, n;

    memset(r, 0, sizeof(mt_rcpt_arg_t));

    len = strlen(arg);

    buf = malloc(len + 1);
    if (buf == NULL) {
        mt_tool_error("out of memory");
        return -1;
    }

    n = mt_rcpt_normalize(buf, (const u_char *) arg, len);

    if (mt_rcpt_is_hash(buf, n)) {
        memcpy(r->hash, buf, n + 1);
        r->hash[n] = '\0';
        r->hashed = 1;
        free(buf);
        return 0;
    }

    if (!mt_rcpt_is_address(buf, n)) {
        free(buf);
        (void) mt_tool_usage_error(cmd, "\"%s\" is not an email address "
                                   "(nor a hashed one: %d hex digits)",
                                   arg, MT_RCPT_HASH_HEX);
        return -1;
    }

    memcpy(r->addr, buf, n);
    r->addr[n] = '\0';
    r->len = n;

    free(buf);

    return 0;
}


/*
 * Hashes r's address with the database's key: the key file given (or
 * MAIL_TRACK_HASH_KEY), or the database's own secret.  With create, a
 * database without a key gets one (the file's id, or a new secret).
 * 0: done (r->hashed says whether there is a hash); -1: reported.
 */

int
mt_rcpt_key(mt_db_t *db, const char *path, int create, mt_rcpt_arg_t *r)
{
    int            rc;
    char           value[128], want[128];
    size_t         n;
    u_char         secret[MT_RCPT_KEY_LEN];
    mt_rcpt_key_t  k;

    /* a hash given as it is needs no key */

    if (r->len == 0) {
        return 0;
    }

    if (path == NULL) {
        path = getenv(MT_RCPT_KEY_ENV);

        if (path != NULL && path[0] == '\0') {
            path = NULL;
        }
    }

    rc = mt_db_setting(db, MT_RCPT_KEY_SETTING, value, sizeof(value));
    if (rc < 0) {
        mt_tool_error("%s: %s", db->url, db->err);
        return -1;
    }

    if (rc == 0) {
        value[0] = '\0';
    }

    if (path != NULL) {
        if (mt_rcpt_key_read(path, &k) != 0) {
            return -1;
        }

        snprintf(want, sizeof(want), "file:%s", k.id);

        if (value[0] == '\0' && create
            && mt_rcpt_key_setting(db, value, sizeof(value), want)
               != MT_DB_OK)
        {
            mt_tool_error("%s: %s", db->url, db->err);
            goto failed;
        }

        if (value[0] != '\0' && strcmp(value, want) != 0) {
            if (strncmp(value, "file:", 5) == 0) {
                mt_tool_error("%s: %s: key id %s, but the database's hashed "
                              "addresses were made with the key of id %s",
                              db->url, path, k.id, value + 5);
            } else {
                mt_tool_error("%s: the database hashes addresses with a "
                              "secret of its own: leave out --hash-key (and "
                              MT_RCPT_KEY_ENV ")", db->url);
            }

            goto failed;
        }

    } else if (strncmp(value, "file:", 5) == 0) {
        mt_tool_error("%s: the database holds addresses hashed with a key "
                      "file (key id %s): give it with --hash-key FILE (or "
                      MT_RCPT_KEY_ENV ")", db->url, value + 5);
        return -1;

    } else if (value[0] == '\0' && !create) {
        return 0;

    } else {
        if (value[0] == '\0') {
            /* the first erased address: the database's own secret */

            if (RAND_bytes(secret, sizeof(secret)) != 1) {
                mt_tool_error("RAND_bytes() failed");
                return -1;
            }

            memcpy(want, "db:", 3);
            n = mt_base64_encode((u_char *) want + 3, secret, sizeof(secret));
            want[3 + n] = '\0';
            OPENSSL_cleanse(secret, sizeof(secret));

            rc = mt_rcpt_key_setting(db, value, sizeof(value), want);
            OPENSSL_cleanse(want, sizeof(want));

            if (rc != MT_DB_OK) {
                mt_tool_error("%s: %s", db->url, db->err);
                goto failed;
            }
        }

        if (strncmp(value, "db:", 3) != 0
            || mt_rcpt_key_decode((u_char *) value + 3, strlen(value + 3),
                                  &k) != 0)
        {
            mt_tool_error("%s: the setting \"" MT_RCPT_KEY_SETTING "\" is "
                          "not a key", db->url);
            goto failed;
        }
    }

    if (mt_rcpt_hash(k.key, MT_RCPT_KEY_LEN, r->addr, r->len, r->hash) != 0)
    {
        mt_tool_error("HMAC-SHA256 failed");
        goto failed;
    }

    r->hashed = 1;

    OPENSSL_cleanse(&k, sizeof(k));
    OPENSSL_cleanse(value, sizeof(value));

    return 0;

failed:

    OPENSSL_cleanse(&k, sizeof(k));
    OPENSSL_cleanse(value, sizeof(value));

    return -1;
}


/*
 * The setting as it is after ours went in, unless another one was first.
 * MT_DB_OK, or the database's error (db->err).
 */

static int
mt_rcpt_key_setting(mt_db_t *db, char *value, size_t size, const char *want)
{
    int          rc;
    const char  *params[2];

    params[0] = MT_RCPT_KEY_SETTING;
    params[1] = want;

    /* ClickHouse: the latest row of a log, no ON CONFLICT */

    rc = (db->backend->setting != NULL)
         ? db->backend->setting(db, MT_RCPT_KEY_SETTING, want)
         : db->backend->query(db, "INSERT INTO mail_settings (name, value) "
                              "VALUES ($1, $2) ON CONFLICT (name) "
                              "DO NOTHING", params, 2, NULL, NULL);

    if (rc == MT_DB_OK) {
        rc = mt_db_setting(db, MT_RCPT_KEY_SETTING, value, size);

        if (rc == 0) {
            mt_db_error(db, "the setting \"" MT_RCPT_KEY_SETTING "\" did "
                        "not stay");
            rc = MT_DB_ERROR;

        } else if (rc == 1) {
            rc = MT_DB_OK;
        }
    }

    return rc;
}


/*
 * The loader met records whose recipients the module hashed
 * (mail_track_rcpt hash): the database must say which key made them,
 * or a lookup of an address would hash it with another key, or none,
 * and answer "not suppressed".  id: the --hash-key file's, or NULL.
 * MT_DB_OK, or an error in db->err (nothing of the transaction stays).
 */

int
mt_rcpt_key_loaded(mt_db_t *db, const char *id)
{
    int   rc;
    char  value[128], want[128];

    rc = mt_db_setting(db, MT_RCPT_KEY_SETTING, value, sizeof(value));
    if (rc < 0) {
        return rc;
    }

    if (rc == 0 && id != NULL) {
        snprintf(want, sizeof(want), "file:%s", id);

        rc = mt_rcpt_key_setting(db, value, sizeof(value), want);
        if (rc != MT_DB_OK) {
            return rc;
        }

    } else if (rc == 0) {
        mt_db_error(db, "records carry recipients hashed by the module "
                    "(mail_track_rcpt hash): give the loader its key "
                    "(--hash-key FILE, or " MT_RCPT_KEY_ENV "), so that "
                    "the database records which key made them");
        return MT_DB_ERROR;
    }

    if (strncmp(value, "file:", 5) != 0) {
        OPENSSL_cleanse(value, sizeof(value));
        mt_db_error(db, "records carry recipients hashed by the module "
                    "with a key file, but the database hashes addresses "
                    "with a secret of its own (forget made it before)");
        return MT_DB_ERROR;
    }

    if (id != NULL && strcmp(value + 5, id) != 0) {
        mt_db_error(db, "the hash key given has id %s, but the database's "
                    "hashed addresses were made with the key of id %s",
                    id, value + 5);
        return MT_DB_ERROR;
    }

    return MT_DB_OK;
}


/*
 * A key file: one line of base64, 32 bytes (core/mt_rcpt.c reads it, as
 * the module does); others may not read it.
 */

int
mt_rcpt_key_read(const char *path, mt_rcpt_key_t *k)
{
    int      rc;
    u_char  *buf;
    size_t   len;

    if (mt_tool_read_secret(path, &buf, &len, MT_RCPT_KEY_FILE_MAX) != 0) {
        return -1;
    }

    rc = mt_rcpt_key_decode(buf, len, k);

    if (rc != 0) {
        mt_tool_error("%s: expected one line of base64, %d bytes (as "
                      "\"mail-track keygen --hash FILE\" makes it)", path,
                      MT_RCPT_KEY_LEN);
    }

    OPENSSL_cleanse(buf, len);
    free(buf);

    return rc;
}


/* a key's text (a file's, or the database's secret) and its id */

static int
mt_rcpt_key_decode(const u_char *p, size_t len, mt_rcpt_key_t *k)
{
    u_char  hex[MT_RCPT_HASH_HEX + 1];

    if (mt_rcpt_key_parse(p, len, k->key) != 0) {
        return -1;
    }

    /* the key's id: what the database records of a key file */

    if (mt_rcpt_hash(k->key, MT_RCPT_KEY_LEN, (u_char *) "mail-track key id",
                     sizeof("mail-track key id") - 1, hex)
        != 0)
    {
        return -1;
    }

    memcpy(k->id, hex, MT_RCPT_KEY_ID_HEX);
    k->id[MT_RCPT_KEY_ID_HEX] = '\0';

    return 0;
}

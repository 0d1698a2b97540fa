
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * spool cat, the spool reader and the msgpack to JSON writer.
 *
 * A spool file is a plain concatenation of msgpack maps with no framing
 * and no checksums.  A file is read through a window of at most
 * MT_SPOOL_RECORD_MAX + MT_SPOOL_CHUNK bytes: a record is first measured
 * without allocating (a corrupt count must not make msgpack-c allocate
 * gigabytes), then unpacked by msgpack-c.  After a corrupt stretch the
 * reader resynchronizes on the bytes every record of the module starts
 * with: a map header, the key "v", the value 1.
 *
 * A sealed file (seal=, docs/spool-format.md) is read chunk by chunk:
 * each is checked and decrypted into the window, and the records in it
 * are read as above; the first chunk that fails ends the file.
 */


#include "mt_tool.h"
#include "mt_base64.h"
#include "mt_seal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>


#define MT_SPOOL_POLL_MS        200


typedef enum {
    MT_SPOOL_SCAN_OK = 0,
    MT_SPOOL_SCAN_MORE,
    MT_SPOOL_SCAN_BAD
} mt_spool_scan_e;


typedef struct {
    const char                 *path;
    int                         fd;
    u_char                     *buf;
    size_t                      size;
    size_t                      pos;
    size_t                      len;
    off_t                       base;        /* file offset of buf[0] */
    unsigned                    eof:1;

    /* a sealed file: the next chunk, where it is, what it must carry */
    mt_spool_damage_pt          damage;
    void                       *data;
    mt_seal_file_t              seal;
    off_t                       raw;
    uint32_t                    index;
    uint64_t                    min;
    unsigned                    sealed:1;
    unsigned                    damaged:1;
} mt_spool_file_t;


typedef struct {
    char                       *path;
    char                      **names;       /* files seen so far */
    size_t                      nnames;
} mt_spool_dir_t;


typedef struct {
    mt_tool_buf_t               json;
    unsigned                    write_error:1;
} mt_spool_cat_t;


static void mt_tool_json_double(mt_tool_buf_t *b, double d, int single);
static void mt_tool_json_base64(mt_tool_buf_t *b, const u_char *p,
    size_t len);
static void mt_tool_json_key(mt_tool_buf_t *b, const msgpack_object *o,
    unsigned flags);
static void mt_spool_damage(mt_spool_damage_pt damage, void *data,
    const char *path, off_t offset, const char *what);
static int mt_spool_fill(mt_spool_file_t *f);
static int mt_spool_open_sealed(mt_spool_file_t *f);
static int mt_spool_fill_sealed(mt_spool_file_t *f);
static ssize_t mt_spool_pread(mt_spool_file_t *f, u_char *buf, size_t len,
    off_t off);
static int mt_spool_key_for(const u_char *head, char *buf, size_t size);
static void mt_spool_chunk_failed(mt_spool_file_t *f, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
static mt_spool_scan_e mt_spool_scan(const u_char *p, size_t avail,
    size_t *extent);
static ssize_t mt_spool_find_start(const u_char *buf, size_t from,
    size_t len, int eof, size_t *stop);
static int mt_spool_valid(const msgpack_object *o);
static int mt_spool_cmp(const void *a, const void *b);
static char *mt_spool_join(const char *dir, const char *name);
static int mt_spool_cat_record(void *data, const char *path, off_t offset,
    const msgpack_object *rec);
static int mt_spool_cat_dir(mt_spool_cat_t *ctx, mt_spool_dir_t *d,
    int first);
static int mt_spool_cat_path(mt_spool_cat_t *ctx, const char *path,
    int listed);
static int mt_spool_follow(mt_spool_cat_t *ctx, mt_spool_dir_t *dirs,
    size_t ndirs);
static void mt_spool_signal(int signo);
static void mt_spool_usage(FILE *f);


static volatile sig_atomic_t  mt_spool_stop;

/* --seal-key: one for the whole process */
static mt_seal_key_t          mt_spool_key;
static mt_seal_ctx_t          mt_spool_seal_ctx;


static const struct option  mt_spool_cat_options[] = {
    { "follow",   no_argument,       NULL, 'f' },
    { "seal-key", required_argument, NULL, 'K' },
    { "help",     no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


/* the JSON writer */

void
mt_tool_buf_init(mt_tool_buf_t *b)
{
    memset(b, 0, sizeof(mt_tool_buf_t));
}


void
mt_tool_buf_free(mt_tool_buf_t *b)
{
    free(b->data);
    mt_tool_buf_init(b);
}


int
mt_tool_buf_reserve(mt_tool_buf_t *b, size_t n)
{
    u_char  *p;
    size_t   size;

    if (b->nomem) {
        return -1;
    }

    if (b->size - b->len >= n) {
        return 0;
    }

    size = mt_max(b->size * 2, 256);

    while (size - b->len < n) {
        size *= 2;
    }

    p = realloc(b->data, size);
    if (p == NULL) {
        b->nomem = 1;
        return -1;
    }

    b->data = p;
    b->size = size;

    return 0;
}


void
mt_tool_buf_add(mt_tool_buf_t *b, const void *p, size_t len)
{
    if (mt_tool_buf_reserve(b, len) != 0) {
        return;
    }

    memcpy(b->data + b->len, p, len);
    b->len += len;
}


void
mt_tool_buf_add_cstr(mt_tool_buf_t *b, const char *s)
{
    mt_tool_buf_add(b, s, strlen(s));
}


/* a JSON string; invalid UTF-8 becomes U+FFFD */

void
mt_tool_json_str(mt_tool_buf_t *b, const u_char *p, size_t len)
{
    if (mt_tool_buf_reserve(b, 6 * len + 2) != 0) {
        return;
    }

    b->len = mt_json_quote(b->data + b->len, p, len) - b->data;
}


void
mt_tool_json_int(mt_tool_buf_t *b, int64_t v)
{
    char  num[24];

    mt_tool_buf_add(b, num, snprintf(num, sizeof(num), "%" PRId64, v));
}


/* the shortest text that reads back as the same number */

static void
mt_tool_json_double(mt_tool_buf_t *b, double d, int single)
{
    int   prec, n;
    char  num[40];

    if (!isfinite(d)) {
        mt_tool_buf_add_cstr(b, "null");
        return;
    }

    for (prec = single ? 6 : 15; ; prec++) {
        n = snprintf(num, sizeof(num) - 2, "%.*g", prec, d);

        if (prec >= (single ? 9 : 17)) {
            break;
        }

        if (single ? (float) strtod(num, NULL) == (float) d
                   : strtod(num, NULL) == d)
        {
            break;
        }
    }

    /* keep it a float for readers that tell 1 from 1.0 */

    if (strspn(num, "-0123456789") == (size_t) n) {
        num[n++] = '.';
        num[n++] = '0';
    }

    mt_tool_buf_add(b, num, n);
}


static void
mt_tool_json_base64(mt_tool_buf_t *b, const u_char *p, size_t len)
{
    if (mt_tool_buf_reserve(b, mt_base64_encoded_len(len) + 2) != 0) {
        return;
    }

    b->data[b->len++] = '"';
    b->len += mt_base64_encode(b->data + b->len, p, len);
    b->data[b->len++] = '"';
}


/*
 * Any msgpack value as JSON: maps keep their order, integers are exact
 * (uint64 too), bin is base64 (or a string with MT_JSON_BIN_STRING), ext
 * is {"ext":TYPE,"data":BASE64}, NaN and infinities are null.
 */

void
mt_tool_json_value(mt_tool_buf_t *b, const msgpack_object *o,
    unsigned flags)
{
    char                num[24];
    uint32_t            i;
    msgpack_object_kv  *kv;

    switch (o->type) {

    case MSGPACK_OBJECT_NIL:
        mt_tool_buf_add_cstr(b, "null");
        break;

    case MSGPACK_OBJECT_BOOLEAN:
        mt_tool_buf_add_cstr(b, o->via.boolean ? "true" : "false");
        break;

    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        mt_tool_buf_add(b, num, snprintf(num, sizeof(num), "%" PRIu64,
                                         o->via.u64));
        break;

    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        mt_tool_json_int(b, o->via.i64);
        break;

    case MSGPACK_OBJECT_FLOAT32:
        mt_tool_json_double(b, o->via.f64, 1);
        break;

    case MSGPACK_OBJECT_FLOAT64:
        mt_tool_json_double(b, o->via.f64, 0);
        break;

    case MSGPACK_OBJECT_STR:
        mt_tool_json_str(b, (u_char *) o->via.str.ptr, o->via.str.size);
        break;

    case MSGPACK_OBJECT_BIN:
        if (flags & MT_JSON_BIN_STRING) {
            mt_tool_json_str(b, (u_char *) o->via.bin.ptr, o->via.bin.size);

        } else {
            mt_tool_json_base64(b, (u_char *) o->via.bin.ptr,
                                o->via.bin.size);
        }

        break;

    case MSGPACK_OBJECT_EXT:
        mt_tool_buf_add_cstr(b, "{\"ext\":");
        mt_tool_json_int(b, o->via.ext.type);
        mt_tool_buf_add_cstr(b, ",\"data\":");
        mt_tool_json_base64(b, (u_char *) o->via.ext.ptr, o->via.ext.size);
        mt_tool_buf_add_cstr(b, "}");
        break;

    case MSGPACK_OBJECT_ARRAY:
        mt_tool_buf_add_cstr(b, "[");

        for (i = 0; i < o->via.array.size; i++) {
            if (i) {
                mt_tool_buf_add_cstr(b, ",");
            }

            mt_tool_json_value(b, &o->via.array.ptr[i], flags);
        }

        mt_tool_buf_add_cstr(b, "]");
        break;

    case MSGPACK_OBJECT_MAP:
        mt_tool_buf_add_cstr(b, "{");

        for (i = 0; i < o->via.map.size; i++) {
            kv = &o->via.map.ptr[i];

            if (i) {
                mt_tool_buf_add_cstr(b, ",");
            }

            mt_tool_json_key(b, &kv->key, flags);
            mt_tool_buf_add_cstr(b, ":");
            mt_tool_json_value(b, &kv->val, flags);
        }

        mt_tool_buf_add_cstr(b, "}");
        break;

    default:
        mt_tool_buf_add_cstr(b, "null");
        break;
    }
}


/* JSON keys are strings: any other key becomes the string of its JSON */

static void
mt_tool_json_key(mt_tool_buf_t *b, const msgpack_object *o, unsigned flags)
{
    mt_tool_buf_t  key;

    if (o->type == MSGPACK_OBJECT_STR) {
        mt_tool_json_str(b, (u_char *) o->via.str.ptr, o->via.str.size);
        return;
    }

    mt_tool_buf_init(&key);
    mt_tool_json_value(&key, o, flags);

    if (key.nomem) {
        b->nomem = 1;

    } else if (key.len >= 2 && key.data[0] == '"') {
        /* a string already (bin, with MT_JSON_BIN_STRING or base64) */
        mt_tool_buf_add(b, key.data, key.len);

    } else {
        mt_tool_json_str(b, key.data, key.len);
    }

    mt_tool_buf_free(&key);
}


/* the reader */

int
mt_spool_read_file(const char *path, mt_spool_handler_pt handler,
    void *data)
{
    int  fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        mt_tool_error("%s: %s", path, strerror(errno));
        return -1;
    }

    rc = mt_spool_read_fd(fd, path, handler, NULL, data);

    (void) close(fd);

    return rc;
}


int
mt_spool_read_fd(int fd, const char *path, mt_spool_handler_pt handler,
    mt_spool_damage_pt damage, void *data)
{
    int               rc, corrupt, resync;
    size_t            extent, off, stop;
    ssize_t           next;
    struct stat       st;
    mt_spool_file_t   f;
    mt_spool_scan_e   scan;
    msgpack_unpacked  up;
    const char       *what;

    if (fstat(fd, &st) == -1) {
        mt_tool_error("%s: fstat(): %s", path, strerror(errno));
        return -1;
    }

    if (!S_ISREG(st.st_mode)) {
        mt_tool_error("%s: not a regular file", path);
        return -1;
    }

    memset(&f, 0, sizeof(mt_spool_file_t));

    f.path = path;
    f.fd = fd;
    f.size = MT_SPOOL_RECORD_MAX + MT_SPOOL_CHUNK;

    f.buf = malloc(f.size);
    if (f.buf == NULL) {
        mt_tool_error("out of memory");
        return -1;
    }

    f.damage = damage;
    f.data = data;

    if (mt_spool_open_sealed(&f) != 0) {
        free(f.buf);
        return f.damaged ? 1 : -1;
    }

    msgpack_unpacked_init(&up);

    rc = 0;
    corrupt = 0;
    resync = 0;

    for ( ;; ) {

        if (resync) {
            next = mt_spool_find_start(f.buf, f.pos, f.len, f.eof, &stop);

            if (next >= 0) {
                f.pos = next;
                resync = 0;
                continue;
            }

            f.pos = stop;

            if (f.eof) {
                break;
            }

            if (mt_spool_fill(&f) != 0) {
                rc = -1;
                break;
            }

            continue;
        }

        if (f.pos == f.len) {
            if (f.eof) {
                break;
            }

            if (mt_spool_fill(&f) != 0) {
                rc = -1;
                break;
            }

            continue;
        }

        scan = mt_spool_scan(f.buf + f.pos, f.len - f.pos, &extent);

        if (scan == MT_SPOOL_SCAN_MORE && !f.eof) {
            if (mt_spool_fill(&f) != 0) {
                rc = -1;
                break;
            }

            continue;
        }

        if (scan == MT_SPOOL_SCAN_MORE) {

            /*
             * the file ends inside the record: a cut file, unless a
             * damaged length runs over records that follow
             */

            next = mt_spool_find_start(f.buf, f.pos + 1, f.len, 1, &stop);

            what = next >= 0 ? "corrupt record" : "truncated record";

            mt_spool_damage(damage, data, path, f.base + f.pos, what);

            corrupt = 1;

            if (next < 0) {
                break;
            }

            f.pos = next;
            continue;
        }

        if (scan == MT_SPOOL_SCAN_OK) {
            off = 0;

            if (msgpack_unpack_next(&up, (char *) f.buf + f.pos, extent, &off)
                != MSGPACK_UNPACK_SUCCESS
                || off != extent
                || !mt_spool_valid(&up.data))
            {
                scan = MT_SPOOL_SCAN_BAD;
            }
        }

        if (scan == MT_SPOOL_SCAN_BAD) {
            mt_spool_damage(damage, data, path, f.base + f.pos,
                            "corrupt record");

            corrupt = 1;
            resync = 1;
            f.pos++;
            continue;
        }

        if (handler(data, path, f.base + f.pos, &up.data) != 0) {
            rc = -1;
            break;
        }

        f.pos += extent;
    }

    msgpack_unpacked_destroy(&up);

    if (f.sealed) {
        OPENSSL_cleanse(f.buf, f.size);
        OPENSSL_cleanse(&f.seal, sizeof(mt_seal_file_t));
    }

    free(f.buf);

    if (rc != 0) {
        return rc;
    }

    return corrupt || f.damaged;
}


static void
mt_spool_damage(mt_spool_damage_pt damage, void *data, const char *path,
    off_t offset, const char *what)
{
    if (damage != NULL) {
        damage(data, path, offset, what);
        return;
    }

    fprintf(stderr, "%s: %s at byte %" PRId64 "\n", path, what,
            (int64_t) offset);
}


int
mt_spool_seal_key(const char *path)
{
    u_char  *pem;
    size_t   len;
    char     err[256];

    mt_spool_seal_key_free();

    if (mt_tool_read_secret(path, &pem, &len, 64 * 1024) != 0) {
        return -1;
    }

    if (mt_seal_key_parse(&mt_spool_key, pem, len, 1, err, sizeof(err))
        != 0)
    {
        mt_tool_error("%s: not a seal key: %s", path, err);
        OPENSSL_cleanse(pem, len);
        free(pem);
        return -1;
    }

    OPENSSL_cleanse(pem, len);
    free(pem);

    if (mt_seal_ctx_init(&mt_spool_seal_ctx) != 0) {
        mt_tool_error("AES-256-GCM or HKDF is not available from OpenSSL");
        mt_spool_seal_key_free();
        return -1;
    }

    return 0;
}


void
mt_spool_seal_key_free(void)
{
    mt_seal_key_free(&mt_spool_key);
    mt_seal_ctx_free(&mt_spool_seal_ctx);
}


/*
 * Whether --seal-key opens a file of this (whole, known) header: 0, or
 * -1 and why not in buf (no key given, or the key of another id).
 */

static int
mt_spool_key_for(const u_char *head, char *buf, size_t size)
{
    char  kid[2 * MT_SEAL_KID_LEN + 1], own[2 * MT_SEAL_KID_LEN + 1];

    mt_hex_encode((u_char *) kid, head + 8, MT_SEAL_KID_LEN);
    kid[2 * MT_SEAL_KID_LEN] = '\0';

    if (mt_spool_key.pkey == NULL) {
        snprintf(buf, size, "sealed file (for key id %s) read without "
                 "--seal-key", kid);
        return -1;
    }

    if (memcmp(head + 8, mt_spool_key.kid, MT_SEAL_KID_LEN) != 0) {
        mt_hex_encode((u_char *) own, mt_spool_key.kid, MT_SEAL_KID_LEN);
        own[2 * MT_SEAL_KID_LEN] = '\0';

        snprintf(buf, size, "sealed file for key id %s, not for "
                 "--seal-key's key id %s", kid, own);
        return -1;
    }

    return 0;
}


/*
 * For the loader, before a file counts as read: 1 when it is sealed for
 * a key this process does not have, or in a newer version (reported:
 * the file is not damaged, only not readable here), 0 otherwise (plain,
 * its key, or damaged: the reader says how), -1 on a read error.
 */

int
mt_spool_cannot_open(int fd, const char *path)
{
    ssize_t  n;
    u_char   head[MT_SEAL_HEADER_LEN];
    char     what[160];

    do {
        n = pread(fd, head, sizeof(head), 0);
    } while (n == -1 && errno == EINTR);

    if (n == -1) {
        mt_tool_error("%s: pread(): %s", path, strerror(errno));
        return -1;
    }

    switch (mt_seal_header_check(head, n)) {

    case -1:
        return 0;

    case 1:
        if (n < MT_SEAL_HEADER_LEN) {
            return 0;
        }

        mt_tool_error("%s: sealed file of an unknown version (%u, suite "
                      "%u): a newer mail-track reads it", path, head[6],
                      head[7]);
        return 1;
    }

    if (mt_spool_key_for(head, what, sizeof(what)) == 0) {
        return 0;
    }

    mt_tool_error("%s: %s", path, what);

    return 1;
}


/*
 * A sealed file's header, and its key from --seal-key.  Returns 0 (f is
 * sealed or plain), or -1 with f->damaged set when it cannot be read.
 */

static int
mt_spool_open_sealed(mt_spool_file_t *f)
{
    ssize_t  n;
    u_char   head[MT_SEAL_HEADER_LEN];
    char     kid[2 * MT_SEAL_KID_LEN + 1], what[160];

    n = mt_spool_pread(f, head, sizeof(head), 0);
    if (n == -1) {
        return -1;
    }

    switch (mt_seal_header_check(head, n)) {

    case -1:
        return 0;

    case 1:
        f->raw = 0;

        if (n < MT_SEAL_HEADER_LEN) {
            mt_spool_chunk_failed(f, "sealed file torn inside its header");
        } else {
            mt_spool_chunk_failed(f, "sealed file of an unknown version "
                                  "(%u, suite %u)", head[6], head[7]);
        }

        return -1;
    }

    if (mt_spool_key_for(head, what, sizeof(what)) != 0) {
        mt_spool_chunk_failed(f, "%s", what);
        return -1;
    }

    mt_hex_encode((u_char *) kid, head + 8, MT_SEAL_KID_LEN);
    kid[2 * MT_SEAL_KID_LEN] = '\0';

    if (mt_seal_file_open(&mt_spool_seal_ctx, &mt_spool_key, head, &f->seal)
        != 0)
    {
        mt_spool_chunk_failed(f, "sealed file (for key id %s) whose key "
                              "cannot be derived", kid);
        return -1;
    }

    f->sealed = 1;
    f->raw = MT_SEAL_HEADER_LEN;

    return 0;
}


/*
 * The next chunk, decrypted after the unread bytes.  A chunk that fails
 * is reported (its index, its byte, why) and ends the file: nothing
 * after it can be trusted to be in its place.
 */

static int
mt_spool_fill_sealed(mt_spool_file_t *f)
{
    u_char           *p;
    ssize_t           n;
    size_t            need;
    mt_seal_rc_e      rc;
    mt_seal_chunk_t   ch;
    u_char            hdr[MT_SEAL_CHUNK_HDR_LEN], tag[MT_SEAL_TAG_LEN];

    n = mt_spool_pread(f, hdr, sizeof(hdr), f->raw);
    if (n == -1) {
        return -1;
    }

    if (n == 0) {
        f->eof = 1;
        return 0;
    }

    if (n < MT_SEAL_CHUNK_HDR_LEN) {
        mt_spool_chunk_failed(f, "chunk %u %s", f->index,
                              mt_seal_rc_text(MT_SEAL_TORN));
        return 0;
    }

    mt_seal_chunk_header(hdr, &ch);

    rc = mt_seal_chunk_check(&ch, f->index, f->min);

    if (rc != MT_SEAL_OK) {
        mt_spool_chunk_failed(f, "chunk %u: %s", f->index,
                              mt_seal_rc_text(rc));
        return 0;
    }

    need = ch.len;

    if (f->size - f->len < need) {
        p = realloc(f->buf, f->len + need);
        if (p == NULL) {
            mt_tool_error("out of memory");
            return -1;
        }

        f->buf = p;
        f->size = f->len + need;
    }

    n = mt_spool_pread(f, f->buf + f->len, need,
                       f->raw + MT_SEAL_CHUNK_HDR_LEN);
    if (n == -1) {
        return -1;
    }

    if ((size_t) n == need) {
        n = mt_spool_pread(f, tag, sizeof(tag),
                           f->raw + MT_SEAL_CHUNK_HDR_LEN + need);
        if (n == -1) {
            return -1;
        }

        rc = (n == MT_SEAL_TAG_LEN)
             ? mt_seal_chunk_open(&mt_spool_seal_ctx, &f->seal, hdr,
                                  f->buf + f->len, need, tag)
             : MT_SEAL_TORN;

    } else {
        rc = MT_SEAL_TORN;
    }

    if (rc != MT_SEAL_OK) {
        mt_spool_chunk_failed(f, "chunk %u%s%s", f->index,
                              rc == MT_SEAL_TORN ? " " : ": ",
                              mt_seal_rc_text(rc));
        return 0;
    }

    f->len += need;
    f->raw += MT_SEAL_CHUNK_OVERHEAD + need;
    f->index++;
    f->min = ch.counter + 1;

    return 0;
}


static ssize_t
mt_spool_pread(mt_spool_file_t *f, u_char *buf, size_t len, off_t off)
{
    ssize_t  n;
    size_t   got;

    for (got = 0; got < len; got += n) {
        n = pread(f->fd, buf + got, len - got, off + got);

        if (n == -1 && errno == EINTR) {
            n = 0;
            continue;
        }

        if (n == -1) {
            mt_tool_error("%s: read(): %s", f->path, strerror(errno));
            return -1;
        }

        if (n == 0) {
            break;
        }
    }

    return got;
}


/* the reading ends here; what was read before is good */

static void
mt_spool_chunk_failed(mt_spool_file_t *f, const char *fmt, ...)
{
    va_list  ap;
    char     what[256];

    va_start(ap, fmt);
    (void) vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);

    mt_spool_damage(f->damage, f->data, f->path, f->raw, what);

    f->damaged = 1;
    f->eof = 1;
}


/* moves the unread bytes to the front and reads more after them */

static int
mt_spool_fill(mt_spool_file_t *f)
{
    ssize_t  n;

    if (f->pos) {
        memmove(f->buf, f->buf + f->pos, f->len - f->pos);
        f->base += f->pos;
        f->len -= f->pos;
        f->pos = 0;
    }

    if (f->sealed) {
        return mt_spool_fill_sealed(f);
    }

    do {
        n = read(f->fd, f->buf + f->len,
                 mt_min(f->size - f->len, MT_SPOOL_CHUNK));
    } while (n == -1 && errno == EINTR);

    if (n == -1) {
        mt_tool_error("%s: read(): %s", f->path, strerror(errno));
        return -1;
    }

    if (n == 0) {
        f->eof = 1;
    }

    f->len += n;

    return 0;
}


/*
 * Measures the msgpack value at p without allocating: every container
 * adds its items to those still due, every item takes at least a byte,
 * so no count can promise more than MT_SPOOL_RECORD_MAX bytes.  A record
 * must be a map.
 */

static mt_spool_scan_e
mt_spool_scan(const u_char *p, size_t avail, size_t *extent)
{
    u_char         c;
    size_t         hdr, lenbytes, body, due, i;
    uint64_t       items;
    const u_char  *q, *end;

    c = p[0];

    if ((c & 0xf0) != 0x80 && c != 0xde && c != 0xdf) {
        return MT_SPOOL_SCAN_BAD;
    }

    q = p;
    end = p + avail;
    due = 1;

    while (due) {

        if (q == end) {
            return (size_t) (q - p) >= MT_SPOOL_RECORD_MAX
                   ? MT_SPOOL_SCAN_BAD : MT_SPOOL_SCAN_MORE;
        }

        c = *q;
        hdr = 1;
        lenbytes = 0;
        body = 0;
        items = 0;

        if (c <= 0x7f || c >= 0xe0) {
            /* fixint */

        } else if (c <= 0x8f) {
            items = 2 * (c & 0x0f);

        } else if (c <= 0x9f) {
            items = c & 0x0f;

        } else if (c <= 0xbf) {
            body = c & 0x1f;

        } else {
            switch (c) {
            case 0xc0: case 0xc2: case 0xc3:
                break;
            case 0xc4: case 0xd9: lenbytes = 1; break;
            case 0xc5: case 0xda: lenbytes = 2; break;
            case 0xc6: case 0xdb: lenbytes = 4; break;
            case 0xc7: lenbytes = 1; hdr = 2; break;    /* ext: + type */
            case 0xc8: lenbytes = 2; hdr = 2; break;
            case 0xc9: lenbytes = 4; hdr = 2; break;
            case 0xca: body = 4; break;
            case 0xcb: body = 8; break;
            case 0xcc: case 0xd0: body = 1; break;
            case 0xcd: case 0xd1: body = 2; break;
            case 0xce: case 0xd2: body = 4; break;
            case 0xcf: case 0xd3: body = 8; break;
            case 0xd4: body = 2; break;
            case 0xd5: body = 3; break;
            case 0xd6: body = 5; break;
            case 0xd7: body = 9; break;
            case 0xd8: body = 17; break;
            case 0xdc: case 0xde: lenbytes = 2; break;
            case 0xdd: case 0xdf: lenbytes = 4; break;
            default:
                /* 0xc1, never used */
                return MT_SPOOL_SCAN_BAD;
            }
        }

        hdr += lenbytes;

        if ((size_t) (end - q) < hdr) {
            return (size_t) (q - p) + hdr > MT_SPOOL_RECORD_MAX
                   ? MT_SPOOL_SCAN_BAD : MT_SPOOL_SCAN_MORE;
        }

        if (lenbytes) {
            for (i = 0; i < lenbytes; i++) {
                body = body << 8 | q[1 + i];
            }

            if (c >= 0xdc && c <= 0xdf) {
                items = (c >= 0xde) ? 2 * (uint64_t) body : body;
                body = 0;
            }
        }

        if (items > MT_SPOOL_RECORD_MAX - due) {
            return MT_SPOOL_SCAN_BAD;
        }

        due += items;

        if (body > MT_SPOOL_RECORD_MAX
            || (size_t) (q - p) + hdr + body > MT_SPOOL_RECORD_MAX)
        {
            return MT_SPOOL_SCAN_BAD;
        }

        if ((size_t) (end - q) < hdr + body) {
            return MT_SPOOL_SCAN_MORE;
        }

        q += hdr + body;
        due--;
    }

    *extent = q - p;

    return MT_SPOOL_SCAN_OK;
}


/*
 * The next offset in [from, len) where a record of the module could
 * start: 0x81..0x8f or 0xde nn nn, then "v" (0xa1 0x76) and 1 (0x01).
 * Otherwise -1, with stop where the search must go on with more bytes.
 */

static ssize_t
mt_spool_find_start(const u_char *buf, size_t from, size_t len, int eof,
    size_t *stop)
{
    size_t  i, need, key;

    for (i = from; i < len; i++) {

        if (buf[i] >= 0x81 && buf[i] <= 0x8f) {
            need = 4;
            key = 1;

        } else if (buf[i] == 0xde) {
            need = 6;
            key = 3;

        } else {
            continue;
        }

        if (len - i < need) {
            if (eof) {
                continue;
            }

            break;
        }

        if (buf[i + key] == 0xa1 && buf[i + key + 1] == 0x76
            && buf[i + key + 2] == 0x01)
        {
            return (ssize_t) i;
        }
    }

    *stop = i;

    return -1;
}


/* a record is a map with string keys: else a damaged count misled us */

static int
mt_spool_valid(const msgpack_object *o)
{
    uint32_t  i;

    if (o->type != MSGPACK_OBJECT_MAP) {
        return 0;
    }

    for (i = 0; i < o->via.map.size; i++) {
        if (o->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR) {
            return 0;
        }
    }

    return 1;
}


int
mt_spool_list(const char *dir, char ***names, size_t *n)
{
    DIR            *d;
    char          **list, **p;
    size_t          len, nalloc;
    struct dirent  *de;

    d = opendir(dir);
    if (d == NULL) {
        mt_tool_error("%s: %s", dir, strerror(errno));
        return -1;
    }

    list = NULL;
    nalloc = 0;
    *n = 0;

    for ( ;; ) {
        errno = 0;

        de = readdir(d);

        if (de == NULL) {
            if (errno != 0) {
                mt_tool_error("%s: readdir(): %s", dir, strerror(errno));
                goto failed;
            }

            break;
        }

        len = strlen(de->d_name);

        /* sealed files only: a .part may still be written to */

        if (len <= sizeof(MT_SPOOL_SUFFIX) - 1 || de->d_name[0] == '.'
            || strcmp(de->d_name + len - (sizeof(MT_SPOOL_SUFFIX) - 1),
                      MT_SPOOL_SUFFIX) != 0)
        {
            continue;
        }

        if (*n == nalloc) {
            nalloc = nalloc ? 2 * nalloc : 64;

            p = realloc(list, nalloc * sizeof(char *));
            if (p == NULL) {
                goto nomem;
            }

            list = p;
        }

        list[*n] = strdup(de->d_name);
        if (list[*n] == NULL) {
            goto nomem;
        }

        (*n)++;
    }

    (void) closedir(d);

    if (*n) {
        qsort(list, *n, sizeof(char *), mt_spool_cmp);
    }

    *names = list;

    return 0;

nomem:

    mt_tool_error("out of memory");

failed:

    mt_spool_list_free(list, *n);
    (void) closedir(d);

    return -1;
}


void
mt_spool_list_free(char **names, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(names[i]);
    }

    free(names);
}


static int
mt_spool_cmp(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


static char *
mt_spool_join(const char *dir, const char *name)
{
    char    *path;
    size_t   len;

    len = strlen(dir);

    while (len > 1 && dir[len - 1] == '/') {
        len--;
    }

    path = malloc(len + 1 + strlen(name) + 1);
    if (path == NULL) {
        mt_tool_error("out of memory");
        return NULL;
    }

    sprintf(path, "%.*s/%s", (int) len, dir, name);

    return path;
}


/* spool cat */

static void
mt_spool_usage(FILE *f)
{
    fprintf(f,
        "usage: " MT_TOOL_NAME " spool cat [--follow] [--seal-key FILE] "
        "DIR|FILE...\n"
        "\n"
        "Prints every record as one JSON object per line, keys in record\n"
        "order.  A DIR stands for its sealed *.mtspool files, sorted by\n"
        "name; a .part file is read only when named.  Corrupt or\n"
        "truncated stretches are reported on stderr and skipped; the exit\n"
        "status is then 1.  A file encrypted with seal= needs the private\n"
        "key; a chunk of it that fails is reported and ends that file.\n"
        "\n"
        "options:\n"
        "  -f, --follow   then print the files sealed in each DIR as they\n"
        "                 appear, until SIGINT or SIGTERM\n"
        "  --seal-key FILE  the X25519 private key (PEM) that files written\n"
        "                 with seal= are encrypted for\n"
        "  -h, --help     this text\n");
}


int
mt_tool_spool(int argc, char **argv)
{
    int              c, rc, follow, r;
    size_t           i, ndirs;
    struct stat      st;
    mt_spool_dir_t  *dirs;
    mt_spool_cat_t   ctx;

    if (argc < 2) {
        return mt_tool_usage_error("spool", "expected \"cat\"");
    }

    if (mt_tool_is_help(argv[1])) {
        mt_spool_usage(stdout);
        return MT_TOOL_OK;
    }

    if (strcmp(argv[1], "cat") != 0) {
        return mt_tool_usage_error("spool", "unknown subcommand \"%s\"",
                                   argv[1]);
    }

    argc--;
    argv++;

    follow = 0;

    optind = 1;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":fh", mt_spool_cat_options, NULL))
           != -1)
    {
        switch (c) {
        case 'f':
            follow = 1;
            break;
        case 'K':
            if (mt_spool_seal_key(optarg) != 0) {
                return MT_TOOL_ERROR;
            }

            break;
        case 'h':
            mt_spool_usage(stdout);
            return MT_TOOL_OK;
        case ':':
            return mt_tool_usage_error("spool cat",
                                       "option \"%s\" needs a value",
                                       argv[optind - 1]);
        default:
            return mt_tool_usage_error("spool cat", "unknown option \"%s\"",
                                       argv[optind - 1]);
        }
    }

    if (optind == argc) {
        return mt_tool_usage_error("spool cat", "expected DIR or FILE "
                                   "arguments");
    }

    dirs = calloc(argc - optind, sizeof(mt_spool_dir_t));
    if (dirs == NULL) {
        mt_tool_error("out of memory");
        return MT_TOOL_ERROR;
    }

    ndirs = 0;
    rc = MT_TOOL_OK;

    mt_tool_buf_init(&ctx.json);
    ctx.write_error = 0;

    for (i = optind; i < (size_t) argc; i++) {
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            dirs[ndirs].path = argv[i];
            r = mt_spool_cat_dir(&ctx, &dirs[ndirs], 1);
            ndirs++;

        } else {
            r = mt_spool_cat_path(&ctx, argv[i], 0);
        }

        if (r != 0) {
            rc = MT_TOOL_ERROR;
        }

        if (ctx.write_error) {
            break;
        }
    }

    if (fflush(stdout) != 0 && !ctx.write_error) {
        mt_tool_error("write error: %s", strerror(errno));
        ctx.write_error = 1;
    }

    if (follow && !ctx.write_error) {
        if (ndirs == 0) {
            mt_tool_error("--follow watches directories, and none was "
                          "given");
            rc = MT_TOOL_USAGE;

        } else if (mt_spool_follow(&ctx, dirs, ndirs) != 0) {
            rc = MT_TOOL_ERROR;
        }
    }

    if (ctx.write_error) {
        rc = MT_TOOL_ERROR;
    }

    for (i = 0; i < ndirs; i++) {
        mt_spool_list_free(dirs[i].names, dirs[i].nnames);
    }

    free(dirs);
    mt_tool_buf_free(&ctx.json);
    mt_spool_seal_key_free();

    return rc;
}


/*
 * Reads the files of a directory not read before (all of them the first
 * time) and remembers the listing.  Returns 1 if something was wrong.
 */

static int
mt_spool_cat_dir(mt_spool_cat_t *ctx, mt_spool_dir_t *d, int first)
{
    int      rc;
    char   **names, *path;
    size_t   n, i;

    if (mt_spool_list(d->path, &names, &n) != 0) {
        return 1;
    }

    rc = 0;

    for (i = 0; i < n && !ctx->write_error && !mt_spool_stop; i++) {

        if (!first
            && d->nnames
            && bsearch(&names[i], d->names, d->nnames, sizeof(char *),
                       mt_spool_cmp) != NULL)
        {
            continue;
        }

        path = mt_spool_join(d->path, names[i]);
        if (path == NULL) {
            rc = 1;
            break;
        }

        if (mt_spool_cat_path(ctx, path, 1) != 0) {
            rc = 1;
        }

        free(path);
    }

    /*
     * the listing becomes the memory: files a loader removed are
     * forgotten, so it does not grow without end
     */

    mt_spool_list_free(d->names, d->nnames);

    d->names = names;
    d->nnames = n;

    return rc;
}


/* 0, or 1 if the file was corrupt or unreadable */

static int
mt_spool_cat_path(mt_spool_cat_t *ctx, const char *path, int listed)
{
    int  fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        if (listed && errno == ENOENT) {
            /* removed since the listing, by a loader say */
            return 0;
        }

        mt_tool_error("%s: %s", path, strerror(errno));
        return 1;
    }

    rc = mt_spool_read_fd(fd, path, mt_spool_cat_record, NULL, ctx);

    (void) close(fd);

    return rc != 0;
}


static int
mt_spool_cat_record(void *data, const char *path, off_t offset,
    const msgpack_object *rec)
{
    mt_spool_cat_t  *ctx = data;

    (void) path;
    (void) offset;

    ctx->json.len = 0;

    mt_tool_json_value(&ctx->json, rec, 0);
    mt_tool_buf_add(&ctx->json, "\n", 1);

    if (ctx->json.nomem) {
        mt_tool_error("out of memory");
        ctx->json.nomem = 0;
        return -1;
    }

    if (fwrite(ctx->json.data, 1, ctx->json.len, stdout) != ctx->json.len) {
        mt_tool_error("write error: %s", strerror(errno));
        ctx->write_error = 1;
        return -1;
    }

    return 0;
}


static int
mt_spool_follow(mt_spool_cat_t *ctx, mt_spool_dir_t *dirs, size_t ndirs)
{
    int               rc;
    size_t            i;
    struct timespec   ts;
    struct sigaction  sa;

    memset(&sa, 0, sizeof(struct sigaction));
    sa.sa_handler = mt_spool_signal;
    sigemptyset(&sa.sa_mask);

    /* no SA_RESTART: the signal must cut the sleep short */

    if (sigaction(SIGINT, &sa, NULL) == -1
        || sigaction(SIGTERM, &sa, NULL) == -1)
    {
        mt_tool_error("sigaction(): %s", strerror(errno));
        return -1;
    }

    rc = 0;

    while (!mt_spool_stop) {
        ts.tv_sec = 0;
        ts.tv_nsec = MT_SPOOL_POLL_MS * 1000000L;

        if (nanosleep(&ts, NULL) == -1 && errno != EINTR) {
            mt_tool_error("nanosleep(): %s", strerror(errno));
            return -1;
        }

        for (i = 0; i < ndirs && !mt_spool_stop; i++) {
            if (mt_spool_cat_dir(ctx, &dirs[i], 0) != 0) {
                rc = -1;
            }

            if (ctx->write_error) {
                return -1;
            }
        }

        if (fflush(stdout) != 0) {
            mt_tool_error("write error: %s", strerror(errno));
            ctx->write_error = 1;
            return -1;
        }
    }

    return rc;
}


static void
mt_spool_signal(int signo)
{
    (void) signo;

    mt_spool_stop = 1;
}

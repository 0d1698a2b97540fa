
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * keygen and token: the key file and the token codec of core/.
 */


#include "mt_tool_query.h"
#include "mt_token.h"
#include "mt_base64.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>


/* a key file is a few lines; anything bigger is not one */
#define MT_TOOL_KEYS_MAX        (1024 * 1024)

#define MT_TOOL_OPT_NONCE       256
#define MT_TOOL_OPT_EXPIRES     257
#define MT_TOOL_OPT_RAW         258
#define MT_TOOL_OPT_UNSAFE_URL  259


static int mt_tool_keygen_id(mt_keyring_t *kr);
static int mt_tool_keygen_write(int fd, const char *path, const u_char *old,
    size_t oldlen, unsigned kid);
static int mt_tool_has_key_lines(const u_char *p, size_t len);
static mt_keyring_t *mt_tool_keys_load(const char *path);
static int mt_tool_token_mint(int argc, char **argv, u_char purpose);
static int mt_tool_token_decode(int argc, char **argv);
static const char *mt_tool_token_extract(const char *arg, size_t *len);
static int mt_tool_purpose(const char *name, u_char *purpose);
static const char *mt_tool_purpose_name(u_char purpose);
static int mt_tool_hex_decode(u_char *dst, const char *src, size_t len);
static int mt_tool_check_utf8(const char *what, const char *s);
static void mt_tool_keygen_usage(FILE *f);
static void mt_tool_token_usage(FILE *f);


static const struct option  mt_tool_keygen_options[] = {
    { "seal",     no_argument,       NULL, 'S' },
    { "hash",     no_argument,       NULL, 'H' },
    { "help",     no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static const struct option  mt_tool_mint_options[] = {
    { "keys",     required_argument, NULL, 'k' },
    { "mid",      required_argument, NULL, 'm' },
    { "rcpt",     required_argument, NULL, 'r' },
    { "url",      required_argument, NULL, 'u' },
    { "ttl",      required_argument, NULL, 'x' },
    { "expires",  required_argument, NULL, MT_TOOL_OPT_EXPIRES },
    { "tag",      required_argument, NULL, 't' },
    { "kid",      required_argument, NULL, 'i' },
    { "base",     required_argument, NULL, 'b' },
    { "nonce",    required_argument, NULL, MT_TOOL_OPT_NONCE },
    { "raw",      no_argument,       NULL, MT_TOOL_OPT_RAW },
    { "unsafe-url", no_argument,     NULL, MT_TOOL_OPT_UNSAFE_URL },
    { "help",     no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static const struct option  mt_tool_decode_options[] = {
    { "keys",     required_argument, NULL, 'k' },
    { "purpose",  required_argument, NULL, 'p' },
    { "help",     no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static const u_char  mt_tool_purposes[] = {
    MT_PURPOSE_OPEN, MT_PURPOSE_CLICK, MT_PURPOSE_UNSUBSCRIBE
};


static void
mt_tool_keygen_usage(FILE *f)
{
    fprintf(f,
        "usage: " MT_TOOL_NAME " keygen FILE\n"
        "       " MT_TOOL_NAME " keygen --seal PRIVATE_FILE PUBLIC_FILE\n"
        "       " MT_TOOL_NAME " keygen --hash FILE\n"
        "\n"
        "Appends a line \"KID BASE64_32_BYTES\" with 32 random bytes and a\n"
        "new key id (the last id + 1, skipping ids in use) to FILE, which is\n"
        "created with mode 0600 when missing, and prints the new KID.\n"
        "An existing FILE must not be accessible by group or others.\n"
        "\n"
        "With --seal, a new X25519 key pair for sealed spool files, as\n"
        "PEM: PRIVATE_FILE (mode 0600) for the readers (--seal-key),\n"
        "PUBLIC_FILE for the edges (mail_track_spool ... seal=); neither\n"
        "may exist.\n"
        "\n"
        "With --hash, FILE is a new key for hashed recipients (one line,\n"
        "BASE64_32_BYTES, mode 0600; never an existing file: such a key is\n"
        "never replaced) and its key id is printed.\n"
        "\n"
        "options:\n"
        "  --seal       a seal key pair\n"
        "  --hash       a hash key for recipients (mail_track_rcpt_key,\n"
        "               hash, load, forget, suppressions)\n"
        "  -h, --help   this text\n");
}


int
mt_tool_keygen(int argc, char **argv)
{
    int            c, fd, id, rc, created, seal, hash;
    u_char        *buf;
    size_t         len;
    const char    *path;
    struct stat    st;
    mt_keyring_t  *kr;
    char           err[256];

    optind = 1;
    opterr = 0;
    seal = 0;
    hash = 0;

    while ((c = getopt_long(argc, argv, ":h", mt_tool_keygen_options, NULL))
           != -1)
    {
        switch (c) {
        case 'S':
            seal = 1;
            break;
        case 'H':
            hash = 1;
            break;
        case 'h':
            mt_tool_keygen_usage(stdout);
            return MT_TOOL_OK;
        default:
            return mt_tool_bad_option("keygen", c, argv);
        }
    }

    if (seal && hash) {
        return mt_tool_usage_error("keygen", "--seal and --hash do not go "
                                   "together");
    }

    if (seal) {
        if (argc - optind != 2) {
            return mt_tool_usage_error("keygen", "--seal expects "
                                       "PRIVATE_FILE and PUBLIC_FILE");
        }

        return mt_tool_keygen_seal(argv[optind], argv[optind + 1]);
    }

    if (argc - optind != 1) {
        return mt_tool_usage_error("keygen", "expected one FILE argument");
    }

    path = argv[optind];
    created = 0;

    if (hash) {
        return mt_rcpt_keygen(path);
    }

    fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd != -1) {
        created = 1;

        /* the umask may have taken the owner's bits too */

        if (fchmod(fd, 0600) == -1) {
            mt_tool_error("%s: fchmod(): %s", path, strerror(errno));
            goto failed;
        }

    } else if (errno == EEXIST) {
        fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
        if (fd == -1) {
            mt_tool_error("%s: %s", path, strerror(errno));
            return MT_TOOL_ERROR;
        }

    } else {
        mt_tool_error("%s: %s", path, strerror(errno));
        return MT_TOOL_ERROR;
    }

    if (fstat(fd, &st) == -1) {
        mt_tool_error("%s: fstat(): %s", path, strerror(errno));
        goto failed;
    }

    if (!S_ISREG(st.st_mode)) {
        mt_tool_error("%s: not a regular file", path);
        goto failed;
    }

    if (st.st_mode & 077) {
        mt_tool_error("%s: mode %04o gives group or others access to the "
                      "keys; refusing to add one (run \"chmod 600 %s\" "
                      "first)", path, (unsigned) (st.st_mode & 07777), path);
        goto failed;
    }

    /* two keygens at once would pick the same id */

    if (flock(fd, LOCK_EX) == -1) {
        mt_tool_error("%s: flock(): %s", path, strerror(errno));
        goto failed;
    }

    if (mt_tool_read_fd(fd, path, &buf, &len, MT_TOOL_KEYS_MAX) != 0) {
        goto failed;
    }

    kr = mt_keyring_create();
    if (kr == NULL) {
        mt_tool_error("out of memory");
        OPENSSL_cleanse(buf, len);
        free(buf);
        goto failed;
    }

    id = 1;
    rc = 0;

    if (mt_tool_has_key_lines(buf, len)) {
        rc = mt_keyring_parse(kr, buf, len, err, sizeof(err));

        if (rc != 0) {
            mt_tool_error("%s: %s", path, err);

        } else {
            id = mt_tool_keygen_id(kr);

            if (id == -1) {
                mt_tool_error("%s: all 256 key ids are in use; remove an "
                              "old key first", path);
                rc = -1;
            }
        }
    }

    mt_keyring_free(kr);

    if (rc == 0) {
        rc = mt_tool_keygen_write(fd, path, buf, len, (unsigned) id);
    }

    OPENSSL_cleanse(buf, len);
    free(buf);

    if (rc != 0) {
        goto failed;
    }

    if (close(fd) == -1) {
        mt_tool_error("%s: close(): %s", path, strerror(errno));
        return MT_TOOL_ERROR;
    }

    printf("%d\n", id);

    return MT_TOOL_OK;

failed:

    if (created) {
        (void) unlink(path);
    }

    (void) close(fd);

    return MT_TOOL_ERROR;
}


/* the id after the last line's, skipping ids in use; -1 if all are */

static int
mt_tool_keygen_id(mt_keyring_t *kr)
{
    int  i, id;

    for (i = 1; i <= 256; i++) {
        id = (kr->last + i) & 0xff;

        if (!kr->keys[id].set) {
            return id;
        }
    }

    return -1;
}


static int
mt_tool_keygen_write(int fd, const char *path, const u_char *old,
    size_t oldlen, unsigned kid)
{
    int      rc;
    u_char  *p;
    size_t   n;
    ssize_t  w;
    u_char   key[MT_TOKEN_KEY_LEN];
    u_char   line[8 + mt_base64_encoded_len(MT_TOKEN_KEY_LEN) + 2];

    if (RAND_bytes(key, sizeof(key)) != 1) {
        mt_tool_error("RAND_bytes() failed");
        return -1;
    }

    p = line;

    /* a last line without its newline would swallow the new key */

    if (oldlen && old[oldlen - 1] != '\n') {
        *p++ = '\n';
    }

    p += sprintf((char *) p, "%u ", kid);
    p += mt_base64_encode(p, key, sizeof(key));
    *p++ = '\n';

    OPENSSL_cleanse(key, sizeof(key));

    n = p - line;
    rc = 0;

    do {
        w = write(fd, line, n);
    } while (w == -1 && errno == EINTR);

    if (w != (ssize_t) n) {
        mt_tool_error("%s: write(): %s", path,
                      w == -1 ? strerror(errno) : "short write");
        rc = -1;

    } else if (fsync(fd) == -1) {
        mt_tool_error("%s: fsync(): %s", path, strerror(errno));
        rc = -1;
    }

    OPENSSL_cleanse(line, sizeof(line));

    return rc;
}


/* whether anything but blank lines and comments is there */

static int
mt_tool_has_key_lines(const u_char *p, size_t len)
{
    const u_char  *end;

    end = p + len;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) {
            p++;
        }

        if (p < end && *p != '\n' && *p != '#') {
            return 1;
        }

        while (p < end && *p != '\n') {
            p++;
        }

        p++;
    }

    return 0;
}


static mt_keyring_t *
mt_tool_keys_load(const char *path)
{
    u_char        *buf;
    size_t         len;
    mt_keyring_t  *kr;
    char           err[256];

    if (mt_tool_read_file(path, &buf, &len, MT_TOOL_KEYS_MAX) != 0) {
        return NULL;
    }

    kr = mt_keyring_create();

    if (kr == NULL) {
        mt_tool_error("out of memory");

    } else if (mt_keyring_parse(kr, buf, len, err, sizeof(err)) != 0) {
        mt_tool_error("%s: %s", path, err);
        mt_keyring_free(kr);
        kr = NULL;
    }

    OPENSSL_cleanse(buf, len);
    free(buf);

    return kr;
}


static void
mt_tool_token_usage(FILE *f)
{
    fprintf(f,
        "usage: " MT_TOOL_NAME " token open|click|unsubscribe --keys FILE "
        "--mid ID --rcpt ADDR\n"
        "           [--url URL] [--ttl DURATION | --expires UNIX] "
        "[--tag TAG] [--kid N]\n"
        "           --base URL | --raw\n"
        "       " MT_TOOL_NAME " token decode --keys FILE "
        "[--purpose open|click|unsubscribe]\n"
        "           TOKEN_OR_URL\n"
        "\n"
        "Mints a token and prints BASE/TOKEN (BASE/TOKEN.gif for open),\n"
        "or decodes one and prints its fields as a JSON object.\n"
        "\n"
        "options:\n"
        "  --keys FILE       key file (lines \"KID BASE64_32_BYTES\")\n"
        "  --mid ID          the application's message id\n"
        "  --rcpt ADDR       the recipient\n"
        "  --url URL         click target, http(s) only (click only)\n"
        "  --ttl DURATION    expires after 90, 90s, 15m, 2h, 30d, 1w\n"
        "  --expires UNIX    expires at this time (unix seconds)\n"
        "  --tag TAG         tag or campaign\n"
        "  --kid N           key id to mint with (default: the last line)\n"
        "  --base URL        location prefix the token is appended to\n"
        "  --raw             print the token alone\n"
        "  --purpose P       decode: the only purpose to try\n"
        "  -h, --help        this text\n");
}


int
mt_tool_token(int argc, char **argv)
{
    u_char  purpose;

    if (argc < 2) {
        return mt_tool_usage_error("token",
                                   "expected open, click, unsubscribe "
                                   "or decode");
    }

    if (mt_tool_is_help(argv[1])) {
        mt_tool_token_usage(stdout);
        return MT_TOOL_OK;
    }

    if (strcmp(argv[1], "decode") == 0) {
        return mt_tool_token_decode(argc - 1, argv + 1);
    }

    if (mt_tool_purpose(argv[1], &purpose) == 0) {
        return mt_tool_token_mint(argc - 1, argv + 1, purpose);
    }

    return mt_tool_usage_error("token", "unknown subcommand \"%s\"",
                               argv[1]);
}


static int
mt_tool_token_mint(int argc, char **argv, u_char purpose)
{
    int            c, rc, raw, have_nonce, unsafe_url;
    time_t         now;
    int64_t        ttl, expires, kid;
    ssize_t        n;
    const char    *keys, *mid, *rcpt, *url, *tag, *base, *ttl_arg;
    const char    *expires_arg, *kid_arg, *nonce_arg, *sep, *suffix;
    mt_token_t     tok;
    mt_keyring_t  *kr;
    u_char         nonce[MT_TOKEN_NONCE_LEN];
    u_char         out[MT_TOKEN_MAX_LEN + 1];

    keys = mid = rcpt = url = tag = base = ttl_arg = NULL;
    expires_arg = kid_arg = nonce_arg = NULL;
    raw = 0;
    unsafe_url = 0;

    optind = 1;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", mt_tool_mint_options, NULL))
           != -1)
    {
        switch (c) {
        case 'k': keys = optarg; break;
        case 'm': mid = optarg; break;
        case 'r': rcpt = optarg; break;
        case 'u': url = optarg; break;
        case 'x': ttl_arg = optarg; break;
        case 't': tag = optarg; break;
        case 'i': kid_arg = optarg; break;
        case 'b': base = optarg; break;
        case MT_TOOL_OPT_EXPIRES: expires_arg = optarg; break;
        case MT_TOOL_OPT_NONCE: nonce_arg = optarg; break;
        case MT_TOOL_OPT_RAW: raw = 1; break;
        case MT_TOOL_OPT_UNSAFE_URL: unsafe_url = 1; break;
        case 'h':
            mt_tool_token_usage(stdout);
            return MT_TOOL_OK;
        default:
            return mt_tool_bad_option("token", c, argv);
        }
    }

    if (optind != argc) {
        return mt_tool_usage_error("token", "unexpected argument \"%s\"",
                                   argv[optind]);
    }

    if (keys == NULL || mid == NULL || rcpt == NULL) {
        return mt_tool_usage_error("token", "--keys, --mid and --rcpt "
                                   "are required");
    }

    if (base == NULL && !raw) {
        return mt_tool_usage_error("token", "--base is required (or --raw)");
    }

    if (purpose == MT_PURPOSE_CLICK && url == NULL) {
        return mt_tool_usage_error("token", "a click token needs --url");
    }

    if (purpose != MT_PURPOSE_CLICK && url != NULL) {
        return mt_tool_usage_error("token", "--url is for click tokens "
                                   "only: %s tokens never redirect",
                                   argv[0]);
    }

    if (ttl_arg != NULL && expires_arg != NULL) {
        return mt_tool_usage_error("token", "--ttl and --expires exclude "
                                   "each other");
    }

    if (*mid == '\0' || *rcpt == '\0') {
        mt_tool_error("--mid and --rcpt must not be empty");
        return MT_TOOL_ERROR;
    }

    if (mt_tool_check_utf8("--mid", mid) != 0
        || mt_tool_check_utf8("--rcpt", rcpt) != 0
        || (tag != NULL && mt_tool_check_utf8("--tag", tag) != 0)
        || (url != NULL && mt_tool_check_utf8("--url", url) != 0))
    {
        return MT_TOOL_ERROR;
    }

    /* --unsafe-url (undocumented in --help): tests of the refusal */

    if (url != NULL && unsafe_url
        && !mt_url_allowed((u_char *) url, strlen(url)))
    {
        fprintf(stderr, "mail-track: warning: --url \"%s\" is refused by "
                "mail_track_click\n", url);

    } else if (url != NULL && !mt_url_allowed((u_char *) url, strlen(url))) {
        mt_tool_error("--url \"%s\": only absolute http:// and https:// "
                      "URLs with a host, without spaces or control "
                      "characters, are allowed", url);
        return MT_TOOL_ERROR;
    }

    now = time(NULL);
    expires = 0;

    if (ttl_arg != NULL) {
        ttl = mt_parse_duration((u_char *) ttl_arg, strlen(ttl_arg));

        if (ttl <= 0) {
            mt_tool_error("--ttl \"%s\": expected a positive duration like "
                          "90, 90s, 15m, 2h, 30d, 1w", ttl_arg);
            return MT_TOOL_ERROR;
        }

        expires = (int64_t) now + ttl;
    }

    if (expires_arg != NULL) {
        expires = mt_atoi64((u_char *) expires_arg, strlen(expires_arg));

        if (expires <= 0) {
            mt_tool_error("--expires \"%s\": expected unix seconds",
                          expires_arg);
            return MT_TOOL_ERROR;
        }

        /* an expired token is useful to test the refusal: only warn */

        if (expires <= (int64_t) now) {
            fprintf(stderr, "mail-track: warning: --expires \"%s\" is in "
                    "the past, the token is already expired\n", expires_arg);
        }
    }

    have_nonce = 0;

    if (nonce_arg != NULL) {
        if (strlen(nonce_arg) != 2 * MT_TOKEN_NONCE_LEN
            || mt_tool_hex_decode(nonce, nonce_arg, strlen(nonce_arg)) != 0)
        {
            mt_tool_error("--nonce \"%s\": expected %d hex digits",
                          nonce_arg, 2 * MT_TOKEN_NONCE_LEN);
            return MT_TOOL_ERROR;
        }

        have_nonce = 1;
    }

    kid = -1;

    if (kid_arg != NULL) {
        kid = mt_atoi64((u_char *) kid_arg, strlen(kid_arg));

        if (kid < 0 || kid > 255) {
            mt_tool_error("--kid \"%s\": expected 0..255", kid_arg);
            return MT_TOOL_ERROR;
        }
    }

    kr = mt_tool_keys_load(keys);
    if (kr == NULL) {
        return MT_TOOL_ERROR;
    }

    if (kid == -1) {
        kid = kr->last;

    } else if (!kr->keys[kid].set) {
        mt_tool_error("%s: no key with id %d", keys, (int) kid);
        mt_keyring_free(kr);
        return MT_TOOL_ERROR;
    }

    memset(&tok, 0, sizeof(mt_token_t));

    tok.purpose = purpose;
    tok.kid = (u_char) kid;
    tok.expires = expires;
    tok.mid.data = (u_char *) mid;
    tok.mid.len = strlen(mid);
    tok.rcpt.data = (u_char *) rcpt;
    tok.rcpt.len = strlen(rcpt);

    if (url != NULL) {
        tok.url.data = (u_char *) url;
        tok.url.len = strlen(url);
    }

    if (tag != NULL) {
        tok.tag.data = (u_char *) tag;
        tok.tag.len = strlen(tag);
    }

    n = mt_token_encode(kr, &tok, have_nonce ? nonce : NULL, out);

    mt_keyring_free(kr);

    if (n < 0) {
        mt_tool_error("cannot mint the token: the fields make it longer "
                      "than %d characters", MT_TOKEN_MAX_LEN);
        return MT_TOOL_ERROR;
    }

    suffix = (purpose == MT_PURPOSE_OPEN) ? ".gif" : "";

    if (raw) {
        rc = printf("%s\n", out);

    } else {
        sep = (*base != '\0' && base[strlen(base) - 1] == '/') ? "" : "/";
        rc = printf("%s%s%s%s\n", base, sep, out, suffix);
    }

    if (rc < 0 || fflush(stdout) != 0) {
        mt_tool_error("write error: %s", strerror(errno));
        return MT_TOOL_ERROR;
    }

    return MT_TOOL_OK;
}


static int
mt_tool_token_decode(int argc, char **argv)
{
    int             c, rc;
    size_t          len;
    mt_rc_t         res;
    unsigned        i;
    const char     *keys, *purpose_arg, *token;
    mt_token_t      tok;
    mt_keyring_t   *kr;
    mt_tool_buf_t   b;
    u_char          purpose;
    u_char          plain[MT_TOKEN_MAX_PLAIN];

    keys = purpose_arg = NULL;

    optind = 1;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", mt_tool_decode_options, NULL))
           != -1)
    {
        switch (c) {
        case 'k': keys = optarg; break;
        case 'p': purpose_arg = optarg; break;
        case 'h':
            mt_tool_token_usage(stdout);
            return MT_TOOL_OK;
        default:
            return mt_tool_bad_option("token decode", c, argv);
        }
    }

    if (argc - optind != 1) {
        return mt_tool_usage_error("token decode",
                                   "expected one TOKEN_OR_URL argument");
    }

    if (keys == NULL) {
        return mt_tool_usage_error("token decode", "--keys is required");
    }

    purpose = 0;

    if (purpose_arg != NULL && mt_tool_purpose(purpose_arg, &purpose) != 0) {
        return mt_tool_usage_error("token decode", "--purpose \"%s\": "
                                   "expected open, click or unsubscribe",
                                   purpose_arg);
    }

    token = mt_tool_token_extract(argv[optind], &len);

    kr = mt_tool_keys_load(keys);
    if (kr == NULL) {
        return MT_TOOL_ERROR;
    }

    res = MT_ERR_TOKEN_EMPTY;

    for (i = 0; i < sizeof(mt_tool_purposes); i++) {
        if (purpose && mt_tool_purposes[i] != purpose) {
            continue;
        }

        res = mt_token_decode(kr, mt_tool_purposes[i], (u_char *) token, len,
                              (int64_t) time(NULL), plain, &tok);

        /*
         * token_purpose: it opens with one of the others, try them;
         * anything else does not depend on the purpose tried
         */

        if (res != MT_ERR_TOKEN_PURPOSE || purpose) {
            break;
        }
    }

    mt_keyring_free(kr);

    if (res != MT_OK) {
        OPENSSL_cleanse(plain, sizeof(plain));
        fprintf(stderr, "%s: %s\n", mt_rc_name(res), mt_rc_text(res));
        return MT_TOOL_ERROR;
    }

    mt_tool_buf_init(&b);

    mt_tool_buf_add_cstr(&b, "{\"purpose\":\"");
    mt_tool_buf_add_cstr(&b, mt_tool_purpose_name(tok.purpose));
    mt_tool_buf_add_cstr(&b, "\",\"kid\":");
    mt_tool_json_int(&b, tok.kid);
    mt_tool_buf_add_cstr(&b, ",\"mid\":");
    mt_tool_json_str(&b, tok.mid.data, tok.mid.len);
    mt_tool_buf_add_cstr(&b, ",\"rcpt\":");
    mt_tool_json_str(&b, tok.rcpt.data, tok.rcpt.len);
    mt_tool_buf_add_cstr(&b, ",\"url\":");

    if (tok.url.len) {
        mt_tool_json_str(&b, tok.url.data, tok.url.len);

    } else {
        mt_tool_buf_add_cstr(&b, "null");
    }

    mt_tool_buf_add_cstr(&b, ",\"tag\":");

    if (tok.tag.len) {
        mt_tool_json_str(&b, tok.tag.data, tok.tag.len);

    } else {
        mt_tool_buf_add_cstr(&b, "null");
    }

    mt_tool_buf_add_cstr(&b, ",\"expires\":");

    if (tok.expires) {
        mt_tool_json_int(&b, tok.expires);

    } else {
        mt_tool_buf_add_cstr(&b, "null");
    }

    mt_tool_buf_add_cstr(&b, "}\n");

    OPENSSL_cleanse(plain, sizeof(plain));

    rc = MT_TOOL_OK;

    if (b.nomem) {
        mt_tool_error("out of memory");
        rc = MT_TOOL_ERROR;

    } else if (fwrite(b.data, 1, b.len, stdout) != b.len
               || fflush(stdout) != 0)
    {
        mt_tool_error("write error: %s", strerror(errno));
        rc = MT_TOOL_ERROR;
    }

    mt_tool_buf_free(&b);

    return rc;
}


/* the last path segment of a URL, without a query and ".gif" */

static const char *
mt_tool_token_extract(const char *arg, size_t *len)
{
    const char  *p, *end;

    end = arg + strcspn(arg, "?#");

    for (p = end; p > arg && p[-1] != '/'; p--) {
        /* void */
    }

    if (end - p > 4 && strncasecmp(end - 4, ".gif", 4) == 0) {
        end -= 4;
    }

    *len = end - p;

    return p;
}


static int
mt_tool_purpose(const char *name, u_char *purpose)
{
    unsigned  i;

    for (i = 0; i < sizeof(mt_tool_purposes); i++) {
        if (strcmp(name, mt_tool_purpose_name(mt_tool_purposes[i])) == 0) {
            *purpose = mt_tool_purposes[i];
            return 0;
        }
    }

    return -1;
}


static const char *
mt_tool_purpose_name(u_char purpose)
{
    switch (purpose) {
    case MT_PURPOSE_OPEN:
        return "open";
    case MT_PURPOSE_CLICK:
        return "click";
    default:
        return "unsubscribe";
    }
}


static int
mt_tool_hex_decode(u_char *dst, const char *src, size_t len)
{
    u_char  c, v;
    size_t  i;

    for (i = 0; i < len; i++) {
        c = (u_char) src[i];

        if (c >= '0' && c <= '9') {
            v = c - '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            v = (c | 0x20) - 'a' + 10;

        } else {
            return -1;
        }

        if (i % 2 == 0) {
            dst[i / 2] = v << 4;

        } else {
            dst[i / 2] |= v;
        }
    }

    return 0;
}


static int
mt_tool_check_utf8(const char *what, const char *s)
{
    if (!mt_utf8_valid((u_char *) s, strlen(s))) {
        mt_tool_error("%s is not valid UTF-8", what);
        return -1;
    }

    return 0;
}

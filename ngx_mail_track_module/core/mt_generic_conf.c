
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The generic provider's configuration: each mail_track_generic_*
 * directive parsed and compiled when it is read (so an error names its
 * line), and the checks that need the whole location at the end.
 */


#include "mt_generic.h"
#include "mt_base64.h"

#include <stdio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>


#define MT_GEN_KEY_MAX        4096


typedef mt_rc_t (*mt_gen_set_pt)(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);


typedef struct {
    const char         *name;
    mt_gen_set_pt       set;
    size_t              min;           /* arguments */
    size_t              max;           /* 0: any number */
} mt_gen_directive_t;


typedef struct {
    const char         *name;
    const char         *md;            /* OpenSSL's digest name */
    size_t              len;
    unsigned            hmac:1;
} mt_gen_alg_t;


static mt_rc_t mt_gen_set_name(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);
static mt_rc_t mt_gen_set_format(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);
static mt_rc_t mt_gen_set_events(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);
static mt_rc_t mt_gen_set_auth(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);
static mt_rc_t mt_gen_set_token(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);
static mt_rc_t mt_gen_set_digest(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);
static mt_rc_t mt_gen_set_message(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);
static mt_rc_t mt_gen_set_timestamp(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);
static mt_rc_t mt_gen_set_nonce(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);
static mt_rc_t mt_gen_set_field(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);
static mt_rc_t mt_gen_set_event(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);
static mt_rc_t mt_gen_set_bounce(mt_gen_conf_t *gc, mt_str_t *args,
    size_t nargs, char *err, size_t errlen);
static mt_rc_t mt_gen_source_parse(mt_gen_conf_t *gc, mt_str_t *text,
    mt_gen_src_t *src, int query, char *err, size_t errlen);
static int mt_gen_header_name(mt_str_t *name);
static mt_rc_t mt_gen_conv_parse(mt_str_t *word, unsigned *conv,
    int64_t *offset);
static int mt_gen_bounce_by_name(mt_str_t *name);
static int mt_gen_word(mt_str_t *s, const char *const *words);
static int mt_gen_enum(mt_str_t *arg, const char *const *words,
    const char *what, char *err, size_t errlen);
static mt_rc_t mt_gen_check_flat(mt_gen_conf_t *gc, char *err,
    size_t errlen);
static mt_rc_t mt_gen_check_src_flat(mt_gen_conf_t *gc, mt_gen_src_t *src,
    const char *what, char *err, size_t errlen);
static void mt_gen_id_field(mt_gen_conf_t *gc, mt_str_t *id_field);
static mt_rc_t mt_gen_hash_events(mt_gen_conf_t *gc, char *err,
    size_t errlen);
static mt_rc_t mt_gen_prepare_keys(mt_gen_conf_t *gc, mt_wh_conf_t *wh,
    char *err, size_t errlen);
static uint32_t mt_gen_hash(const u_char *p, size_t len);


static const mt_gen_directive_t  mt_gen_directives[] = {
    { "name",       mt_gen_set_name,       1, 1 },
    { "format",     mt_gen_set_format,     1, 1 },
    { "events",     mt_gen_set_events,     1, 1 },
    { "auth",       mt_gen_set_auth,       1, 1 },
    { "token",      mt_gen_set_token,      1, 1 },
    { "digest",     mt_gen_set_digest,     3, 6 },
    { "message",    mt_gen_set_message,    1, 1 },
    { "timestamp",  mt_gen_set_timestamp,  2, 2 },
    { "nonce",      mt_gen_set_nonce,      1, 1 },
    { "field",      mt_gen_set_field,      2, 0 },
    { "event",      mt_gen_set_event,      2, 3 },
    { "bounce",     mt_gen_set_bounce,     2, 0 },
    { NULL,         NULL,                  0, 0 }
};


static const mt_gen_alg_t  mt_gen_algs[] = {
    { "hmac-sha256",  "SHA256",  32,  1 },
    { "hmac-sha1",    "SHA1",    20,  1 },
    { "hmac-sha512",  "SHA512",  64,  1 },
    { "md5",          "MD5",     16,  0 },
    { "sha256",       "SHA256",  32,  0 },
    { NULL,           NULL,      0,   0 }
};


static const char *const  mt_gen_formats[] = {
    "auto", "json", "ndjson", "form", "query", NULL
};

static const char *const  mt_gen_auths[] = {
    "", "none", "token", "digest", NULL
};

static const char *const  mt_gen_encs[] = { "hex", "base64", NULL };

static const char *const  mt_gen_keyencs[] = {
    "raw", "base64", "whsec", NULL
};

const char *const  mt_gen_field_names[MT_GEN_F_MAX + 1] = {
    "id", "ts", "esp_type", "mid", "esp_mid", "rcpt", "reason",
    "smtp_code", "smtp_status", "url", "ip", "ua", "tag", "bounce", NULL
};


mt_gen_conf_t *
mt_gen_conf_create(mt_alloc_t *a)
{
    mt_gen_conf_t  *gc;

    gc = mt_alloc(a, sizeof(mt_gen_conf_t));
    if (gc == NULL) {
        return NULL;
    }

    memset(gc, 0, sizeof(mt_gen_conf_t));

    gc->alloc = *a;
    mt_str_set(&gc->name, "generic");
    gc->event_default.type = MT_EV_OTHER;
    gc->event_default.bounce = MT_BOUNCE_NONE;

    return gc;
}


mt_rc_t
mt_gen_directive(mt_gen_conf_t *gc, const char *name, mt_str_t *args,
    size_t nargs, char *err, size_t errlen)
{
    const mt_gen_directive_t  *d;

    for (d = mt_gen_directives; d->name != NULL; d++) {
        if (strcmp(d->name, name) != 0) {
            continue;
        }

        if (nargs < d->min || (d->max && nargs > d->max)) {
            snprintf(err, errlen, "invalid number of arguments");
            return MT_ERR_INTERNAL;
        }

        return d->set(gc, args, nargs, err, errlen);
    }

    snprintf(err, errlen, "unknown directive");

    return MT_ERR_INTERNAL;
}


/*
 * The name is a metrics label and a file name part in places: short,
 * lowercase, and none of the built-in providers' (their records would
 * be mistaken for this one's).
 */

static mt_rc_t
mt_gen_set_name(mt_gen_conf_t *gc, mt_str_t *args, size_t nargs, char *err,
    size_t errlen)
{
    size_t    i;
    u_char    c;
    mt_str_t  *v;

    (void) nargs;

    v = &args[0];

    if (v->len == 0 || v->len > MT_GEN_NAME_MAX) {
        snprintf(err, errlen, "the name must be 1 to %d characters",
                 MT_GEN_NAME_MAX);
        return MT_ERR_INTERNAL;
    }

    for (i = 0; i < v->len; i++) {
        c = v->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'
              || c == '-'))
        {
            snprintf(err, errlen, "the name \"%.*s\" is not lowercase "
                     "letters, digits, \"_\" and \"-\"", (int) v->len,
                     v->data);
            return MT_ERR_INTERNAL;
        }
    }

    if (mt_src_by_name(v->data, v->len) >= 0 && !mt_str_eq(v, "generic")) {
        snprintf(err, errlen, "\"%.*s\" is the name of a built-in "
                 "provider", (int) v->len, v->data);
        return MT_ERR_INTERNAL;
    }

    if (mt_strdup(&gc->alloc, &gc->name, v->data, v->len) == NULL) {
        return MT_ERR_NOMEM;
    }

    return MT_OK;
}


static mt_rc_t
mt_gen_set_format(mt_gen_conf_t *gc, mt_str_t *args, size_t nargs,
    char *err, size_t errlen)
{
    int  n;

    (void) nargs;

    n = mt_gen_enum(&args[0], mt_gen_formats, "format", err, errlen);
    if (n < 0) {
        return MT_ERR_INTERNAL;
    }

    gc->format = n;

    return MT_OK;
}


static mt_rc_t
mt_gen_set_events(mt_gen_conf_t *gc, mt_str_t *args, size_t nargs,
    char *err, size_t errlen)
{
    (void) nargs;

    if (mt_gen_ptr_parse(&gc->alloc, &args[0], &gc->events, err, errlen)
        != MT_OK)
    {
        return MT_ERR_INTERNAL;
    }

    gc->events_set = 1;

    return MT_OK;
}


static mt_rc_t
mt_gen_set_auth(mt_gen_conf_t *gc, mt_str_t *args, size_t nargs, char *err,
    size_t errlen)
{
    int  n;

    (void) nargs;

    n = mt_gen_enum(&args[0], mt_gen_auths, "authentication", err, errlen);
    if (n < 0) {
        return MT_ERR_INTERNAL;
    }

    gc->auth = n;

    return MT_OK;
}


static mt_rc_t
mt_gen_set_token(mt_gen_conf_t *gc, mt_str_t *args, size_t nargs,
    char *err, size_t errlen)
{
    (void) nargs;

    return mt_gen_source_parse(gc, &args[0], &gc->token, 1, err, errlen);
}


/* ALG ENC SOURCE [prefix=STR] [split=CHARS] [key=raw|base64|whsec] */

static mt_rc_t
mt_gen_set_digest(mt_gen_conf_t *gc, mt_str_t *args, size_t nargs,
    char *err, size_t errlen)
{
    int                  n;
    size_t               i;
    mt_str_t             v;
    const mt_gen_alg_t  *a;

    for (a = mt_gen_algs; a->name != NULL; a++) {
        if (mt_str_eq(&args[0], a->name)) {
            break;
        }
    }

    if (a->name == NULL) {
        snprintf(err, errlen, "unknown algorithm \"%.*s\", expected "
                 "hmac-sha256, hmac-sha1, hmac-sha512, md5 or sha256",
                 (int) args[0].len, args[0].data);
        return MT_ERR_INTERNAL;
    }

    gc->alg = a - mt_gen_algs;

    n = mt_gen_word(&args[1], mt_gen_encs);

    if (n < 0) {
        snprintf(err, errlen, "unknown encoding \"%.*s\", expected hex or "
                 "base64", (int) args[1].len, args[1].data);
        return MT_ERR_INTERNAL;
    }

    gc->enc = n;

    if (mt_gen_source_parse(gc, &args[2], &gc->sig, 0, err, errlen)
        != MT_OK)
    {
        return MT_ERR_INTERNAL;
    }

    gc->prefix.len = 0;
    gc->split.len = 0;
    gc->keyenc = MT_GEN_KEY_RAW;

    for (i = 3; i < nargs; i++) {
        v = args[i];

        if (v.len > 7 && strncmp((char *) v.data, "prefix=", 7) == 0) {
            gc->prefix.data = v.data + 7;
            gc->prefix.len = v.len - 7;

        } else if (v.len > 6 && strncmp((char *) v.data, "split=", 6) == 0) {
            gc->split.data = v.data + 6;
            gc->split.len = v.len - 6;

        } else if (v.len > 4 && strncmp((char *) v.data, "key=", 4) == 0) {
            v.data += 4;
            v.len -= 4;

            n = mt_gen_word(&v, mt_gen_keyencs);

            if (n < 0) {
                snprintf(err, errlen, "unknown key encoding \"%.*s\", "
                         "expected raw, base64 or whsec", (int) v.len,
                         v.data);
                return MT_ERR_INTERNAL;
            }

            gc->keyenc = n;

        } else {
            snprintf(err, errlen, "invalid parameter \"%.*s\"",
                     (int) v.len, v.data);
            return MT_ERR_INTERNAL;
        }
    }

    gc->digest_set = 1;

    return MT_OK;
}


static mt_rc_t
mt_gen_set_message(mt_gen_conf_t *gc, mt_str_t *args, size_t nargs,
    char *err, size_t errlen)
{
    (void) nargs;

    return mt_gen_template_parse(gc, &args[0], err, errlen);
}


static mt_rc_t
mt_gen_set_timestamp(mt_gen_conf_t *gc, mt_str_t *args, size_t nargs,
    char *err, size_t errlen)
{
    (void) nargs;

    if (mt_gen_source_parse(gc, &args[0], &gc->ts, 1, err, errlen)
        != MT_OK)
    {
        return MT_ERR_INTERNAL;
    }

    if (mt_str_eq(&args[1], "s")) {
        gc->ts_conv = MT_GEN_CONV_S;

    } else if (mt_str_eq(&args[1], "ms")) {
        gc->ts_conv = MT_GEN_CONV_MS;

    } else if (mt_str_eq(&args[1], "rfc3339")) {
        gc->ts_conv = MT_GEN_CONV_RFC3339;

    } else {
        snprintf(err, errlen, "unknown time unit \"%.*s\", expected s, ms "
                 "or rfc3339", (int) args[1].len, args[1].data);
        return MT_ERR_INTERNAL;
    }

    return MT_OK;
}


static mt_rc_t
mt_gen_set_nonce(mt_gen_conf_t *gc, mt_str_t *args, size_t nargs,
    char *err, size_t errlen)
{
    (void) nargs;

    return mt_gen_source_parse(gc, &args[0], &gc->nonce, 1, err, errlen);
}


/*
 * RECORD_KEY POINTER... [CONVERSION...]: a later one for the same key
 * replaces an earlier one, so that a location may include a profile
 * and then change one mapping.
 */

static mt_rc_t
mt_gen_set_field(mt_gen_conf_t *gc, mt_str_t *args, size_t nargs,
    char *err, size_t errlen)
{
    int              key;
    size_t           i;
    mt_gen_field_t  *f;

    key = mt_gen_word(&args[0], mt_gen_field_names);

    if (key < 0) {
        snprintf(err, errlen, "unknown record key \"%.*s\", expected one "
                 "of id ts esp_type mid esp_mid rcpt reason smtp_code "
                 "smtp_status url ip ua tag bounce", (int) args[0].len,
                 args[0].data);
        return MT_ERR_INTERNAL;
    }

    f = mt_alloc(&gc->alloc, sizeof(mt_gen_field_t));
    if (f == NULL) {
        return MT_ERR_NOMEM;
    }

    memset(f, 0, sizeof(mt_gen_field_t));

    for (i = 1; i < nargs; i++) {

        if (args[i].len && args[i].data[0] != '/') {
            if (f->nptrs == 0) {
                break;
            }

            if (mt_gen_conv_parse(&args[i], &f->conv, &f->offset) != MT_OK)
            {
                snprintf(err, errlen, "unknown conversion \"%.*s\", "
                         "expected s, ms, rfc3339, local:+HH:MM, int, "
                         "lower or first", (int) args[i].len,
                         args[i].data);
                return MT_ERR_INTERNAL;
            }

            continue;
        }

        if (f->conv) {
            snprintf(err, errlen, "pointer \"%.*s\" after a conversion",
                     (int) args[i].len, args[i].data);
            return MT_ERR_INTERNAL;
        }

        if (f->nptrs == MT_GEN_FIELD_PTRS) {
            snprintf(err, errlen, "more than %d pointers",
                     MT_GEN_FIELD_PTRS);
            return MT_ERR_INTERNAL;
        }

        if (mt_gen_ptr_parse(&gc->alloc, &args[i], &f->ptrs[f->nptrs], err,
                             errlen)
            != MT_OK)
        {
            return MT_ERR_INTERNAL;
        }

        f->nptrs++;
    }

    if (f->nptrs == 0) {
        snprintf(err, errlen, "\"%.*s\" is not a JSON pointer (\"/...\")",
                 (int) args[1].len, args[1].data);
        return MT_ERR_INTERNAL;
    }

    if ((f->conv & MT_GEN_CONV_TIME) && key != MT_GEN_F_TS) {
        snprintf(err, errlen, "a time conversion applies to \"ts\" only");
        return MT_ERR_INTERNAL;
    }

    if ((f->conv & MT_GEN_CONV_TIME) & ((f->conv & MT_GEN_CONV_TIME) - 1)) {
        snprintf(err, errlen, "more than one time conversion");
        return MT_ERR_INTERNAL;
    }

    gc->fields[key] = f;

    return MT_OK;
}


/* VENDOR_NAME TYPE [BOUNCE]; "default" sets the fallback */

static mt_rc_t
mt_gen_set_event(mt_gen_conf_t *gc, mt_str_t *args, size_t nargs,
    char *err, size_t errlen)
{
    int              type, bounce;
    mt_gen_event_t  *e;

    type = mt_event_type_by_name(args[1].data, args[1].len);

    if (type < 0) {
        snprintf(err, errlen, "unknown type \"%.*s\", expected one of sent "
                 "delivered deferred bounced rejected opened clicked "
                 "complained unsubscribed other", (int) args[1].len,
                 args[1].data);
        return MT_ERR_INTERNAL;
    }

    bounce = MT_BOUNCE_NONE;

    if (nargs == 3) {
        bounce = mt_gen_bounce_by_name(&args[2]);

        if (bounce < 0) {
            snprintf(err, errlen, "unknown bounce class \"%.*s\", expected "
                     "hard, soft, block or undetermined", (int) args[2].len,
                     args[2].data);
            return MT_ERR_INTERNAL;
        }

        if (type != MT_EV_BOUNCED && type != MT_EV_DEFERRED) {
            snprintf(err, errlen, "a bounce class needs the type bounced "
                     "or deferred");
            return MT_ERR_INTERNAL;
        }
    }

    if (args[0].len == 0) {
        snprintf(err, errlen, "an empty event name");
        return MT_ERR_INTERNAL;
    }

    if (mt_str_eq(&args[0], "default")) {
        gc->event_default.type = type;
        gc->event_default.bounce = bounce;
        gc->default_set = 1;
        return MT_OK;
    }

    /* a later one for the same name replaces it */

    for (e = gc->event_list; e != NULL; e = e->next) {
        if (e->name.len == args[0].len
            && memcmp(e->name.data, args[0].data, args[0].len) == 0)
        {
            e->type = type;
            e->bounce = bounce;
            return MT_OK;
        }
    }

    e = mt_alloc(&gc->alloc, sizeof(mt_gen_event_t));
    if (e == NULL) {
        return MT_ERR_NOMEM;
    }

    if (mt_strdup(&gc->alloc, &e->name, args[0].data, args[0].len) == NULL) {
        return MT_ERR_NOMEM;
    }

    e->hash = mt_gen_hash(e->name.data, e->name.len);
    e->type = type;
    e->bounce = bounce;
    e->next = gc->event_list;
    gc->event_list = e;

    return MT_OK;
}


/* POINTER VALUE=CLASS...: the first value that matches refines bounce */

static mt_rc_t
mt_gen_set_bounce(mt_gen_conf_t *gc, mt_str_t *args, size_t nargs,
    char *err, size_t errlen)
{
    int               c;
    size_t            i;
    u_char           *eq;
    mt_str_t          cls;
    mt_gen_bounce_t  *b, **pb;

    b = mt_alloc(&gc->alloc, sizeof(mt_gen_bounce_t));
    if (b == NULL) {
        return MT_ERR_NOMEM;
    }

    memset(b, 0, sizeof(mt_gen_bounce_t));

    if (mt_gen_ptr_parse(&gc->alloc, &args[0], &b->ptr, err, errlen)
        != MT_OK)
    {
        return MT_ERR_INTERNAL;
    }

    b->n = nargs - 1;
    b->values = mt_alloc(&gc->alloc, b->n * sizeof(mt_str_t));
    b->classes = mt_alloc(&gc->alloc, b->n * sizeof(mt_bounce_e));

    if (b->values == NULL || b->classes == NULL) {
        return MT_ERR_NOMEM;
    }

    for (i = 1; i < nargs; i++) {
        eq = NULL;

        if (args[i].len) {
            for (eq = args[i].data + args[i].len - 1; eq >= args[i].data;
                 eq--)
            {
                if (*eq == '=') {
                    break;
                }
            }
        }

        if (eq == NULL || eq < args[i].data || eq == args[i].data) {
            snprintf(err, errlen, "\"%.*s\" is not VALUE=CLASS",
                     (int) args[i].len, args[i].data);
            return MT_ERR_INTERNAL;
        }

        cls.data = eq + 1;
        cls.len = args[i].data + args[i].len - cls.data;

        c = mt_gen_bounce_by_name(&cls);

        if (c < 0) {
            snprintf(err, errlen, "unknown bounce class \"%.*s\", expected "
                     "hard, soft, block or undetermined", (int) cls.len,
                     cls.data);
            return MT_ERR_INTERNAL;
        }

        b->values[i - 1].data = args[i].data;
        b->values[i - 1].len = eq - args[i].data;
        b->classes[i - 1] = c;
    }

    /* in order; one for the same pointer replaces it */

    for (pb = &gc->bounces; *pb != NULL; pb = &(*pb)->next) {
        if ((*pb)->ptr.text.len == b->ptr.text.len
            && memcmp((*pb)->ptr.text.data, b->ptr.text.data,
                      b->ptr.text.len) == 0)
        {
            b->next = (*pb)->next;
            break;
        }
    }

    *pb = b;

    return MT_OK;
}


/*
 * RFC 6901: "" is the whole document, else "/" and reference tokens
 * separated by "/", where "~1" stands for "/" and "~0" for "~".
 */

mt_rc_t
mt_gen_ptr_parse(mt_alloc_t *a, mt_str_t *text, mt_gen_ptr_t *ptr,
    char *err, size_t errlen)
{
    size_t     i, n;
    u_char    *d, *p, *end;
    mt_str_t  *tok;

    memset(ptr, 0, sizeof(mt_gen_ptr_t));

    if (mt_strdup(a, &ptr->text, text->data, text->len) == NULL) {
        return MT_ERR_NOMEM;
    }

    if (text->len == 0) {
        return MT_OK;
    }

    if (text->data[0] != '/') {
        snprintf(err, errlen, "malformed JSON pointer \"%.*s\": it must be "
                 "empty or start with \"/\"", (int) text->len, text->data);
        return MT_ERR_INTERNAL;
    }

    n = 0;

    for (i = 0; i < text->len; i++) {
        if (text->data[i] == '/') {
            n++;
        }

        if (text->data[i] == '~'
            && (i + 1 == text->len
                || (text->data[i + 1] != '0' && text->data[i + 1] != '1')))
        {
            snprintf(err, errlen, "malformed JSON pointer \"%.*s\": \"~\" "
                     "must be followed by \"0\" or \"1\"", (int) text->len,
                     text->data);
            return MT_ERR_INTERNAL;
        }
    }

    tok = mt_alloc(a, n * sizeof(mt_str_t));
    d = mt_alloc(a, text->len);

    if (tok == NULL || d == NULL) {
        return MT_ERR_NOMEM;
    }

    ptr->tokens = tok;
    ptr->ntokens = n;

    p = text->data + 1;
    end = text->data + text->len;

    for (i = 0; i < n; i++) {
        tok[i].data = d;

        while (p < end && *p != '/') {
            if (*p == '~') {
                *d++ = (p[1] == '1') ? '/' : '~';
                p += 2;
                continue;
            }

            *d++ = *p++;
        }

        tok[i].len = d - tok[i].data;
        p++;
    }

    return MT_OK;
}


/*
 * "{field:/timestamp}{field:/token}", "{header:webhook-id}.{body}":
 * literal text, "{{" and "}}" for braces, and the pieces
 * {body} {key} {method} {uri} {header:NAME} {field:POINTER} {query:ARG}.
 */

mt_rc_t
mt_gen_template_parse(mt_gen_conf_t *gc, mt_str_t *text, char *err,
    size_t errlen)
{
    size_t           n;
    u_char          *p, *end, *close, *lit;
    mt_str_t         name;
    mt_gen_piece_t  *pc, *last;

    /* at most one piece per character */

    pc = mt_alloc(&gc->alloc, (text->len + 1) * sizeof(mt_gen_piece_t));
    lit = mt_alloc(&gc->alloc, text->len + 1);

    if (pc == NULL || lit == NULL) {
        return MT_ERR_NOMEM;
    }

    n = 0;
    last = NULL;
    p = text->data;
    end = p + text->len;

    while (p < end) {

        if ((*p == '{' || *p == '}') && p + 1 < end && p[1] == *p) {
            goto literal;
        }

        if (*p == '}') {
            snprintf(err, errlen, "a lone \"}\" in the template (write "
                     "\"}}\" for a brace)");
            return MT_ERR_INTERNAL;
        }

        if (*p != '{') {
            goto literal;
        }

        close = memchr(p, '}', end - p);

        if (close == NULL) {
            snprintf(err, errlen, "an unclosed \"{\" in the template");
            return MT_ERR_INTERNAL;
        }

        name.data = p + 1;
        name.len = close - p - 1;

        memset(&pc[n], 0, sizeof(mt_gen_piece_t));

        if (mt_str_eq(&name, "body")) {
            pc[n].type = MT_GEN_PIECE_BODY;

        } else if (mt_str_eq(&name, "key")) {
            pc[n].type = MT_GEN_PIECE_KEY;

        } else if (mt_str_eq(&name, "method")) {
            pc[n].type = MT_GEN_PIECE_METHOD;

        } else if (mt_str_eq(&name, "uri")) {
            pc[n].type = MT_GEN_PIECE_URI;

        } else {
            pc[n].type = MT_GEN_PIECE_SOURCE;

            if (mt_gen_source_parse(gc, &name, &pc[n].src, 1, err, errlen)
                != MT_OK)
            {
                return MT_ERR_INTERNAL;
            }
        }

        n++;
        last = NULL;
        p = close + 1;
        continue;

    literal:

        if (last == NULL) {
            last = &pc[n++];
            memset(last, 0, sizeof(mt_gen_piece_t));
            last->type = MT_GEN_PIECE_TEXT;
            last->text.data = lit;
        }

        *lit++ = *p;
        last->text.len++;
        p += (*p == '{' || *p == '}') ? 2 : 1;
    }

    gc->pieces = pc;
    gc->npieces = n;

    return MT_OK;
}


/* header:NAME, field:POINTER, and (where query is allowed) query:ARG */

static mt_rc_t
mt_gen_source_parse(mt_gen_conf_t *gc, mt_str_t *text, mt_gen_src_t *src,
    int query, char *err, size_t errlen)
{
    size_t    i;
    mt_str_t  v;

    memset(src, 0, sizeof(mt_gen_src_t));

    v = *text;

    if (v.len > 7 && strncmp((char *) v.data, "header:", 7) == 0) {
        src->type = MT_GEN_SRC_HEADER;

        v.data += 7;
        v.len -= 7;

        if (!mt_gen_header_name(&v)) {
            snprintf(err, errlen, "invalid header name \"%.*s\"",
                     (int) v.len, v.data);
            return MT_ERR_INTERNAL;
        }

        if (mt_strdup(&gc->alloc, &src->name, v.data, v.len) == NULL) {
            return MT_ERR_NOMEM;
        }

        for (i = 0; i < src->name.len; i++) {
            if (src->name.data[i] >= 'A' && src->name.data[i] <= 'Z') {
                src->name.data[i] |= 0x20;
            }
        }

        return MT_OK;
    }

    if (v.len >= 6 && strncmp((char *) v.data, "field:", 6) == 0) {
        src->type = MT_GEN_SRC_FIELD;

        v.data += 6;
        v.len -= 6;

        if (v.len == 0) {
            snprintf(err, errlen, "\"field:\" needs a JSON pointer to a "
                     "value, not the whole document");
            return MT_ERR_INTERNAL;
        }

        return mt_gen_ptr_parse(&gc->alloc, &v, &src->ptr, err, errlen);
    }

    if (query && v.len > 6 && strncmp((char *) v.data, "query:", 6) == 0) {
        src->type = MT_GEN_SRC_QUERY;

        if (mt_strdup(&gc->alloc, &src->name, v.data + 6, v.len - 6)
            == NULL)
        {
            return MT_ERR_NOMEM;
        }

        return MT_OK;
    }

    snprintf(err, errlen, "\"%.*s\" is not %s", (int) text->len,
             text->data, query ? "header:NAME, field:POINTER or query:ARG"
                               : "header:NAME or field:POINTER");

    return MT_ERR_INTERNAL;
}


/* an RFC 9110 token */

static int
mt_gen_header_name(mt_str_t *name)
{
    size_t  i;
    u_char  c;

    if (name->len == 0 || name->len > 256) {
        return 0;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9'))
        {
            continue;
        }

        if (strchr("!#$%&'*+-.^_`|~", c) == NULL || c == '\0') {
            return 0;
        }
    }

    return 1;
}


static mt_rc_t
mt_gen_conv_parse(mt_str_t *word, unsigned *conv, int64_t *offset)
{
    int64_t  h, m;
    u_char  *p;

    if (mt_str_eq(word, "s")) {
        *conv |= MT_GEN_CONV_S;

    } else if (mt_str_eq(word, "ms")) {
        *conv |= MT_GEN_CONV_MS;

    } else if (mt_str_eq(word, "rfc3339")) {
        *conv |= MT_GEN_CONV_RFC3339;

    } else if (mt_str_eq(word, "int")) {
        *conv |= MT_GEN_CONV_INT;

    } else if (mt_str_eq(word, "lower")) {
        *conv |= MT_GEN_CONV_LOWER;

    } else if (mt_str_eq(word, "first")) {
        *conv |= MT_GEN_CONV_FIRST;

    } else if (word->len == 12 && strncmp((char *) word->data, "local:", 6)
               == 0)
    {
        /* local:+08:00 */

        p = word->data + 6;

        if ((p[0] != '+' && p[0] != '-') || p[3] != ':') {
            return MT_ERR_INTERNAL;
        }

        h = mt_atoi64(p + 1, 2);
        m = mt_atoi64(p + 4, 2);

        if (h < 0 || h > 14 || m < 0 || m > 59) {
            return MT_ERR_INTERNAL;
        }

        *offset = (h * 60 + m) * 60 * (p[0] == '-' ? -1 : 1);
        *conv |= MT_GEN_CONV_LOCAL;

    } else {
        return MT_ERR_INTERNAL;
    }

    return MT_OK;
}


static int
mt_gen_bounce_by_name(mt_str_t *name)
{
    int  i;

    for (i = MT_BOUNCE_HARD; i < MT_BOUNCE_MAX; i++) {
        if (mt_str_eq(name, mt_bounce_names[i])) {
            return i;
        }
    }

    return -1;
}


/*
 * The index of one of words (not the first: that is the unset value),
 * or -1 with err listing them.
 */

static int
mt_gen_enum(mt_str_t *arg, const char *const *words, const char *what,
    char *err, size_t errlen)
{
    int     n;
    size_t  i, len;

    n = mt_gen_word(arg, words);

    if (n > 0) {
        return n;
    }

    len = snprintf(err, errlen, "unknown %s \"%.*s\", expected", what,
                   (int) arg->len, arg->data);

    for (i = 1; words[i] != NULL && len < errlen; i++) {
        len += snprintf(err + len, errlen - len, "%s %s",
                        words[i + 1] == NULL ? " or" : i > 1 ? "," : "",
                        words[i]);
    }

    return -1;
}


/* the index of s in words, or -1 */

static int
mt_gen_word(mt_str_t *s, const char *const *words)
{
    int  i;

    for (i = 0; words[i] != NULL; i++) {
        if (mt_str_eq(s, words[i])) {
            return i;
        }
    }

    return -1;
}


mt_rc_t
mt_gen_conf_finish(mt_gen_conf_t *gc, mt_wh_conf_t *wh, char *err,
    size_t errlen)
{
    size_t               i;
    const mt_gen_alg_t  *a;

    wh->generic = gc;
    wh->src_name = gc->name;

    if (gc->auth == MT_GEN_AUTH_UNSET) {
        gc->auth = gc->digest_set ? MT_GEN_AUTH_DIGEST : MT_GEN_AUTH_TOKEN;
    }

    if (gc->pieces == NULL) {
        gc->pieces = mt_alloc(&gc->alloc, sizeof(mt_gen_piece_t));
        if (gc->pieces == NULL) {
            return MT_ERR_NOMEM;
        }

        memset(gc->pieces, 0, sizeof(mt_gen_piece_t));
        gc->pieces[0].type = MT_GEN_PIECE_BODY;
        gc->npieces = 1;

    } else if (gc->auth != MT_GEN_AUTH_DIGEST) {
        snprintf(err, errlen, "\"mail_track_generic_message\" is set but "
                 "the authentication is not \"digest\"");
        return MT_ERR_INTERNAL;
    }

    for (i = 0; i < gc->npieces; i++) {
        if (gc->pieces[i].type == MT_GEN_PIECE_BODY) {
            gc->has_body = 1;

        } else if (gc->pieces[i].type == MT_GEN_PIECE_KEY) {
            gc->has_key = 1;

        } else if (gc->pieces[i].type == MT_GEN_PIECE_SOURCE
                   && gc->pieces[i].src.type == MT_GEN_SRC_FIELD)
        {
            gc->auth_fields = 1;
        }
    }

    switch (gc->auth) {

    case MT_GEN_AUTH_NONE:
        if (!wh->auth_off) {
            snprintf(err, errlen, "\"mail_track_generic_auth none\" "
                     "requires \"mail_track_webhook_auth off\"");
            return MT_ERR_INTERNAL;
        }

        /* fall through */

    case MT_GEN_AUTH_TOKEN:
        if (gc->digest_set) {
            snprintf(err, errlen, "\"mail_track_generic_digest\" is set "
                     "but \"mail_track_generic_auth\" is \"%s\"",
                     mt_gen_auths[gc->auth]);
            return MT_ERR_INTERNAL;
        }

        if (gc->auth == MT_GEN_AUTH_TOKEN && wh->nkeys == 0
            && !wh->auth_off)
        {
            snprintf(err, errlen, "\"mail_track_webhook generic\" requires "
                     "\"mail_track_webhook_key\" (the credential %.*s "
                     "sends), or \"mail_track_webhook_auth off\" to accept "
                     "unauthenticated requests", (int) gc->name.len,
                     gc->name.data);
            return MT_ERR_INTERNAL;
        }

        if (gc->auth == MT_GEN_AUTH_TOKEN
            && gc->token.type == MT_GEN_SRC_FIELD)
        {
            gc->auth_fields = 1;
        }

        break;

    default: /* MT_GEN_AUTH_DIGEST */

        if (!gc->digest_set) {
            snprintf(err, errlen, "\"mail_track_generic_auth digest\" "
                     "requires \"mail_track_generic_digest\"");
            return MT_ERR_INTERNAL;
        }

        if (wh->nkeys == 0) {
            snprintf(err, errlen, "\"mail_track_generic_digest\" requires "
                     "\"mail_track_webhook_key\"");
            return MT_ERR_INTERNAL;
        }

        a = &mt_gen_algs[gc->alg];

        if (!a->hmac && !gc->has_key) {
            snprintf(err, errlen, "a plain %s digest authenticates nothing "
                     "without {key} in \"mail_track_generic_message\"",
                     a->name);
            return MT_ERR_INTERNAL;
        }

        /*
         * A signature over what travels with the request but not over the
         * body: one captured request would authorize any event, unless a
         * nonce can be spent once or a timestamp expires.
         */

        if (!gc->has_body && gc->nonce.type == MT_GEN_SRC_NONE
            && gc->ts.type == MT_GEN_SRC_NONE && !wh->auth_off)
        {
            snprintf(err, errlen, "the signed message does not contain "
                     "{body} and neither \"mail_track_generic_nonce\" nor "
                     "\"mail_track_generic_timestamp\" is set: one captured "
                     "request would authorize any event (set "
                     "\"mail_track_webhook_auth off\" to accept that)");
            return MT_ERR_INTERNAL;
        }

        if (gc->sig.type == MT_GEN_SRC_FIELD) {
            gc->auth_fields = 1;
        }

        break;
    }

    if (gc->ts.type != MT_GEN_SRC_NONE && wh->tolerance <= 0) {
        snprintf(err, errlen, "\"mail_track_generic_timestamp\" is set but "
                 "\"mail_track_webhook_tolerance\" is 0: nothing would be "
                 "checked");
        return MT_ERR_INTERNAL;
    }

    if (gc->ts.type == MT_GEN_SRC_FIELD
        || gc->nonce.type == MT_GEN_SRC_FIELD)
    {
        gc->auth_fields = 1;
    }

    if (gc->event_list == NULL && !gc->default_set) {
        snprintf(err, errlen, "no \"mail_track_generic_event\": no event "
                 "type can be produced");
        return MT_ERR_INTERNAL;
    }

    if (gc->fields[MT_GEN_F_ESP_TYPE] == NULL && !gc->default_set) {
        snprintf(err, errlen, "neither \"mail_track_generic_field "
                 "esp_type\" nor \"mail_track_generic_event default\": no "
                 "event type can be produced");
        return MT_ERR_INTERNAL;
    }

    if (mt_gen_check_flat(gc, err, errlen) != MT_OK) {
        return MT_ERR_INTERNAL;
    }

    mt_gen_id_field(gc, &wh->id_field);

    if (mt_gen_hash_events(gc, err, errlen) != MT_OK) {
        return MT_ERR_INTERNAL;
    }

    return mt_gen_prepare_keys(gc, wh, err, errlen);
}


/*
 * Forms and query strings are flat: one reference token per pointer;
 * JSON Lines has no one document for a value of the request.
 */

static mt_rc_t
mt_gen_check_flat(mt_gen_conf_t *gc, char *err, size_t errlen)
{
    size_t            i, k;
    mt_gen_field_t   *f;
    mt_gen_bounce_t  *b;

    if (gc->format == MT_GEN_FMT_NDJSON) {
        if (mt_gen_check_src_flat(gc, &gc->token, "the token", err, errlen)
            != MT_OK
            || mt_gen_check_src_flat(gc, &gc->sig, "the signature", err,
                                     errlen) != MT_OK
            || mt_gen_check_src_flat(gc, &gc->ts, "the timestamp", err,
                                     errlen) != MT_OK
            || mt_gen_check_src_flat(gc, &gc->nonce, "the nonce", err,
                                     errlen) != MT_OK)
        {
            return MT_ERR_INTERNAL;
        }

        for (i = 0; i < gc->npieces; i++) {
            if (gc->pieces[i].type == MT_GEN_PIECE_SOURCE
                && mt_gen_check_src_flat(gc, &gc->pieces[i].src,
                                         "a template piece", err, errlen)
                   != MT_OK)
            {
                return MT_ERR_INTERNAL;
            }
        }

        return MT_OK;
    }

    if (gc->format != MT_GEN_FMT_FORM && gc->format != MT_GEN_FMT_QUERY) {
        return MT_OK;
    }

    if (gc->events.ntokens) {
        snprintf(err, errlen, "\"mail_track_generic_events %.*s\": a form "
                 "holds one event", (int) gc->events.text.len,
                 gc->events.text.data);
        return MT_ERR_INTERNAL;
    }

    for (i = 0; i < MT_GEN_F_MAX; i++) {
        f = gc->fields[i];

        for (k = 0; f != NULL && k < f->nptrs; k++) {
            if (f->ptrs[k].ntokens != 1) {
                snprintf(err, errlen, "the pointer \"%.*s\" of \"%s\" is "
                         "not one field of a form",
                         (int) f->ptrs[k].text.len, f->ptrs[k].text.data,
                         mt_gen_field_names[i]);
                return MT_ERR_INTERNAL;
            }
        }
    }

    for (b = gc->bounces; b != NULL; b = b->next) {
        if (b->ptr.ntokens != 1) {
            snprintf(err, errlen, "the bounce pointer \"%.*s\" is not one "
                     "field of a form", (int) b->ptr.text.len,
                     b->ptr.text.data);
            return MT_ERR_INTERNAL;
        }
    }

    for (i = 0; i < gc->npieces; i++) {
        if (gc->pieces[i].type == MT_GEN_PIECE_SOURCE
            && mt_gen_check_src_flat(gc, &gc->pieces[i].src,
                                     "a template piece", err, errlen)
               != MT_OK)
        {
            return MT_ERR_INTERNAL;
        }
    }

    if (mt_gen_check_src_flat(gc, &gc->token, "the token", err, errlen)
        != MT_OK
        || mt_gen_check_src_flat(gc, &gc->sig, "the signature", err, errlen)
           != MT_OK
        || mt_gen_check_src_flat(gc, &gc->ts, "the timestamp", err, errlen)
           != MT_OK
        || mt_gen_check_src_flat(gc, &gc->nonce, "the nonce", err, errlen)
           != MT_OK)
    {
        return MT_ERR_INTERNAL;
    }

    return MT_OK;
}


static mt_rc_t
mt_gen_check_src_flat(mt_gen_conf_t *gc, mt_gen_src_t *src,
    const char *what, char *err, size_t errlen)
{
    if (src->type != MT_GEN_SRC_FIELD) {
        return MT_OK;
    }

    if (gc->format == MT_GEN_FMT_NDJSON) {
        snprintf(err, errlen, "%s is read from \"field:%.*s\", but JSON "
                 "Lines have no one document", what,
                 (int) src->ptr.text.len, src->ptr.text.data);
        return MT_ERR_INTERNAL;
    }

    if (src->ptr.ntokens != 1) {
        snprintf(err, errlen, "%s pointer \"%.*s\" is not one field of a "
                 "form", what, (int) src->ptr.text.len, src->ptr.text.data);
        return MT_ERR_INTERNAL;
    }

    return MT_OK;
}


/*
 * "{id_field}" as a reference token of a field stands for the name
 * mail_track_id_field sets, known only once the http block is read.
 */

static void
mt_gen_id_field(mt_gen_conf_t *gc, mt_str_t *id_field)
{
    size_t           i, k, t;
    mt_gen_field_t  *f;

    for (i = 0; i < MT_GEN_F_MAX; i++) {
        f = gc->fields[i];

        for (k = 0; f != NULL && k < f->nptrs; k++) {
            for (t = 0; t < f->ptrs[k].ntokens; t++) {
                if (mt_str_eq(&f->ptrs[k].tokens[t], "{id_field}")) {
                    f->ptrs[k].tokens[t] = *id_field;
                }
            }
        }
    }
}


/* open addressing, at most half full */

static mt_rc_t
mt_gen_hash_events(mt_gen_conf_t *gc, char *err, size_t errlen)
{
    size_t           n, size, i;
    mt_gen_event_t  *e;

    (void) err;
    (void) errlen;

    n = 0;

    for (e = gc->event_list; e != NULL; e = e->next) {
        n++;
    }

    for (size = 8; size < n * 2; size *= 2) {
        /* void */
    }

    gc->event_hash = mt_alloc(&gc->alloc, size * sizeof(mt_gen_event_t *));
    if (gc->event_hash == NULL) {
        return MT_ERR_NOMEM;
    }

    memset(gc->event_hash, 0, size * sizeof(mt_gen_event_t *));
    gc->event_mask = size - 1;

    for (e = gc->event_list; e != NULL; e = e->next) {
        for (i = e->hash & gc->event_mask; gc->event_hash[i] != NULL;
             i = (i + 1) & gc->event_mask)
        {
            /* void */
        }

        gc->event_hash[i] = e;
    }

    return MT_OK;
}


const mt_gen_event_t *
mt_gen_event_find(mt_gen_conf_t *gc, mt_str_t *name)
{
    size_t           i;
    uint32_t         h;
    mt_gen_event_t  *e;

    h = mt_gen_hash(name->data, name->len);

    for (i = h & gc->event_mask; (e = gc->event_hash[i]) != NULL;
         i = (i + 1) & gc->event_mask)
    {
        if (e->hash == h && e->name.len == name->len
            && memcmp(e->name.data, name->data, name->len) == 0)
        {
            return e;
        }
    }

    return &gc->event_default;
}


/* FNV-1a */

static uint32_t
mt_gen_hash(const u_char *p, size_t len)
{
    uint32_t  h;

    h = 2166136261u;

    while (len--) {
        h ^= *p++;
        h *= 16777619u;
    }

    return h;
}


/*
 * Each key decoded as key= says, with an HMAC context keyed once here
 * (a request only re-initializes it); the plain digests fetch theirs.
 */

static mt_rc_t
mt_gen_prepare_keys(mt_gen_conf_t *gc, mt_wh_conf_t *wh, char *err,
    size_t errlen)
{
    size_t               i;
    ssize_t              n;
    EVP_MAC             *mac;
    mt_str_t             raw;
    OSSL_PARAM           params[2];
    EVP_MAC_CTX         *ctx;
    mt_gen_key_t        *k;
    const mt_gen_alg_t  *a;

    if (gc->auth != MT_GEN_AUTH_DIGEST) {
        return MT_OK;
    }

    a = &mt_gen_algs[gc->alg];
    gc->md_len = a->len;

    gc->keys = mt_alloc(&gc->alloc, wh->nkeys * sizeof(mt_gen_key_t));
    if (gc->keys == NULL) {
        return MT_ERR_NOMEM;
    }

    memset(gc->keys, 0, wh->nkeys * sizeof(mt_gen_key_t));

    /* mt_gen_conf_free() frees what was made, also after an error */
    gc->nkeys = wh->nkeys;

    for (i = 0; i < wh->nkeys; i++) {
        k = &gc->keys[i];
        raw = wh->keys[i].raw;

        if (gc->keyenc == MT_GEN_KEY_WHSEC && raw.len >= 6
            && strncmp((char *) raw.data, "whsec_", 6) == 0)
        {
            raw.data += 6;
            raw.len -= 6;
        }

        if (gc->keyenc == MT_GEN_KEY_RAW) {
            k->bytes = raw;

        } else {
            if (raw.len == 0 || raw.len > MT_GEN_KEY_MAX) {
                snprintf(err, errlen, "key %d is not base64", (int) i + 1);
                return MT_ERR_INTERNAL;
            }

            k->bytes.data = mt_alloc(&gc->alloc,
                                     mt_base64_decoded_len(raw.len));
            if (k->bytes.data == NULL) {
                return MT_ERR_NOMEM;
            }

            n = mt_base64_decode(k->bytes.data, raw.data, raw.len);

            if (n <= 0) {
                snprintf(err, errlen, "key %d is not base64%s",
                         (int) i + 1, gc->keyenc == MT_GEN_KEY_WHSEC
                                      ? " (after \"whsec_\")" : "");
                return MT_ERR_INTERNAL;
            }

            k->bytes.len = n;
        }

        if (k->bytes.len == 0) {
            snprintf(err, errlen, "key %d is empty", (int) i + 1);
            return MT_ERR_INTERNAL;
        }

        if (!a->hmac) {
            continue;
        }

        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (mac == NULL) {
            ERR_clear_error();
            snprintf(err, errlen, "HMAC is not available");
            return MT_ERR_INTERNAL;
        }

        ctx = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);

        if (ctx == NULL) {
            return MT_ERR_NOMEM;
        }

        k->mac = ctx;

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *) a->md, 0);
        params[1] = OSSL_PARAM_construct_end();

        if (EVP_MAC_init(ctx, k->bytes.data, k->bytes.len, params) != 1) {
            ERR_clear_error();
            snprintf(err, errlen, "%s cannot be keyed", a->name);
            return MT_ERR_INTERNAL;
        }
    }

    if (!a->hmac) {
        gc->md = EVP_MD_fetch(NULL, a->md, NULL);

        if (gc->md == NULL) {
            ERR_clear_error();
            snprintf(err, errlen, "%s is not available", a->name);
            return MT_ERR_INTERNAL;
        }
    }

    return MT_OK;
}


void
mt_gen_conf_free(mt_gen_conf_t *gc)
{
    size_t  i;

    for (i = 0; i < gc->nkeys; i++) {
        EVP_MAC_CTX_free(gc->keys[i].mac);
        gc->keys[i].mac = NULL;
    }

    gc->nkeys = 0;

    EVP_MD_free(gc->md);
    gc->md = NULL;
}


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Amazon SES via SNS: certificate URL pinning, certificate chains,
 * signature versions 1 and 2 over the JSON-decoded string to sign, the
 * topic allowlist, confirmations and the SES event mapping.  Every
 * certificate and signature is made here, with a test CA.
 */


#include "mt_tap.h"
#include "mt_wh_test.h"
#include "mt_base64.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>


#define NOW           1764000000LL               /* 2025-11-24T16:00:00Z */
#define NOW_ISO       "2025-11-24T16:00:00.000Z"
#define TOPIC         "arn:aws:sns:us-east-1:123456789012:ses-events"
#define CERT_URL      "https://sns.us-east-1.amazonaws.com/" \
                      "SimpleNotificationService-" \
                      "9c6465fa7f48f5cacd23014631ec1136.pem"
#define SUB_URL       "https://sns.us-east-1.amazonaws.com/" \
                      "?Action=ConfirmSubscription&TopicArn=" TOPIC \
                      "&Token=2336412f37fb687f5d51e6e2425a8a58"
#define MSG_ID        "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
#define CT            "text/plain; charset=UTF-8"

#define SUBJECT_NULL  ((const char *) 1)


typedef struct {
    const char     *type;
    const char     *message_id;
    const char     *topic;
    const char     *subject;        /* NULL: absent, SUBJECT_NULL: null */
    const char     *message;
    size_t          message_len;    /* 0: strlen */
    const char     *timestamp;
    const char     *version;        /* NULL: absent */
    const char     *cert_url;       /* NULL: absent */
    const char     *cert_key;       /* NULL: SigningCertURL */
    const char     *subscribe_url;
    const char     *token;
    EVP_PKEY       *key;            /* the signer; NULL: no Signature */
    const EVP_MD   *md;             /* NULL: by version */
    const char     *signature;      /* instead of signing */
    const char     *sign_message;   /* sign this Message instead */
    int             sign_subject;   /* sign a Subject the body lacks */
    unsigned        flags;          /* ENV_* below */
} env_t;


/* how the envelope is written: indented, \uXXXX for non-ASCII, \/ */
#define ENV_INDENT    1
#define ENV_ASCII     2
#define ENV_SLASH     4


/* a JSON object written member by member, as SNS's would be */
typedef struct {
    char           *data;
    size_t          len;
    size_t          size;
    unsigned        flags;
    unsigned        n;
} jw_t;


static wh_test_t      t;
static mt_wh_conf_t   conf;
static mt_str_t       topics[2];

static EVP_PKEY      *ca_key, *sns_key, *rogue_key, *int_key;
static X509          *ca_cert, *sns_cert, *rogue_cert, *int_cert,
                     *leaf2_cert, *ec_cert, *small_cert;
static EVP_PKEY      *leaf2_key, *ec_key, *small_key;
static X509_STORE    *store;
static void          *pkey;         /* from mt_sns_cert_load(sns.pem) */


/* JSON written with single quotes, for readability */

static char *
q(const char *s)
{
    char  *r, *p;

    r = strdup(s);

    for (p = r; *p; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }

    return r;
}


static EVP_PKEY *
gen_rsa(unsigned bits)
{
    EVP_PKEY  *k;

    k = EVP_RSA_gen(bits);
    if (k == NULL) {
        abort();
    }

    return k;
}


static void
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX       ctx;
    X509_EXTENSION  *ext;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);

    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL || !X509_add_ext(cert, ext, -1)) {
        abort();
    }

    X509_EXTENSION_free(ext);
}


/* a certificate for key, issued by issuer (self-signed when NULL) */

static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
    int ca, long serial)
{
    X509       *c;
    X509_NAME  *name;

    c = X509_new();

    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
    X509_gmtime_adj(X509_getm_notBefore(c), -86400);
    X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 3650);
    X509_set_pubkey(c, key);

    name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const u_char *) cn, -1, -1, 0);

    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);

    if (ca) {
        add_ext(c, issuer ? issuer : c, NID_basic_constraints,
                "critical,CA:TRUE");
        add_ext(c, issuer ? issuer : c, NID_key_usage,
                "critical,keyCertSign,cRLSign");

    } else {
        add_ext(c, issuer ? issuer : c, NID_basic_constraints,
                "critical,CA:FALSE");
        add_ext(c, issuer ? issuer : c, NID_key_usage,
                "critical,digitalSignature");
    }

    if (X509_sign(c, ikey ? ikey : key, EVP_sha256()) == 0) {
        abort();
    }

    return c;
}


/* the PEM of one or two certificates, malloc()ed */

static char *
pem_of(X509 *a, X509 *b, size_t *len)
{
    BIO   *bio;
    char  *data, *r;
    long   n;

    bio = BIO_new(BIO_s_mem());

    PEM_write_bio_X509(bio, a);

    if (b) {
        PEM_write_bio_X509(bio, b);
    }

    n = BIO_get_mem_data(bio, &data);

    r = malloc(n + 1);
    memcpy(r, data, n);
    r[n] = '\0';
    *len = n;

    BIO_free(bio);

    return r;
}


static void
setup_pki(void)
{
    EVP_PKEY_CTX  *kctx;

    ca_key = gen_rsa(2048);
    sns_key = gen_rsa(2048);
    rogue_key = gen_rsa(2048);
    int_key = gen_rsa(2048);
    leaf2_key = gen_rsa(2048);
    small_key = gen_rsa(1024);

    kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    EVP_PKEY_keygen_init(kctx);
    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kctx, NID_X9_62_prime256v1);
    EVP_PKEY_keygen(kctx, &ec_key);
    EVP_PKEY_CTX_free(kctx);

    ca_cert = make_cert(ca_key, "test SNS CA", NULL, NULL, 1, 1);
    sns_cert = make_cert(sns_key, "sns.amazonaws.com", ca_cert, ca_key, 0,
                         2);
    rogue_cert = make_cert(rogue_key, "sns.amazonaws.com", NULL, NULL, 0, 3);
    int_cert = make_cert(int_key, "test SNS intermediate", ca_cert, ca_key,
                         1, 4);
    leaf2_cert = make_cert(leaf2_key, "sns.amazonaws.com", int_cert, int_key,
                           0, 5);
    ec_cert = make_cert(ec_key, "sns.amazonaws.com", ca_cert, ca_key, 0, 6);
    small_cert = make_cert(small_key, "sns.amazonaws.com", ca_cert, ca_key,
                           0, 7);

    store = X509_STORE_new();
    X509_STORE_add_cert(store, ca_cert);
}


static void
free_pki(void)
{
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(sns_key);
    EVP_PKEY_free(rogue_key);
    EVP_PKEY_free(int_key);
    EVP_PKEY_free(leaf2_key);
    EVP_PKEY_free(small_key);
    EVP_PKEY_free(ec_key);
    X509_free(ca_cert);
    X509_free(sns_cert);
    X509_free(rogue_cert);
    X509_free(int_cert);
    X509_free(leaf2_cert);
    X509_free(ec_cert);
    X509_free(small_cert);
    X509_STORE_free(store);
}


static char *
sign_b64(EVP_PKEY *key, const EVP_MD *md, const u_char *tbs, size_t len)
{
    u_char       sig[1024];
    char        *b64;
    size_t       slen;
    EVP_MD_CTX  *ctx;

    ctx = EVP_MD_CTX_new();
    slen = sizeof(sig);

    if (EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1
        || EVP_DigestSign(ctx, sig, &slen, tbs, len) != 1)
    {
        abort();
    }

    EVP_MD_CTX_free(ctx);

    b64 = malloc(mt_base64_encoded_len(slen) + 1);
    b64[mt_base64_encode((u_char *) b64, sig, slen)] = '\0';

    return b64;
}


static void
put(u_char **p, const char *key, const char *v, size_t len)
{
    size_t  n;

    n = strlen(key);
    memcpy(*p, key, n);
    *p += n;
    *(*p)++ = '\n';
    memcpy(*p, v, len);
    *p += len;
    *(*p)++ = '\n';
}


static void
jw_add(jw_t *w, const char *s, size_t n)
{
    if (w->len + n + 1 > w->size) {
        w->size = (w->len + n + 1) * 2;
        w->data = realloc(w->data, w->size);
    }

    memcpy(w->data + w->len, s, n);
    w->len += n;
    w->data[w->len] = '\0';
}


/* a code point as \uXXXX, a pair of them above U+FFFF */

static void
jw_escape(jw_t *w, unsigned long c)
{
    char  buf[32];

    if (c > 0xffff) {
        c -= 0x10000;
        snprintf(buf, sizeof(buf), "\\u%04lX\\u%04lX", 0xd800 + (c >> 10),
                 0xdc00 + (c & 0x3ff));

    } else {
        snprintf(buf, sizeof(buf), "\\u%04lX", c);
    }

    jw_add(w, buf, strlen(buf));
}


static void
jw_str(jw_t *w, const char *s, size_t n)
{
    size_t          i, k;
    unsigned long   c;
    const u_char   *p;

    p = (const u_char *) s;
    jw_add(w, "\"", 1);

    for (i = 0; i < n; i++) {
        switch (p[i]) {
        case '"':  jw_add(w, "\\\"", 2); continue;
        case '\\': jw_add(w, "\\\\", 2); continue;
        case '\n': jw_add(w, "\\n", 2); continue;
        case '\r': jw_add(w, "\\r", 2); continue;
        case '\t': jw_add(w, "\\t", 2); continue;
        case '/':
            jw_add(w, (w->flags & ENV_SLASH) ? "\\/" : "/",
                   (w->flags & ENV_SLASH) ? 2 : 1);
            continue;
        }

        if (p[i] < 0x20) {
            jw_escape(w, p[i]);
            continue;
        }

        if (p[i] < 0x80 || !(w->flags & ENV_ASCII)) {
            jw_add(w, s + i, 1);
            continue;
        }

        /* valid UTF-8 in the tests: its code point */

        k = (p[i] >= 0xf0) ? 3 : (p[i] >= 0xe0) ? 2 : 1;
        c = p[i] & (0x3f >> k);

        while (k-- && i + 1 < n) {
            c = (c << 6) | (p[++i] & 0x3f);
        }

        jw_escape(w, c);
    }

    jw_add(w, "\"", 1);
}


/* "key": value; a NULL value is null */

static void
jw_member(jw_t *w, const char *key, const char *v, size_t n)
{
    jw_add(w, w->n++ ? "," : "{", 1);

    if (w->flags & ENV_INDENT) {
        jw_add(w, "\n  ", 3);
    }

    jw_str(w, key, strlen(key));
    jw_add(w, ":", 1);

    if (v == NULL) {
        jw_add(w, "null", 4);

    } else {
        jw_str(w, v, n);
    }
}


#define jw_set(w, key, v)  jw_member(w, key, v, strlen(v))


static char *
jw_end(jw_t *w, size_t *len)
{
    jw_add(w, (w->flags & ENV_INDENT) ? "\n}" : "}",
           (w->flags & ENV_INDENT) ? 2 : 1);

    *len = w->len;

    return w->data;
}


/* the envelope, signed as SNS signs it; malloc()ed */

static char *
build(env_t *e, size_t *len)
{
    int           confirm;
    char         *body, *sig;
    u_char       *tbs, *p;
    size_t        mlen, smlen;
    jw_t          o;
    const char   *type, *mid, *topic, *ts, *smsg;
    const EVP_MD *md;

    type = e->type ? e->type : "Notification";
    mid = e->message_id ? e->message_id : MSG_ID;
    topic = e->topic ? e->topic : TOPIC;
    ts = e->timestamp ? e->timestamp : NOW_ISO;
    mlen = e->message_len ? e->message_len : strlen(e->message);
    smsg = e->sign_message ? e->sign_message : e->message;
    smlen = e->sign_message ? strlen(smsg) : mlen;
    confirm = strcmp(type, "Notification") != 0;

    memset(&o, 0, sizeof(jw_t));
    o.flags = e->flags;

    jw_set(&o, "Type", type);
    jw_set(&o, "MessageId", mid);

    if (confirm) {
        jw_set(&o, "Token", e->token ? e->token
                                     : "2336412f37fb687f5d51e6e2425a8a58");
    }

    jw_set(&o, "TopicArn", topic);

    if (e->subject == SUBJECT_NULL) {
        jw_member(&o, "Subject", NULL, 0);

    } else if (e->subject) {
        jw_set(&o, "Subject", e->subject);
    }

    jw_member(&o, "Message", e->message, mlen);

    if (confirm) {
        jw_set(&o, "SubscribeURL", e->subscribe_url ? e->subscribe_url
                                                    : SUB_URL);
    }

    jw_set(&o, "Timestamp", ts);

    if (e->version) {
        jw_set(&o, "SignatureVersion", e->version);
    }

    /* the string to sign */

    tbs = malloc(4096 + smlen);
    p = tbs;

    put(&p, "Message", smsg, smlen);
    put(&p, "MessageId", mid, strlen(mid));

    if (!confirm) {
        if (e->subject && e->subject != SUBJECT_NULL) {
            put(&p, "Subject", e->subject, strlen(e->subject));

        } else if (e->sign_subject) {
            put(&p, "Subject", "x", 1);
        }

    } else {
        put(&p, "SubscribeURL", e->subscribe_url ? e->subscribe_url : SUB_URL,
            strlen(e->subscribe_url ? e->subscribe_url : SUB_URL));
    }

    put(&p, "Timestamp", ts, strlen(ts));

    if (confirm) {
        const char *tok = e->token ? e->token
                                   : "2336412f37fb687f5d51e6e2425a8a58";
        put(&p, "Token", tok, strlen(tok));
    }

    put(&p, "TopicArn", topic, strlen(topic));
    put(&p, "Type", type, strlen(type));

    if (e->signature) {
        jw_set(&o, "Signature", e->signature);

    } else if (e->key) {
        md = e->md ? e->md
             : (e->version && strcmp(e->version, "1") == 0) ? EVP_sha1()
                                                           : EVP_sha256();
        sig = sign_b64(e->key, md, tbs, p - tbs);
        jw_set(&o, "Signature", sig);
        free(sig);
    }

    free(tbs);

    if (e->cert_url) {
        jw_set(&o, e->cert_key ? e->cert_key : "SigningCertURL", e->cert_url);
    }

    if (!confirm) {
        jw_set(&o, "UnsubscribeURL",
               "https://sns.us-east-1.amazonaws.com/"
               "?Action=Unsubscribe&SubscriptionArn=" TOPIC
               ":c7fe3a54-ab0e-4ec2-88e0-db410a0f2bee");
    }

    body = jw_end(&o, len);

    return body;
}


/* a good signed envelope around message, version v */

static void
env_init(env_t *e, const char *message, const char *v)
{
    memset(e, 0, sizeof(env_t));

    e->message = message;
    e->version = v;
    e->cert_url = CERT_URL;
    e->key = sns_key;
}


static mt_rc_t
run(env_t *e)
{
    char     *body;
    size_t    len;
    mt_rc_t   rc;

    body = build(e, &len);

    rc = wh_run(&t, &conf, CT, body, len, NOW);

    /* the events hold copies; a retry must not depend on the body */
    memset(body, 'x', len);
    free(body);

    return rc;
}


static void
reset(void)
{
    wh_reset(&t);
    t.pkey = pkey;
    t.pkey_url = CERT_URL;
    t.cert_calls = 0;
    t.emit_rc = MT_OK;
    conf.tolerance = 2 * 3600;
    conf.topics = topics;
    conf.ntopics = 1;
}


static const char  *bounce_msg =
    "{'eventType':'Bounce','bounce':{'bounceType':'Permanent',"
    "'bounceSubType':'General','bouncedRecipients':["
    "{'emailAddress':'a@example.com','action':'failed','status':'5.1.1',"
    "'diagnosticCode':'smtp; 550 5.1.1 user unknown'},"
    "{'emailAddress':'b@example.com','action':'failed',"
    "'diagnosticCode':'smtp; 550 5.1.2 no such domain'}],"
    "'timestamp':'2025-11-24T15:59:58.669Z','feedbackId':'0100abc',"
    "'reportingMTA':'dsn; a.example.com'},"
    "'mail':{'timestamp':'2025-11-24T15:59:50.012Z',"
    "'messageId':'0100019abc-ses-id','source':'s@example.org',"
    "'destination':['a@example.com','b@example.com','c@example.com'],"
    "'tags':{'mail_track_id':['m-42'],'campaign':['spring','sale'],"
    "'ses:configuration-set':['cs1']}}}";


static void
test_cert_load(void)
{
    char    err[256], *pem;
    size_t  len;
    void   *k;

    pem = pem_of(sns_cert, NULL, &len);
    k = mt_sns_cert_load((u_char *) pem, len, store, 0, err, sizeof(err));
    ok(k != NULL, "cert: issued by the CA loads");
    mt_sns_key_free(k);

    k = mt_sns_cert_load((u_char *) pem, len, store, time(NULL) + 86400,
                         err, sizeof(err));
    ok(k != NULL, "cert: loads at a given time");
    mt_sns_key_free(k);

    k = mt_sns_cert_load((u_char *) pem, len, store, 4102444800LL, err,
                         sizeof(err));
    ok(k == NULL && strstr(err, "does not chain to a trusted CA") != NULL
       && strstr(err, "expired") != NULL,
       "cert: expired at the check time (%s)", err);

    k = mt_sns_cert_load((u_char *) pem, len, store, 946684800LL, err,
                         sizeof(err));
    ok(k == NULL, "cert: not yet valid at the check time (%s)", err);

    k = mt_sns_cert_load((u_char *) pem, len, NULL, 0, err, sizeof(err));
    ok(k == NULL, "cert: no store, no key (%s)", err);

    k = mt_sns_cert_load((u_char *) pem, len - 200, store, 0, err,
                         sizeof(err));
    ok(k == NULL, "cert: truncated PEM (%s)", err);
    free(pem);

    pem = pem_of(rogue_cert, NULL, &len);
    k = mt_sns_cert_load((u_char *) pem, len, store, 0, err, sizeof(err));
    ok(k == NULL && strstr(err, "certificate does not chain to a trusted "
                           "CA: ") == err,
       "cert: self-signed look-alike refused (%s)", err);
    free(pem);

    /* an intermediate the PEM carries completes the chain */

    pem = pem_of(leaf2_cert, int_cert, &len);
    k = mt_sns_cert_load((u_char *) pem, len, store, 0, err, sizeof(err));
    ok(k != NULL, "cert: leaf + intermediate in the PEM");
    mt_sns_key_free(k);
    free(pem);

    pem = pem_of(leaf2_cert, NULL, &len);
    k = mt_sns_cert_load((u_char *) pem, len, store, 0, err, sizeof(err));
    ok(k == NULL, "cert: leaf without its intermediate (%s)", err);
    free(pem);

    /* a store holding only the intermediate anchors its leaves */

    {
        X509_STORE  *ist;

        ist = X509_STORE_new();
        X509_STORE_add_cert(ist, int_cert);

        pem = pem_of(leaf2_cert, NULL, &len);
        k = mt_sns_cert_load((u_char *) pem, len, ist, 0, err, sizeof(err));
        ok(k != NULL, "cert: the intermediate alone is a trust anchor");
        mt_sns_key_free(k);
        free(pem);

        pem = pem_of(sns_cert, NULL, &len);
        k = mt_sns_cert_load((u_char *) pem, len, ist, 0, err, sizeof(err));
        ok(k == NULL, "cert: ... for its own leaves only (%s)", err);
        free(pem);

        X509_STORE_free(ist);
    }

    /* a rogue "intermediate" cannot lend trust */

    pem = pem_of(leaf2_cert, rogue_cert, &len);
    k = mt_sns_cert_load((u_char *) pem, len, store, 0, err, sizeof(err));
    ok(k == NULL, "cert: leaf + unrelated cert (%s)", err);
    free(pem);

    pem = pem_of(ec_cert, NULL, &len);
    k = mt_sns_cert_load((u_char *) pem, len, store, 0, err, sizeof(err));
    ok(k == NULL && strstr(err, "RSA") != NULL, "cert: EC key refused (%s)",
       err);
    free(pem);

    pem = pem_of(small_cert, NULL, &len);
    k = mt_sns_cert_load((u_char *) pem, len, store, 0, err, sizeof(err));
    ok(k == NULL, "cert: RSA-1024 refused (%s)", err);
    free(pem);

    k = mt_sns_cert_load((u_char *) "garbage", 7, store, 0, err, sizeof(err));
    ok(k == NULL, "cert: garbage (%s)", err);

    k = mt_sns_cert_load((u_char *) "", 0, store, 0, err, sizeof(err));
    ok(k == NULL, "cert: empty (%s)", err);

    ok(ERR_peek_error() == 0, "cert: no OpenSSL errors left queued");
}


typedef struct {
    const char  *url;
    size_t       len;     /* 0: strlen */
    int          valid;
} url_case_t;


#define NUL_CASE(s)  { s, sizeof(s) - 1, 0 }


/* a URL for a test name: control bytes as \xNN, so TAP stays one line */

static const char *
printable(const char *s, size_t len)
{
    size_t       i;
    char        *p;
    static char  buf[1024];

    p = buf;

    for (i = 0; i < len && p < buf + sizeof(buf) - 5; i++) {
        if ((u_char) s[i] < 0x20 || (u_char) s[i] >= 0x7f) {
            p += sprintf(p, "\\x%02x", (u_char) s[i]);

        } else {
            *p++ = s[i];
        }
    }

    *p = '\0';

    return buf;
}


static void
test_cert_url(void)
{
    size_t             i;
    const url_case_t  *c;

    static const url_case_t  cases[] = {
        { CERT_URL, 0, 1 },
        { "https://sns.eu-west-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 1 },
        { "https://sns.cn-north-1.amazonaws.com.cn/"
          "SimpleNotificationService-abc.pem", 0, 1 },
        { "https://sns.us-gov-west-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 1 },
        { "https://sns.ap-southeast-2.amazonaws.com/"
          "SimpleNotificationService-ABCdef0123.pem", 0, 1 },
        { "HTTPS://SNS.US-EAST-1.AMAZONAWS.COM/"
          "SimpleNotificationService-abc.pem", 0, 1 },

        { "http://sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com.evil.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://evil.com/SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.s3.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.s3-us-west-2.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.s3.us-west-2.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://s3.amazonaws.com/sns/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://s3.amazonaws.com/SimpleNotificationService-abc.pem", 0,
          0 },
        { "https://mybucket.s3.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com.s3.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.amazonaws.com/SimpleNotificationService-abc.pem", 0,
          0 },
        { "https://sns.us-east-1.amazonaws.com/other.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem.evil", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "simplenotificationservice-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/x/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com//"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/../"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com:443/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com:8443/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://user@sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com@evil.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://evil.com@sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com./"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com.cn./"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem?x=1", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem#f", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem/", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc%2epem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-a%62c.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws%2ecom/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com\\@evil.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com\\"
          "SimpleNotificationService-abc.pem", 0, 0 },
        NUL_CASE("https://sns.us-east-1.amazonaws.com/"
                 "SimpleNotificationService-abc.pem\0.evil"),
        NUL_CASE("https://sns.us-east-1.amazonaws.com\0.evil.com/"
                 "SimpleNotificationService-abc.pem"),
        NUL_CASE("https://sns.us-east-1\0.amazonaws.com/"
                 "SimpleNotificationService-abc.pem"),
        NUL_CASE("https://sns.us-east-1.amazonaws.com/"
                 "SimpleNotificationService-ab\0c.pem"),
        { " https://sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem ", 0, 0 },
        { "https:/sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https:///sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "//sns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.1-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us--east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1-.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us_east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns..amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://xsns.us-east-1.amazonaws.com/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.co/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com.cn.evil/"
          "SimpleNotificationService-abc.pem", 0, 0 },
        { "https://[::1]/SimpleNotificationService-abc.pem", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com", 0, 0 },
        { "https://", 0, 0 },
        { "", 0, 0 },
        { NULL, 0, 0 }
    };

    for (c = cases; c->url != NULL; c++) {
        i = c->len ? c->len : strlen(c->url);
        is_int(mt_sns_cert_url_valid((u_char *) c->url, i), c->valid,
               "cert url %s: %s", c->valid ? "accepted" : "refused",
               printable(c->url, i));
    }

    ok(!mt_sns_cert_url_valid(NULL, 0), "cert url: NULL");
}


static void
test_subscribe_url(void)
{
    size_t             i;
    const url_case_t  *c;

    static const url_case_t  cases[] = {
        { SUB_URL, 0, 1 },
        { "https://sns.cn-north-1.amazonaws.com.cn/"
          "?Action=ConfirmSubscription&TopicArn=arn%3Aaws-cn%3Asns%3A"
          "cn-north-1%3A1%3At&Token=abc", 0, 1 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?TopicArn=arn:aws:sns:us-east-1:1:t&Action=ConfirmSubscription",
          0, 1 },

        { "http://sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscription&Token=abc", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com.evil.com/"
          "?Action=ConfirmSubscription&Token=abc", 0, 0 },
        { "https://169.254.169.254/latest/meta-data/"
          "?Action=ConfirmSubscription", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?Action=Unsubscribe&SubscriptionArn=x", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscription&Action=Unsubscribe", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?Token=abc", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?action=ConfirmSubscription", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?XAction=ConfirmSubscription", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscriptionX", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/x"
          "?Action=ConfirmSubscription", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com"
          "?Action=ConfirmSubscription", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com:443/"
          "?Action=ConfirmSubscription", 0, 0 },
        { "https://u@sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscription", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscription#frag", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscription&Token=a b", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscription&Token=%zz", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscription&Token=%4", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscription&", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscription&&T=1", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscription&T==1", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscription\r\nHost: evil", 0, 0 },
        NUL_CASE("https://sns.us-east-1.amazonaws.com/"
                 "?Action=ConfirmSubscription\0&x=1"),
        { "https://sns.us-east-1.amazonaws.com/"
          "?Action=ConfirmSubscription&u=http://evil/", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/?", 0, 0 },
        { "https://sns.us-east-1.amazonaws.com/", 0, 0 },
        { NULL, 0, 0 }
    };

    for (c = cases; c->url != NULL; c++) {
        i = c->len ? c->len : strlen(c->url);
        is_int(mt_sns_subscribe_url_valid((u_char *) c->url, i), c->valid,
               "subscribe url %s: %s", c->valid ? "accepted" : "refused",
               printable(c->url, i));
    }
}


static void
test_good(void)
{
    env_t        e;
    char        *m;
    mt_rc_t      rc;
    mt_event_t  *ev;

    m = q(bounce_msg);

    /* SignatureVersion 1: RSA-SHA1 */

    reset();
    env_init(&e, m, "1");
    rc = run(&e);
    is_int(rc, MT_OK, "v1: accepted");
    is_int(t.nevents, 2, "v1: one record per bounced recipient");
    is_int(t.cert_calls, 1, "v1: the key asked for once");

    /* SignatureVersion 2: RSA-SHA256 */

    reset();
    env_init(&e, m, "2");
    rc = run(&e);
    is_int(rc, MT_OK, "v2: accepted");
    is_int(t.nevents, 2, "v2: two records");

    ev = &t.events[0];
    is_str(ev->id, MSG_ID "#0", "v2: id is MessageId#0");
    is_str(t.events[1].id, MSG_ID "#1", "v2: id is MessageId#1");
    is_int(ev->type, MT_EV_BOUNCED, "v2: bounced");
    is_str(ev->esp_type, "Bounce", "v2: esp_type");
    is_int(ev->bounce, MT_BOUNCE_HARD, "v2: Permanent is hard");
    is_str(ev->rcpt, "a@example.com", "v2: rcpt");
    is_str(ev->smtp_status, "5.1.1", "v2: smtp_status");
    is_int(ev->smtp_code, 550, "v2: smtp_code");
    is_str(ev->reason, "smtp; 550 5.1.1 user unknown", "v2: reason");
    is_str(ev->mid, "m-42", "v2: mid from the mail_track_id tag");
    is_str(ev->esp_mid, "0100019abc-ses-id", "v2: esp_mid");
    is_str(ev->tag, "spring,sale", "v2: campaign tag joined");
    is_int(ev->ts, 1764000000000LL - 1331, "v2: ts from bounce.timestamp");
    is_int(ev->src, MT_SRC_SES, "v2: src");
    is_int(ev->rt, NOW * 1000, "v2: rt");
    is_int(ev->machine, MT_MACHINE_UNKNOWN, "v2: machine unknown");

    ev = &t.events[1];
    is_str(ev->rcpt, "b@example.com", "v2: second rcpt");
    is_str(ev->smtp_status, "5.1.2", "v2: status from diagnosticCode");
    is_int(ev->smtp_code, 550, "v2: second smtp_code");

    /* a retry (same signed message) gives the same ids */

    reset();
    env_init(&e, m, "2");
    run(&e);
    is_str(t.events[0].id, MSG_ID "#0", "retry: same id");

    /* SigningCertUrl, the Lambda spelling */

    reset();
    env_init(&e, m, "2");
    e.cert_key = "SigningCertUrl";
    is_int(run(&e), MT_OK, "SigningCertUrl spelling accepted");

    /* application/json, no charset */

    reset();
    env_init(&e, m, "2");
    {
        char    *body;
        size_t   len;

        body = build(&e, &len);
        is_int(wh_run(&t, &conf, "application/json", body, len, NOW), MT_OK,
               "application/json accepted");
        reset();
        is_int(wh_run(&t, &conf, "Text/Plain", body, len, NOW), MT_OK,
               "Text/Plain accepted");
        reset();
        is_int(wh_run(&t, &conf, "application/x-www-form-urlencoded", body,
                      len, NOW),
               MT_ERR_CONTENT_TYPE, "form content type refused");
        reset();
        is_int(wh_run(&t, &conf, NULL, body, len, NOW), MT_ERR_CONTENT_TYPE,
               "no content type refused");
        reset();
        is_int(wh_run(&t, &conf, "text/plainx", body, len, NOW),
               MT_ERR_CONTENT_TYPE, "text/plainx refused");
        free(body);
    }

    /* the same bytes pretty-printed with CRLFs: the JSON values sign */

    reset();
    env_init(&e, m, "2");
    {
        char    *body, *crlf, *p, *s;
        size_t   len;

        e.flags = ENV_INDENT;
        body = build(&e, &len);
        crlf = malloc(len * 2 + 1);

        for (p = crlf, s = body; *s; s++) {
            if (*s == '\n') {
                *p++ = '\r';
            }

            *p++ = *s;
        }

        is_int(wh_run(&t, &conf, CT, crlf, p - crlf, NOW), MT_OK,
               "CRLF-indented envelope accepted");
        is_int(t.nevents, 2, "CRLF-indented envelope: two records");

        free(crlf);
        free(body);
    }

    free(m);
}


static void
test_forged(void)
{
    env_t     e;
    char     *m, *body, *p;
    size_t    len;
    mt_rc_t   rc;

    m = q(bounce_msg);

    reset();
    env_init(&e, m, "2");
    e.key = rogue_key;
    is_int(run(&e), MT_ERR_SIGNATURE, "signed by another key");
    is_int(t.nevents, 0, "forged: nothing emitted");

    reset();
    env_init(&e, m, "1");
    e.key = rogue_key;
    is_int(run(&e), MT_ERR_SIGNATURE, "v1 signed by another key");

    /* the version decides the hash: no downgrade or confusion */

    reset();
    env_init(&e, m, "1");
    e.md = EVP_sha256();
    is_int(run(&e), MT_ERR_SIGNATURE, "v1 with a SHA-256 signature");

    reset();
    env_init(&e, m, "2");
    e.md = EVP_sha1();
    is_int(run(&e), MT_ERR_SIGNATURE, "v2 with a SHA-1 signature");

    /* one changed byte in Message */

    reset();
    env_init(&e, m, "2");
    body = build(&e, &len);
    p = strstr(body, "5.1.1 user unknown");
    p[6] = 'U';
    rc = wh_run(&t, &conf, CT, body, len, NOW);
    is_int(rc, MT_ERR_SIGNATURE, "one changed byte in Message");
    is_int(t.nevents, 0, "changed byte: nothing emitted");
    free(body);

    /* a changed byte elsewhere in what is signed */

    reset();
    env_init(&e, m, "2");
    body = build(&e, &len);
    p = strstr(body, "ses-events");
    p[0] = 'S';
    topics[1].data = (u_char *) "arn:aws:sns:us-east-1:123456789012:Ses-events";
    topics[1].len = strlen((char *) topics[1].data);
    conf.ntopics = 2;
    is_int(wh_run(&t, &conf, CT, body, len, NOW), MT_ERR_SIGNATURE,
           "changed TopicArn (allowed topic) fails the signature");
    free(body);

    reset();
    env_init(&e, m, "2");
    e.signature = "AAAA";
    is_int(run(&e), MT_ERR_SIGNATURE, "a short signature");

    reset();
    env_init(&e, m, "2");
    e.signature = "not base64!";
    is_int(run(&e), MT_ERR_SIGNATURE, "signature not base64");

    reset();
    env_init(&e, m, "2");
    e.key = NULL;
    is_int(run(&e), MT_ERR_SIGNATURE_MISSING, "no Signature");
    is_int(t.cert_calls, 0, "no Signature: no certificate asked for");

    reset();
    env_init(&e, m, NULL);
    is_int(run(&e), MT_ERR_SIGNATURE_MISSING, "no SignatureVersion");

    reset();
    env_init(&e, m, "2");
    e.cert_url = NULL;
    is_int(run(&e), MT_ERR_SIGNATURE_MISSING, "no SigningCertURL");

    reset();
    env_init(&e, m, "3");
    is_int(run(&e), MT_ERR_SIGNATURE, "SignatureVersion 3");

    reset();
    env_init(&e, m, "01");
    is_int(run(&e), MT_ERR_SIGNATURE, "SignatureVersion 01");

    /* Subject in the body but not in what was signed, and back */

    reset();
    env_init(&e, m, "2");
    e.subject = "hello";
    e.sign_message = NULL;
    is_int(run(&e), MT_OK, "Subject present and signed");

    reset();
    env_init(&e, m, "2");
    e.sign_subject = 1;
    is_int(run(&e), MT_ERR_SIGNATURE, "signed Subject missing from body");

    /* a key of another type, from a misbehaving cache */

    reset();
    env_init(&e, m, "2");
    t.pkey = ec_key;
    is_int(run(&e), MT_ERR_CERT, "an EC key is refused");

    free(m);
}


static void
test_encoding(void)
{
    env_t     e;
    char     *m;
    mt_rc_t   rc;

    /* non-ASCII and escapes, sent as \uXXXX: signed decoded */

    m = q("{\n\t'eventType':'Complaint','complaint':{'complainedRecipients':"
          "[{'emailAddress':'\xc3\xa9l\xc3\xa8ve@example.com'}],"
          "'complaintFeedbackType':'ab\\u0075se',"
          "'userAgent':'tab\\there \\\"q\\\" \\\\ /',"
          "'timestamp':'2025-11-24T15:00:00Z'},\r\n"
          "'mail':{'messageId':'x1','destination':['d@example.com'],"
          "'tags':{'mail_track_id':['m-\xe2\x82\xac']}}}\n");

    reset();
    env_init(&e, m, "2");
    e.subject = "Gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x93\xa7 \"q\"\n/";
    e.flags = ENV_ASCII | ENV_SLASH;
    {
        char    *body;
        size_t   len;

        body = build(&e, &len);
        ok(strstr(body, "\\u00E9") != NULL && strstr(body, "\\uD83D")
           != NULL && strstr(body, "\\/") != NULL
           && strstr(body, "\\\\u0075") != NULL,
           "escapes: the body carries \\uXXXX and \\/ escapes");
        rc = wh_run(&t, &conf, CT, body, len, NOW);
        free(body);
    }

    is_int(rc, MT_OK, "escapes: non-ASCII Subject and Message verify");
    is_int(t.nevents, 1, "escapes: one complaint");
    is_str(t.events[0].rcpt, "\xc3\xa9l\xc3\xa8ve@example.com",
           "escapes: rcpt decoded to UTF-8");
    is_str(t.events[0].mid, "m-\xe2\x82\xac", "escapes: mid decoded");
    is_int(t.events[0].type, MT_EV_COMPLAINED, "escapes: complained");
    is_str(t.events[0].reason, "abuse", "escapes: reason");

    /* the same, raw UTF-8 */

    reset();
    env_init(&e, m, "1");
    e.subject = "Gr\xc3\xbc\xc3\x9f" "e";
    is_int(run(&e), MT_OK, "raw UTF-8 Subject and Message verify (v1)");

    free(m);

    /* a NUL in Message: the string to sign uses the JSON length */

    reset();
    env_init(&e, "plain\0text after a NUL", "2");
    e.message_len = 22;
    rc = run(&e);
    is_int(rc, MT_OK, "Message with \\u0000 verifies");
    is_int(t.nevents, 1, "Message with \\u0000: kept as other");
    is_int(t.events[0].reason.len, 22, "Message with \\u0000: whole reason");

    reset();
    env_init(&e, "plain\0text after a NUL", "2");
    e.message_len = 22;
    e.sign_message = "plain";
    is_int(run(&e), MT_ERR_SIGNATURE,
           "Message cut at the NUL does not verify");

    /* Subject: null is absent, as in the Lambda format */

    m = q("{'eventType':'Send','send':{},'mail':{'messageId':'s1',"
          "'timestamp':'2025-11-24T15:00:00Z','destination':['a@x.org']}}");

    reset();
    env_init(&e, m, "2");
    e.subject = SUBJECT_NULL;
    is_int(run(&e), MT_OK, "Subject null: not signed, verifies");

    reset();
    env_init(&e, m, "2");
    e.subject = SUBJECT_NULL;
    e.sign_subject = 1;
    is_int(run(&e), MT_ERR_SIGNATURE, "Subject null signed as a value fails");

    reset();
    env_init(&e, m, "2");
    is_int(run(&e), MT_OK, "Subject absent verifies");
    is_int(t.events[0].type, MT_EV_SENT, "Send is sent");
    is_int(t.events[0].ts, 1763996400000LL, "Send: ts from mail.timestamp");

    reset();
    env_init(&e, m, "2");
    e.subject = "";
    is_int(run(&e), MT_OK, "Subject empty string: signed, verifies");

    free(m);

    /* bytes that are not UTF-8: repaired, signed as repaired */

    reset();
    {
        char    *body, *p;
        size_t   len;

        m = q("{'eventType':'Bounce','bounce':{'bounceType':'Transient',"
              "'bounceSubType':'General','bouncedRecipients':[{"
              "'emailAddress':'a@example.com','diagnosticCode':"
              "'smtp; 452 4.2.2 bo\xef\xbf\xbdte pleine'}]},"
              "'mail':{'messageId':'x'}}");
        env_init(&e, m, "2");
        body = build(&e, &len);

        p = strstr(body, "bo\xef\xbf\xbdte");
        p[2] = (char) 0xee;
        memmove(p + 3, p + 5, len - (p + 5 - body) + 1);
        len -= 2;

        is_int(wh_run(&t, &conf, CT, body, len, NOW), MT_OK,
               "Latin-1 byte: repaired, accepted");
        is_int(t.nevents, 1, "Latin-1 byte: event kept");
        is_str(t.events[0].reason, "smtp; 452 4.2.2 bo\xef\xbf\xbdte pleine",
               "Latin-1 byte: reason repaired");
        is_int(t.events[0].bounce, MT_BOUNCE_SOFT, "Transient is soft");

        free(body);
        free(m);
    }
}


static void
test_cert_urls(void)
{
    env_t        e;
    char        *m;
    size_t       i;
    const char  *bad[] = {
        "http://sns.us-east-1.amazonaws.com/"
        "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "https://evil.example.com/"
        "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "https://sns.s3.amazonaws.com/"
        "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "https://sns.s3-us-west-2.amazonaws.com/"
        "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "https://s3.amazonaws.com/mybucket/"
        "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "https://sns.us-east-1.amazonaws.com.evil.com/"
        "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "https://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:443/"
        "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "https://u:p@sns.us-east-1.amazonaws.com/"
        "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "https://sns.us-east-1.amazonaws.com./"
        "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "https://sns.us-east-1.amazonaws.com/"
        "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem?",
        NULL
    };

    m = q(bounce_msg);

    for (i = 0; bad[i] != NULL; i++) {
        reset();
        env_init(&e, m, "2");
        e.cert_url = bad[i];
        t.pkey_url = bad[i];

        is_int(run(&e), MT_ERR_CERT_URL, "SigningCertURL refused: %s",
               bad[i]);
        ok(t.cert_calls == 0 && t.wh.cert_url.len == 0,
           "SigningCertURL refused before any use");
    }

    /* \/ escapes and a NUL: judged decoded */

    reset();
    env_init(&e, m, "2");
    e.flags = ENV_SLASH;
    is_int(run(&e), MT_OK, "SigningCertURL with \\/ escapes, decoded");

    reset();
    env_init(&e, m, "2");
    {
        char    *body, *p;
        size_t   len;

        body = build(&e, &len);
        p = strstr(body, ".pem\"");
        body = realloc(body, len + 16);
        p = strstr(body, ".pem\"");
        memmove(p + 4 + 6, p + 4, strlen(p + 4) + 1);
        memcpy(p + 4, "\\u0000", 6);
        len += 6;

        is_int(wh_run(&t, &conf, CT, body, len, NOW), MT_ERR_CERT_URL,
               "SigningCertURL with \\u0000 refused");
        free(body);
    }

    free(m);
}


static void
test_topic_time_headers(void)
{
    env_t   e;
    char   *m;

    m = q(bounce_msg);

    reset();
    env_init(&e, m, "2");
    e.topic = "arn:aws:sns:us-east-1:999999999999:attacker";
    is_int(run(&e), MT_ERR_TOPIC, "a topic not allowed");
    is_int(t.cert_calls, 0, "wrong topic: no certificate asked for");

    reset();
    env_init(&e, m, "2");
    e.topic = TOPIC "x";
    is_int(run(&e), MT_ERR_TOPIC, "a longer topic ARN");

    reset();
    env_init(&e, m, "2");
    e.topic = "arn:aws:sns:us-east-1:123456789012:ses-event";
    is_int(run(&e), MT_ERR_TOPIC, "a topic ARN prefix");

    reset();
    conf.ntopics = 0;
    env_init(&e, m, "2");
    is_int(run(&e), MT_ERR_TOPIC, "no allowlist: nothing allowed");

    /* the certificate is not at hand */

    reset();
    t.pkey = NULL;
    env_init(&e, m, "2");
    is_int(run(&e), MT_NEED_CERT, "no certificate: need_cert");
    is_str(t.wh.cert_url, CERT_URL, "need_cert: cert_url set");
    is_int(t.nevents, 0, "need_cert: nothing emitted");

    /* the glue loads the certificate and runs the same body again */

    reset();
    t.pkey = NULL;
    env_init(&e, m, "2");
    {
        char    *body;
        size_t   len;

        body = build(&e, &len);
        is_int(wh_run(&t, &conf, CT, body, len, NOW), MT_NEED_CERT,
               "first run: need_cert");
        t.pkey = pkey;
        is_int(wh_run(&t, &conf, CT, body, len, NOW), MT_OK,
               "second run with the key: accepted");
        is_int(t.nevents, 2, "second run: the records");
        is_int(t.wh.cert_url.len, 0, "second run: no cert_url");
        free(body);
    }

    reset();
    t.pkey_url = "https://sns.us-east-1.amazonaws.com/"
                 "SimpleNotificationService-other.pem";
    env_init(&e, m, "2");
    is_int(run(&e), MT_NEED_CERT, "another URL's key is not used");

    /* the uppercase URL is fetched as given */

    reset();
    t.pkey = NULL;
    env_init(&e, m, "2");
    e.cert_url = "HTTPS://SNS.US-EAST-1.AMAZONAWS.COM/"
                 "SimpleNotificationService-abc.pem";
    is_int(run(&e), MT_NEED_CERT, "uppercase host: need_cert");
    is_str(t.wh.cert_url, "HTTPS://SNS.US-EAST-1.AMAZONAWS.COM/"
           "SimpleNotificationService-abc.pem", "URL kept as given");

    /* Timestamp */

    reset();
    env_init(&e, m, "2");
    e.timestamp = "2025-11-24T13:59:59.000Z";
    is_int(run(&e), MT_ERR_STALE, "Timestamp 2h1s old: stale");
    is_int(t.nevents, 0, "stale: nothing emitted");

    reset();
    env_init(&e, m, "2");
    e.timestamp = "2025-11-24T14:00:01.000Z";
    is_int(run(&e), MT_OK, "Timestamp 1h59m old: accepted");

    reset();
    env_init(&e, m, "2");
    e.timestamp = "2025-11-24T16:05:01.000Z";
    is_int(run(&e), MT_ERR_FUTURE, "Timestamp 5m1s ahead: future");

    reset();
    env_init(&e, m, "2");
    e.timestamp = "2025-11-24T16:04:59.000Z";
    is_int(run(&e), MT_OK, "Timestamp 4m59s ahead: accepted");

    reset();
    conf.tolerance = 0;
    env_init(&e, m, "2");
    e.timestamp = "2020-01-01T00:00:00.000Z";
    is_int(run(&e), MT_OK, "tolerance 0: no time check");

    reset();
    env_init(&e, m, "2");
    e.timestamp = "yesterday";
    is_int(run(&e), MT_ERR_PAYLOAD, "Timestamp not ISO 8601");

    /* the headers SNS adds */

    reset();
    wh_header(&t, "x-amz-sns-message-type", "Notification");
    wh_header(&t, "x-amz-sns-message-id", MSG_ID);
    wh_header(&t, "x-amz-sns-topic-arn", TOPIC);
    env_init(&e, m, "2");
    is_int(run(&e), MT_OK, "matching x-amz-sns headers");

    reset();
    wh_header(&t, "x-amz-sns-message-type", "SubscriptionConfirmation");
    env_init(&e, m, "2");
    is_int(run(&e), MT_ERR_PAYLOAD, "x-amz-sns-message-type mismatch");

    reset();
    wh_header(&t, "x-amz-sns-message-type", "notification");
    env_init(&e, m, "2");
    is_int(run(&e), MT_ERR_PAYLOAD, "x-amz-sns-message-type case differs");

    reset();
    wh_header(&t, "x-amz-sns-message-type", "Notification");
    wh_header(&t, "x-amz-sns-message-id", "other-id");
    env_init(&e, m, "2");
    is_int(run(&e), MT_ERR_PAYLOAD, "x-amz-sns-message-id mismatch");

    reset();
    wh_header(&t, "x-amz-sns-topic-arn", "arn:aws:sns:us-east-1:1:other");
    env_init(&e, m, "2");
    is_int(run(&e), MT_ERR_PAYLOAD, "x-amz-sns-topic-arn mismatch");

    free(m);
}


static void
test_confirmations(void)
{
    env_t        e;
    mt_rc_t      rc;
    mt_event_t  *ev;

    reset();
    env_init(&e, "You have chosen to subscribe to the topic " TOPIC
             ".\nTo confirm the subscription, visit the SubscribeURL "
             "included in this message.", "1");
    e.type = "SubscriptionConfirmation";
    rc = run(&e);
    is_int(rc, MT_OK, "SubscriptionConfirmation accepted (v1)");
    is_int(t.nevents, 1, "SubscriptionConfirmation: one record");
    ev = &t.events[0];
    is_int(ev->type, MT_EV_OTHER, "SubscriptionConfirmation: other");
    is_str(ev->esp_type, "SubscriptionConfirmation", "esp_type");
    is_str(ev->id, MSG_ID, "SubscriptionConfirmation: id is MessageId");
    is_str(ev->url, SUB_URL, "SubscriptionConfirmation: url");
    is_str(ev->tag, TOPIC, "SubscriptionConfirmation: tag is the topic");
    is_int(ev->ts, NOW * 1000, "SubscriptionConfirmation: ts");
    is_str(t.wh.confirm_url, SUB_URL, "confirm_url set");

    reset();
    env_init(&e, "confirm", "2");
    e.type = "SubscriptionConfirmation";
    e.subscribe_url = "https://169.254.169.254/latest/meta-data/"
                      "?Action=ConfirmSubscription";
    rc = run(&e);
    is_int(rc, MT_OK, "SubscriptionConfirmation, odd SubscribeURL: kept");
    is_int(t.nevents, 1, "odd SubscribeURL: recorded");
    is_int(t.wh.confirm_url.len, 0, "odd SubscribeURL: not to confirm");
    ok(t.wh.detail.len > 0, "odd SubscribeURL: detail says why");

    reset();
    env_init(&e, "confirm", "2");
    e.type = "SubscriptionConfirmation";
    e.topic = "arn:aws:sns:us-east-1:999999999999:attacker";
    is_int(run(&e), MT_ERR_TOPIC, "SubscriptionConfirmation, foreign topic");
    is_int(t.wh.confirm_url.len, 0, "foreign topic: not to confirm");

    reset();
    env_init(&e, "confirm", "2");
    e.type = "SubscriptionConfirmation";
    e.key = rogue_key;
    is_int(run(&e), MT_ERR_SIGNATURE, "SubscriptionConfirmation, forged");
    is_int(t.wh.confirm_url.len, 0, "forged: not to confirm");

    reset();
    env_init(&e, "confirm", "2");
    e.type = "SubscriptionConfirmation";
    e.token = "other-token";
    {
        char    *body, *p;
        size_t   len;

        body = build(&e, &len);
        p = strstr(body, "other-token");
        p[0] = 'O';
        is_int(wh_run(&t, &conf, CT, body, len, NOW), MT_ERR_SIGNATURE,
               "SubscriptionConfirmation: Token is signed");
        free(body);
    }

    reset();
    env_init(&e, "You have chosen to deactivate subscription.", "2");
    e.type = "UnsubscribeConfirmation";
    is_int(run(&e), MT_OK, "UnsubscribeConfirmation accepted");
    is_int(t.nevents, 1, "UnsubscribeConfirmation: one record");
    is_int(t.events[0].type, MT_EV_OTHER, "UnsubscribeConfirmation: other");
    is_str(t.events[0].esp_type, "UnsubscribeConfirmation", "its esp_type");
    is_int(t.wh.confirm_url.len, 0,
           "UnsubscribeConfirmation: its SubscribeURL is not followed");

    reset();
    env_init(&e, "x", "2");
    e.type = "Weird";
    is_int(run(&e), MT_ERR_PAYLOAD, "unknown SNS Type");
}


static void
test_tests_and_opaque(void)
{
    env_t   e;
    char   *m;

    reset();
    env_init(&e, "Successfully validated SNS topic for Amazon SES event "
             "publishing.", "2");
    is_int(run(&e), MT_DECLINED, "SES test notification: declined");
    is_int(t.nevents, 0, "SES test notification: nothing recorded");

    m = q("{'notificationType':'AmazonSnsSubscriptionSucceeded',"
          "'message':'You have successfully subscribed your Amazon SNS "
          "topic to receive Bounce notifications'}");
    reset();
    env_init(&e, m, "2");
    is_int(run(&e), MT_DECLINED, "AmazonSnsSubscriptionSucceeded declined");
    free(m);

    /* an authentic Message that is no SES event: kept as other */

    reset();
    env_init(&e, "{'eventType':'Bounce', truncated", "2");
    is_int(run(&e), MT_OK, "malformed inner JSON: accepted");
    is_int(t.nevents, 1, "malformed inner JSON: one record");
    is_int(t.events[0].type, MT_EV_OTHER, "malformed inner JSON: other");
    is_str(t.events[0].esp_type, "Notification", "esp_type Notification");
    is_str(t.events[0].reason, "{'eventType':'Bounce', truncated",
           "malformed inner JSON: the text as reason");
    is_str(t.events[0].id, MSG_ID "#0", "malformed inner JSON: id");
    is_str(t.events[0].tag, TOPIC, "malformed inner JSON: tag is topic");

    reset();
    env_init(&e, "[1,2,3]", "2");
    is_int(run(&e), MT_OK, "inner JSON array: accepted");
    is_int(t.events[0].type, MT_EV_OTHER, "inner JSON array: other");

    m = q("{'AlarmName':'cpu','NewStateValue':'ALARM'}");
    reset();
    env_init(&e, m, "2");
    is_int(run(&e), MT_OK, "another publisher's JSON: accepted");
    is_str(t.events[0].esp_type, "Notification", "... as Notification");
    free(m);

    reset();
    env_init(&e, "", "2");
    is_int(run(&e), MT_OK, "empty Message: accepted");
    is_int(t.nevents, 1, "empty Message: one other record");
}


static void
test_malformed(void)
{
    size_t       i;
    const char  *bodies[] = {
        "", "   \r\n", "{", "{\"Type\":\"Notification\"", "[]", "null",
        "\"Notification\"", "{\"Type\":\"Notification\"}",
        "{\"Type\":\"Notification\",\"MessageId\":\"x\",\"TopicArn\":\"t\","
        "\"Timestamp\":\"2025-11-24T16:00:00Z\"}",
        "{\"Type\":\"Notification\",\"MessageId\":\"x\",\"TopicArn\":\"t\","
        "\"Timestamp\":\"2025-11-24T16:00:00Z\",\"Message\":1}",
        "{\"Type\":\"Notification\",\"MessageId\":\"x\",\"TopicArn\":\"t\","
        "\"Timestamp\":\"2025-11-24T16:00:00Z\",\"Message\":\"m\","
        "\"Subject\":7}",
        "{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"x\","
        "\"TopicArn\":\"t\",\"Timestamp\":\"2025-11-24T16:00:00Z\","
        "\"Message\":\"m\"}",
        "{\"eventType\":\"Bounce\",\"bounce\":{},\"mail\":{}}",
        NULL
    };
    const mt_rc_t  want[] = {
        MT_ERR_BODY_EMPTY, MT_ERR_BODY_EMPTY, MT_ERR_JSON, MT_ERR_JSON,
        MT_ERR_PAYLOAD, MT_ERR_PAYLOAD, MT_ERR_PAYLOAD, MT_ERR_PAYLOAD,
        MT_ERR_PAYLOAD, MT_ERR_PAYLOAD, MT_ERR_PAYLOAD, MT_ERR_PAYLOAD,
        MT_ERR_PAYLOAD
    };

    for (i = 0; bodies[i] != NULL; i++) {
        reset();
        is_int(wh_run(&t, &conf, CT, bodies[i], strlen(bodies[i]), NOW),
               want[i], "malformed body %zu: %.40s", i,
               printable(bodies[i], strlen(bodies[i])));
        is_int(t.nevents, 0, "malformed body %zu: nothing emitted", i);
    }

    /* a truncated good envelope */

    {
        env_t    e;
        char    *m, *body;
        size_t   len;

        m = q(bounce_msg);
        reset();
        env_init(&e, m, "2");
        body = build(&e, &len);
        is_int(wh_run(&t, &conf, CT, body, len / 2, NOW), MT_ERR_JSON,
               "truncated envelope");
        reset();
        is_int(wh_run(&t, &conf, CT, body, len - 1, NOW), MT_ERR_JSON,
               "envelope missing its last brace");
        free(body);
        free(m);
    }
}


typedef struct {
    const char       *msg;
    mt_event_type_e   type;
    mt_bounce_e       bounce;
    unsigned          n;
    const char       *esp_type;
    const char       *rcpt;        /* of the first record */
    const char       *reason;
    const char       *status;
    int               code;
    int64_t           ts;
} ses_case_t;


static void
test_events(void)
{
    char              *m;
    size_t             i;
    env_t              e;
    mt_rc_t            rc;
    mt_event_t        *ev;
    const ses_case_t  *c;

#define MAIL  "'mail':{'timestamp':'2025-11-24T15:00:00.000Z'," \
              "'messageId':'ses-1','destination':['a@x.org','b@x.org']," \
              "'tags':{'mail_track_id':['app-1']}}"
#define MAIL_TS  1763996400000LL
#define EV_TS    "'timestamp':'2025-11-24T15:30:00.500Z'"
#define EV_TS_MS 1763998200500LL

    static const ses_case_t  cases[] = {
        { "{'eventType':'Send','send':{}," MAIL "}",
          MT_EV_SENT, MT_BOUNCE_NONE, 2, "Send", "a@x.org", NULL, NULL, 0,
          MAIL_TS },
        { "{'eventType':'Delivery','delivery':{" EV_TS ","
          "'processingTimeMillis':546,'recipients':['b@x.org'],"
          "'smtpResponse':'250 2.6.0 Message received',"
          "'reportingMTA':'a8-70.smtp-out.amazonses.com'}," MAIL "}",
          MT_EV_DELIVERED, MT_BOUNCE_NONE, 1, "Delivery", "b@x.org",
          "250 2.6.0 Message received", "2.6.0", 250, EV_TS_MS },
        { "{'notificationType':'Delivery','delivery':{" EV_TS ","
          "'recipients':['a@x.org','b@x.org'],"
          "'smtpResponse':'250 ok'}," MAIL "}",
          MT_EV_DELIVERED, MT_BOUNCE_NONE, 2, "Delivery", "a@x.org",
          "250 ok", NULL, 250, EV_TS_MS },
        /* fuzz: no smtpResponse (UB in mt_smtp_parse on empty text) */
        { "{'eventType':'Delivery','delivery':{'recipients':['a@x.org'],"
          "'vmtpResponse':'250 ok'}," MAIL "}",
          MT_EV_DELIVERED, MT_BOUNCE_NONE, 1, "Delivery", "a@x.org",
          NULL, NULL, 0, MAIL_TS },
        { "{'eventType':'Bounce','bounce':{'bounceType':'Permanent',"
          "'bounceSubType':'General','bouncedRecipients':[{'emailAddress':"
          "'a@x.org','action':'failed','status':'5.1.1','diagnosticCode':"
          "'smtp; 550 5.1.1 user unknown'}]," EV_TS "}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_HARD, 1, "Bounce", "a@x.org",
          "smtp; 550 5.1.1 user unknown", "5.1.1", 550, EV_TS_MS },
        { "{'eventType':'Bounce','bounce':{'bounceType':'Permanent',"
          "'bounceSubType':'NoEmail','bouncedRecipients':[{'emailAddress':"
          "'a@x.org'}]," EV_TS "}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_HARD, 1, "Bounce", "a@x.org",
          "Permanent/NoEmail", NULL, 0, EV_TS_MS },
        { "{'eventType':'Bounce','bounce':{'bounceType':'Permanent',"
          "'bounceSubType':'Suppressed','bouncedRecipients':[{'emailAddress':"
          "'a@x.org','diagnosticCode':'Amazon SES has suppressed sending to "
          "this address'}]," EV_TS "}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_HARD, 1, "Bounce", "a@x.org",
          "Amazon SES has suppressed sending to this address", NULL, 0,
          EV_TS_MS },
        { "{'eventType':'Bounce','bounce':{'bounceType':'Permanent',"
          "'bounceSubType':'OnAccountSuppressionList','bouncedRecipients':[{"
          "'emailAddress':'a@x.org'}]}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_HARD, 1, "Bounce", "a@x.org",
          "Permanent/OnAccountSuppressionList", NULL, 0, MAIL_TS },
        { "{'eventType':'Bounce','bounce':{'bounceType':'Transient',"
          "'bounceSubType':'General','bouncedRecipients':[{'emailAddress':"
          "'a@x.org','status':'4.4.7'}]}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_SOFT, 1, "Bounce", "a@x.org",
          "Transient/General", "4.4.7", 0, MAIL_TS },
        { "{'eventType':'Bounce','bounce':{'bounceType':'Transient',"
          "'bounceSubType':'MailboxFull','bouncedRecipients':[{'emailAddress':"
          "'a@x.org','status':'5.2.2','diagnosticCode':"
          "'smtp; 552 5.2.2 mailbox full'}]}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_SOFT, 1, "Bounce", "a@x.org",
          "smtp; 552 5.2.2 mailbox full", "5.2.2", 552, MAIL_TS },
        { "{'eventType':'Bounce','bounce':{'bounceType':'Transient',"
          "'bounceSubType':'MessageTooLarge','bouncedRecipients':[{"
          "'emailAddress':'a@x.org','status':'5.3.4'}]}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_SOFT, 1, "Bounce", "a@x.org",
          "Transient/MessageTooLarge", "5.3.4", 0, MAIL_TS },
        { "{'eventType':'Bounce','bounce':{'bounceType':'Transient',"
          "'bounceSubType':'ContentRejected','bouncedRecipients':[{"
          "'emailAddress':'a@x.org','status':'5.7.1','diagnosticCode':"
          "'smtp; 554 5.7.1 spam'}]}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_BLOCK, 1, "Bounce", "a@x.org",
          "smtp; 554 5.7.1 spam", "5.7.1", 554, MAIL_TS },
        { "{'eventType':'Bounce','bounce':{'bounceType':'Transient',"
          "'bounceSubType':'AttachmentRejected','bouncedRecipients':[{"
          "'emailAddress':'a@x.org'}]}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_BLOCK, 1, "Bounce", "a@x.org",
          "Transient/AttachmentRejected", NULL, 0, MAIL_TS },
        { "{'eventType':'Bounce','bounce':{'bounceType':'Undetermined',"
          "'bounceSubType':'Undetermined','bouncedRecipients':[{"
          "'emailAddress':'a@x.org'}]}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_UNDETERMINED, 1, "Bounce", "a@x.org",
          "Undetermined/Undetermined", NULL, 0, MAIL_TS },
        { "{'eventType':'Bounce','bounce':{'bounceType':'Sideways',"
          "'bouncedRecipients':[{'emailAddress':'a@x.org','status':"
          "'5.7.1'}]}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_BLOCK, 1, "Bounce", "a@x.org",
          "Sideways", "5.7.1", 0, MAIL_TS },
        { "{'eventType':'Bounce','bounce':{'bounceType':'Permanent',"
          "'bounceSubType':'General'}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_HARD, 2, "Bounce", "a@x.org",
          "Permanent/General", NULL, 0, MAIL_TS },
        { "{'notificationType':'Bounce','bounce':{'bounceType':'Permanent',"
          "'bounceSubType':'General','bouncedRecipients':[{'emailAddress':"
          "'b@x.org','status':'5.0.0'}]}," MAIL "}",
          MT_EV_BOUNCED, MT_BOUNCE_HARD, 1, "Bounce", "b@x.org",
          "Permanent/General", "5.0.0", 0, MAIL_TS },
        { "{'eventType':'Complaint','complaint':{'complainedRecipients':[{"
          "'emailAddress':'b@x.org'}]," EV_TS ",'feedbackId':'f',"
          "'userAgent':'Yahoo!-Mail-Feedback/2.0',"
          "'complaintFeedbackType':'abuse'}," MAIL "}",
          MT_EV_COMPLAINED, MT_BOUNCE_NONE, 1, "Complaint", "b@x.org",
          "abuse", NULL, 0, EV_TS_MS },
        { "{'eventType':'Complaint','complaint':{'complainedRecipients':[{"
          "'emailAddress':'b@x.org'}],'complaintSubType':"
          "'OnAccountSuppressionList'}," MAIL "}",
          MT_EV_COMPLAINED, MT_BOUNCE_NONE, 1, "Complaint", "b@x.org",
          "OnAccountSuppressionList", NULL, 0, MAIL_TS },
        { "{'eventType':'Reject','reject':{'reason':'Bad content'}," MAIL "}",
          MT_EV_REJECTED, MT_BOUNCE_NONE, 2, "Reject", "a@x.org",
          "Bad content", NULL, 0, MAIL_TS },
        { "{'eventType':'DeliveryDelay','deliveryDelay':{'delayType':"
          "'MailboxFull','delayedRecipients':[{'emailAddress':'b@x.org',"
          "'status':'4.2.2','diagnosticCode':'smtp; 452 4.2.2 full'}],"
          "'expirationTime':'2025-11-25T15:00:00Z'," EV_TS "}," MAIL "}",
          MT_EV_DEFERRED, MT_BOUNCE_SOFT, 1, "DeliveryDelay", "b@x.org",
          "MailboxFull", "4.2.2", 452, EV_TS_MS },
        { "{'eventType':'DeliveryDelay','deliveryDelay':{"
          "'delayedRecipients':[{'emailAddress':'b@x.org',"
          "'diagnosticCode':'smtp; 421 4.4.2 timeout'}]}," MAIL "}",
          MT_EV_DEFERRED, MT_BOUNCE_SOFT, 1, "DeliveryDelay", "b@x.org",
          "smtp; 421 4.4.2 timeout", "4.4.2", 421, MAIL_TS },
        { "{'eventType':'Open','open':{'ipAddress':'192.0.2.1'," EV_TS ","
          "'userAgent':'Mozilla/5.0 (Windows NT 10.0)'}," MAIL "}",
          MT_EV_OPENED, MT_BOUNCE_NONE, 2, "Open", "a@x.org", NULL, NULL, 0,
          EV_TS_MS },
        { "{'eventType':'Click','click':{'ipAddress':'192.0.2.1'," EV_TS ","
          "'userAgent':'Mozilla/5.0','link':'https://example.com/a?b=1',"
          "'linkTags':{'samplekey0':['samplevalue0']}}," MAIL "}",
          MT_EV_CLICKED, MT_BOUNCE_NONE, 2, "Click", "a@x.org", NULL, NULL,
          0, EV_TS_MS },
        { "{'eventType':'Rendering Failure','failure':{'errorMessage':"
          "'Attribute name is missing','templateName':'t1'}," MAIL "}",
          MT_EV_REJECTED, MT_BOUNCE_NONE, 2, "Rendering Failure", "a@x.org",
          "Attribute name is missing", NULL, 0, MAIL_TS },
        { "{'eventType':'Subscription','subscription':{'contactList':'news',"
          EV_TS ",'source':'UnsubscribeHeader','newTopicPreferences':{"
          "'unsubscribeAll':true,'topicSubscriptionStatus':[{'topicName':"
          "'weekly','subscriptionStatus':'OptOut'}]},'oldTopicPreferences':{"
          "'unsubscribeAll':false,'topicSubscriptionStatus':[{'topicName':"
          "'weekly','subscriptionStatus':'OptOut'}]}}," MAIL "}",
          MT_EV_UNSUBSCRIBED, MT_BOUNCE_NONE, 2, "Subscription", "a@x.org",
          "news: all topics", NULL, 0, EV_TS_MS },
        { "{'eventType':'Subscription','subscription':{'contactList':'news',"
          "'newTopicPreferences':{'unsubscribeAll':false,"
          "'topicSubscriptionStatus':[{'topicName':'weekly',"
          "'subscriptionStatus':'OptOut'},{'topicName':'daily',"
          "'subscriptionStatus':'OPT_OUT'},{'topicName':'promo',"
          "'subscriptionStatus':'OptOut'}]},'oldTopicPreferences':{"
          "'unsubscribeAll':false,'topicSubscriptionStatus':[{'topicName':"
          "'weekly','subscriptionStatus':'OptIn'},{'topicName':'promo',"
          "'subscriptionStatus':'OptOut'}]}}," MAIL "}",
          MT_EV_UNSUBSCRIBED, MT_BOUNCE_NONE, 2, "Subscription", "a@x.org",
          "news: weekly,daily", NULL, 0, MAIL_TS },
        { "{'eventType':'Subscription','subscription':{'contactList':'news',"
          "'newTopicPreferences':{'unsubscribeAll':false,"
          "'topicSubscriptionStatus':[{'topicName':'weekly',"
          "'subscriptionStatus':'OptIn'},{'topicName':'promo',"
          "'subscriptionStatus':'OptOut'}]},'oldTopicPreferences':{"
          "'unsubscribeAll':false,'topicSubscriptionStatus':[{'topicName':"
          "'weekly','subscriptionStatus':'OptOut'},{'topicName':'promo',"
          "'subscriptionStatus':'OptOut'}]}}," MAIL "}",
          MT_EV_OTHER, MT_BOUNCE_NONE, 2, "Subscription", "a@x.org",
          "news", NULL, 0, MAIL_TS },
        { "{'eventType':'Subscription','subscription':{"
          "'newTopicPreferences':{'topicSubscriptionStatus':[{'topicName':"
          "'weekly','subscriptionStatus':'OptOut'}]}}," MAIL "}",
          MT_EV_UNSUBSCRIBED, MT_BOUNCE_NONE, 2, "Subscription", "a@x.org",
          "weekly", NULL, 0, MAIL_TS },
        { "{'eventType':'Quarantine','quarantine':{}," MAIL "}",
          MT_EV_OTHER, MT_BOUNCE_NONE, 2, "Quarantine", "a@x.org", NULL,
          NULL, 0, MAIL_TS },
        { "{'notificationType':'Received','receipt':{},'mail':{"
          "'messageId':'r1'}}",
          MT_EV_OTHER, MT_BOUNCE_NONE, 1, "Received", NULL, NULL, NULL, 0,
          NOW * 1000 },
        { "{'eventType':'Send'}",
          MT_EV_SENT, MT_BOUNCE_NONE, 1, "Send", NULL, NULL, NULL, 0,
          NOW * 1000 },
        { NULL, 0, 0, 0, NULL, NULL, NULL, NULL, 0, 0 }
    };

    for (c = cases, i = 0; c->msg != NULL; c++, i++) {
        m = q(c->msg);

        reset();
        env_init(&e, m, (i & 1) ? "1" : "2");
        rc = run(&e);

        is_int(rc, MT_OK, "event %zu %s: accepted", i, c->esp_type);
        is_int(t.nevents, c->n, "event %zu %s: records", i, c->esp_type);

        if (t.nevents == 0) {
            free(m);
            continue;
        }

        ev = &t.events[0];
        is_int(ev->type, c->type, "event %zu %s: type %s", i, c->esp_type,
               mt_event_type_names[c->type]);
        is_int(ev->bounce, c->bounce, "event %zu %s: bounce %s", i,
               c->esp_type, mt_bounce_names[c->bounce]);
        is_str(ev->esp_type, c->esp_type, "event %zu: esp_type", i);
        is_str(ev->rcpt, c->rcpt, "event %zu %s: rcpt", i, c->esp_type);
        is_str(ev->reason, c->reason, "event %zu %s: reason", i,
               c->esp_type);
        is_str(ev->smtp_status, c->status, "event %zu %s: smtp_status", i,
               c->esp_type);
        is_int(ev->smtp_code, c->code, "event %zu %s: smtp_code", i,
               c->esp_type);
        is_int(ev->ts, c->ts, "event %zu %s: ts", i, c->esp_type);
        is_str(ev->id, MSG_ID "#0", "event %zu %s: id", i, c->esp_type);

        if (strstr(c->msg, "app-1") != NULL) {
            is_str(ev->mid, "app-1", "event %zu %s: mid", i, c->esp_type);
            is_str(ev->esp_mid, "ses-1", "event %zu %s: esp_mid", i,
                   c->esp_type);
        }

        if (c->n > 1) {
            is_str(t.events[1].id, MSG_ID "#1", "event %zu: second id", i);
            is_str(t.events[1].rcpt, "b@x.org", "event %zu: second rcpt", i);
        }

        if (c->type == MT_EV_CLICKED) {
            is_str(ev->url, "https://example.com/a?b=1", "click: url");
            is_str(ev->ip, "192.0.2.1", "click: ip");
            is_str(ev->ua, "Mozilla/5.0", "click: ua");
        }

        if (c->type == MT_EV_OPENED) {
            is_str(ev->ip, "192.0.2.1", "open: ip");
            is_str(ev->ua, "Mozilla/5.0 (Windows NT 10.0)", "open: ua");
            is_int(ev->url.len, 0, "open: no url");
        }

        free(m);
    }

#undef MAIL
#undef MAIL_TS
#undef EV_TS
#undef EV_TS_MS
}


static void
test_tags(void)
{
    env_t   e;
    char   *m;

    /* no app id: mid falls back to the SES message id */

    m = q("{'eventType':'Send','mail':{'messageId':'ses-9',"
          "'destination':['a@x.org'],'tags':{'tag':['t1'],"
          "'other_id':['o-1']}}}");

    reset();
    env_init(&e, m, "2");
    is_int(run(&e), MT_OK, "tags: accepted");
    is_str(t.events[0].mid, "ses-9", "tags: mid falls back to messageId");
    is_int(t.events[0].esp_mid.len, 0, "tags: esp_mid moved");
    is_str(t.events[0].tag, "t1", "tags: tag from 'tag'");

    reset();
    mt_str_set(&conf.id_field, "other_id");
    env_init(&e, m, "2");
    run(&e);
    is_str(t.events[0].mid, "o-1", "tags: mail_track_id_field honoured");
    is_str(t.events[0].esp_mid, "ses-9", "tags: esp_mid kept");
    mt_str_set(&conf.id_field, "mail_track_id");
    free(m);

    m = q("{'eventType':'Send','mail':{'messageId':'ses-9',"
          "'destination':['a@x.org'],'tags':{'mail_track_id':'plain',"
          "'campaign':[]}}}");
    reset();
    env_init(&e, m, "2");
    run(&e);
    is_str(t.events[0].mid, "plain", "tags: a plain string value");
    is_int(t.events[0].tag.len, 0, "tags: empty campaign array");
    free(m);

    m = q("{'eventType':'Send','mail':{'messageId':'ses-9',"
          "'destination':['a@x.org'],'tags':{'mail_track_id':[7],"
          "'campaign':['a',1,'','b']}}}");
    reset();
    env_init(&e, m, "2");
    run(&e);
    is_str(t.events[0].mid, "7", "tags: an integer value printed");
    is_str(t.events[0].tag, "a,b", "tags: non-strings skipped in the join");
    free(m);
}


static void
test_large_and_emit(void)
{
    env_t    e;
    char    *m, *p;
    size_t   i, size;
    mt_rc_t  rc;

    size = 1000 * 80 + 512;
    m = malloc(size);
    p = m;
    p += sprintf(p, "{\"eventType\":\"Bounce\",\"bounce\":{\"bounceType\":"
                 "\"Permanent\",\"bounceSubType\":\"General\","
                 "\"bouncedRecipients\":[");

    for (i = 0; i < 1000; i++) {
        p += sprintf(p, "%s{\"emailAddress\":\"r%zu@example.com\","
                     "\"status\":\"5.1.1\"}", i ? "," : "", i);
    }

    p += sprintf(p, "]},\"mail\":{\"messageId\":\"big\"}}");

    reset();
    env_init(&e, m, "2");
    rc = run(&e);
    is_int(rc, MT_OK, "1000 recipients: accepted");
    is_int(t.nevents, 1000, "1000 recipients: 1000 records");
    is_str(t.events[999].rcpt, "r999@example.com", "1000: last rcpt");
    is_str(t.events[999].id, MSG_ID "#999", "1000: last id");

    /* the glue's refusal ends processing and is passed on */

    reset();
    t.emit_rc = MT_ERR_FULL;
    t.emit_limit = 3;
    env_init(&e, m, "2");
    is_int(run(&e), MT_ERR_FULL, "emit failure is returned");
    is_int(t.nevents, 3, "emit failure: stops there");

    free(m);
}


static void
test_normalize(void)
{
    const char  *body;

    /* the verified half, without any signature fields */

    body = "{\"Type\":\"Notification\",\"MessageId\":\"n-1\","
           "\"TopicArn\":\"arn:aws:sns:eu-west-1:1:t\","
           "\"Timestamp\":\"2025-11-24T16:00:00Z\","
           "\"Message\":\"{\\\"eventType\\\":\\\"Open\\\",\\\"open\\\":{"
           "\\\"ipAddress\\\":\\\"198.51.100.7\\\"},\\\"mail\\\":{"
           "\\\"destination\\\":[\\\"o@x.org\\\"]}}\"}";

    reset();
    memset(&t.wh, 0, sizeof(mt_wh_t));
    t.wh.conf = &conf;
    t.wh.body = (const u_char *) body;
    t.wh.body_len = strlen(body);
    t.wh.now_ms = NOW * 1000;
    t.wh.header = wh_test_header;
    t.wh.alloc.alloc = wh_test_alloc;
    t.wh.alloc.data = &t;
    t.wh.emit = wh_test_emit;
    t.wh.data = &t;

    is_int(mt_ses_normalize(&t.wh), MT_OK, "normalize: accepted");
    is_int(t.nevents, 1, "normalize: one record");
    is_int(t.events[0].type, MT_EV_OPENED, "normalize: opened");
    is_str(t.events[0].ip, "198.51.100.7", "normalize: ip");
    is_str(t.events[0].id, "n-1#0", "normalize: id");
}


/* t/lib/sns-certs.sh, when the tests run from the source tree */

static char *
slurp(const char *dir, const char *name, size_t *len)
{
    FILE   *f;
    char    path[512], *buf;
    size_t  n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    buf = malloc(65536);
    n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);

    *len = n;

    return buf;
}


static void
test_script(void)
{
    BIO         *bio;
    char         dir[] = "/tmp/mt-sns-certs-XXXXXX", cmd[1024], err[256];
    char        *ca, *sns, *rogue, *key;
    void        *k;
    size_t       calen, snslen, roguelen, keylen;
    EVP_PKEY    *signer;
    X509        *cacert;
    X509_STORE  *st;

    if (access("t/lib/sns-certs.sh", R_OK) != 0) {
        ok(1, "# SKIP t/lib/sns-certs.sh not found from here");
        return;
    }

    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp");
        return;
    }

    snprintf(cmd, sizeof(cmd), "sh t/lib/sns-certs.sh %s", dir);
    is_int(system(cmd), 0, "sns-certs.sh runs");

    ca = slurp(dir, "ca.pem", &calen);
    sns = slurp(dir, "sns.pem", &snslen);
    rogue = slurp(dir, "rogue.pem", &roguelen);
    key = slurp(dir, "sns.key", &keylen);

    ok(ca && sns && rogue && key, "sns-certs.sh wrote the files");

    if (ca == NULL || sns == NULL || rogue == NULL || key == NULL) {
        goto done;
    }

    bio = BIO_new_mem_buf(ca, (int) calen);
    cacert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);

    st = X509_STORE_new();
    X509_STORE_add_cert(st, cacert);
    X509_free(cacert);

    k = mt_sns_cert_load((u_char *) sns, snslen, st, 0, err, sizeof(err));
    ok(k != NULL, "sns-certs.sh: sns.pem chains to ca.pem");

    {
        void *r = mt_sns_cert_load((u_char *) rogue, roguelen, st, 0, err,
                                   sizeof(err));
        ok(r == NULL, "sns-certs.sh: rogue.pem does not (%s)", err);
    }

    bio = BIO_new_mem_buf(key, (int) keylen);
    signer = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (k != NULL && signer != NULL) {
        env_t  e;
        char  *m = q(bounce_msg);

        reset();
        t.pkey = k;
        env_init(&e, m, "2");
        e.key = signer;
        is_int(run(&e), MT_OK, "sns-certs.sh: sns.key signs, sns.pem verifies");
        free(m);
    }

    EVP_PKEY_free(signer);
    mt_sns_key_free(k);
    X509_STORE_free(st);

done:

    free(ca);
    free(sns);
    free(rogue);
    free(key);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        diag("cannot remove %s", dir);
    }
}


int
main(void)
{
    char    err[256], *pem;
    size_t  len;

    setup_pki();

    wh_conf(&conf, NULL, MT_SRC_SES, NULL);

    topics[0].data = (u_char *) TOPIC;
    topics[0].len = strlen(TOPIC);

    is_int(conf.tolerance, 2 * 3600, "default tolerance is 2h");

    pem = pem_of(sns_cert, NULL, &len);
    pkey = mt_sns_cert_load((u_char *) pem, len, store, 0, err, sizeof(err));
    free(pem);

    if (pkey == NULL) {
        diag("cannot load the test certificate: %s", err);
        return 1;
    }

    test_cert_load();
    test_cert_url();
    test_subscribe_url();
    test_good();
    test_forged();
    test_encoding();
    test_cert_urls();
    test_topic_time_headers();
    test_confirmations();
    test_tests_and_opaque();
    test_malformed();
    test_events();
    test_tags();
    test_large_and_emit();
    test_normalize();
    test_script();

    wh_free(&t);
    mt_sns_key_free(pkey);
    free_pki();

    return done_testing();
}

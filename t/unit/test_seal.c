
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Sealed spool files (core/mt_seal.c, and their place in
 * core/mt_spool.c): the test vector of docs/spool-format.md byte for
 * byte, the keys an edge refuses, every framing rule a reader applies,
 * a batch sealed and appended, a rolled back attempt, and the cut of a
 * torn last chunk without the key.
 */


#include "mt_tap.h"
#include "mt_seal.h"
#include "mt_spool.h"
#include "mt_base64.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>


/* docs/spool-format.md, "Sealed test vector" */

#define V_PRIV_PEM                                                            \
    "-----BEGIN PRIVATE KEY-----\n"                                           \
    "MC4CAQAwBQYDK2VuBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n"      \
    "-----END PRIVATE KEY-----\n"

#define V_PUB_PEM                                                             \
    "-----BEGIN PUBLIC KEY-----\n"                                            \
    "MCowBQYDK2VuAyEAj0DFrbaPJWJK5bIU6nZ6bslNgp09e14a0bpvPiE4KF8=\n"          \
    "-----END PUBLIC KEY-----\n"

#define V_KID       "eedd883da0a94515"
#define V_EPH       "202122232425262728292a2b2c2d2e2f"                         \
                    "303132333435363738393a3b3c3d3e3f"
#define V_HEADER    "4d545345414c0101eedd883da0a94515358072d6365880d1aeea32"   \
                    "9adf9121383851ed21a28e3b75e965d0d2cd166254"
#define V_KEY       "c86b9583ce08a5e655c2e57ea4396a32caf6831e29cded422a31c9"   \
                    "d2c5f106fe"
#define V_PLAIN0    "87a17601a26964a3652d31a27274cf0000019ab697e800a3737263"   \
                    "a5747261636ba474797065a66f70656e6564a36d6964a66d2d3130"   \
                    "3031a472637074b1616c696365406578616d706c652e636f6d"
#define V_CHUNK0    "000000000000004f0000000000000000b8bae770f3662237c1fd53"   \
                    "162fe74615995e81e97711ae4eb988eadd9d26bf262fe4f78e53ab"   \
                    "5cef9e9ac4a811ae940da4298fb286821fa574daf2b4f626ba4e39"   \
                    "206b70873b296e0fb1716a6b2a67219bf76f3048dbfe1a94b79521"   \
                    "26d351"
#define V_PLAIN1    "88a17601a26964a3652d32a27274cf0000019ab698d260a3737263"   \
                    "a5747261636ba474797065a7636c69636b6564a36d6964a66d2d31"   \
                    "303031a472637074b1616c696365406578616d706c652e636f6da3"   \
                    "75726cb568747470733a2f2f6578616d706c652e636f6d2f61"
#define V_CHUNK1    "000000010000006a0000000000000002bdd6bb8d6c701c7700cbb9"   \
                    "5a21cfaaad99183105f636c7148b1a8964cd4e087b62ef67df2e20"   \
                    "953973a2ee427ae3c14e26b751e0262a9ee7fd108ad6a5de19ff36"   \
                    "815b83ec77f81597896a822c02dbcee8e6143d9b7178ec7350bec7"   \
                    "f7bbed6afad366079a7b8c5df36385fed30fbcec9feb0d7454ecdb"   \
                    "90421d"


static char            dir[256];
static mt_seal_ctx_t   ctx;
static mt_seal_key_t   pub, priv;


static size_t
unhex(u_char *dst, const char *hex)
{
    ssize_t  n;

    n = mt_hex_decode(dst, (const u_char *) hex, strlen(hex));

    if (n < 0) {
        printf("Bail out! bad hex in the test\n");
        exit(2);
    }

    return n;
}


static int
same_hex(const u_char *p, size_t len, const char *hex)
{
    u_char  buf[4096];

    return len == strlen(hex) / 2 && len <= sizeof(buf)
           && unhex(buf, hex) == len && memcmp(buf, p, len) == 0;
}


static char *
path(const char *name)
{
    static char  buf[512];

    snprintf(buf, sizeof(buf), "%s/%s", dir, name);

    return buf;
}


static void
test_keys(void)
{
    char       err[256];
    u_char    *pem;
    long       n;
    BIO       *bio;
    EVP_PKEY  *ec;

    ok(mt_seal_key_parse(&pub, (u_char *) V_PUB_PEM, sizeof(V_PUB_PEM) - 1,
                         0, err, sizeof(err)) == 0, "the vector's public key");
    ok(same_hex(pub.kid, MT_SEAL_KID_LEN, V_KID), "its key id");

    ok(mt_seal_key_parse(&priv, (u_char *) V_PRIV_PEM,
                         sizeof(V_PRIV_PEM) - 1, 1, err, sizeof(err)) == 0,
       "the vector's private key, for a reader");
    ok(memcmp(priv.pub, pub.pub, MT_SEAL_KEY_LEN) == 0
       && memcmp(priv.kid, pub.kid, MT_SEAL_KID_LEN) == 0,
       "the same key id from its private half");

    /* what an edge refuses */

    mt_seal_key_free(&pub);

    ok(mt_seal_key_parse(&pub, (u_char *) V_PRIV_PEM,
                         sizeof(V_PRIV_PEM) - 1, 0, err, sizeof(err)) != 0
       && strstr(err, "private key") != NULL,
       "a private key where the public one goes: %s", err);

    ok(mt_seal_key_parse(&pub, (u_char *) "hello", 5, 0, err, sizeof(err))
       != 0 && strstr(err, "no PEM public key") != NULL,
       "not PEM: %s", err);

    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    bio = BIO_new(BIO_s_mem());

    if (ec == NULL || bio == NULL || PEM_write_bio_PUBKEY(bio, ec) != 1) {
        printf("Bail out! no P-256 key\n");
        exit(2);
    }

    n = BIO_get_mem_data(bio, (char **) &pem);

    ok(mt_seal_key_parse(&pub, pem, n, 0, err, sizeof(err)) != 0
       && strstr(err, "not an X25519 key") != NULL,
       "a P-256 public key: %s", err);

    BIO_free(bio);
    EVP_PKEY_free(ec);

    ok(mt_seal_key_parse(&pub, (u_char *) V_PUB_PEM, sizeof(V_PUB_PEM) - 1,
                         0, err, sizeof(err)) == 0, "the public key again");
}


static void
test_vector(void)
{
    size_t          n0, n1;
    u_char          eph[MT_SEAL_KEY_LEN];
    u_char          buf0[MT_SEAL_CHUNK_HDR_LEN + 256 + MT_SEAL_TAG_LEN];
    u_char          buf1[MT_SEAL_CHUNK_HDR_LEN + 256 + MT_SEAL_TAG_LEN];
    u_char          copy[sizeof(buf0)];
    u_char         *d0, *d1;
    unsigned        i, flips, refused;
    mt_seal_file_t  f, r;
    mt_seal_chunk_t ch;

    unhex(eph, V_EPH);

    ok(mt_seal_file_new(&ctx, &pub, eph, &f) == 0, "a file, ephemeral key "
       "fixed");
    ok(same_hex(f.header, MT_SEAL_HEADER_LEN, V_HEADER), "header");
    ok(same_hex(f.key, MT_SEAL_KEY_LEN, V_KEY), "file key (HKDF-SHA256)");

    d0 = buf0 + MT_SEAL_CHUNK_HDR_LEN;
    d1 = buf1 + MT_SEAL_CHUNK_HDR_LEN;
    n0 = unhex(d0, V_PLAIN0);
    n1 = unhex(d1, V_PLAIN1);

    ok(mt_seal_chunk(&ctx, &f, 0, 0, d0, n0) == 0, "chunk 0 sealed");
    ok(same_hex(buf0, n0 + MT_SEAL_CHUNK_OVERHEAD, V_CHUNK0),
       "chunk 0, counter 0, byte for byte");

    /* counter 1 went to an attempt that was rolled back */

    ok(mt_seal_chunk(&ctx, &f, 1, 2, d1, n1) == 0, "chunk 1 sealed");
    ok(same_hex(buf1, n1 + MT_SEAL_CHUNK_OVERHEAD, V_CHUNK1),
       "chunk 1, counter 2, byte for byte");

    /* the reader's side */

    ok(mt_seal_header_check(f.header, MT_SEAL_HEADER_LEN) == 0,
       "a header this code reads");
    ok(mt_seal_header_check((u_char *) "\x85\xa1v\x01", 4) == -1,
       "a plain spool file is not sealed");
    f.header[6] = 2;
    ok(mt_seal_header_check(f.header, MT_SEAL_HEADER_LEN) == 1,
       "another version: sealed, not readable here");
    f.header[6] = MT_SEAL_VERSION;

    ok(mt_seal_file_open(&ctx, &pub, f.header, &r) != 0,
       "a public key opens nothing");
    ok(mt_seal_file_open(&ctx, &priv, f.header, &r) == 0
       && memcmp(r.key, f.key, MT_SEAL_KEY_LEN) == 0,
       "the private key gives the file key");

    memcpy(copy, buf0, sizeof(buf0));

    mt_seal_chunk_header(buf0, &ch);
    ok(ch.index == 0 && ch.len == n0 && ch.counter == 0, "chunk 0 header");
    is_int(mt_seal_chunk_check(&ch, 0, 0), MT_SEAL_OK, "chunk 0 in place");
    is_int(mt_seal_chunk_open(&ctx, &r, buf0, d0, n0, d0 + n0), MT_SEAL_OK,
           "chunk 0 opens");
    ok(same_hex(d0, n0, V_PLAIN0), "to its records");

    mt_seal_chunk_header(buf1, &ch);
    is_int(mt_seal_chunk_check(&ch, 1, 1), MT_SEAL_OK,
           "chunk 1 in place, a counter above chunk 0's");
    is_int(mt_seal_chunk_check(&ch, 0, 0), MT_SEAL_BAD_INDEX,
           "chunk 1 where chunk 0 belongs: out of place");
    is_int(mt_seal_chunk_check(&ch, 1, 3), MT_SEAL_BAD_COUNTER,
           "a counter below the one before");
    ch.len = 0;
    is_int(mt_seal_chunk_check(&ch, 1, 1), MT_SEAL_BAD_LENGTH, "no length");
    ch.len = MT_SEAL_CHUNK_MAX + 1;
    is_int(mt_seal_chunk_check(&ch, 1, 1), MT_SEAL_BAD_LENGTH,
           "a length over the largest");

    /* every byte of chunk 0, header, ciphertext and tag, is authenticated */

    refused = 0;
    flips = n0 + MT_SEAL_CHUNK_OVERHEAD;

    for (i = 0; i < flips; i++) {
        memcpy(buf0, copy, sizeof(buf0));
        buf0[i] ^= 0x40;

        if (mt_seal_chunk_open(&ctx, &r, buf0, d0, n0, d0 + n0)
            == MT_SEAL_AUTH)
        {
            refused++;
        }
    }

    is_int(refused, flips, "a flipped bit anywhere in the chunk fails it");

    memcpy(buf0, copy, sizeof(buf0));
    buf0[11] = 2;  /* its counter: the nonce of another chunk */
    is_int(mt_seal_chunk_open(&ctx, &r, buf0, d0, n0, d0 + n0), MT_SEAL_AUTH,
           "chunk 0 with chunk 1's counter fails");

    memcpy(buf0, copy, sizeof(buf0));
    r.key[0] ^= 1;
    is_int(mt_seal_chunk_open(&ctx, &r, buf0, d0, n0, d0 + n0), MT_SEAL_AUTH,
           "another file's key fails");
}


static void
flush_init(mt_spool_flush_t *f, mt_spool_crypt_t *c, const char *name,
    u_char *data, size_t len)
{
    memset(f, 0, sizeof(*f));

    f->dir = dir;
    f->path = path(name);
    f->data = data;
    f->len = len;
    f->fd = -1;
    f->crypt = c;
    f->mode = 0600;
}


/* a record {"x": <n bytes>} in a buffer with room to seal it in place */

static u_char *
batch(u_char *buf, size_t n, u_char fill, size_t *len)
{
    u_char  *p;

    p = buf + MT_SEAL_HEADROOM;

    p[0] = 0x81;
    p[1] = 0xa1;
    p[2] = 'x';
    p[3] = 0xda;
    p[4] = (u_char) (n >> 8);
    p[5] = (u_char) n;
    memset(p + 6, fill, n);

    *len = n + 6;

    return p;
}


static void
test_flush(void)
{
    int               fd;
    off_t             good, size;
    u_char           *d;
    size_t            n1, n2;
    struct stat       st;
    struct rlimit     rl, old;
    mt_spool_crypt_t  c;
    mt_spool_flush_t  f;
    u_char            buf[MT_SEAL_HEADROOM + 3000 + MT_SEAL_TAILROOM];
    u_char            raw[MT_SEAL_HEADER_LEN + 2 * MT_SEAL_CHUNK_HDR_LEN];

    memset(&c, 0, sizeof(c));
    memset(buf, 0, sizeof(buf));
    c.ctx = &ctx;
    c.key = &pub;

    d = batch(buf, 100, 'a', &n1);
    flush_init(&f, &c, "h-1-9-1.part", d, n1);
    f.create = 1;
    c.counter = 0;
    mt_spool_flush(&f);

    ok(f.err == 0 && f.written, "a sealed part created");
    is_int(f.size, MT_SEAL_HEADER_LEN + MT_SEAL_CHUNK_OVERHEAD + n1,
           "header, chunk header, records, tag");
    ok(c.file.chunks == 1 && c.file.counter == 1,
       "one chunk; the next counter is 1");
    ok(fstat(f.fd, &st) == 0 && (st.st_mode & 0777) == 0600,
       "created 0600");
    ok(memmem(buf, sizeof(buf), "aaaaaaaa", 8) == NULL,
       "the records were sealed in place");

    fd = f.fd;
    size = f.size;

    /* a full disk: the attempt is cut off, its counter is spent */

    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    rl = old;
    rl.rlim_cur = size + 100;
    setrlimit(RLIMIT_FSIZE, &rl);

    d = batch(buf, 2000, 'b', &n2);
    flush_init(&f, &c, "h-1-9-1.part", d, n2);
    f.fd = fd;
    f.committed = size;
    c.counter = 1;
    mt_spool_flush(&f);

    ok(!f.written && f.nospace, "no room for the chunk: not written");
    is_int(c.file.chunks, 1, "still one chunk");

    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);

    d = batch(buf, 50, 'c', &n2);
    flush_init(&f, &c, "h-1-9-1.part", d, n2);
    f.fd = fd;
    f.committed = size;
    c.counter = 2;
    mt_spool_flush(&f);

    ok(f.err == 0 && f.written, "a smaller batch, a new counter");
    ok(c.file.chunks == 2 && c.file.counter == 3, "two chunks, next 3");

    close(fd);

    /* the writer's descriptor is write-only */

    fd = open(path("h-1-9-1.part"), O_RDWR | O_APPEND);
    ok(pread(fd, raw, sizeof(raw), 0) == (ssize_t) sizeof(raw), "read");
    ok(raw[MT_SEAL_HEADER_LEN + 3] == 0 && raw[MT_SEAL_HEADER_LEN + 15] == 0,
       "chunk 0: index 0, counter 0");

    size = f.size;

    ok(pread(fd, raw, MT_SEAL_CHUNK_HDR_LEN,
             size - n2 - MT_SEAL_CHUNK_OVERHEAD) == MT_SEAL_CHUNK_HDR_LEN
       && raw[3] == 1 && raw[15] == 2,
       "chunk 1: index 1, counter 2 (1 went to the failed attempt)");

    /* a dead writer's torn chunk: the framing alone finds the end */

    if (write(fd, "\0\0\0\2\0\0\1\0\0\0\0\0\0\0\0\3xyz", 19) != 19) {
        exit(2);
    }

    ok(mt_spool_whole(fd, size + 19, &good) == 0 && good == size,
       "a torn last chunk is cut, the whole ones kept");

    ok(mt_spool_whole(fd, size - 1, &good) == 0
       && good == MT_SEAL_HEADER_LEN + MT_SEAL_CHUNK_OVERHEAD + (off_t) n1,
       "a chunk one byte short: the chunks before it");

    ok(mt_spool_whole(fd, MT_SEAL_HEADER_LEN + 10, &good) == 0 && good == 0,
       "the header and part of a chunk: nothing whole");

    ok(mt_spool_whole(fd, 20, &good) == 0 && good == 0,
       "torn inside the header: nothing whole");

    close(fd);
    unlink(path("h-1-9-1.part"));
}


int
main(void)
{
    snprintf(dir, sizeof(dir), "%s/mt-seal-test.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }

    if (mt_seal_ctx_init(&ctx) != 0) {
        printf("Bail out! no AES-256-GCM or HKDF\n");
        return 2;
    }

    test_keys();
    test_vector();
    test_flush();

    mt_seal_key_free(&pub);
    mt_seal_key_free(&priv);
    mt_seal_ctx_free(&ctx);

    rmdir(dir);

    return done_testing();
}

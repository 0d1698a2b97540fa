
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * keygen --seal: the X25519 key pair of sealed spool files.  The public
 * key goes to the edges (mail_track_spool ... seal=FILE), the private
 * key only to where files are read (--seal-key).
 */


#include "mt_tool.h"
#include "mt_seal.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>


static int mt_tool_write_new(const char *path, const u_char *data,
    size_t len, mode_t mode);


int
mt_tool_keygen_seal(const char *priv, const char *pub)
{
    int           rc;
    u_char       *priv_pem, *pub_pem;
    size_t        priv_len, pub_len;
    struct stat   st;

    /* a replaced key would leave the files sealed for it unreadable */

    if (lstat(priv, &st) == 0 || lstat(pub, &st) == 0) {
        mt_tool_error("%s exists; a seal key is never replaced: the files "
                      "sealed for it could not be read any more",
                      lstat(priv, &st) == 0 ? priv : pub);
        return MT_TOOL_ERROR;
    }

    if (mt_seal_keygen(&priv_pem, &priv_len, &pub_pem, &pub_len) != 0) {
        mt_tool_error("X25519 key generation failed");
        return MT_TOOL_ERROR;
    }

    rc = MT_TOOL_OK;

    if (mt_tool_write_new(priv, priv_pem, priv_len, 0600) != 0) {
        rc = MT_TOOL_ERROR;

    } else if (mt_tool_write_new(pub, pub_pem, pub_len, 0644) != 0) {
        (void) unlink(priv);
        rc = MT_TOOL_ERROR;
    }

    OPENSSL_cleanse(priv_pem, priv_len);
    free(priv_pem);
    free(pub_pem);

    return rc;
}


static int
mt_tool_write_new(const char *path, const u_char *data, size_t len,
    mode_t mode)
{
    int      fd;
    size_t   done;
    ssize_t  n;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd == -1) {
        mt_tool_error("%s: %s", path, strerror(errno));
        return -1;
    }

    /* the umask may have taken bits; a private key's must not be more */

    if (fchmod(fd, mode) == -1) {
        mt_tool_error("%s: fchmod(): %s", path, strerror(errno));
        goto failed;
    }

    for (done = 0; done < len; done += n) {
        n = write(fd, data + done, len - done);

        if (n == -1 && errno == EINTR) {
            n = 0;
            continue;
        }

        if (n == -1) {
            mt_tool_error("%s: write(): %s", path, strerror(errno));
            goto failed;
        }
    }

    if (fsync(fd) == -1) {
        mt_tool_error("%s: fsync(): %s", path, strerror(errno));
        goto failed;
    }

    if (close(fd) == -1) {
        mt_tool_error("%s: close(): %s", path, strerror(errno));
        (void) unlink(path);
        return -1;
    }

    return 0;

failed:

    (void) close(fd);
    (void) unlink(path);

    return -1;
}

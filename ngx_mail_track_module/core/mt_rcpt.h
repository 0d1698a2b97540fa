
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _MT_RCPT_H_INCLUDED_
#define _MT_RCPT_H_INCLUDED_


#include "mt_core.h"


/* the longest recipient a record holds (docs/spool-format.md) */
#define MT_RCPT_ADDR_MAX        512

/* a hashed recipient: HMAC-SHA256 of the normalized address, in hex */
#define MT_RCPT_KEY_LEN         32
#define MT_RCPT_HASH_HEX        64


/*
 * The one form of a recipient address that suppressions, lookups and
 * hashes use: surrounding white space and a display name ("Name <a@b>")
 * dropped, ASCII letters lowercased (the local part too: every large
 * mailbox provider treats it without case, and a suppression must not
 * miss "Alice@" for "alice@").  dst has room for len bytes; the result
 * is never longer.  The domain is what follows the last '@' (empty when
 * there is none).
 */
size_t mt_rcpt_normalize(u_char *dst, const u_char *src, size_t len);
void mt_rcpt_domain(const u_char *addr, size_t len, mt_str_t *domain);

/*
 * Whether a normalized address looks like one: a local part, an '@', a
 * domain with a dot or an address literal, no white space or control
 * characters, valid UTF-8, at most MT_RCPT_ADDR_MAX bytes.  Loose on
 * purpose: whatever a provider reported is stored as it came; this
 * only refuses what cannot name a mailbox.
 */
int mt_rcpt_is_address(const u_char *addr, size_t len);

/* MT_RCPT_HASH_HEX lowercase hex digits: a hashed recipient */
int mt_rcpt_is_hash(const u_char *p, size_t len);

/*
 * A hash key file's text ("keygen --hash", mail_track_rcpt_key): the one
 * line that is not blank or a "#" comment, base64 of MT_RCPT_KEY_LEN
 * bytes.  0 or -1.
 */
int mt_rcpt_key_parse(const u_char *text, size_t len, u_char *key);

/*
 * HMAC-SHA256(key, normalized address) as MT_RCPT_HASH_HEX lowercase
 * hex digits (and a NUL): what a record, a suppression or an erased
 * address carries instead of the address.  The whole 32 bytes are kept:
 * the value is a lookup key for every recipient ever seen, and a
 * shorter one would let two addresses meet.  The address is normalized
 * here (normalizing a normalized address changes nothing); one that
 * is longer than MT_RCPT_NORM_MAX bytes is not one.  -1 on failure.
 *
 * The one implementation for the module, "mail-track hash", the loader,
 * "suppressions" and "forget": a hasher keys the HMAC once for many
 * addresses (the module, per event); mt_rcpt_hash() is one address.
 */
#define MT_RCPT_NORM_MAX        1024

typedef struct {
    void                       *mac;      /* EVP_MAC_CTX * */
} mt_rcpt_hasher_t;

int mt_rcpt_hasher_init(mt_rcpt_hasher_t *h, const u_char *key,
    size_t keylen);
void mt_rcpt_hasher_free(mt_rcpt_hasher_t *h);
int mt_rcpt_hasher_hash(mt_rcpt_hasher_t *h, const u_char *addr,
    size_t len, u_char *hex);
int mt_rcpt_hash(const u_char *key, size_t keylen, const u_char *addr,
    size_t len, u_char *hex);

#endif /* _MT_RCPT_H_INCLUDED_ */


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Data minimisation (docs/privacy.md): what an event keeps of the
 * recipient, the user agent, the clicked URL and a provider's client
 * address, applied to every source before the record is written and
 * before the zone's message status sees it.
 */


#ifndef _MT_PRIVACY_H_INCLUDED_
#define _MT_PRIVACY_H_INCLUDED_


#include "mt_core.h"
#include "mt_event.h"
#include "mt_rcpt.h"


#define MT_PRIV_FULL            0
#define MT_PRIV_HASH            1      /* rcpt */
#define MT_PRIV_CLASS           1      /* ua */
#define MT_PRIV_HOST            1      /* url */
#define MT_PRIV_TRUNCATE        1      /* ip */
#define MT_PRIV_OFF             2

/* what stands for the recipient in a reason with rcpt off */
#define MT_PRIV_RCPT_GONE       "(recipient)"

#define MT_PRIV_REASON_MAX      4096
#define MT_PRIV_URL_MAX         512


typedef struct {
    unsigned                    rcpt:2;
    unsigned                    ua:2;
    unsigned                    url:2;
    unsigned                    ip:2;     /* addresses providers report */
    mt_rcpt_hasher_t           *hasher;   /* rcpt hash */
} mt_privacy_t;


/* where the minimised values live until the record is written */
typedef struct {
    u_char                      rcpt[MT_RCPT_HASH_HEX + 1];
    u_char                      ip[64];
    u_char                      url[MT_PRIV_URL_MAX];
    u_char                      reason[MT_PRIV_REASON_MAX];
} mt_privacy_buf_t;


/*
 * MT_OK, or MT_ERR_INTERNAL when the recipient could not be hashed: the
 * event must then not be written (it would carry the address).
 */
mt_rc_t mt_privacy_apply(const mt_privacy_t *p, mt_event_t *ev,
    mt_privacy_buf_t *b);

size_t mt_privacy_url_host(u_char *dst, size_t size, const u_char *url,
    size_t len);
size_t mt_privacy_ip_truncate(u_char *dst, size_t size, const u_char *ip,
    size_t len);


#endif /* _MT_PRIVACY_H_INCLUDED_ */

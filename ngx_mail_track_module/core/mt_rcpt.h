
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _MT_RCPT_H_INCLUDED_
#define _MT_RCPT_H_INCLUDED_


#include "mt_core.h"


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


#endif /* _MT_RCPT_H_INCLUDED_ */

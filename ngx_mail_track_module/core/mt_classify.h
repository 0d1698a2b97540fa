
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _MT_CLASSIFY_H_INCLUDED_
#define _MT_CLASSIFY_H_INCLUDED_


#include "mt_core.h"
#include "mt_event.h"


#define MT_CLASSIFY_HEAD      0x01     /* a HEAD request */
#define MT_CLASSIFY_PREFETCH  0x02     /* Purpose/Sec-Purpose: prefetch */


/*
 * Judges an open or a click on the edge, while the address and the user
 * agent are still at hand: sets ev->machine and ev->why.  ip is the full
 * client address as text (before mail_track_ip truncation).
 */
void mt_classify(mt_event_t *ev, mt_str_t *ip, mt_str_t *ua,
    unsigned flags);

/* 1 when user agents are prefiltered by the vector step (the tests) */
int mt_classify_prefilter(void);

/*
 * The family of a user agent, a short name ("chrome", "apple_mail",
 * "outlook", ...; "other"): what mail_track_ua class keeps of it.
 */
const char *mt_ua_family(const u_char *ua, size_t len);


#endif /* _MT_CLASSIFY_H_INCLUDED_ */

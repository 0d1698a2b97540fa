
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * A message's state, built from its events: the one definition of the
 * rules behind the status API (the zone) and the mail_messages table
 * (mail-track load).  docs/status.md states the rules.
 *
 * The result depends only on the set of events, never on their order:
 * times are minima or maxima, the state is the highest rank, ties are
 * broken by the bytes.  Counts add, so apply each event once (by id).
 *
 * Nothing here allocates.  The caller owns the strings: apply and merge
 * point s->rcpt or s->url at the new bytes and return MT_MSGSTATE_RCPT
 * or MT_MSGSTATE_URL, and the caller copies them into its own storage.
 *
 * A database row holds every field of mt_msgstate_t (integers; state
 * and bounce may be stored as their names, see mt_msgstate_state_name()
 * and mt_bounce_names) and the three strings of mt_msgstate_str_t, the
 * message id being the key.  A state read back from such a row goes on
 * exactly as if it had never left memory.
 */


#ifndef _MT_MSGSTATE_H_INCLUDED_
#define _MT_MSGSTATE_H_INCLUDED_


#include "mt_core.h"
#include "mt_event.h"


/* bytes kept, cut at a character boundary; the id as the record has it */
#define MT_MSGSTATE_MID_MAX     512
#define MT_MSGSTATE_RCPT_MAX    255
#define MT_MSGSTATE_URL_MAX     2048

/*
 * The bits of "sources": a built-in provider's mt_src_e, or from
 * MT_SRC_GENERIC on, a generic provider's slot in the caller's numbering
 * (mt_msgstate_str_t gives their names to mt_msgstate_json()).
 */
#define MT_MSGSTATE_SOURCES     32
#define MT_MSGSTATE_NAME_MAX    32

/* what the caller must store after apply or merge */
#define MT_MSGSTATE_RCPT        0x01
#define MT_MSGSTATE_URL         0x02


typedef struct {
    int64_t           sent_at;         /* ms since epoch, 0: unknown */
    int64_t           delivered_at;
    int64_t           bounced_at;      /* of the bounce shown */
    int64_t           complained_at;
    int64_t           unsubscribed_at;
    int64_t           opens_first;
    int64_t           opens_last;
    int64_t           clicks_first;
    int64_t           clicks_last;
    int64_t           url_at;          /* of the click whose url is shown */
    uint32_t          opens;
    uint32_t          opens_machine;
    uint32_t          clicks;
    uint32_t          clicks_machine;
    uint32_t          sources;         /* 1 << source */
    uint8_t           state;           /* mt_event_type_e + 1, 0: none */
    uint8_t           bounce;          /* mt_bounce_e of the bounce shown */
} mt_msgstate_t;


/* the strings of a state, in the caller's storage */
typedef struct {
    mt_str_t          mid;
    mt_str_t          rcpt;            /* "": unknown */
    mt_str_t          url;             /* "": no click with a url */

    /* the names of the generic sources by slot; none: "generic" */
    const mt_str_t   *generic;
    size_t            ngeneric;
} mt_msgstate_str_t;


void mt_msgstate_init(mt_msgstate_t *st, mt_msgstate_str_t *s);

/* the message id an event counts for (cut as the record cuts it); "": none */
void mt_msgstate_key(const mt_event_t *ev, mt_str_t *mid);

/* one event as a state of its own (its strings point into the event) */
void mt_msgstate_event(mt_msgstate_t *one, mt_msgstate_str_t *s,
    const mt_event_t *ev);

/* the same as merging mt_msgstate_event()'s state in, only faster */
unsigned mt_msgstate_apply(mt_msgstate_t *st, mt_msgstate_str_t *s,
    const mt_event_t *ev);

/* folds the state of other events in; merge(a, b) == merge(b, a) */
unsigned mt_msgstate_merge(mt_msgstate_t *st, mt_msgstate_str_t *s,
    const mt_msgstate_t *from, const mt_msgstate_str_t *from_s);

/*
 * The orders merge keeps, for a database that merges states with max():
 * of two states the one of the higher rank names the state; of two
 * bounces at the same time, the one of the higher rank is shown.
 */
unsigned mt_msgstate_order(unsigned state);
unsigned mt_msgstate_bounce_order(unsigned bounce);

/* "sent", "deferred", ...; NULL while no delivery event is known */
const char *mt_msgstate_state_name(const mt_msgstate_t *st);

/*
 * DESIGN.md's status object, without a trailing newline: the status API
 * and "mail-track status" print it followed by "\n".  The buffer must
 * hold mt_msgstate_json_size() bytes.
 */
size_t mt_msgstate_json_size(const mt_msgstate_str_t *s);
u_char *mt_msgstate_json(u_char *p, const mt_msgstate_t *st,
    const mt_msgstate_str_t *s);


#endif /* _MT_MSGSTATE_H_INCLUDED_ */

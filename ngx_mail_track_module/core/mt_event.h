
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _MT_EVENT_H_INCLUDED_
#define _MT_EVENT_H_INCLUDED_


#include "mt_core.h"


#define MT_RECORD_VERSION     1

/* no encoded record is longer: every string field is capped */
#define MT_RECORD_MAX         16384


typedef enum {
    MT_EV_SENT = 0,
    MT_EV_DELIVERED,
    MT_EV_DEFERRED,
    MT_EV_BOUNCED,
    MT_EV_REJECTED,
    MT_EV_OPENED,
    MT_EV_CLICKED,
    MT_EV_COMPLAINED,
    MT_EV_UNSUBSCRIBED,
    MT_EV_OTHER,
    MT_EV_MAX
} mt_event_type_e;


typedef enum {
    MT_BOUNCE_NONE = 0,
    MT_BOUNCE_HARD,
    MT_BOUNCE_SOFT,
    MT_BOUNCE_BLOCK,
    MT_BOUNCE_UNDETERMINED,
    MT_BOUNCE_MAX
} mt_bounce_e;


typedef enum {
    MT_SRC_TRACK = 0,
    MT_SRC_SENDGRID,
    MT_SRC_MAILGUN,
    MT_SRC_SES,
    MT_SRC_POSTMARK,
    MT_SRC_SPARKPOST,
    MT_SRC_MANDRILL,
    MT_SRC_MAILJET,
    MT_SRC_BREVO,
    MT_SRC_RESEND,
    MT_SRC_GENERIC,
    MT_SRC_MAX
} mt_src_e;


#define MT_MACHINE_UNKNOWN    -1


/*
 * One normalized event.  Empty strings, ts == 0, smtp_code == 0 and
 * machine == MT_MACHINE_UNKNOWN mean "unknown" and are left out.
 */
typedef struct {
    mt_str_t          id;
    int64_t           ts;
    int64_t           rt;
    mt_src_e          src;
    mt_str_t          src_name;    /* generic: the configured name */
    mt_event_type_e   type;
    mt_str_t          esp_type;
    mt_str_t          mid;
    mt_str_t          esp_mid;
    mt_str_t          rcpt;
    mt_bounce_e       bounce;
    mt_str_t          smtp_status;
    int               smtp_code;
    mt_str_t          reason;
    mt_str_t          url;
    mt_str_t          ip;
    mt_str_t          ua;
    int               machine;
    mt_str_t          why;
    mt_str_t          tag;
} mt_event_t;


extern const char  *mt_event_type_names[MT_EV_MAX];
extern const char  *mt_bounce_names[MT_BOUNCE_MAX];
extern const char  *mt_src_names[MT_SRC_MAX];


void mt_event_init(mt_event_t *ev);

/* returns the record length, or -1 if it does not fit */
ssize_t mt_event_encode(const mt_event_t *ev, u_char *buf, size_t size);

int mt_event_type_by_name(const u_char *name, size_t len);
int mt_src_by_name(const u_char *name, size_t len);


#endif /* _MT_EVENT_H_INCLUDED_ */

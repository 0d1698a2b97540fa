
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * Amazon SNS HTTP/S deliveries: the envelope and what the SNS files
 * (mt_sns.c, mt_sns_url.c, mt_sns_cert.c) give the SES event mapping.
 */


#ifndef _MT_SNS_H_INCLUDED_
#define _MT_SNS_H_INCLUDED_


#include "mt_webhook.h"


typedef enum {
    MT_SNS_NOTIFICATION = 0,
    MT_SNS_SUBSCRIBE,
    MT_SNS_UNSUBSCRIBE
} mt_sns_type_e;


/* the envelope's fields point into the parsed body */
typedef struct {
    mt_sns_type_e       type;
    mt_str_t            type_name;
    mt_str_t            message_id;
    mt_str_t            topic_arn;
    mt_str_t            subject;
    mt_str_t            message;
    mt_str_t            timestamp;
    mt_str_t            version;
    mt_str_t            signature;
    mt_str_t            cert_url;
    mt_str_t            subscribe_url;
    mt_str_t            token;
    int64_t             ts;
    unsigned            has_subject:1;
} mt_sns_msg_t;


/* the content type, the envelope, its headers, topic and signature */
mt_rc_t mt_sns_receive(mt_wh_t *wh, mt_sns_msg_t *msg);

/* the envelope alone (verified elsewhere) */
mt_rc_t mt_sns_parse(mt_wh_t *wh, mt_sns_msg_t *msg);

/* a Subscription or Unsubscribe confirmation, recorded as "other" */
mt_rc_t mt_sns_confirmation(mt_wh_t *wh, mt_sns_msg_t *msg);


#endif /* _MT_SNS_H_INCLUDED_ */


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * application/x-www-form-urlencoded bodies and query strings.
 */


#ifndef _MT_FORM_H_INCLUDED_
#define _MT_FORM_H_INCLUDED_


#include "mt_core.h"


typedef struct {
    mt_str_t            key;
    mt_str_t            value;
    size_t              index;       /* order in the body: a stable sort */
} mt_form_param_t;


/*
 * Every "name=value" pair of p, decoded ("+" is a space, %XX a byte),
 * into memory from a; a repeated name is kept every time.
 */
mt_rc_t mt_form_parse(mt_alloc_t *a, const u_char *p, size_t len,
    mt_form_param_t **params, size_t *nparams);
size_t mt_form_unescape(u_char *dst, const u_char *src, size_t len);

/* the value of name and how often it came (0: absent) */
mt_str_t mt_form_get(mt_form_param_t *params, size_t nparams,
    const u_char *name, size_t len, unsigned *count);


#endif /* _MT_FORM_H_INCLUDED_ */


/*
 * Copyright (C) ngx_mail_track_module authors
 */


#ifndef _NGX_HTTP_MAIL_TRACK_GENERIC_H_INCLUDED_
#define _NGX_HTTP_MAIL_TRACK_GENERIC_H_INCLUDED_


#include "ngx_http_mail_track_module.h"


char *ngx_http_mail_track_generic(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_mail_track_generic_merge(ngx_conf_t *cf,
    ngx_http_mail_track_loc_conf_t *conf);


#endif /* _NGX_HTTP_MAIL_TRACK_GENERIC_H_INCLUDED_ */


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The one definition of the version: the module logs it at start and
 * exports it in its metrics, the tool prints it; debian/changelog and
 * docs/changelog.md carry the same (t/007-version.t checks them).
 */


#ifndef _MT_VERSION_H_INCLUDED_
#define _MT_VERSION_H_INCLUDED_


#define MT_VERSION              "0.1.0"


#endif /* _MT_VERSION_H_INCLUDED_ */

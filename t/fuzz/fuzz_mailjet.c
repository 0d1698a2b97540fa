
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target for Mailjet (see fuzz_unsigned.h).
 */


#define FUZZ_SRC        MT_SRC_MAILJET
#define FUZZ_NORMALIZE  mt_mailjet_normalize

#include "fuzz_unsigned.h"

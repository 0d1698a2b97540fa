
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target for Postmark (see fuzz_unsigned.h).
 */


#define FUZZ_SRC        MT_SRC_POSTMARK
#define FUZZ_NORMALIZE  mt_postmark_normalize

#include "fuzz_unsigned.h"

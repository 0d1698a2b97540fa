
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target for SparkPost (see fuzz_unsigned.h).
 */


#define FUZZ_SRC        MT_SRC_SPARKPOST
#define FUZZ_NORMALIZE  mt_sparkpost_normalize

#include "fuzz_unsigned.h"


/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * libFuzzer target for Brevo (see fuzz_unsigned.h).
 */


#define FUZZ_SRC        MT_SRC_BREVO
#define FUZZ_NORMALIZE  mt_brevo_normalize

#include "fuzz_unsigned.h"

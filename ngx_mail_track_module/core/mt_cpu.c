
/*
 * Copyright (C) ngx_mail_track_module authors
 */


#include "mt_cpu.h"


static unsigned  mt_cpu_have;
static unsigned  mt_cpu_allowed = ~0u;
static int       mt_cpu_ready;


unsigned
mt_cpu_features(void)
{
    if (!mt_cpu_ready) {
#if (MT_HAVE_AVX2)
        __builtin_cpu_init();

        if (__builtin_cpu_supports("avx2")) {
            mt_cpu_have |= MT_CPU_AVX2;
        }
#endif

        mt_cpu_ready = 1;
    }

    return mt_cpu_have & mt_cpu_allowed;
}


void
mt_cpu_limit(unsigned mask)
{
    mt_cpu_allowed = mask;
}

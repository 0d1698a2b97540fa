
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * What the CPU offers, checked once at run time: the hot paths keep a
 * plain C version next to each vector one and choose per call.
 */


#ifndef _MT_CPU_H_INCLUDED_
#define _MT_CPU_H_INCLUDED_


#include "mt_core.h"


#if (defined(__x86_64__) && defined(__GNUC__))
#define MT_HAVE_AVX2           1
#define MT_TARGET_AVX2         __attribute__((target("avx2")))
#else
#define MT_HAVE_AVX2           0
#endif

#define MT_CPU_AVX2            0x01


unsigned mt_cpu_features(void);

/* for the tests: use only the features in mask (0: the plain C paths) */
void mt_cpu_limit(unsigned mask);


#endif /* _MT_CPU_H_INCLUDED_ */

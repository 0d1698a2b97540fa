
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * A few TAP helpers for the C unit tests of core/: prove runs them.
 */


#ifndef _MT_TAP_H_INCLUDED_
#define _MT_TAP_H_INCLUDED_


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_core.h"
#include "mt_event.h"


static int  tap_count;
static int  tap_failed;


static inline int
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list  ap;

    tap_count++;

    printf("%s %d - ", cond ? "ok" : "not ok", tap_count);

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);

    printf("\n");

    if (!cond) {
        tap_failed++;
        printf("#   Failed test at %s line %d\n", file, line);
    }

    fflush(stdout);

    return cond;
}


/* xorshift64: repeatable pseudo-random numbers for generated cases */

static inline uint64_t
tap_rand(uint64_t *seed)
{
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;

    return *seed;
}


#define ok(cond, ...)  tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                                \
    do {                                                                      \
        long long  g_ = (long long) (got), w_ = (long long) (want);           \
        if (!tap_ok(g_ == w_, __FILE__, __LINE__, __VA_ARGS__)) {             \
            printf("#          got: %lld\n#     expected: %lld\n", g_, w_);   \
        }                                                                     \
    } while (0)

#define is_str(got, want, ...)                                                \
    do {                                                                      \
        mt_str_t     g_ = (got);                                              \
        const char  *w_ = (want);                                             \
        int          c_ = (w_ == NULL) ? g_.len == 0                          \
                          : g_.len == strlen(w_)                              \
                            && memcmp(g_.data, w_, g_.len) == 0;              \
        if (!tap_ok(c_, __FILE__, __LINE__, __VA_ARGS__)) {                   \
            printf("#          got: '%.*s'\n#     expected: '%s'\n",          \
                   (int) g_.len, g_.data ? (char *) g_.data : "",             \
                   w_ ? w_ : "(absent)");                                     \
        }                                                                     \
    } while (0)

/* an event's normalized type and bounce class */

#define is_mapped(ev, want_type, want_bounce, ...)                            \
    do {                                                                      \
        const mt_event_t  *e_ = (ev);                                         \
        mt_event_type_e    t_ = (mt_event_type_e) (want_type);                \
        mt_bounce_e        b_ = (mt_bounce_e) (want_bounce);                  \
        if (!tap_ok(e_->type == t_ && e_->bounce == b_,                       \
                    __FILE__, __LINE__, __VA_ARGS__))                         \
        {                                                                     \
            printf("#          got: %s %s\n#     expected: %s %s\n",        \
                   mt_event_type_names[e_->type], mt_bounce_names[e_->bounce],\
                   mt_event_type_names[t_], mt_bounce_names[b_]);             \
        }                                                                     \
    } while (0)

#define diag(...)                                                             \
    do { printf("# "); printf(__VA_ARGS__); printf("\n"); } while (0)


static inline int
done_testing(void)
{
    printf("1..%d\n", tap_count);

    return tap_failed ? 1 : 0;
}


#endif /* _MT_TAP_H_INCLUDED_ */

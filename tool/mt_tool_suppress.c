
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * What a load transaction's new events claim of the suppression list:
 * hard bounces, complaints and unsubscribes suppress their recipient;
 * soft bounces are recorded, and N of them within the window of the
 * database's soft bounce limit suppress.  The claims are merged per
 * address here, and into mail_suppressions by the one rule of
 * MT_DB_SUPPRESS_MERGE.
 */


#include "mt_tool_load.h"
#include "mt_rcpt.h"


typedef struct {
    mt_load_t                  *ld;
    mt_db_suppress_t           *claims;
    size_t                      n;
    size_t                      nalloc;
    int64_t                    *times;
    mt_str_t                   *ids;
    mt_str_t                   *mids;
    mt_str_t                   *srcs;
    size_t                      ntimes;
    size_t                      talloc;
    mt_str_t                    address;
    int                         failed;
} mt_load_soft_ctx_t;


static int mt_load_claims_add(mt_load_t *ld, mt_db_suppress_t **claims,
    size_t *n, size_t *nalloc, mt_db_suppress_t *c);
static int mt_load_claim_cmp(const void *a, const void *b);
static int mt_load_soft_cmp(const void *a, const void *b);
static int mt_load_soft_row(void *data, int ncols, const char **cols,
    const size_t *lens);


/*
 * The new events' claims on suppressions: hard bounces, complaints and
 * unsubscribes suppress; soft bounces are recorded, and N of them
 * within the window of the database's soft bounce limit suppress.
 */

int
mt_load_suppressions(mt_load_t *ld)
{
    int                  rc;
    size_t               i, j, nsoft, softalloc;
    u_char              *addr;
    const char          *reason;
    mt_db_soft_t        *soft, *sp;
    mt_db_event_t       *e;
    mt_db_suppress_t     c, *claims;
    mt_load_soft_ctx_t   ctx;

    memset(&ctx, 0, sizeof(mt_load_soft_ctx_t));
    ctx.ld = ld;

    soft = NULL;
    nsoft = 0;
    softalloc = 0;
    rc = MT_DB_ERROR;

    for (i = 0; i < ld->tx->nev; i++) {
        e = ld->tx->ev[i];

        if (!e->is_new || !e->known || e->ev.rcpt.len == 0) {
            continue;
        }

        reason = NULL;

        switch (e->ev.type) {
        case MT_EV_BOUNCED:
            if (e->ev.bounce == MT_BOUNCE_HARD) {
                reason = "hard_bounce";

            } else if (e->ev.bounce != MT_BOUNCE_SOFT) {
                continue;
            }

            break;
        case MT_EV_COMPLAINED:
            reason = "complaint";
            break;
        case MT_EV_UNSUBSCRIBED:
            reason = "unsubscribe";
            break;
        default:
            continue;
        }

        addr = mt_arena_alloc(&ld->tx->arena, e->ev.rcpt.len + 1);
        if (addr == NULL) {
            goto nomem;
        }

        memset(&c, 0, sizeof(mt_db_suppress_t));

        c.address.data = addr;
        c.address.len = mt_rcpt_normalize(addr, e->ev.rcpt.data,
                                          e->ev.rcpt.len);
        addr[c.address.len] = '\0';

        if (c.address.len == 0) {
            continue;
        }

        if (reason == NULL) {
            if (nsoft == softalloc) {
                softalloc = softalloc ? 2 * softalloc : 64;

                sp = realloc(soft, softalloc * sizeof(mt_db_soft_t));
                if (sp == NULL) {
                    goto nomem;
                }

                soft = sp;
            }

            soft[nsoft].address = c.address;
            soft[nsoft].event_id = e->ev.id;
            soft[nsoft].message_id = e->ev.mid;
            soft[nsoft].src = e->src;
            soft[nsoft].at = e->at;
            nsoft++;

            continue;
        }

        mt_rcpt_domain(c.address.data, c.address.len, &c.domain);
        c.reason = reason;
        c.src = e->src;
        c.message_id = e->ev.mid;
        c.event_id = e->ev.id;
        c.first_at = e->at;
        c.last_at = e->at;
        c.events = 1;

        if (mt_load_claims_add(ld, &ctx.claims, &ctx.n, &ctx.nalloc, &c)
            != 0)
        {
            goto nomem;
        }
    }

    if (nsoft) {
        qsort(soft, nsoft, sizeof(mt_db_soft_t), mt_load_soft_cmp);

        rc = ld->db.backend->soft_bounces(&ld->db, soft, nsoft,
                                          ld->db.soft_window,
                                          ld->db.soft_limit
                                          ? mt_load_soft_row : NULL,
                                          &ctx);

        if (rc == MT_DB_OK && ld->db.soft_limit) {
            /* the last address's window */
            rc = mt_load_soft_row(&ctx, 0, NULL, NULL) == 0
                 ? MT_DB_OK : MT_DB_ERROR;
        }

        if (rc != MT_DB_OK) {
            goto done;
        }

        if (ctx.failed) {
            goto nomem;
        }
    }

    /* one claim per address: the earliest names it */

    rc = MT_DB_OK;

    if (ctx.n) {
        qsort(ctx.claims, ctx.n, sizeof(mt_db_suppress_t),
              mt_load_claim_cmp);

        claims = ctx.claims;

        if (ld->db.backend->per_event) {
            /* each claim a row of its own: merged where it is read */
            rc = ld->db.backend->suppress(&ld->db, claims, ctx.n);
            goto done;
        }

        for (i = 0, j = 1; j < ctx.n; j++) {
            if (claims[j].address.len == claims[i].address.len
                && memcmp(claims[j].address.data, claims[i].address.data,
                          claims[i].address.len) == 0)
            {
                claims[i].last_at = mt_max(claims[i].last_at,
                                           claims[j].last_at);
                claims[i].events += claims[j].events;
                continue;
            }

            claims[++i] = claims[j];
        }

        rc = ld->db.backend->suppress(&ld->db, claims, i + 1);
    }

    goto done;

nomem:

    mt_db_error(&ld->db, "out of memory");
    rc = MT_DB_ERROR;

done:

    free(soft);
    free(ctx.claims);
    free(ctx.times);
    free(ctx.ids);
    free(ctx.mids);
    free(ctx.srcs);

    return rc;
}


static int
mt_load_claims_add(mt_load_t *ld, mt_db_suppress_t **claims, size_t *n,
    size_t *nalloc, mt_db_suppress_t *c)
{
    mt_db_suppress_t  *p;

    (void) ld;

    if (*n == *nalloc) {
        *nalloc = *nalloc ? 2 * *nalloc : 64;

        p = realloc(*claims, *nalloc * sizeof(mt_db_suppress_t));
        if (p == NULL) {
            return -1;
        }

        *claims = p;
    }

    (*claims)[(*n)++] = *c;

    return 0;
}


/* by address (bytes), then time, then event id */

static int
mt_load_claim_cmp(const void *a, const void *b)
{
    int                      r;
    const mt_db_suppress_t  *x = a, *y = b;

    r = memcmp(x->address.data, y->address.data,
               mt_min(x->address.len, y->address.len) + 1);
    if (r != 0) {
        return r;
    }

    if (x->first_at != y->first_at) {
        return x->first_at < y->first_at ? -1 : 1;
    }

    return memcmp(x->event_id.data, y->event_id.data,
                  mt_min(x->event_id.len, y->event_id.len) + 1);
}


static int
mt_load_soft_cmp(const void *a, const void *b)
{
    int                  r;
    const mt_db_soft_t  *x = a, *y = b;

    r = memcmp(x->address.data, y->address.data,
               mt_min(x->address.len, y->address.len) + 1);
    if (r != 0) {
        return r;
    }

    return (x->at > y->at) - (x->at < y->at);
}


/*
 * The soft bounces of each address, in time order, one row at a time;
 * a row of another address (or ncols 0: the end) closes an address:
 * its first run of soft_limit bounces within soft_window suppresses it,
 * as of the bounce that completes the run.
 */

static int
mt_load_soft_row(void *data, int ncols, const char **cols,
    const size_t *lens)
{
    size_t               i, k, na;
    int64_t             *t;
    mt_str_t            *s;
    mt_load_soft_ctx_t  *ctx = data;
    mt_load_t           *ld = ctx->ld;
    mt_db_suppress_t     c;

    if (ctx->ntimes
        && (ncols == 0 || lens[0] != ctx->address.len
            || memcmp(cols[0], ctx->address.data, lens[0]) != 0))
    {
        k = (size_t) ld->db.soft_limit;

        for (i = 0; i + k <= ctx->ntimes; i++) {
            if (ctx->times[i + k - 1] - ctx->times[i] <= ld->db.soft_window)
            {
                memset(&c, 0, sizeof(mt_db_suppress_t));

                c.address = ctx->address;
                mt_rcpt_domain(c.address.data, c.address.len, &c.domain);
                c.reason = "soft_bounces";
                c.src = ctx->srcs[i + k - 1];
                c.message_id = ctx->mids[i + k - 1];
                c.event_id = ctx->ids[i + k - 1];
                c.first_at = ctx->times[i + k - 1];
                c.last_at = c.first_at;
                c.events = 0;

                if (mt_load_claims_add(ld, &ctx->claims, &ctx->n,
                                       &ctx->nalloc, &c) != 0)
                {
                    ctx->failed = 1;
                    return -1;
                }

                break;
            }
        }

        ctx->ntimes = 0;
    }

    if (ncols < 5 || cols[0] == NULL || cols[1] == NULL || cols[2] == NULL)
    {
        return 0;
    }

    if (ctx->ntimes == 0) {
        ctx->address.data = mt_arena_dup(&ld->tx->arena, (u_char *) cols[0],
                                         lens[0]);
        ctx->address.len = lens[0];

        if (ctx->address.data == NULL) {
            ctx->failed = 1;
            return -1;
        }
    }

    if (ctx->ntimes == ctx->talloc) {
        na = ctx->talloc ? 2 * ctx->talloc : 64;

        t = realloc(ctx->times, na * sizeof(int64_t));
        if (t == NULL) {
            ctx->failed = 1;
            return -1;
        }

        ctx->times = t;

        s = realloc(ctx->ids, na * sizeof(mt_str_t));
        if (s == NULL) {
            ctx->failed = 1;
            return -1;
        }

        ctx->ids = s;

        s = realloc(ctx->mids, na * sizeof(mt_str_t));
        if (s == NULL) {
            ctx->failed = 1;
            return -1;
        }

        ctx->mids = s;

        s = realloc(ctx->srcs, na * sizeof(mt_str_t));
        if (s == NULL) {
            ctx->failed = 1;
            return -1;
        }

        ctx->srcs = s;
        ctx->talloc = na;
    }

    i = ctx->ntimes;

    ctx->times[i] = strtoll(cols[1], NULL, 10);
    ctx->ids[i].len = lens[2];
    ctx->ids[i].data = mt_arena_dup(&ld->tx->arena, (u_char *) cols[2],
                                    lens[2]);
    ctx->mids[i].len = cols[3] ? lens[3] : 0;
    ctx->mids[i].data = mt_arena_dup(&ld->tx->arena, (u_char *) (cols[3]
                                     ? cols[3] : ""), ctx->mids[i].len);
    ctx->srcs[i].len = cols[4] ? lens[4] : 0;
    ctx->srcs[i].data = mt_arena_dup(&ld->tx->arena, (u_char *) (cols[4]
                                     ? cols[4] : ""), ctx->srcs[i].len);

    if (ctx->ids[i].data == NULL || ctx->mids[i].data == NULL
        || ctx->srcs[i].data == NULL)
    {
        ctx->failed = 1;
        return -1;
    }

    ctx->ntimes++;

    return 0;
}

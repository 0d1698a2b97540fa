
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The messages a load transaction touches: the new events of each
 * message folded into one state by the core's rules (mt_msgstate), then
 * merged with the message's row, which the backend holds until the
 * commit.  The rules are order-free, so a row is the same whatever the
 * order the files arrive in, and whichever loader loads them.
 */


#include "mt_tool_load.h"


typedef struct {
    mt_str_t                    mid;
    mt_db_event_t              *ev;
} mt_msg_ev_t;


typedef struct {
    mt_load_t                  *ld;
    mt_db_msg_t               **m;
    size_t                      n;
    int                         nomem;
} mt_msg_ctx_t;


static int mt_msg_ev_cmp(const void *a, const void *b);
static int mt_msg_row(void *data, int ncols, const char **cols,
    const size_t *lens);


int
mt_load_messages(mt_load_t *ld)
{
    int            rc;
    size_t         i, n, nm;
    mt_db_msg_t   *m, **msgs;
    mt_msg_ev_t   *evs;
    mt_msg_ctx_t   ctx;

    evs = malloc((ld->nev + 1) * sizeof(mt_msg_ev_t));
    if (evs == NULL) {
        goto nomem;
    }

    n = 0;

    for (i = 0; i < ld->nev; i++) {
        if (!ld->ev[i]->is_new || !ld->ev[i]->known) {
            continue;
        }

        mt_msgstate_key(&ld->ev[i]->ev, &evs[n].mid);

        if (evs[n].mid.len == 0) {
            continue;
        }

        evs[n].ev = ld->ev[i];
        n++;
    }

    if (n == 0) {
        free(evs);
        return MT_DB_OK;
    }

    qsort(evs, n, sizeof(mt_msg_ev_t), mt_msg_ev_cmp);

    msgs = malloc(n * sizeof(mt_db_msg_t *));
    if (msgs == NULL) {
        free(evs);
        goto nomem;
    }

    /* each message's new events as one state; strings stay in the arena */

    nm = 0;
    m = NULL;

    for (i = 0; i < n; i++) {
        if (m == NULL || ld->db.backend->per_event
            || mt_db_str_cmp(&evs[i].mid, &m->s.mid) != 0)
        {
            m = mt_arena_alloc(&ld->arena, sizeof(mt_db_msg_t));
            if (m == NULL) {
                free(evs);
                free(msgs);
                goto nomem;
            }

            mt_msgstate_init(&m->st, &m->s);
            m->s.mid = evs[i].mid;
            m->event_id = evs[i].ev->ev.id;
            m->found = 0;
            msgs[nm++] = m;
        }

        (void) mt_msgstate_apply(&m->st, &m->s, &evs[i].ev->ev);
    }

    free(evs);

    ctx.ld = ld;
    ctx.m = msgs;
    ctx.n = nm;
    ctx.nomem = 0;

    /* a per_event backend's states merge where they are read */

    rc = ld->db.backend->per_event
         ? MT_DB_OK
         : ld->db.backend->messages_get(&ld->db, msgs, nm, mt_msg_row, &ctx);

    if (rc == MT_DB_OK && ctx.nomem) {
        mt_db_error(&ld->db, "out of memory");
        rc = MT_DB_ERROR;
    }

    if (rc == MT_DB_OK) {
        rc = ld->db.backend->messages_put(&ld->db, msgs, nm);
    }

    free(msgs);

    return rc;

nomem:

    mt_db_error(&ld->db, "out of memory");
    return MT_DB_ERROR;
}


static int
mt_msg_ev_cmp(const void *a, const void *b)
{
    const mt_msg_ev_t  *x = a, *y = b;

    return mt_db_str_cmp(&x->mid, &y->mid);
}


/* a row as it is in the database, merged into the new events' state */

static int
mt_msg_row(void *data, int ncols, const char **cols, const size_t *lens)
{
    unsigned       flags;
    mt_msg_ctx_t  *ctx = data;
    mt_db_msg_t    row, key, *kp, **found, *m;

    if (mt_db_msg_parse(ncols, cols, lens, &row) != 0) {
        return 0;
    }

    key.s.mid = row.s.mid;
    kp = &key;

    found = bsearch(&kp, ctx->m, ctx->n, sizeof(mt_db_msg_t *), mt_db_msg_cmp);
    if (found == NULL) {
        return 0;
    }

    m = *found;

    flags = mt_msgstate_merge(&m->st, &m->s, &row.st, &row.s);

    /* what came from the row lives only as long as the row */

    if (flags & MT_MSGSTATE_RCPT) {
        m->s.rcpt.data = mt_arena_dup(&ctx->ld->arena, m->s.rcpt.data,
                                      m->s.rcpt.len);
    }

    if (flags & MT_MSGSTATE_URL) {
        m->s.url.data = mt_arena_dup(&ctx->ld->arena, m->s.url.data,
                                     m->s.url.len);
    }

    if (((flags & MT_MSGSTATE_RCPT) && m->s.rcpt.data == NULL)
        || ((flags & MT_MSGSTATE_URL) && m->s.url.data == NULL))
    {
        ctx->nomem = 1;
        return -1;
    }

    return 0;
}

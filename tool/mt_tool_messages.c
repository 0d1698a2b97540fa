
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
    mt_load_t                  *ld;
    mt_db_msg_t               **m;
    size_t                      n;
    int                         nomem;
} mt_msg_ctx_t;


/* a slot of the messages' hash table: the key's hash, msgs[idx - 1] */
typedef struct {
    uint32_t                    hash;
    uint32_t                    idx;
} mt_msg_slot_t;


static const mt_str_t *mt_msg_key(const void *m);
static int mt_msg_row(void *data, mt_db_msg_t *m, mt_db_msg_t *row);


/*
 * The new events of each message as one state, sorted by message id,
 * into tx->msgs: done by the reading thread ahead, as if every event
 * that is new in the transaction were new in the database, and again
 * here when one was not.  -1: out of memory.
 */

int
mt_load_messages_group(mt_load_tx_t *tx, unsigned per_event)
{
    size_t          i, j, nm, size, mask;
    uint32_t        h;
    mt_str_t        mid;
    mt_db_msg_t    *m, **msgs;
    mt_msg_slot_t  *slots;
    mt_db_event_t  *e;

    mt_load_messages_drop(tx);

    for (size = 64; size < 2 * tx->nev; size <<= 1) { /* void */ }

    slots = calloc(size, sizeof(mt_msg_slot_t));
    msgs = malloc((tx->nev + 1) * sizeof(mt_db_msg_t *));

    if (slots == NULL || msgs == NULL) {
        free(slots);
        free(msgs);
        return -1;
    }

    /*
     * Each message's new events as one state (the rules do not care for
     * the order), found through a hash table of the message ids; the
     * strings stay in the arena.
     */

    mask = size - 1;
    nm = 0;

    for (i = 0; i < tx->nev; i++) {
        e = tx->ev[i];

        if (!e->is_new || !e->known) {
            continue;
        }

        mt_msgstate_key(&e->ev, &mid);

        if (mid.len == 0) {
            continue;
        }

        h = mt_db_str_hash(&mid);
        m = NULL;

        /* a per_event backend keeps each event's state on its own */

        for (j = h & mask; slots[j].idx != 0; j = (j + 1) & mask) {
            if (slots[j].hash == h && !per_event
                && mt_db_str_cmp(&msgs[slots[j].idx - 1]->s.mid, &mid) == 0)
            {
                m = msgs[slots[j].idx - 1];
                break;
            }
        }

        if (m == NULL) {
            m = mt_arena_alloc(&tx->arena, sizeof(mt_db_msg_t));
            if (m == NULL) {
                free(slots);
                free(msgs);
                return -1;
            }

            mt_msgstate_init(&m->st, &m->s);
            m->s.mid = mid;
            m->event_id = e->ev.id;
            m->found = 0;

            msgs[nm++] = m;
            slots[j].hash = h;
            slots[j].idx = (uint32_t) nm;
        }

        (void) mt_msgstate_apply(&m->st, &m->s, &e->ev);
    }

    free(slots);

    /* sorted by id: the order the rows are locked in, and come back in */

    if (nm > 1 && mt_db_sort((void **) msgs, nm, mt_msg_key) != 0) {
        free(msgs);
        return -1;
    }

    tx->msgs = msgs;
    tx->nmsgs = nm;
    tx->grouped = 1;

    return 0;
}


void
mt_load_messages_drop(mt_load_tx_t *tx)
{
    free(tx->msgs);
    tx->msgs = NULL;
    tx->nmsgs = 0;
    tx->grouped = 0;
}


int
mt_load_messages(mt_load_t *ld)
{
    int             rc;
    size_t          nm;
    mt_db_msg_t   **msgs;
    mt_msg_ctx_t    ctx;
    mt_load_tx_t   *tx;

    tx = ld->tx;

    if (!tx->grouped
        && mt_load_messages_group(tx, ld->db.backend->per_event) != 0)
    {
        mt_db_error(&ld->db, "out of memory");
        return MT_DB_ERROR;
    }

    msgs = tx->msgs;
    nm = tx->nmsgs;

    if (nm == 0) {
        return MT_DB_OK;
    }

    /* the rows merge into the states: they are good for this try only */

    tx->grouped = 0;

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

    return rc;
}


static const mt_str_t *
mt_msg_key(const void *m)
{
    return &((const mt_db_msg_t *) m)->s.mid;
}


/* a row as it is in the database, merged into the new events' state */

static int
mt_msg_row(void *data, mt_db_msg_t *m, mt_db_msg_t *row)
{
    unsigned       flags;
    mt_msg_ctx_t  *ctx = data;

    flags = mt_msgstate_merge(&m->st, &m->s, &row->st, &row->s);

    /* what came from the row lives only as long as the row */

    if (flags & MT_MSGSTATE_RCPT) {
        m->s.rcpt.data = mt_arena_dup(&ctx->ld->tx->arena, m->s.rcpt.data,
                                      m->s.rcpt.len);
    }

    if (flags & MT_MSGSTATE_URL) {
        m->s.url.data = mt_arena_dup(&ctx->ld->tx->arena, m->s.url.data,
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

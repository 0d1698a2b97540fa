
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * A spool record (docs/spool-format.md) decoded into typed fields for
 * the database: the required keys checked, strings made valid UTF-8
 * without NUL bytes (PostgreSQL refuses both; every backend gets the
 * same), keys this tool does not know kept as a JSON object.
 */


#include "mt_tool_db.h"


#define MT_RECORD_ID_MAX        256
#define MT_RECORD_KEY_MAX       512    /* mid, esp_mid, rcpt */

#define MT_REC_V                0x0001
#define MT_REC_ID               0x0002
#define MT_REC_RT               0x0004
#define MT_REC_SRC              0x0008
#define MT_REC_TYPE             0x0010
#define MT_REC_REQUIRED         0x001f


typedef enum {
    MT_FIELD_STR = 0,
    MT_FIELD_INT,
    MT_FIELD_BOOL
} mt_field_kind_e;


typedef struct {
    const char                 *name;
    size_t                      len;
    mt_field_kind_e             kind;
    size_t                      offset;     /* in mt_db_event_t */
    unsigned                    flag;       /* required */
    size_t                      max;        /* longer: invalid */
} mt_record_field_t;


static int mt_record_str(const msgpack_object *o, mt_str_t *s,
    mt_arena_t *a, uint32_t *repaired);
static int mt_record_int(const msgpack_object *o, int64_t *v);


#define mt_field(name, kind, field, flag, max)                                \
    { name, sizeof(name) - 1, kind, offsetof(mt_db_event_t, field), flag,     \
      max }

static const mt_record_field_t  mt_record_fields[] = {
    mt_field("v", MT_FIELD_INT, v, MT_REC_V, 0),
    mt_field("id", MT_FIELD_STR, ev.id, MT_REC_ID, MT_RECORD_ID_MAX),
    mt_field("ts", MT_FIELD_INT, ev.ts, 0, 0),
    mt_field("rt", MT_FIELD_INT, ev.rt, MT_REC_RT, 0),
    mt_field("src", MT_FIELD_STR, src, MT_REC_SRC, 64),
    mt_field("type", MT_FIELD_STR, type, MT_REC_TYPE, 64),
    mt_field("esp_type", MT_FIELD_STR, ev.esp_type, 0, 0),
    mt_field("mid", MT_FIELD_STR, ev.mid, 0, MT_RECORD_KEY_MAX),
    mt_field("esp_mid", MT_FIELD_STR, ev.esp_mid, 0, MT_RECORD_KEY_MAX),
    mt_field("rcpt", MT_FIELD_STR, ev.rcpt, 0, MT_RECORD_KEY_MAX),
    mt_field("bounce", MT_FIELD_STR, bounce, 0, 64),
    mt_field("smtp_status", MT_FIELD_STR, ev.smtp_status, 0, 0),
    mt_field("smtp_code", MT_FIELD_INT, ev.smtp_code, 0, 0),
    mt_field("reason", MT_FIELD_STR, ev.reason, 0, 0),
    mt_field("url", MT_FIELD_STR, ev.url, 0, 0),
    mt_field("ip", MT_FIELD_STR, ev.ip, 0, 0),
    mt_field("ua", MT_FIELD_STR, ev.ua, 0, 0),
    mt_field("machine", MT_FIELD_BOOL, ev.machine, 0, 0),
    mt_field("why", MT_FIELD_STR, ev.why, 0, 0),
    mt_field("tag", MT_FIELD_STR, ev.tag, 0, 0),
    { NULL, 0, 0, 0, 0, 0 }
};


/*
 * Returns 0, or -1 with err saying why the record cannot be loaded (a
 * required key missing, a value of the wrong type, an unknown version,
 * an id longer than the format allows).
 */

int
mt_record_decode(const msgpack_object *rec, mt_db_event_t *e,
    mt_arena_t *a, mt_tool_buf_t *tmp, const char **err)
{
    int64_t                     n;
    uint32_t                    i, nextra;
    unsigned                    seen;
    mt_str_t                   *s;
    const msgpack_object       *k, *o;
    const mt_record_field_t    *f;

    memset(e, 0, sizeof(mt_db_event_t));
    mt_event_init(&e->ev);

    seen = 0;
    nextra = 0;
    tmp->len = 0;
    tmp->nomem = 0;

    for (i = 0; i < rec->via.map.size; i++) {
        k = &rec->via.map.ptr[i].key;
        o = &rec->via.map.ptr[i].val;

        for (f = mt_record_fields; f->name != NULL; f++) {
            if (k->via.str.size == f->len
                && memcmp(k->via.str.ptr, f->name, f->len) == 0)
            {
                break;
            }
        }

        if (f->name == NULL) {

            /* a key of a newer format: kept, as JSON */

            mt_tool_buf_add(tmp, nextra++ ? "," : "{", 1);
            mt_tool_json_str(tmp, (u_char *) k->via.str.ptr,
                             k->via.str.size);
            mt_tool_buf_add(tmp, ":", 1);
            mt_tool_json_value(tmp, o, 0);
            continue;
        }

        seen |= f->flag;

        switch (f->kind) {

        case MT_FIELD_STR:
            s = (mt_str_t *) ((u_char *) e + f->offset);

            if (mt_record_str(o, s, a, &e->repaired) != 0) {
                *err = (o->type == MSGPACK_OBJECT_STR
                        || o->type == MSGPACK_OBJECT_BIN)
                       ? "out of memory" : "a string field is not a string";
                return -1;
            }

            if (f->max && s->len > f->max) {
                *err = (f->flag == MT_REC_ID)
                       ? "id longer than 256 bytes"
                       : "mid, esp_mid or rcpt longer than 512 bytes";
                return -1;
            }

            break;

        case MT_FIELD_INT:
            if (mt_record_int(o, &n) != 0) {
                *err = "an integer field is not a non-negative integer";
                return -1;
            }

            if (f->offset == offsetof(mt_db_event_t, ev.smtp_code)) {
                if (n > 999) {
                    *err = "smtp_code out of range";
                    return -1;
                }

                e->ev.smtp_code = (int) n;

            } else {
                *(int64_t *) ((u_char *) e + f->offset) = n;
            }

            break;

        case MT_FIELD_BOOL:
            if (o->type != MSGPACK_OBJECT_BOOLEAN) {
                *err = "machine is not a boolean";
                return -1;
            }

            e->ev.machine = o->via.boolean ? 1 : 0;
            break;
        }
    }

    if ((seen & MT_REC_REQUIRED) != MT_REC_REQUIRED) {
        *err = "v, id, rt, src or type missing";
        return -1;
    }

    if (e->v != MT_RECORD_VERSION) {
        *err = "unknown record version";
        return -1;
    }

    if (e->ev.id.len == 0) {
        *err = "empty id";
        return -1;
    }

    if (nextra) {
        mt_tool_buf_add(tmp, "}", 1);

        if (tmp->nomem) {
            *err = "out of memory";
            return -1;
        }

        e->extra.data = mt_arena_dup(a, tmp->data, tmp->len);
        if (e->extra.data == NULL) {
            *err = "out of memory";
            return -1;
        }

        e->extra.len = tmp->len;
    }

    e->at = e->ev.ts ? e->ev.ts : e->ev.rt;

    mt_record_typed(e);

    return 0;
}


/*
 * The typed view of an event's src, type and bounce, for the state
 * rules and suppressions: an event of a source or type this tool does
 * not know is not "known" and changes no state.
 */

void
mt_record_typed(mt_db_event_t *e)
{
    int  b, known;

    known = 1;

    b = mt_src_by_name(e->src.data, e->src.len);
    if (b < 0) {
        known = 0;

    } else {
        e->ev.src = (mt_src_e) b;
    }

    b = mt_event_type_by_name(e->type.data, e->type.len);
    if (b < 0) {
        known = 0;

    } else {
        e->ev.type = (mt_event_type_e) b;
    }

    e->ev.bounce = MT_BOUNCE_NONE;

    for (b = 1; b < MT_BOUNCE_MAX; b++) {
        if (e->bounce.len == strlen(mt_bounce_names[b])
            && memcmp(e->bounce.data, mt_bounce_names[b], e->bounce.len) == 0)
        {
            e->ev.bounce = (mt_bounce_e) b;
            break;
        }
    }

    e->known = known;
}


/* a copy in the arena; bad UTF-8 and NUL become U+FFFD */

static int
mt_record_str(const msgpack_object *o, mt_str_t *s, mt_arena_t *a,
    uint32_t *repaired)
{
    u_char        *d, *fixed;
    size_t         len, i, n;
    const u_char  *p;

    if (o->type != MSGPACK_OBJECT_STR && o->type != MSGPACK_OBJECT_BIN) {
        return -1;
    }

    p = (const u_char *) o->via.str.ptr;
    len = o->via.str.size;

    if (mt_utf8_valid(p, len) && (len == 0 || memchr(p, '\0', len) == NULL))
    {
        s->data = mt_arena_dup(a, p, len);
        s->len = len;

        return s->data != NULL || len == 0 ? 0 : -2;
    }

    (*repaired)++;

    fixed = malloc(3 * len);
    if (fixed == NULL) {
        return -2;
    }

    n = mt_utf8_repair(fixed, p, len);

    /* NUL is valid UTF-8, but no text column in PostgreSQL takes it */

    d = mt_arena_alloc(a, 3 * n + 1);
    if (d == NULL) {
        free(fixed);
        return -2;
    }

    s->data = d;

    for (i = 0; i < n; i++) {
        if (fixed[i] == '\0') {
            *d++ = 0xef;
            *d++ = 0xbf;
            *d++ = 0xbd;

        } else {
            *d++ = fixed[i];
        }
    }

    s->len = d - s->data;
    *d = '\0';

    free(fixed);

    return 0;
}


static int
mt_record_int(const msgpack_object *o, int64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER
        || o->via.u64 > (uint64_t) INT64_MAX)
    {
        return -1;
    }

    *v = (int64_t) o->via.u64;

    return 0;
}

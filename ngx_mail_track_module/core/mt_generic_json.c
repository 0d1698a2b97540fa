
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The generic provider's JSON formats, on mt_json.h: one document (the
 * events at a pointer, an object or an array of them), or JSON Lines
 * (one event per line); values by their compiled JSON Pointers.
 */


#include "mt_generic.h"


static void mt_gen_json_walk(mt_json_t *v, mt_gen_ptr_t *ptr);
static int mt_gen_json_index(mt_str_t *tok, size_t *idx);
static void mt_gen_json_val(mt_json_t j, mt_gen_val_t *v);
static mt_rc_t mt_gen_json_doc(mt_gen_req_t *rq, mt_json_t doc);
static mt_rc_t mt_gen_json_lines(mt_gen_req_t *rq);


mt_rc_t
mt_gen_json_parse(mt_gen_req_t *rq, const u_char *p, size_t len)
{
    return mt_wh_json_load(rq->wh, p, len, &rq->root);
}


/* a pointer from node (NULL: the document) */

mt_rc_t
mt_gen_json_lookup(mt_gen_req_t *rq, void *node, mt_gen_ptr_t *ptr,
    mt_gen_val_t *v)
{
    mt_json_t  j;

    memset(v, 0, sizeof(mt_gen_val_t));

    if (node == NULL && rq->format == MT_GEN_FMT_NDJSON) {
        /* JSON Lines have no one document */
        return MT_OK;
    }

    j = (node != NULL) ? *(mt_json_t *) node : rq->root;

    mt_gen_json_walk(&j, ptr);
    mt_gen_json_val(j, v);

    return MT_OK;
}


/* RFC 6901: a member by its name, an array element by its index */

static void
mt_gen_json_walk(mt_json_t *v, mt_gen_ptr_t *ptr)
{
    size_t          i, idx, n;
    mt_str_t       *tok;
    mt_json_t       e;
    mt_json_iter_t  it;

    for (i = 0; i < ptr->ntokens && !mt_json_is_none(*v); i++) {
        tok = &ptr->tokens[i];

        switch (mt_json_type(*v)) {

        case MT_JSON_OBJECT:
            *v = mt_json_getn(*v, tok->data, tok->len);
            break;

        case MT_JSON_ARRAY:
            if (!mt_gen_json_index(tok, &idx) || idx >= mt_json_size(*v)) {
                v->doc = NULL;
                v->i = 0;
                break;
            }

            n = 0;

            mt_json_array_foreach(*v, it, e) {
                if (n++ == idx) {
                    break;
                }
            }

            *v = e;
            break;

        default:
            v->doc = NULL;
            v->i = 0;
            break;
        }
    }
}


/* "0", "17": no sign, no leading zero ("-", past the end, is none) */

static int
mt_gen_json_index(mt_str_t *tok, size_t *idx)
{
    size_t  i, n;

    if (tok->len == 0 || tok->len > 18
        || (tok->len > 1 && tok->data[0] == '0'))
    {
        return 0;
    }

    for (i = 0, n = 0; i < tok->len; i++) {
        if (tok->data[i] < '0' || tok->data[i] > '9') {
            return 0;
        }

        n = n * 10 + (tok->data[i] - '0');
    }

    *idx = n;

    return 1;
}


static void
mt_gen_json_val(mt_json_t j, mt_gen_val_t *v)
{
    v->node = j;
    v->count = 1;

    switch (mt_json_type(j)) {

    case MT_JSON_NONE:
        v->type = MT_GEN_V_ABSENT;
        v->count = 0;
        break;

    case MT_JSON_NULL:
        v->type = MT_GEN_V_NULL;
        break;

    case MT_JSON_TRUE:
        v->type = MT_GEN_V_BOOL;
        mt_str_set(&v->s, "true");
        break;

    case MT_JSON_FALSE:
        v->type = MT_GEN_V_BOOL;
        mt_str_set(&v->s, "false");
        break;

    case MT_JSON_STRING:
        v->type = MT_GEN_V_STRING;
        v->s = mt_json_string(j);
        break;

    case MT_JSON_ARRAY:
        v->type = MT_GEN_V_ARRAY;
        break;

    case MT_JSON_OBJECT:
        v->type = MT_GEN_V_OBJECT;
        break;

    default:
        /* a number as it was sent: exact, whatever its size */
        v->type = MT_GEN_V_NUMBER;
        v->s = mt_json_raw(j);
        break;
    }
}


/* "first": an array's first element */

mt_rc_t
mt_gen_json_first(mt_gen_req_t *rq, mt_gen_val_t *v)
{
    mt_json_t       e;
    mt_json_iter_t  it;

    (void) rq;

    e.doc = NULL;
    e.i = 0;

    mt_json_array_foreach(v->node, it, e) {
        break;
    }

    mt_gen_json_val(e, v);

    return MT_OK;
}


mt_rc_t
mt_gen_json_events(mt_gen_req_t *rq)
{
    mt_json_t  doc;

    if (rq->format == MT_GEN_FMT_NDJSON) {
        return mt_gen_json_lines(rq);
    }

    doc = rq->root;

    mt_gen_json_walk(&doc, &rq->gc->events);

    return mt_gen_json_doc(rq, doc);
}


/*
 * An object is one event, an array one per element; every element is
 * checked before any event is built.
 */

static mt_rc_t
mt_gen_json_doc(mt_gen_req_t *rq, mt_json_t doc)
{
    mt_rc_t         rc;
    mt_json_t       e;
    mt_json_iter_t  it;

    switch (mt_json_type(doc)) {

    case MT_JSON_OBJECT:
        return mt_gen_event_add(rq, &doc);

    case MT_JSON_ARRAY:
        break;

    default:
        mt_gen_detail(rq, "no object or array of events at \"%.*s\"",
                      (int) rq->gc->events.text.len,
                      rq->gc->events.text.data);
        return MT_ERR_PAYLOAD;
    }

    if (rq->nevents + mt_json_size(doc) > MT_WH_MAX_EVENTS) {
        return MT_ERR_TOO_MANY;
    }

    mt_json_array_foreach(doc, it, e) {
        if (!mt_json_is_object(e)) {
            mt_gen_detail(rq, "an event that is not an object");
            return MT_ERR_PAYLOAD;
        }
    }

    mt_json_array_foreach(doc, it, e) {
        rc = mt_gen_event_add(rq, &e);
        if (rc != MT_OK) {
            return rc;
        }
    }

    return MT_OK;
}


/* one JSON object per line; blank lines are skipped */

static mt_rc_t
mt_gen_json_lines(mt_gen_req_t *rq)
{
    size_t          i;
    mt_rc_t         rc;
    mt_json_t       doc;
    const u_char   *p, *end, *nl;

    p = rq->wh->body;
    end = p + rq->wh->body_len;

    for ( /* void */ ; p < end; p = nl + 1) {
        nl = memchr(p, '\n', end - p);

        if (nl == NULL) {
            nl = end;
        }

        for (i = 0; p + i < nl; i++) {
            if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') {
                break;
            }
        }

        if (p + i == nl) {
            continue;
        }

        /* as every provider's body: the same parser, the same repair */

        rc = mt_wh_json_load(rq->wh, p, nl - p, &doc);
        if (rc != MT_OK) {
            return rc;
        }

        if (!mt_json_is_object(doc)) {
            mt_gen_detail(rq, "a line that is not an object");
            return MT_ERR_PAYLOAD;
        }

        rc = mt_gen_event_add(rq, &doc);
        if (rc != MT_OK) {
            return rc;
        }
    }

    return MT_OK;
}

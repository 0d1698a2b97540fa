
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The generic provider's payload: the body in its format, values looked
 * up by JSON Pointer (a form's fields are a flat object), and each event
 * built into a record from the mail_track_generic_field mappings, the
 * event-name table and the bounce refinements.
 */


#include "mt_generic.h"


static mt_rc_t mt_gen_format(mt_gen_req_t *rq);
static mt_rc_t mt_gen_args(mt_gen_req_t *rq);
static mt_rc_t mt_gen_field(mt_gen_req_t *rq, void *node, mt_gen_field_e key,
    mt_str_t *out);
static mt_rc_t mt_gen_value(mt_gen_req_t *rq, void *node,
    mt_gen_field_t *f, mt_gen_val_t *v);
static mt_rc_t mt_gen_keep(mt_gen_req_t *rq, mt_str_t *s);
static mt_bounce_e mt_gen_refine(mt_gen_req_t *rq, void *node);
static int mt_gen_bounce_class(mt_str_t *s);
static mt_rc_t mt_gen_id(mt_gen_req_t *rq, mt_event_t *ev, mt_str_t *ts);


/* the value a source names: a header, a field of the body, an argument */

mt_rc_t
mt_gen_source(mt_gen_req_t *rq, mt_gen_src_t *src, mt_gen_val_t *v)
{
    mt_wh_t  *wh;

    memset(v, 0, sizeof(mt_gen_val_t));

    wh = rq->wh;

    switch (src->type) {

    case MT_GEN_SRC_HEADER:
        v->s = wh->header(wh, (char *) src->name.data);

        if (v->s.len) {
            v->type = MT_GEN_V_STRING;
            v->count = (wh->header_count != NULL)
                       ? wh->header_count(wh, (char *) src->name.data) : 1;
        }

        return MT_OK;

    case MT_GEN_SRC_QUERY:
        if (mt_gen_args(rq) != MT_OK) {
            return MT_ERR_NOMEM;
        }

        v->s = mt_form_get(rq->args, rq->nargs, src->name.data,
                           src->name.len, &v->count);
        v->type = v->count ? MT_GEN_V_STRING : MT_GEN_V_ABSENT;

        return MT_OK;

    case MT_GEN_SRC_FIELD:
        if (!rq->parsed) {
            return MT_OK;
        }

        return mt_gen_lookup(rq, NULL, &src->ptr, v);

    default:
        return MT_OK;
    }
}


/* the request's query string, decoded once */

static mt_rc_t
mt_gen_args(mt_gen_req_t *rq)
{
    if (rq->args_parsed) {
        return MT_OK;
    }

    rq->args_parsed = 1;

    return mt_form_parse(&rq->wh->alloc, rq->wh->args.data,
                         rq->wh->args.len, &rq->args, &rq->nargs);
}


/*
 * The body in its format: the configured one, or the one Content-Type
 * names (a GET without a body: the query string).
 */

mt_rc_t
mt_gen_parse(mt_gen_req_t *rq)
{
    size_t    i;
    mt_rc_t   rc;
    mt_wh_t  *wh;

    wh = rq->wh;

    rc = mt_gen_format(rq);
    if (rc != MT_OK) {
        return rc;
    }

    if (rq->format == MT_GEN_FMT_QUERY) {
        if (wh->body_len) {
            mt_gen_detail(rq, "a request body, with the query string "
                          "format");
            return MT_ERR_PAYLOAD;
        }

        if (mt_gen_args(rq) != MT_OK) {
            return MT_ERR_NOMEM;
        }

        rq->params = rq->args;
        rq->nparams = rq->nargs;
        rq->parsed = 1;

        return rq->nparams ? MT_OK : MT_ERR_BODY_EMPTY;
    }

    if (mt_str_eq(&wh->method, "GET")) {
        return MT_ERR_METHOD;
    }

    for (i = 0; i < wh->body_len; i++) {
        if (wh->body[i] != ' ' && wh->body[i] != '\t'
            && wh->body[i] != '\r' && wh->body[i] != '\n')
        {
            break;
        }
    }

    if (i == wh->body_len) {
        return MT_ERR_BODY_EMPTY;
    }

    switch (rq->format) {

    case MT_GEN_FMT_FORM:
        rc = mt_form_parse(&wh->alloc, wh->body, wh->body_len, &rq->params,
                           &rq->nparams);
        break;

    case MT_GEN_FMT_JSON:
        rc = mt_gen_json_parse(rq, wh->body, wh->body_len);
        break;

    default: /* MT_GEN_FMT_NDJSON: line by line, in mt_gen_events() */
        rc = MT_OK;
        break;
    }

    if (rc == MT_OK) {
        rq->parsed = 1;
    }

    return rc;
}


static mt_rc_t
mt_gen_format(mt_gen_req_t *rq)
{
    mt_wh_t  *wh;

    wh = rq->wh;
    rq->format = rq->gc->format;

    if (rq->format != MT_GEN_FMT_AUTO) {
        return MT_OK;
    }

    if (mt_wh_content_type_json(wh)) {
        rq->format = MT_GEN_FMT_JSON;

    } else if (mt_wh_content_type_is(wh, "application/x-ndjson")
               || mt_wh_content_type_is(wh, "application/jsonl")
               || mt_wh_content_type_is(wh, "application/x-jsonlines")
               || mt_wh_content_type_is(wh, "application/jsonlines"))
    {
        rq->format = MT_GEN_FMT_NDJSON;

        if (rq->gc->auth_fields) {
            mt_gen_detail(rq, "JSON Lines, but the authentication reads "
                          "a field of the body");
            return MT_ERR_CONTENT_TYPE;
        }

    } else if (mt_wh_content_type_is(wh,
                                     "application/x-www-form-urlencoded"))
    {
        rq->format = MT_GEN_FMT_FORM;

    } else if (wh->content_type.len == 0 && wh->body_len == 0
               && mt_str_eq(&wh->method, "GET"))
    {
        rq->format = MT_GEN_FMT_QUERY;

    } else {
        return MT_ERR_CONTENT_TYPE;
    }

    return MT_OK;
}


/* a pointer in the body, from node (NULL: the whole body) */

mt_rc_t
mt_gen_lookup(mt_gen_req_t *rq, void *node, mt_gen_ptr_t *ptr,
    mt_gen_val_t *v)
{
    mt_str_t  *tok;

    if (rq->format == MT_GEN_FMT_FORM || rq->format == MT_GEN_FMT_QUERY) {
        memset(v, 0, sizeof(mt_gen_val_t));

        if (ptr->ntokens != 1) {
            return MT_OK;
        }

        tok = &ptr->tokens[0];

        v->s = mt_form_get(rq->params, rq->nparams, tok->data, tok->len,
                           &v->count);
        v->type = v->count ? MT_GEN_V_STRING : MT_GEN_V_ABSENT;

        return MT_OK;
    }

    return mt_gen_json_lookup(rq, node, ptr, v);
}


/*
 * Every event of the body built first (a bad one queues nothing), the
 * nonce spent on these events, then each emitted.
 */

mt_rc_t
mt_gen_events(mt_gen_req_t *rq)
{
    size_t       i, len;
    u_char      *p;
    mt_rc_t      rc;
    mt_str_t     ids;
    mt_wh_t     *wh;

    wh = rq->wh;

    switch (rq->format) {

    case MT_GEN_FMT_FORM:
    case MT_GEN_FMT_QUERY:
        rc = mt_gen_event_add(rq, NULL);
        break;

    default:
        rc = mt_gen_json_events(rq);
        break;
    }

    if (rc != MT_OK) {
        return rc;
    }

    if (rq->nevents == 0) {
        return MT_DECLINED;
    }

    /*
     * The same nonce with the same events is a retry; with others it is
     * a captured signature on forged events.
     */

    if (rq->nonce.len && wh->replay != NULL) {
        len = 0;

        for (i = 0; i < rq->nevents; i++) {
            len += rq->events[i].id.len + 1;
        }

        p = mt_alloc(&wh->alloc, len);
        if (p == NULL) {
            return MT_ERR_NOMEM;
        }

        ids.data = p;

        for (i = 0; i < rq->nevents; i++) {
            memcpy(p, rq->events[i].id.data, rq->events[i].id.len);
            p += rq->events[i].id.len;
            *p++ = '\n';
        }

        ids.len = p - ids.data;

        rc = wh->replay(wh, &rq->nonce, &ids);
        if (rc != MT_OK) {
            return rc;
        }
    }

    for (i = 0; i < rq->nevents; i++) {
        rc = mt_wh_emit(wh, &rq->events[i]);
        if (rc != MT_OK) {
            return rc;
        }
    }

    return MT_OK;
}


/* one event from node (a form: NULL), appended to the request's */

mt_rc_t
mt_gen_event_add(mt_gen_req_t *rq, void *node)
{
    int                    code;
    size_t                 cap;
    int64_t                n;
    mt_rc_t                rc;
    mt_str_t               s, ts;
    mt_event_t            *ev, *evs;
    mt_gen_val_t           v;
    mt_gen_conf_t         *gc;
    mt_gen_field_t        *f;
    const mt_gen_event_t  *e;

    gc = rq->gc;

    if (rq->nevents >= MT_WH_MAX_EVENTS) {
        return MT_ERR_TOO_MANY;
    }

    if (rq->nevents == rq->cap) {
        cap = rq->cap ? rq->cap * 2 : 1;

        evs = mt_alloc(&rq->wh->alloc, cap * sizeof(mt_event_t));
        if (evs == NULL) {
            return MT_ERR_NOMEM;
        }

        if (rq->nevents) {
            memcpy(evs, rq->events, rq->nevents * sizeof(mt_event_t));
        }

        rq->events = evs;
        rq->cap = cap;
    }

    ev = &rq->events[rq->nevents];
    mt_event_init(ev);

    /* the name, then its type: a mapped name that is absent is refused */

    if (gc->fields[MT_GEN_F_ESP_TYPE] != NULL) {
        rc = mt_gen_field(rq, node, MT_GEN_F_ESP_TYPE, &ev->esp_type);
        if (rc != MT_OK) {
            return rc;
        }

        if (ev->esp_type.len == 0) {
            mt_gen_detail(rq, "an event without a name (%.*s)",
                          (int) gc->fields[MT_GEN_F_ESP_TYPE]->ptrs[0]
                                  .text.len,
                          gc->fields[MT_GEN_F_ESP_TYPE]->ptrs[0].text.data);
            return MT_ERR_PAYLOAD;
        }

        e = mt_gen_event_find(gc, &ev->esp_type);

    } else {
        e = &gc->event_default;
    }

    ev->type = e->type;
    ev->bounce = e->bounce;

    if (mt_gen_field(rq, node, MT_GEN_F_ID, &ev->id) != MT_OK
        || mt_gen_field(rq, node, MT_GEN_F_MID, &ev->mid) != MT_OK
        || mt_gen_field(rq, node, MT_GEN_F_ESP_MID, &ev->esp_mid) != MT_OK
        || mt_gen_field(rq, node, MT_GEN_F_RCPT, &ev->rcpt) != MT_OK
        || mt_gen_field(rq, node, MT_GEN_F_REASON, &ev->reason) != MT_OK
        || mt_gen_field(rq, node, MT_GEN_F_SMTP_STATUS, &ev->smtp_status)
           != MT_OK
        || mt_gen_field(rq, node, MT_GEN_F_URL, &ev->url) != MT_OK
        || mt_gen_field(rq, node, MT_GEN_F_IP, &ev->ip) != MT_OK
        || mt_gen_field(rq, node, MT_GEN_F_UA, &ev->ua) != MT_OK
        || mt_gen_field(rq, node, MT_GEN_F_TAG, &ev->tag) != MT_OK)
    {
        return MT_ERR_NOMEM;
    }

    /* the time, and its text as sent for the event id */

    ts.len = 0;
    ts.data = NULL;

    f = gc->fields[MT_GEN_F_TS];

    if (f != NULL) {
        if (mt_gen_value(rq, node, f, &v) != MT_OK) {
            return MT_ERR_NOMEM;
        }

        ev->ts = mt_gen_time_ms(&v, f->conv, f->offset);

        if (ev->ts > 0) {
            ts = v.s;

            if (mt_gen_keep(rq, &ts) != MT_OK) {
                return MT_ERR_NOMEM;
            }
        }
    }

    code = 0;

    if (mt_gen_field(rq, node, MT_GEN_F_SMTP_CODE, &s) != MT_OK) {
        return MT_ERR_NOMEM;
    }

    if (s.len) {
        n = mt_atoi64(s.data, s.len);

        if (n >= 200 && n < 600) {
            code = (int) n;
        }
    }

    if (ev->reason.len) {
        mt_smtp_parse(&ev->reason, &ev->smtp_status, &code);
    }

    ev->smtp_code = code;

    /* the bounce class: the table's, a field's, a refinement's */

    if (mt_gen_field(rq, node, MT_GEN_F_BOUNCE, &s) != MT_OK) {
        return MT_ERR_NOMEM;
    }

    if (s.len && mt_gen_bounce_class(&s) > 0) {
        ev->bounce = mt_gen_bounce_class(&s);
    }

    if (gc->bounces != NULL
        && (ev->type == MT_EV_BOUNCED || ev->type == MT_EV_DEFERRED))
    {
        code = mt_gen_refine(rq, node);

        if (code > 0) {
            ev->bounce = code;
        }
    }

    switch (ev->type) {

    case MT_EV_BOUNCED:
        if (ev->bounce == MT_BOUNCE_NONE) {
            ev->bounce = mt_bounce_classify(&ev->smtp_status,
                                            ev->smtp_code);
        }

        break;

    case MT_EV_DEFERRED:
        if (ev->bounce == MT_BOUNCE_NONE) {
            ev->bounce = MT_BOUNCE_SOFT;
        }

        break;

    default:
        ev->bounce = MT_BOUNCE_NONE;
        break;
    }

    /* what only an open or a click has */

    if (ev->type != MT_EV_OPENED && ev->type != MT_EV_CLICKED) {
        ev->url.len = 0;
        ev->ip.len = 0;
        ev->ua.len = 0;
    }

    if (ev->id.len == 0) {
        rc = mt_gen_id(rq, ev, &ts);
        if (rc != MT_OK) {
            return rc;
        }
    }

    rq->nevents++;

    return MT_OK;
}


/* a field's value as text; an object or an array is left out */

static mt_rc_t
mt_gen_field(mt_gen_req_t *rq, void *node, mt_gen_field_e key,
    mt_str_t *out)
{
    size_t           i;
    u_char          *p;
    mt_gen_val_t     v;
    mt_gen_field_t  *f;

    out->len = 0;
    out->data = NULL;

    f = rq->gc->fields[key];

    if (f == NULL) {
        return MT_OK;
    }

    if (mt_gen_value(rq, node, f, &v) != MT_OK) {
        return MT_ERR_NOMEM;
    }

    if (v.type != MT_GEN_V_STRING && v.type != MT_GEN_V_NUMBER
        && v.type != MT_GEN_V_BOOL)
    {
        return MT_OK;
    }

    if (f->conv & MT_GEN_CONV_INT) {
        i = (v.s.len && v.s.data[0] == '-') ? 1 : 0;

        if (v.s.len == i || mt_atoi64(v.s.data + i, v.s.len - i) < 0) {
            return MT_OK;
        }
    }

    *out = v.s;

    if (mt_gen_keep(rq, out) != MT_OK) {
        return MT_ERR_NOMEM;
    }

    if (f->conv & MT_GEN_CONV_LOWER) {
        p = mt_alloc(&rq->wh->alloc, out->len + 1);
        if (p == NULL) {
            return MT_ERR_NOMEM;
        }

        for (i = 0; i < out->len; i++) {
            p[i] = (out->data[i] >= 'A' && out->data[i] <= 'Z')
                   ? (out->data[i] | 0x20) : out->data[i];
        }

        out->data = p;
    }

    return MT_OK;
}


/* the first of the field's pointers that is present and not null */

static mt_rc_t
mt_gen_value(mt_gen_req_t *rq, void *node, mt_gen_field_t *f,
    mt_gen_val_t *v)
{
    size_t  i;

    for (i = 0; i < f->nptrs; i++) {
        if (mt_gen_lookup(rq, node, &f->ptrs[i], v) != MT_OK) {
            return MT_ERR_NOMEM;
        }

        if (v->type != MT_GEN_V_ABSENT && v->type != MT_GEN_V_NULL) {
            break;
        }
    }

    if ((f->conv & MT_GEN_CONV_FIRST) && v->type == MT_GEN_V_ARRAY) {
        return mt_gen_json_first(rq, v);
    }

    return MT_OK;
}


/*
 * A string that must outlive the body's parse (JSON Lines parse line
 * after line) is copied; a form's bytes may not be UTF-8 and are
 * repaired, as the JSON parser does.
 */

static mt_rc_t
mt_gen_keep(mt_gen_req_t *rq, mt_str_t *s)
{
    u_char  *p;

    if (s->len == 0) {
        return MT_OK;
    }

    if ((rq->format == MT_GEN_FMT_FORM || rq->format == MT_GEN_FMT_QUERY)
        && !mt_utf8_valid(s->data, s->len))
    {
        p = mt_alloc(&rq->wh->alloc, s->len * 3);
        if (p == NULL) {
            return MT_ERR_NOMEM;
        }

        s->len = mt_utf8_repair(p, s->data, s->len);
        s->data = p;

        return MT_OK;
    }

    if (rq->format == MT_GEN_FMT_NDJSON) {
        if (mt_strdup(&rq->wh->alloc, s, s->data, s->len) == NULL) {
            return MT_ERR_NOMEM;
        }
    }

    return MT_OK;
}


/* mail_track_generic_bounce: the first value that matches, or 0 */

static mt_bounce_e
mt_gen_refine(mt_gen_req_t *rq, void *node)
{
    size_t            i;
    mt_gen_val_t      v;
    mt_gen_bounce_t  *b;

    for (b = rq->gc->bounces; b != NULL; b = b->next) {
        if (mt_gen_lookup(rq, node, &b->ptr, &v) != MT_OK) {
            return MT_BOUNCE_NONE;
        }

        if (v.type != MT_GEN_V_STRING && v.type != MT_GEN_V_NUMBER
            && v.type != MT_GEN_V_BOOL)
        {
            continue;
        }

        for (i = 0; i < b->n; i++) {
            if (b->values[i].len == v.s.len
                && strncasecmp((char *) b->values[i].data,
                               (char *) v.s.data, v.s.len) == 0)
            {
                return b->classes[i];
            }
        }
    }

    return MT_BOUNCE_NONE;
}


static int
mt_gen_bounce_class(mt_str_t *s)
{
    int  i;

    for (i = MT_BOUNCE_HARD; i < MT_BOUNCE_MAX; i++) {
        if (mt_str_eq_nocase(s, mt_bounce_names[i])) {
            return i;
        }
    }

    return MT_BOUNCE_NONE;
}


/*
 * Without an id field: a hash of what identifies the event, and of the
 * nonce where there is one.
 */

static mt_rc_t
mt_gen_id(mt_gen_req_t *rq, mt_event_t *ev, mt_str_t *ts)
{
    mt_str_t  f[7];

    f[0] = ev->esp_type;
    f[1] = ev->mid;
    f[2] = ev->esp_mid;
    f[3] = ev->rcpt;
    f[4] = *ts;
    f[5] = ev->url;
    f[6] = rq->nonce;

    return mt_wh_hash_id(rq->wh, &ev->id, f, 7);
}

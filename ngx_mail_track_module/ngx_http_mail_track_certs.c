
/*
 * Copyright (C) ngx_mail_track_module authors
 *
 * The SNS signing certificate cache: PEM by certificate URL, shared by
 * the workers so that a certificate is fetched once; the least recently
 * stored go first when the zone is full.
 */


#include "ngx_http_mail_track_certs.h"


void
ngx_http_mail_track_certs_init(ngx_http_mail_track_zone_t *zone)
{
    ngx_rbtree_init(&zone->sh->certs, &zone->sh->certs_sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&zone->sh->certs_lru);
}


ngx_int_t
ngx_http_mail_track_cert_get(ngx_http_mail_track_zone_t *zone, ngx_str_t *url,
    ngx_pool_t *pool, ngx_str_t *pem)
{
    uint32_t                          hash;
    ngx_int_t                         rc;
    ngx_rbtree_node_t                *node, *sentinel;
    ngx_http_mail_track_sh_t         *sh;
    ngx_http_mail_track_cert_node_t  *cn;

    sh = zone->sh;
    hash = ngx_crc32_short(url->data, url->len);
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = sh->certs.root;
    sentinel = sh->certs.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        cn = (ngx_http_mail_track_cert_node_t *) node;

        if (cn->url_len == url->len
            && ngx_memcmp(cn->data, url->data, url->len) == 0)
        {
            pem->data = ngx_pnalloc(pool, cn->pem_len);

            if (pem->data) {
                pem->len = cn->pem_len;
                ngx_memcpy(pem->data, cn->data + cn->url_len, cn->pem_len);
                rc = NGX_OK;
            }

            break;
        }

        node = node->right;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


void
ngx_http_mail_track_cert_put(ngx_http_mail_track_zone_t *zone, ngx_str_t *url,
    ngx_str_t *pem)
{
    ngx_queue_t                      *q;
    ngx_http_mail_track_sh_t         *sh;
    ngx_http_mail_track_cert_node_t  *cn, *old;

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for ( ;; ) {
        cn = ngx_slab_alloc_locked(zone->shpool,
                                 offsetof(ngx_http_mail_track_cert_node_t, data)
                                 + url->len + pem->len);
        if (cn) {
            break;
        }

        if (ngx_queue_empty(&sh->certs_lru)) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return;
        }

        q = ngx_queue_last(&sh->certs_lru);
        old = ngx_queue_data(q, ngx_http_mail_track_cert_node_t, queue);

        ngx_queue_remove(q);
        ngx_rbtree_delete(&sh->certs, &old->node);
        ngx_slab_free_locked(zone->shpool, old);
    }

    cn->node.key = ngx_crc32_short(url->data, url->len);
    cn->url_len = url->len;
    cn->pem_len = pem->len;
    ngx_memcpy(cn->data, url->data, url->len);
    ngx_memcpy(cn->data + url->len, pem->data, pem->len);

    ngx_rbtree_insert(&sh->certs, &cn->node);
    ngx_queue_insert_head(&sh->certs_lru, &cn->queue);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}

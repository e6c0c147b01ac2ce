
/*
 * GET /v1/models and /v1/models/{id}: the configured model names plus
 * what each provider lists upstream, fetched by subrequest and cached in
 * each worker for models_ttl.  A provider whose list cannot be fetched
 * is retried after a short while; the stale list is served meanwhile.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


#define NGX_LLM_GATEWAY_MODELS_RETRY  30
#define NGX_LLM_GATEWAY_MODELS_PAGES  20


static ngx_int_t ngx_llm_gateway_models_next(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx);
static ngx_int_t ngx_llm_gateway_models_page(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_provider_conf_t *pcf);
static ngx_int_t ngx_llm_gateway_models_store(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx);
static ngx_int_t ngx_llm_gateway_models_send(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx);
static ngx_int_t ngx_llm_gateway_models_entry(ngx_http_request_t *r,
    ngx_llm_gateway_main_conf_t *gmcf, ngx_str_t *id,
    ngx_llm_gateway_provider_conf_t *pcf, ngx_str_t *out);
static ngx_int_t ngx_llm_gateway_models_find(ngx_http_request_t *r,
    ngx_llm_gateway_main_conf_t *gmcf, ngx_str_t *id, ngx_str_t *out);


ngx_int_t
ngx_llm_gateway_models_handler(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_llm_gateway_models_next(r, ctx);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        r->write_event_handler = ngx_llm_gateway_models_resume;
        return NGX_DONE;
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_llm_gateway_models_send(r, ctx);
}


static ngx_int_t
ngx_llm_gateway_models_next(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx)
{
    ngx_llm_gateway_main_conf_t       *gmcf;
    ngx_llm_gateway_provider_conf_t   *pcf, **pcfp;

    gmcf = ngx_http_get_module_main_conf(r, ngx_llm_gateway_module);
    pcfp = gmcf->providers.elts;

    while (ctx->provider_next < gmcf->providers.nelts) {
        pcf = pcfp[ctx->provider_next++];

        if (!pcf->list_models
            || pcf->type->models_request == NULL
            || pcf->models.expires > ngx_time())
        {
            continue;
        }

        ctx->model_entries = NULL;
        ctx->pages = 0;
        ngx_str_null(&ctx->page_token);

        return ngx_llm_gateway_models_page(r, ctx, pcf);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_models_page(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_provider_conf_t *pcf)
{
    ngx_llm_gateway_upstream_req_t  req;

    ngx_memzero(&req, sizeof(ngx_llm_gateway_upstream_req_t));

    /* any usable key of the provider, for every page */

    ngx_memzero(ctx->tried, sizeof(ctx->tried));

    ctx->key = ngx_llm_gateway_key_pick(ctx, pcf, NULL);
    ctx->pages++;

    if (pcf->type->models_request(ctx, &req) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_llm_gateway_upstream_start(r, ctx, pcf,
                                       NGX_LLM_GATEWAY_SR_MODELS, &req)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


void
ngx_llm_gateway_models_resume(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_llm_gateway_ctx_t     *ctx;
    ngx_llm_gateway_sr_ctx_t  *srctx;

    ctx = ngx_http_get_module_ctx(r, ngx_llm_gateway_module);

    if (ctx == NULL || ctx->current == NULL || !ctx->current->done) {
        return;
    }

    srctx = ctx->current;
    ctx->current = NULL;

    rc = ngx_llm_gateway_models_store(r, ctx, srctx);

    if (rc == NGX_AGAIN) {
        /* the list has more pages: the next one, same provider */
        rc = ngx_llm_gateway_models_page(r, ctx, srctx->provider);

    } else {
        rc = ngx_llm_gateway_models_next(r, ctx);
    }

    if (rc == NGX_AGAIN) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r, ngx_llm_gateway_models_send(r, ctx));
}


/* NGX_AGAIN: a page is stored, another one follows */

static ngx_int_t
ngx_llm_gateway_models_store(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx)
{
    ngx_int_t                         rc;
    ngx_str_t                         body;
    ngx_uint_t                        i;
    ngx_pool_t                       *pool;
    ngx_array_t                      *entries, *copy;
    ngx_llm_gateway_model_entry_t    *e, *c;
    ngx_llm_gateway_provider_conf_t  *pcf;

    pcf = srctx->provider;

    body.data = srctx->body;
    body.len = srctx->body_len;

    if (srctx->status != NGX_HTTP_OK || !srctx->last || srctx->overflow) {
        goto failed;
    }

    if (ctx->model_entries == NULL) {
        ctx->model_entries = ngx_array_create(r->pool, 64,
                                       sizeof(ngx_llm_gateway_model_entry_t));
        if (ctx->model_entries == NULL) {
            goto failed;
        }
    }

    entries = ctx->model_entries;

    ngx_str_null(&ctx->page_token);

    rc = pcf->type->process_models(ctx, &body, entries);

    if (rc == NGX_AGAIN && ctx->page_token.len
        && ctx->pages < NGX_LLM_GATEWAY_MODELS_PAGES)
    {
        return NGX_AGAIN;
    }

    if (rc != NGX_OK && rc != NGX_AGAIN) {
        goto failed;
    }

    /* the list outlives the request: it moves to a pool of its own */

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        goto failed;
    }

    copy = ngx_array_create(pool, ngx_max(entries->nelts, 1),
                            sizeof(ngx_llm_gateway_model_entry_t));
    if (copy == NULL) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    e = entries->elts;

    for (i = 0; i < entries->nelts; i++) {
        c = ngx_array_push(copy);
        if (c == NULL) {
            ngx_destroy_pool(pool);
            goto failed;
        }

        c->id.data = ngx_pstrdup(pool, &e[i].id);
        c->id.len = e[i].id.len;
        c->json.data = ngx_pstrdup(pool, &e[i].json);
        c->json.len = e[i].json.len;

        if (c->id.data == NULL || c->json.data == NULL) {
            ngx_destroy_pool(pool);
            goto failed;
        }
    }

    if (pcf->models.pool) {
        ngx_destroy_pool(pcf->models.pool);
    }

    pcf->models.pool = pool;
    pcf->models.entries = copy;
    pcf->models.expires = ngx_time() + pcf->models_ttl / 1000;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "llm gateway models: provider \"%V\" lists %ui",
                   &pcf->name, copy->nelts);

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "llm gateway: provider \"%V\" model list unavailable "
                  "(status %ui)", &pcf->name, srctx->status);

    pcf->models.expires = ngx_time()
                          + ngx_min(NGX_LLM_GATEWAY_MODELS_RETRY,
                                    (time_t) (pcf->models_ttl / 1000));

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_models_entry(ngx_http_request_t *r,
    ngx_llm_gateway_main_conf_t *gmcf, ngx_str_t *id,
    ngx_llm_gateway_provider_conf_t *pcf, ngx_str_t *out)
{
    yajl_gen  g;

    g = ngx_llm_gateway_json_gen(r->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_llm_gateway_json_gen_cstr(g, "id") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, id) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "object") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "model") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "created") != NGX_OK
        || yajl_gen_integer(g, gmcf->created) != yajl_gen_status_ok
        || ngx_llm_gateway_json_gen_cstr(g, "owned_by") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, &pcf->name) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_json_take(g, r->pool, out);
}


static ngx_int_t
ngx_llm_gateway_models_find(ngx_http_request_t *r,
    ngx_llm_gateway_main_conf_t *gmcf, ngx_str_t *id, ngx_str_t *out)
{
    ngx_uint_t                         i, j;
    ngx_llm_gateway_model_t           *m;
    ngx_llm_gateway_model_entry_t     *e;
    ngx_llm_gateway_provider_conf_t  **pcfp;

    m = gmcf->models.elts;

    for (i = 0; i < gmcf->models.nelts; i++) {
        if (m[i].name.len == id->len
            && ngx_strncmp(m[i].name.data, id->data, id->len) == 0)
        {
            return ngx_llm_gateway_models_entry(r, gmcf, id, m[i].provider,
                                                out);
        }
    }

    pcfp = gmcf->providers.elts;

    for (i = 0; i < gmcf->providers.nelts; i++) {
        if (pcfp[i]->models.entries == NULL) {
            continue;
        }

        e = pcfp[i]->models.entries->elts;

        for (j = 0; j < pcfp[i]->models.entries->nelts; j++) {
            if (e[j].id.len == id->len
                && ngx_strncmp(e[j].id.data, id->data, id->len) == 0)
            {
                *out = e[j].json;
                return NGX_OK;
            }
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_llm_gateway_models_send(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx)
{
    u_char                            *p;
    size_t                             len;
    ngx_int_t                          rc;
    ngx_str_t                          body, *json;
    ngx_uint_t                         i, j, k, n, dup;
    ngx_array_t                        items;
    ngx_llm_gateway_model_t           *m;
    ngx_llm_gateway_error_t            err;
    ngx_llm_gateway_main_conf_t       *gmcf;
    ngx_llm_gateway_model_entry_t     *e;
    ngx_llm_gateway_provider_conf_t  **pcfp;

    gmcf = ngx_http_get_module_main_conf(r, ngx_llm_gateway_module);

    if (ctx->endpoint == NGX_LLM_GATEWAY_EP_MODEL) {
        rc = ngx_llm_gateway_models_find(r, gmcf, &ctx->model_id, &body);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_OK) {
            return ngx_llm_gateway_send_json(r, NGX_HTTP_OK, &body);
        }

        ngx_llm_gateway_error_set(&err, NGX_HTTP_NOT_FOUND, "",
                                  "invalid_request_error", "model",
                                  "model_not_found");

        err.message.data = ngx_pnalloc(r->pool, 64 + ctx->model_id.len);
        if (err.message.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        err.message.len = ngx_sprintf(err.message.data,
                                      "The model `%V` does not exist.",
                                      &ctx->model_id)
                          - err.message.data;

        return ngx_llm_gateway_send_error(r, &err);
    }

    if (ngx_array_init(&items, r->pool, 64, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    m = gmcf->models.elts;

    for (i = 0; i < gmcf->models.nelts; i++) {
        json = ngx_array_push(&items);
        if (json == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_llm_gateway_models_entry(r, gmcf, &m[i].name, m[i].provider,
                                         json)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    pcfp = gmcf->providers.elts;

    for (i = 0; i < gmcf->providers.nelts; i++) {
        if (pcfp[i]->models.entries == NULL) {
            continue;
        }

        e = pcfp[i]->models.entries->elts;
        n = pcfp[i]->models.entries->nelts;

        for (j = 0; j < n; j++) {
            dup = 0;

            for (k = 0; k < gmcf->models.nelts; k++) {
                if (m[k].name.len == e[j].id.len
                    && ngx_strncmp(m[k].name.data, e[j].id.data,
                                   e[j].id.len) == 0)
                {
                    dup = 1;
                    break;
                }
            }

            if (dup) {
                continue;
            }

            json = ngx_array_push(&items);
            if (json == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *json = e[j].json;
        }
    }

    len = sizeof("{\"object\":\"list\",\"data\":[]}") - 1;
    json = items.elts;

    for (i = 0; i < items.nelts; i++) {
        len += json[i].len + 1;
    }

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body.data, "{\"object\":\"list\",\"data\":[",
                   sizeof("{\"object\":\"list\",\"data\":[") - 1);

    for (i = 0; i < items.nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, json[i].data, json[i].len);
    }

    p = ngx_cpymem(p, "]}", 2);

    body.len = p - body.data;

    return ngx_llm_gateway_send_json(r, NGX_HTTP_OK, &body);
}


void
ngx_llm_gateway_models_cleanup(ngx_cycle_t *cycle)
{
    ngx_uint_t                         i;
    ngx_llm_gateway_main_conf_t       *gmcf;
    ngx_llm_gateway_provider_conf_t  **pcfp;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_llm_gateway_module);
    if (gmcf == NULL) {
        return;
    }

    pcfp = gmcf->providers.elts;

    for (i = 0; i < gmcf->providers.nelts; i++) {
        if (pcfp[i]->models.pool) {
            ngx_destroy_pool(pcfp[i]->models.pool);
            pcfp[i]->models.pool = NULL;
            pcfp[i]->models.entries = NULL;
        }
    }
}

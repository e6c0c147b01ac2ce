
/*
 * The content handler of a gateway location: which endpoint, which
 * method, client auth, reading and parsing the body, model routing, and
 * every answer the gateway writes itself (errors included).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


static ngx_uint_t ngx_llm_gateway_endpoint(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx);
static ngx_int_t ngx_llm_gateway_not_allowed(ngx_http_request_t *r,
    char *allow);
static ngx_int_t ngx_llm_gateway_preflight(ngx_http_request_t *r);
static ngx_int_t ngx_llm_gateway_info(ngx_http_request_t *r);
static ngx_int_t ngx_llm_gateway_health(ngx_http_request_t *r);
static void ngx_llm_gateway_chat_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_llm_gateway_chat_start(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx);
static ngx_int_t ngx_llm_gateway_dispatch_key(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx);
#if (NGX_PCRE)
static ngx_int_t ngx_llm_gateway_route_captures(ngx_http_request_t *r,
    ngx_llm_gateway_model_t *m, ngx_str_t *name, ngx_str_t *out);
#endif


ngx_llm_gateway_ctx_t *
ngx_llm_gateway_get_ctx(ngx_http_request_t *r)
{
    ngx_llm_gateway_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_llm_gateway_module);
    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_llm_gateway_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->request = r;
    ctx->pool = r->pool;
    ctx->log = r->connection->log;
    ctx->prompt_tokens = -1;
    ctx->completion_tokens = -1;

    ngx_llm_gateway_out_init(&ctx->out, r->pool);

    ngx_http_set_ctx(r, ctx, ngx_llm_gateway_module);

    return ctx;
}


ngx_int_t
ngx_llm_gateway_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_llm_gateway_ctx_t        *ctx;
    ngx_llm_gateway_error_t       err;
    ngx_llm_gateway_loc_conf_t   *glcf;

    ctx = ngx_llm_gateway_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_llm_gateway_module);

    ctx->endpoint = ngx_llm_gateway_endpoint(r, ctx);
    ctx->sse.max = glcf->buffer_size;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "llm gateway handler: endpoint %ui \"%V\"",
                   ctx->endpoint, &r->uri);

    if (r->method == NGX_HTTP_OPTIONS) {
        return ngx_llm_gateway_preflight(r);
    }

    switch (ctx->endpoint) {

    case NGX_LLM_GATEWAY_EP_INFO:
    case NGX_LLM_GATEWAY_EP_HEALTH:
    case NGX_LLM_GATEWAY_EP_MODELS:
    case NGX_LLM_GATEWAY_EP_MODEL:
    case NGX_LLM_GATEWAY_EP_KEYS_LIST:
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_llm_gateway_not_allowed(r, "GET, HEAD, OPTIONS");
        }

        break;

    case NGX_LLM_GATEWAY_EP_CHAT:
    case NGX_LLM_GATEWAY_EP_EMBEDDINGS:
        if (r->method != NGX_HTTP_POST) {
            return ngx_llm_gateway_not_allowed(r, "POST, OPTIONS");
        }

        break;

    default:
        ngx_llm_gateway_error_set(&err, NGX_HTTP_NOT_FOUND, "",
                                  "invalid_request_error", NULL,
                                  "unknown_url");

        err.message.data = ngx_pnalloc(r->pool, 64 + r->method_name.len
                                                + r->uri.len);
        if (err.message.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        err.message.len = ngx_sprintf(err.message.data,
                                      "Unknown request URL: %V %V.",
                                      &r->method_name, &r->uri)
                          - err.message.data;

        return ngx_llm_gateway_early_error(r, &err);
    }

    if (ctx->endpoint == NGX_LLM_GATEWAY_EP_INFO
        || ctx->endpoint == NGX_LLM_GATEWAY_EP_HEALTH)
    {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ctx->endpoint == NGX_LLM_GATEWAY_EP_INFO
               ? ngx_llm_gateway_info(r) : ngx_llm_gateway_health(r);
    }

    if (ctx->endpoint == NGX_LLM_GATEWAY_EP_KEYS_LIST) {

        /* the key pool is the administration's: its tokens, not clients' */

        if (ngx_llm_gateway_admin_auth(r, glcf, &err) != NGX_OK) {
            return ngx_llm_gateway_early_error(r, &err);
        }

        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_llm_gateway_keys_list(r);
    }

    if (ngx_llm_gateway_auth(r, glcf, &err) != NGX_OK) {
        return ngx_llm_gateway_early_error(r, &err);
    }

    if (ctx->endpoint != NGX_LLM_GATEWAY_EP_CHAT
        && ctx->endpoint != NGX_LLM_GATEWAY_EP_EMBEDDINGS)
    {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_llm_gateway_models_handler(r, ctx);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                           ngx_llm_gateway_chat_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * Endpoints are recognised by the end of the URI, so the gateway works
 * in "location /", "location /v1/" or "location /api/" alike: the
 * location prefix and an optional "v1/" are skipped.
 */

static ngx_uint_t
ngx_llm_gateway_endpoint(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx)
{
    u_char                    *p, *last;
    size_t                     len;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->uri.data;
    last = r->uri.data + r->uri.len;

    len = clcf->name.len;

    if (!clcf->exact_match
#if (NGX_PCRE)
        && clcf->regex == NULL
#endif
        && len && len <= r->uri.len
        && ngx_strncmp(p, clcf->name.data, len) == 0)
    {
        p += len;
    }

    while (p < last && *p == '/') {
        p++;
    }

    if (last - p >= 2 && p[0] == 'v' && p[1] == '1'
        && (last - p == 2 || p[2] == '/'))
    {
        p += 2;

        while (p < last && *p == '/') {
            p++;
        }
    }

    while (last > p && last[-1] == '/') {
        last--;
    }

    len = last - p;

    if (len == 0) {
        return NGX_LLM_GATEWAY_EP_INFO;
    }

    if (len == 6 && ngx_strncmp(p, "health", 6) == 0) {
        return NGX_LLM_GATEWAY_EP_HEALTH;
    }

    if (len == 16 && ngx_strncmp(p, "chat/completions", 16) == 0) {
        return NGX_LLM_GATEWAY_EP_CHAT;
    }

    if (len == 6 && ngx_strncmp(p, "models", 6) == 0) {
        return NGX_LLM_GATEWAY_EP_MODELS;
    }

    if (len == 10 && ngx_strncmp(p, "embeddings", 10) == 0) {
        return NGX_LLM_GATEWAY_EP_EMBEDDINGS;
    }

    if (len == 9 && ngx_strncmp(p, "keys/list", 9) == 0) {
        return NGX_LLM_GATEWAY_EP_KEYS_LIST;
    }

    if (len > 7 && ngx_strncmp(p, "models/", 7) == 0) {
        ctx->model_id.data = p + 7;
        ctx->model_id.len = len - 7;
        return NGX_LLM_GATEWAY_EP_MODEL;
    }

    /* in a regex location, or with a longer prefix: look at the tail */

    if (len > 17 && ngx_strncmp(last - 17, "/chat/completions", 17) == 0) {
        return NGX_LLM_GATEWAY_EP_CHAT;
    }

    if (len > 7 && ngx_strncmp(last - 7, "/models", 7) == 0) {
        return NGX_LLM_GATEWAY_EP_MODELS;
    }

    if (len > 7 && ngx_strncmp(last - 7, "/health", 7) == 0) {
        return NGX_LLM_GATEWAY_EP_HEALTH;
    }

    if (len > 11 && ngx_strncmp(last - 11, "/embeddings", 11) == 0) {
        return NGX_LLM_GATEWAY_EP_EMBEDDINGS;
    }

    return NGX_LLM_GATEWAY_EP_UNKNOWN;
}


static ngx_int_t
ngx_llm_gateway_not_allowed(ngx_http_request_t *r, char *allow)
{
    ngx_table_elt_t          *h;
    ngx_llm_gateway_error_t   err;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);

    ngx_llm_gateway_error_set(&err, NGX_HTTP_NOT_ALLOWED, "", NULL, NULL,
                              "method_not_allowed");

    err.message.data = ngx_pnalloc(r->pool, 64 + r->method_name.len);
    if (err.message.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    err.message.len = ngx_sprintf(err.message.data,
                                  "Method %V is not allowed here; use %s.",
                                  &r->method_name, allow)
                      - err.message.data;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    return ngx_llm_gateway_send_error(r, &err);
}


/* CORS headers themselves are added to every answer by the header filter */

static ngx_int_t
ngx_llm_gateway_preflight(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    ngx_str_set(&h->value, "GET, POST, OPTIONS");

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    ngx_llm_gateway_get_ctx(r)->own_output = 1;

    return ngx_http_send_header(r);
}


static ngx_int_t
ngx_llm_gateway_info(ngx_http_request_t *r)
{
    ngx_str_t  body;

    ngx_str_set(&body,
        "{\"object\":\"service\",\"name\":\"ngx_llm_gateway\","
        "\"version\":\"" NGX_LLM_GATEWAY_VERSION "\","
        "\"api\":\"openai\","
        "\"endpoints\":[\"POST /v1/chat/completions\",\"GET /v1/models\","
        "\"GET /v1/models/{model}\",\"POST /v1/embeddings\",\"GET /health\"]}");

    return ngx_llm_gateway_send_json(r, NGX_HTTP_OK, &body);
}


static ngx_int_t
ngx_llm_gateway_health(ngx_http_request_t *r)
{
    u_char                           *p;
    size_t                            len, keys;
    ngx_str_t                         body;
    ngx_uint_t                        i;
    ngx_llm_gateway_main_conf_t      *gmcf;
    ngx_llm_gateway_provider_conf_t **pcfp;

    gmcf = ngx_http_get_module_main_conf(r, ngx_llm_gateway_module);

    keys = 0;
    pcfp = gmcf->providers.elts;

    for (i = 0; i < gmcf->providers.nelts; i++) {
        keys += pcfp[i]->keys.nelts;
    }

    len = sizeof("{\"status\":\"ok\",\"version\":\"\",\"providers\":,"
                 "\"models\":,\"keys\":,\"time\":}") - 1
          + sizeof(NGX_LLM_GATEWAY_VERSION) - 1 + 4 * NGX_INT_T_LEN;

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body.data,
                    "{\"status\":\"ok\",\"version\":\"%s\",\"providers\":%ui,"
                    "\"models\":%ui,\"keys\":%uz,\"time\":%T}",
                    NGX_LLM_GATEWAY_VERSION, gmcf->providers.nelts,
                    gmcf->models.nelts + gmcf->regexes.nelts, keys,
                    ngx_time());

    body.len = p - body.data;

    return ngx_llm_gateway_send_json(r, NGX_HTTP_OK, &body);
}


ngx_int_t
ngx_llm_gateway_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    ngx_int_t               rc;
    ngx_llm_gateway_ctx_t  *ctx;

    ctx = ngx_llm_gateway_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->own_output = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_llm_gateway_send_body(r, body);
}


/* the rest of a response whose header went out already */

ngx_int_t
ngx_llm_gateway_send_body(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = body->len ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * An answer before the body was read: the body is discarded first, or
 * it would be read as the next request on the connection.
 */

ngx_int_t
ngx_llm_gateway_early_error(ngx_http_request_t *r,
    ngx_llm_gateway_error_t *err)
{
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    return ngx_llm_gateway_send_error(r, err);
}


ngx_int_t
ngx_llm_gateway_send_error(ngx_http_request_t *r,
    ngx_llm_gateway_error_t *err)
{
    ngx_str_t         body;
    ngx_table_elt_t  *h;

    ngx_llm_gateway_error_defaults(err);

    if (ngx_llm_gateway_error_json(r->pool, err, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (err->retry_after) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.len = ngx_sprintf(h->value.data, "%T", err->retry_after)
                       - h->value.data;
    }

    return ngx_llm_gateway_send_json(r, err->status, &body);
}


static void
ngx_llm_gateway_chat_body_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_llm_gateway_ctx_t  *ctx;

    ctx = ngx_llm_gateway_get_ctx(r);
    if (ctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_llm_gateway_chat_start(r, ctx);

    if (rc == NGX_DONE) {
        /* the subrequest runs; ngx_llm_gateway_chat_resume() goes on */
        return;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_llm_gateway_chat_start(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_str_t                 body, *model;
    ngx_uint_t                kind;
    ngx_llm_gateway_error_t   err;

    if (ngx_llm_gateway_read_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&err, sizeof(ngx_llm_gateway_error_t));

    if (ctx->endpoint == NGX_LLM_GATEWAY_EP_EMBEDDINGS) {
        kind = NGX_LLM_GATEWAY_SR_EMBED;
        rc = ngx_llm_gateway_embed_parse(ctx, &body, &err);

    } else {
        kind = NGX_LLM_GATEWAY_SR_CHAT;
        rc = ngx_llm_gateway_chat_parse(ctx, &body, &err);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_llm_gateway_send_error(r, &err);
    }

    if (kind == NGX_LLM_GATEWAY_SR_EMBED) {
        model = &ctx->embed->model;

    } else {
        model = &ctx->chat->model;
        ctx->stream = ctx->chat->stream;
    }

    rc = ngx_llm_gateway_route(r, ctx, model, &err);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_llm_gateway_send_error(r, &err);
    }

    if (kind == NGX_LLM_GATEWAY_SR_EMBED
        && ctx->provider->type->embed_request == NULL)
    {
        ngx_llm_gateway_error_set(&err, NGX_HTTP_BAD_REQUEST, "",
                                  "invalid_request_error", "model",
                                  "model_not_supported");

        err.message.data = ngx_pnalloc(r->pool, 80 + ctx->model.len);
        if (err.message.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        err.message.len = ngx_sprintf(err.message.data,
                                      "The model `%V` does not support "
                                      "embeddings.", &ctx->model)
                          - err.message.data;

        return ngx_llm_gateway_send_error(r, &err);
    }

    if (kind == NGX_LLM_GATEWAY_SR_CHAT) {

        /* http(s) images first, for providers that take them inline */

        rc = ngx_llm_gateway_fetch_next(r, ctx);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return ngx_llm_gateway_dispatch(r, ctx, kind);
}


/* a routed request: an upstream key, the provider's request, the trip */

ngx_int_t
ngx_llm_gateway_dispatch(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx,
    ngx_uint_t kind)
{
    ngx_uint_t               level;
    ngx_llm_gateway_error_t  err;

    ctx->kind = kind;

    if (ctx->attempts == 0) {
        ctx->started = ngx_current_msec;
    }

    ngx_memzero(&err, sizeof(ngx_llm_gateway_error_t));

    ctx->key = ngx_llm_gateway_key_pick(ctx, ctx->provider, &err);

    if (ctx->key == NULL) {
        if (err.status == 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* cooling keys are business as usual; none usable is not */

        level = (err.status == 429) ? NGX_LOG_WARN : NGX_LOG_ERR;

        ngx_log_error(level, r->connection->log, 0,
                      "llm gateway: provider \"%V\": %V",
                      &ctx->provider->name, &err.message);

        return ngx_llm_gateway_send_error(r, &err);
    }

    return ngx_llm_gateway_dispatch_key(r, ctx);
}


/*
 * The next attempt after an answer another key may do better with:
 * NGX_DONE if it runs, NGX_DECLINED if no key is left (the answer
 * stands), or an error.
 */

ngx_int_t
ngx_llm_gateway_retry(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx)
{
    ngx_llm_gateway_key_t  *key;

    key = ngx_llm_gateway_key_pick(ctx, ctx->provider, NULL);

    if (key == NULL) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "llm gateway: provider \"%V\": attempt %ui with key "
                  "\"%*s\"", &ctx->provider->name, ctx->attempts + 1,
                  (size_t) NGX_LLM_GATEWAY_KEY_ID_LEN, key->id);

    ctx->key = key;

    return ngx_llm_gateway_dispatch_key(r, ctx);
}


/* the provider's request with the key picked, and the trip */

static ngx_int_t
ngx_llm_gateway_dispatch_key(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_uint_t                       kind;
    ngx_llm_gateway_upstream_req_t   req;

    kind = ctx->kind;

    ngx_memzero(&req, sizeof(ngx_llm_gateway_upstream_req_t));

    r->connection->log->action = "translating the request";

    if (kind == NGX_LLM_GATEWAY_SR_EMBED) {
        rc = ctx->provider->type->embed_request(ctx, &req);

    } else {
        rc = ctx->provider->type->create_request(ctx, &req);
    }

    r->connection->log->action = NULL;

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        /* the request cannot be said in the provider's terms */
        return ngx_llm_gateway_send_error(r, &ctx->error);
    }

    rc = ngx_llm_gateway_upstream_start(r, ctx, ctx->provider, kind, &req);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->write_event_handler = ngx_llm_gateway_chat_resume;

    /* NGX_DONE: the subrequest runs (NGX_AGAIN is a slow client) */

    return NGX_DONE;
}


/* the body in one piece: in memory, or read back from its temp file */

ngx_int_t
ngx_llm_gateway_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        body->data = (u_char *) "";
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "llm gateway: could not read the request body "
                          "from \"%V\"", &b->file->name);
            return NGX_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * Model routing: exact names first, then the same name without a
 * ":provider" or ":policy" suffix (Hugging Face style), then regexes in
 * configuration order.
 */

ngx_llm_gateway_model_t *
ngx_llm_gateway_route_name(ngx_llm_gateway_main_conf_t *gmcf, ngx_str_t *name)
{
    u_char                   *colon;
    ngx_str_t                 base;
    ngx_uint_t                i;
    ngx_llm_gateway_model_t  *m;

    m = gmcf->models.elts;

    for (i = 0; i < gmcf->models.nelts; i++) {
        if (m[i].name.len == name->len
            && ngx_strncmp(m[i].name.data, name->data, name->len) == 0)
        {
            return &m[i];
        }
    }

    colon = ngx_strlchr(name->data, name->data + name->len, ':');

    if (colon) {
        base.data = name->data;
        base.len = colon - name->data;

        for (i = 0; i < gmcf->models.nelts; i++) {
            if (m[i].name.len == base.len
                && ngx_strncmp(m[i].name.data, base.data, base.len) == 0)
            {
                return &m[i];
            }
        }
    }

#if (NGX_PCRE)
    m = gmcf->regexes.elts;

    for (i = 0; i < gmcf->regexes.nelts; i++) {
        if (ngx_regex_exec(m[i].regex, name, NULL, 0) >= 0) {
            return &m[i];
        }
    }
#endif

    return NULL;
}


/*
 * Model routing: exact names first, then the same name without a
 * ":provider" or ":policy" suffix (Hugging Face style, the suffix is kept
 * for the upstream), then regexes in configuration order.
 */

ngx_int_t
ngx_llm_gateway_route(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *model, ngx_llm_gateway_error_t *err)
{
    u_char                       *p;
    size_t                        len;
    ngx_str_t                     name, suffix;
    ngx_llm_gateway_model_t      *found;
    ngx_llm_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_llm_gateway_module);

    name = *model;

    if (name.len == 0) {
        name = gmcf->default_model;
    }

    if (name.len == 0) {
        ngx_llm_gateway_error_set(err, NGX_HTTP_BAD_REQUEST,
            "you must provide a model parameter", "invalid_request_error",
            "model", "missing_required_parameter");
        return NGX_DECLINED;
    }

    ctx->model = name;

    found = ngx_llm_gateway_route_name(gmcf, &name);

    if (found == NULL) {
        ngx_llm_gateway_error_set(err, NGX_HTTP_NOT_FOUND, "",
                                  "invalid_request_error", "model",
                                  "model_not_found");

        err->message.data = ngx_pnalloc(r->pool, 80 + name.len);
        if (err->message.data == NULL) {
            return NGX_ERROR;
        }

        err->message.len = ngx_sprintf(err->message.data,
                                       "The model `%V` does not exist or "
                                       "you do not have access to it.",
                                       &name)
                           - err->message.data;

        return NGX_DECLINED;
    }

    ctx->provider = found->provider;
    ctx->route = found;
    ctx->safety = found->safety.data ? found->safety : gmcf->gemini_safety;
    ctx->links = (found->links != NGX_CONF_UNSET) ? found->links
                                                  : gmcf->gemini_links;

    /* a suffix is the part after the configured name, if any */

    ngx_str_null(&suffix);

    if (!found->is_regex && name.len > found->name.len) {
        suffix.data = name.data + found->name.len;
        suffix.len = name.len - found->name.len;
    }

    if (found->upstream.len == 0) {
        ctx->upstream_model = name;

#if (NGX_PCRE)
    } else if (found->is_regex
               && ngx_strlchr(found->upstream.data,
                              found->upstream.data + found->upstream.len, '$'))
    {
        if (ngx_llm_gateway_route_captures(r, found, &name,
                                           &ctx->upstream_model)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
#endif

    } else {
        len = found->upstream.len + suffix.len;

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ctx->upstream_model.data = p;
        ctx->upstream_model.len = len;

        p = ngx_cpymem(p, found->upstream.data, found->upstream.len);
        ngx_memcpy(p, suffix.data, suffix.len);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "llm gateway route: \"%V\" -> \"%V\" at \"%V\"",
                   &name, &ctx->upstream_model, &ctx->provider->name);

    return NGX_OK;
}


#if (NGX_PCRE)

/* upstream=$1: the regex's captures in the upstream name */

static ngx_int_t
ngx_llm_gateway_route_captures(ngx_http_request_t *r,
    ngx_llm_gateway_model_t *m, ngx_str_t *name, ngx_str_t *out)
{
    int         captures[30];
    u_char     *p, *q, *last;
    size_t      len;
    ngx_int_t   n, rc;

    rc = ngx_regex_exec(m->regex, name, captures, 30);

    if (rc <= 0) {
        *out = m->upstream;
        return NGX_OK;
    }

    len = 0;
    last = m->upstream.data + m->upstream.len;

    for (p = m->upstream.data; p < last; p++) {
        if (*p == '$' && p + 1 < last && p[1] >= '1' && p[1] <= '9') {
            n = p[1] - '0';

            if (n < rc) {
                len += captures[n * 2 + 1] - captures[n * 2];
            }

            p++;
            continue;
        }

        len++;
    }

    out->data = ngx_pnalloc(r->pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    q = out->data;

    for (p = m->upstream.data; p < last; p++) {
        if (*p == '$' && p + 1 < last && p[1] >= '1' && p[1] <= '9') {
            n = p[1] - '0';

            if (n < rc) {
                q = ngx_cpymem(q, name->data + captures[n * 2],
                               captures[n * 2 + 1] - captures[n * 2]);
            }

            p++;
            continue;
        }

        *q++ = *p;
    }

    out->len = q - out->data;

    return NGX_OK;
}

#endif

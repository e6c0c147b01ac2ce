
/*
 * HTTP providers are reached through a subrequest to an internal
 * location that does proxy_pass: nginx's upstream machinery then gives
 * keepalive pools, TLS, timeouts, resolvers and every proxy_* setting.
 *
 * The subrequest gets a body and headers of its own (the client's token,
 * cookies and encodings never go upstream).  Its response passes through
 * the gateway's filters (ngx_llm_gateway_filter.c), which either relay a
 * stream as it arrives or capture the body for the main request to
 * translate once the subrequest is done.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


static ngx_int_t ngx_llm_gateway_upstream_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static ngx_table_elt_t *ngx_llm_gateway_add_header(ngx_http_request_t *r,
    ngx_list_t *headers, char *name, ngx_str_t *value);
static ngx_int_t ngx_llm_gateway_chat_response(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx);
static ngx_int_t ngx_llm_gateway_stream_finish(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx);
static void ngx_llm_gateway_upstream_failure(ngx_llm_gateway_sr_ctx_t *srctx,
    ngx_llm_gateway_error_t *err);
static ngx_int_t ngx_llm_gateway_chat_failed(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_error_t *err,
    ngx_uint_t status);


static ngx_str_t  ngx_llm_gateway_get = ngx_string("GET");
static ngx_str_t  ngx_llm_gateway_post = ngx_string("POST");


ngx_int_t
ngx_llm_gateway_upstream_start(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_provider_conf_t *pcf,
    ngx_uint_t kind, ngx_llm_gateway_upstream_req_t *req)
{
    u_char                       *p;
    ngx_str_t                     uri, *args, value;
    ngx_buf_t                    *b;
    ngx_list_t                    headers;
    ngx_chain_t                  *cl;
    ngx_table_elt_t              *ct, *ua;
    ngx_http_request_t           *sr;
    ngx_http_request_body_t      *rb;
    ngx_http_post_subrequest_t   *ps;
    ngx_llm_gateway_sr_ctx_t     *srctx;

    /*
     * Everything is allocated first: once ngx_http_subrequest() has
     * posted the subrequest it runs, and it must never run with the
     * client's own headers and body.
     */

    /* no provider: an image fetch, whose location is the whole URI */

    if (pcf == NULL) {
        uri = req->uri;

    } else {
        uri.len = pcf->pass.len + req->uri.len;
        uri.data = ngx_pnalloc(r->pool, uri.len);
        if (uri.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(uri.data, pcf->pass.data, pcf->pass.len);
        ngx_memcpy(p, req->uri.data, req->uri.len);
    }

    srctx = ngx_pcalloc(r->pool, sizeof(ngx_llm_gateway_sr_ctx_t));
    if (srctx == NULL) {
        return NGX_ERROR;
    }

    srctx->ctx = ctx;
    srctx->provider = pcf;
    srctx->kind = kind;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_llm_gateway_upstream_done;
    ps->data = srctx;

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    if (req->method == NGX_HTTP_POST) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->pos = req->body.data;
        b->last = req->body.data + req->body.len;
        b->memory = 1;
        b->last_buf = 1;
        b->last_in_chain = 1;

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        cl->next = NULL;

        rb->bufs = cl;
        rb->buf = b;
    }

    /*
     * A fresh header list: proxy_pass forwards the request's headers, and
     * the client's Authorization, Cookie or Accept-Encoding must not reach
     * the provider.  The key is added by the internal location from
     * $llm_gateway_upstream_key.
     */

    if (ngx_list_init(&headers, r->pool, 4, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ct = NULL;

    if (req->method == NGX_HTTP_POST) {
        if (req->content_type.len) {
            value = req->content_type;

        } else {
            ngx_str_set(&value, "application/json");
        }

        ct = ngx_llm_gateway_add_header(r, &headers, "Content-Type", &value);
        if (ct == NULL) {
            return NGX_ERROR;
        }
    }

    if (req->accept.len) {
        value = req->accept;

    } else {
        ngx_str_set(&value, "application/json");
    }

    if (ngx_llm_gateway_add_header(r, &headers, "Accept", &value) == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&value, "ngx_llm_gateway/" NGX_LLM_GATEWAY_VERSION);

    ua = ngx_llm_gateway_add_header(r, &headers, "User-Agent", &value);
    if (ua == NULL) {
        return NGX_ERROR;
    }

    args = req->args.len ? &req->args : NULL;

    if (ngx_http_subrequest(r, &uri, args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    srctx->sr = sr;
    ctx->current = srctx;

    /* the filters and variables find the gateway state through the ctx */

    ngx_http_set_ctx(sr, ctx, ngx_llm_gateway_module);

    if (req->method == NGX_HTTP_POST) {
        sr->method = NGX_HTTP_POST;
        sr->method_name = ngx_llm_gateway_post;
        sr->headers_in.content_length_n = req->body.len;

    } else {
        sr->method = NGX_HTTP_GET;
        sr->method_name = ngx_llm_gateway_get;
        sr->headers_in.content_length_n = -1;
    }

    sr->request_body = rb;
    sr->headers_in.chunked = 0;

    sr->headers_in.headers = headers;
    sr->headers_in.content_type = ct;
    sr->headers_in.user_agent = ua;
    sr->headers_in.authorization = NULL;
    sr->headers_in.content_length = NULL;
    sr->headers_in.transfer_encoding = NULL;
    sr->headers_in.keep_alive = NULL;
    sr->headers_in.connection = NULL;
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    sr->headers_in.accept_encoding = NULL;
#endif

    if (pcf == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "llm gateway subrequest \"%V\"", &uri);
        return NGX_OK;
    }

    srctx->key_active = (ctx->key != NULL);

    ctx->attempts++;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "llm gateway subrequest \"%V\" provider \"%V\" "
                   "attempt %ui", &uri, &pcf->name, ctx->attempts);

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_llm_gateway_add_header(ngx_http_request_t *r, ngx_list_t *headers,
    char *name, ngx_str_t *value)
{
    size_t            len;
    ngx_table_elt_t  *h;

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NULL;
    }

    len = ngx_strlen(name);

    h->key.data = (u_char *) name;
    h->key.len = len;
    h->value = *value;

    h->lowcase_key = ngx_pnalloc(r->pool, len);
    if (h->lowcase_key == NULL) {
        return NULL;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, len);

    return h;
}


/*
 * Runs as the subrequest finalizes.  Never resume the parent from here
 * (nginx posts it): only record how the subrequest ended.  Returning
 * NGX_OK for upstream failures keeps nginx from writing its own error
 * page; the parent turns them into OpenAI errors.
 */

static ngx_int_t
ngx_llm_gateway_upstream_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_llm_gateway_sr_ctx_t *srctx = data;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "llm gateway subrequest done s:%ui rc:%i last:%ui",
                   srctx->status, rc, (ngx_uint_t) srctx->last);

    srctx->key_active = 0;

    /* NGX_AGAIN: the end of the body is written, a slow client reads it */

    if (rc == NGX_AGAIN) {
        rc = NGX_OK;
    }

    if (!srctx->done) {
        srctx->done = 1;
        srctx->rc = rc;
    }

    if (sr->connection->error
        || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || rc == NGX_HTTP_REQUEST_TIME_OUT)
    {
        /* the client is gone: let nginx tear the whole request down */
        return rc;
    }

    return NGX_OK;
}


void
ngx_llm_gateway_chat_resume(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_llm_gateway_ctx_t     *ctx;
    ngx_llm_gateway_sr_ctx_t  *srctx;

    ctx = ngx_http_get_module_ctx(r, ngx_llm_gateway_module);

    if (ctx == NULL || ctx->current == NULL || !ctx->current->done) {
        return;
    }

    srctx = ctx->current;

    r->write_event_handler = ngx_http_request_empty_handler;

    if (srctx->kind == NGX_LLM_GATEWAY_SR_FETCH) {
        rc = ngx_llm_gateway_fetch_done(r, ctx, srctx);

        if (rc == NGX_DONE) {
            /* the next fetch, or the provider's request, runs */
            return;
        }

        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ctx->native) {
        rc = ngx_llm_gateway_native_done(r, ctx, srctx);

    } else if (ctx->header_sent) {
        rc = ngx_llm_gateway_stream_finish(r, ctx, srctx);

    } else {
        rc = ngx_llm_gateway_chat_response(r, ctx, srctx);

        if (rc == NGX_DONE) {
            /* another key's attempt runs */
            return;
        }
    }

    ngx_http_finalize_request(r, rc);
}


static void
ngx_llm_gateway_upstream_failure(ngx_llm_gateway_sr_ctx_t *srctx,
    ngx_llm_gateway_error_t *err)
{
    if (srctx->rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        ngx_llm_gateway_error_set(err, NGX_HTTP_GATEWAY_TIME_OUT,
                                  "The upstream server timed out.",
                                  "server_error", NULL, "upstream_timeout");
        return;
    }

    ngx_llm_gateway_error_set(err, NGX_HTTP_BAD_GATEWAY,
                              "The upstream server is unreachable or closed "
                              "the connection.", "server_error", NULL,
                              "upstream_unreachable");
}


static ngx_int_t
ngx_llm_gateway_chat_response(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx)
{
    ngx_int_t                 rc;
    ngx_str_t                 body, out;
    ngx_llm_gateway_error_t   err;

    ctx->upstream_status = srctx->status;

    body.data = srctx->body;
    body.len = srctx->body_len;

    if (srctx->status == 0) {
        ngx_llm_gateway_upstream_failure(srctx, &err);
        return ngx_llm_gateway_chat_failed(r, ctx, &err, 0);
    }

    if (srctx->overflow) {
        ngx_llm_gateway_key_outcome(ctx, srctx->status, 0, NULL);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "llm gateway: provider \"%V\" response is larger than "
                      "llm_gateway_buffer_size", &srctx->provider->name);

        ngx_llm_gateway_error_set(&err, NGX_HTTP_BAD_GATEWAY,
                                  "The upstream response is too large.",
                                  "server_error", NULL, "upstream_too_large");
        return ngx_llm_gateway_send_error(r, &err);
    }

    if (srctx->status < 200 || srctx->status >= 300) {
        srctx->provider->type->process_error(ctx, srctx->status, &body, &err);

        if (err.retry_after == 0) {
            err.retry_after = srctx->retry_after;
        }

        ngx_llm_gateway_scrub(&err.message, &ctx->key->secret);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "llm gateway: provider \"%V\" key \"%*s\" answered %ui",
                      &srctx->provider->name,
                      (size_t) NGX_LLM_GATEWAY_KEY_ID_LEN, ctx->key->id,
                      srctx->status);

        return ngx_llm_gateway_chat_failed(r, ctx, &err, err.status);
    }

    if (srctx->rc != NGX_OK || !srctx->last) {
        ngx_llm_gateway_upstream_failure(srctx, &err);
        return ngx_llm_gateway_chat_failed(r, ctx, &err, 0);
    }

    ngx_llm_gateway_key_outcome(ctx, srctx->status, 0, NULL);

    r->connection->log->action = "translating the upstream response";

    if (srctx->kind == NGX_LLM_GATEWAY_SR_EMBED) {
        rc = srctx->provider->type->process_embeddings(ctx, &body, &out);

    } else {
        rc = srctx->provider->type->process_response(ctx, &body, &out);
    }

    r->connection->log->action = NULL;

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK && rc != NGX_DONE) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "llm gateway: provider \"%V\" returned an invalid "
                      "response", &srctx->provider->name);

        ngx_llm_gateway_error_set(&err, NGX_HTTP_BAD_GATEWAY,
                                  "The upstream server returned an invalid "
                                  "response.", "server_error", NULL,
                                  "upstream_invalid_response");
        return ngx_llm_gateway_send_error(r, &err);
    }

    if (ctx->stream) {

        /*
         * The provider answered a stream request with one completion,
         * replayed as a stream: either as text (out) or, NGX_DONE, as
         * events the translator already wrote to ctx->out.
         */

        if (ngx_llm_gateway_stream_start(r, ctx) == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DONE) {
            return ngx_llm_gateway_stream_finish(r, ctx, srctx);
        }

        return ngx_llm_gateway_send_body(r, &out);
    }

    return ngx_llm_gateway_send_json(r, NGX_HTTP_OK, &out);
}


/*
 * An attempt that failed: the key's outcome, then another key if that
 * may help and nothing was sent yet, else the error.  "status" is what
 * the client would get (0: no answer).
 */

static ngx_int_t
ngx_llm_gateway_chat_failed(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_error_t *err,
    ngx_uint_t status)
{
    ngx_int_t  rc;

    ngx_llm_gateway_key_outcome(ctx, status, err->retry_after,
                                &err->message);

    if (ngx_llm_gateway_key_retry(ctx, status)) {
        rc = ngx_llm_gateway_retry(r, ctx);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return ngx_llm_gateway_send_error(r, err);
}


/*
 * Called from the subrequest's header filter once the provider answered
 * 2xx to a streaming request: the client gets its headers now, and every
 * event after them as it arrives.
 */

ngx_int_t
ngx_llm_gateway_stream_start(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    ctx->own_output = 1;
    ctx->header_sent = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = -1;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-cache");

    /* tell a buffering proxy in front of this nginx to stream as well */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Accel-Buffering");
    ngx_str_set(&h->value, "no");

    return ngx_http_send_header(r);
}


static ngx_int_t
ngx_llm_gateway_stream_finish(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx)
{
    ngx_str_t                 json;
    ngx_buf_t                *b;
    ngx_uint_t                clean;
    ngx_chain_t              *cl, *out, **ll;
    ngx_llm_gateway_error_t   err;

    ctx->upstream_status = srctx->status;

    /* only a stream that ended as it should is finished as such */

    clean = (srctx->rc == NGX_OK && srctx->last && !srctx->overflow);

    ngx_llm_gateway_key_outcome(ctx, clean || srctx->overflow
                                     ? srctx->status : 0, 0, NULL);

    if (clean && srctx->stream && !ctx->stream_done && !ctx->stream_failed)
    {
        if (ngx_llm_gateway_sse_flush(&ctx->sse, r->pool,
                                      ngx_llm_gateway_sse_event, ctx)
            == NGX_ERROR)
        {
            return NGX_ERROR;
        }
    }

    if (clean && srctx->provider->type->finish_stream
        && !ctx->stream_failed && !ctx->stream_done)
    {
        if (srctx->provider->type->finish_stream(ctx) == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    if (!ctx->stream_done) {

        if (!ctx->stream_failed && !clean) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "llm gateway: provider \"%V\" stream ended "
                          "prematurely", &srctx->provider->name);

            if (srctx->overflow) {
                ngx_llm_gateway_error_set(&err, NGX_HTTP_BAD_GATEWAY,
                                  "An upstream event is larger than "
                                  "llm_gateway_buffer_size.", "server_error",
                                  NULL, "upstream_too_large");

            } else {
                ngx_llm_gateway_error_set(&err, NGX_HTTP_BAD_GATEWAY,
                                  "The upstream stream ended prematurely.",
                                  "server_error", NULL,
                                  "upstream_stream_truncated");
            }

            if (ngx_llm_gateway_error_json(r->pool, &err, &json) != NGX_OK
                || ngx_llm_gateway_out_event(&ctx->out, json.data, json.len)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        if (ngx_llm_gateway_out_event(&ctx->out, (u_char *) "[DONE]", 6)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ctx->stream_done = 1;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    out = ngx_llm_gateway_out_take(&ctx->out);

    for (ll = &out; *ll; ll = &(*ll)->next) {
        /* void */
    }

    *ll = cl;

    return ngx_http_output_filter(r, out);
}

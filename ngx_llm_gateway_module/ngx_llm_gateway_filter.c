
/*
 * Header and body filters.
 *
 * On the gateway's own subrequests they are the transport's receiving
 * end: a stream is parsed event by event and translated output goes on
 * down the subrequest's filter chain (the postpone filter hands it to the
 * client connection at once); anything else is captured in memory for
 * the main request to translate.
 *
 * On main requests in gateway locations they add CORS headers and turn
 * the error pages nginx itself writes (413, 400, 408, ...) into OpenAI
 * errors: a client of the gateway never sees an HTML page.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


static ngx_int_t ngx_llm_gateway_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_llm_gateway_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_llm_gateway_sr_header(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx);
static time_t ngx_llm_gateway_retry_after(ngx_http_request_t *r);
static ngx_int_t ngx_llm_gateway_capture(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx,
    ngx_chain_t *in);
/* translated bytes that may wait for a slow client before input is held */
#define NGX_LLM_GATEWAY_RELAY_BACKLOG  65536


static ngx_int_t ngx_llm_gateway_relay(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx,
    ngx_chain_t *in);
static ngx_int_t ngx_llm_gateway_native_header(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx);
static ngx_int_t ngx_llm_gateway_relay_raw(ngx_http_request_t *r,
    ngx_llm_gateway_sr_ctx_t *srctx, ngx_chain_t *in);
static ngx_int_t ngx_llm_gateway_error_page(ngx_http_request_t *r);
static ngx_int_t ngx_llm_gateway_error_page_body(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_llm_gateway_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_llm_gateway_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_llm_gateway_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_header_filter(ngx_http_request_t *r)
{
    ngx_llm_gateway_ctx_t       *ctx;
    ngx_llm_gateway_loc_conf_t  *glcf;

    ctx = ngx_http_get_module_ctx(r, ngx_llm_gateway_module);

    if (r != r->main) {
        if (ctx && ctx->current && ctx->current->sr == r) {
            return ngx_llm_gateway_sr_header(r, ctx, ctx->current);
        }

        return ngx_http_next_header_filter(r);
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_llm_gateway_module);

    if (!glcf->enable && glcf->native == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_llm_gateway_cors_headers(r, glcf,
                                     r->method == NGX_HTTP_OPTIONS)
        == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    if (r->headers_out.status >= NGX_HTTP_BAD_REQUEST
        && (ctx == NULL || !ctx->own_output))
    {
        if (ngx_llm_gateway_error_page(r) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_llm_gateway_sr_header(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_sr_ctx_t *srctx)
{
    ngx_int_t  rc;
    ngx_str_t  ct;

    srctx->status = r->headers_out.status;
    srctx->key_active = 0;
    srctx->retry_after = ngx_llm_gateway_retry_after(r);

    ct = r->headers_out.content_type;
    srctx->content_type = ct;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "llm gateway upstream status %ui \"%V\"",
                   srctx->status, &ct);

    /* the copy filter then reads file buffers into memory for us */

    r->filter_need_in_memory = 1;

    /* the response is consumed here: nothing of it is a client header */

    r->header_sent = 1;

    if (srctx->kind == NGX_LLM_GATEWAY_SR_NATIVE) {
        return ngx_llm_gateway_native_header(r, ctx, srctx);
    }

    if (srctx->kind == NGX_LLM_GATEWAY_SR_CHAT
        && ctx->stream
        && srctx->status >= 200 && srctx->status < 300
        && ct.len >= 17
        && ngx_strncasecmp(ct.data, (u_char *) "text/event-stream", 17) == 0)
    {
        srctx->stream = 1;

        /*
         * The upstream module decides on buffering after the header is
         * sent: a stream must not wait for proxy buffers to fill, even if
         * the internal location left proxy_buffering on.
         */

        if (r->upstream) {
            r->upstream->buffering = 0;
        }

        rc = ngx_llm_gateway_stream_start(r->main, ctx);

        if (rc == NGX_ERROR || rc > NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Native pass-through: the client gets the upstream's status and body as
 * they are, streamed if the upstream streams.
 */

static ngx_int_t
ngx_llm_gateway_native_header(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx)
{
    ngx_int_t            rc;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *mr;

    mr = r->main;

    srctx->raw = 1;

    if (r->upstream) {
        r->upstream->buffering = 0;
    }

    ctx->own_output = 1;
    ctx->header_sent = 1;

    mr->headers_out.status = r->headers_out.status;
    mr->headers_out.content_type = r->headers_out.content_type;
    mr->headers_out.content_type_len = r->headers_out.content_type_len;
    mr->headers_out.content_type_lowcase = NULL;
    mr->headers_out.content_length_n = r->headers_out.content_length_n;

    if (srctx->retry_after) {
        h = ngx_list_push(&mr->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->value.data = ngx_pnalloc(mr->pool, NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.len = ngx_sprintf(h->value.data, "%T", srctx->retry_after)
                       - h->value.data;
    }

    rc = ngx_http_send_header(mr);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_relay_raw(ngx_http_request_t *r,
    ngx_llm_gateway_sr_ctx_t *srctx, ngx_chain_t *in)
{
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf || cl->buf->last_in_chain) {
            srctx->last = 1;
        }

        /* a HEAD request: the upstream's GET body is not the client's */

        if (r->main->header_only) {
            cl->buf->pos = cl->buf->last;
        }
    }

    if (r->main->header_only) {
        return NGX_OK;
    }

    return ngx_http_next_body_filter(r, in);
}


/* Retry-After is either seconds or an HTTP date */

static time_t
ngx_llm_gateway_retry_after(ngx_http_request_t *r)
{
    time_t            t;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || h[i].key.len != sizeof("Retry-After") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Retry-After",
                               sizeof("Retry-After") - 1) != 0)
        {
            continue;
        }

        t = ngx_atotm(h[i].value.data, h[i].value.len);

        if (t != NGX_ERROR) {
            return t;
        }

        t = ngx_parse_http_time(h[i].value.data, h[i].value.len);

        if (t != NGX_ERROR && t > ngx_time()) {
            return t - ngx_time();
        }

        return 0;
    }
}


static ngx_int_t
ngx_llm_gateway_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_llm_gateway_ctx_t     *ctx;
    ngx_llm_gateway_sr_ctx_t  *srctx;

    ctx = ngx_http_get_module_ctx(r, ngx_llm_gateway_module);

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (r == r->main) {
        if (ctx->error_page) {
            return ngx_llm_gateway_error_page_body(r, ctx, in);
        }

        return ngx_http_next_body_filter(r, in);
    }

    srctx = ctx->current;

    if (srctx == NULL || srctx->sr != r) {
        return ngx_http_next_body_filter(r, in);
    }

    if (srctx->raw) {
        return ngx_llm_gateway_relay_raw(r, srctx, in);
    }

    if (srctx->stream) {
        return ngx_llm_gateway_relay(r, ctx, srctx, in);
    }

    return ngx_llm_gateway_capture(r, ctx, srctx, in);
}


static ngx_int_t
ngx_llm_gateway_capture(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_sr_ctx_t *srctx, ngx_chain_t *in)
{
    u_char     *p;
    size_t      n, size, max;
    ngx_buf_t  *b;

    max = srctx->body_max ? srctx->body_max : ctx->sse.max;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        if (b->last_buf || b->last_in_chain) {
            srctx->last = 1;
        }

        if (!ngx_buf_in_memory(b)) {
            if (b->in_file) {
                b->file_pos = b->file_last;
            }

            continue;
        }

        n = b->last - b->pos;

        if (n == 0) {
            continue;
        }

        if (srctx->overflow || srctx->body_len + n > max) {
            srctx->overflow = 1;
            b->pos = b->last;
            continue;
        }

        if (srctx->body_len + n > srctx->body_size) {
            size = ngx_max(srctx->body_size * 2, srctx->body_len + n);

            if (r->headers_out.content_length_n > 0
                && (size_t) r->headers_out.content_length_n > size)
            {
                size = (size_t) r->headers_out.content_length_n;
            }

            size = ngx_max(size, 4096);
            size = ngx_min(size, max);

            p = ngx_pnalloc(ctx->pool, size);
            if (p == NULL) {
                return NGX_ERROR;
            }

            if (srctx->body_len) {
                ngx_memcpy(p, srctx->body, srctx->body_len);
            }

            srctx->body = p;
            srctx->body_size = size;
        }

        ngx_memcpy(srctx->body + srctx->body_len, b->pos, n);
        srctx->body_len += n;

        b->pos = b->last;
    }

    return NGX_OK;
}


/*
 * Upstream buffers are translated only while the client keeps up: when
 * more than NGX_LLM_GATEWAY_RELAY_BACKLOG bytes of translated events
 * wait to be sent, the rest of the input is held, unconsumed.  The
 * upstream module then sees its buffer still busy and stops reading, and
 * TCP slows the provider down, as with proxy_pass and a slow client.  The
 * held buffers are translated when the client has taken the backlog:
 * the upstream module calls the filters again, without data, when the
 * client connection can take more.
 */

static ngx_int_t
ngx_llm_gateway_relay(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_sr_ctx_t *srctx, ngx_chain_t *in)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *out, *cl;

    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf || cl->buf->last_in_chain) {
            srctx->last = 1;
        }
    }

    if (in && ngx_chain_add_copy(ctx->pool, &srctx->held, in) != NGX_OK) {
        return NGX_ERROR;
    }

    for ( ;; ) {

        while (srctx->held) {
            b = srctx->held->buf;

            if (ngx_buf_in_memory(b) && b->last != b->pos
                && !ctx->stream_failed && !ctx->stream_done
                && !srctx->overflow)
            {
                if (ngx_llm_gateway_out_backlog(&ctx->out)
                    > NGX_LLM_GATEWAY_RELAY_BACKLOG)
                {
                    break;
                }

                rc = ngx_llm_gateway_sse_feed(&ctx->sse, ctx->pool, b->pos,
                                              b->last - b->pos,
                                              ngx_llm_gateway_sse_event, ctx);

                if (rc == NGX_ERROR) {
                    return NGX_ERROR;
                }

                if (rc == NGX_DECLINED) {
                    srctx->overflow = 1;
                }
            }

            /* consumed: the upstream module may reuse the buffer */

            b->pos = b->last;

            cl = srctx->held;
            srctx->held = cl->next;
            ngx_free_chain(ctx->pool, cl);
        }

        /*
         * The upstream's body is complete (its last chunk, or as many
         * bytes as its Content-Length, was read): the subrequest is
         * finalized right after this call, in the same event, and the
         * stream's end is written then.  The last events wait for it in
         * the output, so that they and the end leave in one write, not
         * two.
         */

        if (in && srctx->held == NULL
            && r->upstream && r->upstream->length == 0)
        {
            return NGX_OK;
        }

        out = ngx_llm_gateway_out_take(&ctx->out);

        /*
         * Each event goes to the client at once; but "[DONE]" waits for
         * the end of the body, a few microseconds later, so both leave in
         * one write.
         */

        if (out && !ctx->stream_done) {
            for (cl = out; cl->next; cl = cl->next) {
                /* void */
            }

            cl->buf->flush = 1;
        }

        /*
         * Called without output too: the upstream module calls the
         * filters with nothing when the client can take more, and what a
         * slow client left in the write filter must go then.
         */

        rc = ngx_http_next_body_filter(r, out);

        ngx_chain_update_chains(ctx->pool, &ctx->out.free, &ctx->out.busy,
                                &out, (ngx_buf_tag_t) &ngx_llm_gateway_module);

        /* the client took what was waiting: the held input can go on */

        if (srctx->held == NULL || rc == NGX_ERROR
            || ngx_llm_gateway_out_backlog(&ctx->out)
               > NGX_LLM_GATEWAY_RELAY_BACKLOG)
        {
            return rc;
        }
    }
}


ngx_int_t
ngx_llm_gateway_sse_event(void *data, ngx_str_t *event, ngx_str_t *payload)
{
    ngx_llm_gateway_ctx_t *ctx = data;

    if (ctx->stream_done || ctx->stream_failed) {
        return NGX_OK;
    }

    return ctx->current->provider->type->process_event(ctx, event, payload);
}


static ngx_int_t
ngx_llm_gateway_error_page(ngx_http_request_t *r)
{
    char                        *message, *code;
    ngx_llm_gateway_ctx_t       *ctx;
    ngx_llm_gateway_error_t      err;
    ngx_llm_gateway_loc_conf_t  *glcf;

    ctx = ngx_llm_gateway_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    code = NULL;

    switch (r->headers_out.status) {

    case NGX_HTTP_BAD_REQUEST:
        message = "Bad request.";
        break;

    case NGX_HTTP_UNAUTHORIZED:
        message = "Authentication required.";
        code = "invalid_api_key";
        break;

    case NGX_HTTP_FORBIDDEN:
        message = "Access to this resource is forbidden.";
        break;

    case NGX_HTTP_NOT_FOUND:
        message = "Not found.";
        code = "unknown_url";
        break;

    case NGX_HTTP_NOT_ALLOWED:
        message = "Method not allowed.";
        code = "method_not_allowed";
        break;

    case NGX_HTTP_REQUEST_TIME_OUT:
        message = "The request body was not received in time.";
        break;

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        message = "The request body is too large.";
        code = "request_too_large";
        break;

    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
        message = "The request URI is too long.";
        break;

    case 429:
        message = "Too many requests.";
        code = "rate_limit_exceeded";
        break;

    case NGX_HTTP_BAD_GATEWAY:
        message = "The upstream server is unreachable.";
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        message = "The service is unavailable.";
        break;

    case NGX_HTTP_GATEWAY_TIME_OUT:
        message = "The upstream server timed out.";
        break;

    default:
        message = r->headers_out.status >= 500 ? "Internal server error."
                                               : "The request failed.";
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_llm_gateway_module);

    if (glcf->native) {

        /* Gemini's clients read errors as google.rpc.Status */

        ctx->error_body.data = ngx_pnalloc(r->pool, 128);
        if (ctx->error_body.data == NULL) {
            return NGX_ERROR;
        }

        ctx->error_body.len = ngx_sprintf(ctx->error_body.data,
                                  "{\"error\":{\"code\":%ui,\"message\":"
                                  "\"%s\",\"status\":\"%V\"}}",
                                  r->headers_out.status, message,
                                  ngx_llm_gateway_native_status(
                                      r->headers_out.status))
                              - ctx->error_body.data;

    } else {
        ngx_llm_gateway_error_set(&err, r->headers_out.status, message,
                                  NULL, NULL, code);

        if (ngx_llm_gateway_error_json(r->pool, &err, &ctx->error_body)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ctx->error_page = 1;

    r->headers_out.content_length_n = ctx->error_body.len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_error_page_body(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_buf_t    *b;
    ngx_uint_t    last;
    ngx_chain_t   out;

    last = 0;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        if (b->last_buf || b->last_in_chain) {
            last = 1;
        }

        if (ngx_buf_in_memory(b)) {
            b->pos = b->last;
        }

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    if (ctx->error_page_sent || (in == NULL && !last)) {

        /* after the page, and for flushes: the write filter's business */

        return in == NULL ? ngx_http_next_body_filter(r, NULL) : NGX_OK;
    }

    if (!last) {
        return NGX_OK;
    }

    ctx->error_page_sent = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->error_body.data;
    b->last = ctx->error_body.data + ctx->error_body.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/*
 * http(s) image URLs for providers that only take images inline
 * (Gemini).  With llm_gateway_image_fetch, each one is fetched, one after
 * the other, by a GET subrequest to the configured internal location,
 * which does proxy_pass $llm_gateway_fetch_url.  The image becomes a
 * data: URL in the parsed request, so the translator sees nothing else.
 *
 * Fetching URLs a client names is a way into the gateway's network, so
 * it is off unless configured, and the internal location is where the
 * site says what may be fetched: resolver, timeouts, allow and deny
 * rules on the URL.  The gateway itself only takes http and https URLs
 * without credentials; proxy_pass never follows a redirect, and a
 * redirect is refused as any other answer but 200.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


/* what a client sees of a URL in an error message */
#define NGX_LLM_GATEWAY_FETCH_URL_SHOWN  128
#define NGX_LLM_GATEWAY_FETCH_URL_MAX    4096


static ngx_llm_gateway_part_t *ngx_llm_gateway_fetch_find(
    ngx_llm_gateway_ctx_t *ctx);
static ngx_uint_t ngx_llm_gateway_fetch_url_ok(ngx_str_t *url);
static ngx_int_t ngx_llm_gateway_fetch_error(ngx_http_request_t *r,
    ngx_llm_gateway_part_t *part, const char *why);


static ngx_str_t  ngx_llm_gateway_fetch_accept = ngx_string("image/*");


/*
 * Starts the next fetch.  NGX_DECLINED: nothing (more) to fetch; NGX_DONE:
 * a fetch runs and ngx_llm_gateway_chat_resume() goes on; otherwise what
 * the request is to be finalized with.
 */

ngx_int_t
ngx_llm_gateway_fetch_next(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx)
{
    ngx_llm_gateway_part_t          *part;
    ngx_llm_gateway_error_t          err;
    ngx_llm_gateway_loc_conf_t      *glcf;
    ngx_llm_gateway_upstream_req_t   req;

    if (ctx->chat == NULL || !ctx->provider->type->inline_images) {
        return NGX_DECLINED;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_llm_gateway_module);

    if (glcf->fetch.len == 0) {
        /* the translator refuses the URL with its own clear 400 */
        return NGX_DECLINED;
    }

    part = ngx_llm_gateway_fetch_find(ctx);

    if (part == NULL) {
        return NGX_DECLINED;
    }

    if (ctx->fetches == glcf->fetch_max_images) {
        ngx_llm_gateway_error_set(&err, NGX_HTTP_BAD_REQUEST, "",
                                  "invalid_request_error", "messages",
                                  "too_many_image_urls");

        err.message.data = ngx_pnalloc(r->pool, 160);
        if (err.message.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        err.message.len = ngx_sprintf(err.message.data,
                                      "This request has more than %ui image "
                                      "URLs for the gateway to fetch; send "
                                      "the others as data: URLs.",
                                      glcf->fetch_max_images)
                          - err.message.data;

        return ngx_llm_gateway_send_error(r, &err);
    }

    if (!ngx_llm_gateway_fetch_url_ok(&part->url)) {
        return ngx_llm_gateway_fetch_error(r, part,
                   "is not an http or https URL the gateway can fetch "
                   "(no credentials, spaces or control characters)");
    }

    ngx_memzero(&req, sizeof(ngx_llm_gateway_upstream_req_t));

    req.method = NGX_HTTP_GET;
    req.uri = glcf->fetch;
    req.accept = ngx_llm_gateway_fetch_accept;

    if (ngx_llm_gateway_upstream_start(r, ctx, NULL,
                                       NGX_LLM_GATEWAY_SR_FETCH, &req)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the subrequest is only posted: it runs after this returns */

    ctx->current->fetch = part;
    ctx->current->body_max = glcf->fetch_max_size;
    ctx->fetches++;

    r->write_event_handler = ngx_llm_gateway_chat_resume;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "llm gateway fetch \"%V\"", &part->url);

    return NGX_DONE;
}


/* a fetch is done: the image in the request, then the next fetch */

ngx_int_t
ngx_llm_gateway_fetch_done(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_sr_ctx_t *srctx)
{
    u_char                  *p, *semi, reason[128];
    ngx_int_t                rc;
    ngx_str_t                mime, data, encoded, url;
    ngx_llm_gateway_part_t  *part;

    part = srctx->fetch;

    if (srctx->status == 0) {
        return ngx_llm_gateway_fetch_error(r, part,
                   srctx->rc == NGX_HTTP_GATEWAY_TIME_OUT
                   ? "could not be fetched: the server did not answer in time"
                   : "could not be fetched: the server is unreachable");
    }

    if (srctx->status != NGX_HTTP_OK) {
        p = ngx_sprintf(reason, "could not be fetched: the server answered "
                        "%ui%Z", srctx->status);
        return ngx_llm_gateway_fetch_error(r, part, (char *) reason);
    }

    if (srctx->overflow) {
        p = ngx_sprintf(reason, "is larger than %uz bytes, the most the "
                        "gateway fetches%Z", srctx->body_max);
        return ngx_llm_gateway_fetch_error(r, part, (char *) reason);
    }

    if (srctx->rc != NGX_OK || !srctx->last) {
        return ngx_llm_gateway_fetch_error(r, part,
                   "could not be fetched: the answer was cut");
    }

    /* "image/png; charset=..." -> "image/png" */

    mime = srctx->content_type;

    semi = ngx_strlchr(mime.data, mime.data + mime.len, ';');

    if (semi) {
        mime.len = semi - mime.data;
    }

    while (mime.len && mime.data[mime.len - 1] == ' ') {
        mime.len--;
    }

    if (mime.len <= 6
        || ngx_strncasecmp(mime.data, (u_char *) "image/", 6) != 0)
    {
        p = ngx_sprintf(reason, "is not an image (Content-Type \"%*s\")%Z",
                        ngx_min(mime.len, 64), mime.data);
        return ngx_llm_gateway_fetch_error(r, part, (char *) reason);
    }

    if (srctx->body_len == 0) {
        return ngx_llm_gateway_fetch_error(r, part, "is empty");
    }

    data.data = srctx->body;
    data.len = srctx->body_len;

    url.len = sizeof("data:;base64,") - 1 + mime.len
              + ngx_base64_encoded_length(data.len);

    url.data = ngx_pnalloc(r->pool, url.len);
    if (url.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(url.data, "data:", sizeof("data:") - 1);
    p = ngx_cpymem(p, mime.data, mime.len);
    p = ngx_cpymem(p, ";base64,", sizeof(";base64,") - 1);

    encoded.data = p;
    ngx_encode_base64(&encoded, &data);

    url.len = (p - url.data) + encoded.len;

    part->url = url;

    rc = ngx_llm_gateway_fetch_next(r, ctx);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_llm_gateway_dispatch(r, ctx, NGX_LLM_GATEWAY_SR_CHAT);
}


static ngx_llm_gateway_part_t *
ngx_llm_gateway_fetch_find(ngx_llm_gateway_ctx_t *ctx)
{
    ngx_uint_t                  i, j;
    ngx_llm_gateway_part_t     *part;
    ngx_llm_gateway_message_t  *msg;

    msg = ctx->chat->messages.elts;

    for (i = 0; i < ctx->chat->messages.nelts; i++) {
        if (!msg[i].content_parts || msg[i].parts == NULL) {
            continue;
        }

        part = msg[i].parts->elts;

        for (j = 0; j < msg[i].parts->nelts; j++) {
            if (part[j].type != NGX_LLM_GATEWAY_PART_IMAGE) {
                continue;
            }

            if ((part[j].url.len > 7
                 && ngx_strncasecmp(part[j].url.data,
                                    (u_char *) "http://", 7) == 0)
                || (part[j].url.len > 8
                    && ngx_strncasecmp(part[j].url.data,
                                       (u_char *) "https://", 8) == 0))
            {
                return &part[j];
            }
        }
    }

    return NULL;
}


/* printable ASCII, no user:password@ before the host */

static ngx_uint_t
ngx_llm_gateway_fetch_url_ok(ngx_str_t *url)
{
    u_char  *p, *last, *host, *end;

    if (url->len > NGX_LLM_GATEWAY_FETCH_URL_MAX) {
        return 0;
    }

    last = url->data + url->len;

    for (p = url->data; p < last; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            return 0;
        }
    }

    host = ngx_strlchr(url->data, last, ':') + 3;

    for (end = host; end < last; end++) {
        if (*end == '/' || *end == '?' || *end == '#') {
            break;
        }
    }

    if (end == host || ngx_strlchr(host, end, '@') != NULL) {
        return 0;
    }

    return 1;
}


static ngx_int_t
ngx_llm_gateway_fetch_error(ngx_http_request_t *r,
    ngx_llm_gateway_part_t *part, const char *why)
{
    size_t                    shown;
    ngx_llm_gateway_error_t   err;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "llm gateway: the image \"%V\" %s", &part->url, why);

    ngx_llm_gateway_error_set(&err, NGX_HTTP_BAD_REQUEST, "",
                              "invalid_request_error", "messages",
                              "image_fetch_failed");

    shown = ngx_min(part->url.len, NGX_LLM_GATEWAY_FETCH_URL_SHOWN);

    err.message.data = ngx_pnalloc(r->pool, 32 + shown + ngx_strlen(why));
    if (err.message.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    err.message.len = ngx_sprintf(err.message.data, "The image at %*s%s %s.",
                                  shown, part->url.data,
                                  shown < part->url.len ? "..." : "", why)
                      - err.message.data;

    return ngx_llm_gateway_send_error(r, &err);
}


/*
 * The URL being fetched, in the fetch subrequest only: the internal
 * location does proxy_pass $llm_gateway_fetch_url.
 */

ngx_int_t
ngx_llm_gateway_fetch_url_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_llm_gateway_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_llm_gateway_module);

    if (r == r->main || ctx == NULL || ctx->current == NULL
        || ctx->current->sr != r || ctx->current->fetch == NULL)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ctx->current->fetch->url.len;
    v->data = ctx->current->fetch->url.data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}

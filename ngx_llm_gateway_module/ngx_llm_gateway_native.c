
/*
 * Native pass-through: Gemini's own clients (google-genai SDKs, curl
 * against /v1beta/...) talk to the gateway as if it were Google.  They
 * authenticate with a gateway token, in any of the places Google takes a
 * key (x-goog-api-key, ?key=, Authorization: Bearer); the request goes
 * upstream unchanged but for the key, taken from the provider's pool, and
 * the answer, streamed or not, comes back byte for byte.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


static void ngx_llm_gateway_native_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_llm_gateway_native_start(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx);
static ngx_int_t ngx_llm_gateway_native_token(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_llm_gateway_native_args(ngx_http_request_t *r,
    ngx_str_t *args);
static ngx_int_t ngx_llm_gateway_native_error(ngx_http_request_t *r,
    ngx_uint_t status, char *gstatus, char *message);


/* llm_gateway_gemini_native provider; */

char *
ngx_llm_gateway_gemini_native(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_llm_gateway_loc_conf_t *glcf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_llm_gateway_main_conf_t       *gmcf;
    ngx_llm_gateway_provider_conf_t  **pcfp;

    if (glcf->native) {
        return "is duplicate";
    }

    value = cf->args->elts;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_llm_gateway_module);
    pcfp = gmcf->providers.elts;

    for (i = 0; i < gmcf->providers.nelts; i++) {
        if (pcfp[i]->name.len == value[1].len
            && ngx_strncmp(pcfp[i]->name.data, value[1].data,
                           value[1].len) == 0)
        {
            glcf->native = pcfp[i];
            break;
        }
    }

    if (glcf->native == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown provider \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (glcf->native->type != &ngx_llm_gateway_gemini_provider) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\" is not of type gemini",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_llm_gateway_native_handler;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_llm_gateway_native_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_str_t                     token;
    ngx_llm_gateway_ctx_t        *ctx;
    ngx_llm_gateway_loc_conf_t   *glcf;

    if (r->method == NGX_HTTP_OPTIONS) {

        /* a browser's preflight: CORS headers come from the filter */

        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        ctx = ngx_llm_gateway_get_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->own_output = 1;

        r->headers_out.status = NGX_HTTP_NO_CONTENT;
        r->headers_out.content_length_n = 0;
        r->header_only = 1;

        return ngx_http_send_header(r);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST))) {
        return ngx_llm_gateway_native_error(r, NGX_HTTP_NOT_ALLOWED,
                                            "INVALID_ARGUMENT",
                                            "Method not allowed.");
    }

    ctx = ngx_llm_gateway_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_llm_gateway_module);

    ctx->native = 1;
    ctx->provider = glcf->native;
    ctx->sse.max = glcf->buffer_size;

    /* the client's token, checked as llm_gateway_auth says */

    if (glcf->tokens) {
        if (ngx_llm_gateway_native_token(r, &token) != NGX_OK) {
            return ngx_llm_gateway_native_error(r, NGX_HTTP_FORBIDDEN,
                       "PERMISSION_DENIED", "Method doesn't allow "
                       "unregistered callers: send a gateway token as "
                       "x-goog-api-key.");
        }

        if (!ngx_llm_gateway_token_valid(glcf, &token)) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "llm gateway: client sent an unknown token");

            return ngx_llm_gateway_native_error(r, NGX_HTTP_BAD_REQUEST,
                       "INVALID_ARGUMENT",
                       "API key not valid. Please pass a valid API key.");
        }
    }

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_llm_gateway_native_start(r, ctx);

        if (rc == NGX_DONE) {
            r->main->count++;
        }

        return rc;
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                         ngx_llm_gateway_native_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_llm_gateway_native_body_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_llm_gateway_ctx_t  *ctx;

    ctx = ngx_llm_gateway_get_ctx(r);
    if (ctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_llm_gateway_native_start(r, ctx);

    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_llm_gateway_native_start(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx)
{
    u_char                          *p, *last;
    ngx_str_t                        body, alt, *ct;
    ngx_llm_gateway_error_t          err;
    ngx_llm_gateway_upstream_req_t   req;

    ngx_memzero(&err, sizeof(ngx_llm_gateway_error_t));

    ctx->key = ngx_llm_gateway_key_pick(ctx, ctx->provider, &err);

    if (ctx->key == NULL) {
        if (err.status == 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "llm gateway: provider \"%V\": %V",
                      &ctx->provider->name, &err.message);

        if (err.status == 429) {
            return ngx_llm_gateway_native_error(r, 429, "RESOURCE_EXHAUSTED",
                       "Every upstream key is cooling down after rate "
                       "limits.");
        }

        return ngx_llm_gateway_native_error(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                   err.code.len == sizeof("no_upstream_key") - 1
                   ? "No upstream API key is configured for this provider."
                   : "Every upstream key of this provider is disabled.");
    }

    ngx_memzero(&req, sizeof(ngx_llm_gateway_upstream_req_t));

    req.method = (r->method == NGX_HTTP_POST) ? NGX_HTTP_POST
                                              : NGX_HTTP_GET;

    if (req.method == NGX_HTTP_POST) {
        if (ngx_llm_gateway_read_body(r, &body) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        req.body = body;
    }

    /*
     * The path from its API version on: "/gemini/v1beta/models/x:y" (the
     * SDK's baseUrl may carry a prefix) goes upstream as
     * "/v1beta/models/x:y".
     */

    last = r->uri.data + r->uri.len;
    p = ngx_strlcasestrn(r->uri.data, last, (u_char *) "/v1beta/", 8 - 1);

    if (p == NULL) {
        p = ngx_strlcasestrn(r->uri.data, last, (u_char *) "/v1/", 4 - 1);
    }

    if (p == NULL) {
        return ngx_llm_gateway_native_error(r, NGX_HTTP_NOT_FOUND,
                   "NOT_FOUND", "Unknown path: expected /v1beta/... or "
                   "/v1/....");
    }

    req.uri.data = p;
    req.uri.len = last - p;

    if (ngx_llm_gateway_native_args(r, &req.args) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    if (ct) {
        req.content_type = *ct;
    }

    /* alt=sse: the client asked for an event stream */

    if (ngx_http_arg(r, (u_char *) "alt", 3, &alt) == NGX_OK
        && alt.len == 3 && ngx_strncmp(alt.data, "sse", 3) == 0)
    {
        ngx_str_set(&req.accept, "text/event-stream");
    }

    if (ngx_llm_gateway_upstream_start(r, ctx, ctx->provider,
                                       NGX_LLM_GATEWAY_SR_NATIVE, &req)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->write_event_handler = ngx_llm_gateway_chat_resume;

    return NGX_DONE;
}


/* x-goog-api-key, then ?key=, then Authorization: Bearer */

static ngx_int_t
ngx_llm_gateway_native_token(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char           *dst, *src;
    ngx_str_t         arg;
    ngx_table_elt_t  *h;

    h = ngx_llm_gateway_header_in(r, "x-goog-api-key",
                                  sizeof("x-goog-api-key") - 1);

    if (h && h->value.len) {
        *token = h->value;
        return NGX_OK;
    }

    if (ngx_http_arg(r, (u_char *) "key", 3, &arg) == NGX_OK && arg.len) {

        /* a query value is escaped: the token as the client has it */

        token->data = ngx_pnalloc(r->pool, arg.len);
        if (token->data == NULL) {
            return NGX_ERROR;
        }

        dst = token->data;
        src = arg.data;
        ngx_unescape_uri(&dst, &src, arg.len, NGX_UNESCAPE_URI);
        token->len = dst - token->data;

        return NGX_OK;
    }

    return ngx_llm_gateway_bearer(r, token);
}


/* the query without the client's key= */

static ngx_int_t
ngx_llm_gateway_native_args(ngx_http_request_t *r, ngx_str_t *args)
{
    u_char  *p, *last, *amp, *q;

    ngx_str_null(args);

    if (r->args.len == 0) {
        return NGX_OK;
    }

    args->data = ngx_pnalloc(r->pool, r->args.len);
    if (args->data == NULL) {
        return NGX_ERROR;
    }

    q = args->data;
    p = r->args.data;
    last = r->args.data + r->args.len;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (!(amp - p >= 4 && ngx_strncmp(p, "key=", 4) == 0)) {
            if (q != args->data) {
                *q++ = '&';
            }

            q = ngx_cpymem(q, p, amp - p);
        }

        p = amp + 1;
    }

    args->len = q - args->data;

    return NGX_OK;
}


/* google.rpc.Code names for HTTP statuses, as Google's API answers */

ngx_str_t *
ngx_llm_gateway_native_status(ngx_uint_t status)
{
    static ngx_str_t  invalid = ngx_string("INVALID_ARGUMENT");
    static ngx_str_t  unauthenticated = ngx_string("UNAUTHENTICATED");
    static ngx_str_t  denied = ngx_string("PERMISSION_DENIED");
    static ngx_str_t  not_found = ngx_string("NOT_FOUND");
    static ngx_str_t  exhausted = ngx_string("RESOURCE_EXHAUSTED");
    static ngx_str_t  internal = ngx_string("INTERNAL");
    static ngx_str_t  unavailable = ngx_string("UNAVAILABLE");
    static ngx_str_t  deadline = ngx_string("DEADLINE_EXCEEDED");

    switch (status) {
    case NGX_HTTP_UNAUTHORIZED:
        return &unauthenticated;
    case NGX_HTTP_FORBIDDEN:
        return &denied;
    case NGX_HTTP_NOT_FOUND:
        return &not_found;
    case 429:
        return &exhausted;
    case NGX_HTTP_BAD_GATEWAY:
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return &unavailable;
    case NGX_HTTP_GATEWAY_TIME_OUT:
        return &deadline;
    default:
        return status >= 500 ? &internal : &invalid;
    }
}


/* errors in Google's own shape: these clients read google.rpc.Status */

static ngx_int_t
ngx_llm_gateway_native_error(ngx_http_request_t *r, ngx_uint_t status,
    char *gstatus, char *message)
{
    u_char                 *p;
    ngx_str_t               body;
    ngx_llm_gateway_ctx_t  *ctx;

    body.data = ngx_pnalloc(r->pool, 64 + ngx_strlen(gstatus)
                                     + ngx_strlen(message));
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body.data,
                    "{\"error\":{\"code\":%ui,\"message\":\"%s\","
                    "\"status\":\"%s\"}}", status, message, gstatus);
    body.len = p - body.data;

    ctx = ngx_llm_gateway_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* before the body was read, or it would be the next request */

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    return ngx_llm_gateway_send_json(r, status, &body);
}


/* the answer of the upstream, or what to say when there was none */

ngx_int_t
ngx_llm_gateway_native_done(ngx_http_request_t *r, ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_sr_ctx_t *srctx)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    ctx->upstream_status = srctx->status;

    /* the raw answer says less than a translated one: status only */

    ngx_llm_gateway_key_outcome(ctx, srctx->status, srctx->retry_after,
                                NULL);

    if (!ctx->header_sent) {
        if (srctx->rc == NGX_HTTP_GATEWAY_TIME_OUT) {
            return ngx_llm_gateway_native_error(r, NGX_HTTP_GATEWAY_TIME_OUT,
                       "DEADLINE_EXCEEDED", "The upstream server timed out.");
        }

        return ngx_llm_gateway_native_error(r, NGX_HTTP_BAD_GATEWAY,
                   "UNAVAILABLE", "The upstream server is unreachable.");
    }

    if (!srctx->last || srctx->rc == NGX_ERROR) {

        /* cut upstream: the client must see the answer is incomplete */

        r->keepalive = 0;
        return NGX_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * Google Gemini (generativelanguage.googleapis.com/v1beta): OpenAI chat
 * completions translated to generateContent and streamGenerateContent,
 * and Gemini's answers, streams and errors translated back.
 *
 * Gemini 3 needs the thoughtSignature of every function call it made
 * when the conversation is sent again.  OpenAI clients only echo the
 * tool call id, so the signature travels inside the id the gateway mints
 * ("call_<hex>_ts_<signature in base64url>") and is put back on the
 * functionCall part when the assistant turn is replayed.  Nothing is kept
 * on the server, so any worker, or a restarted gateway, can continue a
 * conversation.
 *
 * Pure translators: request in, bytes out; no event loop here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"
#include "ngx_llm_gateway_gemini_scan.h"


#define NGX_LLM_GATEWAY_GEMINI_MAX_CANDIDATES                                \
    NGX_LLM_GATEWAY_GEMINI_SCAN_CANDIDATES

/* what a stream has told so far, per candidate and for usage */
typedef struct {
    ngx_str_t                       id;
    time_t                          created;

    ngx_uint_t                      tools[NGX_LLM_GATEWAY_GEMINI_MAX_CANDIDATES];
    ngx_str_t                      *finish[NGX_LLM_GATEWAY_GEMINI_MAX_CANDIDATES];
    ngx_uint_t                      started;   /* role chunk sent, bits */
    ngx_uint_t                      seen;      /* candidates seen, bits */
    ngx_array_t                    *sources[NGX_LLM_GATEWAY_GEMINI_MAX_CANDIDATES];
    size_t                          chars[NGX_LLM_GATEWAY_GEMINI_MAX_CANDIDATES];

    int64_t                         prompt;
    int64_t                         candidates;
    int64_t                         thoughts;
    int64_t                         cached;
    int64_t                         tool_use;
    int64_t                         total;

    ngx_llm_gateway_gemini_shape_t *shape;     /* of the fast path */
    ngx_pool_t                     *scratch;   /* one event's tree */
    yajl_gen                        gen;

    /* a chunk's bytes up to the choice's index, the same for each chunk */
    ngx_str_t                       head;

    unsigned                        usage:1;
    unsigned                        blocked:1;
} ngx_llm_gateway_gemini_stream_t;


typedef struct {
    ngx_str_t                       name;
    ngx_str_t                      *openai;
} ngx_llm_gateway_gemini_finish_t;


static ngx_int_t ngx_llm_gateway_gemini_create_request(
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_upstream_req_t *req);
static ngx_int_t ngx_llm_gateway_gemini_contents(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g);
static ngx_int_t ngx_llm_gateway_gemini_text_part(yajl_gen g,
    ngx_str_t *text);
static ngx_int_t ngx_llm_gateway_gemini_inline(yajl_gen g, ngx_str_t *mime,
    ngx_str_t *data);
static ngx_int_t ngx_llm_gateway_gemini_user_parts(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g, ngx_llm_gateway_message_t *msg);
static ngx_int_t ngx_llm_gateway_gemini_model_parts(
    ngx_llm_gateway_ctx_t *ctx, yajl_gen g, ngx_llm_gateway_message_t *msg);
static ngx_int_t ngx_llm_gateway_gemini_tool_part(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g, ngx_llm_gateway_message_t *msg);
static ngx_int_t ngx_llm_gateway_gemini_system(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g);
static ngx_int_t ngx_llm_gateway_gemini_empty_tool(yajl_gen g,
    const char *name);
static ngx_int_t ngx_llm_gateway_gemini_safety(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g);
static ngx_int_t ngx_llm_gateway_gemini_tools(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g);
static ngx_int_t ngx_llm_gateway_gemini_generation(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g);
static ngx_int_t ngx_llm_gateway_gemini_thinking(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g);
static ngx_int_t ngx_llm_gateway_gemini_invalid(ngx_llm_gateway_ctx_t *ctx,
    char *param, char *message);
static ngx_int_t ngx_llm_gateway_gemini_data_url(ngx_str_t *url,
    ngx_str_t *mime, ngx_str_t *data);
static ngx_int_t ngx_llm_gateway_gemini_mint_id(ngx_llm_gateway_ctx_t *ctx,
    yajl_val signature, ngx_str_t *id);
static ngx_int_t ngx_llm_gateway_gemini_signature(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *id, ngx_str_t *signature);
static ngx_str_t *ngx_llm_gateway_gemini_finish(yajl_val reason);
static ngx_str_t *ngx_llm_gateway_gemini_finish_name(ngx_str_t *name);
static ngx_int_t ngx_llm_gateway_gemini_fast_response(
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_gemini_scan_t *scan,
    ngx_str_t *out);
static ngx_int_t ngx_llm_gateway_gemini_fast_chunk(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_gemini_scan_t *scan);
static ngx_int_t ngx_llm_gateway_gemini_fast_head(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_gemini_stream_t *st);
static ngx_int_t ngx_llm_gateway_gemini_fast_chunk_write(
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_gemini_stream_t *st,
    ngx_uint_t index, ngx_str_t *parts, ngx_uint_t nparts);
static ngx_int_t ngx_llm_gateway_gemini_fast_delta(ngx_llm_gateway_ctx_t *ctx,
    ngx_uint_t index, ngx_str_t *delta, ngx_str_t *text);
static ngx_int_t ngx_llm_gateway_gemini_fast_finish(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_gemini_stream_t *st, ngx_uint_t index, ngx_str_t *finish);
static ngx_int_t ngx_llm_gateway_gemini_fast_usage_chunk(
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_gemini_stream_t *st);
static void ngx_llm_gateway_gemini_fast_usage(
    ngx_llm_gateway_gemini_stream_t *st, ngx_llm_gateway_gemini_scan_t *scan);
static ngx_int_t ngx_llm_gateway_gemini_process_response(
    ngx_llm_gateway_ctx_t *ctx, ngx_str_t *body, ngx_str_t *out);
static ngx_int_t ngx_llm_gateway_gemini_join(ngx_pool_t *pool,
    ngx_array_t *pieces, ngx_str_t *out);
static ngx_int_t ngx_llm_gateway_gemini_candidate(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g, yajl_val cand, ngx_uint_t index);
static ngx_int_t ngx_llm_gateway_gemini_usage_read(
    ngx_llm_gateway_gemini_stream_t *st, yajl_val usage);
static int64_t ngx_llm_gateway_gemini_usage_counts(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_gemini_stream_t *st, int64_t *prompt, int64_t *completion);
static ngx_int_t ngx_llm_gateway_gemini_usage_gen(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g, ngx_llm_gateway_gemini_stream_t *st);
static ngx_int_t ngx_llm_gateway_gemini_process_event(
    ngx_llm_gateway_ctx_t *ctx, ngx_str_t *event, ngx_str_t *data);
static ngx_int_t ngx_llm_gateway_gemini_scratch_cleanup(
    ngx_llm_gateway_ctx_t *ctx, ngx_pool_t *scratch);
static void ngx_llm_gateway_gemini_scratch_destroy(void *data);
static ngx_int_t ngx_llm_gateway_gemini_chunk(ngx_llm_gateway_ctx_t *ctx,
    yajl_val root);
static ngx_int_t ngx_llm_gateway_gemini_chunk_head(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g, ngx_uint_t index);
static ngx_int_t ngx_llm_gateway_gemini_chunk_open(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g, ngx_uint_t index);
static ngx_int_t ngx_llm_gateway_gemini_chunk_close(yajl_gen g,
    ngx_str_t *finish, ngx_llm_gateway_out_t *out);
static ngx_int_t ngx_llm_gateway_gemini_stream_text(ngx_llm_gateway_ctx_t *ctx,
    yajl_gen g, ngx_uint_t index, const char *field, ngx_str_t *text);
static ngx_int_t ngx_llm_gateway_gemini_finish_stream(
    ngx_llm_gateway_ctx_t *ctx);
static ngx_int_t ngx_llm_gateway_gemini_stream_error(
    ngx_llm_gateway_ctx_t *ctx, ngx_str_t *body);
static void ngx_llm_gateway_gemini_process_error(ngx_llm_gateway_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *body, ngx_llm_gateway_error_t *err);
static ngx_int_t ngx_llm_gateway_gemini_models_request(
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_upstream_req_t *req);
static ngx_int_t ngx_llm_gateway_gemini_process_models(
    ngx_llm_gateway_ctx_t *ctx, ngx_str_t *body, ngx_array_t *entries);
static ngx_int_t ngx_llm_gateway_gemini_model_uri(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *uri, const char *method);
static ngx_int_t ngx_llm_gateway_gemini_embed_request(
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_upstream_req_t *req);
static ngx_int_t ngx_llm_gateway_gemini_process_embeddings(
    ngx_llm_gateway_ctx_t *ctx, ngx_str_t *body, ngx_str_t *out);
static ngx_int_t ngx_llm_gateway_gemini_part_text(ngx_llm_gateway_ctx_t *ctx,
    yajl_val part, ngx_str_t *text, ngx_uint_t *thought);
static ngx_llm_gateway_gemini_stream_t *ngx_llm_gateway_gemini_state(
    ngx_llm_gateway_ctx_t *ctx);
static size_t ngx_llm_gateway_gemini_chars(u_char *p, size_t len);
static ngx_int_t ngx_llm_gateway_gemini_sources(ngx_llm_gateway_ctx_t *ctx,
    yajl_val gm, ngx_array_t **sources);
static ngx_int_t ngx_llm_gateway_gemini_sources_text(
    ngx_llm_gateway_ctx_t *ctx, ngx_array_t *sources, ngx_str_t *text);
static ngx_int_t ngx_llm_gateway_gemini_annotation(yajl_gen g,
    ngx_str_t *src, size_t start, size_t end);
static ngx_int_t ngx_llm_gateway_gemini_annotations(yajl_gen g,
    ngx_array_t *sources, yajl_val gm, ngx_str_t *answer);
static ngx_int_t ngx_llm_gateway_gemini_stream_annotations(yajl_gen g,
    ngx_array_t *sources, size_t chars);


ngx_llm_gateway_provider_t  ngx_llm_gateway_gemini_provider = {
    ngx_string("gemini"),
    ngx_llm_gateway_gemini_create_request,
    ngx_llm_gateway_gemini_process_response,
    ngx_llm_gateway_gemini_process_event,
    ngx_llm_gateway_gemini_finish_stream,
    ngx_llm_gateway_gemini_process_error,
    ngx_llm_gateway_gemini_models_request,
    ngx_llm_gateway_gemini_process_models,
    ngx_llm_gateway_gemini_embed_request,
    ngx_llm_gateway_gemini_process_embeddings,
    1
};


static ngx_str_t  ngx_llm_gateway_gemini_stop = ngx_string("stop");
static ngx_str_t  ngx_llm_gateway_gemini_length = ngx_string("length");
static ngx_str_t  ngx_llm_gateway_gemini_tool_calls = ngx_string("tool_calls");
static ngx_str_t  ngx_llm_gateway_gemini_filter =
    ngx_string("content_filter");


/* Gemini's finishReason in OpenAI's words; anything else is "stop" */

static ngx_llm_gateway_gemini_finish_t  ngx_llm_gateway_gemini_finishes[] = {
    { ngx_string("MAX_TOKENS"), &ngx_llm_gateway_gemini_length },
    { ngx_string("SAFETY"), &ngx_llm_gateway_gemini_filter },
    { ngx_string("RECITATION"), &ngx_llm_gateway_gemini_filter },
    { ngx_string("BLOCKLIST"), &ngx_llm_gateway_gemini_filter },
    { ngx_string("PROHIBITED_CONTENT"), &ngx_llm_gateway_gemini_filter },
    { ngx_string("SPII"), &ngx_llm_gateway_gemini_filter },
    { ngx_string("IMAGE_SAFETY"), &ngx_llm_gateway_gemini_filter },
    { ngx_string("IMAGE_PROHIBITED_CONTENT"), &ngx_llm_gateway_gemini_filter },
    { ngx_string("IMAGE_RECITATION"), &ngx_llm_gateway_gemini_filter },
    { ngx_null_string, NULL }
};


/* ------------------------------------------------------------ request */


static ngx_int_t
ngx_llm_gateway_gemini_create_request(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_upstream_req_t *req)
{
    yajl_gen    g;
    ngx_int_t   rc;

    req->method = NGX_HTTP_POST;

    if (ctx->stream) {
        ngx_str_set(&req->args, "alt=sse");
        ngx_str_set(&req->accept, "text/event-stream");
    }

    rc = ngx_llm_gateway_gemini_model_uri(ctx, &req->uri,
                                          ctx->stream
                                          ? ":streamGenerateContent"
                                          : ":generateContent");
    if (rc != NGX_OK) {
        return rc;
    }

    g = ngx_llm_gateway_json_gen(ctx->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))) {
        return NGX_ERROR;
    }

    rc = ngx_llm_gateway_gemini_contents(ctx, g);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_llm_gateway_gemini_system(ctx, g) != NGX_OK
        || ngx_llm_gateway_gemini_tools(ctx, g) != NGX_OK
        || ngx_llm_gateway_gemini_generation(ctx, g) != NGX_OK
        || ngx_llm_gateway_gemini_safety(ctx, g) != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_json_take(g, ctx->pool, &req->body);
}


/* "/v1beta/models/{model}{method}", the model escaped for a path */

static ngx_int_t
ngx_llm_gateway_gemini_model_uri(ngx_llm_gateway_ctx_t *ctx, ngx_str_t *uri,
    const char *method)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   model;

    model = ctx->upstream_model;

    if (model.len > 7 && ngx_strncmp(model.data, "models/", 7) == 0) {
        model.data += 7;
        model.len -= 7;
    }

    /*
     * Model names are plain words; anything else would have to be
     * escaped here and would be escaped again by proxy_pass.
     */

    for (p = model.data; p < model.data + model.len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9')
              || *p == '-' || *p == '.' || *p == '_' || *p == '/'))
        {
            return ngx_llm_gateway_gemini_invalid(ctx, "model",
                       "Invalid model name for Gemini.");
        }
    }

    len = ngx_strlen(method);

    uri->data = ngx_pnalloc(ctx->pool, sizeof("/v1beta/models/") - 1
                                       + model.len + len);
    if (uri->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri->data, "/v1beta/models/",
                   sizeof("/v1beta/models/") - 1);
    p = ngx_cpymem(p, model.data, model.len);
    p = ngx_cpymem(p, method, len);

    uri->len = p - uri->data;

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_gemini_invalid(ngx_llm_gateway_ctx_t *ctx, char *param,
    char *message)
{
    ngx_llm_gateway_error_set(&ctx->error, NGX_HTTP_BAD_REQUEST, message,
                              "invalid_request_error", param,
                              "invalid_value");
    return NGX_DECLINED;
}


/*
 * OpenAI messages to Gemini contents: user and tool messages become
 * "user" turns, assistant messages "model" turns; consecutive messages
 * of one role share a turn (several tool results, say), as Gemini wants
 * roles to alternate.  System and developer messages go to
 * systemInstruction.
 */

static ngx_int_t
ngx_llm_gateway_gemini_contents(ngx_llm_gateway_ctx_t *ctx, yajl_gen g)
{
    ngx_int_t                   rc;
    ngx_uint_t                  i, role, open;
    ngx_llm_gateway_message_t  *msg;

    if (ngx_llm_gateway_json_gen_cstr(g, "contents") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
    {
        return NGX_ERROR;
    }

    open = 0;
    msg = ctx->chat->messages.elts;

    for (i = 0; i < ctx->chat->messages.nelts; i++) {

        switch (msg[i].role) {

        case NGX_LLM_GATEWAY_ROLE_SYSTEM:
        case NGX_LLM_GATEWAY_ROLE_DEVELOPER:
            continue;

        case NGX_LLM_GATEWAY_ROLE_ASSISTANT:
            role = NGX_LLM_GATEWAY_ROLE_ASSISTANT;
            break;

        default:
            role = NGX_LLM_GATEWAY_ROLE_USER;
        }

        if (open != role) {
            if (open
                && (!ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))
                    || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))))
            {
                return NGX_ERROR;
            }

            if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
                || ngx_llm_gateway_json_gen_cstr(g, "role") != NGX_OK
                || ngx_llm_gateway_json_gen_cstr(g,
                       role == NGX_LLM_GATEWAY_ROLE_ASSISTANT ? "model"
                                                              : "user")
                   != NGX_OK
                || ngx_llm_gateway_json_gen_cstr(g, "parts") != NGX_OK
                || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
            {
                return NGX_ERROR;
            }

            open = role;
        }

        switch (msg[i].role) {

        case NGX_LLM_GATEWAY_ROLE_ASSISTANT:
            rc = ngx_llm_gateway_gemini_model_parts(ctx, g, &msg[i]);
            break;

        case NGX_LLM_GATEWAY_ROLE_TOOL:
        case NGX_LLM_GATEWAY_ROLE_FUNCTION:
            rc = ngx_llm_gateway_gemini_tool_part(ctx, g, &msg[i]);
            break;

        default:
            rc = ngx_llm_gateway_gemini_user_parts(ctx, g, &msg[i]);
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (open
        && (!ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))
            || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))))
    {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_gen_ok(yajl_gen_array_close(g)) ? NGX_OK
                                                            : NGX_ERROR;
}


static ngx_int_t
ngx_llm_gateway_gemini_text_part(yajl_gen g, ngx_str_t *text)
{
    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "text") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_string(g, text->data, text->len))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_gemini_inline(yajl_gen g, ngx_str_t *mime, ngx_str_t *data)
{
    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "inlineData") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "mimeType") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, mime) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "data") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, data) != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_gemini_user_parts(ngx_llm_gateway_ctx_t *ctx, yajl_gen g,
    ngx_llm_gateway_message_t *msg)
{
    u_char                  *p;
    ngx_str_t                mime, data;
    ngx_uint_t               i;
    ngx_llm_gateway_part_t  *part;

    if (!msg->content_parts) {
        return ngx_llm_gateway_gemini_text_part(g, &msg->text);
    }

    part = msg->parts->elts;

    for (i = 0; i < msg->parts->nelts; i++) {

        switch (part[i].type) {

        case NGX_LLM_GATEWAY_PART_TEXT:
            if (ngx_llm_gateway_gemini_text_part(g, &part[i].text)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        case NGX_LLM_GATEWAY_PART_IMAGE:
            if (ngx_llm_gateway_gemini_data_url(&part[i].url, &mime, &data)
                != NGX_OK)
            {
                return ngx_llm_gateway_gemini_invalid(ctx, "messages",
                           "Gemini models take images as data: URLs "
                           "(data:image/png;base64,...); this gateway does "
                           "not fetch http(s) image URLs (see "
                           "llm_gateway_image_fetch).");
            }

            if (ngx_llm_gateway_gemini_inline(g, &mime, &data) != NGX_OK) {
                return NGX_ERROR;
            }

            break;

        case NGX_LLM_GATEWAY_PART_AUDIO:
            if (part[i].format.len == 0) {
                ngx_str_set(&part[i].format, "wav");
            }

            mime.len = sizeof("audio/") - 1 + part[i].format.len;
            mime.data = ngx_pnalloc(ctx->pool, mime.len);
            if (mime.data == NULL) {
                return NGX_ERROR;
            }

            p = ngx_cpymem(mime.data, "audio/", sizeof("audio/") - 1);
            ngx_memcpy(p, part[i].format.data, part[i].format.len);

            if (ngx_llm_gateway_gemini_inline(g, &mime, &part[i].data)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        case NGX_LLM_GATEWAY_PART_FILE:
            if (ngx_llm_gateway_gemini_data_url(&part[i].data, &mime, &data)
                != NGX_OK)
            {
                return ngx_llm_gateway_gemini_invalid(ctx, "messages",
                           "Gemini models take files as file_data data: "
                           "URLs (data:application/pdf;base64,...).");
            }

            if (ngx_llm_gateway_gemini_inline(g, &mime, &data) != NGX_OK) {
                return NGX_ERROR;
            }

            break;

        default:
            break;
        }
    }

    return NGX_OK;
}


/* "data:image/png;base64,AAAA" -> "image/png", "AAAA" */

static ngx_int_t
ngx_llm_gateway_gemini_data_url(ngx_str_t *url, ngx_str_t *mime,
    ngx_str_t *data)
{
    u_char  *p, *last, *comma;

    if (url->len < 5 || ngx_strncasecmp(url->data, (u_char *) "data:", 5))
    {
        return NGX_DECLINED;
    }

    p = url->data + 5;
    last = url->data + url->len;

    comma = ngx_strlchr(p, last, ',');
    if (comma == NULL || comma - p < 8
        || ngx_strncasecmp(comma - 7, (u_char *) ";base64", 7) != 0)
    {
        return NGX_DECLINED;
    }

    mime->data = p;
    mime->len = comma - 7 - p;

    data->data = comma + 1;
    data->len = last - comma - 1;

    return mime->len ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_llm_gateway_gemini_model_parts(ngx_llm_gateway_ctx_t *ctx, yajl_gen g,
    ngx_llm_gateway_message_t *msg)
{
    yajl_val                      args;
    ngx_str_t                     sig;
    ngx_uint_t                    i;
    ngx_llm_gateway_part_t       *part;
    ngx_llm_gateway_tool_call_t  *tc;

    if (msg->content_parts) {
        part = msg->parts->elts;

        for (i = 0; i < msg->parts->nelts; i++) {
            if (part[i].type == NGX_LLM_GATEWAY_PART_TEXT
                && part[i].text.len
                && ngx_llm_gateway_gemini_text_part(g, &part[i].text)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

    } else if (msg->text.len
               && ngx_llm_gateway_gemini_text_part(g, &msg->text) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (msg->tool_calls == NULL) {
        return NGX_OK;
    }

    tc = msg->tool_calls->elts;

    for (i = 0; i < msg->tool_calls->nelts; i++) {

        if (tc[i].arguments.len) {
            args = ngx_llm_gateway_json_parse(ctx->pool, tc[i].arguments.data,
                                              tc[i].arguments.len, NULL, 0);

            if (args == NULL || !YAJL_IS_OBJECT(args)) {
                return ngx_llm_gateway_gemini_invalid(ctx, "messages",
                           "Tool call arguments must be a JSON object.");
            }

        } else {
            args = NULL;
        }

        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
            || ngx_llm_gateway_json_gen_cstr(g, "functionCall") != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
            || ngx_llm_gateway_json_gen_cstr(g, "name") != NGX_OK
            || ngx_llm_gateway_json_gen_str(g, &tc[i].name) != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "args") != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (args) {
            if (ngx_llm_gateway_json_gen_value(g, args) != NGX_OK) {
                return NGX_ERROR;
            }

        } else if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
                   || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
        {
            return NGX_ERROR;
        }

        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))) {
            return NGX_ERROR;
        }

        /* the signature Gemini gave this call, back from the id */

        if (ngx_llm_gateway_gemini_signature(ctx, &tc[i].id, &sig) == NGX_OK
            && (ngx_llm_gateway_json_gen_cstr(g, "thoughtSignature")
                != NGX_OK
                || ngx_llm_gateway_json_gen_str(g, &sig) != NGX_OK))
        {
            return NGX_ERROR;
        }

        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A tool result: Gemini wants the function's name, which OpenAI clients
 * do not send with it; it is found in the assistant message that made
 * the call.
 */

static ngx_int_t
ngx_llm_gateway_gemini_tool_part(ngx_llm_gateway_ctx_t *ctx, yajl_gen g,
    ngx_llm_gateway_message_t *msg)
{
    yajl_val                      parsed;
    ngx_str_t                    *name, text, *piece;
    ngx_uint_t                    i, j;
    ngx_array_t                   pieces;
    ngx_llm_gateway_part_t       *part;
    ngx_llm_gateway_message_t    *m;
    ngx_llm_gateway_tool_call_t  *tc;

    name = msg->name.len ? &msg->name : NULL;

    m = ctx->chat->messages.elts;

    for (i = 0; name == NULL && i < ctx->chat->messages.nelts; i++) {
        if (m[i].tool_calls == NULL) {
            continue;
        }

        tc = m[i].tool_calls->elts;

        for (j = 0; j < m[i].tool_calls->nelts; j++) {
            if (tc[j].id.len == msg->tool_call_id.len
                && ngx_strncmp(tc[j].id.data, msg->tool_call_id.data,
                               tc[j].id.len) == 0)
            {
                name = &tc[j].name;
                break;
            }
        }
    }

    if (name == NULL) {
        return ngx_llm_gateway_gemini_invalid(ctx, "messages",
                   "A tool message refers to a tool_call_id that no "
                   "earlier assistant message has.");
    }

    /* the result text: a string, or the text parts joined */

    text = msg->text;

    if (msg->content_parts) {
        if (ngx_array_init(&pieces, ctx->pool, msg->parts->nelts,
                           sizeof(ngx_str_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        part = msg->parts->elts;

        for (j = 0; j < msg->parts->nelts; j++) {
            if (part[j].type == NGX_LLM_GATEWAY_PART_TEXT) {
                piece = ngx_array_push(&pieces);
                if (piece == NULL) {
                    return NGX_ERROR;
                }

                *piece = part[j].text;
            }
        }

        if (ngx_llm_gateway_gemini_join(ctx->pool, &pieces, &text)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    parsed = NULL;

    if (text.len && (text.data[0] == '{' || text.data[0] == '[')) {
        parsed = ngx_llm_gateway_json_parse(ctx->pool, text.data, text.len,
                                            NULL, 0);
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "functionResponse") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "name") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, name) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "response") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "output") != NGX_OK
        || (parsed ? ngx_llm_gateway_json_gen_value(g, parsed)
                   : ngx_llm_gateway_json_gen_str(g, &text)) != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_gemini_system(ngx_llm_gateway_ctx_t *ctx, yajl_gen g)
{
    ngx_uint_t                  i, j, open;
    ngx_llm_gateway_part_t     *part;
    ngx_llm_gateway_message_t  *msg;

    open = 0;
    msg = ctx->chat->messages.elts;

    for (i = 0; i < ctx->chat->messages.nelts; i++) {
        if (msg[i].role != NGX_LLM_GATEWAY_ROLE_SYSTEM
            && msg[i].role != NGX_LLM_GATEWAY_ROLE_DEVELOPER)
        {
            continue;
        }

        if (!open) {
            if (ngx_llm_gateway_json_gen_cstr(g, "systemInstruction")
                != NGX_OK
                || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
                || ngx_llm_gateway_json_gen_cstr(g, "parts") != NGX_OK
                || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
            {
                return NGX_ERROR;
            }

            open = 1;
        }

        if (!msg[i].content_parts) {
            if (ngx_llm_gateway_gemini_text_part(g, &msg[i].text) != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        part = msg[i].parts->elts;

        for (j = 0; j < msg[i].parts->nelts; j++) {
            if (part[j].type == NGX_LLM_GATEWAY_PART_TEXT
                && ngx_llm_gateway_gemini_text_part(g, &part[j].text)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (open
        && (!ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))
            || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_gemini_empty_tool(yajl_gen g, const char *name)
{
    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, name) != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * safetySettings: one threshold for every category the Developer API
 * has ("OFF" switches the filters off, as DISABLE_SAFETY_FILTERING did).
 */

static ngx_int_t
ngx_llm_gateway_gemini_safety(ngx_llm_gateway_ctx_t *ctx, yajl_gen g)
{
    static const char  *categories[] = {
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
        NULL
    };

    const char  **c;

    if (ctx->safety.len == 0) {
        return NGX_OK;
    }

    if (ngx_llm_gateway_json_gen_cstr(g, "safetySettings") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
    {
        return NGX_ERROR;
    }

    for (c = categories; *c; c++) {
        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
            || ngx_llm_gateway_json_gen_cstr(g, "category") != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, *c) != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "threshold") != NGX_OK
            || ngx_llm_gateway_json_gen_str(g, &ctx->safety) != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
        {
            return NGX_ERROR;
        }
    }

    return ngx_llm_gateway_gen_ok(yajl_gen_array_close(g)) ? NGX_OK
                                                            : NGX_ERROR;
}


static ngx_int_t
ngx_llm_gateway_gemini_tools(ngx_llm_gateway_ctx_t *ctx, yajl_gen g)
{
    char                    *mode;
    ngx_str_t               *m;
    ngx_uint_t               i, gtools;
    ngx_llm_gateway_chat_t  *chat;
    ngx_llm_gateway_tool_t  *tool;

    chat = ctx->chat;
    gtools = ctx->route ? ctx->route->tools : 0;

    if ((chat->tools && chat->tools->nelts) || gtools) {
        if (ngx_llm_gateway_json_gen_cstr(g, "tools") != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
        {
            return NGX_ERROR;
        }

        /* Google's own tools, as the model's configuration says */

        if (((gtools & NGX_LLM_GATEWAY_TOOL_CODE)
             && ngx_llm_gateway_gemini_empty_tool(g, "codeExecution")
                != NGX_OK)
            || ((gtools & NGX_LLM_GATEWAY_TOOL_SEARCH)
                && ngx_llm_gateway_gemini_empty_tool(g, "googleSearch")
                   != NGX_OK)
            || ((gtools & NGX_LLM_GATEWAY_TOOL_URL)
                && ngx_llm_gateway_gemini_empty_tool(g, "urlContext")
                   != NGX_OK))
        {
            return NGX_ERROR;
        }
    }

    if (chat->tools && chat->tools->nelts) {
        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
            || ngx_llm_gateway_json_gen_cstr(g, "functionDeclarations")
               != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
        {
            return NGX_ERROR;
        }

        tool = chat->tools->elts;

        for (i = 0; i < chat->tools->nelts; i++) {
            if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
                || ngx_llm_gateway_json_gen_cstr(g, "name") != NGX_OK
                || ngx_llm_gateway_json_gen_str(g, &tool[i].name) != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (tool[i].description.len
                && (ngx_llm_gateway_json_gen_cstr(g, "description") != NGX_OK
                    || ngx_llm_gateway_json_gen_str(g, &tool[i].description)
                       != NGX_OK))
            {
                return NGX_ERROR;
            }

            /* real JSON Schema: "parameters" only takes Google's subset */

            if (tool[i].parameters && YAJL_IS_OBJECT(tool[i].parameters)
                && (ngx_llm_gateway_json_gen_cstr(g, "parametersJsonSchema")
                    != NGX_OK
                    || ngx_llm_gateway_json_gen_value(g, tool[i].parameters)
                       != NGX_OK))
            {
                return NGX_ERROR;
            }

            if (!ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))) {
                return NGX_ERROR;
            }
        }

        if (!ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))
            || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
        {
            return NGX_ERROR;
        }
    }

    if (((chat->tools && chat->tools->nelts) || gtools)
        && !ngx_llm_gateway_gen_ok(yajl_gen_array_close(g)))
    {
        return NGX_ERROR;
    }

    if (chat->tool_choice == NULL) {
        return NGX_OK;
    }

    m = &chat->tool_choice_mode;

    if (m->len == 4 && ngx_strncmp(m->data, "none", 4) == 0) {
        mode = "NONE";

    } else if ((m->len == 8 && ngx_strncmp(m->data, "required", 8) == 0)
               || chat->tool_choice_name.len)
    {
        mode = "ANY";

    } else {
        mode = "AUTO";
    }

    if (ngx_llm_gateway_json_gen_cstr(g, "toolConfig") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "functionCallingConfig") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "mode") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, mode) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (chat->tool_choice_name.len
        && (ngx_llm_gateway_json_gen_cstr(g, "allowedFunctionNames") != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g))
            || ngx_llm_gateway_json_gen_str(g, &chat->tool_choice_name)
               != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))))
    {
        return NGX_ERROR;
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* OpenAI sampling fields, under Gemini's names; numbers kept verbatim */

static ngx_int_t
ngx_llm_gateway_gemini_generation(ngx_llm_gateway_ctx_t *ctx, yajl_gen g)
{
    static const char  *map[][2] = {
        { "temperature", "temperature" },
        { "top_p", "topP" },
        { "top_k", "topK" },
        { "n", "candidateCount" },
        { "presence_penalty", "presencePenalty" },
        { "frequency_penalty", "frequencyPenalty" },
        { "seed", "seed" },
        { "logprobs", "responseLogprobs" },
        { "top_logprobs", "logprobs" },
        { NULL, NULL }
    };

    yajl_val                 root, v, js;
    ngx_str_t               *stop;
    ngx_uint_t               i;
    ngx_llm_gateway_chat_t  *chat;

    chat = ctx->chat;
    root = chat->root;

    if (ngx_llm_gateway_json_gen_cstr(g, "generationConfig") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g)))
    {
        return NGX_ERROR;
    }

    for (i = 0; map[i][0]; i++) {
        v = ngx_llm_gateway_json_get(root, map[i][0]);

        if (v == NULL || YAJL_IS_NULL(v)) {
            continue;
        }

        if (ngx_llm_gateway_json_gen_cstr(g, map[i][1]) != NGX_OK
            || ngx_llm_gateway_json_gen_value(g, v) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* max_completion_tokens supersedes the deprecated max_tokens */

    v = ngx_llm_gateway_json_get(root, "max_completion_tokens");

    if (v == NULL || YAJL_IS_NULL(v)) {
        v = ngx_llm_gateway_json_get(root, "max_tokens");
    }

    if (v && !YAJL_IS_NULL(v)
        && (ngx_llm_gateway_json_gen_cstr(g, "maxOutputTokens") != NGX_OK
            || ngx_llm_gateway_json_gen_value(g, v) != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (chat->stop && chat->stop->nelts) {
        if (ngx_llm_gateway_json_gen_cstr(g, "stopSequences") != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
        {
            return NGX_ERROR;
        }

        stop = chat->stop->elts;

        for (i = 0; i < chat->stop->nelts; i++) {
            if (ngx_llm_gateway_json_gen_str(g, &stop[i]) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (!ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))) {
            return NGX_ERROR;
        }
    }

    if (chat->response_format_type.len == 11
        && ngx_strncmp(chat->response_format_type.data, "json_object", 11)
           == 0)
    {
        if (ngx_llm_gateway_json_gen_cstr(g, "responseMimeType") != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "application/json") != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (chat->response_format_type.len == 11
               && ngx_strncmp(chat->response_format_type.data,
                              "json_schema", 11) == 0)
    {
        js = ngx_llm_gateway_json_get(
                 ngx_llm_gateway_json_get(chat->response_format,
                                          "json_schema"), "schema");

        if (ngx_llm_gateway_json_gen_cstr(g, "responseMimeType") != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "application/json") != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (js && YAJL_IS_OBJECT(js)
            && (ngx_llm_gateway_json_gen_cstr(g, "responseJsonSchema")
                != NGX_OK
                || ngx_llm_gateway_json_gen_value(g, js) != NGX_OK))
        {
            return NGX_ERROR;
        }
    }

    if (ngx_llm_gateway_gemini_thinking(ctx, g) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)) ? NGX_OK
                                                          : NGX_ERROR;
}


/*
 * reasoning_effort: thinking budgets for the 2.5 family, thinking levels
 * from Gemini 3 on.  Thoughts are asked for whenever thinking is on, and
 * come back as reasoning_content.
 */

static ngx_int_t
ngx_llm_gateway_gemini_thinking(ngx_llm_gateway_ctx_t *ctx, yajl_gen g)
{
    static const char  *efforts[][3] = {
        /* effort      2.5 budget  3.x level */
        { "none",      "0",        "MINIMAL" },
        { "minimal",   "512",      "MINIMAL" },
        { "low",       "1024",     "LOW" },
        { "medium",    "8192",     "MEDIUM" },
        { "high",      "24576",    "HIGH" },
        { "xhigh",     "32768",    "HIGH" },
        { "max",       "32768",    "HIGH" },
        { NULL, NULL, NULL }
    };

    ngx_str_t   *e, *model;
    ngx_uint_t   i, levels, off;

    e = &ctx->chat->reasoning_effort;

    if (e->len == 0 && ctx->route) {
        e = &ctx->route->reasoning_default;
    }

    if (e->len == 0) {
        return NGX_OK;
    }

    for (i = 0; efforts[i][0]; i++) {
        if (ngx_strlen(efforts[i][0]) == e->len
            && ngx_strncasecmp((u_char *) efforts[i][0], e->data, e->len)
               == 0)
        {
            break;
        }
    }

    if (efforts[i][0] == NULL) {
        /* an effort this gateway does not know: leave the default */
        return NGX_OK;
    }

    /* the model's setting, else 2.x models take budgets, later ones levels */

    model = &ctx->upstream_model;

    if (ctx->route && ctx->route->reasoning) {
        levels = (ctx->route->reasoning == NGX_LLM_GATEWAY_REASONING_LEVELS);

    } else {
        levels = (ngx_strlcasestrn(model->data, model->data + model->len,
                                   (u_char *) "gemini-2", 8 - 1) == NULL);
    }
    off = (i == 0);

    if (ngx_llm_gateway_json_gen_cstr(g, "thinkingConfig") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g)))
    {
        return NGX_ERROR;
    }

    if (levels) {
        if (ngx_llm_gateway_json_gen_cstr(g, "thinkingLevel") != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, efforts[i][2]) != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (ngx_llm_gateway_json_gen_cstr(g, "thinkingBudget") != NGX_OK
               || !ngx_llm_gateway_gen_ok(yajl_gen_number(g, efforts[i][1],
                                              ngx_strlen(efforts[i][1]))))
    {
        return NGX_ERROR;
    }

    if (ngx_llm_gateway_json_gen_cstr(g, "includeThoughts") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_bool(g, !off))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* --------------------------------------------- tool call ids, signatures */


static ngx_int_t
ngx_llm_gateway_gemini_mint_id(ngx_llm_gateway_ctx_t *ctx,
    yajl_val signature, ngx_str_t *id)
{
    u_char     *p;
    ngx_str_t   sig, enc;

    ngx_str_null(&sig);
    (void) ngx_llm_gateway_json_str(signature, &sig);

    id->data = ngx_pnalloc(ctx->pool, sizeof("call_") - 1 + 16 + 4
                                      + ngx_base64_encoded_length(sig.len));
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(id->data, "call_%08xD%08xD", (uint32_t) ngx_random(),
                    (uint32_t) ngx_random() ^ (uint32_t) ngx_time());

    if (sig.len) {

        /* base64url: any signature, and only id-safe characters */

        p = ngx_cpymem(p, "_ts_", 4);
        enc.data = p;
        ngx_encode_base64url(&enc, &sig);
        p += enc.len;
    }

    id->len = p - id->data;

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_gemini_signature(ngx_llm_gateway_ctx_t *ctx, ngx_str_t *id,
    ngx_str_t *signature)
{
    ngx_str_t  enc;

    /* only ids minted here: "call_" + 16 hex digits + "_ts_" + signature */

    if (id->len <= 25
        || ngx_strncmp(id->data, "call_", 5) != 0
        || ngx_strncmp(id->data + 21, "_ts_", 4) != 0)
    {
        return NGX_DECLINED;
    }

    enc.data = id->data + 25;
    enc.len = id->data + id->len - enc.data;

    signature->data = ngx_pnalloc(ctx->pool,
                                  ngx_base64_decoded_length(enc.len));
    if (signature->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64url(signature, &enc) != NGX_OK) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* ----------------------------------------------------------- responses */


static ngx_str_t *
ngx_llm_gateway_gemini_finish(yajl_val reason)
{
    ngx_str_t  r;

    if (ngx_llm_gateway_json_str(reason, &r) != NGX_OK) {
        return NULL;
    }

    return ngx_llm_gateway_gemini_finish_name(&r);
}


static ngx_str_t *
ngx_llm_gateway_gemini_finish_name(ngx_str_t *name)
{
    ngx_llm_gateway_gemini_finish_t  *f;

    for (f = ngx_llm_gateway_gemini_finishes; f->name.len; f++) {
        if (f->name.len == name->len
            && ngx_strncmp(f->name.data, name->data, name->len) == 0)
        {
            return f->openai;
        }
    }

    return &ngx_llm_gateway_gemini_stop;
}


/*
 * The text a part contributes: text (a thought or the answer), or code
 * execution rendered as fenced markdown in the answer.
 */

static ngx_int_t
ngx_llm_gateway_gemini_part_text(ngx_llm_gateway_ctx_t *ctx, yajl_val part,
    ngx_str_t *text, ngx_uint_t *thought)
{
    u_char     *p;
    yajl_val    v, t;
    ngx_str_t   code, lang;

    *thought = 0;
    ngx_str_null(text);

    v = ngx_llm_gateway_json_get(part, "text");

    if (v && YAJL_IS_STRING(v)) {
        (void) ngx_llm_gateway_json_str(v, text);

        t = ngx_llm_gateway_json_get(part, "thought");
        *thought = (t && YAJL_IS_TRUE(t));

        return NGX_OK;
    }

    v = ngx_llm_gateway_json_get(part, "executableCode");

    if (v) {
        (void) ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(v, "code"),
                                        &code);
        (void) ngx_llm_gateway_json_str(
                                ngx_llm_gateway_json_get(v, "language"),
                                &lang);

        text->data = ngx_pnalloc(ctx->pool, code.len + lang.len + 16);
        if (text->data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(text->data, "\n```", 4);

        /* PYTHON -> python, the fence language markdown renderers know */

        ngx_strlow(p, lang.data, lang.len);
        p += lang.len;

        *p++ = '\n';

        /* a part without code: nothing to copy, and no NULL to memcpy */

        if (code.len) {
            p = ngx_cpymem(p, code.data, code.len);

            if (code.data[code.len - 1] != '\n') {
                *p++ = '\n';
            }
        }

        p = ngx_cpymem(p, "```\n", 4);

        text->len = p - text->data;

        return NGX_OK;
    }

    v = ngx_llm_gateway_json_get(part, "codeExecutionResult");

    if (v) {
        (void) ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(v, "output"),
                                        &code);

        text->data = ngx_pnalloc(ctx->pool, code.len + 24);
        if (text->data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(text->data, "\n```output\n", 11);

        if (code.len) {
            p = ngx_cpymem(p, code.data, code.len);

            if (code.data[code.len - 1] != '\n') {
                *p++ = '\n';
            }
        }

        p = ngx_cpymem(p, "```\n", 4);

        text->len = p - text->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_gemini_usage_read(ngx_llm_gateway_gemini_stream_t *st,
    yajl_val usage)
{
    static const char  *names[] = { "promptTokenCount", "candidatesTokenCount",
                                    "thoughtsTokenCount",
                                    "cachedContentTokenCount",
                                    "toolUsePromptTokenCount",
                                    "totalTokenCount", NULL };

    yajl_val     v;
    int64_t     *fields[6];
    ngx_uint_t   i;

    if (usage == NULL || !YAJL_IS_OBJECT(usage)) {
        return NGX_DECLINED;
    }

    fields[0] = &st->prompt;
    fields[1] = &st->candidates;
    fields[2] = &st->thoughts;
    fields[3] = &st->cached;
    fields[4] = &st->tool_use;
    fields[5] = &st->total;

    /* usageMetadata is cumulative: the last one seen is the answer */

    for (i = 0; names[i]; i++) {
        v = ngx_llm_gateway_json_get(usage, names[i]);
        *fields[i] = (v && YAJL_IS_INTEGER(v)) ? YAJL_GET_INTEGER(v) : 0;
    }

    st->usage = 1;

    return NGX_OK;
}


/*
 * OpenAI usage: completion tokens include the thoughts (and report them
 * as reasoning tokens), prompt tokens include tool-use prompts.  The
 * request's counts (statistics, variables) are set here; the total is
 * returned.
 */

static int64_t
ngx_llm_gateway_gemini_usage_counts(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_gemini_stream_t *st, int64_t *prompt, int64_t *completion)
{
    *prompt = st->prompt + st->tool_use;
    *completion = st->candidates + st->thoughts;

    ctx->prompt_tokens = *prompt;
    ctx->completion_tokens = *completion;

    return st->total ? st->total : *prompt + *completion;
}


static ngx_int_t
ngx_llm_gateway_gemini_usage_gen(ngx_llm_gateway_ctx_t *ctx, yajl_gen g,
    ngx_llm_gateway_gemini_stream_t *st)
{
    int64_t  prompt, completion, total;

    total = ngx_llm_gateway_gemini_usage_counts(ctx, st, &prompt, &completion);

    if (ngx_llm_gateway_json_gen_cstr(g, "usage") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "prompt_tokens") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, prompt))
        || ngx_llm_gateway_json_gen_cstr(g, "completion_tokens") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, completion))
        || ngx_llm_gateway_json_gen_cstr(g, "total_tokens") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, total))
        || ngx_llm_gateway_json_gen_cstr(g, "prompt_tokens_details") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "cached_tokens") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, st->cached))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || ngx_llm_gateway_json_gen_cstr(g, "completion_tokens_details")
           != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "reasoning_tokens") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, st->thoughts))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_llm_gateway_gemini_stream_t *
ngx_llm_gateway_gemini_state(ngx_llm_gateway_ctx_t *ctx)
{
    u_char                           *p;
    ngx_llm_gateway_gemini_stream_t  *st;

    st = ctx->xlat;

    if (st) {
        return st;
    }

    st = ngx_pcalloc(ctx->pool, sizeof(ngx_llm_gateway_gemini_stream_t));
    if (st == NULL) {
        return NULL;
    }

    st->id.data = ngx_pnalloc(ctx->pool, sizeof("chatcmpl-") - 1 + 24);
    if (st->id.data == NULL) {
        return NULL;
    }

    p = ngx_sprintf(st->id.data, "chatcmpl-%08xD%08xD%08xD",
                    (uint32_t) ngx_random(), (uint32_t) ngx_random(),
                    (uint32_t) ngx_time());
    st->id.len = p - st->id.data;
    st->created = ngx_time();

    ctx->xlat = st;

    return st;
}


static ngx_int_t
ngx_llm_gateway_gemini_process_response(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *body, ngx_str_t *out)
{
    size_t                            i;
    yajl_gen                          g;
    yajl_val                          root, cands, fb;
    ngx_llm_gateway_gemini_scan_t     scan;
    ngx_llm_gateway_gemini_stream_t  *st;

    if (ngx_llm_gateway_gemini_scan(body->data, body->len, &scan) == NGX_OK
        && scan.ncandidates)
    {
        if (ngx_llm_gateway_gemini_state(ctx) == NULL) {
            return NGX_ERROR;
        }

        if (ctx->stream) {
            return ngx_llm_gateway_gemini_fast_chunk(ctx, &scan) == NGX_OK
                   ? NGX_DONE : NGX_ERROR;
        }

        return ngx_llm_gateway_gemini_fast_response(ctx, &scan, out);
    }

    root = ngx_llm_gateway_json_parse(ctx->pool, body->data, body->len,
                                      NULL, 0);

    if (root == NULL || !YAJL_IS_OBJECT(root)) {
        return NGX_DECLINED;
    }

    st = ngx_llm_gateway_gemini_state(ctx);
    if (st == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_llm_gateway_gemini_usage_read(st,
                              ngx_llm_gateway_json_get(root, "usageMetadata"));

    if (ctx->stream) {
        /* a stream request answered with one JSON: played as one event */

        if (ngx_llm_gateway_gemini_chunk(ctx, root) != NGX_OK) {
            return NGX_ERROR;
        }

        return NGX_DONE;
    }

    g = ngx_llm_gateway_json_gen(ctx->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "id") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, &st->id) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "object") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "chat.completion") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "created") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, st->created))
        || ngx_llm_gateway_json_gen_cstr(g, "model") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, &ctx->model) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "choices") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
    {
        return NGX_ERROR;
    }

    cands = ngx_llm_gateway_json_get(root, "candidates");

    if (cands && YAJL_IS_ARRAY(cands) && cands->u.array.len) {
        for (i = 0; i < cands->u.array.len; i++) {
            if (ngx_llm_gateway_gemini_candidate(ctx, g,
                                                 cands->u.array.values[i], i)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

    } else {

        /* the prompt itself was blocked: no candidate at all */

        fb = ngx_llm_gateway_json_get(
                 ngx_llm_gateway_json_get(root, "promptFeedback"),
                 "blockReason");

        if (fb == NULL) {
            return NGX_DECLINED;
        }

        if (ngx_llm_gateway_gemini_candidate(ctx, g, NULL, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))
        || ngx_llm_gateway_gemini_usage_gen(ctx, g, st) != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_json_take(g, ctx->pool, out);
}


/* the pieces of a text, in one string */

static ngx_int_t
ngx_llm_gateway_gemini_join(ngx_pool_t *pool, ngx_array_t *pieces,
    ngx_str_t *out)
{
    u_char      *p;
    ngx_str_t   *s;
    ngx_uint_t   i;

    s = pieces->elts;
    out->len = 0;

    for (i = 0; i < pieces->nelts; i++) {
        out->len += s[i].len;
    }

    out->data = ngx_pnalloc(pool, out->len ? out->len : 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    for (p = out->data, i = 0; i < pieces->nelts; i++) {
        p = ngx_cpymem(p, s[i].data, s[i].len);
    }

    return NGX_OK;
}


/* one candidate as one OpenAI choice; NULL: a blocked prompt */

static ngx_int_t
ngx_llm_gateway_gemini_candidate(ngx_llm_gateway_ctx_t *ctx, yajl_gen g,
    yajl_val cand, ngx_uint_t index)
{
    size_t        i, n, answer_len;
    yajl_val      parts, part, fc, v, gm;
    ngx_str_t     text, *finish, id, args, answer_text;
    ngx_uint_t    thought, calls;
    ngx_array_t   answer, reasoning, *sources;

    parts = ngx_llm_gateway_json_get(
                ngx_llm_gateway_json_get(cand, "content"), "parts");

    if (ngx_array_init(&answer, ctx->pool, 4, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&reasoning, ctx->pool, 2, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    n = (parts && YAJL_IS_ARRAY(parts)) ? parts->u.array.len : 0;
    calls = 0;

    for (i = 0; i < n; i++) {
        part = parts->u.array.values[i];

        if (ngx_llm_gateway_json_get(part, "functionCall")) {
            calls++;
            continue;
        }

        if (ngx_llm_gateway_gemini_part_text(ctx, part, &text, &thought)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (text.len
            && ngx_array_push(thought ? &reasoning : &answer) == NULL)
        {
            return NGX_ERROR;
        }

        if (text.len) {
            ((ngx_str_t *) (thought ? reasoning.elts : answer.elts))
                [(thought ? reasoning.nelts : answer.nelts) - 1] = text;
        }
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "index") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, index))
        || ngx_llm_gateway_json_gen_cstr(g, "message") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "role") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "assistant") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "content") != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* grounding sources, listed after the answer unless switched off */

    gm = ngx_llm_gateway_json_get(cand, "groundingMetadata");

    if (ngx_llm_gateway_gemini_sources(ctx, gm, &sources) != NGX_OK) {
        return NGX_ERROR;
    }

    answer_len = 0;
    ngx_str_null(&answer_text);

    for (i = 0; i < answer.nelts; i++) {
        answer_len += ((ngx_str_t *) answer.elts)[i].len;
    }

    if (sources && ctx->links) {
        if (ngx_array_push(&answer) == NULL
            || ngx_llm_gateway_gemini_sources_text(ctx, sources,
                   &((ngx_str_t *) answer.elts)[answer.nelts - 1])
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* the answer's pieces joined; null when the turn is only tool calls */

    if (answer.nelts == 0) {
        if (!ngx_llm_gateway_gen_ok(calls ? yajl_gen_null(g)
                                          : yajl_gen_string(g,
                                                (u_char *) "", 0)))
        {
            return NGX_ERROR;
        }

    } else {
        if (ngx_llm_gateway_gemini_join(ctx->pool, &answer, &text) != NGX_OK
            || ngx_llm_gateway_json_gen_str(g, &text) != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* annotation indices count in the answer, not in its sources */

        answer_text.data = text.data;
        answer_text.len = answer_len;
    }

    if (reasoning.nelts) {
        if (ngx_llm_gateway_gemini_join(ctx->pool, &reasoning, &text)
            != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "reasoning_content") != NGX_OK
            || ngx_llm_gateway_json_gen_str(g, &text) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_llm_gateway_json_gen_cstr(g, "refusal") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_null(g)))
    {
        return NGX_ERROR;
    }

    if (sources) {
        if (ngx_llm_gateway_gemini_annotations(g, sources, gm, &answer_text)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (calls) {
        if (ngx_llm_gateway_json_gen_cstr(g, "tool_calls") != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
        {
            return NGX_ERROR;
        }

        for (i = 0; i < n; i++) {
            part = parts->u.array.values[i];
            fc = ngx_llm_gateway_json_get(part, "functionCall");

            if (fc == NULL) {
                continue;
            }

            if (ngx_llm_gateway_gemini_mint_id(ctx,
                    ngx_llm_gateway_json_get(part, "thoughtSignature"), &id)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            v = ngx_llm_gateway_json_get(fc, "args");

            if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
                || ngx_llm_gateway_json_gen_cstr(g, "id") != NGX_OK
                || ngx_llm_gateway_json_gen_str(g, &id) != NGX_OK
                || ngx_llm_gateway_json_gen_cstr(g, "type") != NGX_OK
                || ngx_llm_gateway_json_gen_cstr(g, "function") != NGX_OK
                || ngx_llm_gateway_json_gen_cstr(g, "function") != NGX_OK
                || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
                || ngx_llm_gateway_json_gen_cstr(g, "name") != NGX_OK
                || ngx_llm_gateway_json_gen_value(g,
                           ngx_llm_gateway_json_get(fc, "name")) != NGX_OK
                || ngx_llm_gateway_json_gen_cstr(g, "arguments") != NGX_OK)
            {
                return NGX_ERROR;
            }

            /* arguments are a JSON string in OpenAI's shape */

            if (v) {
                if (ngx_llm_gateway_json_stringify(ctx->pool, v, &args)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

            } else {
                ngx_str_set(&args, "{}");
            }

            if (ngx_llm_gateway_json_gen_str(g, &args) != NGX_OK
                || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
                || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
            {
                return NGX_ERROR;
            }
        }

        if (!ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))) {
            return NGX_ERROR;
        }
    }

    if (cand == NULL) {
        finish = &ngx_llm_gateway_gemini_filter;

    } else {
        finish = ngx_llm_gateway_gemini_finish(
                     ngx_llm_gateway_json_get(cand, "finishReason"));

        if (finish == NULL || (calls && finish == &ngx_llm_gateway_gemini_stop))
        {
            finish = calls ? &ngx_llm_gateway_gemini_tool_calls
                           : &ngx_llm_gateway_gemini_stop;
        }
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || ngx_llm_gateway_json_gen_cstr(g, "logprobs") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_null(g))
        || ngx_llm_gateway_json_gen_cstr(g, "finish_reason") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, finish) != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* ------------------------------------------------------------- streams */


/*
 * Every event is a whole GenerateContentResponse.  Its tree is built in
 * a pool of the stream's own, reset after each event: no malloc per
 * node, and a long stream needs no more memory than its largest event.
 */

static ngx_int_t
ngx_llm_gateway_gemini_process_event(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *event, ngx_str_t *data)
{
    ngx_int_t                         rc;
    yajl_val                          root;
    ngx_llm_gateway_gemini_scan_t     scan;
    ngx_llm_gateway_gemini_stream_t  *st;

    st = ngx_llm_gateway_gemini_state(ctx);
    if (st == NULL) {
        return NGX_ERROR;
    }

    /* the shape of the stream's answers, learnt from the first taken */

    if (st->shape == NULL) {
        st->shape = ngx_palloc(ctx->pool,
                               sizeof(ngx_llm_gateway_gemini_shape_t));
        if (st->shape == NULL) {
            return NGX_ERROR;
        }

        st->shape->len = 0;
        st->shape->hits = 0;
        st->shape->misses = 0;
    }

    if (ngx_llm_gateway_gemini_scan_shaped(data->data, data->len, &scan,
                                           st->shape)
        == NGX_OK)
    {
        return ngx_llm_gateway_gemini_fast_chunk(ctx, &scan);
    }

    if (st->scratch == NULL) {
        st->scratch = ngx_create_pool(4096, ctx->log);
        if (st->scratch == NULL) {
            return NGX_ERROR;
        }

        if (ngx_llm_gateway_gemini_scratch_cleanup(ctx, st->scratch)
            != NGX_OK)
        {
            ngx_destroy_pool(st->scratch);
            st->scratch = NULL;
            return NGX_ERROR;
        }
    }

    root = ngx_llm_gateway_json_parse(st->scratch, data->data, data->len,
                                      NULL, 0);

    if (root == NULL) {
        ngx_reset_pool(st->scratch);

        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "llm gateway: provider \"%V\" sent an event that is "
                      "not JSON", &ctx->provider->name);
        return ngx_llm_gateway_gemini_stream_error(ctx, NULL);
    }

    if (ngx_llm_gateway_json_get(root, "error")) {
        ngx_reset_pool(st->scratch);
        return ngx_llm_gateway_gemini_stream_error(ctx, data);
    }

    /* nothing of the tree outlives the event: what stays is copied */

    rc = ngx_llm_gateway_gemini_chunk(ctx, root);

    ngx_reset_pool(st->scratch);

    return rc;
}


static ngx_int_t
ngx_llm_gateway_gemini_scratch_cleanup(ngx_llm_gateway_ctx_t *ctx,
    ngx_pool_t *scratch)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(ctx->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_llm_gateway_gemini_scratch_destroy;
    cln->data = scratch;

    return NGX_OK;
}


static void
ngx_llm_gateway_gemini_scratch_destroy(void *data)
{
    ngx_destroy_pool(data);
}


static ngx_int_t
ngx_llm_gateway_gemini_chunk_head(ngx_llm_gateway_ctx_t *ctx, yajl_gen g,
    ngx_uint_t index)
{
    ngx_llm_gateway_gemini_stream_t  *st;

    st = ctx->xlat;

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "id") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, &st->id) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "object") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "chat.completion.chunk") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "created") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, st->created))
        || ngx_llm_gateway_json_gen_cstr(g, "model") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, &ctx->model) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "choices") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "index") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, index))
        || ngx_llm_gateway_json_gen_cstr(g, "delta") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a choice's first chunk only says who speaks, as OpenAI's streams do */

static ngx_int_t
ngx_llm_gateway_gemini_chunk_open(ngx_llm_gateway_ctx_t *ctx, yajl_gen g,
    ngx_uint_t index)
{
    ngx_llm_gateway_gemini_stream_t  *st;

    st = ctx->xlat;

    if (!(st->started & (1 << index))) {
        st->started |= 1 << index;

        if (ngx_llm_gateway_gemini_chunk_head(ctx, g, index) != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "role") != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "assistant") != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "content") != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_string(g, (u_char *) "", 0))
            || ngx_llm_gateway_gemini_chunk_close(g, NULL, &ctx->out)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_llm_gateway_gemini_chunk_head(ctx, g, index);
}


static ngx_int_t
ngx_llm_gateway_gemini_chunk_close(yajl_gen g, ngx_str_t *finish,
    ngx_llm_gateway_out_t *out)
{
    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || ngx_llm_gateway_json_gen_cstr(g, "logprobs") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_null(g))
        || ngx_llm_gateway_json_gen_cstr(g, "finish_reason") != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (finish) {
        if (ngx_llm_gateway_json_gen_str(g, finish) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (!ngx_llm_gateway_gen_ok(yajl_gen_null(g))) {
        return NGX_ERROR;
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_json_emit(g, out);
}


static ngx_int_t
ngx_llm_gateway_gemini_stream_text(ngx_llm_gateway_ctx_t *ctx, yajl_gen g,
    ngx_uint_t index, const char *field, ngx_str_t *text)
{
    if (ngx_llm_gateway_gemini_chunk_open(ctx, g, index) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, field) != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, text) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_gemini_chunk_close(g, NULL, &ctx->out);
}


/*
 * One upstream event: every part becomes a delta at once (text,
 * thoughts, each function call whole with its running index).  The
 * finishReason is only remembered: code execution turns report one in
 * the middle of the stream, and the last one counts at the end.
 */

static ngx_int_t
ngx_llm_gateway_gemini_chunk(ngx_llm_gateway_ctx_t *ctx, yajl_val root)
{
    size_t                            i, j;
    yajl_gen                          g;
    yajl_val                          cands, cand, parts, part, fc, v;
    ngx_str_t                         text, id, args, *finish;
    ngx_uint_t                        index, thought;
    ngx_array_t                      *sources;
    ngx_llm_gateway_gemini_stream_t  *st;

    st = ngx_llm_gateway_gemini_state(ctx);
    if (st == NULL) {
        return NGX_ERROR;
    }

    /* one generator for the whole stream: its buffer is reused */

    if (st->gen == NULL) {
        st->gen = ngx_llm_gateway_json_gen(ctx->pool);
        if (st->gen == NULL) {
            return NGX_ERROR;
        }
    }

    g = st->gen;

    (void) ngx_llm_gateway_gemini_usage_read(st,
                              ngx_llm_gateway_json_get(root, "usageMetadata"));

    if (ngx_llm_gateway_json_get(
            ngx_llm_gateway_json_get(root, "promptFeedback"), "blockReason"))
    {
        st->blocked = 1;
    }

    cands = ngx_llm_gateway_json_get(root, "candidates");
    if (cands == NULL || !YAJL_IS_ARRAY(cands)) {
        return NGX_OK;
    }

    for (i = 0; i < cands->u.array.len; i++) {
        cand = cands->u.array.values[i];

        v = ngx_llm_gateway_json_get(cand, "index");
        index = (v && YAJL_IS_INTEGER(v)) ? (ngx_uint_t) YAJL_GET_INTEGER(v)
                                          : i;

        if (index >= NGX_LLM_GATEWAY_GEMINI_MAX_CANDIDATES) {
            continue;
        }

        st->seen |= 1 << index;

        parts = ngx_llm_gateway_json_get(
                    ngx_llm_gateway_json_get(cand, "content"), "parts");

        for (j = 0; parts && YAJL_IS_ARRAY(parts) && j < parts->u.array.len;
             j++)
        {
            part = parts->u.array.values[j];
            fc = ngx_llm_gateway_json_get(part, "functionCall");

            if (fc == NULL) {
                if (ngx_llm_gateway_gemini_part_text(ctx, part, &text,
                                                     &thought)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                if (text.len
                    && ngx_llm_gateway_gemini_stream_text(ctx, g, index,
                           thought ? "reasoning_content" : "content", &text)
                       != NGX_OK)
                {
                    return NGX_ERROR;
                }

                if (!thought) {
                    st->chars[index] += ngx_llm_gateway_gemini_chars(
                                                         text.data, text.len);
                }

                continue;
            }

            if (ngx_llm_gateway_gemini_mint_id(ctx,
                    ngx_llm_gateway_json_get(part, "thoughtSignature"), &id)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            v = ngx_llm_gateway_json_get(fc, "args");

            if (v) {
                if (ngx_llm_gateway_json_stringify(ctx->pool, v, &args)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

            } else {
                ngx_str_set(&args, "{}");
            }

            if (ngx_llm_gateway_gemini_chunk_open(ctx, g, index) != NGX_OK
                || ngx_llm_gateway_json_gen_cstr(g, "tool_calls") != NGX_OK
                || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g))
                || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
                || ngx_llm_gateway_json_gen_cstr(g, "index") != NGX_OK
                || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g,
                                               st->tools[index]++))
                || ngx_llm_gateway_json_gen_cstr(g, "id") != NGX_OK
                || ngx_llm_gateway_json_gen_str(g, &id) != NGX_OK
                || ngx_llm_gateway_json_gen_cstr(g, "type") != NGX_OK
                || ngx_llm_gateway_json_gen_cstr(g, "function") != NGX_OK
                || ngx_llm_gateway_json_gen_cstr(g, "function") != NGX_OK
                || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
                || ngx_llm_gateway_json_gen_cstr(g, "name") != NGX_OK
                || ngx_llm_gateway_json_gen_value(g,
                           ngx_llm_gateway_json_get(fc, "name")) != NGX_OK
                || ngx_llm_gateway_json_gen_cstr(g, "arguments") != NGX_OK
                || ngx_llm_gateway_json_gen_str(g, &args) != NGX_OK
                || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
                || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
                || !ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))
                || ngx_llm_gateway_gemini_chunk_close(g, NULL, &ctx->out)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        finish = ngx_llm_gateway_gemini_finish(
                     ngx_llm_gateway_json_get(cand, "finishReason"));

        if (finish) {
            st->finish[index] = finish;
        }

        /* grounding comes with the last chunks: kept for the end */

        v = ngx_llm_gateway_json_get(cand, "groundingMetadata");

        if (v) {
            if (ngx_llm_gateway_gemini_sources(ctx, v, &sources) != NGX_OK) {
                return NGX_ERROR;
            }

            if (sources) {
                st->sources[index] = sources;
            }
        }
    }

    return NGX_OK;
}


/* ---------------------------------------------------------- fast path */


/*
 * Text-only answers (see ngx_llm_gateway_gemini_scan.c) are written
 * without a tree or a generator: the texts are copied still escaped,
 * around constant bytes.  The result is the tree path's, byte for byte,
 * except that escapes are kept as Gemini wrote them.
 */

#define NGX_LLM_GATEWAY_GEMINI_CHUNK_TAIL                                    \
    "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"

/* a chunk's delta, up to the opening quote of the escaped text */
static ngx_str_t  ngx_llm_gateway_gemini_content_delta =
    ngx_string(",\"delta\":{\"content\":\"");
static ngx_str_t  ngx_llm_gateway_gemini_reasoning_delta =
    ngx_string(",\"delta\":{\"reasoning_content\":\"");

/* the head's end: the usage chunk has "choices":[] instead */
#define NGX_LLM_GATEWAY_GEMINI_CHOICE  "[{\"index\":"

#define NGX_LLM_GATEWAY_GEMINI_ROLE_DELTA                                    \
    ",\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"                  \
    "\"logprobs\":null,\"finish_reason\":null}]}\n\n"

#define NGX_LLM_GATEWAY_GEMINI_FINISH                                        \
    ",\"delta\":{},\"logprobs\":null,\"finish_reason\":\""
#define NGX_LLM_GATEWAY_GEMINI_FINISH_TAIL  "\"}]}\n\n"

/* prompt, completion, total, cached and reasoning tokens */
#define NGX_LLM_GATEWAY_GEMINI_USAGE                                         \
    "\"usage\":{\"prompt_tokens\":%L,\"completion_tokens\":%L,"              \
    "\"total_tokens\":%L,\"prompt_tokens_details\":{\"cached_tokens\":%L},"   \
    "\"completion_tokens_details\":{\"reasoning_tokens\":%L}}"


static void
ngx_llm_gateway_gemini_fast_usage(ngx_llm_gateway_gemini_stream_t *st,
    ngx_llm_gateway_gemini_scan_t *scan)
{
    if (!scan->usage) {
        return;
    }

    st->prompt = scan->usage_counts[0];
    st->candidates = scan->usage_counts[1];
    st->thoughts = scan->usage_counts[2];
    st->cached = scan->usage_counts[3];
    st->tool_use = scan->usage_counts[4];
    st->total = scan->usage_counts[5];
    st->usage = 1;
}


static ngx_int_t
ngx_llm_gateway_gemini_fast_chunk(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_gemini_scan_t *scan)
{
    ngx_int_t                         rc;
    ngx_uint_t                        i, index;
    ngx_llm_gateway_gemini_piece_t   *piece;
    ngx_llm_gateway_gemini_stream_t  *st;

    st = ctx->xlat;

    ngx_llm_gateway_gemini_fast_usage(st, scan);

    for (i = 0; i < scan->npieces; i++) {
        piece = &scan->pieces[i];
        index = scan->candidates[piece->candidate].index;

        if (piece->thought) {
            rc = ngx_llm_gateway_gemini_fast_delta(ctx, index,
                     &ngx_llm_gateway_gemini_reasoning_delta, &piece->text);

        } else {
            rc = ngx_llm_gateway_gemini_fast_delta(ctx, index,
                     &ngx_llm_gateway_gemini_content_delta, &piece->text);

            /* characters, for the offsets of annotations */

            st->chars[index] += piece->ascii
                ? piece->text.len
                : ngx_llm_gateway_gemini_scan_chars(piece->text.data,
                                                    piece->text.len);
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* as the tree path: the finish reason is kept for the stream's end */

    for (i = 0; i < scan->ncandidates; i++) {
        index = scan->candidates[i].index;

        st->seen |= 1 << index;

        if (scan->candidates[i].finish.len) {
            st->finish[index] = ngx_llm_gateway_gemini_finish_name(
                                                &scan->candidates[i].finish);
        }
    }

    return NGX_OK;
}


/*
 * A chunk's bytes up to its choice's index, the same for every chunk of
 * the stream: built once.
 */

static ngx_int_t
ngx_llm_gateway_gemini_fast_head(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_gemini_stream_t *st)
{
    u_char  *p;
    size_t   len;

    if (st->head.data) {
        return NGX_OK;
    }

    len = sizeof("{\"id\":\"\",\"object\":\"chat.completion.chunk\","
                 "\"created\":,\"model\":\"\",\"choices\":[{\"index\":")
          - 1 + st->id.len + NGX_TIME_T_LEN + ctx->model.len
          + ngx_escape_json(NULL, ctx->model.data, ctx->model.len);

    p = ngx_pnalloc(ctx->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    st->head.data = p;

    p = ngx_sprintf(p, "{\"id\":\"%V\","
                    "\"object\":\"chat.completion.chunk\","
                    "\"created\":%T,\"model\":\"", &st->id, st->created);
    p = (u_char *) ngx_escape_json(p, ctx->model.data, ctx->model.len);
    p = ngx_cpymem(p, "\",\"choices\":" NGX_LLM_GATEWAY_GEMINI_CHOICE,
                   sizeof("\",\"choices\":" NGX_LLM_GATEWAY_GEMINI_CHOICE) - 1);

    st->head.len = p - st->head.data;

    return NGX_OK;
}


/*
 * One chunk of a choice: "data: ", the head, the index, then what the
 * caller gives (the delta, maybe a text, the tail).  A choice's first
 * chunk only says who speaks, as OpenAI's streams do.
 */

static ngx_int_t
ngx_llm_gateway_gemini_fast_chunk_write(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_gemini_stream_t *st, ngx_uint_t index, ngx_str_t *parts,
    ngx_uint_t nparts)
{
    u_char                 *p, num;
    size_t                  len;
    ngx_uint_t              i;
    ngx_str_t               role;
    ngx_llm_gateway_out_t  *out;

    if (ngx_llm_gateway_gemini_fast_head(ctx, st) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!(st->started & (1 << index))) {
        st->started |= 1 << index;

        ngx_str_set(&role, NGX_LLM_GATEWAY_GEMINI_ROLE_DELTA);

        if (ngx_llm_gateway_gemini_fast_chunk_write(ctx, st, index, &role, 1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    out = &ctx->out;

    /* fewer than ten candidates: the index is one digit */

    num = (u_char) ('0' + index);

    len = sizeof("data: ") - 1 + st->head.len + 1;

    for (i = 0; i < nparts; i++) {
        len += parts[i].len;
    }

    /* the chunk in one piece where it fits a buffer, as nearly always */

    p = ngx_llm_gateway_out_reserve(out, len);

    if (p) {
        p = ngx_cpymem(p, "data: ", sizeof("data: ") - 1);
        p = ngx_cpymem(p, st->head.data, st->head.len);
        *p++ = num;

        for (i = 0; i < nparts; i++) {
            p = ngx_cpymem(p, parts[i].data, parts[i].len);
        }

        return NGX_OK;
    }

    if (ngx_llm_gateway_out_append(out, (u_char *) "data: ",
                                   sizeof("data: ") - 1)
        != NGX_OK
        || ngx_llm_gateway_out_append(out, st->head.data, st->head.len)
           != NGX_OK
        || ngx_llm_gateway_out_append(out, &num, 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < nparts; i++) {
        if (ngx_llm_gateway_out_append(out, parts[i].data, parts[i].len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_gemini_fast_delta(ngx_llm_gateway_ctx_t *ctx,
    ngx_uint_t index, ngx_str_t *delta, ngx_str_t *text)
{
    ngx_str_t  parts[3];

    parts[0] = *delta;
    parts[1] = *text;
    ngx_str_set(&parts[2], NGX_LLM_GATEWAY_GEMINI_CHUNK_TAIL);

    return ngx_llm_gateway_gemini_fast_chunk_write(ctx, ctx->xlat, index,
                                                   parts, 3);
}


/*
 * The end of a choice: its finish reason, in an empty delta.  Sources
 * (grounding) take the generator; every other stream ends here.
 */

static ngx_int_t
ngx_llm_gateway_gemini_fast_finish(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_gemini_stream_t *st, ngx_uint_t index, ngx_str_t *finish)
{
    ngx_str_t  parts[3];

    ngx_str_set(&parts[0], NGX_LLM_GATEWAY_GEMINI_FINISH);
    parts[1] = *finish;
    ngx_str_set(&parts[2], NGX_LLM_GATEWAY_GEMINI_FINISH_TAIL);

    return ngx_llm_gateway_gemini_fast_chunk_write(ctx, st, index, parts, 3);
}


/* the usage chunk, "choices":[], after the last finish */

static ngx_int_t
ngx_llm_gateway_gemini_fast_usage_chunk(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_gemini_stream_t *st)
{
    u_char   *p, *start;
    size_t    len, head;
    int64_t   prompt, completion, total;

    total = ngx_llm_gateway_gemini_usage_counts(ctx, st, &prompt, &completion);

    if (ngx_llm_gateway_gemini_fast_head(ctx, st) != NGX_OK) {
        return NGX_ERROR;
    }

    head = st->head.len - (sizeof(NGX_LLM_GATEWAY_GEMINI_CHOICE) - 1);

    len = sizeof("data: [],}\n\n") - 1 + head
          + sizeof(NGX_LLM_GATEWAY_GEMINI_USAGE) - 1 + 5 * NGX_INT64_LEN;

    start = ngx_llm_gateway_out_reserve(&ctx->out, len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(start, "data: ", sizeof("data: ") - 1);
    p = ngx_cpymem(p, st->head.data, head);
    p = ngx_sprintf(p, "[]," NGX_LLM_GATEWAY_GEMINI_USAGE "}\n\n",
                    prompt, completion, total, st->cached, st->thoughts);

    /* the reservation counted the longest numbers: give back the rest */

    ngx_llm_gateway_out_unreserve(&ctx->out, len - (p - start));

    return NGX_OK;
}


/* a whole chat.completion from a text-only answer */

static ngx_int_t
ngx_llm_gateway_gemini_fast_response(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_gemini_scan_t *scan, ngx_str_t *out)
{
    u_char                           *p;
    size_t                            len;
    int64_t                           prompt, completion, total;
    ngx_str_t                        *finish;
    ngx_uint_t                        i, k, thought, any;
    ngx_llm_gateway_gemini_stream_t  *st;

    st = ctx->xlat;

    ngx_llm_gateway_gemini_fast_usage(st, scan);

    len = sizeof("{\"id\":\"\",\"object\":\"chat.completion\",\"created\":,"
                 "\"model\":\"\",\"choices\":[],\"usage\":{"
                 "\"prompt_tokens\":,\"completion_tokens\":,"
                 "\"total_tokens\":,\"prompt_tokens_details\":{"
                 "\"cached_tokens\":},\"completion_tokens_details\":{"
                 "\"reasoning_tokens\":}}}")
          + st->id.len + NGX_TIME_T_LEN + 5 * NGX_INT64_LEN
          + ctx->model.len
          + ngx_escape_json(NULL, ctx->model.data, ctx->model.len);

    len += scan->ncandidates
           * (sizeof(",{\"index\":,\"message\":{\"role\":\"assistant\","
                     "\"content\":\"\",\"reasoning_content\":\"\","
                     "\"refusal\":null},\"logprobs\":null,"
                     "\"finish_reason\":\"content_filter\"}")
              + NGX_INT_T_LEN);

    for (i = 0; i < scan->npieces; i++) {
        len += scan->pieces[i].text.len;
    }

    p = ngx_pnalloc(ctx->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    p = ngx_sprintf(p, "{\"id\":\"%V\",\"object\":\"chat.completion\","
                    "\"created\":%T,\"model\":\"", &st->id, st->created);
    p = (u_char *) ngx_escape_json(p, ctx->model.data, ctx->model.len);
    p = ngx_cpymem(p, "\",\"choices\":[", sizeof("\",\"choices\":[") - 1);

    /* one choice per candidate, by position, as the tree path numbers them */

    for (i = 0; i < scan->ncandidates; i++) {
        /* fewer than ten candidates: the index is one digit */

        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "{\"index\":", sizeof("{\"index\":") - 1);
        *p++ = (u_char) ('0' + i);
        p = ngx_cpymem(p, ",\"message\":{\"role\":\"assistant\",\"content\":\"",
                       sizeof(",\"message\":{\"role\":\"assistant\","
                              "\"content\":\"") - 1);

        /* the answer's pieces, then the thoughts', each joined as they are */

        for (thought = 0; thought < 2; thought++) {
            any = 0;

            for (k = 0; k < scan->npieces; k++) {
                if (scan->pieces[k].candidate != i
                    || scan->pieces[k].thought != thought)
                {
                    continue;
                }

                if (thought && !any) {
                    p = ngx_cpymem(p, ",\"reasoning_content\":\"",
                                   sizeof(",\"reasoning_content\":\"") - 1);
                }

                any = 1;
                p = ngx_cpymem(p, scan->pieces[k].text.data,
                               scan->pieces[k].text.len);
            }

            if (!thought || any) {
                *p++ = '"';
            }
        }

        finish = scan->candidates[i].finish.len
                 ? ngx_llm_gateway_gemini_finish_name(
                                                &scan->candidates[i].finish)
                 : &ngx_llm_gateway_gemini_stop;

        p = ngx_cpymem(p, ",\"refusal\":null},\"logprobs\":null,"
                       "\"finish_reason\":\"",
                       sizeof(",\"refusal\":null},\"logprobs\":null,"
                              "\"finish_reason\":\"") - 1);
        p = ngx_cpymem(p, finish->data, finish->len);
        *p++ = '"';
        *p++ = '}';
    }

    /* usage as the tree path counts it: thoughts are completion tokens */

    total = ngx_llm_gateway_gemini_usage_counts(ctx, st, &prompt, &completion);

    p = ngx_sprintf(p, "]," NGX_LLM_GATEWAY_GEMINI_USAGE "}",
                    prompt, completion, total, st->cached, st->thoughts);

    out->len = p - out->data;

    return NGX_OK;
}


/* after the upstream's last byte: the finish chunks, usage, [DONE] */

static ngx_int_t
ngx_llm_gateway_gemini_finish_stream(ngx_llm_gateway_ctx_t *ctx)
{
    int64_t                           prompt, completion;
    yajl_gen                          g;
    yajl_val                          root;
    ngx_str_t                         body, text, *finish;
    ngx_uint_t                        i;
    ngx_llm_gateway_gemini_stream_t  *st;

    /* a bare JSON error instead of, or after, events */

    if (ctx->sse.raw_len) {
        body.data = ctx->sse.raw;
        body.len = ctx->sse.raw_len;

        root = ngx_llm_gateway_json_parse(ctx->pool, body.data, body.len,
                                          NULL, 0);

        if (root && ngx_llm_gateway_json_get(root, "error")) {
            return ngx_llm_gateway_gemini_stream_error(ctx, &body);
        }
    }

    st = ngx_llm_gateway_gemini_state(ctx);
    if (st == NULL) {
        return NGX_ERROR;
    }

    g = NULL;

    if (st->seen == 0) {
        st->seen = 1;

        if (st->blocked) {
            st->finish[0] = &ngx_llm_gateway_gemini_filter;
        }
    }

    for (i = 0; i < NGX_LLM_GATEWAY_GEMINI_MAX_CANDIDATES; i++) {
        if (!(st->seen & (1 << i))) {
            continue;
        }

        finish = st->finish[i] ? st->finish[i] : &ngx_llm_gateway_gemini_stop;

        if (st->tools[i] && finish == &ngx_llm_gateway_gemini_stop) {
            finish = &ngx_llm_gateway_gemini_tool_calls;
        }

        if (st->sources[i]) {

            /* the sources: listed after the answer, and as annotations */

            if (g == NULL) {
                g = ngx_llm_gateway_json_gen(ctx->pool);
                if (g == NULL) {
                    return NGX_ERROR;
                }
            }

            if (ngx_llm_gateway_gemini_chunk_open(ctx, g, i) != NGX_OK) {
                return NGX_ERROR;
            }

            if (ctx->links
                && (ngx_llm_gateway_gemini_sources_text(ctx, st->sources[i],
                                                        &text)
                    != NGX_OK
                    || ngx_llm_gateway_json_gen_cstr(g, "content") != NGX_OK
                    || ngx_llm_gateway_json_gen_str(g, &text) != NGX_OK))
            {
                return NGX_ERROR;
            }

            if (ngx_llm_gateway_gemini_stream_annotations(g, st->sources[i],
                                                          st->chars[i])
                != NGX_OK
                || ngx_llm_gateway_gemini_chunk_close(g, NULL, &ctx->out)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        if (ngx_llm_gateway_gemini_fast_finish(ctx, st, i, finish) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (st->usage) {
        if (ctx->chat->include_usage) {
            if (ngx_llm_gateway_gemini_fast_usage_chunk(ctx, st) != NGX_OK) {
                return NGX_ERROR;
            }

        } else {
            (void) ngx_llm_gateway_gemini_usage_counts(ctx, st, &prompt,
                                                       &completion);
        }
    }

    if (ngx_llm_gateway_out_append(&ctx->out, (u_char *) "data: [DONE]\n\n",
                                   sizeof("data: [DONE]\n\n") - 1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->stream_done = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_gemini_stream_error(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *body)
{
    ngx_str_t                 json;
    ngx_llm_gateway_error_t   err;

    if (body) {
        ngx_llm_gateway_gemini_process_error(ctx, NGX_HTTP_BAD_GATEWAY, body,
                                             &err);

    } else {
        ngx_llm_gateway_error_set(&err, NGX_HTTP_BAD_GATEWAY,
                                  "The upstream sent an invalid event.",
                                  "server_error", NULL,
                                  "upstream_invalid_response");
    }

    if (ctx->key) {
        ngx_llm_gateway_scrub(&err.message, &ctx->key->secret);
    }

    ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                  "llm gateway: provider \"%V\" sent an error in the "
                  "stream: \"%V\"", &ctx->provider->name, &err.message);

    ctx->stream_failed = 1;

    if (ngx_llm_gateway_error_json(ctx->pool, &err, &json) != NGX_OK
        || ngx_llm_gateway_out_event(&ctx->out, json.data, json.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* -------------------------------------------------------------- errors */


/*
 * google.rpc.Status to the OpenAI error: a bad key is a 400 for Google
 * but a 401 for OpenAI clients; a 429 carries its retry delay in
 * RetryInfo; Google's canonical status becomes the code.
 */

static void
ngx_llm_gateway_gemini_process_error(ngx_llm_gateway_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *body, ngx_llm_gateway_error_t *err)
{
    size_t     i;
    double     delay;
    yajl_val   root, details, d, v;
    ngx_str_t  type, s;

    ngx_llm_gateway_error_from_body(ctx->pool, status, body, err);

    root = ngx_llm_gateway_json_parse(ctx->pool, body->data, body->len,
                                      NULL, 0);

    details = ngx_llm_gateway_json_get(
                  ngx_llm_gateway_json_get(root, "error"), "details");

    for (i = 0; details && YAJL_IS_ARRAY(details)
                && i < details->u.array.len; i++)
    {
        d = details->u.array.values[i];

        if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(d, "@type"),
                                     &type) != NGX_OK)
        {
            continue;
        }

        if (ngx_strlcasestrn(type.data, type.data + type.len,
                             (u_char *) "ErrorInfo", 9 - 1)
            && ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(d, "reason"),
                                        &s) == NGX_OK)
        {
            if (s.len == 15 && ngx_strncmp(s.data, "API_KEY_INVALID", 15)
                               == 0)
            {
                err->status = NGX_HTTP_UNAUTHORIZED;
                ngx_str_set(&err->type, "invalid_request_error");
                ngx_str_set(&err->code, "invalid_api_key");
            }

            continue;
        }

        if (ngx_strlcasestrn(type.data, type.data + type.len,
                             (u_char *) "RetryInfo", 9 - 1))
        {
            v = ngx_llm_gateway_json_get(d, "retryDelay");

            if (ngx_llm_gateway_json_str(v, &s) == NGX_OK && s.len) {
                delay = strtod((char *) s.data, NULL);

                if (delay > 0 && delay < 86400) {
                    err->retry_after = (time_t) delay
                                       + ((double) (time_t) delay < delay);
                }
            }
        }
    }

    switch (err->status) {

    case 429:
        ngx_str_set(&err->type, "rate_limit_error");
        ngx_str_set(&err->code, "rate_limit_exceeded");
        break;

    case NGX_HTTP_NOT_FOUND:
        ngx_str_set(&err->code, "model_not_found");
        break;

    case NGX_HTTP_FORBIDDEN:
        ngx_str_set(&err->type, "permission_error");
        break;
    }
}


/* -------------------------------------------------------------- models */


static ngx_int_t
ngx_llm_gateway_gemini_models_request(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_upstream_req_t *req)
{
    u_char  *p;

    req->method = NGX_HTTP_GET;
    ngx_str_set(&req->uri, "/v1beta/models");

    if (ctx->page_token.len == 0) {
        ngx_str_set(&req->args, "pageSize=1000");
        return NGX_OK;
    }

    /* the next page: the token as Google gave it, escaped for a query */

    req->args.data = ngx_pnalloc(ctx->pool, sizeof("pageSize=1000&pageToken=")
                                            + 3 * ctx->page_token.len);
    if (req->args.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(req->args.data, "pageSize=1000&pageToken=",
                   sizeof("pageSize=1000&pageToken=") - 1);
    p = (u_char *) ngx_escape_uri(p, ctx->page_token.data,
                                  ctx->page_token.len, NGX_ESCAPE_ARGS);

    req->args.len = p - req->args.data;

    return NGX_OK;
}


/* chat models only: those that support generateContent */

static ngx_int_t
ngx_llm_gateway_gemini_process_models(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *body, ngx_array_t *entries)
{
    size_t                          i, j;
    yajl_gen                        g;
    yajl_val                        root, models, m, methods, v;
    ngx_str_t                       name, s;
    ngx_uint_t                      chat;
    ngx_llm_gateway_model_entry_t  *e;

    root = ngx_llm_gateway_json_parse(ctx->pool, body->data, body->len,
                                      NULL, 0);

    models = ngx_llm_gateway_json_get(root, "models");

    if (models == NULL || !YAJL_IS_ARRAY(models)) {
        return NGX_DECLINED;
    }

    /* more pages: the caller asks for the next with this token */

    if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(root,
                                                          "nextPageToken"),
                                 &ctx->page_token)
        != NGX_OK)
    {
        ngx_str_null(&ctx->page_token);
    }

    g = ngx_llm_gateway_json_gen(ctx->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < models->u.array.len; i++) {
        m = models->u.array.values[i];

        if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(m, "name"),
                                     &name) != NGX_OK)
        {
            continue;
        }

        chat = 0;
        methods = ngx_llm_gateway_json_get(m, "supportedGenerationMethods");

        for (j = 0; methods && YAJL_IS_ARRAY(methods)
                    && j < methods->u.array.len; j++)
        {
            if (ngx_llm_gateway_json_str(methods->u.array.values[j], &s)
                == NGX_OK
                && s.len == 15 && ngx_strncmp(s.data, "generateContent", 15)
                                  == 0)
            {
                chat = 1;
            }
        }

        if (!chat) {
            continue;
        }

        if (name.len > 7 && ngx_strncmp(name.data, "models/", 7) == 0) {
            name.data += 7;
            name.len -= 7;
        }

        e = ngx_array_push(entries);
        if (e == NULL) {
            return NGX_ERROR;
        }

        e->id = name;

        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
            || ngx_llm_gateway_json_gen_cstr(g, "id") != NGX_OK
            || ngx_llm_gateway_json_gen_str(g, &name) != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "object") != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "model") != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "created") != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, 0))
            || ngx_llm_gateway_json_gen_cstr(g, "owned_by") != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "google") != NGX_OK)
        {
            return NGX_ERROR;
        }

        v = ngx_llm_gateway_json_get(m, "displayName");

        if (v && (ngx_llm_gateway_json_gen_cstr(g, "display_name") != NGX_OK
                  || ngx_llm_gateway_json_gen_value(g, v) != NGX_OK))
        {
            return NGX_ERROR;
        }

        v = ngx_llm_gateway_json_get(m, "inputTokenLimit");

        if (v && (ngx_llm_gateway_json_gen_cstr(g, "context_length")
                  != NGX_OK
                  || ngx_llm_gateway_json_gen_value(g, v) != NGX_OK))
        {
            return NGX_ERROR;
        }

        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
            || ngx_llm_gateway_json_take(g, ctx->pool, &e->json) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ctx->page_token.len ? NGX_AGAIN : NGX_OK;
}


/* ---------------------------------------------------------- embeddings */


/* every input in one batchEmbedContents call, in order */

static ngx_int_t
ngx_llm_gateway_gemini_embed_request(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_upstream_req_t *req)
{
    u_char                   *p;
    yajl_gen                  g;
    ngx_int_t                 rc;
    ngx_str_t                 name, *in, *model;
    ngx_uint_t                i;
    ngx_llm_gateway_embed_t  *e;

    e = ctx->embed;
    req->method = NGX_HTTP_POST;

    rc = ngx_llm_gateway_gemini_model_uri(ctx, &req->uri,
                                          ":batchEmbedContents");
    if (rc != NGX_OK) {
        return rc;
    }

    /* each request names the model as the URL does: "models/{model}" */

    model = &ctx->upstream_model;

    if (model->len > 7 && ngx_strncmp(model->data, "models/", 7) == 0) {
        name = *model;

    } else {
        name.len = 7 + model->len;
        name.data = ngx_pnalloc(ctx->pool, name.len);
        if (name.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(name.data, "models/", 7);
        ngx_memcpy(p, model->data, model->len);
    }

    g = ngx_llm_gateway_json_gen(ctx->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "requests") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
    {
        return NGX_ERROR;
    }

    in = e->inputs.elts;

    for (i = 0; i < e->inputs.nelts; i++) {
        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
            || ngx_llm_gateway_json_gen_cstr(g, "model") != NGX_OK
            || ngx_llm_gateway_json_gen_str(g, &name) != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "content") != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
            || ngx_llm_gateway_json_gen_cstr(g, "parts") != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g))
            || ngx_llm_gateway_gemini_text_part(g, &in[i]) != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))
            || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
        {
            return NGX_ERROR;
        }

        if (e->dimensions > 0
            && (ngx_llm_gateway_json_gen_cstr(g, "outputDimensionality")
                != NGX_OK
                || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g,
                                                       e->dimensions))))
        {
            return NGX_ERROR;
        }

        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))) {
            return NGX_ERROR;
        }
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_json_take(g, ctx->pool, &req->body);
}


/*
 * The OpenAI list of embeddings.  base64 is what the Python SDK asks for
 * by default: the vector as little-endian float32, base64-encoded.
 * Gemini reports no token usage for embeddings: it is estimated at four
 * characters a token.
 */

static ngx_int_t
ngx_llm_gateway_gemini_process_embeddings(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *body, ngx_str_t *out)
{
    u_char     *p;
    float       f;
    size_t      i, j;
    int64_t     tokens;
    yajl_gen    g;
    yajl_val    root, embs, values, v;
    uint32_t    bits;
    ngx_str_t   raw, enc;

    root = ngx_llm_gateway_json_parse(ctx->pool, body->data, body->len,
                                      NULL, 0);

    embs = ngx_llm_gateway_json_get(root, "embeddings");

    if (embs == NULL || !YAJL_IS_ARRAY(embs)
        || embs->u.array.len != ctx->embed->inputs.nelts)
    {
        return NGX_DECLINED;
    }

    g = ngx_llm_gateway_json_gen(ctx->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "object") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "list") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "data") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
    {
        return NGX_ERROR;
    }

    for (i = 0; i < embs->u.array.len; i++) {
        values = ngx_llm_gateway_json_get(embs->u.array.values[i], "values");

        if (values == NULL || !YAJL_IS_ARRAY(values)) {
            return NGX_DECLINED;
        }

        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
            || ngx_llm_gateway_json_gen_cstr(g, "object") != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "embedding") != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "index") != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, i))
            || ngx_llm_gateway_json_gen_cstr(g, "embedding") != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (!ctx->embed->base64) {
            if (ngx_llm_gateway_json_gen_value(g, values) != NGX_OK) {
                return NGX_ERROR;
            }

        } else {
            raw.len = values->u.array.len * 4;
            raw.data = ngx_pnalloc(ctx->pool, raw.len ? raw.len : 1);
            if (raw.data == NULL) {
                return NGX_ERROR;
            }

            p = raw.data;

            for (j = 0; j < values->u.array.len; j++) {
                v = values->u.array.values[j];

                if (!YAJL_IS_NUMBER(v)) {
                    return NGX_DECLINED;
                }

                f = (float) (YAJL_IS_DOUBLE(v) ? YAJL_GET_DOUBLE(v)
                                               : YAJL_GET_INTEGER(v));
                ngx_memcpy(&bits, &f, 4);

                *p++ = (u_char) (bits & 0xff);
                *p++ = (u_char) ((bits >> 8) & 0xff);
                *p++ = (u_char) ((bits >> 16) & 0xff);
                *p++ = (u_char) (bits >> 24);
            }

            enc.data = ngx_pnalloc(ctx->pool,
                                   ngx_base64_encoded_length(raw.len));
            if (enc.data == NULL) {
                return NGX_ERROR;
            }

            ngx_encode_base64(&enc, &raw);

            if (ngx_llm_gateway_json_gen_str(g, &enc) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))) {
            return NGX_ERROR;
        }
    }

    tokens = (ctx->embed->chars + 3) / 4;

    if (tokens < (int64_t) ctx->embed->inputs.nelts) {
        tokens = ctx->embed->inputs.nelts;
    }
    ctx->prompt_tokens = tokens;

    if (!ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))
        || ngx_llm_gateway_json_gen_cstr(g, "model") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, &ctx->model) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "usage") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "prompt_tokens") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, tokens))
        || ngx_llm_gateway_json_gen_cstr(g, "total_tokens") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, tokens))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_json_take(g, ctx->pool, out);
}


/* ----------------------------------------------------------- grounding */


/* characters (not bytes) of UTF-8 text: OpenAI's annotation indices */

static size_t
ngx_llm_gateway_gemini_chars(u_char *p, size_t len)
{
    size_t  n;

    for (n = 0; len; len--, p++) {
        n += ((*p & 0xc0) != 0x80);
    }

    return n;
}


/* the web sources of groundingMetadata, as (url, title) pairs */

static ngx_int_t
ngx_llm_gateway_gemini_sources(ngx_llm_gateway_ctx_t *ctx, yajl_val gm,
    ngx_array_t **sources)
{
    size_t      i;
    yajl_val    chunks, web;
    ngx_str_t  *src, url, title;

    *sources = NULL;

    chunks = ngx_llm_gateway_json_get(gm, "groundingChunks");

    if (chunks == NULL || !YAJL_IS_ARRAY(chunks) || chunks->u.array.len == 0)
    {
        return NGX_OK;
    }

    *sources = ngx_array_create(ctx->pool, chunks->u.array.len,
                                2 * sizeof(ngx_str_t));
    if (*sources == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < chunks->u.array.len; i++) {
        web = ngx_llm_gateway_json_get(chunks->u.array.values[i], "web");

        ngx_str_null(&url);
        ngx_str_null(&title);

        (void) ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(web, "uri"),
                                        &url);
        (void) ngx_llm_gateway_json_str(
                                ngx_llm_gateway_json_get(web, "title"),
                                &title);

        src = ngx_array_push(*sources);
        if (src == NULL) {
            return NGX_ERROR;
        }

        /* copies: in a stream the tree is freed after each event */

        src[0].len = url.len;
        src[0].data = url.len ? ngx_pstrdup(ctx->pool, &url) : (u_char *) "";
        src[1].len = title.len;
        src[1].data = title.len ? ngx_pstrdup(ctx->pool, &title)
                                : (u_char *) "";

        if (src[0].data == NULL || src[1].data == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* "\n\nSources:\n1. [title](url)\n..." appended to the answer */

static ngx_int_t
ngx_llm_gateway_gemini_sources_text(ngx_llm_gateway_ctx_t *ctx,
    ngx_array_t *sources, ngx_str_t *text)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *src;
    ngx_uint_t   i;

    src = sources->elts;
    len = sizeof("\n\nSources:\n") - 1;

    for (i = 0; i < sources->nelts; i++) {
        len += NGX_INT_T_LEN + 8 + src[2 * i].len + src[2 * i + 1].len;
    }

    text->data = ngx_pnalloc(ctx->pool, len);
    if (text->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(text->data, "\n\nSources:\n",
                   sizeof("\n\nSources:\n") - 1);

    for (i = 0; i < sources->nelts; i++) {
        p = ngx_sprintf(p, "%ui. [%V](%V)\n", i + 1, &src[2 * i + 1],
                        &src[2 * i]);
    }

    text->len = p - text->data;

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_gemini_annotation(yajl_gen g, ngx_str_t *src, size_t start,
    size_t end)
{
    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "type") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "url_citation") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "url_citation") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "start_index") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, start))
        || ngx_llm_gateway_json_gen_cstr(g, "end_index") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, end))
        || ngx_llm_gateway_json_gen_cstr(g, "url") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, &src[0]) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "title") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, &src[1]) != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * "annotations": one url_citation per source a support cites, its
 * segment's byte offsets turned into character indices in the answer;
 * without supports (streams), each source spans the whole answer.
 */

static ngx_int_t
ngx_llm_gateway_gemini_annotations(yajl_gen g, ngx_array_t *sources,
    yajl_val gm, ngx_str_t *answer)
{
    size_t       i, j, start, end;
    yajl_val     supports, seg, idx, v;
    ngx_str_t   *src;
    ngx_uint_t   k;

    if (ngx_llm_gateway_json_gen_cstr(g, "annotations") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
    {
        return NGX_ERROR;
    }

    src = sources->elts;
    supports = ngx_llm_gateway_json_get(gm, "groundingSupports");

    if (supports && YAJL_IS_ARRAY(supports) && supports->u.array.len) {

        for (i = 0; i < supports->u.array.len; i++) {
            seg = ngx_llm_gateway_json_get(supports->u.array.values[i],
                                           "segment");
            idx = ngx_llm_gateway_json_get(supports->u.array.values[i],
                                           "groundingChunkIndices");

            v = ngx_llm_gateway_json_get(seg, "startIndex");
            start = (v && YAJL_IS_INTEGER(v)) ? YAJL_GET_INTEGER(v) : 0;
            v = ngx_llm_gateway_json_get(seg, "endIndex");
            end = (v && YAJL_IS_INTEGER(v)) ? YAJL_GET_INTEGER(v) : 0;

            start = ngx_min(start, answer->len);
            end = ngx_min(ngx_max(end, start), answer->len);

            end = ngx_llm_gateway_gemini_chars(answer->data, end);
            start = ngx_llm_gateway_gemini_chars(answer->data, start);

            for (j = 0; idx && YAJL_IS_ARRAY(idx) && j < idx->u.array.len;
                 j++)
            {
                v = idx->u.array.values[j];

                if (!YAJL_IS_INTEGER(v)
                    || YAJL_GET_INTEGER(v) < 0
                    || (ngx_uint_t) YAJL_GET_INTEGER(v) >= sources->nelts)
                {
                    continue;
                }

                k = (ngx_uint_t) YAJL_GET_INTEGER(v);

                if (ngx_llm_gateway_gemini_annotation(g, &src[2 * k], start,
                                                      end)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }

    } else {
        end = ngx_llm_gateway_gemini_chars(answer->data, answer->len);

        for (k = 0; k < sources->nelts; k++) {
            if (ngx_llm_gateway_gemini_annotation(g, &src[2 * k], 0, end)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return ngx_llm_gateway_gen_ok(yajl_gen_array_close(g)) ? NGX_OK
                                                            : NGX_ERROR;
}


/* in a stream, each source spans the answer (no supports to place it) */

static ngx_int_t
ngx_llm_gateway_gemini_stream_annotations(yajl_gen g, ngx_array_t *sources,
    size_t chars)
{
    ngx_str_t   *src;
    ngx_uint_t   k;

    if (ngx_llm_gateway_json_gen_cstr(g, "annotations") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
    {
        return NGX_ERROR;
    }

    src = sources->elts;

    for (k = 0; k < sources->nelts; k++) {
        if (ngx_llm_gateway_gemini_annotation(g, &src[2 * k], 0, chars)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_llm_gateway_gen_ok(yajl_gen_array_close(g)) ? NGX_OK
                                                            : NGX_ERROR;
}

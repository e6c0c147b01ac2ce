
/*
 * Hugging Face router (router.huggingface.co/v1): already OpenAI-shaped,
 * so requests pass through (the model renamed when routing says so) and
 * responses are normalised where providers behind the router differ:
 * finish_reason spellings, both error envelopes, usage in streams.
 *
 * Pure translators: request in, bytes out; no event loop here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


typedef struct {
    ngx_str_t                       name;
    ngx_str_t                      *openai;
} ngx_llm_gateway_finish_map_t;


/* what one pass over a completion learns, without building a tree */
typedef struct {
    ngx_llm_gateway_ctx_t          *ctx;
    ngx_uint_t                      depth;
    ngx_uint_t                      top;       /* key at depth 1 */
    ngx_uint_t                      usage;     /* key in "usage" */
    ngx_uint_t                      finish;    /* "finish_reason" next */
    ngx_uint_t                      has_finish;
    unsigned                        choices:1;
    unsigned                        rewrite:1;
} ngx_llm_gateway_hf_scan_t;


#define NGX_LLM_GATEWAY_HF_KEY_OTHER       0
#define NGX_LLM_GATEWAY_HF_KEY_CHOICES     1
#define NGX_LLM_GATEWAY_HF_KEY_USAGE       2
#define NGX_LLM_GATEWAY_HF_KEY_PROMPT      3
#define NGX_LLM_GATEWAY_HF_KEY_COMPLETION  4


static ngx_int_t ngx_llm_gateway_hf_create_request(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_upstream_req_t *req);
static ngx_int_t ngx_llm_gateway_hf_process_response(
    ngx_llm_gateway_ctx_t *ctx, ngx_str_t *body, ngx_str_t *out);
static ngx_int_t ngx_llm_gateway_hf_process_event(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *event, ngx_str_t *data);
static void ngx_llm_gateway_hf_process_error(ngx_llm_gateway_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *body, ngx_llm_gateway_error_t *err);
static ngx_int_t ngx_llm_gateway_hf_models_request(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_upstream_req_t *req);
static ngx_int_t ngx_llm_gateway_hf_process_models(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *body, ngx_array_t *entries);
static ngx_str_t *ngx_llm_gateway_hf_finish(u_char *p, size_t len);
static ngx_int_t ngx_llm_gateway_hf_usage(ngx_llm_gateway_ctx_t *ctx,
    yajl_val usage);
static u_char *ngx_llm_gateway_hf_field(u_char *p, u_char *last,
    char *name, size_t len);
static ngx_int_t ngx_llm_gateway_hf_scan(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *body);
static int ngx_llm_gateway_hf_scan_start_map(void *data);
static int ngx_llm_gateway_hf_scan_end_map(void *data);
static int ngx_llm_gateway_hf_scan_start_array(void *data);
static int ngx_llm_gateway_hf_scan_end_array(void *data);
static int ngx_llm_gateway_hf_scan_key(void *data, const unsigned char *key,
    size_t len);
static int ngx_llm_gateway_hf_scan_string(void *data,
    const unsigned char *s, size_t len);
static int ngx_llm_gateway_hf_scan_integer(void *data, long long n);
static int ngx_llm_gateway_hf_scan_null(void *data);
static int ngx_llm_gateway_hf_scan_other(void *data);
static int ngx_llm_gateway_hf_scan_bool(void *data, int b);
static int ngx_llm_gateway_hf_scan_double(void *data, double d);
static ngx_int_t ngx_llm_gateway_hf_as_stream(ngx_llm_gateway_ctx_t *ctx,
    yajl_val root, yajl_val choices, ngx_str_t *out);
static ngx_int_t ngx_llm_gateway_hf_chunk_head(yajl_gen g, yajl_val root);


ngx_llm_gateway_provider_t  ngx_llm_gateway_hf_provider = {
    ngx_string("hf_router"),
    ngx_llm_gateway_hf_create_request,
    ngx_llm_gateway_hf_process_response,
    ngx_llm_gateway_hf_process_event,
    NULL,
    ngx_llm_gateway_hf_process_error,
    ngx_llm_gateway_hf_models_request,
    ngx_llm_gateway_hf_process_models,
    NULL,
    NULL,
    0
};


static yajl_callbacks  ngx_llm_gateway_hf_scan_callbacks = {
    ngx_llm_gateway_hf_scan_null,
    ngx_llm_gateway_hf_scan_bool,
    ngx_llm_gateway_hf_scan_integer,
    ngx_llm_gateway_hf_scan_double,
    NULL,
    ngx_llm_gateway_hf_scan_string,
    ngx_llm_gateway_hf_scan_start_map,
    ngx_llm_gateway_hf_scan_key,
    ngx_llm_gateway_hf_scan_end_map,
    ngx_llm_gateway_hf_scan_start_array,
    ngx_llm_gateway_hf_scan_end_array
};


static ngx_str_t  ngx_llm_gateway_finish_stop = ngx_string("stop");
static ngx_str_t  ngx_llm_gateway_finish_length = ngx_string("length");
static ngx_str_t  ngx_llm_gateway_finish_tools = ngx_string("tool_calls");
static ngx_str_t  ngx_llm_gateway_finish_filter = ngx_string("content_filter");
static ngx_str_t  ngx_llm_gateway_finish_function =
    ngx_string("function_call");


/*
 * finish_reason spellings seen behind the router (TGI-style backends and
 * others); NULL: already OpenAI's.  Anything not listed ends as "stop".
 */

static ngx_llm_gateway_finish_map_t  ngx_llm_gateway_hf_finish_map[] = {
    { ngx_string("stop"), NULL },
    { ngx_string("length"), NULL },
    { ngx_string("tool_calls"), NULL },
    { ngx_string("content_filter"), NULL },
    { ngx_string("function_call"), NULL },
    { ngx_string("max_tokens"), &ngx_llm_gateway_finish_length },
    { ngx_string("max_length"), &ngx_llm_gateway_finish_length },
    { ngx_string("model_length"), &ngx_llm_gateway_finish_length },
    { ngx_string("tool_use"), &ngx_llm_gateway_finish_tools },
    { ngx_string("tool_call"), &ngx_llm_gateway_finish_tools },
    { ngx_string("function_calls"), &ngx_llm_gateway_finish_function },
    { ngx_string("safety"), &ngx_llm_gateway_finish_filter },
    { ngx_string("recitation"), &ngx_llm_gateway_finish_filter },
    { ngx_string("content_filtered"), &ngx_llm_gateway_finish_filter },
    { ngx_null_string, NULL }
};


static ngx_int_t
ngx_llm_gateway_hf_create_request(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_upstream_req_t *req)
{
    size_t                   i;
    yajl_gen                 g;
    yajl_val                 root;
    const char              *k;
    ngx_llm_gateway_chat_t  *chat;

    chat = ctx->chat;

    req->method = NGX_HTTP_POST;
    ngx_str_set(&req->uri, "/v1/chat/completions");

    if (chat->stream) {
        ngx_str_set(&req->accept, "text/event-stream");
    }

    /* the common case: the model keeps its name, the body goes as is */

    if (ctx->upstream_model.len == chat->model.len
        && ngx_strncmp(ctx->upstream_model.data, chat->model.data,
                       chat->model.len) == 0)
    {
        req->body = chat->raw;
        return NGX_OK;
    }

    g = ngx_llm_gateway_json_gen(ctx->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    root = chat->root;

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_llm_gateway_json_gen_cstr(g, "model") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, &ctx->upstream_model) != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < root->u.object.len; i++) {
        k = root->u.object.keys[i];

        if (ngx_strcmp(k, "model") == 0) {
            continue;
        }

        if (ngx_llm_gateway_json_gen_cstr(g, k) != NGX_OK
            || ngx_llm_gateway_json_gen_value(g, root->u.object.values[i])
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (yajl_gen_map_close(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_json_take(g, ctx->pool, &req->body);
}


/* finish_reason as OpenAI clients know it; NULL when it already is */

static ngx_str_t *
ngx_llm_gateway_hf_finish(u_char *p, size_t len)
{
    ngx_llm_gateway_finish_map_t  *m;

    for (m = ngx_llm_gateway_hf_finish_map; m->name.len; m++) {
        if (m->name.len != len) {
            continue;
        }

        /* OpenAI's own values only as OpenAI spells them: "STOP" maps */

        if (m->openai == NULL ? ngx_strncmp(m->name.data, p, len) == 0
                              : ngx_strncasecmp(m->name.data, p, len) == 0)
        {
            return m->openai;
        }
    }

    return &ngx_llm_gateway_finish_stop;
}


static ngx_int_t
ngx_llm_gateway_hf_usage(ngx_llm_gateway_ctx_t *ctx, yajl_val usage)
{
    yajl_val  v;

    if (usage == NULL || !YAJL_IS_OBJECT(usage)) {
        return NGX_DECLINED;
    }

    v = ngx_llm_gateway_json_get(usage, "prompt_tokens");
    if (v && YAJL_IS_INTEGER(v)) {
        ctx->prompt_tokens = YAJL_GET_INTEGER(v);
    }

    v = ngx_llm_gateway_json_get(usage, "completion_tokens");
    if (v && YAJL_IS_INTEGER(v)) {
        ctx->completion_tokens = YAJL_GET_INTEGER(v);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_hf_process_response(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *body, ngx_str_t *out)
{
    size_t       i, j, n;
    yajl_gen     g;
    yajl_val     root, choices, choice, fr;
    ngx_int_t    rc;
    ngx_str_t   *mapped;
    ngx_uint_t   rewrite;
    const char  *k, *ck;

    /*
     * The common case needs no tree: one pass checks the JSON, reads the
     * usage and finds every finish_reason already in OpenAI's words, and
     * the body goes to the client as it came.
     */

    if (!ctx->stream) {
        rc = ngx_llm_gateway_hf_scan(ctx, body);

        if (rc == NGX_OK) {
            *out = *body;
            return NGX_OK;
        }

        if (rc != NGX_AGAIN) {
            return rc;
        }
    }

    root = ngx_llm_gateway_json_parse(ctx->pool, body->data, body->len,
                                      NULL, 0);

    if (root == NULL || !YAJL_IS_OBJECT(root)) {
        return NGX_DECLINED;
    }

    choices = ngx_llm_gateway_json_get(root, "choices");

    if (choices == NULL || !YAJL_IS_ARRAY(choices)) {
        return NGX_DECLINED;
    }

    (void) ngx_llm_gateway_hf_usage(ctx,
                                  ngx_llm_gateway_json_get(root, "usage"));

    if (ctx->stream) {
        return ngx_llm_gateway_hf_as_stream(ctx, root, choices, out);
    }

    rewrite = 0;

    for (i = 0; i < choices->u.array.len; i++) {
        fr = ngx_llm_gateway_json_get(choices->u.array.values[i],
                                      "finish_reason");

        if (fr == NULL || !YAJL_IS_STRING(fr)
            || ngx_llm_gateway_hf_finish((u_char *) fr->u.string,
                                         ngx_strlen(fr->u.string))
               != NULL)
        {
            rewrite = 1;
            break;
        }
    }

    if (!rewrite) {
        *out = *body;
        return NGX_OK;
    }

    g = ngx_llm_gateway_json_gen(ctx->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    for (i = 0; i < root->u.object.len; i++) {
        k = root->u.object.keys[i];

        if (ngx_llm_gateway_json_gen_cstr(g, k) != NGX_OK) {
            return NGX_ERROR;
        }

        if (root->u.object.values[i] != choices) {
            if (ngx_llm_gateway_json_gen_value(g, root->u.object.values[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (yajl_gen_array_open(g) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }

        for (j = 0; j < choices->u.array.len; j++) {
            choice = choices->u.array.values[j];

            if (!YAJL_IS_OBJECT(choice)) {
                if (ngx_llm_gateway_json_gen_value(g, choice) != NGX_OK) {
                    return NGX_ERROR;
                }

                continue;
            }

            if (yajl_gen_map_open(g) != yajl_gen_status_ok) {
                return NGX_ERROR;
            }

            fr = ngx_llm_gateway_json_get(choice, "finish_reason");

            if (fr == NULL
                && (ngx_llm_gateway_json_gen_cstr(g, "finish_reason")
                    != NGX_OK
                    || ngx_llm_gateway_json_gen_str(g,
                                           &ngx_llm_gateway_finish_stop)
                       != NGX_OK))
            {
                return NGX_ERROR;
            }

            for (n = 0; n < choice->u.object.len; n++) {
                ck = choice->u.object.keys[n];

                if (ngx_llm_gateway_json_gen_cstr(g, ck) != NGX_OK) {
                    return NGX_ERROR;
                }

                if (choice->u.object.values[n] != fr) {
                    if (ngx_llm_gateway_json_gen_value(g,
                                                 choice->u.object.values[n])
                        != NGX_OK)
                    {
                        return NGX_ERROR;
                    }

                    continue;
                }

                mapped = YAJL_IS_STRING(fr)
                         ? ngx_llm_gateway_hf_finish((u_char *) fr->u.string,
                                                   ngx_strlen(fr->u.string))
                         : &ngx_llm_gateway_finish_stop;

                if (mapped == NULL) {
                    if (ngx_llm_gateway_json_gen_value(g, fr) != NGX_OK) {
                        return NGX_ERROR;
                    }

                } else if (ngx_llm_gateway_json_gen_str(g, mapped)
                           != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }

            if (yajl_gen_map_close(g) != yajl_gen_status_ok) {
                return NGX_ERROR;
            }
        }

        if (yajl_gen_array_close(g) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }
    }

    if (yajl_gen_map_close(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_json_take(g, ctx->pool, out);
}


/*
 * Where "name" is a key in compact or spaced JSON, the position of its
 * value; NULL if absent.  The search runs from the end: in a chunk,
 * finish_reason and usage are the last keys.  A key's quotes are never
 * escaped, so text inside a string value cannot match.
 */

static u_char *
ngx_llm_gateway_hf_field(u_char *p, u_char *last, char *name, size_t len)
{
    u_char  *q;

    if ((size_t) (last - p) < len) {
        return NULL;
    }

    for (q = last - len; q >= p; q--) {
        if (*q == '"' && ngx_memcmp(q, name, len) == 0) {
            break;
        }
    }

    if (q < p) {
        return NULL;
    }

    q += len;

    while (q < last && (*q == ' ' || *q == ':' || *q == '\t')) {
        q++;
    }

    return q < last ? q : NULL;
}


static ngx_int_t
ngx_llm_gateway_hf_process_event(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *event, ngx_str_t *data)
{
    u_char                   *p, *q, *f, *last, *buf;
    yajl_val                  root, e;
    ngx_str_t                *mapped, json;
    ngx_uint_t                is_error;
    ngx_llm_gateway_error_t   err;

    if (data->len == 6 && ngx_strncmp(data->data, "[DONE]", 6) == 0) {
        ctx->stream_done = 1;
        return ngx_llm_gateway_out_event(&ctx->out, data->data, data->len);
    }

    last = data->data + data->len;

    /*
     * Most events are content deltas with "finish_reason":null: one
     * search tells them apart.  An error is an object whose first key is
     * "error"; usage comes in the finish chunk or in a chunk of its own
     * without choices, so only events with a finish_reason other than
     * null, or with none, are looked at for it.
     */

    for (p = data->data; p < last && (*p == ' ' || *p == '\t'); p++) {
        /* void */
    }

    is_error = (event->len == 5
                && ngx_strncmp(event->data, "error", 5) == 0)
               || (last - p > 8 && ngx_strncmp(p, "{\"error\"", 8) == 0);

    f = ngx_llm_gateway_hf_field(data->data, last, "\"finish_reason\"", 15);

    q = NULL;

    if (!is_error && (f == NULL || *f != 'n')) {
        q = ngx_llm_gateway_hf_field(data->data, last, "\"usage\"", 7);
    }

    if (is_error || (q && *q == '{')) {
        root = ngx_llm_gateway_json_parse(ctx->pool, data->data, data->len,
                                          NULL, 0);

        e = ngx_llm_gateway_json_get(root, "error");

        if (e || (event->len == 5
                  && ngx_strncmp(event->data, "error", 5) == 0))
        {
            ngx_llm_gateway_error_from_body(ctx->pool, NGX_HTTP_BAD_GATEWAY,
                                            data, &err);

            if (ctx->key) {
                ngx_llm_gateway_scrub(&err.message, &ctx->key->secret);
            }

            ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                          "llm gateway: provider \"%V\" sent an error "
                          "event: \"%V\"", &ctx->provider->name,
                          &err.message);

            ctx->stream_failed = 1;

            if (ngx_llm_gateway_error_json(ctx->pool, &err, &json)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            return ngx_llm_gateway_out_event(&ctx->out, json.data, json.len);
        }

        (void) ngx_llm_gateway_hf_usage(ctx,
                                  ngx_llm_gateway_json_get(root, "usage"));
    }

    /* finish_reason spelled differently: splice the OpenAI value in */

    p = f;

    if (p && *p == '"') {
        for (q = p + 1; q < last && *q != '"'; q++) {
            if (*q == '\\') {
                q++;
            }
        }

        if (q < last) {
            mapped = ngx_llm_gateway_hf_finish(p + 1, q - p - 1);

            if (mapped) {
                buf = ngx_pnalloc(ctx->pool, data->len + mapped->len);
                if (buf == NULL) {
                    return NGX_ERROR;
                }

                json.data = buf;
                buf = ngx_cpymem(buf, data->data, p + 1 - data->data);
                buf = ngx_cpymem(buf, mapped->data, mapped->len);
                buf = ngx_cpymem(buf, q, last - q);
                json.len = buf - json.data;

                return ngx_llm_gateway_out_event(&ctx->out, json.data,
                                                 json.len);
            }
        }
    }

    return ngx_llm_gateway_out_event(&ctx->out, data->data, data->len);
}


static void
ngx_llm_gateway_hf_process_error(ngx_llm_gateway_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *body, ngx_llm_gateway_error_t *err)
{
    ngx_llm_gateway_error_from_body(ctx->pool, status, body, err);

    if (err->code.len == 0) {
        switch (status) {

        case 402:
            ngx_str_set(&err->code, "insufficient_quota");
            break;

        case 429:
            ngx_str_set(&err->code, "rate_limit_exceeded");
            break;

        case NGX_HTTP_NOT_FOUND:
            ngx_str_set(&err->code, "model_not_found");
            break;
        }
    }
}


static ngx_int_t
ngx_llm_gateway_hf_models_request(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_upstream_req_t *req)
{
    req->method = NGX_HTTP_GET;
    ngx_str_set(&req->uri, "/v1/models");

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_hf_process_models(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *body, ngx_array_t *entries)
{
    size_t                          i;
    yajl_gen                        g;
    yajl_val                        root, data, m;
    ngx_llm_gateway_model_entry_t  *e;

    root = ngx_llm_gateway_json_parse(ctx->pool, body->data, body->len,
                                      NULL, 0);

    data = ngx_llm_gateway_json_get(root, "data");

    if (data == NULL || !YAJL_IS_ARRAY(data)) {
        return NGX_DECLINED;
    }

    g = ngx_llm_gateway_json_gen(ctx->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < data->u.array.len; i++) {
        m = data->u.array.values[i];

        if (!YAJL_IS_STRING(ngx_llm_gateway_json_get(m, "id"))) {
            continue;
        }

        e = ngx_array_push(entries);
        if (e == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(m, "id"),
                                        &e->id);

        if (ngx_llm_gateway_json_gen_value(g, m) != NGX_OK
            || ngx_llm_gateway_json_take(g, ctx->pool, &e->json) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_hf_chunk_head(yajl_gen g, yajl_val root)
{
    static const char  *keys[] = { "id", "created", "model",
                                   "system_fingerprint", NULL };

    yajl_val      v;
    const char  **k;

    if (yajl_gen_map_open(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    for (k = keys; *k; k++) {
        v = ngx_llm_gateway_json_get(root, *k);

        if (v == NULL) {
            continue;
        }

        if (ngx_llm_gateway_json_gen_cstr(g, *k) != NGX_OK
            || ngx_llm_gateway_json_gen_value(g, v) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (k == keys
            && (ngx_llm_gateway_json_gen_cstr(g, "object") != NGX_OK
                || ngx_llm_gateway_json_gen_cstr(g, "chat.completion.chunk")
                   != NGX_OK))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Some providers behind the router answer a streaming request with one
 * plain completion.  A streaming client cannot read that: it is replayed
 * as the chunks the client expects (the whole message in one delta).
 */

static ngx_int_t
ngx_llm_gateway_hf_as_stream(ngx_llm_gateway_ctx_t *ctx, yajl_val root,
    yajl_val choices, ngx_str_t *out)
{
    u_char                 *p;
    size_t                  i, j;
    yajl_gen                g;
    yajl_val                choice, msg, v, calls;
    ngx_str_t               chunk, *mapped;
    ngx_chain_t            *cl;
    ngx_llm_gateway_out_t   acc;

    static const char  *fields[] = { "content", "reasoning_content",
                                     "refusal", NULL };
    const char        **f;

    g = ngx_llm_gateway_json_gen(ctx->pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    ngx_llm_gateway_out_init(&acc, ctx->pool);

    for (i = 0; i < choices->u.array.len; i++) {
        choice = choices->u.array.values[i];
        msg = ngx_llm_gateway_json_get(choice, "message");

        /* the whole message as one delta */

        if (ngx_llm_gateway_hf_chunk_head(g, root) != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "choices") != NGX_OK
            || yajl_gen_array_open(g) != yajl_gen_status_ok
            || yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_llm_gateway_json_gen_cstr(g, "index") != NGX_OK
            || yajl_gen_integer(g, i) != yajl_gen_status_ok
            || ngx_llm_gateway_json_gen_cstr(g, "delta") != NGX_OK
            || yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_llm_gateway_json_gen_cstr(g, "role") != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "assistant") != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (f = fields; *f; f++) {
            v = ngx_llm_gateway_json_get(msg, *f);

            if (v == NULL || (f != fields && YAJL_IS_NULL(v))) {
                continue;
            }

            if (ngx_llm_gateway_json_gen_cstr(g, *f) != NGX_OK
                || ngx_llm_gateway_json_gen_value(g, v) != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        calls = ngx_llm_gateway_json_get(msg, "tool_calls");

        if (calls && YAJL_IS_ARRAY(calls) && calls->u.array.len) {
            if (ngx_llm_gateway_json_gen_cstr(g, "tool_calls") != NGX_OK
                || yajl_gen_array_open(g) != yajl_gen_status_ok)
            {
                return NGX_ERROR;
            }

            for (j = 0; j < calls->u.array.len; j++) {
                v = calls->u.array.values[j];

                if (!YAJL_IS_OBJECT(v)) {
                    continue;
                }

                if (yajl_gen_map_open(g) != yajl_gen_status_ok
                    || ngx_llm_gateway_json_gen_cstr(g, "index") != NGX_OK
                    || yajl_gen_integer(g, j) != yajl_gen_status_ok
                    || ngx_llm_gateway_json_gen_cstr(g, "id") != NGX_OK
                    || ngx_llm_gateway_json_gen_value(g,
                                   ngx_llm_gateway_json_get(v, "id"))
                       != NGX_OK
                    || ngx_llm_gateway_json_gen_cstr(g, "type") != NGX_OK
                    || ngx_llm_gateway_json_gen_cstr(g, "function") != NGX_OK
                    || ngx_llm_gateway_json_gen_cstr(g, "function") != NGX_OK
                    || ngx_llm_gateway_json_gen_value(g,
                                   ngx_llm_gateway_json_get(v, "function"))
                       != NGX_OK
                    || yajl_gen_map_close(g) != yajl_gen_status_ok)
                {
                    return NGX_ERROR;
                }
            }

            if (yajl_gen_array_close(g) != yajl_gen_status_ok) {
                return NGX_ERROR;
            }
        }

        if (yajl_gen_map_close(g) != yajl_gen_status_ok
            || ngx_llm_gateway_json_gen_cstr(g, "logprobs") != NGX_OK
            || yajl_gen_null(g) != yajl_gen_status_ok
            || ngx_llm_gateway_json_gen_cstr(g, "finish_reason") != NGX_OK
            || yajl_gen_null(g) != yajl_gen_status_ok
            || yajl_gen_map_close(g) != yajl_gen_status_ok
            || yajl_gen_array_close(g) != yajl_gen_status_ok
            || yajl_gen_map_close(g) != yajl_gen_status_ok
            || ngx_llm_gateway_json_take(g, ctx->pool, &chunk) != NGX_OK
            || ngx_llm_gateway_out_event(&acc, chunk.data, chunk.len)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* then the finish chunk */

        v = ngx_llm_gateway_json_get(choice, "finish_reason");

        if (v && YAJL_IS_STRING(v)) {
            mapped = ngx_llm_gateway_hf_finish((u_char *) v->u.string,
                                               ngx_strlen(v->u.string));

        } else {
            mapped = &ngx_llm_gateway_finish_stop;
        }

        if (ngx_llm_gateway_hf_chunk_head(g, root) != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "choices") != NGX_OK
            || yajl_gen_array_open(g) != yajl_gen_status_ok
            || yajl_gen_map_open(g) != yajl_gen_status_ok
            || ngx_llm_gateway_json_gen_cstr(g, "index") != NGX_OK
            || yajl_gen_integer(g, i) != yajl_gen_status_ok
            || ngx_llm_gateway_json_gen_cstr(g, "delta") != NGX_OK
            || yajl_gen_map_open(g) != yajl_gen_status_ok
            || yajl_gen_map_close(g) != yajl_gen_status_ok
            || ngx_llm_gateway_json_gen_cstr(g, "logprobs") != NGX_OK
            || yajl_gen_null(g) != yajl_gen_status_ok
            || ngx_llm_gateway_json_gen_cstr(g, "finish_reason") != NGX_OK
            || (mapped ? ngx_llm_gateway_json_gen_str(g, mapped)
                       : ngx_llm_gateway_json_gen_value(g, v)) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok
            || yajl_gen_array_close(g) != yajl_gen_status_ok
            || yajl_gen_map_close(g) != yajl_gen_status_ok
            || ngx_llm_gateway_json_take(g, ctx->pool, &chunk) != NGX_OK
            || ngx_llm_gateway_out_event(&acc, chunk.data, chunk.len)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    v = ngx_llm_gateway_json_get(root, "usage");

    if (ctx->chat->include_usage && v && YAJL_IS_OBJECT(v)) {
        if (ngx_llm_gateway_hf_chunk_head(g, root) != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "choices") != NGX_OK
            || yajl_gen_array_open(g) != yajl_gen_status_ok
            || yajl_gen_array_close(g) != yajl_gen_status_ok
            || ngx_llm_gateway_json_gen_cstr(g, "usage") != NGX_OK
            || ngx_llm_gateway_json_gen_value(g, v) != NGX_OK
            || yajl_gen_map_close(g) != yajl_gen_status_ok
            || ngx_llm_gateway_json_take(g, ctx->pool, &chunk) != NGX_OK
            || ngx_llm_gateway_out_event(&acc, chunk.data, chunk.len)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_llm_gateway_out_event(&acc, (u_char *) "[DONE]", 6) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the accumulated buffers, joined */

    out->len = acc.len;
    out->data = ngx_pnalloc(ctx->pool, acc.len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    for (cl = acc.head; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    return NGX_OK;
}


/*
 * NGX_OK: valid, nothing to change; NGX_AGAIN: a finish_reason needs
 * rewriting; NGX_DECLINED: not a chat completion.
 */

static ngx_int_t
ngx_llm_gateway_hf_scan(ngx_llm_gateway_ctx_t *ctx, ngx_str_t *body)
{
    yajl_status                 st;
    yajl_handle                 h;
    yajl_alloc_funcs            afs;
    ngx_llm_gateway_hf_scan_t   scan;

    ngx_memzero(&scan, sizeof(ngx_llm_gateway_hf_scan_t));
    scan.ctx = ctx;

    ngx_llm_gateway_json_pool_funcs(&afs, ctx->pool);

    h = yajl_alloc(&ngx_llm_gateway_hf_scan_callbacks, &afs, &scan);
    if (h == NULL) {
        return NGX_ERROR;
    }

    st = yajl_parse(h, body->data, body->len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (st == yajl_status_client_canceled) {
        return NGX_AGAIN;
    }

    if (st != yajl_status_ok || !scan.choices) {
        return NGX_DECLINED;
    }

    return scan.rewrite ? NGX_AGAIN : NGX_OK;
}


static int
ngx_llm_gateway_hf_scan_start_map(void *data)
{
    ngx_llm_gateway_hf_scan_t *scan = data;

    scan->depth++;

    if (scan->depth == 3 && scan->top == NGX_LLM_GATEWAY_HF_KEY_CHOICES) {
        scan->has_finish = 0;
    }

    return 1;
}


static int
ngx_llm_gateway_hf_scan_end_map(void *data)
{
    ngx_llm_gateway_hf_scan_t *scan = data;

    /* a choice without finish_reason gets one: rewrite */

    if (scan->depth == 3 && scan->top == NGX_LLM_GATEWAY_HF_KEY_CHOICES
        && !scan->has_finish)
    {
        scan->rewrite = 1;
    }

    scan->depth--;
    scan->finish = 0;

    return 1;
}


static int
ngx_llm_gateway_hf_scan_start_array(void *data)
{
    ngx_llm_gateway_hf_scan_t *scan = data;

    scan->depth++;

    if (scan->depth == 2 && scan->top == NGX_LLM_GATEWAY_HF_KEY_CHOICES) {
        scan->choices = 1;
    }

    scan->finish = 0;

    return 1;
}


static int
ngx_llm_gateway_hf_scan_end_array(void *data)
{
    ngx_llm_gateway_hf_scan_t *scan = data;

    scan->depth--;

    return 1;
}


static int
ngx_llm_gateway_hf_scan_key(void *data, const unsigned char *key, size_t len)
{
    ngx_llm_gateway_hf_scan_t *scan = data;

    scan->finish = 0;

    switch (scan->depth) {

    case 1:
        if (len == 7 && ngx_strncmp(key, "choices", 7) == 0) {
            scan->top = NGX_LLM_GATEWAY_HF_KEY_CHOICES;

        } else if (len == 5 && ngx_strncmp(key, "usage", 5) == 0) {
            scan->top = NGX_LLM_GATEWAY_HF_KEY_USAGE;

        } else {
            scan->top = NGX_LLM_GATEWAY_HF_KEY_OTHER;
        }

        break;

    case 2:
        if (scan->top != NGX_LLM_GATEWAY_HF_KEY_USAGE) {
            break;
        }

        if (len == 13 && ngx_strncmp(key, "prompt_tokens", 13) == 0) {
            scan->usage = NGX_LLM_GATEWAY_HF_KEY_PROMPT;

        } else if (len == 17
                   && ngx_strncmp(key, "completion_tokens", 17) == 0)
        {
            scan->usage = NGX_LLM_GATEWAY_HF_KEY_COMPLETION;

        } else {
            scan->usage = NGX_LLM_GATEWAY_HF_KEY_OTHER;
        }

        break;

    case 3:
        if (scan->top == NGX_LLM_GATEWAY_HF_KEY_CHOICES
            && len == 13 && ngx_strncmp(key, "finish_reason", 13) == 0)
        {
            scan->finish = 1;
            scan->has_finish = 1;
        }

        break;
    }

    return 1;
}


static int
ngx_llm_gateway_hf_scan_string(void *data, const unsigned char *s,
    size_t len)
{
    ngx_llm_gateway_hf_scan_t *scan = data;

    if (scan->finish && scan->depth == 3
        && ngx_llm_gateway_hf_finish((u_char *) s, len) != NULL)
    {
        scan->rewrite = 1;
    }

    scan->finish = 0;

    return 1;
}


static int
ngx_llm_gateway_hf_scan_integer(void *data, long long n)
{
    ngx_llm_gateway_hf_scan_t *scan = data;

    if (scan->depth == 2 && scan->top == NGX_LLM_GATEWAY_HF_KEY_USAGE) {
        if (scan->usage == NGX_LLM_GATEWAY_HF_KEY_PROMPT) {
            scan->ctx->prompt_tokens = n;

        } else if (scan->usage == NGX_LLM_GATEWAY_HF_KEY_COMPLETION) {
            scan->ctx->completion_tokens = n;
        }
    }

    scan->finish = 0;

    return 1;
}


static int
ngx_llm_gateway_hf_scan_null(void *data)
{
    ngx_llm_gateway_hf_scan_t *scan = data;

    if (scan->finish && scan->depth == 3) {
        scan->rewrite = 1;
    }

    scan->finish = 0;

    return 1;
}


static int
ngx_llm_gateway_hf_scan_other(void *data)
{
    ngx_llm_gateway_hf_scan_t *scan = data;

    scan->finish = 0;

    return 1;
}


static int
ngx_llm_gateway_hf_scan_bool(void *data, int b)
{
    return ngx_llm_gateway_hf_scan_other(data);
}


static int
ngx_llm_gateway_hf_scan_double(void *data, double d)
{
    return ngx_llm_gateway_hf_scan_other(data);
}


/*
 * Fuzz target: the translators, without a running nginx.  Linked with
 * nginx's core objects (pools, strings, time) from the AddressSanitizer
 * tree, they run on a pool per input and nothing else: the OpenAI chat
 * and embeddings parsers, each provider's request builder, Gemini's and
 * the router's answer, error and model list translators, and their
 * stream translators fed through the SSE parser in pieces of every size.
 *
 * The first byte of an input chooses the target and a few settings; the
 * rest is the body.  Every JSON document the translators write (answers,
 * each stream event but "[DONE]") must parse, and the pool is destroyed
 * after each input, so the leak checker sees anything not in it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"

#include <yajl/yajl_tree.h>


#define fuzz_check(cond)                                                     \
    if (!(cond)) {                                                           \
        fprintf(stderr, "fuzz check failed at line %d: %s\n", __LINE__,     \
                #cond);                                                      \
        abort();                                                             \
    }


static ngx_log_t                        *fuzz_log;
static ngx_llm_gateway_provider_conf_t   fuzz_gemini;
static ngx_llm_gateway_provider_conf_t   fuzz_hf;
static ngx_llm_gateway_model_t           fuzz_route;


static void
fuzz_init(void)
{
    ngx_uint_t  n;

    ngx_pagesize = getpagesize();
    for (n = ngx_pagesize; n >>= 1; ngx_pagesize_shift++) { /* void */ }
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    ngx_time_init();

    fuzz_log = ngx_log_init(NULL, NULL);
    fuzz_log->log_level = NGX_LOG_EMERG;

    ngx_str_set(&fuzz_gemini.name, "gemini");
    fuzz_gemini.type = &ngx_llm_gateway_gemini_provider;

    ngx_str_set(&fuzz_hf.name, "hf");
    fuzz_hf.type = &ngx_llm_gateway_hf_provider;

    fuzz_route.tools = 0;
    fuzz_route.links = -1;
}


static void
fuzz_valid_json(u_char *p, size_t len)
{
    char      *doc, err[128];
    yajl_val   v;

    doc = malloc(len + 1);
    memcpy(doc, p, len);
    doc[len] = '\0';

    v = yajl_tree_parse(doc, err, sizeof(err));

    if (v == NULL) {
        fprintf(stderr, "fuzz: invalid JSON written (%s): %.*s\n", err,
                (int) len, p);
        abort();
    }

    yajl_tree_free(v);
    free(doc);
}


/*
 * Every event written is "data: " lines and a blank line.  What the
 * gateway translates (Gemini) must be JSON, or "[DONE]"; what it relays
 * from an OpenAI-shaped upstream is the upstream's own text, checked for
 * framing only.
 */

static void
fuzz_check_events(ngx_llm_gateway_ctx_t *ctx, ngx_uint_t json)
{
    u_char       *buf, *p, *q, *last, *end, *nl, *ev;
    size_t        len;
    ngx_chain_t  *cl, *out;

    out = ngx_llm_gateway_out_take(&ctx->out);

    len = 0;

    for (cl = out; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    if (len == 0) {
        return;
    }

    buf = malloc(len);
    ev = malloc(len);
    p = buf;

    for (cl = out; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    last = buf + len;

    for (p = buf; p < last; p = end + 2) {
        end = memmem(p, last - p, "\n\n", 2);
        fuzz_check(end != NULL);

        /* the event's lines, each "data: ...", joined as a client would */

        q = ev;

        while (p < end) {
            fuzz_check(end - p >= 6 && ngx_strncmp(p, "data: ", 6) == 0);

            nl = memchr(p, '\n', end - p);
            nl = nl ? nl : end;

            if (q != ev) {
                *q++ = '\n';
            }

            q = ngx_cpymem(q, p + 6, nl - (p + 6));
            p = nl + (nl < end);
        }

        if (!json || (q - ev == 6 && ngx_strncmp(ev, "[DONE]", 6) == 0)) {
            continue;
        }

        fuzz_valid_json(ev, q - ev);
    }

    free(ev);
    free(buf);
}


static void
fuzz_stream(ngx_llm_gateway_ctx_t *ctx, u_char *p, size_t len,
    uint8_t pieces)
{
    size_t                     n, step;
    ngx_int_t                  rc;
    ngx_llm_gateway_sr_ctx_t   srctx;

    ngx_memzero(&srctx, sizeof(ngx_llm_gateway_sr_ctx_t));
    srctx.ctx = ctx;
    srctx.provider = ctx->provider;
    srctx.kind = NGX_LLM_GATEWAY_SR_CHAT;
    srctx.stream = 1;

    ctx->current = &srctx;

    /* the bytes as the network cuts them: 1 to 256 at a time */

    step = 1 + pieces;

    while (len) {
        n = ngx_min(len, step);

        rc = ngx_llm_gateway_sse_feed(&ctx->sse, ctx->pool, p, n,
                                      ngx_llm_gateway_sse_event, ctx);

        fuzz_check(rc != NGX_ERROR);

        if (rc == NGX_DECLINED) {
            break;
        }

        p += n;
        len -= n;
        step = (step * 7 + 3) % 257 + 1;

        fuzz_check_events(ctx, ctx->provider == &fuzz_gemini);
    }

    if (!ctx->stream_done && !ctx->stream_failed) {
        fuzz_check(ngx_llm_gateway_sse_flush(&ctx->sse, ctx->pool,
                                             ngx_llm_gateway_sse_event, ctx)
                   != NGX_ERROR);
    }

    if (!ctx->stream_done && !ctx->stream_failed
        && ctx->provider->type->finish_stream)
    {
        fuzz_check(ctx->provider->type->finish_stream(ctx) != NGX_ERROR);
    }

    fuzz_check_events(ctx, ctx->provider == &fuzz_gemini);

    ctx->current = NULL;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ngx_uint_t   inited;
    static ngx_str_t    chat_req = ngx_string(
        "{\"model\":\"gemini-3-pro\",\"n\":2,\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    static ngx_str_t    embed_req = ngx_string(
        "{\"model\":\"text-embedding-004\",\"input\":[\"a\",\"b\"],"
        "\"encoding_format\":\"base64\"}");

    u_char                          *body;
    uint8_t                          sel;
    ngx_int_t                        rc;
    ngx_str_t                        in, out, fixed;
    ngx_pool_t                      *pool;
    ngx_array_t                      entries;
    ngx_llm_gateway_ctx_t           *ctx;
    ngx_llm_gateway_error_t          err;
    ngx_llm_gateway_upstream_req_t   req;

    if (!inited) {
        fuzz_init();
        inited = 1;
    }

    if (size < 2) {
        return 0;
    }

    sel = data[0];

    pool = ngx_create_pool(4096, fuzz_log);
    fuzz_check(pool != NULL);

    /* the body in a block of its own size: a read past it is caught */

    body = malloc(size - 1);
    memcpy(body, data + 1, size - 1);
    in.data = body;
    in.len = size - 1;

    ctx = ngx_pcalloc(pool, sizeof(ngx_llm_gateway_ctx_t));
    ctx->pool = pool;
    ctx->log = fuzz_log;
    ctx->prompt_tokens = -1;
    ctx->completion_tokens = -1;
    ctx->sse.max = 64 * 1024;
    ctx->links = (sel >> 3) & 1;
    ctx->route = (sel & 0x40) ? &fuzz_route : NULL;
    ngx_str_set(&ctx->model, "gemini-3-pro");
    ctx->upstream_model = ctx->model;
    ngx_llm_gateway_out_init(&ctx->out, pool);

    if (sel & 0x80) {
        ngx_str_set(&ctx->safety, "BLOCK_NONE");
    }

    ctx->provider = (sel & 0x20) ? &fuzz_hf : &fuzz_gemini;

    switch (sel % 4) {

    case 0:
        /* a client's chat request, then each provider's request */

        ngx_memzero(&err, sizeof(err));
        rc = ngx_llm_gateway_chat_parse(ctx, &in, &err);
        fuzz_check(rc != NGX_ERROR);

        if (rc == NGX_OK) {
            ctx->stream = ctx->chat->stream;

            ngx_memzero(&req, sizeof(req));
            rc = fuzz_gemini.type->create_request(ctx, &req);
            fuzz_check(rc != NGX_ERROR);

            if (rc == NGX_OK) {
                fuzz_valid_json(req.body.data, req.body.len);
            }

            ngx_memzero(&req, sizeof(req));
            rc = fuzz_hf.type->create_request(ctx, &req);
            fuzz_check(rc != NGX_ERROR);

            if (rc == NGX_OK) {
                fuzz_valid_json(req.body.data, req.body.len);
            }
        }

        ngx_memzero(&err, sizeof(err));
        rc = ngx_llm_gateway_embed_parse(ctx, &in, &err);
        fuzz_check(rc != NGX_ERROR);

        if (rc == NGX_OK) {
            ngx_memzero(&req, sizeof(req));
            rc = fuzz_gemini.type->embed_request(ctx, &req);
            fuzz_check(rc != NGX_ERROR);
        }

        break;

    case 1:
        /* a provider's answer, error and model list */

        fixed = chat_req;
        fuzz_check(ngx_llm_gateway_chat_parse(ctx, &fixed, &err) == NGX_OK);
        ctx->stream = (sel >> 2) & 1;

        rc = ctx->provider->type->process_response(ctx, &in, &out);
        fuzz_check(rc != NGX_ERROR);

        if (rc == NGX_OK && !ctx->stream) {
            fuzz_valid_json(out.data, out.len);
        }

        fuzz_check_events(ctx, ctx->provider == &fuzz_gemini);

        ngx_memzero(&err, sizeof(err));
        ctx->provider->type->process_error(ctx, 400 + (sel >> 2) % 104, &in,
                                           &err);

        fuzz_check(ngx_array_init(&entries, pool, 4,
                                  sizeof(ngx_llm_gateway_model_entry_t))
                   == NGX_OK);
        (void) ctx->provider->type->process_models(ctx, &in, &entries);

        fixed = embed_req;
        if (ngx_llm_gateway_embed_parse(ctx, &fixed, &err) == NGX_OK
            && fuzz_gemini.type->process_embeddings)
        {
            rc = fuzz_gemini.type->process_embeddings(ctx, &in, &out);
            fuzz_check(rc != NGX_ERROR);

            if (rc == NGX_OK) {
                fuzz_valid_json(out.data, out.len);
            }
        }

        break;

    default:
        /* a stream, in pieces */

        fixed = chat_req;
        fuzz_check(ngx_llm_gateway_chat_parse(ctx, &fixed, &err) == NGX_OK);
        ctx->stream = 1;

        fuzz_stream(ctx, in.data, in.len, sel);

        break;
    }

    ngx_destroy_pool(pool);
    free(body);

    return 0;
}

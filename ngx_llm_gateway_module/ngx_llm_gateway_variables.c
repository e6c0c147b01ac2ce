
/*
 * $llm_gateway_* variables, for log_format and for the internal
 * locations that carry requests upstream.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


#define NGX_LLM_GATEWAY_VAR_PROVIDER          0
#define NGX_LLM_GATEWAY_VAR_MODEL             1
#define NGX_LLM_GATEWAY_VAR_UPSTREAM_MODEL    2
#define NGX_LLM_GATEWAY_VAR_UPSTREAM_STATUS   3
#define NGX_LLM_GATEWAY_VAR_ATTEMPTS          4
#define NGX_LLM_GATEWAY_VAR_KEY_ID            5
#define NGX_LLM_GATEWAY_VAR_PROMPT_TOKENS     6
#define NGX_LLM_GATEWAY_VAR_COMPLETION_TOKENS 7
#define NGX_LLM_GATEWAY_VAR_STREAM            8
#define NGX_LLM_GATEWAY_VAR_KEY_BIND          9


static ngx_int_t ngx_llm_gateway_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_llm_gateway_upstream_key_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_llm_gateway_vars[] = {

    { ngx_string("llm_gateway_provider"), NULL, ngx_llm_gateway_variable,
      NGX_LLM_GATEWAY_VAR_PROVIDER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_gateway_model"), NULL, ngx_llm_gateway_variable,
      NGX_LLM_GATEWAY_VAR_MODEL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_gateway_upstream_model"), NULL,
      ngx_llm_gateway_variable, NGX_LLM_GATEWAY_VAR_UPSTREAM_MODEL,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_gateway_upstream_status"), NULL,
      ngx_llm_gateway_variable, NGX_LLM_GATEWAY_VAR_UPSTREAM_STATUS,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_gateway_attempts"), NULL, ngx_llm_gateway_variable,
      NGX_LLM_GATEWAY_VAR_ATTEMPTS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_gateway_key_id"), NULL, ngx_llm_gateway_variable,
      NGX_LLM_GATEWAY_VAR_KEY_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_gateway_prompt_tokens"), NULL,
      ngx_llm_gateway_variable, NGX_LLM_GATEWAY_VAR_PROMPT_TOKENS,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_gateway_completion_tokens"), NULL,
      ngx_llm_gateway_variable, NGX_LLM_GATEWAY_VAR_COMPLETION_TOKENS,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_gateway_stream"), NULL, ngx_llm_gateway_variable,
      NGX_LLM_GATEWAY_VAR_STREAM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_gateway_key_bind"), NULL, ngx_llm_gateway_variable,
      NGX_LLM_GATEWAY_VAR_KEY_BIND, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_gateway_fetch_url"), NULL,
      ngx_llm_gateway_fetch_url_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llm_gateway_upstream_key"), NULL,
      ngx_llm_gateway_upstream_key_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_llm_gateway_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_llm_gateway_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                 *p;
    off_t                   n;
    ngx_str_t               s;
    ngx_llm_gateway_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_llm_gateway_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_str_null(&s);
    n = -1;

    switch (data) {

    case NGX_LLM_GATEWAY_VAR_PROVIDER:
        if (ctx->provider) {
            s = ctx->provider->name;
        }
        break;

    case NGX_LLM_GATEWAY_VAR_MODEL:
        s = ctx->model;
        break;

    case NGX_LLM_GATEWAY_VAR_UPSTREAM_MODEL:
        s = ctx->upstream_model;
        break;

    case NGX_LLM_GATEWAY_VAR_UPSTREAM_STATUS:
        if (ctx->upstream_status) {
            n = ctx->upstream_status;
        }
        break;

    case NGX_LLM_GATEWAY_VAR_ATTEMPTS:
        n = ctx->attempts;
        break;

    case NGX_LLM_GATEWAY_VAR_KEY_ID:
        if (ctx->key) {
            s.data = ctx->key->id;
            s.len = NGX_LLM_GATEWAY_KEY_ID_LEN;
        }
        break;

    case NGX_LLM_GATEWAY_VAR_PROMPT_TOKENS:
        n = ctx->prompt_tokens;
        break;

    case NGX_LLM_GATEWAY_VAR_COMPLETION_TOKENS:
        n = ctx->completion_tokens;
        break;

    case NGX_LLM_GATEWAY_VAR_STREAM:
        if (ctx->chat) {
            n = ctx->stream;
        }
        break;

    case NGX_LLM_GATEWAY_VAR_KEY_BIND:
        if (ctx->key) {
            s = ctx->key->bind;
        }
        break;
    }

    if (n >= 0) {
        p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        s.data = p;
        s.len = ngx_sprintf(p, "%O", n) - p;
    }

    if (s.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s.data;

    return NGX_OK;
}


/*
 * The raw key, for "proxy_set_header Authorization ..." in the internal
 * location.  It is only given to the gateway's own subrequest while that
 * subrequest is being sent upstream: in the main request, in logs and
 * anywhere else it is empty.
 */

static ngx_int_t
ngx_llm_gateway_upstream_key_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_llm_gateway_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_llm_gateway_module);

    if (r == r->main || ctx == NULL || ctx->key == NULL
        || ctx->current == NULL || ctx->current->sr != r
        || !ctx->current->key_active)
    {
        v->len = 0;
        v->data = (u_char *) "";
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;
        return NGX_OK;
    }

    v->len = ctx->key->secret.len;
    v->data = ctx->key->secret.data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}

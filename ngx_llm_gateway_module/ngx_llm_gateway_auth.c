
/*
 * Client access: Bearer tokens compared in constant time, and CORS so
 * browser clients can call the gateway directly.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/crypto.h>
#include "ngx_llm_gateway_module.h"


static ngx_int_t ngx_llm_gateway_header_out(ngx_http_request_t *r,
    char *name, ngx_str_t *value);


ngx_table_elt_t *
ngx_llm_gateway_header_in(ngx_http_request_t *r, char *name, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


static ngx_int_t
ngx_llm_gateway_header_out(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


/* "Authorization: Bearer <token>", the scheme in any case, trimmed */

ngx_int_t
ngx_llm_gateway_bearer(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    ngx_str_null(token);

    h = r->headers_in.authorization;

    if (h == NULL || h->value.len <= 7
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) != 0)
    {
        return NGX_DECLINED;
    }

    p = h->value.data + 7;
    last = h->value.data + h->value.len;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    token->data = p;
    token->len = last - p;

    return token->len ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_llm_gateway_auth(ngx_http_request_t *r, ngx_llm_gateway_loc_conf_t *glcf,
    ngx_llm_gateway_error_t *err)
{
    ngx_str_t  token, challenge;

    if (glcf->tokens == NULL) {
        return NGX_OK;
    }

    (void) ngx_llm_gateway_bearer(r, &token);

    ngx_str_set(&challenge, "Bearer realm=\"llm_gateway\"");

    if (token.len == 0) {
        ngx_llm_gateway_error_set(err, NGX_HTTP_UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API "
            "key in an Authorization header using Bearer auth (i.e. "
            "Authorization: Bearer YOUR_KEY).",
            "invalid_request_error", NULL, "missing_api_key");

        (void) ngx_llm_gateway_header_out(r, "WWW-Authenticate", &challenge);

        return NGX_DECLINED;
    }

    if (ngx_llm_gateway_token_valid(glcf, &token)) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "llm gateway: client sent an unknown token");

    ngx_llm_gateway_error_set(err, NGX_HTTP_UNAUTHORIZED,
                              "Incorrect API key provided.",
                              "invalid_request_error", NULL,
                              "invalid_api_key");

    (void) ngx_llm_gateway_header_out(r, "WWW-Authenticate", &challenge);

    return NGX_DECLINED;
}


/* every token is compared, so timing says nothing about which matched */

ngx_uint_t
ngx_llm_gateway_token_valid(ngx_llm_gateway_loc_conf_t *glcf,
    ngx_str_t *token)
{
    return ngx_llm_gateway_digests_match(glcf->tokens, token);
}


/* the token's digest against each, all of them, in constant time each */

ngx_uint_t
ngx_llm_gateway_digests_match(ngx_array_t *digests, ngx_str_t *token)
{
    u_char      *d;
    ngx_uint_t   i, match;
    u_char       digest[NGX_LLM_GATEWAY_DIGEST_LEN];

    ngx_llm_gateway_digest(token, digest);

    match = 0;
    d = digests->elts;

    for (i = 0; i < digests->nelts; i++) {
        match |= (CRYPTO_memcmp(digest, d + i * NGX_LLM_GATEWAY_DIGEST_LEN,
                                NGX_LLM_GATEWAY_DIGEST_LEN) == 0);
    }

    return match;
}


ngx_int_t
ngx_llm_gateway_cors_headers(ngx_http_request_t *r,
    ngx_llm_gateway_loc_conf_t *glcf, ngx_uint_t preflight)
{
    ngx_str_t        *allowed, value;
    ngx_uint_t        i, any;
    ngx_table_elt_t  *origin, *req;

    if (glcf->cors == NULL) {
        return NGX_OK;
    }

    origin = ngx_llm_gateway_header_in(r, "Origin", sizeof("Origin") - 1);
    if (origin == NULL) {
        return NGX_OK;
    }

    any = 0;
    allowed = glcf->cors->elts;

    for (i = 0; i < glcf->cors->nelts; i++) {
        if (allowed[i].len == 1 && allowed[i].data[0] == '*') {
            any = 1;
            break;
        }

        if (allowed[i].len == origin->value.len
            && ngx_strncasecmp(allowed[i].data, origin->value.data,
                               origin->value.len) == 0)
        {
            break;
        }
    }

    if (!any && i == glcf->cors->nelts) {
        return NGX_DECLINED;
    }

    if (any) {
        ngx_str_set(&value, "*");

    } else {
        value = origin->value;
    }

    if (ngx_llm_gateway_header_out(r, "Access-Control-Allow-Origin", &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!any) {
        ngx_str_set(&value, "Origin");

        if (ngx_llm_gateway_header_out(r, "Vary", &value) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    ngx_str_set(&value, "Retry-After, X-Request-Id");

    if (ngx_llm_gateway_header_out(r, "Access-Control-Expose-Headers",
                                   &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!preflight) {
        return NGX_OK;
    }

    ngx_str_set(&value, "GET, POST, OPTIONS");

    if (ngx_llm_gateway_header_out(r, "Access-Control-Allow-Methods", &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    req = ngx_llm_gateway_header_in(r, "Access-Control-Request-Headers",
                              sizeof("Access-Control-Request-Headers") - 1);

    if (req && req->value.len) {
        value = req->value;

    } else {
        ngx_str_set(&value, "Authorization, Content-Type");
    }

    if (ngx_llm_gateway_header_out(r, "Access-Control-Allow-Headers", &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&value, "86400");

    return ngx_llm_gateway_header_out(r, "Access-Control-Max-Age", &value);
}

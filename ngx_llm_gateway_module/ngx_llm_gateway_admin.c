
/*
 * The key pools seen by an operator: llm_gateway_keys_admin serves their
 * state as JSON and takes actions (disable, enable, reset a key), and
 * GET /v1/keys/list in a gateway location answers in the shape clients
 * of other Gemini gateways know.  Both need a token of
 * llm_gateway_admin_auth; neither ever shows more of a key than its
 * masked form and id.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


static ngx_int_t ngx_llm_gateway_admin_view(ngx_http_request_t *r,
    ngx_llm_gateway_key_t *only);
static ngx_int_t ngx_llm_gateway_admin_key(yajl_gen g,
    ngx_llm_gateway_provider_conf_t *pcf, ngx_llm_gateway_key_t *key);
static ngx_int_t ngx_llm_gateway_admin_action(ngx_http_request_t *r);
static ngx_int_t ngx_llm_gateway_admin_error(ngx_http_request_t *r,
    ngx_uint_t status, char *message, char *code);


/* a token of llm_gateway_admin_auth, else an answer to send */

ngx_int_t
ngx_llm_gateway_admin_auth(ngx_http_request_t *r,
    ngx_llm_gateway_loc_conf_t *glcf, ngx_llm_gateway_error_t *err)
{
    ngx_str_t  token;

    if (glcf->admin_tokens == NULL || glcf->admin_tokens->nelts == 0) {
        ngx_llm_gateway_error_set(err, NGX_HTTP_FORBIDDEN,
            "The key pool's administration needs llm_gateway_admin_auth "
            "tokens in the gateway's configuration.",
            "permission_error", NULL, "admin_disabled");
        return NGX_DECLINED;
    }

    (void) ngx_llm_gateway_bearer(r, &token);

    if (token.len
        && ngx_llm_gateway_digests_match(glcf->admin_tokens, &token))
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "llm gateway: %s admin token",
                  token.len ? "unknown" : "no");

    ngx_llm_gateway_error_set(err, NGX_HTTP_UNAUTHORIZED,
                              "An administration token is needed.",
                              "invalid_request_error", NULL,
                              "invalid_api_key");

    return NGX_DECLINED;
}


/* the location handler of llm_gateway_keys_admin */

ngx_int_t
ngx_llm_gateway_admin_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_llm_gateway_error_t       err;
    ngx_llm_gateway_loc_conf_t   *glcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST))) {
        return ngx_llm_gateway_admin_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "Use GET for the state, POST for "
                                           "an action.", "method_not_allowed");
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_llm_gateway_get_ctx(r) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_llm_gateway_module);

    if (ngx_llm_gateway_admin_auth(r, glcf, &err) != NGX_OK) {
        return ngx_llm_gateway_send_error(r, &err);
    }

    if (r->method == NGX_HTTP_POST) {
        return ngx_llm_gateway_admin_action(r);
    }

    return ngx_llm_gateway_admin_view(r, NULL);
}


/*
 * POST ?action=disable|enable|reset&key=<id>: the key by its id (as in
 * $llm_gateway_key_id and the view), in every provider that has it.
 */

static ngx_int_t
ngx_llm_gateway_admin_action(ngx_http_request_t *r)
{
    ngx_str_t                         action, id;
    ngx_uint_t                        i, j, what;
    ngx_llm_gateway_key_t            *key, *found;
    ngx_llm_gateway_main_conf_t      *gmcf;
    ngx_llm_gateway_provider_conf_t **pcfp;

    if (ngx_http_arg(r, (u_char *) "action", 6, &action) != NGX_OK
        || ngx_http_arg(r, (u_char *) "key", 3, &id) != NGX_OK)
    {
        return ngx_llm_gateway_admin_error(r, NGX_HTTP_BAD_REQUEST,
                   "An action needs \"action\" (disable, enable or reset) and "
                   "\"key\" (a key id) arguments.", "invalid_request");
    }

    if (action.len == 7 && ngx_strncmp(action.data, "disable", 7) == 0) {
        what = NGX_LLM_GATEWAY_KEY_DISABLE;

    } else if (action.len == 6 && ngx_strncmp(action.data, "enable", 6) == 0)
    {
        what = NGX_LLM_GATEWAY_KEY_ENABLE;

    } else if (action.len == 5 && ngx_strncmp(action.data, "reset", 5) == 0) {
        what = NGX_LLM_GATEWAY_KEY_RESET;

    } else {
        return ngx_llm_gateway_admin_error(r, NGX_HTTP_BAD_REQUEST,
                   "The action must be disable, enable or reset.",
                   "invalid_action");
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_llm_gateway_module);
    pcfp = gmcf->providers.elts;
    found = NULL;

    for (i = 0; i < gmcf->providers.nelts; i++) {
        key = pcfp[i]->keys.elts;

        for (j = 0; j < pcfp[i]->keys.nelts; j++) {
            if (id.len != NGX_LLM_GATEWAY_KEY_ID_LEN
                || ngx_strncmp(key[j].id, id.data, id.len) != 0)
            {
                continue;
            }

            /* one state per key: once is enough */

            if (found == NULL) {
                ngx_llm_gateway_key_admin(&key[j], what);

                ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                              "llm gateway: key \"%V\" (%*s) %V by the "
                              "administration", &key[j].masked,
                              (size_t) NGX_LLM_GATEWAY_KEY_ID_LEN,
                              key[j].id, &action);
            }

            found = &key[j];
        }
    }

    if (found == NULL) {
        return ngx_llm_gateway_admin_error(r, NGX_HTTP_NOT_FOUND,
                                           "No key has this id.",
                                           "key_not_found");
    }

    return ngx_llm_gateway_admin_view(r, found);
}


/* every provider's keys, or only those with the key's id */

static ngx_int_t
ngx_llm_gateway_admin_view(ngx_http_request_t *r, ngx_llm_gateway_key_t *only)
{
    yajl_gen                          g;
    ngx_str_t                         body;
    ngx_uint_t                        i, j;
    ngx_llm_gateway_key_t            *key;
    ngx_llm_gateway_main_conf_t      *gmcf;
    ngx_llm_gateway_provider_conf_t **pcfp;

    gmcf = ngx_http_get_module_main_conf(r, ngx_llm_gateway_module);

    g = ngx_llm_gateway_json_gen(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "shared") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_bool(g, gmcf->shm_zone != NULL))
        || ngx_llm_gateway_json_gen_cstr(g, "time") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, ngx_time()))
        || ngx_llm_gateway_json_gen_cstr(g, "providers") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pcfp = gmcf->providers.elts;

    for (i = 0; i < gmcf->providers.nelts; i++) {
        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
            || ngx_llm_gateway_json_gen_cstr(g, "name") != NGX_OK
            || ngx_llm_gateway_json_gen_str(g, &pcfp[i]->name) != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "type") != NGX_OK
            || ngx_llm_gateway_json_gen_str(g, &pcfp[i]->type->name)
               != NGX_OK
            || ngx_llm_gateway_json_gen_cstr(g, "keys") != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_array_open(g)))
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        key = pcfp[i]->keys.elts;

        for (j = 0; j < pcfp[i]->keys.nelts; j++) {
            if (only && ngx_memcmp(key[j].id, only->id,
                                   NGX_LLM_GATEWAY_KEY_ID_LEN) != 0)
            {
                continue;
            }

            if (ngx_llm_gateway_admin_key(g, pcfp[i], &key[j]) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        if (!ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))
            || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_array_close(g))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || ngx_llm_gateway_json_take(g, r->pool, &body) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_llm_gateway_send_json(r, NGX_HTTP_OK, &body);
}


static ngx_int_t
ngx_llm_gateway_admin_key(yajl_gen g, ngx_llm_gateway_provider_conf_t *pcf,
    ngx_llm_gateway_key_t *key)
{
    ngx_str_t                    id, state, error;
    ngx_llm_gateway_key_view_t   v;

    ngx_llm_gateway_key_view(key, &v);

    id.data = key->id;
    id.len = NGX_LLM_GATEWAY_KEY_ID_LEN;

    if (v.disabled) {
        ngx_str_set(&state, "disabled");

    } else if (v.cooldown) {
        ngx_str_set(&state, "cooling");

    } else {
        ngx_str_set(&state, "active");
    }

    error.data = v.error;
    error.len = v.error_len;

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "id") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, &id) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "key") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, &key->masked) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "state") != NGX_OK
        || ngx_llm_gateway_json_gen_str(g, &state) != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "cooldown_ms") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, v.cooldown))
        || ngx_llm_gateway_json_gen_cstr(g, "failures") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, v.fails))
        || ngx_llm_gateway_json_gen_cstr(g, "last_error") != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (error.len) {
        if (ngx_llm_gateway_json_gen_str(g, &error) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (!ngx_llm_gateway_gen_ok(yajl_gen_null(g))) {
        return NGX_ERROR;
    }

    if (ngx_llm_gateway_json_gen_cstr(g, "changed") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, v.changed))
        || ngx_llm_gateway_json_gen_cstr(g, "in_flight") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, v.in_flight))
        || ngx_llm_gateway_json_gen_cstr(g, "requests") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, v.requests))
        || ngx_llm_gateway_json_gen_cstr(g, "successes") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, v.successes))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * GET /v1/keys/list: {"status":"success","data":{"valid_keys":{...},
 * "invalid_keys":{...}},"total":n}, each key masked, with its failures;
 * disabled keys are the invalid ones.
 */

ngx_int_t
ngx_llm_gateway_keys_list(ngx_http_request_t *r)
{
    yajl_gen                          g;
    ngx_str_t                         body;
    ngx_uint_t                        i, j, valid, total;
    ngx_llm_gateway_key_t            *key;
    ngx_llm_gateway_key_view_t        v;
    ngx_llm_gateway_main_conf_t      *gmcf;
    ngx_llm_gateway_provider_conf_t **pcfp;

    gmcf = ngx_http_get_module_main_conf(r, ngx_llm_gateway_module);
    pcfp = gmcf->providers.elts;

    g = ngx_llm_gateway_json_gen(r->pool);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_open(g))
        || ngx_llm_gateway_json_gen_cstr(g, "status") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "success") != NGX_OK
        || ngx_llm_gateway_json_gen_cstr(g, "data") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g)))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    total = 0;

    for (valid = 1; valid != (ngx_uint_t) -1; valid--) {
        if (ngx_llm_gateway_json_gen_cstr(g, valid ? "valid_keys"
                                                   : "invalid_keys")
            != NGX_OK
            || !ngx_llm_gateway_gen_ok(yajl_gen_map_open(g)))
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        for (i = 0; i < gmcf->providers.nelts; i++) {
            key = pcfp[i]->keys.elts;

            for (j = 0; j < pcfp[i]->keys.nelts; j++) {
                ngx_llm_gateway_key_view(&key[j], &v);

                if (v.disabled == valid) {
                    continue;
                }

                total++;

                if (ngx_llm_gateway_json_gen_str(g, &key[j].masked) != NGX_OK
                    || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, v.fails)))
                {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }
            }
        }

        if (!ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (!ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || ngx_llm_gateway_json_gen_cstr(g, "total") != NGX_OK
        || !ngx_llm_gateway_gen_ok(yajl_gen_integer(g, total))
        || !ngx_llm_gateway_gen_ok(yajl_gen_map_close(g))
        || ngx_llm_gateway_json_take(g, r->pool, &body) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_llm_gateway_send_json(r, NGX_HTTP_OK, &body);
}


static ngx_int_t
ngx_llm_gateway_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    char *message, char *code)
{
    ngx_llm_gateway_error_t  err;

    ngx_llm_gateway_error_set(&err, status, message,
                              "invalid_request_error", NULL, code);

    return ngx_llm_gateway_early_error(r, &err);
}


/* llm_gateway_keys_admin; */

char *
ngx_llm_gateway_keys_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate, or the location has another handler";
    }

    clcf->handler = ngx_llm_gateway_admin_handler;

    return NGX_CONF_OK;
}

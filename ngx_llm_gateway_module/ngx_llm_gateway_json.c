
/*
 * yajl wrappers whose lifetime belongs to a pool, and the OpenAI error
 * envelope every failure is turned into.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


static void ngx_llm_gateway_json_tree_cleanup(void *data);
static void ngx_llm_gateway_json_gen_cleanup(void *data);
static void ngx_llm_gateway_error_type(ngx_llm_gateway_error_t *err);


/*
 * yajl frees trees recursively, so a body nested a million levels deep
 * would overflow the stack: reject deep nesting before yajl sees it.
 */

ngx_int_t
ngx_llm_gateway_json_check_depth(u_char *p, size_t len)
{
    u_char      *last;
    ngx_uint_t   depth, in_string;

    depth = 0;
    in_string = 0;
    last = p + len;

    for ( /* void */ ; p < last; p++) {

        if (in_string) {
            if (*p == '\\') {
                p++;

            } else if (*p == '"') {
                in_string = 0;
            }

            continue;
        }

        switch (*p) {

        case '"':
            in_string = 1;
            break;

        case '[':
        case '{':
            if (++depth > NGX_LLM_GATEWAY_JSON_MAX_DEPTH) {
                return NGX_DECLINED;
            }
            break;

        case ']':
        case '}':
            if (depth) {
                depth--;
            }
            break;
        }
    }

    return NGX_OK;
}


yajl_val
ngx_llm_gateway_json_parse(ngx_pool_t *pool, u_char *p, size_t len,
    u_char *errbuf, size_t errlen)
{
    u_char              *copy;
    yajl_val             root;
    ngx_pool_cleanup_t  *cln;

    if (errlen) {
        errbuf[0] = '\0';
    }

    if (ngx_llm_gateway_json_check_depth(p, len) != NGX_OK) {
        if (errlen) {
            ngx_cpystrn(errbuf, (u_char *) "JSON nested too deeply", errlen);
        }

        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    /* yajl_tree_parse() wants a NUL-terminated string */

    copy = ngx_pnalloc(pool, len + 1);
    if (copy == NULL) {
        return NULL;
    }

    ngx_memcpy(copy, p, len);
    copy[len] = '\0';

    if (ngx_strlen(copy) != len) {
        if (errlen) {
            ngx_cpystrn(errbuf, (u_char *) "NUL byte in JSON", errlen);
        }

        return NULL;
    }

    root = yajl_tree_parse((const char *) copy, (char *) errbuf, errlen);
    if (root == NULL) {
        return NULL;
    }

    cln->handler = ngx_llm_gateway_json_tree_cleanup;
    cln->data = root;

    return root;
}


/*
 * For stream events: parsed from a NUL-terminated buffer the caller owns
 * and freed by the caller with yajl_tree_free() at once, so a long stream
 * does not grow the request pool event by event.
 */

yajl_val
ngx_llm_gateway_json_parse_scratch(u_char *p, size_t len)
{
    if (p[len] != '\0'
        || ngx_llm_gateway_json_check_depth(p, len) != NGX_OK
        || ngx_strlen(p) != len)
    {
        return NULL;
    }

    return yajl_tree_parse((const char *) p, NULL, 0);
}


/* the generated text as one "data:" event, and the generator reset */

ngx_int_t
ngx_llm_gateway_json_emit(yajl_gen g, ngx_llm_gateway_out_t *out)
{
    size_t                len;
    const unsigned char  *buf;

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    if (ngx_llm_gateway_out_event(out, (u_char *) buf, len) != NGX_OK) {
        return NGX_ERROR;
    }

    yajl_gen_clear(g);
    yajl_gen_reset(g, NULL);

    return NGX_OK;
}


static void
ngx_llm_gateway_json_tree_cleanup(void *data)
{
    yajl_tree_free(data);
}


yajl_val
ngx_llm_gateway_json_get(yajl_val obj, const char *key)
{
    size_t      i, len;
    const char *k;

    if (obj == NULL || !YAJL_IS_OBJECT(obj)) {
        return NULL;
    }

    len = ngx_strlen(key);

    for (i = 0; i < obj->u.object.len; i++) {
        k = obj->u.object.keys[i];

        if (ngx_strlen(k) == len && ngx_memcmp(k, key, len) == 0) {
            return obj->u.object.values[i];
        }
    }

    return NULL;
}


ngx_int_t
ngx_llm_gateway_json_str(yajl_val v, ngx_str_t *out)
{
    if (v == NULL || !YAJL_IS_STRING(v)) {
        ngx_str_null(out);
        return NGX_DECLINED;
    }

    out->data = (u_char *) v->u.string;
    out->len = ngx_strlen(v->u.string);

    return NGX_OK;
}


yajl_gen
ngx_llm_gateway_json_gen(ngx_pool_t *pool)
{
    yajl_gen             g;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NULL;
    }

    cln->handler = ngx_llm_gateway_json_gen_cleanup;
    cln->data = g;

    return g;
}


static void
ngx_llm_gateway_json_gen_cleanup(void *data)
{
    yajl_gen_free(data);
}


/* trees reaching here passed json_check_depth(), so recursion is bounded */

ngx_int_t
ngx_llm_gateway_json_gen_value(yajl_gen g, yajl_val v)
{
    size_t       i;
    const char  *k;

    if (v == NULL) {
        return yajl_gen_null(g) == yajl_gen_status_ok ? NGX_OK : NGX_ERROR;
    }

    switch (v->type) {

    case yajl_t_string:
        if (yajl_gen_string(g, (const unsigned char *) v->u.string,
                            ngx_strlen(v->u.string))
            != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }

        return NGX_OK;

    case yajl_t_number:
        if (yajl_gen_number(g, v->u.number.r, ngx_strlen(v->u.number.r))
            != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }

        return NGX_OK;

    case yajl_t_object:
        if (yajl_gen_map_open(g) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }

        for (i = 0; i < v->u.object.len; i++) {
            k = v->u.object.keys[i];

            if (yajl_gen_string(g, (const unsigned char *) k, ngx_strlen(k))
                != yajl_gen_status_ok
                || ngx_llm_gateway_json_gen_value(g, v->u.object.values[i])
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return yajl_gen_map_close(g) == yajl_gen_status_ok ? NGX_OK
                                                            : NGX_ERROR;

    case yajl_t_array:
        if (yajl_gen_array_open(g) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }

        for (i = 0; i < v->u.array.len; i++) {
            if (ngx_llm_gateway_json_gen_value(g, v->u.array.values[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return yajl_gen_array_close(g) == yajl_gen_status_ok ? NGX_OK
                                                              : NGX_ERROR;

    case yajl_t_true:
        return yajl_gen_bool(g, 1) == yajl_gen_status_ok ? NGX_OK : NGX_ERROR;

    case yajl_t_false:
        return yajl_gen_bool(g, 0) == yajl_gen_status_ok ? NGX_OK : NGX_ERROR;

    default:
        return yajl_gen_null(g) == yajl_gen_status_ok ? NGX_OK : NGX_ERROR;
    }
}


ngx_int_t
ngx_llm_gateway_json_gen_str(yajl_gen g, ngx_str_t *s)
{
    if (s->data == NULL) {
        return yajl_gen_null(g) == yajl_gen_status_ok ? NGX_OK : NGX_ERROR;
    }

    return yajl_gen_string(g, s->data, s->len) == yajl_gen_status_ok
           ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_llm_gateway_json_gen_cstr(yajl_gen g, const char *s)
{
    return yajl_gen_string(g, (const unsigned char *) s, ngx_strlen(s))
           == yajl_gen_status_ok ? NGX_OK : NGX_ERROR;
}


/* a tree as compact JSON text in the pool */

ngx_int_t
ngx_llm_gateway_json_stringify(ngx_pool_t *pool, yajl_val v, ngx_str_t *out)
{
    yajl_gen  g;

    g = ngx_llm_gateway_json_gen(pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (ngx_llm_gateway_json_gen_value(g, v) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_json_take(g, pool, out);
}


/* copy the generated text into the pool, so the generator can be reused */

ngx_int_t
ngx_llm_gateway_json_take(yajl_gen g, ngx_pool_t *pool, ngx_str_t *out)
{
    size_t                len;
    const unsigned char  *buf;

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, buf, len);
    out->len = len;

    yajl_gen_clear(g);
    yajl_gen_reset(g, NULL);

    return NGX_OK;
}


void
ngx_llm_gateway_error_set(ngx_llm_gateway_error_t *err, ngx_uint_t status,
    char *message, char *type, char *param, char *code)
{
    ngx_memzero(err, sizeof(ngx_llm_gateway_error_t));

    err->status = status;
    err->message.data = (u_char *) message;
    err->message.len = ngx_strlen(message);

    if (type) {
        err->type.data = (u_char *) type;
        err->type.len = ngx_strlen(type);
    }

    if (param) {
        err->param.data = (u_char *) param;
        err->param.len = ngx_strlen(param);
    }

    if (code) {
        err->code.data = (u_char *) code;
        err->code.len = ngx_strlen(code);
    }
}


/* the error "type" an OpenAI client expects for a status */

static void
ngx_llm_gateway_error_type(ngx_llm_gateway_error_t *err)
{
    if (err->type.len) {
        return;
    }

    switch (err->status) {

    case NGX_HTTP_UNAUTHORIZED:
    case NGX_HTTP_BAD_REQUEST:
    case NGX_HTTP_NOT_FOUND:
    case NGX_HTTP_NOT_ALLOWED:
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        ngx_str_set(&err->type, "invalid_request_error");
        break;

    case NGX_HTTP_FORBIDDEN:
        ngx_str_set(&err->type, "permission_error");
        break;

    case 402:
        ngx_str_set(&err->type, "insufficient_quota");
        break;

    case 429:
        ngx_str_set(&err->type, "rate_limit_error");
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        ngx_str_set(&err->type, "service_unavailable_error");
        break;

    default:
        if (err->status >= 500) {
            ngx_str_set(&err->type, "server_error");

        } else {
            ngx_str_set(&err->type, "invalid_request_error");
        }
    }
}


void
ngx_llm_gateway_error_defaults(ngx_llm_gateway_error_t *err)
{
    if (err->status < 400 || err->status > 599) {
        err->status = NGX_HTTP_BAD_GATEWAY;
    }

    ngx_llm_gateway_error_type(err);

    if (err->message.len == 0) {
        switch (err->status) {

        case 429:
            ngx_str_set(&err->message, "Rate limit reached for requests");
            break;

        case NGX_HTTP_BAD_GATEWAY:
            ngx_str_set(&err->message, "The upstream server is unreachable "
                        "or returned an invalid response");
            break;

        case NGX_HTTP_GATEWAY_TIME_OUT:
            ngx_str_set(&err->message, "The upstream server timed out");
            break;

        default:
            ngx_str_set(&err->message, "The upstream server returned "
                        "an error");
        }
    }
}


ngx_int_t
ngx_llm_gateway_error_json(ngx_pool_t *pool, ngx_llm_gateway_error_t *err,
    ngx_str_t *out)
{
    yajl_gen  g;

    ngx_llm_gateway_error_type(err);

    g = ngx_llm_gateway_json_gen(pool);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_llm_gateway_json_gen_cstr(g, "error") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_llm_gateway_json_gen_cstr(g, "message") != NGX_OK
        || yajl_gen_string(g, err->message.data, err->message.len)
           != yajl_gen_status_ok
        || ngx_llm_gateway_json_gen_cstr(g, "type") != NGX_OK
        || yajl_gen_string(g, err->type.data, err->type.len)
           != yajl_gen_status_ok
        || ngx_llm_gateway_json_gen_cstr(g, "param") != NGX_OK
        || (err->param.len
            ? yajl_gen_string(g, err->param.data, err->param.len)
            : yajl_gen_null(g)) != yajl_gen_status_ok
        || ngx_llm_gateway_json_gen_cstr(g, "code") != NGX_OK
        || (err->code.len
            ? yajl_gen_string(g, err->code.data, err->code.len)
            : yajl_gen_null(g)) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return ngx_llm_gateway_json_take(g, pool, out);
}


/*
 * Upstreams answer errors in several envelopes: {"error":{...}} (OpenAI),
 * {"error":"text"} (Hugging Face Hub), {"message":..., "errorCode":...},
 * or not JSON at all.  Keep what they say, in the OpenAI shape.
 */

void
ngx_llm_gateway_error_from_body(ngx_pool_t *pool, ngx_uint_t status,
    ngx_str_t *body, ngx_llm_gateway_error_t *err)
{
    yajl_val   root, e, v;
    ngx_str_t  s;

    ngx_memzero(err, sizeof(ngx_llm_gateway_error_t));
    err->status = status;

    if (body->len == 0) {
        goto done;
    }

    root = ngx_llm_gateway_json_parse(pool, body->data, body->len, NULL, 0);
    if (root == NULL || !YAJL_IS_OBJECT(root)) {
        goto done;
    }

    e = ngx_llm_gateway_json_get(root, "error");

    if (e && YAJL_IS_STRING(e)) {
        (void) ngx_llm_gateway_json_str(e, &err->message);

        v = ngx_llm_gateway_json_get(root, "error_description");
        if (err->message.len == 0) {
            (void) ngx_llm_gateway_json_str(v, &err->message);
        }

        goto done;
    }

    if (e == NULL || !YAJL_IS_OBJECT(e)) {
        e = root;
    }

    (void) ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(e, "message"),
                                    &err->message);

    if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(e, "type"), &s)
        == NGX_OK)
    {
        err->type = s;
    }

    if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(e, "param"), &s)
        == NGX_OK)
    {
        err->param = s;
    }

    v = ngx_llm_gateway_json_get(e, "code");

    if (ngx_llm_gateway_json_str(v, &s) == NGX_OK) {
        err->code = s;

    } else if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(e,
                                        "errorCode"), &s) == NGX_OK)
    {
        err->code = s;

    } else if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(e,
                                        "status"), &s) == NGX_OK)
    {
        /* Google's canonical status, e.g. RESOURCE_EXHAUSTED */
        err->code = s;
    }

done:

    ngx_llm_gateway_error_defaults(err);
}


/*
 * An upstream may quote the key it was given ("Incorrect API key
 * provided: ...").  The client must never see it: mask it in place.
 */

void
ngx_llm_gateway_scrub(ngx_str_t *s, ngx_str_t *secret)
{
    u_char  *p, *last;

    if (secret == NULL || secret->len < 8 || s->len < secret->len) {
        return;
    }

    p = s->data;
    last = s->data + s->len;

    for ( ;; ) {
        p = ngx_strlcasestrn(p, last, secret->data, secret->len - 1);
        if (p == NULL) {
            return;
        }

        ngx_memset(p + 4, '*', secret->len - 4);
        p += secret->len;
    }
}

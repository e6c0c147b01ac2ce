
/*
 * yajl wrappers whose lifetime belongs to a pool, and the OpenAI error
 * envelope every failure is turned into.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


typedef struct {
    yajl_val                        node;
    ngx_array_t                     keys;      /* char * */
    ngx_array_t                     values;    /* yajl_val */
} ngx_llm_gateway_json_frame_t;


typedef struct {
    ngx_pool_t                     *pool;
    yajl_val                        root;
    ngx_uint_t                      depth;
    ngx_array_t                     frames;    /* json_frame_t */
    ngx_uint_t                      nodes;
    unsigned                        too_deep:1;
    unsigned                        too_many:1;
    unsigned                        nomem:1;
} ngx_llm_gateway_json_builder_t;


static void *ngx_llm_gateway_json_malloc(void *ctx, size_t size);
static void *ngx_llm_gateway_json_realloc(void *ctx, void *ptr, size_t size);
static void ngx_llm_gateway_json_free(void *ctx, void *ptr);
static yajl_val ngx_llm_gateway_json_node(ngx_llm_gateway_json_builder_t *b,
    yajl_type type);
static u_char *ngx_llm_gateway_json_cstr(ngx_pool_t *pool,
    const unsigned char *s, size_t len);
static int ngx_llm_gateway_json_on_null(void *ctx);
static int ngx_llm_gateway_json_on_bool(void *ctx, int b);
static int ngx_llm_gateway_json_on_number(void *ctx, const char *s,
    size_t len);
static int ngx_llm_gateway_json_on_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_llm_gateway_json_open(ngx_llm_gateway_json_builder_t *b,
    yajl_type type);
static int ngx_llm_gateway_json_on_start_map(void *ctx);
static int ngx_llm_gateway_json_on_key(void *ctx, const unsigned char *key,
    size_t len);
static int ngx_llm_gateway_json_on_end_map(void *ctx);
static int ngx_llm_gateway_json_on_start_array(void *ctx);
static int ngx_llm_gateway_json_on_end_array(void *ctx);
static void ngx_llm_gateway_error_type(ngx_llm_gateway_error_t *err);


static yajl_callbacks  ngx_llm_gateway_json_builder = {
    ngx_llm_gateway_json_on_null,
    ngx_llm_gateway_json_on_bool,
    NULL,
    NULL,
    ngx_llm_gateway_json_on_number,
    ngx_llm_gateway_json_on_string,
    ngx_llm_gateway_json_on_start_map,
    ngx_llm_gateway_json_on_key,
    ngx_llm_gateway_json_on_end_map,
    ngx_llm_gateway_json_on_start_array,
    ngx_llm_gateway_json_on_end_array
};


/*
 * The tree is built in the pool by yajl's callback parser: no malloc per
 * node, nothing to free, and the nesting depth is limited while parsing
 * (yajl's own tree would be freed recursively).
 */

yajl_val
ngx_llm_gateway_json_parse(ngx_pool_t *pool, u_char *p, size_t len,
    u_char *errbuf, size_t errlen)
{
    u_char                          *msg, *nl;
    yajl_status                      st;
    yajl_handle                      h;
    yajl_alloc_funcs                 afs;
    ngx_llm_gateway_json_builder_t  *b;

    if (errlen) {
        errbuf[0] = '\0';
    }

    b = ngx_pcalloc(pool, sizeof(ngx_llm_gateway_json_builder_t));
    if (b == NULL) {
        return NULL;
    }

    b->pool = pool;

    /* requests are a few levels deep: frames grow on demand */

    if (ngx_array_init(&b->frames, pool, 8,
                       sizeof(ngx_llm_gateway_json_frame_t))
        != NGX_OK)
    {
        return NULL;
    }

    ngx_llm_gateway_json_pool_funcs(&afs, pool);

    h = yajl_alloc(&ngx_llm_gateway_json_builder, &afs, b);
    if (h == NULL) {
        return NULL;
    }

    st = yajl_parse(h, p, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    if (st == yajl_status_ok && b->root) {
        return b->root;
    }

    if (errlen) {
        if (b->too_deep) {
            ngx_cpystrn(errbuf, (u_char *) "JSON nested too deeply", errlen);

        } else if (b->too_many) {
            ngx_cpystrn(errbuf, (u_char *) "JSON has too many values",
                        errlen);

        } else if (b->nomem) {
            ngx_cpystrn(errbuf, (u_char *) "out of memory", errlen);

        } else {
            msg = yajl_get_error(h, 0, p, len);

            if (msg) {
                /* yajl's message spans lines: the first one is enough */

                nl = (u_char *) ngx_strchr(msg, '\n');
                if (nl) {
                    *nl = '\0';
                }

                ngx_cpystrn(errbuf, msg, errlen);
                yajl_free_error(h, msg);
            }
        }
    }

    return NULL;
}


/* yajl allocating from a pool: realloc copies, free is the pool's */

void
ngx_llm_gateway_json_pool_funcs(yajl_alloc_funcs *afs, ngx_pool_t *pool)
{
    afs->malloc = ngx_llm_gateway_json_malloc;
    afs->realloc = ngx_llm_gateway_json_realloc;
    afs->free = ngx_llm_gateway_json_free;
    afs->ctx = pool;
}


static void *
ngx_llm_gateway_json_malloc(void *ctx, size_t size)
{
    size_t  *p;

    p = ngx_palloc(ctx, sizeof(size_t) + size);
    if (p == NULL) {
        return NULL;
    }

    *p = size;

    return p + 1;
}


static void *
ngx_llm_gateway_json_realloc(void *ctx, void *ptr, size_t size)
{
    void    *p;
    size_t   old;

    if (ptr == NULL) {
        return ngx_llm_gateway_json_malloc(ctx, size);
    }

    old = ((size_t *) ptr)[-1];

    if (size <= old) {
        return ptr;
    }

    p = ngx_llm_gateway_json_malloc(ctx, size);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, ptr, old);

    /* large blocks go back to the pool at once */

    (void) ngx_pfree(ctx, (size_t *) ptr - 1);

    return p;
}


static void
ngx_llm_gateway_json_free(void *ctx, void *ptr)
{
    if (ptr) {
        (void) ngx_pfree(ctx, (size_t *) ptr - 1);
    }
}


static yajl_val
ngx_llm_gateway_json_node(ngx_llm_gateway_json_builder_t *b, yajl_type type)
{
    yajl_val                        v;
    ngx_llm_gateway_json_frame_t   *f;

    /* a tree costs some 60 bytes a node: a body of "[0,0,0,..." must not
       turn 20 MB into a gigabyte */

    if (++b->nodes > NGX_LLM_GATEWAY_JSON_MAX_NODES) {
        b->too_many = 1;
        return NULL;
    }

    v = ngx_pcalloc(b->pool, sizeof(struct yajl_val_s));
    if (v == NULL) {
        b->nomem = 1;
        return NULL;
    }

    v->type = type;

    if (b->depth == 0) {
        b->root = v;
        return v;
    }

    f = (ngx_llm_gateway_json_frame_t *) b->frames.elts + b->depth - 1;

    if (ngx_array_push(&f->values) == NULL) {
        b->nomem = 1;
        return NULL;
    }

    ((yajl_val *) f->values.elts)[f->values.nelts - 1] = v;

    return v;
}


static u_char *
ngx_llm_gateway_json_cstr(ngx_pool_t *pool, const unsigned char *s,
    size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s, len);
    p[len] = '\0';

    return p;
}


static int
ngx_llm_gateway_json_on_null(void *ctx)
{
    return ngx_llm_gateway_json_node(ctx, yajl_t_null) != NULL;
}


static int
ngx_llm_gateway_json_on_bool(void *ctx, int b)
{
    return ngx_llm_gateway_json_node(ctx, b ? yajl_t_true : yajl_t_false)
           != NULL;
}


static int
ngx_llm_gateway_json_on_number(void *ctx, const char *s, size_t len)
{
    char                            *end;
    yajl_val                         v;
    ngx_llm_gateway_json_builder_t  *b = ctx;

    v = ngx_llm_gateway_json_node(b, yajl_t_number);
    if (v == NULL) {
        return 0;
    }

    v->u.number.r = (char *) ngx_llm_gateway_json_cstr(b->pool,
                                                  (const unsigned char *) s,
                                                  len);
    if (v->u.number.r == NULL) {
        b->nomem = 1;
        return 0;
    }

    /*
     * As yajl's own tree: the integer and the double, where they fit.
     * Most numbers are integers: their double needs no strtod().
     */

    errno = 0;
    v->u.number.i = strtoll(v->u.number.r, &end, 10);

    if (errno == 0 && *end == '\0') {
        v->u.number.flags = YAJL_NUMBER_INT_VALID|YAJL_NUMBER_DOUBLE_VALID;
        v->u.number.d = (double) v->u.number.i;
        return 1;
    }

    errno = 0;
    v->u.number.d = strtod(v->u.number.r, &end);

    if (errno == 0 && *end == '\0') {
        v->u.number.flags |= YAJL_NUMBER_DOUBLE_VALID;
    }

    return 1;
}


static int
ngx_llm_gateway_json_on_string(void *ctx, const unsigned char *s, size_t len)
{
    yajl_val                         v;
    ngx_llm_gateway_json_builder_t  *b = ctx;

    v = ngx_llm_gateway_json_node(b, yajl_t_string);
    if (v == NULL) {
        return 0;
    }

    v->u.string = (char *) ngx_llm_gateway_json_cstr(b->pool, s, len);
    if (v->u.string == NULL) {
        b->nomem = 1;
        return 0;
    }

    return 1;
}


static int
ngx_llm_gateway_json_open(ngx_llm_gateway_json_builder_t *b, yajl_type type)
{
    yajl_val                       v;
    ngx_llm_gateway_json_frame_t  *f;

    if (b->depth == NGX_LLM_GATEWAY_JSON_MAX_DEPTH) {
        b->too_deep = 1;
        return 0;
    }

    v = ngx_llm_gateway_json_node(b, type);
    if (v == NULL) {
        return 0;
    }

    if (b->depth == b->frames.nelts) {
        if (ngx_array_push(&b->frames) == NULL) {
            b->nomem = 1;
            return 0;
        }
    }

    f = (ngx_llm_gateway_json_frame_t *) b->frames.elts + b->depth++;
    f->node = v;

    if (ngx_array_init(&f->values, b->pool, 2, sizeof(yajl_val)) != NGX_OK
        || (type == yajl_t_object
            && ngx_array_init(&f->keys, b->pool, 2, sizeof(char *))
               != NGX_OK))
    {
        b->nomem = 1;
        return 0;
    }

    return 1;
}


static int
ngx_llm_gateway_json_on_start_map(void *ctx)
{
    return ngx_llm_gateway_json_open(ctx, yajl_t_object);
}


static int
ngx_llm_gateway_json_on_key(void *ctx, const unsigned char *key, size_t len)
{
    char                            **k;
    ngx_llm_gateway_json_frame_t     *f;
    ngx_llm_gateway_json_builder_t   *b = ctx;

    f = (ngx_llm_gateway_json_frame_t *) b->frames.elts + b->depth - 1;

    k = ngx_array_push(&f->keys);
    if (k == NULL) {
        b->nomem = 1;
        return 0;
    }

    *k = (char *) ngx_llm_gateway_json_cstr(b->pool, key, len);
    if (*k == NULL) {
        b->nomem = 1;
        return 0;
    }

    return 1;
}


static int
ngx_llm_gateway_json_on_end_map(void *ctx)
{
    ngx_llm_gateway_json_frame_t    *f;
    ngx_llm_gateway_json_builder_t  *b = ctx;

    f = (ngx_llm_gateway_json_frame_t *) b->frames.elts + --b->depth;

    f->node->u.object.keys = f->keys.elts;
    f->node->u.object.values = f->values.elts;
    f->node->u.object.len = f->values.nelts;

    return 1;
}


static int
ngx_llm_gateway_json_on_start_array(void *ctx)
{
    return ngx_llm_gateway_json_open(ctx, yajl_t_array);
}


static int
ngx_llm_gateway_json_on_end_array(void *ctx)
{
    ngx_llm_gateway_json_frame_t    *f;
    ngx_llm_gateway_json_builder_t  *b = ctx;

    f = (ngx_llm_gateway_json_frame_t *) b->frames.elts + --b->depth;

    f->node->u.array.values = f->values.elts;
    f->node->u.array.len = f->values.nelts;

    return 1;
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


yajl_val
ngx_llm_gateway_json_get(yajl_val obj, const char *key)
{
    size_t  i;

    if (obj == NULL || !YAJL_IS_OBJECT(obj)) {
        return NULL;
    }

    /* keys are NUL-terminated: the first byte settles most of them */

    for (i = 0; i < obj->u.object.len; i++) {
        if (obj->u.object.keys[i][0] == key[0]
            && ngx_strcmp(obj->u.object.keys[i], key) == 0)
        {
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
    yajl_alloc_funcs  afs;

    ngx_llm_gateway_json_pool_funcs(&afs, pool);

    return yajl_gen_alloc(&afs);
}


/* trees built here are at most NGX_LLM_GATEWAY_JSON_MAX_DEPTH deep */

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

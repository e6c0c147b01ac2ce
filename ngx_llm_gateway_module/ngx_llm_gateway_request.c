
/*
 * The OpenAI chat completion request: parsed once into the form every
 * translator shares, and checked the way the OpenAI API checks it, so a
 * client gets the same 400 whichever provider serves the model.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <math.h>
#include "ngx_llm_gateway_module.h"


#define NGX_LLM_GATEWAY_ERRMSG_LEN  512


static ngx_int_t ngx_llm_gateway_invalid(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_error_t *err, char *code, const char *param,
    const char *fmt, ...);
static ngx_int_t ngx_llm_gateway_body_parse(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *body, yajl_val *root, ngx_llm_gateway_error_t *err);
static ngx_int_t ngx_llm_gateway_chat_message(ngx_llm_gateway_ctx_t *ctx,
    ngx_uint_t i, yajl_val node, ngx_llm_gateway_message_t *msg,
    ngx_llm_gateway_error_t *err);
static ngx_int_t ngx_llm_gateway_chat_parts(ngx_llm_gateway_ctx_t *ctx,
    ngx_uint_t i, yajl_val node, ngx_llm_gateway_message_t *msg,
    ngx_llm_gateway_error_t *err);
static ngx_int_t ngx_llm_gateway_chat_tool_calls(ngx_llm_gateway_ctx_t *ctx,
    ngx_uint_t i, yajl_val node, ngx_llm_gateway_message_t *msg,
    ngx_llm_gateway_error_t *err);
static ngx_int_t ngx_llm_gateway_chat_tools(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_chat_t *chat, yajl_val node,
    ngx_llm_gateway_error_t *err);
static ngx_int_t ngx_llm_gateway_chat_options(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_chat_t *chat, ngx_llm_gateway_error_t *err);
static ngx_int_t ngx_llm_gateway_chat_number(ngx_llm_gateway_ctx_t *ctx,
    yajl_val root, const char *name, double min, double max, double *out,
    ngx_llm_gateway_error_t *err);
static ngx_int_t ngx_llm_gateway_chat_integer(ngx_llm_gateway_ctx_t *ctx,
    yajl_val root, const char *name, ngx_int_t min, ngx_int_t max,
    ngx_int_t *out, ngx_llm_gateway_error_t *err);
static ngx_int_t ngx_llm_gateway_chat_bool(ngx_llm_gateway_ctx_t *ctx,
    yajl_val root, const char *name, ngx_int_t *out,
    ngx_llm_gateway_error_t *err);
static ngx_int_t ngx_llm_gateway_tool_name_valid(ngx_str_t *name);


typedef struct {
    ngx_str_t   name;
    ngx_uint_t  role;
} ngx_llm_gateway_role_t;


static ngx_llm_gateway_role_t  ngx_llm_gateway_roles[] = {
    { ngx_string("system"), NGX_LLM_GATEWAY_ROLE_SYSTEM },
    { ngx_string("developer"), NGX_LLM_GATEWAY_ROLE_DEVELOPER },
    { ngx_string("user"), NGX_LLM_GATEWAY_ROLE_USER },
    { ngx_string("assistant"), NGX_LLM_GATEWAY_ROLE_ASSISTANT },
    { ngx_string("tool"), NGX_LLM_GATEWAY_ROLE_TOOL },
    { ngx_string("function"), NGX_LLM_GATEWAY_ROLE_FUNCTION },
    { ngx_null_string, 0 }
};


static ngx_int_t
ngx_llm_gateway_invalid(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_error_t *err, char *code, const char *param,
    const char *fmt, ...)
{
    u_char   *p, *last;
    size_t    len;
    va_list   args;

    ngx_llm_gateway_error_set(err, NGX_HTTP_BAD_REQUEST, "",
                              "invalid_request_error", NULL, code);

    p = ngx_pnalloc(ctx->pool, NGX_LLM_GATEWAY_ERRMSG_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    va_start(args, fmt);
    last = ngx_vslprintf(p, p + NGX_LLM_GATEWAY_ERRMSG_LEN, fmt, args);
    va_end(args);

    err->message.data = p;
    err->message.len = last - p;

    if (param) {
        len = ngx_strlen(param);

        err->param.data = ngx_pnalloc(ctx->pool, len);
        if (err->param.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(err->param.data, param, len);
        err->param.len = len;
    }

    return NGX_DECLINED;
}


/* a request body that must be a JSON object, or the OpenAI 400 */

static ngx_int_t
ngx_llm_gateway_body_parse(ngx_llm_gateway_ctx_t *ctx, ngx_str_t *body,
    yajl_val *root, ngx_llm_gateway_error_t *err)
{
    u_char  errbuf[256];

    if (body->len == 0) {
        return ngx_llm_gateway_invalid(ctx, err, NULL, NULL,
                   "We could not parse the JSON body of your request: "
                   "the body is empty. The API expects a JSON payload.");
    }

    *root = ngx_llm_gateway_json_parse(ctx->pool, body->data, body->len,
                                       errbuf, sizeof(errbuf));
    if (*root == NULL) {
        return ngx_llm_gateway_invalid(ctx, err, NULL, NULL,
                   "We could not parse the JSON body of your request (%s). "
                   "The API expects a JSON payload.", errbuf);
    }

    if (!YAJL_IS_OBJECT(*root)) {
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type", NULL,
                   "The request body must be a JSON object.");
    }

    return NGX_OK;
}


ngx_int_t
ngx_llm_gateway_chat_parse(ngx_llm_gateway_ctx_t *ctx, ngx_str_t *body,
    ngx_llm_gateway_error_t *err)
{
    yajl_val                     root, v;
    ngx_int_t                    rc;
    ngx_uint_t                   i;
    ngx_llm_gateway_chat_t      *chat;
    ngx_llm_gateway_message_t   *msg;

    chat = ngx_pcalloc(ctx->pool, sizeof(ngx_llm_gateway_chat_t));
    if (chat == NULL) {
        return NGX_ERROR;
    }

    ctx->chat = chat;
    chat->raw = *body;

    rc = ngx_llm_gateway_body_parse(ctx, body, &root, err);
    if (rc != NGX_OK) {
        return rc;
    }

    chat->root = root;

    /* model */

    v = ngx_llm_gateway_json_get(root, "model");

    if (v == NULL || YAJL_IS_NULL(v)) {
        ngx_str_null(&chat->model);

    } else if (ngx_llm_gateway_json_str(v, &chat->model) != NGX_OK) {
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type", "model",
                   "Invalid type for 'model': expected a string.");
    }

    /* messages */

    v = ngx_llm_gateway_json_get(root, "messages");

    if (v == NULL) {
        return ngx_llm_gateway_invalid(ctx, err, "missing_required_parameter",
                   "messages", "Missing required parameter: 'messages'.");
    }

    if (!YAJL_IS_ARRAY(v)) {
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type", "messages",
                   "Invalid type for 'messages': expected an array of "
                   "objects.");
    }

    if (v->u.array.len == 0) {
        return ngx_llm_gateway_invalid(ctx, err, "empty_array", "messages",
                   "Invalid 'messages': empty array. Expected an array "
                   "with minimum length 1, but got an empty array "
                   "instead.");
    }

    if (ngx_array_init(&chat->messages, ctx->pool, v->u.array.len,
                       sizeof(ngx_llm_gateway_message_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < v->u.array.len; i++) {
        msg = ngx_array_push(&chat->messages);
        if (msg == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(msg, sizeof(ngx_llm_gateway_message_t));

        rc = ngx_llm_gateway_chat_message(ctx, i, v->u.array.values[i], msg,
                                          err);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    /* tools */

    v = ngx_llm_gateway_json_get(root, "tools");

    if (v && !YAJL_IS_NULL(v)) {
        rc = ngx_llm_gateway_chat_tools(ctx, chat, v, err);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_llm_gateway_chat_options(ctx, chat, err);
}


static ngx_int_t
ngx_llm_gateway_chat_message(ngx_llm_gateway_ctx_t *ctx, ngx_uint_t i,
    yajl_val node, ngx_llm_gateway_message_t *msg,
    ngx_llm_gateway_error_t *err)
{
    yajl_val                 v;
    ngx_int_t                rc;
    ngx_llm_gateway_role_t  *role;
    u_char                   param[64];

    msg->node = node;

    if (!YAJL_IS_OBJECT(node)) {
        ngx_sprintf(param, "messages[%ui]%Z", i);
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type",
                   (char *) param, "Invalid type for '%s': expected an "
                   "object.", param);
    }

    v = ngx_llm_gateway_json_get(node, "role");

    if (ngx_llm_gateway_json_str(v, &msg->role_name) != NGX_OK) {
        ngx_sprintf(param, "messages[%ui].role%Z", i);
        return ngx_llm_gateway_invalid(ctx, err,
                   v ? "invalid_type" : "missing_required_parameter",
                   (char *) param, "Missing or invalid '%s': expected one "
                   "of 'system', 'developer', 'user', 'assistant', 'tool'.",
                   param);
    }

    for (role = ngx_llm_gateway_roles; role->name.len; role++) {
        if (role->name.len == msg->role_name.len
            && ngx_strncmp(role->name.data, msg->role_name.data,
                           role->name.len) == 0)
        {
            msg->role = role->role;
            break;
        }
    }

    if (msg->role == 0) {
        ngx_sprintf(param, "messages[%ui].role%Z", i);
        return ngx_llm_gateway_invalid(ctx, err, "invalid_value",
                   (char *) param, "Invalid value: '%V'. Supported values "
                   "are: 'system', 'developer', 'user', 'assistant', "
                   "'tool'.", &msg->role_name);
    }

    v = ngx_llm_gateway_json_get(node, "name");

    if (v && !YAJL_IS_NULL(v)
        && ngx_llm_gateway_json_str(v, &msg->name) != NGX_OK)
    {
        ngx_sprintf(param, "messages[%ui].name%Z", i);
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type",
                   (char *) param, "Invalid type for '%s': expected a "
                   "string.", param);
    }

    v = ngx_llm_gateway_json_get(node, "reasoning_content");

    if (v && YAJL_IS_STRING(v)) {
        (void) ngx_llm_gateway_json_str(v, &msg->reasoning);
    }

    /* content: a string, an array of parts, or null */

    v = ngx_llm_gateway_json_get(node, "content");

    if (v == NULL || YAJL_IS_NULL(v)) {
        msg->content_null = 1;

    } else if (YAJL_IS_STRING(v)) {
        (void) ngx_llm_gateway_json_str(v, &msg->text);

    } else if (YAJL_IS_ARRAY(v)) {
        rc = ngx_llm_gateway_chat_parts(ctx, i, v, msg, err);
        if (rc != NGX_OK) {
            return rc;
        }

    } else {
        ngx_sprintf(param, "messages[%ui].content%Z", i);
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type",
                   (char *) param, "Invalid type for '%s': expected one of "
                   "a string or an array of objects.", param);
    }

    if (msg->role == NGX_LLM_GATEWAY_ROLE_ASSISTANT) {
        v = ngx_llm_gateway_json_get(node, "tool_calls");

        if (v && !YAJL_IS_NULL(v)) {
            rc = ngx_llm_gateway_chat_tool_calls(ctx, i, v, msg, err);
            if (rc != NGX_OK) {
                return rc;
            }
        }

        return NGX_OK;
    }

    if (msg->content_null && msg->role != NGX_LLM_GATEWAY_ROLE_FUNCTION) {
        ngx_sprintf(param, "messages[%ui].content%Z", i);
        return ngx_llm_gateway_invalid(ctx, err,
                   "missing_required_parameter", (char *) param,
                   "Missing required parameter: '%s'.", param);
    }

    if (msg->role == NGX_LLM_GATEWAY_ROLE_TOOL) {
        v = ngx_llm_gateway_json_get(node, "tool_call_id");

        if (ngx_llm_gateway_json_str(v, &msg->tool_call_id) != NGX_OK) {
            ngx_sprintf(param, "messages[%ui].tool_call_id%Z", i);
            return ngx_llm_gateway_invalid(ctx, err,
                       "missing_required_parameter", (char *) param,
                       "Missing required parameter: '%s'.", param);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_chat_parts(ngx_llm_gateway_ctx_t *ctx, ngx_uint_t i,
    yajl_val node, ngx_llm_gateway_message_t *msg,
    ngx_llm_gateway_error_t *err)
{
    yajl_val                 pv, v, o;
    ngx_uint_t               j;
    ngx_llm_gateway_part_t  *part;
    u_char                   param[96];

    msg->content_parts = 1;

    msg->parts = ngx_array_create(ctx->pool, ngx_max(node->u.array.len, 1),
                                  sizeof(ngx_llm_gateway_part_t));
    if (msg->parts == NULL) {
        return NGX_ERROR;
    }

    for (j = 0; j < node->u.array.len; j++) {
        pv = node->u.array.values[j];

        part = ngx_array_push(msg->parts);
        if (part == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(part, sizeof(ngx_llm_gateway_part_t));
        part->node = pv;

        v = ngx_llm_gateway_json_get(pv, "type");

        if (!YAJL_IS_OBJECT(pv)
            || ngx_llm_gateway_json_str(v, &part->type_name) != NGX_OK)
        {
            ngx_sprintf(param, "messages[%ui].content[%ui].type%Z", i, j);
            return ngx_llm_gateway_invalid(ctx, err,
                       "missing_required_parameter", (char *) param,
                       "Missing required parameter: '%s'.", param);
        }

        if (part->type_name.len == 4
            && ngx_strncmp(part->type_name.data, "text", 4) == 0)
        {
            part->type = NGX_LLM_GATEWAY_PART_TEXT;

            if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(pv, "text"),
                                         &part->text)
                != NGX_OK)
            {
                ngx_sprintf(param, "messages[%ui].content[%ui].text%Z", i, j);
                return ngx_llm_gateway_invalid(ctx, err,
                           "missing_required_parameter", (char *) param,
                           "Missing required parameter: '%s'.", param);
            }

            continue;
        }

        if (part->type_name.len == 9
            && ngx_strncmp(part->type_name.data, "image_url", 9) == 0)
        {
            part->type = NGX_LLM_GATEWAY_PART_IMAGE;
            o = ngx_llm_gateway_json_get(pv, "image_url");

            /* some clients send the URL as a bare string */

            if (o && YAJL_IS_STRING(o)) {
                (void) ngx_llm_gateway_json_str(o, &part->url);
                continue;
            }

            if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(o, "url"),
                                         &part->url)
                != NGX_OK)
            {
                ngx_sprintf(param, "messages[%ui].content[%ui].image_url%Z",
                            i, j);
                return ngx_llm_gateway_invalid(ctx, err,
                           "missing_required_parameter", (char *) param,
                           "Missing required parameter: '%s.url'.", param);
            }

            (void) ngx_llm_gateway_json_str(
                                    ngx_llm_gateway_json_get(o, "detail"),
                                    &part->detail);
            continue;
        }

        if (part->type_name.len == 11
            && ngx_strncmp(part->type_name.data, "input_audio", 11) == 0)
        {
            part->type = NGX_LLM_GATEWAY_PART_AUDIO;
            o = ngx_llm_gateway_json_get(pv, "input_audio");

            if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(o, "data"),
                                         &part->data)
                != NGX_OK)
            {
                ngx_sprintf(param, "messages[%ui].content[%ui].input_audio%Z",
                            i, j);
                return ngx_llm_gateway_invalid(ctx, err,
                           "missing_required_parameter", (char *) param,
                           "Missing required parameter: '%s.data'.", param);
            }

            (void) ngx_llm_gateway_json_str(
                                    ngx_llm_gateway_json_get(o, "format"),
                                    &part->format);
            continue;
        }

        if (part->type_name.len == 4
            && ngx_strncmp(part->type_name.data, "file", 4) == 0)
        {
            part->type = NGX_LLM_GATEWAY_PART_FILE;
            o = ngx_llm_gateway_json_get(pv, "file");

            (void) ngx_llm_gateway_json_str(
                                    ngx_llm_gateway_json_get(o, "file_data"),
                                    &part->data);
            (void) ngx_llm_gateway_json_str(
                                    ngx_llm_gateway_json_get(o, "filename"),
                                    &part->filename);
            continue;
        }

        if (part->type_name.len == 7
            && ngx_strncmp(part->type_name.data, "refusal", 7) == 0
            && msg->role == NGX_LLM_GATEWAY_ROLE_ASSISTANT)
        {
            part->type = NGX_LLM_GATEWAY_PART_REFUSAL;
            (void) ngx_llm_gateway_json_str(
                                    ngx_llm_gateway_json_get(pv, "refusal"),
                                    &part->text);
            continue;
        }

        ngx_sprintf(param, "messages[%ui].content[%ui].type%Z", i, j);
        return ngx_llm_gateway_invalid(ctx, err, "invalid_value",
                   (char *) param, "Invalid value: '%V'. Supported values "
                   "are: 'text', 'image_url', 'input_audio', 'file'.",
                   &part->type_name);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_chat_tool_calls(ngx_llm_gateway_ctx_t *ctx, ngx_uint_t i,
    yajl_val node, ngx_llm_gateway_message_t *msg,
    ngx_llm_gateway_error_t *err)
{
    yajl_val                      tv, fn;
    ngx_uint_t                    j;
    ngx_llm_gateway_tool_call_t  *tc;
    u_char                        param[96];

    if (!YAJL_IS_ARRAY(node)) {
        ngx_sprintf(param, "messages[%ui].tool_calls%Z", i);
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type",
                   (char *) param, "Invalid type for '%s': expected an "
                   "array of objects.", param);
    }

    msg->tool_calls = ngx_array_create(ctx->pool,
                                       ngx_max(node->u.array.len, 1),
                                       sizeof(ngx_llm_gateway_tool_call_t));
    if (msg->tool_calls == NULL) {
        return NGX_ERROR;
    }

    for (j = 0; j < node->u.array.len; j++) {
        tv = node->u.array.values[j];

        tc = ngx_array_push(msg->tool_calls);
        if (tc == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(tc, sizeof(ngx_llm_gateway_tool_call_t));

        fn = ngx_llm_gateway_json_get(tv, "function");

        if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(tv, "id"),
                                     &tc->id) != NGX_OK
            || ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(fn, "name"),
                                        &tc->name) != NGX_OK)
        {
            ngx_sprintf(param, "messages[%ui].tool_calls[%ui]%Z", i, j);
            return ngx_llm_gateway_invalid(ctx, err,
                       "missing_required_parameter", (char *) param,
                       "Invalid '%s': a tool call needs 'id' and "
                       "'function.name'.", param);
        }

        (void) ngx_llm_gateway_json_str(
                                ngx_llm_gateway_json_get(fn, "arguments"),
                                &tc->arguments);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_chat_tools(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_chat_t *chat, yajl_val node,
    ngx_llm_gateway_error_t *err)
{
    yajl_val                 tv, fn, v;
    ngx_str_t                type;
    ngx_uint_t               j;
    ngx_llm_gateway_tool_t  *tool;
    u_char                   param[64];

    if (!YAJL_IS_ARRAY(node)) {
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type", "tools",
                   "Invalid type for 'tools': expected an array of objects.");
    }

    chat->tools = ngx_array_create(ctx->pool, ngx_max(node->u.array.len, 1),
                                   sizeof(ngx_llm_gateway_tool_t));
    if (chat->tools == NULL) {
        return NGX_ERROR;
    }

    for (j = 0; j < node->u.array.len; j++) {
        tv = node->u.array.values[j];

        if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(tv, "type"),
                                     &type) != NGX_OK)
        {
            ngx_sprintf(param, "tools[%ui].type%Z", j);
            return ngx_llm_gateway_invalid(ctx, err,
                       "missing_required_parameter", (char *) param,
                       "Missing required parameter: '%s'.", param);
        }

        if (type.len != 8 || ngx_strncmp(type.data, "function", 8) != 0) {
            /* custom tools are passed on to providers that know them */
            continue;
        }

        tool = ngx_array_push(chat->tools);
        if (tool == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(tool, sizeof(ngx_llm_gateway_tool_t));
        tool->node = tv;
        tool->strict = -1;

        fn = ngx_llm_gateway_json_get(tv, "function");

        if (ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(fn, "name"),
                                     &tool->name) != NGX_OK)
        {
            ngx_sprintf(param, "tools[%ui].function.name%Z", j);
            return ngx_llm_gateway_invalid(ctx, err,
                       "missing_required_parameter", (char *) param,
                       "Missing required parameter: '%s'.", param);
        }

        if (ngx_llm_gateway_tool_name_valid(&tool->name) != NGX_OK) {
            ngx_sprintf(param, "tools[%ui].function.name%Z", j);
            return ngx_llm_gateway_invalid(ctx, err, "invalid_value",
                       (char *) param, "Invalid '%s': string does not match "
                       "pattern. Expected a string that matches the pattern "
                       "'^[a-zA-Z0-9_-]{1,64}$'.", param);
        }

        (void) ngx_llm_gateway_json_str(
                                ngx_llm_gateway_json_get(fn, "description"),
                                &tool->description);

        v = ngx_llm_gateway_json_get(fn, "parameters");

        if (v && !YAJL_IS_NULL(v) && !YAJL_IS_OBJECT(v)) {
            ngx_sprintf(param, "tools[%ui].function.parameters%Z", j);
            return ngx_llm_gateway_invalid(ctx, err, "invalid_type",
                       (char *) param, "Invalid type for '%s': expected an "
                       "object.", param);
        }

        tool->parameters = v;

        v = ngx_llm_gateway_json_get(fn, "strict");

        if (v && YAJL_IS_TRUE(v)) {
            tool->strict = 1;

        } else if (v && YAJL_IS_FALSE(v)) {
            tool->strict = 0;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_tool_name_valid(ngx_str_t *name)
{
    u_char      c;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > 64) {
        return NGX_DECLINED;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '_' || c == '-')
        {
            continue;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_chat_options(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_chat_t *chat, ngx_llm_gateway_error_t *err)
{
    yajl_val    root, v, fn;
    ngx_int_t   rc, flag;
    ngx_str_t  *s;
    ngx_uint_t  j;

    root = chat->root;

    chat->n = NGX_CONF_UNSET;
    chat->max_tokens = NGX_CONF_UNSET;
    chat->max_completion_tokens = NGX_CONF_UNSET;
    chat->seed = NGX_CONF_UNSET;
    chat->top_k = NGX_CONF_UNSET;
    chat->top_logprobs = NGX_CONF_UNSET;
    chat->logprobs = -1;
    chat->parallel_tool_calls = -1;

    if ((rc = ngx_llm_gateway_chat_number(ctx, root, "temperature", 0, 2,
                                          &chat->temperature, err))
        != NGX_OK
        || (rc = ngx_llm_gateway_chat_number(ctx, root, "top_p", 0, 1,
                                             &chat->top_p, err))
           != NGX_OK
        || (rc = ngx_llm_gateway_chat_number(ctx, root, "frequency_penalty",
                                             -2, 2, &chat->frequency_penalty,
                                             err))
           != NGX_OK
        || (rc = ngx_llm_gateway_chat_number(ctx, root, "presence_penalty",
                                             -2, 2, &chat->presence_penalty,
                                             err))
           != NGX_OK
        || (rc = ngx_llm_gateway_chat_integer(ctx, root, "n", 1, 128,
                                              &chat->n, err))
           != NGX_OK
        || (rc = ngx_llm_gateway_chat_integer(ctx, root, "max_tokens", 1,
                                              NGX_MAX_INT32_VALUE,
                                              &chat->max_tokens, err))
           != NGX_OK
        || (rc = ngx_llm_gateway_chat_integer(ctx, root,
                                              "max_completion_tokens", 1,
                                              NGX_MAX_INT32_VALUE,
                                              &chat->max_completion_tokens,
                                              err))
           != NGX_OK
        || (rc = ngx_llm_gateway_chat_integer(ctx, root, "seed",
                                              -NGX_MAX_INT_T_VALUE,
                                              NGX_MAX_INT_T_VALUE,
                                              &chat->seed, err))
           != NGX_OK
        || (rc = ngx_llm_gateway_chat_integer(ctx, root, "top_k", 0,
                                              NGX_MAX_INT32_VALUE,
                                              &chat->top_k, err))
           != NGX_OK
        || (rc = ngx_llm_gateway_chat_integer(ctx, root, "top_logprobs", 0,
                                              20, &chat->top_logprobs, err))
           != NGX_OK
        || (rc = ngx_llm_gateway_chat_bool(ctx, root, "logprobs",
                                           &chat->logprobs, err))
           != NGX_OK
        || (rc = ngx_llm_gateway_chat_bool(ctx, root, "parallel_tool_calls",
                                           &chat->parallel_tool_calls, err))
           != NGX_OK)
    {
        return rc;
    }

    flag = -1;

    rc = ngx_llm_gateway_chat_bool(ctx, root, "stream", &flag, err);
    if (rc != NGX_OK) {
        return rc;
    }

    chat->stream = (flag == 1);

    v = ngx_llm_gateway_json_get(root, "stream_options");

    if (v && !YAJL_IS_NULL(v)) {
        if (!YAJL_IS_OBJECT(v)) {
            return ngx_llm_gateway_invalid(ctx, err, "invalid_type",
                       "stream_options", "Invalid type for 'stream_options': "
                       "expected an object.");
        }

        chat->stream_options = v;

        flag = -1;

        rc = ngx_llm_gateway_chat_bool(ctx, v, "include_usage", &flag, err);
        if (rc != NGX_OK) {
            return rc;
        }

        chat->include_usage = (flag == 1);
    }

    /* stop: a string, up to four strings, or null */

    v = ngx_llm_gateway_json_get(root, "stop");

    if (v && YAJL_IS_STRING(v)) {
        chat->stop = ngx_array_create(ctx->pool, 1, sizeof(ngx_str_t));
        if (chat->stop == NULL) {
            return NGX_ERROR;
        }

        s = ngx_array_push(chat->stop);
        if (s == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_llm_gateway_json_str(v, s);

    } else if (v && YAJL_IS_ARRAY(v)) {
        if (v->u.array.len > 4) {
            return ngx_llm_gateway_invalid(ctx, err, "array_above_max_length",
                       "stop", "Invalid 'stop': array too long. Expected an "
                       "array with maximum length 4.");
        }

        chat->stop = ngx_array_create(ctx->pool, 4, sizeof(ngx_str_t));
        if (chat->stop == NULL) {
            return NGX_ERROR;
        }

        for (j = 0; j < v->u.array.len; j++) {
            s = ngx_array_push(chat->stop);
            if (s == NULL) {
                return NGX_ERROR;
            }

            if (ngx_llm_gateway_json_str(v->u.array.values[j], s) != NGX_OK) {
                return ngx_llm_gateway_invalid(ctx, err, "invalid_type",
                           "stop", "Invalid type for 'stop': expected a "
                           "string or an array of strings.");
            }
        }

    } else if (v && !YAJL_IS_NULL(v)) {
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type", "stop",
                   "Invalid type for 'stop': expected a string or an array "
                   "of strings.");
    }

    /* tool_choice: "none", "auto", "required" or a named function */

    v = ngx_llm_gateway_json_get(root, "tool_choice");

    if (v && YAJL_IS_STRING(v)) {
        (void) ngx_llm_gateway_json_str(v, &chat->tool_choice_mode);

        if (!(chat->tool_choice_mode.len == 4
              && ngx_strncmp(chat->tool_choice_mode.data, "none", 4) == 0)
            && !(chat->tool_choice_mode.len == 4
                 && ngx_strncmp(chat->tool_choice_mode.data, "auto", 4) == 0)
            && !(chat->tool_choice_mode.len == 8
                 && ngx_strncmp(chat->tool_choice_mode.data, "required", 8)
                    == 0))
        {
            return ngx_llm_gateway_invalid(ctx, err, "invalid_value",
                       "tool_choice", "Invalid value: '%V'. Supported values "
                       "are: 'none', 'auto' and 'required'.",
                       &chat->tool_choice_mode);
        }

        chat->tool_choice = v;

    } else if (v && YAJL_IS_OBJECT(v)) {
        chat->tool_choice = v;
        (void) ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(v, "type"),
                                        &chat->tool_choice_mode);

        fn = ngx_llm_gateway_json_get(v, "function");
        (void) ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(fn, "name"),
                                        &chat->tool_choice_name);

        if (chat->tool_choice_mode.len == 8
            && ngx_strncmp(chat->tool_choice_mode.data, "function", 8) == 0
            && chat->tool_choice_name.len == 0)
        {
            return ngx_llm_gateway_invalid(ctx, err,
                       "missing_required_parameter", "tool_choice.function",
                       "Missing required parameter: "
                       "'tool_choice.function.name'.");
        }

    } else if (v && !YAJL_IS_NULL(v)) {
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type",
                   "tool_choice", "Invalid type for 'tool_choice': expected "
                   "a string or an object.");
    }

    /* response_format */

    v = ngx_llm_gateway_json_get(root, "response_format");

    if (v && !YAJL_IS_NULL(v)) {
        if (!YAJL_IS_OBJECT(v)
            || ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(v, "type"),
                                        &chat->response_format_type)
               != NGX_OK)
        {
            return ngx_llm_gateway_invalid(ctx, err, "invalid_type",
                       "response_format", "Invalid 'response_format': "
                       "expected an object with a 'type'.");
        }

        if (chat->response_format_type.len == 11
            && ngx_strncmp(chat->response_format_type.data, "json_schema",
                           11) == 0
            && !YAJL_IS_OBJECT(ngx_llm_gateway_json_get(v, "json_schema")))
        {
            return ngx_llm_gateway_invalid(ctx, err,
                       "missing_required_parameter",
                       "response_format.json_schema",
                       "Missing required parameter: "
                       "'response_format.json_schema'.");
        }

        chat->response_format = v;
    }

    v = ngx_llm_gateway_json_get(root, "reasoning_effort");

    if (v && !YAJL_IS_NULL(v)
        && ngx_llm_gateway_json_str(v, &chat->reasoning_effort) != NGX_OK)
    {
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type",
                   "reasoning_effort", "Invalid type for 'reasoning_effort': "
                   "expected a string.");
    }

    (void) ngx_llm_gateway_json_str(ngx_llm_gateway_json_get(root, "user"),
                                    &chat->user);

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_chat_number(ngx_llm_gateway_ctx_t *ctx, yajl_val root,
    const char *name, double min, double max, double *out,
    ngx_llm_gateway_error_t *err)
{
    double    d;
    yajl_val  v;

    *out = NAN;

    v = ngx_llm_gateway_json_get(root, name);

    if (v == NULL || YAJL_IS_NULL(v)) {
        return NGX_OK;
    }

    if (!YAJL_IS_NUMBER(v)) {
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type", name,
                   "Invalid type for '%s': expected a decimal, but got "
                   "another type instead.", name);
    }

    d = YAJL_IS_DOUBLE(v) ? YAJL_GET_DOUBLE(v)
                          : (double) YAJL_GET_INTEGER(v);

    if (d < min || d > max) {
        return ngx_llm_gateway_invalid(ctx, err,
                   d < min ? "decimal_below_min_value"
                           : "decimal_above_max_value",
                   name, "Invalid '%s': expected a value between %d and "
                   "%d, but got %s instead.", name, (int) min, (int) max,
                   v->u.number.r);
    }

    *out = d;

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_chat_integer(ngx_llm_gateway_ctx_t *ctx, yajl_val root,
    const char *name, ngx_int_t min, ngx_int_t max, ngx_int_t *out,
    ngx_llm_gateway_error_t *err)
{
    yajl_val   v;
    long long  n;

    v = ngx_llm_gateway_json_get(root, name);

    if (v == NULL || YAJL_IS_NULL(v)) {
        return NGX_OK;
    }

    if (!YAJL_IS_INTEGER(v)) {
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type", name,
                   "Invalid type for '%s': expected an integer, but got "
                   "another type instead.", name);
    }

    n = YAJL_GET_INTEGER(v);

    if (n < min || n > max) {
        return ngx_llm_gateway_invalid(ctx, err,
                   n < min ? "integer_below_min_value"
                           : "integer_above_max_value",
                   name, "Invalid '%s': expected a value between %i and "
                   "%i, but got %s instead.", name, min, max,
                   v->u.number.r);
    }

    *out = (ngx_int_t) n;

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_chat_bool(ngx_llm_gateway_ctx_t *ctx, yajl_val root,
    const char *name, ngx_int_t *out, ngx_llm_gateway_error_t *err)
{
    yajl_val  v;

    v = ngx_llm_gateway_json_get(root, name);

    if (v == NULL || YAJL_IS_NULL(v)) {
        return NGX_OK;
    }

    if (YAJL_IS_TRUE(v)) {
        *out = 1;
        return NGX_OK;
    }

    if (YAJL_IS_FALSE(v)) {
        *out = 0;
        return NGX_OK;
    }

    return ngx_llm_gateway_invalid(ctx, err, "invalid_type", name,
               "Invalid type for '%s': expected a boolean, but got another "
               "type instead.", name);
}


/*
 * POST /v1/embeddings: input is a string or an array of strings (token
 * arrays are OpenAI-only and refused); encoding_format float or base64.
 */

ngx_int_t
ngx_llm_gateway_embed_parse(ngx_llm_gateway_ctx_t *ctx, ngx_str_t *body,
    ngx_llm_gateway_error_t *err)
{
    size_t                    i, j;
    yajl_val                  root, v, in;
    ngx_int_t                 rc, dims;
    ngx_str_t                *s, fmt;
    ngx_llm_gateway_embed_t  *e;

    e = ngx_pcalloc(ctx->pool, sizeof(ngx_llm_gateway_embed_t));
    if (e == NULL) {
        return NGX_ERROR;
    }

    ctx->embed = e;
    e->dimensions = -1;

    rc = ngx_llm_gateway_body_parse(ctx, body, &root, err);
    if (rc != NGX_OK) {
        return rc;
    }

    e->root = root;

    v = ngx_llm_gateway_json_get(root, "model");

    if (v && !YAJL_IS_NULL(v)
        && ngx_llm_gateway_json_str(v, &e->model) != NGX_OK)
    {
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type", "model",
                   "Invalid type for 'model': expected a string.");
    }

    in = ngx_llm_gateway_json_get(root, "input");

    if (in == NULL || YAJL_IS_NULL(in)) {
        return ngx_llm_gateway_invalid(ctx, err,
                   "missing_required_parameter", "input",
                   "Missing required parameter: 'input'.");
    }

    if (ngx_array_init(&e->inputs, ctx->pool, 4, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (YAJL_IS_STRING(in)) {
        s = ngx_array_push(&e->inputs);
        if (s == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_llm_gateway_json_str(in, s);

    } else if (YAJL_IS_ARRAY(in)) {
        if (in->u.array.len == 0 || in->u.array.len > 2048) {
            return ngx_llm_gateway_invalid(ctx, err, "invalid_value",
                       "input", "Invalid 'input': expected between 1 and "
                       "2048 inputs.");
        }

        for (i = 0; i < in->u.array.len; i++) {
            s = ngx_array_push(&e->inputs);
            if (s == NULL) {
                return NGX_ERROR;
            }

            if (ngx_llm_gateway_json_str(in->u.array.values[i], s)
                != NGX_OK)
            {
                return ngx_llm_gateway_invalid(ctx, err, "invalid_type",
                           "input", "Invalid 'input': expected a string or "
                           "an array of strings (token arrays are not "
                           "supported by this gateway).");
            }
        }

    } else {
        return ngx_llm_gateway_invalid(ctx, err, "invalid_type", "input",
                   "Invalid type for 'input': expected a string or an "
                   "array of strings.");
    }

    s = e->inputs.elts;

    for (i = 0; i < e->inputs.nelts; i++) {
        if (s[i].len == 0) {
            return ngx_llm_gateway_invalid(ctx, err, "invalid_value",
                       "input", "Invalid 'input': an input is an empty "
                       "string.");
        }

        /* characters, not bytes: the token estimate counts them */

        for (j = 0; j < s[i].len; j++) {
            e->chars += ((s[i].data[j] & 0xc0) != 0x80);
        }
    }

    v = ngx_llm_gateway_json_get(root, "encoding_format");

    if (v && !YAJL_IS_NULL(v)) {
        if (ngx_llm_gateway_json_str(v, &fmt) != NGX_OK
            || !((fmt.len == 5 && ngx_strncmp(fmt.data, "float", 5) == 0)
                 || (fmt.len == 6 && ngx_strncmp(fmt.data, "base64", 6)
                                     == 0)))
        {
            return ngx_llm_gateway_invalid(ctx, err, "invalid_value",
                       "encoding_format", "Invalid 'encoding_format': "
                       "expected 'float' or 'base64'.");
        }

        e->base64 = (fmt.len == 6);
    }

    dims = NGX_CONF_UNSET;

    rc = ngx_llm_gateway_chat_integer(ctx, root, "dimensions", 1, 65536,
                                      &dims, err);
    if (rc != NGX_OK) {
        return rc;
    }

    if (dims != NGX_CONF_UNSET) {
        e->dimensions = dims;
    }

    return NGX_OK;
}

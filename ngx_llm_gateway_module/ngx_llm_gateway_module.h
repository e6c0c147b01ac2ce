
/*
 * ngx_llm_gateway: an OpenAI-compatible LLM gateway inside nginx.
 *
 * Types shared by every file of the module: configuration, the parsed
 * OpenAI request, the per-request context and the provider vtable.
 */


#ifndef _NGX_LLM_GATEWAY_MODULE_H_INCLUDED_
#define _NGX_LLM_GATEWAY_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_tree.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>


#define NGX_LLM_GATEWAY_VERSION           "0.1.0"

#define NGX_LLM_GATEWAY_DIGEST_LEN        32
#define NGX_LLM_GATEWAY_KEY_ID_LEN        12
#define NGX_LLM_GATEWAY_MAX_ATTEMPTS      10

#define ngx_llm_gateway_gen_ok(call)  ((call) == yajl_gen_status_ok)
#define NGX_LLM_GATEWAY_JSON_MAX_DEPTH    64
#define NGX_LLM_GATEWAY_JSON_MAX_NODES    262144

/* endpoints, from the URI tail */
#define NGX_LLM_GATEWAY_EP_UNKNOWN        0
#define NGX_LLM_GATEWAY_EP_INFO           1
#define NGX_LLM_GATEWAY_EP_HEALTH         2
#define NGX_LLM_GATEWAY_EP_CHAT           3
#define NGX_LLM_GATEWAY_EP_MODELS         4
#define NGX_LLM_GATEWAY_EP_MODEL          5
#define NGX_LLM_GATEWAY_EP_EMBEDDINGS     6
#define NGX_LLM_GATEWAY_EP_KEYS_LIST      7

/* message roles */
#define NGX_LLM_GATEWAY_ROLE_SYSTEM       1
#define NGX_LLM_GATEWAY_ROLE_DEVELOPER    2
#define NGX_LLM_GATEWAY_ROLE_USER         3
#define NGX_LLM_GATEWAY_ROLE_ASSISTANT    4
#define NGX_LLM_GATEWAY_ROLE_TOOL         5
#define NGX_LLM_GATEWAY_ROLE_FUNCTION     6

/* content part types */
#define NGX_LLM_GATEWAY_PART_TEXT         1
#define NGX_LLM_GATEWAY_PART_IMAGE        2
#define NGX_LLM_GATEWAY_PART_AUDIO        3
#define NGX_LLM_GATEWAY_PART_FILE         4
#define NGX_LLM_GATEWAY_PART_REFUSAL      5
#define NGX_LLM_GATEWAY_PART_OTHER        6

/* provider-side tools a model may have switched on */
#define NGX_LLM_GATEWAY_TOOL_CODE         0x01
#define NGX_LLM_GATEWAY_TOOL_SEARCH       0x02
#define NGX_LLM_GATEWAY_TOOL_URL          0x04

/* how reasoning_effort is said to a model */
#define NGX_LLM_GATEWAY_REASONING_AUTO    0
#define NGX_LLM_GATEWAY_REASONING_BUDGETS 1
#define NGX_LLM_GATEWAY_REASONING_LEVELS  2

/* what a gateway subrequest is for */
#define NGX_LLM_GATEWAY_SR_CHAT           1
#define NGX_LLM_GATEWAY_SR_MODELS         2
#define NGX_LLM_GATEWAY_SR_EMBED          3
#define NGX_LLM_GATEWAY_SR_NATIVE         4
#define NGX_LLM_GATEWAY_SR_FETCH          5


typedef struct ngx_llm_gateway_provider_s       ngx_llm_gateway_provider_t;
typedef struct ngx_llm_gateway_provider_conf_s  ngx_llm_gateway_provider_conf_t;
typedef struct ngx_llm_gateway_ctx_s            ngx_llm_gateway_ctx_t;


/*
 * What every worker knows of a key (or, for a provider, of its round
 * robin): in the shared zone when there is one, found again by digest
 * after a reload; in each worker's memory otherwise.  No secret in it.
 */
typedef struct {
    ngx_rbtree_node_t                 node;      /* key: the digest's */
    u_char                            digest[NGX_LLM_GATEWAY_DIGEST_LEN];

    ngx_atomic_t                      in_flight;
    ngx_atomic_t                      requests;
    ngx_atomic_t                      successes;
    ngx_atomic_t                      rr;        /* a provider's turn */

    /* under the zone's lock */
    ngx_msec_t                        cool_until; /* monotonic msec */
    ngx_uint_t                        cools;      /* 429s in a row */
    ngx_uint_t                        fails;
    ngx_msec_t                        fails_since;
    ngx_uint_t                        disabled;
    ngx_msec_t                        recheck_at; /* a disabled key's */
    time_t                            changed;
    size_t                            error_len;
    u_char                            error[64];  /* the last one */
} ngx_llm_gateway_key_state_t;


/* a copy of a key's state, as the administration shows it */
typedef struct {
    ngx_uint_t                        disabled;
    ngx_msec_t                        cooldown;  /* left, in msec */
    ngx_uint_t                        fails;
    time_t                            changed;
    ngx_atomic_uint_t                 in_flight;
    ngx_atomic_uint_t                 requests;
    ngx_atomic_uint_t                 successes;
    size_t                            error_len;
    u_char                            error[64];
} ngx_llm_gateway_key_view_t;


#define NGX_LLM_GATEWAY_KEY_DISABLE       1
#define NGX_LLM_GATEWAY_KEY_ENABLE        2
#define NGX_LLM_GATEWAY_KEY_RESET         3


/* an upstream API key: the secret lives only in configuration memory */
typedef struct {
    ngx_str_t                         secret;
    ngx_str_t                         masked;
    u_char                            digest[NGX_LLM_GATEWAY_DIGEST_LEN];
    u_char                            id[NGX_LLM_GATEWAY_KEY_ID_LEN];
    ngx_llm_gateway_key_state_t      *state;
    ngx_str_t                         group;     /* e.g. a cloud project */
    ngx_uint_t                        weight;
    ngx_str_t                         bind;      /* local address */
} ngx_llm_gateway_key_t;


/* one model of an upstream's list, as JSON text */
typedef struct {
    ngx_str_t                         id;
    ngx_str_t                         json;
} ngx_llm_gateway_model_entry_t;


/* per-worker cache of an upstream's model list */
typedef struct {
    ngx_pool_t                       *pool;
    ngx_array_t                      *entries; /* model_entry_t */
    time_t                            expires;
} ngx_llm_gateway_models_cache_t;


struct ngx_llm_gateway_provider_conf_s {
    ngx_str_t                         name;
    ngx_llm_gateway_provider_t       *type;
    ngx_str_t                         pass;
    ngx_array_t                       keys;    /* ngx_llm_gateway_key_t */
    ngx_llm_gateway_key_state_t      *state;   /* the round robin */
    ngx_array_t                       slots;   /* key indexes by weight */
    ngx_uint_t                        max_inflight;

    /* the key pool's policy */
    ngx_msec_t                        cooldown;
    ngx_uint_t                        max_fails;
    ngx_msec_t                        fail_timeout;
    ngx_uint_t                        attempts;
    ngx_msec_t                        attempts_timeout;
    ngx_msec_t                        recheck;

    ngx_msec_t                        models_ttl;
    ngx_flag_t                        list_models;
    ngx_llm_gateway_models_cache_t    models;
};


typedef struct {
    ngx_str_t                         name;
    ngx_str_t                         upstream;  /* rename, may be empty */
#if (NGX_PCRE)
    ngx_regex_t                      *regex;
#endif
    ngx_uint_t                        is_regex;  /* unsigned is_regex:1 */
    ngx_llm_gateway_provider_conf_t  *provider;

    /* per-model provider options */
    ngx_uint_t                        tools;     /* TOOL_* bits */
    ngx_str_t                         safety;    /* empty: the default */
    ngx_int_t                         links;     /* -1: the default */
    ngx_uint_t                        reasoning; /* REASONING_* */
    ngx_str_t                         reasoning_default;
} ngx_llm_gateway_model_t;


typedef struct {
    ngx_array_t                       providers; /* provider_conf_t * */
    ngx_array_t                       models;    /* exact names */
    ngx_array_t                       regexes;   /* regex routes */
    ngx_str_t                         default_model;
    ngx_str_t                         gemini_safety;
    ngx_flag_t                        gemini_links;
    ngx_shm_zone_t                   *shm_zone;
    time_t                            created;
} ngx_llm_gateway_main_conf_t;


typedef struct {
    ngx_flag_t                        enable;
    ngx_array_t                      *tokens;    /* digests; NULL: off */
    ngx_array_t                      *cors;      /* ngx_str_t origins */
    size_t                            buffer_size;
    ngx_llm_gateway_provider_conf_t  *native;    /* gemini_native */
    ngx_uint_t                        auth_set;  /* unsigned auth_set:1 */
    ngx_array_t                      *admin_tokens; /* digests */
    ngx_uint_t                        admin_set;

    /* llm_gateway_image_fetch: data NULL unset, len 0 off */
    ngx_str_t                         fetch;
    size_t                            fetch_max_size;
    ngx_uint_t                        fetch_max_images;
} ngx_llm_gateway_loc_conf_t;


/* one content part of a message */
typedef struct {
    ngx_uint_t                        type;
    ngx_str_t                         type_name;
    ngx_str_t                         text;      /* text, refusal */
    ngx_str_t                         url;       /* image_url.url */
    ngx_str_t                         detail;
    ngx_str_t                         data;      /* input_audio, file */
    ngx_str_t                         format;    /* audio format */
    ngx_str_t                         filename;
    yajl_val                          node;
} ngx_llm_gateway_part_t;


typedef struct {
    ngx_str_t                         id;
    ngx_str_t                         name;
    ngx_str_t                         arguments;
} ngx_llm_gateway_tool_call_t;


typedef struct {
    ngx_uint_t                        role;
    ngx_str_t                         role_name;
    ngx_str_t                         name;
    ngx_str_t                         tool_call_id;

    /* content is NULL, a string (text) or parts */
    ngx_str_t                         text;
    ngx_array_t                      *parts;     /* ngx_llm_gateway_part_t */
    ngx_array_t                      *tool_calls;
    ngx_str_t                         reasoning; /* reasoning_content */

    unsigned                          content_null:1;
    unsigned                          content_parts:1;

    yajl_val                          node;
} ngx_llm_gateway_message_t;


typedef struct {
    ngx_str_t                         name;
    ngx_str_t                         description;
    yajl_val                          parameters;
    ngx_int_t                         strict;    /* -1 unset */
    yajl_val                          node;
} ngx_llm_gateway_tool_t;


/*
 * The OpenAI chat request, parsed once and shared by every translator.
 * Numbers that were not given are NGX_CONF_UNSET or NAN (doubles);
 * yajl nodes point into the tree owned by the request pool.
 */
typedef struct {
    yajl_val                          root;
    ngx_str_t                         raw;       /* body as received */

    ngx_str_t                         model;
    ngx_array_t                       messages;  /* message_t */
    ngx_array_t                      *tools;     /* tool_t */

    yajl_val                          tool_choice;
    ngx_str_t                         tool_choice_mode; /* auto, ... */
    ngx_str_t                         tool_choice_name;
    yajl_val                          response_format;
    ngx_str_t                         response_format_type;
    ngx_array_t                      *stop;      /* ngx_str_t */
    yajl_val                          stream_options;
    ngx_str_t                         reasoning_effort;
    ngx_str_t                         user;

    double                            temperature;
    double                            top_p;
    double                            frequency_penalty;
    double                            presence_penalty;

    ngx_int_t                         n;
    ngx_int_t                         max_tokens;
    ngx_int_t                         max_completion_tokens;
    ngx_int_t                         seed;
    ngx_int_t                         top_k;
    ngx_int_t                         top_logprobs;
    ngx_int_t                         logprobs;           /* -1, 0, 1 */
    ngx_int_t                         parallel_tool_calls; /* -1, 0, 1 */

    unsigned                          stream:1;
    unsigned                          include_usage:1;
} ngx_llm_gateway_chat_t;


/* the OpenAI embeddings request */
typedef struct {
    yajl_val                          root;
    ngx_str_t                         model;
    ngx_array_t                       inputs;    /* ngx_str_t */
    ngx_int_t                         dimensions; /* -1: not given */
    size_t                            chars;     /* of all inputs */
    unsigned                          base64:1;
} ngx_llm_gateway_embed_t;


/* an OpenAI-shaped error on its way to the client */
typedef struct {
    ngx_uint_t                        status;
    ngx_str_t                         message;
    ngx_str_t                         type;
    ngx_str_t                         param;     /* empty: null */
    ngx_str_t                         code;      /* empty: null */
    time_t                            retry_after; /* 0: none */
} ngx_llm_gateway_error_t;


/* incremental server-sent events parser */
typedef struct {
    u_char                           *line;
    size_t                            line_len;
    size_t                            line_size;
    u_char                           *data;
    size_t                            data_len;
    size_t                            data_size;
    size_t                            max;
    ngx_str_t                         event;
    u_char                            event_name[32];
    u_char                           *raw;       /* lines not SSE fields */
    size_t                            raw_len;
    size_t                            raw_size;
    ngx_str_t                         pending;   /* data, in the input */
    unsigned                          has_data:1;
    unsigned                          skip_lf:1;
} ngx_llm_gateway_sse_t;


/* output accumulated by translators, sent as one chain */
typedef struct {
    ngx_pool_t                       *pool;
    ngx_chain_t                      *head;
    ngx_chain_t                     **last;
    ngx_buf_t                        *buf;
    ngx_chain_t                      *free;
    ngx_chain_t                      *busy;
    size_t                            len;
} ngx_llm_gateway_out_t;


/* what a translator needs to build an upstream request */
typedef struct {
    ngx_uint_t                        method;
    ngx_str_t                         uri;       /* appended to pass */
    ngx_str_t                         args;
    ngx_str_t                         body;
    ngx_str_t                         accept;
    ngx_str_t                         content_type;
} ngx_llm_gateway_upstream_req_t;


/* the state of one gateway subrequest */
typedef struct {
    ngx_llm_gateway_ctx_t            *ctx;
    ngx_http_request_t               *sr;
    ngx_llm_gateway_provider_conf_t  *provider;
    ngx_uint_t                        kind;
    ngx_uint_t                        status;
    ngx_int_t                         rc;
    ngx_str_t                         content_type;
    time_t                            retry_after;

    u_char                           *body;      /* captured body */
    size_t                            body_len;
    size_t                            body_size;
    size_t                            body_max;  /* 0: buffer_size */

    ngx_llm_gateway_part_t           *fetch;     /* the image fetched */

    ngx_chain_t                      *held;      /* input not relayed */

    unsigned                          stream:1;  /* relaying SSE */
    unsigned                          raw:1;     /* relaying bytes */
    unsigned                          done:1;
    unsigned                          last:1;    /* saw end of body */
    unsigned                          overflow:1;
    unsigned                          key_active:1;
} ngx_llm_gateway_sr_ctx_t;


struct ngx_llm_gateway_ctx_s {
    ngx_http_request_t               *request;
    ngx_pool_t                       *pool;
    ngx_log_t                        *log;

    ngx_uint_t                        endpoint;
    ngx_llm_gateway_chat_t           *chat;
    ngx_llm_gateway_embed_t          *embed;
    ngx_str_t                         model;          /* as asked */
    ngx_str_t                         upstream_model;
    ngx_llm_gateway_model_t          *route;
    ngx_str_t                         safety;         /* threshold */
    ngx_uint_t                        links;          /* sources in text */
    ngx_llm_gateway_provider_conf_t  *provider;
    ngx_llm_gateway_key_t            *key;
    ngx_str_t                         model_id;       /* models/{id} */

    ngx_llm_gateway_sr_ctx_t         *current;
    ngx_uint_t                        provider_next;  /* models walk */
    ngx_array_t                      *model_entries;  /* pages so far */
    ngx_str_t                         page_token;     /* the next page */
    ngx_uint_t                        pages;
    ngx_uint_t                        attempts;
    ngx_uint_t                        kind;           /* SR_CHAT, ... */
    ngx_msec_t                        started;        /* first attempt */
    ngx_llm_gateway_key_t            *tried[NGX_LLM_GATEWAY_MAX_ATTEMPTS];
    ngx_pool_cleanup_t               *key_hold;       /* in flight */
    ngx_uint_t                        fetches;        /* images fetched */
    ngx_uint_t                        upstream_status;
    off_t                             prompt_tokens;
    off_t                             completion_tokens;

    /* streaming translation state */
    ngx_llm_gateway_sse_t             sse;
    ngx_llm_gateway_out_t             out;
    void                             *xlat;           /* provider state */

    ngx_str_t                         error_body;     /* error page */
    ngx_llm_gateway_error_t           error;          /* translators' */

    unsigned                          stream:1;
    unsigned                          native:1;       /* pass-through */
    unsigned                          own_output:1;   /* handler writes */
    unsigned                          header_sent:1;  /* main headers */
    unsigned                          stream_done:1;  /* [DONE] seen */
    unsigned                          stream_failed:1;
    unsigned                          error_page:1;   /* rewriting */
    unsigned                          error_page_sent:1;
};


/* a provider type: pure translators, no event loop */
struct ngx_llm_gateway_provider_s {
    ngx_str_t                         name;

    ngx_int_t  (*create_request)(ngx_llm_gateway_ctx_t *ctx,
                   ngx_llm_gateway_upstream_req_t *req);
    ngx_int_t  (*process_response)(ngx_llm_gateway_ctx_t *ctx,
                   ngx_str_t *body, ngx_str_t *out);
    ngx_int_t  (*process_event)(ngx_llm_gateway_ctx_t *ctx,
                   ngx_str_t *event, ngx_str_t *data);
    ngx_int_t  (*finish_stream)(ngx_llm_gateway_ctx_t *ctx);
    void       (*process_error)(ngx_llm_gateway_ctx_t *ctx,
                   ngx_uint_t status, ngx_str_t *body,
                   ngx_llm_gateway_error_t *err);
    ngx_int_t  (*models_request)(ngx_llm_gateway_ctx_t *ctx,
                   ngx_llm_gateway_upstream_req_t *req);
    ngx_int_t  (*process_models)(ngx_llm_gateway_ctx_t *ctx,
                   ngx_str_t *body, ngx_array_t *entries);
    ngx_int_t  (*embed_request)(ngx_llm_gateway_ctx_t *ctx,
                   ngx_llm_gateway_upstream_req_t *req);
    ngx_int_t  (*process_embeddings)(ngx_llm_gateway_ctx_t *ctx,
                   ngx_str_t *body, ngx_str_t *out);

    /* images must be sent inline: http(s) URLs are fetched first */
    ngx_uint_t   inline_images;
};


extern ngx_module_t  ngx_llm_gateway_module;


/* handler */
ngx_int_t ngx_llm_gateway_handler(ngx_http_request_t *r);
ngx_int_t ngx_llm_gateway_send_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body);
ngx_int_t ngx_llm_gateway_send_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_llm_gateway_send_error(ngx_http_request_t *r,
    ngx_llm_gateway_error_t *err);
ngx_int_t ngx_llm_gateway_early_error(ngx_http_request_t *r,
    ngx_llm_gateway_error_t *err);
void ngx_llm_gateway_error_set(ngx_llm_gateway_error_t *err,
    ngx_uint_t status, char *message, char *type, char *param, char *code);
ngx_llm_gateway_ctx_t *ngx_llm_gateway_get_ctx(ngx_http_request_t *r);

ngx_int_t ngx_llm_gateway_dispatch(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_uint_t kind);
ngx_int_t ngx_llm_gateway_retry(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx);

/* image fetching */
ngx_int_t ngx_llm_gateway_fetch_next(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx);
ngx_int_t ngx_llm_gateway_fetch_done(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx);
ngx_int_t ngx_llm_gateway_fetch_url_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/* native pass-through */
char *ngx_llm_gateway_gemini_native(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_llm_gateway_native_handler(ngx_http_request_t *r);
ngx_str_t *ngx_llm_gateway_native_status(ngx_uint_t status);
ngx_int_t ngx_llm_gateway_native_done(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_sr_ctx_t *srctx);
ngx_int_t ngx_llm_gateway_read_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_table_elt_t *ngx_llm_gateway_header_in(ngx_http_request_t *r,
    char *name, size_t len);

/* request parsing */
ngx_int_t ngx_llm_gateway_chat_parse(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *body, ngx_llm_gateway_error_t *err);

ngx_int_t ngx_llm_gateway_embed_parse(ngx_llm_gateway_ctx_t *ctx,
    ngx_str_t *body, ngx_llm_gateway_error_t *err);

/* routing and keys */
ngx_llm_gateway_model_t *ngx_llm_gateway_route_name(
    ngx_llm_gateway_main_conf_t *gmcf, ngx_str_t *name);
ngx_int_t ngx_llm_gateway_route(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_str_t *model,
    ngx_llm_gateway_error_t *err);
ngx_llm_gateway_key_t *ngx_llm_gateway_key_pick(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_provider_conf_t *pcf, ngx_llm_gateway_error_t *err);
void ngx_llm_gateway_key_outcome(ngx_llm_gateway_ctx_t *ctx,
    ngx_uint_t status, time_t retry_after, ngx_str_t *reason);
ngx_uint_t ngx_llm_gateway_key_retry(ngx_llm_gateway_ctx_t *ctx,
    ngx_uint_t status);
void ngx_llm_gateway_key_view(ngx_llm_gateway_key_t *key,
    ngx_llm_gateway_key_view_t *v);
void ngx_llm_gateway_key_admin(ngx_llm_gateway_key_t *key,
    ngx_uint_t action);
void ngx_llm_gateway_pool_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
ngx_int_t ngx_llm_gateway_pool_slots(ngx_conf_t *cf,
    ngx_llm_gateway_provider_conf_t *pcf);
ngx_int_t ngx_llm_gateway_pool_attach(ngx_log_t *log,
    ngx_llm_gateway_main_conf_t *gmcf, ngx_slab_pool_t *shpool,
    ngx_rbtree_t *tree, ngx_pool_t *pool);
ngx_int_t ngx_llm_gateway_key_add(ngx_conf_t *cf,
    ngx_llm_gateway_provider_conf_t *pcf, ngx_str_t *secret,
    ngx_str_t *attrs);
ngx_int_t ngx_llm_gateway_keys_load(ngx_conf_t *cf,
    ngx_llm_gateway_provider_conf_t *pcf, ngx_str_t *file);
ngx_int_t ngx_llm_gateway_read_secrets(ngx_conf_t *cf, ngx_str_t *file,
    ngx_array_t *out, ngx_array_t *rest);
void ngx_llm_gateway_digest(ngx_str_t *in, u_char *out);

/* key pool administration */
ngx_int_t ngx_llm_gateway_admin_auth(ngx_http_request_t *r,
    ngx_llm_gateway_loc_conf_t *glcf, ngx_llm_gateway_error_t *err);
ngx_int_t ngx_llm_gateway_admin_handler(ngx_http_request_t *r);
ngx_int_t ngx_llm_gateway_keys_list(ngx_http_request_t *r);
char *ngx_llm_gateway_keys_admin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* client auth and CORS */
ngx_uint_t ngx_llm_gateway_digests_match(ngx_array_t *digests,
    ngx_str_t *token);
char *ngx_llm_gateway_tokens_conf(ngx_conf_t *cf, ngx_array_t **tokens,
    const char *directive);
ngx_int_t ngx_llm_gateway_auth(ngx_http_request_t *r,
    ngx_llm_gateway_loc_conf_t *glcf, ngx_llm_gateway_error_t *err);
ngx_uint_t ngx_llm_gateway_token_valid(ngx_llm_gateway_loc_conf_t *glcf,
    ngx_str_t *token);
ngx_int_t ngx_llm_gateway_bearer(ngx_http_request_t *r, ngx_str_t *token);
ngx_int_t ngx_llm_gateway_cors_headers(ngx_http_request_t *r,
    ngx_llm_gateway_loc_conf_t *glcf, ngx_uint_t preflight);

/* subrequests */
ngx_int_t ngx_llm_gateway_upstream_start(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx, ngx_llm_gateway_provider_conf_t *pcf,
    ngx_uint_t kind, ngx_llm_gateway_upstream_req_t *req);
void ngx_llm_gateway_chat_resume(ngx_http_request_t *r);
ngx_int_t ngx_llm_gateway_stream_start(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx);

/* models */
ngx_int_t ngx_llm_gateway_models_handler(ngx_http_request_t *r,
    ngx_llm_gateway_ctx_t *ctx);
void ngx_llm_gateway_models_resume(ngx_http_request_t *r);
void ngx_llm_gateway_models_cleanup(ngx_cycle_t *cycle);

/* filters */
ngx_int_t ngx_llm_gateway_filter_init(ngx_conf_t *cf);

/* variables */
ngx_int_t ngx_llm_gateway_add_variables(ngx_conf_t *cf);

/* shared memory */
char *ngx_llm_gateway_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* server-sent events */
typedef ngx_int_t (*ngx_llm_gateway_sse_handler_pt)(void *data,
    ngx_str_t *event, ngx_str_t *payload);
ngx_int_t ngx_llm_gateway_sse_feed(ngx_llm_gateway_sse_t *sse,
    ngx_pool_t *pool, u_char *p, size_t len,
    ngx_llm_gateway_sse_handler_pt handler, void *data);
ngx_int_t ngx_llm_gateway_sse_flush(ngx_llm_gateway_sse_t *sse,
    ngx_pool_t *pool, ngx_llm_gateway_sse_handler_pt handler, void *data);
ngx_int_t ngx_llm_gateway_sse_event(void *data, ngx_str_t *event,
    ngx_str_t *payload);

/* output accumulation */
void ngx_llm_gateway_out_init(ngx_llm_gateway_out_t *out, ngx_pool_t *pool);
ngx_int_t ngx_llm_gateway_out_append(ngx_llm_gateway_out_t *out,
    u_char *data, size_t len);
ngx_int_t ngx_llm_gateway_out_event(ngx_llm_gateway_out_t *out,
    u_char *data, size_t len);
ngx_chain_t *ngx_llm_gateway_out_take(ngx_llm_gateway_out_t *out);
u_char *ngx_llm_gateway_out_reserve(ngx_llm_gateway_out_t *out, size_t len);
void ngx_llm_gateway_out_unreserve(ngx_llm_gateway_out_t *out, size_t len);
size_t ngx_llm_gateway_out_backlog(ngx_llm_gateway_out_t *out);

/* JSON */
yajl_val ngx_llm_gateway_json_parse(ngx_pool_t *pool, u_char *p, size_t len,
    u_char *errbuf, size_t errlen);
void ngx_llm_gateway_json_pool_funcs(yajl_alloc_funcs *afs, ngx_pool_t *pool);
ngx_int_t ngx_llm_gateway_json_emit(yajl_gen g, ngx_llm_gateway_out_t *out);
yajl_val ngx_llm_gateway_json_get(yajl_val obj, const char *key);
ngx_int_t ngx_llm_gateway_json_str(yajl_val v, ngx_str_t *out);
yajl_gen ngx_llm_gateway_json_gen(ngx_pool_t *pool);
ngx_int_t ngx_llm_gateway_json_gen_value(yajl_gen g, yajl_val v);
ngx_int_t ngx_llm_gateway_json_gen_str(yajl_gen g, ngx_str_t *s);
ngx_int_t ngx_llm_gateway_json_gen_cstr(yajl_gen g, const char *s);
ngx_int_t ngx_llm_gateway_json_take(yajl_gen g, ngx_pool_t *pool,
    ngx_str_t *out);
ngx_int_t ngx_llm_gateway_json_stringify(ngx_pool_t *pool, yajl_val v,
    ngx_str_t *out);
ngx_int_t ngx_llm_gateway_error_json(ngx_pool_t *pool,
    ngx_llm_gateway_error_t *err, ngx_str_t *out);
void ngx_llm_gateway_error_from_body(ngx_pool_t *pool, ngx_uint_t status,
    ngx_str_t *body, ngx_llm_gateway_error_t *err);
void ngx_llm_gateway_error_defaults(ngx_llm_gateway_error_t *err);
void ngx_llm_gateway_scrub(ngx_str_t *s, ngx_str_t *secret);

/* provider registry */
ngx_llm_gateway_provider_t *ngx_llm_gateway_provider_find(ngx_str_t *name);

extern ngx_llm_gateway_provider_t  ngx_llm_gateway_hf_provider;
extern ngx_llm_gateway_provider_t  ngx_llm_gateway_gemini_provider;


#endif /* _NGX_LLM_GATEWAY_MODULE_H_INCLUDED_ */

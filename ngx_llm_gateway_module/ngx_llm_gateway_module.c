
/*
 * ngx_llm_gateway: directives, configuration and module hooks only.
 * The work is done in the files named after each concern.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


static ngx_int_t ngx_llm_gateway_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_llm_gateway_postconfiguration(ngx_conf_t *cf);
static char *ngx_llm_gateway_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_llm_gateway_create_main_conf(ngx_conf_t *cf);
static void *ngx_llm_gateway_create_loc_conf(ngx_conf_t *cf);
static char *ngx_llm_gateway_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void ngx_llm_gateway_exit_process(ngx_cycle_t *cycle);

static char *ngx_llm_gateway(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_llm_gateway_provider(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_llm_gateway_model(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_llm_gateway_auth_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_llm_gateway_cors(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_llm_gateway_admin_auth_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_llm_gateway_image_fetch(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_llm_gateway_gemini_safety(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_llm_gateway_model_tools(ngx_conf_t *cf,
    ngx_str_t *value, ngx_llm_gateway_model_t *m);
static char *ngx_llm_gateway_safety_value(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *out);


static ngx_command_t  ngx_llm_gateway_commands[] = {

    { ngx_string("llm_gateway_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_llm_gateway_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_gateway_provider"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_llm_gateway_provider,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_gateway_model"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_llm_gateway_model,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_gateway_default_model"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_llm_gateway_main_conf_t, default_model),
      NULL },

    { ngx_string("llm_gateway_gemini_safety"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_llm_gateway_gemini_safety,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_llm_gateway_main_conf_t, gemini_safety),
      NULL },

    { ngx_string("llm_gateway_gemini_grounding_links"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_llm_gateway_main_conf_t, gemini_links),
      NULL },

    { ngx_string("llm_gateway"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_llm_gateway,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_gateway_gemini_native"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_llm_gateway_gemini_native,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_gateway_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_llm_gateway_auth_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_gateway_admin_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_llm_gateway_admin_auth_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_gateway_keys_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_llm_gateway_keys_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_gateway_cors"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_llm_gateway_cors,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_gateway_image_fetch"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_llm_gateway_image_fetch,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llm_gateway_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_llm_gateway_loc_conf_t, buffer_size),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_llm_gateway_module_ctx = {
    ngx_llm_gateway_preconfiguration,      /* preconfiguration */
    ngx_llm_gateway_postconfiguration,     /* postconfiguration */

    ngx_llm_gateway_create_main_conf,      /* create main configuration */
    ngx_llm_gateway_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_llm_gateway_create_loc_conf,       /* create location configuration */
    ngx_llm_gateway_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_llm_gateway_module = {
    NGX_MODULE_V1,
    &ngx_llm_gateway_module_ctx,           /* module context */
    ngx_llm_gateway_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_llm_gateway_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_llm_gateway_preconfiguration(ngx_conf_t *cf)
{
    return ngx_llm_gateway_add_variables(cf);
}


static ngx_int_t
ngx_llm_gateway_postconfiguration(ngx_conf_t *cf)
{
    ngx_llm_gateway_main_conf_t  *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_llm_gateway_module);

    /* key states: the zone's, when it is set up; each worker's without */

    if (gmcf->shm_zone == NULL
        && ngx_llm_gateway_pool_attach(cf->log, gmcf, NULL, NULL, cf->pool)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (gmcf->default_model.len
        && ngx_llm_gateway_route_name(gmcf, &gmcf->default_model) == NULL)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "llm_gateway_default_model \"%V\" matches no "
                      "llm_gateway_model", &gmcf->default_model);
        return NGX_ERROR;
    }

    return ngx_llm_gateway_filter_init(cf);
}


static void *
ngx_llm_gateway_create_main_conf(ngx_conf_t *cf)
{
    ngx_llm_gateway_main_conf_t  *gmcf;

    gmcf = ngx_pcalloc(cf->pool, sizeof(ngx_llm_gateway_main_conf_t));
    if (gmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     gmcf->default_model = { 0, NULL };
     *     gmcf->shm_zone = NULL;
     */

    gmcf->created = ngx_time();
    gmcf->gemini_links = NGX_CONF_UNSET;

    if (ngx_array_init(&gmcf->providers, cf->pool, 4,
                       sizeof(ngx_llm_gateway_provider_conf_t *))
        != NGX_OK
        || ngx_array_init(&gmcf->models, cf->pool, 8,
                          sizeof(ngx_llm_gateway_model_t))
           != NGX_OK
        || ngx_array_init(&gmcf->regexes, cf->pool, 4,
                          sizeof(ngx_llm_gateway_model_t))
           != NGX_OK)
    {
        return NULL;
    }

    return gmcf;
}


static char *
ngx_llm_gateway_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_llm_gateway_main_conf_t *gmcf = conf;

    ngx_conf_init_value(gmcf->gemini_links, 1);

    return NGX_CONF_OK;
}


static void *
ngx_llm_gateway_create_loc_conf(ngx_conf_t *cf)
{
    ngx_llm_gateway_loc_conf_t  *glcf;

    glcf = ngx_pcalloc(cf->pool, sizeof(ngx_llm_gateway_loc_conf_t));
    if (glcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     glcf->tokens = NULL;
     *     glcf->cors = NULL;
     *     glcf->auth_set = 0;
     *     glcf->fetch = { 0, NULL };
     */

    glcf->enable = NGX_CONF_UNSET;
    glcf->buffer_size = NGX_CONF_UNSET_SIZE;
    glcf->cors = NGX_CONF_UNSET_PTR;

    return glcf;
}


static char *
ngx_llm_gateway_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_llm_gateway_loc_conf_t *prev = parent;
    ngx_llm_gateway_loc_conf_t *conf = child;

    /* like proxy_pass, the handler is not inherited by nested locations */

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable = 0;
    }
    ngx_conf_merge_size_value(conf->buffer_size, prev->buffer_size,
                              4 * 1024 * 1024);
    ngx_conf_merge_ptr_value(conf->cors, prev->cors, NULL);

    if (!conf->auth_set) {
        conf->tokens = prev->tokens;
        conf->auth_set = prev->auth_set;
    }

    if (!conf->admin_set) {
        conf->admin_tokens = prev->admin_tokens;
        conf->admin_set = prev->admin_set;
    }

    if (conf->fetch.data == NULL) {
        conf->fetch = prev->fetch;
        conf->fetch_max_size = prev->fetch_max_size;
        conf->fetch_max_images = prev->fetch_max_images;
    }

    if (conf->fetch.data == NULL) {
        ngx_str_set(&conf->fetch, "");
    }

    return NGX_CONF_OK;
}


static void
ngx_llm_gateway_exit_process(ngx_cycle_t *cycle)
{
    ngx_llm_gateway_models_cleanup(cycle);
}


static char *
ngx_llm_gateway(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_llm_gateway_loc_conf_t *glcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (glcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    glcf->enable = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_llm_gateway_handler;

    return NGX_CONF_OK;
}


/*
 * llm_gateway_provider name type=hf_router pass=/_llm/hf
 *                      [keys=file] [key=secret ...] [models=on|off]
 *                      [models_ttl=time] [cooldown=time] [max_fails=n]
 *                      [fail_timeout=time] [attempts=n]
 *                      [attempts_timeout=time];
 */

static char *
ngx_llm_gateway_provider(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_llm_gateway_main_conf_t *gmcf = conf;

    ngx_int_t                          n;
    ngx_str_t                         *value, s;
    ngx_uint_t                         i;
    ngx_llm_gateway_provider_conf_t   *pcf, **pcfp;

    value = cf->args->elts;

    pcfp = gmcf->providers.elts;

    for (i = 0; i < gmcf->providers.nelts; i++) {
        if (pcfp[i]->name.len == value[1].len
            && ngx_strncmp(pcfp[i]->name.data, value[1].data,
                           value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate provider \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    pcf = ngx_pcalloc(cf->pool, sizeof(ngx_llm_gateway_provider_conf_t));
    if (pcf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&pcf->keys, cf->pool, 4,
                       sizeof(ngx_llm_gateway_key_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    pcf->name = value[1];
    pcf->models_ttl = NGX_CONF_UNSET_MSEC;
    pcf->list_models = NGX_CONF_UNSET;
    pcf->cooldown = NGX_CONF_UNSET_MSEC;
    pcf->fail_timeout = NGX_CONF_UNSET_MSEC;
    pcf->attempts_timeout = NGX_CONF_UNSET_MSEC;
    pcf->recheck = NGX_CONF_UNSET_MSEC;
    pcf->max_fails = NGX_CONF_UNSET_UINT;
    pcf->attempts = NGX_CONF_UNSET_UINT;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "type=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            pcf->type = ngx_llm_gateway_provider_find(&s);
            if (pcf->type == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unknown provider type \"%V\"", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "pass=", 5) == 0) {
            pcf->pass.data = value[i].data + 5;
            pcf->pass.len = value[i].len - 5;

            if (pcf->pass.len == 0 || pcf->pass.data[0] != '/') {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"pass\" must be a location URI "
                                   "starting with \"/\" in \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            /* the upstream path is appended: "/_llm/hf/" == "/_llm/hf" */

            if (pcf->pass.data[pcf->pass.len - 1] == '/') {
                pcf->pass.len--;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "keys=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (ngx_llm_gateway_keys_load(cf, pcf, &s) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            /* an empty key= keeps rendered configs valid without a key */

            if (s.len && ngx_llm_gateway_key_add(cf, pcf, &s, NULL) != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "models=", 7) == 0) {
            if (ngx_strcmp(value[i].data + 7, "on") == 0) {
                pcf->list_models = 1;

            } else if (ngx_strcmp(value[i].data + 7, "off") == 0) {
                pcf->list_models = 0;

            } else {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "cooldown=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            pcf->cooldown = ngx_parse_time(&s, 0);
            if (pcf->cooldown == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "fail_timeout=", 13) == 0) {
            s.data = value[i].data + 13;
            s.len = value[i].len - 13;

            pcf->fail_timeout = ngx_parse_time(&s, 0);
            if (pcf->fail_timeout == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "recheck=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            pcf->recheck = ngx_parse_time(&s, 0);
            if (pcf->recheck == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "attempts_timeout=", 17) == 0) {
            s.data = value[i].data + 17;
            s.len = value[i].len - 17;

            pcf->attempts_timeout = ngx_parse_time(&s, 0);
            if (pcf->attempts_timeout == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_fails=", 10) == 0) {
            n = ngx_atoi(value[i].data + 10, value[i].len - 10);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            pcf->max_fails = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_inflight=", 13) == 0) {
            n = ngx_atoi(value[i].data + 13, value[i].len - 13);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            pcf->max_inflight = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "attempts=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);
            if (n == NGX_ERROR || n == 0
                || n > NGX_LLM_GATEWAY_MAX_ATTEMPTS)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"attempts\" must be 1 to %d in \"%V\"",
                                   NGX_LLM_GATEWAY_MAX_ATTEMPTS, &value[i]);
                return NGX_CONF_ERROR;
            }

            pcf->attempts = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "models_ttl=", 11) == 0) {
            s.data = value[i].data + 11;
            s.len = value[i].len - 11;

            pcf->models_ttl = ngx_parse_time(&s, 0);
            if (pcf->models_ttl == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (pcf->type == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\" must have \"type\" parameter",
                           &pcf->name);
        return NGX_CONF_ERROR;
    }

    if (pcf->pass.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\" must have \"pass\" parameter",
                           &pcf->name);
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_msec_value(pcf->models_ttl, 300000);
    ngx_conf_init_value(pcf->list_models, 1);
    ngx_conf_init_msec_value(pcf->cooldown, 60000);
    ngx_conf_init_msec_value(pcf->fail_timeout, 30000);
    ngx_conf_init_msec_value(pcf->attempts_timeout, 60000);
    ngx_conf_init_msec_value(pcf->recheck, 0);
    ngx_conf_init_uint_value(pcf->max_fails, 3);
    ngx_conf_init_uint_value(pcf->attempts, 3);

    if (ngx_llm_gateway_pool_slots(cf, pcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    pcfp = ngx_array_push(&gmcf->providers);
    if (pcfp == NULL) {
        return NGX_CONF_ERROR;
    }

    *pcfp = pcf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* llm_gateway_model name|~regex provider [upstream=name]; */

static char *
ngx_llm_gateway_model(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_llm_gateway_main_conf_t *gmcf = conf;

    ngx_str_t                         *value, s;
    ngx_uint_t                         i;
    ngx_llm_gateway_model_t           *m;
    ngx_llm_gateway_provider_conf_t  **pcfp, *pcf;
#if (NGX_PCRE)
    ngx_regex_compile_t                rc;
    u_char                             errstr[NGX_MAX_CONF_ERRSTR];
#endif

    value = cf->args->elts;

    pcf = NULL;
    pcfp = gmcf->providers.elts;

    for (i = 0; i < gmcf->providers.nelts; i++) {
        if (pcfp[i]->name.len == value[2].len
            && ngx_strncmp(pcfp[i]->name.data, value[2].data,
                           value[2].len) == 0)
        {
            pcf = pcfp[i];
            break;
        }
    }

    if (pcf == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown provider \"%V\" (\"llm_gateway_provider\" "
                           "must come first)", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (value[1].len > 1 && value[1].data[0] == '~') {
#if (NGX_PCRE)
        m = ngx_array_push(&gmcf->regexes);
        if (m == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(m, sizeof(ngx_llm_gateway_model_t));

        ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

        rc.pattern.data = value[1].data + 1;
        rc.pattern.len = value[1].len - 1;

        if (rc.pattern.len > 1 && rc.pattern.data[0] == '*') {
            rc.pattern.data++;
            rc.pattern.len--;
            rc.options = NGX_REGEX_CASELESS;
        }

        rc.pool = cf->pool;
        rc.err.len = NGX_MAX_CONF_ERRSTR;
        rc.err.data = errstr;

        if (ngx_regex_compile(&rc) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V", &rc.err);
            return NGX_CONF_ERROR;
        }

        m->regex = rc.regex;
        m->is_regex = 1;
#else
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "using regex \"%V\" requires PCRE library",
                           &value[1]);
        return NGX_CONF_ERROR;
#endif

    } else {
        m = gmcf->models.elts;

        for (i = 0; i < gmcf->models.nelts; i++) {
            if (m[i].name.len == value[1].len
                && ngx_strncmp(m[i].name.data, value[1].data,
                               value[1].len) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate model \"%V\"", &value[1]);
                return NGX_CONF_ERROR;
            }
        }

        m = ngx_array_push(&gmcf->models);
        if (m == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(m, sizeof(ngx_llm_gateway_model_t));
    }

    m->name = value[1];
    m->provider = pcf;
    m->links = NGX_CONF_UNSET;

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "upstream=", 9) == 0
            && value[i].len > 9)
        {
            m->upstream.data = value[i].data + 9;
            m->upstream.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "safety=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            if (ngx_llm_gateway_safety_value(cf, &s, &m->safety)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "tools=", 6) == 0) {
            if (ngx_llm_gateway_model_tools(cf, &value[i], m) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "reasoning=budgets") == 0) {
            m->reasoning = NGX_LLM_GATEWAY_REASONING_BUDGETS;
            continue;
        }

        if (ngx_strcmp(value[i].data, "reasoning=levels") == 0) {
            m->reasoning = NGX_LLM_GATEWAY_REASONING_LEVELS;
            continue;
        }

        if (ngx_strncmp(value[i].data, "reasoning_default=", 18) == 0
            && value[i].len > 18)
        {
            m->reasoning_default.data = value[i].data + 18;
            m->reasoning_default.len = value[i].len - 18;
            continue;
        }

        if (ngx_strcmp(value[i].data, "links=on") == 0) {
            m->links = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "links=off") == 0) {
            m->links = 0;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* llm_gateway_auth off | [tokens=file] [token=secret ...]; */

static char *
ngx_llm_gateway_auth_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_llm_gateway_loc_conf_t *glcf = conf;

    if (glcf->auth_set) {
        return "is duplicate";
    }

    glcf->auth_set = 1;

    return ngx_llm_gateway_tokens_conf(cf, &glcf->tokens, "llm_gateway_auth");
}


/* llm_gateway_admin_auth off | [token=secret ...] [tokens=file ...]; */

static char *
ngx_llm_gateway_admin_auth_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_llm_gateway_loc_conf_t *glcf = conf;

    if (glcf->admin_set) {
        return "is duplicate";
    }

    glcf->admin_set = 1;

    return ngx_llm_gateway_tokens_conf(cf, &glcf->admin_tokens,
                                       "llm_gateway_admin_auth");
}


/*
 * "off", or token=secret and tokens=file parameters: the digests of the
 * tokens (only digests are kept, compared in constant time).
 */

char *
ngx_llm_gateway_tokens_conf(ngx_conf_t *cf, ngx_array_t **tokens,
    const char *directive)
{
    u_char      *digest;
    ngx_str_t   *value, s;
    ngx_uint_t   i, j;
    ngx_array_t  secrets;

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        *tokens = NULL;
        return NGX_CONF_OK;
    }

    *tokens = ngx_array_create(cf->pool, 4, NGX_LLM_GATEWAY_DIGEST_LEN);
    if (*tokens == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&secrets, cf->temp_pool, 4, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "tokens=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            if (ngx_llm_gateway_read_secrets(cf, &s, &secrets, NULL)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "token=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            if (s.len == 0) {
                continue;
            }

            if (ngx_array_push(&secrets) == NULL) {
                return NGX_CONF_ERROR;
            }

            ((ngx_str_t *) secrets.elts)[secrets.nelts - 1] = s;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    for (j = 0; j < secrets.nelts; j++) {
        digest = ngx_array_push(*tokens);
        if (digest == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_llm_gateway_digest(&((ngx_str_t *) secrets.elts)[j], digest);
    }

    if ((*tokens)->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%s\" has no tokens: every request will be "
                           "refused", directive);
    }

    return NGX_CONF_OK;
}


/* llm_gateway_cors off | * | origin ...; */

static char *
ngx_llm_gateway_cors(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_llm_gateway_loc_conf_t *glcf = conf;

    ngx_str_t   *value, *origin;
    ngx_uint_t   i;

    if (glcf->cors != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        glcf->cors = NULL;
        return NGX_CONF_OK;
    }

    glcf->cors = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                  sizeof(ngx_str_t));
    if (glcf->cors == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        origin = ngx_array_push(glcf->cors);
        if (origin == NULL) {
            return NGX_CONF_ERROR;
        }

        *origin = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * llm_gateway_image_fetch off | uri [max_size=size] [max_images=number];
 * the uri names an internal location that does
 * proxy_pass $llm_gateway_fetch_url.
 */

static char *
ngx_llm_gateway_image_fetch(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_llm_gateway_loc_conf_t *glcf = conf;

    ssize_t     size;
    ngx_int_t   n;
    ngx_str_t  *value, s;
    ngx_uint_t  i;

    if (glcf->fetch.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            return "takes no parameters after \"off\"";
        }

        ngx_str_set(&glcf->fetch, "");
        return NGX_CONF_OK;
    }

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a location URI: it must start "
                           "with \"/\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    glcf->fetch = value[1];
    glcf->fetch_max_size = 5 * 1024 * 1024;
    glcf->fetch_max_images = 8;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_size=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || size == 0) {
                goto invalid;
            }

            glcf->fetch_max_size = size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_images=", 11) == 0) {
            n = ngx_atoi(value[i].data + 11, value[i].len - 11);

            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            glcf->fetch_max_images = n;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/* tools=code_execution,google_search,url_context */

static ngx_int_t
ngx_llm_gateway_model_tools(ngx_conf_t *cf, ngx_str_t *value,
    ngx_llm_gateway_model_t *m)
{
    u_char     *p, *last, *comma;
    ngx_str_t   t;

    p = value->data + 6;
    last = value->data + value->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        t.data = p;
        t.len = comma - p;

        if (t.len == 14 && ngx_strncmp(t.data, "code_execution", 14) == 0) {
            m->tools |= NGX_LLM_GATEWAY_TOOL_CODE;

        } else if (t.len == 13
                   && ngx_strncmp(t.data, "google_search", 13) == 0)
        {
            m->tools |= NGX_LLM_GATEWAY_TOOL_SEARCH;

        } else if (t.len == 11
                   && ngx_strncmp(t.data, "url_context", 11) == 0)
        {
            m->tools |= NGX_LLM_GATEWAY_TOOL_URL;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown tool \"%V\"", &t);
            return NGX_ERROR;
        }

        p = comma + 1;
    }

    return NGX_OK;
}


/* llm_gateway_gemini_safety off | block_none | ... | default; */

static char *
ngx_llm_gateway_gemini_safety(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_llm_gateway_main_conf_t *gmcf = conf;

    ngx_str_t  *value;

    if (gmcf->gemini_safety.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_llm_gateway_safety_value(cf, &value[1], &gmcf->gemini_safety);
}


/*
 * Google's threshold names, written the nginx way: "off" turns the
 * filters off entirely, "default" leaves Google's defaults.
 */

static char *
ngx_llm_gateway_safety_value(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *out)
{
    static const char  *thresholds[][2] = {
        { "off", "OFF" },
        { "block_none", "BLOCK_NONE" },
        { "block_only_high", "BLOCK_ONLY_HIGH" },
        { "block_medium_and_above", "BLOCK_MEDIUM_AND_ABOVE" },
        { "block_low_and_above", "BLOCK_LOW_AND_ABOVE" },
        { "default", "" },
        { NULL, NULL }
    };

    ngx_uint_t  i;

    for (i = 0; thresholds[i][0]; i++) {
        if (ngx_strlen(thresholds[i][0]) == value->len
            && ngx_strncasecmp((u_char *) thresholds[i][0], value->data,
                               value->len) == 0)
        {
            out->data = (u_char *) thresholds[i][1];
            out->len = ngx_strlen(thresholds[i][1]);
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid safety threshold \"%V\"", value);

    return NGX_CONF_ERROR;
}

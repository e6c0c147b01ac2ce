
/*
 * The shared memory zone: one per http{} block, holding what every
 * worker must agree on (key pool state, limits, statistics).  It is
 * laid out like limit_req's: a header in the slab pool, found again on
 * reload so the state survives "nginx -s reload".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


/* the zone header: fixed-size and pointer-free but for the slab pool */
typedef struct {
    ngx_uint_t                    version;
    time_t                        created;
    ngx_atomic_t                  reloads;

    /* key and provider states by digest: ngx_llm_gateway_key_state_t */
    ngx_rbtree_t                  keys;
    ngx_rbtree_node_t             sentinel;
} ngx_llm_gateway_shctx_t;


typedef struct {
    ngx_llm_gateway_shctx_t      *sh;
    ngx_slab_pool_t              *shpool;
    ngx_llm_gateway_main_conf_t  *gmcf;
} ngx_llm_gateway_zone_ctx_t;


#define NGX_LLM_GATEWAY_SHM_VERSION  3


static ngx_int_t ngx_llm_gateway_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


static ngx_int_t
ngx_llm_gateway_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_llm_gateway_zone_ctx_t  *octx = data;

    size_t                       len;
    ngx_llm_gateway_zone_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        if (octx->sh->version != NGX_LLM_GATEWAY_SHM_VERSION) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "llm_gateway zone \"%V\" has an incompatible "
                          "layout; restart nginx", &shm_zone->shm.name);
            return NGX_ERROR;
        }

        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        (void) ngx_atomic_fetch_add(&ctx->sh->reloads, 1);

        /* keys that stayed find their state; new keys get one */

        return ngx_llm_gateway_pool_attach(shm_zone->shm.log, ctx->gmcf,
                                           ctx->shpool, &ctx->sh->keys,
                                           NULL);
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;

        return ngx_llm_gateway_pool_attach(shm_zone->shm.log, ctx->gmcf,
                                           ctx->shpool, &ctx->sh->keys,
                                           NULL);
    }

    ctx->sh = ngx_slab_calloc(ctx->shpool, sizeof(ngx_llm_gateway_shctx_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ctx->sh->version = NGX_LLM_GATEWAY_SHM_VERSION;
    ctx->sh->created = ngx_time();

    ngx_rbtree_init(&ctx->sh->keys, &ctx->sh->sentinel,
                    ngx_llm_gateway_pool_insert);

    len = sizeof(" in llm_gateway zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in llm_gateway zone \"%V\"%Z",
                &shm_zone->shm.name);

    ctx->shpool->log_nomem = 0;

    return ngx_llm_gateway_pool_attach(shm_zone->shm.log, ctx->gmcf,
                                       ctx->shpool, &ctx->sh->keys, NULL);
}


/* llm_gateway_zone zone=name:size; */

char *
ngx_llm_gateway_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_llm_gateway_main_conf_t *gmcf = conf;

    u_char                      *p;
    ssize_t                      size;
    ngx_str_t                   *value, name, s;
    ngx_llm_gateway_zone_ctx_t  *ctx;

    if (gmcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 5;

    p = (u_char *) ngx_strchr(name.data, ':');

    if (p == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.len = p - name.data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_llm_gateway_zone_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    ctx->gmcf = gmcf;

    gmcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_llm_gateway_module);
    if (gmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (gmcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    gmcf->shm_zone->init = ngx_llm_gateway_init_zone;
    gmcf->shm_zone->data = ctx;

    return NGX_CONF_OK;
}

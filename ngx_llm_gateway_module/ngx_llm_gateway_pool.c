
/*
 * Key pools: which upstream key a request gets, and what an upstream's
 * answer says about that key.
 *
 * Every worker reads and writes the same state, kept in the shared zone
 * (llm_gateway_zone) and found again by digest after a reload, so a key
 * that hit its quota in one worker cools down in all of them.  Counters
 * are atomics; cooldowns and failures change under the zone's mutex.
 * Without a zone each worker keeps its own state.
 *
 * Outcomes:
 *   429                       the key cools down until the upstream's
 *                             retry hint, or for "cooldown"; each 429 in
 *                             a row doubles it (up to an hour)
 *   401, 402, 403             the key is disabled, with the reason
 *   5xx, no answer, timeout   a failure; "max_fails" of them within
 *                             "fail_timeout" cool the key for
 *                             "fail_timeout"
 *   2xx                       failures and 429s in a row are forgotten
 *
 * Times are nginx's monotonic milliseconds, the same clock in every
 * worker, and unaffected by changes of the wall clock.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


#define NGX_LLM_GATEWAY_COOL_MAX  (3600 * 1000)


static ngx_llm_gateway_key_state_t *ngx_llm_gateway_pool_state(
    ngx_slab_pool_t *shpool, ngx_rbtree_t *tree, ngx_pool_t *pool,
    u_char *digest);
static void ngx_llm_gateway_pool_error(ngx_llm_gateway_key_state_t *st,
    ngx_uint_t status, ngx_str_t *reason);
static void ngx_llm_gateway_pool_lock(void);
static void ngx_llm_gateway_pool_unlock(void);
static void ngx_llm_gateway_key_release(void *data);
static ngx_uint_t ngx_llm_gateway_key_tried(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_key_t *key);
static ngx_uint_t ngx_llm_gateway_key_recheck(
    ngx_llm_gateway_provider_conf_t *pcf, ngx_llm_gateway_key_state_t *st);
static void ngx_llm_gateway_pool_none(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_provider_conf_t *pcf, ngx_llm_gateway_error_t *err);


/* the zone's slab pool, for its mutex: NULL without a zone */
static ngx_slab_pool_t  *ngx_llm_gateway_shpool;

static ngx_str_t  ngx_llm_gateway_empty = ngx_null_string;


/*
 * Gives every key and provider its state: from the zone (found by
 * digest, or new), or from the configuration pool without a zone.
 * Called once per configuration, before the workers start.
 */

ngx_int_t
ngx_llm_gateway_pool_attach(ngx_log_t *log, ngx_llm_gateway_main_conf_t *gmcf,
    ngx_slab_pool_t *shpool, ngx_rbtree_t *tree, ngx_pool_t *pool)
{
    u_char                            digest[NGX_LLM_GATEWAY_DIGEST_LEN];
    ngx_str_t                         name;
    ngx_uint_t                        i, j, cooling, disabled;
    ngx_llm_gateway_key_t            *key;
    ngx_llm_gateway_provider_conf_t **pcfp, *pcf;

    ngx_llm_gateway_shpool = shpool;

    pcfp = gmcf->providers.elts;

    for (i = 0; i < gmcf->providers.nelts; i++) {
        pcf = pcfp[i];

        /* the provider's turn: a state under a digest no key can have */

        name.len = sizeof("provider:") - 1 + pcf->name.len;
        name.data = ngx_alloc(name.len, log);
        if (name.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_cpymem(name.data, "provider:", 9), pcf->name.data,
                   pcf->name.len);

        ngx_llm_gateway_digest(&name, digest);

        ngx_free(name.data);

        pcf->state = ngx_llm_gateway_pool_state(shpool, tree, pool, digest);
        if (pcf->state == NULL) {
            return NGX_ERROR;
        }

        key = pcf->keys.elts;
        cooling = 0;
        disabled = 0;

        for (j = 0; j < pcf->keys.nelts; j++) {
            key[j].state = ngx_llm_gateway_pool_state(shpool, tree, pool,
                                                      key[j].digest);
            if (key[j].state == NULL) {
                return NGX_ERROR;
            }

            if (key[j].state->disabled) {
                disabled++;

            } else if ((ngx_msec_int_t) (key[j].state->cool_until
                                         - ngx_current_msec) > 0)
            {
                cooling++;
            }
        }

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "llm gateway: provider \"%V\" (%V): %ui key%s, "
                      "%ui active, %ui cooling, %ui disabled",
                      &pcf->name, &pcf->type->name, pcf->keys.nelts,
                      pcf->keys.nelts == 1 ? "" : "s",
                      pcf->keys.nelts - cooling - disabled, cooling,
                      disabled);

        for (j = 0; j < pcf->keys.nelts; j++) {
            if (key[j].state->disabled) {
                ngx_log_error(NGX_LOG_NOTICE, log, 0,
                              "llm gateway: provider \"%V\" key \"%V\" "
                              "(%*s) is disabled: %*s", &pcf->name,
                              &key[j].masked,
                              (size_t) NGX_LLM_GATEWAY_KEY_ID_LEN, key[j].id,
                              key[j].state->error_len, key[j].state->error);
            }
        }
    }

    return NGX_OK;
}


static ngx_llm_gateway_key_state_t *
ngx_llm_gateway_pool_state(ngx_slab_pool_t *shpool, ngx_rbtree_t *tree,
    ngx_pool_t *pool, u_char *digest)
{
    uint32_t                      hash;
    ngx_int_t                     rc;
    ngx_rbtree_node_t            *node, *sentinel;
    ngx_llm_gateway_key_state_t  *st;

    if (shpool == NULL) {
        st = ngx_pcalloc(pool, sizeof(ngx_llm_gateway_key_state_t));
        if (st) {
            ngx_memcpy(st->digest, digest, NGX_LLM_GATEWAY_DIGEST_LEN);
        }

        return st;
    }

    ngx_memcpy(&hash, digest, sizeof(uint32_t));

    node = tree->root;
    sentinel = tree->sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        st = (ngx_llm_gateway_key_state_t *) node;

        rc = ngx_memcmp(digest, st->digest, NGX_LLM_GATEWAY_DIGEST_LEN);

        if (rc == 0) {
            return st;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    /* states stay: a worker of the previous configuration may use them */

    st = ngx_slab_calloc(shpool, sizeof(ngx_llm_gateway_key_state_t));
    if (st == NULL) {
        return NULL;
    }

    ngx_memcpy(st->digest, digest, NGX_LLM_GATEWAY_DIGEST_LEN);
    st->node.key = hash;

    ngx_rbtree_insert(tree, &st->node);

    return st;
}


/* nodes with the same hash go by the whole digest */

void
ngx_llm_gateway_pool_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (ngx_memcmp(((ngx_llm_gateway_key_state_t *) node)->digest,
                            ((ngx_llm_gateway_key_state_t *) temp)->digest,
                            NGX_LLM_GATEWAY_DIGEST_LEN) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * The next usable key, round robin over the provider's keys as all
 * workers take their turns, skipping cooling and disabled keys and those
 * this request already tried.  None: err says why (429 with the soonest
 * cooldown end as Retry-After, or 503).
 */

ngx_llm_gateway_key_t *
ngx_llm_gateway_key_pick(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_provider_conf_t *pcf, ngx_llm_gateway_error_t *err)
{
    ngx_uint_t                     i, n, start, *slot;
    ngx_pool_cleanup_t            *cln;
    ngx_llm_gateway_key_t         *key, *k;
    ngx_llm_gateway_key_state_t   *st;

    n = pcf->slots.nelts;

    if (n == 0) {
        if (err) {
            ngx_llm_gateway_error_set(err, NGX_HTTP_SERVICE_UNAVAILABLE,
                "No upstream API key is configured for this model's "
                "provider. Add one to the gateway's configuration.",
                "service_unavailable_error", NULL, "no_upstream_key");
        }

        return NULL;
    }

    key = pcf->keys.elts;
    slot = pcf->slots.elts;
    start = ngx_atomic_fetch_add(&pcf->state->rr, 1);

    /* the slots: each key as many times as its weight, interleaved */

    for (i = 0; i < n; i++) {
        k = &key[slot[(start + i) % n]];
        st = k->state;

        if ((st->disabled && !ngx_llm_gateway_key_recheck(pcf, st))
            || (ngx_msec_int_t) (st->cool_until - ngx_current_msec) > 0
            || (pcf->max_inflight && st->in_flight >= pcf->max_inflight)
            || ngx_llm_gateway_key_tried(ctx, k))
        {
            continue;
        }

        /* the key is this request's until its answer, or the request's end */

        cln = ngx_pool_cleanup_add(ctx->pool, 0);
        if (cln == NULL) {
            return NULL;
        }

        cln->handler = ngx_llm_gateway_key_release;
        cln->data = st;

        (void) ngx_atomic_fetch_add(&st->in_flight, 1);
        (void) ngx_atomic_fetch_add(&st->requests, 1);

        ctx->key_hold = cln;

        for (i = 0; i < NGX_LLM_GATEWAY_MAX_ATTEMPTS; i++) {
            if (ctx->tried[i] == NULL) {
                ctx->tried[i] = k;
                break;
            }
        }

        return k;
    }

    if (err) {
        ngx_llm_gateway_pool_none(ctx, pcf, err);
    }

    return NULL;
}


/*
 * A disabled key may be tried again every "recheck": one request of all
 * workers takes it then, and its answer enables it or not.
 */

static ngx_uint_t
ngx_llm_gateway_key_recheck(ngx_llm_gateway_provider_conf_t *pcf,
    ngx_llm_gateway_key_state_t *st)
{
    ngx_uint_t  due;

    if (pcf->recheck == 0
        || (ngx_msec_int_t) (ngx_current_msec - st->recheck_at) < 0)
    {
        return 0;
    }

    ngx_llm_gateway_pool_lock();

    due = st->disabled
          && (ngx_msec_int_t) (ngx_current_msec - st->recheck_at) >= 0;

    if (due) {
        st->recheck_at = ngx_current_msec + pcf->recheck;
    }

    ngx_llm_gateway_pool_unlock();

    return due;
}


static ngx_uint_t
ngx_llm_gateway_key_tried(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_key_t *key)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_LLM_GATEWAY_MAX_ATTEMPTS && ctx->tried[i]; i++) {
        if (ctx->tried[i] == key) {
            return 1;
        }
    }

    return 0;
}


/*
 * Why no key could be used: every key resting (429 with the soonest end
 * as Retry-After), busy (429, a second), disabled (503), or tried already.
 */

static void
ngx_llm_gateway_pool_none(ngx_llm_gateway_ctx_t *ctx,
    ngx_llm_gateway_provider_conf_t *pcf, ngx_llm_gateway_error_t *err)
{
    u_char                        *p;
    ngx_uint_t                     i, n, cooling, disabled, busy, tried;
    ngx_msec_t                     soonest;
    ngx_msec_int_t                 left;
    ngx_llm_gateway_key_t         *key;
    ngx_llm_gateway_key_state_t   *st;

    key = pcf->keys.elts;
    n = pcf->keys.nelts;

    cooling = 0;
    disabled = 0;
    busy = 0;
    tried = 0;
    soonest = 0;

    for (i = 0; i < n; i++) {
        st = key[i].state;
        left = (ngx_msec_int_t) (st->cool_until - ngx_current_msec);

        if (ngx_llm_gateway_key_tried(ctx, &key[i])) {
            tried++;

        } else if (st->disabled) {
            disabled++;

        } else if (left > 0) {
            if (cooling++ == 0 || (ngx_msec_t) left < soonest) {
                soonest = left;
            }

        } else {
            busy++;
        }
    }

    if (cooling || busy) {
        ngx_llm_gateway_error_set(err, 429, "", "rate_limit_error", NULL,
                                  cooling ? "upstream_keys_cooling"
                                          : "upstream_keys_busy");

        err->retry_after = cooling ? (soonest + 999) / 1000 : 1;

        err->message.data = ngx_pnalloc(ctx->pool, 256 + pcf->name.len);
        if (err->message.data == NULL) {
            err->status = 0;
            return;
        }

        if (cooling) {
            p = ngx_sprintf(err->message.data,
                            "Every upstream key of provider \"%V\" is cooling "
                            "down after rate limits (%ui cooling, %ui "
                            "disabled%s); retry in %T s.", &pcf->name,
                            cooling, disabled,
                            tried ? ", the others failed" : "",
                            err->retry_after);

        } else {
            p = ngx_sprintf(err->message.data,
                            "Every upstream key of provider \"%V\" has "
                            "%ui requests in flight; retry in a second.",
                            &pcf->name, pcf->max_inflight);
        }

        err->message.len = p - err->message.data;

        return;
    }

    if (disabled == n) {
        ngx_llm_gateway_error_set(err, NGX_HTTP_SERVICE_UNAVAILABLE, "",
                                  "service_unavailable_error", NULL,
                                  "upstream_keys_disabled");

        err->message.data = ngx_pnalloc(ctx->pool, 160 + pcf->name.len);
        if (err->message.data == NULL) {
            err->status = 0;
            return;
        }

        p = ngx_sprintf(err->message.data,
                        "Every upstream key of provider \"%V\" is disabled "
                        "(rejected by the provider as invalid or without "
                        "credit).", &pcf->name);

        err->message.len = p - err->message.data;

        return;
    }

    /* the keys left were tried by this request: the last answer stands */

    ngx_llm_gateway_error_set(err, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "No other upstream key is left to try.",
                              "service_unavailable_error", NULL,
                              "upstream_keys_exhausted");
}


/*
 * The slots of the round robin: each key as many times as its weight,
 * interleaved (weights 3 and 1 give a a b a ... rather than a a a b), so
 * that a heavy key's turns are spread.  Built once per configuration.
 */

ngx_int_t
ngx_llm_gateway_pool_slots(ngx_conf_t *cf,
    ngx_llm_gateway_provider_conf_t *pcf)
{
    ngx_uint_t              i, round, max, *slot;
    ngx_llm_gateway_key_t  *key;

    key = pcf->keys.elts;
    max = 0;

    for (i = 0; i < pcf->keys.nelts; i++) {
        max = ngx_max(max, key[i].weight);
    }

    if (ngx_array_init(&pcf->slots, cf->pool, pcf->keys.nelts + 1,
                       sizeof(ngx_uint_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (round = 0; round < max; round++) {
        for (i = 0; i < pcf->keys.nelts; i++) {
            if (key[i].weight <= round) {
                continue;
            }

            slot = ngx_array_push(&pcf->slots);
            if (slot == NULL) {
                return NGX_ERROR;
            }

            *slot = i;
        }
    }

    return NGX_OK;
}


static void
ngx_llm_gateway_key_release(void *data)
{
    ngx_llm_gateway_key_state_t *st = data;

    (void) ngx_atomic_fetch_add(&st->in_flight, -1);
}


/*
 * What the upstream's answer to the current key says about it; status
 * is the answer's HTTP status as the client would get it (0: no answer).
 */

void
ngx_llm_gateway_key_outcome(ngx_llm_gateway_ctx_t *ctx, ngx_uint_t status,
    time_t retry_after, ngx_str_t *reason)
{
    ngx_msec_t                        ms;
    ngx_uint_t                        i, group;
    ngx_llm_gateway_key_t            *key, *k;
    ngx_llm_gateway_key_state_t      *st;
    ngx_llm_gateway_provider_conf_t  *pcf;

    key = ctx->key;
    pcf = ctx->provider;

    if (key == NULL || key->state == NULL) {
        return;
    }

    st = key->state;

    /* the key's in-flight count ends with the answer */

    if (ctx->key_hold) {
        ctx->key_hold->handler(ctx->key_hold->data);
        ctx->key_hold->handler = NULL;
        ctx->key_hold = NULL;
    }

    if (status >= 200 && status < 300) {
        (void) ngx_atomic_fetch_add(&st->successes, 1);

        if (st->fails || st->cools || st->disabled) {
            ngx_llm_gateway_pool_lock();

            st->fails = 0;
            st->cools = 0;

            if (st->disabled) {

                /* a re-check that worked */

                st->disabled = 0;
                st->changed = ngx_time();

                ngx_log_error(NGX_LOG_NOTICE, ctx->log, 0,
                              "llm gateway: provider \"%V\" key \"%V\" "
                              "(%*s) works again: enabled", &pcf->name,
                              &key->masked,
                              (size_t) NGX_LLM_GATEWAY_KEY_ID_LEN, key->id);
            }

            ngx_llm_gateway_pool_unlock();
        }

        return;
    }

    if (status == 429) {
        ms = retry_after ? (ngx_msec_t) retry_after * 1000 : pcf->cooldown;

        ngx_llm_gateway_pool_lock();

        /* each 429 in a row doubles the wait */

        ms <<= ngx_min(st->cools, 10);
        ms = ngx_min(ms, NGX_LLM_GATEWAY_COOL_MAX);

        st->cools++;
        st->cool_until = ngx_current_msec + ms;
        st->changed = ngx_time();
        ngx_llm_gateway_pool_error(st, status, reason);

        /* quota is a project's: its other keys rest as long */

        group = 0;

        if (key->group.len) {
            k = pcf->keys.elts;

            for (i = 0; i < pcf->keys.nelts; i++) {
                if (&k[i] == key || k[i].group.len != key->group.len
                    || ngx_strncmp(k[i].group.data, key->group.data,
                                   key->group.len) != 0)
                {
                    continue;
                }

                if ((ngx_msec_int_t) (st->cool_until
                                      - k[i].state->cool_until) > 0)
                {
                    k[i].state->cool_until = st->cool_until;
                    k[i].state->changed = st->changed;
                    ngx_llm_gateway_pool_error(k[i].state, status, reason);
                }

                group++;
            }
        }

        ngx_llm_gateway_pool_unlock();

        ngx_log_error(NGX_LOG_WARN, ctx->log, 0,
                      "llm gateway: provider \"%V\" key \"%V\" (%*s) "
                      "cools down for %M ms after 429%s%V%s", &pcf->name,
                      &key->masked, (size_t) NGX_LLM_GATEWAY_KEY_ID_LEN,
                      key->id, ms, group ? ", with its group \"" : "",
                      group ? &key->group : &ngx_llm_gateway_empty,
                      group ? "\"" : "");
        return;
    }

    if (status == 401 || status == 402 || status == 403) {
        ngx_llm_gateway_pool_lock();

        st->disabled = 1;
        st->changed = ngx_time();
        st->recheck_at = ngx_current_msec + pcf->recheck;
        ngx_llm_gateway_pool_error(st, status, reason);

        ngx_llm_gateway_pool_unlock();

        ngx_log_error(NGX_LOG_WARN, ctx->log, 0,
                      "llm gateway: provider \"%V\" key \"%V\" (%*s) is "
                      "disabled: %ui %V", &pcf->name, &key->masked,
                      (size_t) NGX_LLM_GATEWAY_KEY_ID_LEN, key->id, status,
                      reason);
        return;
    }

    if (status != 0 && status < 500) {
        /* the request's own fault (400, 404, 413, ...): not the key's */
        return;
    }

    ngx_llm_gateway_pool_lock();

    if (st->fails == 0
        || (ngx_msec_int_t) (ngx_current_msec - st->fails_since)
           > (ngx_msec_int_t) pcf->fail_timeout)
    {
        st->fails = 0;
        st->fails_since = ngx_current_msec;
    }

    st->fails++;
    ngx_llm_gateway_pool_error(st, status, reason);

    if (pcf->max_fails && st->fails >= pcf->max_fails) {
        st->cool_until = ngx_current_msec + pcf->fail_timeout;
        st->changed = ngx_time();
        st->fails = 0;

        ngx_llm_gateway_pool_unlock();

        ngx_log_error(NGX_LOG_WARN, ctx->log, 0,
                      "llm gateway: provider \"%V\" key \"%V\" (%*s) "
                      "failed %ui times, cools down for %M ms",
                      &pcf->name, &key->masked,
                      (size_t) NGX_LLM_GATEWAY_KEY_ID_LEN, key->id,
                      pcf->max_fails, pcf->fail_timeout);
        return;
    }

    ngx_llm_gateway_pool_unlock();
}


/*
 * Whether the request may go on with another key after this answer:
 * only for what another key may do better (rate limits, a bad key, the
 * upstream failing), within the attempts and the time allowed.
 */

ngx_uint_t
ngx_llm_gateway_key_retry(ngx_llm_gateway_ctx_t *ctx, ngx_uint_t status)
{
    ngx_llm_gateway_provider_conf_t  *pcf;

    pcf = ctx->provider;

    if (status != 0 && status != 429 && status != 401 && status != 402
        && status != 403 && status < 500)
    {
        return 0;
    }

    if (ctx->attempts >= pcf->attempts
        || ctx->attempts >= NGX_LLM_GATEWAY_MAX_ATTEMPTS)
    {
        return 0;
    }

    if (pcf->attempts_timeout
        && ngx_current_msec - ctx->started >= pcf->attempts_timeout)
    {
        return 0;
    }

    return 1;
}


/* "429 RESOURCE_EXHAUSTED ...": the status and the upstream's words */

static void
ngx_llm_gateway_pool_error(ngx_llm_gateway_key_state_t *st,
    ngx_uint_t status, ngx_str_t *reason)
{
    u_char  *p, *last;

    last = st->error + sizeof(st->error);

    p = status ? ngx_snprintf(st->error, last - st->error, "%ui ", status)
               : ngx_cpymem(st->error, "no answer ", 10);

    if (reason && reason->len) {
        p = ngx_cpymem(p, reason->data,
                       ngx_min(reason->len, (size_t) (last - p)));
    }

    st->error_len = p - st->error;
}


/* a consistent copy of a key's state, for the administration */

void
ngx_llm_gateway_key_view(ngx_llm_gateway_key_t *key,
    ngx_llm_gateway_key_view_t *v)
{
    ngx_msec_int_t                left;
    ngx_llm_gateway_key_state_t  *st;

    st = key->state;

    ngx_llm_gateway_pool_lock();

    left = (ngx_msec_int_t) (st->cool_until - ngx_current_msec);

    v->disabled = st->disabled;
    v->cooldown = (left > 0 && !st->disabled) ? (ngx_msec_t) left : 0;
    v->fails = st->fails;
    v->changed = st->changed;
    v->error_len = st->error_len;
    ngx_memcpy(v->error, st->error, st->error_len);

    ngx_llm_gateway_pool_unlock();

    v->in_flight = st->in_flight;
    v->requests = st->requests;
    v->successes = st->successes;
}


/* disable, enable (also ends a rest) or reset (forgets everything) */

void
ngx_llm_gateway_key_admin(ngx_llm_gateway_key_t *key, ngx_uint_t action)
{
    ngx_llm_gateway_key_state_t  *st;

    st = key->state;

    ngx_llm_gateway_pool_lock();

    switch (action) {

    case NGX_LLM_GATEWAY_KEY_DISABLE:
        st->disabled = 1;
        st->error_len = ngx_cpymem(st->error, "disabled by the administration",
                                   30) - st->error;
        break;

    case NGX_LLM_GATEWAY_KEY_ENABLE:
        st->disabled = 0;
        st->cool_until = ngx_current_msec;
        st->cools = 0;
        break;

    default: /* NGX_LLM_GATEWAY_KEY_RESET */
        st->disabled = 0;
        st->cool_until = ngx_current_msec;
        st->cools = 0;
        st->fails = 0;
        st->error_len = 0;
        st->requests = 0;
        st->successes = 0;
    }

    st->changed = ngx_time();

    ngx_llm_gateway_pool_unlock();
}


static void
ngx_llm_gateway_pool_lock(void)
{
    if (ngx_llm_gateway_shpool) {
        ngx_shmtx_lock(&ngx_llm_gateway_shpool->mutex);
    }
}


static void
ngx_llm_gateway_pool_unlock(void)
{
    if (ngx_llm_gateway_shpool) {
        ngx_shmtx_unlock(&ngx_llm_gateway_shpool->mutex);
    }
}

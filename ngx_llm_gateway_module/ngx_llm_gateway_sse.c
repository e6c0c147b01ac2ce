
/*
 * Server-sent events: an incremental parser for upstream streams and the
 * output side that frames "data: ...\n\n" events into reusable buffers.
 *
 * Upstream bytes arrive split anywhere (inside a line, between "\r" and
 * "\n"), so the parser keeps a line and an event buffer across calls.
 * Both are reused for every event: a long stream does not grow the pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


#define NGX_LLM_GATEWAY_OUT_BUF_SIZE  4096


static ngx_int_t ngx_llm_gateway_sse_grow(ngx_pool_t *pool, u_char **buf,
    size_t *size, size_t used, size_t need, size_t max);
static ngx_int_t ngx_llm_gateway_sse_line(ngx_llm_gateway_sse_t *sse,
    ngx_pool_t *pool, u_char *p, size_t len, ngx_uint_t direct,
    ngx_llm_gateway_sse_handler_pt handler, void *data);
static ngx_int_t ngx_llm_gateway_sse_keep(ngx_llm_gateway_sse_t *sse,
    ngx_pool_t *pool);
static ngx_int_t ngx_llm_gateway_out_next(ngx_llm_gateway_out_t *out);


static ngx_int_t
ngx_llm_gateway_sse_grow(ngx_pool_t *pool, u_char **buf, size_t *size,
    size_t used, size_t need, size_t max)
{
    u_char  *p;
    size_t   n;

    if (used + need <= *size) {
        return NGX_OK;
    }

    if (used + need > max) {
        return NGX_DECLINED;
    }

    n = ngx_max(*size * 2, used + need);
    n = ngx_max(n, 256);

    p = ngx_pnalloc(pool, n);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (used) {
        ngx_memcpy(p, *buf, used);
    }

    if (*buf) {
        ngx_pfree(pool, *buf);
    }

    *buf = p;
    *size = n;

    return NGX_OK;
}


/*
 * Returns NGX_OK, NGX_ERROR (memory or handler failure), or NGX_DECLINED
 * when an event is larger than sse->max.
 */

ngx_int_t
ngx_llm_gateway_sse_feed(ngx_llm_gateway_sse_t *sse, ngx_pool_t *pool,
    u_char *p, size_t len, ngx_llm_gateway_sse_handler_pt handler,
    void *data)
{
    u_char      *last, *eol, *cr;
    ngx_int_t    rc;
    ngx_uint_t   has_cr;

    last = p + len;

    /* most streams end lines in "\n" only: one look for "\r" per buffer */

    has_cr = (memchr(p, '\r', len) != NULL);

    while (p < last) {

        if (sse->skip_lf) {
            sse->skip_lf = 0;

            if (*p == '\n') {
                p++;
                continue;
            }
        }

        /* lines end in "\n", "\r\n" or "\r": memchr is vectorised */

        eol = memchr(p, '\n', last - p);
        cr = has_cr ? memchr(p, '\r', (eol ? eol : last) - p) : NULL;

        if (cr) {
            eol = cr;

        } else if (eol == NULL) {
            eol = last;
        }

        if (eol == last) {
            /* an incomplete line: keep it for the next buffer */

            rc = ngx_llm_gateway_sse_grow(pool, &sse->line, &sse->line_size,
                                          sse->line_len, eol - p, sse->max);
            if (rc != NGX_OK) {
                return rc;
            }

            ngx_memcpy(sse->line + sse->line_len, p, eol - p);
            sse->line_len += eol - p;

            break;
        }

        if (*eol == '\r') {
            sse->skip_lf = 1;
        }

        if (sse->line_len) {
            rc = ngx_llm_gateway_sse_grow(pool, &sse->line, &sse->line_size,
                                          sse->line_len, eol - p, sse->max);
            if (rc != NGX_OK) {
                return rc;
            }

            ngx_memcpy(sse->line + sse->line_len, p, eol - p);
            sse->line_len += eol - p;

            rc = ngx_llm_gateway_sse_line(sse, pool, sse->line,
                                          sse->line_len, 0, handler, data);
            sse->line_len = 0;

        } else {
            rc = ngx_llm_gateway_sse_line(sse, pool, p, eol - p, 1,
                                          handler, data);
        }

        if (rc != NGX_OK) {
            return rc;
        }

        p = eol + 1;
    }

    /* the input buffer goes back to the upstream: keep what is pending */

    return ngx_llm_gateway_sse_keep(sse, pool);
}


/* a data line seen in place becomes a copy */

static ngx_int_t
ngx_llm_gateway_sse_keep(ngx_llm_gateway_sse_t *sse, ngx_pool_t *pool)
{
    ngx_int_t  rc;

    if (sse->pending.data == NULL) {
        return NGX_OK;
    }

    rc = ngx_llm_gateway_sse_grow(pool, &sse->data, &sse->data_size, 0,
                                  sse->pending.len + 2, sse->max);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memcpy(sse->data, sse->pending.data, sse->pending.len);
    sse->data_len = sse->pending.len;
    sse->data[sse->data_len++] = '\n';

    ngx_str_null(&sse->pending);

    return NGX_OK;
}


/*
 * At a clean end of the body: the last line and event even without the
 * blank line that should have closed them (recorded Gemini streams end
 * so).
 */

ngx_int_t
ngx_llm_gateway_sse_flush(ngx_llm_gateway_sse_t *sse, ngx_pool_t *pool,
    ngx_llm_gateway_sse_handler_pt handler, void *data)
{
    ngx_int_t  rc;

    if (sse->line_len) {
        rc = ngx_llm_gateway_sse_line(sse, pool, sse->line, sse->line_len, 0,
                                      handler, data);
        sse->line_len = 0;

        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_llm_gateway_sse_line(sse, pool, NULL, 0, 0, handler, data);
}


static ngx_int_t
ngx_llm_gateway_sse_line(ngx_llm_gateway_sse_t *sse, ngx_pool_t *pool,
    u_char *p, size_t len, ngx_uint_t direct,
    ngx_llm_gateway_sse_handler_pt handler, void *data)
{
    u_char     *colon, *value;
    size_t      vlen, flen;
    ngx_int_t   rc;
    ngx_str_t   payload, event;

    if (len == 0) {

        /* a blank line dispatches the event */

        if (!sse->has_data) {
            ngx_str_null(&sse->event);
            return NGX_OK;
        }

        if (sse->pending.data) {

            /*
             * One data line, still in the input buffer: no copy.  The
             * line end after it was parsed already and becomes the NUL
             * that JSON parsers want.
             */

            payload = sse->pending;
            payload.data[payload.len] = '\0';
            ngx_str_null(&sse->pending);

        } else {
            payload.data = sse->data;
            payload.len = sse->data_len ? sse->data_len - 1 : 0;
            sse->data[payload.len] = '\0';
        }

        event = sse->event;

        sse->data_len = 0;
        sse->has_data = 0;
        ngx_str_null(&sse->event);

        return handler(data, &event, &payload);
    }

    if (p[0] == ':') {
        return NGX_OK;
    }

    /*
     * Not SSE at all: a JSON body (an error some upstreams send instead
     * of, or in the middle of, a stream).  Kept for the translator to
     * look at when the stream ends.
     */

    if (p[0] == '{' || p[0] == '[' || p[0] == '}' || p[0] == ']'
        || p[0] == ' ' || p[0] == '\t' || p[0] == '"')
    {
        rc = ngx_llm_gateway_sse_grow(pool, &sse->raw, &sse->raw_size,
                                      sse->raw_len, len + 2, sse->max);
        if (rc != NGX_OK) {
            return rc;
        }

        ngx_memcpy(sse->raw + sse->raw_len, p, len);
        sse->raw_len += len;
        sse->raw[sse->raw_len++] = '\n';
        sse->raw[sse->raw_len] = '\0';

        return NGX_OK;
    }

    colon = ngx_strlchr(p, p + len, ':');

    if (colon == NULL) {
        flen = len;
        value = p + len;
        vlen = 0;

    } else {
        flen = colon - p;
        value = colon + 1;

        if (value < p + len && *value == ' ') {
            value++;
        }

        vlen = p + len - value;
    }

    if (flen == 4 && ngx_strncmp(p, "data", 4) == 0) {

        if (direct && !sse->has_data) {
            if (vlen + 2 > sse->max) {
                return NGX_DECLINED;
            }

            sse->pending.data = value;
            sse->pending.len = vlen;
            sse->has_data = 1;
            return NGX_OK;
        }

        rc = ngx_llm_gateway_sse_keep(sse, pool);
        if (rc != NGX_OK) {
            return rc;
        }

        /* one byte more for "\n" and one for the NUL yajl needs */

        rc = ngx_llm_gateway_sse_grow(pool, &sse->data, &sse->data_size,
                                      sse->data_len, vlen + 2, sse->max);
        if (rc != NGX_OK) {
            return rc;
        }

        ngx_memcpy(sse->data + sse->data_len, value, vlen);
        sse->data_len += vlen;
        sse->data[sse->data_len++] = '\n';
        sse->has_data = 1;

        return NGX_OK;
    }

    if (flen == 5 && ngx_strncmp(p, "event", 5) == 0) {

        /* event names are short words: kept in place, truncated if not */

        sse->event.len = ngx_min(vlen, sizeof(sse->event_name));
        sse->event.data = sse->event_name;
        ngx_memcpy(sse->event_name, value, sse->event.len);
    }

    /* "id", "retry" and unknown fields are ignored, as the spec says */

    return NGX_OK;
}


void
ngx_llm_gateway_out_init(ngx_llm_gateway_out_t *out, ngx_pool_t *pool)
{
    ngx_memzero(out, sizeof(ngx_llm_gateway_out_t));

    out->pool = pool;
    out->last = &out->head;
}


/*
 * Room for len bytes in one piece, for a caller that writes an event at
 * once; NULL if the event is larger than a buffer (then it is appended
 * in parts).  The bytes count as written.
 */

u_char *
ngx_llm_gateway_out_reserve(ngx_llm_gateway_out_t *out, size_t len)
{
    u_char  *p;

    if (len > NGX_LLM_GATEWAY_OUT_BUF_SIZE) {
        return NULL;
    }

    /* a new buffer if the event does not fit: this one's rest stays unused */

    if ((out->buf == NULL || (size_t) (out->buf->end - out->buf->last) < len)
        && ngx_llm_gateway_out_next(out) != NGX_OK)
    {
        return NULL;
    }

    p = out->buf->last;

    out->buf->last += len;
    out->len += len;

    return p;
}


/* the end of the last reservation was not written after all */

void
ngx_llm_gateway_out_unreserve(ngx_llm_gateway_out_t *out, size_t len)
{
    out->buf->last -= len;
    out->len -= len;
}


/* a buffer of its own for what comes next, from the free list if any */

static ngx_int_t
ngx_llm_gateway_out_next(ngx_llm_gateway_out_t *out)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_chain_get_free_buf(out->pool, &out->free);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = cl->buf;

    if (b->start == NULL) {
        b->start = ngx_palloc(out->pool, NGX_LLM_GATEWAY_OUT_BUF_SIZE);
        if (b->start == NULL) {
            return NGX_ERROR;
        }

        b->end = b->start + NGX_LLM_GATEWAY_OUT_BUF_SIZE;
        b->tag = (ngx_buf_tag_t) &ngx_llm_gateway_module;
    }

    b->pos = b->start;
    b->last = b->start;
    b->temporary = 1;
    b->flush = 0;
    b->last_buf = 0;
    b->last_in_chain = 0;

    *out->last = cl;
    out->last = &cl->next;
    out->buf = b;

    return NGX_OK;
}


ngx_int_t
ngx_llm_gateway_out_append(ngx_llm_gateway_out_t *out, u_char *data,
    size_t len)
{
    size_t      n;
    ngx_buf_t  *b;

    while (len) {
        b = out->buf;

        if (b == NULL || b->last == b->end) {
            if (ngx_llm_gateway_out_next(out) != NGX_OK) {
                return NGX_ERROR;
            }

            b = out->buf;
        }

        n = ngx_min(len, (size_t) (b->end - b->last));
        b->last = ngx_cpymem(b->last, data, n);

        data += n;
        len -= n;
        out->len += n;
    }

    return NGX_OK;
}


/*
 * One event: "data: " before each line of it.  An upstream event of
 * several data lines arrives joined by "\n", and is framed again so.
 */

ngx_int_t
ngx_llm_gateway_out_event(ngx_llm_gateway_out_t *out, u_char *data,
    size_t len)
{
    u_char  *nl, *last;

    last = data + len;

    for ( ;; ) {
        nl = memchr(data, '\n', last - data);

        if (ngx_llm_gateway_out_append(out, (u_char *) "data: ", 6)
            != NGX_OK
            || ngx_llm_gateway_out_append(out, data,
                                          (nl ? nl : last) - data)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (nl == NULL) {
            break;
        }

        if (ngx_llm_gateway_out_append(out, (u_char *) "\n", 1) != NGX_OK) {
            return NGX_ERROR;
        }

        data = nl + 1;
    }

    return ngx_llm_gateway_out_append(out, (u_char *) "\n\n", 2);
}


/* hand the pending chain to the caller; its buffers come back via busy */

ngx_chain_t *
ngx_llm_gateway_out_take(ngx_llm_gateway_out_t *out)
{
    ngx_chain_t  *cl;

    cl = out->head;

    out->head = NULL;
    out->last = &out->head;
    out->buf = NULL;
    out->len = 0;

    return cl;
}


/* translated bytes not yet sent: pending here, or busy in the filters */

size_t
ngx_llm_gateway_out_backlog(ngx_llm_gateway_out_t *out)
{
    size_t        n;
    ngx_chain_t  *cl;

    n = out->len;

    for (cl = out->busy; cl; cl = cl->next) {
        n += ngx_buf_size(cl->buf);
    }

    return n;
}

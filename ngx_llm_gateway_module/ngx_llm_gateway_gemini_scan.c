
/*
 * A one-pass scanner for the common shape of Gemini answers: candidates
 * whose parts are only text (answer or thought), a finish reason, usage.
 *
 * Almost every event of a stream is such an answer, and building a tree
 * for it, then a generator for the chunk, costs far more than the relay
 * itself.  The scanner walks the bytes once, checks them as strictly as
 * the tree parser would, and keeps pointers to each text as it is in
 * the input, still JSON-escaped: an escaped JSON string is valid inside
 * another JSON document as it is, so the chunk is written by copying it.
 *
 * Anything it does not handle itself (function calls, code execution,
 * grounding, blocked prompts, errors, escapes in keys, lone surrogates,
 * very deep or very large documents) makes it answer NGX_DECLINED, and
 * the caller takes the tree path, which knows every shape.  So the
 * scanner may be stricter than the tree parser, never more lenient.
 *
 * It is a pure function of its input, with no pool and no nginx state,
 * so it can be tested and fuzzed without a running nginx.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_llm_gateway_gemini_scan.h"


#if (defined __SSE2__ && defined __GNUC__)
#include <emmintrin.h>
#define NGX_LLM_GATEWAY_SCAN_SSE2  1
#else
#define NGX_LLM_GATEWAY_SCAN_SSE2  0
#endif


/* what a string held, besides plain ASCII */
#define NGX_LLM_GATEWAY_SCAN_ESCAPE      1
#define NGX_LLM_GATEWAY_SCAN_NON_ASCII   2


/* below the tree parser's limits: a document it refuses is declined */
#define NGX_LLM_GATEWAY_SCAN_MAX_DEPTH   48
#define NGX_LLM_GATEWAY_SCAN_MAX_VALUES  65536


typedef struct {
    u_char                         *p;
    u_char                         *last;
    ngx_uint_t                      values;

    /* where holes are noted while a shape is learnt, or NULL */
    u_char                         *start;
    ngx_llm_gateway_gemini_shape_t *shape;
    ngx_uint_t                      overflow;
} ngx_llm_gateway_scan_cur_t;


static ngx_int_t ngx_llm_gateway_scan_answer(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan);
static ngx_int_t ngx_llm_gateway_scan_match(u_char *p, size_t len,
    ngx_llm_gateway_gemini_scan_t *scan,
    ngx_llm_gateway_gemini_shape_t *shape);
static void ngx_llm_gateway_scan_learn(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan);
static ngx_llm_gateway_gemini_hole_t *ngx_llm_gateway_scan_hole(
    ngx_llm_gateway_scan_cur_t *c, u_char *start, ngx_uint_t kind,
    ngx_uint_t index);
static ngx_int_t ngx_llm_gateway_scan_string(ngx_llm_gateway_scan_cur_t *c,
    ngx_str_t *s, ngx_uint_t *flags);
static ngx_int_t ngx_llm_gateway_scan_utf8(ngx_llm_gateway_scan_cur_t *c);
static ngx_int_t ngx_llm_gateway_scan_number(ngx_llm_gateway_scan_cur_t *c,
    int64_t *value, ngx_uint_t *integer);
static ngx_int_t ngx_llm_gateway_scan_literal(ngx_llm_gateway_scan_cur_t *c,
    ngx_uint_t *is_true);
static ngx_int_t ngx_llm_gateway_scan_skip(ngx_llm_gateway_scan_cur_t *c,
    ngx_uint_t depth);
static ngx_int_t ngx_llm_gateway_scan_key(ngx_llm_gateway_scan_cur_t *c,
    ngx_str_t *key);
static ngx_int_t ngx_llm_gateway_scan_next(ngx_llm_gateway_scan_cur_t *c,
    u_char close, ngx_uint_t *more);
static ngx_int_t ngx_llm_gateway_scan_candidates(
    ngx_llm_gateway_scan_cur_t *c, ngx_llm_gateway_gemini_scan_t *scan);
static ngx_int_t ngx_llm_gateway_scan_candidate(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan, ngx_uint_t ordinal);
static ngx_int_t ngx_llm_gateway_scan_content(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan, ngx_uint_t ordinal);
static ngx_int_t ngx_llm_gateway_scan_part(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan, ngx_uint_t ordinal);
static ngx_int_t ngx_llm_gateway_scan_usage(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan);


#define ngx_llm_gateway_scan_ws(c)                                           \
    while ((c)->p < (c)->last                                                \
           && (*(c)->p == ' ' || *(c)->p == '\n' || *(c)->p == '\r'          \
               || *(c)->p == '\t'))                                          \
    {                                                                        \
        (c)->p++;                                                            \
    }

#define ngx_llm_gateway_scan_init(c, start_, len, shape_)                    \
    (c)->p = (start_);                                                       \
    (c)->last = (start_) + (len);                                            \
    (c)->values = 0;                                                         \
    (c)->start = (start_);                                                   \
    (c)->shape = (shape_);                                                   \
    (c)->overflow = 0

#define ngx_llm_gateway_scan_is(c, ch)                                       \
    ((c)->p < (c)->last && *(c)->p == (ch))

#define ngx_llm_gateway_scan_key_is(key, name)                               \
    ((key)->len == sizeof(name) - 1                                          \
     && ngx_memcmp((key)->data, name, sizeof(name) - 1) == 0)


/*
 * Whether none of eight bytes needs a look: no quote, backslash, control
 * character or non-ASCII byte.  A byte b is flagged by (b - k) & ~b
 * having its high bit set when b < k; quote and backslash by XOR-ing
 * them to zero first.  False alarms only cost the byte loop.
 */

#define NGX_LLM_GATEWAY_SCAN_ONES   0x0101010101010101ULL
#define NGX_LLM_GATEWAY_SCAN_HIGHS  0x8080808080808080ULL

#define ngx_llm_gateway_scan_zero(w)                                         \
    (((w) - NGX_LLM_GATEWAY_SCAN_ONES) & ~(w) & NGX_LLM_GATEWAY_SCAN_HIGHS)

#define ngx_llm_gateway_scan_plain(w)                                        \
    ((((w) & NGX_LLM_GATEWAY_SCAN_HIGHS)                                     \
      | (((w) - NGX_LLM_GATEWAY_SCAN_ONES * 0x20) & ~(w)                     \
         & NGX_LLM_GATEWAY_SCAN_HIGHS)                                       \
      | ngx_llm_gateway_scan_zero((w) ^ (NGX_LLM_GATEWAY_SCAN_ONES * '"'))   \
      | ngx_llm_gateway_scan_zero((w) ^ (NGX_LLM_GATEWAY_SCAN_ONES * '\\'))) \
     == 0)


/* the bytes a string scan must look at: controls, '"', '\\', non-ASCII */

static const u_char  ngx_llm_gateway_scan_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,   /* '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
};


static ngx_str_t  ngx_llm_gateway_scan_usage_names[] = {
    ngx_string("promptTokenCount"),
    ngx_string("candidatesTokenCount"),
    ngx_string("thoughtsTokenCount"),
    ngx_string("cachedContentTokenCount"),
    ngx_string("toolUsePromptTokenCount"),
    ngx_string("totalTokenCount"),
    ngx_null_string
};


ngx_int_t
ngx_llm_gateway_gemini_scan(u_char *p, size_t len,
    ngx_llm_gateway_gemini_scan_t *scan)
{
    ngx_llm_gateway_scan_cur_t  c;

    ngx_llm_gateway_scan_init(&c, p, len, NULL);

    return ngx_llm_gateway_scan_answer(&c, scan);
}


/*
 * The events of one stream nearly always share their shape: the same
 * members in the same order, with the same white space; only the texts,
 * the counters and a few other numbers change.  So the bytes of the last
 * answer taken are kept, with the places of those values ("holes"), and
 * the next answer is first matched against them: the bytes between holes
 * must be equal, and each hole must hold a valid value of the same kind
 * (a string, or a number).  Then the answer has exactly the structure of
 * the one learnt, already checked, and only the holes needed a look:
 * about a third of the work of a full scan.  Any difference makes it a
 * full scan, which learns the new shape.
 */

ngx_int_t
ngx_llm_gateway_gemini_scan_shaped(u_char *p, size_t len,
    ngx_llm_gateway_gemini_scan_t *scan, ngx_llm_gateway_gemini_shape_t *shape)
{
    ngx_int_t                   rc;
    ngx_llm_gateway_scan_cur_t  c;

    if (shape->len
        && ngx_llm_gateway_scan_match(p, len, scan, shape) == NGX_OK)
    {
        shape->hits++;
        return NGX_OK;
    }

    shape->misses++;
    shape->len = 0;
    shape->nholes = 0;

    /* an answer larger than a shape is scanned without learning */

    ngx_llm_gateway_scan_init(&c, p, len,
                              len <= NGX_LLM_GATEWAY_GEMINI_SHAPE_SIZE
                              ? shape : NULL);

    rc = ngx_llm_gateway_scan_answer(&c, scan);

    if (rc == NGX_OK && c.shape && !c.overflow) {
        ngx_llm_gateway_scan_learn(&c, scan);
    }

    return rc;
}


static ngx_int_t
ngx_llm_gateway_scan_answer(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan)
{
    ngx_int_t   rc;
    ngx_str_t   key;
    ngx_uint_t  more, seen;

    scan->npieces = 0;
    scan->ncandidates = 0;
    scan->usage = 0;

    ngx_llm_gateway_scan_ws(c);

    if (!ngx_llm_gateway_scan_is(c, '{')) {
        return NGX_DECLINED;
    }

    c->p++;
    seen = 0;

    rc = ngx_llm_gateway_scan_next(c, '}', &more);

    while (rc == NGX_OK && more) {

        if (ngx_llm_gateway_scan_key(c, &key) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (ngx_llm_gateway_scan_key_is(&key, "candidates")) {
            if (seen & 1) {
                return NGX_DECLINED;
            }

            seen |= 1;
            rc = ngx_llm_gateway_scan_candidates(c, scan);

        } else if (ngx_llm_gateway_scan_key_is(&key, "usageMetadata")) {
            if (seen & 2) {
                return NGX_DECLINED;
            }

            seen |= 2;
            rc = ngx_llm_gateway_scan_usage(c, scan);

        } else if (ngx_llm_gateway_scan_key_is(&key, "promptFeedback")
                   || ngx_llm_gateway_scan_key_is(&key, "error"))
        {
            /* blocked prompts and errors: the tree path's business */
            return NGX_DECLINED;

        } else {
            rc = ngx_llm_gateway_scan_skip(c, 1);
        }

        if (rc != NGX_OK) {
            return NGX_DECLINED;
        }

        rc = ngx_llm_gateway_scan_next(c, '}', &more);
    }

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    /* one document, nothing after it but white space */

    ngx_llm_gateway_scan_ws(c);

    return c->p == c->last ? NGX_OK : NGX_DECLINED;
}


/* a value whose bytes may change from one answer to the next */

static ngx_llm_gateway_gemini_hole_t *
ngx_llm_gateway_scan_hole(ngx_llm_gateway_scan_cur_t *c, u_char *start,
    ngx_uint_t kind, ngx_uint_t index)
{
    ngx_llm_gateway_gemini_hole_t  *h;

    if (c->shape->nholes == NGX_LLM_GATEWAY_GEMINI_SHAPE_HOLES) {
        c->overflow = 1;
        return NULL;
    }

    h = &c->shape->holes[c->shape->nholes++];

    h->start = (uint16_t) (start - c->start);
    h->end = (uint16_t) (c->p - c->start);
    h->kind = (uint8_t) kind;
    h->index = (uint8_t) index;
    h->thought = 0;

    return h;
}


/* an answer was taken by a full scan: its bytes become the shape */

static void
ngx_llm_gateway_scan_learn(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan)
{
    ngx_uint_t                       i;
    ngx_llm_gateway_gemini_cand_t   *cand;
    ngx_llm_gateway_gemini_shape_t  *shape;

    shape = c->shape;

    shape->len = c->last - c->start;
    ngx_memcpy(shape->data, c->start, shape->len);

    /* the finish reasons are in the bytes between holes: point to the copy */

    shape->scan.ncandidates = scan->ncandidates;
    shape->scan.usage = scan->usage;

    for (i = 0; i < scan->ncandidates; i++) {
        cand = &shape->scan.candidates[i];

        cand->index = scan->candidates[i].index;
        cand->finish.len = scan->candidates[i].finish.len;
        cand->finish.data = cand->finish.len
                            ? shape->data
                              + (scan->candidates[i].finish.data - c->start)
                            : NULL;
    }
}


static ngx_int_t
ngx_llm_gateway_scan_match(u_char *p, size_t len,
    ngx_llm_gateway_gemini_scan_t *scan, ngx_llm_gateway_gemini_shape_t *shape)
{
    int64_t                         v;
    size_t                          n, prev;
    ngx_str_t                       s;
    ngx_uint_t                      i, flag;
    ngx_llm_gateway_scan_cur_t      c;
    ngx_llm_gateway_gemini_hole_t  *h;

    ngx_llm_gateway_scan_init(&c, p, len, NULL);

    scan->npieces = 0;
    scan->ncandidates = shape->scan.ncandidates;
    scan->usage = shape->scan.usage;

    for (i = 0; i < shape->scan.ncandidates; i++) {
        scan->candidates[i] = shape->scan.candidates[i];
    }

    for (i = 0; i < NGX_LLM_GATEWAY_GEMINI_SCAN_USAGE; i++) {
        scan->usage_counts[i] = 0;
    }

    prev = 0;

    for (i = 0; i < shape->nholes; i++) {
        h = &shape->holes[i];

        /* the bytes before the hole, as they were */

        n = h->start - prev;

        if ((size_t) (c.last - p) < n
            || ngx_memcmp(p, shape->data + prev, n) != 0)
        {
            return NGX_DECLINED;
        }

        c.p = p + n;

        switch (h->kind) {

        case NGX_LLM_GATEWAY_GEMINI_HOLE_TEXT:
            if (ngx_llm_gateway_scan_string(&c, &s, &flag) != NGX_OK) {
                return NGX_DECLINED;
            }

            /* an empty text adds nothing, as in a full scan */

            if (s.len) {
                if (scan->npieces == NGX_LLM_GATEWAY_GEMINI_SCAN_PIECES) {
                    return NGX_DECLINED;
                }

                scan->pieces[scan->npieces].text = s;
                scan->pieces[scan->npieces].ascii = (flag == 0);
                scan->pieces[scan->npieces].candidate = h->index;
                scan->pieces[scan->npieces].thought = h->thought;
                scan->npieces++;
            }

            break;

        default: /* NGX_LLM_GATEWAY_GEMINI_HOLE_USAGE, _NUMBER */
            if (ngx_llm_gateway_scan_number(&c, &v, &flag) != NGX_OK) {
                return NGX_DECLINED;
            }

            if (h->kind == NGX_LLM_GATEWAY_GEMINI_HOLE_USAGE && flag) {
                scan->usage_counts[h->index] = v;
            }
        }

        p = c.p;
        prev = h->end;
    }

    /* the rest, to the end of the answer */

    n = shape->len - prev;

    if ((size_t) (c.last - p) != n
        || ngx_memcmp(p, shape->data + prev, n) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * After "{" or "[" (the first member may follow) or after a member (a
 * comma must): "more" says whether a member follows.  A trailing comma
 * is declined.
 */

static ngx_int_t
ngx_llm_gateway_scan_next(ngx_llm_gateway_scan_cur_t *c, u_char close,
    ngx_uint_t *more)
{
    ngx_uint_t  first;

    first = (c->p[-1] == '{' || c->p[-1] == '[');

    ngx_llm_gateway_scan_ws(c);

    if (c->p == c->last) {
        return NGX_DECLINED;
    }

    if (*c->p == close) {
        c->p++;
        *more = 0;
        return NGX_OK;
    }

    if (!first) {
        if (*c->p != ',') {
            return NGX_DECLINED;
        }

        c->p++;
        ngx_llm_gateway_scan_ws(c);

        if (c->p == c->last || *c->p == close) {
            return NGX_DECLINED;
        }
    }

    *more = 1;

    return NGX_OK;
}


/* a member's name and its colon; names with escapes are declined */

static ngx_int_t
ngx_llm_gateway_scan_key(ngx_llm_gateway_scan_cur_t *c, ngx_str_t *key)
{
    ngx_uint_t  flags;

    if (ngx_llm_gateway_scan_string(c, key, &flags) != NGX_OK
        || (flags & NGX_LLM_GATEWAY_SCAN_ESCAPE))
    {
        return NGX_DECLINED;
    }

    ngx_llm_gateway_scan_ws(c);

    if (!ngx_llm_gateway_scan_is(c, ':')) {
        return NGX_DECLINED;
    }

    c->p++;

    ngx_llm_gateway_scan_ws(c);

    return NGX_OK;
}


/*
 * A string at c->p; s is its escaped contents.  Control characters,
 * bad escapes and bad UTF-8 are declined, as the tree parser refuses
 * them; so are escaped surrogates and NUL, which it would decode into
 * something else than what is copied.
 */

static ngx_int_t
ngx_llm_gateway_scan_string(ngx_llm_gateway_scan_cur_t *c, ngx_str_t *s,
    ngx_uint_t *flags)
{
    u_char      ch, *p, *start, *last;
    ngx_uint_t  n, i, u;

    p = c->p;
    last = c->last;

    if (p == last || *p != '"') {
        return NGX_DECLINED;
    }

    if (++c->values > NGX_LLM_GATEWAY_SCAN_MAX_VALUES) {
        return NGX_DECLINED;
    }

    start = ++p;
    *flags = 0;

    for ( ;; ) {

#if (NGX_LLM_GATEWAY_SCAN_SSE2)

        /*
         * Sixteen bytes at a step.  A signed compare with 0x20 flags both
         * control characters and non-ASCII bytes (negative as signed).
         */

        while (last - p >= 16) {
            __m128i  v;
            int      m;

            v = _mm_loadu_si128((const __m128i *) p);
            m = _mm_movemask_epi8(
                    _mm_or_si128(
                        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                     _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                        _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));

            if (m) {
                p += __builtin_ctz(m);
                goto special;
            }

            p += 16;
        }

#endif

        /* plain bytes, four at a step: most of a text is plain ASCII */

        while (last - p >= 4) {
            if (ngx_llm_gateway_scan_special[p[0]]
                | ngx_llm_gateway_scan_special[p[1]]
                | ngx_llm_gateway_scan_special[p[2]]
                | ngx_llm_gateway_scan_special[p[3]])
            {
                break;
            }

            p += 4;
        }

        while (p < last && !ngx_llm_gateway_scan_special[*p]) {
            p++;
        }

        if (p == last) {
            return NGX_DECLINED;
        }

#if (NGX_LLM_GATEWAY_SCAN_SSE2)
    special:
#endif

        ch = *p;

        if (ch == '"') {
            s->data = start;
            s->len = p - start;
            c->p = p + 1;
            return NGX_OK;
        }

        if (ch < 0x20) {
            return NGX_DECLINED;
        }

        if (ch >= 0x80) {
            *flags |= NGX_LLM_GATEWAY_SCAN_NON_ASCII;
            c->p = p;

            if (ngx_llm_gateway_scan_utf8(c) != NGX_OK) {
                return NGX_DECLINED;
            }

            p = c->p;
            continue;
        }

        /* a backslash */

        *flags |= NGX_LLM_GATEWAY_SCAN_ESCAPE;

        if (last - p < 2) {
            return NGX_DECLINED;
        }

        switch (p[1]) {

        case '"': case '\\': case '/': case 'b':
        case 'f': case 'n': case 'r': case 't':
            p += 2;
            continue;

        case 'u':
            if (last - p < 6) {
                return NGX_DECLINED;
            }

            u = 0;

            for (i = 2; i < 6; i++) {
                ch = p[i];

                if (ch >= '0' && ch <= '9') {
                    n = ch - '0';

                } else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') {
                    n = (ch | 0x20) - 'a' + 10;

                } else {
                    return NGX_DECLINED;
                }

                u = (u << 4) | n;
            }

            if (u == 0 || (u >= 0xd800 && u <= 0xdfff)) {
                return NGX_DECLINED;
            }

            p += 6;
            continue;

        default:
            return NGX_DECLINED;
        }
    }
}


/* one UTF-8 sequence at c->p: no overlong forms, surrogates or > U+10FFFF */

static ngx_int_t
ngx_llm_gateway_scan_utf8(ngx_llm_gateway_scan_cur_t *c)
{
    u_char      *p;
    uint32_t     u, min;
    ngx_uint_t   n, i;

    p = c->p;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 1;
        u = p[0] & 0x1f;
        min = 0x80;

    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 2;
        u = p[0] & 0x0f;
        min = 0x800;

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 3;
        u = p[0] & 0x07;
        min = 0x10000;

    } else {
        return NGX_DECLINED;
    }

    if ((size_t) (c->last - p) <= n) {
        return NGX_DECLINED;
    }

    for (i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return NGX_DECLINED;
        }

        u = (u << 6) | (p[i] & 0x3f);
    }

    if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
        return NGX_DECLINED;
    }

    c->p += n + 1;

    return NGX_OK;
}


/*
 * A JSON number; "integer" is set for one without fraction or exponent
 * that fits in 18 digits (what the tree parser reads as an integer).
 */

static ngx_int_t
ngx_llm_gateway_scan_number(ngx_llm_gateway_scan_cur_t *c, int64_t *value,
    ngx_uint_t *integer)
{
    u_char      *start, *digits;
    int64_t      v;
    ngx_uint_t   negative;

    if (++c->values > NGX_LLM_GATEWAY_SCAN_MAX_VALUES) {
        return NGX_DECLINED;
    }

    start = c->p;
    negative = 0;
    *integer = 0;
    v = 0;

    if (ngx_llm_gateway_scan_is(c, '-')) {
        negative = 1;
        c->p++;
    }

    digits = c->p;

    if (ngx_llm_gateway_scan_is(c, '0')) {
        c->p++;

    } else if (c->p < c->last && *c->p >= '1' && *c->p <= '9') {
        while (c->p < c->last && *c->p >= '0' && *c->p <= '9') {

            /* too long to be read here: decline rather than guess */

            if (c->p - digits >= 18) {
                return NGX_DECLINED;
            }

            v = v * 10 + (*c->p - '0');
            c->p++;
        }

    } else {
        return NGX_DECLINED;
    }

    *integer = 1;

    if (ngx_llm_gateway_scan_is(c, '.')) {
        *integer = 0;
        c->p++;

        if (!(c->p < c->last && *c->p >= '0' && *c->p <= '9')) {
            return NGX_DECLINED;
        }

        while (c->p < c->last && *c->p >= '0' && *c->p <= '9') {
            c->p++;
        }
    }

    if (c->p < c->last && (*c->p | 0x20) == 'e') {
        *integer = 0;
        c->p++;

        if (c->p < c->last && (*c->p == '+' || *c->p == '-')) {
            c->p++;
        }

        if (!(c->p < c->last && *c->p >= '0' && *c->p <= '9')) {
            return NGX_DECLINED;
        }

        while (c->p < c->last && *c->p >= '0' && *c->p <= '9') {
            c->p++;
        }
    }

    if (c->p == start) {
        return NGX_DECLINED;
    }

    *value = negative ? -v : v;

    return NGX_OK;
}


static ngx_int_t
ngx_llm_gateway_scan_literal(ngx_llm_gateway_scan_cur_t *c,
    ngx_uint_t *is_true)
{
    size_t  n;

    if (++c->values > NGX_LLM_GATEWAY_SCAN_MAX_VALUES) {
        return NGX_DECLINED;
    }

    n = c->last - c->p;
    *is_true = 0;

    if (n >= 4 && ngx_memcmp(c->p, "true", 4) == 0) {
        *is_true = 1;
        c->p += 4;

    } else if (n >= 5 && ngx_memcmp(c->p, "false", 5) == 0) {
        c->p += 5;

    } else if (n >= 4 && ngx_memcmp(c->p, "null", 4) == 0) {
        c->p += 4;

    } else {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Any value, checked and skipped, without recursion: the brackets still
 * open are kept in a small stack.  "depth" is how deep the value is.
 */

static ngx_int_t
ngx_llm_gateway_scan_skip(ngx_llm_gateway_scan_cur_t *c, ngx_uint_t depth)
{
    u_char     *start, stack[NGX_LLM_GATEWAY_SCAN_MAX_DEPTH];
    int64_t     v;
    ngx_str_t   s;
    ngx_uint_t  n, more, flag;

    n = 0;

    for ( ;; ) {

        /* a value */

        if (c->p == c->last) {
            return NGX_DECLINED;
        }

        switch (*c->p) {

        case '{':
        case '[':
            if (depth + n >= NGX_LLM_GATEWAY_SCAN_MAX_DEPTH
                || ++c->values > NGX_LLM_GATEWAY_SCAN_MAX_VALUES)
            {
                return NGX_DECLINED;
            }

            stack[n++] = (*c->p == '{') ? '}' : ']';
            c->p++;

            if (ngx_llm_gateway_scan_next(c, stack[n - 1], &more) != NGX_OK)
            {
                return NGX_DECLINED;
            }

            if (more) {
                if (stack[n - 1] == '}'
                    && ngx_llm_gateway_scan_key(c, &s) != NGX_OK)
                {
                    return NGX_DECLINED;
                }

                continue;
            }

            n--;
            break;

        case '"':

            /*
             * Not a hole: the strings skipped (a role, a model version,
             * a response id) stay the same through a stream.
             */

            if (ngx_llm_gateway_scan_string(c, &s, &flag) != NGX_OK) {
                return NGX_DECLINED;
            }

            break;

        case 't': case 'f': case 'n':
            if (ngx_llm_gateway_scan_literal(c, &flag) != NGX_OK) {
                return NGX_DECLINED;
            }

            break;

        default:
            start = c->p;

            if (ngx_llm_gateway_scan_number(c, &v, &flag) != NGX_OK) {
                return NGX_DECLINED;
            }

            if (c->shape) {
                (void) ngx_llm_gateway_scan_hole(c, start,
                                        NGX_LLM_GATEWAY_GEMINI_HOLE_NUMBER, 0);
            }
        }

        /* after a value: close what is complete, or go to the next one */

        for ( ;; ) {
            if (n == 0) {
                return NGX_OK;
            }

            if (ngx_llm_gateway_scan_next(c, stack[n - 1], &more) != NGX_OK)
            {
                return NGX_DECLINED;
            }

            if (!more) {
                n--;
                continue;
            }

            if (stack[n - 1] == '}'
                && ngx_llm_gateway_scan_key(c, &s) != NGX_OK)
            {
                return NGX_DECLINED;
            }

            ngx_llm_gateway_scan_ws(c);

            break;
        }
    }
}


static ngx_int_t
ngx_llm_gateway_scan_candidates(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan)
{
    ngx_int_t   rc;
    ngx_uint_t  more;

    if (!ngx_llm_gateway_scan_is(c, '[')) {
        return NGX_DECLINED;
    }

    c->p++;

    rc = ngx_llm_gateway_scan_next(c, ']', &more);

    while (rc == NGX_OK && more) {
        if (scan->ncandidates == NGX_LLM_GATEWAY_GEMINI_SCAN_CANDIDATES) {
            return NGX_DECLINED;
        }

        if (ngx_llm_gateway_scan_candidate(c, scan, scan->ncandidates++)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }

        rc = ngx_llm_gateway_scan_next(c, ']', &more);
    }

    return rc;
}


/*
 * A candidate: content, index, finishReason.  The index comes after the
 * content in Gemini's answers: pieces name the candidate by its ordinal.
 */

static ngx_int_t
ngx_llm_gateway_scan_candidate(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan, ngx_uint_t ordinal)
{
    int64_t     v;
    ngx_int_t   rc;
    ngx_str_t   key;
    ngx_uint_t  more, seen, integer, flags;

    if (!ngx_llm_gateway_scan_is(c, '{')) {
        return NGX_DECLINED;
    }

    c->p++;

    seen = 0;
    scan->candidates[ordinal].index = ordinal;
    ngx_str_null(&scan->candidates[ordinal].finish);

    rc = ngx_llm_gateway_scan_next(c, '}', &more);

    while (rc == NGX_OK && more) {

        if (ngx_llm_gateway_scan_key(c, &key) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (ngx_llm_gateway_scan_key_is(&key, "content")) {
            if (seen & 1) {
                return NGX_DECLINED;
            }

            seen |= 1;
            rc = ngx_llm_gateway_scan_content(c, scan, ordinal);

        } else if (ngx_llm_gateway_scan_key_is(&key, "index")) {
            if (seen & 2) {
                return NGX_DECLINED;
            }

            seen |= 2;

            if (ngx_llm_gateway_scan_number(c, &v, &integer) != NGX_OK
                || !integer || v < 0
                || v >= NGX_LLM_GATEWAY_GEMINI_SCAN_CANDIDATES)
            {
                return NGX_DECLINED;
            }

            scan->candidates[ordinal].index = (ngx_uint_t) v;

        } else if (ngx_llm_gateway_scan_key_is(&key, "finishReason")) {
            if (seen & 4) {
                return NGX_DECLINED;
            }

            seen |= 4;

            if (ngx_llm_gateway_scan_string(c,
                                            &scan->candidates[ordinal].finish,
                                            &flags)
                != NGX_OK
                || (flags & NGX_LLM_GATEWAY_SCAN_ESCAPE)
                || scan->candidates[ordinal].finish.len == 0)
            {
                return NGX_DECLINED;
            }

        } else if (ngx_llm_gateway_scan_key_is(&key, "groundingMetadata")) {
            return NGX_DECLINED;

        } else {
            /* safetyRatings, citationMetadata, avgLogprobs, ... */
            rc = ngx_llm_gateway_scan_skip(c, 3);
        }

        if (rc != NGX_OK) {
            return NGX_DECLINED;
        }

        rc = ngx_llm_gateway_scan_next(c, '}', &more);
    }

    return rc;
}


static ngx_int_t
ngx_llm_gateway_scan_content(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan, ngx_uint_t ordinal)
{
    ngx_int_t   rc;
    ngx_str_t   key;
    ngx_uint_t  more, seen, parts;

    if (!ngx_llm_gateway_scan_is(c, '{')) {
        return NGX_DECLINED;
    }

    c->p++;
    seen = 0;

    rc = ngx_llm_gateway_scan_next(c, '}', &more);

    while (rc == NGX_OK && more) {

        if (ngx_llm_gateway_scan_key(c, &key) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (ngx_llm_gateway_scan_key_is(&key, "parts")) {
            if (seen || !ngx_llm_gateway_scan_is(c, '[')) {
                return NGX_DECLINED;
            }

            seen = 1;
            c->p++;

            rc = ngx_llm_gateway_scan_next(c, ']', &parts);

            while (rc == NGX_OK && parts) {
                if (ngx_llm_gateway_scan_part(c, scan, ordinal) != NGX_OK) {
                    return NGX_DECLINED;
                }

                rc = ngx_llm_gateway_scan_next(c, ']', &parts);
            }

        } else {
            rc = ngx_llm_gateway_scan_skip(c, 4);
        }

        if (rc != NGX_OK) {
            return NGX_DECLINED;
        }

        rc = ngx_llm_gateway_scan_next(c, '}', &more);
    }

    return rc;
}


/* a part: text, maybe a thought; anything that is not text declines */

static ngx_int_t
ngx_llm_gateway_scan_part(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan, ngx_uint_t ordinal)
{
    u_char                         *start;
    ngx_int_t                       rc;
    ngx_str_t                       key, text;
    ngx_uint_t                      more, seen, thought, flags, has_text;
    ngx_llm_gateway_gemini_hole_t  *h;

    if (!ngx_llm_gateway_scan_is(c, '{')) {
        return NGX_DECLINED;
    }

    c->p++;

    seen = 0;
    thought = 0;
    has_text = 0;
    ngx_str_null(&text);
    h = NULL;
    flags = 0;

    rc = ngx_llm_gateway_scan_next(c, '}', &more);

    while (rc == NGX_OK && more) {

        if (ngx_llm_gateway_scan_key(c, &key) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (ngx_llm_gateway_scan_key_is(&key, "text")) {
            if (seen & 1) {
                return NGX_DECLINED;
            }

            seen |= 1;
            has_text = 1;
            start = c->p;

            rc = ngx_llm_gateway_scan_string(c, &text, &flags);

            if (rc == NGX_OK && c->shape) {
                h = ngx_llm_gateway_scan_hole(c, start,
                                              NGX_LLM_GATEWAY_GEMINI_HOLE_TEXT,
                                              ordinal);
            }

        } else if (ngx_llm_gateway_scan_key_is(&key, "thought")) {
            if (seen & 2) {
                return NGX_DECLINED;
            }

            seen |= 2;

            if (c->p < c->last && (*c->p == 't' || *c->p == 'f'
                                   || *c->p == 'n'))
            {
                rc = ngx_llm_gateway_scan_literal(c, &thought);

            } else {
                rc = ngx_llm_gateway_scan_skip(c, 7);
            }

        } else if (ngx_llm_gateway_scan_key_is(&key, "functionCall")
                   || ngx_llm_gateway_scan_key_is(&key, "executableCode")
                   || ngx_llm_gateway_scan_key_is(&key,
                                                  "codeExecutionResult"))
        {
            return NGX_DECLINED;

        } else {
            /* thoughtSignature on a text part, inlineData, ... */
            rc = ngx_llm_gateway_scan_skip(c, 7);
        }

        if (rc != NGX_OK) {
            return NGX_DECLINED;
        }

        rc = ngx_llm_gateway_scan_next(c, '}', &more);
    }

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    /* "thought" may come after the text: the hole learns it at the end */

    if (h) {
        h->thought = (uint8_t) thought;
    }

    /* a part with neither text nor anything else adds nothing */

    if (!has_text || text.len == 0) {
        return NGX_OK;
    }

    if (scan->npieces == NGX_LLM_GATEWAY_GEMINI_SCAN_PIECES) {
        return NGX_DECLINED;
    }

    scan->pieces[scan->npieces].text = text;
    scan->pieces[scan->npieces].ascii = (flags == 0);
    scan->pieces[scan->npieces].candidate = ordinal;
    scan->pieces[scan->npieces].thought = thought;
    scan->npieces++;

    return NGX_OK;
}


/* usageMetadata: the six counters, an integer or 0, as the tree reads */

static ngx_int_t
ngx_llm_gateway_scan_usage(ngx_llm_gateway_scan_cur_t *c,
    ngx_llm_gateway_gemini_scan_t *scan)
{
    u_char     *start;
    int64_t     v;
    ngx_int_t   rc;
    ngx_str_t   key;
    ngx_uint_t  more, seen, i, integer;

    if (!ngx_llm_gateway_scan_is(c, '{')) {
        return NGX_DECLINED;
    }

    c->p++;
    seen = 0;

    for (i = 0; i < NGX_LLM_GATEWAY_GEMINI_SCAN_USAGE; i++) {
        scan->usage_counts[i] = 0;
    }

    rc = ngx_llm_gateway_scan_next(c, '}', &more);

    while (rc == NGX_OK && more) {

        if (ngx_llm_gateway_scan_key(c, &key) != NGX_OK) {
            return NGX_DECLINED;
        }

        for (i = 0; ngx_llm_gateway_scan_usage_names[i].len; i++) {
            if (key.len == ngx_llm_gateway_scan_usage_names[i].len
                && ngx_memcmp(key.data,
                              ngx_llm_gateway_scan_usage_names[i].data,
                              key.len)
                   == 0)
            {
                break;
            }
        }

        if (ngx_llm_gateway_scan_usage_names[i].len == 0) {
            rc = ngx_llm_gateway_scan_skip(c, 2);

        } else {
            if (seen & (1 << i)) {
                return NGX_DECLINED;
            }

            seen |= 1 << i;

            if (c->p < c->last && (*c->p == '-'
                                   || (*c->p >= '0' && *c->p <= '9')))
            {
                start = c->p;
                rc = ngx_llm_gateway_scan_number(c, &v, &integer);

                if (rc == NGX_OK && c->shape) {
                    (void) ngx_llm_gateway_scan_hole(c, start,
                                         NGX_LLM_GATEWAY_GEMINI_HOLE_USAGE, i);
                }

                if (rc == NGX_OK && integer) {
                    scan->usage_counts[i] = v;
                }

            } else {
                rc = ngx_llm_gateway_scan_skip(c, 2);
            }
        }

        if (rc != NGX_OK) {
            return NGX_DECLINED;
        }

        rc = ngx_llm_gateway_scan_next(c, '}', &more);
    }

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    scan->usage = 1;

    return NGX_OK;
}


/*
 * How many characters an escaped text holds, counted as the tree path
 * counts the decoded one (code points), for annotation offsets.
 */

size_t
ngx_llm_gateway_gemini_scan_chars(u_char *p, size_t len)
{
    u_char    *last;
    size_t     n;
    uint64_t   w;

    last = p + len;

    n = 0;

    while (p < last) {

        /* plain ASCII, eight bytes at a time */

        while (last - p >= 8) {
            ngx_memcpy(&w, p, 8);

            if (!ngx_llm_gateway_scan_plain(w)) {
                break;
            }

            n += 8;
            p += 8;
        }

        if (p == last) {
            break;
        }

        if (*p == '\\' && last - p >= 2) {
            p += (p[1] == 'u') ? 6 : 2;
            n++;
            continue;
        }

        n += ((*p & 0xc0) != 0x80);
        p++;
    }

    return n;
}

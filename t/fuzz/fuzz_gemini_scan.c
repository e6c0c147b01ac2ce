
/*
 * Fuzz target: the Gemini answer scanner against yajl's tree parser.
 *
 * The scanner may decline anything, but what it takes must be what the
 * tree path would have read from the same bytes: the document parses,
 * the candidates, their indexes, finish reasons and text parts are the
 * same, each text decodes to the same string, counts the same
 * characters, and the usage counters are equal.  Any difference aborts.
 *
 * The shaped scan (one stream's events matched against the last one
 * taken) must answer as the full scan does, input by input.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_llm_gateway_gemini_scan.h"

#include <yajl/yajl_tree.h>


#define fuzz_check(cond)                                                     \
    if (!(cond)) {                                                           \
        fprintf(stderr, "fuzz check failed at line %d: %s\n", __LINE__,     \
                #cond);                                                      \
        abort();                                                             \
    }


static yajl_val
fuzz_get(yajl_val obj, const char *key)
{
    const char  *path[2] = { key, NULL };

    return obj ? yajl_tree_get(obj, path, yajl_t_any) : NULL;
}


/* a string node's text; "" for anything else */

static const char *
fuzz_string(yajl_val v)
{
    return (v && YAJL_IS_STRING(v)) ? v->u.string : "";
}


static size_t
fuzz_code_points(const char *s)
{
    size_t  n;

    for (n = 0; *s; s++) {
        n += ((*s & 0xc0) != 0x80);
    }

    return n;
}


/* the text as the tree decodes it: the escaped copy, parsed as a string */

static void
fuzz_same_text(ngx_str_t *raw, const char *want)
{
    char      *doc;
    yajl_val   v;

    doc = malloc(raw->len + 3);
    doc[0] = '"';
    memcpy(doc + 1, raw->data, raw->len);
    doc[raw->len + 1] = '"';
    doc[raw->len + 2] = '\0';

    v = yajl_tree_parse(doc, NULL, 0);

    fuzz_check(v != NULL && YAJL_IS_STRING(v));
    fuzz_check(strcmp(fuzz_string(v), want) == 0);
    fuzz_check(ngx_llm_gateway_gemini_scan_chars(raw->data, raw->len)
               == fuzz_code_points(want));

    yajl_tree_free(v);
    free(doc);
}


/*
 * A shaped scan must answer exactly as a full scan of the same bytes:
 * the same verdict, the same pieces (the same pointers into the input),
 * candidates, finish reasons and counters.
 */

static void
fuzz_same_scan(u_char *p, size_t len, ngx_llm_gateway_gemini_shape_t *shape)
{
    size_t                         i;
    ngx_int_t                      rc;
    ngx_llm_gateway_gemini_scan_t  a, b;

    rc = ngx_llm_gateway_gemini_scan_shaped(p, len, &a, shape);

    fuzz_check(rc == ngx_llm_gateway_gemini_scan(p, len, &b));

    if (rc != NGX_OK) {
        return;
    }

    fuzz_check(a.npieces == b.npieces);

    for (i = 0; i < a.npieces; i++) {
        fuzz_check(a.pieces[i].text.data == b.pieces[i].text.data);
        fuzz_check(a.pieces[i].text.len == b.pieces[i].text.len);
        fuzz_check(a.pieces[i].ascii == b.pieces[i].ascii);

        /* plain ASCII: as many characters as bytes */

        fuzz_check(!a.pieces[i].ascii
                   || ngx_llm_gateway_gemini_scan_chars(a.pieces[i].text.data,
                                                        a.pieces[i].text.len)
                      == a.pieces[i].text.len);
        fuzz_check(a.pieces[i].candidate == b.pieces[i].candidate);
        fuzz_check(a.pieces[i].thought == b.pieces[i].thought);
    }

    fuzz_check(a.ncandidates == b.ncandidates);

    for (i = 0; i < a.ncandidates; i++) {
        fuzz_check(a.candidates[i].index == b.candidates[i].index);
        fuzz_check(a.candidates[i].finish.len == b.candidates[i].finish.len);
        fuzz_check(a.candidates[i].finish.len == 0
                   || memcmp(a.candidates[i].finish.data,
                             b.candidates[i].finish.data,
                             a.candidates[i].finish.len) == 0);
    }

    fuzz_check(a.usage == b.usage);
    fuzz_check(!a.usage
               || memcmp(a.usage_counts, b.usage_counts,
                         sizeof(a.usage_counts)) == 0);
}


/*
 * The input as the events of one stream, separated by blank lines (the
 * corpus has whole streams so): each event through one shape, as the
 * gateway does; and the whole input through a shape kept from one input
 * to the next, which the driver's mutations of one seed keep matching.
 */

static void
fuzz_shapes(const uint8_t *data, size_t size)
{
    u_char                                 *p, *last, *sep, *copy;
    ngx_llm_gateway_gemini_shape_t         *shape;
    static ngx_llm_gateway_gemini_shape_t  *kept;

    if (kept == NULL) {
        kept = calloc(1, sizeof(ngx_llm_gateway_gemini_shape_t));
    }

    fuzz_same_scan((u_char *) data, size, kept);

    shape = calloc(1, sizeof(ngx_llm_gateway_gemini_shape_t));

    p = (u_char *) data;
    last = p + size;

    while (p < last) {
        sep = (u_char *) memmem(p, last - p, "\n\n", 2);

        if (sep == NULL) {
            sep = last;
        }

        /* each event in a copy of its own, freed after: ASan sees reuse */

        copy = malloc(sep - p + 1);
        memcpy(copy, p, sep - p);

        fuzz_same_scan(copy, sep - p, shape);

        free(copy);

        p = (sep == last) ? last : sep + 2;
    }

    free(shape);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                           *doc;
    size_t                          i, j, k, nparts;
    int64_t                         want;
    yajl_val                        root, cands, cand, parts, part, v, usage;
    ngx_int_t                       rc;
    ngx_llm_gateway_gemini_scan_t   scan;

    static const char  *usage_names[] = {
        "promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount",
        "cachedContentTokenCount", "toolUsePromptTokenCount",
        "totalTokenCount"
    };

    fuzz_shapes(data, size);

    rc = ngx_llm_gateway_gemini_scan((u_char *) data, size, &scan);

    if (rc != NGX_OK) {
        fuzz_check(rc == NGX_DECLINED);
        return 0;
    }

    /* taken: no NUL byte can be in it, so yajl may read it as a string */

    fuzz_check(memchr(data, '\0', size) == NULL);

    doc = malloc(size + 1);
    memcpy(doc, data, size);
    doc[size] = '\0';

    root = yajl_tree_parse(doc, NULL, 0);

    fuzz_check(root != NULL && YAJL_IS_OBJECT(root));

    cands = fuzz_get(root, "candidates");

    fuzz_check(scan.ncandidates == (cands ? YAJL_GET_ARRAY(cands)->len : 0));

    k = 0;

    for (i = 0; i < scan.ncandidates; i++) {
        cand = YAJL_GET_ARRAY(cands)->values[i];

        v = fuzz_get(cand, "index");
        fuzz_check(scan.candidates[i].index
                   == (v ? (size_t) YAJL_GET_INTEGER(v) : i));

        v = fuzz_get(cand, "finishReason");
        fuzz_check((v == NULL && scan.candidates[i].finish.len == 0)
                   || (v && YAJL_IS_STRING(v)
                       && strlen(fuzz_string(v))
                          == scan.candidates[i].finish.len
                       && memcmp(fuzz_string(v),
                                 scan.candidates[i].finish.data,
                                 scan.candidates[i].finish.len) == 0));

        parts = fuzz_get(fuzz_get(cand, "content"), "parts");
        nparts = parts ? YAJL_GET_ARRAY(parts)->len : 0;

        for (j = 0; j < nparts; j++) {
            part = YAJL_GET_ARRAY(parts)->values[j];
            v = fuzz_get(part, "text");

            if (v == NULL || fuzz_string(v)[0] == '\0') {
                continue;
            }

            fuzz_check(k < scan.npieces);
            fuzz_check(scan.pieces[k].candidate == i);

            fuzz_same_text(&scan.pieces[k].text, fuzz_string(v));

            v = fuzz_get(part, "thought");
            fuzz_check(scan.pieces[k].thought == (v && YAJL_IS_TRUE(v)));

            k++;
        }
    }

    fuzz_check(k == scan.npieces);

    usage = fuzz_get(root, "usageMetadata");

    fuzz_check(scan.usage == (usage != NULL));

    for (i = 0; usage && i < 6; i++) {
        v = fuzz_get(usage, usage_names[i]);
        want = (v && YAJL_IS_INTEGER(v)) ? YAJL_GET_INTEGER(v) : 0;
        fuzz_check(scan.usage_counts[i] == want);
    }

    yajl_tree_free(root);
    free(doc);

    return 0;
}

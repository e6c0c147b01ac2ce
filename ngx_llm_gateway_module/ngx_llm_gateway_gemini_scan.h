
/*
 * The fast scanner for text-only Gemini answers: see
 * ngx_llm_gateway_gemini_scan.c.  Only ngx_core types, so that a test
 * or fuzz harness can use it without the rest of the module.
 */


#ifndef _NGX_LLM_GATEWAY_GEMINI_SCAN_H_INCLUDED_
#define _NGX_LLM_GATEWAY_GEMINI_SCAN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* fewer than ten: a chunk writes the index as one digit */
#define NGX_LLM_GATEWAY_GEMINI_SCAN_CANDIDATES  8
#define NGX_LLM_GATEWAY_GEMINI_SCAN_PIECES      16
#define NGX_LLM_GATEWAY_GEMINI_SCAN_USAGE       6


typedef struct {
    ngx_str_t                       text;       /* JSON-escaped, no quotes */
    ngx_uint_t                      ascii;      /* no escape, no UTF-8 */
    ngx_uint_t                      candidate;  /* ordinal in candidates */
    ngx_uint_t                      thought;
} ngx_llm_gateway_gemini_piece_t;


typedef struct {
    ngx_uint_t                      index;      /* its "index", or ordinal */
    ngx_str_t                       finish;     /* finishReason, or empty */
} ngx_llm_gateway_gemini_cand_t;


typedef struct {
    ngx_llm_gateway_gemini_piece_t  pieces[NGX_LLM_GATEWAY_GEMINI_SCAN_PIECES];
    ngx_uint_t                      npieces;

    ngx_llm_gateway_gemini_cand_t   candidates[
                                        NGX_LLM_GATEWAY_GEMINI_SCAN_CANDIDATES];
    ngx_uint_t                      ncandidates;

    /*
     * prompt, candidates, thoughts, cached content, tool-use prompt and
     * total token counts, valid when "usage" is set
     */
    int64_t                         usage_counts[
                                        NGX_LLM_GATEWAY_GEMINI_SCAN_USAGE];
    ngx_uint_t                      usage;
} ngx_llm_gateway_gemini_scan_t;


/*
 * The shape of a stream's events: the bytes of the last answer taken,
 * with "holes" where the next answers may differ (texts and numbers).
 * See ngx_llm_gateway_gemini_scan_shaped().
 */

#define NGX_LLM_GATEWAY_GEMINI_SHAPE_SIZE   2048
#define NGX_LLM_GATEWAY_GEMINI_SHAPE_HOLES  48

#define NGX_LLM_GATEWAY_GEMINI_HOLE_TEXT    0   /* a part's text */
#define NGX_LLM_GATEWAY_GEMINI_HOLE_USAGE   1   /* a usage counter */
#define NGX_LLM_GATEWAY_GEMINI_HOLE_NUMBER  2   /* a number not read */


typedef struct {
    uint16_t                        start;      /* offsets in the shape */
    uint16_t                        end;
    uint8_t                         kind;
    uint8_t                         index;      /* counter, or candidate */
    uint8_t                         thought;
} ngx_llm_gateway_gemini_hole_t;


typedef struct {
    u_char                          data[NGX_LLM_GATEWAY_GEMINI_SHAPE_SIZE];
    size_t                          len;        /* 0: nothing learnt */

    ngx_llm_gateway_gemini_hole_t   holes[NGX_LLM_GATEWAY_GEMINI_SHAPE_HOLES];
    ngx_uint_t                      nholes;

    /* candidates and finish reasons (in data) of the answer learnt */
    ngx_llm_gateway_gemini_scan_t   scan;

    /* answers matched, and answers scanned in full (for tests) */
    ngx_uint_t                      hits;
    ngx_uint_t                      misses;
} ngx_llm_gateway_gemini_shape_t;


ngx_int_t ngx_llm_gateway_gemini_scan(u_char *p, size_t len,
    ngx_llm_gateway_gemini_scan_t *scan);
ngx_int_t ngx_llm_gateway_gemini_scan_shaped(u_char *p, size_t len,
    ngx_llm_gateway_gemini_scan_t *scan,
    ngx_llm_gateway_gemini_shape_t *shape);
size_t ngx_llm_gateway_gemini_scan_chars(u_char *p, size_t len);


#endif /* _NGX_LLM_GATEWAY_GEMINI_SCAN_H_INCLUDED_ */


/*
 * Unit tests of the Gemini answer scanner (ngx_llm_gateway_gemini_scan.c),
 * without nginx: the scanner only uses ngx_core types and macros.
 *
 * Every case is an input, what the scanner must answer (NGX_OK, or
 * NGX_DECLINED when the tree path must take the document), and for
 * NGX_OK what it found.  "make unit" builds and runs it; "make test"
 * runs it first.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_llm_gateway_gemini_scan.h"

#include <stdio.h>


static int      failures;
static int      checks;
static u_char  *input;


#define check(cond, name, what)                                              \
    do {                                                                     \
        checks++;                                                            \
        if (!(cond)) {                                                       \
            failures++;                                                      \
            fprintf(stderr, "not ok: %s: %s\n", name, what);                 \
        }                                                                    \
    } while (0)


static ngx_int_t
scan(const char *json, ngx_llm_gateway_gemini_scan_t *s)
{
    size_t  len;

    /*
     * A copy of exactly the document's length, so that AddressSanitizer
     * catches a read past it; kept until the next case, as the pieces
     * point into it.
     */

    free(input);

    len = strlen(json);
    input = malloc(len ? len : 1);
    memcpy(input, json, len);

    return ngx_llm_gateway_gemini_scan(input, len, s);
}


static int
text_is(ngx_str_t *t, const char *want)
{
    return t->len == strlen(want) && memcmp(t->data, want, t->len) == 0;
}


static void
declines(const char *name, const char *json)
{
    ngx_llm_gateway_gemini_scan_t  s;

    check(scan(json, &s) == NGX_DECLINED, name, "must be declined");
}


static void
accepts(const char *name, const char *json)
{
    ngx_llm_gateway_gemini_scan_t  s;

    check(scan(json, &s) == NGX_OK, name, "must be accepted");
}


/*
 * The shaped scan, one event of a stream after the other: each in a copy
 * of its own length, freed before the next, so that a shape pointing into
 * an earlier event (instead of its own copy) is caught by ASan.
 */

static ngx_int_t
shaped(const char *json, ngx_llm_gateway_gemini_scan_t *s,
    ngx_llm_gateway_gemini_shape_t *shape)
{
    size_t  len;

    free(input);

    len = strlen(json);
    input = malloc(len ? len : 1);
    memcpy(input, json, len);

    return ngx_llm_gateway_gemini_scan_shaped(input, len, s, shape);
}


/* a stream's event with the given text and counters, in Gemini's layout */

static const char *
event(const char *text, const char *prompt, const char *total,
    const char *finish)
{
    static char  buf[1024];

    snprintf(buf, sizeof(buf),
             "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": "
             "\"%s\"}],\"role\": \"model\"},%s\"index\": 0}],"
             "\"usageMetadata\": {\"promptTokenCount\": %s,"
             "\"totalTokenCount\": %s,\"promptTokensDetails\": "
             "[{\"modality\": \"TEXT\",\"tokenCount\": %s}]},"
             "\"modelVersion\": \"gemini-x\",\"responseId\": \"r1\"}\r\n",
             text, finish, prompt, total, prompt);

    return buf;
}


static void
shape_tests(void)
{
    ngx_uint_t                       hits;
    ngx_llm_gateway_gemini_scan_t    s, plain;
    ngx_llm_gateway_gemini_shape_t  *shape;

    shape = calloc(1, sizeof(ngx_llm_gateway_gemini_shape_t));

    /* the first event is scanned in full, and learnt */

    check(shaped(event("One ", "5", "5", ""), &s, shape) == NGX_OK
          && shape->hits == 0 && shape->misses == 1 && shape->len > 0,
          "shape", "the first event is learnt");
    check(s.npieces == 1 && text_is(&s.pieces[0].text, "One ")
          && s.pieces[0].ascii && s.usage
          && s.usage_counts[0] == 5 && s.usage_counts[5] == 5,
          "shape", "the first event's values");

    /* the same layout, other values: matched */

    check(shaped(event("two \\u00e9 \\\"q\\\" \xe2\x9c\x93", "123456", "7",
                       ""), &s, shape) == NGX_OK
          && shape->hits == 1 && shape->misses == 1,
          "shape", "the second event is matched");
    check(s.npieces == 1
          && text_is(&s.pieces[0].text,
                     "two \\u00e9 \\\"q\\\" \xe2\x9c\x93")
          && !s.pieces[0].ascii && s.pieces[0].candidate == 0
          && !s.pieces[0].thought,
          "shape", "the text of a match, escaped, not plain ASCII");
    check(s.usage && s.usage_counts[0] == 123456 && s.usage_counts[5] == 7
          && s.usage_counts[1] == 0,
          "shape", "the counters of a match");
    check(s.ncandidates == 1 && s.candidates[0].index == 0
          && s.candidates[0].finish.len == 0,
          "shape", "the candidates of a match");

    /* an empty text adds no piece; a fraction is no counter */

    check(shaped(event("", "5.5", "-3", ""), &s, shape) == NGX_OK
          && shape->hits == 2 && s.npieces == 0
          && s.usage_counts[0] == 0 && s.usage_counts[5] == -3,
          "shape", "an empty text, a fraction, a negative counter");

    /* values a full scan refuses are refused in a hole too */

    hits = shape->hits;

    check(shaped(event("a\x01b", "5", "5", ""), &s, shape) == NGX_DECLINED,
          "shape", "a control character in a text");
    check(shaped(event("a\xff" "b", "5", "5", ""), &s, shape) == NGX_DECLINED,
          "shape", "bad UTF-8 in a text");
    check(shaped(event("a\\ud800", "5", "5", ""), &s, shape) == NGX_DECLINED,
          "shape", "a lone surrogate in a text");
    check(shaped(event("a", "1234567890123456789", "5", ""), &s, shape)
          == NGX_DECLINED, "shape", "a counter of 19 digits");
    check(shaped(event("a", "01", "5", ""), &s, shape) == NGX_DECLINED,
          "shape", "a number with a leading zero");
    check(shaped(event("a", "-", "5", ""), &s, shape) == NGX_DECLINED,
          "shape", "a sign alone");
    check(shaped(event("a", "\"5\"", "5", ""), &s, shape) == NGX_OK
          && s.usage_counts[0] == 0,
          "shape", "a counter as a string: another shape, scanned in full");
    check(shape->hits == hits, "shape", "none of those matched");

    /* learnt again from a good event after those */

    check(shaped(event("x", "1", "2", ""), &s, shape) == NGX_OK
          && shaped(event("y", "3", "4", ""), &s, shape) == NGX_OK
          && shape->hits == hits + 1 && text_is(&s.pieces[0].text, "y")
          && s.usage_counts[0] == 3,
          "shape", "a good event after a refused one is learnt again");

    /* the last event: a finish reason is another layout */

    check(shaped(event("end", "5", "9", "\"finishReason\": \"STOP\","),
                 &s, shape) == NGX_OK
          && shape->hits == hits + 1 && text_is(&s.candidates[0].finish, "STOP"),
          "shape", "a finish reason: a full scan");

    /* matched: the finish reason comes from the shape's own copy */

    check(shaped(event("more", "5", "10", "\"finishReason\": \"STOP\","),
                 &s, shape) == NGX_OK
          && shape->hits == hits + 2
          && text_is(&s.candidates[0].finish, "STOP")
          && text_is(&s.pieces[0].text, "more"),
          "shape", "a matched finish reason");

    /* white space, a cut, bytes after: not the same layout */

    check(shaped("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"c\"}]}}]}",
                 &s, shape) == NGX_OK && shape->hits == hits + 2,
          "shape", "other white space: a full scan");
    check(shaped("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"d\"}]}}]}",
                 &s, shape) == NGX_OK && shape->hits == hits + 3
          && text_is(&s.pieces[0].text, "d"),
          "shape", "and then matched");
    check(shaped("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"d\"}]}}]}x",
                 &s, shape) == NGX_DECLINED,
          "shape", "bytes after the answer");
    check(shaped("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"d\"}]}}",
                 &s, shape) == NGX_DECLINED,
          "shape", "an answer cut short");
    check(shaped("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"d",
                 &s, shape) == NGX_DECLINED,
          "shape", "an answer cut in its text");
    check(shaped("", &s, shape) == NGX_DECLINED, "shape", "nothing");

    /* thoughts: the flag after the text is learnt with the hole */

    check(shaped("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"t1\","
                 "\"thought\":true},{\"text\":\"a1\"}]}}]}", &s, shape)
          == NGX_OK
          && shaped("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
                    "\"t2\",\"thought\":true},{\"text\":\"a2\"}]}}]}", &s, shape)
             == NGX_OK
          && s.npieces == 2 && s.pieces[0].thought && !s.pieces[1].thought
          && text_is(&s.pieces[1].text, "a2"),
          "shape", "a thought and an answer in a match");

    /* as many values as a shape holds, and one more: not learnt */

    {
        char        big[4096];
        int         i, n, holes;
        ngx_uint_t  misses;

        for (holes = NGX_LLM_GATEWAY_GEMINI_SHAPE_HOLES;
             holes <= NGX_LLM_GATEWAY_GEMINI_SHAPE_HOLES + 1;
             holes++)
        {
            n = sprintf(big, "{\"x\":[");
            for (i = 0; i < holes; i++) {
                n += sprintf(big + n, "%s%d", i ? "," : "", i);
            }
            sprintf(big + n, "]}");

            misses = shape->misses;

            check(shaped(big, &s, shape) == NGX_OK
                  && shaped(big, &s, shape) == NGX_OK,
                  "shape", "many numbers");
            check(shape->misses
                  == misses + (holes > NGX_LLM_GATEWAY_GEMINI_SHAPE_HOLES
                               ? 2 : 1),
                  "shape", "a shape of as many holes as it holds, not more");
        }

        /* larger than a shape: scanned in full each time */

        memset(big, ' ', 3000);
        memcpy(big, "{\"x\":1}", 7);
        big[3000] = '\0';

        misses = shape->misses;

        check(shaped(big, &s, shape) == NGX_OK
              && shaped(big, &s, shape) == NGX_OK
              && shape->misses == misses + 2,
              "shape", "an answer larger than a shape is not learnt");
    }

    /* every match gives what a full scan of the same bytes gives */

    check(shaped(event("p", "1", "2", ""), &s, shape) == NGX_OK
          && shaped(event("q\\n", "8", "9", ""), &s, shape) == NGX_OK
          && ngx_llm_gateway_gemini_scan(input, strlen((char *) event(
                 "q\\n", "8", "9", "")), &plain) == NGX_OK
          && s.npieces == plain.npieces
          && s.pieces[0].text.data == plain.pieces[0].text.data
          && s.pieces[0].text.len == plain.pieces[0].text.len
          && s.pieces[0].ascii == plain.pieces[0].ascii
          && memcmp(s.usage_counts, plain.usage_counts,
                    sizeof(s.usage_counts)) == 0,
          "shape", "a match and a full scan agree");

    free(shape);
}


int
main(void)
{
    ngx_llm_gateway_gemini_scan_t  s;

    /* the shape of every streamed event (recorded framing, see t/fixtures) */

    check(scan("{\"candidates\": [{\"content\": {\"parts\": [{\"text\": "
               "\"The\"}],\"role\": \"model\"},\"index\": 0}],"
               "\"usageMetadata\": {\"promptTokenCount\": 8,"
               "\"candidatesTokenCount\": 1,\"totalTokenCount\": 9,"
               "\"promptTokensDetails\": [{\"modality\": \"TEXT\","
               "\"tokenCount\": 8}]},\"modelVersion\": \"gemini-2.0-flash\","
               "\"responseId\": \"abc\"}\r\n", &s) == NGX_OK,
          "event", "accepted");
    check(s.npieces == 1 && text_is(&s.pieces[0].text, "The")
          && !s.pieces[0].thought && s.pieces[0].candidate == 0,
          "event", "one text piece");
    check(s.ncandidates == 1 && s.candidates[0].index == 0
          && s.candidates[0].finish.len == 0, "event", "one candidate");
    check(s.usage && s.usage_counts[0] == 8 && s.usage_counts[1] == 1
          && s.usage_counts[2] == 0 && s.usage_counts[5] == 9,
          "event", "usage counts");

    /* thoughts, several parts, finish reason, escapes kept as written */

    check(scan("{\"candidates\":[{\"content\":{\"parts\":["
               "{\"text\":\"hm\\u00e9\\n\",\"thought\":true},"
               "{\"text\":\"A \\\"b\\\"\",\"thoughtSignature\":\"c2ln\"},"
               "{\"text\":\"\"},{\"inlineData\":{\"data\":\"eA==\"}},"
               "{\"text\":\"x\",\"thought\":false}]},"
               "\"finishReason\":\"STOP\",\"safetyRatings\":[]}]}", &s)
          == NGX_OK, "parts", "accepted");
    check(s.npieces == 3, "parts", "empty text and inlineData add nothing");
    check(text_is(&s.pieces[0].text, "hm\\u00e9\\n") && s.pieces[0].thought,
          "parts", "a thought, escapes kept");
    check(text_is(&s.pieces[1].text, "A \\\"b\\\"") && !s.pieces[1].thought,
          "parts", "an answer with escaped quotes");
    check(!s.pieces[2].thought, "parts", "thought false");
    check(text_is(&s.candidates[0].finish, "STOP"), "parts", "finish");
    check(!s.usage, "parts", "no usage");

    /* candidates name their index after the content */

    check(scan("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"b\"}]},"
               "\"index\":1},{\"content\":{\"parts\":[{\"text\":\"a\"}]},"
               "\"index\":0,\"finishReason\":\"MAX_TOKENS\"}]}", &s) == NGX_OK
          && s.ncandidates == 2 && s.candidates[0].index == 1
          && s.candidates[1].index == 0 && s.pieces[0].candidate == 0
          && s.pieces[1].candidate == 1
          && text_is(&s.candidates[1].finish, "MAX_TOKENS"),
          "candidates", "indexes and ordinals");

    /* usage values that are not integers count as 0, as the tree reads */

    check(scan("{\"usageMetadata\":{\"promptTokenCount\":1.5,"
               "\"totalTokenCount\":\"7\",\"thoughtsTokenCount\":-2,"
               "\"candidatesTokenCount\":123456789012345678}}", &s) == NGX_OK
          && s.usage && s.usage_counts[0] == 0 && s.usage_counts[5] == 0
          && s.usage_counts[2] == -2
          && s.usage_counts[1] == 123456789012345678LL,
          "usage", "integers only");

    check(scan(" {\"candidates\":[]}\n", &s) == NGX_OK && s.ncandidates == 0,
          "empty", "no candidates");
    check(scan("{\"candidates\":[{}]}", &s) == NGX_OK && s.ncandidates == 1
          && s.npieces == 0 && s.candidates[0].index == 0,
          "empty", "an empty candidate");

    /* characters, as the tree path counts the decoded text */

    check(ngx_llm_gateway_gemini_scan_chars((u_char *) "a\\nb\\u00e9", 10) == 4,
          "chars", "escapes are one character");
    check(ngx_llm_gateway_gemini_scan_chars((u_char *) "h\xc3\xa9llo w\xc3\xb6rld"
                                            " \xf0\x9f\x98\x80", 17) == 13,
          "chars", "code points");
    check(ngx_llm_gateway_gemini_scan_chars((u_char *) "0123456789abcdefgh", 18)
          == 18, "chars", "plain ASCII");

    /* values in skipped places: every JSON form */

    accepts("skip", "{\"x\":[1,-0,0.5,1e3,1E-3,-2.5e+10,true,false,null,"
            "\"\\/\\b\\f\\r\\t\",{},[],{\"a\":[{\"b\":{}}]}],\"y\":\"\xe2\x82\xac\"}");

    /* long strings: the wide scan must stop at every byte that matters */

    check(scan("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
               "\"0123456789abcdefghij\\\"klmnopqrstuvwxyz0123456789"
               "\xc3\xa9" "ABCDEFGHIJKLMNOP\"}]}}]}", &s) == NGX_OK
          && s.npieces == 1
          && text_is(&s.pieces[0].text, "0123456789abcdefghij\\\"klmnopqrs"
                     "tuvwxyz0123456789\xc3\xa9" "ABCDEFGHIJKLMNOP"),
          "long", "escape and UTF-8 past sixteen bytes");
    check(scan("{\"x\":\"0123456789abcdef\"}", &s) == NGX_OK,
          "long", "a string of exactly sixteen bytes");
    declines("long control", "{\"x\":\"0123456789abcdefghij\x01klm\"}");
    declines("long bad byte", "{\"x\":\"0123456789abcdefghij"
             "\xffklm\"}");
    declines("long unterminated", "{\"x\":\"0123456789abcdefghijklmnopq");

    /* what the tree path must handle */

    declines("functionCall", "{\"candidates\":[{\"content\":{\"parts\":["
             "{\"functionCall\":{\"name\":\"f\",\"args\":{}}}]}}]}");
    declines("executableCode", "{\"candidates\":[{\"content\":{\"parts\":["
             "{\"executableCode\":{\"code\":\"1\"}}]}}]}");
    declines("codeExecutionResult", "{\"candidates\":[{\"content\":{\"parts\":["
             "{\"codeExecutionResult\":{\"output\":\"1\"}}]}}]}");
    declines("grounding", "{\"candidates\":[{\"groundingMetadata\":{}}]}");
    declines("promptFeedback", "{\"promptFeedback\":{\"blockReason\":\"X\"}}");
    declines("error", "{\"error\":{\"code\":429}}");
    declines("text not a string", "{\"candidates\":[{\"content\":{\"parts\":["
             "{\"text\":5}]}}]}");
    declines("candidates not an array", "{\"candidates\":{}}");
    declines("content not an object", "{\"candidates\":[{\"content\":[]}]}");
    declines("parts not an array",
             "{\"candidates\":[{\"content\":{\"parts\":{}}}]}");
    declines("index too large", "{\"candidates\":[{\"index\":8}]}");
    declines("index negative", "{\"candidates\":[{\"index\":-1}]}");
    declines("index not an integer", "{\"candidates\":[{\"index\":0.0}]}");
    declines("finish not a string", "{\"candidates\":[{\"finishReason\":1}]}");
    declines("usage not an object", "{\"usageMetadata\":[]}");
    declines("too many candidates", "{\"candidates\":[{},{},{},{},{},{},{},{},{}]}");

    /* duplicates: which one the tree keeps is its business */

    declines("dup text", "{\"candidates\":[{\"content\":{\"parts\":["
             "{\"text\":\"a\",\"text\":\"b\"}]}}]}");
    declines("dup candidates", "{\"candidates\":[],\"candidates\":[]}");
    declines("dup usage", "{\"usageMetadata\":{\"totalTokenCount\":1,"
             "\"totalTokenCount\":2}}");
    declines("dup index", "{\"candidates\":[{\"index\":0,\"index\":0}]}");

    /* escapes a copy would not reproduce as the tree decodes them */

    declines("escaped key", "{\"c\\u0061ndidates\":[]}");
    declines("lone surrogate", "{\"candidates\":[{\"content\":{\"parts\":["
             "{\"text\":\"\\ud83d\"}]}}]}");
    declines("escaped pair", "{\"x\":\"\\ud83d\\ude00\"}");
    declines("NUL escape", "{\"x\":\"a\\u0000\"}");
    declines("bad escape", "{\"x\":\"\\x41\"}");
    declines("short unicode escape", "{\"x\":\"\\u12\"}");

    /* not JSON, or not UTF-8 */

    declines("empty", "");
    declines("blank", " \r\n");
    declines("not an object", "[]");
    declines("trailing garbage", "{} x");
    declines("two documents", "{}{}");
    declines("trailing comma", "{\"a\":1,}");
    declines("trailing comma in array", "{\"a\":[1,]}");
    declines("missing comma", "{\"a\":1 \"b\":2}");
    declines("missing colon", "{\"a\" 1}");
    declines("unterminated string", "{\"a\":\"abc");
    declines("unterminated object", "{\"a\":{\"b\":1}");
    declines("control character", "{\"a\":\"x\ty\"}");
    declines("overlong", "{\"a\":\"\xc0\x80\"}");
    declines("truncated sequence", "{\"a\":\"\xe2\x82\"}");
    declines("encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}");
    declines("beyond U+10FFFF", "{\"a\":\"\xf4\x90\x80\x80\"}");
    declines("stray continuation", "{\"a\":\"\x80\"}");
    declines("leading zero", "{\"a\":01}");
    declines("bare minus", "{\"a\":-}");
    declines("fraction without digits", "{\"a\":1.}");
    declines("exponent without digits", "{\"a\":1e}");
    declines("19 digits", "{\"usageMetadata\":{\"totalTokenCount\":"
             "1234567890123456789}}");
    declines("19 nines", "{\"usageMetadata\":{\"totalTokenCount\":"
             "9999999999999999999}}");
    declines("bad literal", "{\"a\":nul}");
    declines("literal tail", "{\"a\":truex}");

    {
        /* nesting deeper than the tree parser allows, in a skipped value */

        char  deep[256];
        int   i, n;

        n = 0;
        n += sprintf(deep + n, "{\"x\":");
        for (i = 0; i < 70; i++) {
            deep[n++] = '[';
        }
        for (i = 0; i < 70; i++) {
            deep[n++] = ']';
        }
        deep[n++] = '}';
        deep[n] = '\0';

        declines("deep", deep);
    }

    shape_tests();

    free(input);

    printf("gemini_scan_test: %s: %d checks, %d failed\n",
           failures ? "FAIL" : "ok", checks, failures);

    return failures ? 1 : 0;
}

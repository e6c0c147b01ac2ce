# Gemini: OpenAI chat completions translated to generateContent and
# streamGenerateContent, and every recorded Gemini sample translated back.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;
use MIME::Base64 qw(encode_base64url);

no_shuffle();
gateway_setup();

# an id the gateway would mint for a call carrying this signature
sub call_id {
    my $sig = shift;
    return "call_0123456789abcdef_ts_" . encode_base64url($sig);
}

run_tests();

__DATA__

=== TEST 1: a non-streamed answer
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"Where is Google?"}]}
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"id":"chatcmpl-[0-9a-f]{24}","object":"chat.completion","created":\d+,"model":"gemini-2.0-flash","choices":\[\{"index":0,"message":\{"role":"assistant","content":"Google's headquarters, also known as the Googleplex, is located in \*\*Mountain View, California\*\*.\\n","refusal":null\},"logprobs":null,"finish_reason":"stop"\}\],"usage":\{"prompt_tokens":7,"completion_tokens":22,"total_tokens":29,"prompt_tokens_details":\{"cached_tokens":0\},"completion_tokens_details":\{"reasoning_tokens":0\}\}\}$



=== TEST 2: what Gemini receives
--- config
    location /v1/ { llm_gateway; }
--- request eval
[q{POST /v1/chat/completions
{"model":"gemini-2.5-flash","messages":[
 {"role":"system","content":"Be brief."},
 {"role":"developer","content":[{"type":"text","text":"Use metric units."}]},
 {"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},
 {"role":"assistant","content":"A cat."},
 {"role":"user","content":"Sure?"}],
 "temperature":0.25,"top_p":0.9,"max_tokens":50,"max_completion_tokens":100,
 "stop":["END"],"n":1,"seed":7,"presence_penalty":0.5,"frequency_penalty":-0.5,
 "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}}},
 "reasoning_effort":"low"}},
"GET /_mock/last"]
--- response_body_like eval
['"object":"chat.completion"',
 '"path": "/v1beta/models/gemini-2.5-flash:generateContent".*"x-goog-api-key",\s*"gm-test-key-cccc3333dddd4444"']
--- response_body_unlike eval
['xxx', '(?i)"authorization"']



=== TEST 3: the translated body, exactly
--- config
    location /v1/ { llm_gateway; }
    location = /body {
        proxy_pass http://llm_mock/__mock/last;
        proxy_http_version 1.1;
    }
--- request eval
[q{POST /v1/chat/completions
{"model":"gemini-2.5-flash","messages":[
 {"role":"system","content":"Be brief."},
 {"role":"developer","content":[{"type":"text","text":"Use metric units."}]},
 {"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},
 {"role":"assistant","content":"A cat."},
 {"role":"user","content":"Sure?"}],
 "temperature":0.25,"top_p":0.9,"max_tokens":50,"max_completion_tokens":100,
 "stop":["END"],"n":1,"seed":7,"presence_penalty":0.5,"frequency_penalty":-0.5,
 "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}}},
 "reasoning_effort":"low"}},
"GET /body"]
--- response_body_like eval
['chat.completion',
 quotemeta(q{"body": "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"What is this?\"},{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"iVBORw0KGgo=\"}}]},{\"role\":\"model\",\"parts\":[{\"text\":\"A cat.\"}]},{\"role\":\"user\",\"parts\":[{\"text\":\"Sure?\"}]}],\"systemInstruction\":{\"parts\":[{\"text\":\"Be brief.\"},{\"text\":\"Use metric units.\"}]},\"generationConfig\":{\"temperature\":0.25,\"topP\":0.9,\"candidateCount\":1,\"presencePenalty\":0.5,\"frequencyPenalty\":-0.5,\"seed\":7,\"maxOutputTokens\":100,\"stopSequences\":[\"END\"],\"responseMimeType\":\"application/json\",\"responseJsonSchema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":false},\"thinkingConfig\":{\"thinkingBudget\":1024,\"includeThoughts\":true}}}"})]



=== TEST 4: tools, tool choice, replayed calls with their signatures, tool results
--- config
    location /v1/ { llm_gateway; }
    location = /body {
        proxy_pass http://llm_mock/__mock/last;
        proxy_http_version 1.1;
    }
--- request eval
my $id1 = main::call_id("signature_REDACTED_1");
my $id2 = "call_from_elsewhere";
["POST /v1/chat/completions
{\"model\":\"gemini-3-flash-preview\",\"messages\":[
 {\"role\":\"user\",\"content\":\"Plan a trip and check the time.\"},
 {\"role\":\"assistant\",\"content\":null,\"tool_calls\":[
   {\"id\":\"$id1\",\"type\":\"function\",\"function\":{\"name\":\"plan_trip\",\"arguments\":\"{\\\"city\\\":\\\"Kyoto\\\"}\"}},
   {\"id\":\"$id2\",\"type\":\"function\",\"function\":{\"name\":\"now\",\"arguments\":\"\"}}]},
 {\"role\":\"tool\",\"tool_call_id\":\"$id1\",\"content\":\"{\\\"ok\\\":true}\"},
 {\"role\":\"tool\",\"tool_call_id\":\"$id2\",\"content\":\"12:00\"}],
 \"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"plan_trip\",\"description\":\"Plans.\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],\"additionalProperties\":false},\"strict\":true}},
           {\"type\":\"function\",\"function\":{\"name\":\"now\"}}],
 \"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"plan_trip\"}},
 \"reasoning_effort\":\"high\"}",
"GET /body"]
--- response_body_like eval
['chat.completion',
 quotemeta(q{"body": "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Plan a trip and check the time.\"}]},{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"plan_trip\",\"args\":{\"city\":\"Kyoto\"}},\"thoughtSignature\":\"signature_REDACTED_1\"},{\"functionCall\":{\"name\":\"now\",\"args\":{}}}]},{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"plan_trip\",\"response\":{\"output\":{\"ok\":true}}}},{\"functionResponse\":{\"name\":\"now\",\"response\":{\"output\":\"12:00\"}}}]}],\"tools\":[{\"functionDeclarations\":[{\"name\":\"plan_trip\",\"description\":\"Plans.\",\"parametersJsonSchema\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],\"additionalProperties\":false}},{\"name\":\"now\"}]}],\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\",\"allowedFunctionNames\":[\"plan_trip\"]}},\"generationConfig\":{\"thinkingConfig\":{\"thinkingLevel\":\"HIGH\",\"includeThoughts\":true}}}"})]



=== TEST 5: tool_choice none, auto and required
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"gemini-2.5-flash\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"none\"}",
"GET /_mock/last",
"POST /v1/chat/completions
{\"model\":\"gemini-2.5-flash\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"auto\"}",
"GET /_mock/last",
"POST /v1/chat/completions
{\"model\":\"gemini-2.5-flash\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"required\",\"reasoning_effort\":\"none\"}",
"GET /_mock/last"]
--- response_body_like eval
['chat.completion', '\\\\"mode\\\\":\\\\"NONE\\\\"',
 'chat.completion', '\\\\"mode\\\\":\\\\"AUTO\\\\"',
 'chat.completion', '\\\\"mode\\\\":\\\\"ANY\\\\"\}\}.*\\\\"thinkingBudget\\\\":0,\\\\"includeThoughts\\\\":false']



=== TEST 6: thoughts and a function call with its signature (non-streamed)
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-thinking-fc","messages":[{"role":"user","content":"When is New Year?"}]}
--- response_body_like: ^\{"id":"chatcmpl-\w+","object":"chat.completion","created":\d+,"model":"mock-thinking-fc","choices":\[\{"index":0,"message":\{"role":"assistant","content":null,"reasoning_content":"\*\*Thinking Through the New Year's Eve Calculation\*\*.*","refusal":null,"tool_calls":\[\{"id":"call_[0-9a-f]{16}_ts_Q3RRT0FWU29Y[\w-]+","type":"function","function":\{"name":"now","arguments":"\{\}"\}\}\]\},"logprobs":null,"finish_reason":"tool_calls"\}\],"usage":\{"prompt_tokens":38,"completion_tokens":509,"total_tokens":547,"prompt_tokens_details":\{"cached_tokens":0\},"completion_tokens_details":\{"reasoning_tokens":501\}\}\}$



=== TEST 7: a basic stream
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"gemini-2.0-flash","stream":true,"messages":[{"role":"user","content":"Capital of Wyoming?"}]}
--- response_headers
Content-Type: text/event-stream
--- response_body_like eval
my $h = '\{"id":"chatcmpl-\w+","object":"chat.completion.chunk","created":\d+,"model":"gemini-2.0-flash","choices":\[\{"index":0,"delta":';
my $t = ',"logprobs":null,"finish_reason":null\}\]\}\n\n';
'^data: ' . $h . '\{"role":"assistant","content":""\}' . $t
. 'data: ' . $h . '\{"content":"The"\}' . $t
. 'data: ' . $h . '\{"content":" capital of Wyoming"\}' . $t
. 'data: ' . $h . '\{"content":" is \*\*Cheyenne\*\*.\\\\n"\}' . $t
. 'data: ' . $h . '\{\},"logprobs":null,"finish_reason":"stop"\}\]\}\n\n'
. 'data: \[DONE\]\n\n$'



=== TEST 8: live framing (CRLF between events) gives the same stream
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-crlf","stream":true,"messages":[{"role":"user","content":"Capital of Wyoming?"}]}
--- response_body_like: (?s)"content":"The".*"content":" capital of Wyoming".*"content":" is \*\*Cheyenne\*\*.\\n".*"finish_reason":"stop"\}\]\}\n\ndata: \[DONE\]\n\n$



=== TEST 9: usage chunk only when asked for, before [DONE]
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"gemini-2.0-flash","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}
--- response_body_like: "finish_reason":"stop"\}\]\}\n\ndata: \{"id":"chatcmpl-\w+","object":"chat.completion.chunk","created":\d+,"model":"gemini-2.0-flash","choices":\[\],"usage":\{"prompt_tokens":7,"completion_tokens":10,"total_tokens":17,"prompt_tokens_details":\{"cached_tokens":0\},"completion_tokens_details":\{"reasoning_tokens":0\}\}\}\n\ndata: \[DONE\]\n\n$



=== TEST 10: a streamed function call, whole, with its index and signature
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-fc","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Plan"}]}
--- response_body_like eval
'"delta":\{"tool_calls":\[\{"index":0,"id":"call_[0-9a-f]{16}_ts_' . MIME::Base64::encode_base64url("signature_REDACTED_1")
. '","type":"function","function":\{"name":"plan_trip","arguments":"\{\\\\"itinerary\\\\":\{\\\\"activities\\\\":\[\\\\"temples\\\\",\\\\"tea ceremony\\\\"\],\\\\"city\\\\":\\\\"Kyoto\\\\",\\\\"days\\\\":3,\\\\"lodging\\\\":\{\\\\"name\\\\":\\\\"Sakura Inn\\\\",\\\\"rooms\\\\":2\}\}\}"\}\}\]\},"logprobs":null,"finish_reason":null\}\]\}\n\n'
. 'data: \{[^\n]*"delta":\{\},"logprobs":null,"finish_reason":"tool_calls"\}\]\}\n\n'
. 'data: \{[^\n]*"usage":\{"prompt_tokens":301,"completion_tokens":190,"total_tokens":491,[^\n]*"reasoning_tokens":134\}\}\}\n\ndata: \[DONE\]\n\n$'



=== TEST 11: thoughts stream as reasoning_content, then the answer
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-thinking-text","stream":true,"messages":[{"role":"user","content":"x"}]}
--- response_body_like: (?s)"delta":\{"role":"assistant","content":""\}.*"delta":\{"reasoning_content":"[^"]+"\}.*"delta":\{"content":"[^"]+"\}.*"finish_reason":"stop"\}\]\}\n\ndata: \[DONE\]\n\n$
--- response_body_unlike: "delta":\{"content":""\}



=== TEST 12: a finishReason in the middle of a code execution stream does not end it
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-code","stream":true,"messages":[{"role":"user","content":"x"}]}
--- response_body_like: (?s)"content":"\\n```python\\nprint\(987654321 \* 123456789\)\\n```\\n".*"content":"\\n```output\\n121932631112635269\\n```\\n".*"finish_reason":null.*"delta":\{\},"logprobs":null,"finish_reason":"stop"\}\]\}\n\ndata: \[DONE\]\n\n$
--- response_body_unlike: "finish_reason":"stop".*"finish_reason":"stop"



=== TEST 13: MAX_TOKENS is length
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-max-tokens","stream":true,"messages":[{"role":"user","content":"x"}]}
--- response_body_like: "finish_reason":"length"\}\]\}\n\ndata: \[DONE\]\n\n$



=== TEST 14: SAFETY is content_filter
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-safety","messages":[{"role":"user","content":"x"}]}
--- response_body_like: "finish_reason":"content_filter"



=== TEST 15: a blocked prompt: content_filter and no content, streamed and not
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"mock-blocked\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
"POST /v1/chat/completions
{\"model\":\"mock-blocked\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"]
--- response_body_like eval
['^data: [^\n]*"delta":\{"role":"assistant","content":""\}[^\n]*\n\ndata: [^\n]*"delta":\{\},"logprobs":null,"finish_reason":"content_filter"\}\]\}\n\ndata: \[DONE\]\n\n$',
 '"message":\{"role":"assistant","content":"","refusal":null\},"logprobs":null,"finish_reason":"content_filter"']



=== TEST 16: code execution, non-streamed, as fenced markdown
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-code","messages":[{"role":"user","content":"x"}]}
--- response_body_like: "content":"[^"]*```python\\n[^"]*```\\n[^"]*```output\\n[^"]*```\\n



=== TEST 17: a bad key is a 401 for OpenAI clients
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-400-key","messages":[{"role":"user","content":"x"}]}
--- error_code: 401
--- response_body chomp
{"error":{"message":"API key not valid. Please pass a valid API key.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}



=== TEST 18: quota: 429 with Retry-After from RetryInfo
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-429","messages":[{"role":"user","content":"x"}]}
--- error_code: 429
--- response_headers
Retry-After: 26
Content-Type: application/json
--- response_body_like: ^\{"error":\{"message":"You exceeded your current quota, please check your plan and billing details\. [^"]+","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"\}\}$



=== TEST 19: quota before a stream: the same 429
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-429","stream":true,"messages":[{"role":"user","content":"x"}]}
--- error_code: 429
--- response_headers
Retry-After: 26
Content-Type: application/json
--- response_body_like: "code":"rate_limit_exceeded"



=== TEST 20: unknown model
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-404","stream":true,"messages":[{"role":"user","content":"x"}]}
--- error_code: 404
--- response_body_like: ^\{"error":\{"message":"models/[^"]+ is not found[^"]*","type":"invalid_request_error","param":null,"code":"model_not_found"\}\}$



=== TEST 21: disabled API
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-403","messages":[{"role":"user","content":"x"}]}
--- error_code: 403
--- response_body_like: "type":"permission_error","param":null,"code":"PERMISSION_DENIED"



=== TEST 22: overloaded
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-503","messages":[{"role":"user","content":"x"}]}
--- error_code: 503
--- response_body_like: ^\{"error":\{"message":"The model is overloaded. Please try again later.","type":"service_unavailable_error","param":null,"code":"UNAVAILABLE"\}\}$



=== TEST 23: an error in the middle of a stream (bare JSON, not an event)
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-error-mid-stream","stream":true,"messages":[{"role":"user","content":"x"}]}
--- response_body_like: (?s)"content":"The".*\n\ndata: \{"error":\{"message":"[^"]+","type":"server_error","param":null,"code":"INTERNAL"\}\}\n\ndata: \[DONE\]\n\n$
--- response_body_unlike: "finish_reason":"stop"
--- error_log
sent an error in the stream



=== TEST 24: http image URLs are refused with a clear 400
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"gemini-2.5-flash","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}
--- error_code: 400
--- response_body_like: ^\{"error":\{"message":"Gemini models take images as data: URLs



=== TEST 25: a tool result for a call nobody made
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"call_x","content":"y"}]}
--- error_code: 400
--- response_body_like: refers to a tool_call_id that no earlier assistant message has



=== TEST 26: the model list has Gemini's chat models, from every page
--- http_config
    llm_gateway_provider gemini type=gemini pass=/_llm/gemini key=gm-k-0000000000000000;
    llm_gateway_model ~^gemini- gemini;
--- config
    location /v1/ { llm_gateway; }
--- request eval
["GET /_mock/reset", "GET /v1/models", "GET /_mock/requests"]
--- response_body_like eval
['reset',
 '^\{"object":"list","data":\[\{"id":"gemini-[^"]+","object":"model","created":0,"owned_by":"google","display_name":"[^"]+","context_length":\d+\}',
 '(?s)"query": "pageSize=1000".*"query": "pageSize=1000&pageToken=offset-20".*"query": "pageSize=1000&pageToken=offset-40"']
--- response_body_unlike eval
['xxx', '"id":"(?:text-)?embedding', 'xxx']



=== TEST 27: embeddings, as floats, in input order
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/embeddings
{"model":"gemini-embedding-001","input":["Rust values memory safety.","Streaming responses.","Embeddings turn text into vectors."],"encoding_format":"float"}
--- response_body chomp
{"object":"list","data":[{"object":"embedding","index":0,"embedding":[-0.004573147,0.024121864,0.013368384,-0.06754006,0.0010025188,0.0031317654,-0.012204367,-0.012131718]},{"object":"embedding","index":1,"embedding":[0.032925334,0.015221783,-0.014557821,-0.07597182,0.0040149447,0.026111083,-0.004821066,0.008611795]},{"object":"embedding","index":2,"embedding":[-0.02085067,0.0017141314,0.0004357969,-0.069645725,0.010318999,0.002196431,-0.007112807,0.01681884]}],"model":"gemini-embedding-001","usage":{"prompt_tokens":20,"total_tokens":20}}



=== TEST 28: base64 is little-endian float32, as the Python SDK decodes it
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/embeddings
{"model":"gemini-embedding-001","input":"hello","encoding_format":"base64"}
--- response_body eval
use MIME::Base64 qw(encode_base64);
my $b = encode_base64(pack("f<*", -0.004573147, 0.024121864, 0.013368384, -0.06754006,
                           0.0010025188, 0.0031317654, -0.012204367, -0.012131718), "");
qq{{"object":"list","data":[{"object":"embedding","index":0,"embedding":"$b"}],"model":"gemini-embedding-001","usage":{"prompt_tokens":2,"total_tokens":2}}}



=== TEST 29: what Gemini receives for embeddings
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/embeddings
{\"model\":\"gemini-embedding-001\",\"input\":[\"a b\",\"c\"],\"dimensions\":4}",
"GET /_mock/last"]
--- response_body_like eval
['^\{"object":"list","data":\[\{"object":"embedding","index":0,"embedding":\[-0.004573147,0.024121864,0.013368384,-0.06754006\]\},',
 quotemeta(q{"path": "/v1beta/models/gemini-embedding-001:batchEmbedContents"}) . '.*'
 . quotemeta(q{"body": "{\"requests\":[{\"model\":\"models/gemini-embedding-001\",\"content\":{\"parts\":[{\"text\":\"a b\"}]},\"outputDimensionality\":4},{\"model\":\"models/gemini-embedding-001\",\"content\":{\"parts\":[{\"text\":\"c\"}]},\"outputDimensionality\":4}]}"})]



=== TEST 30: embeddings requests the gateway refuses
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/embeddings\n{\"model\":\"gemini-embedding-001\"}",
 "POST /v1/embeddings\n{\"model\":\"gemini-embedding-001\",\"input\":\"\"}",
 "POST /v1/embeddings\n{\"model\":\"gemini-embedding-001\",\"input\":[[1,2,3]]}",
 "POST /v1/embeddings\n{\"model\":\"gemini-embedding-001\",\"input\":\"x\",\"encoding_format\":\"int8\"}",
 "POST /v1/embeddings\n{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"input\":\"x\"}",
 "GET /v1/embeddings"]
--- error_code eval
[400, 400, 400, 400, 400, 405]
--- response_body_like eval
['"param":"input","code":"missing_required_parameter"',
 '"param":"input","code":"invalid_value"',
 'token arrays are not supported',
 '"param":"encoding_format","code":"invalid_value"',
 '"message":"The model `meta-llama/Llama-3.1-8B-Instruct` does not support embeddings.","type":"invalid_request_error","param":"model","code":"model_not_supported"',
 '"code":"method_not_allowed"']



=== TEST 31: safety off, Google tools per model, a -search alias by capture
--- http_config
    llm_gateway_provider gemini type=gemini pass=/_llm/gemini key=gm-k-0000000000000000;
    llm_gateway_gemini_safety off;
    llm_gateway_model ~^(gemini-.+)-search$ gemini upstream=$1 tools=google_search,url_context;
    llm_gateway_model coder gemini upstream=gemini-2.5-pro tools=code_execution safety=block_only_high;
    llm_gateway_model ~^gemini- gemini;
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"gemini-2.5-flash-search\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
"GET /_mock/last",
"POST /v1/chat/completions
{\"model\":\"coder\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
"GET /_mock/last"]
--- response_body_like eval
['chat.completion',
 quotemeta(q~"path": "/v1beta/models/gemini-2.5-flash:generateContent"~) . '.*'
 . quotemeta(q~\"tools\":[{\"googleSearch\":{}},{\"urlContext\":{}}],\"generationConfig\":{},\"safetySettings\":[{\"category\":\"HARM_CATEGORY_HARASSMENT\",\"threshold\":\"OFF\"},{\"category\":\"HARM_CATEGORY_HATE_SPEECH\",\"threshold\":\"OFF\"},{\"category\":\"HARM_CATEGORY_SEXUALLY_EXPLICIT\",\"threshold\":\"OFF\"},{\"category\":\"HARM_CATEGORY_DANGEROUS_CONTENT\",\"threshold\":\"OFF\"}]}~),
 'chat.completion',
 quotemeta(q~"path": "/v1beta/models/gemini-2.5-pro:generateContent"~) . '.*'
 . quotemeta(q~\"tools\":[{\"codeExecution\":{}},{\"functionDeclarations\":[{\"name\":\"f\"}]}],~) . '.*'
 . quotemeta(q~\"threshold\":\"BLOCK_ONLY_HIGH\"~)]



=== TEST 32: grounding sources as annotations (character indices) and links
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock-search","messages":[{"role":"user","content":"Weather in London?"}]}
--- response_body_like: "content":"The current weather in London, United Kingdom is cloudy\. [^"]*around 41%\.\\n\\n\\nSources:\\n1\. \[accuweather\.com\]\(https://vertexaisearch[^)]+\)\\n2\. \[Weather information for locality: London\]\(https://www\.google\.com/search\?q=weather\+in\+London\)\\n","refusal":null,"annotations":\[\{"type":"url_citation","url_citation":\{"start_index":0,"end_index":56,"url":"https://vertexaisearch[^"]+","title":"accuweather\.com"\}\},\{"type":"url_citation","url_citation":\{"start_index":57,"end_index":119,"url":"https://www\.google\.com/search\?q=weather\+in\+London","title":"Weather information for locality: London"\}\},\{"type":"url_citation","url_citation":\{"start_index":120,"end_index":181,



=== TEST 33: grounding in a stream, and links switched off
--- http_config
    llm_gateway_provider gemini type=gemini pass=/_llm/gemini key=gm-k-0000000000000000;
    llm_gateway_gemini_grounding_links off;
    llm_gateway_model ~^mock- gemini;
    llm_gateway_model with-links gemini upstream=mock-search links=on;
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"mock-search\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
"POST /v1/chat/completions
{\"model\":\"with-links\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"]
--- response_body_like eval
['"delta":\{"annotations":\[\{"type":"url_citation","url_citation":\{"start_index":0,"end_index":182,"url":"https://vertexaisearch[^"]+","title":"accuweather\.com"\}\},[^\n]*\n\ndata: [^\n]*"finish_reason":"stop"',
 '"delta":\{"content":"\\\\n\\\\nSources:\\\\n1\. \[accuweather\.com\][^"]+","annotations":\[']
--- response_body_unlike eval
['Sources:', 'xxx']



=== TEST 34: invalid model options
--- http_config
    llm_gateway_provider gemini type=gemini pass=/_llm/gemini;
    llm_gateway_model g gemini tools=teleport;
--- config
--- must_die
--- error_log
unknown tool "teleport"



=== TEST 35: chat models of every page are listed
--- http_config
    llm_gateway_provider gemini type=gemini pass=/_llm/gemini key=gm-k-0000000000000000;
    llm_gateway_model ~^gemini- gemini;
--- config
    location /v1/ { llm_gateway; }
--- request
GET /v1/models
--- response_body eval
use JSON::PP;
open my $fh, '<', "$ENV{TEST_NGINX_FIXTURES}/gemini_models_list.json" or die;
local $/;
my $list = decode_json(<$fh>);
my @ids = map { (my $n = $_->{name}) =~ s{^models/}{}; $n }
          grep { grep { $_ eq 'generateContent' } @{$_->{supportedGenerationMethods} || []} }
          @{$list->{models}};
my $re = '^\{"object":"list","data":\[' . join(',', map { '\{"id":"' . quotemeta($_) . '"[^{}]*\}' } @ids) . '\]\}$';
qr/$re/



=== TEST 36: per-model reasoning: forced style and a default effort
--- http_config
    llm_gateway_provider gemini type=gemini pass=/_llm/gemini key=gm-k-0000000000000000;
    llm_gateway_model thinker gemini upstream=gemini-2.5-pro reasoning=levels reasoning_default=medium;
    llm_gateway_model ~^gemini- gemini;
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"thinker\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
"GET /_mock/last",
"POST /v1/chat/completions
{\"model\":\"thinker\",\"reasoning_effort\":\"minimal\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
"GET /_mock/last",
"POST /v1/chat/completions
{\"model\":\"gemini-2.5-flash\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
"GET /_mock/last"]
--- response_body_like eval
['chat.completion', quotemeta(q~\"thinkingConfig\":{\"thinkingLevel\":\"MEDIUM\",\"includeThoughts\":true}~),
 'chat.completion', quotemeta(q~\"thinkingConfig\":{\"thinkingLevel\":\"MINIMAL\",\"includeThoughts\":true}~),
 'chat.completion', quotemeta(q~\"generationConfig\":{}}"~)]



=== TEST 37: a Gemini stream cut by the upstream ends with an error, not a finish
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"mock-truncate-mid-stream\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
"POST /v1/chat/completions
{\"model\":\"mock-reset-mid-stream\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"]
--- response_body_like eval
['"content":"The".*\n\ndata: \{"error":\{"message":"The upstream stream ended prematurely\.","type":"server_error","param":null,"code":"upstream_stream_truncated"\}\}\n\ndata: \[DONE\]\n\n$',
 '"code":"upstream_stream_truncated"\}\}\n\ndata: \[DONE\]\n\n$']
--- response_body_unlike eval
['"finish_reason":"stop"', '"finish_reason":"stop"']
--- error_log
stream ended prematurely



=== TEST 38: tool results made of several text parts are joined
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"gemini-2.5-flash\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},
 {\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},
 {\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":[{\"type\":\"text\",\"text\":\"part one, \"},{\"type\":\"text\",\"text\":\"part two\"}]}]}",
"GET /_mock/last"]
--- response_body_like eval
['chat.completion', quotemeta(q~{\"functionResponse\":{\"name\":\"f\",\"response\":{\"output\":\"part one, part two\"}}}~)]

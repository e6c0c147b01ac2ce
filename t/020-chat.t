# Non-streamed chat completions through the Hugging Face router provider:
# what goes upstream, what comes back, and request validation.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();

run_tests();

__DATA__

=== TEST 1: the upstream's answer comes back byte for byte
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"openai/gpt-oss-120b","messages":[{"role":"user","content":"hi"}]}
--- response_headers
Content-Type: application/json
--- response_body eval
main::fixture("openai_chat_response.json")



=== TEST 2: what the upstream receives: path, headers, body unchanged
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0.5}",
"GET /_mock/last"]
--- response_body_like eval
['chat.completion',
 '(?s)"method": "POST",\s*"path": "/v1/chat/completions".*"Bearer hf-test-key-aaaa1111bbbb2222".*"Content-Type",\s*"application/json".*"body": "\{\\\\"model\\\\":\\\\"meta-llama/Llama-3.1-8B-Instruct\\\\",\\\\"messages\\\\":\[\{\\\\"role\\\\":\\\\"user\\\\",\\\\"content\\\\":\\\\"hi\\\\"\}\],\\\\"temperature\\\\":0.5\}"']



=== TEST 3: an alias is renamed for the upstream
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"GET /_mock/last"]
--- response_body_like eval
['chat.completion', '\\\\"model\\\\":\\\\"openai/gpt-oss-120b\\\\",\\\\"messages\\\\"']



=== TEST 4: a :provider suffix on an alias is kept
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"gpt-4o:groq\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"GET /_mock/last"]
--- response_body_like eval
['chat.completion', '\\\\"model\\\\":\\\\"openai/gpt-oss-120b:groq\\\\"']



=== TEST 5: the default model serves requests without one
--- http_config
    llm_gateway_provider hf type=hf_router pass=/_llm/hf key=k-aaaaaaaaaaaaaaaa;
    llm_gateway_model gpt-4o hf upstream=openai/gpt-oss-120b;
    llm_gateway_default_model gpt-4o;
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"GET /_mock/last"]
--- response_body_like eval
['chat.completion', '\\\\"model\\\\":\\\\"openai/gpt-oss-120b\\\\"']



=== TEST 6: no model and no default model
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"messages":[{"role":"user","content":"hi"}]}
--- error_code: 400
--- response_body chomp
{"error":{"message":"you must provide a model parameter","type":"invalid_request_error","param":"model","code":"missing_required_parameter"}}



=== TEST 7: an unknown model is a 404
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}
--- error_code: 404
--- response_body chomp
{"error":{"message":"The model `no-such-model` does not exist or you do not have access to it.","type":"invalid_request_error","param":"model","code":"model_not_found"}}



=== TEST 8: exact names win over regexes, regexes go in order
--- http_config
    llm_gateway_provider hf type=hf_router pass=/_llm/hf key=k-aaaaaaaaaaaaaaaa;
    llm_gateway_provider hf2 type=hf_router pass=/_llm/hf key=k-bbbbbbbbbbbbbbbb;
    llm_gateway_model ~^special/ hf2;
    llm_gateway_model ~^[^/]+/[^/]+$ hf;
    llm_gateway_model special/exact hf;
--- config
    location /v1/ {
        llm_gateway;
        add_header X-Provider $llm_gateway_provider;
    }
--- request eval
["POST /v1/chat/completions
{\"model\":\"special/one\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"special/exact\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"other/one\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"]
--- response_headers eval
["X-Provider: hf2", "X-Provider: hf", "X-Provider: hf"]



=== TEST 9: finish_reason spellings of other providers are normalised
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"mock/finish-eos_token\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"mock/finish-max_tokens\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"mock/finish-null\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"mock/length\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"]
--- response_body_like eval
['"finish_reason":"stop"', '"finish_reason":"length"', '"finish_reason":"stop"', '"finish_reason": "length"']
--- response_body_unlike eval
['eos_token', 'max_tokens', '"finish_reason":null', 'finish_reason":"stop']



=== TEST 10: reasoning_content, tool calls, refusals and n>1 are kept
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"mock/reasoning\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"mock/tools\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"mock/refusal\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"mock/n3\",\"n\":3,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"]
--- response_body eval
[qr/"reasoning_content"/, main::fixture("openai_chat_response_tool_calls.json"),
 main::fixture("openai_chat_response_refusal.json"),
 main::fixture("openai_chat_response_multiple_choices_n3.json")]



=== TEST 11: content parts, images, tools and tool replies are accepted
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"a/b","messages":[
 {"role":"system","content":"be brief"},
 {"role":"user","content":[{"type":"text","text":"what is this?"},
   {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]},
 {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"look","arguments":"{}"}}]},
 {"role":"tool","tool_call_id":"call_1","content":"a cat"}],
 "tools":[{"type":"function","function":{"name":"look","description":"d","parameters":{"type":"object","properties":{}}}}],
 "tool_choice":"auto","stop":["x","y"],"max_completion_tokens":100,"top_p":0.9,
 "stream_options":null,"response_format":{"type":"json_object"},"seed":42,
 "reasoning_effort":"low","user":"u1","logprobs":false}
--- response_body_like: "chat.completion"



=== TEST 12: invalid requests get the OpenAI 400s
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions\n{bad json",
 "POST /v1/chat/completions\n[1,2]",
 "POST /v1/chat/completions\n{\"model\":\"a/b\"}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":{}}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[\"hi\"]}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":42}]}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\"}]}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":0}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"bad name!\"}}]}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\"}}",
 "POST /v1/chat/completions\n{\"model\":42,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}]}",
 "POST /v1/chat/completions\n{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"sometimes\"}"]
--- error_code eval
[(400) x 21]
--- response_body_like eval
['"message":"We could not parse the JSON body of your request \(lexical error: invalid char in json text\.\)\. The API expects a JSON payload\.","type":"invalid_request_error","param":null,"code":null',
 '"message":"The request body must be a JSON object\.".*"code":"invalid_type"',
 '"param":"messages","code":"missing_required_parameter"',
 '"param":"messages","code":"invalid_type"',
 '"param":"messages\[0\]","code":"invalid_type"',
 '"message":"Invalid value: \'wizard\'\..*"param":"messages\[0\]\.role","code":"invalid_value"',
 '"param":"messages\[0\]\.content","code":"invalid_type"',
 '"param":"messages\[0\]\.content","code":"missing_required_parameter"',
 '"param":"temperature","code":"invalid_type"',
 '"message":"Invalid \'temperature\': expected a value between 0 and 2, but got 3 instead\.".*"code":"decimal_above_max_value"',
 '"param":"n","code":"integer_below_min_value"',
 '"param":"stream","code":"invalid_type"',
 '"param":"tools\[0\]\.function\.name","code":"invalid_value"',
 '"param":"messages\[0\]\.tool_call_id","code":"missing_required_parameter"',
 '"param":"stop","code":"array_above_max_length"',
 '"param":"messages\[0\]\.content\[0\]\.image_url","code":"missing_required_parameter"',
 '"param":"response_format\.json_schema","code":"missing_required_parameter"',
 '"param":"model","code":"invalid_type"',
 '"param":"max_tokens","code":"invalid_type"',
 '"param":"messages\[0\]\.content\[0\]\.type","code":"invalid_value"',
 '"param":"tool_choice","code":"invalid_value"']



=== TEST 13: an empty body and a deeply nested one
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions", "POST /v1/chat/completions\n" . ("[" x 100000)]
--- error_code eval
[400, 400]
--- response_body_like eval
['the body is empty', 'JSON nested too deeply']



=== TEST 14: a body with a NUL byte
--- config
    location /v1/ { llm_gateway; }
--- request eval
"POST /v1/chat/completions\n{\"model\":\"a/b\",\x00\"messages\":[]}"
--- error_code: 400
--- response_body_like: lexical error: invalid char in json text



=== TEST 15: a body larger than client_body_buffer_size is read from its file
--- config
    location /v1/ {
        llm_gateway;
        client_body_buffer_size 1k;
    }
--- request eval
"POST /v1/chat/completions\n{\"model\":\"mock/echo\",\"messages\":[{\"role\":\"user\",\"content\":\"" . ("x" x 5000) . "\"}]}"
--- response_body_like eval
'x{5000}'



=== TEST 16: chunked request bodies are accepted
--- config
    location /v1/ { llm_gateway; }
--- raw_request eval
my @c = ('{"model":"a/b",', '"messages":[{"role":"user","content":"hi"}]}');
"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
. "Transfer-Encoding: chunked\r\n\r\n"
. CORE::join("", map { sprintf("%x\r\n%s\r\n", length $_, $_) } @c) . "0\r\n\r\n"
--- response_body_like: chat\.completion



=== TEST 17: finish_reason spellings, case and unknown values
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions\n{\"model\":\"mock/finish-STOP\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
 "POST /v1/chat/completions\n{\"model\":\"mock/finish-MAX_TOKENS\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
 "POST /v1/chat/completions\n{\"model\":\"mock/finish-tool_use\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
 "POST /v1/chat/completions\n{\"model\":\"mock/finish-SAFETY\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
 "POST /v1/chat/completions\n{\"model\":\"mock/finish-something_new\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
 "POST /v1/chat/completions\n{\"model\":\"mock/finish-content_filter\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"]
--- response_body_like eval
['"finish_reason":"stop"', '"finish_reason":"length"', '"finish_reason":"tool_calls"',
 '"finish_reason":"content_filter"', '"finish_reason":"stop"', '"finish_reason": "content_filter"']

# Native Gemini pass-through (llm_gateway_gemini_native): Gemini's own
# clients, a gateway token as their key, the pool's key upstream.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();

run_tests();

__DATA__

=== TEST 1: the @google/genai SDK against the gateway
--- config
    location /gemini/ {
        llm_gateway_gemini_native gemini;
        llm_gateway_auth token=native-token-42;
    }
    location = /sdk.out { root html; }
--- init
my $out = "$ENV{TEST_NGINX_HTML_DIR}/sdk.out";
local $ENV{GATEWAY_BASE} = "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/gemini";
local $ENV{GATEWAY_TOKEN} = "native-token-42";
local $ENV{FIXTURES} = $ENV{TEST_NGINX_FIXTURES};
local $ENV{NPM_DIR} = $ENV{NPM_DIR} // "build/node";
system("node $ENV{TEST_NGINX_T_DIR}/js/google-genai.mjs > $out 2>&1") == 0
    or die "node failed: $?";
--- request
GET /sdk.out
--- response_body
ok 1 - generateContent returns the upstream text
ok 2 - generateContentStream streams the upstream chunks
ok 3 - embedContent returns the recorded vector
ok 4 - countTokens answers
ok 5 - models.list pages through the upstream list
ok 6 - a wrong gateway token is refused as a bad API key
ok 7 - an upstream quota error reaches the SDK as it is
--- timeout: 30



=== TEST 2: answers and streams come back byte for byte
--- config
    location /v1beta/ {
        llm_gateway_gemini_native gemini;
        llm_gateway_auth token=native-token-42;
    }
--- request eval
["POST /v1beta/models/gemini-2.0-flash:generateContent\n{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}",
 "POST /v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse\n{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}"]
--- more_headers
x-goog-api-key: native-token-42
--- response_body eval
[main::fixture("gemini_generate_response.json"), main::fixture("gemini_stream_basic.sse")]



=== TEST 3: the client's key is replaced, in the header and in the query
--- config
    location /v1beta/ {
        llm_gateway_gemini_native gemini;
        llm_gateway_auth token=native-token-42;
    }
--- request eval
["POST /v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=native-token-42\n{\"contents\":[]}",
 "GET /_mock/last"]
--- response_body_like eval
['candidates',
 '"path": "/v1beta/models/gemini-2.0-flash:streamGenerateContent",\s*"query": "alt=sse",.*"x-goog-api-key",\s*"gm-test-key-cccc3333dddd4444"']
--- response_body_unlike eval
['xxx', 'native-token-42']



=== TEST 4: Bearer tokens work too; wrong and missing ones do not
--- config
    location /v1beta/ {
        llm_gateway_gemini_native gemini;
        llm_gateway_auth token=native-token-42;
    }
--- request eval
["GET /v1beta/models?pageSize=2", "GET /v1beta/models?pageSize=2", "GET /v1beta/models?pageSize=2"]
--- more_headers eval
["Authorization: Bearer native-token-42", "x-goog-api-key: nope", ""]
--- error_code eval
[200, 400, 403]
--- response_body_like eval
['^\{\s*"models": \[',
 '^\{"error":\{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"\}\}$',
 '^\{"error":\{"code":403,"message":"[^"]+","status":"PERMISSION_DENIED"\}\}$']



=== TEST 5: upstream errors pass through with their status
--- config
    location /v1beta/ { llm_gateway_gemini_native gemini; }
--- request
POST /v1beta/models/mock-429:generateContent
{"contents":[]}
--- error_code: 429
--- response_body eval
main::fixture("gemini_error_429.json")



=== TEST 6: an unreachable upstream answers in Google's error shape
--- config
    location /v1beta/ { llm_gateway_gemini_native gemini; }
    location /_llm/gemini/ {
        internal;
        proxy_pass http://127.0.0.1:1/;
    }
--- request
POST /v1beta/models/gemini-2.0-flash:generateContent
{"contents":[]}
--- error_code: 502
--- response_body chomp
{"error":{"code":502,"message":"The upstream server is unreachable.","status":"UNAVAILABLE"}}
--- error_log
connect() failed



=== TEST 7: only Gemini providers can be native
--- http_config
    llm_gateway_provider hf type=hf_router pass=/_llm/hf;
--- config
    location /v1beta/ { llm_gateway_gemini_native hf; }
--- must_die
--- error_log
provider "hf" is not of type gemini



=== TEST 8: a preflight gets CORS headers
--- config
    location /v1beta/ {
        llm_gateway_gemini_native gemini;
        llm_gateway_cors *;
    }
--- request
OPTIONS /v1beta/models/gemini-2.0-flash:generateContent
--- more_headers
Origin: https://app.example.com
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: *
--- response_body



=== TEST 9: nginx's own errors answer in Google's shape
--- config
    location /v1beta/ {
        llm_gateway_gemini_native gemini;
        client_max_body_size 10;
    }
--- request
POST /v1beta/models/gemini-2.0-flash:generateContent
{"contents":[{"parts":[{"text":"too long for the limit"}]}]}
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":413,"message":"The request body is too large.","status":"INVALID_ARGUMENT"}}
--- error_log
client intended to send too large body



=== TEST 10: an escaped key= is the token as the client has it
--- config
    location /v1beta/ {
        llm_gateway_gemini_native gemini;
        llm_gateway_auth token=native-token-42;
    }
--- request
GET /v1beta/models?pageSize=1&key=native%2Dtoken%2D42
--- response_body_like: ^\{\s*"models": \[



=== TEST 11: HEAD sends no body, the connection stays in step
--- config
    location /v1beta/ { llm_gateway_gemini_native gemini; }
--- pipelined_requests eval
["HEAD /v1beta/models/gemini-2.5-flash", "GET /v1beta/models?pageSize=1"]
--- error_code eval
[200, 200]
--- response_body_like eval
['^$', '^\{\s*"models": \[']

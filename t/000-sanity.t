# Module loading, endpoints, methods, CORS and configuration errors.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();
run_tests();

__DATA__

=== TEST 1: service info at the root of the gateway location
--- config
    location /v1/ { llm_gateway; }
--- request
GET /v1/
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"object":"service","name":"ngx_llm_gateway","version":"[0-9.]+","api":"openai",



=== TEST 2: health answers JSON
--- config
    location /v1/ { llm_gateway; }
--- request
GET /v1/health
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"status":"ok","version":"[0-9.]+","providers":2,"models":3,"keys":2,"time":\d+\}$



=== TEST 3: an unknown URL is an OpenAI 404, not an HTML page
--- config
    location /v1/ { llm_gateway; }
--- request
GET /v1/nothing/here
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"message":"Unknown request URL: GET /v1/nothing/here.","type":"invalid_request_error","param":null,"code":"unknown_url"}}



=== TEST 4: GET on chat completions is 405 with Allow
--- config
    location /v1/ { llm_gateway; }
--- request
GET /v1/chat/completions
--- error_code: 405
--- response_headers
Allow: POST, OPTIONS
Content-Type: application/json
--- response_body chomp
{"error":{"message":"Method GET is not allowed here; use POST, OPTIONS.","type":"invalid_request_error","param":null,"code":"method_not_allowed"}}



=== TEST 5: POST on models is 405
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/models
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD, OPTIONS
--- response_body_like: "code":"method_not_allowed"



=== TEST 6: CORS preflight with any origin
--- config
    location /v1/ { llm_gateway; llm_gateway_cors *; }
--- request
OPTIONS /v1/chat/completions
--- more_headers
Origin: https://app.example.com
Access-Control-Request-Method: POST
Access-Control-Request-Headers: authorization, content-type, x-stainless-os
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: *
Access-Control-Allow-Methods: GET, POST, OPTIONS
Access-Control-Allow-Headers: authorization, content-type, x-stainless-os
Access-Control-Max-Age: 86400
--- response_body



=== TEST 7: preflight skips client auth
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=some-token;
        llm_gateway_cors *;
    }
--- request
OPTIONS /v1/models
--- more_headers
Origin: https://app.example.com
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: *



=== TEST 8: an allowed origin is echoed with Vary, on errors too
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_cors https://a.example.com https://b.example.com;
    }
--- request
GET /v1/nope
--- more_headers
Origin: https://b.example.com
--- error_code: 404
--- response_headers
Access-Control-Allow-Origin: https://b.example.com
Vary: Origin



=== TEST 9: an origin not in the list gets no CORS headers
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_cors https://a.example.com;
    }
--- request
GET /v1/health
--- more_headers
Origin: https://evil.example.com
--- response_headers
!Access-Control-Allow-Origin



=== TEST 10: CORS off by default
--- config
    location /v1/ { llm_gateway; }
--- request
GET /v1/health
--- more_headers
Origin: https://a.example.com
--- response_headers
!Access-Control-Allow-Origin



=== TEST 11: nginx's own 413 becomes an OpenAI error
--- config
    location /v1/ {
        llm_gateway;
        client_max_body_size 10;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"message":"The request body is too large.","type":"invalid_request_error","param":null,"code":"request_too_large"}}
--- error_log
client intended to send too large body



=== TEST 12: a deny in a gateway location answers JSON too
--- config
    location /v1/ {
        llm_gateway;
        deny all;
    }
--- request
GET /v1/models
--- error_code: 403
--- response_body chomp
{"error":{"message":"Access to this resource is forbidden.","type":"permission_error","param":null,"code":null}}
--- error_log
access forbidden by rule



=== TEST 13: endpoints are found under any location prefix
--- config
    location /gateway/ { llm_gateway; }
--- request
GET /gateway/v1/health
--- response_body_like: ^\{"status":"ok"



=== TEST 14: unknown provider type
--- http_config
    llm_gateway_provider x type=nope pass=/_llm/x;
--- config
--- must_die
--- error_log
unknown provider type "nope"



=== TEST 15: a model naming an undeclared provider
--- http_config
    llm_gateway_provider hf type=hf_router pass=/_llm/hf;
    llm_gateway_model m other;
--- config
--- must_die
--- error_log
unknown provider "other"



=== TEST 16: a provider needs pass=
--- http_config
    llm_gateway_provider hf type=hf_router;
--- config
--- must_die
--- error_log
provider "hf" must have "pass" parameter



=== TEST 17: zone too small
--- http_config
    llm_gateway_provider hf type=hf_router pass=/_llm/hf;
    llm_gateway_zone zone=small:8k;
--- config
--- must_die
--- error_log
zone "zone=small:8k" is too small



=== TEST 18: an invalid model regex
--- http_config
    llm_gateway_provider hf type=hf_router pass=/_llm/hf;
    llm_gateway_model ~^(unclosed hf;
--- config
--- must_die
--- error_log
pcre2_compile() failed



=== TEST 19: duplicate provider
--- http_config
    llm_gateway_provider hf type=hf_router pass=/_llm/hf;
    llm_gateway_provider hf type=hf_router pass=/_llm/hf2;
--- config
--- must_die
--- error_log
duplicate provider "hf"



=== TEST 20: a missing keys file is a configuration error
--- http_config
    llm_gateway_provider hf type=hf_router pass=/_llm/hf keys=/nonexistent/keys;
--- config
--- must_die
--- error_log
open() "/nonexistent/keys" failed



=== TEST 21: the handler is not inherited by nested locations
--- config
    location /v1/ {
        llm_gateway;
        location /v1/static/ { return 200 "static\n"; }
    }
--- request
GET /v1/static/x
--- response_body
static



=== TEST 22: ~* model regexes are case-insensitive
--- http_config
    llm_gateway_provider hf type=hf_router pass=/_llm/hf key=k-aaaaaaaaaaaaaaaa;
    llm_gateway_model ~*^gpt- hf;
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"GPT-X","messages":[{"role":"user","content":"hi"}]}
--- response_body_like: chat\.completion



=== TEST 23: a default model that routes nowhere is a configuration error
--- http_config
    llm_gateway_provider hf type=hf_router pass=/_llm/hf;
    llm_gateway_model a hf;
    llm_gateway_default_model b;
--- config
--- must_die
--- error_log
llm_gateway_default_model "b" matches no llm_gateway_model



=== TEST 24: a regex location finds endpoints by their tail
--- config
    location ~ ^/api/(openai|compat)/ { llm_gateway; }
--- request eval
["GET /api/openai/v1/models", "GET /api/compat/health"]
--- response_body_like eval
['^\{"object":"list"', '^\{"status":"ok"']



=== TEST 25: a long method name on an unknown URL (no overflow)
--- config
    location /v1/ { llm_gateway; }
--- raw_request eval
("A" x 600) . " /v1/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 404
--- response_body_like: ^\{"error":\{"message":"Unknown request URL: A{600} /v1/x\.","type":"invalid_request_error"



=== TEST 26: a refused request's body is not read as the next request
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=right-token;
    }
--- pipelined_requests eval
["POST /v1/chat/completions\nGET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n",
 "GET /v1/health"]
--- more_headers
Authorization: Bearer wrong-token
--- error_code eval
[401, 200]
--- response_body_like eval
['"code":"invalid_api_key"', '^\{"status":"ok"']

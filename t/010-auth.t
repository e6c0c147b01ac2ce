# Client token auth: Bearer tokens, inline and from a file, per location.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();
run_tests();

__DATA__

=== TEST 1: no token is a 401 with a Bearer challenge
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=tok-one-1111;
    }
--- request
GET /v1/models
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="llm_gateway"
Content-Type: application/json
--- response_body_like: ^\{"error":\{"message":"You didn't provide an API key\. .*","type":"invalid_request_error","param":null,"code":"missing_api_key"\}\}$



=== TEST 2: a wrong token is a 401 invalid_api_key
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=tok-one-1111;
    }
--- request
GET /v1/models
--- more_headers
Authorization: Bearer tok-one-1112
--- error_code: 401
--- response_body chomp
{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}
--- log_level: info
--- error_log
client sent an unknown token
--- no_error_log
tok-one-111



=== TEST 3: a right inline token passes
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=tok-one-1111 token=tok-two-2222;
    }
--- request
GET /v1/models
--- more_headers
Authorization: Bearer tok-two-2222
--- response_body_like: ^\{"object":"list","data":\[



=== TEST 4: tokens from a file, with comments and blank lines
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth tokens=../html/clients;
    }
--- user_files
>>> clients
# team a
  tok-file-aaaa

tok-file-bbbb   # trailing words are ignored
--- request eval
["GET /v1/models", "GET /v1/models", "GET /v1/models"]
--- more_headers eval
["Authorization: Bearer tok-file-aaaa", "Authorization: Bearer tok-file-bbbb", "Authorization: Bearer # team a"]
--- error_code eval
[200, 200, 401]



=== TEST 5: the scheme is case-insensitive
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=tok-one-1111;
    }
--- request
GET /v1/models
--- more_headers
Authorization: bearer tok-one-1111
--- error_code: 200



=== TEST 6: Basic auth is not a token
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=tok-one-1111;
    }
--- request
GET /v1/models
--- more_headers
Authorization: Basic dG9rLW9uZS0xMTEx
--- error_code: 401
--- response_body_like: "code":"missing_api_key"



=== TEST 7: auth off in one location, on in another (inherited from server)
--- config
    llm_gateway_auth token=tok-one-1111;
    location /v1/ { llm_gateway; }
    location /open/ { llm_gateway; llm_gateway_auth off; }
--- request eval
["GET /v1/models", "GET /open/v1/models"]
--- error_code eval
[401, 200]



=== TEST 8: health and service info are public
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=tok-one-1111;
    }
--- request eval
["GET /v1/health", "GET /v1/"]
--- error_code eval
[200, 200]



=== TEST 9: the client's token never goes upstream; the upstream key does
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=tok-one-1111;
    }
--- request eval
["POST /v1/chat/completions
{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"GET /_mock/last"]
--- more_headers
Authorization: Bearer tok-one-1111
Cookie: session=abc
Accept-Encoding: gzip
--- response_body_like eval
['"content": "I\'m unable',
 '"Authorization",\s*"Bearer hf-test-key-aaaa1111bbbb2222"']
--- response_body_unlike eval
['tok-one-1111', '(?i)tok-one-1111|"Cookie"|"Accept-Encoding"']



=== TEST 10: an empty auth list refuses everyone
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=;
    }
--- request
GET /v1/models
--- more_headers
Authorization: Bearer x
--- error_code: 401

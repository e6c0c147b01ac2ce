# Upstream failures: every status and envelope becomes an OpenAI error
# with the right status; unreachable and slow upstreams are 502 and 504.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();
run_tests();

__DATA__

=== TEST 1: a 400 in the OpenAI envelope is kept as it is
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/status-400","messages":[{"role":"user","content":"hi"}]}
--- error_code: 400
--- response_body chomp
{"error":{"message":"The requested model 'HuggingFaceH4/zephyr-7b-beta' is not supported by any provider you have enabled.","type":"invalid_request_error","param":"model","code":"model_not_supported"}}



=== TEST 2: the Hub's string envelope is turned into the OpenAI one
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/status-401-str","messages":[{"role":"user","content":"hi"}]}
--- error_code: 401
--- response_body chomp
{"error":{"message":"Invalid credentials in Authorization header","type":"invalid_request_error","param":null,"code":null}}



=== TEST 3: out of credits
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/status-402-str","messages":[{"role":"user","content":"hi"}]}
--- error_code: 402
--- response_body chomp
{"error":{"message":"Invalid credentials in Authorization header","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}



=== TEST 4: 429 keeps Retry-After
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/status-429-str","messages":[{"role":"user","content":"hi"}]}
--- error_code: 429
--- response_headers
Retry-After: 7
--- response_body_like: "type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"



=== TEST 5: 503 keeps Retry-After (a separate nginx: the 429 above cools the only key)
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/status-503","messages":[{"role":"user","content":"hi"}]}
--- error_code: 503
--- response_headers
Retry-After: 7
--- response_body_like: "code":"model_not_supported"



=== TEST 6: an HTML error page from upstream
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/status-500-html","messages":[{"role":"user","content":"hi"}]}
--- error_code: 500
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"message":"The upstream server returned an error","type":"server_error","param":null,"code":null}}



=== TEST 7: an unreachable upstream is a 502
--- config
    location /v1/ { llm_gateway; }
    location /_llm/hf/ {
        internal;
        proxy_pass http://127.0.0.1:1/;
    }
--- request
POST /v1/chat/completions
{"model":"a/b","messages":[{"role":"user","content":"hi"}]}
--- error_code: 502
--- response_body chomp
{"error":{"message":"The upstream server is unreachable or closed the connection.","type":"server_error","param":null,"code":"upstream_unreachable"}}
--- error_log
connect() failed (111: Connection refused)



=== TEST 8: an unreachable upstream for a stream is a 502 too
--- config
    location /v1/ { llm_gateway; }
    location /_llm/hf/ {
        internal;
        proxy_pass http://127.0.0.1:1/;
    }
--- request
POST /v1/chat/completions
{"model":"a/b","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- error_code: 502
--- response_headers
Content-Type: application/json
--- response_body_like: "code":"upstream_unreachable"
--- error_log
connect() failed (111: Connection refused)



=== TEST 9: a slow upstream is a 504
--- config
    location /v1/ { llm_gateway; }
    location /_llm/hf/ {
        internal;
        proxy_pass http://llm_mock/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_read_timeout 300ms;
    }
--- request
POST /v1/chat/completions
{"model":"mock/slow-2000","messages":[{"role":"user","content":"hi"}]}
--- error_code: 504
--- response_body chomp
{"error":{"message":"The upstream server timed out.","type":"server_error","param":null,"code":"upstream_timeout"}}
--- error_log
upstream timed out



=== TEST 10: a 200 that is not JSON, and an empty one
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"mock/bad-json\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"mock/empty\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"]
--- error_code eval
[502, 502]
--- response_body eval
['{"error":{"message":"The upstream server returned an invalid response.","type":"server_error","param":null,"code":"upstream_invalid_response"}}',
 '{"error":{"message":"The upstream server returned an invalid response.","type":"server_error","param":null,"code":"upstream_invalid_response"}}']
--- error_log
returned an invalid response



=== TEST 11: a response larger than llm_gateway_buffer_size
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_buffer_size 100;
    }
--- request
POST /v1/chat/completions
{"model":"a/b","messages":[{"role":"user","content":"hi"}]}
--- error_code: 502
--- response_body_like: "code":"upstream_too_large"
--- error_log
response is larger than llm_gateway_buffer_size



=== TEST 12: a provider without keys
--- http_config
    llm_gateway_provider hf type=hf_router pass=/_llm/hf;
    llm_gateway_model ~. hf;
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"a/b","messages":[{"role":"user","content":"hi"}]}
--- error_code: 503
--- response_body chomp
{"error":{"message":"No upstream API key is configured for this model's provider. Add one to the gateway's configuration.","type":"service_unavailable_error","param":null,"code":"no_upstream_key"}}
--- error_log
provider "hf": No upstream API key is configured



=== TEST 13: an upstream quoting the key it was given never shows it
--- config
    location /v1/ { llm_gateway; }
    location /_llm/hf/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
my $b = '{"error":{"message":"Incorrect API key provided: hf-test-key-aaaa1111bbbb2222. Check it.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}';
"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: " . length($b) . "\r\nConnection: close\r\n\r\n$b"
--- request
POST /v1/chat/completions
{"model":"a/b","messages":[{"role":"user","content":"hi"}]}
--- error_code: 401
--- response_body_like: Incorrect API key provided: hf-t\*+\. Check it\.
--- response_body_unlike: aaaa1111bbbb2222

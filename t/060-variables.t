# $llm_gateway_* variables in access logs and headers; keys never logged.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();
run_tests();

__DATA__

=== TEST 1: the variables after a non-streamed request
--- http_config
    log_format llm 'p=$llm_gateway_provider m=$llm_gateway_model '
                   'um=$llm_gateway_upstream_model us=$llm_gateway_upstream_status '
                   'a=$llm_gateway_attempts k=$llm_gateway_key_id '
                   'pt=$llm_gateway_prompt_tokens ct=$llm_gateway_completion_tokens '
                   's=$llm_gateway_stream uk=[$llm_gateway_upstream_key]';
--- config
    location /v1/ {
        llm_gateway;
        access_log html/llm.log llm;
    }
    location = /llm.log { root html; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"GET /llm.log"]
--- response_body_like eval
['chat.completion',
 '^p=hf m=gpt-4o um=openai/gpt-oss-120b us=200 a=1 k=[0-9a-f]{12} pt=14 ct=37 s=0 uk=\[\]\n$']



=== TEST 2: token counts from the usage chunk of a stream
--- http_config
    log_format llm 'us=$llm_gateway_upstream_status pt=$llm_gateway_prompt_tokens '
                   'ct=$llm_gateway_completion_tokens s=$llm_gateway_stream';
--- config
    location /v1/ {
        llm_gateway;
        access_log html/llm.log llm;
    }
    location = /llm.log { root html; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"a/b\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"GET /llm.log"]
--- response_body_like eval
['data: \[DONE\]', '^us=200 pt=14 ct=30 s=1\n$']



=== TEST 3: the key id is a digest of the key, the same in every worker
--- config
    location /v1/ {
        llm_gateway;
        add_header X-Key $llm_gateway_key_id;
    }
--- request
POST /v1/chat/completions
{"model":"a/b","messages":[{"role":"user","content":"hi"}]}
--- response_headers eval
use Digest::SHA qw(sha256_hex);
"X-Key: " . substr(sha256_hex("hf-test-key-aaaa1111bbbb2222"), 0, 12)



=== TEST 4: after an upstream error, variables say what happened
--- http_config
    log_format llm 'us=$llm_gateway_upstream_status a=$llm_gateway_attempts '
                   'pt=$llm_gateway_prompt_tokens';
--- config
    location /v1/ {
        llm_gateway;
        access_log html/llm.log llm;
    }
    location = /llm.log { root html; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"mock/status-429\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"GET /llm.log"]
--- error_code eval
[429, 200]
--- response_body_like eval
['rate|model', '^us=429 a=1 pt=-\n$']



=== TEST 5: keys and client tokens never reach the logs at info level
--- http_config
    log_format all '$request $status [$llm_gateway_upstream_key]';
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=tok-secret-9999;
        access_log html/all.log all;
    }
    location = /all.log { root html; }
--- log_level: info
--- request eval
["POST /v1/chat/completions
{\"model\":\"mock/status-401-str\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"GET /all.log"]
--- more_headers
Authorization: Bearer tok-secret-9999
--- error_code eval
[401, 200]
--- response_body_unlike eval
['aaaa1111bbbb2222', 'aaaa1111bbbb2222|tok-secret']
--- no_error_log
aaaa1111bbbb2222
tok-secret

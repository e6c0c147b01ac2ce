# GET /v1/models and /v1/models/{id}: configured models merged with the
# provider's list, cached per worker.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();
run_tests();

__DATA__

=== TEST 1: configured models first, then the upstream's list
--- config
    location /v1/ { llm_gateway; }
--- request
GET /v1/models
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"object":"list","data":\[\{"id":"gpt-4o","object":"model","created":\d+,"owned_by":"hf"\},\{"id":"deepseek-ai/DeepSeek-V4-Pro","object":"model","created":1776837885,"owned_by":"deepseek-ai","architecture":\{.*\},\{"id":"meta-llama/Llama-3.1-8B-Instruct".*\]\}$



=== TEST 2: the list is fetched once, then served from the cache
--- config
    location /v1/ { llm_gateway; }
--- request eval
["GET /_mock/reset", "GET /v1/models", "GET /v1/models", "GET /v1/models/Qwen/Qwen3-32B", "GET /_mock/requests"]
--- response_body_like eval
['', 'deepseek-ai', 'deepseek-ai', '"id":"Qwen/Qwen3-32B"',
 '^\[\s*\{\s*"method": "GET",\s*"path": "/v1/models",(?:(?!"method").)*\}\s*\]\s*$']



=== TEST 3: one model, with a slash in its id
--- config
    location /v1/ { llm_gateway; }
--- request
GET /v1/models/deepseek-ai/DeepSeek-V4-Pro
--- response_body_like: ^\{"id":"deepseek-ai/DeepSeek-V4-Pro","object":"model","created":1776837885,"owned_by":"deepseek-ai",



=== TEST 4: a configured model
--- config
    location /v1/ { llm_gateway; }
--- request
GET /v1/models/gpt-4o
--- response_body_like: ^\{"id":"gpt-4o","object":"model","created":\d+,"owned_by":"hf"\}$



=== TEST 5: an unknown model is a 404
--- config
    location /v1/ { llm_gateway; }
--- request
GET /v1/models/nobody/nothing
--- error_code: 404
--- response_body chomp
{"error":{"message":"The model `nobody/nothing` does not exist.","type":"invalid_request_error","param":"model","code":"model_not_found"}}



=== TEST 6: when the upstream list fails, configured models are still served
--- config
    location /v1/ { llm_gateway; }
    location /_llm/hf/ {
        internal;
        proxy_pass http://127.0.0.1:1/;
    }
--- request
GET /v1/models
--- response_body_like: ^\{"object":"list","data":\[\{"id":"gpt-4o","object":"model","created":\d+,"owned_by":"hf"\}\]\}$
--- error_log
model list unavailable (status 0)



=== TEST 7: models=off never asks upstream
--- http_config
    llm_gateway_provider hf type=hf_router pass=/_llm/hf models=off;
    llm_gateway_model my-model hf upstream=a/b;
--- config
    location /v1/ { llm_gateway; }
--- request eval
["GET /_mock/reset", "GET /v1/models", "GET /_mock/requests"]
--- response_body_like eval
['"reset": true', '^\{"object":"list","data":\[\{"id":"my-model","object":"model","created":\d+,"owned_by":"hf"\}\]\}$', '^\[\]\s*$']



=== TEST 8: HEAD on models
--- config
    location /v1/ { llm_gateway; }
--- request
HEAD /v1/models
--- response_headers
Content-Type: application/json
--- response_body

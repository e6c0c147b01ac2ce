# A client that goes away mid-stream ends the upstream subrequest; the
# worker keeps serving (the valgrind run checks nothing leaks).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();
run_tests();

__DATA__

=== TEST 1: client closes during a slow stream
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/stream-delay-1500","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- timeout: 0.5
--- abort
--- ignore_response
--- wait: 1
--- error_log
client prematurely closed connection
--- no_error_log
[alert]
[crit]



=== TEST 2: client closes while a non-streamed answer is awaited
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/slow-1500","messages":[{"role":"user","content":"hi"}]}
--- timeout: 0.5
--- abort
--- ignore_response
--- wait: 1.5
--- error_log
client prematurely closed connection
--- no_error_log
[alert]
[crit]



=== TEST 3: the worker keeps serving after aborted clients
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"a/b\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"a/b\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"]
--- response_body_like eval
['data: \[DONE\]', 'chat\.completion']

# The official openai npm SDK as a real client: chat, streams, models and
# its error classes (t/js/openai-sdk.mjs; installed by "make test").

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();
run_tests();

__DATA__

=== TEST 1: the openai SDK against the gateway
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=sdk-token-1234;
    }
    location = /sdk.out { root html; }
--- init
my $out = "$ENV{TEST_NGINX_HTML_DIR}/sdk.out";
local $ENV{GATEWAY_URL} = "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/v1";
local $ENV{GATEWAY_TOKEN} = "sdk-token-1234";
local $ENV{MOCK_URL} = "http://127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT}";
local $ENV{FIXTURES} = $ENV{TEST_NGINX_FIXTURES};
local $ENV{NPM_DIR} = $ENV{NPM_DIR} // "build/node";
system("node $ENV{TEST_NGINX_T_DIR}/js/openai-sdk.mjs > $out 2>&1") == 0
    or die "node failed: $?";
--- request
GET /sdk.out
--- response_body
ok 1 - non-stream chat returns the upstream text
ok 2 - streamed deltas concatenate to the upstream text
ok 3 - the first event reaches the client before the upstream sends the second
ok 4 - streamed tool calls assemble into arguments
ok 5 - models.list() has configured and upstream models
ok 6 - models.retrieve() works for ids with a slash
ok 7 - a wrong token is an AuthenticationError
ok 8 - an unknown model is a NotFoundError
ok 9 - bad input is a BadRequestError
ok 10 - an error after the stream started raises in the iterator
ok 11 - an upstream 429 is a RateLimitError
--- error_log
sent an error event
--- timeout: 30

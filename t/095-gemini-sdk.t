# The openai SDK holding a three-turn tool conversation with Gemini
# through the gateway: thought signatures survive every replay
# (t/js/gemini-tools.mjs).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();
run_tests();

__DATA__

=== TEST 1: thought signatures round-trip with the openai SDK
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=sdk-token-5678;
    }
    location = /sdk.out { root html; }
--- init
my $out = "$ENV{TEST_NGINX_HTML_DIR}/sdk.out";
local $ENV{GATEWAY_URL} = "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/v1";
local $ENV{GATEWAY_TOKEN} = "sdk-token-5678";
local $ENV{MOCK_URL} = "http://127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT}";
local $ENV{FIXTURES} = $ENV{TEST_NGINX_FIXTURES};
local $ENV{NPM_DIR} = $ENV{NPM_DIR} // "build/node";
system("node $ENV{TEST_NGINX_T_DIR}/js/gemini-tools.mjs > $out 2>&1") == 0
    or die "node failed: $?";
--- request
GET /sdk.out
--- response_body
ok 1 - mock-thinking-fc non-streamed: signatures round-trip over three turns
ok 2 - mock-thinking-fc streamed: signatures round-trip over three turns
ok 3 - mock-fc non-streamed: signatures round-trip over three turns
ok 4 - mock-fc streamed: signatures round-trip over three turns
--- timeout: 30

# Key pools: a key that answers 429 cools down, one the provider rejects
# is disabled, failures count; a request goes on with the next key while
# nothing was sent to the client; no usable key is a 429 or a 503.
#
# The mock answers a key ending in "-status-NNN" with that status (the
# recorded error bodies, see t/mock/llm_mock.py).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();

our $Chat = "POST /v1/chat/completions\n"
            . '{"model":"a/b","messages":[{"role":"user","content":"hi"}]}';
our $Stream = "POST /v1/chat/completions\n"
              . '{"model":"a/b","stream":true,"messages":[{"role":"user","content":"hi"}]}';
our $Gemini = "POST /v1/chat/completions\n"
              . '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}';

run_tests();

__DATA__

=== TEST 1: 429, then 401, then a good key: one success, three attempts; then the good key at once
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf
                          key=hf-one-status-429 key=hf-two-status-401
                          key=hf-three-good models=off;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
    }
--- request eval
[$::Chat, $::Chat]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Attempts: 3", "X-Attempts: 1"]
--- response_body_like eval
['"object":\s*"chat.completion"', '"object":\s*"chat.completion"']



=== TEST 2: what the pool logs: the cooldown and the disabled key, masked
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf
                          key=hf-one-status-429 key=hf-two-status-401
                          key=hf-three-good models=off;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    # nginx's own debug log prints request headers, keys included
    error_log logs/error.log info;

    location /v1/ { llm_gateway; }
--- request eval
$::Chat
--- error_log eval
[qr/provider "hf" key "hf-o\.\.\.-429" \(\w{12}\) cools down for 7000 ms after 429/,
 qr/provider "hf" key "hf-t\.\.\.-401" \(\w{12}\) is disabled: 401/,
 qr/provider "hf": attempt 3 with key "\w{12}"/]
--- no_error_log
[error]
[crit]
hf-one-status-429
hf-two-status-401



=== TEST 3: every key cooling: the upstream's 429, then the gateway's with the soonest end
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf
                          key=hf-one-status-429 key=hf-two-status-429 models=off;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
    }
--- request eval
[$::Chat, $::Chat]
--- error_code eval
[429, 429]
--- response_headers eval
["X-Attempts: 2\nRetry-After: 7", "X-Attempts: 0"]
--- raw_response_headers_like eval
["", "Retry-After: [67]\r\n"]
--- response_body_like eval
['"error"',
 '^\{"error":\{"message":"Every upstream key of provider \\\\"hf\\\\" is cooling down after rate limits \(2 cooling, 0 disabled\); retry in [67] s\.","type":"rate_limit_error","param":null,"code":"upstream_keys_cooling"\}\}$']



=== TEST 4: every key disabled: the upstream's 401, then a 503 that says so
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf
                          key=hf-one-status-401 key=hf-two-status-402 models=off;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ { llm_gateway; }
--- request eval
[$::Chat, $::Chat]
--- error_log
is disabled
--- error_code eval
[402, 503]
--- response_body_like eval
['"error"',
 '^\{"error":\{"message":"Every upstream key of provider \\\\"hf\\\\" is disabled \(rejected by the provider as invalid or without credit\)\.","type":"service_unavailable_error","param":null,"code":"upstream_keys_disabled"\}\}$']



=== TEST 5: a stream goes on with the next key before its first byte
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf
                          key=hf-one-status-429 key=hf-two-good models=off;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
    }
--- request eval
$::Stream
--- response_headers
Content-Type: text/event-stream
X-Attempts: 2
--- response_body_like: ^data: \{.*data: \[DONE\]\n\n$



=== TEST 6: attempts=1: no other key is tried
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf attempts=1
                          key=hf-one-status-429 key=hf-two-good models=off;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
    }
--- request eval
[$::Chat, $::Chat]
--- error_code eval
[429, 200]
--- response_headers eval
["X-Attempts: 1", "X-Attempts: 1"]



=== TEST 7: Gemini: a quota 429, then API_KEY_INVALID, then a good key; then the good key at once
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  gemini type=gemini pass=/_llm/gemini models=off
                          key=gm-quota-status-429 key=bad-gm-key-0123456789
                          key=gm-good-key-0123456789;
    llm_gateway_model  ~^gemini-  gemini;
--- config
    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
    }
--- request eval
[$::Gemini, $::Gemini]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Attempts: 3", "X-Attempts: 1"]



=== TEST 8: Gemini: the quota cooldown is RetryInfo's delay; API_KEY_INVALID disables
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  gemini type=gemini pass=/_llm/gemini models=off
                          key=gm-quota-status-429 key=bad-gm-key-0123456789
                          key=gm-good-key-0123456789;
    llm_gateway_model  ~^gemini-  gemini;
--- config
    location /v1/ { llm_gateway; }
--- request eval
$::Gemini
--- error_log eval
[qr/provider "gemini" key "gm-q\.\.\.-429" \(\w{12}\) cools down for 26000 ms after 429/,
 qr/provider "gemini" key "bad-\.\.\.6789" \(\w{12}\) is disabled: 401 API key not valid/]
--- no_error_log
[error]
[crit]



=== TEST 9: 5xx are failures: max_fails of them cool the key down
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf models=off
                          max_fails=2 fail_timeout=10s attempts=1
                          key=hf-one-status-503;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ { llm_gateway; }
--- request eval
[$::Chat, $::Chat, $::Chat]
--- error_code eval
[503, 503, 429]
--- response_body_like eval
['"error"', '"error"', '"code":"upstream_keys_cooling"']



=== TEST 10: what a cooldown after failures logs
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf models=off
                          max_fails=1 fail_timeout=10s attempts=1
                          key=hf-one-status-503;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ { llm_gateway; }
--- request eval
$::Chat
--- error_code: 503
--- error_log
failed 1 times, cools down for 10000 ms



=== TEST 11: a request's own fault (400) says nothing about the key
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf models=off
                          key=hf-one-status-400;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
    }
--- request eval
[$::Chat, $::Chat]
--- error_code eval
[400, 400]
--- response_headers eval
["X-Attempts: 1", "X-Attempts: 1"]
--- no_error_log
cools down
is disabled



=== TEST 12: without a zone, each worker keeps its own pool
--- http_config
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf models=off
                          key=hf-one-status-429 key=hf-two-good;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
    }
--- request eval
[$::Chat, $::Chat]
--- response_headers eval
["X-Attempts: 2", "X-Attempts: 1"]



=== TEST 13: the pool's parameters are checked
--- http_config
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf attempts=11;
--- config
    location /v1/ { llm_gateway; }
--- must_die
--- error_log
"attempts" must be 1 to 10 in "attempts=11"



=== TEST 12: the openai SDK sees one success where the first two keys answer 429 and 401
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf
                          key=hf-one-status-429 key=hf-two-status-401
                          key=hf-three-good models=off;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=sdk-token-1234;
        add_header X-Attempts $llm_gateway_attempts always;
    }
    location = /sdk.out { root html; }
--- init
my $out = "$ENV{TEST_NGINX_HTML_DIR}/sdk.out";
local $ENV{GATEWAY_URL} = "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/v1";
local $ENV{GATEWAY_TOKEN} = "sdk-token-1234";
local $ENV{NPM_DIR} = $ENV{NPM_DIR} // "build/node";
system("node $ENV{TEST_NGINX_T_DIR}/js/openai-key-pool.mjs > $out 2>&1") == 0
    or die "node failed: $?";
--- request
GET /sdk.out
--- response_body
ok 1 - one success where the first keys answer 429 and 401
ok 2 - the next request goes to the good key at once
ok 3 - a stream is served by the good key
--- timeout: 30



=== TEST 13: recheck=: a disabled key is tried again after a while, and enabled when it works
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf models=off
                          recheck=1s key=hf-back-first-401 key=hf-two-good-key;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
        add_header X-Key $llm_gateway_key_id always;
    }

    # more than the re-check's second, spent at the mock
    location = /wait {
        proxy_pass http://llm_mock/v1/chat/completions;
        proxy_method POST;
        proxy_set_body '{"model":"mock/slow-1300","messages":[{"role":"user","content":"x"}]}';
        proxy_set_header Content-Type application/json;
    }
--- request eval
[$::Chat, "GET /wait", $::Chat, $::Chat]
--- response_headers eval
# the round robin's turns: 0 (the first key, 401: disabled) and 1 (the
# retry, the second key), then 2: the first key, due for its re-check,
# answers this time; 3: the second key
use Digest::SHA qw(sha256_hex);
my ($back, $two) = map { substr(sha256_hex($_), 0, 12) } qw(hf-back-first-401 hf-two-good-key);
["X-Attempts: 2\nX-Key: $two", "", "X-Attempts: 1\nX-Key: $back",
 "X-Attempts: 1\nX-Key: $two"]



=== TEST 14: a stream that fails after its first byte is not tried again
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf models=off
                          key=hf-one-good-key-0 key=hf-two-good-key-0;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
    }
--- request
POST /v1/chat/completions
{"model":"mock/reset-mid-stream","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_headers
X-Attempts: 1
--- response_body_like: "code":"upstream_stream_truncated"\}\}\n\ndata: \[DONE\]\n\n$
--- error_log
stream ended prematurely



=== TEST 15: Gemini's 403 (a disabled API) disables the key; the next key answers
--- http_config
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  gemini type=gemini pass=/_llm/gemini models=off
                          key=gm-denied-status-403 key=gm-good-key-0123456789;
    llm_gateway_model  ~^gemini-  gemini;
--- config
    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
    }
--- request eval
$::Gemini
--- response_headers
X-Attempts: 2
--- error_log eval
qr/key "gm-d\.\.\.-403" \(\w{12}\) is disabled: 403 /

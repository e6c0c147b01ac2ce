# Key pools across "nginx -s reload": this file runs with the master
# process on, and each block after the first is a reload of the same
# nginx, so the shared zone and what it knows stay.

BEGIN { $ENV{TEST_NGINX_USE_HUP} = 1 }

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();

our $Gemini = "POST /v1/chat/completions\n"
              . '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}';

our $Config = <<'_EOC_';
    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
        add_header X-Key $llm_gateway_key_id always;
    }
_EOC_

# $llm_gateway_key_id: the first 6 bytes of the key's SHA-256, in hex
use Digest::SHA qw(sha256_hex);
our $Two = substr(sha256_hex('gm-two-good-0123456789'), 0, 12);
our $Three = substr(sha256_hex('gm-three-good-0123456789'), 0, 12);

run_tests();

__DATA__

=== TEST 1: the first key's quota runs out: it rests for Gemini's 26 s
--- http_config
    llm_gateway_zone  zone=llm_reload:1m;
    llm_gateway_provider  gemini type=gemini pass=/_llm/gemini models=off
                          key=gm-one-status-429 key=gm-two-good-0123456789;
    llm_gateway_model  ~^gemini-  gemini;
--- config eval: $::Config
--- request eval
$::Gemini
--- response_headers
X-Attempts: 2
--- error_log
cools down for 26000 ms after 429



=== TEST 2: after a reload the key still rests: the good key at once
--- http_config
    llm_gateway_zone  zone=llm_reload:1m;
    llm_gateway_provider  gemini type=gemini pass=/_llm/gemini models=off
                          key=gm-one-status-429 key=gm-two-good-0123456789;
    llm_gateway_model  ~^gemini-  gemini;
--- config eval: $::Config
--- request eval
[$::Gemini, $::Gemini]
--- response_headers eval
["X-Attempts: 1", "X-Attempts: 1"]



=== TEST 3: a key added by a reload joins the pool; the resting one still rests
--- http_config
    llm_gateway_zone  zone=llm_reload:1m;
    llm_gateway_provider  gemini type=gemini pass=/_llm/gemini models=off
                          key=gm-one-status-429 key=gm-two-good-0123456789
                          key=gm-three-good-0123456789;
    llm_gateway_model  ~^gemini-  gemini;
--- config eval: $::Config
--- request eval
[$::Gemini, $::Gemini, $::Gemini]
--- response_headers eval
["X-Attempts: 1", "X-Attempts: 1", "X-Attempts: 1"]
--- raw_response_headers_like eval
# three turns of the round robin over three keys: each good key once at
# least, the resting one skipped
my $any = "X-Key: (?:$::Two|$::Three)\r\n";
[$any, $any, $any]
--- response_body_like eval
['"object":"chat.completion"', '"object":"chat.completion"', '"object":"chat.completion"']



=== TEST 4: the new key did serve some of them (the mock saw it)
--- http_config
    llm_gateway_zone  zone=llm_reload:1m;
    llm_gateway_provider  gemini type=gemini pass=/_llm/gemini models=off
                          key=gm-one-status-429 key=gm-two-good-0123456789
                          key=gm-three-good-0123456789;
    llm_gateway_model  ~^gemini-  gemini;
--- config eval
$::Config . "    location = /seen { proxy_pass http://llm_mock/__mock/requests; }\n"
--- request
GET /seen
--- response_body_like: "gm-three-good-0123456789"

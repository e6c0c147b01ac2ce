# Keys files with attributes: group= (a 429 rests the whole group),
# weight= (turns in proportion), bind= ($llm_gateway_key_bind for
# proxy_bind); max_inflight= caps the requests a key carries at once.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;
use Digest::SHA qw(sha256_hex);

no_shuffle();
gateway_setup();

sub id { substr(sha256_hex(shift), 0, 12) }

our $Gemini = "POST /v1/chat/completions\n"
              . '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}';
our $Chat = "POST /v1/chat/completions\n"
            . '{"model":"a/b","messages":[{"role":"user","content":"hi"}]}';

our $Config = <<'_EOC_';
    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
        add_header X-Key $llm_gateway_key_id always;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: a 429 rests the key's whole group: the retry goes to another project
--- http_config
    llm_gateway_zone  zone=llm_attrs:1m;
    llm_gateway_provider  gemini type=gemini pass=/_llm/gemini models=off
                          keys=../html/gemini.keys;
    llm_gateway_model  ~^gemini-  gemini;
--- user_files
>>> gemini.keys
# project a: one quota for both keys
gm-a1-status-429        group=proj-a
gm-a2-good-0123456789   group=proj-a   # its quota is a1's
gm-b1-good-0123456789   group=proj-b
--- config eval: $::Config
--- request eval
[$::Gemini, $::Gemini, $::Gemini]
--- response_headers eval
my $b1 = main::id('gm-b1-good-0123456789');
["X-Attempts: 2\nX-Key: $b1", "X-Attempts: 1\nX-Key: $b1", "X-Attempts: 1\nX-Key: $b1"]



=== TEST 2: what a group's rest logs
--- http_config
    llm_gateway_zone  zone=llm_attrs:1m;
    llm_gateway_provider  gemini type=gemini pass=/_llm/gemini models=off
                          keys=../html/gemini.keys;
    llm_gateway_model  ~^gemini-  gemini;
--- user_files
>>> gemini.keys
gm-a1-status-429        group=proj-a
gm-a2-good-0123456789   group=proj-a
gm-b1-good-0123456789   group=proj-b
--- config eval: $::Config
--- request eval
$::Gemini
--- error_log
cools down for 26000 ms after 429, with its group "proj-a"



=== TEST 3: weights: three turns for one
--- http_config
    llm_gateway_zone  zone=llm_attrs:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf models=off
                          keys=../html/hf.keys;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- user_files
>>> hf.keys
hf-heavy-key-0123456789   weight=3
hf-light-key-0123456789
--- config eval: $::Config
--- request eval
[($::Chat) x 8]
--- response_headers eval
my ($h, $l) = (main::id('hf-heavy-key-0123456789'), main::id('hf-light-key-0123456789'));
["X-Key: $h", "X-Key: $l", "X-Key: $h", "X-Key: $h",
 "X-Key: $h", "X-Key: $l", "X-Key: $h", "X-Key: $h"]



=== TEST 4: bad weights are refused
--- http_config
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf keys=../html/hf.keys;
--- user_files
>>> hf.keys
hf-heavy-key-0123456789   weight=0
--- config
    location /v1/ { llm_gateway; }
--- must_die
--- error_log
"weight" must be 1 to 100



=== TEST 5: bind=: the key's local address, for proxy_bind
--- http_config
    llm_gateway_zone  zone=llm_attrs:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/local models=off
                          keys=../html/hf.keys;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- user_files
>>> hf.keys
hf-bound-key-0123456789   bind=127.0.0.2
--- config
    location /v1/ { llm_gateway; }

    # no keepalive: a cached connection keeps the address it was made with
    location /_llm/local/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/;
        proxy_bind $llm_gateway_key_bind;
        proxy_set_header Authorization "Bearer $llm_gateway_upstream_key";
    }

    location = /last {
        proxy_pass http://llm_mock/__mock/last;
    }
--- request eval
[$::Chat, "GET /last"]
--- response_body_like eval
['"object":\s*"chat.completion"', '"client":\s*\[\s*"127\.0\.0\.2"']



=== TEST 6: max_inflight: a key that carries its share waits, the client gets a 429 with a second to wait
--- http_config
    llm_gateway_zone  zone=llm_attrs:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf models=off
                          max_inflight=1 key=hf-only-key-0123456789;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config eval
$::Config . "    location = /release { proxy_pass http://llm_mock/__mock/release?id=busy; }\n"
--- init
use IO::Socket::INET;
# a stream the mock holds until released: the key's one request in flight
my $body = '{"model":"mock/stream-gated-busy","stream":true,"messages":[{"role":"user","content":"hi"}]}';
our $Held = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}")
    or die "connect: $!";
print $Held "POST /v1/chat/completions HTTP/1.0\r\nHost: localhost\r\n"
            . "Content-Type: application/json\r\nContent-Length: "
            . length($body) . "\r\n\r\n" . $body;
my $line = <$Held>;    # the stream's headers: its subrequest runs
--- request eval
[$::Chat, "GET /release"]
--- error_code eval
[429, 200]
--- response_headers eval
["Retry-After: 1\nX-Attempts: 0", ""]
--- response_body_like eval
['^\{"error":\{"message":"Every upstream key of provider \\\\"hf\\\\" has 1 requests in flight; retry in a second\.","type":"rate_limit_error","param":null,"code":"upstream_keys_busy"\}\}$',
 '"released"']

# Streamed chat completions: relayed event by event, normalised, and
# errors after the first byte turned into an error event.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();

run_tests();

__DATA__

=== TEST 1: the upstream's events come back byte for byte
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"openai/gpt-oss-120b","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_headers
Content-Type: text/event-stream
Cache-Control: no-cache
X-Accel-Buffering: no
!Content-Length
--- response_body eval
main::fixture("openai_stream_text.sse")



=== TEST 2: the upstream is asked for an event stream
--- config
    location /v1/ { llm_gateway; }
--- request eval
["POST /v1/chat/completions
{\"model\":\"a/b\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"GET /_mock/last"]
--- response_body_like eval
['data: \[DONE\]\n\n$', '"Accept",\s*"text/event-stream"']



=== TEST 3: tool call deltas are relayed unchanged
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/tools","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body eval
main::fixture("openai_stream_with_tool_calls.sse")



=== TEST 4: streaming works with proxy_buffering left on
--- config
    location /v1/ { llm_gateway; }
    location /_llm/hf/ {
        internal;
        proxy_pass http://llm_mock/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering on;
    }
--- request
POST /v1/chat/completions
{"model":"mock/stream-delay-50","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body eval
main::fixture("openai_stream_text.sse")



=== TEST 5: finish_reason spellings are normalised in streams
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/finish-eos_token","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body_like: "finish_reason":"stop"\}\]\}\n\n
--- response_body_unlike: eos_token



=== TEST 6: reasoning deltas are kept
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/reasoning","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body_like: "reasoning_content"



=== TEST 7: an error event from upstream (object envelope)
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/error-mid-stream","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body_like: (?s)^data: \{"id".*\n\ndata: \{"error":\{"message":"[^"]+","type":"server_error","param":null,"code":null\}\}\n\ndata: \[DONE\]\n\n$
--- error_log
sent an error event



=== TEST 8: an error event from upstream (string envelope)
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/error-mid-stream-str","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body_like: \n\ndata: \{"error":\{"message":"[^"]+","type":"server_error","param":null,"code":null\}\}\n\ndata: \[DONE\]\n\n$
--- error_log
sent an error event



=== TEST 9: a connection reset mid-stream ends the stream with an error event
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/reset-mid-stream","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body_like: (?s)^data: \{"id".*\n\ndata: \{"error":\{"message":"The upstream stream ended prematurely\.","type":"server_error","param":null,"code":"upstream_stream_truncated"\}\}\n\ndata: \[DONE\]\n\n$
--- error_log
stream ended prematurely



=== TEST 10: a truncated stream (no last chunk) ends with an error event
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/truncate-mid-stream","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body_like: "code":"upstream_stream_truncated"\}\}\n\ndata: \[DONE\]\n\n$
--- error_log
upstream prematurely closed connection



=== TEST 11: an upstream error before the first byte keeps its status
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/status-429","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- error_code: 429
--- response_headers
Content-Type: application/json
Retry-After: 7
--- response_body_like: ^\{"error":\{"message":"[^"]+","type":"invalid_request_error","param":"model","code":"model_not_supported"\}\}$



=== TEST 12: CRLF and CR framing, events split anywhere, comments
--- config
    location /v1/ { llm_gateway; }
    location /_llm/hf/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
        proxy_buffering off;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
["HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
 ": keep-alive\r\n\r\nda", "ta: {\"a\":1}\r", "\n\r\ndata: {\"b\"", ":2}\r\rdata:{\"c\":3}\n",
 "\ndata: [DONE]\n\n"]
--- tcp_reply_delay: 0.1
--- request
POST /v1/chat/completions
{"model":"a/b","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body eval
"data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: {\"c\":3}\n\ndata: [DONE]\n\n"



=== TEST 13: an upstream that ends without [DONE] still gets one
--- config
    location /v1/ { llm_gateway; }
    location /_llm/hf/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
my $b = "data: {\"a\":1}\n\n";
"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " . length($b) . "\r\n\r\n$b"
--- request
POST /v1/chat/completions
{"model":"a/b","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body eval
"data: {\"a\":1}\n\ndata: [DONE]\n\n"



=== TEST 14: an event larger than llm_gateway_buffer_size
--- config
    location /v1/ {
        llm_gateway;
        llm_gateway_buffer_size 64;
    }
--- request
POST /v1/chat/completions
{"model":"a/b","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body_like: ^data: \{"error":\{"message":"An upstream event is larger than llm_gateway_buffer_size\.","type":"server_error","param":null,"code":"upstream_too_large"\}\}\n\ndata: \[DONE\]\n\n$
--- error_log
stream ended prematurely



=== TEST 15: a stream request answered with one JSON completion is replayed as chunks
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/json-tools","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}
--- response_headers
Content-Type: text/event-stream
--- response_body_like: ^data: \{"id":"chatcmpl-[^"]+","object":"chat.completion.chunk","created":\d+,"model":"[^"]+","system_fingerprint":"[^"]+","choices":\[\{"index":0,"delta":\{"role":"assistant","content":null,"tool_calls":\[\{"index":0,"id":"call_[^"]+","type":"function","function":\{"name":"GetWeatherArgs","arguments":"(?:[^"\\]|\\.)+"\}\},\{"index":1,.*\]\},"logprobs":null,"finish_reason":null\}\]\}\n\ndata: \{.*"choices":\[\{"index":0,"delta":\{\},"logprobs":null,"finish_reason":"tool_calls"\}\]\}\n\ndata: \{.*"choices":\[\],"usage":\{"prompt_tokens":\d+.*\}\}\n\ndata: \[DONE\]\n\n$



=== TEST 16: the same for plain text, without usage
--- config
    location /v1/ { llm_gateway; }
--- request
POST /v1/chat/completions
{"model":"mock/json-n3","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body_like: ^data: \{[^\n]*"choices":\[\{"index":0,"delta":\{"role":"assistant","content":"(?:[^"\\]|\\.)+"\}[^\n]*\n\ndata: [^\n]*"finish_reason":"stop"[^\n]*\n\ndata: [^\n]*"index":1,[^\n]*\n\ndata: [^\n]*\n\ndata: [^\n]*"index":2,[^\n]*\n\ndata: [^\n]*\n\ndata: \[DONE\]\n\n$
--- response_body_unlike: "usage"



=== TEST 17: an event of several data lines keeps every line (CONSTRUCTED stream, served by the test nginx)
--- http_config
    llm_gateway_provider  local type=hf_router pass=/_llm/local key=local-key-0123 models=off;
    llm_gateway_model  local/multi  local;
--- config
    location /v1/ { llm_gateway; }
    location /_llm/local/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sse/;
    }
    location /sse/ {
        root html;
        default_type text/event-stream;
        error_page 405 =200 $uri;
    }
--- user_files
>>> sse/v1/chat/completions
data: {"id":"c1","object":"chat.completion.chunk",
data:  "choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: [DONE]

--- request
POST /v1/chat/completions
{"model":"local/multi","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- response_body eval
q|data: {"id":"c1","object":"chat.completion.chunk",| . "\n"
. q|data:  "choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}| . "\n\n"
. q|data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}| . "\n\n"
. q|data: [DONE]| . "\n\n"



=== TEST 18: a client that reads nothing holds the provider back, as proxy_pass does (CONSTRUCTED 16 MB stream)
--- http_config
    llm_gateway_provider  local type=hf_router pass=/_llm/local key=local-key-0123 models=off;
    llm_gateway_model  local/big  local;
--- config
    # debug logging of 40 MB would be the slow part
    error_log logs/error.log info;

    location /v1/ { llm_gateway; }
    location /_llm/local/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sse/;
        proxy_buffering off;
    }
    location /sse/ {
        root html;
        default_type text/event-stream;
        error_page 405 =200 $uri;
        # written only once the whole file is sent
        access_log logs/sse.log;
    }
    location = /state.txt { root html; }
--- user_files eval
my $event = 'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"'
            . ('x' x 300) . '"},"finish_reason":null}]}' . "\n\n";
[["sse/v1/chat/completions", $event x (16 * 1024 * 1024 / length $event) . "data: [DONE]\n\n"]]
--- init
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF);
my $body = '{"model":"local/big","stream":true,"messages":[{"role":"user","content":"hi"}]}';
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}")
    or die "connect: $!";
setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096);
print $s "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
         . "Content-Type: application/json\r\nContent-Length: " . length($body)
         . "\r\n\r\n" . $body;
# without backpressure the gateway reads 16 MB in a fraction of this
sleep 2;
my $html = $ENV{TEST_NGINX_HTML_DIR};
my $state = -s "$html/../logs/sse.log" ? "read to the end" : "held back";
open my $f, '>', "$html/state.txt" or die $!;
print $f "$state\n";
close $f;
close $s;
--- request
GET /state.txt
--- response_body
held back
--- no_error_log
[alert]
[crit]

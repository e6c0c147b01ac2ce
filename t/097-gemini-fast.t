# Text-only Gemini answers take a fast path (no tree, texts copied still
# escaped); everything else takes the tree path.  The same answer must
# come out the same both ways: each answer here is served twice, as it is
# and with a "promptFeedback" member that sends it down the tree path.
#
# The answers are CONSTRUCTED in the shape of the recorded samples (see
# t/fixtures/gemini_*), served as static files by the test nginx itself.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

no_shuffle();
gateway_setup();

our $Http = <<'_EOC_';
    llm_gateway_provider  fake type=gemini pass=/_llm/fake key=fake-key-0123 models=off;
    llm_gateway_model  ~^(fast|slow)-  fake;
_EOC_

our $Locations = <<'_EOC_';
    location /v1/ { llm_gateway; }

    location /_llm/fake/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/fake/;
        proxy_buffering off;
    }

    # POST to a static file: 405, then the same file as a GET
    location /fake/ {
        root html;
        default_type application/json;
        error_page 405 =200 $uri;

        location ~ :streamGenerateContent$ {
            default_type text/event-stream;
            error_page 405 =200 $uri;
        }
    }
_EOC_

my %events = (
    text => [
        '{"candidates": [{"content": {"parts": [{"text": "Let me think.","thought": true}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 5},"modelVersion": "gemini-x"}',
        '{"candidates": [{"content": {"parts": [{"text": "Caf\u00e9 \"A\"\n"},{"text": "B\\\\C \u2713 ✓"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 5,"candidatesTokenCount": 4,"totalTokenCount": 9},"modelVersion": "gemini-x"}',
        '{"candidates": [{"content": {"parts": [{"text": "end"}],"role": "model"},"finishReason": "MAX_TOKENS","index": 0}],"usageMetadata": {"promptTokenCount": 5,"candidatesTokenCount": 7,"thoughtsTokenCount": 3,"totalTokenCount": 15},"modelVersion": "gemini-x"}',
    ],
    multi => [
        '{"candidates": [{"content": {"parts": [{"text": "b1"}],"role": "model"},"index": 1},{"content": {"parts": [{"text": "a1"}],"role": "model"},"index": 0}]}',
        '{"candidates": [{"content": {"parts": [{"text": "a2"}],"role": "model"},"finishReason": "STOP","index": 0},{"content": {"parts": [{"text": "b2"}],"role": "model"},"finishReason": "SAFETY","index": 1}]}',
    ],
    mixed => [
        '{"candidates": [{"content": {"parts": [{"text": "Checking."}],"role": "model"},"index": 0}]}',
        '{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_time","args": {"tz": "UTC"}}}],"role": "model"},"index": 0}]}',
        '{"candidates": [{"content": {"parts": [{"text": "Done."}],"role": "model"},"finishReason": "STOP","index": 0}]}',
    ],
    # one layout for several events (the fast path matches them against
    # the first), then another one
    shaped => [
        '{"candidates": [{"content": {"parts": [{"text": "One "}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 5,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 5}]},"modelVersion": "gemini-x","responseId": "r1"}',
        '{"candidates": [{"content": {"parts": [{"text": "caf\u00e9 \"two\" ✓ "}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 9,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 5}]},"modelVersion": "gemini-x","responseId": "r1"}',
        '{"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 10,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 5}]},"modelVersion": "gemini-x","responseId": "r1"}',
        '{"candidates": [{"content": {"parts": [{"text": "three\n"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 12,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 5}]},"modelVersion": "gemini-x","responseId": "r1"}',
        '{"candidates":[{"content":{"parts":[{"text":"four"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":5,"totalTokenCount":13},"modelVersion":"gemini-x","responseId":"r1"}',
        '{"candidates":[{"content":{"parts":[{"text":"end"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":9,"totalTokenCount":14},"modelVersion":"gemini-x","responseId":"r1"}',
    ],
    # a text larger than an output buffer: the chunk is written in parts
    long => [
        '{"candidates": [{"content": {"parts": [{"text": "' . ('0123456789' x 500) . '"}],"role": "model"},"index": 0}]}',
        '{"candidates": [{"content": {"parts": [{"text": "' . ('abcdefghij' x 500) . '"}],"role": "model"},"finishReason": "STOP","index": 0}]}',
    ],
    badutf8 => [
        '{"candidates": [{"content": {"parts": [{"text": "ok"}],"role": "model"},"index": 0}]}',
        "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\xff\"}],\"role\": \"model\"},\"index\": 0}]}",
    ],
);

my $answer = '{"candidates": [{"content": {"parts": [{"text": "Hmm.","thought": true},{"text": "Line 1\n"},{"text": "Line 2 \u00e9"}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 4,"candidatesTokenCount": 6,"thoughtsTokenCount": 2,"totalTokenCount": 12}}';

sub slow {
    my $json = shift;
    $json =~ s/^\{/{"promptFeedback": {"safetyRatings": []},/;
    return $json;
}

our @Files;

for my $name (keys %events) {
    for my $way ('fast', 'slow') {
        my @ev = map { $way eq 'slow' ? slow($_) : $_ } @{ $events{$name} };
        push @Files, ["fake/v1beta/models/$way-$name:streamGenerateContent",
                      join('', map { "data: $_\r\n\r\n" } @ev)];
    }
}

# parts and sources with members missing
my $odd = '{"candidates": [{"content": {"parts": [{"executableCode": {"language": "PYTHON"}},{"codeExecutionResult": {"outcome": "OUTCOME_OK"}}],"role": "model"},"finishReason": "STOP","groundingMetadata": {"groundingChunks": [{"web": {"uri": "https://example.com/"}},{"web": {"title": "t"}}]},"index": 0}]}';

push @Files, ["fake/v1beta/models/slow-odd:generateContent", $odd];

push @Files, ["fake/v1beta/models/fast-json:generateContent", $answer],
             ["fake/v1beta/models/slow-json:generateContent", slow($answer)];

our $Head = '\{"id":"chatcmpl-\w+","object":"chat.completion.chunk","created":\d+,"model":"(?:fast|slow)-\w+","choices":\[\{"index":';
our $Tail = ',"logprobs":null,"finish_reason":null\}\]\}\n\n';

sub chunk {
    my ($index, $delta) = @_;
    return 'data: ' . $Head . $index . ',"delta":' . $delta . $Tail;
}

sub body {
    my ($model, $extra) = @_;
    return "POST /v1/chat/completions\n" . '{"model":"' . $model
           . '","stream":true' . $extra
           . ',"messages":[{"role":"user","content":"Hi"}]}';
}

run_tests();

__DATA__

=== TEST 1: thoughts, escapes, several parts, usage: the same both ways
--- http_config eval: $::Http
--- config eval: $::Locations
--- user_files eval: \@::Files
--- request eval
[main::body("fast-text", ',"stream_options":{"include_usage":true}'),
 main::body("slow-text", ',"stream_options":{"include_usage":true}')]
--- response_body_like eval
my $r = '^' . main::chunk(0, '\{"role":"assistant","content":""\}')
  . main::chunk(0, '\{"reasoning_content":"Let me think."\}')
  . main::chunk(0, '\{"content":"Caf(?:\\\\u00e9|\x{c3}\x{a9}) \\\\"A\\\\"\\\\n"\}')
  . main::chunk(0, '\{"content":"B\\\\\\\\C (?:\\\\u2713|\x{e2}\x{9c}\x{93}) \x{e2}\x{9c}\x{93}"\}')
  . main::chunk(0, '\{"content":"end"\}')
  . 'data: ' . $::Head . '0,"delta":\{\},"logprobs":null,"finish_reason":"length"\}\]\}\n\n'
  . 'data: \{"id":"chatcmpl-\w+","object":"chat.completion.chunk","created":\d+,"model":"(?:fast|slow)-text","choices":\[\],"usage":\{"prompt_tokens":5,"completion_tokens":10,"total_tokens":15,"prompt_tokens_details":\{"cached_tokens":0\},"completion_tokens_details":\{"reasoning_tokens":3\}\}\}\n\n'
  . 'data: \[DONE\]\n\n$';
[$r, $r]



=== TEST 2: the fast path keeps Gemini's escapes, the tree path decodes them
--- http_config eval: $::Http
--- config eval: $::Locations
--- user_files eval: \@::Files
--- request eval
[main::body("fast-text", ""), main::body("slow-text", "")]
--- response_body_like eval
['"content":"Caf\\\\u00e9 ', "\"content\":\"Caf\x{c3}\x{a9} "]



=== TEST 3: two candidates, indexes before and after the content
--- http_config eval: $::Http
--- config eval: $::Locations
--- user_files eval: \@::Files
--- request eval
[main::body("fast-multi", ',"n":2'), main::body("slow-multi", ',"n":2')]
--- response_body_like eval
my $r = '^' . main::chunk(1, '\{"role":"assistant","content":""\}')
  . main::chunk(1, '\{"content":"b1"\}')
  . main::chunk(0, '\{"role":"assistant","content":""\}')
  . main::chunk(0, '\{"content":"a1"\}')
  . main::chunk(0, '\{"content":"a2"\}')
  . main::chunk(1, '\{"content":"b2"\}')
  . 'data: ' . $::Head . '0,"delta":\{\},"logprobs":null,"finish_reason":"stop"\}\]\}\n\n'
  . 'data: ' . $::Head . '1,"delta":\{\},"logprobs":null,"finish_reason":"content_filter"\}\]\}\n\n'
  . 'data: \[DONE\]\n\n$';
[$r, $r]



=== TEST 4: a function call between text events: one role chunk, tool_calls at the end
--- http_config eval: $::Http
--- config eval: $::Locations
--- user_files eval: \@::Files
--- request eval
[main::body("fast-mixed", ""), main::body("slow-mixed", "")]
--- response_body_like eval
my $r = '^' . main::chunk(0, '\{"role":"assistant","content":""\}')
  . main::chunk(0, '\{"content":"Checking."\}')
  . main::chunk(0, '\{"tool_calls":\[\{"index":0,"id":"call_[0-9a-f]+","type":"function","function":\{"name":"get_time","arguments":"\{\\\\"tz\\\\":\\\\"UTC\\\\"\}"\}\}\]\}')
  . main::chunk(0, '\{"content":"Done."\}')
  . 'data: ' . $::Head . '0,"delta":\{\},"logprobs":null,"finish_reason":"tool_calls"\}\]\}\n\n'
  . 'data: \[DONE\]\n\n$';
[$r, $r]



=== TEST 5: bad UTF-8 in a text: an error event both ways, never the bytes
--- http_config eval: $::Http
--- config eval: $::Locations
--- user_files eval: \@::Files
--- request eval
[main::body("fast-badutf8", ""), main::body("slow-badutf8", "")]
--- response_body_like eval
my $r = '^' . main::chunk(0, '\{"role":"assistant","content":""\}')
  . main::chunk(0, '\{"content":"ok"\}')
  . 'data: \{"error":\{"message":"[^"]+","type":"[a-z_]+"[^\n]*\}\}\n\n'
  . 'data: \[DONE\]\n\n$';
[$r, $r]
--- error_log
sent an event that is not JSON
--- no_error_log
[alert]
[crit]



=== TEST 6: a non-streamed answer: the same both ways
--- http_config eval: $::Http
--- config eval: $::Locations
--- user_files eval: \@::Files
--- request eval
["POST /v1/chat/completions\n" . '{"model":"fast-json","messages":[{"role":"user","content":"Hi"}]}',
 "POST /v1/chat/completions\n" . '{"model":"slow-json","messages":[{"role":"user","content":"Hi"}]}']
--- response_body_like eval
my $r = '^\{"id":"chatcmpl-\w+","object":"chat.completion","created":\d+,"model":"(?:fast|slow)-json","choices":\[\{"index":0,"message":\{"role":"assistant","content":"Line 1\\\\nLine 2 (?:\\\\u00e9|\x{c3}\x{a9})","reasoning_content":"Hmm.","refusal":null\},"logprobs":null,"finish_reason":"stop"\}\],"usage":\{"prompt_tokens":4,"completion_tokens":8,"total_tokens":12,"prompt_tokens_details":\{"cached_tokens":0\},"completion_tokens_details":\{"reasoning_tokens":2\}\}\}$';
[$r, $r]



=== TEST 7: events of one layout, then of another: the same both ways
--- http_config eval: $::Http
--- config eval: $::Locations
--- user_files eval: \@::Files
--- request eval
[main::body("fast-shaped", ',"stream_options":{"include_usage":true}'),
 main::body("slow-shaped", ',"stream_options":{"include_usage":true}')]
--- response_body_like eval
my $r = '^' . main::chunk(0, '\{"role":"assistant","content":""\}')
  . main::chunk(0, '\{"content":"One "\}')
  . main::chunk(0, '\{"content":"caf(?:\\\\u00e9|\x{c3}\x{a9}) \\\\"two\\\\" \x{e2}\x{9c}\x{93} "\}')
  . main::chunk(0, '\{"content":"three\\\\n"\}')
  . main::chunk(0, '\{"content":"four"\}')
  . main::chunk(0, '\{"content":"end"\}')
  . 'data: ' . $::Head . '0,"delta":\{\},"logprobs":null,"finish_reason":"stop"\}\]\}\n\n'
  . 'data: \{"id":"chatcmpl-\w+","object":"chat.completion.chunk","created":\d+,"model":"(?:fast|slow)-shaped","choices":\[\],"usage":\{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14,"prompt_tokens_details":\{"cached_tokens":0\},"completion_tokens_details":\{"reasoning_tokens":0\}\}\}\n\n'
  . 'data: \[DONE\]\n\n$';
[$r, $r]



=== TEST 8: texts larger than an output buffer: the same both ways
--- http_config eval: $::Http
--- config eval: $::Locations
--- user_files eval: \@::Files
--- request eval
[main::body("fast-long", ""), main::body("slow-long", "")]
--- response_body_like eval
my $r = '^' . main::chunk(0, '\{"role":"assistant","content":""\}')
  . main::chunk(0, '\{"content":"(?:0123456789){500}"\}')
  . main::chunk(0, '\{"content":"(?:abcdefghij){500}"\}')
  . 'data: ' . $::Head . '0,"delta":\{\},"logprobs":null,"finish_reason":"stop"\}\]\}\n\n'
  . 'data: \[DONE\]\n\n$';
[$r, $r]



=== TEST 9: code without code, output without output, sources without a title or URL
--- http_config eval: $::Http
--- config eval: $::Locations
--- user_files eval: \@::Files
--- request eval
"POST /v1/chat/completions\n" . '{"model":"slow-odd","messages":[{"role":"user","content":"Hi"}]}'
--- response_body_like: ^\{"id":"chatcmpl-\w+","object":"chat.completion",[^\n]*"content":"\\n```python\\n```\\n\\n```output\\n```\\n[^"]*Sources:[^"]*","refusal":null,"annotations":\[[^\n]*"finish_reason":"stop"

# http(s) image URLs for Gemini (llm_gateway_image_fetch): fetched through
# an internal location, sent inline; every way a fetch can fail is a 400.
#
# The images are served by the test nginx itself (CONSTRUCTED bytes).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;
use MIME::Base64 qw(encode_base64);

no_shuffle();
gateway_setup();

our $Png = "\x89PNG\r\n\x1a\n" . join('', map { chr($_ * 7 % 256) } 0 .. 199);
our $Big = "\x89PNG\r\n\x1a\n" . ("x" x 2000);
our $Port = $ENV{TEST_NGINX_SERVER_PORT};

our $Locations = <<'_EOC_';
    location /_llm/fetch {
        internal;
        proxy_pass $llm_gateway_fetch_url;
        proxy_read_timeout 2s;
    }

    location /img/ {
        root html;
        log_not_found off;
        types { image/png png; image/jpeg jpg; text/plain txt; }
    }

    # what reaches an image server: no key, no client token
    location = /img/headers.png {
        default_type image/png;
        return 200 "[$http_authorization|$http_x_goog_api_key|$http_cookie|$http_accept]";
    }

    location = /img/redirect.png {
        return 302 /img/cat.png;
    }

    location = /body {
        proxy_pass http://llm_mock/__mock/last;
        proxy_http_version 1.1;
    }
_EOC_

our @Files = (["img/cat.png", $Png], ["img/big.png", $Big],
              ["img/note.txt", "not an image"]);

sub chat {
    my ($model, @urls) = @_;
    my $parts = join(',', map {
        /^data:/ || /^https?:/
            ? qq{{"type":"image_url","image_url":{"url":"$_"}}}
            : qq{{"type":"text","text":"$_"}}
    } @urls);
    return "POST /v1/chat/completions\n"
           . qq{{"model":"$model","messages":[{"role":"user","content":[$parts]}]}};
}

sub url { return "http://127.0.0.1:$Port/img/" . shift }

sub inline {
    my ($mime, $bytes) = @_;
    my $b64 = encode_base64($bytes, '');
    return quotemeta(qq{{\\"inlineData\\":{\\"mimeType\\":\\"$mime\\",\\"data\\":\\"$b64\\"}}});
}

run_tests();

__DATA__

=== TEST 1: an http image is fetched and sent inline, in order with text and data: URLs
--- config eval
"location /v1/ { llm_gateway; llm_gateway_image_fetch /_llm/fetch; }" . $::Locations
--- user_files eval: \@::Files
--- request eval
[main::chat("gemini-2.5-flash", "What is this?", main::url("cat.png"),
            "data:image/gif;base64,R0lGOD==", main::url("cat.png")),
 "GET /body"]
--- response_body_like eval
['"object":"chat.completion"',
 quotemeta(q{"parts\":[{\"text\":\"What is this?\"},})
 . main::inline("image/png", $::Png)
 . quotemeta(q{,{\"inlineData\":{\"mimeType\":\"image/gif\",\"data\":\"R0lGOD==\"}},})
 . main::inline("image/png", $::Png) . quotemeta(q{]})]



=== TEST 2: a stream request waits for its images, then streams
--- config eval
"location /v1/ { llm_gateway; llm_gateway_image_fetch /_llm/fetch; }" . $::Locations
--- user_files eval: \@::Files
--- request eval
[main::chat("gemini-2.5-flash", main::url("cat.png")) =~ s/"messages"/"stream":true,"messages"/r,
 "GET /body"]
--- response_body_like eval
['^data: \{"id":"chatcmpl-[^\n]*"role":"assistant".*data: \[DONE\]\n\n$',
 quotemeta(q{streamGenerateContent}) . '.*' . main::inline("image/png", $::Png)]



=== TEST 3: the image server sees neither the upstream key nor the client's headers
--- config eval
"location /v1/ { llm_gateway; llm_gateway_image_fetch /_llm/fetch; }" . $::Locations
--- user_files eval: \@::Files
--- more_headers
Authorization: Bearer client-token-0123
Cookie: session=abc
--- request eval
[main::chat("gemini-2.5-flash", main::url("headers.png")), "GET /body"]
--- response_body_like eval
['"object":"chat.completion"', main::inline("image/png", "[|||image/*]")]



=== TEST 4: answers that are not an image: 404, a redirect, text, an empty body
--- config eval
"location /v1/ { llm_gateway; llm_gateway_image_fetch /_llm/fetch; }
 location = /img/empty.png { default_type image/png; return 200 ''; }" . $::Locations
--- user_files eval: \@::Files
--- request eval
[main::chat("gemini-2.5-flash", main::url("missing.png")),
 main::chat("gemini-2.5-flash", main::url("redirect.png")),
 main::chat("gemini-2.5-flash", main::url("note.txt")),
 main::chat("gemini-2.5-flash", main::url("empty.png"))]
--- error_code eval
[400, 400, 400, 400]
--- response_body_like eval
my $u = quotemeta("http://127.0.0.1:$::Port/img/");
['^\{"error":\{"message":"The image at ' . $u . 'missing.png could not be fetched: the server answered 404.","type":"invalid_request_error","param":"messages","code":"image_fetch_failed"\}\}$',
 'could not be fetched: the server answered 302.","type":"invalid_request_error","param":"messages","code":"image_fetch_failed"',
 'note.txt is not an image \(Content-Type \\\\"text/plain\\\\"\)."',
 'empty.png is empty."']



=== TEST 5: size and count limits
--- config eval
"location /v1/ { llm_gateway; llm_gateway_image_fetch /_llm/fetch max_size=1k max_images=2; }" . $::Locations
--- user_files eval: \@::Files
--- request eval
[main::chat("gemini-2.5-flash", main::url("big.png")),
 main::chat("gemini-2.5-flash", main::url("cat.png"), main::url("cat.png"), main::url("cat.png")),
 main::chat("gemini-2.5-flash", main::url("cat.png"), main::url("cat.png"))]
--- error_code eval
[400, 400, 200]
--- response_body_like eval
['big.png is larger than 1024 bytes, the most the gateway fetches."',
 '^\{"error":\{"message":"This request has more than 2 image URLs for the gateway to fetch; send the others as data: URLs.","type":"invalid_request_error","param":"messages","code":"too_many_image_urls"\}\}$',
 '"object":"chat.completion"']



=== TEST 6: URLs the gateway will not fetch, and a server that is not there
--- config eval
"location /v1/ { llm_gateway; llm_gateway_image_fetch /_llm/fetch; }" . $::Locations
--- user_files eval: \@::Files
--- request eval
[main::chat("gemini-2.5-flash", "http://user:secret\@127.0.0.1:$::Port/img/cat.png"),
 main::chat("gemini-2.5-flash", "http://127.0.0.1:$::Port/img/cat.png?a=b c"),
 main::chat("gemini-2.5-flash", "http:///img/cat.png")]
--- error_code eval
[400, 400, 400]
--- response_body_like eval
['is not an http or https URL the gateway can fetch \(no credentials, spaces or control characters\)."',
 'is not an http or https URL the gateway can fetch',
 'is not an http or https URL the gateway can fetch']



=== TEST 7: a server that is not there
--- config eval
"location /v1/ { llm_gateway; llm_gateway_image_fetch /_llm/fetch; }" . $::Locations
--- request eval
main::chat("gemini-2.5-flash", "http://127.0.0.1:1/cat.png")
--- error_code: 400
--- response_body_like: ^\{"error":\{"message":"The image at http://127.0.0.1:1/cat.png could not be fetched: the server is unreachable.","type":"invalid_request_error","param":"messages","code":"image_fetch_failed"\}\}$
--- error_log
the image "http://127.0.0.1:1/cat.png" could not be fetched
--- no_error_log
[alert]
[crit]



=== TEST 8: off by default, and in a location that says off: the translator's clear 400
--- config eval
"location /v1/ { llm_gateway; }
 location /v2/ { llm_gateway; llm_gateway_image_fetch off; }" . $::Locations
--- http_config eval
$LLMGateway::DefaultHttp . "    llm_gateway_image_fetch /_llm/fetch;\n"
--- user_files eval: \@::Files
--- request eval
[main::chat("gemini-2.5-flash", main::url("cat.png")),
 main::chat("gemini-2.5-flash", main::url("cat.png")) =~ s{/v1/}{/v2/}r]
--- error_code eval
[200, 400]
--- response_body_like eval
['"object":"chat.completion"',
 'Gemini models take images as data: URLs \(data:image/png;base64,...\); this gateway does not fetch http\(s\) image URLs \(see llm_gateway_image_fetch\).']



=== TEST 9: a provider that takes URLs itself gets the URL, nothing is fetched
--- config eval
"location /v1/ { llm_gateway; llm_gateway_image_fetch /_llm/fetch; }" . $::Locations
--- user_files eval: \@::Files
--- request eval
[main::chat("openai/gpt-oss-120b", "http://127.0.0.1:1/not-fetched.png"), "GET /body"]
--- response_body_like eval
['"object":\s*"chat.completion"', quotemeta(q{\"url\":\"http://127.0.0.1:1/not-fetched.png\"})]



=== TEST 10: the directive's parameters are checked
--- config
    location /v1/ { llm_gateway; llm_gateway_image_fetch /_llm/fetch max_size=0; }
--- must_die
--- error_log
invalid parameter "max_size=0"

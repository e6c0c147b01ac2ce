# The key pool's administration: llm_gateway_keys_admin (state as JSON,
# disable / enable / reset) and GET /v1/keys/list, both behind
# llm_gateway_admin_auth tokens; no raw key in any answer.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;
use Digest::SHA qw(sha256_hex);

no_shuffle();
gateway_setup();

# $llm_gateway_key_id: the first 6 bytes of the key's SHA-256, in hex
sub id { substr(sha256_hex(shift), 0, 12) }

our ($One, $Two, $Three) = map { id($_) }
    qw(hf-one-status-429 hf-two-status-401 hf-three-good-key);

our $Http = <<'_EOC_';
    llm_gateway_zone  zone=llm_admin:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf models=off
                          key=hf-one-status-429 key=hf-two-status-401
                          key=hf-three-good-key;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
    llm_gateway_admin_auth  token=admin-secret-0123;
_EOC_

our $Config = <<'_EOC_';
    location /v1/ {
        llm_gateway;
        llm_gateway_auth token=client-token-0123;
        add_header X-Key $llm_gateway_key_id always;
    }

    location /admin/keys {
        llm_gateway_keys_admin;
    }
_EOC_

our $Chat = "POST /v1/chat/completions\n"
            . '{"model":"a/b","messages":[{"role":"user","content":"hi"}]}';

run_tests();

__DATA__

=== TEST 1: after a 429, a 401 and a success: each key's state, masked
--- http_config eval: $::Http
--- config eval: $::Config
--- more_headers eval
["Authorization: Bearer client-token-0123", "Authorization: Bearer admin-secret-0123"]
--- request eval
[$::Chat, "GET /admin/keys"]
--- response_body_like eval
['"object":\s*"chat.completion"',
 '^\{"shared":true,"time":\d+,"providers":\[\{"name":"hf","type":"hf_router","keys":\['
 . '\{"id":"' . $::One . '","key":"hf-o\.\.\.-429","state":"cooling","cooldown_ms":[1-7]\d{3},"failures":0,"last_error":"429 [^"]*","changed":\d+,"in_flight":0,"requests":1,"successes":0\},'
 . '\{"id":"' . $::Two . '","key":"hf-t\.\.\.-401","state":"disabled","cooldown_ms":0,"failures":0,"last_error":"401 Incorrect API key[^"]*","changed":\d+,"in_flight":0,"requests":1,"successes":0\},'
 . '\{"id":"' . $::Three . '","key":"hf-t\.\.\.-key","state":"active","cooldown_ms":0,"failures":0,"last_error":null,"changed":0,"in_flight":0,"requests":1,"successes":1\}'
 . '\]\}\]\}$']
--- response_body_unlike eval
['status-', 'status-']



=== TEST 2: GET /v1/keys/list, in the shape other gateways' clients know
--- http_config eval: $::Http
--- config eval: $::Config
--- more_headers eval
["Authorization: Bearer client-token-0123", "Authorization: Bearer admin-secret-0123"]
--- request eval
[$::Chat, "GET /v1/keys/list"]
--- response_body_like eval
['"object":\s*"chat.completion"',
 '^\{"status":"success","data":\{"valid_keys":\{"hf-o\.\.\.-429":0,"hf-t\.\.\.-key":0\},"invalid_keys":\{"hf-t\.\.\.-401":0\}\},"total":3\}$']



=== TEST 3: disable, enable, reset a key; requests follow
--- http_config eval: $::Http
--- config eval: $::Config
--- request eval
["POST /admin/keys?action=disable&key=$::Three",
 $::Chat,
 "POST /admin/keys?action=enable&key=$::Three",
 "POST /admin/keys?action=reset&key=$::Three"]
--- more_headers eval
["Authorization: Bearer admin-secret-0123", "Authorization: Bearer client-token-0123",
 "Authorization: Bearer admin-secret-0123", "Authorization: Bearer admin-secret-0123"]
--- error_code eval
[200, 401, 200, 200]
--- response_body_like eval
['^\{"shared":true,"time":\d+,"providers":\[\{"name":"hf","type":"hf_router","keys":\[\{"id":"' . $::Three . '","key":"hf-t\.\.\.-key","state":"disabled","cooldown_ms":0,"failures":0,"last_error":"disabled by the administration",',
 '"error"',
 '"state":"active"',
 '"state":"active","cooldown_ms":0,"failures":0,"last_error":null,"changed":\d+,"in_flight":0,"requests":0,"successes":0\}']



=== TEST 4: the administration's tokens only
--- http_config eval: $::Http
--- config eval: $::Config
--- request eval
["GET /admin/keys", "GET /admin/keys", "GET /v1/keys/list", "GET /v1/keys/list"]
--- more_headers eval
["", "Authorization: Bearer client-token-0123", "Authorization: Bearer client-token-0123", ""]
--- error_code eval
[401, 401, 401, 401]
--- response_body_like eval
['"code":"invalid_api_key"', '"code":"invalid_api_key"', '"code":"invalid_api_key"', '"code":"invalid_api_key"']



=== TEST 5: without llm_gateway_admin_auth the administration is closed
--- http_config
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf models=off key=hf-key-0123456789;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
--- config
    location /v1/ { llm_gateway; }
    location /admin/keys { llm_gateway_keys_admin; }
--- request eval
["GET /admin/keys", "GET /v1/keys/list"]
--- error_code eval
[403, 403]
--- response_body_like eval
['"code":"admin_disabled"', '"code":"admin_disabled"']



=== TEST 6: actions it does not know, keys it does not have, methods
--- http_config eval: $::Http
--- config eval: $::Config
--- more_headers
Authorization: Bearer admin-secret-0123
--- request eval
["POST /admin/keys?action=explode&key=$::Three",
 "POST /admin/keys?action=disable&key=000000000000",
 "POST /admin/keys",
 "PUT /admin/keys"]
--- error_code eval
[400, 404, 400, 405]
--- response_body_like eval
['"code":"invalid_action"', '"code":"key_not_found"', '"code":"invalid_request"', '"code":"method_not_allowed"']

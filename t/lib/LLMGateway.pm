package LLMGateway;

# Shared set-up for the gateway's Test::Nginx::Socket files.
#
#   use lib 't/lib';
#   use Test::Nginx::Socket 'no_plan';
#   use LLMGateway;
#   gateway_setup();
#   run_tests();
#
# It starts the mock upstream (t/mock/llm_mock.py) once per file on a
# free port ($TEST_NGINX_MOCK_PORT), and gives every block a default
# configuration: the zone, an "hf" provider pointing at the mock, a few
# models, the internal location subrequests go through, and /_mock/ to
# read what the mock received.  A block that declares its own
# llm_gateway_provider or internal location keeps its own.

use strict;
use warnings;

use Cwd qw(abs_path);
use IO::Handle;
use POSIX ();

use Exporter 'import';
our @EXPORT = qw(gateway_setup mock_port fixture $UpstreamKey $GeminiKey
                 $ClientToken);

our $UpstreamKey = 'hf-test-key-aaaa1111bbbb2222';
our $GeminiKey = 'gm-test-key-cccc3333dddd4444';
our $ClientToken = 'client-token-0123';

my ($MockPid, $MockPort);

sub mock_port { return $MockPort }

# a recorded sample from t/fixtures, byte for byte
sub fixture {
    my $name = shift;
    open my $fh, '<', abs_path('t') . "/fixtures/$name" or die "$name: $!";
    local $/;
    return <$fh>;
}

sub start_mock {
    return if $MockPid;

    my $root = abs_path('t');
    my $script = "$root/mock/llm_mock.py";

    pipe(my $rd, my $wr) or die "pipe: $!";

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        close $rd;
        open STDOUT, '>&', $wr or POSIX::_exit(1);
        open STDIN, '<', '/dev/null';
        my $log = $ENV{TEST_MOCK_LOG} // '/dev/null';
        open STDERR, '>>', $log;
        exec 'python3', $script, '--host', '127.0.0.1', '--port', '0',
             '--gemini-max-page', '20', '--fixtures', "$root/fixtures"
            or POSIX::_exit(1);
    }

    close $wr;

    my $line;
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 10;
        $line = <$rd>;
        alarm 0;
    };

    close $rd;

    if (!defined $line || $line !~ /^READY (\d+)/) {
        kill 'KILL', $pid;
        die "the mock upstream did not start\n";
    }

    $MockPid = $pid;
    $MockPort = $1;
    $ENV{TEST_NGINX_MOCK_PORT} = $MockPort;
    $ENV{TEST_NGINX_UPSTREAM_KEY} = $UpstreamKey;
    $ENV{TEST_NGINX_GEMINI_KEY} = $GeminiKey;
    $ENV{TEST_NGINX_CLIENT_TOKEN} = $ClientToken;
    $ENV{TEST_NGINX_FIXTURES} = "$root/fixtures";
    $ENV{TEST_NGINX_T_DIR} = $root;
}

END {
    if ($MockPid) {
        kill 'TERM', $MockPid;
        waitpid $MockPid, 0;
    }
}

our $DefaultHttp = <<'_EOC_';
    llm_gateway_zone  zone=llm_test:1m;
    llm_gateway_provider  hf type=hf_router pass=/_llm/hf
                          key=$TEST_NGINX_UPSTREAM_KEY;
    llm_gateway_provider  gemini type=gemini pass=/_llm/gemini
                          key=$TEST_NGINX_GEMINI_KEY models=off;
    llm_gateway_model  gpt-4o  hf upstream=openai/gpt-oss-120b;
    llm_gateway_model  ~^[^/]+/[^/]+$  hf;
    llm_gateway_model  ~^(gemini-|mock-)  gemini;
_EOC_

our $MockUpstream = <<'_EOC_';
    upstream llm_mock {
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT;
        keepalive 8;
    }
_EOC_

our $DefaultLocations = <<'_EOC_';
    location /_llm/hf/ {
        internal;
        proxy_pass http://llm_mock/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Authorization "Bearer $llm_gateway_upstream_key";
        proxy_buffering off;
        proxy_read_timeout 5s;
    }

    location /_llm/gemini/ {
        internal;
        proxy_pass http://llm_mock/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header x-goog-api-key $llm_gateway_upstream_key;
        proxy_buffering off;
        proxy_read_timeout 5s;
    }

    location /_mock/ {
        proxy_pass http://llm_mock/__mock/;
    }
_EOC_

sub gateway_setup {
    start_mock();

    # the real Test::Nginx does not export the html directory
    $ENV{TEST_NGINX_HTML_DIR} ||= Test::Nginx::Util::html_dir();

    main::add_block_preprocessor(sub {
        my $block = shift;

        my $http = $block->http_config // '';

        if ($http !~ /^\s*llm_gateway_provider\s/m) {
            $http = $DefaultHttp . $http;
        }

        $block->set_value('http_config', $MockUpstream . $http);

        my $config = $block->config // '';

        if ($config !~ m{^\s*location\s+/_llm/(?:hf|gemini)/}m) {
            $config .= $DefaultLocations;
        }

        $block->set_value('config', $config);

        if (!defined $block->no_error_log) {
            $block->set_value('no_error_log',
                              defined $block->error_log
                                  ? "[alert]\n[crit]\n"
                                  : "[error]\n[alert]\n[crit]\n");
        }
    });
}

1;

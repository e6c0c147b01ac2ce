# Key pools with two worker processes: a key that rests after a 429 in
# one worker rests in the other too (the shared zone), and without the
# zone it does not.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use LLMGateway;

master_on();
workers(2);
no_shuffle();
gateway_setup();

# 1 request that cools the first key down, then 24 on connections of their
# own to a reuseport listener, which the kernel spreads over both workers;
# what they saw goes to html/summary.txt
our $Init = <<'_EOC_';
use IO::Socket::INET;

my $body = '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}';

my $ask = sub {
    my $port = shift;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "connect: $!";
    print $s "POST /v1/chat/completions HTTP/1.0\r\nHost: localhost\r\n"
             . "Content-Type: application/json\r\nContent-Length: "
             . length($body) . "\r\n\r\n" . $body;
    local $/;
    my $r = <$s>;
    close $s;
    my ($pid) = $r =~ /^X-Pid: (\d+)/mi;
    my ($att) = $r =~ /^X-Attempts: (\d+)/mi;
    return ($pid // 0, $att // -1);
};

$ask->($ENV{TEST_NGINX_SERVER_PORT});

my (%pids, @attempts);
for (1 .. 24) {
    my ($pid, $att) = $ask->($ENV{TEST_NGINX_RAND_PORT_1});
    $pids{$pid} = 1;
    push @attempts, $att;
}

my @more = grep { $_ != 1 } @attempts;
open my $f, '>', "$ENV{TEST_NGINX_HTML_DIR}/summary.txt" or die $!;
printf $f "workers: %d\nattempts: %s\n", scalar(keys %pids),
       @more ? join(',', @attempts) : 'all 1';
close $f;
_EOC_

our $Config = <<'_EOC_';
    listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 reuseport;

    location /v1/ {
        llm_gateway;
        add_header X-Attempts $llm_gateway_attempts always;
        add_header X-Pid $pid always;
    }

    location = /summary.txt { root html; }
_EOC_

run_tests();

__DATA__

=== TEST 1: a cooldown set in one worker is honoured by the other
--- http_config
    llm_gateway_zone  zone=llm_workers:1m;
    llm_gateway_provider  gemini type=gemini pass=/_llm/gemini models=off
                          key=gm-one-status-429 key=gm-two-good-0123456789;
    llm_gateway_model  ~^gemini-  gemini;
--- config eval: $::Config
--- init eval: $::Init
--- request
GET /summary.txt
--- response_body
workers: 2
attempts: all 1



=== TEST 2: without the zone, the other worker tries the resting key again
--- http_config
    llm_gateway_provider  gemini type=gemini pass=/_llm/gemini models=off
                          key=gm-one-status-429 key=gm-two-good-0123456789;
    llm_gateway_model  ~^gemini-  gemini;
--- config eval: $::Config
--- init eval: $::Init
--- request
GET /summary.txt
--- response_body_like: ^workers: 2\nattempts: [12,]*2[12,]*\n$

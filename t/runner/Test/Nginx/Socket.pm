package Test::Nginx::Socket;

# The project's compatible Test::Nginx::Socket runner: front end.
# Built on Test::Base (Spiffy -Base), like the original, so that blocks(),
# filters, __DATA__ parsing, plan/is/like/... come from Test::Base and
# Test::More.  The work is done in Test::Nginx::Util (nginx side),
# Test::Nginx::Block (per-block checks, mocks) and Test::Nginx::Client
# (HTTP).  Documentation: see the POD after __END__.

use Test::Base -Base;

use Test::Nginx::Util @Test::Nginx::Util::EXPORT_FN, @Test::Nginx::Util::EXPORT_VARS;

our $VERSION = $Test::Nginx::Util::VERSION;

our @EXPORT = (@Test::Nginx::Util::EXPORT_FN, @Test::Nginx::Util::EXPORT_VARS);

__END__

=head1 NAME

Test::Nginx::Socket - the project's compatible runner for Test::Nginx::Socket test files

=head1 SYNOPSIS

    use Test::Nginx::Socket 'no_plan';
    # or: use Test::Nginx::Socket; plan tests => repeat_each() * (3 * blocks());

    repeat_each(2);
    no_shuffle();
    run_tests();

    __DATA__

    === TEST 1: hello
    --- config
        location = /t { return 200 "hello\n"; }
    --- request
    GET /t
    --- response_body
    hello
    --- no_error_log
    [error]

Run from the directory that contains F<t/>:

    PERL5LIB=t/runner TEST_NGINX_BINARY=/usr/sbin/nginx prove -r t

=head1 DESCRIPTION

This is an independent implementation of the C<Test::Nginx::Socket> test
file format (openresty/test-nginx), used by this project only when the real
Test::Nginx is not installed (the Makefile adds F<t/runner> to C<PERL5LIB>
when C<perl -MTest::Nginx::Socket -e1> fails).  The same F<.t> files are
meant to pass under both.

Like the original it subclasses L<Test::Base> (Spiffy C<-Base>), so the
C<__DATA__> block parsing, section filters (C<norm>, C<trim> by default;
C<eval>, C<chomp>, C<chop>, ...), C<ONLY>/C<SKIP>/C<LAST>, C<blocks()> and
the Test::More functions are Test::Base's own.  Output is TAP through
Test::More, with test names such as
C<t/001-x.t TEST 1: name - status code ok>.

For every block nginx is started from scratch: the server root
(C<t/servroot>) is wiped (C<conf>, C<html>, C<logs>, C<cache>, C<*_temp>,
C<*_cache>; any other file makes the run bail out, as with the original),
C<user_files> and F<conf/nginx.conf> are written, and nginx is started with
C<daemon off> as a direct child process
(C<nginx -p SERVROOT/ -c SERVROOT/conf/nginx.conf -e SERVROOT/logs/error.log>).
The runner waits for the pid file (at most 5 s, 60 s under valgrind), so a
broken config is reported at once instead of after 30 s.  Then the block's
requests are run C<repeat_each> times against that nginx, and nginx is
stopped with C<QUIT> (C<TERM> with C<TEST_NGINX_FAST_SHUTDOWN>), reaped
with C<waitpid> (no zombie polling), and C<KILL>ed after the timeout.
If the test process is interrupted (C<INT>, C<TERM>, C<HUP>, or C<PIPE>
when C<prove> went away) nginx and the mock servers are stopped; on Linux
they are also asked (C<PR_SET_PDEATHSIG>) to die with the test process, so
even a C<SIGKILL>ed test leaves nothing running (except with
C<TEST_NGINX_NO_CLEAN>).

=head2 File-level functions

C<repeat_each(N)> / C<repeat_each()>, C<blocks()>, C<plan>, C<no_shuffle()>,
C<no_long_string()>, C<no_diff()>, C<no_root_location()>, C<master_on()>,
C<master_off()>, C<workers(N)>, C<worker_connections(N)>, C<log_level('x')>,
C<env_to_nginx(NAME, ...)>, C<add_block_preprocessor(sub { ... })>,
C<add_response_body_check(sub { my ($block, $body, $req_idx, $repeat_idx, $dry_run) = @_; ... })>,
C<check_accum_error_log()>, C<server_port()>, C<server_port_for_client()>,
C<server_root()>, C<html_dir()>, C<server_name()>, C<timeout()>,
C<error_log_data()>, C<run_tests()>, C<bail_out(...)>.
Variables C<$ServerPort>, C<$ServerPortForClient>, C<$ServRoot>,
C<$HtmlDir>, C<$LogDir>, C<$ErrLogFile>, C<$AccLogFile>, C<$NginxBinary>,
C<$NginxVersion> (and C<$Test::Nginx::Util::NginxVersion>,
C<$Test::Nginx::Util::NginxRawVersion>) are exported too.

Blocks run in random order unless C<no_shuffle()> or
C<TEST_NGINX_NO_SHUFFLE=1>.

=head2 Sections

=over

=item Configuration

C<main_config>, C<http_config>, C<config>, C<post_main_config>,
C<user_files> (C<< >>> path [touch-time] >> form, or eval C<[[name, body], ...]>;
relative paths go under the html dir; rewritten for every repetition),
C<log_level>, C<init> (Perl code run in package C<main> after nginx is up;
a C<die> there is a failed test).

The generated F<nginx.conf> follows the original's template: C<worker_processes>,
C<daemon off>, C<master_process off> (by default), C<error_log ... debug>,
C<pid>, the C<env> lines (C<LD_PRELOAD>, C<ASAN_OPTIONS>, ... and
C<env_to_nginx()> names), C<main_config> (preceded by one C<load_module> per
entry of C<TEST_NGINX_LOAD_MODULES>), C<http {}> with the access log, the
temp paths inside the server root, C<default_type text/plain>,
C<keepalive_timeout 68000ms>, C<http_config>, and a C<server {}> listening on
the server port with C<server_name 'localhost'>, C<client_max_body_size 30M>,
C<config> and C<location / { root html; }> (unless C<no_root_location()>);
then C<post_main_config>, C<events { accept_mutex off; worker_connections 64; }>
and C<user root;> when running as root (or C<TEST_NGINX_WORKER_USER>).

C<$TEST_NGINX_*> is expanded in C<main_config>, C<http_config>, C<config>,
C<post_main_config>, C<user_files>, C<tcp_listen>/C<udp_listen>,
C<pipelined_requests>, C<response_body> and C<grep_error_log_out>; an
undefined variable bails out with C<No environment TEST_NGINX_FOO defined>.
C<$TEST_NGINX_RAND_PORT_N> (found in any section) is a free random port,
fixed for the whole block and also set in C<%ENV>.
C<$ServerPort> / C<$ServerPortForClient> are substituted in expected
C<response_body> and C<response_headers> values.

=item Requests

C<request> (a string, or C<eval [...]>: one connection per element, then
expectations are arrays indexed by request), C<more_headers> (string or
per-request array), C<raw_request> (string, or an array of packets sent with
C<raw_request_middle_delay> between them), C<pipelined_requests> (one
connection, C<keep-alive> except the last), C<timeout> (C<3>, C<1.5>,
C<200ms>), C<abort>, C<ignore_response>, C<wait>, C<shutdown>.

A C<request> is rebuilt as C<METHOD URI VERSION> (defaults C</> and
C<HTTP/1.1>) + C<Host: localhost> + C<Connection: close> (unless given in
C<more_headers>) + C<more_headers> + C<Content-Length> of the
whitespace-trimmed body.  The client connects to
C<127.0.0.1:$TEST_NGINX_CLIENT_PORT> with retries and backoff, writes
everything, reads to EOF with a per-wait timeout, and decodes chunked or
C<Content-Length> bodies (no body for C<HEAD>, 1xx, 204, 304).

=item Checks and their TAP counts (per request, per repetition)

status (1, unless C<ignore_response>; C<error_code> or C<error_code_like>,
default 200), C<raw_response_headers_like>/C<_unlike> (1 each),
C<response_headers> (1 per line; C<!Name> = absent),
C<response_headers_like> (1 per line, C<^value$>), C<response_body> (1;
exact, or C<like> for a C<qr//>), C<response_body_like>/C<_unlike> (1 each,
C</s>), C<response_body_filters> (0), C<error_log>/C<no_error_log> (1 per
pattern), C<grep_error_log> + C<grep_error_log_out> (1; the expected value
may be an array indexed by repetition), C<access_log>/C<no_access_log> (1
per pattern), C<tcp_query>, C<tcp_query_len>, C<udp_query> (1 each per
repetition), C<shutdown_error_log>/C<no_shutdown_error_log> (1 per pattern,
once per block, checked after nginx stopped), C<must_die> (nginx must exit
non-zero, or with the given code: 1 test, then the error-log checks, per
repetition), C<skip_nginx>/C<skip_nginx2>/C<skip_openssl>/C<skip_eval>
(C<N: ...>: N skips per repetition), C<todo> (C<N: reason>: N
C<not ok # TODO & SKIP> per repetition).

Log checks only look at the lines written since the previous log check
(all lines of the current nginx with C<check_accum_error_log()>), and sleep
3 x C<TEST_NGINX_SLEEP> first.  For several requests they run after each
request.  nginx's start-up lines are therefore only seen by the first
request of the first repetition.  C<[alert]>, C<[crit]> and C<[emerg]> lines print a C<WARNING:> to
stderr; a line matching C<Assertion ... failed> adds a failed test.

=item Mock servers

C<tcp_listen> (port, C<addr:port> or a unix socket path), C<tcp_reply>
(string, array of chunks, or code ref called with the query),
C<tcp_reply_delay>, C<tcp_query>, C<tcp_query_len>,
C<tcp_query_auto_timeout>, C<tcp_no_close>, C<tcp_shutdown>; C<udp_listen>,
C<udp_reply>, C<udp_reply_delay>, C<udp_query>.  Each serves one
connection / datagram per repetition.

=back

=head2 Environment

C<TEST_NGINX_BINARY> (default C<nginx> from C<PATH>),
C<TEST_NGINX_LOAD_MODULES>, C<TEST_NGINX_SERVER_PORT>/C<TEST_NGINX_PORT>
(1984), C<TEST_NGINX_CLIENT_PORT>, C<TEST_NGINX_SERVROOT>,
C<TEST_NGINX_RANDOMIZE> (random port and C<t/servroot_PORT>, removed at the
end; makes C<prove -jN> safe), C<TEST_NGINX_TIMEOUT> (3),
C<TEST_NGINX_SLEEP> (0.015), C<TEST_NGINX_NO_SHUFFLE>,
C<TEST_NGINX_LOG_LEVEL>, C<TEST_NGINX_NO_CLEAN> (leave the last nginx
running), C<TEST_NGINX_MASTER_PROCESS>, C<TEST_NGINX_WORKER_USER>,
C<TEST_NGINX_FAST_SHUTDOWN>, C<TEST_NGINX_IGNORE_MISSING_DIRECTIVES>
(C<unknown directive> turns the block's tests into skips),
C<TEST_NGINX_ERROR_LOG> (append each nginx's error.log to this file),
C<TEST_NGINX_VERBOSE> (trace to stderr), C<TEST_NGINX_EVENT_TYPE>,
C<TEST_NGINX_POSTPONE_OUTPUT>.
C<TEST_NGINX_SERVER_PORT>, C<TEST_NGINX_HTML_DIR> and
C<TEST_NGINX_SERVER_ROOT> are exported into C<%ENV>.

C<TEST_NGINX_USE_VALGRIND=1> runs nginx under
C<valgrind -q --num-callers=50 --leak-check=full --show-possibly-lost=no
--keep-debuginfo=yes --gen-suppressions=all> (plus
C<--suppressions=valgrind.suppress> when that file is in the current
directory; any other non-numeric value replaces these options).
C<TEST_NGINX_VALGRIND_EXIT_ON_FIRST_ERR=1> adds
C<--exit-on-first-error=yes --error-exitcode=1>.  nginx is stopped after
every block, so every block gets its own report.  Valgrind's output is
printed to stderr, or appended to the file named by
C<TEST_NGINX_VALGRIND_LOG>.  With C<TEST_NGINX_VALGRIND_FAIL=1> a block
whose valgrind output contains C<==PID==> error or leak lines gets one extra
failed test C<... - valgrind reported errors> (an addition to the original,
where valgrind findings never fail).

C<TEST_NGINX_USE_HUP=1> turns the master process on and, between blocks,
rewrites F<nginx.conf> and the html directory and sends C<HUP> instead of
restarting; the runner then waits until all old worker processes have exited
and new ones run.  A block is reloaded only when its C<main_config> and
C<post_main_config> equal the running ones and it is not a C<must_die>
block; when the reload fails (C<[emerg]>), nginx is restarted instead.

=head1 DIFFERENCES AND LIMITATIONS

=over

=item *

Not supported: C<TEST_NGINX_CHECK_LEAK> (a warning is printed and the
tests run normally), HTTP/2 and HTTP/3 (C<TEST_NGINX_USE_HTTP2>, C<--- http2>,
C<curl>), C<--- http09>, systemtap sections (C<stap*>, ignored),
C<TEST_NGINX_USE_STAP>, C<TEST_NGINX_USE_RR>, C<TEST_NGINX_BENCHMARK>,
C<TEST_NGINX_REUSE_PORT>, C<TEST_NGINX_FORCE_RESTART_ON_TEST=0> (nginx is
always restarted), C<response_body_json_sort>, C<error_log_file>,
C<reload_fails>, C<post_setup_server_root>, the C<Test::Nginx::Socket::Lua>
and C<Test::Nginx::LWP> front ends.

=item *

A C<request> given as an array of packets (C<[[...]]> or C<{value =E<gt> ...}>)
is sent in one write; only C<raw_request> packets are sent separately, with
C<raw_request_middle_delay>.

=item *

nginx runs with C<daemon off> as a direct child (the original uses C<daemon on>);
its stderr goes to F<logs/nginx.stderr> and is shown after it stops.
Failing to start is one failed test (the remaining tests of the block are
skipped so the count stays right), not a 30 s retry and a bail-out; the
client's repeated connect failures are failures, not a bail-out.

=item *

If nginx dies of a signal (a crash) during a block, one extra failed test
C<... - nginx process crashed (signal N)> is reported.

=item *

A C<grep_error_log> string pattern has its trailing newline removed; a
C<must_die> block also runs C<no_error_log>/C<grep_error_log> checks, not only
C<error_log>.

=item *

The log window advances after every request, also in blocks without log
checks, so C<shutdown_error_log> sees only lines written after the last
request.

=item *

C<$TEST_NGINX_RAND_PORT_N> ports and C<TEST_NGINX_RANDOMIZE> ports are
checked for being free when picked; another process may still take them
before nginx binds them.  C<$TEST_NGINX_RAND_PORT_N> is resolved when the
block runs, so C<eval> sections (evaluated by Test::Base before any block
runs) cannot use C<$ENV{TEST_NGINX_RAND_PORT_N}>; C<init> code can.

=item *

A C<tcp_listen>/C<udp_listen> port that stays busy for 5 s bails out; the
original waits 20 s and then kills whoever holds the port.  Unix socket
mocks are made world-writable so that workers running as another user
(C<TEST_NGINX_WORKER_USER>) can connect.

=item *

Without C<TEST_NGINX_RANDOMIZE>, C<prove -jN> makes the files share port
1984 and F<t/servroot> and they break each other (as with the original).

=item *

In HUP mode a block is never reloaded over a previous block that has
C<shutdown_error_log> checks; nginx is restarted then, so those checks see a
real shutdown.

=back

=cut

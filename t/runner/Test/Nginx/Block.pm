package Test::Nginx::Block;

# Part of the project's compatible Test::Nginx::Socket runner.
# Runs one test block: skip/todo handling, nginx start (via
# Test::Nginx::Util), the requests, the response and log checks, and the
# TCP/UDP mock servers.  Every check goes through the tap_* helpers below,
# which turn into "skip"s when the block is run dry (nginx could not be
# started because of a missing directive), so a dry run emits exactly the
# same number of TAP tests as a real one.

use strict;
use warnings;

use File::Temp qw(tempfile);
use IO::Socket::INET;
use IO::Socket::UNIX;
use IO::Select;
use POSIX qw(WNOHANG);
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(sleep time);
use Test::More ();

use Test::Nginx::Util qw(expand_env parse_time version_cmp trace bail_out);
use Test::Nginx::Client;

# ---------------------------------------------------------------------------
# TAP helpers (dry-run aware)
# ---------------------------------------------------------------------------

# undef, or { reason => text, fail_first => bool } while a block runs dry
our $Dry;

sub tap_skip {
    my ($label, $n) = @_;
    if ($n > 0 && $Dry->{fail_first}) {
        # nginx failed to start: the first check of the block reports it
        $Dry->{fail_first} = 0;
        Test::More::fail("$label - $Dry->{reason}");
        Test::More::diag($Dry->{diag}) if $Dry->{diag};
        $n--;
    }
    return unless $n > 0;
  SKIP: {
        Test::More::skip("$label - tests skipped due to $Dry->{reason}", $n);
    }
}

sub tap_is {
    my ($got, $exp, $label) = @_;
    return tap_skip($label, 1) if $Dry;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::is($got, $exp, $label);
}

# is() with diffs (Test::Base) or Test::LongString, like the original does
# for response bodies.
sub tap_is_long {
    my ($got, $exp, $label) = @_;
    return tap_skip($label, 1) if $Dry;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if ($Test::Nginx::Util::NoLongString) {
        Test::Base::is($got, $exp, $label);
    } else {
        require Test::LongString;
        Test::LongString::is_string($got, $exp, $label);
    }
}

sub tap_is_diff {
    my ($got, $exp, $label) = @_;
    return tap_skip($label, 1) if $Dry;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::Base::is($got, $exp, $label);
}

sub tap_like {
    my ($got, $re, $label) = @_;
    return tap_skip($label, 1) if $Dry;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::like($got, $re, $label);
}

sub tap_unlike {
    my ($got, $re, $label) = @_;
    return tap_skip($label, 1) if $Dry;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::unlike($got, $re, $label);
}

sub tap_pass {
    my $label = shift;
    return tap_skip($label, 1) if $Dry;
    Test::More::pass($label);
}

sub tap_fail {
    my ($label, $diag) = @_;
    return tap_skip($label, 1) if $Dry;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::fail($label);
    Test::More::diag($diag) if defined $diag;
}

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

sub trim {
    my $s = shift;
    return $s unless defined $s && !ref $s;
    $s =~ s/^\s+|\s+$//g;
    return $s;
}

sub flag {
    my ($block, $sec) = @_;
    return defined $block->$sec;
}

# The expected value for request number $i (real Test::Nginx semantics:
# several requests need arrays; a one-element array is fine for one).
sub indexed {
    my ($name, $v, $i, $need_array) = @_;
    if ($need_array) {
        return $v->[$i] if ref $v eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    return $v->[0] if ref $v eq 'ARRAY';
    return $v;
}

# Patterns of error_log-like sections: string = one pattern per line,
# qr// = one regex, array = list of strings/regexes.
sub patterns {
    my $v = shift;
    return () unless defined $v;
    return ($v) if ref $v eq 'Regexp';
    return grep { defined } @$v if ref $v eq 'ARRAY';
    return grep { length } split /\n+/, $v;
}

sub line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub subst_ports {
    my $s = shift;
    return $s unless defined $s && !ref $s;
    my $p  = $Test::Nginx::Util::ServerPort;
    my $pc = $Test::Nginx::Util::ServerPortForClient;
    $s =~ s/\$ServerPortForClient\b/$pc/g;
    $s =~ s/\$ServerPort\b/$p/g;
    return $s;
}

sub as_regex {
    my ($v, $flags) = @_;
    return $v if ref $v eq 'Regexp';
    return $flags eq 's' ? qr/$v/s : $flags eq 'sm' ? qr/$v/sm : qr/$v/;
}

# ---------------------------------------------------------------------------
# Per-block random ports ($TEST_NGINX_RAND_PORT_N)
# ---------------------------------------------------------------------------

my %RandPortVars;

sub collect_strings {
    my ($v, $out) = @_;
    if (!ref $v) {
        push @$out, $v if defined $v;
    } elsif (ref $v eq 'ARRAY') {
        collect_strings($_, $out) for @$v;
    } elsif (ref $v eq 'HASH') {
        collect_strings($_, $out) for values %$v;
    }
}

sub setup_rand_ports {
    my $block = shift;
    delete $ENV{$_} for keys %RandPortVars;
    %RandPortVars = ();
    my @strings;
    for my $k (keys %$block) {
        next if $k =~ /^_/ || $k eq 'blocks_object' || $k eq 'original_values';
        collect_strings($block->{$k}, \@strings) if ref $block->{$k} eq 'ARRAY';
    }
    my %want;
    for my $s (@strings) {
        $want{$1} = 1 while $s =~ /\bTEST_NGINX_RAND_PORT_(\d+)\b/g;
    }
    for my $n (sort { $a <=> $b } keys %want) {
        my $var = "TEST_NGINX_RAND_PORT_$n";
        $ENV{$var} = Test::Nginx::Util::pick_free_port();
        $RandPortVars{$var} = 1;
        trace("$var = $ENV{$var}");
    }
}

# ---------------------------------------------------------------------------
# skip_nginx / skip_nginx2 / skip_openssl / skip_eval
# ---------------------------------------------------------------------------

sub cond_true {
    my ($have, $op, $want) = @_;
    return 0 unless defined $have;
    my $c = version_cmp($have, $want);
    return $op eq '<'  ? $c < 0
         : $op eq '<=' ? $c <= 0
         : $op eq '>'  ? $c > 0
         : $op eq '>=' ? $c >= 0
         : $op eq '==' || $op eq '=' || $op eq 'eq' ? $c == 0
         : $op eq '!=' || $op eq 'ne' ? $c != 0
         : bail_out("bad version operator \"$op\"");
}

# Returns (count, reason) when the block must be skipped.
sub skip_info {
    my ($block, $name) = @_;
    my $nv = $Test::Nginx::Util::NginxVersion;
    my $op_re = qr/(<=|>=|==|!=|<|>|=|eq|ne)/;

    for my $sec (qw(skip_nginx skip_nginx2 skip_openssl)) {
        my $spec = $block->$sec;
        next unless defined $spec;
        $spec = trim($spec);
        my ($n, $rest) = $spec =~ /^(\d+)\s*:\s*(.*)$/
            or bail_out("$name - bad $sec specification: $spec");
        my ($conds, $reason) = split /\s*:\s*/, $rest, 2;
        my $have = $sec eq 'skip_openssl' ? $Test::Nginx::Util::OpenSSLVersion : $nv;
        my $what = $sec eq 'skip_openssl' ? 'OpenSSL' : 'nginx';
        my ($result, $joiner);
        for my $part (split /\s+(and|or)\s+/, $conds) {
            if ($part eq 'and' || $part eq 'or') {
                $joiner = $part;
                next;
            }
            my ($op, $ver) = $part =~ /^$op_re\s*(\S+)$/
                or bail_out("$name - bad $sec condition: $part");
            my $t = cond_true($have, $op, $ver) ? 1 : 0;
            $result = !defined $result ? $t
                    : $joiner eq 'and' ? ($result && $t)
                    : ($result || $t);
        }
        if ($result) {
            $reason = "$what version " . ($have // 'unknown') . " $conds"
                unless defined $reason && length $reason;
            return ($n, $reason);
        }
    }

    if (defined(my $spec = $block->skip_eval)) {
        my ($n, $code) = trim($spec) =~ /^(\d+)\s*:\s*(.*)$/s
            or bail_out("$name - bad skip_eval specification: $spec");
        my $r = eval "package main; no strict; $code";
        bail_out("$name - skip_eval: $@") if $@;
        return ($n, "skip_eval") if $r;
    }
    return;
}

# ---------------------------------------------------------------------------
# Running a block
# ---------------------------------------------------------------------------

sub run_block {
    my $block = shift;
    my $bname = $block->name;
    $bname = '' unless defined $bname;
    my $name = "$0 $bname";
    my $repeat = $Test::Nginx::Util::RepeatEach;

    if (my ($n, $reason) = skip_info($block, $name)) {
        for (1 .. $repeat) {
          SKIP: { Test::More::skip("$name - $reason", $n) if $n > 0; }
        }
        return;
    }

    if (defined(my $todo = $block->todo)) {
        my ($n, $reason) = trim($todo) =~ /^(\d+)\s*(?::\s*(.*))?$/s
            or bail_out("$name - bad todo specification: $todo");
        $reason = 'TODO' unless defined $reason && length $reason;
        for (1 .. $repeat) {
          TODO: { Test::More::todo_skip("$name - $reason", $n) if $n > 0; }
        }
        return;
    }

    setup_rand_ports($block);
    Test::Nginx::Util::set_current_name($name);
    trace("running $name");

    if (defined $block->must_die) {
        run_must_die($block, $name, $repeat);
        return;
    }

    local $Dry;
    my $st = Test::Nginx::Util::prepare_nginx($block, $name);
    unless ($st->{ok}) {
        if ($Test::Nginx::Util::IgnoreMissingDirectives && $st->{missing_directive}) {
            $Dry = { reason => "the lack of directive $st->{missing_directive}" };
        } else {
            $Dry = { reason => "nginx failed to start", fail_first => 1,
                     diag => $st->{failed} };
        }
    }

    if (!$Dry && defined(my $code = $block->init)) {
        my $ok = eval "package main; no strict; $code; 1";
        tap_fail("$name - init failed", "$@") unless $ok;
    }

    for my $r (0 .. $repeat - 1) {
        Test::Nginx::Util::write_user_files($block) if $r > 0 && !$Dry;
        run_requests($block, $name, $r);
    }

    if ($Dry) {
        check_shutdown_log($block, $name, [], $Dry->{reason});
        # nothing in the block consumed the failure: report it anyway
        tap_skip($name, 1) if $Dry->{fail_first};
    } else {
        Test::Nginx::Util::add_shutdown_checks($block, $name);
    }
}

# --- must_die: nginx has to fail to start, then the log checks run
sub run_must_die {
    my ($block, $name, $repeat) = @_;
    my $want = trim($block->must_die);
    $want = undef unless defined $want && $want =~ /^\d+$/;
    for my $r (0 .. $repeat - 1) {
        my $res = Test::Nginx::Util::launch_expecting_death($block);
        if ($res->{started}) {
            tap_fail("$name - nginx started but it should have died");
        } else {
            my $st = $res->{status};
            my $code = defined $st && !($st & 127) ? $st >> 8 : undef;
            my $desc = Test::Nginx::Util::exit_desc($st);
            if (defined $want) {
                tap_is($code, $want, "$name - nginx died with the expected exit code");
            } elsif (defined $code && $code != 0) {
                tap_pass("$name - nginx died as expected ($desc)");
            } else {
                tap_fail("$name - nginx should die with a non-zero exit code ($desc)");
            }
        }
        check_logs($block, $name, $r);
    }
}

# --- the requests of one repetition
sub get_requests {
    my ($block, $name) = @_;
    my @conns;
    my $more = $block->more_headers;

    my $mh = sub {
        my $i = shift;
        return ref $more eq 'ARRAY' ? $more->[$i] : $more;
    };

    if (defined(my $p = $block->pipelined_requests)) {
        $p = [$p] unless ref $p eq 'ARRAY';
        my (@data, @heads);
        for my $k (0 .. $#$p) {
            my $req = Test::Nginx::Client::build_request(
                expand_env($p->[$k]), $mh->($k), $k == $#$p ? 'close' : 'keep-alive');
            push @data, $req->{data};
            push @heads, $req->{head};
        }
        push @conns, { packets => [{ data => join('', @data) }], heads => \@heads };

    } elsif (defined(my $raw = $block->raw_request)) {
        my @parts = ref $raw eq 'ARRAY' ? @$raw : ($raw);
        my $delay = parse_time($block->raw_request_middle_delay);
        my @packets;
        for my $k (0 .. $#parts) {
            my $p = $parts[$k];
            my %pk = ref $p eq 'HASH'
                ? (data => $p->{value}, delay_before => $p->{delay_before})
                : (data => $p);
            $pk{delay_before} //= $delay if $k > 0;
            push @packets, \%pk;
        }
        my $m = Test::Nginx::Client::raw_method($packets[0]{data} // '');
        push @conns, { packets => \@packets, heads => [uc $m eq 'HEAD'] };

    } elsif (defined(my $req = $block->request)) {
        my @reqs = ref $req eq 'ARRAY' ? @$req : ($req);
        for my $k (0 .. $#reqs) {
            my $one = $reqs[$k];
            my $delay;
            if (ref $one eq 'ARRAY') {
                # a request given as packets: sent as one (see the POD)
                $delay = ref $one->[0] eq 'HASH' ? $one->[0]{delay_before} : undef;
                $one = join '', map { ref $_ eq 'HASH' ? $_->{value} : $_ } @$one;
            }
            my $r = Test::Nginx::Client::build_request($one, $mh->($k), 'close');
            push @conns, { packets => [{ data => $r->{data}, delay_before => $delay }],
                           heads => [$r->{head}] };
        }
    } else {
        bail_out("$name - No request found in the block "
                 . "(need request, raw_request or pipelined_requests)");
    }
    return @conns;
}

sub run_requests {
    my ($block, $name, $r) = @_;
    my @conns = eval { get_requests($block, $name) };
    bail_out("$name - $@") if $@;
    my $nresp = 0;
    $nresp += @{ $_->{heads} } for @conns;
    my $need_array = $nresp > 1;
    my $timeout = parse_time($block->timeout) // $Test::Nginx::Util::Timeout;
    my $abort = defined $block->abort;
    my $ignore = defined $block->ignore_response;
    my $shutdown = defined $block->shutdown && trim($block->shutdown) ne '0';
    my $port = $Test::Nginx::Util::ServerPortForClient;

    my @mocks = $Dry ? () : start_mocks($block, $name);

    my $idx = 0;
    for my $c (0 .. $#conns) {
        my $conn = $conns[$c];
        my $resp = { raw => '' };
        unless ($Dry) {
            $resp = Test::Nginx::Client::exchange(
                port     => $port,
                packets  => $conn->{packets},
                timeout  => $timeout,
                shutdown => $shutdown,
                tries    => $Test::Nginx::Util::UseValgrind ? 150 : 50,
                alive    => sub { !$Test::Nginx::Util::NginxPid
                                  || Test::Nginx::Util::nginx_alive() },
            );
            if ($resp->{connect_error}) {
                tap_fail("$name - Unable to connect to 127.0.0.1:$port: $resp->{connect_error}");
            } elsif ($resp->{timed_out} && !$abort) {
                tap_fail("ERROR: client socket timed out - $name\n");
            }
        }

        my $rest = $resp->{raw};
        my $partial = $resp->{timed_out} || $resp->{connect_error};
        for my $h (@{ $conn->{heads} }) {
            unless ($ignore) {
                my ($res, $left) = Test::Nginx::Client::parse_response(
                    $rest, { head => $h, partial_ok => $partial });
                $rest = $left;
                if (!$Dry && !$partial) {
                    # bad framing is a failure, a short Content-Length body a warning
                    tap_fail("$name - $_") for @{ $res->{errors} };
                    warn "WARNING: $name - $_\n" for @{ $res->{warnings} };
                }
                check_response($block, $name, $res, $idx, $r, $need_array);
            }
            $idx++;
        }

        if ($c == $#conns) {
            if (defined(my $w = parse_time($block->wait))) {
                sleep $w unless $Dry;
            }
            finish_mocks($block, $name, \@mocks, $timeout);
        }
        check_logs($block, $name, $r);
    }
}

# ---------------------------------------------------------------------------
# Response checks
# ---------------------------------------------------------------------------

sub check_response {
    my ($block, $name, $res, $i, $r, $need_array) = @_;
    my $code = defined $res->{code} ? $res->{code} : '';

    # status code
    if (defined(my $v = $block->error_code_like)) {
        $v = trim(indexed($name, $v, $i, $need_array));
        tap_like($code, as_regex($v, 'sm'), "$name - status code ok");
    } elsif (defined(my $e = $block->error_code)) {
        $e = trim(indexed($name, $e, $i, $need_array));
        tap_is($code, $e, "$name - status code ok");
    } else {
        tap_is($code, 200, "$name - status code ok");
    }

    my $raw_headers = $res->{raw_headers} // '';

    # raw headers
    if (defined(my $v = $block->raw_response_headers_like)) {
        $v = indexed($name, $v, $i, $need_array);
        tap_like($raw_headers, as_regex($v, 's'), "$name - raw resp headers like");
    }
    if (defined(my $v = $block->raw_response_headers_unlike)) {
        $v = indexed($name, $v, $i, $need_array);
        tap_unlike($raw_headers, as_regex($v, 's'), "$name - raw resp headers unlike");
    }

    # response_headers: "Name: value" (exact) or "!Name" (absent)
    if (defined(my $v = $block->response_headers)) {
        $v = indexed($name, $v, $i, $need_array);
        for my $h (header_specs($name, $v, 'response_headers')) {
            my ($neg, $key, $val) = @$h;
            if ($neg) {
                tap_unlike($raw_headers, qr/^\s*\Q$key\E\s*:/mi,
                           "$name - header $key not present in the raw headers");
            } else {
                my $got = Test::Nginx::Client::header($res, $key);
                tap_is(defined $got ? $got : '', subst_ports($val), "$name - header $key ok");
            }
        }
    }

    if (defined(my $v = $block->response_headers_like)) {
        $v = indexed($name, $v, $i, $need_array);
        for my $h (header_specs($name, $v, 'response_headers_like')) {
            my ($neg, $key, $val) = @$h;
            my $got = Test::Nginx::Client::header($res, $key);
            tap_like(defined $got ? $got : '', qr/^$val$/, "$name - header $key like ok");
        }
    }

    # body
    my $body = $res->{body};
    $body = apply_body_filters($block, $name, $body) if defined $body;

    if (defined(my $v = $block->response_body)) {
        $v = indexed($name, $v, $i, $need_array);
        my $label = "$name - response_body - response is expected (repeated req $r, req $i)";
        if (ref $v eq 'Regexp') {
            tap_like($body, $v, $label);
        } else {
            tap_is_long($body, expand_env(subst_ports($v)), $label);
        }
    }
    if (defined(my $v = $block->response_body_like)) {
        $v = indexed($name, $v, $i, $need_array);
        tap_like($body, as_regex($v, 's'),
                 "$name - response_body_like - response is expected (repeated req $r, req $i)");
    }
    if (defined(my $v = $block->response_body_unlike)) {
        $v = indexed($name, $v, $i, $need_array);
        tap_unlike($body, as_regex($v, 's'),
                   "$name - response_body_unlike - response is expected (repeated req $r, req $i)");
    }

    for my $cb (@Test::Nginx::Util::ResponseBodyChecks) {
        $cb->($block, $body, $i, $r, $Dry ? $Dry->{reason} : undef);
    }
}

# "Name: value" lines (or a hash from eval) -> [neg, name, value]
sub header_specs {
    my ($name, $v, $sec) = @_;
    my @out;
    if (ref $v eq 'HASH') {
        push @out, [0, $_, $v->{$_}] for sort keys %$v;
        return @out;
    }
    bail_out("$name - $sec: unsupported value type " . ref $v) if ref $v;
    for my $line (split /\n/, $v) {
        next unless $line =~ /\S/;
        if ($line =~ /^\s*!\s*([^:\s]+)\s*:?\s*$/) {
            push @out, [1, $1, undef];
        } elsif ($line =~ /^\s*([^:\s]+)\s*:\s*(.*?)\s*$/) {
            push @out, [0, $1, $2];
        } else {
            bail_out("$name - $sec: bad line \"$line\"");
        }
    }
    return @out;
}

my %BodyFilters = (
    uc       => sub { uc $_[0] },
    lc       => sub { lc $_[0] },
    length   => sub { length $_[0] },
    md5_hex  => sub { require Digest::MD5; Digest::MD5::md5_hex($_[0]) },
    sha1_hex => sub { require Digest::SHA; Digest::SHA::sha1_hex($_[0]) },
);

sub apply_body_filters {
    my ($block, $name, $body) = @_;
    my $f = $block->response_body_filters;
    return $body unless defined $f;
    my @filters = ref $f eq 'ARRAY' ? @$f : ref $f eq 'CODE' ? ($f) : split ' ', $f;
    for my $filter (@filters) {
        if (ref $filter eq 'CODE') {
            $body = $filter->($body);
        } elsif (my $code = $BodyFilters{$filter}) {
            $body = $code->($body);
        } else {
            bail_out("$name - unknown response_body_filters filter \"$filter\"");
        }
    }
    return $body;
}

# ---------------------------------------------------------------------------
# Log checks
# ---------------------------------------------------------------------------

sub check_logs {
    my ($block, $name, $r) = @_;

    my @err    = patterns($block->error_log);
    my @noerr  = patterns($block->no_error_log);
    my $grep   = $block->grep_error_log;
    my @acc    = patterns($block->access_log);
    my @noacc  = patterns($block->no_access_log);
    my $wants  = @err || @noerr || defined $grep || @acc || @noacc;

    my ($lines, $alines) = ([], []);
    unless ($Dry) {
        # give nginx time to write the log phase of the request
        my $s = $Test::Nginx::Util::TestNginxSleep;
        sleep $s * 3 if $wants && $s > 0;
        $lines = Test::Nginx::Util::error_log_data();
        $alines = Test::Nginx::Util::access_log_data() if @acc || @noacc;
        scan_log_warnings($name, $lines, defined $block->must_die);
    }

    check_patterns($name, $lines, \@err, \@noerr, 'error.log', "req $r");

    if (defined $grep) {
        my $pat = ref $grep ? $grep : do { (my $p = $grep) =~ s/\n\z//; $p };
        my $out = '';
        for my $line (@$lines) {
            if (ref $pat ? $line =~ $pat : $line =~ /\Q$pat\E/) {
                $out .= "$&\n";
            }
        }
        my $exp = $block->grep_error_log_out;
        if (defined $exp) {
            $exp = $exp->[$r] if ref $exp eq 'ARRAY';
            my $label = "$name - grep_error_log_out (req $r)";
            if (ref $exp eq 'Regexp') {
                tap_like($out, $exp, $label);
            } else {
                tap_is_diff($out, expand_env($exp // ''), $label);
            }
        }
    }

    check_patterns($name, $alines, \@acc, \@noacc, 'access.log', "req $r");
}

sub check_patterns {
    my ($name, $lines, $pos, $neg, $file, $when) = @_;
    for my $pat (@$pos) {
        my $found = grep { line_matches($_, $pat) } @$lines;
        if ($found) {
            tap_pass("$name - pattern \"$pat\" matches a line in $file ($when)");
        } else {
            tap_fail("$name - pattern \"$pat\" should match a line in $file ($when)");
        }
    }
    for my $pat (@$neg) {
        my ($line) = grep { line_matches($_, $pat) } @$lines;
        if (defined $line) {
            chomp $line;
            tap_fail("$name - pattern \"$pat\" should not match any line in $file "
                     . "but matches line \"$line\" ($when)");
        } else {
            tap_pass("$name - pattern \"$pat\" does not match a line in $file ($when)");
        }
    }
}

sub scan_log_warnings {
    my ($name, $lines, $expect_emerg) = @_;
    for my $line (@$lines) {
        if (!$expect_emerg && $line =~ /\[(?:alert|crit|emerg)\]/) {
            (my $l = $line) =~ s/\n\z//;
            warn "WARNING: $name - $l\n";
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            (my $l = $line) =~ s/\n\z//;
            tap_fail("$name - an assertion failed: $l");
        }
    }
}

# shutdown_error_log / no_shutdown_error_log, once per block, after nginx
# stopped (called from Test::Nginx::Util).  With $skip_reason they are
# emitted as skips.
sub check_shutdown_log {
    my ($block, $name, $lines, $skip_reason) = @_;
    local $Dry = $skip_reason ? { reason => $skip_reason } : undef;
    my @pos = patterns($block->shutdown_error_log);
    my @neg = patterns($block->no_shutdown_error_log);
    check_patterns($name, $lines, \@pos, \@neg, 'error.log', 'shutdown');
}

# ---------------------------------------------------------------------------
# TCP / UDP mock servers (one connection / one datagram each)
# ---------------------------------------------------------------------------

my @LiveMocks;

sub start_mocks {
    my ($block, $name) = @_;
    my @m;
    push @m, start_mock($block, $name, 'tcp') if defined $block->tcp_listen;
    push @m, start_mock($block, $name, 'udp') if defined $block->udp_listen;
    return @m;
}

sub start_mock {
    my ($block, $name, $kind) = @_;
    my $sec = "${kind}_listen";
    my $target = trim(expand_env($block->$sec));
    my ($srv, $unix);

    my $deadline = time + 5;
    while (1) {
        if ($kind eq 'tcp' && ($target =~ m{^/} || $target =~ s/^unix://)) {
            $unix = $target;
            unlink $unix;
            $srv = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $unix, Listen => 5);
            chmod 0666, $unix if $srv;    # workers may run as another user
        } elsif ($target =~ /^(?:(.*):)?(\d+)$/) {
            my ($addr, $port) = ($1 // '127.0.0.1', $2);
            $srv = $kind eq 'tcp'
                ? IO::Socket::INET->new(LocalAddr => $addr, LocalPort => $port,
                                        Proto => 'tcp', Listen => 5, ReuseAddr => 1)
                : IO::Socket::INET->new(LocalAddr => $addr, LocalPort => $port,
                                        Proto => 'udp', ReuseAddr => 1);
        } else {
            bail_out("$name - bad $sec value: $target");
        }
        last if $srv || time > $deadline;
        sleep 0.1;
    }
    bail_out("$name - $sec: cannot listen on $target: $!") unless $srv;

    my ($qfh, $qfile) = tempfile('tnt-mock-XXXXXX', TMPDIR => 1, UNLINK => 0);
    close $qfh;
    pipe(my $rd, my $wr) or bail_out("pipe: $!");

    my $pid = fork();
    bail_out("fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        close $rd;
        $SIG{INT} = $SIG{TERM} = $SIG{HUP} = 'DEFAULT';
        $SIG{PIPE} = 'IGNORE';
        Test::Nginx::Util::set_parent_death_signal(9);
        eval {
            $kind eq 'tcp' ? tcp_mock_child($block, $srv, $wr, $qfile)
                           : udp_mock_child($block, $srv, $wr, $qfile);
        };
        print STDERR "mock server error: $@" if $@;
        POSIX::_exit(0);
    }
    close $wr;
    close $srv;
    my $m = { pid => $pid, rd => $rd, qfile => $qfile, kind => $kind, unix => $unix,
              markers => '' };
    push @LiveMocks, $m;
    trace("$kind mock on $target, pid $pid");
    return $m;
}

sub write_all {
    my ($fh, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($fh, $data, length($data) - $off, $off);
        return unless defined $n;
        $off += $n;
    }
}

sub save_query {
    my ($qfile, $q) = @_;
    open my $fh, '>', $qfile or return;
    binmode $fh;
    print $fh $q;
    close $fh;
}

sub reply_chunks {
    my ($block, $sec, $query) = @_;
    my $reply = $block->$sec;
    $reply = $reply->($query) if ref $reply eq 'CODE';
    return ref $reply eq 'ARRAY' ? @$reply : defined $reply ? ($reply) : ();
}

sub tcp_mock_child {
    my ($block, $srv, $wr, $qfile) = @_;
    my $c = $srv->accept or return;
    syswrite $wr, 'A';

    if (defined(my $how = $block->tcp_shutdown)) {
        shutdown($c, trim($how));
    }

    my $len  = trim($block->tcp_query_len);
    my $auto = parse_time($block->tcp_query_auto_timeout);
    my $q = '';
    if (defined $len && $len =~ /^\d+$/) {
        while (length $q < $len) {
            my $n = sysread($c, my $buf, $len - length $q);
            last unless $n;
            $q .= $buf;
        }
    } elsif (defined $auto) {
        my $sel = IO::Select->new($c);
        while ($sel->can_read($auto)) {
            my $n = sysread($c, my $buf, 65536);
            last unless $n;
            $q .= $buf;
        }
    } else {
        sysread($c, $q, 4096);
        $q //= '';
    }
    save_query($qfile, $q);
    syswrite $wr, 'Q';

    my $delay = parse_time($block->tcp_reply_delay);
    sleep $delay if $delay;
    write_all($c, $_) for reply_chunks($block, 'tcp_reply', $q);

    if (defined $block->tcp_no_close) {
        sleep 3600;    # until killed after the request
    }
    close $c;
}

sub udp_mock_child {
    my ($block, $srv, $wr, $qfile) = @_;
    my $peer = $srv->recv(my $q, 65536);
    return unless defined $peer;
    syswrite $wr, 'A';
    save_query($qfile, $q);
    syswrite $wr, 'Q';
    my $delay = parse_time($block->udp_reply_delay);
    sleep $delay if $delay;
    for my $chunk (reply_chunks($block, 'udp_reply', $q)) {
        $srv->send($chunk, 0, $peer);
    }
}

sub read_markers {
    my $m = shift;
    my $sel = IO::Select->new($m->{rd});
    while ($sel->can_read(0)) {
        my $n = sysread($m->{rd}, my $buf, 64);
        last unless $n;
        $m->{markers} .= $buf;
    }
}

# Wait for the mocks of this repetition to finish (kill them when they are
# not going to) and check what they received.
sub finish_mocks {
    my ($block, $name, $mocks, $timeout) = @_;
    my %query;
    for my $m (@$mocks) {
        my $no_close = $m->{kind} eq 'tcp' && defined $block->tcp_no_close;
        my $start = time;
        while (1) {
            read_markers($m);
            my $r = waitpid($m->{pid}, WNOHANG);
            last if $r == $m->{pid} || $r == -1;
            my $accepted = $m->{markers} =~ /A/;
            my $limit = $no_close && $m->{markers} =~ /Q/ ? 0
                      : $accepted ? $timeout : 0.1;
            if (time - $start >= $limit) {
                kill 'KILL', $m->{pid};
                waitpid($m->{pid}, 0);
                last;
            }
            sleep 0.005;
        }
        read_markers($m);
        close $m->{rd};
        @LiveMocks = grep { $_ != $m } @LiveMocks;
        if ($m->{markers} =~ /Q/) {
            $query{ $m->{kind} } = Test::Nginx::Util::slurp($m->{qfile});
        }
        unlink $m->{qfile};
        unlink $m->{unix} if $m->{unix};
    }

    for my $kind (qw(tcp udp)) {
        my $q = $query{$kind};
        my $sec = "${kind}_query";
        if (defined(my $exp = $block->$sec)) {
            my $label = "$name - ${kind}_query ok";
            if (ref $exp eq 'Regexp') {
                tap_like($q // '', $exp, $label);
            } else {
                tap_is_diff($q, $exp, $label);
            }
        }
        if ($kind eq 'tcp' && defined(my $len = $block->tcp_query_len)) {
            tap_is(defined $q ? length $q : undef, trim($len), "$name - TCP query length ok");
        }
    }
}

sub kill_mocks {
    for my $m (@LiveMocks) {
        kill 'KILL', $m->{pid};
        waitpid($m->{pid}, 0);
        unlink $m->{qfile};
        unlink $m->{unix} if $m->{unix};
    }
    @LiveMocks = ();
}

1;

package Test::Nginx::Client;

# Part of the project's compatible Test::Nginx::Socket runner.
# The HTTP side: turning "--- request"-style text into bytes, talking to
# nginx over a non-blocking socket with per-wait timeouts, and parsing the
# response stream (status line, headers, chunked / Content-Length / EOF
# bodies, several responses for pipelined requests).

use strict;
use warnings;

use Errno qw(EAGAIN EWOULDBLOCK EINTR EINPROGRESS ECONNREFUSED);
use IO::Socket::INET;
use IO::Select;
use Socket qw(SHUT_WR);
use Time::HiRes qw(sleep time);

# ---------------------------------------------------------------------------
# Request building
# ---------------------------------------------------------------------------

# Parse the "--- more_headers" text into header lines (no CRLF).
sub header_lines {
    my $text = shift;
    return () unless defined $text;
    my @lines;
    for my $l (split /\r?\n/, $text) {
        next if $l =~ /^\s*#/;
        next unless $l =~ /\S/;
        $l =~ s/^\s+|\s+$//g;
        push @lines, $l;
    }
    return @lines;
}

# Build one HTTP request from "--- request" text.
#   $conn: value for the Connection header when more_headers has none.
# Returns { data => bytes, method => 'GET', head => bool }.
sub build_request {
    my ($text, $more_headers, $conn) = @_;
    $text = '' unless defined $text;

    # leading whitespace and "#" comment lines are dropped
    1 while $text =~ s/\A\s+// || $text =~ s/\A#[^\n]*(?:\n|\z)//;

    my ($first, $body) = split /\n/, $text, 2;
    $first = '' unless defined $first;
    $first =~ s/\s+$//;
    my ($method, $uri, $ver, @extra) = split ' ', $first;
    die "Bad request line: \"$first\"\n" if !defined $method || @extra;
    $uri = '/' unless defined $uri;
    $ver = 'HTTP/1.1' unless defined $ver;

    $body = '' unless defined $body;

    my @hdrs = header_lines($more_headers);
    my $has = sub { my $n = shift; scalar grep { /^\Q$n\E\s*:/i } @hdrs };

    my $req = "$method $uri $ver\r\n";
    $req .= "Host: localhost\r\n"     unless $has->('Host');
    $req .= "Connection: $conn\r\n"   unless $has->('Connection');
    $req .= "$_\r\n" for @hdrs;
    my $chunked = grep { /^Transfer-Encoding\s*:.*chunked/i } @hdrs;
    if (length $body && !$chunked && !$has->('Content-Length')) {
        # the body is whitespace-trimmed when we compute its length; a
        # chunked body or one with an explicit Content-Length goes as is
        $body =~ s/^\s+|\s+$//g;
        $req .= "Content-Length: " . length($body) . "\r\n";
    }
    $req .= "\r\n" . $body;

    return { data => $req, method => $method, head => uc($method) eq 'HEAD' };
}

# Method of a raw request (to know whether a body is expected).
sub raw_method {
    my $data = shift;
    return $data =~ /\A\s*(\S+)/ ? $1 : '';
}

# ---------------------------------------------------------------------------
# Socket I/O
# ---------------------------------------------------------------------------

# Connect to 127.0.0.1:$port, retrying with backoff while the connection is
# refused (nginx may still be coming up).  $alive is a callback telling
# whether it is worth retrying.  Returns ($sock, $error).
sub connect_with_retries {
    my ($port, $timeout, $tries, $alive) = @_;
    my $delay = 0.005;
    my $err;
    for my $i (1 .. $tries) {
        my $sock = IO::Socket::INET->new(
            PeerAddr => '127.0.0.1',
            PeerPort => $port,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        return ($sock, undef) if $sock;
        $err = "$!";
        last if $alive && !$alive->();
        sleep $delay;
        $delay *= 1.6 if $delay < 0.5;
    }
    return (undef, $err);
}

# Send the packets and read to EOF.
#   %a: port, packets => [{ data, delay_before }], timeout, shutdown,
#       tries, alive (callback)
# Returns { raw => bytes, timed_out => bool, error => text-or-undef }.
sub exchange {
    my %a = @_;
    my $timeout = $a{timeout};

    my ($sock, $err) = connect_with_retries($a{port}, $timeout, $a{tries} || 50, $a{alive});
    return { raw => '', connect_error => $err, error => "failed to connect: $err" }
        unless $sock;

    local $SIG{PIPE} = 'IGNORE';
    $sock->blocking(0);
    my $sel = IO::Select->new($sock);
    my %res = (raw => '', timed_out => 0);

    # --- write
  PACKET:
    for my $p (@{ $a{packets} }) {
        sleep $p->{delay_before} if $p->{delay_before};
        my $buf = $p->{data};
        my $off = 0;
        while ($off < length $buf) {
            unless ($sel->can_write($timeout)) {
                $res{timed_out} = 'write';
                last PACKET;
            }
            my $n = syswrite($sock, $buf, length($buf) - $off, $off);
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                # the server may close early (e.g. 413); read what it sent
                $res{write_error} = "$!";
                last PACKET;
            }
            $off += $n;
        }
    }
    shutdown($sock, SHUT_WR) if $a{shutdown} && !$res{timed_out};

    # --- read to EOF
    unless ($res{timed_out}) {
        while (1) {
            unless ($sel->can_read($timeout)) {
                $res{timed_out} = 'read';
                last;
            }
            my $n = sysread($sock, my $chunk, 65536);
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                $res{read_error} = "$!";
                last;
            }
            last if $n == 0;
            $res{raw} .= $chunk;
        }
    }
    close $sock;
    return \%res;
}

# ---------------------------------------------------------------------------
# Response parsing
# ---------------------------------------------------------------------------

# A parsed response: { code, status_line, raw_headers, headers => [[n, v]..],
#                      body, errors => [..], warnings => [..] }

sub header {
    my ($res, $name) = @_;
    return undef unless $res && $res->{headers};
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $res->{headers} };
    return undef unless @v;
    return join ', ', @v;
}

# Parse one response from the front of $raw.
#   $opts: { head => bool, partial_ok => bool }
# Returns ($res, $leftover).
sub parse_response {
    my ($raw, $opts) = @_;
    my %res = (code => undef, headers => [], body => undef, raw_headers => '',
               errors => [], warnings => []);
    return (\%res, '') unless defined $raw && length $raw;

    # status line + header block
    my ($head, $rest);
    if ($raw =~ /\A(.*?\r?\n)\r?\n/s) {
        $head = $1;
        $rest = substr($raw, length $&);
    } else {
        $head = $raw;
        $rest = '';
        push @{ $res{errors} }, "incomplete response headers" unless $opts->{partial_ok};
    }
    $res{raw_headers} = $head;

    my @lines = split /\r?\n/, $head;
    my $status = shift @lines // '';
    $res{status_line} = $status;
    if ($status =~ m{^HTTP/\d+(?:\.\d+)?\s+(\d{3})(?:\s+(.*))?$}) {
        $res{code} = $1;
        $res{message} = $2;
    } else {
        push @{ $res{errors} }, "bad status line: \"$status\"";
        $res{body} = $raw;
        return (\%res, '');
    }
    my $last;
    for my $l (@lines) {
        if ($l =~ /^[ \t]/ && $last) {    # obsolete line folding
            (my $c = $l) =~ s/^\s+//;
            $last->[1] .= " $c";
            next;
        }
        if ($l =~ /^([^:\s]+)\s*:\s*(.*?)\s*$/) {
            $last = [$1, $2];
            push @{ $res{headers} }, $last;
        }
    }

    # interim 100 Continue: parse the next one
    if ($res{code} == 100) {
        return parse_response($rest, $opts);
    }

    # no body
    if ($opts->{head} || $res{code} =~ /^1/ || $res{code} == 204 || $res{code} == 304) {
        $res{body} = '';
        return (\%res, $rest);
    }

    my $te = header(\%res, 'Transfer-Encoding');
    if (defined $te && $te =~ /\bchunked\b/i) {
        my ($body, $left, $err) = decode_chunked($rest);
        $res{body} = $body;
        if ($err) {
            if ($opts->{partial_ok}) {
                push @{ $res{warnings} }, $err;
            } else {
                push @{ $res{errors} }, $err;
            }
        }
        return (\%res, $left);
    }

    my $cl = header(\%res, 'Content-Length');
    if (defined $cl && $cl =~ /^\s*(\d+)/) {
        my $len = $1;
        if (length($rest) < $len) {
            push @{ $res{warnings} },
                "response body truncated: Content-Length $len, got " . length($rest);
            $res{body} = $rest;
            return (\%res, '');
        }
        $res{body} = substr($rest, 0, $len);
        return (\%res, substr($rest, $len));
    }

    $res{body} = $rest;    # up to EOF
    return (\%res, '');
}

# Decode a chunked body.  Returns ($body, $leftover, $error).
sub decode_chunked {
    my $data = shift;
    my $body = '';
    my $pos = 0;
    while (1) {
        my $rest = substr($data, $pos);
        if ($rest eq '') {
            return ($body, '', "no last chunk found");
        }
        unless ($rest =~ /\A([0-9a-fA-F]+)[ \t]*(?:;[^\r\n]*)?\r\n/) {
            my $show = substr($rest, 0, 40);
            $show =~ s/([\r\n])/$1 eq "\r" ? '\r' : '\n'/ge;
            return ($body, '', "invalid chunked data: bad chunk size line \"$show\"");
        }
        my $size = hex $1;
        $pos += length $&;
        if ($size == 0) {
            # trailer fields up to the empty line
            my $tail = substr($data, $pos);
            if ($tail =~ /\A((?:[^\r\n]+\r\n)*)\r\n/) {
                return ($body, substr($tail, length $&), undef);
            }
            return ($body, '', "invalid chunked data: bad last chunk / trailer");
        }
        if (length($data) - $pos < $size) {
            $body .= substr($data, $pos);
            return ($body, '', "invalid chunked data: chunk truncated (want $size bytes)");
        }
        $body .= substr($data, $pos, $size);
        $pos += $size;
        if (substr($data, $pos, 2) ne "\r\n") {
            return ($body, '', "invalid chunked data: no CRLF after a chunk of $size bytes");
        }
        $pos += 2;
    }
}

1;

package Test::Nginx::Util;

# Part of the project's compatible Test::Nginx::Socket runner (see the POD
# in Test/Nginx/Socket.pm).  This module owns everything on the nginx side:
# settings taken from the environment, the server root, nginx.conf
# generation, starting/stopping/reloading nginx, the error/access log
# windows and the file-level knobs exported to test files.

use strict;
use warnings;

use Cwd qw(getcwd);
use File::Path qw(mkpath rmtree);
use File::Basename qw(dirname);
use List::Util qw(shuffle);
use POSIX qw(WNOHANG);
use Socket;
use Time::HiRes qw(sleep time);
use Test::More ();

our $VERSION = '0.33';

our @EXPORT_FN = qw(
    repeat_each no_shuffle no_long_string no_root_location
    master_on master_off workers worker_connections log_level
    env_to_nginx add_block_preprocessor add_response_body_check
    check_accum_error_log server_port server_port_for_client server_root
    html_dir server_name timeout sleep_time run_tests bail_out
    error_log_data access_log_data
);

our @EXPORT_VARS = qw(
    $ServerPort $ServerPortForClient $ServRoot $HtmlDir $LogDir
    $ErrLogFile $AccLogFile $ConfDir $ConfFile $PidFile $ServerName
    $NginxBinary $NginxVersion $NginxRawVersion $OpenSSLVersion
);

our @EXPORT_OK = (@EXPORT_FN, @EXPORT_VARS, qw(
    expand_env parse_time version_cmp trace
));

use Exporter 'import';

# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------

my $MainPid = $$;

sub env_true ($) {
    my $v = $ENV{ $_[0] };
    return defined $v && $v ne '' && $v ne '0';
}

# "3", "1.5", "200ms", "2s" -> seconds
sub parse_time ($) {
    my $t = shift;
    return undef unless defined $t;
    $t =~ s/^\s+|\s+$//g;
    return undef if $t eq '';
    if ($t =~ /^(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?$/) {
        return defined $2 && $2 eq 'ms' ? $1 / 1000 : $1 + 0;
    }
    die "Bad time value: \"$t\"\n";
}

our $Verbose         = env_true('TEST_NGINX_VERBOSE');
our $NginxBinary     = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Timeout         = parse_time($ENV{TEST_NGINX_TIMEOUT}) // 3;
our $TestNginxSleep  = parse_time($ENV{TEST_NGINX_SLEEP}) // 0.015;
our $NoShuffle       = env_true('TEST_NGINX_NO_SHUFFLE');
our $LogLevel        = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $NoClean         = env_true('TEST_NGINX_NO_CLEAN');
our $FastShutdown    = env_true('TEST_NGINX_FAST_SHUTDOWN');
our $UseHup          = env_true('TEST_NGINX_USE_HUP');
our $IgnoreMissingDirectives = env_true('TEST_NGINX_IGNORE_MISSING_DIRECTIVES');
our $UseValgrind     = $ENV{TEST_NGINX_USE_VALGRIND};
$UseValgrind = undef if defined $UseValgrind && ($UseValgrind eq '' || $UseValgrind eq '0');
our $Randomize       = env_true('TEST_NGINX_RANDOMIZE');
our $EventType       = $ENV{TEST_NGINX_EVENT_TYPE};
our $PostponeOutput  = $ENV{TEST_NGINX_POSTPONE_OUTPUT};
our $WorkerUser      = $ENV{TEST_NGINX_WORKER_USER};

if (defined $WorkerUser && $WorkerUser !~ /^\w+(?:\s+\w+)?$/) {
    die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n";
}

our $MasterProcessEnabled =
    (($ENV{TEST_NGINX_MASTER_PROCESS} // '') =~ /^(on|1)$/i) ? 1 : 0;
$MasterProcessEnabled = 1 if $UseHup;

if (env_true('TEST_NGINX_CHECK_LEAK')) {
    warn "WARNING: TEST_NGINX_CHECK_LEAK is not supported by this runner; "
         . "running the tests normally\n";
}

our $RepeatEach        = 1;
our $NoLongString      = 0;
our $NoRootLocation    = 0;
our $Workers           = 1;
our $WorkerConnections = 64;
our $CheckAccumErrLog  = 0;
our @EnvToNginx;
our @BlockPreprocessors;
our @ResponseBodyChecks;
our $ServerName = 'localhost';

# Ports -------------------------------------------------------------------

# True when nothing listens on the TCP port (checked on the wildcard address
# and on 127.0.0.1, as nginx binds the former and mocks the latter).
sub port_is_free ($) {
    my $port = shift;
    for my $addr (INADDR_ANY, inet_aton('127.0.0.1')) {
        socket(my $s, PF_INET, SOCK_STREAM, getprotobyname('tcp')) or return 0;
        setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1);
        my $ok = bind($s, pack_sockaddr_in($port, $addr));
        close $s;
        return 0 unless $ok;
    }
    return 1;
}

my %PortsTaken;

# A random free port in 1988..65534 (1985-1987 are traditionally reserved).
sub pick_free_port () {
    for (1 .. 1000) {
        my $port = 1988 + int(rand(65534 - 1988));
        next if $PortsTaken{$port};
        if (port_is_free($port)) {
            $PortsTaken{$port} = 1;
            return $port;
        }
    }
    die "Cannot find a free TCP port\n";
}

srand(time() ^ ($$ << 8));

our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
$ServerPort = pick_free_port() if $Randomize;
$PortsTaken{$ServerPort} = 1;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;

# Server root ---------------------------------------------------------------

my $Cwd = getcwd();
our $ServRoot;
my $RemoveServRootAtEnd = 0;
if ($ENV{TEST_NGINX_SERVROOT}) {
    $ServRoot = $ENV{TEST_NGINX_SERVROOT};
} elsif ($Randomize) {
    $ServRoot = "$Cwd/t/servroot_$ServerPort";
    $RemoveServRootAtEnd = 1;
} else {
    $ServRoot = "$Cwd/t/servroot";
}
$ServRoot =~ s{/+$}{};

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
my $StderrFile   = "$LogDir/nginx.stderr";
my $ValgrindFile = "$LogDir/valgrind.log";

# Exported so that configs ($TEST_NGINX_...), eval sections and init code
# can use them.
$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
$ENV{TEST_NGINX_HTML_DIR}    = $HtmlDir;
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

sub trace (@) {
    return unless $Verbose;
    my $msg = join '', @_;
    chomp $msg;
    print STDERR "# [runner] $msg\n";
}

# ---------------------------------------------------------------------------
# File-level knobs (exported to the test file)
# ---------------------------------------------------------------------------

sub repeat_each (@) {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub no_shuffle ()          { $NoShuffle = 1 }
sub no_long_string ()      { $NoLongString = 1 }
sub no_root_location ()    { $NoRootLocation = 1 }
sub master_on ()           { $MasterProcessEnabled = 1 }
sub master_off ()          { $MasterProcessEnabled = 0 unless $UseHup }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }

sub workers (@) {
    $Workers = shift if @_;
    return $Workers;
}

sub worker_connections (@) {
    $WorkerConnections = shift if @_;
    return $WorkerConnections;
}

sub log_level (@) {
    $LogLevel = shift if @_;
    return $LogLevel;
}

sub env_to_nginx (@) {
    push @EnvToNginx, @_;
}

sub add_block_preprocessor (&) {
    push @BlockPreprocessors, shift;
}

sub add_response_body_check (&) {
    push @ResponseBodyChecks, shift;
}

sub server_port (@) {
    if (@_) {
        $ServerPort = shift;
        $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
        $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
    }
    return $ServerPort;
}

sub server_port_for_client (@) {
    $ServerPortForClient = shift if @_;
    return $ServerPortForClient;
}

sub server_root ()  { $ServRoot }
sub html_dir ()     { $HtmlDir }
sub server_name ()  { $ServerName }

sub timeout (@) {
    $Timeout = parse_time(shift) if @_;
    return $Timeout;
}

sub sleep_time () { $TestNginxSleep }

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# $TEST_NGINX_* expansion
# ---------------------------------------------------------------------------

sub expand_env ($) {
    my $s = shift;
    return $s unless defined $s && !ref $s;
    $s =~ s{\$(TEST_NGINX_[A-Za-z0-9_]+)}{
        defined $ENV{$1} ? $ENV{$1} : bail_out("No environment $1 defined.\n")
    }ge;
    return $s;
}

# ---------------------------------------------------------------------------
# The nginx binary
# ---------------------------------------------------------------------------

our $NginxVersion;       # e.g. "1.22.1"
our $NginxRawVersion;    # e.g. 1022001
our $OpenSSLVersion;     # e.g. "3.0.11", or undef
our $NginxConfigureArgs = '';
my $NginxChecked;

sub version_num ($) {
    my $v = shift;
    my @p = split /\./, $v;
    push @p, 0 while @p < 3;
    my $n = 0;
    for my $i (0 .. 2) {
        my ($d) = ($p[$i] // '0') =~ /^(\d+)/;
        $n = $n * 1000 + ($d // 0);
    }
    return $n;
}

# Compare two dotted versions ("1.0.2k" style suffix letters compared last).
sub version_cmp ($$) {
    my ($a, $b) = @_;
    my @a = split /\./, $a;
    my @b = split /\./, $b;
    while (@a || @b) {
        my $x = shift(@a) // '0';
        my $y = shift(@b) // '0';
        my ($xn, $xs) = $x =~ /^(\d*)(.*)$/;
        my ($yn, $ys) = $y =~ /^(\d*)(.*)$/;
        my $c = (($xn eq '' ? 0 : $xn) <=> ($yn eq '' ? 0 : $yn)) || ($xs cmp $ys);
        return $c if $c;
    }
    return 0;
}

sub check_nginx_binary () {
    return if $NginxChecked++;
    my $out = `$NginxBinary -V 2>&1`;
    if ($? != 0 || $out !~ m{nginx version: \S+?/(\d+\.\d+\.\d+)}) {
        bail_out("Cannot run the nginx binary \"$NginxBinary\" (set TEST_NGINX_BINARY): "
                 . ($out // $!));
    }
    $NginxVersion    = $1;
    $NginxRawVersion = version_num($NginxVersion);
    $OpenSSLVersion  = $1 if $out =~ /built with OpenSSL (\S+)/;
    $NginxConfigureArgs = $1 if $out =~ /configure arguments:(.*)/;
    trace("nginx $NginxVersion ($NginxBinary), port $ServerPort, servroot $ServRoot");
}

sub nginx_has_module ($) {
    my $mod = shift;
    return $NginxConfigureArgs !~ /--without-http_${mod}_module\b/;
}

# ---------------------------------------------------------------------------
# Server root and files
# ---------------------------------------------------------------------------

sub wipe_servroot () {
    return unless -d $ServRoot;
    opendir my $dh, $ServRoot or bail_out("Can't open $ServRoot: $!");
    my @entries = grep { $_ ne '.' && $_ ne '..' } readdir $dh;
    closedir $dh;
    for my $e (@entries) {
        if ($e =~ /^(?:conf|html|logs|cache)$/ || $e =~ /_(?:temp|cache)$/) {
            rmtree("$ServRoot/$e");
        }
    }
    rmdir $ServRoot
        or bail_out("Can't remove $ServRoot (not empty?): $!");
}

sub setup_servroot () {
    wipe_servroot();
    # like the original, the parent (normally ./t) must exist
    mkdir $ServRoot or bail_out("Failed to do mkdir $ServRoot: $!");
    for my $d ($ConfDir, $HtmlDir, $LogDir) {
        mkdir $d or bail_out("Failed to do mkdir $d: $!");
    }
    write_file("$HtmlDir/index.html",
        "<html><head><title>It works!</title></head><body>It works!</body></html>");
}

sub write_file ($$) {
    my ($path, $content) = @_;
    my $dir = dirname($path);
    mkpath($dir) unless -d $dir;
    open my $fh, '>', $path or bail_out("Can't write $path: $!");
    binmode $fh;
    print $fh $content;
    close $fh or bail_out("Can't write $path: $!");
}

# --- user_files: ">>> path [touch-time]\ncontent" or eval [[name, body], ...]
sub write_user_files ($) {
    my $block = shift;
    my $spec = $block->user_files;
    return unless defined $spec;

    my @files;
    if (ref $spec eq 'ARRAY') {
        for my $f (@$spec) {
            bail_out("user_files: each entry must be [name, body]") unless ref $f eq 'ARRAY';
            push @files, [$f->[0], $f->[1] // '', $f->[2]];
        }
    } elsif (!ref $spec) {
        my @parts = split /^>>>\s*/m, $spec;
        shift @parts;    # text before the first ">>>"
        for my $part (@parts) {
            my ($head, $body) = split /\n/, $part, 2;
            $body //= '';
            my ($fname, $date) = split ' ', $head;
            bail_out("user_files: missing file name") unless defined $fname;
            push @files, [$fname, $body, $date];
        }
    } else {
        bail_out("user_files: unsupported value type " . ref $spec);
    }

    for my $f (@files) {
        my ($fname, $body, $date) = @$f;
        $fname = expand_env($fname);
        $body  = expand_env($body);
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        write_file($path, $body);
        if (defined $date && $date ne '') {
            if ($date =~ /^\d+$/ && length($date) > 12) {    # epoch seconds
                utime $date, $date, $path;
            } else {
                system('touch', '-t', $date, $path) == 0
                    or warn "WARNING: touch -t $date $path failed\n";
            }
        }
    }
}

# ---------------------------------------------------------------------------
# nginx.conf
# ---------------------------------------------------------------------------

sub block_log_level ($) {
    my $block = shift;
    my $l = $block->log_level;
    return defined $l && $l =~ /\S/ ? do { (my $x = $l) =~ s/^\s+|\s+$//g; $x } : $LogLevel;
}

sub main_config_text ($) {
    my $block = shift;
    my $text = '';
    if (my $mods = $ENV{TEST_NGINX_LOAD_MODULES}) {
        $text .= "load_module $_;\n" for split ' ', $mods;
    }
    $text .= expand_env($block->main_config // '');
    return $text;
}

sub gen_config ($) {
    my $block = shift;

    my $main_config      = main_config_text($block);
    my $http_config      = expand_env($block->http_config // '');
    my $config           = expand_env($block->config // '');
    my $post_main_config = expand_env($block->post_main_config // '');
    my $level            = block_log_level($block);
    my $master           = $MasterProcessEnabled ? 'on' : 'off';

    my $env = '';
    for my $e ('MOCKEAGAIN_VERBOSE', 'MOCKEAGAIN', 'MOCKEAGAIN_WRITE_TIMEOUT_PATTERN',
               'LD_PRELOAD', 'LD_LIBRARY_PATH', 'DYLD_INSERT_LIBRARIES',
               'DYLD_FORCE_FLAT_NAMESPACE', @EnvToNginx)
    {
        $env .= "env $e;\n";
    }

    my $temp = "    client_body_temp_path $ServRoot/client_body_temp;\n";
    $temp .= "    proxy_temp_path $ServRoot/proxy_temp;\n"     if nginx_has_module('proxy');
    $temp .= "    fastcgi_temp_path $ServRoot/fastcgi_temp;\n" if nginx_has_module('fastcgi');
    $temp .= "    scgi_temp_path $ServRoot/scgi_temp;\n"       if nginx_has_module('scgi');
    $temp .= "    uwsgi_temp_path $ServRoot/uwsgi_temp;\n"     if nginx_has_module('uwsgi');

    my $postpone = defined $PostponeOutput && $PostponeOutput ne ''
                 ? "    postpone_output $PostponeOutput;\n" : '';

    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    my $use_event = defined $EventType && $EventType ne '' ? "    use $EventType;\n" : '';

    my $user = '';
    if (defined $WorkerUser && $WorkerUser ne '') {
        $user = "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $user = "user root;\n";
    }

    return <<"_EOC_";
worker_processes  $Workers;
daemon off;
master_process $master;
error_log $ErrLogFile $level;
pid       $PidFile;
$env
$main_config

http {
    access_log $AccLogFile;
    #access_log off;

    default_type text/plain;
    keepalive_timeout  68000ms;

$temp$postpone
$http_config

    server {
        listen          $ServerPort;
        server_name     '$ServerName';

        client_max_body_size 30M;
        #client_body_buffer_size 4k;

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config

#timer_resolution 100ms;

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
$use_event}
env ASAN_OPTIONS;
env MOCKNOEAGAIN_VERBOSE;
env MOCKNOEAGAIN;
$user
_EOC_
}

# ---------------------------------------------------------------------------
# The nginx process (run in the foreground, as our direct child)
# ---------------------------------------------------------------------------

our $NginxPid;            # pid of the running nginx (master or single process)
my $NginxExitStatus;      # $? once reaped
my $NginxStopRequested;   # set when we signalled it
my $RunningMainConfig;    # main/post_main config of the running nginx (HUP mode)
my $CurrentName;          # name of the block being run
my $RunningName;          # the block that started (or last reloaded) the running nginx

# Log windows: byte offsets up to which the logs were already examined.
our $ErrLogPos = 0;
our $AccLogPos = 0;

# Checks waiting for nginx to go down: [name, block]
my @PendingShutdownChecks;

# Ask the kernel to send $sig to this (child) process when the test process
# dies, so that nginx and the mock servers never outlive a killed test
# (Linux only; silently skipped elsewhere).
my $PrctlNr;
sub set_parent_death_signal ($) {
    my $sig = shift;
    return unless $^O eq 'linux';
    unless (defined $PrctlNr) {
        $PrctlNr = eval { package Test::Nginx::Util::Sys; require 'sys/syscall.ph'; &SYS_prctl() };
        unless (defined $PrctlNr) {
            require Config;
            my $arch = $Config::Config{archname};
            $PrctlNr = $arch =~ /^x86_64/ ? 157 : $arch =~ /^(?:aarch64|riscv64)/ ? 167
                     : $arch =~ /^i\d86/ ? 172 : 0;
        }
    }
    return unless $PrctlNr;
    syscall($PrctlNr, 1, $sig, 0, 0, 0);    # prctl(PR_SET_PDEATHSIG, sig)
    POSIX::_exit(1) if getppid() != $MainPid;  # the parent is already gone
}

sub nginx_command () {
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    push @cmd, '-e', $ErrLogFile if version_num($NginxVersion) >= version_num('1.19.5');
    if ($UseValgrind) {
        my @vg = ('valgrind', '-q');
        if ($UseValgrind =~ /^\d+$/) {
            push @vg, '--num-callers=50', '--leak-check=full', '--show-possibly-lost=no',
                      '--keep-debuginfo=yes', '--gen-suppressions=all';
            push @vg, '--suppressions=' . "$Cwd/valgrind.suppress" if -f "$Cwd/valgrind.suppress";
        } else {
            push @vg, split ' ', $UseValgrind;
        }
        if (env_true('TEST_NGINX_VALGRIND_EXIT_ON_FIRST_ERR')) {
            push @vg, '--exit-on-first-error=yes', '--error-exitcode=1';
        }
        push @vg, "--log-file=$ValgrindFile";
        unshift @cmd, @vg;
    }
    return @cmd;
}

# Reap nginx if it exited; returns true while it is still running.
sub nginx_alive () {
    return 0 unless $NginxPid;
    return 0 if defined $NginxExitStatus;
    my $r = waitpid($NginxPid, WNOHANG);
    if ($r == $NginxPid || $r == -1) {
        $NginxExitStatus = $r == -1 ? 0 : $?;
        return 0;
    }
    return 1;
}

sub start_timeout () { $UseValgrind ? 60 : 5 }
sub stop_timeout ()  { $UseValgrind ? 60 : ($Timeout < 3 ? 3 : $Timeout) }

# Fork+exec nginx.  Returns a hash:
#   { ok => 1 }                        nginx is up (pid file written)
#   { died => 1, status => $?, log => error.log text, stderr => text }
#   { hung => 1 }                      neither up nor dead in time (killed)
sub launch_nginx () {
    my @cmd = nginx_command();
    trace("starting: @cmd");
    $NginxExitStatus = undef;
    $NginxStopRequested = 0;
    $ErrLogPos = 0;
    $AccLogPos = 0;

    my $pid = fork();
    bail_out("fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        setpgrp(0, 0);    # own process group so that KILL reaches workers too
        # nginx (the master) gets TERM if the test process dies; not with
        # TEST_NGINX_NO_CLEAN, where it is meant to survive
        set_parent_death_signal(15) unless $NoClean;
        open STDIN,  '<',  '/dev/null';
        open STDOUT, '>',  '/dev/null';
        open STDERR, '>>', $StderrFile or open STDERR, '>', '/dev/null';
        { no warnings "exec"; exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0] failed: $!\n";
        POSIX::_exit(127);
    }
    $NginxPid = $pid;
    $RunningName = $CurrentName;

    my $deadline = time + start_timeout();
    my $delay = 0.002;
    while (1) {
        if (!nginx_alive()) {
            my %r = (died => 1, status => $NginxExitStatus);
            $r{log}    = slurp($ErrLogFile);
            $r{stderr} = slurp($StderrFile);
            $NginxPid = undef;
            after_exit_reports();
            return \%r;
        }
        last if -s $PidFile;
        if (time > $deadline) {
            trace("nginx did not write $PidFile in time, killing it");
            kill_nginx_now();
            return { hung => 1, log => slurp($ErrLogFile), stderr => slurp($StderrFile) };
        }
        sleep $delay;
        $delay *= 1.5 if $delay < 0.05;
    }
    sleep $TestNginxSleep if $TestNginxSleep > 0;
    return { ok => 1 };
}

sub slurp ($) {
    my $f = shift;
    open my $fh, '<', $f or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub kill_nginx_now () {
    return unless $NginxPid;
    $NginxStopRequested = 1;
    kill 'KILL', -$NginxPid;
    kill 'KILL', $NginxPid;
    waitpid($NginxPid, 0) unless defined $NginxExitStatus;
    $NginxExitStatus //= $?;
    $NginxPid = undef;
}

# Graceful stop: QUIT (TERM with TEST_NGINX_FAST_SHUTDOWN), wait, then KILL.
# Returns the crash signal if nginx died of a signal we did not send.
sub stop_nginx () {
    return undef unless $NginxPid;
    my $crash;
    if (nginx_alive()) {
        my $sig = $FastShutdown ? 'TERM' : 'QUIT';
        trace("stopping nginx $NginxPid with $sig");
        $NginxStopRequested = 1;
        kill $sig, $NginxPid;
        my $deadline = time + stop_timeout();
        my $delay = 0.002;
        while (nginx_alive()) {
            if (time > $deadline) {
                warn "WARNING: nginx $NginxPid did not exit within "
                     . stop_timeout() . " s after $sig, sending KILL\n";
                kill_nginx_now();
                last;
            }
            sleep $delay;
            $delay *= 1.5 if $delay < 0.05;
        }
    } elsif (defined $NginxExitStatus && ($NginxExitStatus & 127)) {
        $crash = $NginxExitStatus & 127;
    }
    if (defined $NginxExitStatus && !$crash) {
        my $sig = $NginxExitStatus & 127;
        $crash = $sig if $sig && $sig != 9 && $sig != 3 && $sig != 15;
    }
    # the process group may still hold stray workers after a master crash
    kill 'KILL', -$NginxPid if $NginxPid;
    $NginxPid = undef;
    after_exit_reports();
    return $crash;
}

# Things to report once nginx is gone: stderr output, TEST_NGINX_ERROR_LOG.
sub after_exit_reports () {
    if (my $f = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (open my $out, '>>', $f) {
            print $out slurp($ErrLogFile);
            close $out;
        }
    }
}

# ---------------------------------------------------------------------------
# HUP mode helpers
# ---------------------------------------------------------------------------

# Children of a process, found by scanning /proc/*/stat.
sub child_pids ($) {
    my $ppid = shift;
    my @kids;
    opendir my $dh, '/proc' or return ();
    for my $p (readdir $dh) {
        next unless $p =~ /^\d+$/;
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh>;
        close $fh;
        next unless defined $stat && $stat =~ /\)\s+(\S)\s+(\d+)/;
        next if $1 eq 'Z';
        push @kids, $p if $2 == $ppid;
    }
    closedir $dh;
    return @kids;
}

# Rewrite nginx.conf and the html dir and send HUP.  Returns 1 once the old
# workers are gone and new ones run, 0 when the reload failed (the caller
# then restarts nginx).  $on_old_gone is called once the old workers exited.
sub reload_nginx ($$) {
    my ($block, $on_old_gone) = @_;
    return 0 unless nginx_alive();
    my @old = child_pids($NginxPid);
    my $log_pos = -s $ErrLogFile // 0;

    rmtree($HtmlDir);
    mkpath($HtmlDir);
    write_file("$HtmlDir/index.html",
        "<html><head><title>It works!</title></head><body>It works!</body></html>");
    write_file($ConfFile, gen_config($block));

    trace("reloading nginx $NginxPid with HUP");
    kill 'HUP', $NginxPid;

    my %old = map { $_ => 1 } @old;
    my $deadline = time + start_timeout();
    my $delay = 0.005;
    while (1) {
        return 0 unless nginx_alive();
        my $new_log = substr(slurp($ErrLogFile), $log_pos);
        if ($new_log =~ /\[emerg\]/) {
            trace("reload failed: $new_log");
            return 0;
        }
        my @now = child_pids($NginxPid);
        my $old_left = grep { $old{$_} } @now;
        my $new = grep { !$old{$_} } @now;
        last if !$old_left && $new;
        return 0 if time > $deadline;
        sleep $delay;
        $delay *= 1.5 if $delay < 0.05;
    }
    $on_old_gone->($log_pos) if $on_old_gone;
    $ErrLogPos = -s $ErrLogFile // 0;
    $AccLogPos = -s $AccLogFile // 0;
    sleep $TestNginxSleep if $TestNginxSleep > 0;
    return 1;
}

# ---------------------------------------------------------------------------
# Log windows
# ---------------------------------------------------------------------------

# Lines of $file from byte $pos on; returns (\@lines, $new_pos).
sub read_log_from ($$) {
    my ($file, $pos) = @_;
    open my $fh, '<', $file or return ([], $pos);
    seek $fh, $pos, 0 if $pos;
    my @lines = <$fh>;
    my $new = tell $fh;
    close $fh;
    return (\@lines, $new);
}

# The error.log lines written since the previous call (all lines of the
# current nginx with check_accum_error_log()).
sub error_log_data () {
    my ($lines, $pos) = read_log_from($ErrLogFile, $CheckAccumErrLog ? 0 : $ErrLogPos);
    $ErrLogPos = $pos;
    return $lines;
}

sub access_log_data () {
    my ($lines, $pos) = read_log_from($AccLogFile, $CheckAccumErrLog ? 0 : $AccLogPos);
    $AccLogPos = $pos;
    return $lines;
}

# ---------------------------------------------------------------------------
# Per-block lifecycle used by Test::Nginx::Block
# ---------------------------------------------------------------------------

# Bring up nginx for a block.  Returns
#   { ok => 1 }  or  { failed => "diagnostics", missing_directive => "name" }
sub prepare_nginx ($$) {
    my ($block, $name) = @_;
    my $main = main_config_text($block) . "\0" . expand_env($block->post_main_config // '');

    # HUP mode: reload instead of restarting when the main-level config is
    # unchanged and no shutdown_error_log check waits for a real shutdown.
    if ($UseHup && $NginxPid && !@PendingShutdownChecks
        && defined $RunningMainConfig && $RunningMainConfig eq $main)
    {
        my $ok = reload_nginx($block, sub {
            my $from = shift;
            run_pending_shutdown_checks($from);
        });
        if ($ok) {
            $RunningName = $CurrentName;
            write_user_files($block);
            return { ok => 1 };
        }
        trace("HUP reload not possible, restarting nginx");
    }

    finish_nginx();
    setup_servroot();
    write_user_files($block);
    write_file($ConfFile, gen_config($block));
    my $r = launch_nginx();
    if ($r->{ok}) {
        $RunningMainConfig = $main;
        return { ok => 1 };
    }
    $RunningMainConfig = undef;
    my $text = ($r->{stderr} || '') . ($r->{log} || '');
    my $why = $r->{hung}
        ? "nginx did not come up within " . start_timeout() . " s"
        : "nginx exited with " . exit_desc($r->{status});
    my @emerg = grep { /\[(?:emerg|alert|crit)\]/ } split /\n/, $text;
    my %res = (failed => "$why\n" . join("\n", @emerg ? @emerg : split(/\n/, $text)) . "\n");
    if ($text =~ /unknown directive "([^"]+)"/) {
        $res{missing_directive} = $1;
    }
    return \%res;
}

# Start nginx expecting it to fail (must_die).  Returns
#   { died => 1, status => $? } or { started => 1 }
sub launch_expecting_death ($) {
    my $block = shift;
    finish_nginx();
    setup_servroot();
    write_user_files($block);
    write_file($ConfFile, gen_config($block));
    my $r = launch_nginx();
    $RunningMainConfig = undef;
    if ($r->{ok}) {
        stop_nginx();
        return { started => 1 };
    }
    return { died => 1, status => $r->{hung} ? undef : $r->{status} };
}

sub exit_desc ($) {
    my $st = shift;
    return 'no exit status' unless defined $st;
    return 'signal ' . ($st & 127) if $st & 127;
    return 'exit code ' . ($st >> 8);
}

# Register the shutdown_error_log checks of a block.
sub add_shutdown_checks ($$) {
    my ($block, $name) = @_;
    push @PendingShutdownChecks, [$name, $block]
        if defined $block->shutdown_error_log || defined $block->no_shutdown_error_log;
}

# The checks themselves live in Test::Nginx::Block.
sub run_pending_shutdown_checks ($) {
    my $from = shift;
    my @checks = @PendingShutdownChecks;
    @PendingShutdownChecks = ();
    return unless @checks;
    my ($lines) = read_log_from($ErrLogFile, $from // 0);
    for my $c (@checks) {
        Test::Nginx::Block::check_shutdown_log($c->[1], $c->[0], $lines, undef);
    }
}

# Stop the current nginx (if any) and run everything that has to happen
# after it is gone.  $name is used for the crash/valgrind reports.
sub set_current_name ($) { $CurrentName = shift }

sub finish_nginx (;$) {
    my $dry = shift;
    my $had = $NginxPid;
    my $from = $ErrLogPos;
    my $crash = stop_nginx();
    return unless $had;
    $RunningMainConfig = undef;

    my $name = $RunningName // $CurrentName // "$0";
    if ($crash) {
        Test::More::fail("$name - nginx process crashed (signal $crash)");
    }

    my $stderr = slurp($StderrFile);
    if ($stderr =~ /\S/) {
        print STDERR "# nginx stderr for $name:\n", map { "#   $_\n" } split /\n/, $stderr;
    }
    truncate $StderrFile, 0 if -e $StderrFile;

    report_valgrind($name);
    run_pending_shutdown_checks($from);
}

sub report_valgrind ($) {
    my $name = shift;
    return unless $UseValgrind;
    my $out = slurp($ValgrindFile);
    truncate $ValgrindFile, 0 if -e $ValgrindFile;
    return unless $out =~ /\S/;
    my $text = "=== valgrind output for $name\n$out";
    if (my $f = $ENV{TEST_NGINX_VALGRIND_LOG}) {
        if (open my $fh, '>>', $f) {
            print $fh $text;
            close $fh;
        } else {
            print STDERR $text;
        }
    } else {
        print STDERR $text;
    }
    if (env_true('TEST_NGINX_VALGRIND_FAIL')) {
        my @errs = grep {
            /^==\d+== \S/ && !/^==\d+== (?:Warning|WARNING|Memcheck|Copyright|Using Valgrind|Command:|Parent PID:)/
        } split /\n/, $out;
        if (@errs) {
            Test::More::fail("$name - valgrind reported errors");
            Test::More::diag(join "\n", @errs[0 .. ($#errs < 19 ? $#errs : 19)]);
        }
    }
}

# ---------------------------------------------------------------------------
# run_tests
# ---------------------------------------------------------------------------

sub run_tests () {
    check_nginx_binary();
    require Test::Nginx::Block;

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;

    for my $i (0 .. $#blocks) {
        my $block = $blocks[$i];
        for my $pp (@BlockPreprocessors) {
            $pp->($block);
        }
        Test::Nginx::Block::run_block($block);
        my $last = $i == $#blocks;
        # Stop nginx after every block (each block gets a fresh nginx and its
        # own valgrind report), except in HUP mode, and except for the last
        # one with TEST_NGINX_NO_CLEAN.
        if ($last && $NoClean) {
            if (@PendingShutdownChecks) {
                for my $c (@PendingShutdownChecks) {
                    Test::Nginx::Block::check_shutdown_log($c->[1], $c->[0], [],
                        'TEST_NGINX_NO_CLEAN is set');
                }
                @PendingShutdownChecks = ();
            }
            print STDERR "# TEST_NGINX_NO_CLEAN: nginx left running, pid $NginxPid\n"
                if $NginxPid;
            $NginxPid = undef;
        } elsif (!$UseHup || $last) {
            finish_nginx();
        }
    }
}

# ---------------------------------------------------------------------------
# Cleanup
# ---------------------------------------------------------------------------

my $CleanedUp;
sub cleanup () {
    return if $$ != $MainPid;
    return if $CleanedUp++;
    Test::Nginx::Block::kill_mocks() if defined &Test::Nginx::Block::kill_mocks;
    if ($NginxPid && !$NoClean) {
        stop_nginx();
    }
    if ($RemoveServRootAtEnd && !$NoClean && -d $ServRoot) {
        rmtree($ServRoot);
    }
}

# Stop nginx and the mocks when the test process is interrupted, or when
# prove went away (SIGPIPE on the TAP output).
for my $sig (qw(INT TERM HUP PIPE)) {
    $SIG{$sig} = sub {
        cleanup();
        $SIG{$sig} = 'DEFAULT';
        kill $sig, $$;
        exit 1;
    };
}

END {
    my $status = $?;
    cleanup();
    $? = $status;
}

1;

#!/usr/bin/perl
# Reads AddressSanitizer / UBSan log files and fails on any finding but
# one: the init pool nginx's main() leaves behind when it exits on a
# configuration error (the suite's must_die blocks), recognised by its
# exact stack, ngx_create_pool called from main.
#
#   util/sanitizer-report.pl build/asan.log.*

use strict;
use warnings;

my $bad = 0;

for my $file (@ARGV) {
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    my $text = <$fh>;

    # one leak record: "Direct leak of N byte(s) ... allocated from:" + frames
    my @leaks = $text =~ /^((?:Direct|Indirect) leak of .*?\n(?:\s+#\d+ .*\n)+)/mg;
    my $ignored = 0;

    for my $leak (@leaks) {
        my @funcs = $leak =~ /#\d+ 0x[0-9a-f]+ in (\S+)/g;
        @funcs = grep { !/^(?:__interceptor_|ngx_memalign$|ngx_alloc$|__libc_)/ } @funcs;

        if ("@funcs" eq "ngx_create_pool main") {
            $ignored++;
            next;
        }

        print "$file:\n$leak\n";
        $bad++;
    }

    # anything that is not a leak record is a finding as such
    my $rest = $text;
    $rest =~ s/^(?:Direct|Indirect) leak of .*?\n(?:\s+#\d+ .*\n)+//mg;

    if ($rest =~ /(ERROR: AddressSanitizer(?!: detected memory leaks).*|runtime error:.*)/) {
        print "$file: $1\n";
        $bad++;
    }
}

print $bad ? "sanitizers: $bad finding(s)\n" : "sanitizers: clean\n";
exit($bad ? 1 : 0);
